//! Column concatenation and slicing, row gather and scatter-add (`kernels/layout.cu`).

use super::batch_norm::{operand, Normalizing};
use super::runtime::kernels as k;
use super::shapes::{grid_stride, grid_stride_blocks};
use super::tensor_list::TensorList;
use super::CudaBackend;
use crate::backend::{LayoutOps, Rows, Storage, Values};
use crate::error::Result;
use std::ops::Range;

/// A `[rows, cols]` block to copy from `src` (rows `src_cols` apart) to `dst` (rows
/// `dst_cols` apart); both addresses point at the block's first column.
pub(super) struct Block {
    pub dst: (u64, usize),
    pub src: (u64, usize),
    pub rows: usize,
    pub cols: usize,
    /// `src` is a batch norm's input (of `cols` channels): the block's copy is its output.
    pub bn: Option<Normalizing>,
}

/// Copies every block in one launch (empty ones left out; none left, no launch).
pub(super) fn copy_blocks(b: &CudaBackend, op: &'static str, blocks: &[Block]) -> Result<()> {
    let mut list = TensorList::default();
    for Block { dst, src, rows, cols, bn } in blocks.iter().filter(|bl| bl.rows * bl.cols > 0) {
        let n = bn.unwrap_or(Normalizing { mean: 0, var: 0, beta: 0, eps: 0.0, relu: false });
        list.push(&[dst.0, src.0, n.mean, n.var, n.beta], rows * cols, grid_stride_blocks(rows * cols))
            .sizes([*cols, dst.1, src.1])
            .scalars([n.eps, f32::from(n.relu)]);
    }
    if list.blocks() == 0 {
        return Ok(());
    }
    let (_list, launch) = list.upload(b, op, k::LAYOUT_COPY_BLOCKS)?;
    b.launch(op, launch)
}

/// Checks every index against the row count: the kernels read and write where they point.
fn check_index(b: &CudaBackend, op: &'static str, index: &[usize], rows: usize) -> Result<()> {
    match index.iter().find(|&&r| r >= rows) {
        Some(r) => Err(b.fail(op, format!("row index {r} out of {rows} rows"))),
        None => Ok(()),
    }
}

impl LayoutOps for CudaBackend {
    fn concat_cols(&self, parts: &[(Values, usize)], rows: usize) -> Result<Storage> {
        let op = "concat_cols";
        let total: usize = parts.iter().map(|&(_, c)| c).sum();
        let out = self.alloc_f32(op, rows * total)?;
        let (mut blocks, mut at) = (Vec::with_capacity(parts.len()), 0);
        for &(part, cols) in parts {
            let (src, bn) = operand(self, op, part, Rows { rows, cols })?;
            blocks.push(Block { dst: (out.buffer.ptr() + 4 * at as u64, total), src: (src, cols), rows, cols, bn });
            at += cols;
        }
        copy_blocks(self, op, &blocks)?;
        Ok(Storage::Cuda(out))
    }

    fn slice_cols(&self, x: &Storage, shape: Rows, ranges: &[Range<usize>]) -> Result<Vec<Storage>> {
        let op = "slice_cols";
        let Rows { rows, cols } = shape;
        let x = self.input(op, x, rows * cols)?;
        if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > cols) {
            return Err(self.fail(op, format!("columns {}..{} of {cols}", r.start, r.end)));
        }
        let outs = ranges.iter().map(|r| self.alloc_f32(op, rows * r.len())).collect::<Result<Vec<_>>>()?;
        let blocks: Vec<Block> = ranges
            .iter()
            .zip(&outs)
            .map(|(r, out)| Block {
                dst: (out.buffer.ptr(), r.len()),
                src: (x + 4 * r.start as u64, cols),
                rows,
                cols: r.len(),
                bn: None,
            })
            .collect();
        copy_blocks(self, op, &blocks)?;
        Ok(outs.into_iter().map(Storage::Cuda).collect())
    }

    fn gather_rows(&self, x: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        let op = "gather_rows";
        let Rows { rows, cols } = shape;
        let x = self.input(op, x, rows * cols)?;
        check_index(self, op, index, rows)?;
        let n = index.len() * cols;
        let out = self.alloc_f32(op, n)?;
        if n > 0 {
            let index = self.upload_indices(op, index)?;
            let launch = grid_stride(k::LAYOUT_GATHER_ROWS, n).ptr(out.buffer.ptr()).ptr(x).ptr(index.ptr());
            self.launch(op, launch.size(n / cols).size(cols))?;
        }
        Ok(Storage::Cuda(out))
    }

    /// `out[index[i]] += src[i]` into zeros. The index is inverted here (a counting sort by
    /// destination) so each output element is summed by one thread, its sources in increasing
    /// `i` as the CPU adds them: deterministic, no atomics, bit-identical to the CPU.
    fn scatter_add_rows(&self, src: &Storage, shape: Rows, index: &[usize]) -> Result<Storage> {
        let op = "scatter_add_rows";
        let Rows { rows, cols } = shape;
        let src = self.input(op, src, index.len() * cols)?;
        check_index(self, op, index, rows)?;
        let out = self.alloc_f32(op, rows * cols)?;
        if rows * cols == 0 {
            return Ok(Storage::Cuda(out));
        }
        if index.is_empty() {
            let launch = grid_stride(k::FILL_F32, rows * cols).ptr(out.buffer.ptr()).f32(0.0);
            self.launch(op, launch.size(rows * cols))?;
            return Ok(Storage::Cuda(out));
        }
        let (starts, sources) = crate::backend::layout::sources_by_row(index, rows);
        let (starts, sources) = (self.upload_indices(op, &starts)?, self.upload_indices(op, &sources)?);
        let launch = grid_stride(k::LAYOUT_SCATTER_ADD_ROWS, rows * cols)
            .ptr(out.buffer.ptr())
            .ptr(src)
            .ptr(starts.ptr())
            .ptr(sources.ptr());
        self.launch(op, launch.size(rows).size(cols))?;
        Ok(Storage::Cuda(out))
    }
}
