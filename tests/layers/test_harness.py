"""One harness every registered layer goes through (Keras' ``run_layer_test``, tinygrad's
``helper_test_op``): a new layer registered is a new layer tested, and one without a case
here fails ``test_every_registered_layer_has_a_case``.

For every layer:
  * the output shape equals ``compute_output_shape``;
  * the config survives a JSON round trip, and the rebuilt layer computes the same output;
  * float64 gradients of the input and of every parameter equal two-sided finite
    differences of J = sum(A * R) for a fixed random R;
  * forward output, input and parameter gradients equal PyTorch's, where a PyTorch
    equivalent is registered below;
  * called twice in one graph, the parameter gradients are twice the single call's for the
    same inputs, and the sum of the two single calls' (each input its own gradient) for
    different inputs: every call keeps its own cache.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import assert_close, compare_with_torch, numeric_gradient

from nnlab import layers as L
from nnlab import registry
from nnlab.layers.attention import sinusoidal_encoding
from nnlab.ops.initializers import RandomNormal
from nnlab.training.model import Model

torch = pytest.importorskip("torch")
F = torch.nn.functional

from test_convolutional_torch import (  # noqa: E402
    torch_avg_pool,
    torch_conv2d,
    torch_conv_transpose,
    torch_depthwise,
    torch_max_pool,
    torch_separable,
)


def to_cf(x):
    return x.permute(0, 3, 1, 2)


def to_cl(x):
    return x.permute(0, 2, 3, 1)


@dataclass
class Case:
    """How to make a layer, what one example looks like, and its PyTorch equivalent."""

    make: object  # () -> Layer
    input_shape: tuple | list  # one example's shape; a list of shapes for merge layers
    torch: object = None  # (x_t or [x_t, ...], params_t) -> out_t
    random: bool = False  # draws noise in training (compared in inference, or seeded)
    differentiable: bool = True  # False: no input gradient at all (augmentation)
    vocabulary: int | None = None  # integer token ids in [0, vocabulary) as input


def dense_t(x, p):
    return torch.tanh(x @ p["W"] + p["b"])


def bn_t(x, p):
    shape = x.shape
    flat = F.batch_norm(
        x.reshape(-1, shape[-1]), None, None, p["gamma"], p["beta"], True, 0.0, 1e-3
    )
    return flat.reshape(shape)


def rnn_t(x, p, sequences=False):
    """SimpleRNN step by step, in torch: a<t> = tanh(x<t> W + a<t-1> U + b)."""
    a, outs = torch.zeros(x.shape[0], p["U"].shape[0], dtype=x.dtype), []
    for t in range(x.shape[1]):
        a = torch.tanh(x[:, t] @ p["W"] + a @ p["U"] + p["b"])
        outs.append(a)
    return torch.stack(outs, 1) if sequences else a


def lstm_t(x, p, sequences=False):
    """LSTM step by step, in torch (gates i, f, g, o)."""
    n = p["U"].shape[0]
    a = c = torch.zeros(x.shape[0], n, dtype=x.dtype)
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ p["W"] + a @ p["U"] + p["b"]
        i, f, g, o = torch.sigmoid(z[:, :n]), torch.sigmoid(z[:, n : 2 * n]), None, None
        g, o = torch.tanh(z[:, 2 * n : 3 * n]), torch.sigmoid(z[:, 3 * n :])
        c = f * c + i * g
        a = o * torch.tanh(c)
        outs.append(a)
    return torch.stack(outs, 1) if sequences else a


def gru_t(x, p, sequences=False, reset_after=True):
    """GRU step by step, in torch (gates z, r, h), either form."""
    n = p["U"].shape[0]
    a, outs = torch.zeros(x.shape[0], n, dtype=x.dtype), []
    for t in range(x.shape[1]):
        zx = x[:, t] @ p["W"] + p["b"]
        if reset_after:
            zh = a @ p["U"] + p["b_rec"]
            z = torch.sigmoid(zx[:, :n] + zh[:, :n])
            r = torch.sigmoid(zx[:, n : 2 * n] + zh[:, n : 2 * n])
            h = torch.tanh(zx[:, 2 * n :] + r * zh[:, 2 * n :])
        else:
            z = torch.sigmoid(zx[:, :n] + a @ p["U"][:, :n])
            r = torch.sigmoid(zx[:, n : 2 * n] + a @ p["U"][:, n : 2 * n])
            h = torch.tanh(zx[:, 2 * n :] + (r * a) @ p["U"][:, 2 * n :])
        a = z * a + (1 - z) * h
        outs.append(a)
    return torch.stack(outs, 1) if sequences else a


def bidirectional_t(x, p):
    """Bidirectional(GRU(return_sequences=True)), concat: each half's loop, the backward
    one on the reversed sequence and flipped back."""
    halves = [{k.split("/")[1]: v for k, v in p.items() if k.startswith(f"{h}/")} for h in ("forward", "backward")]  # fmt: skip
    y_f = gru_t(x, halves[0], sequences=True)
    y_b = gru_t(x.flip(1), halves[1], sequences=True).flip(1)
    return torch.cat([y_f, y_b], dim=-1)


def mha_t(xs, p, causal=False):
    """Multi-head attention in torch from nnlab's kernels (d, H, d_h) and (H, e, d_out)."""
    q, v = xs[0], xs[1]
    k = xs[2] if len(xs) > 2 else v

    def heads(x, name):  # (m, T, d) -> (m, H, T, d_h)
        return (torch.einsum("mtd,dhk->mhtk", x, p[f"{name}_kernel"])
                + p[f"{name}_bias"][None, :, None, :])  # fmt: skip

    Q, K, V = heads(q, "query"), heads(k, "key"), heads(v, "value")
    scores = Q @ K.transpose(-1, -2) / math.sqrt(Q.shape[-1])
    if causal:
        tq, tk = scores.shape[-2:]
        scores = scores.masked_fill(~torch.ones(tq, tk, dtype=torch.bool).tril(), -1e9)
    O = torch.softmax(scores, dim=-1) @ V  # (m, H, Tq, e)
    return torch.einsum("mhte,hed->mtd", O, p["output_kernel"]) + p["output_bias"]


CASES = {
    "Activation": Case(lambda: L.Activation("tanh"), (5,), lambda x, p: torch.tanh(x)),
    "Add": Case(L.Add, [(3, 2), (3, 2)], lambda xs, p: xs[0] + xs[1]),
    "Affine": Case(
        lambda: L.Affine(RandomNormal(0.5), RandomNormal(0.5)),
        (4, 3, 2),
        lambda x, p: x * p["gamma"] + p["beta"],
    ),
    "AvgPool2D": Case(lambda: L.AvgPool2D(2, padding="same"), (5, 4, 2), None),
    "BatchNormalization": Case(L.BatchNormalization, (3, 4), bn_t),
    "Bidirectional": Case(
        lambda: L.Bidirectional(L.GRU(2, return_sequences=True, bias_initializer="random_normal")),
        (4, 3),
        bidirectional_t,
    ),
    "Concatenate": Case(L.Concatenate, [(3, 2), (3, 4)], lambda xs, p: torch.cat(xs, dim=-1)),
    "Conv1D": Case(
        lambda: L.Conv1D(3, 3, padding="causal", activation="tanh"),
        (6, 2),
        lambda x, p: torch.tanh(
            F.conv1d(F.pad(x.permute(0, 2, 1), (2, 0)), p["W"].permute(2, 1, 0), p["b"])
        ).permute(0, 2, 1),
    ),
    "Conv2D": Case(lambda: L.Conv2D(3, 3, padding="same", activation="tanh"), (5, 4, 2), None),
    "Conv2DTranspose": Case(
        lambda: L.Conv2DTranspose(
            3,
            (3, 2),
            strides=(2, 3),
            padding="same",
            activation="tanh",
            bias_initializer="random_normal",
        ),
        (3, 2, 2),
        None,
    ),
    "Dense": Case(lambda: L.Dense(3, activation="tanh"), (4,), dense_t),
    "Dot": Case(
        lambda: L.Dot(axes=1),
        [(4, 1), (4, 3)],
        lambda xs, p: torch.einsum("itp,itq->ipq", xs[0], xs[1]),
    ),
    "DepthwiseConv2D": Case(lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (5, 5, 2), None),
    "Dropout": Case(lambda: L.Dropout(0.3), (6,), random=True),
    "Embedding": Case(
        lambda: L.Embedding(9, 3), (4,), lambda x, p: F.embedding(x, p["W"]), vocabulary=9
    ),
    "Flatten": Case(L.Flatten, (3, 2, 2), lambda x, p: x.reshape(x.shape[0], -1)),
    "GRU": Case(lambda: L.GRU(3, bias_initializer="random_normal"), (5, 2), gru_t),
    "LSTM": Case(
        lambda: L.LSTM(3, return_sequences=True, bias_initializer="random_normal"),
        (4, 2),
        lambda x, p: lstm_t(x, p, sequences=True),
    ),
    "SimpleRNN": Case(
        lambda: L.SimpleRNN(3, return_sequences=True, bias_initializer="random_normal"),
        (4, 2),
        lambda x, p: rnn_t(x, p, sequences=True),
    ),
    "GlobalAveragePooling2D": Case(
        L.GlobalAveragePooling2D, (4, 3, 2), lambda x, p: x.mean(dim=(1, 2))
    ),
    "L2Normalize": Case(L.L2Normalize, (3, 4), lambda x, p: F.normalize(x, dim=-1)),
    "LayerNormalization": Case(
        L.LayerNormalization,
        (3, 4),
        lambda x, p: F.layer_norm(x, (4,), p["gamma"], p["beta"], 1e-3),
    ),
    "MaskLogits": Case(
        lambda: L.MaskLogits(fill_value=-3.0),
        [(4, 2), (4,)],  # x (m, T, 2), mask (m, T): about half its standard-normal values > 0
        lambda xs, p: torch.where((xs[1] > 0)[..., None], xs[0], -3.0) + 0 * xs[1][..., None],
    ),
    "MultiHeadAttention": Case(
        lambda: L.MultiHeadAttention(2, 3, value_dim=2), [(4, 5), (3, 6)], mha_t
    ),
    "PaddedAdd": Case(  # dlib's downsampling shortcut: a row, a column, channels fewer
        L.PaddedAdd,
        [(3, 3, 4), (4, 4, 2)],
        lambda xs, p: F.pad(xs[0], (0, 0, 0, 1, 0, 1)) + F.pad(xs[1], (0, 2)),
    ),
    "PaddingMask": Case(L.PaddingMask, (6,), None, differentiable=False, vocabulary=3),
    "Permute": Case(lambda: L.Permute((3, 1, 2)), (2, 3, 4), lambda x, p: x.permute(0, 3, 1, 2)),
    "PositionalEncoding": Case(
        lambda: L.PositionalEncoding(10),
        (4, 6),
        lambda x, p: x + torch.tensor(sinusoidal_encoding(4, 6, np.float64), dtype=x.dtype),
    ),
    "PositionEmbedding": Case(
        lambda: L.PositionEmbedding(7), (4, 3), lambda x, p: x + p["embeddings"][:4]
    ),
    "LeakyReLU": Case(lambda: L.LeakyReLU(0.2), (5,), lambda x, p: F.leaky_relu(x, 0.2)),
    "MaxPool2D": Case(lambda: L.MaxPool2D(2), (4, 6, 2), None),
    "RandomFlip": Case(L.RandomFlip, (4, 4, 1), random=True, differentiable=False),
    "RandomRotation": Case(L.RandomRotation, (4, 4, 1), random=True, differentiable=False),
    "RandomTranslation": Case(L.RandomTranslation, (4, 4, 1), random=True, differentiable=False),
    "PReLU": Case(
        lambda: L.PReLU(alpha_initializer=RandomNormal(0.5), shared_axes=[1, 2]),
        (4, 3, 2),
        lambda x, p: to_cl(F.prelu(to_cf(x), p["alpha"].reshape(-1))),
    ),
    "ReLU": Case(L.ReLU, (5,), lambda x, p: torch.relu(x)),
    "Rescaling": Case(lambda: L.Rescaling(2.5, offset=-1.0), (3, 2), lambda x, p: 2.5 * x - 1.0),
    "RepeatVector": Case(
        lambda: L.RepeatVector(3), (4,), lambda x, p: x[:, None, :].expand(-1, 3, -1)
    ),
    "SeparableConv2D": Case(lambda: L.SeparableConv2D(3, 3, padding="same"), (4, 4, 2), None),
    "Sigmoid": Case(L.Sigmoid, (5,), lambda x, p: torch.sigmoid(x)),
    "Softmax": Case(L.Softmax, (5,), lambda x, p: torch.softmax(x, dim=-1)),
    "SpatialDropout2D": Case(lambda: L.SpatialDropout2D(0.4), (3, 3, 4), random=True),
    "Tanh": Case(L.Tanh, (5,), lambda x, p: torch.tanh(x)),
    "UpSampling2D": Case(
        lambda: L.UpSampling2D((2, 3), interpolation="bilinear"),
        (3, 4, 2),
        lambda x, p: to_cl(
            F.interpolate(to_cf(x), scale_factor=(2, 3), mode="bilinear", align_corners=False)
        ),
    ),
    "ZeroPadding2D": Case(
        lambda: L.ZeroPadding2D(((1, 0), (2, 1))),
        (3, 2, 1),
        lambda x, p: to_cl(F.pad(to_cf(x), (2, 1, 1, 0))),
    ),
}
# image layers whose PyTorch equivalents the convolution tests already define
CASES["AvgPool2D"].torch = torch_avg_pool((2, 2), (2, 2), "same")
CASES["Conv2D"].torch = torch_conv2d((3, 3), (1, 1), "same", "tanh")
CASES["Conv2DTranspose"].torch = torch_conv_transpose((3, 2), (2, 3), "same", None, "tanh")
CASES["DepthwiseConv2D"].torch = torch_depthwise((3, 3), (1, 1), "valid")
CASES["MaxPool2D"].torch = torch_max_pool((2, 2), (2, 2), "valid")
CASES["SeparableConv2D"].torch = torch_separable((3, 3), (1, 1), "same", None)

NOT_COMPUTATIONS = {"Input"}  # declares a shape; it has no forward of its own to test
NAMES = sorted(CASES)


def test_every_registered_layer_has_a_case():
    registered = set(registry.names("layer")) - NOT_COMPUTATIONS
    assert registered == set(CASES), f"add a Case for {sorted(registered - set(CASES))}"


# ------------------------------------------------------------------------- helpers
def shapes_of(case):
    return case.input_shape if isinstance(case.input_shape, list) else [case.input_shape]


def inputs(case, m=3, seed=0):
    """A batch for the layer: a list of arrays for merge layers, else one array."""
    rng = np.random.default_rng(seed)
    if case.vocabulary:
        arrays = [rng.integers(0, case.vocabulary, (m, *case.input_shape))]
    else:
        arrays = [rng.standard_normal((m, *shape)) for shape in shapes_of(case)]
    return arrays if isinstance(case.input_shape, list) else arrays[0]


def built(name, dtype="float64", seed=1):
    case = CASES[name]
    layer = case.make()
    shape = case.input_shape
    layer.build(
        list(shape) if isinstance(shape, list) else shape, np.random.default_rng(seed), dtype
    )
    return layer, case


def run(layer, x, training):
    """Forward with a fixed noise stream, so a random layer's mask repeats call to call."""
    layer.rng = np.random.default_rng(7)
    return layer.forward(x, training=training)


def training_for(case):
    return not case.random or case.differentiable


# -------------------------------------------------------------------------- checks
@pytest.mark.parametrize("name", NAMES)
def test_output_shape_is_compute_output_shape(name):
    layer, case = built(name)
    out = run(layer, inputs(case), training=True)
    shape = case.input_shape
    expected = layer.compute_output_shape(list(shape) if isinstance(shape, list) else shape)
    assert out.shape[1:] == tuple(expected) == tuple(layer.output_shape)


@pytest.mark.parametrize("name", NAMES)
def test_config_survives_a_json_round_trip(name):
    layer, case = built(name)
    config = layer.get_config()
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    shape = case.input_shape
    clone.build(
        list(shape) if isinstance(shape, list) else shape, np.random.default_rng(9), "float64"
    )
    for key in layer.params:
        clone.params[key][...] = layer.params[key]
    x = inputs(case)
    np.testing.assert_array_equal(run(clone, x, False), run(layer, x, False))


@pytest.mark.parametrize("name", NAMES)
def test_float64_gradients_equal_finite_differences(name):
    layer, case = built(name)
    x = inputs(case, m=2, seed=3)
    r = np.random.default_rng(4).standard_normal((2, *layer.output_shape))
    if not case.differentiable:
        run(layer, x, training=True)
        assert layer.backward(r, need_input_grad=False) is None
        return

    def cost():
        return float((run(layer, x, training=True) * r).sum())

    cost()
    dx = layer.backward(r.copy(), need_input_grad=True)
    analytic = {key: np.array(g, copy=True) for key, g in layer.grads.items()}
    for key, param in layer.params.items():
        assert_close(analytic[key], numeric_gradient(cost, param), tol=1e-7, what=f"{name} d{key}")
    if case.vocabulary:
        assert dx is None  # token ids carry no gradient
        return
    xs, dxs = (x, dx) if isinstance(x, list) else ([x], [dx])
    for i, (xi, dxi) in enumerate(zip(xs, dxs, strict=True)):
        assert_close(dxi, numeric_gradient(cost, xi), tol=1e-7, what=f"{name} dx[{i}]")


TORCH_NAMES = [name for name in NAMES if CASES[name].torch is not None]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_equals_torch(name):
    layer, case = built(name, seed=2)
    x = inputs(case, seed=5)
    if isinstance(x, list) or case.vocabulary:  # merge layers and token ids: by hand
        da = np.random.default_rng(6).standard_normal((3, *layer.output_shape))
        out = layer.forward(x, training=True)
        dx = layer.backward(da.copy())
        params_t = {
            k: torch.tensor(np.array(v), requires_grad=True) for k, v in layer.params.items()
        }
        if case.vocabulary:
            x_t = torch.tensor(x)
            out_t = case.torch(x_t, params_t)
        else:
            x_t = [torch.tensor(a, requires_grad=True) for a in x]
            out_t = case.torch(x_t, params_t)
        out_t.backward(torch.tensor(da))
        assert_close(out, out_t.detach().numpy(), what=f"{name} forward")
        if not case.vocabulary:
            for i, (d, t) in enumerate(zip(dx, x_t, strict=True)):
                assert_close(d, t.grad.numpy(), what=f"{name} dx[{i}]")
        for key, p in params_t.items():
            assert_close(layer.grads[key], p.grad.numpy(), what=f"{name} d{key}")
        return
    compare_with_torch(layer, case.torch, x, seed=2, dtype="float64", build=False)


def twice_model(layer, case):
    """A model that calls ``layer`` on two inputs (two lists of inputs for merge layers)."""
    shapes = shapes_of(case)
    dtype = "int64" if case.vocabulary else None
    first = [L.Input(s, dtype=dtype) for s in shapes]
    second = [L.Input(s, dtype=dtype) for s in shapes]
    merge = isinstance(case.input_shape, list)
    out1 = layer(first if merge else first[0])
    out2 = layer(second if merge else second[0])
    model = Model(first + second, [out1, out2], dtype="float64")
    model.build()
    return model


def single_call(name, weights, x, r, training):
    """(param grads, input grads) of one call on a fresh layer holding ``weights``."""
    layer, case = built(name)
    for key in layer.params:
        layer.params[key][...] = weights[key]
    run(layer, x, training)
    dx = layer.backward(r.copy(), need_input_grad=case.differentiable and not case.vocabulary)
    grads = {key: np.array(g, copy=True) for key, g in layer.grads.items()}
    return grads, dx


@pytest.mark.parametrize("same_inputs", [True, False], ids=["same", "different"])
@pytest.mark.parametrize("name", NAMES)
def test_called_twice_in_one_graph(name, same_inputs):
    case = CASES[name]
    layer = case.make()
    model = twice_model(layer, case)
    training = training_for(case)
    x1 = inputs(case, seed=10)
    x2 = x1 if same_inputs else inputs(case, seed=11)
    rng = np.random.default_rng(12)
    r1 = rng.standard_normal((3, *layer.output_shape))
    r2 = r1 if same_inputs else rng.standard_normal(r1.shape)
    flat = lambda x: x if isinstance(x, list) else [x]  # noqa: E731
    layer.rng = np.random.default_rng(7)
    out1, out2 = model.forward(flat(x1) + flat(x2), training=training)
    want_dx = case.differentiable and not case.vocabulary
    if not case.differentiable:
        return  # augmentation: no gradient to compare; the forward pass ran twice
    dxs = model.backward([r1, r2], input_grads=want_dx)
    weights = {key: np.array(v) for key, v in layer.params.items()}
    g1, dx1 = single_call(name, weights, x1, r1, training)
    g2, dx2 = single_call(name, weights, x2, r2, training)
    for key, grad in layer.grads.items():
        expected = 2 * g1[key] if same_inputs else g1[key] + g2[key]
        assert_close(grad, expected, tol=1e-10, what=f"{name} d{key} of two calls")
    if want_dx and not case.random:
        n = len(shapes_of(case))
        for got, want in zip(dxs, flat(dx1) + flat(dx2), strict=True):
            assert_close(got, want, tol=1e-10, what=f"{name} input gradient per call")
        assert len(dxs) == 2 * n
    if same_inputs and not case.random:
        np.testing.assert_allclose(out1, out2)
    assert math.isfinite(float(np.sum(out1)))
