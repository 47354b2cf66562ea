//! Uploads, downloads, zeros, copies and dtype casts. Everything here is exact: values
//! move untouched, and the bf16/f16 conversions must give the `half` crate's bits (the
//! CPU backend's conversions) for every input, NaN payloads included.

use super::harness::*;
use cari::backend::cuda::DeviceBuffer;
use cari::tensor::{CudaStorage, DType, Storage};
use cari::Device;
use half::{bf16, f16};

const LENS: [usize; 6] = [0, 1, 7, 37, 1000, 65537];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Values every conversion must get right: zeros, infinities, NaNs (quiet, signalling,
/// with payloads, negative), f32 subnormals, the f16 subnormal range and its underflow
/// edge, ties that round to even in bf16 and f16, and values that overflow either.
fn special_values() -> Vec<f32> {
    let from_bits = [
        0x0000_0000u32,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0xffc0_0000,
        0x7f80_0001, // signalling NaN, payload below bf16/f16 precision
        0x7fa0_0000, // signalling NaN with a payload both keep
        0x7fbf_ffff,
        0xffff_ffff,
        0x0000_0001, // smallest f32 subnormal
        0x807f_ffff, // largest negative f32 subnormal
        0x3f80_8000, // 1 + 2⁻⁸: bf16 tie, rounds down to even
        0x3f81_8000, // bf16 tie, rounds up to even
        0x3f80_8001, // just above a bf16 tie
        0x3f80_1000, // 1 + 2⁻¹¹: f16 tie, rounds down to even
        0x3f80_3000, // f16 tie, rounds up to even
        0x7f7f_ffff, // f32::MAX: infinity in bf16 and f16
        0x7f7f_7fff, // just below bf16's rounding edge to infinity
        0x7f7f_8000, // bf16 tie at the top: rounds to infinity
        0x3380_0000, // 2⁻²⁴: smallest f16 subnormal
        0x3300_0000, // 2⁻²⁵: tie between 0 and the smallest subnormal, rounds to 0
        0x3300_0001, // just above: rounds up to the smallest subnormal
        0x3340_0000, // 1.5·2⁻²⁵: rounds up
        0x33c0_0000, // 1.5·2⁻²⁴: tie between subnormals 1 and 2, rounds to 2
        0x3880_0000, // 2⁻¹⁴: smallest f16 normal
        0x387f_c000, // largest f16 subnormal
        0x387f_d000, // just below the tie above it: stays subnormal
        0x387f_e000, // tie between the largest subnormal and the smallest normal: normal
        0x32ff_ffff, // below half the smallest subnormal: 0
    ];
    let mut v: Vec<f32> = from_bits.iter().map(|&b| f32::from_bits(b)).collect();
    // f16's largest finite value, the edge where it rounds to infinity, and beyond.
    v.extend([65504.0, 65519.99, 65520.0, -65520.0, 1e5, 1e10, -3.4e38, 6.1e-5, -5.96e-8, 1.0 / 3.0]);
    v
}

/// Special values, then random bit patterns (every sign, exponent and payload).
fn conversion_inputs(random_count: usize) -> Vec<f32> {
    let mut rng = cari::rng::Rng::new(fresh_seed());
    let mut v = special_values();
    v.extend((0..random_count).map(|_| f32::from_bits(rng.next_u64() as u32)));
    v
}

fn cuda_storage(x: &Storage) -> &CudaStorage {
    match x {
        Storage::Cuda(s) => s,
        Storage::Cpu(_) => panic!("expected CUDA storage"),
    }
}

/// The raw 16-bit patterns of a bf16 or f16 CUDA storage.
fn half_bits(x: &Storage) -> Vec<u16> {
    let s = cuda_storage(x);
    let mut out = vec![0u16; s.len];
    s.buffer.gpu().read("test", s.buffer.ptr(), bytemuck::cast_slice_mut(&mut out)).unwrap();
    out
}

/// CUDA storage of `dtype` holding exactly `patterns`.
fn half_storage(device: &Device, patterns: &[u16], dtype: DType) -> Storage {
    let probe = up(device, &[0.0]);
    let gpu = cuda_storage(&probe).buffer.gpu();
    let buffer = DeviceBuffer::alloc(gpu, "test", patterns.len() * 2).unwrap();
    gpu.write("test", buffer.ptr(), bytemuck::cast_slice(patterns)).unwrap();
    Storage::Cuda(CudaStorage { buffer, len: patterns.len(), dtype })
}

#[test]
fn upload_download_round_trip_keeps_every_bit() {
    for device in devices() {
        for len in LENS {
            let mut x = random(len, fresh_seed());
            let specials = special_values();
            x.iter_mut().zip(&specials).for_each(|(v, s)| *v = *s);
            let back = down(&device, &up(&device, &x));
            assert_eq!(bits(&back), bits(&x), "len {len} on {device}");
        }
    }
}

#[test]
fn zeros_and_copies() {
    for device in devices() {
        for len in LENS {
            let zeros = down(&device, &device.backend().zeros(len).unwrap());
            assert_eq!(bits(&zeros), vec![0; len], "zeros({len}) on {device}");
            let x = random(len, fresh_seed());
            let original = up(&device, &x);
            let copy = device.backend().copy(&original).unwrap();
            drop(original);
            assert_eq!(bits(&down(&device, &copy)), bits(&x), "copy of {len} on {device}");
        }
        // A half-precision copy keeps its dtype and every 16-bit pattern.
        let patterns: Vec<u16> = (0..37u16).map(|i| i.wrapping_mul(0x9e37)).collect();
        let h = half_storage(&device, &patterns, DType::F16);
        let copy = device.backend().copy(&h).unwrap();
        assert_eq!(copy.dtype(), DType::F16, "on {device}");
        assert_eq!(half_bits(&copy), patterns, "f16 copy on {device}");
    }
}

#[test]
fn casts_to_half_types_give_the_half_crates_bits() {
    let x = conversion_inputs(65537 - special_values().len());
    let want_bf16: Vec<u16> = x.iter().map(|&v| bf16::from_f32(v).to_bits()).collect();
    let want_f16: Vec<u16> = x.iter().map(|&v| f16::from_f32(v).to_bits()).collect();
    for device in devices() {
        let dx = up(&device, &x);
        for (dtype, want) in [(DType::BF16, &want_bf16), (DType::F16, &want_f16)] {
            let h = device.backend().cast(&dx, dtype).unwrap();
            assert_eq!(h.dtype(), dtype);
            let got = half_bits(&h);
            if let Some(i) = (0..x.len()).find(|&i| got[i] != want[i]) {
                panic!(
                    "f32 → {dtype} on {device}: {:#010x} gave {:#06x}, half {:#06x}",
                    x[i].to_bits(),
                    got[i],
                    want[i]
                );
            }
        }
    }
}

/// Every one of the 65536 patterns of each half type, widened to f32 (NaNs come out quiet,
/// as `half` makes them).
#[test]
fn every_half_pattern_widens_as_the_half_crate_does() {
    let patterns: Vec<u16> = (0..=u16::MAX).collect();
    for device in devices() {
        for dtype in [DType::BF16, DType::F16] {
            let want: Vec<u32> = patterns
                .iter()
                .map(|&p| match dtype {
                    DType::BF16 => bf16::from_bits(p).to_f32().to_bits(),
                    _ => f16::from_bits(p).to_f32().to_bits(),
                })
                .collect();
            let got = bits(&down(&device, &half_storage(&device, &patterns, dtype)));
            if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
                panic!("{dtype} {:#06x} → f32 on {device}: {:#010x}, half {:#010x}", patterns[i], got[i], want[i]);
            }
        }
    }
}

/// Casts between the half types (through f32 on both backends) and back to f32, against
/// the CPU backend's casts.
#[test]
fn casts_match_the_cpu_backend() {
    let x = conversion_inputs(1000);
    for device in devices() {
        for (from, to) in [
            (DType::F32, DType::BF16),
            (DType::F32, DType::F16),
            (DType::BF16, DType::F16),
            (DType::F16, DType::BF16),
            (DType::F16, DType::F32),
        ] {
            let cast = |d: &Device| {
                let be = d.backend();
                let start = be.cast(&up(d, &x), from).unwrap();
                let converted = be.cast(&start, to).unwrap();
                assert_eq!(converted.dtype(), to, "{from} → {to} on {d}");
                bits(&down(d, &converted))
            };
            assert_eq!(cast(&device), cast(&cpu()), "{from} → {to} on {device}");
        }
    }
}

#[test]
fn storage_of_another_device_is_an_error() {
    let on_cpu = up(&cpu(), &[1.0]);
    for device in devices() {
        for (op, err) in [
            ("download", device.backend().download(&on_cpu).map(|_| ()).unwrap_err()),
            ("copy", device.backend().copy(&on_cpu).map(|_| ()).unwrap_err()),
            ("cast", device.backend().cast(&on_cpu, DType::BF16).map(|_| ()).unwrap_err()),
        ] {
            let msg = err.to_string();
            assert!(msg.contains(op) && msg.contains(&device.name()) && msg.contains("CPU"), "{msg}");
        }
    }
}

#[test]
fn tensors_read_together_are_each_as_read_alone() {
    for dev in devices() {
        let be = dev.backend();
        let lens = [3, 0, 70_001, 1];
        let mut xs: Vec<Storage> = lens.iter().map(|&n| up(&dev, &random(n, fresh_seed()))).collect();
        xs.push(be.cast(&up(&dev, &special_values()), DType::BF16).unwrap());
        let refs: Vec<&Storage> = xs.iter().collect();
        let alone: Vec<Vec<u32>> = xs.iter().map(|x| bits(&be.download(x).unwrap())).collect();
        let together = be.download_all(&refs).unwrap();
        assert_eq!(together.iter().map(|v| bits(v)).collect::<Vec<_>>(), alone, "on {dev}");
        assert!(be.download_all(&[]).unwrap().is_empty());
    }
}
