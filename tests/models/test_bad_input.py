"""Bad inputs and settings raise nnlab errors that name the culprit and both values."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest

import nnlab
from nnlab import (
    BatchNormalization,
    ConfigError,
    Dense,
    Dropout,
    Input,
    InputValueError,
    NNLabError,
    Sequential,
    ShapeError,
)


def mnist_like(seed=0):
    model = Sequential(
        [Input((784,)), Dense(16, activation="relu"), Dense(10, activation="softmax")], seed=seed
    )
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    return model


def sigmoid_model():
    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")], seed=0)
    model.compile("adam", "binary_crossentropy")
    return model


RNG = np.random.default_rng(0)
X = RNG.random((32, 784), dtype=np.float32)
Y = RNG.integers(0, 10, size=32)


@contextlib.contextmanager
def raises(error_type, *fragments):
    """pytest.raises(error_type), then check it is an NNLabError naming every fragment."""
    with pytest.raises(error_type) as info:
        yield info
    assert isinstance(info.value, NNLabError), type(info.value)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


# ------------------------------------------------------------------- shapes
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_wrong_input_width_names_the_layer_and_both_widths(method):
    model = mnist_like()
    x = RNG.random((32, 780), dtype=np.float32)
    args = (x,) if method == "predict" else (x, Y)
    kwargs = {"verbose": 0} if method == "fit" else {}
    with raises(ShapeError, 'Dense layer "dense_1"', "784", "(32, 780)"):
        getattr(model, method)(*args, **kwargs)


def test_wrong_input_width_in_validation_data_names_the_layer():
    model = mnist_like()
    x_dev = RNG.random((8, 780), dtype=np.float32)
    with raises(ShapeError, 'Dense layer "dense_1"', "784", "(8, 780)"):
        model.fit(X, Y, validation_data=(x_dev, Y[:8]), verbose=0)


def test_images_into_dense_without_flatten_suggests_flatten():
    model = Sequential([Dense(4)])
    model.compile("sgd", "mse")
    with raises(ShapeError, 'Dense layer "dense_1"', "(m, 28, 28)", "Flatten"):
        model.fit(np.zeros((5, 28, 28), np.float32), np.zeros((5, 4)), verbose=0)


def test_one_dimensional_x_names_x_and_the_expected_shape():
    model = mnist_like()
    with raises(ShapeError, "x", "(m, 784)", "batch first", "got (784,)"):
        model.fit(X[0], Y[:1], verbose=0)
    with raises(ShapeError, "x", "(m, 784)", "got (784,)"):
        model.predict(X[0])


def test_one_hot_labels_of_the_wrong_width():
    model = mnist_like()
    y = np.eye(9, dtype=np.float32)[RNG.integers(0, 9, size=32)]
    with raises(ShapeError, "categorical_crossentropy", "labels", "10", "(32, 9)"):
        model.fit(X, y, verbose=0)


def test_labels_of_the_wrong_shape_for_a_sigmoid_output():
    model = sigmoid_model()
    with raises(ShapeError, "binary_crossentropy", "labels", "('m', 1)", "(6, 2)"):
        model.fit(np.zeros((6, 3)), np.zeros((6, 2)), verbose=0)


def test_x_and_y_of_different_lengths():
    model = mnist_like()
    with raises(ShapeError, "x has 32 examples", "y has 31"):
        model.fit(X, Y[:31], verbose=0)
    with raises(ShapeError, "x has 32 examples", "y has 33"):
        model.evaluate(X, np.concatenate([Y, Y[:1]]))


def test_scalar_y_has_no_batch_axis():
    with raises(ShapeError, "x has 32 examples", "no batch axis"):
        mnist_like().fit(X, np.int64(3), verbose=0)


# ------------------------------------------------------------------- values
def test_class_label_out_of_range_names_the_range_and_the_bad_label():
    model = mnist_like()
    y = Y.copy()
    y[5] = 10
    with raises(InputValueError, "categorical_crossentropy", "[0, 9]", "got a label of 10"):
        model.fit(X, y, verbose=0)
    y[5] = -1
    with raises(InputValueError, "[0, 9]", "got a label of -1"):
        model.evaluate(X, y)


def test_label_two_for_a_sigmoid_output_names_the_bad_value():
    model = sigmoid_model()
    y = np.array([0, 1, 2, 0])
    with raises(InputValueError, "binary_crossentropy", "[0, 1]", "got a label of 2"):
        model.fit(np.zeros((4, 3)), y, verbose=0)


def test_non_integer_class_labels():
    y = Y.astype(np.float32)
    y[0] = 2.5
    with raises(InputValueError, "categorical_crossentropy", "integer class labels"):
        mnist_like().fit(X, y, verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x(bad):
    x = X.copy()
    x[3, 100] = bad
    x[7, 5] = bad
    with raises(InputValueError, "x contains 2 NaN or inf values"):
        mnist_like().fit(x, Y, verbose=0)
    with raises(InputValueError, "x contains 2 NaN or inf"):
        mnist_like().predict(x)


def test_huge_finite_x_is_not_taken_for_inf():
    """float64 values near the maximum overflow a sum, but are finite: predict accepts them."""
    x = np.full((2, X.shape[1]), 1e308)
    model = mnist_like()
    model.fit(X, Y, epochs=1, verbose=0)
    assert model.predict(x).shape == (2, 10)


def test_nan_in_validation_x():
    x_dev = X[:4].copy()
    x_dev[0, 0] = np.nan
    with raises(InputValueError, "validation_data", "NaN or inf"):
        mnist_like().fit(X, Y, validation_data=(x_dev, Y[:4]), verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_y(bad):
    y = np.eye(10, dtype=np.float32)[Y]
    y[2, 3] = bad
    with raises(InputValueError, "categorical_crossentropy", "labels contain NaN or inf"):
        mnist_like().fit(X, y, verbose=0)
    model = Sequential([Input((784,)), Dense(1)])
    model.compile("sgd", "mse")
    with raises(InputValueError, "mean_squared_error", "labels contain NaN or inf"):
        model.fit(X, np.where(np.arange(32) == 4, bad, 0.0), verbose=0)


def test_empty_x():
    with raises(InputValueError, "x is empty (0 examples)"):
        mnist_like().fit(np.zeros((0, 784), np.float32), np.zeros(0, int), verbose=0)
    with raises(InputValueError, "x is empty"):
        mnist_like().predict(np.zeros((0, 784), np.float32))


def test_non_numeric_x_and_y():
    with raises(InputValueError, "x must be numeric", "<U"):
        mnist_like().predict(np.array([["a"] * 784]))
    with raises(InputValueError, "labels must be numbers"):
        mnist_like().fit(X[:2], np.array(["cat", "dog"]), verbose=0)
    with raises(InputValueError, "y is required"):
        mnist_like().fit(X, None, verbose=0)


# ------------------------------------------------------------------- names
KNOWN_ACTIVATIONS = ["leaky_relu", "linear", "relu", "sigmoid", "softmax", "tanh"]


def test_unknown_activation_lists_the_known_names():
    with raises(ConfigError, "unknown activation 'relux'", *KNOWN_ACTIVATIONS):
        Dense(4, activation="relux")
    with raises(ConfigError, "unknown activation 'swish'", "relu"):
        nnlab.Activation("swish")


def test_unknown_loss_lists_the_known_names():
    model = Sequential([Input((3,)), Dense(2)])
    with raises(
        ConfigError,
        "unknown loss 'hinge'",
        "binary_crossentropy",
        "categorical_crossentropy",
        "mse",
    ):
        model.compile("adam", "hinge")


def test_unknown_optimizer_lists_the_known_names():
    model = Sequential([Input((3,)), Dense(2)])
    with raises(ConfigError, "unknown optimizer 'adagrad'", "adam", "momentum", "rmsprop", "sgd"):
        model.compile("adagrad", "mse")


def test_unknown_initializer_lists_the_known_names():
    with raises(
        ConfigError, "unknown initializer 'lecun'", "glorot_uniform", "he", "xavier", "zeros"
    ):
        Dense(4, kernel_initializer="lecun")
    with raises(ConfigError, "unknown initializer 'ones_like'"):
        Dense(4, bias_initializer="ones_like")


def test_unknown_metric_and_schedule():
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    with raises(ConfigError, "unknown metric 'f1'", "accuracy"):
        model.compile("adam", "categorical_crossentropy", ["f1"])
    with raises(ConfigError, "unknown learning-rate schedule 'cosine'", "exponential"):
        nnlab.Adam({"name": "cosine", "initial_learning_rate": 0.1, "decay_rate": 0.5})


# --------------------------------------------------------------- arguments
@pytest.mark.parametrize("units", [0, -3, 2.5, True, "8"])
def test_dense_units_must_be_a_positive_integer(units):
    with raises(ConfigError, "Dense", "units", "positive integer", f"got {units!r}"):
        Dense(units)


@pytest.mark.parametrize("rate", [1.5, 1.0, -0.1])
def test_dropout_rate_out_of_range(rate):
    with raises(ConfigError, "Dropout", "rate", "[0, 1)", f"got {rate}"):
        Dropout(rate)


def test_batchnorm_arguments():
    with raises(ConfigError, "BatchNormalization", "momentum", "[0, 1)", "got 1.0"):
        BatchNormalization(momentum=1.0)
    with raises(ConfigError, "BatchNormalization", "epsilon", "> 0", "got 0"):
        BatchNormalization(epsilon=0)


def test_optimizer_arguments():
    with raises(ConfigError, "Adam", "learning_rate", "> 0", "got -0.1"):
        nnlab.Adam(learning_rate=-0.1)
    with raises(ConfigError, "GradientDescent", "learning_rate", "got 0"):
        Sequential([Input((3,)), Dense(2)]).compile("sgd", "mse", learning_rate=0)
    with raises(ConfigError, "Adam", "beta_1", "[0, 1)", "got 1.0"):
        nnlab.Adam(beta_1=1.0)
    with raises(ConfigError, "Momentum", "beta", "got -0.5"):
        nnlab.Momentum(beta=-0.5)
    with raises(ConfigError, "L2", "lambd", ">= 0", "got -1"):
        nnlab.L2(-1)


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, "32", None])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with raises(ConfigError, "fit", "batch_size", "positive integer", f"got {batch_size!r}"):
        mnist_like().fit(X, Y, batch_size=batch_size, verbose=0)


@pytest.mark.parametrize("split", [1.5, 1.0, -0.2])
def test_validation_split_outside_zero_one(split):
    with raises(ConfigError, "fit", "validation_split", "(0, 1)", f"got {split}"):
        mnist_like().fit(X, Y, validation_split=split, verbose=0)


def test_validation_split_leaving_no_dev_example():
    with raises(InputValueError, "validation_split=0.01", "leaves 0 dev examples of 32"):
        mnist_like().fit(X, Y, validation_split=0.01, verbose=0)


def test_fit_before_compile_and_bad_callbacks():
    model = Sequential([Input((784,)), Dense(10)])
    with raises(ConfigError, "fit", "compile"):
        model.fit(X, Y, verbose=0)
    with raises(ConfigError, "evaluate", "compile"):
        model.evaluate(X, Y)
    with raises(ConfigError, "callbacks must be Callback objects", "function"):
        mnist_like().fit(X, Y, callbacks=[lambda *a: None], verbose=0)


def test_model_construction_errors():
    with raises(ConfigError, "add", "expected a Layer", "int"):
        Sequential([3])
    with raises(ConfigError, "two layers are named 'a'"):
        Sequential([Dense(2, name="a"), Dense(2, name="a")])
    with raises(ConfigError, "Input must be the first layer"):
        Sequential([Dense(2), Input((3,))])
    with raises(ShapeError, "input shape is unknown"):
        Sequential([Dense(2)]).build()
    with raises(ConfigError, "no layers"):
        Sequential(input_shape=(3,)).build()


# Bugs: these invalid settings escape as bare Python errors or are silently ignored.
def test_non_numeric_learning_rate_raises_config_error():
    model = Sequential([Input((3,)), Dense(2)])
    with raises(ConfigError, "learning_rate", "'0.01'"):
        model.compile("adam", "mse", learning_rate="0.01")


def test_negative_kernel_regularizer_strength_is_rejected():
    with raises(ConfigError, "-0.1"):
        Dense(4, kernel_regularizer=-0.1)


def test_leaky_relu_alpha_out_of_range_raises_config_error():
    with raises(ConfigError, "alpha", "[0, 1)", "got 2"):
        nnlab.LeakyReLU(alpha=2)


def test_dropout_rate_of_the_wrong_type_raises_config_error():
    with raises(ConfigError, "Dropout", "rate", "'0.5'"):
        Dropout("0.5")


# ------------------------------------------------------------ divergence
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_loss_becoming_nan_or_inf_stops_training_cleanly(capsys):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5)) * 1000.0  # unscaled inputs
    y = x @ rng.normal(size=(5, 1)) * 10.0
    model = Sequential([Input((5,)), Dense(8, activation="relu"), Dense(1)], seed=0)
    model.compile("sgd", "mse", learning_rate=1e6)
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=1)
    assert isinstance(history, nnlab.training.callbacks.History)
    reason = history.stop_reason
    assert reason is not None
    assert re.search(r"loss became (nan|inf|-inf) at epoch \d+, batch \d+", reason), reason
    assert "learning rate 1e+06" in reason
    assert len(history.epoch) < 5
    assert all(np.isfinite(v) for v in history.history.get("loss", []))
    assert f"nnlab: {reason}" in capsys.readouterr().err  # the progress bar reports it


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_in_a_later_epoch_keeps_the_finished_epochs():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [3.0]], np.float32)
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(1)], seed=0)
    model.compile(nnlab.GradientDescent(nnlab.ExponentialDecay(0.01, 1e12)), "mse")
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert history.epoch == [0]
    assert np.isfinite(history["loss"][0])
    assert "at epoch 2" in history.stop_reason
    assert re.search(r"loss became (nan|inf)", history.stop_reason)


def test_a_batch_size_larger_than_the_data_is_capped_at_the_data():
    """batch_size=10**12 is full-batch gradient descent, not a petabyte buffer."""
    model = mnist_like()
    history = model.fit(X, Y, epochs=1, batch_size=10**12, verbose=0)
    same = mnist_like()
    full_batch = same.fit(X, Y, epochs=1, batch_size=X.shape[0], verbose=0)
    assert history.history["loss"] == full_batch.history["loss"]
    for a, b in zip(model.get_weights().values(), same.get_weights().values(), strict=True):
        np.testing.assert_array_equal(a, b)
