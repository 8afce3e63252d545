"""The functional API: Input -> layer calls -> Model, with branches and merges."""

import numpy as np
import pytest

import nnlab
from nnlab import Activation, Add, Concatenate, Dense, Input, Model
from nnlab.exceptions import ConfigError, ShapeError


def residual_model(dtype="float64", seed=0):
    """x -> Dense -> Dense -> Add(skip) -> tanh -> softmax: a ResNet identity block."""
    inputs = Input((6,))
    x = Dense(6, activation="tanh")(inputs)
    h = Dense(6, activation="tanh")(x)
    h = Dense(6)(h)
    x = Activation("tanh")(Add()([h, x]))
    outputs = Dense(3, activation="softmax")(x)
    model = Model(inputs, outputs, dtype=dtype, seed=seed)
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    return model


def data(m=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, 6)), rng.integers(0, 3, m)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_residual_block_passes_gradcheck(seed):
    x, y = data(seed=seed)
    result = nnlab.gradcheck(residual_model(seed=seed), x, y)
    assert result.difference < 1e-7, result


def test_branch_gradients_are_summed():
    """d/dx of Add([f(x), x]) is df/dx + 1: check against the chain computed by hand."""
    inputs = Input((4,))
    x = Dense(4, name="first")(inputs)
    y = Add()([Dense(4, name="branch", use_bias=False)(x), x])
    model = Model(inputs, Dense(1, name="out", use_bias=False)(y), dtype="float64", seed=0)
    model.compile("sgd", "mse")
    xs = np.random.default_rng(1).standard_normal((5, 4))
    model.compute_gradients(xs, np.zeros((5, 1)))
    w = {k: v for k, v in model.get_weights().items()}
    a1 = xs @ w["first/W"] + w["first/b"]
    out = (a1 @ w["branch/W"] + a1) @ w["out/W"]
    dout = 2 * out / 5
    da1 = dout @ w["out/W"].T @ (w["branch/W"].T + np.eye(4))
    np.testing.assert_allclose(model.layers[0].grads["W"], xs.T @ da1, rtol=1e-10)


def test_concatenate_passes_gradcheck():
    inputs = Input((5,))
    a = Dense(3, activation="relu")(inputs)
    b = Dense(2, activation="tanh")(inputs)
    outputs = Dense(1, activation="sigmoid")(Concatenate()([a, b]))
    model = Model(inputs, outputs, dtype="float64", seed=3)
    model.compile("sgd", "binary_crossentropy")
    assert model.layers[-2].output_shape == (5,)
    x = np.random.default_rng(0).standard_normal((8, 5))
    assert nnlab.gradcheck(model, x, np.arange(8) % 2).difference < 1e-7


def test_functional_model_trains_saves_and_loads(tmp_path):
    x, y = data(m=200)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    model = residual_model(dtype="float32")
    model.compile(nnlab.Adam(0.01), "categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x, y)["accuracy"] > 0.9
    model.save(tmp_path / "m.safetensors")
    loaded = nnlab.load_model(tmp_path / "m.safetensors")
    assert type(loaded) is Model
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert "add_1 (Add)" in loaded.summary(print_fn=None)


def test_graph_errors():
    inputs = Input((4,))
    layer = Dense(2)  # a second call shares the layer (issue 8); another shape is refused
    first, second = layer(inputs), layer(inputs)
    assert first is not second and layer.inbound_nodes == [first, second]
    with pytest.raises(ShapeError, match="same input shape"):
        layer(Input((5,)))
    with pytest.raises(ShapeError, match="one shape"):
        Add()([Dense(2)(inputs), Dense(3)(inputs)])
    other = Input((4,))
    mixed = Add()([Dense(2)(inputs), Dense(2)(other)])
    with pytest.raises(ConfigError, match="exactly the given Input"):
        Model(inputs, mixed)
    with pytest.raises(ConfigError, match="several inputs"):
        nnlab.Sequential([Add()])
