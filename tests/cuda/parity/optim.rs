//! Fused optimizer updates, in place. Both backends round every product on its own and
//! divide and take square roots exactly (IEEE), in the same order, so several steps in a
//! row must leave parameter and state bit-identical.

use super::harness::*;
use cari::backend::{AdamStep, Backend, ParamUpdate, RmsPropStep, SgdStep};
use cari::tensor::Storage;
use cari::Result;

const LENS: [usize; 5] = [1, 7, 37, 1000, 65537];
const STEPS: u64 = 3;

/// One update of `tensors` (parameter first, then its state) with `grad` at step `t`.
type Update<'a> = dyn Fn(&dyn Backend, &mut [Storage], &Storage, u64) -> Result<()> + 'a;

/// Runs `STEPS` updates from the same start on the CPU and on `device`, then compares
/// every tensor bit for bit. `start` gives the parameter and state values.
fn run(name: &str, device: &cari::Device, start: &[Vec<f32>], update: &Update<'_>) {
    let len = start[0].len();
    let grads: Vec<Vec<f32>> = (0..STEPS).map(|_| random(len, fresh_seed())).collect();
    let mut want: Vec<Storage> = start.iter().map(|v| up(&cpu(), v)).collect();
    let mut got: Vec<Storage> = start.iter().map(|v| up(device, v)).collect();
    for (t, g) in grads.iter().enumerate() {
        update(cpu().backend(), &mut want, &up(&cpu(), g), t as u64 + 1).unwrap();
        update(device.backend(), &mut got, &up(device, g), t as u64 + 1)
            .unwrap_or_else(|e| panic!("{name} on {device}: {e}"));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let what = format!("{name} len {len}, tensor {i} after {STEPS} steps");
        check(&what, device, &down(device, g), &down(&cpu(), w), EXACT);
    }
}

#[test]
fn sgd_momentum_matches_exactly() {
    let hyper = SgdStep { lr: 0.05, momentum: 0.9, grad_scale: 0.7 };
    for device in devices() {
        for len in LENS {
            let start = [random(len, fresh_seed()), random(len, fresh_seed())];
            run("sgd_momentum", &device, &start, &|be, t, g, _| {
                let [p, v] = t else { unreachable!() };
                be.sgd_momentum(ParamUpdate { param: p, slots: [v], grad: g }, hyper)
            });
        }
    }
}

#[test]
fn rmsprop_matches_exactly() {
    // The reference's numbers (DESIGN.md §2) and a clipping factor below 1.
    let hyper = RmsPropStep { lr: 0.1, decay: 0.9, momentum: 0.9, epsilon: 1.0, grad_scale: 0.6 };
    for device in devices() {
        for len in LENS {
            // TF's start (ms = 1, mom = 0) for short tensors, a running state for the others.
            let (ms, mom) = if len < 100 {
                (vec![1.0; len], vec![0.0; len])
            } else {
                (random(len, fresh_seed()).iter().map(|v| v.abs() + 0.01).collect(), random(len, fresh_seed()))
            };
            let start = [random(len, fresh_seed()), ms, mom];
            run("rmsprop", &device, &start, &|be, t, g, _| {
                let [p, ms, mom] = t else { unreachable!() };
                be.rmsprop(ParamUpdate { param: p, slots: [ms, mom], grad: g }, hyper)
            });
        }
    }
}

#[test]
fn adam_matches_exactly() {
    for device in devices() {
        for len in LENS {
            let v: Vec<f32> = random(len, fresh_seed()).iter().map(|x| x * x).collect();
            let start = [random(len, fresh_seed()), random(len, fresh_seed()), v];
            run("adam", &device, &start, &|be, t, g, step| {
                let [p, m, v] = t else { unreachable!() };
                let hyper = AdamStep { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step, grad_scale: 0.8 };
                be.adam(ParamUpdate { param: p, slots: [m, v], grad: g }, hyper)
            });
        }
    }
}

#[test]
fn bad_operands_are_errors_and_change_nothing() {
    let hyper = SgdStep { lr: 0.1, momentum: 0.9, grad_scale: 1.0 };
    for device in devices() {
        let be = device.backend();
        let (mut p, mut v) = (up(&device, &[1.0, 2.0]), up(&device, &[0.0, 0.0]));
        let host_grad = up(&cpu(), &[1.0, 1.0]);
        let update = ParamUpdate { param: &mut p, slots: [&mut v], grad: &host_grad };
        let err = be.sgd_momentum(update, hyper).unwrap_err().to_string();
        assert!(err.contains("sgd_momentum") && err.contains(&device.name()) && err.contains("CPU"), "{err}");
        let short_grad = up(&device, &[1.0]);
        let err = be.sgd_momentum(ParamUpdate { param: &mut p, slots: [&mut v], grad: &short_grad }, hyper);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("sgd_momentum") && err.contains("expected 2 values, an operand holds 1"), "{err}");
        assert_eq!(down(&device, &p), vec![1.0, 2.0], "on {device}");

        let (mut m, mut s) = (up(&device, &[0.0, 0.0]), up(&device, &[0.0, 0.0]));
        let step0 = AdamStep { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 0, grad_scale: 1.0 };
        let grad = up(&device, &[1.0, 1.0]);
        let err = be.adam(ParamUpdate { param: &mut p, slots: [&mut m, &mut s], grad: &grad }, step0);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("Adam step"), "{err}");
        let rms = RmsPropStep { lr: 0.1, decay: 0.9, momentum: 0.9, epsilon: 1.0, grad_scale: 1.0 };
        let mut on_cpu = up(&cpu(), &[0.0, 0.0]);
        let err = be.rmsprop(ParamUpdate { param: &mut p, slots: [&mut on_cpu, &mut s], grad: &grad }, rms);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("rmsprop") && err.contains("CPU"), "{err}");
        assert_eq!(down(&device, &p), vec![1.0, 2.0], "on {device}");
    }
}
