//! Softmax cross-entropy and center loss (`kernels/loss.cu`), a group of threads per row
//! (the launch shape of `normalize.rs`); labels travel as `long long`.

use super::runtime::kernels as k;
use super::runtime::launch::Launch;
use super::shapes::row_groups;
use super::{CudaBackend, DeviceBuffer, THREADS};
use crate::backend::{
    LabelledRows, LossGradients, LossOps, LossTerm, Rows, Storage, TaskLoss, WeightedLosses, CONTROL_LEN,
};
use crate::error::Result;

/// Uploads the labels after checking there is one per row and each is below `classes`:
/// the kernels index with them.
fn labels_on_device(b: &CudaBackend, op: &'static str, on: LabelledRows, classes: usize) -> Result<DeviceBuffer> {
    let (labels, rows) = (on.labels, on.shape.rows);
    if labels.len() != rows {
        return Err(b.fail(op, format!("{} labels for {rows} rows", labels.len())));
    }
    if let Some((r, l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(b.fail(op, format!("label {l} of row {r} is not below the {classes} classes")));
    }
    b.upload_indices(op, labels)
}

/// `centers` checked as `[classes, cols]` f32 storage: its address and the class count
/// (any label fits zero-width rows, which index nothing).
fn centers_of(b: &CudaBackend, op: &'static str, centers: &Storage, cols: usize) -> Result<(u64, usize)> {
    let len = b.ours(op, centers)?.len;
    let classes = match cols {
        0 => usize::MAX,
        _ if len % cols == 0 => len / cols,
        _ => return Err(b.fail(op, format!("{len} center values are not whole rows of {cols}"))),
    };
    Ok((b.input(op, centers, len)?, classes))
}

impl LossOps for CudaBackend {
    fn softmax_cross_entropy(&self, logits: &Storage, on: LabelledRows) -> Result<(Storage, Storage)> {
        const OP: &str = "softmax_cross_entropy";
        let shape @ Rows { rows, cols } = on.shape;
        let logits = self.input(OP, logits, rows * cols)?;
        let labels = labels_on_device(self, OP, on, cols)?;
        let loss = self.alloc_f32(OP, rows)?;
        let probs = self.alloc_f32(OP, rows * cols)?;
        let launch = row_groups(k::SOFTMAX_CROSS_ENTROPY_FORWARD, shape).ptr(loss.buffer.ptr()).ptr(probs.buffer.ptr());
        self.launch(OP, launch.ptr(logits).ptr(labels.ptr()).size(rows).size(cols))?;
        Ok((Storage::Cuda(loss), Storage::Cuda(probs)))
    }

    fn softmax_cross_entropy_backward(&self, dy: &Storage, probs: &Storage, on: LabelledRows) -> Result<Storage> {
        const OP: &str = "softmax_cross_entropy_backward";
        let shape @ Rows { rows, cols } = on.shape;
        let dloss = self.input(OP, dy, rows)?;
        let probs = self.input(OP, probs, rows * cols)?;
        let labels = labels_on_device(self, OP, on, cols)?;
        let dlogits = self.alloc_f32(OP, rows * cols)?;
        let launch =
            row_groups(k::SOFTMAX_CROSS_ENTROPY_BACKWARD, shape).ptr(dlogits.buffer.ptr()).ptr(dloss).ptr(probs);
        self.launch(OP, launch.ptr(labels.ptr()).size(rows).size(cols))?;
        Ok(Storage::Cuda(dlogits))
    }

    fn center_loss(&self, embeddings: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage> {
        const OP: &str = "center_loss";
        let shape @ Rows { rows, cols } = on.shape;
        let embeddings = self.input(OP, embeddings, rows * cols)?;
        let (centers, classes) = centers_of(self, OP, centers, cols)?;
        let labels = labels_on_device(self, OP, on, classes)?;
        let loss = self.alloc_f32(OP, rows)?;
        let launch = row_groups(k::CENTER_LOSS_FORWARD, shape).ptr(loss.buffer.ptr()).ptr(embeddings).ptr(centers);
        self.launch(OP, launch.ptr(labels.ptr()).size(rows).size(cols))?;
        Ok(Storage::Cuda(loss))
    }

    fn center_loss_backward(&self, dy: &Storage, e: &Storage, centers: &Storage, on: LabelledRows) -> Result<Storage> {
        const OP: &str = "center_loss_backward";
        let shape @ Rows { rows, cols } = on.shape;
        let dloss = self.input(OP, dy, rows)?;
        let embeddings = self.input(OP, e, rows * cols)?;
        let (centers, classes) = centers_of(self, OP, centers, cols)?;
        let labels = labels_on_device(self, OP, on, classes)?;
        let de = self.alloc_f32(OP, rows * cols)?;
        let launch = row_groups(k::CENTER_LOSS_BACKWARD, shape).ptr(de.buffer.ptr()).ptr(dloss).ptr(embeddings);
        self.launch(OP, launch.ptr(centers).ptr(labels.ptr()).size(rows).size(cols))?;
        Ok(Storage::Cuda(de))
    }

    fn center_update(
        &self,
        centers: &mut Storage,
        e: &Storage,
        on: LabelledRows,
        rest: f32,
        gate: &Storage,
    ) -> Result<()> {
        const OP: &str = "center_update";
        let Rows { rows, cols } = on.shape;
        let embeddings = self.input(OP, e, rows * cols)?;
        let gate = self.input(OP, gate, CONTROL_LEN)?;
        let (centers, classes) = centers_of(self, OP, centers, cols)?;
        let labels = labels_on_device(self, OP, on, classes)?;
        let len = if cols == 0 { 0 } else { classes * cols };
        let launch = Launch::linear(k::CENTER_UPDATE, len, THREADS).ptr(centers).ptr(embeddings).ptr(labels.ptr());
        self.launch(OP, launch.ptr(gate).f32(rest).size(len).size(rows).size(cols.max(1)))
    }

    fn task_loss(&self, logits: &Storage, on: TaskLoss) -> Result<(Storage, Storage)> {
        const OP: &str = "task_loss";
        let o = task_operands(self, OP, logits, on)?;
        let on = on.rows;
        let rows = on.rows();
        let (loss, probs, values) =
            (self.alloc_f32(OP, 1)?, self.alloc_f32(OP, rows * on.classes)?, self.alloc_f32(OP, rows)?);
        let done = self.completion_counters(OP, 1)?;
        let launch = row_groups(k::TASK_LOSS_FORWARD, o.shape).ptr(loss.buffer.ptr()).ptr(probs.buffer.ptr());
        let launch =
            launch.ptr(values.buffer.ptr()).ptr(done).ptr(o.logits).ptr(o.e).ptr(o.centers).ptr(o.labels.ptr());
        self.launch(OP, launch.f32(on.lambda).f32(on.mean_scale()).size(rows).size(on.classes).size(on.dim))?;
        Ok((Storage::Cuda(loss), Storage::Cuda(probs)))
    }

    fn task_loss_backward(&self, dloss: &Storage, probs: &Storage, on: TaskLoss) -> Result<(Storage, Storage)> {
        const OP: &str = "task_loss_backward";
        let o = task_operands(self, OP, probs, on)?;
        let on = on.rows;
        let rows = on.rows();
        let dloss = self.input(OP, dloss, 1)?;
        let (dlogits, de) = (self.alloc_f32(OP, rows * on.classes)?, self.alloc_f32(OP, rows * on.dim)?);
        let launch = row_groups(k::TASK_LOSS_BACKWARD, o.shape).ptr(dlogits.buffer.ptr()).ptr(de.buffer.ptr());
        let launch = launch.ptr(dloss).ptr(o.logits).ptr(o.e).ptr(o.centers).ptr(o.labels.ptr());
        self.launch(OP, launch.f32(on.lambda).f32(on.mean_scale()).size(rows).size(on.classes).size(on.dim))?;
        Ok((Storage::Cuda(dlogits), Storage::Cuda(de)))
    }

    fn weighted_losses(&self, on: WeightedLosses) -> Result<Storage> {
        const OP: &str = "weighted_losses";
        let (w, _, table) = weighted_table(self, OP, &on, &[])?;
        let out = self.alloc_f32(OP, 1)?;
        let (inverse, sigma) = term_args(on.term);
        let launch = Launch::new(k::WEIGHTED_LOSSES_FORWARD, [1, 1, 1], [32, 1, 1]).ptr(out.buffer.ptr()).ptr(w);
        self.launch(OP, launch.ptr(table.ptr()).i32(on.losses.len() as i32).i32(inverse).f32(sigma))?;
        Ok(Storage::Cuda(out))
    }

    fn weighted_losses_backward(&self, dy: &Storage, on: WeightedLosses, want_losses: bool) -> Result<LossGradients> {
        const OP: &str = "weighted_losses_backward";
        let dlosses = if want_losses {
            on.losses.iter().map(|_| self.alloc_f32(OP, 1)).collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let outputs: Vec<u64> = match want_losses {
            true => dlosses.iter().map(|d| d.buffer.ptr()).collect(),
            false => vec![0; on.losses.len()],
        };
        let (w, w_len, table) = weighted_table(self, OP, &on, &outputs)?;
        let dy = self.input(OP, dy, 1)?;
        let dw = self.alloc_f32(OP, w_len)?;
        let (inverse, sigma) = term_args(on.term);
        let launch =
            Launch::new(k::WEIGHTED_LOSSES_BACKWARD, [1, 1, 1], [32, 1, 1]).ptr(dw.buffer.ptr()).ptr(dy).ptr(w);
        let launch = launch.ptr(table.ptr()).i32(on.losses.len() as i32).i32(w_len as i32);
        self.launch(OP, launch.i32(inverse).f32(sigma))?;
        Ok((Storage::Cuda(dw), dlosses.into_iter().map(Storage::Cuda).collect()))
    }
}

/// A weighted sum's table on the device: the losses' addresses, their weight indices, then
/// (for the backward) `outputs` (0 for none); checked against the weights' length.
fn weighted_table(
    b: &CudaBackend,
    op: &'static str,
    on: &WeightedLosses,
    outputs: &[u64],
) -> Result<(u64, usize, DeviceBuffer)> {
    let (w, w_len) = b.f32_storage(op, on.weights)?;
    if on.losses.len() != on.indices.len() || on.losses.is_empty() {
        return Err(b.fail(op, format!("{} losses for {} weight indices", on.losses.len(), on.indices.len())));
    }
    if let Some(&i) = on.indices.iter().find(|&&i| i >= w_len) {
        return Err(b.fail(op, format!("weight index {i} of {w_len} weights")));
    }
    let mut table = on.losses.iter().map(|l| b.input(op, l, 1)).collect::<Result<Vec<u64>>>()?;
    table.extend(on.indices.iter().map(|&i| i as u64));
    table.extend(outputs);
    let buffer = DeviceBuffer::alloc(&b.gpu, op, table.len() * 8)?;
    b.gpu.write(op, buffer.ptr(), bytemuck::cast_slice(&table))?;
    Ok((w, w_len, buffer))
}

/// The kernels' `inverse, sigma` arguments of a term form.
fn term_args(term: LossTerm) -> (i32, f32) {
    match term {
        LossTerm::Product => (0, 0.0),
        LossTerm::Inverse { sigma } => (1, sigma),
    }
}

/// A task loss's operands, checked: `[rows, classes]` logits (or probabilities), `[rows,
/// dim]` embeddings, `[_, dim]` centers and the labels on the device; the row-group shape
/// covers the wider of the two rows.
struct TaskOperands {
    logits: u64,
    e: u64,
    centers: u64,
    labels: DeviceBuffer,
    shape: Rows,
}

fn task_operands(b: &CudaBackend, op: &'static str, logits: &Storage, loss: TaskLoss) -> Result<TaskOperands> {
    let on = loss.rows;
    let rows = on.rows();
    if rows == 0 {
        return Err(b.fail(op, "a task loss over no rows"));
    }
    let logits = b.input(op, logits, rows * on.classes)?;
    let e = b.input(op, loss.e, rows * on.dim)?;
    let (centers, classes) = centers_of(b, op, loss.centers, on.dim)?;
    let labels = labels_on_device(
        b,
        op,
        LabelledRows { labels: on.labels, shape: Rows { rows, cols: on.classes } },
        on.classes.min(classes),
    )?;
    Ok(TaskOperands { logits, e, centers, labels, shape: Rows { rows, cols: on.classes.max(on.dim) } })
}
