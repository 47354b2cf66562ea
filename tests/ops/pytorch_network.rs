//! The whole network against PyTorch: a small instance of the same structure (every
//! channel count / 8, 111×111 input, batch 6, 5 identities), one training forward with
//! dropout, both objectives, every parameter gradient, the batch-norm moving averages
//! after the step, and an inference forward. Fixture: `tools/gen_fixtures.py`.

use cari::autograd::{ParamGroup, ParamStore, Tape};
use cari::batch::{Batch, Modality, Task};
use cari::io::WeightsFile;
use cari::model::{training_objective, update_moving_averages, MultiTaskNet, NetworkConfig, ObjectiveConfig};
use cari::nn::Ctx;
use cari::{Device, Tensor};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/network.safetensors");
const FORMAT_VERSION: &str = "1";

fn open() -> WeightsFile {
    let f = WeightsFile::open(FIXTURE).expect("open the network fixture");
    let version = f.metadata().get("format_version").map(String::as_str);
    assert_eq!(
        version,
        Some(FORMAT_VERSION),
        "{FIXTURE} has format version {version:?}, this test reads {FORMAT_VERSION}: regenerate it with \
         `~/torchenv/bin/python tools/gen_fixtures.py` (see tools/README.md)"
    );
    f
}

fn config(f: &WeightsFile) -> serde_json::Value {
    serde_json::from_str(&f.metadata()["config"]).unwrap()
}

/// `‖ours − ref‖∞ ≤ atol + rtol·‖ref‖∞`, per tensor.
///
/// Per-tensor rather than per-element: the network is ~40 f32 layers deep and each
/// layer's rounding (≈1e-7 relative, times the terms summed) propagates in proportion to
/// the tensor's overall scale, so elements far below the scale carry large relative but
/// tiny absolute errors. The oracle itself is computed in float64.
fn assert_close(what: &str, ours: &Tensor, reference: &[f32], atol: f32, rtol: f32) {
    let ours = ours.to_vec().unwrap();
    assert_eq!(ours.len(), reference.len(), "{what}: length");
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    let (mut worst, mut at) = (0f32, 0);
    for (i, (a, r)) in ours.iter().zip(reference).enumerate() {
        let e = (a - r).abs();
        if e > worst || e.is_nan() {
            worst = e;
            at = i;
        }
    }
    assert!(
        worst <= atol + rtol * scale,
        "{what}: max error {worst:.3e} at {at} (ours {}, reference {}), tensor scale {scale:.3e}",
        ours[at],
        reference[at]
    );
}

struct Setup {
    file: WeightsFile,
    net: MultiTaskNet,
    params: ParamStore,
    batch: Batch,
    dropout_seed: u64,
}

fn setup() -> Setup {
    let file = open();
    let cfg = config(&file);
    let net = MultiTaskNet::new(NetworkConfig {
        image_size: cfg["image_size"].as_u64().unwrap() as usize,
        num_classes: cfg["num_classes"].as_u64().unwrap() as usize,
        width_divisor: cfg["width_divisor"].as_u64().unwrap() as usize,
        keep_prob: cfg["keep_prob"].as_f64().unwrap() as f32,
        logit_scale: cfg["logit_scale"].as_f64().unwrap() as f32,
        fc_relu: true,
    })
    .unwrap();
    let device = Device::cpu();
    let mut params = net.init_params(0, &device).unwrap();
    for spec in net.param_specs() {
        let t = file.tensor(&spec.name, &device).unwrap_or_else(|e| panic!("fixture lacks {}: {e}", spec.name));
        params.set(&spec.name, t).unwrap();
    }
    let labels = cfg["labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let modalities = cfg["modality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| if v.as_u64().unwrap() == 0 { Modality::Photo } else { Modality::Caricature })
        .collect();
    let batch = Batch::new(file.tensor("input", &device).unwrap(), labels, modalities).unwrap();
    let dropout_seed = cfg["dropout_seed"].as_u64().unwrap();
    Setup { file, net, params, batch, dropout_seed }
}

fn reference(f: &WeightsFile, name: &str) -> Vec<f32> {
    f.f32_values(name).unwrap().into_owned()
}

#[test]
fn fixture_config_matches_the_engine_defaults() {
    let f = open();
    let cfg = config(&f);
    let obj = ObjectiveConfig::default();
    assert_eq!(cfg["center_loss_lambda"].as_f64().unwrap() as f32, obj.center_loss_lambda);
    assert_eq!(cfg["sigma"].as_f64().unwrap() as f32, obj.sigma);
    assert_eq!(cfg["bn_eps"].as_f64().unwrap() as f32, cari::nn::BN_EPS);
    assert_eq!(cfg["bn_decay"].as_f64().unwrap() as f32, cari::nn::BN_DECAY);
    assert_eq!(cfg["dropout_seeds"], serde_json::json!([1234, 1235, 1236]));
    assert_eq!(cfg["fc_relu"], serde_json::json!([false, true, true]));
    assert_eq!(cfg["w_detached_in_L"], serde_json::json!(!obj.reference_gradient_path));
}

#[test]
fn training_step_matches_pytorch() {
    let s = setup();
    let tape = Tape::new();
    let ctx = Ctx::train(&s.params, &tape);
    let out = training_objective(&s.net, &ctx, &s.batch, s.dropout_seed, &ObjectiveConfig::default()).unwrap();

    // Forward values: rounding compounds through ~40 layers. Measured worst: 1.7e-6 of
    // the tensor's scale (logits/photo); 2e-5 leaves ~10× headroom.
    let f = &s.file;
    assert_close("Z", out.z.value(), &reference(f, "Z"), 1e-6, 2e-5);
    for (t, key) in Task::ALL.iter().zip(["verif", "photo", "caricature"]) {
        let task = out.tasks[t.index()].as_ref().unwrap();
        assert_close(
            &format!("logits/{key}"),
            task.output.logits.value(),
            &reference(f, &format!("logits/{key}")),
            1e-6,
            2e-5,
        );
        assert_close(
            &format!("embeddings/{key}"),
            task.output.embeddings.value(),
            &reference(f, &format!("embeddings/{key}")),
            1e-6,
            2e-5,
        );
    }
    let losses: Vec<f32> = out.task_losses().unwrap().iter().map(|l| l.unwrap()).collect();
    let losses = Tensor::from_vec(losses, [3], &Device::cpu()).unwrap();
    assert_close("task_losses", &losses, &reference(f, "task_losses"), 1e-6, 2e-5);
    assert_close(
        "lossweights/pi",
        out.weights.per_sample.as_ref().unwrap().value(),
        &reference(f, "lossweights/pi"),
        1e-6,
        2e-5,
    );
    assert_close("task_weights", out.weights.weights.value(), &reference(f, "task_weights"), 1e-6, 2e-5);
    assert_close("loss", out.loss.value(), &reference(f, "loss"), 1e-6, 2e-5);
    assert_close("loss_w", out.loss_w.as_ref().unwrap().value(), &reference(f, "loss_w"), 1e-6, 2e-5);

    // The two updates of the paper from one forward pass, each into its own group.
    let net_grads = out.loss.backward_for(s.params.in_group(ParamGroup::Network)).unwrap();
    let wm_grads = out.loss_w.as_ref().unwrap().backward_for(s.params.in_group(ParamGroup::WeightModule)).unwrap();
    let mut checked = 0;
    for name in s.params.names_in(ParamGroup::Network) {
        // Gradients are differences of nearly equal products through batch norm's
        // backward (which subtracts means). Measured worst: 9.2e-6 of the tensor's scale
        // (block35 Branch_2 beta); 1e-4 leaves ~10× headroom.
        assert_close(
            &format!("grad/{name}"),
            net_grads.require(&name).unwrap(),
            &reference(f, &format!("grad/{name}")),
            1e-7,
            1e-4,
        );
        checked += 1;
    }
    for name in s.params.names_in(ParamGroup::WeightModule) {
        assert!(net_grads.get(&name).is_none(), "L's gradient reached the weight module ({name})");
        assert_close(
            &format!("grad/{name}"),
            wm_grads.require(&name).unwrap(),
            &reference(f, &format!("grad/{name}")),
            1e-7,
            1e-4,
        );
        checked += 1;
    }
    assert_eq!(wm_grads.len(), 2, "L_w's gradient reached the network");
    let fixture_grads = f.names().iter().filter(|n| n.starts_with("grad/")).count();
    assert_eq!(checked, fixture_grads, "every gradient in the fixture is compared");

    // Moving averages after the step.
    let mut params = s.params.clone();
    let gate = cari::optim::open_gate(&cari::Device::cpu()).unwrap();
    update_moving_averages(&mut params, &ctx.take_bn_stats(), &gate).unwrap();
    let mut moving = 0;
    for name in f.names().into_iter().filter(|n| n.starts_with("after_step/")) {
        let ours = params.get(name.trim_start_matches("after_step/")).unwrap();
        // A convex mix of the old average (exact) and the batch statistic.
        assert_close(name, ours, &reference(f, name), 1e-7, 1e-5);
        moving += 1;
    }
    assert!(moving > 0);
}

#[test]
fn inference_forward_matches_pytorch() {
    let s = setup();
    let emb = s.net.embed(&s.params, &s.batch.images).unwrap();
    assert_close("infer/embeddings", &emb, &reference(&s.file, "infer/embeddings"), 1e-6, 2e-5);
}
