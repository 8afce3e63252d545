"""Backprop of every layer and loss against finite differences (``nnlab.training.gradcheck``).

A relative difference below 1e-7 in float64 means the analytic gradient is right; the
negative tests corrupt a gradient on purpose and check that the checker notices.
"""

import numpy as np
import pytest

import nnlab
from nnlab import (
    L2,
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    Input,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from nnlab.layers import normalization
from nnlab.training.losses import BinaryCrossentropy, CategoricalCrossentropy

SEEDS = [0, 1, 2]


def dims(seed):
    """(m, n_in, hidden, k): a small random problem size per seed."""
    rng = np.random.default_rng(100 + seed)
    return tuple(int(v) for v in rng.integers([3, 2, 2, 2], [9, 6, 6, 5]))


def labels(kind, rng, m, k):
    if kind == "int":
        return rng.integers(0, k, m)
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, m)]
    if kind == "binary":
        return rng.integers(0, 2, (m, k)).astype(np.float64)
    return rng.standard_normal((m, k))


# name -> (layers(h, k), loss, label kind, input shape builder)
MODELS = {
    "dense-tanh-bn-dropout-softmax-cce": (
        lambda h, k: [Dense(h, "tanh"), BatchNormalization(), Dropout(0.3), Dense(k, "softmax")],
        "categorical_crossentropy",
        "int",
    ),
    "relu-sigmoid-bce": (
        lambda h, k: [Dense(h, "relu", kernel_initializer="he"), Dense(k, "sigmoid")],
        "binary_crossentropy",
        "binary",
    ),
    "leaky_relu-linear-mse": (
        lambda h, k: [Dense(h, {"name": "leaky_relu", "alpha": 0.1}), Dense(k)],
        "mse",
        "real",
    ),
    "l2-tanh-softmax-onehot": (
        lambda h, k: [
            Dense(h, "tanh", kernel_regularizer=L2(0.7)),
            Dense(k, "softmax", kernel_regularizer=0.3),
        ],
        "categorical_crossentropy",
        "onehot",
    ),
    "activation-layers": (
        lambda h, k: [
            Dense(h),
            LeakyReLU(alpha=0.2),
            Dense(h),
            Tanh(),
            Dense(h),
            Sigmoid(),
            Dense(h),
            ReLU(),
            Dense(h),
            Activation("tanh"),
            Dense(k),
            Softmax(),
        ],
        "categorical_crossentropy",
        "int",
    ),
    "sigmoid-layer-bce": (
        lambda h, k: [Dense(h, "tanh"), Dense(k), Sigmoid()],
        "binary_crossentropy",
        "binary",
    ),
    "no-bias-bn-relu-dropout-mse": (
        lambda h, k: [
            Dense(h, use_bias=False),
            BatchNormalization(momentum=0.9, epsilon=1e-5),
            ReLU(),
            Dropout(0.5),
            Dense(k, "tanh"),
        ],
        "mse",
        "real",
    ),
    "bce-from-logits": (
        lambda h, k: [Dense(h, "tanh"), Dense(k)],
        BinaryCrossentropy(from_logits=True),
        "binary",
    ),
    "cce-from-logits": (
        lambda h, k: [Dense(h, "tanh"), Dense(k)],
        CategoricalCrossentropy(from_logits=True),
        "onehot",
    ),
    "bce-on-softmax-unfused": (
        lambda h, k: [Dense(h, "tanh"), Dense(k, "softmax")],
        "binary_crossentropy",
        "binary",
    ),
    "mse-on-sigmoid": (
        lambda h, k: [Dense(h, "sigmoid"), Dense(k, "sigmoid")],
        "mse",
        "real",
    ),
}


def build(name, seed, dtype="float64"):
    make_layers, loss, kind = MODELS[name]
    m, n_in, h, k = dims(seed)
    model = Sequential(make_layers(h, k), input_shape=(n_in,), dtype=dtype, seed=seed)
    model.compile("sgd", loss)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial biases and batch-norm parameters
        for key, value in layer.params.items():
            if key in ("b", "beta"):
                value[...] = rng.normal(0, 0.5, value.shape)
            elif key == "gamma":
                value[...] = rng.uniform(0.5, 1.5, value.shape)
    x = rng.standard_normal((m, n_in))
    return model, x, labels(kind, rng, m, k)


def assert_passes(result, model, tol=1e-7):
    names = [name for name, _, _ in model.named_parameters()]
    assert list(result.per_parameter) == names
    assert result.checked == model.count_params()
    assert result.difference < tol, str(result)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_gradcheck_passes(name, seed):
    model, x, y = build(name, seed)
    before = model.get_weights()
    result = nnlab.gradcheck(model, x, y)
    assert_passes(result, model)
    after = model.get_weights()  # the check runs on a copy
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradcheck_image_input_with_batchnorm_and_flatten(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers([2, 2, 1], [4, 4, 4]))
    model = Sequential(
        [
            Input(shape),
            BatchNormalization(),
            Activation("tanh"),
            Flatten(),
            Dropout(0.2),
            Dense(3, "softmax"),
        ],
        dtype="float64",
        seed=seed,
    )
    model.compile("adam", "categorical_crossentropy")
    x = rng.standard_normal((4, *shape)) * 2 + 1
    y = rng.integers(0, 3, 4)
    assert_passes(nnlab.gradcheck(model, x, y), model)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradcheck_of_a_float32_model_runs_in_float64(seed):
    model, x, y = build("dense-tanh-bn-dropout-softmax-cce", seed, dtype="float32")
    assert_passes(nnlab.gradcheck(model, x, y), model)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradcheck_sampled_entries(seed):
    model, x, y = build("relu-sigmoid-bce", seed)
    result = nnlab.gradcheck(model, x, y, max_per_param=2, seed=seed)
    expected = sum(min(p.size, 2) for _, p, _ in model.named_parameters())
    assert result.checked == expected
    assert result.difference < 1e-7, str(result)


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("name", ["dense-tanh-bn-dropout-softmax-cce", "l2-tanh-softmax-onehot"])
def test_gradcheck_inference_mode(name, seed):
    """training=False: batch norm uses its running averages, dropout is the identity."""
    model, x, y = build(name, seed)
    assert_passes(nnlab.gradcheck(model, x, y, training=False), model)


# ---------------------------------------------------------------- the checker can fail
@pytest.mark.parametrize("seed", SEEDS)
def test_gradcheck_detects_doubled_dense_gradient(monkeypatch, seed):
    model, x, y = build("relu-sigmoid-bce", seed)
    original = Dense.backward_preactivation

    def doubled_dw(self, dz, need_input_grad=True):
        out = original(self, dz, need_input_grad)
        self.grads["W"] *= 2.0
        return out

    # gradcheck runs on a float64 copy of the model, so patch the class, not an instance
    monkeypatch.setattr(Dense, "backward_preactivation", doubled_dw)
    result = nnlab.gradcheck(model, x, y)
    assert result.difference > 1e-3, str(result)
    for name, diff in result.per_parameter.items():
        if name.endswith("/W"):
            assert diff > 0.1, str(result)  # ||2g - g|| / (||2g|| + ||g||) = 1/3
        else:
            assert diff < 1e-7, str(result)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradcheck_detects_missing_l2_gradient(monkeypatch, seed):
    model, x, y = build("l2-tanh-softmax-onehot", seed)
    monkeypatch.setattr(L2, "add_gradient", lambda self, w, dw, m: None)
    result = nnlab.gradcheck(model, x, y)
    assert result.difference > 1e-3, str(result)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradcheck_detects_wrong_batchnorm_backward(monkeypatch, seed):
    model, x, y = build("dense-tanh-bn-dropout-softmax-cce", seed)

    def naive_backward(self, da, need_input_grad=True):
        """Treats the batch statistics as constants: misses two terms of dx."""
        dy = da.reshape(-1, da.shape[-1])
        self.grads["beta"][...] = dy.sum(axis=0)
        self.grads["gamma"][...] = (dy * self.cache.x_hat).sum(axis=0)
        return (dy * self.params["gamma"] * self.cache.inv_std).reshape(da.shape)

    monkeypatch.setattr(normalization.BatchNormalization, "backward", naive_backward)
    result = nnlab.gradcheck(model, x, y)
    assert result.difference > 1e-3, str(result)
