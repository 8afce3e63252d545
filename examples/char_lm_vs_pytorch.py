"""Character-level language model on US Census surnames: nnlab against PyTorch, same recipe.

Both frameworks train the same model from the same initial weights on the same mini-batches:
one-hot characters -> LSTM (--units, default 64) -> softmax per step, sparse cross-entropy
over the real (unpadded) characters, Adam (--lr 0.01) with gradients clipped at 5 (by
value), batch 64, --epochs epochs over --n-train surnames (the most frequent, shuffled
with a fixed seed); the next --n-test surnames are held out.  nnlab masks the padding
(``Embedding(mask_zero=True)``); PyTorch gets the same effect from ``ignore_index=0`` and
packing-free post-padding (an LSTM's outputs at real steps do not depend on later steps).

Printed: held-out perplexity (exp of the mean cross-entropy per character, the newline that
ends a name included) of both, their ratio (issue 11: within 2%), the unigram model's
perplexity for scale, training time, and 10 names sampled from nnlab's model (temperature
--temperature).  Last line: one JSON object.

Run from the repository root (needs torch: `pip install -e ".[test]"`):
    python examples/char_lm_vs_pytorch.py [--n-train 20000] [--epochs 8] [--units 64]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import nnlab
from nnlab.applications.char_lm import char_lm, perplexity, sample, unigram_perplexity
from nnlab.data.text import CharVocabulary, load_names


def torch_model(model, vocab_size, units):
    """A PyTorch LSTM + Linear holding nnlab's initial weights (gates i, f, g, o in both)."""
    import torch

    lstm_layer = next(layer for layer in model.layers if isinstance(layer, nnlab.LSTM))
    dense = next(layer for layer in model.layers if isinstance(layer, nnlab.Dense))
    lstm = torch.nn.LSTM(vocab_size, units, batch_first=True)
    linear = torch.nn.Linear(units, vocab_size)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(lstm_layer.params["W"].T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(lstm_layer.params["U"].T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(lstm_layer.params["b"].copy()))
        lstm.bias_hh_l0.zero_()
        linear.weight.copy_(torch.from_numpy(dense.params["W"].T.copy()))
        linear.bias.copy_(torch.from_numpy(dense.params["b"].copy()))
    return lstm, linear


def train_torch(lstm, linear, x, y, batches, epochs, lr, vocab_size):
    import torch

    params = list(lstm.parameters()) + list(linear.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    eye = torch.eye(vocab_size)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
    for epoch in range(epochs):
        for rows in batches(epoch):
            states, _ = lstm(eye[x_t[rows]])
            logits = linear(states)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, vocab_size), y_t[rows].reshape(-1), ignore_index=0
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_value_(params, 5.0)
            optimizer.step()


def torch_perplexity(lstm, linear, x, y, vocab_size) -> float:
    import torch

    with torch.no_grad():
        states, _ = lstm(torch.eye(vocab_size)[torch.from_numpy(x)])
        logits = linear(states).reshape(-1, vocab_size)
        loss = torch.nn.functional.cross_entropy(
            logits, torch.from_numpy(y).reshape(-1), ignore_index=0
        )
    return float(math.exp(loss.item()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-test", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(0)
    surnames = load_names("surnames")[: args.n_train + args.n_test]
    order = np.random.default_rng(0).permutation(len(surnames))
    train = [surnames[i] for i in order[: args.n_train]]
    held_out = [surnames[i] for i in order[args.n_train :]]
    vocab = CharVocabulary.from_texts(surnames)
    x, y = vocab.sequences(train)
    x_test, y_test = vocab.sequences(held_out)
    v = vocab.size

    model = char_lm(vocab, units=args.units, cell="lstm", seed=0)
    model.compile(nnlab.Adam(args.lr, clipvalue=5.0), "sparse_categorical_crossentropy")
    lstm, linear = torch_model(model, v, args.units)

    def batches(epoch):
        perm = np.random.default_rng(100 + epoch).permutation(len(x))
        return [perm[i : i + args.batch_size] for i in range(0, len(x), args.batch_size)]

    start = time.perf_counter()
    for epoch in range(args.epochs):  # the same batches, in the same order, as PyTorch's
        for rows in batches(epoch):
            inputs = model.prepare_inputs(x[rows], "train_step")
            model.train_step(inputs, model.prepare_targets(y[rows], len(rows), "train_step"))
    nnlab_s = time.perf_counter() - start
    start = time.perf_counter()
    train_torch(lstm, linear, x, y, batches, args.epochs, args.lr, v)
    torch_s = time.perf_counter() - start

    ours = perplexity(model, x_test, y_test)
    theirs = torch_perplexity(lstm, linear, x_test, y_test, v)
    unigram = unigram_perplexity(train, held_out)
    names = [sample(model, vocab, args.temperature, rng=seed) for seed in range(10)]
    print(
        f"char-level LSTM({args.units}) on {len(train):,} US Census surnames, {args.epochs} "
        f"epochs, Adam {args.lr:g}, clip 5, batch {args.batch_size}; {len(held_out):,} held out"
    )
    print(
        f"  held-out perplexity: nnlab {ours:.4f}, PyTorch {theirs:.4f}, ratio {ours / theirs:.4f}"
    )
    print(
        f"  unigram model: {unigram:.3f}; training time nnlab {nnlab_s:.1f} s, PyTorch {torch_s:.1f} s"
    )
    print(f"  sampled (temperature {args.temperature:g}): {', '.join(names)}")
    figures = {
        "nnlab_perplexity": round(ours, 4),
        "torch_perplexity": round(theirs, 4),
        "ratio": round(ours / theirs, 4),
        "unigram_perplexity": round(unigram, 3),
        "nnlab_seconds": round(nnlab_s, 1),
        "torch_seconds": round(torch_s, 1),
        "samples": names,
        "n_train": len(train),
        "epochs": args.epochs,
        "units": args.units,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
