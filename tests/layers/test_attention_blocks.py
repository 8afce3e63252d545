"""The course's attention blocks (Course 5, week 3): RepeatVector, Concatenate, Dense,
Softmax over the input steps and Dot, shared across the output steps, against PyTorch and
finite differences."""

import numpy as np
import pytest
from helpers import assert_model_gradients

from nnlab import layers as L
from nnlab.exceptions import ConfigError, ShapeError
from nnlab.training.model import Model

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_softmax_over_an_axis_equals_torch(axis):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3))
    layer = L.Softmax(axis=axis)
    layer.build((5, 3), rng, "float64")
    out = layer.forward(x)
    da = rng.standard_normal(out.shape)
    dx = layer.backward(da)
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.softmax(xt, dim=axis)
    ot.backward(torch.tensor(da))
    np.testing.assert_allclose(out, ot.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
    assert L.Softmax(axis=axis).get_config()["axis"] == axis


@pytest.mark.parametrize(
    "axes, shapes, equation",
    [
        ((2, 2), [(3, 4), (5, 4)], "ipt,iqt->ipq"),
        ((1, 2), [(4, 3), (2, 4)], "itp,iqt->ipq"),
        (1, [(6,), (6,)], "it,it->i"),
    ],
)
def test_dot_on_other_axes_equals_torch(axes, shapes, equation):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2, *s)) for s in shapes]
    layer = L.Dot(axes=axes)
    layer.build(shapes, rng, "float64")
    out = layer.forward(xs)
    da = rng.standard_normal(out.shape)
    dxs = layer.backward(da)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    ot = torch.einsum(equation, *ts)
    ot.backward(torch.tensor(da))
    assert out.shape[1:] == layer.output_shape
    np.testing.assert_allclose(out, ot.detach().numpy(), atol=1e-12)
    for dx, t in zip(dxs, ts, strict=True):
        np.testing.assert_allclose(dx, t.grad.numpy(), atol=1e-12)


def test_bad_axes_and_shapes_are_named():
    with pytest.raises(ConfigError, match="Dot: axes"):
        L.Dot(axes=0)
    with pytest.raises(ConfigError, match="Softmax: axis"):
        L.Softmax(axis=0)
    with pytest.raises(ConfigError, match="RepeatVector: n"):
        L.RepeatVector(0)
    layer = L.Dot(axes=1)
    with pytest.raises(ShapeError, match="differ in size"):
        layer.build([(4, 1), (5, 3)], np.random.default_rng(0), "float64")


def attention_model(tx=4, n_a=3, n_s=5, ty=3, seed=0):
    """The course's date-translation model, small: a Bi-LSTM encoder, then at each of Ty
    steps one_step_attention (layers shared across steps) and a post-attention LSTM whose
    states carry over, and a softmax output per step."""
    x = L.Input((tx, 6))
    s0, c0 = L.Input((n_s,)), L.Input((n_s,))
    a = L.Bidirectional(L.LSTM(n_a, return_sequences=True))(x)
    repeat, concat = L.RepeatVector(tx), L.Concatenate(axis=-1)
    dense1, dense2 = L.Dense(4, activation="tanh"), L.Dense(1, activation="relu")
    softmax, dot = L.Softmax(axis=1), L.Dot(axes=1)
    post = L.LSTM(n_s, return_state=True)
    out_layer = L.Dense(7, activation="softmax")
    s, c, outputs = s0, c0, []
    for _ in range(ty):
        e = dense2(dense1(concat([a, repeat(s)])))
        context = dot([softmax(e), a])  # (m, 1, 2 n_a)
        s, _, c = post(context, initial_state=[s, c])
        outputs.append(out_layer(s))
    return Model([x, s0, c0], outputs, seed=seed, dtype="float64")


def test_the_attention_model_passes_a_float64_gradient_check():
    model = attention_model()
    model.build()
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5)), rng.standard_normal((2, 5))]
    rs = [rng.standard_normal((2, 7)) for _ in range(3)]
    assert_model_gradients(model, xs, rs)


def test_attention_weights_sum_to_one_over_the_input_steps():
    x = L.Input((4, 1))
    alphas = L.Softmax(axis=1)(x)
    model = Model(x, alphas)
    out = model.predict(np.random.default_rng(0).standard_normal((3, 4, 1)).astype(np.float32))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
