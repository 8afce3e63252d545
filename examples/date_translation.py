"""Human-readable dates -> ISO dates with the course's attention model (Course 5, week 3).

    python examples/date_translation.py [--model feed-previous|course] [--train 20000]
        [--epochs 10] [--beam 3] [--out examples/date_translation]

Trains ``nnlab.applications.date_translation.DateTranslator`` (Bi-LSTM encoder, attention
shared across the 10 output steps, post-attention LSTM; with ``--model feed-previous`` the
LSTM also reads the previous output character, trained with teacher forcing) on dates made
by faker and babel in the course's formats and four locales (``nnlab.data.dates``).  It
reports, greedy and with beam search, the exact-match accuracy and BLEU on 1,000 new dates
(none of them a training string) and on 1,000 dates of a locale never trained on (Dutch),
writes the attention map of one date as a PNG and the figures into results.json (one
entry per model).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from nnlab.applications.date_translation import (
    DateTranslator,
    encode_pairs,
    evaluate,
    translate,
)
from nnlab.data.dates import HELD_OUT_LOCALE, DateVocabulary, make_dates
from nnlab.ops.parallel import cpu_name
from nnlab.practice.plots import attention_heatmap
from nnlab.training.optimizers import Adam

EXAMPLE = "saturday 9 may 2018"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("feed-previous", "course"), default="feed-previous")
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="examples/date_translation")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    feed = args.model == "feed-previous"

    train = make_dates(args.train, seed=args.seed)
    seen = {human for human, _ in train}
    test = make_dates(1000, seed=1_000_000, exclude=seen)
    held = make_dates(1000, locales=(HELD_OUT_LOCALE,), seed=7, exclude=seen)
    vocab = DateVocabulary.from_pairs(train)
    x, y = encode_pairs(vocab, train)

    # linear energies: from scratch, the course's ReLU energies die and attention stays uniform
    translator = DateTranslator(
        vocab.human_size,
        vocab.machine_size,
        energy_activation="linear",
        feed_previous=feed,
        seed=args.seed,
    )
    translator.model.compile(Adam(0.005, global_clipnorm=5.0), "sparse_categorical_crossentropy")
    rows, train_seconds = [], 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        translator.model.fit(
            translator.inputs(x, y),
            translator.targets(y),
            epochs=epoch + 1,
            initial_epoch=epoch,
            batch_size=100,
            verbose=0,
        )
        train_seconds += time.perf_counter() - start
        rows.append(
            {
                "epoch": epoch + 1,
                "test": evaluate(translator, vocab, test)["exact_match"],
                "held_out_locale": evaluate(translator, vocab, held)["exact_match"],
                "train_seconds": round(train_seconds, 1),
            }
        )
        print(rows[-1], flush=True)

    scores = {}
    for name, pairs in (("test", test), ("held_out_locale", held)):
        for k in sorted({1, args.beam}):
            start = time.perf_counter()
            result = evaluate(translator, vocab, pairs, k=k, alpha=args.alpha)
            result["seconds"] = round(time.perf_counter() - start, 2)
            scores[f"{name}_k{k}"] = result
            print(name, f"k={k}", result, flush=True)

    iso = translate(translator, vocab, [EXAMPLE])[0]
    x_one, _ = encode_pairs(vocab, [(EXAMPLE, iso)])
    figure = "attention_map.png" if feed else "attention_map_course.png"
    y_one = vocab.encode_machine([iso])
    attention_heatmap(translator.attention_map(x_one, y_one)[0], EXAMPLE, iso, out / figure)

    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results = results if "models" in results else {"models": {}}
    results["models"][args.model] = {
        "train_dates": args.train,
        "new_test_dates": len(test),
        "held_out_locale": HELD_OUT_LOCALE,
        "epochs": args.epochs,
        "parameters": translator.model.count_params(),
        "seconds_per_epoch": round(train_seconds / args.epochs, 1),
        "cpu": cpu_name(),
        "threads": os.environ.get("NNLAB_NUM_THREADS", str(os.cpu_count())),
        "beam": args.beam,
        "alpha": args.alpha,
        "scores": scores,
        "per_epoch": rows,
        "example": {EXAMPLE: iso},
        "attention_map": figure,
        "human_vocabulary": vocab.human_size,
    }
    path.write_text(json.dumps(results, indent=2) + "\n")
    k = args.beam
    print(
        f"'{EXAMPLE}' -> {iso}; exact match on new dates: greedy "
        f"{scores['test_k1']['exact_match']:.3f}, beam k={k} "
        f"{scores[f'test_k{k}']['exact_match']:.3f}; {HELD_OUT_LOCALE}: greedy "
        f"{scores['held_out_locale_k1']['exact_match']:.3f}, beam "
        f"{scores[f'held_out_locale_k{k}']['exact_match']:.3f}; wrote {out / figure}"
    )


if __name__ == "__main__":
    main()
