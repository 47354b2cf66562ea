//! Column and row rearrangements of row-major matrices.
//!
//! - `concat_cols(parts, rows)`: parts `[rows, c_i]` side by side → `[rows, Σ c_i]`.
//! - `slice_cols(x[rows, cols], range)` → `[rows, range.len()]`: the columns of `range`
//!   (the adjoint of `concat_cols` for one part).
//! - `gather_rows(x[rows, cols], index)` → `[index.len(), cols]`: `out[i] = x[index[i]]`.
//! - `scatter_add_rows(src[index.len(), cols], shape, index)` → `[shape.rows, shape.cols]`
//!   zeros with `out[index[i]] += src[i]`, duplicates accumulating in increasing `i`: the
//!   adjoint of `gather_rows`.
//!
//! Large scatters invert the index (a counting sort by destination row) and fill the
//! destination rows in parallel, each adding its sources in increasing `i`, which is
//! exactly the order of [`reference::scatter_add_rows`]'s sequential loop.

use super::buffer;
use super::elementwise::{for_row_blocks, PAR_MIN};
use super::{f32s, operand, wrap, CpuBackend};
use crate::backend::{LayoutOps, Rows, Storage, Values};
use crate::error::Result;
use std::ops::Range;

pub fn concat_cols(parts: &[(&[f32], usize)], rows: usize) -> Vec<f32> {
    for &(p, c) in parts {
        assert_eq!(p.len(), rows * c, "concat part is not [rows, cols]");
    }
    let total: usize = parts.iter().map(|&(_, c)| c).sum();
    let mut out = buffer::uninit(rows * total);
    let work = out.len();
    for_row_blocks(&mut out, total, work, |first, block| {
        for (i, orow) in block.chunks_exact_mut(total).enumerate() {
            let r = first + i;
            let mut at = 0;
            for &(p, c) in parts {
                orow[at..at + c].copy_from_slice(&p[r * c..(r + 1) * c]);
                at += c;
            }
        }
    });
    out
}

pub fn slice_cols(x: &[f32], shape: Rows, range: Range<usize>) -> Vec<f32> {
    let Rows { rows, cols } = shape;
    assert_eq!(x.len(), rows * cols);
    assert!(range.start <= range.end && range.end <= cols, "slice {range:?} of {cols} columns");
    let (start, len) = (range.start, range.len());
    let mut out = buffer::uninit(rows * len);
    let work = out.len();
    for_row_blocks(&mut out, len, work, |first, block| {
        for (i, orow) in block.chunks_exact_mut(len).enumerate() {
            let at = (first + i) * cols + start;
            orow.copy_from_slice(&x[at..at + len]);
        }
    });
    out
}

pub fn gather_rows(x: &[f32], shape: Rows, index: &[usize]) -> Vec<f32> {
    let Rows { rows, cols } = shape;
    assert_eq!(x.len(), rows * cols);
    let mut out = buffer::uninit(index.len() * cols);
    let work = out.len();
    for_row_blocks(&mut out, cols, work, |first, block| {
        for (orow, &r) in block.chunks_exact_mut(cols).zip(&index[first..]) {
            assert!(r < rows, "gather index {r} out of {rows} rows");
            orow.copy_from_slice(&x[r * cols..(r + 1) * cols]);
        }
    });
    out
}

pub fn scatter_add_rows(src: &[f32], shape: Rows, index: &[usize]) -> Vec<f32> {
    let Rows { rows, cols } = shape;
    assert_eq!(src.len(), index.len() * cols);
    if src.len() < PAR_MIN {
        return reference::scatter_add_rows(src, shape, index);
    }
    let (starts, sources) = crate::backend::layout::sources_by_row(index, rows);
    let mut out = buffer::zeroed(rows * cols);
    for_row_blocks(&mut out, cols, src.len(), |first, block| {
        for (j, orow) in block.chunks_exact_mut(cols).enumerate() {
            let d = first + j;
            for &i in &sources[starts[d]..starts[d + 1]] {
                for (o, &v) in orow.iter_mut().zip(&src[i * cols..(i + 1) * cols]) {
                    *o += v;
                }
            }
        }
    });
    out
}

impl LayoutOps for CpuBackend {
    fn concat_cols(&self, parts: &[(Values, usize)], rows: usize) -> Result<Storage> {
        let values = parts.iter().map(|&(s, _)| operand(s, "concat")).collect::<Result<Vec<_>>>()?;
        let parts: Vec<(&[f32], usize)> = values.iter().zip(parts).map(|(v, &(_, c))| (&v[..], c)).collect();
        Ok(wrap(concat_cols(&parts, rows)))
    }

    fn slice_cols(&self, x: &Storage, shape: Rows, ranges: &[Range<usize>]) -> Result<Vec<Storage>> {
        let x = f32s(x, "slice")?;
        Ok(ranges.iter().map(|r| wrap(slice_cols(x, shape, r.clone()))).collect())
    }

    fn gather_rows(&self, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        Ok(wrap(gather_rows(f32s(x, "gather_rows")?, shape, index)))
    }

    fn scatter_add_rows(&self, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        Ok(wrap(scatter_add_rows(f32s(src, "scatter_add_rows")?, shape, index)))
    }
}

/// The sequential scatter, the definition the parallel one must reproduce bit for bit
/// (and the path small scatters take).
pub mod reference {
    use crate::backend::Rows;

    pub fn scatter_add_rows(src: &[f32], shape: Rows, index: &[usize]) -> Vec<f32> {
        let Rows { rows, cols } = shape;
        let mut out = vec![0.0; rows * cols];
        for (i, &d) in index.iter().enumerate() {
            assert!(d < rows, "scatter index {d} out of {rows} rows");
            for (o, &v) in out[d * cols..(d + 1) * cols].iter_mut().zip(&src[i * cols..(i + 1) * cols]) {
                *o += v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::elementwise::test_support::{project, Rng};
    use super::*;

    #[test]
    fn concat_and_slice_by_hand() {
        let a = [1.0, 2.0, 3.0, 4.0]; // [2, 2]
        let b = [5.0, 6.0]; // [2, 1]
        let cat = concat_cols(&[(&a, 2), (&b, 1), (&[], 0)], 2);
        assert_eq!(cat, vec![1.0, 2.0, 5.0, 3.0, 4.0, 6.0]);
        let shape = Rows { rows: 2, cols: 3 };
        assert_eq!(slice_cols(&cat, shape, 0..2), a.to_vec());
        assert_eq!(slice_cols(&cat, shape, 2..3), b.to_vec());
        assert_eq!(slice_cols(&cat, shape, 1..1), Vec::<f32>::new());
    }

    #[test]
    fn concat_slice_round_trip_on_awkward_shapes() {
        let mut rng = Rng::new(30);
        for (rows, widths) in [
            (1, vec![1]),
            (1, vec![3, 1, 2]),
            (7, vec![1, 1, 1]),
            (13, vec![5, 0, 11]),
            (0, vec![2, 3]),
            (4099, vec![7, 13, 1]),
            (3 * 79 * 79, vec![64, 32]),
        ] {
            let parts: Vec<Vec<f32>> = widths.iter().map(|&c| rng.vec(rows * c, -1.0, 1.0)).collect();
            let views: Vec<(&[f32], usize)> = parts.iter().zip(&widths).map(|(p, &c)| (p.as_slice(), c)).collect();
            let cat = concat_cols(&views, rows);
            let total: usize = widths.iter().sum();
            let shape = Rows { rows, cols: total };
            assert_eq!(cat.len(), rows * total);
            let mut start = 0;
            for (p, &c) in parts.iter().zip(&widths) {
                assert_eq!(&slice_cols(&cat, shape, start..start + c), p);
                start += c;
            }
        }
    }

    #[test]
    fn gather_and_scatter_by_hand() {
        let shape = Rows { rows: 3, cols: 2 };
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let index = [2, 0, 2];
        assert_eq!(gather_rows(&x, shape, &index), vec![5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
        let src = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
        assert_eq!(scatter_add_rows(&src, shape, &index), vec![2.0, 20.0, 0.0, 0.0, 4.0, 40.0]);
        assert_eq!(gather_rows(&x, shape, &[]), Vec::<f32>::new());
        assert_eq!(scatter_add_rows(&[], shape, &[]), vec![0.0; 6]);
    }

    #[test]
    fn scatter_is_the_adjoint_of_gather() {
        let mut rng = Rng::new(31);
        for (rows, cols, picks) in [(1, 1, 1), (1, 3, 5), (7, 1, 3), (11, 13, 29), (17, 5, 0)] {
            let shape = Rows { rows, cols };
            let index: Vec<usize> = (0..picks).map(|_| rng.below(rows)).collect();
            let x = rng.vec(rows * cols, -1.0, 1.0);
            let y = rng.vec(picks * cols, -1.0, 1.0);
            let lhs = project(&gather_rows(&x, shape, &index), &y);
            let rhs = project(&x, &scatter_add_rows(&y, shape, &index));
            // Both sides are the same products summed in a different order.
            assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn parallel_scatter_matches_reference_exactly() {
        let mut rng = Rng::new(32);
        for (rows, cols, picks) in [(5, 7, PAR_MIN), (1, 1, PAR_MIN + 1), (1000, 64, 3000), (40000, 1, 50000)] {
            let shape = Rows { rows, cols };
            // Few distinct destinations for the first case: long runs of duplicates.
            let index: Vec<usize> = (0..picks).map(|_| rng.below(rows)).collect();
            let src = rng.vec(picks * cols, -1.0, 1.0);
            assert!(src.len() >= PAR_MIN);
            assert_eq!(scatter_add_rows(&src, shape, &index), reference::scatter_add_rows(&src, shape, &index));
            let x = rng.vec(rows * cols, -1.0, 1.0);
            let gathered = gather_rows(&x, shape, &index);
            for (i, &r) in index.iter().enumerate() {
                assert_eq!(&gathered[i * cols..(i + 1) * cols], &x[r * cols..(r + 1) * cols]);
            }
        }
    }
}
