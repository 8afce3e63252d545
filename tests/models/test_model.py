"""Tests of nnlab.Sequential: fit / evaluate / predict / summary on tiny synthetic problems."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import nnlab
from nnlab import (
    L2,
    Adam,
    BatchNormalization,
    Dense,
    Dropout,
    ExponentialDecay,
    GradientDescent,
    Input,
    InverseTimeDecay,
    Sequential,
)
from nnlab.training.callbacks import Callback

CENTERS = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])


def blobs(n, seed):
    """n points of 3 well separated Gaussian blobs in 2-D: (x float32 (n, 2), labels (n,))."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = CENTERS[y] + rng.normal(size=(n, 2))
    return x.astype(np.float32), y


def indexed_data(m, n_classes=3):
    """x whose first column is the example's index, so batches reveal the order."""
    x = np.stack([np.arange(m), np.arange(m) % 5], axis=1).astype(np.float32)
    return x, np.arange(m) % n_classes


def small_model(seed=0, n_in=2, hidden=16, n_out=3, dropout=0.0, **dense_kwargs):
    layers = [Input((n_in,)), Dense(hidden, activation="relu", **dense_kwargs)]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(n_out, activation="softmax", **dense_kwargs))
    model = Sequential(layers, seed=seed)
    model.compile(Adam(0.01), "categorical_crossentropy", ["accuracy"])
    return model


def record_batches(model):
    """Wrap model.train_step to record a copy of every batch (x, y)."""
    seen = []
    original = model.train_step

    def train_step(x, y, **kwargs):
        seen.append((np.array(x, copy=True), np.array(y, copy=True)))
        return original(x, y, **kwargs)

    model.train_step = train_step
    return seen


class Recorder(Callback):
    """Records every hook call."""

    def __init__(self):
        self.calls = []
        self.batch_logs = []
        self.epoch_info = []

    def on_train_begin(self):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, info):
        self.calls.append(("epoch_begin", epoch))
        self.epoch_info.append(dict(info))

    def on_batch_end(self, step, logs):
        self.calls.append(("batch_end", step))
        self.batch_logs.append(dict(logs))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, history):
        self.calls.append(("train_end",))


# ------------------------------------------------------------------ learning
def test_fit_reaches_high_accuracy_on_held_out_data():
    x_train, y_train = blobs(300, seed=1)
    x_test, y_test = blobs(300, seed=2)
    model = small_model(seed=0)
    history = model.fit(x_train, y_train, epochs=25, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    result = model.evaluate(x_test, y_test)
    assert result["accuracy"] > 0.95
    predicted = model.predict(x_test).argmax(axis=1)
    assert np.mean(predicted == y_test) > 0.95


def test_binary_problem_with_sigmoid_output_learns():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    model = Sequential([Input((2,)), Dense(8, activation="tanh"), Dense(1, activation="sigmoid")])
    model.compile(Adam(0.05), "binary_crossentropy", ["accuracy"])
    model.fit(x[:200], y[:200], epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x[200:], y[200:])["accuracy"] > 0.95


def test_history_keys_lengths_and_epochs():
    x, y = blobs(60, seed=1)
    x_dev, y_dev = blobs(30, seed=2)
    model = small_model()
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(x_dev, y_dev), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(values) == 4 for values in history.history.values())
    assert history.epoch == [0, 1, 2, 3]
    assert history.stop_reason is None
    assert history["loss"] is history.history["loss"]
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"] + history["val_accuracy"])
    assert history["lr"] == [pytest.approx(0.01)] * 4
    # the last val_* values are the model's evaluation on the dev set after training
    final = model.evaluate(x_dev, y_dev)
    assert history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(final["accuracy"])
    rows = list(history.rows())
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    assert rows[2]["loss"] == history["loss"][2]


def test_history_without_metrics_or_validation_has_only_loss_and_lr():
    x, y = blobs(20, seed=1)
    model = Sequential([Input((2,)), Dense(3, activation="softmax")], seed=0)
    model.compile("sgd", "categorical_crossentropy", learning_rate=0.1)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "lr"}
    assert len(history["loss"]) == 2


# ---------------------------------------------------------------- batching
def test_minibatch_sizes_steps_and_running_loss():
    x, y = indexed_data(10)
    model = small_model(seed=0)
    seen = record_batches(model)
    recorder = Recorder()
    history = model.fit(x, y, epochs=2, batch_size=4, callbacks=[recorder], verbose=0)
    assert [xb.shape[0] for xb, _ in seen] == [4, 4, 2, 4, 4, 2]
    assert [c[1] for c in recorder.calls if c[0] == "batch_end"] == [0, 1, 2, 0, 1, 2]
    assert [info["steps"] for info in recorder.epoch_info] == [3, 3]
    assert [info["epochs"] for info in recorder.epoch_info] == [2, 2]
    # the running loss of the epoch's last batch is the epoch's loss
    assert recorder.batch_logs[2]["loss"] == pytest.approx(history["loss"][0], rel=1e-6)
    assert recorder.batch_logs[5]["loss"] == pytest.approx(history["loss"][1], rel=1e-6)


def test_batch_size_larger_than_m_is_one_full_batch():
    x, y = indexed_data(7)
    model = small_model()
    seen = record_batches(model)
    model.fit(x, y, epochs=1, batch_size=100, verbose=0)
    assert [xb.shape[0] for xb, _ in seen] == [7]


def test_callback_hooks_run_in_order():
    x, y = indexed_data(6)
    recorder = Recorder()
    small_model().fit(x, y, epochs=2, batch_size=3, callbacks=[recorder], verbose=0)
    assert recorder.calls == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_end", 0),
        ("batch_end", 1),
        ("epoch_end", 0),
        ("epoch_begin", 1),
        ("batch_end", 0),
        ("batch_end", 1),
        ("epoch_end", 1),
        ("train_end",),
    ]


def _epoch_orders(seen, m, batch_size):
    """The example order of each epoch, from recorded batches of indexed_data."""
    per_epoch = -(-m // batch_size)
    rows = [xb[:, 0].astype(int) for xb, _ in seen]
    return [np.concatenate(rows[i : i + per_epoch]) for i in range(0, len(rows), per_epoch)]


def test_shuffle_true_draws_a_new_permutation_each_epoch_and_keeps_pairs():
    m = 30
    x, y = indexed_data(m)
    model = small_model(seed=5)
    seen = record_batches(model)
    model.fit(x, y, epochs=3, batch_size=7, shuffle=True, verbose=0)
    orders = _epoch_orders(seen, m, 7)
    assert len(orders) == 3
    for order in orders:
        assert sorted(order.tolist()) == list(range(m))  # each example exactly once
        assert not np.array_equal(order, np.arange(m))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    for xb, yb in seen:  # labels travel with their examples
        np.testing.assert_array_equal(yb, xb[:, 0].astype(int) % 3)


def test_shuffle_false_keeps_order():
    m = 10
    x, y = indexed_data(m)
    model = small_model()
    seen = record_batches(model)
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for order in _epoch_orders(seen, m, 4):
        np.testing.assert_array_equal(order, np.arange(m))
    np.testing.assert_array_equal(seen[0][0], x[:4])
    np.testing.assert_array_equal(seen[2][1], y[8:])


def test_callable_shuffle_is_called_per_epoch_and_used():
    m = 12
    x, y = indexed_data(m)
    calls = []

    def shuffle(epoch, n):
        calls.append((epoch, n))
        return np.roll(np.arange(n)[::-1], epoch)

    model = small_model()
    seen = record_batches(model)
    model.fit(x, y, epochs=3, batch_size=5, shuffle=shuffle, verbose=0)
    assert calls == [(0, m), (1, m), (2, m)]
    for epoch, order in enumerate(_epoch_orders(seen, m, 5)):
        np.testing.assert_array_equal(order, np.roll(np.arange(m)[::-1], epoch))


# ------------------------------------------------------------- determinism
def _train(seed):
    x, y = blobs(64, seed=1)
    model = small_model(seed=seed, dropout=0.3)
    history = model.fit(x, y, epochs=3, batch_size=10, shuffle=True, verbose=0)
    return model.get_weights(), history.history


def test_same_seed_gives_identical_weights_and_history():
    w1, h1 = _train(seed=11)
    w2, h2 = _train(seed=11)
    assert w1.keys() == w2.keys()
    for key in w1:
        np.testing.assert_array_equal(w1[key], w2[key], err_msg=key)
    assert h1 == h2


def test_different_seed_gives_different_weights():
    w1, _ = _train(seed=11)
    w2, _ = _train(seed=12)
    assert not np.array_equal(w1["dense_1/W"], w2["dense_1/W"])
    assert not np.array_equal(w1["dense_2/W"], w2["dense_2/W"])


# --------------------------------------------------------------- validation
def test_validation_split_holds_out_the_last_fraction():
    m = 20
    x, y = indexed_data(m)
    model = small_model(seed=2)
    seen = record_batches(model)
    history = model.fit(x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0)
    trained_on = np.concatenate([xb[:, 0] for xb, _ in seen]).astype(int)
    assert sorted(trained_on.tolist()) == sorted(list(range(15)) * 2)
    held_out = model.evaluate(x[15:], y[15:])
    assert history["val_loss"][-1] == pytest.approx(held_out["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(held_out["accuracy"])
    # the first 15 examples give a different loss: the split really is the tail
    assert model.evaluate(x[:5], y[:5])["loss"] != pytest.approx(held_out["loss"], rel=1e-6)


def test_validation_data_takes_precedence_over_split():
    x, y = indexed_data(20)
    model = small_model()
    seen = record_batches(model)
    x_dev, y_dev = indexed_data(6)
    history = model.fit(
        x, y, epochs=1, validation_data=(x_dev, y_dev), validation_split=0.5, verbose=0
    )
    assert sum(xb.shape[0] for xb, _ in seen) == 20
    assert history["val_loss"][0] == pytest.approx(model.evaluate(x_dev, y_dev)["loss"], rel=1e-6)


# ---------------------------------------------------------------- evaluate
def test_evaluate_agrees_with_predict():
    x, y = blobs(50, seed=4)
    model = small_model(seed=1)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    result = model.evaluate(x, y)
    assert set(result) == {"loss", "accuracy"}
    probs = model.predict(x).astype(np.float64)
    assert probs.shape == (50, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    expected_loss = -np.mean(np.log(probs[np.arange(50), y]))
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-4)
    assert result["accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == y))
    # one-hot labels and small evaluation batches give the same numbers
    one_hot = np.eye(3, dtype=np.float32)[y]
    again = model.evaluate(x, one_hot, batch_size=7)
    assert again["loss"] == pytest.approx(result["loss"], rel=1e-5)
    assert again["accuracy"] == pytest.approx(result["accuracy"])
    np.testing.assert_allclose(model.predict(x, batch_size=3), model.predict(x), rtol=1e-6)


def test_evaluate_binary_crossentropy_agrees_with_predict():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")], seed=0)
    model.compile("adam", "binary_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=3, verbose=0)
    p = model.predict(x)[:, 0].astype(np.float64)
    result = model.evaluate(x, y)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert result["loss"] == pytest.approx(expected, rel=1e-4)
    assert result["accuracy"] == pytest.approx(np.mean((p > 0.5) == y))


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "m, verbose, terminal, shown",
    [
        (6000, 1, True, True),  # a long evaluation (5000 examples or more) on a terminal
        (6000, 1, False, False),  # a log file or a test: quiet
        (6000, 0, True, False),  # not asked for
        (500, 1, True, False),  # too short to need one
    ],
)
def test_a_long_evaluation_shows_progress_on_a_terminal(monkeypatch, m, verbose, terminal, shown):
    x, y = blobs(m, seed=2)
    model = small_model(seed=1)
    stderr = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    result = model.evaluate(x, y, batch_size=1000, verbose=verbose)
    assert result == model.evaluate(x, y, batch_size=1000)  # the bar changes no number
    text = stderr.getvalue()
    assert (f"evaluating:   0%|          | 0/{m} " in text) is shown, repr(text)
    assert shown or text == ""


def test_fit_and_predict_do_not_modify_the_inputs():
    x, y = blobs(30, seed=1)
    x_copy, y_copy = x.copy(), y.copy()
    model = small_model(dropout=0.2)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.predict(x)
    model.evaluate(x, y)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_model_without_input_shape_is_built_by_fit():
    x, y = blobs(20, seed=1)
    model = Sequential([Dense(5, activation="relu"), Dense(3, activation="softmax")], seed=0)
    model.compile("adam", "categorical_crossentropy")
    assert not model.built
    model.fit(x, y, epochs=2, verbose=0)
    assert model.built and model.input_shape == (2,)
    assert model.get_weights()["dense_1/W"].shape == (2, 5)
    assert model.count_params() == 2 * 5 + 5 + 5 * 3 + 3


# ----------------------------------------------------------------- summary
def test_summary_lists_layers_shapes_and_parameter_counts():
    model = Sequential(
        [
            Input((784,)),
            Dense(256, activation="relu"),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ],
        name="mnist_mlp",
    )
    printed = []
    text = model.summary(print_fn=printed.append)
    assert printed == [text]
    dense_1 = 784 * 256 + 256
    dense_2 = 256 * 10 + 10
    total = dense_1 + dense_2
    assert total == 203_530
    assert model.count_params() == total
    lines = text.splitlines()
    assert 'Model: "mnist_mlp"' in lines[0]
    row = {
        name: next(l for l in lines if l.startswith(name))
        for name in ("dense_1", "dropout_1", "dense_2")
    }
    assert "(Dense)" in row["dense_1"] and "(None, 256)" in row["dense_1"]
    assert row["dense_1"].split()[-1] == f"{dense_1:,}"
    assert "(Dropout)" in row["dropout_1"] and "(None, 256)" in row["dropout_1"]
    assert row["dropout_1"].split()[-1] == "0"
    assert "(None, 10)" in row["dense_2"] and row["dense_2"].split()[-1] == f"{dense_2:,}"
    assert f"Total params: {total:,}" in lines
    assert f"Trainable params: {total:,}" in lines
    assert "Non-trainable params: 0" in lines


def test_summary_counts_frozen_layers_and_batchnorm_parameters():
    model = Sequential(
        [
            Input((20,)),
            Dense(8, trainable=False, name="frozen"),
            BatchNormalization(),
            Dense(3, activation="softmax"),
        ]
    )
    text = model.summary(print_fn=None)
    frozen = 20 * 8 + 8
    batchnorm = 2 * 8  # gamma and beta: parameters
    moving = 2 * 8  # the moving mean and variance: state, which Keras' summary counts too
    head = 8 * 3 + 3
    assert model.count_params() == frozen + batchnorm + head
    assert f"Total params: {frozen + batchnorm + moving + head:,}" in text
    assert f"Trainable params: {batchnorm + head:,}" in text
    assert f"Non-trainable params: {frozen + moving:,}" in text
    assert "frozen (Dense)" in text and "batch_normalization_1 (BatchNormalization)" in text


def test_frozen_layer_is_not_trained():
    x, y = blobs(40, seed=1)
    model = Sequential(
        [Input((2,)), Dense(6, activation="relu", trainable=False), Dense(3, activation="softmax")],
        seed=0,
    )
    model.compile(Adam(0.05), "categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    after = model.get_weights()
    np.testing.assert_array_equal(after["dense_1/W"], before["dense_1/W"])
    np.testing.assert_array_equal(after["dense_1/b"], before["dense_1/b"])
    assert not np.array_equal(after["dense_2/W"], before["dense_2/W"])


# -------------------------------------------------------- learning rates
def test_learning_rate_schedule_is_recorded_and_applied():
    x, y = indexed_data(10)
    model = Sequential([Input((2,)), Dense(3, activation="softmax")], seed=0)
    model.compile(Adam(InverseTimeDecay(0.1, decay_rate=1.0)), "categorical_crossentropy")
    used = []
    optimizer = model.optimizer
    original = optimizer.update

    def update(params, grads):
        used.append(optimizer.lr)
        original(params, grads)

    optimizer.update = update
    history = model.fit(x, y, epochs=4, batch_size=5, verbose=0)
    expected = [0.1 / (1 + e) for e in range(4)]
    assert history["lr"] == pytest.approx(expected)
    assert used == pytest.approx([lr for lr in expected for _ in range(2)])
    # resuming at epoch 4 continues the schedule there
    history = model.fit(x, y, epochs=6, initial_epoch=4, batch_size=10, verbose=0)
    assert history.epoch == [4, 5]
    assert history["lr"] == pytest.approx([0.1 / 5, 0.1 / 6])


def test_gradient_descent_step_uses_the_scheduled_rate():
    x, y = blobs(16, seed=3)
    model = Sequential([Input((2,)), Dense(3, activation="softmax")], seed=0)
    model.compile(
        GradientDescent(ExponentialDecay(0.5, decay_rate=0.5)), "categorical_crossentropy"
    )
    optimizer = model.optimizer
    original = optimizer.step
    checked = []

    def step(params, grads, spans=None):
        expected = params - optimizer.lr * grads
        original(params, grads, spans)
        np.testing.assert_allclose(params, expected, rtol=1e-6, atol=1e-7)
        checked.append(optimizer.lr)

    optimizer.step = step
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert checked == pytest.approx([0.5, 0.25, 0.125])


def test_compile_learning_rate_argument_overrides_the_default():
    model = small_model()
    model.compile("sgd", "categorical_crossentropy", learning_rate=0.3)
    assert isinstance(model.optimizer, GradientDescent)
    assert model.optimizer.lr == pytest.approx(0.3)


# -------------------------------------------------------- regularization
def _squared_kernel_norm(model):
    return sum(
        float(np.sum(w.astype(np.float64) ** 2))
        for k, w in model.get_weights().items()
        if k.endswith("/W")
    )


def test_l2_regularizer_shrinks_weights_compared_with_same_seed_without():
    x, y = blobs(80, seed=1)
    plain = small_model(seed=3)
    regularized = small_model(seed=3, kernel_regularizer=L2(5.0))
    np.testing.assert_array_equal(
        plain.get_weights()["dense_1/W"], regularized.get_weights()["dense_1/W"]
    )
    plain.fit(x, y, epochs=150, batch_size=80, shuffle=False, verbose=0)
    regularized.fit(x, y, epochs=150, batch_size=80, shuffle=False, verbose=0)
    assert _squared_kernel_norm(regularized) < 0.5 * _squared_kernel_norm(plain)


class WeightsAtEpochBegin(Callback):
    def __init__(self):
        self.weights = []

    def on_epoch_begin(self, epoch, info):
        self.weights.append(self.model.get_weights())


def test_l2_penalty_logged_full_batch_is_lambda_over_2m_times_squared_norm():
    m = 40
    x, y = blobs(m, seed=1)
    lambdas = {"dense_1": 0.7, "dense_2": 0.2}
    model = Sequential(
        [
            Input((2,)),
            Dense(5, activation="relu", kernel_regularizer=L2(lambdas["dense_1"])),
            Dense(3, activation="softmax", kernel_regularizer=lambdas["dense_2"]),
        ],
        seed=0,
    )
    model.compile(Adam(0.05), "categorical_crossentropy")
    begin = WeightsAtEpochBegin()
    history = model.fit(x, y, epochs=3, batch_size=m, callbacks=[begin], verbose=0)
    assert len(history["penalty"]) == 3
    for epoch in range(3):
        w = begin.weights[epoch]  # the penalty is computed on the weights the step starts from
        expected = sum(
            lam / (2 * m) * float(np.sum(w[f"{name}/W"].astype(np.float64) ** 2))
            for name, lam in lambdas.items()
        )
        assert history["penalty"][epoch] == pytest.approx(expected, rel=1e-5)
    # biases are not regularized, and the penalty is reported apart from the data loss
    plain = Sequential(
        [Input((2,)), Dense(5, activation="relu"), Dense(3, activation="softmax")], seed=0
    )
    plain.compile(Adam(0.05), "categorical_crossentropy")
    first = plain.fit(x, y, epochs=1, batch_size=m, verbose=0)
    assert "penalty" not in first.history
    assert first["loss"][0] == pytest.approx(history["loss"][0], rel=1e-6)


def test_l2_penalty_with_minibatches_uses_the_training_set_size():
    """Each step's penalty is (lambda / 2M) ||W||^2 with M the training-set size, so a
    mini-batch step follows the same regularized cost as full-batch training."""
    m, lam = 10, 0.5
    x, y = indexed_data(m)
    x = x / 10
    model = Sequential(
        [Input((2,)), Dense(3, activation="softmax", kernel_regularizer=lam)], seed=0
    )
    model.compile(Adam(0.05), "categorical_crossentropy")
    records = []
    original = model.train_step

    def train_step(xb, yb, **kwargs):
        w = model.get_weights()["dense_1/W"].astype(np.float64)
        value, penalty, a = original(xb, yb, **kwargs)
        n = xb.shape[0]
        assert kwargs["n_examples"] == m
        assert penalty == pytest.approx(lam / (2 * m) * np.sum(w**2), rel=1e-5)
        records.append((n, value, penalty))
        return value, penalty, a

    model.train_step = train_step
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert [n for n, _, _ in records] == [4, 4, 2]
    expected_penalty = sum(n * p for n, _, p in records) / m
    expected_loss = sum(n * v for n, v, _ in records) / m
    assert history["penalty"][0] == pytest.approx(expected_penalty, rel=1e-6)
    assert history["loss"][0] == pytest.approx(expected_loss, rel=1e-6)


def test_l2_adds_lambda_over_m_times_w_to_the_kernel_gradient():
    m, lam = 12, 0.9
    x, y = blobs(m, seed=5)
    models = []
    for reg in (None, L2(lam)):
        model = Sequential(
            [Input((2,)), Dense(3, activation="softmax", kernel_regularizer=reg)], seed=4
        )
        model.compile("sgd", "categorical_crossentropy")
        xp = model.prepare_inputs(x)
        model.compute_gradients(xp, model.prepare_targets(y, m))
        models.append(model)
    plain, regularized = models
    w = regularized.layers[0].params["W"]
    np.testing.assert_allclose(
        regularized.layers[0].grads["W"] - plain.layers[0].grads["W"],
        lam / m * w,
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_array_equal(regularized.layers[0].grads["b"], plain.layers[0].grads["b"])


# ----------------------------------------------------- dropout and batch norm
def test_dropout_is_active_only_in_training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 10)).astype(np.float32)
    model = Sequential(
        [Input((10,)), Dense(40, activation="relu"), Dropout(0.4), Dense(3, activation="softmax")],
        seed=0,
    )
    model.compile("adam", "categorical_crossentropy")
    first, second = model.predict(x), model.predict(x)
    np.testing.assert_array_equal(first, second)
    # inference is the plain network: no mask, no 1 / keep_prob scaling
    w = model.get_weights()
    hidden = np.maximum(x @ w["dense_1/W"] + w["dense_1/b"], 0)
    z = hidden @ w["dense_2/W"] + w["dense_2/b"]
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)
    # training draws a new mask each call and scales the kept units by 1 / keep_prob
    dropout = model.layers[1]
    h = np.abs(rng.normal(size=(200, 40))).astype(np.float32) + 0.1
    a1 = dropout.forward(h, training=True).copy()
    a2 = dropout.forward(h, training=True).copy()
    assert not np.array_equal(a1, a2)
    kept = a1 != 0
    assert 0.5 < kept.mean() < 0.7
    np.testing.assert_allclose(a1[kept], h[kept] / 0.6, rtol=1e-6)
    assert not np.array_equal(model.forward(x, training=True), model.forward(x, training=True))


def test_batchnorm_moving_statistics_follow_momentum():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(32, 4)) * [1.0, 2.0, 3.0, 4.0] + [5.0, -1.0, 0.0, 2.0]).astype(np.float32)
    y = rng.integers(0, 2, size=32)
    model = Sequential(
        [Input((4,)), BatchNormalization(momentum=0.9), Dense(2, activation="softmax")], seed=0
    )
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
    state = model.get_weights()
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(
        state["batch_normalization_1/moving_mean"], 0.1 * x64.mean(axis=0), rtol=1e-5
    )
    np.testing.assert_allclose(
        state["batch_normalization_1/moving_variance"], 0.9 + 0.1 * x64.var(axis=0), rtol=1e-5
    )


def test_batchnorm_uses_moving_statistics_at_inference():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(64, 3)) * 3 + 2).astype(np.float32)
    y = (x[:, 0] > 2).astype(int)
    model = Sequential(
        [Input((3,)), Dense(6), BatchNormalization(momentum=0.5), Dense(2, activation="softmax")],
        seed=0,
    )
    model.compile(Adam(0.01), "categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    w = model.get_weights()
    mean, var = w["batch_normalization_1/moving_mean"], w["batch_normalization_1/moving_variance"]
    assert not np.allclose(mean, 0) and not np.allclose(var, 1)  # non-trivial statistics
    z1 = x.astype(np.float64) @ w["dense_1/W"] + w["dense_1/b"]
    bn = (z1 - mean) / np.sqrt(var + 1e-3) * w["batch_normalization_1/gamma"] + w[
        "batch_normalization_1/beta"
    ]
    z2 = bn @ w["dense_2/W"] + w["dense_2/b"]
    expected = np.exp(z2 - z2.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    predicted = model.predict(x)
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-5)
    # a prediction does not depend on the rest of the batch (batch statistics would)
    np.testing.assert_allclose(model.predict(x[:1]), predicted[:1], rtol=1e-5, atol=1e-6)
    # and inference leaves the moving statistics alone
    after = model.get_weights()
    np.testing.assert_array_equal(after["batch_normalization_1/moving_mean"], mean)
    model.evaluate(x, y)
    np.testing.assert_array_equal(model.get_weights()["batch_normalization_1/moving_variance"], var)


def test_get_and_set_weights_round_trip_and_copies():
    model = small_model(seed=0)
    other = small_model(seed=1)
    weights = model.get_weights()
    weights["dense_1/W"][...] = 123.0  # a copy: the model is unchanged
    assert not np.any(model.get_weights()["dense_1/W"] == 123.0)
    other.set_weights(model.get_weights())
    x, _ = blobs(10, seed=0)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    with pytest.raises(nnlab.ShapeError, match="dense_1/W"):
        other.set_weights({**model.get_weights(), "dense_1/W": np.zeros((3, 16), np.float32)})
    with pytest.raises(nnlab.ShapeError, match="missing weight 'dense_2/b'"):
        weights = model.get_weights()
        del weights["dense_2/b"]
        other.set_weights(weights)
