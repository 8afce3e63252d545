"""nnlab charlm: train a character-level language model on names, and sample names from it.

    nnlab charlm train --data surnames --cell lstm --epochs 10 --out runs/surnames
    nnlab charlm sample runs/surnames -n 10 --temperature 0.8

    nnlab charlm train --resume --out runs/surnames --epochs 20   # continue a run

The course's "Dinosaur Island" (Course 5, week 1) on real names: the 1990 US Census lists
(``--data surnames``, ``female`` or ``male``, from the ``names`` package) or a text file
with one name per line.  The names are shuffled (``--seed``) and split into training and
dev parts; the model (``nnlab.applications.char_lm``: one-hot characters, a SimpleRNN or
LSTM, a softmax per step) trains with a progress bar, and the run folder gets the model
(with its vocabulary), the learning curves and the dev perplexity.  ``sample`` draws names
as the course does: each next character from the softmax, at a temperature.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..applications.char_lm import CELLS, char_lm, perplexity, sample
from ..data.text import NAME_FILES, CharVocabulary, load_names
from ..exceptions import InputValueError
from ..practice.plots import learning_curves
from ..runs.runner import EpochLog
from ..saving.container import atomic_write_bytes
from ..saving.model_file import load_checkpoint, load_model, read_extra, read_model_file
from ..training import callbacks
from ..training.callbacks.checkpoint import restore_states
from ..training.optimizers import Adam, GradientDescent
from .parser import action_parsers, command_parser
from .resumable import (
    CHECKPOINT_FILE,
    CURVES_FILE,
    METRICS_FILE,
    MODEL_FILE,
    SETTINGS_FILE,
    add_train_options,
    run_settings,
)

#: the flags a run folder keeps (settings.json), so that --resume continues the same run
SETTINGS = ("data", "cell", "units", "epochs", "batch_size", "optimizer", "learning_rate")
SETTINGS += ("clip", "limit", "dev_fraction", "seed")
DEFAULT_EPOCHS = 10
OPTIMIZERS = {"adam": Adam, "sgd": GradientDescent}


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab charlm train ...`` and ``nnlab charlm sample RUN ...``."""
    parser = command_parser(
        subparsers, "charlm", "train a character-level language model, or sample names", __doc__
    )
    actions = action_parsers(
        parser, "train (a model on a list of names) or sample (names from a trained model)"
    )
    train = actions.add_parser("train", help="train on a list of names", description=__doc__)
    lists = ", ".join(NAME_FILES)
    options = [
        ("--data", str, "surnames", f"the names: {lists} (the census lists) or a text file"),
        ("--cell", str, "lstm", f"the recurrent cell: {' or '.join(sorted(CELLS))}"),
        ("--units", int, 64, "the size of the hidden state"),
        ("--epochs", int, None, "passes over the training names (default: 10)"),
        ("--batch-size", int, 64, "names per gradient step"),
        ("--optimizer", str, "adam", "adam or sgd (the course's)"),
        ("--learning-rate", float, 0.01, "the optimizer's step size"),
        ("--clip", float, 5.0, "clip every gradient to [-clip, clip], as the course does"),
        ("--limit", int, None, "train on the first N names of the list only"),
        ("--dev-fraction", float, 0.1, "the share of the names held out for the dev set"),
        ("--seed", int, 0, "for the shuffle, the split and the initial weights"),
        ("--out", str, None, "the run folder (default: runs/charlm-DATA-TIME)"),
    ]
    add_train_options(train, options)
    train.set_defaults(handler=cmd_train)
    draw = actions.add_parser("sample", help="sample names from a trained model")
    draw.add_argument("run", metavar="RUN", help="a charlm run folder or its model file")
    draw.add_argument("-n", type=int, default=10, help="how many names to draw (default: 10)")
    draw.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="below 1 bolder, above 1 wilder (default: 1.0)",
    )
    draw.add_argument(
        "--max-length", type=int, default=50, help="the longest name drawn (default: 50)"
    )
    draw.add_argument("--seed", type=int, help="the same names for the same seed (default: none)")
    draw.set_defaults(handler=cmd_sample)
    return parser


def read_names(data: str) -> list[str]:
    """A census list by name, or the lines of a text file (lower-cased, blanks dropped)."""
    if data in NAME_FILES:
        return load_names(data)
    path = Path(data)
    if not path.is_file():
        raise InputValueError(
            f"charlm train: --data must be one of {', '.join(NAME_FILES)} or a text file, "
            f"got {data!r}"
        )
    return [line.strip().lower() for line in path.read_text().splitlines() if line.strip()]


def cmd_train(args) -> int:
    out = Path(args.out or f"runs/charlm-{Path(args.data).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.optimizer not in OPTIMIZERS:
        raise InputValueError(
            f"charlm train: --optimizer must be adam or sgd, got {args.optimizer!r}"
        )
    settings = run_settings(args, out, SETTINGS, DEFAULT_EPOCHS, "charlm train")
    data = _names_data(settings)
    log = EpochLog()
    checkpoint_path = out / CHECKPOINT_FILE
    if args.resume:
        model, extra, tensors = load_checkpoint(checkpoint_path)
        restore_states({"log": log}, extra, tensors)
        start = int(extra["epoch"])
    else:
        model, start = _new_model(settings, data["vocab"]), 0
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / SETTINGS_FILE, json.dumps(settings, indent=2).encode())
    checkpoint = callbacks.ModelCheckpoint(checkpoint_path, states={"log": log})
    model.fit(
        data["x"],
        data["y"],
        epochs=settings["epochs"],
        initial_epoch=start,
        batch_size=settings["batch_size"],
        validation_data=(data["x_dev"], data["y_dev"]),
        callbacks=[log, checkpoint],  # the log first: the checkpoint saves its rows
    )
    _write_outputs(out, model, settings, data, log.rows)
    return 0


def _names_data(settings: dict) -> dict:
    """The vocabulary, training and dev sequences of the settings' names (shuffled with
    their seed, so that a resumed run splits them the same way)."""
    names = read_names(settings["data"])[: settings["limit"]]
    if len(names) < 2:
        raise InputValueError(f"charlm train: need at least 2 names, got {len(names)}")
    rng = np.random.default_rng(settings["seed"])
    names = [names[i] for i in rng.permutation(len(names))]
    n_dev = max(1, int(round(len(names) * settings["dev_fraction"])))
    vocab = CharVocabulary.from_texts(names)
    (x, y), (x_dev, y_dev) = vocab.sequences(names[n_dev:]), vocab.sequences(names[:n_dev])
    return {"vocab": vocab, "x": x, "y": y, "x_dev": x_dev, "y_dev": y_dev}


def _new_model(settings: dict, vocab: CharVocabulary):
    model = char_lm(vocab, units=settings["units"], cell=settings["cell"], seed=settings["seed"])
    optimizer = OPTIMIZERS[settings["optimizer"]](
        settings["learning_rate"], clipvalue=settings["clip"]
    )
    model.compile(optimizer, "sparse_categorical_crossentropy")
    return model


def _write_outputs(out: Path, model, settings: dict, data: dict, rows: list[dict]) -> None:
    """The final model (with its vocabulary), the learning curves of every epoch, the dev
    perplexity; a summary and a few sampled names on the terminal."""
    vocab = data["vocab"]
    metadata = {"vocabulary": vocab.chars, "data": settings["data"], "cell": settings["cell"]}
    model.save(out / MODEL_FILE, include_optimizer=False, extra_metadata=metadata)
    history = {key: [row[key] for row in rows] for key in rows[0] if key != "epoch"}
    title = f"charlm {settings['cell']} on {settings['data']}"
    learning_curves(history, out / CURVES_FILE, title=title)
    dev_perplexity = perplexity(model, data["x_dev"], data["y_dev"])
    n_train, n_dev = len(data["x"]), len(data["x_dev"])
    metrics = {"dev_perplexity": dev_perplexity, "train_names": n_train, "dev_names": n_dev}
    atomic_write_bytes(out / METRICS_FILE, json.dumps(metrics, indent=2).encode())
    print(f"{n_train:,} names trained, {n_dev:,} held out: dev perplexity {dev_perplexity:.3f}")
    print("samples: " + ", ".join(sample(model, vocab, 0.8, rng=k) for k in range(5)))
    print(f"saved {out / MODEL_FILE} (sample it: nnlab charlm sample {out})")


def cmd_sample(args) -> int:
    path = Path(args.run)
    path = path / MODEL_FILE if path.is_dir() else path
    _, metadata = read_model_file(path)
    chars = read_extra(metadata).get("vocabulary")
    if chars is None:
        raise InputValueError(f"charlm sample: {path} is not a charlm model (no vocabulary)")
    model, vocab = load_model(path, compile=False), CharVocabulary(chars)
    rng = np.random.default_rng(args.seed)
    for _ in range(args.n):
        print(sample(model, vocab, args.temperature, args.max_length, rng))
    return 0
