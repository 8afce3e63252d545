"""Face verification and recognition (Course 4, week 4) trained from scratch, with MNIST's
digits as the identities (no face set with several photos per person is to be had
offline: /work/shared/DATA.md).

Command (from the repository root)::

    python examples/face_verification.py                  # writes examples/face_verification/
    python examples/face_verification.py --steps 200 --out /tmp/face

The task is FaceNet's, with digits for people:

- Identities: the digits 0-7 are known; 8 and 9 are never seen in training (nor in the dev
  set): they play the strangers at the door.
- Train: MNIST's training images of 0-7 but the last 5,000 of the set (the dev split).  A
  small CNN encoder (``embedding_encoder``: 2 conv blocks, FC 128, 64-d unit embeddings)
  trained with the triplet loss (alpha 0.2) and online semi-hard mining on batches of
  8 identities x 16 images, Adam 1e-3, 1,200 steps (65 s on one core of an AMD EPYC).
- Dev (the last 5,000 training images, digits 0-7 only), where both thresholds are chosen:
  * ``threshold_verify``: the one that classifies 5,000 + 5,000 balanced same / different
    dev pairs best (``best_threshold``);
  * ``threshold_identify``: the database holds ``--references`` dev images per known digit;
    the threshold is the distance within which ``--accept`` (95 %) of the other dev images
    find their own digit (an open-set operating point: accept 95 % of the people enrolled,
    reject what lies farther).  The verification threshold sits in the middle of the wide
    gap between known digits, where the unseen digits land, so it lets strangers in;
    results.json gives every figure at both.
- Test (MNIST's 10,000 test images, looked at once):
  * verification accuracy on balanced pairs of known digits, and on pairs of the unseen
    digits 8 and 9 with each other and with known digits;
  * identification accuracy of the test images of 0-7 against the database (``identify``:
    the nearest identity, or "not in the database" at or beyond the threshold), and the
    rate of those rejected;
  * the "not in the database" rate of the test images of 8 and 9.

The same figures for the untrained encoder (random weights) are in results.json as the
baseline.  Outputs (``--out``): ``results.json`` and ``distances.png`` (test distance
histograms, same vs different pairs, and each query's distance to its nearest database
identity, known vs unseen digits, with the threshold).
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
from nnlab.applications.face import (
    TripletLoss,
    best_threshold,
    embedding_encoder,
    identify,
    train_triplets,
    verify,
)
from nnlab.data.datasets import load_mnist
from nnlab.ops.parallel import cpu_name

DEFAULT_OUT = Path(__file__).resolve().parent / "face_verification"
DEV_SIZE = 5000


def balanced_pairs(labels, n, rng):
    """n same-identity pairs (i, j), i != j, and n different-identity ones, drawn at random
    (with replacement) among the indices of ``labels``; returns (i, j, same)."""
    first = rng.integers(0, labels.size, 4 * n)
    second = rng.integers(0, labels.size, 4 * n)
    same = labels[first] == labels[second]
    same_idx = np.flatnonzero(same & (first != second))[:n]
    diff_idx = np.flatnonzero(~same)[:n]
    i = np.concatenate([first[same_idx], first[diff_idx]])
    j = np.concatenate([second[same_idx], second[diff_idx]])
    return i, j, np.concatenate([np.ones(same_idx.size, bool), np.zeros(diff_idx.size, bool)])


def unseen_pairs(labels, unseen, n, rng):
    """n same pairs among the unseen digits, n different pairs with at least one unseen."""
    pool = np.flatnonzero(np.isin(labels, unseen))
    i, j, same = balanced_pairs(labels[pool], n, rng)
    i, j = pool[i], pool[j]
    # half of the "different" pairs: an unseen digit against a known one
    known = np.flatnonzero(~np.isin(labels, unseen))
    diff = np.flatnonzero(~same)
    half = diff[: diff.size // 2]
    j[half] = rng.choice(known, half.size)
    return i, j, same


def evaluate(encoder, data, args, rng_seed) -> dict:
    """The held-out figures of the module docstring for one encoder."""
    rng = np.random.default_rng(rng_seed)
    e = {part: encoder.predict(data[part][0], batch_size=1000) for part in ("dev", "test")}
    y_dev, y_test = data["dev"][1], data["test"][1]
    unseen = np.isin(y_test, args.unseen)

    # thresholds, on the dev split only
    i, j, same = balanced_pairs(y_dev, args.pairs, rng)
    d_dev, _ = verify(e["dev"][i], e["dev"][j], 1.0)
    t_verify, dev_accuracy = best_threshold(d_dev, same)
    database, genuine = {}, []
    for digit in sorted(set(y_dev.tolist())):
        members = rng.permutation(np.flatnonzero(y_dev == digit))
        refs, queries = members[: args.references], members[args.references :]
        database[str(digit)] = e["dev"][refs]  # (references, d)
        d = np.linalg.norm(e["dev"][queries][:, None] - e["dev"][refs][None], axis=-1)
        genuine.append(d.min(axis=1))  # each dev query's distance to its own identity
    t_identify = float(np.quantile(np.concatenate(genuine), args.accept))

    # test: verification
    known = np.flatnonzero(~unseen)
    i, j, same = balanced_pairs(y_test[known], args.pairs, rng)
    d_known, said = verify(e["test"][known][i], e["test"][known][j], t_verify)
    _, said_tight = verify(e["test"][known][i], e["test"][known][j], t_identify)
    i2, j2, same2 = unseen_pairs(y_test, args.unseen, args.pairs, rng)
    _, said_unseen = verify(e["test"][i2], e["test"][j2], t_verify)

    # test: identification against the dev database, at either threshold
    truth = y_test.astype(str)

    def identification(threshold):
        names, nearest = identify(e["test"], database, threshold)
        names = np.array(["" if n is None else n for n in names])
        return {
            "identification_accuracy_known": float(np.mean(names[~unseen] == truth[~unseen])),
            "known_rejected_rate": float(np.mean(names[~unseen] == "")),
            "unseen_not_in_database_rate": float(np.mean(names[unseen] == "")),
        }, np.asarray(nearest)

    at_identify, nearest = identification(t_identify)
    at_verify, _ = identification(t_verify)
    return {
        "threshold_verify": t_verify,
        "threshold_identify": t_identify,
        "dev_verification_accuracy": dev_accuracy,
        "test_verification_accuracy_known": float(np.mean(said == same)),
        "test_verification_accuracy_known_at_threshold_identify": float(
            np.mean(said_tight == same)
        ),
        "test_verification_accuracy_unseen": float(np.mean(said_unseen == same2)),
        "test_at_threshold_identify": at_identify,
        "test_at_threshold_verify": at_verify,
        "n_test_known": int((~unseen).sum()),
        "n_test_unseen": int(unseen.sum()),
        "_plot": {
            "same": d_known[same],
            "different": d_known[~same],
            "nearest_known": nearest[~unseen],
            "nearest_unseen": nearest[unseen],
        },
    }


def plot(figures: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    p = figures["_plot"]
    fig = Figure(figsize=(9.5, 3.5))
    left, right = fig.subplots(1, 2)
    bins = np.linspace(0, 2, 61)
    left.hist(p["same"], bins, alpha=0.6, label="same digit", color="tab:green")
    left.hist(p["different"], bins, alpha=0.6, label="different digits", color="tab:red")
    left.set_title("Verification: test pairs of known digits", fontsize=9)
    right.hist(p["nearest_known"], bins, alpha=0.6, label="known digit (query)", color="tab:blue")
    right.hist(
        p["nearest_unseen"], bins, alpha=0.6, label="unseen digit (query)", color="tab:orange"
    )
    right.set_title("Identification: distance to the nearest database identity", fontsize=9)
    for ax in (left, right):
        for key, style in (("threshold_verify", "--"), ("threshold_identify", ":")):
            ax.axvline(figures[key], color="k", ls=style, lw=1, label=f"{key} {figures[key]:.2f}")
        ax.set_xlabel("distance ||f(x1) - f(x2)||")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1200, help="training steps (batches)")
    parser.add_argument("--seconds", type=float, default=None, help="or stop after this long")
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--per-identity", type=int, default=16, help="K images per identity")
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--unseen", type=int, nargs="+", default=[8, 9])
    parser.add_argument("--references", type=int, default=5, help="database images per digit")
    parser.add_argument(
        "--accept",
        type=float,
        default=0.95,
        help="dev known queries accepted at threshold_identify",
    )
    parser.add_argument("--pairs", type=int, default=5000, help="same (and different) pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(given)

    (x, y), (x_test, y_test) = load_mnist(flatten=False)
    unseen = np.isin(y, args.unseen)
    x_train, y_train = x[:-DEV_SIZE][~unseen[:-DEV_SIZE]], y[:-DEV_SIZE][~unseen[:-DEV_SIZE]]
    dev_known = ~unseen[-DEV_SIZE:]
    data = {
        "dev": (x[-DEV_SIZE:][dev_known], y[-DEV_SIZE:][dev_known]),
        "test": (x_test, y_test),
    }
    known = sorted(set(y_train.tolist()))
    print(f"identities {known} ({x_train.shape[0]} training images), unseen {args.unseen}")

    encoder = embedding_encoder(embedding_dim=args.embedding_dim, seed=args.seed)
    encoder.compile(nnlab.Adam(args.learning_rate), loss=None)
    baseline = evaluate(encoder, data, args, args.seed + 1)

    loss = TripletLoss(args.alpha, "semi-hard")

    def log(step, value, loss):
        if step % 200 == 0:
            print(f"step {step}: loss {value:.4f}, active triplets {loss.last_active:.2f}")

    history = train_triplets(
        encoder,
        x_train,
        y_train,
        steps=args.steps,
        loss=loss,
        n_identities=len(known),
        per_identity=args.per_identity,
        seconds=args.seconds,
        seed=args.seed,
        callback=log,
    )
    trained = evaluate(encoder, data, args, args.seed + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(trained, args.out / "distances.png")
    window = max(1, len(history["loss"]) // 20)
    results = {
        "command": " ".join(["python examples/face_verification.py", *map(shlex.quote, given)]),
        "cpu": cpu_name(),
        "threads": os.environ.get("NNLAB_NUM_THREADS", "default"),
        "train_seconds": round(history["seconds"], 1),
        "train_steps": history["steps"],
        "batch": f"{len(known)} identities x {args.per_identity} images",
        "train_images": int(x_train.shape[0]),
        "known_digits": known,
        "unseen_digits": list(args.unseen),
        "alpha": args.alpha,
        "learning_rate": args.learning_rate,
        "embedding_dim": args.embedding_dim,
        "references_per_identity": args.references,
        "pairs": f"{args.pairs} same + {args.pairs} different",
        "loss_first": float(np.mean(history["loss"][:window])),
        "loss_last": float(np.mean(history["loss"][-window:])),
        "active_last": float(np.nanmean(history["active"][-window:])),
        "trained": {k: v for k, v in trained.items() if not k.startswith("_")},
        "untrained": {k: v for k, v in baseline.items() if not k.startswith("_")},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
