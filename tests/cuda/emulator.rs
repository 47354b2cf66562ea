//! The CPU emulation of the CUDA execution model, checked with the kernels of
//! `kernels/selftest.cu`: barriers, shared memory (static and dynamic), warp shuffles and
//! votes on full and partial warps, atomics, thread orders, and the kernel bugs it must
//! catch (a missing barrier, a divergent barrier, an out-of-bounds write); and the portable
//! fallbacks that stand in for inline PTX there (TF32 rounding, the TF32 tensor-core MMA).
#![cfg(cari_emu)]

use cari::backend::cuda::runtime::emulator::{Emulator, ThreadOrder};
use cari::backend::cuda::runtime::kernels as k;
use cari::backend::cuda::runtime::launch::Launch;
use cari::backend::cuda::runtime::Gpu;
use cari::backend::cuda::DeviceBuffer;
use cari::rng::Rng;
use std::sync::Arc;

const ORDERS: [ThreadOrder; 3] = [ThreadOrder::Forward, ThreadOrder::Reverse, ThreadOrder::Random(7)];

fn emulator(order: ThreadOrder) -> Arc<dyn Gpu> {
    Arc::new(Emulator::new(order))
}

fn buffer<T: bytemuck::Pod>(gpu: &Arc<dyn Gpu>, data: &[T]) -> DeviceBuffer {
    let b = DeviceBuffer::alloc(gpu, "test", std::mem::size_of_val(data)).unwrap();
    gpu.write("test", b.ptr(), bytemuck::cast_slice(data)).unwrap();
    b
}

fn read<T: bytemuck::Pod + Default + Clone>(gpu: &Arc<dyn Gpu>, b: &DeviceBuffer, len: usize) -> Vec<T> {
    let mut out = vec![T::default(); len];
    gpu.read("test", b.ptr(), bytemuck::cast_slice_mut(&mut out)).unwrap();
    out
}

fn run(gpu: &Arc<dyn Gpu>, launch: Launch) -> cari::Result<()> {
    launch.validate("test", &gpu.name())?;
    gpu.launch("test", &launch)
}

#[test]
fn shared_memory_tree_reduction_is_right_in_every_thread_order() {
    let n = 1000;
    let x = Rng::new(3).vec(n, -1.0, 1.0);
    for order in ORDERS {
        let gpu = emulator(order);
        let (xb, out) = (buffer(&gpu, &x), buffer(&gpu, &[0f32; 4]));
        run(
            &gpu,
            Launch::new(k::SELFTEST_BLOCK_SUM, [4, 1, 1], [256, 1, 1]).ptr(out.ptr()).ptr(xb.ptr()).i32(n as i32),
        )
        .unwrap();
        let got: Vec<f32> = read(&gpu, &out, 4);
        for (b, g) in got.iter().enumerate() {
            let want: f64 = x[b * 256..((b + 1) * 256).min(n)].iter().map(|&v| v as f64).sum();
            assert!((*g as f64 - want).abs() < 1e-4, "{order:?} block {b}: {g} vs {want}");
        }
    }
}

#[test]
fn a_missing_barrier_gives_different_results_in_forward_and_reverse_order() {
    let threads = 64;
    let results: Vec<Vec<f32>> = [ThreadOrder::Forward, ThreadOrder::Reverse]
        .into_iter()
        .map(|order| {
            let gpu = emulator(order);
            let out = buffer(&gpu, &vec![0f32; threads]);
            run(
                &gpu,
                Launch::new(k::SELFTEST_MISSING_BARRIER, [1, 1, 1], [threads as u32, 1, 1])
                    .shared(threads * 4)
                    .ptr(out.ptr())
                    .i32(threads as i32),
            )
            .unwrap();
            read(&gpu, &out, threads)
        })
        .collect();
    // Forward: thread t reads slot t+1 before its owner wrote it (dynamic shared memory
    // starts as NaN); reverse: every neighbour already wrote.
    assert!(results[0][..threads - 1].iter().all(|v| v.is_nan()), "{:?}", results[0]);
    assert!(results[1][..threads - 1].iter().enumerate().all(|(t, &v)| v == (t + 1) as f32), "{:?}", results[1]);
}

#[test]
fn a_divergent_barrier_is_an_error_naming_kernel_and_line_not_a_hang() {
    for order in ORDERS {
        let gpu = emulator(order);
        let out = buffer(&gpu, &[0f32; 64]);
        let err = run(&gpu, Launch::new(k::SELFTEST_DIVERGENT_BARRIER, [1, 1, 1], [64, 1, 1]).ptr(out.ptr()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("divergent") && err.contains("selftest_divergent_barrier") && err.contains("selftest.cu:"),
            "{err}"
        );
    }
}

#[test]
fn warp_shuffles_and_atomics_reduce_exactly() {
    let n = 200;
    let x: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    for order in ORDERS {
        let gpu = emulator(order);
        let (xb, out) = (buffer(&gpu, &x), buffer(&gpu, &vec![0f32; n + 1]));
        run(
            &gpu,
            Launch::new(k::SELFTEST_WARP_REDUCE, [2, 1, 1], [128, 1, 1]).ptr(out.ptr()).ptr(xb.ptr()).i32(n as i32),
        )
        .unwrap();
        let got: Vec<f32> = read(&gpu, &out, n + 1);
        assert_eq!(got[0], x.iter().sum::<f32>(), "{order:?}");
        for i in 0..n {
            let warp = i / 32 * 32;
            let want: f32 = x[warp..(warp + 32).min(n)].iter().sum();
            assert_eq!(got[1 + i], want, "{order:?} element {i}");
        }
    }
}

#[test]
fn dynamic_shared_memory_holds_a_block_wide_staging_area() {
    let n = 77;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    for order in ORDERS {
        let gpu = emulator(order);
        let (xb, out) = (buffer(&gpu, &x), buffer(&gpu, &vec![0f32; n]));
        run(
            &gpu,
            Launch::new(k::SELFTEST_DYNAMIC_SHARED, [1, 1, 1], [32, 1, 1])
                .shared(n * 4)
                .ptr(out.ptr())
                .ptr(xb.ptr())
                .i32(n as i32),
        )
        .unwrap();
        let got: Vec<f32> = read(&gpu, &out, n);
        assert!(got.iter().rev().copied().eq(x.iter().copied()), "{order:?}: {got:?}");
    }
}

#[test]
fn atomics_from_a_whole_grid_count_once_each() {
    let gpu = emulator(ThreadOrder::Random(11));
    let (counters, maxes) = (buffer(&gpu, &[0i32; 3]), buffer(&gpu, &[0u32; 1]));
    run(&gpu, Launch::new(k::SELFTEST_ATOMICS, [3, 1, 1], [96, 1, 1]).ptr(counters.ptr()).ptr(maxes.ptr())).unwrap();
    assert_eq!(read::<i32>(&gpu, &counters, 3)[0], 288);
    assert_eq!(read::<i32>(&gpu, &counters, 3)[2], 1, "exactly one compare-and-swap wins");
    assert_eq!(read::<u32>(&gpu, &maxes, 1)[0], 287);
}

#[test]
fn full_masks_on_a_partial_last_warp_name_only_its_lanes() {
    for order in ORDERS {
        let gpu = emulator(order);
        let out = buffer(&gpu, &[0f32; 5]);
        run(&gpu, Launch::new(k::SELFTEST_PARTIAL_WARP, [1, 1, 1], [40, 1, 1]).ptr(out.ptr())).unwrap();
        assert_eq!(read::<f32>(&gpu, &out, 5), vec![36.0, 32.0, 292.0, 8.0, 1.0], "{order:?}");
    }
}

#[test]
fn launch_configurations_the_hardware_refuses_are_errors() {
    let gpu = emulator(ThreadOrder::Forward);
    let out = buffer(&gpu, &[0f32; 5]);
    // Straight to the emulator, past `Launch::validate`: it checks on its own too.
    let bad = Launch::new(k::SELFTEST_PARTIAL_WARP, [1, 1, 1], [2048, 1, 1]).ptr(out.ptr());
    let err = gpu.launch("test", &bad).unwrap_err().to_string();
    assert!(err.contains("selftest_partial_warp"), "{err}");
}

/// The out-of-bounds write must stop the process with a message naming the kernel and the
/// thread, so it runs in a child process: this same test binary, asked for this one test.
#[test]
fn an_out_of_bounds_write_stops_with_a_message_naming_kernel_and_thread() {
    if std::env::var_os("CARI_EMU_OOB_CHILD").is_some() {
        let gpu = emulator(ThreadOrder::Forward);
        let out = DeviceBuffer::alloc(&gpu, "test", 1000 * 4).unwrap();
        let _ = run(&gpu, Launch::new(k::SELFTEST_OUT_OF_BOUNDS, [4, 1, 1], [256, 1, 1]).ptr(out.ptr()).i32(1000));
        return;
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "emulator::an_out_of_bounds_write_stops_with_a_message_naming_kernel_and_thread",
            "--nocapture",
        ])
        .env("CARI_EMU_OOB_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(!child.status.success(), "the child must not survive the overrun: {stderr}");
    assert!(
        stderr.contains("selftest_out_of_bounds")
            && stderr.contains("thread (231,0,0)")
            && stderr.contains("4000-byte"),
        "{stderr}"
    );
}

/// TF32 rounding as cvt.rna.tf32.f32 defines it, on values rather than bits: a finite x to the
/// nearest multiple of its TF32 ulp (2^(e − 10), e its exponent; subnormals share 2^-136), ties
/// away from zero; the f64 arithmetic is exact and the cast back gives infinity past f32::MAX.
fn tf32_reference(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let biased = ((x.to_bits() >> 23) & 0xff) as i32;
    let ulp = 2f64.powi(biased.max(1) - 127 - 10);
    let rounded = ((x.abs() as f64 / ulp + 0.5).floor() * ulp) as f32;
    rounded.copysign(x)
}

/// The emulator in every thread order, and with `CARI_TEST_CUDA=1` the real `cuda:0`: the
/// MMA tests run on both, so the GPU checks the fragment layout the fallback assumes.
fn emulators_and_gpu() -> Vec<Arc<dyn Gpu>> {
    let mut gpus: Vec<Arc<dyn Gpu>> = ORDERS.iter().map(|&o| emulator(o)).collect();
    if std::env::var_os("CARI_TEST_CUDA").is_some_and(|v| v == "1") {
        gpus.push(Arc::new(cari::backend::cuda::runtime::driver::CudaDriver::open(0).unwrap()));
    }
    gpus
}

fn to_tf32_on(gpu: &Arc<dyn Gpu>, x: &[f32]) -> Vec<u32> {
    let (xb, out) = (buffer(gpu, x), buffer(gpu, &vec![0u32; x.len()]));
    let launch = Launch::new(k::SELFTEST_TO_TF32, [x.len().div_ceil(256) as u32, 1, 1], [256, 1, 1]);
    run(gpu, launch.ptr(out.ptr()).ptr(xb.ptr()).i32(x.len() as i32)).unwrap();
    read(gpu, &out, x.len())
}

#[test]
fn tf32_rounding_is_to_nearest_ties_away_with_carries_and_specials_kept() {
    let cases: [(u32, u32); 14] = [
        (0x3f80_1000, 0x3f80_2000), // 1 + 2^-11, a tie: away from zero (to even would go down)
        (0xbf80_1000, 0xbf80_2000), // and its negative
        (0x3f80_0fff, 0x3f80_0000), // just under the tie
        (0x3f80_3000, 0x3f80_4000), // a tie above an odd mantissa
        (0x3fff_f000, 0x4000_0000), // the carry out of the mantissa steps the exponent: 2.0
        (0x0000_1000, 0x0000_2000), // a subnormal tie
        (0x007f_f000, 0x0080_0000), // the largest subnormals carry into the smallest normal
        (0x7f7f_ffff, 0x7f80_0000), // f32::MAX rounds up to infinity
        (0x0000_0000, 0x0000_0000),
        (0x8000_0000, 0x8000_0000),
        (0x7f80_0000, 0x7f80_0000), // ±infinity kept
        (0xff80_0000, 0xff80_0000),
        (0x7fc0_0000, 0x7fc0_0000), // a quiet NaN kept
        (0x7f80_0001, 0x7fc0_0000), // a NaN whose payload sits in the dropped bits: still NaN
    ];
    for gpu in emulators_and_gpu() {
        let x: Vec<f32> = cases.iter().map(|&(bits, _)| f32::from_bits(bits)).collect();
        let got = to_tf32_on(&gpu, &x);
        for (&(bits, want), &g) in cases.iter().zip(&got) {
            assert_eq!(g, want, "{}: {bits:#010x}: got {g:#010x}, want {want:#010x}", gpu.name());
        }
    }

    // Random bit patterns, every class of f32 among them.
    let mut rng = Rng::new(5);
    let x: Vec<f32> = (0..20_000).map(|_| f32::from_bits(rng.next_u64() as u32)).collect();
    for (&v, &g) in x.iter().zip(&to_tf32_on(&emulator(ThreadOrder::Forward), &x)) {
        assert_eq!(g & 0x1fff, 0, "{:#010x}: low bits left in {g:#010x}", v.to_bits());
        if v.is_nan() {
            assert!(f32::from_bits(g).is_nan(), "{:#010x} gave {g:#010x}", v.to_bits());
        } else {
            let want = tf32_reference(v).to_bits();
            assert_eq!(g, want, "{:#010x}: got {g:#010x}, want {want:#010x}", v.to_bits());
        }
    }
}

/// D = A·B + C through selftest_mma_tf32: A 16×8, B 8×8 and C, D 16×8, all row-major.
fn mma_on(gpu: &Arc<dyn Gpu>, a: &[f32], b: &[f32], c: &[f32]) -> Vec<f32> {
    let (ab, bb, cb, d) = (buffer(gpu, a), buffer(gpu, b), buffer(gpu, c), buffer(gpu, &[0f32; 128]));
    let launch = Launch::new(k::SELFTEST_MMA_TF32, [1, 1, 1], [32, 1, 1]);
    run(gpu, launch.ptr(d.ptr()).ptr(ab.ptr()).ptr(bb.ptr()).ptr(cb.ptr())).unwrap();
    read(gpu, &d, 128)
}

/// The triple loop, in f64, over the inputs as `round` leaves them: (D, and per element the
/// sum of the magnitudes of its terms).
fn mma_reference(a: &[f32], b: &[f32], c: &[f32], round: impl Fn(f32) -> f32) -> (Vec<f64>, Vec<f64>) {
    let (mut d, mut scale) = (vec![0.0; 128], vec![0.0; 128]);
    for m in 0..16 {
        for n in 0..8 {
            let (mut sum, mut abs) = (c[m * 8 + n] as f64, c[m * 8 + n].abs() as f64);
            for k in 0..8 {
                let p = round(a[m * 8 + k]) as f64 * round(b[k * 8 + n]) as f64;
                sum += p;
                abs += p.abs();
            }
            d[m * 8 + n] = sum;
            scale[m * 8 + n] = abs;
        }
    }
    (d, scale)
}

#[test]
fn tf32_mma_fallback_is_exact_on_exactly_representable_inputs_in_every_thread_order() {
    // Multiples of 1/8 in [-2, 2] and of 1/4 in [-8, 8]: every product and partial sum is a
    // multiple of 1/64 below 2^6, so f32 holds each exactly and the order of the sum is moot.
    let mut rng = Rng::new(17);
    let mut multiples = |len: usize, steps: usize, unit: f32| -> Vec<f32> {
        (0..len).map(|_| (rng.below(2 * steps + 1) as f32 - steps as f32) * unit).collect()
    };
    let (a, b, c) = (multiples(128, 16, 0.125), multiples(64, 16, 0.125), multiples(128, 32, 0.25));
    let (want, _) = mma_reference(&a, &b, &c, |x| x);
    for gpu in emulators_and_gpu() {
        let got = mma_on(&gpu, &a, &b, &c);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g as f64, w, "{}: D({}, {})", gpu.name(), i / 8, i % 8);
        }
    }
}

#[test]
fn tf32_mma_fallback_matches_the_product_of_tf32_rounded_inputs() {
    let mut rng = Rng::new(23);
    let (a, b, c) = (rng.vec(128, -1.0, 1.0), rng.vec(64, -1.0, 1.0), rng.vec(128, -1.0, 1.0));
    // Exact products, then 8 f32 additions each off by at most 2^-24 of a partial sum no
    // larger than the sum of the terms' magnitudes: 8 · 2^-24 < 1e-6 of that sum.
    let (want, scale) = mma_reference(&a, &b, &c, tf32_reference);
    let (unrounded, _) = mma_reference(&a, &b, &c, |x| x);
    for gpu in emulators_and_gpu() {
        let (got, name) = (mma_on(&gpu, &a, &b, &c), gpu.name());
        let mut off_unrounded = 0f64;
        for i in 0..128 {
            let err = (got[i] as f64 - want[i]).abs();
            let (m, n) = (i / 8, i % 8);
            assert!(err <= 1e-6 * scale[i], "{name}: D({m}, {n}) = {} vs {}, error {err:e}", got[i], want[i]);
            off_unrounded = off_unrounded.max((got[i] as f64 - unrounded[i]).abs() / scale[i]);
        }
        // TF32 keeps 11 significant bits: the inputs' rounding shows far above f32's.
        assert!(off_unrounded > 1e-5, "{name}: inputs not rounded to TF32? {off_unrounded:e}");
    }
}
