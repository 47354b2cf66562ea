//! The whole network (DESIGN.md §3): trunk to Mixed_7a, three branches, weight module.

use super::weight_module::{self, WeightModule};
use super::{Branch, BranchOutput, NetworkConfig};
use crate::autograd::{ParamGroup, ParamStore, Var};
use crate::backend::Device;
use crate::batch::Task;
use crate::error::{Error, Result};
use crate::nn::{trainable_count, ConvBn, ConvSpec, Ctx, Init, Layer, MaxPool, ParamSpec, Reduction, ResidualBlock};
use crate::ops::Features;
use crate::tensor::{Shape, Tensor};

/// One line of `cari info`.
#[derive(Clone, Debug)]
pub struct LayerRow {
    pub name: String,
    /// Per-sample output shape (batch 1).
    pub output: Shape,
    pub params: usize,
}

pub struct MultiTaskNet {
    pub config: NetworkConfig,
    trunk: Vec<Box<dyn Layer>>,
    pub branches: [Branch; 3],
    pub weight_module: WeightModule,
    /// Per-sample shape of Z, `[h, w, c]`.
    z_shape: Shape,
}

/// Name of the shared table of class centers (the reference's one table for all branches).
pub const CENTERS: &str = "centers";

fn trunk(cfg: &NetworkConfig) -> Vec<Box<dyn Layer>> {
    let w = |n| cfg.width(n);
    let s = "InceptionResnetV1";
    let conv =
        |in_c, spec: ConvSpec| -> Box<dyn Layer> { Box::new(ConvBn::new(format!("{s}/{}", spec.name), in_c, spec)) };
    vec![
        conv(3, ConvSpec::reduce("Conv2d_1a_3x3", w(32))),
        conv(w(32), ConvSpec::new("Conv2d_2a_3x3", (3, 3), w(32)).valid()),
        conv(w(32), ConvSpec::new("Conv2d_2b_3x3", (3, 3), w(64))),
        Box::new(MaxPool::new(format!("{s}/MaxPool_3a_3x3"))),
        conv(w(64), ConvSpec::new("Conv2d_3b_1x1", (1, 1), w(80)).valid()),
        conv(w(80), ConvSpec::new("Conv2d_4a_3x3", (3, 3), w(192)).valid()),
        conv(w(192), ConvSpec::reduce("Conv2d_4b_3x3", w(256))),
        Box::new(ResidualBlock::new(
            format!("{s}/Repeat/block35_1"),
            w(256),
            &[
                &[ConvSpec::new("Conv2d_1x1", (1, 1), w(32))],
                &[ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(32)), ConvSpec::new("Conv2d_0b_3x3", (3, 3), w(32))],
                &[
                    ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(32)),
                    ConvSpec::new("Conv2d_0b_3x3", (3, 3), w(32)),
                    ConvSpec::new("Conv2d_0c_3x3", (3, 3), w(32)),
                ],
            ],
            0.17,
            true,
        )),
        Box::new(Reduction::new(
            format!("{s}/Mixed_6a"),
            w(256),
            &[
                &[ConvSpec::reduce("Conv2d_1a_3x3", w(384))],
                &[
                    ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(192)),
                    ConvSpec::new("Conv2d_0b_3x3", (3, 3), w(192)),
                    ConvSpec::reduce("Conv2d_1a_3x3", w(256)),
                ],
            ],
        )),
        Box::new(ResidualBlock::new(
            format!("{s}/Repeat_1/block17_1"),
            w(896),
            &[
                &[ConvSpec::new("Conv2d_1x1", (1, 1), w(128))],
                &[
                    ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(128)),
                    ConvSpec::new("Conv2d_0b_1x7", (1, 7), w(128)),
                    ConvSpec::new("Conv2d_0c_7x1", (7, 1), w(128)),
                ],
            ],
            0.10,
            true,
        )),
        Box::new(Reduction::new(
            format!("{s}/Mixed_7a"),
            w(896),
            &[
                &[ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(256)), ConvSpec::reduce("Conv2d_1a_3x3", w(384))],
                &[ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(256)), ConvSpec::reduce("Conv2d_1a_3x3", w(256))],
                &[
                    ConvSpec::new("Conv2d_0a_1x1", (1, 1), w(256)),
                    ConvSpec::new("Conv2d_0b_3x3", (3, 3), w(256)),
                    ConvSpec::reduce("Conv2d_1a_3x3", w(256)),
                ],
            ],
        )),
    ]
}

impl MultiTaskNet {
    pub fn new(config: NetworkConfig) -> Result<MultiTaskNet> {
        config.validate()?;
        let trunk = trunk(&config);
        let input = Shape::new([1, config.image_size, config.image_size, 3]);
        let z = trunk.iter().try_fold(input, |s, l| l.output_shape(&s))?;
        let z_shape = Shape::new(&z.dims()[1..]);
        let branches = Task::ALL.map(|t| Branch::new(t, &config));
        let weight_module = WeightModule::new(z_shape.len(), Task::ALL.len(), config.logit_scale);
        Ok(MultiTaskNet { config, trunk, branches, weight_module, z_shape })
    }

    pub fn embedding_dim(&self) -> usize {
        self.config.width(1792)
    }

    /// Per-sample shape of the trunk's output Z.
    pub fn z_shape(&self) -> &Shape {
        &self.z_shape
    }

    /// Every parameter and buffer of the model, the shared centers included.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let mut out = Vec::new();
        self.trunk.iter().for_each(|l| l.declare(&mut out));
        self.branches.iter().for_each(|b| b.declare(&mut out));
        self.weight_module.declare(&mut out);
        out.push(ParamSpec {
            name: CENTERS.into(),
            shape: Shape::new([self.config.num_classes, self.embedding_dim()]),
            group: ParamGroup::Buffers,
            init: Init::Zeros,
        });
        out
    }

    /// Freshly initialised parameters; each tensor's values depend only on `seed` and its name.
    pub fn init_params(&self, seed: u64, device: &Device) -> Result<ParamStore> {
        crate::nn::init_params(self.param_specs(), seed, device)
    }

    /// Runs the trunk: images `[b, h, w, 3]` → Z `[b, h', w', c]`.
    pub fn trunk_forward(&self, ctx: &Ctx, images: &Var) -> Result<Var> {
        let size = self.config.image_size;
        if images.shape().rank() != 4 || images.dims()[1..] != [size, size, 3] {
            return Err(Error::InvalidShape {
                op: "network input",
                shape: images.shape().clone(),
                reason: format!("expected [batch, {size}, {size}, 3]"),
            });
        }
        let mut x = Features::Value(images.clone());
        for l in &self.trunk {
            x = l.forward(ctx, &x)?;
        }
        x.var()
    }

    /// Verification embeddings (branch 1, no dropout) of a batch of images, in
    /// inference mode: nothing is recorded.
    pub fn embed(&self, params: &ParamStore, images: &Tensor) -> Result<Tensor> {
        let ctx = Ctx::infer(params);
        let z = self.trunk_forward(&ctx, &Var::constant(images.clone()))?;
        Ok(self.branches[Task::Verification.index()].forward(&ctx, &z, 0)?.embeddings.value().clone())
    }

    /// Inference on a batch: each branch's embeddings and logits (no dropout, moving
    /// batch-norm averages, nothing recorded), the trunk run once.
    pub fn infer(&self, params: &ParamStore, images: &Tensor) -> Result<[BranchOutput; 3]> {
        let ctx = Ctx::infer(params);
        let z = self.trunk_forward(&ctx, &Var::constant(images.clone()))?;
        let outputs = [0, 1, 2].map(|i| self.branches[i].forward(&ctx, &z, 0));
        let [a, b, c] = outputs;
        Ok([a?, b?, c?])
    }

    /// The layer table of `cari info`: every stage with its per-sample output shape and
    /// trainable parameter count.
    pub fn layer_table(&self) -> Result<Vec<LayerRow>> {
        let mut rows = Vec::new();
        let mut s = Shape::new([1, self.config.image_size, self.config.image_size, 3]);
        for l in &self.trunk {
            s = l.output_shape(&s)?;
            let mut p = Vec::new();
            l.declare(&mut p);
            rows.push(LayerRow { name: l.scope().to_string(), output: s.clone(), params: trainable_count(&p) });
        }
        for b in &self.branches {
            for (name, output, p) in b.stages(&s)? {
                rows.push(LayerRow { name, output, params: trainable_count(&p) });
            }
        }
        let mut p = Vec::new();
        self.weight_module.declare(&mut p);
        rows.push(LayerRow {
            name: weight_module::SCOPE.into(),
            output: Shape::new([1, 3]),
            params: trainable_count(&p),
        });
        for r in &mut rows {
            r.output = Shape::new(&r.output.dims()[1..]);
        }
        Ok(rows)
    }

    /// Trainable parameters of the trunk, of each branch (its FC included) and of the
    /// weight module.
    pub fn parameter_counts(&self) -> (usize, [usize; 3], usize) {
        let count = |f: &dyn Fn(&mut Vec<ParamSpec>)| {
            let mut p = Vec::new();
            f(&mut p);
            trainable_count(&p)
        };
        let trunk = count(&|p| self.trunk.iter().for_each(|l| l.declare(p)));
        let branches = [0, 1, 2].map(|i| count(&|p| self.branches[i].declare(p)));
        let wm = count(&|p| self.weight_module.declare(p));
        (trunk, branches, wm)
    }
}
