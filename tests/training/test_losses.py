"""Loss values and gradients through a Sequential model, against torch autograd.

Each case builds Dense(tanh) -> output block, runs ``compute_gradients`` (so the fused
sigmoid + BCE and softmax + CCE paths start backprop from dZ = (A - Y) / m) and compares
the loss value and every parameter gradient with the same network written in torch.
"""

import warnings

import numpy as np
import pytest

import nnlab
from nnlab import Dense, Sequential, Sigmoid, Softmax
from nnlab.training.losses import BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError

torch = pytest.importorskip("torch")
F = torch.nn.functional

from helpers import assert_close  # noqa: E402

TORCH_ACTIVATIONS = {
    "linear": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, dim=-1),
}


# --------------------------------------------------------------------------- labels
def binary_labels(rng, m, k):
    return rng.integers(0, 2, (m, k)).astype(np.float64)


def binary_labels_1d(rng, m, k):
    return rng.integers(0, 2, m).astype(np.float64)


def soft_labels(rng, m, k):
    return rng.uniform(0, 1, (m, k))


def int_labels(rng, m, k):
    return rng.integers(0, k, m)


def onehot_labels(rng, m, k):
    return np.eye(k)[rng.integers(0, k, m)]


def prob_labels(rng, m, k):
    p = rng.uniform(0.1, 1, (m, k))
    return p / p.sum(axis=1, keepdims=True)


def real_targets(rng, m, k):
    return rng.standard_normal((m, k))


def real_targets_1d(rng, m, k):
    return rng.standard_normal(m)


# ---------------------------------------------------------------------- torch losses
def t_bce_logits(z, a, y):
    return F.binary_cross_entropy_with_logits(z, y.reshape(z.shape))


def t_bce_probs(z, a, y):
    return F.binary_cross_entropy(a, y.reshape(a.shape))


def t_cross_entropy(z, a, y):
    return F.cross_entropy(z, y)


def t_mse(z, a, y):
    return F.mse_loss(a, y.reshape(a.shape))


def t_cce_probs(z, a, y):
    return -(y * torch.log(a)).sum(dim=-1).mean()


# (output layers after Dense(h, tanh), loss, labels, torch loss, fused?)
CASES = {
    "sigmoid+bce(m,)": (lambda k: [Dense(1, "sigmoid")], BinaryCrossentropy, binary_labels_1d, t_bce_logits, True),
    "sigmoid+bce(m,k)": (lambda k: [Dense(k, "sigmoid")], BinaryCrossentropy, binary_labels, t_bce_logits, True),
    "sigmoid+bce soft": (lambda k: [Dense(k, "sigmoid")], BinaryCrossentropy, soft_labels, t_bce_logits, True),
    "Sigmoid layer+bce": (lambda k: [Dense(1), Sigmoid()], BinaryCrossentropy, binary_labels, t_bce_logits, True),
    "softmax+cce int": (lambda k: [Dense(k, "softmax")], CategoricalCrossentropy, int_labels, t_cross_entropy, True),
    "softmax+cce onehot": (lambda k: [Dense(k, "softmax")], CategoricalCrossentropy, onehot_labels, t_cross_entropy, True),
    "softmax+cce probs": (lambda k: [Dense(k, "softmax")], CategoricalCrossentropy, prob_labels, t_cross_entropy, True),
    "Softmax layer+cce": (lambda k: [Dense(k), Softmax()], CategoricalCrossentropy, int_labels, t_cross_entropy, True),
    "linear+mse": (lambda k: [Dense(k)], MeanSquaredError, real_targets, t_mse, False),
    "linear+mse(m,)": (lambda k: [Dense(1)], MeanSquaredError, real_targets_1d, t_mse, False),
    "softmax+bce (unfused)": (lambda k: [Dense(k, "softmax")], BinaryCrossentropy, binary_labels, t_bce_probs, False),
    "linear+bce from_logits": (lambda k: [Dense(k)], lambda: BinaryCrossentropy(from_logits=True), binary_labels, t_bce_logits, False),
    "linear+cce from_logits int": (lambda k: [Dense(k)], lambda: CategoricalCrossentropy(from_logits=True), int_labels, t_cross_entropy, False),
    "linear+cce from_logits onehot": (lambda k: [Dense(k)], lambda: CategoricalCrossentropy(from_logits=True), onehot_labels, t_cross_entropy, False),
    "sigmoid+cce (unfused)": (lambda k: [Dense(k, "sigmoid")], CategoricalCrossentropy, onehot_labels, t_cce_probs, False),
    "sigmoid+mse": (lambda k: [Dense(k, "sigmoid")], MeanSquaredError, real_targets, t_mse, False),
    "tanh+mse": (lambda k: [Dense(k, "tanh")], MeanSquaredError, real_targets, t_mse, False),
}  # fmt: skip


def torch_network(model, x):
    """The model in torch: (logits of the last layer, output, {name: leaf parameter})."""
    params = {
        name: torch.tensor(np.array(p, dtype=np.float64), requires_grad=True)
        for name, p, _ in model.named_parameters()
    }
    a = torch.tensor(np.asarray(x, dtype=np.float64))
    z = a
    for layer in model.layers:
        if isinstance(layer, Dense):
            z = a @ params[f"{layer.name}/W"] + params[f"{layer.name}/b"]
        else:
            z = a
        a = TORCH_ACTIVATIONS[layer.activation.name](z)
    return z, a, params


def torch_labels(y, loss):
    if isinstance(loss, CategoricalCrossentropy) and y.ndim == 1:
        return torch.tensor(y, dtype=torch.long)
    return torch.tensor(np.asarray(y, dtype=np.float64))


def make_model(case, dtype, seed):
    output_layers, make_loss, make_labels, torch_loss, fused = CASES[case]
    rng = np.random.default_rng(seed)
    m, n_in, hidden, k = (int(v) for v in rng.integers([1, 1, 1, 2], [20, 8, 8, 6]))
    model = Sequential(
        [Dense(hidden, "tanh"), *output_layers(k)], input_shape=(n_in,), dtype=dtype, seed=seed
    )
    for layer in model.layers:  # non-zero biases
        if "b" in layer.params:
            layer.params["b"][...] = rng.normal(0, 0.5, layer.params["b"].shape)
    model.compile("sgd", make_loss())
    x = rng.standard_normal((m, n_in))
    y = make_labels(rng, m, model.output_shape[-1])
    return model, x, y


def nnlab_value_and_grads(model, x, y):
    xp = model.prepare_inputs(x, "test")
    yp = model.prepare_targets(y, xp.shape[0], "test")
    value, penalty, a = model.compute_gradients(xp, yp)
    grads = {name: np.array(g, copy=True) for name, _, g in model.named_parameters()}
    return value, penalty, np.array(a, copy=True), grads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_loss_value_and_gradients_match_torch(case, seed, dtype):
    model, x, y = make_model(case, dtype, seed)
    loss = model.loss
    assert model.fused is CASES[case][4]
    value, penalty, a, grads = nnlab_value_and_grads(model, x, y)
    assert penalty == 0.0

    x_ref = np.asarray(x, dtype=dtype)  # the reference sees the same rounded inputs
    z_t, a_t, params_t = torch_network(model, x_ref)
    value_t = CASES[case][3](z_t, a_t, torch_labels(y, loss))
    value_t.backward()
    assert_close(a, a_t.detach().numpy(), dtype, what=f"{case}: output")
    assert_close(value, value_t.item(), dtype, what=f"{case}: loss value")
    assert_close(model.evaluate(x, y)["loss"], value_t.item(), dtype, what=f"{case}: evaluate")
    for name, p_t in params_t.items():
        assert_close(grads[name], p_t.grad.numpy(), dtype, what=f"{case}: d{name}")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][4]])
def test_fused_output_gradient_is_a_minus_y(case, seed):
    """Fused sigmoid/softmax + cross-entropy: dZ = (A - Y) / m (BCE: / (m k), its mean
    runs over the k outputs too), so db = sum over m of dZ and dW = A_prev.T dZ."""
    model, x, y = make_model(case, "float64", seed)
    _, _, a, grads = nnlab_value_and_grads(model, x, y)
    m, k = a.shape
    if isinstance(model.loss, CategoricalCrossentropy):
        y_full = np.eye(k)[y] if y.ndim == 1 else y
        dz = (a - y_full) / m
    else:
        dz = (a - y.reshape(m, k)) / (m * k)
    dense = [layer for layer in model.layers if isinstance(layer, Dense)][-1]
    a_prev = model.layers[0].forward(np.asarray(x, dtype=np.float64))
    assert_close(grads[f"{dense.name}/b"], dz.sum(axis=0), what="db = sum(A - Y) / m")
    assert_close(grads[f"{dense.name}/W"], a_prev.T @ dz, what="dW = A_prev.T (A - Y) / m")


# ----------------------------------------------------------------- saturated logits
def saturated_model(output_activation, loss, logits, dtype):
    """Identity first layer, then a layer whose logits for x = I are ``logits`` (m, k)."""
    m, k = logits.shape
    model = Sequential(
        [Dense(m), Dense(k, output_activation)], input_shape=(m,), dtype=dtype, seed=0
    )
    model.compile("sgd", loss)
    names = [layer.name for layer in model.layers]
    model.set_weights(
        {
            f"{names[0]}/W": np.eye(m),
            f"{names[0]}/b": np.zeros(m),
            f"{names[1]}/W": logits,
            f"{names[1]}/b": np.zeros(k),
        }
    )
    return model, np.eye(m)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fused_bce_is_finite_for_logits_of_1000(seed, dtype):
    rng = np.random.default_rng(seed)
    m, k = int(rng.integers(2, 9)), int(rng.integers(1, 4))
    logits = 1000.0 * rng.choice([-1.0, 1.0], (m, k))
    y = rng.integers(0, 2, (m, k)).astype(np.float64)
    y[0, 0] = float(logits[0, 0] < 0)  # at least one confidently wrong prediction
    model, x = saturated_model("sigmoid", "binary_crossentropy", logits, dtype)
    assert model.fused
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / divide-by-zero warnings either
        value, _, a, grads = nnlab_value_and_grads(model, x, y)
    wrong = (logits > 0) != (y > 0.5)
    assert np.isfinite(value)
    assert value == pytest.approx(1000.0 * wrong.mean(), rel=1e-6)
    for name, g in grads.items():
        assert np.isfinite(g).all(), name
    # A is exactly 0 or 1, so dZ = (A - Y) / (m k) is exactly -1/(mk), 0 or 1/(mk)
    dz = ((logits > 0).astype(np.float64) - y) / (m * k)
    assert_close(grads["dense_2/W"], dz, dtype, what="dW")
    assert_close(grads["dense_2/b"], dz.sum(axis=0), dtype, what="db")

    z_t = torch.tensor(logits, requires_grad=True)
    value_t = F.binary_cross_entropy_with_logits(z_t, torch.tensor(y))
    value_t.backward()
    assert value == pytest.approx(value_t.item(), rel=1e-6)
    assert_close(grads["dense_2/W"], z_t.grad.numpy(), dtype, what="dW vs torch")


def test_fused_bce_confidently_wrong_single_example():
    model, x = saturated_model("sigmoid", "binary_crossentropy", np.array([[1000.0]]), "float64")
    value, _, _, grads = nnlab_value_and_grads(model, x, np.array([0.0]))
    assert value == pytest.approx(1000.0, rel=1e-12)
    assert grads["dense_2/b"][0] == pytest.approx(1.0)
    model, x = saturated_model("sigmoid", "binary_crossentropy", np.array([[-1000.0]]), "float64")
    value, _, _, grads = nnlab_value_and_grads(model, x, np.array([0.0]))
    assert value == pytest.approx(0.0, abs=1e-12)
    assert grads["dense_2/b"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("labels", ["int", "onehot"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fused_cce_is_finite_for_logits_of_1000(seed, dtype, labels):
    rng = np.random.default_rng(seed)
    m, k = int(rng.integers(2, 9)), int(rng.integers(2, 6))
    logits = 1000.0 * rng.choice([-1.0, 0.0, 1.0], (m, k))
    logits[np.arange(m), rng.integers(0, k, m)] = 1000.0  # one clear winner per row...
    winner = logits.argmax(axis=1)
    logits[logits == 1000.0] = -1000.0
    logits[np.arange(m), winner] = 1000.0  # ...exactly one
    y_int = rng.integers(0, k, m)
    y = y_int if labels == "int" else np.eye(k)[y_int]
    model, x = saturated_model("softmax", "categorical_crossentropy", logits, dtype)
    assert model.fused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, _, a, grads = nnlab_value_and_grads(model, x, y)
    # log-sum-exp = 1000 in every row, so the loss of a row is 1000 - z[y]
    expected = np.mean(1000.0 - logits[np.arange(m), y_int])
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-6)
    for name, g in grads.items():
        assert np.isfinite(g).all(), name
    dz = (np.eye(k)[winner] - np.eye(k)[y_int]) / m
    assert_close(grads["dense_2/W"], dz, dtype, what="dW")
    assert_close(grads["dense_2/b"], dz.sum(axis=0), dtype, what="db")

    z_t = torch.tensor(logits, requires_grad=True)
    value_t = F.cross_entropy(z_t, torch.tensor(y_int))
    value_t.backward()
    assert value == pytest.approx(value_t.item(), rel=1e-6)
    assert_close(grads["dense_2/W"], z_t.grad.numpy(), dtype, what="dW vs torch")


def test_fused_cce_confidently_wrong_value():
    logits = np.array([[1000.0, -1000.0, 0.0]])
    for label, expected in ((0, 0.0), (1, 2000.0), (2, 1000.0)):
        model, x = saturated_model("softmax", "categorical_crossentropy", logits, "float64")
        value, _, _, _ = nnlab_value_and_grads(model, x, np.array([label]))
        assert value == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("labels", ["int", "onehot"])
def test_fused_cce_keeps_the_digits_of_a_confident_loss(labels):
    """Confident right answers, logits (30, 0, 0) and (0, 0, 28): the losses are
    log(1 + 2 e^-30) = 1.9e-13 and log(1 + 2 e^-28).  Written as z_top + log(sum) - z_y they
    round at the scale of z_top (3.6e-15, a 2% error), which made gradient checking of a
    trained net fail (issue 9, item 6)."""
    logits = np.array([[30.0, 0.0, 0.0], [0.0, 0.0, 28.0]])
    winners = np.array([0, 2])
    y = winners if labels == "int" else np.eye(3)[winners]
    model, x = saturated_model("softmax", "categorical_crossentropy", logits, "float64")
    value, _, _, _ = nnlab_value_and_grads(model, x, y)
    expected = np.mean(np.log1p(2 * np.exp(-np.array([30.0, 28.0]))))
    assert value == pytest.approx(expected, rel=1e-12, abs=0)


# ------------------------------------------------------------------ label validation
def compiled(loss, k, n_in=3):
    activation = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}
    model = Sequential(
        [Dense(k, activation.get(loss, "linear"))], input_shape=(n_in,), dtype="float64"
    )
    model.compile("sgd", loss)
    return model


@pytest.mark.parametrize(
    "loss, k, y, bad",
    [
        ("binary_crossentropy", 1, [0.0, 1.0, 2.0, 1.0], "2"),
        ("binary_crossentropy", 2, [[0.0, 1.0], [1.0, -0.5], [0, 0], [1, 1]], "-0.5"),
        ("binary_crossentropy", 1, [0, 1, 7, 1], "7"),
        ("categorical_crossentropy", 3, [0, 1, 3, 2], "3"),
        ("categorical_crossentropy", 3, [0, -1, 2, 2], "-1"),
        ("categorical_crossentropy", 4, [[0], [9], [1], [2]], "9"),
    ],
)
def test_labels_out_of_range(loss, k, y, bad):
    model = compiled(loss, k)
    x = np.zeros((len(y), 3))
    for call in (
        lambda: model.prepare_targets(np.array(y), len(y)),
        lambda: model.fit(x, np.array(y), epochs=1, verbose=0),
        lambda: model.evaluate(x, np.array(y)),
    ):
        with pytest.raises(nnlab.InputValueError) as info:
            call()
        message = str(info.value)
        assert loss in message and bad in message, message


def test_non_integer_class_labels_name_the_value():
    model = compiled("categorical_crossentropy", 3)
    with pytest.raises(nnlab.InputValueError) as info:
        model.prepare_targets(np.array([0.0, 1.5, 2.0]), 3)
    message = str(info.value)
    assert "categorical_crossentropy" in message
    assert "1.5" in message, message  # errors name the expected and the actual value


@pytest.mark.parametrize(
    "loss, k, y_shape",
    [
        ("binary_crossentropy", 1, (5, 2)),
        ("binary_crossentropy", 3, (5,)),
        ("binary_crossentropy", 3, (5, 4)),
        ("categorical_crossentropy", 3, (5, 4)),
        ("categorical_crossentropy", 3, (5, 2, 3)),
        ("mean_squared_error", 2, (5, 3)),
        ("mean_squared_error", 2, (5,)),
    ],
)
def test_labels_of_the_wrong_shape(loss, k, y_shape):
    model = compiled(loss, k)
    y = np.zeros(y_shape)
    with pytest.raises(nnlab.ShapeError) as info:
        model.prepare_targets(y, 5)
    message = str(info.value)
    assert loss in message and str(y_shape) in message, message
    with pytest.raises(nnlab.ShapeError):
        model.fit(np.zeros((5, 3)), y, epochs=1, verbose=0)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy", "mse"])
def test_labels_with_nan_and_wrong_count(loss):
    model = compiled(loss, 1 if loss != "categorical_crossentropy" else 3)
    k = model.output_shape[-1]
    y = np.zeros((4, k))
    y[1, 0] = np.nan
    with pytest.raises(nnlab.InputValueError, match="NaN"):
        model.prepare_targets(y, 4)
    with pytest.raises(nnlab.ShapeError, match="5 examples but y has 4"):
        model.prepare_targets(np.zeros((4, k)), 5)


# ------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy"])
def test_float64_model_keeps_float64_targets(loss):
    """Targets of a float64 model must not be rounded to float32 (the default floatx)."""
    k = 2
    model = compiled(loss, k)
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 1, (6, k)) + 1e-9  # not representable in float32
    yp = model.prepare_targets(y, 6)
    assert yp.dtype == np.float64
    np.testing.assert_array_equal(yp, y)


# ------------------------------------------------------------ a softmax per time step
@pytest.mark.parametrize("labels", ["integer", "one-hot"])
def test_cross_entropy_over_time_steps_equals_torch(labels):
    """Outputs (m, T, K): J is the mean over the m T positions, as F.cross_entropy's; dZ
    (fused with the softmax) and dA (not fused) are its gradients."""
    import torch

    from nnlab.training.losses import CategoricalCrossentropy

    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 4, 5))
    ids = rng.integers(0, 5, (3, 4))
    loss = CategoricalCrossentropy()
    y = loss.prepare(ids if labels == "integer" else np.eye(5)[ids], (4, 5))
    assert y.shape == ((3, 4) if labels == "integer" else (3, 4, 5))
    a = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    z_t = torch.tensor(z, requires_grad=True)
    j_t = torch.nn.functional.cross_entropy(z_t.reshape(-1, 5), torch.tensor(ids.reshape(-1)))
    j_t.backward()
    value, dz = loss.fused_value_and_grad(y, z, a)
    np.testing.assert_allclose(value, j_t.item(), rtol=1e-12)
    np.testing.assert_allclose(dz, z_t.grad.numpy(), rtol=1e-10, atol=1e-14)
    a_t = torch.tensor(a, requires_grad=True)
    j2 = torch.nn.functional.nll_loss(torch.log(a_t).reshape(-1, 5), torch.tensor(ids.reshape(-1)))
    j2.backward()
    value2, da = loss.value_and_grad(y, a)
    np.testing.assert_allclose(value2, j2.item(), rtol=1e-10)
    np.testing.assert_allclose(da, a_t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_a_sequence_model_trains_on_integer_labels_per_step():
    """LSTM(return_sequences) -> Dense softmax per step, integer labels (m, T): the task
    "name the current token" is learned to > 99% of the positions."""
    import nnlab

    rng = np.random.default_rng(1)
    ids = rng.integers(0, 4, (64, 6))
    x = np.eye(4, dtype=np.float32)[ids]  # (m, T, 4) one-hot inputs
    model = nnlab.Sequential(
        [nnlab.LSTM(8, return_sequences=True), nnlab.Dense(4, activation="softmax")],
        input_shape=(6, 4),
        seed=0,
    )
    model.compile(nnlab.Adam(0.05), "sparse_categorical_crossentropy")
    history = model.fit(x, ids, epochs=30, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.1 < history.history["loss"][0]
    assert (model.predict(x).argmax(-1) == ids).mean() > 0.99
