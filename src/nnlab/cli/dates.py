"""nnlab dates: translate human-readable dates into ISO dates with attention, and train it.

    nnlab dates train --out runs/dates --epochs 10
    nnlab dates translate runs/dates "Saturday 9 May 2018" --beam 3 --plot attention.png
    nnlab dates evaluate runs/dates --beam 3             # exact match and BLEU on new dates

    nnlab dates train --resume --out runs/dates --epochs 15   # continue a run

Course 5, week 3 (``nnlab.applications.date_translation``): a Bi-LSTM reads the date's
characters, an attention layer (shared across the 10 output steps) picks where to look, and
a post-attention LSTM writes YYYY-MM-DD one character at a time.  ``--model
feed-previous`` (the default) also feeds each written character back into the next step
(trained with teacher forcing), so that beam search can find a more probable translation
than greedy decoding; ``--model course`` is the course's model, whose steps do not read each
other.  The dates are made by faker and babel in the course's formats and four locales
(``nnlab.data.dates``).  The run folder gets the model (with its vocabulary), the learning
curves, the exact match and BLEU on new dates and on a locale never trained on (Dutch),
greedy and with beam search, and the attention map of one date.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from ..applications.date_translation import (
    DateTranslator,
    encode_pairs,
    evaluate,
    translate,
)
from ..data.dates import HELD_OUT_LOCALE, TX, DateVocabulary, human_form, make_dates
from ..exceptions import InputValueError
from ..practice.plots import attention_heatmap, learning_curves
from ..runs.runner import EpochLog
from ..saving.container import atomic_write_bytes
from ..saving.model_file import load_checkpoint, load_model, read_extra, read_model_file
from ..training import callbacks
from ..training.callbacks.checkpoint import restore_states
from ..training.optimizers import Adam
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

FIGURE_FILE = "attention_map.png"
SETTINGS = ("model", "dates", "test_dates", "epochs", "batch_size", "learning_rate")
SETTINGS += ("units", "beam", "alpha", "seed")
DEFAULT_EPOCHS = 10
MODELS = ("feed-previous", "course")
TEST_SEED, HELD_OUT_SEED = 1_000_000, 7  # the new dates a run reports (examples/ too)
EVALUATE_SEED = 2_000_003  # nnlab dates evaluate's: other new dates
EXAMPLE = "saturday 9 may 2018"


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab dates train``, ``translate`` and ``evaluate``."""
    parser = command_parser(
        subparsers, "dates", "translate dates into ISO dates with attention, or train it", __doc__
    )
    actions = action_parsers(
        parser, "train (a translator), translate (dates with a trained one) or evaluate (it)"
    )
    train = actions.add_parser("train", help="train a date translator", description=__doc__)
    options = [
        ("--model", str, "feed-previous", f"{' or '.join(MODELS)} (module docstring)"),
        ("--dates", int, 20_000, "training dates made by faker and babel"),
        ("--test-dates", int, 1000, "new dates (and Dutch ones) the run reports on"),
        ("--epochs", int, None, f"passes over the training dates (default: {DEFAULT_EPOCHS})"),
        ("--batch-size", int, 100, "dates per gradient step"),
        ("--learning-rate", float, 0.005, "Adam's step size (global norm clipped at 5)"),
        ("--units", int, 32, "n_a, the encoder LSTM's size (the post-attention LSTM's is 2 n_a)"),
        ("--beam", int, 3, "the beam width of the final report"),
        ("--alpha", float, 0.7, "beam search's length normalization"),
        ("--seed", int, 0, "for the training dates and the initial weights"),
        ("--out", str, None, "the run folder (default: runs/dates-TIME)"),
    ]
    add_train_options(train, options)
    train.set_defaults(handler=cmd_train)

    run = actions.add_parser("translate", help="translate dates with a trained model")
    run.add_argument("run", metavar="RUN", help="a dates run folder or its model file")
    run.add_argument("texts", metavar="DATE", nargs="+", help="human-readable dates")
    _add_decoding_options(run)
    run.add_argument("--plot", help="write the attention map of the first date (PNG)")
    run.set_defaults(handler=cmd_translate)

    test = actions.add_parser("evaluate", help="exact match and BLEU on new dates")
    test.add_argument("run", metavar="RUN", help="a dates run folder or its model file")
    test.add_argument("--dates", type=int, default=1000, help="how many (default: 1000)")
    test.add_argument(
        "--locale",
        default=None,
        help=f"a babel locale, e.g. {HELD_OUT_LOCALE} (default: the training locales)",
    )
    test.add_argument(
        "--seed", type=int, default=EVALUATE_SEED, help=f"which dates (default: {EVALUATE_SEED})"
    )
    _add_decoding_options(test)
    test.set_defaults(handler=cmd_evaluate)
    return parser


def _add_decoding_options(parser) -> None:
    parser.add_argument(
        "--beam", type=int, default=1, help="beam width; 1: greedy decoding (default: 1)"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.7, help="the length normalization (default: 0.7)"
    )


# ------------------------------------------------------------------- train
def cmd_train(args) -> int:
    if args.model not in MODELS:
        raise InputValueError(
            f"dates train: --model must be {' or '.join(MODELS)}, got {args.model!r}"
        )
    out = Path(args.out or f"runs/dates-{time.strftime('%Y%m%d-%H%M%S')}")
    settings = run_settings(args, out, SETTINGS, DEFAULT_EPOCHS, "dates train")
    data = _dates_data(settings)
    log = EpochLog()
    checkpoint_path = out / CHECKPOINT_FILE
    config = _translator_config(settings, data["vocab"])
    if args.resume:
        model, extra, tensors = load_checkpoint(checkpoint_path)
        restore_states({"log": log}, extra, tensors)
        translator, start = DateTranslator.from_model(model, config), int(extra["epoch"])
    else:
        translator = DateTranslator(**config, seed=settings["seed"])
        translator.model.compile(
            Adam(settings["learning_rate"], global_clipnorm=5.0), "sparse_categorical_crossentropy"
        )
        start = 0
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / SETTINGS_FILE, json.dumps(settings, indent=2).encode())
    x, y = data["train"]
    x_dev, y_dev = data["test"]
    scores = ExactMatchLogger(translator, data["vocab"], data["train_sample"], data["test_pairs"])
    checkpoint = callbacks.ModelCheckpoint(checkpoint_path, states={"log": log})
    translator.model.fit(
        translator.inputs(x, y),
        translator.targets(y),
        epochs=settings["epochs"],
        initial_epoch=start,
        batch_size=settings["batch_size"],
        validation_data=(translator.inputs(x_dev, y_dev), translator.targets(y_dev)),
        callbacks=[scores, log, checkpoint],  # scores first: into the logs the others keep
    )
    _write_outputs(out, translator, settings, data, log.rows)
    return 0


def _dates_data(settings: dict) -> dict:
    """The training dates (their vocabulary, arrays and a sample of 1,000), and the new
    dates and Dutch ones the run reports on (none of them a training string)."""
    pairs = make_dates(settings["dates"], seed=settings["seed"])
    if not pairs:
        raise InputValueError(f"dates train: --dates must be at least 1, got {settings['dates']}")
    vocab, seen = DateVocabulary.from_pairs(pairs), {human for human, _ in pairs}
    test = make_dates(settings["test_dates"], seed=TEST_SEED, exclude=seen)
    held = make_dates(settings["test_dates"], (HELD_OUT_LOCALE,), HELD_OUT_SEED, exclude=seen)
    return {
        "vocab": vocab,
        "train": encode_pairs(vocab, pairs),
        "train_sample": pairs[:1000],
        "test": encode_pairs(vocab, test),
        "test_pairs": test,
        "held_pairs": held,
    }


def _translator_config(settings: dict, vocab: DateVocabulary) -> dict:
    units = settings["units"]
    return {
        "human_size": vocab.human_size,
        "machine_size": vocab.machine_size,
        "n_a": units,
        "n_s": 2 * units,
        "energy_activation": "linear",  # the course's relu dies when trained from scratch
        "feed_previous": settings["model"] == "feed-previous",
    }


class ExactMatchLogger(callbacks.Callback):
    """Adds the greedy exact match on training dates and on new ones to each epoch's logs."""

    def __init__(self, translator, vocab, train_pairs, test_pairs):
        self.translator, self.vocab = translator, vocab
        self.train_pairs, self.test_pairs = train_pairs, test_pairs

    def on_epoch_end(self, epoch, logs):
        for key, pairs in (("exact_match", self.train_pairs), ("val_exact_match", self.test_pairs)):
            logs[key] = evaluate(self.translator, self.vocab, pairs)["exact_match"]
        print(
            f"exact match: training dates {logs['exact_match']:.3f}, "
            f"new dates {logs['val_exact_match']:.3f}"
        )


def _write_outputs(out: Path, translator, settings: dict, data: dict, rows: list[dict]) -> None:
    """The final model (with its vocabulary and configuration), the learning curves, the
    exact match and BLEU (greedy and beam search), the attention map of one date."""
    vocab = data["vocab"]
    metadata = {"vocabulary": vocab.chars, "translator": translator.config(), "settings": settings}
    translator.model.save(out / MODEL_FILE, include_optimizer=False, extra_metadata=metadata)
    history = {
        key: [row[key] for row in rows]
        for key in ("loss", "val_loss", "exact_match", "val_exact_match")
    }
    learning_curves(history, out / CURVES_FILE, title=f"dates ({settings['model']})")
    metrics = {"model": settings["model"], "train_dates": settings["dates"]}
    widths = sorted({1, settings["beam"]})
    for name, pairs in (("new_dates", data["test_pairs"]), ("held_out", data["held_pairs"])):
        for k in widths:
            metrics[f"{name}_k{k}"] = evaluate(translator, vocab, pairs, k, settings["alpha"])
    metrics["held_out_locale"] = HELD_OUT_LOCALE
    metrics["alpha"] = settings["alpha"]
    iso = _plot(translator, vocab, EXAMPLE, out / FIGURE_FILE)
    metrics["example"] = {EXAMPLE: iso}
    atomic_write_bytes(out / METRICS_FILE, json.dumps(metrics, indent=2).encode())
    for name, what in (("new_dates", "new dates"), ("held_out", f"{HELD_OUT_LOCALE} dates")):
        line = ", ".join(
            f"{'greedy' if k == 1 else f'beam {k}'} {metrics[f'{name}_k{k}']['exact_match']:.3f}"
            f" (BLEU {metrics[f'{name}_k{k}']['bleu']:.1f})"
            for k in widths
        )
        print(f"{len(data['test_pairs']) if name == 'new_dates' else len(data['held_pairs'])} "
              f"{what}: exact match {line}")  # fmt: skip
    print(f"'{EXAMPLE}' -> {iso}; saved {out / MODEL_FILE} (nnlab dates translate {out} DATE)")


def _plot(translator, vocab, text: str, path, k: int = 1, alpha: float = 0.7) -> str:
    """Write the attention map of ``text``'s translation; return the translation."""
    text = human_form(text)
    iso = translate(translator, vocab, [text], k, alpha)[0]
    x, y = encode_pairs(vocab, [(text, iso)])
    attention_heatmap(translator.attention_map(x, y)[0], text[:TX], iso, path)
    return iso


# -------------------------------------------------------- translate, evaluate
def load_translator(run: str, who: str):
    """(translator, vocabulary, metadata) of a dates run folder or model file (a verified
    safetensors file: nothing is unpickled)."""
    path = Path(run)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise InputValueError(f"dates {who}: no model at {path}")
    _, metadata = read_model_file(path)
    extra = read_extra(metadata)
    if "vocabulary" not in extra or "translator" not in extra:
        raise InputValueError(f"dates {who}: {path} is not a dates model (no vocabulary)")
    model = load_model(path, compile=False)
    return (
        DateTranslator.from_model(model, extra["translator"]),
        DateVocabulary(extra["vocabulary"]),
        extra,
    )


def _check_beam(args, who: str) -> None:
    if args.beam < 1:
        raise InputValueError(f"dates {who}: --beam must be at least 1, got {args.beam}")
    if args.alpha < 0:
        raise InputValueError(f"dates {who}: --alpha must be at least 0, got {args.alpha}")


def cmd_translate(args) -> int:
    _check_beam(args, "translate")
    translator, vocab, _ = load_translator(args.run, "translate")
    texts = [human_form(text) for text in args.texts]
    for text in texts:
        if len(text) > translator.tx:
            warnings.warn(
                f"dates translate: {text!r} has {len(text)} characters; the model reads the "
                f"first {translator.tx}",
                stacklevel=2,
            )
    for iso in translate(translator, vocab, texts, args.beam, args.alpha):
        print(iso)
    if args.plot:
        _plot(translator, vocab, texts[0], args.plot, args.beam, args.alpha)
        print(f"wrote {args.plot}")
    return 0


def cmd_evaluate(args) -> int:
    _check_beam(args, "evaluate")
    if args.dates < 1:
        raise InputValueError(f"dates evaluate: --dates must be at least 1, got {args.dates}")
    translator, vocab, extra = load_translator(args.run, "evaluate")
    settings = extra.get("settings")
    seen = (
        ()
        if settings is None
        else {h for h, _ in make_dates(settings["dates"], seed=settings["seed"])}
    )
    locales = {} if args.locale is None else {"locales": (args.locale,)}
    pairs = make_dates(args.dates, seed=args.seed, exclude=seen, **locales)
    result = evaluate(translator, vocab, pairs, args.beam, args.alpha)
    where = args.locale or "the training locales"
    how = (
        "greedy decoding" if args.beam == 1 else f"beam search (k={args.beam}, alpha={args.alpha})"
    )
    print(
        f"{args.dates} new dates in {where} (seed {args.seed}), {how}: exact match "
        f"{result['exact_match']:.3f}, BLEU {result['bleu']:.1f} (characters)"
    )
    return 0
