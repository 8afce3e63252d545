"""PReLU against PyTorch's ``nn.PReLU`` / ``F.prelu``: values, input and alpha gradients to
1e-6 (float32 and float64), for each way alpha is shared; Keras' weight shapes; errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import compare_with_torch

from nnlab import layers as L
from nnlab.exceptions import ConfigError
from nnlab.ops.initializers import RandomNormal

torch = pytest.importorskip("torch")
F = torch.nn.functional


def to_cf(x):
    return x.permute(0, 3, 1, 2)


def to_cl(x):
    return x.permute(0, 2, 3, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "shape, shared_axes, image",
    [
        ((7,), None, False),  # (m, n): one alpha per unit = nn.PReLU(n)
        ((5, 4, 3), [1, 2], True),  # images: one alpha per channel = nn.PReLU(n_C)
        ((5, 4, 3), [1, 2, 3], True),  # one alpha for all = nn.PReLU()
    ],
    ids=["per-unit", "per-channel", "single"],
)
def test_equals_torch_nn_prelu(shape, shared_axes, image, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, *shape))
    layer = L.PReLU(alpha_initializer=RandomNormal(0.5), shared_axes=shared_axes)
    layer.build(shape, np.random.default_rng(1), dtype)
    alpha = np.array(layer.params["alpha"])
    module = torch.nn.PReLU(num_parameters=alpha.size).to(getattr(torch, dtype))
    with torch.no_grad():
        module.weight.copy_(torch.tensor(alpha.reshape(-1)))
    x_t = torch.tensor(x.astype(dtype), requires_grad=True)
    out_t = to_cl(module(to_cf(x_t))) if image else module(x_t)
    da = rng.standard_normal(out_t.shape).astype(dtype)
    out_t.backward(torch.tensor(da))

    out = layer.forward(x.astype(dtype), training=True)
    dx = layer.backward(da.copy())
    assert out.dtype == np.dtype(dtype) and dx.dtype == np.dtype(dtype)
    tol = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, out_t.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **tol)
    np.testing.assert_allclose(layer.grads["alpha"].reshape(-1), module.weight.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_per_entry_alpha_equals_f_prelu_formula(dtype):
    """Keras' default (shared_axes=None) on images: one alpha per (h, w, c) entry, which
    F.prelu cannot express; compared with torch's where(x > 0, x, alpha x)."""
    x = np.random.default_rng(2).standard_normal((4, 3, 2, 2))
    layer = L.PReLU(alpha_initializer=RandomNormal(0.5))
    compare_with_torch(
        layer,
        lambda x, p: torch.where(x > 0, x, p["alpha"] * x),
        x,
        dtype=dtype,
        tol=1e-6,
    )
    assert layer.params["alpha"].shape == (3, 2, 2)


def test_per_channel_equals_f_prelu_float64():
    x = np.random.default_rng(3).standard_normal((3, 4, 5, 6))
    layer = L.PReLU(alpha_initializer=RandomNormal(0.5), shared_axes=[1, 2])
    compare_with_torch(
        layer, lambda x, p: to_cl(F.prelu(to_cf(x), p["alpha"].reshape(-1))), x, tol=1e-12
    )


def test_keras_weight_shapes_and_zero_start():
    for shape, shared, expected in [
        ((10, 10, 28), [1, 2], (1, 1, 28)),  # MTCNN's conv PReLUs
        ((128,), None, (128,)),  # MTCNN's dense PReLUs
        ((6, 4), 1, (1, 4)),  # a sequence, alpha shared over time
    ]:
        layer = L.PReLU(shared_axes=shared)
        layer.build(shape, np.random.default_rng(0), "float32")
        assert layer.params["alpha"].shape == expected
        assert not layer.params["alpha"].any()  # "zeros": starts as a ReLU
        x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
        np.testing.assert_array_equal(layer.forward(x), np.maximum(x, 0))


def test_unknown_time_axis_must_be_shared():
    layer = L.PReLU(shared_axes=1)
    layer.build((None, 4), np.random.default_rng(0), "float32")
    assert layer.params["alpha"].shape == (1, 4)
    with pytest.raises(ConfigError, match="unknown size"):
        L.PReLU().build((None, 4), np.random.default_rng(0), "float32")


@pytest.mark.parametrize("bad", [0, -1, [1, 0], "1", [1.5], True])
def test_bad_shared_axes(bad):
    with pytest.raises(ConfigError, match="shared_axes"):
        L.PReLU(shared_axes=bad)


def test_shared_axis_past_the_input():
    with pytest.raises(ConfigError, match="past the input"):
        L.PReLU(shared_axes=[3]).build((4, 2), np.random.default_rng(0), "float32")


@pytest.mark.parametrize(
    "alpha",
    [[0.25, -0.5, 1.0], [1.0, 1.5, 3.0], [0.2, -0.5, 3.0]],
    ids=["all<=1 (max)", "all>=1 (min)", "mixed (mask)"],
)
@pytest.mark.parametrize("training", [False, True])
def test_every_forward_route_equals_torch(alpha, training):
    """The forward pass picks max(z, alpha z), min(z, alpha z) or a masked copy by alpha."""
    x = np.random.default_rng(5).standard_normal((4, 3, 5, 3)).astype(np.float32)
    x[0, 0, 0] = 0.0  # the kink
    layer = L.PReLU(shared_axes=[1, 2])
    layer.build(x.shape[1:], np.random.default_rng(0), "float32")
    layer.params["alpha"][...] = np.array(alpha, np.float32).reshape(1, 1, 3)
    out = layer.forward(x, training=training)
    expected = to_cl(F.prelu(to_cf(torch.tensor(x)), torch.tensor(alpha, dtype=torch.float32)))
    np.testing.assert_array_equal(out, expected.numpy())
