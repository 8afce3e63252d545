"""Every layer's forward pass and backward pass against torch autograd on the same data.

For each layer: the same input x, parameters and random upstream gradient da go through
nnlab (``forward`` then ``backward``) and through the equivalent torch ops; the output,
the input gradient and every parameter gradient must agree to 1e-5 (float32, relative
plus absolute) or 1e-10 (float64).
"""

import numpy as np
import pytest

import nnlab
from nnlab import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

from helpers import assert_close, compare_with_torch, run_layer  # noqa: E402

DTYPES = ["float32", "float64"]
SEEDS = [0, 1, 2, 3]

TORCH_ACTIVATIONS = {
    "linear": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.1),
    "softmax": lambda z: torch.softmax(z, dim=-1),
}
NNLAB_ACTIVATIONS = {
    "linear": "linear",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": {"name": "leaky_relu", "alpha": 0.1},
    "softmax": "softmax",
}


def random_dense_shape(seed):
    """(m, n_in, n_out), small and different for each seed; seed 0 is the 1-example case."""
    rng = np.random.default_rng(1000 + seed)
    m = 1 if seed == 0 else int(rng.integers(2, 40))
    return m, int(rng.integers(1, 25)), int(rng.integers(1, 12))


def random_image_shape(seed):
    rng = np.random.default_rng(2000 + seed)
    return tuple(int(d) for d in rng.integers([2, 1, 1, 1], [9, 6, 6, 5]))


def torch_dense(activation):
    def fn(x, p):
        z = x @ p["W"]
        if "b" in p:
            z = z + p["b"]
        return TORCH_ACTIVATIONS[activation](z)

    return fn


# ------------------------------------------------------------------------------ Dense
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("seed", SEEDS)
def test_dense_matches_torch(activation, use_bias, dtype, seed):
    m, n_in, n_out = random_dense_shape(seed)
    layer = Dense(
        n_out,
        activation=NNLAB_ACTIVATIONS[activation],
        use_bias=use_bias,
        bias_initializer=nnlab.ops.initializers.RandomNormal(0.5),
    )
    x = np.random.default_rng(seed).standard_normal((m, n_in))
    _, _, grads = compare_with_torch(layer, torch_dense(activation), x, seed=seed, dtype=dtype)
    assert set(grads) == ({"W", "b"} if use_bias else {"W"})
    assert layer.params["W"].shape == (n_in, n_out)
    if use_bias:
        assert layer.params["b"].shape == (n_out,)


@pytest.mark.parametrize("seed", SEEDS)
def test_dense_without_input_grad_still_fills_parameter_grads(seed):
    m, n_in, n_out = random_dense_shape(seed)
    rng = np.random.default_rng(seed)
    layer = Dense(n_out, activation="tanh")
    layer.build((n_in,), rng, "float64")
    x = rng.standard_normal((m, n_in))
    da = rng.standard_normal((m, n_out))
    a = layer.forward(x, training=True)
    assert layer.backward(da, need_input_grad=False) is None
    dz = da * (1 - a**2)
    assert_close(layer.grads["W"], x.T @ dz, what="dW")
    assert_close(layer.grads["b"], dz.sum(axis=0), what="db")


# ----------------------------------------------------------------- activation layers
ACTIVATION_LAYERS = {
    "ReLU": (ReLU, torch.relu),
    "Sigmoid": (Sigmoid, torch.sigmoid),
    "Tanh": (Tanh, torch.tanh),
    "LeakyReLU(0.1)": (lambda: LeakyReLU(alpha=0.1), lambda x: F.leaky_relu(x, 0.1)),
    "LeakyReLU()": (LeakyReLU, lambda x: F.leaky_relu(x, 0.01)),
    "Softmax": (Softmax, lambda x: torch.softmax(x, dim=-1)),
    'Activation("tanh")': (lambda: Activation("tanh"), torch.tanh),
    'Activation("relu")': (lambda: Activation("relu"), torch.relu),
    'Activation("softmax")': (lambda: Activation("softmax"), lambda x: torch.softmax(x, -1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [2, 4])
@pytest.mark.parametrize("name", list(ACTIVATION_LAYERS))
@pytest.mark.parametrize("seed", SEEDS)
def test_activation_layer_matches_torch(name, rank, dtype, seed):
    make, torch_op = ACTIVATION_LAYERS[name]
    shape = random_image_shape(seed) if rank == 4 else random_dense_shape(seed)[:2]
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    x.reshape(-1)[::5] = 0.0  # exact zeros: the kink of ReLU / LeakyReLU (torch: slope below)
    out, _, grads = compare_with_torch(make(), lambda x_t, p: torch_op(x_t), x, seed, dtype)
    assert grads == {}
    assert out.shape == shape


# ------------------------------------------------------------------ batch normalization
def torch_batch_norm(running_mean, running_var, momentum, eps, training):
    """F.batch_norm on channels-last input: move the last axis to axis 1 and back."""

    def fn(x, p):
        x_cf = x if x.dim() == 2 else x.movedim(-1, 1)
        y = F.batch_norm(
            x_cf,
            running_mean,
            running_var,
            weight=p["gamma"],
            bias=p["beta"],
            training=training,
            momentum=momentum,
            eps=eps,
        )
        return y if x.dim() == 2 else y.movedim(1, -1)

    return fn


def bn_input(rank, seed):
    rng = np.random.default_rng(seed)
    if rank == 2:
        m, n, _ = random_dense_shape(seed + 10)
        shape = (max(m, 2), n)
    else:
        shape = random_image_shape(seed)
    # per-feature offset and scale so the statistics differ from (0, 1)
    c = shape[-1]
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, c) + rng.uniform(-2, 2, c)


def built_bn(x, dtype, seed, epsilon, randomize_state=False):
    rng = np.random.default_rng(seed + 7)
    layer = BatchNormalization(epsilon=epsilon)
    layer.build(x.shape[1:], rng, dtype)
    c = x.shape[-1]
    layer.params["gamma"][...] = rng.uniform(0.5, 1.5, c)
    layer.params["beta"][...] = rng.standard_normal(c)
    if randomize_state:
        layer.state["moving_mean"][...] = rng.standard_normal(c)
        layer.state["moving_variance"][...] = rng.uniform(0.5, 2.0, c)
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
@pytest.mark.parametrize("rank", [2, 4])
@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_training_matches_torch(rank, epsilon, dtype, seed):
    x = bn_input(rank, seed)
    layer = built_bn(x, dtype, seed, epsilon)
    c = x.shape[-1]
    running_mean = torch.zeros(c, dtype=getattr(torch, dtype))
    running_var = torch.ones(c, dtype=getattr(torch, dtype))
    # Keras momentum 0.99 (weight of the old average) is torch momentum 0.01
    assert layer.momentum == 0.99
    fn = torch_batch_norm(running_mean, running_var, 1 - layer.momentum, epsilon, True)
    compare_with_torch(layer, fn, x, seed, dtype, training=True, build=False)

    # running averages after exactly one training step
    flat = x.astype(dtype).astype(np.float64).reshape(-1, c)
    n = flat.shape[0]
    batch_mean, biased_var = flat.mean(axis=0), flat.var(axis=0)
    assert_close(layer.state["moving_mean"], 0.01 * batch_mean, dtype, what="moving_mean")
    assert_close(layer.state["moving_mean"], running_mean.numpy(), dtype, what="vs torch")
    expected_var = 0.99 * 1.0 + 0.01 * biased_var  # nnlab: biased (population) variance
    assert_close(layer.state["moving_variance"], expected_var, dtype, what="moving_variance")
    # torch keeps the unbiased variance: the same average with var * n / (n - 1)
    assert_close(running_var.numpy(), 0.99 + 0.01 * biased_var * n / (n - 1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [2, 4])
@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_inference_forward_matches_torch(rank, dtype, seed):
    x = bn_input(rank, seed).astype(dtype)
    layer = built_bn(x, dtype, seed, 1e-3, randomize_state=True)
    before = {k: v.copy() for k, v in layer.state.items()}
    out = layer.forward(x.copy(), training=False)
    rm = torch.tensor(layer.state["moving_mean"].copy())
    rv = torch.tensor(layer.state["moving_variance"].copy())
    params_t = {k: torch.tensor(v.copy()) for k, v in layer.params.items()}
    expected = torch_batch_norm(rm, rv, 0.01, 1e-3, False)(torch.tensor(x), params_t)
    assert_close(out, expected.numpy(), dtype, what="BatchNormalization inference forward")
    for key, value in before.items():  # inference never moves the running averages
        np.testing.assert_array_equal(layer.state[key], value)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("after_training_step", [False, True])
@pytest.mark.parametrize("rank", [2, 4])
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_batchnorm_inference_backward_matches_torch(rank, after_training_step, dtype, seed):
    """In inference mode y = gamma (x - running_mean) / sqrt(running_var + eps) + beta is
    affine in x, so dx = dy * gamma / sqrt(running_var + eps) (no batch-statistics terms).

    ``after_training_step``: a training forward on another batch ran first, so any cache
    left by training mode must not leak into the inference-mode backward pass.
    """
    x = bn_input(rank, seed)
    layer = built_bn(x, dtype, seed, 1e-3, randomize_state=True)
    if after_training_step:
        layer.forward((2.0 * x[::-1] + 1.0).astype(dtype), training=True)
    rm = torch.tensor(layer.state["moving_mean"].copy())
    rv = torch.tensor(layer.state["moving_variance"].copy())
    fn = torch_batch_norm(rm, rv, 0.01, 1e-3, False)
    compare_with_torch(layer, fn, x, seed, dtype, training=False, build=False)


# ----------------------------------------------------------------------------- Flatten
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [2, 3, 4])
@pytest.mark.parametrize("seed", SEEDS)
def test_flatten_matches_torch(rank, dtype, seed):
    shape = random_image_shape(seed)[:rank]
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = Flatten()
    out, dx, _ = compare_with_torch(layer, lambda x_t, p: x_t.flatten(1), x, seed, dtype)
    assert layer.output_shape == (int(np.prod(shape[1:])),)
    assert out.shape == (shape[0], int(np.prod(shape[1:])))
    assert dx.shape == shape


# ----------------------------------------------------------------------------- Dropout
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5])
@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_inference_is_identity(rate, dtype, seed):
    shape = random_image_shape(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    da = rng.standard_normal(shape).astype(dtype)
    layer = Dropout(rate)
    layer.build(shape[1:], np.random.default_rng(seed), dtype)
    out, dx, grads = run_layer(layer, x, da, training=False)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dx, da)
    assert grads == {}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_training_mask(rate, dtype, seed):
    keep_prob = 1.0 - rate
    scale = np.asarray(1.0, dtype) * np.asarray(1.0 / keep_prob, dtype)
    shape = (200, 500)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[x == 0] = 1.0
    da = rng.standard_normal(shape).astype(dtype)
    layer = Dropout(rate)
    layer.build(shape[1:], np.random.default_rng(seed), dtype)
    assert layer.keep_prob == pytest.approx(keep_prob)

    # the mask itself: forward on ones with a fresh generator of the same seed
    layer.rng = np.random.default_rng(seed + 100)
    mask = np.array(layer.forward(np.ones(shape, dtype), training=True), copy=True)
    assert mask.dtype == np.dtype(dtype)
    assert set(np.unique(mask).tolist()) <= {0.0, float(scale)}
    assert abs(mask.mean() - 1.0) < 0.03  # inverted dropout keeps the expectation
    assert abs((mask == 0).mean() - rate) < 0.01

    # the same generator state gives the same mask: a = x * D, da_prev = da * D
    layer.rng = np.random.default_rng(seed + 100)
    out, dx, grads = run_layer(layer, x, da, training=True)
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(dx, da * mask)
    assert grads == {}

    # another draw gives a different mask
    out2 = layer.forward(x, training=True)
    assert not np.array_equal(out2, out)


def test_dropout_rate_out_of_range():
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(nnlab.ConfigError, match="rate"):
            Dropout(rate)
