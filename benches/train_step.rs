//! Whole-network throughput: one training step and batch inference of the full model
//! (`NetworkConfig::default()`: 160×160 input, 195 identities, 17.1 M parameters).
//!
//! - `train_step/step/{16,32}`: `Trainer::step`, i.e. the training forward (trunk, the three
//!   branches on their photo/caricature subsets, weight module, both objectives), the two
//!   backward passes (θ on L, ψ on L_w), both SGD-momentum updates with global-norm
//!   clipping, the batch-norm moving averages and the center update.
//! - `train_step/forward/{16,32}` and `train_step/forward_backward/{16,32}`: the same step
//!   cut short after the forward, and after both backward passes (no optimizer, no state
//!   updates), to show where a step's time goes.
//! - `inference/embed/32`: `MultiTaskNet::embed` (trunk + branch 1, inference mode).
//!
//! Throughput is `Throughput::Elements(batch)`: criterion's "elem/s" reads as **images/s**.
//! The batch (synthetic faces, photos and caricatures alternating) is made once, outside
//! the timed loop; every iteration trains on it again.
//!
//! ```text
//! cargo bench --bench train_step                    # everything, about 4 minutes on 2 cores
//! cargo bench --bench train_step -- step/           # the full steps only
//! cargo bench --bench train_step -- inference       # inference only
//! CARI_BENCH_DEVICE=cuda cargo bench --bench train_step   # on the GPU (synchronised)
//! ```
//! Compare with `tools/bench_pytorch.py` run on the same machine (see docs/perf.md).

use cari::autograd::{ParamGroup, Tape};
use cari::batch::Batch;
use cari::data::{DataConfig, LoaderOptions};
use cari::model::{training_objective, MultiTaskNet, NetworkConfig};
use cari::nn::Ctx;
use cari::train::{TrainConfig, Trainer};
use cari::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::time::Duration;

const SEED: u64 = 0;

fn trainer(device: &Device) -> Trainer {
    let net = MultiTaskNet::new(NetworkConfig::default()).expect("network");
    let params = net.init_params(SEED, device).expect("parameters");
    // The command line's default learning rate.
    Trainer::new(net, params, TrainConfig::sgd(0.01, SEED).expect("config")).expect("trainer")
}

fn batch(n: usize, device: &Device) -> Batch {
    let cfg = NetworkConfig::default();
    let data = DataConfig::synth(cfg.num_classes, 4, cfg.image_size, n, SEED).expect("data");
    let mut opened = data.open_for_training(None, LoaderOptions::default()).expect("loader");
    opened.loader.next_batch().expect("batch").to_batch(device).expect("upload")
}

fn bench_train(c: &mut Criterion) {
    let device =
        Device::parse(&std::env::var("CARI_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into())).expect("CARI_BENCH_DEVICE");
    let sync = || device.backend().synchronize().expect("synchronize");
    let mut group = c.benchmark_group("train_step");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for n in [16usize, 32] {
        let batch = batch(n, &device);
        let mut t = trainer(&device);
        // Elements = images.
        group.throughput(Throughput::Elements(n as u64));
        group.measurement_time(Duration::from_secs(if n == 32 { 20 } else { 10 }));

        group.bench_function(BenchmarkId::new("step", n), |b| b.iter(|| black_box(t.step(&batch).expect("step"))));

        group.bench_function(BenchmarkId::new("forward", n), |b| {
            b.iter(|| {
                let tape = Tape::new();
                let ctx = Ctx::train(&t.params, &tape);
                let fwd = training_objective(&t.net, &ctx, &batch, 1, &t.config.objective).expect("forward");
                black_box(fwd.loss.value().to_scalar().expect("loss"))
            })
        });

        group.bench_function(BenchmarkId::new("forward_backward", n), |b| {
            b.iter(|| {
                let tape = Tape::new();
                let ctx = Ctx::train(&t.params, &tape);
                let fwd = training_objective(&t.net, &ctx, &batch, 1, &t.config.objective).expect("forward");
                let g = fwd.loss.backward_for(t.params.in_group(ParamGroup::Network)).expect("backward L");
                let gw = fwd
                    .loss_w
                    .as_ref()
                    .expect("L_w")
                    .backward_for(t.params.in_group(ParamGroup::WeightModule))
                    .expect("backward L_w");
                sync();
                black_box((g.len(), gw.len()))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("inference");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    let n = 32;
    let batch = batch(n, &device);
    let t = trainer(&device);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("embed", n), |b| {
        b.iter(|| {
            let e = t.net.embed(&t.params, &batch.images).expect("embed");
            sync();
            black_box(e)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().nresamples(10_000);
    targets = bench_train
}
criterion_main!(benches);
