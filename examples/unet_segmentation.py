"""The course's U-Net lab (Course 4, week 3) on real images: segment MNIST digits drawn over
real textures, one class per digit plus background (11 classes).

Command (from the repository root; one core, ~13 min of CPU, see examples/unet/README.md)::

    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/unet_segmentation.py
    python examples/unet_segmentation.py --epochs 2 --train 300 --out /tmp/unet   # smoke run

Data (``nnlab.data.detection.CanvasMaker(..., masks=True)``): 64 x 64 canvases, each with
1 to 6 MNIST digits of 28 to 48 pixels (their 28 x 28 frames resized) whose boxes do not
overlap (``max_overlap`` 0: as many as fit), over crops of seven scikit-image pictures.  A
mask pixel is 0 (background) or 1 + the digit whose ink (intensity > 0.2) covers it.

- training: 6,000 new canvases every epoch (seeds 100, 101, ...) from MNIST's training
  digits and the pictures' left parts, so no canvas is seen twice;
- dev (the per-epoch curve only): 200 canvases of the same split, seed 1;
- held-out (the reported numbers): 1,000 canvases of MNIST's 10,000 test digits over the
  pictures' right-most 160 columns, seed 0: no digit and no background pixel is shared
  with training.

Model: the lab's ``unet_model`` (``nnlab.applications.unet``) on (64, 64, 1) inputs with
n_filters 8 and 11 classes (540,747 parameters; the lab's 32 filters on 96 x 128 x 3 take
about 48x the multiply-adds per image: too slow for one core); the lab's loss (sparse
categorical cross-entropy from the logits, the mean over every pixel) and Adam, batches of
16, learning rate 2e-3, divided by 10 for the last 3 of 16 epochs (``--decay-epochs``).

Scores (:func:`nnlab.training.metrics.iou_from_confusion`): one confusion matrix over every
pixel of the held-out canvases, IoU_c = TP_c / (TP_c + FP_c + FN_c) per class, their mean
over the 11 classes, and pixel accuracy.

Outputs (``--out``, default examples/unet/): ``results.json`` (per-class IoU, mean IoU,
pixel accuracy, settings, per-epoch logs, wall and CPU seconds, CPU) and ``overlay.png``
(held-out canvases: image, true mask, predicted mask, wrong pixels).
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

from nnlab.applications.unet import create_mask, segmentation_loss, unet_model
from nnlab.data.detection import MASK_CLASSES, CanvasMaker
from nnlab.ops.parallel import cpu_name
from nnlab.training.callbacks import Callback
from nnlab.training.metrics import confusion_matrix, iou_from_confusion

DEFAULT_OUT = Path(__file__).resolve().parent / "unet"
TRAIN_SEED, DEV_SEED, TEST_SEED = 100, 1, 0  # train and dev from the train split, test held out
N_CLASSES = len(MASK_CLASSES)  # 11
# one color per class: background dark, the ten digits from matplotlib's tab10
PALETTE = np.array(
    [
        [0.08, 0.08, 0.08],
        [0.12, 0.47, 0.71],
        [1.00, 0.50, 0.05],
        [0.17, 0.63, 0.17],
        [0.84, 0.15, 0.16],
        [0.58, 0.40, 0.74],
        [0.55, 0.34, 0.29],
        [0.89, 0.47, 0.76],
        [0.50, 0.50, 0.50],
        [0.74, 0.74, 0.13],
        [0.09, 0.75, 0.81],
    ]
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--min-digits", type=int, default=1)
    p.add_argument("--max-digits", type=int, default=6)
    p.add_argument("--min-size", type=int, default=28)
    p.add_argument("--max-size", type=int, default=48)
    p.add_argument("--max-overlap", type=float, default=0.0, help="largest IoU of two boxes")
    p.add_argument("--train", type=int, default=6000, help="training canvases an epoch")
    p.add_argument(
        "--fresh",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="draw new training canvases every epoch (--no-fresh: one set for all epochs)",
    )
    p.add_argument("--dev", type=int, default=200, help="dev canvases (train split)")
    p.add_argument("--test", type=int, default=1000, help="held-out canvases (test split)")
    p.add_argument("--filters", type=int, default=8, help="the U-Net's n_filters")
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--decay-epochs", type=int, default=3, help="last epochs at lr / 10")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=6, help="held-out canvases in overlay.png")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--save", type=Path, default=None, help="save the trained model here")
    return p.parse_args(argv)


def makers(args) -> dict:
    """{"train" | "test": CanvasMaker} with the command's canvas settings."""
    settings = dict(
        size=(args.height, args.width),
        min_digits=args.min_digits,
        max_digits=args.max_digits,
        min_size=args.min_size,
        max_size=args.max_size,
        max_overlap=args.max_overlap,
    )
    return {split: CanvasMaker(split, **settings) for split in ("train", "test")}


def canvases(maker, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, H, W, 1), masks (n, H, W))."""
    made = maker.make(n, seed=seed, masks=True)
    return made.images, made.masks


def train_seed(args, epoch: int) -> int:
    """The seed of an epoch's training canvases: fresh ones every epoch (``--fresh``), else
    the same set."""
    return TRAIN_SEED + (epoch if args.fresh else 0)


class LearningRateDrop(Callback):
    """Divide the learning rate by ``factor`` in the epochs from ``at`` on (the optimizer
    sets its rate at the start of every epoch, just before this hook)."""

    def __init__(self, at: int, factor: float = 10.0):
        self.at, self.factor = at, factor

    def on_epoch_begin(self, epoch, info):
        if epoch >= self.at:
            self.model.optimizer.lr /= self.factor


def predict_masks(model, images, batch_size=64) -> np.ndarray:
    """Predicted classes (n, H, W) uint8."""
    out = np.empty(images.shape[:3], dtype=np.uint8)
    for start in range(0, len(images), batch_size):
        logits = model.predict(images[start : start + batch_size], batch_size=batch_size)
        out[start : start + batch_size] = create_mask(logits)
    return out


def scores(masks, predicted) -> dict:
    """Per-class IoU, mean IoU over the 11 classes and pixel accuracy, every pixel counted
    once."""
    c = confusion_matrix(masks.reshape(-1), predicted.reshape(-1), N_CLASSES)
    iou = iou_from_confusion(c)
    return {
        "mean_iou": float(iou.mean()),
        "mean_iou_digits": float(iou[1:].mean()),
        "pixel_accuracy": float(np.trace(c) / c.sum()),
        "iou": {name: float(v) for name, v in zip(MASK_CLASSES, iou, strict=True)},
        "pixels": {name: int(v) for name, v in zip(MASK_CLASSES, c.sum(axis=1), strict=True)},
    }


def overlay(images, masks, predicted, path: Path) -> None:
    """A row per canvas: image, true mask, predicted mask, the image with the wrong pixels
    in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = len(images)
    fig, axes = plt.subplots(n, 4, figsize=(8, 2.1 * n + 0.6), squeeze=False)
    titles = ("held-out image", "true mask", "predicted mask", "errors (red)")
    for i in range(n):
        gray = np.repeat(images[i], 3, axis=-1)
        wrong = gray.copy()
        wrong[masks[i] != predicted[i]] = (1.0, 0.0, 0.0)
        panels = (gray, PALETTE[masks[i]], PALETTE[predicted[i]], wrong)
        for j, panel in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
    handles = [Patch(color=PALETTE[k], label=name) for k, name in enumerate(MASK_CLASSES)]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    make = makers(args)
    x_dev, y_dev = canvases(make["train"], args.dev, DEV_SEED)
    x_test, y_test = canvases(make["test"], args.test, TEST_SEED)
    data_seconds = time.perf_counter() - t0
    print(f"canvases: {args.train} train an epoch, dev {len(x_dev)}, held-out {len(x_test)}")

    model = unet_model((args.height, args.width, 1), args.filters, N_CLASSES, seed=args.seed)
    model.compile("adam", segmentation_loss(), ["accuracy"], learning_rate=args.lr)
    print(f"U-Net n_filters {args.filters}: {model.count_params():,} parameters")
    callbacks = [LearningRateDrop(args.epochs - args.decay_epochs)] if args.decay_epochs else []
    history: dict[str, list] = {}
    train_seconds = train_cpu_seconds = 0.0  # wall clock, and this process' CPU time
    x_train = y_train = None
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        if x_train is None or args.fresh:
            x_train, y_train = canvases(make["train"], args.train, train_seed(args, epoch))
        data_seconds += time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        logs = model.fit(
            x_train,
            y_train,
            epochs=epoch + 1,
            initial_epoch=epoch,
            batch_size=args.batch_size,
            validation_data=(x_dev, y_dev),
            callbacks=callbacks,
            verbose=0,
        ).history
        train_seconds += time.perf_counter() - t0
        train_cpu_seconds += time.process_time() - c0
        shown = ", ".join(f"{k} {v[-1]:.4g}" for k, v in logs.items())
        print(f"epoch {epoch + 1}/{args.epochs} ({train_seconds:.0f} s): {shown}", flush=True)
        for key, values in logs.items():
            history.setdefault(key, []).extend(values)
    if args.save is not None:
        model.save(args.save)

    t0 = time.perf_counter()
    predicted = predict_masks(model, x_test)
    held_out = scores(y_test, predicted)
    dev = scores(y_dev, predict_masks(model, x_dev))
    eval_seconds = time.perf_counter() - t0

    print(
        f"held-out ({len(x_test)} canvases): mean IoU {held_out['mean_iou']:.4f}, "
        f"pixel accuracy {held_out['pixel_accuracy']:.4f}"
    )
    for name, value in held_out["iou"].items():
        print(f"  IoU {name:<10} {value:.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    overlay(
        x_test[: args.show], y_test[: args.show], predicted[: args.show], args.out / "overlay.png"
    )
    results = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "held_out": held_out,
        "dev": {k: dev[k] for k in ("mean_iou", "pixel_accuracy")},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "parameters": model.count_params(),
        "history": {k: [round(float(v), 6) for v in values] for k, values in history.items()},
        "seconds": {
            "data": round(data_seconds, 1),
            "train": round(train_seconds, 1),
            "train_cpu": round(train_cpu_seconds, 1),
            "evaluate": round(eval_seconds, 1),
        },
        "cpu": cpu_name(),
        "threads": os.environ.get("NNLAB_NUM_THREADS", "default"),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"train {train_seconds:.0f} s ({train_cpu_seconds:.0f} s of CPU) on {cpu_name()}; "
        f"wrote {args.out}/"
    )
    return results


if __name__ == "__main__":
    main()
