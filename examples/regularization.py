"""The course's regularization experiment (week 1 of course 2), re-run on real data.

Command (from the repository root, about 20 s on 2 cores)::

    python examples/regularization.py                      # writes examples/regularization/
    python examples/regularization.py --out /tmp/reg --epochs 1000

Dataset: scikit-learn's ``load_breast_cancer`` (Wisconsin diagnostic breast cancer, 569
tumours, 212 malignant / 357 benign), reduced to two features, *worst texture* and *worst
smoothness*.  The course's French-football file cannot be had here; like it, these two
features give a small, noisy 2-D set: the classes overlap heavily, so a network big enough
to draw a boundary around every training point learns the noise.  The set is split
stratified with a fixed seed into train / dev / test (50 / 25 / 25 %: 285 / 142 / 142
examples); the standardization is fitted on the training part only.

Setup (the course's lab, scaled to this data): a 2 -> 64 ReLU -> 32 ReLU -> 1 sigmoid net,
He initialization, full-batch training (Adam, learning rate 0.01, 3000 iterations; the
course used plain gradient descent, lr 0.3, 30,000 iterations on a 3-layer 20-3-1 net, too
small and too slow to overfit this set).  Three models start from the same initial weights
(same seed): no regularization, L2 (``kernel_regularizer=lambda``, the course's
(lambda / 2M) sum ||W||^2) and inverted dropout after each hidden layer (``Dropout(rate)``,
keep_prob = 1 - rate).  lambda and rate are chosen by a small sweep on the **dev** set
(highest dev accuracy, ties to the lower dev cost); the test set is only looked at for the
three final models.

What it shows: without regularization the net memorizes the training set (train accuracy
near 98%, dev below 70%) and ``nnlab.practice.diagnose`` names variance as the dominant problem; L2
and dropout each shrink the train - dev gap from about 30 points to a few points and raise
dev (and test) accuracy, and the diagnosis no longer lists variance.  The remaining error is
mostly the Bayes error of two overlapping features; with human-level error set to 0 the
diagnosis calls it avoidable bias.

Outputs (``--out``, default ``examples/regularization/``): ``results.json`` (every number),
``report.md`` (table, diagnoses, command, runtime), ``learning_curves.png`` (train vs dev
cost of the three models), ``sweep.png`` (train/dev accuracy over lambda and rate) and
``boundary_{none,l2,dropout}.png`` (decision boundaries with the training points).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
from threadpoolctl import threadpool_limits  # comes with scikit-learn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import nnlab  # noqa: E402
from nnlab import Dense, Dropout, Sequential
from nnlab.data import Standardizer, train_dev_test_split  # noqa: E402
from nnlab.practice.diagnose import diagnose  # noqa: E402
from nnlab.practice.plots import decision_boundary  # noqa: E402
from nnlab.training.callbacks import Callback  # noqa: E402

FEATURES = ("worst texture", "worst smoothness")
DEV_FRACTION = TEST_FRACTION = 0.25
SPLIT_SEED = 0  # the stratified shuffle
MODEL_SEED = 1  # initial weights (the same for the three models) and dropout masks
HIDDEN = (64, 32)
LEARNING_RATE = 0.01
EPOCHS = 3000  # full-batch: one iteration per epoch
RECORD_EVERY = 20  # epochs between two points of the learning curves
L2_GRID = (0.1, 0.3, 0.7, 1.0, 3.0, 10.0, 30.0)  # 0.7 is the course's lambda
DROPOUT_GRID = (0.14, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # 0.14 is the course's 1 - keep_prob
HUMAN_ERROR = 0.0  # no human-level error is known for these two features
DPI = 70
DEFAULT_OUT = Path(__file__).resolve().parent / "regularization"
NAMES = {"none": "no regularization", "l2": "L2", "dropout": "dropout"}


# --------------------------------------------------------------------------- data
@dataclass
class Data:
    """The standardized train / dev / test parts (float32 x, float32 0/1 y)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_dev: np.ndarray
    y_dev: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple
    standardizer: Standardizer

    def parts(self):
        return {
            "train": (self.x_train, self.y_train),
            "dev": (self.x_dev, self.y_dev),
            "test": (self.x_test, self.y_test),
        }


def load_data(features=FEATURES, seed=SPLIT_SEED) -> Data:
    """Breast cancer, two features, stratified 50/25/25 split, standardized on train."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = list(bunch.feature_names)
    columns = [names.index(name) for name in features]
    x = bunch.data[:, columns].astype(np.float32)
    y = bunch.target.astype(np.float32)  # 1 = benign, 0 = malignant
    split = train_dev_test_split(
        x, y, dev=DEV_FRACTION, test=TEST_FRACTION, stratify=True, seed=seed
    )
    scaler = Standardizer().fit(split.x_train)
    return Data(
        scaler.transform(split.x_train),
        split.y_train,
        scaler.transform(split.x_dev),
        split.y_dev,
        scaler.transform(split.x_test),
        split.y_test,
        tuple(features),
        scaler,
    )


# -------------------------------------------------------------------------- model
def build_model(n_x: int, l2=None, dropout: float = 0.0, seed: int = MODEL_SEED) -> Sequential:
    """2 -> 64 ReLU -> 32 ReLU -> 1 sigmoid, He init; L2 on every kernel, dropout after
    every hidden layer.  Dropout has no parameters, so the initial weights depend on the
    seed only: the three models start from the same point."""
    layers = []
    for units in HIDDEN:
        layers.append(Dense(units, "relu", kernel_initializer="he", kernel_regularizer=l2))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(1, "sigmoid", kernel_initializer="he", kernel_regularizer=l2))
    model = Sequential(layers, input_shape=(n_x,), seed=seed)
    model.compile(nnlab.Adam(LEARNING_RATE), "binary_crossentropy", ["accuracy"])
    return model


class CostRecorder(Callback):
    """Every ``every`` epochs: train and dev cost and accuracy in inference mode.

    The cost is the cross-entropy alone (no L2 term) and dropout is off, so the curves of
    the three models are comparable; fit's own "loss" is measured with dropout on.
    """

    def __init__(self, data: Data, every: int):
        self.data, self.every = data, every
        self.curves = {
            "epoch": [],
            "train_cost": [],
            "dev_cost": [],
            "train_acc": [],
            "dev_acc": [],
        }

    def on_epoch_end(self, epoch, logs):
        if (epoch + 1) % self.every and epoch != 0:
            return
        self.curves["epoch"].append(epoch + 1)
        for part in ("train", "dev"):
            scores = self.model.evaluate(*self.data.parts()[part])
            self.curves[f"{part}_cost"].append(scores["loss"])
            self.curves[f"{part}_acc"].append(scores["accuracy"])


@dataclass
class Trained:
    """One trained model with its hyperparameters, scores and learning curves."""

    kind: str
    value: float | None  # lambda or rate (None for the baseline)
    model: Sequential
    scores: dict  # part -> {"loss", "accuracy"} (train and dev; test added at the end)
    curves: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """train accuracy - dev accuracy (= dev error - train error, the variance gap)."""
        return self.scores["train"]["accuracy"] - self.scores["dev"]["accuracy"]


def train(data: Data, kind="none", value=None, epochs=EPOCHS, every=RECORD_EVERY) -> Trained:
    """Train one model (kind "none", "l2" with lambda=value, "dropout" with rate=value)."""
    model = build_model(
        data.x_train.shape[1],
        l2=value if kind == "l2" else None,
        dropout=value if kind == "dropout" else 0.0,
    )
    recorder = CostRecorder(data, every)
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=data.x_train.shape[0],  # full batch, as in the course
        shuffle=False,
        verbose=0,
        callbacks=[recorder],
    )
    scores = {part: model.evaluate(x, y) for part, (x, y) in data.parts().items() if part != "test"}
    return Trained(kind, value, model, scores, recorder.curves)


def select(data: Data, kind: str, grid, epochs=EPOCHS, every=RECORD_EVERY):
    """Train one model per grid value; return (best, rows).  Best = highest dev accuracy,
    ties to the lower dev cost.  Only train and dev are evaluated."""
    runs = [train(data, kind, value, epochs, every) for value in grid]
    rows = [
        {
            "value": run.value,
            "train_accuracy": run.scores["train"]["accuracy"],
            "dev_accuracy": run.scores["dev"]["accuracy"],
            "dev_cost": run.scores["dev"]["loss"],
            "gap": run.gap,
        }
        for run in runs
    ]
    best = max(runs, key=lambda r: (r.scores["dev"]["accuracy"], -r.scores["dev"]["loss"]))
    return best, rows


def kernel_norm(model) -> float:
    """sum over layers of ||W||_F^2 (the quantity L2 penalizes; biases excluded)."""
    return float(
        sum(np.vdot(w, w) for name, w in model.get_weights().items() if name.endswith("/W"))
    )


def diagnosis_of(trained: Trained, human_error=HUMAN_ERROR):
    """nnlab.practice.diagnose on the error rates (1 - accuracy) of train, dev and, if known, test."""
    test = trained.scores.get("test")
    return diagnose(
        1.0 - trained.scores["train"]["accuracy"],
        1.0 - trained.scores["dev"]["accuracy"],
        test_error=None if test is None else 1.0 - test["accuracy"],
        human_error=human_error,
    )


def variance_gap(diagnosis) -> float:
    return next(gap.value for gap in diagnosis.gaps if gap.name == "variance")


def improvement(before: Trained, after: Trained) -> str:
    """One line: the variance gap and dev accuracy before and after regularizing."""
    d0, d1 = diagnosis_of(before), diagnosis_of(after)
    dominant = [(d.dominant or "none").replace("_", " ") for d in (d0, d1)]
    setting = f"lambda={after.value:g}" if after.kind == "l2" else f"rate={after.value:g}"
    return (
        f"{NAMES[after.kind]} ({setting}): variance gap {100 * variance_gap(d0):.1f} -> "
        f"{100 * variance_gap(d1):.1f} points; dev accuracy "
        f"{before.scores['dev']['accuracy']:.1%} -> {after.scores['dev']['accuracy']:.1%}; "
        f"dominant problem {dominant[0]} -> {dominant[1]}"
    )


# -------------------------------------------------------------------------- plots
def _save(fig, axes, ylabel: str, path) -> Path:
    """Label the first panel, add its legend, save the figure as PNG and close it."""
    axes[0].set_ylabel(ylabel)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Path(path)


def plot_learning_curves(runs: dict, path) -> Path:
    """Train vs dev cost (inference mode, no L2 term) per epoch, one panel per model."""
    fig, axes = plt.subplots(1, len(runs), figsize=(10, 3.2), sharey=True)
    for ax, (key, run) in zip(axes, runs.items(), strict=True):
        c = run.curves
        ax.plot(c["epoch"], c["train_cost"], label="train cost")
        ax.plot(c["epoch"], c["dev_cost"], label="dev cost")
        setting = (
            "" if run.value is None else f" ({'lambda' if key == 'l2' else 'rate'}={run.value:g})"
        )
        ax.set_title(NAMES[key] + setting, fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    return _save(fig, axes, "cross-entropy cost", path)


def plot_sweep(sweeps: dict, chosen: dict, path) -> Path:
    """Train and dev accuracy over the L2 and dropout grids; the chosen value marked."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, (kind, label) in zip(
        axes, (("l2", "L2 lambda"), ("dropout", "dropout rate")), strict=True
    ):
        rows = sweeps[kind]
        v = [r["value"] for r in rows]
        ax.plot(v, [r["train_accuracy"] for r in rows], "o-", ms=3, label="train")
        ax.plot(v, [r["dev_accuracy"] for r in rows], "o-", ms=3, label="dev")
        ax.axvline(chosen[kind], color="gray", ls="--", lw=0.8)
        if kind == "l2":
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    return _save(fig, axes, "accuracy", path)


# ------------------------------------------------------------------------ report
def summary_rows(runs: dict) -> list[dict]:
    rows = []
    for key, run in runs.items():
        rows.append(
            {
                "model": key,
                "setting": run.value,
                **{
                    f"{part}_accuracy": run.scores[part]["accuracy"]
                    for part in ("train", "dev", "test")
                },
                **{f"{part}_cost": run.scores[part]["loss"] for part in ("train", "dev", "test")},
                "gap": run.gap,
                "kernel_norm_sq": kernel_norm(run.model),
            }
        )
    return rows


def write_report(results: dict, path) -> Path:
    r = results
    lines = [
        "# Regularization on real data: no regularization vs L2 vs dropout",
        "",
        f"Command: `{r['command']}`  ",
        f"Runtime: {r['runtime_s']:.1f} s for the 15 trainings, the test evaluations and the "
        f"figures ({r['machine']})",
        "",
        f"Data: scikit-learn `load_breast_cancer`, features {', '.join(r['data']['features'])}; "
        f"stratified split (seed {r['data']['split_seed']}) into train / dev / test = "
        f"{r['data']['sizes']['train']} / {r['data']['sizes']['dev']} / {r['data']['sizes']['test']}; "
        "standardized with the training set's mean and std.",
        "",
        f"Model: 2 -> {' -> '.join(f'{u} ReLU' for u in HIDDEN)} -> 1 sigmoid, He init (seed "
        f"{MODEL_SEED}, the same initial weights for all three), full-batch Adam lr "
        f"{LEARNING_RATE}, {r['setup']['epochs']} iterations. lambda chosen from "
        f"{list(L2_GRID)}, dropout rate from {list(DROPOUT_GRID)}, both on dev accuracy.",
        "",
        "| model | setting | train acc | dev acc | test acc | train - dev gap | sum ‖W‖² |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in r["models"]:
        setting = (
            "-"
            if row["setting"] is None
            else (
                f"lambda = {row['setting']:g}"
                if row["model"] == "l2"
                else f"rate = {row['setting']:g} (keep_prob {1 - row['setting']:.2f})"
            )
        )
        lines.append(
            f"| {NAMES[row['model']]} | {setting} | {row['train_accuracy']:.1%} | "
            f"{row['dev_accuracy']:.1%} | {row['test_accuracy']:.1%} | "
            f"{100 * row['gap']:.1f} points | {row['kernel_norm_sq']:.1f} |"
        )
    lines += ["", "## Improvement", ""]
    lines += [f"- {line}" for line in r["improvement"].values()]
    n_dev = r["data"]["sizes"]["dev"]
    p = max(row["dev_accuracy"] for row in r["models"])
    lines += [
        "",
        "## Sweeps (train and dev only)",
        "",
        f"One dev example is {100 / n_dev:.1f} points, and the standard error of a dev accuracy "
        f"near {p:.0%} is about {100 * (p * (1 - p) / n_dev) ** 0.5:.1f} points: grid values "
        "whose dev accuracies differ by less than that are equally good, and the dev and test "
        "accuracies of one model differ by a few points by chance.",
        "",
    ]
    for kind, label in (("l2", "lambda"), ("dropout", "rate")):
        lines += [
            f"| {label} | train acc | dev acc | dev cost | gap |",
            "|---:|---:|---:|---:|---:|",
        ]
        for row in r["sweeps"][kind]:
            mark = " (chosen)" if row["value"] == r["chosen"][kind] else ""
            lines.append(
                f"| {row['value']:g}{mark} | {row['train_accuracy']:.1%} | {row['dev_accuracy']:.1%} "
                f"| {row['dev_cost']:.3f} | {100 * row['gap']:.1f} |"
            )
        lines.append("")
    lines += [
        f"## Diagnoses (human-level error {r['human_error']:g})",
        "",
        "With human-level error 0 all training error counts as avoidable bias; the two features "
        "overlap heavily (see the boundary plots), so most of the regularized models' training "
        "error is Bayes error rather than bias a bigger network could remove.",
        "",
    ]
    for key, text in r["diagnosis_text"].items():
        lines += [f"### {NAMES[key]}", "", "```", text, "```", ""]
    lines += [
        "## Figures",
        "",
        "![learning curves](learning_curves.png)",
        "",
        "![sweep](sweep.png)",
        "",
        "![none](boundary_none.png) ![L2](boundary_l2.png) ![dropout](boundary_dropout.png)",
        "",
    ]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path


# -------------------------------------------------------------------------- main
def run_experiment(
    epochs=EPOCHS,
    l2_grid=L2_GRID,
    dropout_grid=DROPOUT_GRID,
    every=RECORD_EVERY,
    split_seed=SPLIT_SEED,
):
    """Baseline, L2 and dropout (each chosen on dev); returns (data, runs, sweeps)."""
    data = load_data(seed=split_seed)
    runs = {"none": train(data, "none", None, epochs, every)}
    sweeps = {}
    runs["l2"], sweeps["l2"] = select(data, "l2", l2_grid, epochs, every)
    runs["dropout"], sweeps["dropout"] = select(data, "dropout", dropout_grid, epochs, every)
    for run in runs.values():  # the test set, once, for the three final models
        run.scores["test"] = run.model.evaluate(data.x_test, data.y_test)
    return data, runs, sweeps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="full-batch iterations")
    parser.add_argument(
        "--split-seed", type=int, default=SPLIT_SEED, help="seed of the train/dev/test split"
    )
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    start = time.perf_counter()
    # One BLAS thread: the matrices are tiny, and on a shared 2-core machine BLAS threads
    # spinning against other processes made training 20x slower.
    with threadpool_limits(limits=1):
        data, runs, sweeps = run_experiment(epochs=args.epochs, split_seed=args.split_seed)
        args.out.mkdir(parents=True, exist_ok=True)
        plot_learning_curves(runs, args.out / "learning_curves.png")
        chosen = {kind: runs[kind].value for kind in ("l2", "dropout")}
        plot_sweep(sweeps, chosen, args.out / "sweep.png")
        for key, run in runs.items():
            setting = (
                ""
                if run.value is None
                else f", {'lambda' if key == 'l2' else 'rate'} {run.value:g}"
            )
            acc = run.scores
            decision_boundary(
                run.model,
                data.x_train,
                data.y_train,
                args.out / f"boundary_{key}.png",
                f"{NAMES[key]}{setting}: train {acc['train']['accuracy']:.1%}, "
                f"dev {acc['dev']['accuracy']:.1%}",
                feature_names=[f"{name} (standardized)" for name in data.feature_names],
                class_names=("malignant (train)", "benign (train)"),
            )
    diagnoses = {key: diagnosis_of(run) for key, run in runs.items()}
    results = {
        "command": shlex.join(["python", "examples/regularization.py", *argv]),
        "runtime_s": time.perf_counter() - start,
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, one BLAS thread",
        "data": {
            "source": "sklearn.datasets.load_breast_cancer",
            "features": list(data.feature_names),
            "labels": "1 = benign, 0 = malignant",
            "split_seed": args.split_seed,
            "stratified": True,
            "sizes": {part: int(x.shape[0]) for part, (x, _) in data.parts().items()},
            "standardizer": data.standardizer.to_dict(),
        },
        "setup": {
            "hidden": list(HIDDEN),
            "activation": "relu",
            "output": "sigmoid",
            "init": "he",
            "optimizer": f"adam lr {LEARNING_RATE}, full batch",
            "epochs": args.epochs,
            "model_seed": MODEL_SEED,
            "l2_grid": list(L2_GRID),
            "dropout_grid": list(DROPOUT_GRID),
            "selection": "highest dev accuracy, ties to the lower dev cost",
        },
        "human_error": HUMAN_ERROR,
        "chosen": chosen,
        "models": summary_rows(runs),
        "sweeps": sweeps,
        "diagnosis": {key: d.to_dict() for key, d in diagnoses.items()},
        "diagnosis_text": {key: str(d) for key, d in diagnoses.items()},
        "improvement": {kind: improvement(runs["none"], runs[kind]) for kind in ("l2", "dropout")},
        "curves": {key: run.curves for key, run in runs.items()},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, args.out / "report.md")
    table = "\n".join(
        f"{NAMES[row['model']]:<18} train {row['train_accuracy']:.1%}  dev {row['dev_accuracy']:.1%}  "
        f"test {row['test_accuracy']:.1%}  gap {100 * row['gap']:5.1f} points"
        for row in results["models"]
    )
    print(table)
    print(f"\nbefore:\n{diagnoses['none']}\n")
    for kind in ("l2", "dropout"):
        print(f"after ({NAMES[kind]}):\n{diagnoses[kind]}\n")
    print("\n".join(results["improvement"].values()))
    print(f"\nwrote {args.out} in {results['runtime_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
