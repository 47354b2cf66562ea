//! The same model code on the CUDA backend: whole training steps of a small network on
//! the emulated CUDA device (and on `cuda:0` with `CARI_TEST_CUDA=1`) match the CPU
//! backend — losses, task weights, and every parameter, centre and moving average after
//! the updates.

use cari::backend::Device;
use cari::data::{DataConfig, LoaderOptions};
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::train::{StepReport, TrainConfig, Trainer};

const SEED: u64 = 11;
const STEPS: u64 = 2;
const BATCH: usize = 6;

fn config() -> NetworkConfig {
    NetworkConfig { image_size: 75, num_classes: 5, width_divisor: 16, ..NetworkConfig::default() }
}

pub fn train_on(device: &Device) -> (Vec<StepReport>, Trainer) {
    let net = MultiTaskNet::new(config()).unwrap();
    let params = net.init_params(SEED, device).unwrap();
    let mut data =
        DataConfig::synth(5, 4, 75, BATCH, SEED).unwrap().open_for_training(None, LoaderOptions::default()).unwrap();
    let mut trainer = Trainer::new(net, params, TrainConfig::sgd(0.01, SEED).unwrap()).unwrap();
    let reports = (0..STEPS)
        .map(|_| {
            trainer
                .step(&data.loader.next_batch().unwrap().to_batch(device).unwrap())
                .unwrap_or_else(|e| panic!("{device}: {e}"))
        })
        .collect();
    (reports, trainer)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Losses and task weights: relative to their size; a few roundings apart.
const REPORT_TOLERANCE: f32 = 2e-4;

/// Parameters after the steps, relative to the largest update any parameter received. Not
/// relative to each tensor's own update: ReLUs and max-pool argmaxes make the gradients
/// discontinuous, and the bias and β gradients of channels that feed batch norms cancel
/// almost exactly, so rounding-level differences in the forward pass move a few small
/// gradients by a visible fraction of their own size (measured: up to 1.6e-3 of the largest
/// update after two steps on the emulated device; a kernel bug gives errors of order 1).
const PARAMETER_TOLERANCE: f32 = 5e-3;

fn compare(name: &str) {
    let device = Device::parse(name).unwrap();
    let (cpu_reports, cpu) = train_on(&Device::cpu());
    let (reports, trainer) = train_on(&device);
    for (r, c) in reports.iter().zip(&cpu_reports) {
        let values = |r: &StepReport| -> Vec<f32> {
            r.task_losses.iter().flatten().chain(&r.task_weights).chain([&r.loss]).chain(&r.loss_w).copied().collect()
        };
        let (got, want) = (values(r), values(c));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= REPORT_TOLERANCE * w.abs().max(1e-3),
                "step {} on {name}: {r:?} vs CPU {c:?}",
                r.step
            );
        }
    }
    let init = MultiTaskNet::new(config()).unwrap().init_params(SEED, &Device::cpu()).unwrap();
    let mut largest_update = 0f32;
    let mut worst = (String::new(), 0f32);
    for (pname, p, _) in cpu.params.iter() {
        let want = p.to_vec().unwrap();
        largest_update = largest_update.max(max_abs_diff(&want, &init.get(pname).unwrap().to_vec().unwrap()));
        let err = max_abs_diff(&trainer.params.get(pname).unwrap().to_vec().unwrap(), &want);
        if err > worst.1 {
            worst = (pname.to_string(), err);
        }
    }
    let relative = worst.1 / largest_update;
    eprintln!("{name}: largest parameter error {:e} (`{}`), {relative:e} of the largest update", worst.1, worst.0);
    assert!(largest_update > 0.0, "the steps changed no parameter");
    assert!(
        relative < PARAMETER_TOLERANCE,
        "{name}: parameter `{}` off by {:e} of the largest update",
        worst.0,
        relative
    );
}

#[cfg(cari_emu)]
#[test]
fn training_steps_on_the_emulated_cuda_device_match_the_cpu() {
    compare("cuda-emu");
    compare("cuda-emu:reverse");
}

#[test]
fn training_steps_on_the_gpu_match_the_cpu() {
    if std::env::var_os("CARI_TEST_CUDA").is_none_or(|v| v != "1") {
        eprintln!("skipping: set CARI_TEST_CUDA=1 on a machine with a GPU");
        return;
    }
    compare("cuda:0");
}
