# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""nnlab against PyTorch (CPU) on a dense MLP: training throughput and peak memory.

What is measured
    An MLP 784-256-128-10 (ReLU, softmax cross-entropy) trained with Adam (lr 1e-3) on
    mini-batches of 128 for one epoch of the 60,000 MNIST training images
    (``nnlab.data.load_mnist()``, else the project's ``shared/data/mnist.npz``, else random
    data of the same shape, which the output then says).  Three trainers run the same work:

    * nnlab: ``Sequential.fit`` (fused softmax + cross-entropy, flat-buffer Adam);
    * PyTorch with the default ``torch.optim.Adam``;
    * PyTorch with ``Adam(fused=True)`` (``foreach=True`` if fused fails on CPU; labelled).

    Every trainer sees the same shuffled mini-batches: one permutation per epoch, drawn from
    a seeded generator, and each batch gathered from a pre-made float32 array by indexing
    with its slice of the permutation (nnlab's ``fit`` does ``take``, PyTorch indexes the
    tensor).  Each step computes the loss (read back as a Python float on both sides), its
    gradients, and an optimizer step.

How
    BLAS threads are pinned to ``--threads`` (default 2) with threadpoolctl (NumPy's
    OpenBLAS and every other pool it sees) and ``torch.set_num_threads``.  After one
    untimed warm-up epoch per trainer, the trainers alternate for ``--rounds`` rounds (the
    order rotates each round, with ``IDLE_GAP_S`` of idle before each run so that the last
    trainer's spinning BLAS/OpenMP threads do not slow the next one), each timing ``--epochs-per-round`` epochs; we report the
    median and min-max samples/s over rounds.  The ratio is nnlab's median over the other's
    median (> 1: nnlab faster); the headline ``ratio`` is against default Adam,
    ``ratio_vs_fused`` against ``Adam(fused=True)``.  The header names the CPU (model, vendor,
    AVX-512/AMX flags) and the BLAS of NumPy and PyTorch.  Each round line shows, per run,
    this process's own CPU share (CPU time / (wall x threads)) and the share of the machine
    that *other* processes took (from /proc/stat's system-wide idle time: busy = wall x CPUs
    - idle - iowait, others = busy - own CPU time, over wall x CPUs; see bench_machine.py);
    when others took more than 10% during a timed run, the output warns.  A low own share
    alone is no warning: nnlab's single-threaded passes use one of the cores.  nnlab's epochs are timed
    inside ``fit`` (``on_epoch_begin`` to ``on_epoch_end``); what ``fit`` spends outside its
    epochs (input validation, once per call) is printed apart.  The test accuracy of each
    trained model is printed to show the work is real.

    Peak memory is measured in a fresh subprocess per trainer (this script with
    ``--child NAME``), so the frameworks do not pollute each other: the peak resident set
    (VmHWM, reset with ``/proc/self/clear_refs`` once imports and data loading are done)
    over model construction plus one training epoch, minus the resident set at that point.
    Each child first runs one step of a tiny model, so that lazy imports (PyTorch loads some
    800 modules, ~80 MB, at its first default-Adam step) count as imports, not as training;
    their size is printed.  Where the peak cannot be reset, the peak RSS minus the same
    baseline is used (and said).

Run (from the repository root):
    PYTHONPATH=src python benchmarks/bench_dense.py [--threads 2] [--rounds 3]
    PYTHONPATH=src python benchmarks/bench_dense.py --quick      # 10,000 examples, 1 round
    options: --epochs-per-round N, --batch-size N, --n-train N, --data PATH|random,
    --no-memory (skip the memory subprocesses)

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import os

# NumPy is imported below, before nnlab: give OpenBLAS the short idle-thread spin that
# `import nnlab` asks for (see nnlab/__init__.py) before NumPy loads it.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse
import json
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_machine import (
    CpuMeter,
    blas_info,
    cpu_info,
    cpu_line,
    others_max,
    others_warning,
    share_text,
)
from threadpoolctl import threadpool_info, threadpool_limits

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist.npz"
N_TRAIN, N_TEST, N_QUICK = 60_000, 10_000, 10_000
LAYERS = (784, 256, 128, 10)
LEARNING_RATE = 1e-3
TRAINERS = ("nnlab", "torch", "torch_fused")
SEED = 0
#: Seconds of idle before each timed run: OpenBLAS' idle threads spin ~0.1 s after a GEMM
#: (torch's OpenMP threads spin too) and would otherwise slow the next contender.
IDLE_GAP_S = 0.5


# --------------------------------------------------------------------------- data


def resolve_data(requested: str | None) -> tuple[str, str]:
    """(spec, description): spec is an ``.npz`` path or ``"random"``, for load_data()."""
    if requested == "random":
        return "random", "RANDOM DATA (as asked; accuracies are meaningless)"
    if requested:
        return requested, requested
    from nnlab.data import DatasetNotFoundError, find_mnist

    try:
        path = str(find_mnist())
        return path, f"MNIST ({path})"
    except DatasetNotFoundError:
        pass
    if SHARED_MNIST.is_file():
        return str(SHARED_MNIST), f"MNIST ({SHARED_MNIST})"
    return "random", "RANDOM DATA (MNIST not found; accuracies are meaningless)"


def load_data(spec: str, n_train: int):
    """x_train (n_train, 784) float32, y_train int64, x_test, y_test: MNIST or random."""
    if spec == "random":
        rng = np.random.default_rng(SEED)
        x_train = rng.random((n_train, LAYERS[0]), dtype=np.float32)
        x_test = rng.random((N_TEST, LAYERS[0]), dtype=np.float32)
        y_train = rng.integers(0, LAYERS[-1], n_train)
        y_test = rng.integers(0, LAYERS[-1], N_TEST)
        return x_train, y_train, x_test, y_test
    from nnlab.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(spec)
    x_train = np.ascontiguousarray(x_train[:n_train], dtype=np.float32)
    return x_train, y_train[:n_train].astype(np.int64), x_test, y_test.astype(np.int64)


def epoch_permutations(m: int):
    """The permutation of each epoch (0, 1, ...), the same for every trainer."""
    rng = np.random.default_rng(SEED)
    perms: list[np.ndarray] = []

    def get(epoch: int) -> np.ndarray:
        while len(perms) <= epoch:
            perms.append(rng.permutation(m))
        return perms[epoch]

    return get


# --------------------------------------------------------------------------- trainers


class NnlabTrainer:
    """nnlab Sequential trained by ``fit``; epochs timed by a callback inside fit."""

    label = "nnlab"

    def __init__(self, x, y, batch_size, perms, layers=LAYERS):
        import nnlab

        self.x, self.y, self.batch_size, self.perms = x, y, batch_size, perms
        self.epoch = 0
        hidden = [nnlab.Dense(n, activation="relu", kernel_initializer="he") for n in layers[1:-1]]
        self.model = nnlab.Sequential(
            [*hidden, nnlab.Dense(layers[-1], activation="softmax")],
            input_shape=(layers[0],),
            seed=SEED,
        )
        self.model.compile(
            nnlab.Adam(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy"
        )
        self.timer = _epoch_timer()
        self.fit_overhead: list[float] = []

    def train(self, epochs: int) -> float:
        """Train ``epochs`` epochs; return the seconds spent inside them."""
        first = self.epoch
        self.timer.seconds = 0.0
        start = time.perf_counter()
        history = self.model.fit(
            self.x,
            self.y,
            epochs=epochs,
            batch_size=self.batch_size,
            shuffle=lambda e, m: self.perms(first + e),
            callbacks=[self.timer],
            verbose=0,
        )
        wall = time.perf_counter() - start
        if history.stop_reason:
            raise RuntimeError(f"nnlab: {history.stop_reason}")
        self.epoch += epochs
        self.fit_overhead.append(wall - self.timer.seconds)
        return self.timer.seconds

    def accuracy(self, x, y) -> float:
        return float(np.mean(self.model.predict(x).argmax(axis=1) == y))


def _epoch_timer():
    """An nnlab callback summing the seconds from on_epoch_begin to on_epoch_end."""
    from nnlab.training.callbacks import Callback

    class EpochTimer(Callback):
        seconds = 0.0

        def on_epoch_begin(self, epoch, info):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs):
            self.seconds += time.perf_counter() - self._start

    return EpochTimer()


def torch_fused_mode() -> str:
    """'fused' if ``Adam(fused=True)`` steps on CPU here, else 'foreach'."""
    import torch

    try:
        p = torch.nn.Parameter(torch.ones(4))
        opt = torch.optim.Adam([p], lr=LEARNING_RATE, fused=True)
        p.grad = torch.ones(4)
        opt.step()
        return "fused"
    except (RuntimeError, TypeError, ValueError):
        return "foreach"


class TorchTrainer:
    """The same MLP in PyTorch; Adam default, fused=True or foreach=True."""

    def __init__(self, x, y, batch_size, perms, mode="default", layers=LAYERS):
        import torch

        self.torch = torch
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.batch_size, self.perms, self.epoch = batch_size, perms, 0
        self.label = {
            "default": "torch Adam (default)",
            "fused": "torch Adam(fused=True)",
            "foreach": "torch Adam(foreach=True)",
        }[mode]
        torch.manual_seed(SEED)
        nn = torch.nn
        modules = []
        for n_in, n_out in zip(layers[:-1], layers[1:], strict=True):
            modules += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.model = nn.Sequential(*modules[:-1])  # logits; cross_entropy applies softmax
        options = {"fused": {"fused": True}, "foreach": {"foreach": True}}.get(mode, {})
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE, **options)

    def train(self, epochs: int) -> float:
        """Train ``epochs`` epochs; return the seconds spent."""
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
                total += loss.item() * idx.shape[0]
            if not np.isfinite(total):
                raise RuntimeError(f"{self.label}: loss became {total}")
            self.epoch += 1
        return time.perf_counter() - start

    def accuracy(self, x, y) -> float:
        with self.torch.no_grad():
            self.model.eval()
            pred = self.model(self.torch.from_numpy(x)).argmax(dim=1).numpy()
        return float(np.mean(pred == y))


def make_trainer(name, x, y, batch_size, perms, fused_mode="fused", layers=LAYERS):
    """The trainer called ``name`` (one of TRAINERS)."""
    if name == "nnlab":
        return NnlabTrainer(x, y, batch_size, perms, layers)
    mode = "default" if name == "torch" else fused_mode
    return TorchTrainer(x, y, batch_size, perms, mode, layers)


def pin_threads(n: int, with_torch: bool):
    """Pin torch's intra-op threads, nnlab's batch-pass threads and every BLAS/OpenMP pool
    threadpoolctl sees to n."""
    from nnlab.ops import parallel

    parallel.set_num_threads(n)
    if with_torch:
        import torch

        torch.set_num_threads(n)
    return threadpool_limits(n)


# --------------------------------------------------------------------------- memory


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    hwm, rss = _status_kb("VmHWM"), _status_kb("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024


def warm_up_tiny(name: str, fused_mode: str) -> None:
    """One training step of a tiny model, to trigger lazy imports and one-off setup.

    PyTorch imports some 800 modules (about 80 MB) at its first optimizer step; that is
    import cost, not training memory, so the memory children pay it before the baseline.
    """
    rng = np.random.default_rng(SEED)
    x, y = rng.random((8, 4), dtype=np.float32), rng.integers(0, 2, 8)
    make_trainer(name, x, y, 8, epoch_permutations(8), fused_mode, layers=(4, 2)).train(1)


def run_child(args) -> None:
    """Subprocess mode: peak extra RSS of one trainer over model build + one epoch."""
    name = args.child
    if name != "nnlab":
        import torch  # noqa: F401  (imported before the baseline, like nnlab is)
    import nnlab  # noqa: F401

    keeper = pin_threads(args.threads, with_torch=name != "nnlab")
    x, y, _, _ = load_data(args.data, args.n_train)
    perms = epoch_permutations(x.shape[0])
    perms(0)
    before_tiny_kb = _status_kb("VmRSS")
    fused_mode = torch_fused_mode() if name == "torch_fused" else "fused"
    warm_up_tiny(name, fused_mode)
    baseline_kb = _status_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = _reset_peak_rss()
    trainer = make_trainer(name, x, y, args.batch_size, perms, fused_mode)
    trainer.train(1)
    # VmHWM is this process's own peak; ru_maxrss can also hold the peak of the process
    # image that exec replaced (with vfork, the parent's), so it is only the fallback.
    peak_kb = _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    method = (
        "peak RSS (VmHWM, reset via /proc/self/clear_refs) over model construction + one "
        "training epoch, minus the RSS before it (after imports, data loading and one step "
        "of a tiny model that triggers lazy imports)"
        if reset
        else "peak RSS (VmHWM or ru_maxrss) minus RSS after imports and data loading "
        "(peak not resettable here: a loading peak may hide part of the training peak)"
    )
    del keeper
    lazy_mb = None if before_tiny_kb is None else (baseline_kb - before_tiny_kb) / 1024
    print(
        json.dumps(
            {
                "child": name,
                "label": trainer.label,
                "peak_mb": max(peak_kb - baseline_kb, 0) / 1024,
                "baseline_mb": baseline_kb / 1024,
                "lazy_import_mb": lazy_mb,
                "method": method,
            }
        )
    )


def measure_memory(args, data_spec: str, names=TRAINERS, script=__file__, extra=()) -> dict:
    """{name: child report} from one fresh subprocess per contender: ``script --child
    NAME`` with the common options and ``extra`` ones."""
    results = {}
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for name in names:
        cmd = [sys.executable, str(Path(script).resolve()), "--child", name]
        cmd += ["--threads", str(args.threads), "--data", data_spec]
        cmd += ["--n-train", str(args.n_train), "--batch-size", str(args.batch_size), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            results[name] = {"peak_mb": None, "error": tail[0], "method": "failed"}
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


# --------------------------------------------------------------------------- timing


def time_rounds(trainers: dict, rounds: int, epochs_per_round: int, m: int, threads: int):
    """One warm-up epoch each, then alternate; ({name: [samples/s]}, {name: [cpu use]}).

    The CPU use of a run is a ``CpuMeter.stop()`` dict: ``own``, this process's CPU time
    over (wall x threads), and ``others``, the share of the whole machine that other
    processes took during the run (from /proc/stat).
    """
    for trainer in trainers.values():
        trainer.train(1)
    names = list(trainers)
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[dict]] = {name: [] for name in names}
    meter = CpuMeter(threads)
    print(
        f"  own = this process's CPU time / (wall x {threads} threads); others = other "
        f"processes' CPU time / (wall x {meter.ncpu} CPUs), from /proc/stat"
    )
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            time.sleep(IDLE_GAP_S)  # the last contender's idle BLAS/OpenMP threads stop spinning
            meter.start()
            seconds = trainers[name].train(epochs_per_round)
            cpu[name].append(meter.stop())
            rates[name].append(m * epochs_per_round / seconds)
        line = "  ".join(
            f"{trainers[n].label} {_rate_text(rates[n][-1])}/s ({share_text(cpu[n][-1])})"
            for n in names
        )
        print(f"round {r + 1}/{rounds}: {line}", flush=True)
    return rates, cpu


def _rate_text(rate: float) -> str:
    """A throughput for a round line: whole numbers, or 2 decimals below 100 (VGG16)."""
    return f"{rate:>7,.0f}" if rate >= 100 else f"{rate:>7.2f}"


def cpu_figures(cpu: dict, digits: int = 2) -> dict:
    """JSON figures of time_rounds' CPU use: per contender the own and others' shares of
    each round, and the lowest own / highest others' share over all runs."""
    figures = {}
    for name, runs in cpu.items():
        figures[f"{name}_cpu_own_rounds"] = [round(r["own"], digits) for r in runs]
        figures[f"{name}_cpu_others_rounds"] = [_round(r["others"], digits) for r in runs]
    return figures


# --------------------------------------------------------------------------- report


def environment(threads: int) -> dict:
    """Versions, thread pools and BLAS of this process."""
    import torch

    pools = [
        {
            "user_api": p.get("user_api"),
            "internal_api": p.get("internal_api"),
            "version": p.get("version"),
            "num_threads": p.get("num_threads"),
            "library": Path(p.get("filepath", "")).name,
        }
        for p in threadpool_info()
    ]
    blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return {
        "cpu": cpu_info(),
        "blas": blas_info(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_blas": blas.group(1) if blas else "?",
        "torch_onednn": torch.backends.mkldnn.is_available(),
        "torch_threads": torch.get_num_threads(),
        "threads": threads,
        "ncpu": os.cpu_count(),
        "loadavg": _loadavg(),
        "threadpools": pools,
    }


def summarize(rates: list[float]) -> dict:
    """Median, min and max of a list of samples/s."""
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def print_header(args, data_desc: str, m: int, env: dict, fused_mode: str) -> None:
    print("dense MLP benchmark: nnlab vs PyTorch CPU")
    print(
        f"  model {'-'.join(map(str, LAYERS))} ReLU, softmax cross-entropy, Adam lr "
        f"{LEARNING_RATE:g}, batch {args.batch_size}"
    )
    print(f"  data: {data_desc}; {m:,} training examples per epoch")
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
        f"  torch: BLAS_INFO={env['torch_blas']} (linked into torch, not seen by threadpoolctl),"
        f" oneDNN {'available' if env['torch_onednn'] else 'not available'}"
    )
    if fused_mode != "fused":
        print("  note: Adam(fused=True) failed on CPU; using Adam(foreach=True) instead")
    print(
        f"  {args.rounds} round(s) of {args.epochs_per_round} epoch(s) after 1 warm-up "
        "epoch each; the order rotates each round"
    )


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'framework':<26} {'samples/s median':>17} {'min-max':>19} "
        f"{'nnlab/this':>10} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        s = row["stats"]
        spread = f"{s['min']:,.0f}-{s['max']:,.0f}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        peak = "n/a" if row["peak_mb"] is None else f"{row['peak_mb']:.1f}"
        print(f"{row['label']:<26} {s['median']:>17,.0f} {spread:>19} {ratio:>10} {peak:>8}")


def print_memory_notes(memory: dict) -> None:
    if not memory:
        print("  peak memory: skipped (--no-memory)")
        return
    method = next((r["method"] for r in memory.values() if r.get("peak_mb") is not None), None)
    print(f"  peak MB (2^20 bytes), one fresh subprocess per framework: {method}")
    for name, report in memory.items():
        if report.get("peak_mb") is None:
            print(f"  peak memory of {name} failed: {report.get('error')}")
        elif report.get("lazy_import_mb") is not None:
            print(
                f"    {report['label']}: RSS {report['baseline_mb']:.0f} MB before; the tiny "
                f"warm-up step (lazy imports) had added {report['lazy_import_mb']:.1f} MB"
            )


def print_accuracy(trainers: dict, accuracy: dict, epochs: int, m: int, random: bool) -> None:
    sane_at = 0.95 if m >= N_TRAIN else 0.90
    for name, trainer in trainers.items():
        if random:
            verdict = "random data: not checked"
        else:
            verdict = "ok" if accuracy[name] > sane_at else f"LOW, expected > {sane_at}"
        print(
            f"  test accuracy after {epochs} epochs, {trainer.label}: "
            f"{accuracy[name]:.4f} ({verdict})"
        )


def _round(x, nd=1):
    return None if x is None else round(x, nd)


def figures_json(args, res: dict) -> dict:
    """The JSON object of the last line, from main()'s results."""
    stats, rates = res["stats"], res["rates"]
    figures = {
        "benchmark": "dense_mlp",
        "threads": args.threads,
        "rounds": args.rounds,
        "epochs_per_round": args.epochs_per_round,
        "batch_size": args.batch_size,
        "n_train": res["m"],
        "data": "random" if res["data_spec"] == "random" else "mnist",
    }
    for name in TRAINERS:
        figures[f"{name}_samples_per_s"] = _round(stats[name]["median"])
        figures[f"{name}_samples_per_s_min"] = _round(stats[name]["min"])
        figures[f"{name}_samples_per_s_max"] = _round(stats[name]["max"])
        figures[f"{name}_samples_per_s_rounds"] = [_round(r) for r in rates[name]]
    figures["torch_fused_mode"] = res["fused_mode"]
    figures["ratio"] = _round(res["ratio"]["torch"], 3)
    figures["ratio_vs_fused"] = _round(res["ratio"]["torch_fused"], 3)
    for name in TRAINERS:
        figures[f"{name}_peak_mb"] = _round(res["peak"][name])
    for name in TRAINERS:
        figures[f"{name}_test_accuracy"] = round(res["accuracy"][name], 4)
    env = res["env"]
    figures |= {
        "cpu": env["cpu"],
        "blas": env["blas"],
        "numpy": env["numpy"],
        "torch": env["torch"],
        "threadpools": [
            f"{p['user_api']}:{p['internal_api']} {p['version'] or '?'}" for p in env["threadpools"]
        ],
        "torch_blas": env["torch_blas"],
        "cpu_share_min": round(res["cpu_share_min"], 2),
        "others_share_max": _round(res["others_share_max"], 2),
        **cpu_figures(res["cpu"]),
        "loadavg_start": env["loadavg"],
        "loadavg_end": _loadavg(),
        "runtime_s": round(res["runtime"], 1),
    }
    return figures


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads (2)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--epochs-per-round", type=int, default=1, help="epochs per round (1)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size (128)")
    parser.add_argument(
        "--n-train", type=int, default=None, help="training examples (60,000; --quick 10,000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 10,000 examples, 1 round")
    parser.add_argument("--data", help="an mnist.npz path, or 'random' (default: find MNIST)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--child", choices=TRAINERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.n_train = 1, args.n_train or N_QUICK
    args.n_train = args.n_train or N_TRAIN
    if min(args.threads, args.rounds, args.epochs_per_round, args.batch_size, args.n_train) < 1:
        parser.error(
            "--threads, --rounds, --epochs-per-round, --batch-size, --n-train must be >= 1"
        )
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0

    started = time.perf_counter()
    import torch  # noqa: F401  (loaded before pinning, so that its pools are pinned too)

    keeper = pin_threads(args.threads, with_torch=True)
    data_spec, data_desc = resolve_data(args.data)
    x, y, x_test, y_test = load_data(data_spec, args.n_train)
    m = x.shape[0]
    fused_mode = torch_fused_mode()
    env = environment(args.threads)
    print_header(args, data_desc, m, env, fused_mode)

    perms = epoch_permutations(m)
    trainers = {
        name: make_trainer(name, x, y, args.batch_size, perms, fused_mode) for name in TRAINERS
    }
    rates, cpu = time_rounds(trainers, args.rounds, args.epochs_per_round, m, args.threads)
    stats = {name: summarize(r) for name, r in rates.items()}
    ratio = {n: stats["nnlab"]["median"] / stats[n]["median"] for n in ("torch", "torch_fused")}
    accuracy = {name: t.accuracy(x_test, y_test) for name, t in trainers.items()}
    memory = {} if args.no_memory else measure_memory(args, data_spec)
    peak = {name: memory.get(name, {}).get("peak_mb") for name in TRAINERS}

    print()
    print_table(
        [
            {"label": t.label, "stats": stats[n], "ratio": ratio.get(n), "peak_mb": peak[n]}
            for n, t in trainers.items()
        ]
    )
    paired = ", ".join(f"{a / b:.2f}" for a, b in zip(rates["nnlab"], rates["torch"], strict=True))
    print(
        f"  nnlab/this = nnlab's median samples/s over this one's (> 1: nnlab faster); "
        f"{args.threads} threads; per-round nnlab/torch-default: {paired}"
    )
    print_memory_notes(memory)
    overhead_ms = 1000 * statistics.median(trainers["nnlab"].fit_overhead)
    print(f"  nnlab fit() per-call overhead outside the timed epochs: {overhead_ms:.1f} ms")
    epochs = 1 + args.rounds * args.epochs_per_round
    print_accuracy(trainers, accuracy, epochs, m, data_spec == "random")
    runs = [run for v in cpu.values() for run in v]
    cpu_share_min = min(run["own"] for run in runs)
    others_share_max = others_max(runs)
    print(f"  lowest own CPU share of a timed run: {cpu_share_min:.0%} of {args.threads} threads")
    print(others_warning(others_share_max, env["cpu"]["ncpu"]))
    runtime = time.perf_counter() - started
    print(f"  runtime {runtime:.1f} s")
    del keeper
    results = {
        "m": m,
        "data_spec": data_spec,
        "env": env,
        "fused_mode": fused_mode,
        "rates": rates,
        "stats": stats,
        "ratio": ratio,
        "peak": peak,
        "accuracy": accuracy,
        "runtime": runtime,
        "cpu_share_min": cpu_share_min,
        "others_share_max": others_share_max,
        "cpu": cpu,
    }
    print(json.dumps(figures_json(args, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
