"""Batch-parallel passes: splitting over threads changes nothing, bit for bit."""

import numpy as np
import pytest

from nnlab.exceptions import ConfigError
from nnlab.layers import Conv2D, Dense, LayerNormalization, MaxPool2D, ReLU
from nnlab.ops import activations, parallel
from nnlab.ops.activations import Softmax
from nnlab.training.losses import CategoricalCrossentropy


@pytest.fixture
def threads():
    """Run every pass in 3 chunks, however small (restored afterwards)."""
    saved = parallel.MIN_ELEMENTS, parallel.num_threads()

    def use(n, min_elements=1):
        parallel.MIN_ELEMENTS = min_elements
        parallel.set_num_threads(n)

    yield use
    parallel.MIN_ELEMENTS = saved[0]
    parallel.set_num_threads(saved[1])


def forward_backward(make_layer, x, seed=0):
    """(output, input gradient, parameter gradients) of a fresh layer on x, in training."""
    layer = make_layer()
    layer.build(x.shape[1:], np.random.default_rng(seed), "float32")
    out = layer.forward(x, training=True)
    da = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(da)
    return out, dx, {k: v.copy() for k, v in layer.grads.items()}


LAYERS = {
    "conv valid relu": lambda: Conv2D(6, 3, activation="relu"),
    "conv same stride 2": lambda: Conv2D(5, 3, strides=2, padding="same", activation="relu"),
    "maxpool 2": lambda: MaxPool2D(2),
    "maxpool 3 stride 2 same": lambda: MaxPool2D(3, strides=2, padding="same"),
    "relu": lambda: ReLU(),
    "layer norm": lambda: LayerNormalization(),
    "dense gelu (erf in chunks)": lambda: Dense(5, activation="gelu"),
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(LAYERS))
def test_split_over_threads_equals_one_call(threads, name, channels, monkeypatch):
    monkeypatch.setattr(activations, "_ERF_CHUNK", 16)  # GELU's erf: several chunks
    x = np.random.default_rng(2).standard_normal((7, 9, 8, channels)).astype(np.float32)
    threads(1)
    serial = forward_backward(LAYERS[name], x)
    threads(3)
    handed_out = []  # the executor is asked for only when a pass is really split
    get_executor = parallel._get_executor
    monkeypatch.setattr(parallel, "_get_executor", lambda: handed_out.append(1) or get_executor())
    split = forward_backward(LAYERS[name], x)
    assert handed_out, f"{name}: no pass was split across threads"
    np.testing.assert_array_equal(split[0], serial[0])
    np.testing.assert_array_equal(split[1], serial[1])
    assert serial[2].keys() == split[2].keys()
    for key in serial[2]:
        np.testing.assert_array_equal(split[2][key], serial[2][key])


def dense_softmax_loss(x, labels):
    """A Dense layer's output (its bias added row by row), softmax over the last axis of
    (m, T, K) logits, and the fused cross-entropy's per-position losses."""
    layer = Dense(6)
    layer.build(x.shape[1:], np.random.default_rng(0), "float32")
    z = layer.forward(x)
    loss = CategoricalCrossentropy(from_logits=True)
    value, grad = loss.value_and_grad(labels, z)
    return z, Softmax().forward(z), value, grad


def test_row_passes_split_over_threads_equal_one_call(threads, monkeypatch):
    """Dense's bias, softmax and the cross-entropy from logits run row by row."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 5, 4)).astype(np.float32)  # (m, T, n_in)
    labels = np.eye(6, dtype=np.float32)[rng.integers(0, 6, (7, 5))]  # one-hot (m, T, K)
    threads(1)
    serial = dense_softmax_loss(x, labels)
    threads(3)
    handed_out = []
    get_executor = parallel._get_executor
    monkeypatch.setattr(parallel, "_get_executor", lambda: handed_out.append(1) or get_executor())
    split = dense_softmax_loss(x, labels)
    assert len(handed_out) >= 3  # bias, softmax (twice: forward and loss), loss
    for a, b in zip(split, serial, strict=True):
        np.testing.assert_array_equal(a, b)


def test_chunks_cover_the_batch_once(threads):
    threads(4)
    seen = np.zeros(10, dtype=int)

    def pass_(lo, hi):
        seen[lo:hi] += 1

    parallel.run_over_batch(pass_, 10, 10)
    assert seen.tolist() == [1] * 10


def test_small_passes_stay_on_the_calling_thread(threads):
    threads(4, min_elements=1000)
    calls = []
    parallel.run_over_batch(lambda lo, hi: calls.append((lo, hi)), 64, 999)
    assert calls == [(0, 64)]


def test_an_error_in_a_worker_reaches_the_caller(threads):
    threads(2)

    def pass_(lo, hi):
        if lo > 0:
            raise ValueError("boom in the second chunk")

    with pytest.raises(ValueError, match="second chunk"):
        parallel.run_over_batch(pass_, 4, 4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True])
def test_bad_thread_counts(bad):
    with pytest.raises(ConfigError, match="number of threads"):
        parallel.set_num_threads(bad)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 1000])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_split_bounds_are_aligned_and_cover_the_range(n, parts):
    bounds = parallel.split(n, parts, 16)
    assert bounds[0] == 0 and bounds[-1] == n and len(bounds) == parts + 1
    assert bounds == sorted(bounds)
    assert all(b % 16 == 0 for b in bounds[:-1])


def test_rows_are_split_in_aligned_chunks_above_the_threshold(threads):
    threads(2)
    seen, calls = np.zeros(1000, dtype=int), []

    def pass_(lo, hi):
        calls.append((lo, hi))
        seen[lo:hi] += 1

    parallel.run_over_rows(pass_, 1000, 1000, align=16, min_elements=500)
    assert sorted(calls) == [(0, 496), (496, 1000)] and seen.tolist() == [1] * 1000
    calls.clear()
    parallel.run_over_rows(pass_, 1000, 1000, align=16, min_elements=501)
    assert calls == [(0, 1000)]
