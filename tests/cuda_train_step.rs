//! The same model code on the CUDA backend: whole training steps of a small network on
//! the emulated CUDA device (and on `cuda:0` with `CARI_TEST_CUDA=1`) match the CPU
//! backend — losses, task weights, and every parameter, centre and moving average after
//! the updates.

use cari::backend::Device;
use cari::data::SyntheticFaces;
use cari::model::{MultiTaskNet, NetworkConfig, ObjectiveConfig};
use cari::optim::Sgd;
use cari::train::{StepReport, Trainer};

const SEED: u64 = 11;
const STEPS: u64 = 2;
const BATCH: usize = 6;

fn config() -> NetworkConfig {
    NetworkConfig { image_size: 75, num_classes: 5, width_divisor: 16, ..NetworkConfig::default() }
}

fn train_on(device: &Device) -> (Vec<StepReport>, Trainer) {
    let net = MultiTaskNet::new(config()).unwrap();
    let params = net.init_params(SEED, device).unwrap();
    let data = SyntheticFaces::new(5, 75, SEED).unwrap();
    let mut trainer = Trainer {
        net,
        params,
        objective: ObjectiveConfig::default(),
        network_optimizer: Sgd::new(0.01, 0.9, Some(5.0)),
        weight_optimizer: Sgd::new(0.1, 0.9, Some(5.0)),
        seed: SEED,
        step: 0,
    };
    let reports = (0..STEPS)
        .map(|s| trainer.step(&data.batch(s, BATCH, device).unwrap()).unwrap_or_else(|e| panic!("{device}: {e}")))
        .collect();
    (reports, trainer)
}

/// Largest |a − b| relative to the tensor's scale (max |b|): the kernels sum in other
/// orders than the CPU, and two steps of training amplify those roundings a little.
fn scaled_error(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

const TOLERANCE: f32 = 2e-4;

fn compare(name: &str) {
    let device = Device::parse(name).unwrap();
    let (cpu_reports, cpu) = train_on(&Device::cpu());
    let (reports, trainer) = train_on(&device);
    for (r, c) in reports.iter().zip(&cpu_reports) {
        let got: Vec<f32> = r.task_losses.iter().flatten().chain(&r.task_weights).chain([&r.loss, &r.loss_w]).copied().collect();
        let want: Vec<f32> = c.task_losses.iter().flatten().chain(&c.task_weights).chain([&c.loss, &c.loss_w]).copied().collect();
        let err = scaled_error(&got, &want);
        assert!(err < TOLERANCE, "step {} on {name}: {r:?} vs CPU {c:?} (error {err:e})", r.step);
    }
    let mut worst = (String::new(), 0f32);
    for (pname, p, _) in cpu.params.iter() {
        let got = trainer.params.get(pname).unwrap().to_vec().unwrap();
        let err = scaled_error(&got, &p.to_vec().unwrap());
        if err > worst.1 {
            worst = (pname.to_string(), err);
        }
    }
    eprintln!("{name}: worst parameter `{}` off by {:e} of its scale", worst.0, worst.1);
    assert!(worst.1 < TOLERANCE, "{name}: parameter `{}` off by {:e} of its scale", worst.0, worst.1);
}

#[cfg(cari_emu)]
#[test]
fn training_steps_on_the_emulated_cuda_device_match_the_cpu() {
    compare("cuda-emu");
}

#[test]
fn training_steps_on_the_gpu_match_the_cpu() {
    if std::env::var_os("CARI_TEST_CUDA").is_none_or(|v| v != "1") {
        eprintln!("skipping: set CARI_TEST_CUDA=1 on a machine with a GPU");
        return;
    }
    compare("cuda:0");
}
