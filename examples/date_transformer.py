"""A Transformer from scratch on the date-translation task (Course 5, week 4), beside the
attention RNN of examples/date_translation.py.

The same data as that example: 20,000 dates made by faker and babel in four locales
(``nnlab.data.dates``), tested on 1,000 new dates and 1,000 Dutch ones (a locale never
trained on), exact match of greedy decoding.  The model is the course's Transformer
(``nnlab.applications.transformer``): 2 encoder and 2 decoder layers, d_model 64, 4
heads, FFN 128, dropout 0.1; characters in, characters out, teacher forcing in training.

    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/date_transformer.py

writes examples/date_transformer/results.json (and prints each epoch).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from nnlab.applications.transformer import greedy_translate, shift_right, transformer
from nnlab.data.dates import HELD_OUT_LOCALE, TY, DateVocabulary, make_dates
from nnlab.ops.parallel import cpu_name
from nnlab.training.optimizers import Adam

PAD, START, OFFSET = 0, 1, 2  # target ids: 0 padding, 1 start, 2.. the machine characters


def source_ids(vocab: DateVocabulary, texts) -> np.ndarray:
    """(m, Tx) ids with padding 0 (the vocabulary's own ids + 1; its <pad> becomes 0)."""
    ids = vocab.encode_human(texts)
    return np.where(ids == vocab.human_size - 1, PAD, ids + 1)


def target_ids(vocab: DateVocabulary, isos) -> np.ndarray:
    return vocab.encode_machine(isos) + OFFSET


def exact_match(model, vocab, pairs) -> float:
    texts, isos = zip(*pairs, strict=True)
    decoded = greedy_translate(model, source_ids(vocab, texts), START, TY) - OFFSET
    guesses = vocab.decode_machine(np.clip(decoded, 0, vocab.machine_size - 1))
    return float(np.mean([g == iso for g, iso in zip(guesses, isos, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="examples/date_transformer")
    args = parser.parse_args()

    train = make_dates(args.train, seed=args.seed)
    seen = {human for human, _ in train}
    test = make_dates(1000, seed=1_000_000, exclude=seen)  # as examples/date_translation.py
    held = make_dates(1000, locales=(HELD_OUT_LOCALE,), seed=7, exclude=seen)
    vocab = DateVocabulary.from_pairs(train)
    texts, isos = zip(*train, strict=True)
    x, y = source_ids(vocab, texts), target_ids(vocab, isos)

    model = transformer(
        vocab.human_size + 1, vocab.machine_size + OFFSET, x.shape[1], TY, seed=args.seed
    )
    model.compile(Adam(args.learning_rate, global_clipnorm=5.0), "sparse_categorical_crossentropy")
    rows, seconds = [], 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.fit([x, shift_right(y, START)], y, epochs=epoch + 1, initial_epoch=epoch,
                  batch_size=100, verbose=0)  # fmt: skip
        seconds += time.perf_counter() - start
        rows.append({
            "epoch": epoch + 1,
            "test": exact_match(model, vocab, test),
            "held_out_locale": exact_match(model, vocab, held),
            "train_seconds": round(seconds, 1),
        })  # fmt: skip
        print(rows[-1], flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "model": "the course's Transformer: 2 + 2 layers, d_model 64, 4 heads, FFN 128",
        "parameters": model.count_params(),
        "train_dates": args.train,
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "seconds_per_epoch": round(seconds / args.epochs, 1),
        "cpu": cpu_name(),
        "threads": os.environ.get("NNLAB_NUM_THREADS", str(os.cpu_count())),
        "test_exact_match": rows[-1]["test"],
        "held_out_locale_exact_match": rows[-1]["held_out_locale"],
        "per_epoch": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"exact match: new dates {rows[-1]['test']:.3f}, {HELD_OUT_LOCALE} "
          f"{rows[-1]['held_out_locale']:.3f}; {results['seconds_per_epoch']} s an epoch")  # fmt: skip


if __name__ == "__main__":
    main()
