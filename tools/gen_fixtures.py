#!/usr/bin/env python3
"""PyTorch outside oracle for the `cari` engine: writes safetensors fixtures.

Run from anywhere (paths are relative to this file's repository):

    ~/torchenv/bin/python tools/gen_fixtures.py            # writes tests/fixtures/*.safetensors
    ~/torchenv/bin/python tools/gen_fixtures.py --check    # only the parameter-count self-check

Everything is seeded (torch + numpy), runs on the CPU, and is deterministic.  Every oracle is
computed in float64 from inputs that were first generated, rounded to float32 and stored; the
results are stored as float32.  So the engine under test sees exactly the inputs the oracle
used, and the oracle is more accurate than the float32 code it checks.

Conventions (the engine's, not PyTorch's; the script converts internally)
-----------------------------------------------------------------------
* activations NHWC [N, H, W, C]; conv weights HWIO [kh, kw, in_c, out_c];
  linear weights [in, out] with y = x @ W + b.
* TF padding.  VALID: out = floor((in - k)/s) + 1.  SAME: out = ceil(in/s),
  pad_total = max((out-1)*s + k - in, 0), pad_top = pad_total // 2, pad_bottom = rest
  (same for width: pad_left = pad_total // 2).
* batch norm, shift only (no gamma), eps 0.001: training uses the batch mean and the BIASED
  batch variance over N,H,W per channel; the moving averages are updated as
  moving = decay*moving + (1-decay)*batch (decay 0.995) with the UNBIASED (n/(n-1)) batch
  variance.  Inference: y = (x - moving_mean)/sqrt(moving_variance + eps) + beta.
* dropout (inverted), mask element i (flat row-major index into the [rows, cols] tensor):
  SplitMix64 of state = seed + (i+1)*0x9E3779B97F4A7C15 (mod 2^64), u = (z >> 40) / 2^24,
  mask = 1/keep if u < keep else 0.
* l2 normalize rows: x / sqrt(max(sum x^2, 1e-10)).
* labels and indices are stored as float32 holding exact integers.

File 1: tests/fixtures/ops.safetensors
--------------------------------------
Metadata: "format_version" = "1", "generator" = "tools/gen_fixtures.py", "cases" = JSON list of
{"name", "op", "params"}.  Tensors are named "<case>/<tensor>".  Every case stores its
inputs, "dy" (random upstream gradient, same shape as "y"), the output "y", and
"grad_<input>" = d<y, dy>/d<input> for every differentiable input.

  op                     inputs (layout)                                  outputs / extra
  conv2d                 x [N,H,W,Cin], w [kh,kw,Cin,Cout]                y [N,Ho,Wo,Cout]; grad_x, grad_w
      params: kernel_h, kernel_w, stride, padding ("SAME"/"VALID")
  batch_norm_train       x [N,H,W,C], beta [C], moving_mean_in [C],       y, grad_x, grad_beta,
                         moving_var_in [C]    params: eps, decay          moving_mean_out [C], moving_var_out [C]
  batch_norm_infer       x [N,H,W,C], beta [C], moving_mean [C],          y, grad_x, grad_beta
                         moving_var [C]       params: eps
  relu                   x [N,H,W,C]                                      y, grad_x
  max_pool               x [N,H,W,C]  params: kernel 3, stride 2,         y [N,Ho,Wo,C], grad_x
                         padding "VALID"
      Ties: PyTorch's CPU max pool picks the FIRST maximum in row-major window order (strict
      '>' while scanning rows top to bottom, columns left to right); the script asserts this
      at run time and also cross-checks the tie case against an explicit loop.  Case
      "max_pool_ties" has values quantised to 4 levels, so ties are everywhere; the gradient
      of each window goes to its first max (accumulating where windows overlap).
  global_avg_pool        x [N,H,W,C]                                      y [N,C], grad_x
  concat                 x0, x1, x2 [N,H,W,Ci]  params: axis 3            y [N,H,W,sum Ci]; grad_x0..2
  slice                  x [N,H,W,C]  params: axis 3, start, len          y = x[..., start:start+len], grad_x
  residual               x, up [N,H,W,C]  params: scale                  y = x + scale*up; grad_x, grad_up
  residual_relu          same                                             y = relu(x + scale*up)
  linear                 x [B,in], w [in,out], b [out]                    y [B,out]; grad_x, grad_w, grad_b
  dropout                x [rows,cols]  params: keep, seed                y = x*mask, grad_x, mask
  l2_normalize           x [B,D] (rows; case l2_normalize_tiny has a row  y, grad_x
                         with sum x^2 < 1e-10)  params: eps 1e-10
  softmax                x [B,C] (rows)                                   y, grad_x
  softmax_cross_entropy  logits [B,C], labels [B]                         y [B] per-row loss, grad_logits
  center_loss            e [B,D], centers [C,D] (not differentiated),     y [B] = 0.5*||e - centers[labels]||^2,
                         labels [B]                                       grad_e
  gather_rows            x [R,C], index [K] (repeats included)            y [K,C] = x[index], grad_x

File 2: tests/fixtures/network.safetensors
------------------------------------------
A whole small instance of the network of DESIGN.md section 3 (every channel count divided by
8, input 111x111x3, batch 6, 5 identities), one training step (forward, both backward
passes) and one inference forward of branch 1.  Metadata: "format_version", "generator",
"config" (JSON: see CONFIG below / the file).

  input                                   [6,111,111,3]   NHWC images
  centers                                 [5,224]         center table (input, not differentiated)
  <scope>/weights                         conv: HWIO [kh,kw,in,out]; FC / weight module: [in,out]
  <scope>/biases                          up-convs [out], FC [N], weight module [3]
  <scope>/BatchNorm/beta                  [C]
  <scope>/BatchNorm/moving_mean|moving_variance     [C] buffers BEFORE the step
  after_step/<scope>/BatchNorm/moving_mean|moving_variance   [C] after the training forward
  Z                                       [6,2,2,224]     trunk output (Mixed_7a), NHWC
  logits/verif [6,5], logits/photo [3,5], logits/caricature [3,5]   (after the ReLU for photo/caricature)
  embeddings/verif [6,224], embeddings/photo [3,224], embeddings/caricature [3,224]
                                          e = l2_normalize(p), p after dropout
  lossweights/a [6,3], lossweights/pi [6,3]  weight-module logits a and softmax(s*l2n(a))
  task_losses [3], task_weights [3], loss [] (L), loss_w [] (L_w)   (order: verif, photo, caricature)
  grad/<param>                            dL/dparam for every trainable trunk/branch/FC parameter
  grad/Logits_lossweights/weights|biases  dL_w/dparam
  infer/Z [6,2,2,224], infer/embeddings [6,224]   inference forward (BN moving averages from
                                          before the step, no dropout) of trunk + branch 1
Scalars ("loss", "loss_w") are stored as shape [] tensors.

Parameter scopes (full channel counts; the fixture divides them by 8):
  trunk, prefix InceptionResnetV1/: Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1,
    Conv2d_4a_3x3, Conv2d_4b_3x3, Repeat/block35_1/..., Mixed_6a/..., Repeat_1/block17_1/...,
    Mixed_7a/...
  branches, prefixes InceptionResnetV1/ (verif), InceptionResnetV1_photo/,
    InceptionResnetV1_caricature/: Repeat_2/block8_1/..., Block8/...;
  FCs Logits_verif, Logits_photo, Logits_caricature; weight module Logits_lossweights.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors import safe_open

torch.set_default_dtype(torch.float64)
DT = torch.float64
GENERATOR = "tools/gen_fixtures.py"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures")

BN_EPS = 0.001
BN_DECAY = 0.995
L2_EPS = 1e-10


# ----------------------------------------------------------------------------------------
# Random inputs: generated by a seeded numpy Generator, rounded to float32, used as float64.
# ----------------------------------------------------------------------------------------

class Rng:
    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def _t(self, a):
        return torch.from_numpy(np.asarray(a, dtype=np.float32).astype(np.float64))

    def normal(self, shape, std=1.0, mean=0.0):
        return self._t(self.g.normal(mean, std, size=shape))

    def uniform(self, shape, lo, hi):
        return self._t(self.g.uniform(lo, hi, size=shape))

    def integers(self, n, size):
        return self.g.integers(0, n, size=size)


def f32(t):
    """Store as contiguous float32 (detached)."""
    return t.detach().to(torch.float32).contiguous().clone()


# ----------------------------------------------------------------------------------------
# Ops in the engine's conventions (NHWC / HWIO), computed in float64 with PyTorch.
# ----------------------------------------------------------------------------------------

def nhwc_to_nchw(x):
    return x.permute(0, 3, 1, 2)


def nchw_to_nhwc(x):
    return x.permute(0, 2, 3, 1)


def tf_pads(in_size, k, s, padding):
    """(pad_before, pad_after, out) for one spatial dim under TF padding rules."""
    if padding == "VALID":
        assert in_size >= k, (in_size, k)
        return 0, 0, (in_size - k) // s + 1
    assert padding == "SAME"
    out = -(-in_size // s)
    total = max((out - 1) * s + k - in_size, 0)
    return total // 2, total - total // 2, out


def conv2d_nchw(x, w_hwio, stride, padding):
    """x NCHW, w HWIO -> NCHW, TF padding by explicit F.pad then padding-0 conv."""
    kh, kw = w_hwio.shape[0], w_hwio.shape[1]
    pt, pb, oh = tf_pads(x.shape[2], kh, stride, padding)
    pl, pr, ow = tf_pads(x.shape[3], kw, stride, padding)
    xp = F.pad(x, (pl, pr, pt, pb))
    y = F.conv2d(xp, w_hwio.permute(3, 2, 0, 1), stride=stride)
    assert y.shape[2] == oh and y.shape[3] == ow, (y.shape, oh, ow)
    return y


def bn_train_nchw(x, beta, eps=BN_EPS):
    """Returns y, batch mean, biased var, unbiased var."""
    mean = x.mean(dim=(0, 2, 3))
    var_b = x.var(dim=(0, 2, 3), unbiased=False)
    n = x.shape[0] * x.shape[2] * x.shape[3]
    var_u = var_b * (n / (n - 1)) if n > 1 else var_b
    y = (x - mean[None, :, None, None]) / torch.sqrt(var_b + eps)[None, :, None, None] \
        + beta[None, :, None, None]
    return y, mean, var_b, var_u


def bn_infer_nchw(x, beta, mm, mv, eps=BN_EPS):
    return (x - mm[None, :, None, None]) / torch.sqrt(mv + eps)[None, :, None, None] \
        + beta[None, :, None, None]


MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix_u_py(seed, i):
    """Reference (Python ints) uniform for flat element i."""
    z = (seed + (i + 1) * GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z = z ^ (z >> 31)
    return z


def dropout_mask(rows, cols, keep, seed):
    """float64 [rows, cols] inverted-dropout mask (numpy uint64 arithmetic wraps mod 2^64)."""
    n = rows * cols
    i = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & MASK64) + i * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    # cross-check a few elements against the Python-int reference
    for k in sorted({0, 1, n // 2, n - 1}):
        assert int(z[k]) == splitmix_u_py(seed, k), "splitmix numpy/python mismatch"
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    # The engine compares in f32: keep rounded to f32 decides the boundary grid value.
    m = np.where(u < float(np.float32(keep)), 1.0 / keep, 0.0).reshape(rows, cols)
    return torch.from_numpy(m)


def l2_normalize(x, eps=L2_EPS):
    return x / torch.sqrt(torch.clamp_min((x * x).sum(dim=1, keepdim=True), eps))


def softmax_ce_rows(logits, labels_long):
    return -F.log_softmax(logits, dim=1).gather(1, labels_long[:, None])[:, 0]


def center_loss_rows(e, centers, labels_long):
    d = e - centers[labels_long]
    return 0.5 * (d * d).sum(dim=1)


# ----------------------------------------------------------------------------------------
# File 1: per-op cases
# ----------------------------------------------------------------------------------------

class OpCases:
    def __init__(self):
        self.tensors = {}
        self.cases = []

    def add(self, name, op, params, inputs, fn, diff, extra_in=None, extra_out=None, rng=None):
        """inputs: dict name -> float64 tensor (already float32-representable).
        fn(**inputs) -> y (float64).  diff: names of differentiable inputs."""
        assert all(c["name"] != name for c in self.cases), name
        leaves = {k: v.clone().requires_grad_(k in diff) for k, v in inputs.items()}
        y = fn(**leaves)
        dy = rng.normal(tuple(y.shape))
        grads = torch.autograd.grad(y, [leaves[k] for k in diff], grad_outputs=dy) if diff else []
        for k, v in inputs.items():
            self.tensors[f"{name}/{k}"] = f32(v)
        for k, v in (extra_in or {}).items():
            self.tensors[f"{name}/{k}"] = f32(v)
        self.tensors[f"{name}/y"] = f32(y)
        self.tensors[f"{name}/dy"] = f32(dy)
        for k, g in zip(diff, grads):
            self.tensors[f"{name}/grad_{k}"] = f32(g)
        for k, v in (extra_out or {}).items():
            self.tensors[f"{name}/{k}"] = f32(v)
        self.cases.append({"name": name, "op": op, "params": params})


def check_maxpool_tie_rule():
    """Assert that PyTorch's CPU max pool routes the gradient to the first max (row-major)."""
    x = torch.tensor([[[[1., 2, 2], [2, 1, 2], [0, 2, 1]],
                       [[5., 5, 5], [5, 5, 5], [5, 5, 5]]]]).requires_grad_(True)
    F.max_pool2d(x, 3, 2).sum().backward()
    g = x.grad[0]
    assert g[0, 0, 1] == 1 and g[0].sum() == 1, "max pool tie rule is not first-max"
    assert g[1, 0, 0] == 1 and g[1].sum() == 1, "max pool tie rule is not first-max"


def maxpool_loop_nhwc(x, dy, k=3, s=2):
    """Explicit first-max (row-major window order, strict >) max pool and its gradient."""
    x = x.numpy()
    dy = dy.numpy()
    n, h, w, c = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    y = np.zeros((n, oh, ow, c))
    gx = np.zeros_like(x)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    best, bi, bj = -np.inf, -1, -1
                    for di in range(k):
                        for dj in range(k):
                            v = x[b, i * s + di, j * s + dj, ch]
                            if v > best:
                                best, bi, bj = v, i * s + di, j * s + dj
                    y[b, i, j, ch] = best
                    gx[b, bi, bj, ch] += dy[b, i, j, ch]
    return y, gx


def conv_loop_nhwc(x, w, stride, padding):
    """Independent cross-check: direct NHWC/HWIO convolution with TF padding (numpy loops)."""
    x, w = x.numpy(), w.numpy()
    n, h, wd, ci = x.shape
    kh, kw, _, co = w.shape
    pt, _, oh = tf_pads(h, kh, stride, padding)
    pl, _, ow = tf_pads(wd, kw, stride, padding)
    y = np.zeros((n, oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            for di in range(kh):
                for dj in range(kw):
                    r, c = i * stride + di - pt, j * stride + dj - pl
                    if 0 <= r < h and 0 <= c < wd:
                        y[:, i, j, :] += x[:, r, c, :] @ w[di, dj]
    return y


def cross_check_ops(t, cases):
    """Re-derive some outputs by other means (float64) and compare with the stored ones."""
    for c in cases:
        name, op, pr = c["name"], c["op"], c["params"]
        g = lambda k: t[f"{name}/{k}"].double()
        if op == "conv2d":
            y = conv_loop_nhwc(g("x"), g("w"), pr["stride"], pr["padding"])
            assert np.allclose(y, g("y").numpy(), rtol=1e-5, atol=1e-5), name
        elif op == "batch_norm_train":
            x = nhwc_to_nchw(g("x"))
            rm, rv = g("moving_mean_in").clone(), g("moving_var_in").clone()
            y = F.batch_norm(x, rm, rv, None, g("beta"), training=True,
                             momentum=1 - pr["decay"], eps=pr["eps"])
            assert torch.allclose(nchw_to_nhwc(y), g("y"), rtol=1e-5, atol=1e-5), name
            assert torch.allclose(rm, g("moving_mean_out"), rtol=1e-6, atol=1e-7), name
            assert torch.allclose(rv, g("moving_var_out"), rtol=1e-6, atol=1e-7), name
        elif op == "softmax_cross_entropy":
            y = F.cross_entropy(g("logits"), g("labels").long(), reduction="none")
            assert torch.allclose(y, g("y"), rtol=1e-5, atol=1e-6), name


def gen_ops():
    rng = Rng(20240601)
    oc = OpCases()

    # ---- conv2d ---------------------------------------------------------------------
    def conv_fn(stride, padding):
        return lambda x, w: nchw_to_nhwc(conv2d_nchw(nhwc_to_nchw(x), w, stride, padding))

    conv_cases = [
        # name, N, H, W, Cin, Cout, kh, kw, stride, padding
        ("conv_1x1_s1_same", 2, 5, 7, 3, 5, 1, 1, 1, "SAME"),
        ("conv_1x1_s1_valid", 1, 4, 3, 7, 2, 1, 1, 1, "VALID"),
        ("conv_3x3_s1_same", 2, 7, 5, 3, 5, 3, 3, 1, "SAME"),
        ("conv_3x3_s1_valid", 1, 7, 6, 5, 3, 3, 3, 1, "VALID"),
        ("conv_3x3_s2_valid", 2, 11, 10, 3, 7, 3, 3, 2, "VALID"),   # 10: (10-3)//2+1 = 4, last col unused
        ("conv_3x3_s2_same_even", 2, 8, 10, 3, 5, 3, 3, 2, "SAME"),  # pad 0 top/left, 1 bottom/right
        ("conv_3x3_s2_same_odd", 1, 7, 9, 5, 3, 3, 3, 2, "SAME"),    # pad 1/1
        ("conv_1x7_s1_same", 2, 5, 9, 3, 5, 1, 7, 1, "SAME"),
        ("conv_7x1_s1_same", 1, 9, 5, 5, 3, 7, 1, 1, "SAME"),
        ("conv_1x3_s1_same", 2, 3, 5, 7, 3, 1, 3, 1, "SAME"),
        ("conv_3x1_s1_same", 1, 5, 3, 3, 7, 3, 1, 1, "SAME"),
        ("conv_1x7_s1_same_narrow", 1, 3, 4, 3, 2, 1, 7, 1, "SAME"),  # kernel wider than input
        ("conv_3x3_s1_same_1x1input", 2, 1, 1, 5, 3, 3, 3, 1, "SAME"),
        ("conv_1x1_s1_same_1x1input", 2, 1, 1, 7, 5, 1, 1, 1, "SAME"),
        ("conv_3x3_s2_same_1x1input", 1, 1, 1, 3, 2, 3, 3, 2, "SAME"),
    ]
    for name, n, h, w_, ci, co, kh, kw, s, pad in conv_cases:
        lim = math.sqrt(6.0 / (kh * kw * (ci + co)))
        x = rng.normal((n, h, w_, ci))
        w = rng.uniform((kh, kw, ci, co), -lim, lim)
        oc.add(name, "conv2d",
               {"kernel_h": kh, "kernel_w": kw, "stride": s, "padding": pad},
               {"x": x, "w": w}, conv_fn(s, pad), ["x", "w"], rng=rng)

    # ---- batch norm -----------------------------------------------------------------
    for name, shape in [("batch_norm_train", (2, 5, 3, 7)), ("batch_norm_train_n1", (1, 3, 2, 5)),
                        ("batch_norm_train_1x1", (3, 1, 1, 5))]:
        c = shape[3]
        x = rng.normal(shape, std=2.0, mean=0.5)
        beta = rng.normal((c,), std=0.3)
        mm_in = rng.normal((c,), std=0.2)
        mv_in = rng.uniform((c,), 0.5, 1.5)
        _, mean, _, var_u = bn_train_nchw(nhwc_to_nchw(x), beta)
        mm_out = BN_DECAY * mm_in + (1 - BN_DECAY) * mean
        mv_out = BN_DECAY * mv_in + (1 - BN_DECAY) * var_u
        oc.add(name, "batch_norm_train", {"eps": BN_EPS, "decay": BN_DECAY},
               {"x": x, "beta": beta},
               lambda x, beta: nchw_to_nhwc(bn_train_nchw(nhwc_to_nchw(x), beta)[0]),
               ["x", "beta"],
               extra_in={"moving_mean_in": mm_in, "moving_var_in": mv_in},
               extra_out={"moving_mean_out": mm_out, "moving_var_out": mv_out}, rng=rng)

    x = rng.normal((2, 3, 5, 7), std=1.5)
    mm = rng.normal((7,), std=0.2)
    mv = rng.uniform((7,), 0.5, 1.5)
    oc.add("batch_norm_infer", "batch_norm_infer", {"eps": BN_EPS},
           {"x": x, "beta": rng.normal((7,), std=0.3), "moving_mean": mm, "moving_var": mv},
           lambda x, beta, moving_mean, moving_var: nchw_to_nhwc(
               bn_infer_nchw(nhwc_to_nchw(x), beta, moving_mean, moving_var)),
           ["x", "beta"], rng=rng)

    # ---- relu -----------------------------------------------------------------------
    oc.add("relu", "relu", {}, {"x": rng.normal((2, 3, 5, 7))}, lambda x: F.relu(x), ["x"], rng=rng)

    # ---- max pool -------------------------------------------------------------------
    check_maxpool_tie_rule()
    mp = lambda x: nchw_to_nhwc(F.max_pool2d(nhwc_to_nchw(x), 3, 2))
    mp_params = {"kernel": 3, "stride": 2, "padding": "VALID"}
    oc.add("max_pool", "max_pool", mp_params, {"x": rng.normal((2, 9, 8, 5))}, mp, ["x"], rng=rng)
    oc.add("max_pool_odd", "max_pool", mp_params, {"x": rng.normal((1, 7, 11, 3))}, mp, ["x"], rng=rng)
    xt = torch.round(rng.uniform((2, 7, 9, 3), -0.5, 3.49))  # 4 levels {0,1,2,3}: ties everywhere
    oc.add("max_pool_ties", "max_pool", mp_params, {"x": xt}, mp, ["x"], rng=rng)
    y_loop, g_loop = maxpool_loop_nhwc(xt, oc.tensors["max_pool_ties/dy"].double())
    assert np.array_equal(y_loop, oc.tensors["max_pool_ties/y"].double().numpy())
    assert np.allclose(g_loop, oc.tensors["max_pool_ties/grad_x"].double().numpy(), atol=1e-6)

    # ---- global average pool --------------------------------------------------------
    oc.add("global_avg_pool", "global_avg_pool", {}, {"x": rng.normal((2, 3, 5, 7))},
           lambda x: x.mean(dim=(1, 2)), ["x"], rng=rng)
    oc.add("global_avg_pool_1x1", "global_avg_pool", {}, {"x": rng.normal((3, 1, 1, 5))},
           lambda x: x.mean(dim=(1, 2)), ["x"], rng=rng)

    # ---- concat / slice -------------------------------------------------------------
    oc.add("concat", "concat", {"axis": 3},
           {"x0": rng.normal((2, 3, 5, 3)), "x1": rng.normal((2, 3, 5, 5)),
            "x2": rng.normal((2, 3, 5, 2))},
           lambda x0, x1, x2: torch.cat([x0, x1, x2], dim=3), ["x0", "x1", "x2"], rng=rng)
    for name, start, ln in [("slice", 3, 5), ("slice_head", 0, 2), ("slice_tail", 6, 5)]:
        oc.add(name, "slice", {"axis": 3, "start": start, "len": ln},
               {"x": rng.normal((2, 3, 5, 11))},
               lambda x, start=start, ln=ln: x[..., start:start + ln], ["x"], rng=rng)

    # ---- residual -------------------------------------------------------------------
    for name, scale, relu in [("residual", 0.17, False), ("residual_relu", 0.2, True),
                              ("residual_scale1", 1.0, False)]:
        fn = (lambda x, up, sc=scale: F.relu(x + sc * up)) if relu else \
             (lambda x, up, sc=scale: x + sc * up)
        oc.add(name, "residual_relu" if relu else "residual", {"scale": scale},
               {"x": rng.normal((2, 3, 5, 7)), "up": rng.normal((2, 3, 5, 7), std=2.0)},
               fn, ["x", "up"], rng=rng)

    # ---- linear ---------------------------------------------------------------------
    for name, b, i, o in [("linear", 5, 7, 3), ("linear_b1", 1, 13, 5)]:
        oc.add(name, "linear", {},
               {"x": rng.normal((b, i)), "w": rng.normal((i, o), std=0.3),
                "b": rng.normal((o,), std=0.1)},
               lambda x, w, b: x @ w + b, ["x", "w", "b"], rng=rng)

    # ---- dropout --------------------------------------------------------------------
    assert splitmix_u_py(0, 0) == 0xE220A8397B1DCDAF
    for name, rows, cols, keep, seed in [("dropout", 5, 13, 0.5, 1234),
                                         ("dropout_keep08", 3, 7, 0.8, 0),
                                         ("dropout_bigseed", 2, 11, 0.5, 0xFFFFFFFF12345)]:
        m = dropout_mask(rows, cols, keep, seed)
        oc.add(name, "dropout", {"keep": keep, "seed": seed},
               {"x": rng.normal((rows, cols))}, lambda x, m=m: x * m, ["x"],
               extra_out={"mask": m}, rng=rng)

    # ---- l2 normalize / softmax -----------------------------------------------------
    oc.add("l2_normalize", "l2_normalize", {"eps": L2_EPS}, {"x": rng.normal((5, 7))},
           l2_normalize, ["x"], rng=rng)
    xt = rng.normal((3, 6))
    xt[1] = rng.normal((6,), std=1e-6)  # sum x^2 ~ 6e-12 < 1e-10: the clamp is active
    assert (xt[1] ** 2).sum() < 1e-10 / 4
    oc.add("l2_normalize_tiny", "l2_normalize", {"eps": L2_EPS}, {"x": xt},
           l2_normalize, ["x"], rng=rng)
    oc.add("softmax", "softmax", {}, {"x": rng.normal((4, 7), std=3.0)},
           lambda x: torch.softmax(x, dim=1), ["x"], rng=rng)

    # ---- losses ---------------------------------------------------------------------
    labels = torch.tensor([2., 0, 4, 4, 1])
    oc.add("softmax_cross_entropy", "softmax_cross_entropy", {},
           {"logits": rng.normal((5, 5), std=2.0), "labels": labels},
           lambda logits, labels: softmax_ce_rows(logits, labels.long()), ["logits"], rng=rng)
    oc.add("softmax_cross_entropy_b1", "softmax_cross_entropy", {},
           {"logits": rng.normal((1, 3), std=2.0), "labels": torch.tensor([1.])},
           lambda logits, labels: softmax_ce_rows(logits, labels.long()), ["logits"], rng=rng)
    oc.add("center_loss", "center_loss", {},
           {"e": rng.normal((6, 7)), "centers": rng.normal((4, 7), std=0.5),
            "labels": torch.tensor([3., 0, 3, 1, 2, 0])},
           lambda e, centers, labels: center_loss_rows(e, centers, labels.long()), ["e"], rng=rng)

    # ---- gather rows ----------------------------------------------------------------
    oc.add("gather_rows", "gather_rows", {},
           {"x": rng.normal((6, 7)), "index": torch.tensor([0., 2, 4])},
           lambda x, index: x[index.long()], ["x"], rng=rng)
    oc.add("gather_rows_repeat", "gather_rows", {},
           {"x": rng.normal((5, 3)), "index": torch.tensor([4., 1, 4, 0, 1, 4])},
           lambda x, index: x[index.long()], ["x"], rng=rng)

    cross_check_ops(oc.tensors, oc.cases)
    meta = {"format_version": "1", "generator": GENERATOR, "cases": json.dumps(oc.cases)}
    return oc.tensors, meta


# ----------------------------------------------------------------------------------------
# File 2: the network
# ----------------------------------------------------------------------------------------

class Ctx:
    """Holds parameters by name.

    mode "spec": parameters are created on the meta device (shapes only, nothing computed)
                 and recorded in `spec` (ordered name -> (shape, kind)).
    mode "run":  parameters are looked up in `params` / `buffers` (float64); shapes asserted.
    training:    batch norm uses batch statistics and records updated moving averages in
                 `after`; dropout is applied.  Otherwise moving averages, no dropout.
    """

    def __init__(self, mode, divisor=1, params=None, buffers=None, training=False):
        self.mode, self.d, self.training = mode, divisor, training
        self.params, self.buffers = params, buffers
        self.spec = {}
        self.after = {}

    def ch(self, n):
        assert n % self.d == 0, (n, self.d)
        return n // self.d

    def get(self, name, shape, kind):
        shape = tuple(int(s) for s in shape)
        if self.mode == "spec":
            assert name not in self.spec, f"duplicate parameter {name}"
            self.spec[name] = (shape, kind)
            return torch.zeros(shape, device="meta")
        src = self.buffers if kind.startswith("buffer") else self.params
        t = src[name]
        assert tuple(t.shape) == shape, (name, tuple(t.shape), shape)
        return t

    def batch_norm(self, x, scope):
        c = x.shape[1]
        beta = self.get(f"{scope}/beta", (c,), "beta")
        mm = self.get(f"{scope}/moving_mean", (c,), "buffer_mean")
        mv = self.get(f"{scope}/moving_variance", (c,), "buffer_var")
        if self.mode == "spec":
            return x
        if self.training:
            y, mean, _, var_u = bn_train_nchw(x, beta)
            self.after[f"{scope}/moving_mean"] = BN_DECAY * mm + (1 - BN_DECAY) * mean.detach()
            self.after[f"{scope}/moving_variance"] = BN_DECAY * mv + (1 - BN_DECAY) * var_u.detach()
            return y
        return bn_infer_nchw(x, beta, mm, mv)


KINKS = None  # when a dict, relu / max_pool record how close the network comes to a kink


def relu_k(x):
    """F.relu that records kink distances when KINKS is set."""
    if KINKS is not None:
        a = x.detach().abs()
        KINKS["relu_min_abs"] = min(KINKS.get("relu_min_abs", math.inf), a.min().item())
        KINKS["relu_n_abs_lt_1e-4"] = KINKS.get("relu_n_abs_lt_1e-4", 0) + int((a < 1e-4).sum())
        KINKS["relu_n"] = KINKS.get("relu_n", 0) + a.numel()
    return F.relu(x)


def pool_margin(x):
    """Smallest gap between a window's max and its runner-up, over windows whose max > 0."""
    if KINKS is None:
        return
    u = F.unfold(x.detach(), 3, stride=2)                     # [N, C*9, L]
    u = u.reshape(x.shape[0], x.shape[1], 9, -1)
    top = u.topk(2, dim=2).values
    gap = (top[:, :, 0] - top[:, :, 1])[top[:, :, 0] > 0]
    KINKS["pool_min_gap_nonzero_max"] = min(KINKS.get("pool_min_gap_nonzero_max", math.inf),
                                            gap.min().item())
    KINKS["pool_n_gap_lt_1e-4_nonzero_max"] = KINKS.get("pool_n_gap_lt_1e-4_nonzero_max", 0) \
        + int((gap < 1e-4).sum())


# Internally the network computes in NCHW (PyTorch's layout); parameters are in the engine's
# layouts (HWIO conv weights, [in, out] FC weights).

def conv(ctx, x, scope, kh, kw, cout, stride=1, padding="SAME", bn=True, relu=True, bias=False):
    """conv (no bias) + batch norm (shift only) + ReLU, or an "up" conv with bias only."""
    w = ctx.get(f"{scope}/weights", (kh, kw, x.shape[1], cout), "conv_weights")
    if ctx.mode == "spec":
        _, _, oh = tf_pads(x.shape[2], kh, stride, padding)
        _, _, ow = tf_pads(x.shape[3], kw, stride, padding)
        y = torch.zeros((x.shape[0], cout, oh, ow), device="meta")
    else:
        y = conv2d_nchw(x, w, stride, padding)
    if bias:
        b = ctx.get(f"{scope}/biases", (cout,), "biases")
        if ctx.mode != "spec":
            y = y + b[None, :, None, None]
    if bn:
        y = ctx.batch_norm(y, f"{scope}/BatchNorm")
    if relu and ctx.mode != "spec":
        y = relu_k(y)
    return y


def conv_bn_relu(ctx, x, scope, kh, kw, cout_full, stride=1, padding="SAME"):
    return conv(ctx, x, scope, kh, kw, ctx.ch(cout_full), stride, padding)


def max_pool(ctx, x):
    if ctx.mode == "spec":
        _, _, oh = tf_pads(x.shape[2], 3, 2, "VALID")
        _, _, ow = tf_pads(x.shape[3], 3, 2, "VALID")
        return torch.zeros((x.shape[0], x.shape[1], oh, ow), device="meta")
    pool_margin(x)
    return F.max_pool2d(x, 3, 2)


def cat(ctx, xs):
    if ctx.mode == "spec":
        return torch.zeros((xs[0].shape[0], sum(t.shape[1] for t in xs)) + tuple(xs[0].shape[2:]),
                           device="meta")
    return torch.cat(xs, dim=1)


def residual(ctx, x, scope, mixed, scale, activate):
    """x + scale * up(mixed), up = 1x1 conv with bias, no BN, no activation; then ReLU."""
    up = conv(ctx, mixed, f"{scope}/Conv2d_1x1", 1, 1, x.shape[1], bn=False, relu=False, bias=True)
    if ctx.mode == "spec":
        return x
    y = x + scale * up
    return relu_k(y) if activate else y


def block35(ctx, x, scope, scale=0.17):
    b0 = conv_bn_relu(ctx, x, f"{scope}/Branch_0/Conv2d_1x1", 1, 1, 32)
    b1 = conv_bn_relu(ctx, x, f"{scope}/Branch_1/Conv2d_0a_1x1", 1, 1, 32)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_0b_3x3", 3, 3, 32)
    b2 = conv_bn_relu(ctx, x, f"{scope}/Branch_2/Conv2d_0a_1x1", 1, 1, 32)
    b2 = conv_bn_relu(ctx, b2, f"{scope}/Branch_2/Conv2d_0b_3x3", 3, 3, 32)
    b2 = conv_bn_relu(ctx, b2, f"{scope}/Branch_2/Conv2d_0c_3x3", 3, 3, 32)
    return residual(ctx, x, scope, cat(ctx, [b0, b1, b2]), scale, True)


def block17(ctx, x, scope, scale=0.10):
    b0 = conv_bn_relu(ctx, x, f"{scope}/Branch_0/Conv2d_1x1", 1, 1, 128)
    b1 = conv_bn_relu(ctx, x, f"{scope}/Branch_1/Conv2d_0a_1x1", 1, 1, 128)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_0b_1x7", 1, 7, 128)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_0c_7x1", 7, 1, 128)
    return residual(ctx, x, scope, cat(ctx, [b0, b1]), scale, True)


def block8(ctx, x, scope, scale=0.2, activate=True):
    b0 = conv_bn_relu(ctx, x, f"{scope}/Branch_0/Conv2d_1x1", 1, 1, 192)
    b1 = conv_bn_relu(ctx, x, f"{scope}/Branch_1/Conv2d_0a_1x1", 1, 1, 192)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_0b_1x3", 1, 3, 192)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_0c_3x1", 3, 1, 192)
    return residual(ctx, x, scope, cat(ctx, [b0, b1]), scale, activate)


def reduction_a(ctx, x, scope):  # Mixed_6a
    b0 = conv_bn_relu(ctx, x, f"{scope}/Branch_0/Conv2d_1a_3x3", 3, 3, 384, 2, "VALID")
    b1 = conv_bn_relu(ctx, x, f"{scope}/Branch_1/Conv2d_0a_1x1", 1, 1, 192)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_0b_3x3", 3, 3, 192)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_1a_3x3", 3, 3, 256, 2, "VALID")
    b2 = max_pool(ctx, x)
    return cat(ctx, [b0, b1, b2])


def reduction_b(ctx, x, scope):  # Mixed_7a
    b0 = conv_bn_relu(ctx, x, f"{scope}/Branch_0/Conv2d_0a_1x1", 1, 1, 256)
    b0 = conv_bn_relu(ctx, b0, f"{scope}/Branch_0/Conv2d_1a_3x3", 3, 3, 384, 2, "VALID")
    b1 = conv_bn_relu(ctx, x, f"{scope}/Branch_1/Conv2d_0a_1x1", 1, 1, 256)
    b1 = conv_bn_relu(ctx, b1, f"{scope}/Branch_1/Conv2d_1a_3x3", 3, 3, 256, 2, "VALID")
    b2 = conv_bn_relu(ctx, x, f"{scope}/Branch_2/Conv2d_0a_1x1", 1, 1, 256)
    b2 = conv_bn_relu(ctx, b2, f"{scope}/Branch_2/Conv2d_0b_3x3", 3, 3, 256)
    b2 = conv_bn_relu(ctx, b2, f"{scope}/Branch_2/Conv2d_1a_3x3", 3, 3, 256, 2, "VALID")
    b3 = max_pool(ctx, x)
    return cat(ctx, [b0, b1, b2, b3])


def trunk(ctx, x):
    """x NCHW -> Z NCHW (Mixed_7a)."""
    p = "InceptionResnetV1/"
    x = conv_bn_relu(ctx, x, p + "Conv2d_1a_3x3", 3, 3, 32, 2, "VALID")
    x = conv_bn_relu(ctx, x, p + "Conv2d_2a_3x3", 3, 3, 32, 1, "VALID")
    x = conv_bn_relu(ctx, x, p + "Conv2d_2b_3x3", 3, 3, 64, 1, "SAME")
    x = max_pool(ctx, x)                                        # MaxPool_3a_3x3
    x = conv_bn_relu(ctx, x, p + "Conv2d_3b_1x1", 1, 1, 80, 1, "VALID")
    x = conv_bn_relu(ctx, x, p + "Conv2d_4a_3x3", 3, 3, 192, 1, "VALID")
    x = conv_bn_relu(ctx, x, p + "Conv2d_4b_3x3", 3, 3, 256, 2, "VALID")
    x = block35(ctx, x, p + "Repeat/block35_1")
    x = reduction_a(ctx, x, p + "Mixed_6a")
    x = block17(ctx, x, p + "Repeat_1/block17_1")
    x = reduction_b(ctx, x, p + "Mixed_7a")
    return x


BRANCHES = [  # (t, key, scope prefix, FC scope, ReLU after FC)
    (1, "verif", "InceptionResnetV1/", "Logits_verif", False),
    (2, "photo", "InceptionResnetV1_photo/", "Logits_photo", True),
    (3, "caricature", "InceptionResnetV1_caricature/", "Logits_caricature", True),
]


def branch(ctx, z, prefix, fc_scope, fc_relu, num_classes, dropout_seed, keep):
    """Z NCHW [b, C, h, w] -> (p [b, dim] after dropout, logits [b, N])."""
    x = block8(ctx, z, prefix + "Repeat_2/block8_1", 0.2, True)
    x = block8(ctx, x, prefix + "Block8", 1.0, False)
    dim = x.shape[1]
    w = ctx.get(f"{fc_scope}/weights", (dim, num_classes), "fc_weights")
    b = ctx.get(f"{fc_scope}/biases", (num_classes,), "biases")
    if ctx.mode == "spec":
        return None, None
    p = x.mean(dim=(2, 3))                                      # global average pool
    if ctx.training:
        p = p * dropout_mask(p.shape[0], p.shape[1], keep, dropout_seed)
    logits = p @ w + b
    if fc_relu:
        logits = relu_k(logits)
    return p, logits


def weight_module(ctx, z, s):
    """Z NCHW -> (a [B,3], pi [B,3], w [3]).  Flatten in NHWC order (h, w, c)."""
    zf = nchw_to_nhwc(z).reshape(z.shape[0], -1)
    W = ctx.get("Logits_lossweights/weights", (zf.shape[1], 3), "fc_weights")
    b = ctx.get("Logits_lossweights/biases", (3,), "biases")
    if ctx.mode == "spec":
        return None, None, None
    a = zf @ W + b
    pi = torch.softmax(s * l2_normalize(a), dim=1)
    return a, pi, pi.mean(dim=0)


def network_spec(divisor, image_size, num_classes, batch=1):
    ctx = Ctx("spec", divisor)
    x = torch.zeros((batch, 3, image_size, image_size), device="meta")
    z = trunk(ctx, x)
    for _, _, prefix, fc_scope, fc_relu in BRANCHES:
        branch(ctx, z, prefix, fc_scope, fc_relu, num_classes, 0, 0.5)
    weight_module(ctx, z, 1.0)
    return ctx.spec, tuple(z.shape)


def count_params(spec):
    groups = {"trunk": 0, "verif": 0, "photo": 0, "caricature": 0, "weight_module": 0}
    branch_scopes = ("Repeat_2/", "Block8/")
    for name, (shape, kind) in spec.items():
        if kind.startswith("buffer"):
            continue
        n = int(np.prod(shape))
        if name.startswith("Logits_lossweights/"):
            g = "weight_module"
        elif name.startswith("Logits_verif/"):
            g = "verif"
        elif name.startswith("Logits_photo/") or name.startswith("InceptionResnetV1_photo/"):
            g = "photo"
        elif name.startswith("Logits_caricature/") or name.startswith("InceptionResnetV1_caricature/"):
            g = "caricature"
        elif name.startswith("InceptionResnetV1/") and name[len("InceptionResnetV1/"):].startswith(branch_scopes):
            g = "verif"
        else:
            g = "trunk"
        groups[g] += n
    groups["total"] = sum(groups.values())
    return groups


def check_param_count():
    spec, zshape = network_spec(1, 160, 195)
    got = count_params(spec)
    want = {"trunk": 6434992, "verif": 3549635, "photo": 3549635, "caricature": 3549635,
            "weight_module": 48387, "total": 17132284}
    print(f"full-size network (160x160, 195 classes): Z {zshape[1:]} (NCHW), "
          f"{len([k for k, (_, kd) in spec.items() if not kd.startswith('buffer')])} trainable tensors")
    for k in want:
        print(f"  {k:14s} {got[k]:>11,d}  (expected {want[k]:,d})"
              + ("" if got[k] == want[k] else f"  MISMATCH by {got[k] - want[k]:+,d}"))
    if got != want:
        raise SystemExit("parameter count self-check FAILED: the structure spec disagrees")
    print("  parameter count self-check passed")


def gen_network():
    divisor, image_size, num_classes, batch = 8, 111, 5, 6
    modality = [0, 1, 0, 1, 0, 1]
    labels = [0, 1, 2, 0, 3, 4]
    keep, dropout_seed, lam, s, sigma = 0.5, 1234, 0.1, 1.0, 0.01
    torch.manual_seed(7)
    rng = Rng(7)

    spec, zshape = network_spec(divisor, image_size, num_classes, batch)
    # ---- deterministic initialisation from the spec (in spec order) -------------------
    params, buffers = {}, {}
    for name, (shape, kind) in spec.items():
        if kind == "conv_weights":
            kh, kw, ci, co = shape
            lim = math.sqrt(6.0 / (kh * kw * (ci + co)))        # Xavier uniform
            params[name] = rng.uniform(shape, -lim, lim)
        elif kind == "fc_weights":
            params[name] = rng.normal(shape, std=0.1)
        elif kind in ("beta", "biases"):
            params[name] = rng.normal(shape, std=0.1)
        elif kind == "buffer_mean":
            buffers[name] = rng.normal(shape, std=0.1)
        elif kind == "buffer_var":
            buffers[name] = rng.uniform(shape, 0.5, 1.5)
        else:
            raise AssertionError(kind)
    x_nhwc = rng.normal((batch, image_size, image_size, 3))
    centers = rng.normal((num_classes, zshape[1]), std=0.1)

    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    lab = torch.tensor(labels)
    mod = torch.tensor(modality)

    # ---- training forward ---------------------------------------------------------------
    global KINKS
    KINKS = {}
    ctx = Ctx("run", divisor, leaves, buffers, training=True)
    z = trunk(ctx, nhwc_to_nchw(x_nhwc))
    assert tuple(z.shape) == zshape, (z.shape, zshape)
    out = {}
    task_losses = []
    for t, key, prefix, fc_scope, fc_relu in BRANCHES:
        idx = torch.arange(batch) if t == 1 else torch.nonzero(mod == t - 2)[:, 0]
        zt = z if t == 1 else z[idx]
        p, logits = branch(ctx, zt, prefix, fc_scope, fc_relu, num_classes,
                           dropout_seed + t - 1, keep)
        e = l2_normalize(p)
        yt = lab[idx]
        lt = (softmax_ce_rows(logits, yt) + lam * center_loss_rows(e, centers, yt)).mean()
        task_losses.append(lt)
        out[f"logits/{key}"] = logits
        out[f"embeddings/{key}"] = e
    a, pi, w = weight_module(ctx, z, s)
    Lt = torch.stack(task_losses)
    L = (w.detach() * Lt).sum()
    Lw = (w / (Lt.detach() + sigma)).sum()

    net_names = [k for k in leaves if not k.startswith("Logits_lossweights/")]
    wm_names = [k for k in leaves if k.startswith("Logits_lossweights/")]
    gL = torch.autograd.grad(L, [leaves[k] for k in net_names], retain_graph=True)
    gLw = torch.autograd.grad(Lw, [leaves[k] for k in wm_names])
    kinks, KINKS = KINKS, None
    assert set(ctx.after) == set(buffers), "not every batch norm ran in training"

    # ---- inference forward (trunk + branch 1) --------------------------------------------
    with torch.no_grad():
        ictx = Ctx("run", divisor, params, buffers, training=False)
        iz = trunk(ictx, nhwc_to_nchw(x_nhwc))
        ip, _ = branch(ictx, iz, BRANCHES[0][2], BRANCHES[0][3], False, num_classes, 0, keep)
        ie = l2_normalize(ip)

    # ---- store ----------------------------------------------------------------------
    T = {"input": f32(x_nhwc), "centers": f32(centers)}
    for k, v in params.items():
        T[k] = f32(v)
    for k, v in buffers.items():
        T[k] = f32(v)
        T[f"after_step/{k}"] = f32(ctx.after[k])
    T["Z"] = f32(nchw_to_nhwc(z))
    for k, v in out.items():
        T[k] = f32(v)
    T["lossweights/a"] = f32(a)
    T["lossweights/pi"] = f32(pi)
    T["task_losses"] = f32(Lt)
    T["task_weights"] = f32(w)
    T["loss"] = f32(L)
    T["loss_w"] = f32(Lw)
    for k, g in zip(net_names, gL):
        T[f"grad/{k}"] = f32(g)
    for k, g in zip(wm_names, gLw):
        T[f"grad/{k}"] = f32(g)
    T["infer/Z"] = f32(nchw_to_nhwc(iz))
    T["infer/embeddings"] = f32(ie)

    config = {
        "image_size": image_size, "width_divisor": divisor, "num_classes": num_classes,
        "batch": batch, "modality": modality, "labels": labels,
        "keep_prob": keep, "dropout_seed": dropout_seed,
        "dropout_seeds": [dropout_seed + t - 1 for t, *_ in BRANCHES],
        "dropout_seed_rule": "branch t (1 verif, 2 photo, 3 caricature) uses dropout_seed + t - 1; "
                             "mask shape [branch batch, dim]",
        "center_loss_lambda": lam, "logit_scale": s, "sigma": sigma,
        "fc_relu": [r for *_, r in BRANCHES],
        "branches": [{"t": t, "key": k, "scope": p, "fc_scope": f, "fc_relu": r}
                     for t, k, p, f, r in BRANCHES],
        "bn_eps": BN_EPS, "bn_decay": BN_DECAY, "l2_eps": L2_EPS,
        "block_scales": {"block35": 0.17, "block17": 0.10, "block8_1": 0.2, "Block8": 1.0},
        "z_shape_nhwc": [zshape[0], zshape[2], zshape[3], zshape[1]],
        "embedding_dim": zshape[1],
        "w_detached_in_L": True,
        "center_loss_uses_post_dropout_embedding": True,
        "infer": "trunk + branch 1, batch norm from the moving averages before the step, no dropout",
    }
    meta = {"format_version": "1", "generator": GENERATOR, "config": json.dumps(config)}

    # ---- diagnostics: how close float32 re-computation might come to a kink ------------
    diag = {
        "task_losses": Lt.tolist(), "task_weights": w.tolist(),
        "loss": L.item(), "loss_w": Lw.item(),
        "|Z| max": z.abs().max().item(), "|infer Z| max": iz.abs().max().item(),
        "n_params": sum(v.numel() for v in params.values()),
        "training-forward kinks": kinks,
        "smallest |grad| tensor norm": min((g.norm().item(), k) for k, g in
                                           zip(net_names + wm_names, list(gL) + list(gLw))),
        "dropout kept fraction (verif)": (dropout_mask(batch, zshape[1], keep, dropout_seed) > 0)
        .double().mean().item(),
    }
    return T, meta, diag


# ----------------------------------------------------------------------------------------

def save_deterministic(tensors, path, meta):
    """Write a float32 safetensors file byte-for-byte deterministically.

    (safetensors' own save_file serialises __metadata__ from a hash map, so its key order --
    and the file's bytes -- change from run to run.)  Format: u64 little-endian header length,
    JSON header (keys sorted, padded with spaces to a multiple of 8), then the raw tensors in
    header order, little-endian, contiguous.
    """
    header = {"__metadata__": dict(sorted(meta.items()))}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        assert t.dtype == torch.float32 and t.is_contiguous(), name
        b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write(path, tensors, meta):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_deterministic(tensors, path, meta)
    # verify by reloading
    back = load_file(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == torch.float32 and torch.equal(back[k], v), k
    with safe_open(path, "pt") as f:
        assert f.metadata() == meta
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only run the parameter-count check")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default tests/fixtures)")
    args = ap.parse_args()

    torch.manual_seed(0)
    np.random.seed(0)
    check_param_count()
    if args.check:
        return

    ops_t, ops_meta = gen_ops()
    n_ops = write(os.path.join(args.out, "ops.safetensors"), ops_t, ops_meta)
    cases = json.loads(ops_meta["cases"])
    print(f"ops.safetensors: {n_ops:,d} bytes, {len(cases)} cases, {len(ops_t)} tensors")
    by_op = {}
    for c in cases:
        by_op.setdefault(c["op"], []).append(c["name"])
    for op, names in by_op.items():
        print(f"  {op:22s} {', '.join(names)}")

    net_t, net_meta, diag = gen_network()
    n_net = write(os.path.join(args.out, "network.safetensors"), net_t, net_meta)
    print(f"network.safetensors: {n_net:,d} bytes, {len(net_t)} tensors, "
          f"{diag['n_params']:,d} parameters")
    for k, v in diag.items():
        print(f"  {k}: {v}")
    print(f"total: {n_ops + n_net:,d} bytes")


if __name__ == "__main__":
    main()
