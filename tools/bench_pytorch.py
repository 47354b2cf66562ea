#!/usr/bin/env python3
"""PyTorch baseline for `cargo bench --bench train_step` and `--bench conv2d`.

The same model as the engine (DESIGN.md section 3: inception_resnet_v1 truncated after
Mixed_7a, three Block8 branches, the dynamic-weight module) and the same training step:

  * forward of the trunk on the whole batch; branch 1 (verification) on every sample,
    branch 2 on the photos, branch 3 on the caricatures (photos and caricatures alternate);
  * L_t = mean(CE(logits, y) + 0.1 * 0.5 * ||e - c_y||^2) (e = l2-normalised post-dropout
    prelogits, one shared table of centers), ReLU after FC_2 and FC_3;
  * weight module: a = W flatten(Z) + b, pi = softmax(s * a/||a||), w = mean_b pi;
  * L = sum_t sg(w_t) L_t  (network), L_w = sum_t w_t / (sg(L_t) + 0.01)  (weight module),
    the weight module reads sg(Z) (L_w's gradient never reaches the network, L's never
    reaches the weight module, as in the engine's default);
  * both backward passes, both SGD-momentum updates (momentum 0.9, lr 0.01 / 0.1, each group
    clipped to global norm 5), batch-norm moving averages (decay 0.995, eps 0.001, shift
    only: no gamma), and the center update c_j <- c_j - (1 - 0.5)(c_j - mean e_j) from branch 1.

float32 throughout.  `--device` picks where everything runs: `cpu` (default) or `cuda` /
`cuda:N`.  The model, its parameters and buffers, the batches, labels and every tensor the step
builds live on that device; random inputs are drawn on the CPU from seeded generators and then
moved, so both devices see the same inputs.

  * CPU: `torch.set_num_threads(2)` (the engine's machine has 2 cores; change with --threads).
  * CUDA: TF32 is disabled (`torch.backends.cuda.matmul.allow_tf32 = False`,
    `torch.backends.cudnn.allow_tf32 = False`), so the comparison is fp32 against the engine's
    fp32 kernels.  `torch.backends.cudnn.benchmark` stays off unless `--cudnn-benchmark` is
    given (cuDNN then searches for the fastest algorithm per shape during the warm-up runs).
    The header (and the JSON, as `meta/*` keys) names the GPU and records both settings.
    --threads only affects the host-side work.

TF padding is reproduced without copies: every SAME conv of the network has stride 1 and an odd
kernel (symmetric padding (k-1)/2), every stride-2 conv is VALID.

Setup (once) and run, from the repository root:

    python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch safetensors numpy
    ~/torchenv/bin/python tools/bench_pytorch.py                 # training step + inference
    ~/torchenv/bin/python tools/bench_pytorch.py --convs         # also every conv geometry
    ~/torchenv/bin/python tools/bench_pytorch.py --convs --json /tmp/torch.json
    ~/torchenv/bin/python tools/bench_pytorch.py --device cuda --convs --json /tmp/torch-cuda.json
    ~/torchenv/bin/python tools/bench_pytorch.py --device cuda:1 --cudnn-benchmark --convs

Each measurement: `--warmup` untimed runs (2 for each conv geometry), then the median of `--reps`
timed runs (wall clock).  On CUDA the clock starts and stops after `torch.cuda.synchronize()`, so
a run covers the device work, not only the kernel launches; the warm-up runs also absorb lazy
CUDA/cuBLAS/cuDNN initialisation (and cuDNN's search with --cudnn-benchmark), so keep them.
Both memory formats are timed (NCHW and channels_last); the faster is PyTorch's number.
"""

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3
BN_MOMENTUM = 1 - 0.995  # PyTorch's momentum is 1 - TF's decay
IMAGE, CLASSES, KEEP = 160, 195, 0.5
LAMBDA, SIGMA, ALPHA, LOGIT_SCALE = 0.1, 0.01, 0.5, 1.0


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------

def same_pad(k):
    assert k % 2 == 1
    return (k - 1) // 2


class ConvBN(nn.Module):
    """conv (no bias) -> batch norm (shift only) -> ReLU, TF padding."""

    def __init__(self, cin, cout, k, stride=1, padding="SAME"):
        super().__init__()
        kh, kw = (k, k) if isinstance(k, int) else k
        assert padding == "VALID" or stride == 1
        self.stride = stride
        self.padding = (same_pad(kh), same_pad(kw)) if padding == "SAME" else (0, 0)
        self.weight = nn.Parameter(torch.empty(cout, cin, kh, kw))
        nn.init.xavier_uniform_(self.weight)
        self.beta = nn.Parameter(torch.zeros(cout))
        self.register_buffer("moving_mean", torch.zeros(cout))
        self.register_buffer("moving_variance", torch.ones(cout))

    def forward(self, x):
        y = F.conv2d(x, self.weight, None, self.stride, self.padding)
        y = F.batch_norm(y, self.moving_mean, self.moving_variance, None, self.beta,
                         self.training, BN_MOMENTUM, BN_EPS)
        return F.relu(y)


class Residual(nn.Module):
    """Towers -> concat -> 1x1 "up" conv with bias -> x + scale*up -> optional ReLU."""

    def __init__(self, c, towers, scale, activate):
        super().__init__()
        self.towers = nn.ModuleList(nn.Sequential(*t) for t in towers)
        mixed = sum(t[-1].weight.shape[0] for t in towers)
        self.up = nn.Conv2d(mixed, c, 1, bias=True)
        nn.init.xavier_uniform_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.scale, self.activate = scale, activate

    def forward(self, x):
        up = self.up(torch.cat([t(x) for t in self.towers], dim=1))
        y = x + self.scale * up
        return F.relu(y) if self.activate else y


class Reduction(nn.Module):
    def __init__(self, towers):
        super().__init__()
        self.towers = nn.ModuleList(nn.Sequential(*t) for t in towers)

    def forward(self, x):
        return torch.cat([t(x) for t in self.towers] + [F.max_pool2d(x, 3, 2)], dim=1)


def block8(scale, activate):
    return Residual(1792, [[ConvBN(1792, 192, 1)],
                           [ConvBN(1792, 192, 1), ConvBN(192, 192, (1, 3)), ConvBN(192, 192, (3, 1))]],
                    scale, activate)


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBN(3, 32, 3, 2, "VALID"), ConvBN(32, 32, 3, 1, "VALID"), ConvBN(32, 64, 3),
            nn.MaxPool2d(3, 2),
            ConvBN(64, 80, 1, 1, "VALID"), ConvBN(80, 192, 3, 1, "VALID"), ConvBN(192, 256, 3, 2, "VALID"))
        self.block35 = Residual(256, [[ConvBN(256, 32, 1)],
                                      [ConvBN(256, 32, 1), ConvBN(32, 32, 3)],
                                      [ConvBN(256, 32, 1), ConvBN(32, 32, 3), ConvBN(32, 32, 3)]], 0.17, True)
        self.mixed_6a = Reduction([[ConvBN(256, 384, 3, 2, "VALID")],
                                   [ConvBN(256, 192, 1), ConvBN(192, 192, 3), ConvBN(192, 256, 3, 2, "VALID")]])
        self.block17 = Residual(896, [[ConvBN(896, 128, 1)],
                                      [ConvBN(896, 128, 1), ConvBN(128, 128, (1, 7)), ConvBN(128, 128, (7, 1))]],
                                0.10, True)
        self.mixed_7a = Reduction([[ConvBN(896, 256, 1), ConvBN(256, 384, 3, 2, "VALID")],
                                   [ConvBN(896, 256, 1), ConvBN(256, 256, 3, 2, "VALID")],
                                   [ConvBN(896, 256, 1), ConvBN(256, 256, 3), ConvBN(256, 256, 3, 2, "VALID")]])

    def forward(self, x):
        return self.mixed_7a(self.block17(self.mixed_6a(self.block35(self.stem(x)))))


class Branch(nn.Module):
    def __init__(self, fc_relu):
        super().__init__()
        self.blocks = nn.Sequential(block8(0.2, True), block8(1.0, False))
        self.fc = nn.Linear(1792, CLASSES)
        nn.init.trunc_normal_(self.fc.weight, std=0.1, a=-0.2, b=0.2)
        nn.init.zeros_(self.fc.bias)
        self.fc_relu = fc_relu

    def forward(self, z):
        p = self.blocks(z).mean(dim=(2, 3))
        if self.training:
            p = F.dropout(p, 1 - KEEP, True)
        e = F.normalize(p, dim=1, eps=1e-5)  # = p / sqrt(max(sum p^2, 1e-10))
        logits = self.fc(p)
        return e, (F.relu(logits) if self.fc_relu else logits)


class MultiTaskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.branches = nn.ModuleList([Branch(False), Branch(True), Branch(True)])
        self.weight_module = nn.Linear(3 * 3 * 1792, 3)
        nn.init.trunc_normal_(self.weight_module.weight, std=0.1, a=-0.2, b=0.2)
        nn.init.zeros_(self.weight_module.bias)
        self.register_buffer("centers", torch.zeros(CLASSES, 1792))

    def network_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("weight_module.")]

    def embed(self, x):
        return self.branches[0](self.trunk(x))[0]


def make_batch(n, channels_last, device):
    # Drawn on the CPU (seeded), then moved: the same batch on every device.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, IMAGE, IMAGE, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, CLASSES, (n,), generator=g).to(device)
    photo = torch.arange(n) % 2 == 0
    subsets = [None, photo.nonzero()[:, 0].to(device), (~photo).nonzero()[:, 0].to(device)]
    return x, labels, subsets


class Step:
    """One training step of the dynamic multi-task model."""

    def __init__(self, net):
        self.net = net
        self.opt_net = torch.optim.SGD(net.network_parameters(), lr=0.01, momentum=0.9)
        self.opt_w = torch.optim.SGD(net.weight_module.parameters(), lr=0.1, momentum=0.9)

    def __call__(self, x, labels, subsets):
        net = self.net
        z = net.trunk(x)
        losses, e_verif = [], None
        for t, (branch, idx) in enumerate(zip(net.branches, subsets)):
            zt, yt = (z, labels) if idx is None else (z.index_select(0, idx), labels.index_select(0, idx))
            e, logits = branch(zt)
            ce = F.cross_entropy(logits, yt, reduction="none")
            center = 0.5 * (e - net.centers.index_select(0, yt)).pow(2).sum(dim=1)
            losses.append((ce + LAMBDA * center).mean())
            if t == 0:
                e_verif = e.detach()
        zf = z.detach().permute(0, 2, 3, 1).reshape(z.shape[0], -1)  # NHWC flatten, as the engine
        a = net.weight_module(zf)
        w = torch.softmax(LOGIT_SCALE * F.normalize(a, dim=1, eps=1e-5), dim=1).mean(dim=0)
        loss = sum(w[t].detach() * l for t, l in enumerate(losses))
        loss_w = sum(w[t] / (l.detach() + SIGMA) for t, l in enumerate(losses))
        self.opt_net.zero_grad(set_to_none=True)
        self.opt_w.zero_grad(set_to_none=True)
        torch.autograd.backward([loss, loss_w])
        nn.utils.clip_grad_norm_(net.network_parameters(), 5.0)
        nn.utils.clip_grad_norm_(net.weight_module.parameters(), 5.0)
        self.opt_net.step()
        self.opt_w.step()
        with torch.no_grad():  # center update from branch 1
            dev = net.centers.device
            sums = torch.zeros_like(net.centers).index_add_(0, labels, e_verif)
            ones = torch.ones(labels.shape[0], device=dev)
            counts = torch.zeros(CLASSES, device=dev).index_add_(0, labels, ones)
            present = counts > 0
            mean = sums[present] / counts[present, None]
            c = net.centers[present]
            net.centers[present] = c - (1 - ALPHA) * (c - mean)
        return loss.item()


def timed(fn, warmup, reps, device):
    """Median wall time of `reps` runs of fn after `warmup` untimed ones.  On CUDA the device is
    synchronised before the clock starts and before it stops, so a run covers its kernels."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def bench_model(args, results):
    for channels_last in (False, True):
        fmt = "channels_last" if channels_last else "NCHW"
        torch.manual_seed(0)
        net = MultiTaskNet().to(args.device)  # built (seeded) on the CPU, then moved
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        for n in (16, 32):
            net.train()
            step = Step(net)
            x, labels, subsets = make_batch(n, channels_last, args.device)
            med, ts = timed(lambda: step(x, labels, subsets), args.warmup, args.reps, args.device)
            results[f"train_step/{n}/{fmt}"] = med
            print(f"train step  batch {n:2d}  {fmt:13s}  median {med * 1e3:8.1f} ms  "
                  f"{n / med:7.2f} images/s   (runs: {', '.join(f'{t * 1e3:.0f}' for t in ts)} ms)", flush=True)
        net.eval()
        n = 32
        x, _, _ = make_batch(n, channels_last, args.device)
        with torch.no_grad():
            med, ts = timed(lambda: net.embed(x), args.warmup, args.reps, args.device)
        results[f"inference/{n}/{fmt}"] = med
        print(f"inference   batch {n:2d}  {fmt:13s}  median {med * 1e3:8.1f} ms  "
              f"{n / med:7.2f} images/s   (runs: {', '.join(f'{t * 1e3:.0f}' for t in ts)} ms)", flush=True)
    print()
    for key in ("train_step/16", "train_step/32", "inference/32"):
        n = int(key.split("/")[1])
        best = min(("NCHW", "channels_last"), key=lambda f: results[f"{key}/{f}"])
        print(f"PyTorch {key:14s} best {best:13s} {n / results[f'{key}/{best}']:7.2f} images/s")


# ---------------------------------------------------------------------------------------
# Per-conv comparison (the geometries of benches/conv2d.rs, batch 32)
# ---------------------------------------------------------------------------------------

# (scope, [h, w, c_in], (kh, kw), c_out, stride, padding, uses per training step)
CONVS = [
    ("Conv2d_1a_3x3", [160, 160, 3], (3, 3), 32, 2, "VALID", 1),
    ("Conv2d_2a_3x3", [79, 79, 32], (3, 3), 32, 1, "VALID", 1),
    ("Conv2d_2b_3x3", [77, 77, 32], (3, 3), 64, 1, "SAME", 1),
    ("Conv2d_3b_1x1", [38, 38, 64], (1, 1), 80, 1, "VALID", 1),
    ("Conv2d_4a_3x3", [38, 38, 80], (3, 3), 192, 1, "VALID", 1),
    ("Conv2d_4b_3x3", [36, 36, 192], (3, 3), 256, 2, "VALID", 1),
    ("block35_1/Conv2d_1x1", [17, 17, 256], (1, 1), 32, 1, "SAME", 3),
    ("block35_1/Conv2d_0b_3x3", [17, 17, 32], (3, 3), 32, 1, "SAME", 3),
    ("block35_1/up_1x1", [17, 17, 96], (1, 1), 256, 1, "SAME", 1),
    ("Mixed_6a/Branch_0/Conv2d_1a_3x3", [17, 17, 256], (3, 3), 384, 2, "VALID", 1),
    ("Mixed_6a/Branch_1/Conv2d_0a_1x1", [17, 17, 256], (1, 1), 192, 1, "SAME", 1),
    ("Mixed_6a/Branch_1/Conv2d_0b_3x3", [17, 17, 192], (3, 3), 192, 1, "SAME", 1),
    ("Mixed_6a/Branch_1/Conv2d_1a_3x3", [17, 17, 192], (3, 3), 256, 2, "VALID", 1),
    ("block17_1/Conv2d_1x1", [8, 8, 896], (1, 1), 128, 1, "SAME", 2),
    ("block17_1/Conv2d_0b_1x7", [8, 8, 128], (1, 7), 128, 1, "SAME", 1),
    ("block17_1/Conv2d_0c_7x1", [8, 8, 128], (7, 1), 128, 1, "SAME", 1),
    ("block17_1/up_1x1", [8, 8, 256], (1, 1), 896, 1, "SAME", 1),
    ("Mixed_7a/Conv2d_0a_1x1", [8, 8, 896], (1, 1), 256, 1, "SAME", 3),
    ("Mixed_7a/Branch_0/Conv2d_1a_3x3", [8, 8, 256], (3, 3), 384, 2, "VALID", 1),
    ("Mixed_7a/Branch_1/Conv2d_1a_3x3", [8, 8, 256], (3, 3), 256, 2, "VALID", 2),
    ("Mixed_7a/Branch_2/Conv2d_0b_3x3", [8, 8, 256], (3, 3), 256, 1, "SAME", 1),
    ("block8/Conv2d_1x1", [3, 3, 1792], (1, 1), 192, 1, "SAME", 8),
    ("block8/Conv2d_0b_1x3", [3, 3, 192], (1, 3), 192, 1, "SAME", 4),
    ("block8/Conv2d_0c_3x1", [3, 3, 192], (3, 1), 192, 1, "SAME", 4),
    ("block8/up_1x1", [3, 3, 384], (1, 1), 1792, 1, "SAME", 4),
]


def bench_convs(args, results, batch=32):
    conv_bwd = torch.ops.aten.convolution_backward
    g = torch.Generator().manual_seed(0)  # inputs drawn on the CPU, then moved: same on every device
    print(f"per-conv, batch {batch}, GFLOP/s (2*MACs per pass), best of NCHW / channels_last")
    print(f"{'scope':34s} {'fwd':>8s} {'dgrad':>8s} {'wgrad':>8s}  layout(fwd,dgrad,wgrad)")
    for scope, (h, w, ci), (kh, kw), co, s, pad, _uses in CONVS:
        padding = (same_pad(kh), same_pad(kw)) if pad == "SAME" else (0, 0)
        oh, ow = (h, w) if pad == "SAME" else ((h - kh) // s + 1, (w - kw) // s + 1)
        flops = 2 * batch * oh * ow * co * kh * kw * ci
        best = {}
        for fmt in ("NCHW", "channels_last"):
            mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
            x = torch.randn(batch, ci, h, w, generator=g).to(args.device).contiguous(memory_format=mf)
            wt = torch.randn(co, ci, kh, kw, generator=g).to(args.device).contiguous(memory_format=mf)
            y = F.conv2d(x, wt, None, s, padding)
            assert tuple(y.shape) == (batch, co, oh, ow), (scope, y.shape)
            dy = torch.empty_like(y).copy_(torch.randn(y.shape, generator=g))  # y's device and layout
            ops = {
                "fwd": lambda: F.conv2d(x, wt, None, s, padding),
                "dgrad": lambda: conv_bwd(dy, x, wt, None, [s, s], list(padding), [1, 1], False, [0, 0], 1,
                                          [True, False, False]),
                "wgrad": lambda: conv_bwd(dy, x, wt, None, [s, s], list(padding), [1, 1], False, [0, 0], 1,
                                          [False, True, False]),
            }
            for name, fn in ops.items():
                reps = max(3, min(args.conv_reps, int(0.5 / max(flops / 50e9, 1e-4))))
                med, _ = timed(fn, 2, reps, args.device)
                results[f"conv/{scope}/{name}/{fmt}"] = med
                if name not in best or med < best[name][0]:
                    best[name] = (med, fmt)
        for name, (med, fmt) in best.items():
            results[f"conv/{scope}/{name}"] = med
        print(f"{scope:34s} " + " ".join(f"{flops / best[n][0] / 1e9:8.1f}" for n in ("fwd", "dgrad", "wgrad"))
              + "  " + ",".join("CL" if best[n][1] == "channels_last" else "NCHW" for n in ("fwd", "dgrad", "wgrad")),
              flush=True)
        results[f"conv/{scope}/flops"] = flops


def parse_device(ap, name):
    """`cpu`, `cuda` or `cuda:N`, checked up front so a missing GPU is one clear line."""
    try:
        device = torch.device(name)
    except RuntimeError:
        ap.error(f"--device {name}: not a device (cpu, cuda or cuda:N)")
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        ap.error(f"--device {name}: only cpu, cuda and cuda:N are supported")
    if not torch.cuda.is_available():
        ap.error(f"--device {name}: torch.cuda.is_available() is False "
                 f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= count:
        ap.error(f"--device {name}: only {count} CUDA device(s)")
    return torch.device("cuda", index)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu",
                    help="where everything runs: cpu (default), cuda or cuda:N. On CUDA, TF32 is "
                         "disabled (fp32 against fp32) and timings synchronise the device")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--warmup", type=int, default=2,
                    help="untimed runs before each measurement (default 2). On CUDA they also absorb "
                         "lazy CUDA/cuBLAS/cuDNN initialisation and, with --cudnn-benchmark, cuDNN's "
                         "algorithm search: keep at least 1")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--conv-reps", type=int, default=15)
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="CUDA only: set torch.backends.cudnn.benchmark = True (cuDNN times its "
                         "algorithms for each new shape and keeps the fastest; the search happens in "
                         "the warm-up runs). Off by default: cuDNN's heuristics pick")
    ap.add_argument("--convs", action="store_true", help="also time every conv geometry")
    ap.add_argument("--no-model", action="store_true", help="skip the training step and inference")
    ap.add_argument("--json", help="write every median (seconds) to this file; on CUDA also meta/* "
                                   "keys (device, GPU name, TF32, cudnn.benchmark)")
    args = ap.parse_args()
    args.device = parse_device(ap, args.device)
    if args.cudnn_benchmark and args.device.type != "cuda":
        ap.error("--cudnn-benchmark needs --device cuda or cuda:N")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    results = {}
    if args.device.type == "cuda":
        torch.cuda.set_device(args.device)
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 against the engine's fp32 kernels
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        tf32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
        name = torch.cuda.get_device_name(args.device)
        print(f"torch {torch.__version__}, device {args.device} ({name}), CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}, TF32 {'on' if tf32 else 'off'} (matmul, cuDNN), "
              f"cudnn.benchmark {'on' if torch.backends.cudnn.benchmark else 'off'}, "
              f"{torch.get_num_threads()} CPU threads, python {sys.version.split()[0]}", flush=True)
        results.update({"meta/device": str(args.device), "meta/device_name": name,
                        "meta/torch": torch.__version__, "meta/cuda": torch.version.cuda,
                        "meta/cudnn": torch.backends.cudnn.version(), "meta/tf32": tf32,
                        "meta/cudnn_benchmark": torch.backends.cudnn.benchmark})
    else:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn "
              f"{torch.backends.mkldnn.is_available()}, {platform.processor() or platform.machine()}, "
              f"python {sys.version.split()[0]}", flush=True)
    if not args.no_model:
        bench_model(args, results)
    if args.convs:
        bench_convs(args, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
