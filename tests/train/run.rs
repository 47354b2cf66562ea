//! Whole training runs on small synthetic data: resuming from a checkpoint continues bit
//! for bit, and a diverging run stops naming the step and task, keeping the last good
//! checkpoint.

use crate::common::{tiny_synth_data, TINY_IMAGE};
use cari::data::{BatchLoader, DataConfig, LoaderOptions, Sampler};
use cari::model::{MultiTaskNet, NetworkConfig, Weighting};
use cari::optim::{LrSchedule, OptimizerConfig, Rule};
use cari::train::{run, RunOptions, TrainConfig, Trainer, TrainingCheckpoint, TrainingLog};
use cari::{Device, Error};
use std::path::{Path, PathBuf};

const IMAGE: usize = TINY_IMAGE;

fn data() -> DataConfig {
    tiny_synth_data(3)
}

fn trainer(config: TrainConfig) -> Trainer {
    let net =
        MultiTaskNet::new(NetworkConfig { image_size: IMAGE, num_classes: 4, width_divisor: 16, ..Default::default() })
            .unwrap();
    let params = net.init_params(config.seed, &Device::cpu()).unwrap();
    Trainer::new(net, params, config).unwrap()
}

/// The reference's optimizer with a schedule that changes within the run, Adam-free
/// but with every kind of state: RMSProp slots, moving averages, centers.
fn config() -> TrainConfig {
    let mut c = TrainConfig::reference(LrSchedule::parse("0: 0.01\n2: 0.005\n").unwrap(), 9);
    c.epoch_size = 2;
    c
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cari-train-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn loader(data: &DataConfig, sampler: Sampler) -> BatchLoader {
    let (dataset, _) = data.source.open().unwrap();
    BatchLoader::new(dataset, sampler, data.preprocess, LoaderOptions { workers: 2, ..LoaderOptions::default() })
        .unwrap()
}

fn train_to(
    trainer: &mut Trainer,
    loader: &mut BatchLoader,
    steps: u64,
    checkpoint: Option<&Path>,
    log: Option<&mut TrainingLog>,
) -> cari::Result<()> {
    let options =
        RunOptions { steps, checkpoint: checkpoint.map(Path::to_path_buf), checkpoint_every: 1, progress: false };
    run(trainer, loader, &data(), &Device::cpu(), &options, log).map(|_| ())
}

fn state_bits(t: &Trainer) -> Vec<(String, Vec<u32>)> {
    let mut s: Vec<(String, Vec<u32>)> = t
        .state_tensors()
        .into_iter()
        .map(|(n, v)| (n, v.to_vec().unwrap().iter().map(|x| x.to_bits()).collect()))
        .collect();
    s.sort_by(|a, b| a.0.cmp(&b.0));
    s
}

#[test]
fn resuming_from_a_checkpoint_continues_bit_for_bit() {
    const N: u64 = 3;
    let scratch = Scratch::new("resume");
    let data = data();
    let (_, protocol) = data.source.open().unwrap();
    let sampler = || Sampler::new(protocol.train.clone(), data.batch_size, data.seed).unwrap();

    let mut straight = trainer(config());
    train_to(&mut straight, &mut loader(&data, sampler()), 2 * N, None, None).unwrap();

    let path = scratch.0.join("checkpoint.safetensors");
    let log_path = scratch.0.join("train.jsonl");
    let mut first = trainer(config());
    let mut log = TrainingLog::create(&log_path).unwrap();
    train_to(&mut first, &mut loader(&data, sampler()), N, Some(&path), Some(&mut log)).unwrap();
    drop((first, log));

    let ckpt = TrainingCheckpoint::open(&path).unwrap();
    assert_eq!(ckpt.header.step, N);
    assert_eq!(ckpt.header.data, data);
    let mut resumed = Trainer::from_checkpoint(&ckpt, &Device::cpu()).unwrap();
    let resumed_sampler = Sampler::from_state(protocol.train.clone(), data.batch_size, ckpt.header.sampler).unwrap();
    let mut log = TrainingLog::resume(&log_path, N).unwrap();
    train_to(&mut resumed, &mut loader(&data, resumed_sampler), 2 * N, Some(&path), Some(&mut log)).unwrap();

    let (a, b) = (state_bits(&straight), state_bits(&resumed));
    assert_eq!(a.len(), b.len(), "same tensors");
    assert!(a.iter().any(|(n, _)| n.starts_with("optimizer/network/mean_square/")), "optimizer state is compared");
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(va == vb, "`{na}` differs after resuming");
    }
    let records = cari::train::read_training_log(&log_path).unwrap().records;
    assert_eq!(records.iter().map(|r| r.step).collect::<Vec<_>>(), (1..=2 * N).collect::<Vec<_>>());
}

#[test]
fn a_diverging_run_stops_at_the_step_and_keeps_the_last_good_checkpoint() {
    let scratch = Scratch::new("diverge");
    let data = data();
    let (_, protocol) = data.source.open().unwrap();
    let mut c = TrainConfig::sgd(1.0e6, 2).unwrap();
    c.network_optimizer = OptimizerConfig { max_grad_norm: None, ..OptimizerConfig::new(Rule::Sgd { momentum: 0.9 }) };
    c.objective.weighting = Weighting::Fixed([1.0, 1.0, 1.0]);
    let mut t = trainer(c);
    let path = scratch.0.join("checkpoint.safetensors");
    let sampler = Sampler::new(protocol.train.clone(), data.batch_size, data.seed).unwrap();
    let err = train_to(&mut t, &mut loader(&data, sampler), 50, Some(&path), None).unwrap_err();
    let Error::Stopped { step, source, checkpoint } = &err else { panic!("not a stopped run: {err}") };
    assert!(matches!(**source, Error::NonFinite { .. }), "{err}");
    let message = err.to_string();
    // Whichever goes first: a task loss, or (a step earlier) the gradients, which the gate
    // keeps out of the parameters.
    let named = message.contains("loss of task") || message.contains("gradient norm of the network parameters");
    assert!(message.contains(&format!("at step {step}")) && named, "{message}");
    // The checkpoint is the state after the step before, and it still opens.
    let ckpt = TrainingCheckpoint::open(&path).unwrap();
    assert_eq!(ckpt.header.step, step - 1, "{checkpoint}");
    assert!(checkpoint.contains(&format!("step {}", step - 1)), "{checkpoint}");
    assert_eq!(t.step, step - 1, "the failing step changed nothing");
}

#[test]
fn a_step_with_a_non_finite_loss_changes_no_tensor_and_no_counter() {
    // On the CUDA emulation also with each step recorded and replayed as a graph (on a
    // device of its own: a capture takes all of a device's work, other tests' included).
    let emu = |name| Device::parse(name).unwrap();
    for (device, graphs) in [(Device::cpu(), false), (emu("cuda-emu"), false), (emu("cuda-emu:random:90424"), true)] {
        let data = data();
        let (_, protocol) = data.source.open().unwrap();
        let mut loader = loader(&data, Sampler::new(protocol.train.clone(), data.batch_size, data.seed).unwrap());
        let net = MultiTaskNet::new(NetworkConfig {
            image_size: IMAGE,
            num_classes: 4,
            width_divisor: 16,
            ..Default::default()
        })
        .unwrap();
        let params = net.init_params(3, &device).unwrap();
        let mut t = Trainer::new(net, params, config()).unwrap();
        t.replay_steps(graphs);
        for _ in 0..2 {
            t.step(&loader.next_batch().unwrap().to_batch(&device).unwrap()).unwrap();
        }
        // A NaN bias makes the verification logits, and so its loss, NaN.
        let bias = t.params.get("Logits_verif/biases").unwrap();
        let nan = cari::Tensor::full(f32::NAN, bias.shape().clone(), &device).unwrap();
        t.params.set("Logits_verif/biases", nan).unwrap();
        let (before, steps) = (state_bits(&t), t.optimizer_steps());
        let err = t.step(&loader.next_batch().unwrap().to_batch(&device).unwrap()).unwrap_err();
        assert!(err.to_string().contains("loss of task verification at step 3"), "on {device}: {err}");
        assert!(
            before == state_bits(&t),
            "on {device}: a tensor changed (parameters, moving averages, centers or optimizer state)"
        );
        assert_eq!((t.step, t.optimizer_steps()), (2, steps), "on {device}");
    }
}
