# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""Where one training step of bench_cnn.py's CNN goes, by layer and by pass; and nnlab vs PyTorch.

Network (both frameworks, same initial weights): bench_cnn.py's
    conv3x3 32 -> ReLU -> maxpool 2 -> conv3x3 64 -> ReLU -> maxpool 2 -> Flatten -> Dense 10
    (softmax cross-entropy), batch 64 of 28x28x1 MNIST digits (random pixels if MNIST is
    missing), Adam lr 1e-3 as in bench_cnn.py (``--optimizer sgd``: plain SGD, lr 0.01).
One training step = forward + loss + backward + optimizer update (loss read back as a float).

Threads are pinned to --threads (threadpoolctl for NumPy's BLAS, nnlab.ops.parallel,
torch.set_num_threads).  The CPU and the BLAS are printed first.  The frameworks alternate for
--rounds rounds of --steps steps on one batch (order rotating, 0.3 s idle before each timing
so the other framework's spinning BLAS / OpenMP threads sleep); we print the median and
min-max samples/s and the ratio nnlab / PyTorch.  Then the breakdown of nnlab's step
(profile_step.py: the batch gather, each layer's forward in ``model.calls`` order with
``layer.cache = call.cache``, the loss, each layer's backward, the L2 terms and the optimizer
step, perf_counter around each; medians over 4 x --steps steps, ms and % of the step), the
share of the machine other processes took meanwhile (/proc/stat), and the top of a cProfile
of --steps nnlab steps.

Run from the repository root:
    python benchmarks/profile_cnn_layers.py [--padding valid|same] [--threads 2] [--rounds 5]
    python benchmarks/profile_cnn_layers.py --quick      # 1 round of 5 steps, no cProfile
"""

from __future__ import annotations

import os

# NumPy is imported below, before nnlab: give OpenBLAS the short idle-thread spin that
# `import nnlab` asks for (see nnlab/__init__.py) before NumPy loads it.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import nnlab
from nnlab import Dense, Flatten, Sequential
from nnlab.layers import Conv2D, MaxPool2D

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks beside this file

from bench_cnn import load_images
from bench_dense import resolve_data
from bench_machine import CpuMeter, blas_info, cpu_info, cpu_line, others_warning, share_text
from profile_step import print_breakdown, step_breakdown

BATCH, H, W, C, CLASSES = 64, 28, 28, 1, 10
LR = {"adam": 1e-3, "sgd": 0.01}


def make_nnlab(padding: str, optimizer: str = "adam"):
    model = Sequential(
        [
            Conv2D(32, 3, padding=padding, activation="relu", kernel_initializer="he"),
            MaxPool2D(2),
            Conv2D(64, 3, padding=padding, activation="relu", kernel_initializer="he"),
            MaxPool2D(2),
            Flatten(),
            Dense(CLASSES, activation="softmax"),
        ],
        input_shape=(H, W, C),
        seed=0,
    )
    opt = (
        nnlab.Adam(learning_rate=LR["adam"])
        if optimizer == "adam"
        else nnlab.training.optimizers.GradientDescent(LR["sgd"])
    )
    model.compile(opt, "sparse_categorical_crossentropy")
    return model


def make_torch(model):
    """The same network in PyTorch (NCHW), with nnlab's initial weights copied in."""
    nn = torch.nn
    pad = 1 if model.layers[0].padding == "same" else 0
    net = nn.Sequential(
        nn.Conv2d(C, 32, 3, padding=pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(model.layers[-1].params["W"].shape[0], CLASSES),
    )
    with torch.no_grad():
        for t_conv, n_conv in ((net[0], model.layers[0]), (net[3], model.layers[2])):
            t_conv.weight.copy_(torch.from_numpy(n_conv.params["W"].transpose(3, 2, 0, 1)))
            t_conv.bias.copy_(torch.from_numpy(n_conv.params["b"]))
        # nnlab flattens (h, w, c), torch (c, h, w): permute the dense rows to match
        dense = model.layers[-1].params["W"]  # (h w c, k)
        hh, ww, cc = model.layers[-2].input_shape
        w_chw = dense.reshape(hh, ww, cc, CLASSES).transpose(2, 0, 1, 3).reshape(-1, CLASSES)
        net[7].weight.copy_(torch.from_numpy(np.ascontiguousarray(w_chw.T)))
        net[7].bias.copy_(torch.from_numpy(model.layers[-1].params["b"]))
    return net


def nnlab_stepper(model, x, y):
    xb = model.prepare_inputs(x, "bench")
    yb = model.prepare_targets(y, x.shape[0], "bench")

    def step():
        return model.train_step(xb, yb)[0]

    return step


def torch_stepper(net, x, y, optimizer: str = "adam"):
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    kind = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = kind(net.parameters(), lr=LR[optimizer])
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def time_steps(step, n, settle=0.0):
    """Mean seconds per step over n steps, after ``settle`` idle seconds: the other
    framework's spinning worker threads (OpenBLAS, OpenMP) go to sleep before we time."""
    time.sleep(settle)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--padding", default="valid", choices=["valid", "same"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--data", help="an mnist.npz path, or 'random' (default: find MNIST)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile")
    parser.add_argument("--quick", action="store_true", help="1 round of 5 steps, no cProfile")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.no_profile = 1, 5, True

    torch.set_num_threads(args.threads)
    spec, desc = resolve_data(args.data)
    x_all, y_all, _, _ = load_images(spec, 16 * BATCH)
    x, y = x_all[:BATCH], y_all[:BATCH]
    model = make_nnlab(args.padding, args.optimizer)
    net = make_torch(model)
    nnlab.ops.parallel.set_num_threads(args.threads)
    cpu, blas = cpu_info(), blas_info()
    print(f"CPU: {cpu_line(cpu)}")
    print(f"BLAS: numpy {blas['numpy']}; torch {blas['torch']}")
    print(f"data: {desc}; optimizer {args.optimizer} (lr {LR[args.optimizer]:g})")
    with threadpool_limits(limits=args.threads):
        steps = {
            "nnlab": nnlab_stepper(model, x, y),
            "torch": torch_stepper(net, x, y, args.optimizer),
        }
        first = {name: step() for name, step in steps.items()}
        print(f"first-step loss: nnlab {first['nnlab']:.6f}  torch {first['torch']:.6f}")
        for step in steps.values():  # warm-up
            time_steps(step, 5)
        samples = {name: [] for name in steps}
        names = list(steps)
        for r in range(args.rounds):
            order = names[r % 2 :] + names[: r % 2]
            for name in order:
                samples[name].append(BATCH / time_steps(steps[name], args.steps, settle=0.3))
        med = {k: statistics.median(v) for k, v in samples.items()}
        print(
            f"padding {args.padding}, {args.threads} threads, batch {BATCH}, {args.rounds} rounds"
        )
        for name, v in samples.items():
            print(
                f"  {name:<6} {med[name]:8.0f} samples/s  "
                f"(min {min(v):.0f}, max {max(v):.0f}; {1e3 * BATCH / med[name]:.2f} ms/step)"
            )
        ratios = [a / b for a, b in zip(samples["nnlab"], samples["torch"], strict=True)]
        print(
            f"  ratio nnlab/torch: {med['nnlab'] / med['torch']:.2f} "
            f"(per-round median {statistics.median(ratios):.2f}, "
            f"min {min(ratios):.2f}, max {max(ratios):.2f})"
        )
        meter = CpuMeter(args.threads)
        meter.start()
        rows, totals = step_breakdown(model, x_all, y_all, BATCH, 4 * args.steps)
        use = meter.stop()
        print_breakdown(
            rows,
            totals,
            f"nnlab per layer and pass, medians over {4 * args.steps} steps ({share_text(use)})",
        )
        print(others_warning(use["others"], cpu["ncpu"]))
        if not args.no_profile:
            profiler = cProfile.Profile()
            profiler.enable()
            time_steps(steps["nnlab"], 2 * args.steps)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
            print("\n".join(out.getvalue().splitlines()[:45]))


if __name__ == "__main__":
    main()
