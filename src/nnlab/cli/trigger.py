"""nnlab trigger: train the course's trigger-word detector, and run it on audio.

    nnlab trigger train --out runs/trigger --epochs 30
    nnlab trigger evaluate runs/trigger --clips 200        # precision, recall on new clips
    nnlab trigger clip --out clip.wav --seed 3             # a 10-second test clip to try
    nnlab trigger detect runs/trigger clip.wav --out chimed.wav --plot clip.png

    nnlab trigger train --resume --out runs/trigger --epochs 40   # continue a run

Course 5, week 3 (``nnlab.applications.trigger_word``): clips of 10 s mix spoken
"activate"s and other words (synthesized by espeak-ng, shipped with nnlab) into made
backgrounds; a Conv1D + two GRUs say at each of 1,375 steps whether "activate" just ended.
Every epoch trains on fresh clips (``--clips`` of them, from the training voices); the
dev clips are spoken by voices and at speeds no training clip uses, and after each epoch
the run reports their loss and the precision and recall of the detections.  ``detect``
chimes where the model fires, as the course's ``chime_on_activate``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..applications.trigger_word import (
    detection_samples,
    detections,
    score_clips,
    trigger_word_model,
)
from ..data.speech import SAMPLE_RATE, load_word_bank, read_wav, resample, write_wav
from ..data.trigger_clips import ClipMaker, add_chimes, spectrogram
from ..practice.plots import learning_curves, spectrogram_figure
from ..runs.runner import EpochLog
from ..saving.container import atomic_write_bytes
from ..saving.model_file import load_checkpoint, load_model
from ..training import callbacks
from ..training.callbacks.checkpoint import restore_states
from ..training.optimizers import Adam
from ..training.schedules import ExponentialDecay
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

FIGURE_FILE = "dev_clip.png"
SETTINGS = ("epochs", "clips", "dev_clips", "batch_size", "learning_rate", "decay_rate")
SETTINGS += ("dropout", "seed")
DEFAULT_EPOCHS = 30
DEV_SEED = 1_000_003  # the dev clips' seed: the same dev set for every run
TEST_SEED = 2_000_003  # nnlab trigger evaluate's clips: other mixes of the held-out words


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab trigger train``, ``evaluate``, ``clip`` and ``detect``."""
    parser = command_parser(
        subparsers, "trigger", "train a trigger-word detector, or run it on audio", __doc__
    )
    actions = action_parsers(
        parser,
        "train, evaluate (on new clips), clip (make a test clip) or detect (chime on a clip)",
    )
    train = actions.add_parser("train", help="train the detector", description=__doc__)
    options = [
        ("--epochs", int, None, f"epochs, each on fresh clips (default: {DEFAULT_EPOCHS})"),
        ("--clips", int, 256, "training clips made for each epoch"),
        ("--dev-clips", int, 100, "held-out clips (other voices and speeds)"),
        ("--batch-size", int, 16, "clips per gradient step"),
        ("--learning-rate", float, 0.003, "Adam's first step size"),
        ("--decay-rate", float, 0.93, "the step size is multiplied by this every epoch"),
        ("--dropout", float, 0.3, "the dropout rate (the course's is 0.8)"),
        ("--seed", int, 0, "for the clips and the initial weights"),
        ("--out", str, None, "the run folder (default: runs/trigger-TIME)"),
    ]
    add_train_options(train, options)
    train.set_defaults(handler=cmd_train)

    clip = actions.add_parser("clip", help="write a 10-second clip of held-out voices")
    clip.add_argument("--out", required=True, help="the WAV file to write")
    clip.add_argument("--seed", type=int, default=0, help="which clip (default: 0)")
    clip.set_defaults(handler=cmd_clip)

    test = actions.add_parser("evaluate", help="score a run on new held-out clips")
    test.add_argument("run", metavar="RUN", help="a trigger run folder or its model file")
    test.add_argument("--clips", type=int, default=200, help="how many clips (default: 200)")
    test.add_argument(
        "--seed", type=int, default=TEST_SEED, help=f"which clips (default: {TEST_SEED})"
    )
    test.add_argument(
        "--threshold", type=float, default=0.5, help="fire above this probability (default: 0.5)"
    )
    test.set_defaults(handler=cmd_evaluate)

    detect = actions.add_parser("detect", help="chime where the model hears 'activate'")
    detect.add_argument("run", metavar="RUN", help="a trigger run folder or its model file")
    detect.add_argument("audio", metavar="WAV", help="a 16-bit PCM WAV file (any rate, mono)")
    detect.add_argument("--out", help="write the audio with a chime at each detection")
    detect.add_argument("--plot", help="write its spectrogram with the model's output (PNG)")
    detect.add_argument(
        "--threshold", type=float, default=0.5, help="fire above this probability (default: 0.5)"
    )
    detect.set_defaults(handler=cmd_detect)
    return parser


# ------------------------------------------------------------------- train
def cmd_train(args) -> int:
    out = Path(args.out or f"runs/trigger-{time.strftime('%Y%m%d-%H%M%S')}")
    settings = run_settings(args, out, SETTINGS, DEFAULT_EPOCHS, "trigger train")
    bank = load_word_bank()
    train_maker = ClipMaker(bank, "train")
    x_dev, y_dev, dev_clips = ClipMaker(bank, "test").dataset(settings["dev_clips"], DEV_SEED)
    log = EpochLog()
    checkpoint_path = out / CHECKPOINT_FILE
    if args.resume:
        model, extra, tensors = load_checkpoint(checkpoint_path)
        restore_states({"log": log}, extra, tensors)
        start = int(extra["epoch"])
    else:
        model, start = _new_model(settings), 0
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / SETTINGS_FILE, json.dumps(settings, indent=2).encode())
    scores = DetectionLogger(x_dev, dev_clips)
    checkpoint = callbacks.ModelCheckpoint(checkpoint_path, states={"log": log})
    for epoch in range(start, settings["epochs"]):  # fresh clips every epoch
        x, y, _ = train_maker.dataset(settings["clips"], seed=settings["seed"] * 100_003 + epoch)
        model.fit(  # one epoch (see OneEpoch), numbered out of all the run's
            x,
            y,
            epochs=settings["epochs"],
            initial_epoch=epoch,
            batch_size=settings["batch_size"],
            validation_data=(x_dev, y_dev),
            callbacks=[scores, log, checkpoint, OneEpoch()],  # scores first: into the logs
        )
    _write_outputs(out, model, log.rows, x_dev, dev_clips)
    return 0


class DetectionLogger(callbacks.Callback):
    """Adds the dev clips' detection precision and recall to each epoch's logs."""

    def __init__(self, x_dev, dev_clips):
        self.x_dev, self.dev_clips = x_dev, dev_clips

    def on_epoch_end(self, epoch, logs):
        score = score_clips(self.model.predict(self.x_dev, batch_size=50), self.dev_clips)
        logs["val_precision"], logs["val_recall"] = score.precision, score.recall
        print(f"dev clips: precision {score.precision:.3f}, recall {score.recall:.3f}")


def _new_model(settings: dict):
    model = trigger_word_model(dropout=settings["dropout"], seed=settings["seed"])
    schedule = ExponentialDecay(settings["learning_rate"], settings["decay_rate"])
    model.compile(Adam(schedule), "binary_crossentropy")
    return model


def _write_outputs(out: Path, model, rows: list[dict], x_dev, dev_clips) -> None:
    """The model, learning curves, the dev score and a figure of one dev clip."""
    model.save(out / MODEL_FILE, include_optimizer=False)
    history = {key: [row[key] for row in rows] for key in rows[0] if key != "epoch"}
    learning_curves(history, out / CURVES_FILE, title="trigger word")
    probabilities = model.predict(x_dev, batch_size=50)
    score = score_clips(probabilities, dev_clips)
    metrics = {
        "dev_precision": score.precision,
        "dev_recall": score.recall,
        "dev_clips": len(dev_clips),
        "dev_triggers": score.triggers,
        "dev_detections": score.detections,
    }
    atomic_write_bytes(out / METRICS_FILE, json.dumps(metrics, indent=2).encode())
    shown = max(range(len(dev_clips)), key=lambda i: len(dev_clips[i].trigger_ends))
    spectrogram_figure(
        x_dev[shown], probabilities[shown], dev_clips[shown].labels, out / FIGURE_FILE
    )
    print(
        f"dev clips (voices and speeds not trained on): precision {score.precision:.3f}, "
        f"recall {score.recall:.3f} ({score.triggers} trigger words, {score.detections} "
        f"detections); saved {out / MODEL_FILE}"
    )


# -------------------------------------------------------------- clip, detect
def cmd_clip(args) -> int:
    clip = ClipMaker(load_word_bank(), "test").clip(np.random.default_rng(args.seed))
    write_wav(args.out, clip.audio)
    ends = ", ".join(f"{end / SAMPLE_RATE:.2f} s" for end in clip.trigger_ends) or "none"
    print(f"wrote {args.out}: 'activate' ends at {ends}")
    return 0


def cmd_evaluate(args) -> int:
    model = load_model(_model_path(args.run), compile=False)
    x, _, clips = ClipMaker(load_word_bank(), "test").dataset(args.clips, args.seed)
    score = score_clips(model.predict(x, batch_size=50), clips, args.threshold)
    print(
        f"{args.clips} clips of held-out voices and speeds (seed {args.seed}): precision "
        f"{score.precision:.3f}, recall {score.recall:.3f} ({score.triggers} trigger words, "
        f"{score.detections} detections, {score.right} right)"
    )
    return 0


def _model_path(run: str) -> Path:
    path = Path(run)
    return path / MODEL_FILE if path.is_dir() else path


def cmd_detect(args) -> int:
    model = load_model(_model_path(args.run), compile=False)
    audio, rate = read_wav(args.audio)
    audio = resample(audio, rate, SAMPLE_RATE)
    features = spectrogram(audio)
    probabilities = model.predict(features[None])[0, :, 0]
    fired = detections(probabilities, args.threshold)
    at = detection_samples(fired, len(audio), len(probabilities))
    times = ", ".join(f"{s / SAMPLE_RATE:.2f} s" for s in at) or "nowhere"
    print(f"'activate' heard at: {times}")
    if args.out:
        write_wav(args.out, add_chimes(audio, at))
        print(f"wrote {args.out} (a chime at each detection)")
    if args.plot:
        spectrogram_figure(features, probabilities, None, args.plot)
        print(f"wrote {args.plot}")
    return 0
