//! A task branch: Block8 (scale 0.2, ReLU), Block8 (scale 1, no activation), global
//! average pool, dropout → prelogits p; embedding e = p/‖p‖; logits = FC(p).

use super::NetworkConfig;
use crate::autograd::{ParamGroup, Var};
use crate::batch::Task;
use crate::error::Result;
use crate::nn::{ConvSpec, Ctx, Layer, Linear, ParamSpec, ResidualBlock};
use crate::ops::{self, Activation, Features};
use crate::tensor::Shape;

/// ε of the embedding's L2 normalisation (the reference's `tf.nn.l2_normalize(…, 1e-10)`).
pub const EMBEDDING_EPS: f32 = 1e-10;

pub struct Branch {
    pub task: Task,
    blocks: [ResidualBlock; 2],
    fc: Linear,
    fc_relu: bool,
    keep_prob: f32,
}

pub struct BranchOutput {
    /// Post-dropout average-pooled features `[b, dim]`.
    pub prelogits: Var,
    /// `prelogits` normalised to unit length.
    pub embeddings: Var,
    pub logits: Var,
}

impl Branch {
    /// The TF scope prefix of the branch and the name of its logits layer.
    pub fn scopes(task: Task) -> (&'static str, &'static str) {
        match task {
            Task::Verification => ("InceptionResnetV1", "Logits_verif"),
            Task::PhotoId => ("InceptionResnetV1_photo", "Logits_photo"),
            Task::CaricatureId => ("InceptionResnetV1_caricature", "Logits_caricature"),
        }
    }

    pub fn new(task: Task, cfg: &NetworkConfig) -> Branch {
        let (prefix, logits) = Self::scopes(task);
        let c = cfg.width(1792);
        let w = |n| cfg.width(n);
        let tower0 = [ConvSpec::new("Conv2d_1x1", (1, 1), w(192))];
        let tower1 = [
            ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(192)),
            ConvSpec::new("Conv2d_0b_1x3", (1, 3), w(192)),
            ConvSpec::new("Conv2d_0c_3x1", (3, 1), w(192)),
        ];
        let block = |scope: String, scale, act| ResidualBlock::new(scope, c, &[&tower0, &tower1], scale, act);
        Branch {
            task,
            blocks: [
                block(format!("{prefix}/Repeat_2/block8_1"), 0.2, true),
                block(format!("{prefix}/Block8"), 1.0, false),
            ],
            fc: Linear::new(logits, c, cfg.num_classes, ParamGroup::Network),
            fc_relu: cfg.fc_relu && task != Task::Verification,
            keep_prob: cfg.keep_prob,
        }
    }

    pub fn forward(&self, ctx: &Ctx, z: &Var, dropout_seed: u64) -> Result<BranchOutput> {
        let mut x = Features::Value(z.clone());
        for b in &self.blocks {
            x = b.forward(ctx, &x)?;
        }
        let pooled = ops::global_avg_pool(&x.var()?)?;
        let prelogits = if ctx.training() { ops::dropout(&pooled, self.keep_prob, dropout_seed)? } else { pooled };
        let embeddings = ops::l2_normalize(&prelogits, EMBEDDING_EPS)?;
        let act = if self.fc_relu { Activation::Relu } else { Activation::Identity };
        let logits = self.fc.forward_with(ctx, &prelogits, act)?;
        Ok(BranchOutput { prelogits, embeddings, logits })
    }

    /// Named stages with their output shapes, for the layer table.
    pub fn stages(&self, z: &Shape) -> Result<Vec<(String, Shape, Vec<ParamSpec>)>> {
        let mut rows = Vec::new();
        let mut s = z.clone();
        for b in &self.blocks {
            s = b.output_shape(&s)?;
            let mut p = Vec::new();
            b.declare(&mut p);
            rows.push((b.scope().to_string(), s.clone(), p));
        }
        let pooled = Shape::new([s.dims()[0], s.last()]);
        let (prefix, _) = Self::scopes(self.task);
        rows.push((format!("{prefix}/AvgPool+Dropout"), pooled.clone(), Vec::new()));
        let mut p = Vec::new();
        self.fc.declare(&mut p);
        rows.push((self.fc.scope().to_string(), self.fc.output_shape(&pooled)?, p));
        Ok(rows)
    }

    pub fn declare(&self, out: &mut Vec<ParamSpec>) {
        self.blocks.iter().for_each(|b| b.declare(out));
        self.fc.declare(out);
    }
}
