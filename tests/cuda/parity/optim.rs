//! The in-place updates of a training step, each over a whole group at once. Both backends
//! round every product on its own and divide and take square roots exactly (IEEE), in the
//! same order, so several steps in a row must leave parameter and state bit-identical; the
//! group controls (norm and clip factor) must match the CPU's to the rounding of an f64
//! sum taken in another order, and their gates must stop every update.

use super::harness::*;
use cari::backend::{
    control_values, AdamStep, Backend, Blend, ParamUpdate, RmsPropStep, SgdStep, UpdateControl, CONTROL_LEN,
};
use cari::tensor::Storage;
use cari::Result;

/// One group of tensors of these lengths: single, odd, one block and a bit, many blocks,
/// more than the largest grid of one sum of squares (so threads take several elements).
const LENS: [usize; 6] = [1, 7, 37, 1000, 65537, 1024 * 256 * 4 + 37];
const STEPS: u64 = 3;

/// One update of a group: per tensor its parameter and state (`tensors[i]`), its
/// gradient, at step `t`, under `control`.
type Update<'a> = dyn Fn(&dyn Backend, &mut [Vec<Storage>], &[Storage], u64, UpdateControl) -> Result<()> + 'a;

/// A control with an open gate and gradient scale `factor`.
fn control(device: &cari::Device, factor: f32) -> Storage {
    up(device, &[1.0, 0.0, factor])
}

/// Runs `STEPS` updates of one group from the same start on the CPU and on `device`, then
/// compares every tensor bit for bit. `start(len)` gives a tensor's parameter and state.
fn run(name: &str, device: &cari::Device, start: &dyn Fn(usize) -> Vec<Vec<f32>>, update: &Update<'_>) {
    let starts: Vec<Vec<Vec<f32>>> = LENS.iter().map(|&n| start(n)).collect();
    let on = |d: &cari::Device| -> Vec<Vec<Storage>> {
        starts.iter().map(|t| t.iter().map(|v| up(d, v)).collect()).collect()
    };
    let (mut want, mut got) = (on(&cpu()), on(device));
    let (c_cpu, c_dev) = (control(&cpu(), 0.7), control(device, 0.7));
    for t in 1..=STEPS {
        let grads: Vec<Vec<f32>> = LENS.iter().map(|&n| random(n, fresh_seed())).collect();
        let g_cpu: Vec<Storage> = grads.iter().map(|g| up(&cpu(), g)).collect();
        let g_dev: Vec<Storage> = grads.iter().map(|g| up(device, g)).collect();
        update(cpu().backend(), &mut want, &g_cpu, t, UpdateControl { scale: &c_cpu, gate: &c_cpu }).unwrap();
        update(device.backend(), &mut got, &g_dev, t, UpdateControl { scale: &c_dev, gate: &c_dev })
            .unwrap_or_else(|e| panic!("{name} on {device}: {e}"));
    }
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        for (j, (w, g)) in w.iter().zip(g).enumerate() {
            let what = format!("{name} len {}, tensor {j} after {STEPS} steps", LENS[i]);
            check(&what, device, &down(device, g), &down(&cpu(), w), EXACT);
        }
    }
}

/// The group of `tensors` (parameter, then `SLOTS` state tensors each) with `grads`.
fn group<'a, const SLOTS: usize>(tensors: &'a mut [Vec<Storage>], grads: &'a [Storage]) -> Vec<ParamUpdate<'a, SLOTS>> {
    tensors
        .iter_mut()
        .zip(grads)
        .map(|(t, grad)| {
            let (param, slots) = t.split_first_mut().expect("a parameter");
            let slots: [&mut Storage; SLOTS] =
                slots.iter_mut().collect::<Vec<_>>().try_into().unwrap_or_else(|_| panic!("{SLOTS} slots"));
            ParamUpdate { param, slots, grad }
        })
        .collect()
}

#[test]
fn sgd_momentum_matches_exactly() {
    let hyper = SgdStep { lr: 0.05, momentum: 0.9 };
    for device in devices() {
        run("sgd_momentum", &device, &|n| vec![random(n, fresh_seed()), random(n, fresh_seed())], &|be, t, g, _, c| {
            be.sgd_momentum(group(t, g), hyper, c)
        });
    }
}

#[test]
fn rmsprop_matches_exactly() {
    // The reference's numbers (DESIGN.md §2), with a clipping factor below 1.
    let hyper = RmsPropStep { lr: 0.1, decay: 0.9, momentum: 0.9, epsilon: 1.0 };
    // TF's start (ms = 1, mom = 0) for short tensors, a running state for the others.
    let start = |n: usize| {
        let (ms, mom) = if n < 100 {
            (vec![1.0; n], vec![0.0; n])
        } else {
            (random(n, fresh_seed()).iter().map(|v| v.abs() + 0.01).collect(), random(n, fresh_seed()))
        };
        vec![random(n, fresh_seed()), ms, mom]
    };
    for device in devices() {
        run("rmsprop", &device, &start, &|be, t, g, _, c| be.rmsprop(group(t, g), hyper, c));
    }
}

#[test]
fn adam_matches_exactly() {
    let start = |n: usize| {
        let v: Vec<f32> = random(n, fresh_seed()).iter().map(|x| x * x).collect();
        vec![random(n, fresh_seed()), random(n, fresh_seed()), v]
    };
    for device in devices() {
        run("adam", &device, &start, &|be, t, g, step, c| {
            let hyper = AdamStep { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step };
            be.adam(group(t, g), hyper, c)
        });
    }
}

#[test]
fn blends_match_exactly() {
    for device in devices() {
        let sources: Vec<Vec<f32>> = LENS.iter().map(|&n| random(n, fresh_seed())).collect();
        let targets: Vec<Vec<f32>> = LENS.iter().map(|&n| random(n, fresh_seed())).collect();
        let takes = random(LENS.len(), fresh_seed());
        let blend = |d: &cari::Device| {
            let mut t: Vec<Storage> = targets.iter().map(|v| up(d, v)).collect();
            let s: Vec<Storage> = sources.iter().map(|v| up(d, v)).collect();
            let group = t.iter_mut().zip(&s).zip(&takes).map(|((target, source), &take)| Blend {
                target,
                source,
                keep: 0.99,
                take,
            });
            d.backend().blend(group.collect(), &control(d, 1.0)).unwrap_or_else(|e| panic!("blend on {d}: {e}"));
            t.iter().map(|x| down(d, x)).collect::<Vec<_>>()
        };
        for (i, (g, w)) in blend(&device).iter().zip(blend(&cpu())).enumerate() {
            check(&format!("blend len {}", LENS[i]), &device, g, &w, EXACT);
        }
    }
}

/// f64 sums of ≤ 10⁶ non-negative terms in two orders differ by ≤ n·2⁻⁵³ relative: the f32
/// norms are at most one rounding apart.
fn assert_norms_agree(what: &str, got: f32, want: f32) {
    assert!((got - want).abs() <= f32::EPSILON * want, "{what}: norm {got} vs CPU {want}");
}

#[test]
fn group_controls_match_the_cpu_and_repeat_exactly() {
    for device in devices() {
        for lens in [&LENS[..], &[0, 5, 0], &[70_000], &[]] {
            let xs: Vec<Vec<f32>> = lens.iter().map(|&n| random(n, fresh_seed())).collect();
            let control_on = |d: &cari::Device, max: Option<f32>| {
                let s: Vec<Storage> = xs.iter().map(|x| up(d, x)).collect();
                let refs: Vec<&Storage> = s.iter().collect();
                down(d, &d.backend().group_control(&refs, max, None).unwrap_or_else(|e| panic!("on {d}: {e}")))
            };
            let (got, want) = (control_on(&device, None), control_on(&cpu(), None));
            let what = format!("lengths {lens:?} on {device}");
            assert_eq!(got.len(), CONTROL_LEN, "{what}");
            assert_norms_agree(&what, got[1], want[1]);
            assert_eq!((got[0], got[2]), (1.0, 1.0), "{what}: an open gate, no clipping");
            assert_eq!(control_on(&device, None), got, "{what}: runs differ");
            // Clipped below the norm: the factor is max/norm of the device's own norm.
            if got[1] > 0.0 {
                let max = got[1] / 3.0;
                assert_eq!(control_on(&device, Some(max)), control_values(got[1], Some(max), true).to_vec(), "{what}");
            }
        }
    }
}

#[test]
fn a_non_finite_gradient_or_guard_closes_the_gate_and_every_update_keeps_still() {
    for device in devices() {
        let be = device.backend();
        let finite = up(&device, &[3.0, 4.0]);
        let with_inf = up(&device, &[1.0, f32::INFINITY]);
        let nan_loss = up(&device, &[f32::NAN]);
        let good_loss = up(&device, &[2.5]);
        let shut = [
            be.group_control(&[&finite, &with_inf], Some(5.0), None).unwrap(),
            be.group_control(&[&finite], Some(5.0), Some(&nan_loss)).unwrap(),
        ];
        for c in &shut {
            assert!(down(&device, c)[0].is_nan(), "on {device}: {:?}", down(&device, c));
        }
        // A guard that is itself a control: a shut gate shuts the next one.
        let chained = be.group_control(&[&finite], Some(5.0), Some(&shut[0])).unwrap();
        assert!(down(&device, &chained)[0].is_nan(), "on {device}");
        let open = be.group_control(&[&finite], Some(1.0), Some(&good_loss)).unwrap();
        assert_eq!(down(&device, &open), vec![1.0, 5.0, 0.2], "on {device}");

        for gate in &shut {
            let (mut p, mut v, mut w) = (up(&device, &[1.0, 2.0]), up(&device, &[0.5, 0.5]), up(&device, &[0.1, 0.1]));
            let c = UpdateControl { scale: &open, gate };
            be.sgd_momentum(
                vec![ParamUpdate { param: &mut p, slots: [&mut v], grad: &finite }],
                SgdStep { lr: 0.1, momentum: 0.9 },
                c,
            )
            .unwrap();
            let rms = RmsPropStep { lr: 0.1, decay: 0.9, momentum: 0.9, epsilon: 1.0 };
            be.rmsprop(vec![ParamUpdate { param: &mut p, slots: [&mut v, &mut w], grad: &finite }], rms, c).unwrap();
            let adam = AdamStep { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1 };
            be.adam(vec![ParamUpdate { param: &mut p, slots: [&mut v, &mut w], grad: &finite }], adam, c).unwrap();
            be.blend(vec![Blend { target: &mut p, source: &finite, keep: 0.5, take: 0.5 }], gate).unwrap();
            assert_eq!(
                [down(&device, &p), down(&device, &v), down(&device, &w)],
                [vec![1.0, 2.0], vec![0.5, 0.5], vec![0.1, 0.1]],
                "on {device}: a shut gate let an update through"
            );
        }
    }
}

#[test]
fn bad_operands_are_errors_and_change_nothing() {
    let hyper = SgdStep { lr: 0.1, momentum: 0.9 };
    for device in devices() {
        let be = device.backend();
        let c = control(&device, 1.0);
        let c = UpdateControl { scale: &c, gate: &c };
        let (mut p, mut v) = (up(&device, &[1.0, 2.0]), up(&device, &[0.0, 0.0]));
        let host_grad = up(&cpu(), &[1.0, 1.0]);
        let update = ParamUpdate { param: &mut p, slots: [&mut v], grad: &host_grad };
        let err = be.sgd_momentum(vec![update], hyper, c).unwrap_err().to_string();
        assert!(err.contains("sgd_momentum") && err.contains(&device.name()) && err.contains("CPU"), "{err}");
        let short_grad = up(&device, &[1.0]);
        let err = be.sgd_momentum(vec![ParamUpdate { param: &mut p, slots: [&mut v], grad: &short_grad }], hyper, c);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("sgd_momentum") && err.contains("expected 2 values, an operand holds 1"), "{err}");
        assert_eq!(down(&device, &p), vec![1.0, 2.0], "on {device}");

        let (mut m, mut s) = (up(&device, &[0.0, 0.0]), up(&device, &[0.0, 0.0]));
        let step0 = AdamStep { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 0 };
        let grad = up(&device, &[1.0, 1.0]);
        let err = be.adam(vec![ParamUpdate { param: &mut p, slots: [&mut m, &mut s], grad: &grad }], step0, c);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("Adam step"), "{err}");
        let rms = RmsPropStep { lr: 0.1, decay: 0.9, momentum: 0.9, epsilon: 1.0 };
        let mut on_cpu = up(&cpu(), &[0.0, 0.0]);
        let err = be.rmsprop(vec![ParamUpdate { param: &mut p, slots: [&mut on_cpu, &mut s], grad: &grad }], rms, c);
        let err = err.unwrap_err().to_string();
        assert!(err.contains("rmsprop") && err.contains("CPU"), "{err}");
        let short_control = up(&device, &[1.0]);
        let bad = UpdateControl { scale: &short_control, gate: &short_control };
        let err = be.rmsprop(vec![ParamUpdate { param: &mut p, slots: [&mut m, &mut s], grad: &grad }], rms, bad);
        assert!(err.unwrap_err().to_string().contains("rmsprop"), "on {device}");
        let err = be.group_control(&[&grad, &on_cpu], None, None).unwrap_err().to_string();
        assert!(err.contains("group_control") && err.contains("CPU"), "{err}");
        assert_eq!(down(&device, &p), vec![1.0, 2.0], "on {device}");
    }
}
