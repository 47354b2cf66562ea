//! Convolution throughput at the network's real shapes (DESIGN.md §3: 160×160 input).
//!
//! One benchmark group per distinct conv geometry of the network, each with the three
//! passes a training step runs: `fwd` (forward), `dgrad` (input gradient) and `wgrad`
//! (weight gradient), called on the backend directly (no autograd, no batch norm).
//! Activations NHWC, weights HWIO, f32, batch 32 for every shape.
//!
//! Throughput is `Throughput::Elements(2·MACs)`: criterion's "elem/s" column is therefore
//! **FLOP/s** (each pass costs the same 2·MACs). `Conv2d_1a_3x3` has no `dgrad`: its input
//! is the image, whose gradient a training step never computes.
//!
//! ```text
//! cargo bench --bench conv2d                       # everything (~4–5 min on 2 cores)
//! cargo bench --bench conv2d -- Mixed_7a           # a filter on the group name
//! cargo bench --bench conv2d -- /fwd/              # forward passes only
//! CARI_BENCH_DEVICE=cuda cargo bench --bench conv2d  # the CUDA kernels (each pass synchronised)
//! ```
//!
//! Each group's name is `conv2d/<TF scope>` (the first scope with that geometry; the
//! `uses` column of `docs/perf.md` counts how often a training step runs it). Results land
//! in `target/criterion/conv2d_<scope>/<pass>/<shape>/new/estimates.json` (scope with `/`
//! replaced by `_`).

use cari::backend::{Backend, Conv2dBackward, Conv2dGeometry, Conv2dGrads};
use cari::ops::{conv_geometry, Conv2dSpec, Padding};
use cari::rng::Rng;
use cari::{Device, Shape, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 32;

/// One distinct convolution of the network: TF scope of its first use, input `[h, w, c]`,
/// kernel `(kh, kw)`, output channels, stride, padding, and how many batch-32 passes of it
/// a training step runs (branches 2 and 3 see half the batch each, so one Block8 conv in
/// all three branches counts 1 + ½ + ½ = 2).
struct ConvCase {
    scope: &'static str,
    input: [usize; 3],
    kernel: (usize, usize),
    out_c: usize,
    stride: usize,
    padding: Padding,
    uses: f64,
}

const fn case(
    scope: &'static str,
    input: [usize; 3],
    kernel: (usize, usize),
    out_c: usize,
    stride: usize,
    padding: Padding,
    uses: f64,
) -> ConvCase {
    ConvCase { scope, input, kernel, out_c, stride, padding, uses }
}

use Padding::{Same as S, Valid as V};

/// Every distinct conv geometry of the full network at 160×160 input (25 of them).
/// Keep in sync with `CONVS` in `tools/bench_pytorch.py`.
const CASES: &[ConvCase] = &[
    // stem
    case("Conv2d_1a_3x3", [160, 160, 3], (3, 3), 32, 2, V, 1.0),
    case("Conv2d_2a_3x3", [79, 79, 32], (3, 3), 32, 1, V, 1.0),
    case("Conv2d_2b_3x3", [77, 77, 32], (3, 3), 64, 1, S, 1.0),
    case("Conv2d_3b_1x1", [38, 38, 64], (1, 1), 80, 1, V, 1.0),
    case("Conv2d_4a_3x3", [38, 38, 80], (3, 3), 192, 1, V, 1.0),
    case("Conv2d_4b_3x3", [36, 36, 192], (3, 3), 256, 2, V, 1.0),
    // Repeat/block35_1 (17×17×256): Branch_0/Conv2d_1x1, Branch_1/Conv2d_0a_1x1, Branch_2/Conv2d_0a_1x1
    case("block35_1/Conv2d_1x1", [17, 17, 256], (1, 1), 32, 1, S, 3.0),
    // Branch_1/Conv2d_0b_3x3, Branch_2/Conv2d_0b_3x3, Branch_2/Conv2d_0c_3x3
    case("block35_1/Conv2d_0b_3x3", [17, 17, 32], (3, 3), 32, 1, S, 3.0),
    case("block35_1/up_1x1", [17, 17, 96], (1, 1), 256, 1, S, 1.0),
    // Mixed_6a (reduction A)
    case("Mixed_6a/Branch_0/Conv2d_1a_3x3", [17, 17, 256], (3, 3), 384, 2, V, 1.0),
    case("Mixed_6a/Branch_1/Conv2d_0a_1x1", [17, 17, 256], (1, 1), 192, 1, S, 1.0),
    case("Mixed_6a/Branch_1/Conv2d_0b_3x3", [17, 17, 192], (3, 3), 192, 1, S, 1.0),
    case("Mixed_6a/Branch_1/Conv2d_1a_3x3", [17, 17, 192], (3, 3), 256, 2, V, 1.0),
    // Repeat_1/block17_1 (8×8×896): Branch_0/Conv2d_1x1, Branch_1/Conv2d_0a_1x1
    case("block17_1/Conv2d_1x1", [8, 8, 896], (1, 1), 128, 1, S, 2.0),
    case("block17_1/Conv2d_0b_1x7", [8, 8, 128], (1, 7), 128, 1, S, 1.0),
    case("block17_1/Conv2d_0c_7x1", [8, 8, 128], (7, 1), 128, 1, S, 1.0),
    case("block17_1/up_1x1", [8, 8, 256], (1, 1), 896, 1, S, 1.0),
    // Mixed_7a (reduction B): the three Conv2d_0a_1x1
    case("Mixed_7a/Conv2d_0a_1x1", [8, 8, 896], (1, 1), 256, 1, S, 3.0),
    case("Mixed_7a/Branch_0/Conv2d_1a_3x3", [8, 8, 256], (3, 3), 384, 2, V, 1.0),
    // Branch_1/Conv2d_1a_3x3, Branch_2/Conv2d_1a_3x3
    case("Mixed_7a/Branch_1/Conv2d_1a_3x3", [8, 8, 256], (3, 3), 256, 2, V, 2.0),
    case("Mixed_7a/Branch_2/Conv2d_0b_3x3", [8, 8, 256], (3, 3), 256, 1, S, 1.0),
    // Block8 (3×3×1792), 2 blocks per branch, 3 branches: Branch_0/Conv2d_1x1 and
    // Branch_1/Conv2d_0a_1x1 (2 per block) → 2·2·(1 + ½ + ½) = 8
    case("block8/Conv2d_1x1", [3, 3, 1792], (1, 1), 192, 1, S, 8.0),
    case("block8/Conv2d_0b_1x3", [3, 3, 192], (1, 3), 192, 1, S, 4.0),
    case("block8/Conv2d_0c_3x1", [3, 3, 192], (3, 1), 192, 1, S, 4.0),
    case("block8/up_1x1", [3, 3, 384], (1, 1), 1792, 1, S, 4.0),
];

fn random(len: usize, seed: u64, device: &Device) -> Tensor {
    let mut rng = Rng::derive(seed, len as u64);
    Tensor::from_vec((0..len).map(|_| rng.uniform_in(-1.0, 1.0)).collect(), [len], device).expect("upload")
}

/// The geometry table with each conv's cost, and the total a batch-32 training step spends
/// in convolutions (forward + both gradients, `uses` counted).
fn print_table() {
    println!("{:<34} {:>16} {:>7} {:>5} {:>10}", "conv (batch 32)", "input", "kernel", "uses", "GFLOP/pass");
    let mut total = 0.0;
    for k in CASES {
        let [h, w, ci] = k.input;
        let g = conv_geometry(
            &Shape::new([BATCH, h, w, ci]),
            &Shape::new([k.kernel.0, k.kernel.1, ci, k.out_c]),
            Conv2dSpec { stride: k.stride, padding: k.padding },
        )
        .expect("geometry");
        let gflop = 2.0 * g.macs() as f64 / 1e9;
        let passes = if k.scope == "Conv2d_1a_3x3" { 2.0 } else { 3.0 };
        total += gflop * k.uses * passes;
        println!(
            "{:<34} {:>16} {:>7} {:>5} {:>10.3}",
            k.scope,
            format!("{h}x{w}x{ci}"),
            format!("{}x{}/{}", k.kernel.0, k.kernel.1, k.stride),
            k.uses,
            gflop
        );
    }
    println!("convolution work of one batch-{BATCH} training step: {total:.1} GFLOP\n");
}

fn bench_conv(c: &mut Criterion) {
    let device =
        Device::parse(&std::env::var("CARI_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into())).expect("CARI_BENCH_DEVICE");
    let be = device.backend();
    // Kernels launch asynchronously on a GPU: each timed pass waits for its own work.
    let done = |y: cari::tensor::Storage| {
        be.synchronize().expect("synchronize");
        black_box(y)
    };
    print_table();
    for (i, k) in CASES.iter().enumerate() {
        let [h, w, ci] = k.input;
        let x_shape = Shape::new([BATCH, h, w, ci]);
        let w_shape = Shape::new([k.kernel.0, k.kernel.1, ci, k.out_c]);
        let g: Conv2dGeometry =
            conv_geometry(&x_shape, &w_shape, Conv2dSpec { stride: k.stride, padding: k.padding }).expect("geometry");
        let x = random(g.input_len(), 3 * i as u64, &device);
        let wt = random(g.weight_len(), 3 * i as u64 + 1, &device);
        let dy = random(g.output_len(), 3 * i as u64 + 2, &device);
        let backward = |be: &dyn Backend, wanted| {
            let on = Conv2dBackward { x: x.storage(), w: wt.storage(), dy: dy.storage() };
            be.conv2d_backward(on, &g, wanted).expect("conv2d backward")
        };

        let mut group = c.benchmark_group(format!("conv2d_{}", k.scope.replace('/', "_")));
        // Elements = FLOPs (2 per multiply-add): criterion's elem/s reads as FLOP/s.
        group.throughput(Throughput::Elements(2 * g.macs() as u64));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        let label = format!(
            "{}x{}x{} k{}x{} s{} {:?} -> {}x{}x{}",
            h, w, ci, k.kernel.0, k.kernel.1, k.stride, k.padding, g.out_h, g.out_w, g.out_c
        );
        group.bench_function(BenchmarkId::new("fwd", &label), |b| {
            b.iter(|| done(be.conv2d(x.storage().into(), wt.storage(), &g).expect("conv2d")))
        });
        if k.scope != "Conv2d_1a_3x3" {
            group.bench_function(BenchmarkId::new("dgrad", &label), |b| {
                b.iter(|| done(backward(be, Conv2dGrads::INPUT).0.expect("dgrad")))
            });
        }
        group.bench_function(BenchmarkId::new("wgrad", &label), |b| {
            b.iter(|| done(backward(be, Conv2dGrads::WEIGHTS).1.expect("wgrad")))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().nresamples(10_000);
    targets = bench_conv
}
criterion_main!(benches);
