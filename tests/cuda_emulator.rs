//! The CPU emulation of the CUDA execution model, checked with the kernels of
//! `kernels/selftest.cu`: barriers, shared memory (static and dynamic), warp shuffles and
//! votes on full and partial warps, atomics, thread orders, and the kernel bugs it must
//! catch (a missing barrier, a divergent barrier, an out-of-bounds write).
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
        run(&gpu, Launch::new(k::SELFTEST_BLOCK_SUM, [4, 1, 1], [256, 1, 1]).ptr(out.ptr()).ptr(xb.ptr()).i32(n as i32))
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
        run(&gpu, Launch::new(k::SELFTEST_WARP_REDUCE, [2, 1, 1], [128, 1, 1]).ptr(out.ptr()).ptr(xb.ptr()).i32(n as i32))
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
        .args(["--exact", "an_out_of_bounds_write_stops_with_a_message_naming_kernel_and_thread", "--nocapture"])
        .env("CARI_EMU_OOB_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(!child.status.success(), "the child must not survive the overrun: {stderr}");
    assert!(
        stderr.contains("selftest_out_of_bounds") && stderr.contains("thread (231,0,0)") && stderr.contains("4000-byte"),
        "{stderr}"
    );
}
