//! Moving values between positions: column concatenation and slicing, row gather and
//! its adjoint, scatter-add.

use super::{Rows, Storage, Values};
use crate::error::Result;
use std::ops::Range;

pub trait LayoutOps {
    /// Concatenates `[rows, c_i]` parts along columns (a part may be a batch norm's output,
    /// computed as it is copied).
    fn concat_cols(&self, parts: &[(Values, usize)], rows: usize) -> Result<Storage>;
    /// Each column range of `ranges` of `x[rows, cols]`, in one pass (the parts of a
    /// concatenation's gradient, or one slice).
    fn slice_cols(&self, x: &Storage, shape: Rows, ranges: &[Range<usize>]) -> Result<Vec<Storage>>;
    /// Rows `index[i]` of `x[rows, cols]`, in order.
    fn gather_rows(&self, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage>;
    /// The adjoint of `gather_rows`: `out[index[i]] += src[i]`, `out` has `shape`.
    fn scatter_add_rows(&self, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage>;
}

/// The inverse of a row index, for `scatter_add_rows`: `sources[starts[d]..starts[d + 1]]`
/// lists, in increasing order, the `i` with `index[i] = d` (every index below `rows`).
pub(super) fn sources_by_row(index: &[usize], rows: usize) -> (Vec<usize>, Vec<usize>) {
    let mut starts = vec![0usize; rows + 1];
    for &d in index {
        assert!(d < rows, "scatter index {d} out of {rows} rows");
        starts[d + 1] += 1;
    }
    for d in 0..rows {
        starts[d + 1] += starts[d];
    }
    let mut next = starts.clone();
    let mut sources = vec![0usize; index.len()];
    for (i, &d) in index.iter().enumerate() {
        sources[next[d]] = i;
        next[d] += 1;
    }
    (starts, sources)
}
