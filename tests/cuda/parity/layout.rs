//! Column concatenation and slicing, row gather and scatter-add.
//!
//! Copies move values untouched and the scatter adds each destination's sources in the
//! CPU's order (increasing source index), so every result must match bit for bit.

use super::harness::*;
use cari::backend::Rows;
use cari::rng::Rng;

fn rows_of(rng: &mut Rng, picks: usize, rows: usize) -> Vec<usize> {
    (0..picks).map(|_| rng.below(rows)).collect()
}

#[test]
fn concat_and_slice_match_exactly() {
    // (rows, part widths): single row/column, an empty part, primes, widths across a warp.
    let cases: [(usize, &[usize]); 6] =
        [(1, &[1]), (1, &[3, 1, 2]), (7, &[1, 0, 13]), (37, &[33, 7]), (1000, &[3, 1, 5]), (65537, &[1, 2])];
    for device in devices() {
        for (rows, widths) in cases {
            let parts: Vec<Vec<f32>> = widths.iter().map(|&c| random(rows * c, fresh_seed())).collect();
            let cpu_parts: Vec<_> = parts.iter().map(|p| up(&cpu(), p)).collect();
            let dev_parts: Vec<_> = parts.iter().map(|p| up(&device, p)).collect();
            let cpu_views: Vec<_> = cpu_parts.iter().map(|p| p.into()).zip(widths.iter().copied()).collect();
            let dev_views: Vec<_> = dev_parts.iter().map(|p| p.into()).zip(widths.iter().copied()).collect();
            let want = cpu().backend().concat_cols(&cpu_views, rows).unwrap();
            let got = device.backend().concat_cols(&dev_views, rows).unwrap();
            let what = format!("concat_cols {rows} rows of {widths:?}");
            check(&what, &device, &down(&device, &got), &down(&cpu(), &want), EXACT);

            let total: usize = widths.iter().sum();
            let shape = Rows { rows, cols: total };
            // Each part back, the whole, and a middle cut across the parts: all at once and
            // each alone.
            let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
            for &c in widths {
                let start = ranges.last().map_or(0, |r| r.end);
                ranges.push(start..start + c);
            }
            ranges.push(0..total);
            if total > 2 {
                ranges.push(1..total - 1);
            }
            let wants = cpu().backend().slice_cols(&want, shape, &ranges).unwrap();
            let together = device.backend().slice_cols(&got, shape, &ranges).unwrap();
            assert_eq!(together.len(), ranges.len());
            for ((range, want), sliced) in ranges.iter().zip(&wants).zip(&together) {
                let alone = device.backend().slice_cols(&got, shape, std::slice::from_ref(range)).unwrap();
                let what = format!("slice_cols {range:?} of {rows}x{total}");
                check(&what, &device, &down(&device, sliced), &down(&cpu(), want), EXACT);
                check(&format!("{what} alone"), &device, &down(&device, &alone[0]), &down(&cpu(), want), EXACT);
            }
        }
    }
}

#[test]
fn gather_and_scatter_add_match_exactly() {
    // (rows, cols, picks): duplicates galore (picks ≫ rows), rows never picked (picks ≪
    // rows), one column, columns across a warp, more output than the launch's threads.
    let cases = [(1, 1, 1), (1, 7, 37), (7, 1, 3), (13, 37, 100), (37, 33, 7), (1000, 3, 1000), (61, 1, 65537)];
    for device in devices() {
        for (rows, cols, picks) in cases {
            let mut rng = Rng::new(fresh_seed());
            let index = rows_of(&mut rng, picks, rows);
            let shape = Rows { rows, cols };
            let x = random(rows * cols, fresh_seed());
            let want = cpu().backend().gather_rows(&up(&cpu(), &x), shape, &index).unwrap();
            let got = device.backend().gather_rows(&up(&device, &x), shape, &index).unwrap();
            let what = format!("gather_rows {picks} of {rows}x{cols}");
            check(&what, &device, &down(&device, &got), &down(&cpu(), &want), EXACT);

            let src = random(picks * cols, fresh_seed());
            let want = cpu().backend().scatter_add_rows(&up(&cpu(), &src), shape, &index).unwrap();
            let got = device.backend().scatter_add_rows(&up(&device, &src), shape, &index).unwrap();
            let what = format!("scatter_add_rows {picks} into {rows}x{cols}");
            check(&what, &device, &down(&device, &got), &down(&cpu(), &want), EXACT);
        }
    }
}

#[test]
fn scatter_by_hand_accumulates_duplicates_and_zeroes_the_rest() {
    let shape = Rows { rows: 4, cols: 2 };
    let src = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
    for device in devices() {
        let got = device.backend().scatter_add_rows(&up(&device, &src), shape, &[2, 0, 2]).unwrap();
        assert_eq!(down(&device, &got), vec![2.0, 20.0, 0.0, 0.0, 4.0, 40.0, 0.0, 0.0], "on {device}");
        let empty = device.backend().scatter_add_rows(&up(&device, &[]), shape, &[]).unwrap();
        assert_eq!(down(&device, &empty), vec![0.0; 8], "empty scatter on {device}");
        let none = device.backend().gather_rows(&up(&device, &src[..4]), Rows { rows: 2, cols: 2 }, &[]).unwrap();
        assert!(down(&device, &none).is_empty(), "empty gather on {device}");
    }
}

#[test]
fn bad_indices_columns_and_devices_are_errors() {
    let shape = Rows { rows: 2, cols: 3 };
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    for device in devices() {
        let be = device.backend();
        let err = be.gather_rows(&up(&device, &x), shape, &[0, 2]).unwrap_err().to_string();
        assert!(err.contains("gather_rows") && err.contains("row index 2 out of 2"), "{err}");
        let err = be.scatter_add_rows(&up(&device, &x), shape, &[5, 0]).unwrap_err().to_string();
        assert!(err.contains("scatter_add_rows") && err.contains("row index 5"), "{err}");
        let err = be.slice_cols(&up(&device, &x), shape, &[0..1, 2..4]).unwrap_err().to_string();
        assert!(err.contains("slice_cols") && err.contains("2..4 of 3"), "{err}");
        let on_cpu = up(&cpu(), &x);
        let err = be.concat_cols(&[((&up(&device, &x)).into(), 3), ((&on_cpu).into(), 3)], 2).unwrap_err().to_string();
        assert!(err.contains("concat_cols") && err.contains(&device.name()) && err.contains("CPU"), "{err}");
    }
}

/// A concatenation whose parts include batch norms' outputs, computed as they are copied:
/// the CPU's (normalise, then copy) bit for bit.
#[test]
fn concat_of_batch_norm_outputs_matches_exactly() {
    use cari::backend::{Activation, BatchNorm, BatchNormGeometry, Values};
    let (rows, widths) = (37, [5usize, 33, 2]);
    let parts: Vec<Vec<f32>> = widths.iter().map(|&c| random(rows * c, fresh_seed())).collect();
    let stats: Vec<[Vec<f32>; 3]> = widths
        .iter()
        .map(|&c| {
            [
                random(c, fresh_seed()),
                random(c, fresh_seed()).iter().map(|v| v.abs() + 0.1).collect(),
                random(c, fresh_seed()),
            ]
        })
        .collect();
    let run = |d: &cari::Device| {
        let parts: Vec<_> = parts.iter().map(|p| up(d, p)).collect();
        let stats: Vec<_> = stats.iter().map(|s| s.clone().map(|v| up(d, &v))).collect();
        let acts = [Activation::Relu, Activation::Identity, Activation::Relu];
        let values: Vec<(Values, usize)> = (0..widths.len())
            .map(|i| {
                let geometry = BatchNormGeometry { shape: Rows { rows, cols: widths[i] }, eps: 1e-3, act: acts[i] };
                let [mean, var, beta] = &stats[i];
                let v = if i == 1 {
                    Values::Stored(&parts[i])
                } else {
                    Values::Normalized(BatchNorm { x: &parts[i], mean, var, beta, geometry })
                };
                (v, widths[i])
            })
            .collect();
        down(d, &d.backend().concat_cols(&values, rows).unwrap())
    };
    let want = run(&cpu());
    for d in devices() {
        check("concat of batch norm outputs", &d, &run(&d), &want, EXACT);
    }
}
