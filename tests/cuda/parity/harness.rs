//! What every parity case shares: the devices under test, uploads, and the comparison.

use cari::backend::Device;
use cari::rng::{mix64, Rng, GOLDEN_GAMMA};
use cari::tensor::Storage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The CUDA devices every case runs on.
pub fn devices() -> Vec<Device> {
    let mut names = vec!["cuda-emu", "cuda-emu:reverse"];
    if std::env::var_os("CARI_TEST_CUDA").is_some_and(|v| v == "1") {
        names.push("cuda:0");
    }
    names.into_iter().map(|n| Device::parse(n).unwrap_or_else(|e| panic!("opening {n}: {e}"))).collect()
}

pub fn cpu() -> Device {
    Device::cpu()
}

/// `len` values uniform in `[-1, 1)` from `seed`.
pub fn random(len: usize, seed: u64) -> Vec<f32> {
    Rng::new(seed).vec(len, -1.0, 1.0)
}

/// A fresh seed per call, so every run draws new inputs. The run's base seed is printed
/// once; `CARI_PARITY_SEED=<base>` replays a failing run.
pub fn fresh_seed() -> u64 {
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let s = std::env::var("CARI_PARITY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        eprintln!("parity inputs from CARI_PARITY_SEED={s}");
        s
    });
    mix64(base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(GOLDEN_GAMMA)))
}

pub fn up(device: &Device, data: &[f32]) -> Storage {
    device.backend().upload(data.to_vec()).unwrap_or_else(|e| panic!("upload to {device}: {e}"))
}

pub fn down(device: &Device, x: &Storage) -> Vec<f32> {
    device.backend().download(x).unwrap_or_else(|e| panic!("download from {device}: {e}"))
}

/// How close a CUDA result must be to the CPU's, and why that much.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub atol: f32,
    pub rtol: f32,
    pub reason: &'static str,
}

/// Bit-for-bit: the kernel does the same operations in the same order as the CPU.
pub const EXACT: Tolerance = Tolerance { atol: 0.0, rtol: 0.0, reason: "same operations in the same order" };

/// Compares `got` (the CUDA device's) with `want` (the CPU's); on failure prints the first
/// mismatch, the largest error and the tolerance's reason, then panics.
pub fn check(what: &str, device: &Device, got: &[f32], want: &[f32], tol: Tolerance) {
    assert_eq!(got.len(), want.len(), "{what} on {device}: {} values, the CPU gave {}", got.len(), want.len());
    let mut first = None;
    let mut worst = (0usize, 0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        // Equal infinities and NaN against NaN agree; a NaN error never passes the tolerance.
        let agree = g == w || (g.is_nan() && w.is_nan()) || err <= tol.atol + tol.rtol * w.abs();
        let bad = !agree;
        if bad && first.is_none() {
            first = Some(i);
        }
        if err > worst.1 || (err.is_nan() && !worst.1.is_nan()) {
            worst = (i, err);
        }
    }
    if let Some(i) = first {
        panic!(
            "{what} on {device}: first mismatch at [{i}]: got {}, CPU {} (|err| {}); largest |err| {} at [{}]; \
             tolerance atol {} + rtol {}·|ref| ({})",
            got[i],
            want[i],
            (got[i] - want[i]).abs(),
            worst.1,
            worst.0,
            tol.atol,
            tol.rtol,
            tol.reason
        );
    }
}
