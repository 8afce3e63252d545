"""nnlab qa: extractive question answering with a fine-tuned BERT encoder, and its training.

    nnlab qa train --out runs/qa --examples 3000 --epochs 2      # bAbI task 1
    nnlab qa train --out runs/qa-harder --harder                  # bAbI tasks 1-3, longer
    nnlab qa runs/qa --context "Mary went to the kitchen. John moved to the garden." \\
        --question "Where is Mary?"                               # prints: kitchen
    nnlab qa evaluate runs/qa --examples 1000 [--harder] [--new-words]

Course 5, week 4, the QA lab (``nnlab.applications.qa``): the question and the context are
read as one pair by all-MiniLM-L6-v2 (BERT, 6 layers of 384), and a head of two units per
token gives the answer's start and end; training fine-tunes encoder and head with AdamW on
bAbI-style stories (``nnlab.data.babi``: task 1, "Where is Mary?", or with --harder tasks
1 to 3 on stories of 8 to 24 sentences).  The run folder gets the model (a verified
safetensors file), the tokenizer, settings.json and metrics.json: SQuAD exact match and
token F1 on held-out stories, on stories of people and places never trained on, and for
--harder per task.  ``nnlab qa RUN ...`` reads RUN as a run folder unless RUN is "train"
or "evaluate" (write ./train for a folder of that name).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from ..applications.qa import MAX_LENGTH, QuestionAnswerer
from ..data.babi import babi_splits
from ..data.tokenization import SubwordTokenizer, minilm_folder
from ..exceptions import InputValueError
from ..ops.parallel import cpu_name
from ..saving.container import atomic_write_bytes
from ..saving.model_file import load_model, read_extra, read_model_file
from .parser import command_parser
from .resumable import METRICS_FILE, MODEL_FILE, SETTINGS_FILE

ACTIONS = ("train", "evaluate")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
SETTINGS = ("harder", "examples", "dev_examples", "test_examples", "epochs", "batch_size")
SETTINGS += ("learning_rate", "weight_decay", "warmup", "max_length", "seed")
EVALUATE_SEED = 1_000_003  # nnlab qa evaluate's stories: others than any run's
USAGE = """nnlab qa train [--out RUN] [--harder] [--examples N] [options]
       nnlab qa RUN --context TEXT --question TEXT [--question TEXT ...]
       nnlab qa evaluate RUN [--examples N] [--harder] [--new-words]"""


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab qa``: its first word picks the action (train, evaluate, or a run
    folder to answer with), which parses the rest (``nnlab qa train --help``)."""
    parser = command_parser(
        subparsers,
        "qa",
        "answer questions about a text with BERT, or fine-tune it",
        __doc__,
        usage=USAGE,
        epilog="nnlab qa train --help, nnlab qa RUN --help and nnlab qa evaluate --help list "
        "each form's options",
    )
    parser.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=cmd_qa)
    return parser


def cmd_qa(args) -> int:
    words = list(args.words)
    if not words:
        raise InputValueError(f"qa: give an action or a run folder:\n{USAGE}")
    if words[0] == "train":
        return cmd_train(train_parser().parse_args(words[1:]))
    if words[0] == "evaluate":
        return cmd_evaluate(evaluate_parser().parse_args(words[1:]))
    return cmd_answer(answer_parser().parse_args(words))


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlab qa train", description="fine-tune BERT for extractive QA on bAbI stories"
    )
    options = [
        ("--examples", int, 3000, "training stories (one question each)"),
        ("--dev-examples", int, 300, "dev stories, scored after every epoch"),
        ("--test-examples", int, 1000, "held-out test stories (and as many of new words)"),
        ("--epochs", int, 2, "passes over the training stories"),
        ("--batch-size", int, 16, "stories per AdamW step"),
        ("--learning-rate", float, 5e-5, "AdamW's peak step size (linear warm-up and decay)"),
        ("--weight-decay", float, 0.01, "AdamW's decoupled weight decay"),
        ("--warmup", float, 0.1, "the fraction of the steps the learning rate warms up in"),
        ("--max-length", int, MAX_LENGTH, "tokens per window of question and context"),
        ("--seed", int, 0, "the stories, the head's initialization, dropout, shuffling"),
    ]
    parser.add_argument("--out", default=None, help="the run folder (default: runs/qa-TIME)")
    parser.add_argument(
        "--harder",
        action="store_true",
        help="bAbI tasks 1-3 (where is the object, where was it before) on stories of 8 "
        "to 24 sentences with distractors (default: task 1, 2 to 10 sentences)",
    )
    for flag, kind, default, text in options:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="a BERT-family checkpoint folder (config.json, model.safetensors, "
        "tokenizer.json; default: all-MiniLM-L6-v2)",
    )
    return parser


def answer_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlab qa", description="answer questions about a text with a trained run"
    )
    parser.add_argument("run", metavar="RUN", help="a qa run folder (nnlab qa train --out)")
    parser.add_argument("--context", required=True, help="the text that holds the answers")
    parser.add_argument(
        "--question",
        required=True,
        action="append",
        help="a question about the context (repeat for several: one answer per line)",
    )
    parser.add_argument(
        "--score", action="store_true", help="also print each answer's start + end logit"
    )
    return parser


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlab qa evaluate", description="exact match and token F1 on new bAbI stories"
    )
    parser.add_argument("run", metavar="RUN", help="a qa run folder")
    parser.add_argument("--examples", type=int, default=1000, help="stories (default: 1000)")
    parser.add_argument("--harder", action="store_true", help="bAbI tasks 1-3, longer stories")
    parser.add_argument(
        "--new-words", action="store_true", help="people and places never trained on"
    )
    parser.add_argument(
        "--seed", type=int, default=EVALUATE_SEED, help=f"which stories (default: {EVALUATE_SEED})"
    )
    return parser


# ------------------------------------------------------------------- train
def cmd_train(args) -> int:
    _check_train_args(args)
    out = Path(args.out or f"runs/qa-{time.strftime('%Y%m%d-%H%M%S')}")
    if (out / MODEL_FILE).exists():
        raise InputValueError(f"qa train: {out} holds a run; choose another --out")
    settings = {key: getattr(args, key) for key in SETTINGS}
    folder = Path(args.checkpoint) if args.checkpoint else minilm_folder()
    settings["checkpoint"] = str(folder)
    data = qa_data(settings)
    qa = QuestionAnswerer.from_pretrained(folder, seed=args.seed, max_length=args.max_length)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / SETTINGS_FILE, json.dumps(settings, indent=2).encode())
    print(
        f"qa train: {len(data['train'])} {'harder ' if args.harder else ''}bAbI stories, "
        f"{args.epochs} epoch(s) of batches of {args.batch_size}, into {out}",
        flush=True,
    )

    def score_dev(epoch, logs):
        if data["dev"]:
            scores = qa.evaluate(data["dev"])
            logs["dev_exact_match"], logs["dev_f1"] = scores["exact_match"], scores["f1"]

    history = qa.fit(
        data["train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        on_epoch_end=score_dev,
    )
    metadata = {"qa": qa.config(), "settings": settings}
    qa.model.save(out / MODEL_FILE, include_optimizer=False, extra_metadata=metadata)
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, out / name)
    metrics = run_metrics(qa, data, history, settings)
    atomic_write_bytes(out / METRICS_FILE, json.dumps(metrics, indent=2).encode())
    for key, what in (("test", "held-out stories"), ("new_words", "stories of new words")):
        s = metrics[key]
        print(f"{s['examples']} {what}: exact match {s['exact_match']:.3f}, F1 {s['f1']:.3f}")
        for task in sorted(k for k in s if k.startswith("task_")):
            print(f"  {task}: exact match {s[task]['exact_match']:.3f}, F1 {s[task]['f1']:.3f}")
    print(f"saved {out / MODEL_FILE} (nnlab qa {out} --context TEXT --question TEXT)")
    return 0


def _check_train_args(args) -> None:
    for name in ("examples", "epochs", "batch_size", "test_examples"):
        if getattr(args, name) < 1:
            raise InputValueError(
                f"qa train: --{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    if args.dev_examples < 0:
        raise InputValueError(f"qa train: --dev-examples must be >= 0, got {args.dev_examples}")
    if not args.learning_rate > 0:
        raise InputValueError(f"qa train: --learning-rate must be > 0, got {args.learning_rate}")


def qa_data(settings: dict) -> dict:
    """The training, dev and test stories of a run's settings, and test stories of people
    and places never trained on (``babi_splits``: no test story is a training one)."""
    sizes = (settings["examples"], settings["dev_examples"], settings["test_examples"])
    options = {"seed": settings["seed"], "harder": settings["harder"]}
    splits = babi_splits(sizes, **options)
    new_words = babi_splits(sizes, new_words=True, **options).test
    return {"train": splits.train, "dev": splits.dev, "test": splits.test, "new_words": new_words}


def run_metrics(qa: QuestionAnswerer, data: dict, history: list[dict], settings: dict) -> dict:
    """Exact match and F1 on the test stories and on those of new words (per task for the
    harder set), the epochs' logs, the time per epoch and the machine."""
    metrics = {"settings": settings, "history": history}
    for key in ("test", "new_words"):
        began = time.perf_counter()
        metrics[key] = qa.evaluate(data[key])
        metrics[key]["seconds"] = round(time.perf_counter() - began, 1)
    seconds = [row["seconds"] for row in history]
    metrics["seconds_per_epoch"] = round(sum(seconds) / len(seconds), 3)
    metrics["parameters"] = int(qa.model.count_params())
    metrics["cpu"] = cpu_name()
    metrics["threads"] = os.environ.get("NNLAB_NUM_THREADS", "default")
    return metrics


# ------------------------------------------------------ answer, evaluate
def load_answerer(run: str, who: str) -> tuple[QuestionAnswerer, dict]:
    """(answerer, its metadata) of a qa run folder: the verified model file (nothing is
    unpickled) and the tokenizer saved beside it."""
    folder = Path(run)
    path = folder / MODEL_FILE
    if not folder.is_dir() or not path.is_file():
        raise InputValueError(
            f"qa {who}: {folder} is not a qa run folder (no {MODEL_FILE}; train one with "
            "nnlab qa train --out RUN)"
        )
    extra = read_extra(read_model_file(path)[1])
    if "qa" not in extra:
        raise InputValueError(f"qa {who}: {path} is not a question-answering model")
    tokenizer = SubwordTokenizer.from_folder(folder)
    model = load_model(path, compile=False)
    return QuestionAnswerer.from_model(model, tokenizer, extra["qa"]), extra


def cmd_answer(args) -> int:
    if not args.context.strip():
        raise InputValueError("qa: --context is empty")
    qa, _ = load_answerer(args.run, "answer")
    questions = args.question
    for answer in qa.answer_spans(questions, [args.context] * len(questions)):
        line = answer.text
        if args.score:
            line = f"{line}\t(score {answer.score:.2f}, characters {answer.start}-{answer.end})"
        print(line)
    return 0


def cmd_evaluate(args) -> int:
    if args.examples < 1:
        raise InputValueError(f"qa evaluate: --examples must be at least 1, got {args.examples}")
    qa, extra = load_answerer(args.run, "evaluate")
    settings = extra.get("settings", {})
    seen = set()
    if settings and bool(settings.get("harder")) == args.harder:  # leave the run's stories out
        data = qa_data(settings)
        seen = {(e.context, e.question) for key in ("train", "dev") for e in data[key]}
    stories = babi_splits(
        (0, 0, args.examples), seed=args.seed, harder=args.harder, new_words=args.new_words
    ).test
    stories = [e for e in stories if (e.context, e.question) not in seen]
    scores = qa.evaluate(stories)
    what = ("harder " if args.harder else "task-1 ") + ("new-word " if args.new_words else "")
    print(
        f"{scores['examples']} {what}bAbI stories (seed {args.seed}): exact match "
        f"{scores['exact_match']:.3f}, F1 {scores['f1']:.3f}"
    )
    for task in sorted(k for k in scores if k.startswith("task_")):
        s = scores[task]
        print(f"  {task}: exact match {s['exact_match']:.3f}, F1 {s['f1']:.3f} ({s['examples']})")
    return 0
