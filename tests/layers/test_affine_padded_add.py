"""Affine (dlib's frozen batch norm) and PaddedAdd (dlib's add_prev) on small cases worked
by hand; the harness (test_harness.py) checks their gradients, configs and PyTorch
equivalents."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab import layers as L
from nnlab.exceptions import ShapeError
from nnlab.training.model import Model


def built(layer, shape, dtype="float64"):
    layer.build(shape, np.random.default_rng(0), dtype)
    return layer


def test_affine_by_hand():
    layer = built(L.Affine(), (2, 2))
    layer.params["gamma"][...] = [2.0, -1.0]
    layer.params["beta"][...] = [0.5, 3.0]
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2): two positions, two features
    np.testing.assert_array_equal(layer.forward(x), [[[2.5, 1.0], [6.5, -1.0]]])
    dy = np.array([[[1.0, 1.0], [2.0, -1.0]]])
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx, [[[2.0, -1.0], [4.0, 1.0]]])  # gamma * dy
    np.testing.assert_array_equal(layer.grads["gamma"], [1 * 1 + 3 * 2, 2 * 1 + 4 * -1])
    np.testing.assert_array_equal(layer.grads["beta"], [3.0, 0.0])


def test_affine_equals_frozen_batch_norm():
    """Affine with gamma / sqrt(var + eps), beta - mean gamma / sqrt(var + eps) is a batch
    norm at inference: how dlib turns its bn_con layers into affine ones."""
    rng = np.random.default_rng(1)
    bn = built(L.BatchNormalization(epsilon=1e-5), (4, 4, 3))
    bn.params["gamma"][...] = rng.uniform(0.5, 2, 3)
    bn.params["beta"][...] = rng.standard_normal(3)
    bn.state["moving_mean"][...] = rng.standard_normal(3)
    bn.state["moving_variance"][...] = rng.uniform(0.5, 2, 3)
    affine = built(L.Affine(), (4, 4, 3))
    scale = bn.params["gamma"] / np.sqrt(bn.state["moving_variance"] + 1e-5)
    affine.params["gamma"][...] = scale
    affine.params["beta"][...] = bn.params["beta"] - bn.state["moving_mean"] * scale
    x = rng.standard_normal((2, 4, 4, 3))
    np.testing.assert_allclose(affine.forward(x), bn.forward(x, training=False), atol=1e-12)


def test_padded_add_by_hand():
    """A 1x1 conv output added to a 2x2 pooled shortcut with half the channels, as in the
    last block of dlib's face ResNet."""
    layer = built(L.PaddedAdd(), [(1, 1, 2), (2, 2, 1)])
    assert layer.output_shape == (2, 2, 2)
    a = np.array([[[[10.0, 20.0]]]])  # (1, 1, 1, 2)
    b = np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]])  # (1, 2, 2, 1)
    out = layer.forward([a, b])
    np.testing.assert_array_equal(out[..., 0], [[[11.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_array_equal(out[..., 1], [[[20.0, 0.0], [0.0, 0.0]]])
    da = np.arange(8.0).reshape(1, 2, 2, 2)
    da_a, da_b = layer.backward(da)
    np.testing.assert_array_equal(da_a, da[:, :1, :1, :])
    np.testing.assert_array_equal(da_b, da[..., :1])


def test_padded_add_of_one_shape_is_add():
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((3, 4, 5)) for _ in range(3)]
    layer = built(L.PaddedAdd(), [(4, 5)] * 3)
    np.testing.assert_allclose(layer.forward(xs), xs[0] + xs[1] + xs[2])


def test_padded_add_in_a_graph():
    """dlib's downsampling block in small: a strided conv (4 channels) plus a pooled
    shortcut (2 channels).  With the conv zeroed the output is the shortcut, zero-padded;
    the input gradient of a sum over its first two channels is the pooling's 1/4."""
    x = L.Input((5, 5, 2))
    conv = L.Conv2D(4, 3, strides=2, padding="valid")
    out = L.PaddedAdd()([conv(x), L.AvgPool2D(2)(x)])  # (2, 2, 4) + (2, 2, 2)
    model = Model(x, out, dtype="float64")
    model.build()
    conv.params["W"][...] = 0
    conv.params["b"][...] = 0
    data = np.random.default_rng(3).standard_normal((2, 5, 5, 2))
    y = model.forward(data, training=True)
    assert y.shape == (2, 2, 2, 4)
    pooled = data[:, :4, :4].reshape(2, 2, 2, 2, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(y[..., :2], pooled)
    np.testing.assert_array_equal(y[..., 2:], 0)
    dx = model.backward(np.ones_like(y), input_grads=True)
    dx = dx[0] if isinstance(dx, list) else dx
    expected = np.zeros_like(data)
    expected[:, :4, :4] = 0.25
    np.testing.assert_allclose(dx, expected)


def test_padded_add_errors():
    with pytest.raises(ShapeError, match="one rank"):
        L.PaddedAdd().compute_output_shape([(2, 2, 3), (2, 3)])
    with pytest.raises(ShapeError, match="2 or more"):
        L.PaddedAdd().compute_output_shape([(2, 2, 3)])
