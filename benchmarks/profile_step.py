"""One nnlab training step broken down by layer and by pass (the profile scripts' helper).

``step_breakdown(model, x, y, batch_size, steps)`` runs ``steps`` training steps of a compiled
nnlab model as ``fit`` runs them (batch gathered with ``np.take`` from a shuffled order, then
forward, loss, backward, L2 terms, optimizer step), but calls each piece itself so that each
can be timed with ``time.perf_counter``:

* forward: every layer call in the model's call order (``model.calls``), each with its
  parents' outputs and ``layer.cache = call.cache`` first, as ``Network.run_calls`` does;
* the loss and its output gradient (``loss_and_output_grads``: fused softmax + cross-entropy
  where the model fuses them);
* backward: every call in reverse order, as ``Network.backward`` does (``_backward_call``:
  the layer's cache set, its input gradients added to its parents'); then the gradients no
  call reached are zeroed (``_finish_gradients``, in "finish gradients");
* the L2 terms (``regularize``) and the optimizer step (``apply_gradients``).

Each row's figure is the median over the steps of its milliseconds, and its share is that
median over the median step time (so the shares need not add up to 100%); "other" is the
median of what the step spent outside the rows (Python glue between them).
``print_breakdown`` prints the table.
"""

from __future__ import annotations

import statistics
import time

import numpy as np


def step_breakdown(model, x, y, batch_size: int, steps: int, warmup: int = 3, seed: int = 0):
    """({row name: [seconds per step]}, [seconds of each whole step]) over ``steps`` steps
    (after ``warmup`` untimed ones) of a compiled model on x, y."""
    xs = model.prepare_inputs(x, "profile")
    if isinstance(xs, list):
        raise ValueError("step_breakdown: one-input models only")
    ys = model.prepare_targets(y, xs.shape[0], "profile")
    multi = len(model.output_positions) > 1
    rng = np.random.default_rng(seed)
    m = xs.shape[0]
    order = rng.permutation(m)
    buf = np.empty((batch_size,) + xs.shape[1:], dtype=xs.dtype)
    names = [model.call_name(p) for p in range(len(model.calls))]
    needs = model._gradient_paths[False]
    rows: dict[str, list[float]] = {}
    totals: list[float] = []

    def add(name, seconds):
        rows.setdefault(name, []).append(seconds)

    clock = time.perf_counter
    start = 0
    for i in range(warmup + steps):
        record = i >= warmup
        if start + batch_size > m:
            order, start = rng.permutation(m), 0
        idx = order[start : start + batch_size]
        start += batch_size
        t_step = t0 = clock()
        xb = np.take(xs, idx, axis=0, out=buf)
        yb = [y_[idx] for y_ in ys] if multi else ys[idx]
        t1 = clock()
        if record:
            add("batch gather (np.take)", t1 - t0)

        # forward, in call order (Network.run_calls)
        model.last_batch_size = batch_size
        values = []
        fwd = []
        for position, call in enumerate(model.calls):
            if call.is_input:
                values.append(xb)
                continue
            layer = call.layer
            t0 = clock()
            layer.cache = call.cache
            args = [values[p] for p in call.parents]
            values.append(layer.forward(args if layer.multi_input else args[0], training=True))
            fwd.append((position, clock() - t0))

        # the loss and dA (or dZ) of the outputs
        t0 = clock()
        outs = [values[p] for p in model.output_positions]
        value, _, out_grads, fused = model.loss_and_output_grads(yb if multi else [yb], outs)
        t_loss = clock() - t0
        if not np.isfinite(value):
            raise RuntimeError(f"step_breakdown: loss became {value}")
        del values, outs

        # backward, in reverse call order (Network.backward)
        grads = model._seed_gradients(out_grads)
        fused_at = {p for p, f in zip(model.output_positions, fused, strict=True) if f}
        bwd = []
        for position in range(len(model.calls) - 1, -1, -1):
            call, grad = model.calls[position], grads[position]
            if call.is_input or grad is None:
                continue
            grads[position] = None
            t0 = clock()
            model._backward_call(call, grad, position in fused_at, needs, grads)
            bwd.append((position, clock() - t0))
        t0 = clock()
        model._finish_gradients()
        t_finish = clock() - t0

        t0 = clock()
        model.regularize(m)
        t_reg = clock() - t0
        t0 = clock()
        model.apply_gradients()
        t_opt = clock() - t0
        step = clock() - t_step
        if not record:
            continue
        for position, seconds in fwd:
            add(f"{names[position]} forward", seconds)
        add("loss (+ output gradient)", t_loss)
        for position, seconds in bwd:
            add(f"{names[position]} backward", seconds)
        add("finish gradients", t_finish)
        add("L2 terms (regularize)", t_reg)
        add(f"optimizer step ({type(model.optimizer).__name__})", t_opt)
        timed = sum(ts[-1] for ts in rows.values())
        add("other (glue between the rows)", max(step - timed, 0.0))
        totals.append(step)
    return rows, totals


def print_breakdown(rows: dict, totals: list, title: str) -> None:
    """The table: ms (median over steps) and % of the median step, per row; then per pass."""
    total = statistics.median(totals)
    print(f"\n{title}")
    print(
        f"  one step: median {total * 1e3:.3f} ms (min {min(totals) * 1e3:.3f}, max "
        f"{max(totals) * 1e3:.3f}) over {len(totals)} steps"
    )
    header = f"  {'row':<40} {'ms':>9} {'% of step':>10}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    passes: dict[str, float] = {}
    for name, ts in rows.items():
        med = statistics.median(ts)
        print(f"  {name:<40} {med * 1e3:9.3f} {100 * med / total:9.1f}%")
        kind = name.rsplit(" ", 1)[-1] if name.endswith(("forward", "backward")) else name
        passes[kind] = passes.get(kind, 0.0) + med
    print("  by pass (sums of the medians above):")
    for kind, seconds in passes.items():
        if kind in ("forward", "backward"):
            label = f"all layers {kind}"
            print(f"    {label:<38} {seconds * 1e3:9.3f} {100 * seconds / total:9.1f}%")
