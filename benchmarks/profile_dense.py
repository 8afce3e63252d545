# ruff: noqa: E402  (imports follow the OpenBLAS setting below)
"""Where one training step of bench_dense.py's MLP goes: by layer and by pass.

The model is bench_dense.py's nnlab MLP (784-256-128-10 ReLU, softmax cross-entropy fused,
Adam lr 1e-3, batch 128, the same seed and data).  ``--steps`` steps (after 3 warm-up ones)
run as ``fit`` runs them, but piece by piece (profile_step.py): the batch gather, each
layer's forward in ``model.calls`` order (``layer.cache = call.cache`` first, as
``Network.run_calls`` does), the loss and its gradient, each layer's backward in reverse, the
L2 terms and the optimizer step, each timed with ``time.perf_counter``.  The table gives
each row's median ms over the steps and its % of the median step.

Threads are pinned to ``--threads`` (threadpoolctl for every BLAS/OpenMP pool it sees, and
``nnlab.ops.parallel.set_num_threads``).  The CPU and the BLAS are printed first, and the
share of the machine other processes took during the timed steps last (from /proc/stat).

Run (from the repository root):
    PYTHONPATH=src python benchmarks/profile_dense.py [--threads 2] [--steps 200]
    PYTHONPATH=src python benchmarks/profile_dense.py --quick      # 30 steps
"""

from __future__ import annotations

import os

# NumPy is imported below, before nnlab: give OpenBLAS the short idle-thread spin that
# `import nnlab` asks for (see nnlab/__init__.py) before NumPy loads it.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks beside this file

from bench_dense import (
    LAYERS,
    NnlabTrainer,
    epoch_permutations,
    load_data,
    pin_threads,
    resolve_data,
)
from bench_machine import CpuMeter, blas_info, cpu_info, cpu_line, others_warning, share_text
from profile_step import print_breakdown, step_breakdown


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/nnlab threads (2)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps (200)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size (128)")
    parser.add_argument("--data", help="an mnist.npz path, or 'random' (default: find MNIST)")
    parser.add_argument("--quick", action="store_true", help="30 steps")
    args = parser.parse_args(argv)
    steps = 30 if args.quick else args.steps

    keeper = pin_threads(args.threads, with_torch=False)
    spec, desc = resolve_data(args.data)
    x, y, _, _ = load_data(spec, 10_000)
    model = NnlabTrainer(x, y, args.batch_size, epoch_permutations(x.shape[0])).model
    cpu = cpu_info()
    blas = blas_info()
    print(f"profile of one nnlab training step: MLP {'-'.join(map(str, LAYERS))}")
    print(f"  CPU: {cpu_line(cpu)}")
    print(f"  BLAS: numpy {blas['numpy']}")
    print(
        f"  threads: {args.threads} (threadpoolctl + nnlab.ops.parallel); batch "
        f"{args.batch_size}; data: {desc}; optimizer {type(model.optimizer).__name__}"
    )
    meter = CpuMeter(args.threads)
    meter.start()
    rows, totals = step_breakdown(model, x, y, args.batch_size, steps)
    use = meter.stop()
    print_breakdown(
        rows, totals, f"per layer and pass, medians over {steps} steps ({share_text(use)})"
    )
    print(others_warning(use["others"], cpu["ncpu"]))
    del keeper
    return 0


if __name__ == "__main__":
    sys.exit(main())
