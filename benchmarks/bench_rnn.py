# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""nnlab against PyTorch (CPU) on recurrent layers: training throughput and peak memory.

What is measured (issue 11)
    A sequence classifier trained with Adam (lr 1e-3): one recurrent layer of 128 units
    (LSTM, or GRU) reading sequences of T = 50 steps of 32 features and returning only its
    last state a<T>, then a dense layer of 10 with softmax cross-entropy, mini-batches of 64.
    The data are fixed random numbers (NOT a real task): x standard normal (n, 50, 32)
    float32 and labels uniform in 0..9, drawn from ``numpy.random.default_rng(0)``;
    ``--n-train`` examples (6,400 = 100 batches; an "epoch" below is one pass over them).
    Two contenders per cell:

    * nnlab: ``Sequential([LSTM(128), Dense(10, activation="softmax")], input_shape=(50, 32),
      seed=0)`` (or ``GRU(128)``, reset_after=True, PyTorch's form), compiled with
      ``Adam(1e-3)`` and "sparse_categorical_crossentropy" (fused softmax + cross-entropy),
      trained by ``fit``;
    * PyTorch: ``nn.LSTM(32, 128, batch_first=True)`` (or ``nn.GRU``) + ``nn.Linear(128, 10)``
      on the last step's output, ``F.cross_entropy``, default ``torch.optim.Adam(lr=1e-3)``,
      with torch.backends.mkldnn as it is by default (whether oneDNN is available is printed,
      and which kernel each layer ran: in PyTorch 2.x on CPU the LSTM takes oneDNN's fused
      RNN when mkldnn is enabled, the GRU has no oneDNN path and runs ATen's own loop).

    PyTorch starts from nnlab's initial weights: W (n_x, G n_a) -> weight_ih = W^T, U ->
    weight_hh = U^T, b -> bias_ih; bias_hh = 0 for the LSTM (one bias in nnlab, its forget
    block at 1), the GRU's second bias b_rec for the GRU; the GRU's gate blocks reordered
    from nnlab's (z, r, h) to PyTorch's (r, z, n) (``tests/layers/test_recurrent.py``'s
    ``copy_to_torch``); the dense W^T, b.  So both see the same first loss, printed for each
    (they should agree to about 1e-6; it is the first training step's loss, on the first
    mini-batch of the warm-up epoch).  Every contender sees the same mini-batches: one
    permutation per epoch from a seeded generator (bench_dense's ``epoch_permutations``).

How
    As ``bench_dense.py`` (whose helpers this imports): threads pinned to ``--threads``
    (threadpoolctl, nnlab's pool, ``torch.set_num_threads``); one untimed warm-up epoch per
    contender, then ``--rounds`` alternating rounds of one epoch (the order rotating, 0.5 s
    idle before each run), median and min-max samples/s over rounds; nnlab's epochs timed
    inside ``fit`` (on_epoch_begin to on_epoch_end).  ``ratio`` is nnlab's median over
    PyTorch's (> 1: nnlab faster), for the LSTM; ``gru_ratio`` for the GRU.  Each round line
    gives this process's CPU share and that of other processes (bench_machine.CpuMeter).
    Peak memory: one fresh subprocess per contender (this script with ``--child NAME``), the
    peak RSS over model construction + one training epoch minus the RSS before it (after
    imports, data and one step of a tiny run that triggers lazy imports).

Run (from the repository root):
    python benchmarks/bench_rnn.py [--threads 2] [--rounds 3] [--n-train 6400]
    python benchmarks/bench_rnn.py --quick      # 1,280 examples, 1 round
    options: --cells lstm,gru, --batch-size N, --no-memory (skip the memory subprocesses)

The last line printed is one JSON object with the figures.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_dense sits beside this file

from bench_dense import (  # noqa: E402
    IDLE_GAP_S,
    LEARNING_RATE,
    SEED,
    NnlabTrainer,
    TorchTrainer,
    _loadavg,
    _reset_peak_rss,
    _round,
    _status_kb,
    cpu_figures,
    environment,
    epoch_permutations,
    pin_threads,
    print_memory_notes,
    summarize,
    time_rounds,
)
from bench_dense import measure_memory as dense_measure_memory  # noqa: E402
from bench_machine import cpu_line, others_max, others_warning  # noqa: E402

N_TRAIN, N_QUICK = 6_400, 1_280
STEPS, FEATURES, UNITS, CLASSES = 50, 32, 128, 10
CELLS = ("lstm", "gru")
CELL_LABEL = {"lstm": "LSTM", "gru": "GRU"}
CONTENDERS = ("nnlab", "torch")
CHILDREN = tuple(f"{c}_{k}" for c in CELLS for k in CONTENDERS)


# --------------------------------------------------------------------------- data


def load_data(n_train: int):
    """x (n, T, n_x) float32 standard normal, y (n,) int64 in 0..9: fixed, seeded."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n_train, STEPS, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, n_train).astype(np.int64)
    return x, y


# --------------------------------------------------------------------------- trainers


def _timer_and_first_loss():
    """An nnlab callback: the seconds from on_epoch_begin to on_epoch_end (summed, as
    bench_dense's EpochTimer), and the loss of the very first training step."""
    from nnlab.training.callbacks import Callback

    class EpochTimer(Callback):
        seconds = 0.0
        first_loss = None

        def on_epoch_begin(self, epoch, info):
            self._start = time.perf_counter()

        def on_batch_end(self, step, logs):
            if self.first_loss is None:  # step 0 of the first epoch: that batch's mean loss
                self.first_loss = float(logs["loss"])

        def on_epoch_end(self, epoch, logs):
            self.seconds += time.perf_counter() - self._start

    return EpochTimer()


class NnlabRNN(NnlabTrainer):
    """LSTM/GRU(128) -> Dense(10, softmax) in nnlab; ``fit`` and its timing inherited."""

    def __init__(self, cell, x, y, batch_size, perms):  # no super(): an RNN, not an MLP
        import nnlab

        self.cell, self.label = cell, f"nnlab {CELL_LABEL[cell]}"
        self.x, self.y, self.batch_size, self.perms = x, y, batch_size, perms
        self.epoch = 0
        recurrent = {"lstm": nnlab.LSTM, "gru": nnlab.GRU}[cell](UNITS)
        self.model = nnlab.Sequential(
            [recurrent, nnlab.Dense(CLASSES, activation="softmax")],
            input_shape=(STEPS, FEATURES),
            seed=SEED,
        )
        self.model.compile(
            nnlab.Adam(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy"
        )
        self.timer = _timer_and_first_loss()
        self.fit_overhead: list[float] = []

    @property
    def first_loss(self):
        return self.timer.first_loss

    def initial_weights(self) -> dict:
        """Copies of the parameters, for PyTorch (call before training)."""
        rnn, dense = self.model.layers[0], self.model.layers[-1]
        weights = {f"rnn_{k}": v.copy() for k, v in rnn.params.items()}
        weights |= {f"dense_{k}": v.copy() for k, v in dense.params.items()}
        return weights


def torch_model(cell: str, weights: dict):
    """nn.LSTM/GRU(32, 128, batch_first) -> last step -> nn.Linear(128, 10), with nnlab's
    initial weights (the mapping of tests/layers/test_recurrent.py's copy_to_torch)."""
    import torch

    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            kind = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = kind(FEATURES, UNITS, batch_first=True)
            self.dense = nn.Linear(UNITS, CLASSES)

        def forward(self, x):
            seq, _ = self.rnn(x)
            return self.dense(seq[:, -1])  # logits; cross_entropy applies softmax

    net = Net()
    n = UNITS
    order = [1, 0, 2] if cell == "gru" else [0, 1, 2, 3]  # nnlab z, r, h -> PyTorch r, z, n

    def blocks(a):
        return np.concatenate([a[..., k * n : (k + 1) * n] for k in order], axis=-1)

    b = weights["rnn_b"]
    b_rec = weights.get("rnn_b_rec", np.zeros_like(b))

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    with torch.no_grad():
        net.rnn.weight_ih_l0.copy_(t(blocks(weights["rnn_W"]).T))
        net.rnn.weight_hh_l0.copy_(t(blocks(weights["rnn_U"]).T))
        net.rnn.bias_ih_l0.copy_(t(blocks(b)))
        net.rnn.bias_hh_l0.copy_(t(blocks(b_rec)))
        net.dense.weight.copy_(t(weights["dense_W"].T))
        net.dense.bias.copy_(t(weights["dense_b"]))
    return net


class TorchRNN(TorchTrainer):
    """The same model in PyTorch, default Adam; bench_dense's loop, first loss kept."""

    def __init__(self, cell, x, y, batch_size, perms, weights):  # no super(): not an MLP
        import torch

        self.torch = torch
        self.cell, self.label = cell, f"torch {CELL_LABEL[cell]}"
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.batch_size, self.perms, self.epoch = batch_size, perms, 0
        self.first_loss = None
        self.model = torch_model(cell, weights)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)

    def train(self, epochs: int) -> float:
        """bench_dense's TorchTrainer.train, keeping the first step's loss."""
        torch, f = self.torch, self.torch.nn.functional
        model, opt, bs = self.model, self.optimizer, self.batch_size
        model.train()
        start = time.perf_counter()
        for _ in range(epochs):
            perm = torch.from_numpy(self.perms(self.epoch))
            m, total = perm.shape[0], 0.0
            for lo in range(0, m, bs):
                idx = perm[lo : lo + bs]
                xb, yb = self.x[idx], self.y[idx]
                opt.zero_grad(set_to_none=True)
                loss = f.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                value = loss.item()
                if self.first_loss is None:
                    self.first_loss = value
                total += value * idx.shape[0]
            if not np.isfinite(total):
                raise RuntimeError(f"{self.label}: loss became {total}")
            self.epoch += 1
        return time.perf_counter() - start


def torch_rnn_kernel(trainer) -> str:
    """Which kernel PyTorch's recurrent layer ran: the autograd graph of one forward on a
    few examples holds MkldnnRnnLayerBackward0 where oneDNN's fused RNN was used."""
    seen, todo, names = set(), [trainer.model(trainer.x[:2]).grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        todo += [nxt for nxt, _ in fn.next_functions]
    if any("mkldnn" in n.lower() for n in names):
        return "oneDNN fused RNN (aten::mkldnn_rnn_layer)"
    return "ATen's own cell-by-cell loop (no oneDNN)"


def make_pair(cell, x, y, batch_size, perms) -> dict:
    """{"nnlab": ..., "torch": ...} for one cell, PyTorch starting from nnlab's weights."""
    nnlab_trainer = NnlabRNN(cell, x, y, batch_size, perms)
    weights = nnlab_trainer.initial_weights()
    return {"nnlab": nnlab_trainer, "torch": TorchRNN(cell, x, y, batch_size, perms, weights)}


# --------------------------------------------------------------------------- memory


def run_child(args) -> None:
    """Subprocess mode: peak extra RSS of one contender over model build + one epoch."""
    cell, kind = args.child.split("_")
    if kind == "torch":
        import torch  # noqa: F401  (imported before the baseline, like nnlab is)
    import nnlab  # noqa: F401

    keeper = pin_threads(args.threads, with_torch=kind == "torch")
    x, y = load_data(args.n_train)
    perms = epoch_permutations(x.shape[0])
    perms(0)
    before_tiny_kb = _status_kb("VmRSS")
    # PyTorch's initial weights come from an nnlab model: made here, before the baseline
    # (an nnlab model of the full size, built from the same seed, so the same weights)
    weights = NnlabRNN(cell, x[:8], y[:8], 8, perms).initial_weights()
    if kind == "nnlab":  # one step of a tiny run: lazy imports, one-off kernel setup
        tiny = NnlabRNN(cell, x[:8], y[:8], 8, epoch_permutations(8))
    else:
        tiny = TorchRNN(cell, x[:8], y[:8], 8, epoch_permutations(8), weights)
    tiny.train(1)
    del tiny
    baseline_kb = _status_kb("VmRSS")
    reset = _reset_peak_rss()
    if kind == "nnlab":
        trainer = NnlabRNN(cell, x, y, args.batch_size, perms)
    else:
        trainer = TorchRNN(cell, x, y, args.batch_size, perms, weights)
    trainer.train(1)
    peak_kb = _status_kb("VmHWM")
    del keeper
    method = (
        "peak RSS (VmHWM, reset via /proc/self/clear_refs) over model construction + one "
        "training epoch, minus the RSS before it (after imports, data and one step of a tiny "
        "run that triggers lazy imports)"
        if reset
        else "peak RSS (VmHWM) over model construction + one epoch minus RSS after imports "
        "and data (peak not resettable here: a loading peak may hide part of it)"
    )
    print(
        json.dumps(
            {
                "child": args.child,
                "label": trainer.label,
                "peak_mb": max(peak_kb - baseline_kb, 0) / 1024,
                "baseline_mb": baseline_kb / 1024,
                "lazy_import_mb": (baseline_kb - before_tiny_kb) / 1024,
                "method": method,
            }
        )
    )


def measure_memory(args, names) -> dict:
    """{name: child report}, one fresh subprocess per contender (bench_dense's helper)."""
    return dense_measure_memory(args, "random", names, script=__file__)


# --------------------------------------------------------------------------- report


def print_header(args, m: int, env: dict) -> None:
    import torch

    print("RNN benchmark: nnlab vs PyTorch CPU (training)")
    print(
        f"  model: {CELL_LABEL[args.cells[0]]}"
        + "".join(f"/{CELL_LABEL[c]}" for c in args.cells[1:])
        + f"({UNITS}) over T={STEPS} steps of {FEATURES} features, last state only -> dense "
        f"{CLASSES}, softmax cross-entropy, Adam lr {LEARNING_RATE:g}, batch {args.batch_size}"
    )
    print(
        f"  data: RANDOM (fixed, seeded: default_rng({SEED}); x standard normal, labels "
        f"uniform 0..{CLASSES - 1}); {m:,} training examples per epoch"
    )
    print(f"  CPU: {cpu_line(env['cpu'])}")
    print(f"  BLAS: numpy {env['blas']['numpy']}; torch {env['blas']['torch']}")
    print(
        f"  threads: {args.threads} (threadpoolctl + torch.set_num_threads); "
        f"{env['ncpu']} CPUs, load average {env['loadavg']}; python {env['python']}, "
        f"numpy {env['numpy']}, torch {env['torch']}"
    )
    for p in env["threadpools"]:
        print(
            f"  threadpool: {p['user_api']:<6} {p['internal_api']:<9} {p['version'] or '?':<14}"
            f" threads {p['num_threads']}  ({p['library']})"
        )
    print(
        f"  torch: BLAS_INFO={env['torch_blas']}; torch.backends.mkldnn.is_available() = "
        f"{torch.backends.mkldnn.is_available()}, enabled = {torch.backends.mkldnn.enabled} "
        "(left as is)"
    )
    print(
        f"  PyTorch starts from nnlab's initial weights; {args.rounds} round(s) of 1 epoch "
        "after 1 warm-up epoch each; the order rotates each round"
    )


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'framework':<16} {'samples/s median':>17} {'min-max':>17} {'nnlab/torch':>11} "
        f"{'peak MB':>8} {'first loss':>12}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        s = row["stats"]
        spread = f"{s['min']:,.0f}-{s['max']:,.0f}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        peak = "n/a" if row["peak_mb"] is None else f"{row['peak_mb']:.1f}"
        print(
            f"{row['label']:<16} {s['median']:>17,.0f} {spread:>17} {ratio:>11} {peak:>8} "
            f"{row['first_loss']:>12.8f}"
        )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads (2)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (64)")
    parser.add_argument(
        "--n-train", type=int, default=None, help="training examples (6,400; --quick 1,280)"
    )
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated: lstm,gru")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1,280 examples, 1 round")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    parser.add_argument("--data", default="random", help=argparse.SUPPRESS)  # measure_memory's
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.n_train = 1, args.n_train or N_QUICK
    args.n_train = args.n_train or N_TRAIN
    args.cells = [c.strip().lower() for c in args.cells.split(",") if c.strip()]
    if not args.cells or any(c not in CELLS for c in args.cells):
        parser.error(f"--cells: a comma-separated list of {', '.join(CELLS)}")
    if min(args.threads, args.rounds, args.batch_size, args.n_train) < 1:
        parser.error("--threads, --rounds, --batch-size, --n-train must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0

    started = time.perf_counter()
    import torch  # noqa: F401  (loaded before pinning, so that its pools are pinned too)

    keeper = pin_threads(args.threads, with_torch=True)
    x, y = load_data(args.n_train)
    m = x.shape[0]
    env = environment(args.threads)
    print_header(args, m, env)

    perms = epoch_permutations(m)
    res: dict = {}
    all_runs = []
    for cell in args.cells:
        print(f"\n{CELL_LABEL[cell]}")
        trainers = make_pair(cell, x, y, args.batch_size, perms)
        rates, cpu = time_rounds(trainers, args.rounds, 1, m, args.threads)
        stats = {name: summarize(r) for name, r in rates.items()}
        first = {name: t.first_loss for name, t in trainers.items()}
        overhead = 1000 * statistics.median(trainers["nnlab"].fit_overhead)
        kernel = torch_rnn_kernel(trainers["torch"])
        res[cell] = {
            "rates": rates,
            "cpu": cpu,
            "stats": stats,
            "ratio": stats["nnlab"]["median"] / stats["torch"]["median"],
            "first_loss": first,
            "labels": {name: t.label for name, t in trainers.items()},
            "fit_overhead_ms": overhead,
            "torch_kernel": kernel,
        }
        all_runs += [run for v in cpu.values() for run in v]
        del trainers
        time.sleep(IDLE_GAP_S)

    names = [] if args.no_memory else [f"{c}_{k}" for c in args.cells for k in CONTENDERS]
    memory = measure_memory(args, names) if names else {}

    print(f"\ntraining (one epoch = the same {m:,} examples, batch {args.batch_size})")
    for cell in args.cells:
        r = res[cell]
        r["peak"] = {k: memory.get(f"{cell}_{k}", {}).get("peak_mb") for k in CONTENDERS}
        print_table(
            [
                {
                    "label": r["labels"][k],
                    "stats": r["stats"][k],
                    "ratio": r["ratio"] if k == "torch" else None,
                    "peak_mb": r["peak"][k],
                    "first_loss": r["first_loss"][k],
                }
                for k in CONTENDERS
            ]
        )
        paired = ", ".join(
            f"{a / b:.2f}" for a, b in zip(r["rates"]["nnlab"], r["rates"]["torch"], strict=True)
        )
        diff = abs(r["first_loss"]["nnlab"] - r["first_loss"]["torch"])
        print(
            f"  {CELL_LABEL[cell]}: nnlab/torch = {r['ratio']:.3f} (> 1: nnlab faster); "
            f"per round: {paired}; first-step loss nnlab {r['first_loss']['nnlab']:.8f}, torch "
            f"{r['first_loss']['torch']:.8f}, |diff| {diff:.1e}; nnlab fit() overhead outside "
            f"the timed epochs {r['fit_overhead_ms']:.1f} ms"
        )
        print(f"  torch {CELL_LABEL[cell]} kernel: {r['torch_kernel']}")
    print_memory_notes(memory)
    cpu_share_min = min(run["own"] for run in all_runs)
    others_share_max = others_max(all_runs)
    print(f"  lowest own CPU share of a timed run: {cpu_share_min:.0%} of {args.threads} threads")
    print(others_warning(others_share_max, env["cpu"]["ncpu"]))
    runtime = time.perf_counter() - started
    print(f"  runtime {runtime:.1f} s")
    del keeper
    print(json.dumps(figures_json(args, m, env, res, cpu_share_min, others_share_max, runtime)))
    return 0


def figures_json(args, m, env, res, cpu_share_min, others_share_max, runtime) -> dict:
    """The JSON object of the last line."""
    figures: dict = {
        "benchmark": "rnn",
        "ratio": _round(res["lstm"]["ratio"], 3) if "lstm" in res else None,
        "gru_ratio": _round(res["gru"]["ratio"], 3) if "gru" in res else None,
    }
    for cell, r in res.items():
        for k in CONTENDERS:
            s = r["stats"][k]
            figures[f"{cell}_{k}_samples_per_s"] = _round(s["median"])
            figures[f"{cell}_{k}_samples_per_s_min"] = _round(s["min"])
            figures[f"{cell}_{k}_samples_per_s_max"] = _round(s["max"])
            figures[f"{cell}_{k}_samples_per_s_rounds"] = [_round(v) for v in r["rates"][k]]
            figures[f"{cell}_{k}_peak_mb"] = _round(r["peak"][k])
            figures[f"{cell}_{k}_first_loss"] = r["first_loss"][k]
        figures[f"{cell}_torch_kernel"] = r["torch_kernel"]
        figures |= cpu_figures({f"{cell}_{k}": v for k, v in r["cpu"].items()})
    figures |= {
        "cpu": env["cpu"],
        "blas": env["blas"],
        "threads": args.threads,
        "rounds": args.rounds,
        "cells": args.cells,
        "batch_size": args.batch_size,
        "n_train": m,
        "steps": STEPS,
        "features": FEATURES,
        "units": UNITS,
        "data": "random",
        "numpy": env["numpy"],
        "torch": env["torch"],
        "torch_blas": env["torch_blas"],
        "torch_mkldnn_available": env["torch_onednn"],
        "cpu_share_min": round(cpu_share_min, 2),
        "others_share_max": _round(others_share_max, 2),
        "loadavg_start": env["loadavg"],
        "loadavg_end": _loadavg(),
        "runtime_s": round(runtime, 1),
    }
    return figures


if __name__ == "__main__":
    sys.exit(main())
