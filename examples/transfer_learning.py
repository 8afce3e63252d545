"""Transfer learning (Course 4, week 2) on a small real binary image set: faces or not.

Command (from the repository root; see examples/transfer_learning/README.md for the time)::

    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/transfer_learning.py
    python examples/transfer_learning.py --sizes 5 --seeds 1 --out /tmp/transfer   # ~30 s

Data: scikit-image's ``lfw_subset`` (200 gray 25 x 25 crops of Labeled Faces in the Wild:
100 faces, 100 non-faces), enlarged to 64 x 64 (bilinear), made RGB by repeating the gray
channel, and ``preprocess_caffe``-d for VGG16.  One fixed split, stratified, seed 0: 120
train / 40 dev / 40 test.  Each run trains on ``n`` images per class drawn from the 120
(seed s), and is scored on the same 40 dev and 40 test images:

- frozen: VGG16's ImageNet convolutional base, frozen, under a new head (GAP -> Dropout
  0.2 -> Dense sigmoid), with flips, shifts and rotations; Adam at alpha.
- fine-tuned: then block5 unfrozen (everything before it stays frozen), Adam at alpha / 10.
- scratch: a small CNN (3 x CONV-BN-ReLU-MAXPOOL, 16/32/64 filters, GAP, Dropout, Dense)
  from random weights, same augmentation, for as many epochs as the other two together.

Epochs per run scale with n so that every size gets a similar number of steps (batch 10):
see ``EPOCHS``.  Outputs (``--out``): ``results.json`` (every run's accuracies and times, the
means and spreads, the settings, the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from nnlab.applications.transfer import TransferConfig, compare_transfer, take_per_class
from nnlab.applications.vgg16 import preprocess_caffe
from nnlab.data.images import load_lfw_subset
from nnlab.data.splits import Split, train_dev_test_split
from nnlab.ops.parallel import cpu_name

DEFAULT_OUT = Path(__file__).resolve().parent / "transfer_learning"
SIZE = 64
#: images per class -> (head epochs, fine-tuning epochs): 30 / 60 / 72 steps of 10
EPOCHS = {5: (20, 10), 20: (10, 5), 60: (4, 2)}
APPROACHES = ("frozen", "fine_tuned", "scratch")


def load_split(size: int = SIZE, seed: int = 0) -> Split:
    """The LFW subset, enlarged, RGB, caffe-preprocessed, split 120 / 40 / 40 (stratified)."""
    x, y = load_lfw_subset(size)
    return train_dev_test_split(preprocess_caffe(x), y, dev=40, test=40, stratify=True, seed=seed)


def summarize(runs: list[dict]) -> dict:
    """Per approach: the mean and standard deviation of each accuracy and of the time."""
    summary = {}
    for name in APPROACHES:
        rows = [run[name] for run in runs]
        stats = {}
        for key in ("train_accuracy", "dev_accuracy", "test_accuracy", "seconds"):
            values = np.array([row[key] for row in rows], dtype=np.float64)
            stats[key] = {"mean": float(values.mean()), "std": float(values.std())}
        stats["epochs"], stats["steps"] = rows[0]["epochs"], rows[0]["steps"]
        stats["trainable_params"] = rows[0]["trainable_params"]
        summary[name] = stats
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 60],
                        help="images per class in the training set (60: all of it)")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5, help="runs per size (seeds 0, 1, ...)")
    parser.add_argument("--full-seeds", type=int, default=2, help="runs with all 60 per class")
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="alpha of the head")
    parser.add_argument("--scratch-learning-rate", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    split = load_split()
    per_size = {}
    for n in args.sizes:
        head_epochs, fine_tune_epochs = EPOCHS.get(n, EPOCHS[20])
        runs = []
        for seed in range(args.full_seeds if n >= 60 else args.seeds):
            print(f"-- {n} images per class, seed {seed}", flush=True)
            x, y = (
                (split.x_train, split.y_train)
                if n >= 60
                else take_per_class(split.x_train, split.y_train, n, seed=seed)
            )
            config = TransferConfig(
                head_epochs=head_epochs,
                fine_tune_epochs=fine_tune_epochs,
                learning_rate=args.learning_rate,
                scratch_learning_rate=args.scratch_learning_rate,
                seed=seed,
            )
            result = compare_transfer(Split(x, y, *split[2:]), config, log=print)
            runs.append({"seed": seed, **result})
        per_size[str(n)] = {"runs": runs, "summary": summarize(runs)}
    seconds = time.perf_counter() - start

    results = {
        "data": "scikit-image lfw_subset: 100 faces + 100 non-faces, 25x25 gray -> 64x64 RGB",
        "split": "stratified, seed 0: 120 train / 40 dev / 40 test; n per class from train",
        "per_class": per_size,
        "seconds": round(seconds, 1),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "threads": {k: os.environ.get(k) for k in ("NNLAB_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "cpu": cpu_name(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"{seconds:.0f} s in all; wrote {args.out / 'results.json'}")
    return results


def table(results: dict) -> str:
    """The README's markdown table: mean +- std over the seeds of each size."""
    lines = [
        "| images per class | approach | train | dev | test | epochs (steps) | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, entry in results["per_class"].items():
        runs = len(entry["runs"])
        for name in APPROACHES:
            s = entry["summary"][name]

            def cell(key, s=s, runs=runs):
                mean, std = s[key]["mean"], s[key]["std"]
                return f"{mean:.3f}" if runs == 1 else f"{mean:.3f} ± {std:.3f}"

            lines.append(
                f"| {n} ({runs} run{'s' if runs > 1 else ''}) | {name} | {cell('train_accuracy')} "
                f"| {cell('dev_accuracy')} | {cell('test_accuracy')} | {s['epochs']} "
                f"({s['steps']}) | {s['seconds']['mean']:.1f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
