"""Inference forwards write the outputs that stay inside the model into the arrays of the
last forward (Layer.output_array); what the caller receives is never overwritten later."""

from __future__ import annotations

import numpy as np

from nnlab import Dense, Flatten, Input, Model, Sequential
from nnlab.layers import Conv2D, MaxPool2D


def cnn(flatten_last: bool):
    layers = [Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten()]
    if not flatten_last:
        layers.append(Dense(3))
    model = Sequential(layers, input_shape=(8, 8, 2), seed=0)
    model.build()
    return model


def batches(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 5, 8, 8, 2)).astype(np.float32)


def test_inference_reuses_the_inner_outputs_and_training_does_not():
    model = cnn(flatten_last=False)
    x1, x2 = batches(0)
    conv = model.layers[0]
    first = model.layer_outputs(x1)[0].copy()  # layer_outputs gets new arrays
    model.forward(x1)
    kept = conv.cache.buffers["output"]
    np.testing.assert_array_equal(kept, first)
    model.forward(x2)
    assert conv.cache.buffers["output"] is kept  # the same array, refilled
    model.forward(x2, training=True)
    assert "output" not in conv.cache.buffers  # training keeps no inference array


def test_outputs_handed_out_are_never_overwritten():
    for flatten_last in (False, True):  # True: the output is a view of the pool's array
        model = cnn(flatten_last)
        x1, x2 = batches(1)
        out1 = model.forward(x1)
        expected1 = model.predict(x1)
        out2 = model.forward(x2)
        np.testing.assert_array_equal(out1, expected1)
        np.testing.assert_array_equal(out2, model.predict(x2))
        assert not np.shares_memory(out1, out2)


def test_an_inner_layer_output_that_is_also_a_model_output_is_not_reused():
    inputs = Input((8, 8, 2))
    a = Conv2D(4, 3, activation="relu")(inputs)
    b = Dense(3)(Flatten()(MaxPool2D(2)(a)))
    model = Model(inputs, [a, b])
    model.build()
    x1, x2 = batches(2)
    a1, _ = model.forward(x1)
    a1_copy = a1.copy()
    model.forward(x2)
    np.testing.assert_array_equal(a1, a1_copy)


def test_a_direct_layer_call_after_a_model_forward_gets_a_new_array():
    model = cnn(flatten_last=False)
    x1, x2 = batches(3)
    model.forward(x1)
    conv = model.layers[0]
    direct1 = conv.forward(x1)
    direct2 = conv.forward(x2)
    assert not np.shares_memory(direct1, direct2)
