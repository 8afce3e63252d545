"""nnlab detect: train a YOLO-style digit detector, and find digits in images and videos.

    nnlab detect train --out runs/detect                  # 24 epochs of fresh canvases
    nnlab detect evaluate runs/detect                     # mAP on 1,000 held-out canvases
    nnlab detect canvas --out canvas.png --seed 3         # a held-out canvas to try
    nnlab detect runs/detect canvas.png --out boxes.png   # draw the boxes found
    nnlab detect runs/detect clip.mp4 --out boxes.mp4     # a video, frame by frame

    nnlab detect train --resume --out runs/detect --epochs 30   # continue a run

Course 4, week 3 (``nnlab.applications.yolo``): 128 x 128 canvases of 1 to 6 MNIST digits
at random scales and positions over textures of scikit-image's pictures
(``nnlab.data.detection``); a small Darknet-style network predicts, on a 16 x 16 grid with
3 anchor boxes per cell (k-means of the first epoch's box shapes, YOLOv2), each box's
center, size, objectness and digit; the YOLO loss trains it.  Every epoch trains on
fresh canvases; after each, the mAP@0.5 of 500 held-out canvases (MNIST's test digits over
the pictures' held-out columns) is reported.  The run folder gets the model (with its
anchors), the learning curves, pycocotools' mAP@0.5 and mAP@[.5:.95] on 1,000 other
held-out canvases (``metrics.json``) and a picture of detections (``detections.png``).
The detector is fully convolutional: it runs on images and video frames of any size (in
gray, padded to a multiple of 8), with digits 16 to 48 pixels tall.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..applications import yolo
from ..data.annotate import draw_boxes
from ..data.detection import CanvasMaker
from ..data.video import VideoWriter, video_info
from ..exceptions import InputValueError
from ..ops.boxes import kmeans_anchors
from ..ops.parallel import cpu_name
from ..practice.plots import detection_grid, learning_curves
from ..saving.container import atomic_write_bytes
from ..saving.model_file import load_checkpoint, load_model, read_extra, read_model_file
from ..training.detection_metrics import coco_map
from ..training.optimizers import Adam
from ..training.schedules import ExponentialDecay
from .media import picture_format, read_image, run_on_video, write_image
from .parser import action_parsers, command_parser
from .resumable import (
    CHECKPOINT_FILE,
    CURVES_FILE,
    METRICS_FILE,
    MODEL_FILE,
    SETTINGS_FILE,
    OneEpoch,
    add_train_options,
    run_settings,
)

COMMAND, ACTIONS = "detect", ("train", "evaluate", "canvas", "find")
#: ``nnlab detect RUN PATH`` is ``nnlab detect find RUN PATH`` (``cli.main``)
DEFAULT_ACTION = "find"
FIGURE_FILE = "detections.png"
SETTINGS = ("epochs", "canvases", "dev_canvases", "test_canvases", "batch_size", "learning_rate")
SETTINGS += ("decay_rate", "width", "anchors", "seed")
DEFAULT_EPOCHS = 24
DEV_SEED, TEST_SEED = 1_000_003, 2_000_003  # held-out canvases: the dev set, the test set


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab detect train | evaluate | canvas | [find] RUN PATH``."""
    parser = command_parser(
        subparsers, COMMAND, "train a YOLO digit detector, or find digits in images", __doc__
    )
    actions = action_parsers(
        parser,
        "train, evaluate (held-out mAP), canvas (write a test canvas) or find (draw the "
        "boxes found in an image or a video; the default)",
    )
    train = actions.add_parser("train", help="train the detector", description=__doc__)
    options = [
        ("--epochs", int, None, f"epochs, each on fresh canvases (default: {DEFAULT_EPOCHS})"),
        ("--canvases", int, 2048, "training canvases made for each epoch"),
        ("--dev-canvases", int, 500, "held-out canvases scored after each epoch"),
        ("--test-canvases", int, 1000, "other held-out canvases scored at the end"),
        ("--batch-size", int, 32, "canvases per gradient step"),
        ("--learning-rate", float, 2e-3, "Adam's first step size"),
        ("--decay-rate", float, 0.9, "the step size is multiplied by this every epoch"),
        ("--width", int, 16, "the first convolution's filters (the others are multiples)"),
        ("--anchors", int, 3, "anchor boxes per grid cell"),
        ("--seed", int, 0, "for the canvases and the initial weights"),
        ("--out", str, None, "the run folder (default: runs/detect-TIME)"),
    ]
    add_train_options(train, options)
    train.set_defaults(handler=cmd_train)

    test = actions.add_parser("evaluate", help="mAP of a run on new held-out canvases")
    test.add_argument("run", metavar="RUN", help="a detect run folder or its model file")
    test.add_argument("--canvases", type=int, default=1000, help="how many (default: 1000)")
    test.add_argument("--seed", type=int, default=TEST_SEED, help=f"which (default: {TEST_SEED})")
    test.set_defaults(handler=cmd_evaluate)

    canvas = actions.add_parser("canvas", help="write a held-out canvas (PNG) to try")
    canvas.add_argument("--out", required=True, help="the PNG file to write")
    canvas.add_argument("--seed", type=int, default=0, help="which canvas (default: 0)")
    canvas.add_argument("--size", type=int, default=128, help="its side (default: 128)")
    canvas.set_defaults(handler=cmd_canvas)

    find = actions.add_parser("find", help="draw the digits found in an image or a video")
    find.add_argument("run", metavar="RUN", help="a detect run folder or its model file")
    find.add_argument("path", metavar="PATH", help="an image (PNG, JPEG) or a video (MP4 ...)")
    find.add_argument("--out", help="write the image or video with the boxes drawn")
    find.add_argument(
        "--threshold", type=float, default=0.5, help="keep boxes above this score (default: 0.5)"
    )
    find.add_argument("--max-frames", type=int, default=None, help="a video's first N frames")
    find.set_defaults(handler=cmd_find)
    return parser


# ------------------------------------------------------------------- train
def cmd_train(args) -> int:
    out = Path(args.out or f"runs/detect-{time.strftime('%Y%m%d-%H%M%S')}")
    settings = run_settings(args, out, SETTINGS, DEFAULT_EPOCHS, "detect train")
    _check_settings(settings)
    train_maker, test_maker = CanvasMaker("train"), CanvasMaker("test")
    dev = test_maker.make(settings["dev_canvases"], seed=DEV_SEED)
    if args.resume:
        model, extra, _ = load_checkpoint(out / CHECKPOINT_FILE)
        rows, start, detector = extra["log"], int(extra["epoch"]), extra["detector"]
    else:
        first = train_maker.make(settings["canvases"], seed=_epoch_seed(settings, 0))
        detector = _new_detector(settings, first)
        model, rows, start = _new_model(settings, detector), [], 0
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / SETTINGS_FILE, json.dumps(settings, indent=2).encode())
    for epoch in range(start, settings["epochs"]):
        canvases = train_maker.make(settings["canvases"], seed=_epoch_seed(settings, epoch))
        rows.append(_train_epoch(model, detector, canvases, dev, settings, epoch))
        extra = {"epoch": epoch + 1, "log": rows, "detector": detector}
        model.save(out / CHECKPOINT_FILE, include_optimizer=True, extra_metadata=extra)
    test = test_maker.make(settings["test_canvases"], seed=TEST_SEED)
    _write_outputs(out, model, detector, rows, test)
    return 0


def _check_settings(settings: dict) -> None:
    for key in (
        "epochs",
        "canvases",
        "dev_canvases",
        "test_canvases",
        "batch_size",
        "width",
        "anchors",
    ):
        if settings[key] < 1:
            raise InputValueError(
                f"detect train: --{key.replace('_', '-')} must be at least 1, got {settings[key]}"
            )
    if not settings["learning_rate"] > 0:
        raise InputValueError("detect train: --learning-rate must be positive")


def _epoch_seed(settings: dict, epoch: int) -> int:
    return settings["seed"] * 100_003 + epoch


def _new_detector(settings: dict, canvases) -> dict:
    """What a run's model needs besides its weights: anchors (k-means of the first epoch's
    box shapes), stride, classes, the first layer's width, the canvases' shape."""
    shapes = np.concatenate([b[:, 2:] - b[:, :2] for b in canvases.boxes])
    anchors = kmeans_anchors(shapes, settings["anchors"], seed=settings["seed"])
    return {
        "anchors": np.round(anchors, 3).tolist(),
        "stride": yolo.STRIDE,
        "classes": [str(digit) for digit in range(10)],
        "width": settings["width"],
        "input_shape": list(canvases.images.shape[1:]),
    }


def _new_model(settings: dict, detector: dict):
    model = yolo.yolo_detector(
        n_classes=len(detector["classes"]),
        n_anchors=len(detector["anchors"]),
        input_shape=detector["input_shape"],
        width=detector["width"],
        seed=settings["seed"],
    )
    schedule = ExponentialDecay(settings["learning_rate"], settings["decay_rate"])
    loss = yolo.YoloLoss(detector["anchors"], detector["stride"], len(detector["classes"]))
    model.compile(Adam(schedule), loss)
    return model


def _train_epoch(model, detector: dict, canvases, dev, settings: dict, epoch: int) -> dict:
    """One epoch on fresh canvases, then the dev mAP; its log row."""
    grid = yolo.grid_shape(canvases.images.shape[1:], detector["stride"])
    targets = yolo.encode_targets(
        canvases.boxes, canvases.classes, detector["anchors"], grid, detector["stride"]
    )
    started = time.perf_counter()
    history = model.fit(  # one epoch, numbered out of all the run's
        canvases.images,
        targets,
        epochs=settings["epochs"],
        initial_epoch=epoch,
        batch_size=settings["batch_size"],
        callbacks=[OneEpoch()],
    )
    seconds = time.perf_counter() - started
    scores = evaluate_detector(model, detector, dev)
    loss = float(history.history["loss"][-1])
    print(
        f"epoch {epoch + 1}/{settings['epochs']}: loss {loss:.3f}, dev mAP@0.5 "
        f"{scores['map_50']:.3f}, mAP@[.5:.95] {scores['map_50_95']:.3f} ({seconds:.0f} s)"
    )
    return {
        "epoch": epoch + 1,
        "loss": loss,
        "val_map_50": float(scores["map_50"]),
        "seconds": seconds,
    }


def evaluate_detector(model, detector: dict, canvases) -> dict:
    """pycocotools' mAP of the detector's boxes on canvases (every box scoring > 0.01,
    at most 100 an image, as COCO evaluates)."""
    found = _detect(model, detector, canvases.images, score_threshold=0.01, max_boxes=100)
    return coco_map(
        canvases.boxes,
        canvases.classes,
        [boxes for boxes, _, _ in found],
        [classes for _, _, classes in found],
        [scores for _, scores, _ in found],
    )


def _detect(model, detector: dict, images, score_threshold=0.5, max_boxes=20) -> list:
    return yolo.detect(
        model,
        images,
        detector["anchors"],
        stride=detector["stride"],
        n_classes=len(detector["classes"]),
        score_threshold=score_threshold,
        max_boxes=max_boxes,
    )


def _write_outputs(out: Path, model, detector: dict, rows: list[dict], test) -> None:
    """The model (with its detector settings), learning curves, the test mAP, a figure."""
    model.save(out / MODEL_FILE, include_optimizer=False, extra_metadata={"detector": detector})
    history = {"loss": [r["loss"] for r in rows], "map_50": [r["val_map_50"] for r in rows]}
    learning_curves(history, out / CURVES_FILE, title="detect: training loss, dev mAP@0.5")
    scores = evaluate_detector(model, detector, test)
    metrics = {"test": {**scores, "canvases": len(test)}, "epochs": rows}
    atomic_write_bytes(out / METRICS_FILE, json.dumps(metrics, indent=2).encode())
    found = _detect(model, detector, test.images[:8])
    detection_grid(test.images[:8], found, detector["classes"], out / FIGURE_FILE)
    print(
        f"test ({len(test):,} held-out canvases): mAP@0.5 {scores['map_50']:.3f}, mAP@[.5:.95] "
        f"{scores['map_50_95']:.3f}; saved {out / MODEL_FILE}"
    )


# ---------------------------------------------------------------- evaluate
def load_detector(run: str):
    """(model, detector settings) of a detect run folder or model file."""
    path = Path(run)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise InputValueError(f"detect: no model at {path} (a detect run folder holds one)")
    _, metadata = read_model_file(path)
    detector = read_extra(metadata).get("detector")
    if detector is None:
        raise InputValueError(f"detect: {path} is not a detector (no anchors saved with it)")
    return load_model(path, compile=False), detector


def cmd_evaluate(args) -> int:
    model, detector = load_detector(args.run)
    canvases = CanvasMaker("test").make(args.canvases, seed=args.seed)
    scores = evaluate_detector(model, detector, canvases)
    print(
        f"{len(canvases)} held-out canvases: mAP@0.5 {scores['map_50']:.3f}, "
        f"mAP@[.5:.95] {scores['map_50_95']:.3f}"
    )
    for name, ap in scores["per_class_ap_50"].items():
        print(f"  digit {name}: AP@0.5 {ap:.3f}")
    return 0


def cmd_canvas(args) -> int:
    canvas = CanvasMaker("test", size=args.size).make(1, seed=args.seed)
    write_image(args.out, np.round(canvas.images[0, :, :, 0] * 255).astype(np.uint8))
    digits = " ".join(str(c) for c in canvas.classes[0])
    print(f"wrote {args.out}: digits {digits}")
    return 0


# -------------------------------------------------------------------- find
def cmd_find(args) -> int:
    model, detector = load_detector(args.run)
    path = Path(args.path)
    image = read_image(path) if path.is_file() else None
    if image is None:
        return _find_in_video(model, detector, path, args)
    if args.out:
        picture_format(args.out)  # refused before the work, not after
    ((boxes, scores, classes),) = _find(model, detector, image, args.threshold)
    for box, score, cls in zip(boxes, scores, classes, strict=True):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        print(f"digit {detector['classes'][cls]}  score {score:.2f}  box ({x1}, {y1}, {x2}, {y2})")
    if not len(boxes):
        print("(no digits found)")
    if args.out:
        write_image(args.out, _annotated(image, (boxes, scores, classes), detector))
        print(f"wrote {args.out}")
    return 0


def _find(model, detector: dict, frame, threshold: float) -> list:
    """Detections on one RGB or gray uint8 frame (H, W, C): in gray, padded to the stride."""
    gray = yolo.gray_canvas(frame[None], detector["stride"])
    sized = yolo.resized_detector(model, detector, gray.shape[1:3])
    return _detect(sized, detector, gray, score_threshold=threshold)


def _annotated(frame, found, detector: dict):
    boxes, scores, classes = found
    labels = [detector["classes"][c] for c in classes]
    return draw_boxes(frame, boxes, labels=labels, scores=scores, color=(0, 255, 0))


def _find_in_video(model, detector: dict, path: Path, args) -> int:
    info = video_info(path)
    total = info.n_frames
    if args.max_frames is not None:
        total = args.max_frames if total is None else min(total, args.max_frames)
    writer = VideoWriter(args.out, info.fps, (info.width, info.height)) if args.out else None
    run = run_on_video(
        path,
        total,
        writer,
        args.max_frames,
        find=lambda frame: _find(model, detector, frame, args.threshold)[0],
        draw=lambda frame, found: _annotated(frame, found, detector),
    )
    frames = run["frames"]
    found_in = sum(bool(len(boxes)) for boxes, _, _ in run["found"])
    print(
        f"{frames} frames, digits found in {found_in} ({found_in / frames:.0%}); "
        f"{frames / max(run['find_seconds'], 1e-9):.1f} frames/s ({cpu_name()})"
    )
    if args.out:
        print(f"wrote {args.out}")
    return 0
