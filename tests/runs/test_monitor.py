"""TrainingMonitor: per-epoch gradient norms, activation statistics and dead-ReLU checks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from nnlab import (
    Activation,
    Adam,
    BatchNormalization,
    Dense,
    Dropout,
    GradientDescent,
    Input,
    ReLU,
    Sequential,
)
from nnlab.cli.main import main
from nnlab.runs.monitor import DiagnosticWarning, TrainingMonitor, dead_fraction

PNG = b"\x89PNG\r\n\x1a\n"
PLANAR = ["--dataset", "planar", "--layers", "8", "--activation", "relu", "--quiet"]


def blobs(m=300, n=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=m)
    x = rng.normal(size=(m, n)).astype(np.float32) + y[:, None].astype(np.float32)
    return x, y


def bn_model(seed=0, dropout=0.0):
    layers = [
        Input((6,)),
        Dense(16, activation="relu", kernel_initializer="he", kernel_regularizer=0.01),
        BatchNormalization(momentum=0.9),
    ]
    layers += [Dropout(dropout)] if dropout else []
    layers += [Dense(8, use_bias=False), ReLU(name="relu"), Dense(3, activation="softmax")]
    model = Sequential(layers, seed=seed)
    model.compile(Adam(0.01), "categorical_crossentropy", ["accuracy"])
    return model


def deep_model(depth, width, activation, initializer, n_in=6, seed=0):
    layers = [Input((n_in,))]
    layers += [Dense(width, activation, kernel_initializer=initializer) for _ in range(depth)]
    layers.append(Dense(3, "softmax", kernel_initializer=initializer))
    model = Sequential(layers, seed=seed)
    model.compile(GradientDescent(0.01), "categorical_crossentropy")
    return model


def fit_with(model, monitor, epochs=1, x=None, y=None):
    if x is None:
        x, y = blobs()
    cbs = [monitor] if monitor is not None else []
    return model.fit(x, y, epochs=epochs, batch_size=32, callbacks=cbs, verbose=0)


# ------------------------------------------------------------------ values recorded
def test_gradient_norms_equal_norms_of_compute_gradients():
    x, y = blobs()
    model = bn_model()
    monitor = TrainingMonitor(x[:100], y[:100])
    fit_with(model, monitor, epochs=2, x=x, y=y)
    assert monitor.history["epoch"] == [1, 2]

    xs = model.prepare_inputs(x[:100])
    ys = model.prepare_targets(y[:100], 100)
    model.compute_gradients(xs, ys, training=True)  # same weights as the last epoch's end
    names = []
    for name, param, grad in model.named_parameters():
        norm = np.linalg.norm(grad.astype(np.float64))
        assert norm > 0
        np.testing.assert_allclose(monitor.history[f"grad_norm/{name}"][-1], norm, rtol=1e-12)
        ratio = norm / np.linalg.norm(param.astype(np.float64))
        np.testing.assert_allclose(monitor.history[f"grad_ratio/{name}"][-1], ratio, rtol=1e-12)
        names.append(name)
    assert names == ["dense_1/W", "dense_1/b", "batch_normalization_1/gamma"] + [
        "batch_normalization_1/beta",
        "dense_2/W",
        "dense_3/W",
        "dense_3/b",
    ]


def test_activation_stats_are_each_layer_output():
    x, y = blobs()
    model = bn_model()
    monitor = TrainingMonitor(x[:64], y[:64])
    fit_with(model, monitor, x=x, y=y)
    a = model.prepare_inputs(x[:64])
    for layer in model.layers:
        a = layer.forward(a, training=True)
        stats = {k: monitor.history[f"{k}/{layer.name}"][-1] for k in ("act_mean", "act_std")}
        np.testing.assert_allclose(stats["act_mean"], a.astype(np.float64).mean(), rtol=1e-9)
        np.testing.assert_allclose(stats["act_std"], a.astype(np.float64).std(), rtol=1e-9)
    relu_layers = {k.split("/")[1] for k in monitor.history if k.startswith("dead_relu/")}
    assert relu_layers == {"dense_1", "relu"}  # Dense(relu) and ReLU(), not softmax/BN


def test_history_is_json_able():
    model = bn_model()
    x, y = blobs()
    monitor = TrainingMonitor(x[:50], y[:50])
    fit_with(model, monitor, epochs=3, x=x, y=y)
    text = json.dumps(monitor.history, allow_nan=False)
    assert all(len(v) == 3 for v in json.loads(text).values())


# ------------------------------------------------------------------ changes nothing
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_monitor_leaves_training_unchanged(dropout):
    x, y = blobs()
    plain, watched = bn_model(seed=3, dropout=dropout), bn_model(seed=3, dropout=dropout)
    before = plain.get_weights()
    fit_with(plain, None, epochs=3, x=x, y=y)
    monitor = TrainingMonitor(x[:128], y[:128])
    fit_with(watched, monitor, epochs=3, x=x, y=y)

    assert len(monitor.history["epoch"]) == 3
    after, watched_after = plain.get_weights(), watched.get_weights()
    moving = "batch_normalization_1/moving_mean"
    assert not np.array_equal(before[moving], after[moving])  # BN state did change
    assert after.keys() == watched_after.keys()
    for name in after:  # weights and running averages, bit for bit
        np.testing.assert_array_equal(watched_after[name], after[name], err_msg=name)
    # the shuffle (and dropout) generator is where the plain run's is
    assert plain.rng.bit_generator.state == watched.rng.bit_generator.state
    assert all(layer.rng is watched.rng for layer in watched.layers)


def test_measure_restores_batch_norm_state():
    x, y = blobs()
    model = bn_model()
    fit_with(model, None, x=x, y=y)
    monitor = TrainingMonitor(x[:100], y[:100])
    monitor.set_model(model)
    before = model.get_weights()
    monitor.measure(0)
    for name, value in model.get_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


# ------------------------------------------------------------------------ warnings
def test_deep_sigmoid_net_with_tiny_init_warns_of_vanishing_gradients():
    model = deep_model(10, 16, "sigmoid", "small_random")
    x, y = blobs()
    monitor = TrainingMonitor(x[:200], y[:200])
    with pytest.warns(DiagnosticWarning) as caught:
        fit_with(model, monitor, epochs=2, x=x, y=y)
    messages = [str(w.message) for w in caught]
    assert any("vanishing gradients in layer dense_1 at epoch 1" in m for m in messages)
    assert monitor.history["grad_norm/dense_1/W"][0] < 1e-7
    vanishing = [w for w in monitor.warnings if "vanishing" in w]
    assert any("layer dense_1 at epoch 2" in w for w in vanishing)  # every epoch is logged
    assert not any("layer dense_11 " in w for w in vanishing)  # the output layer still learns


def test_warnings_go_once_per_layer_and_kind_to_log():
    model = deep_model(10, 16, "sigmoid", "small_random")
    messages = []
    x, y = blobs()
    monitor = TrainingMonitor(x[:200], y[:200], log=messages.append)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a custom log replaces warnings.warn
        fit_with(model, monitor, epochs=3, x=x, y=y)
    assert len(messages) == len(set(messages)) and len(monitor.warnings) > len(messages)
    assert sum("layer dense_1 " in m for m in messages) == 1


def test_huge_relu_init_warns_of_exploding_gradients_or_dead_units():
    model = deep_model(3, 32, "relu", {"name": "random_normal", "scale": 100.0})
    x, y = blobs()
    monitor = TrainingMonitor(x[:200], y[:200])
    monitor.set_model(model)
    with pytest.warns(DiagnosticWarning) as caught:
        monitor.measure(0)
    messages = [str(w.message) for w in caught]
    assert messages and all(("exploding" in m or "dead ReLUs" in m) for m in messages)
    assert all("at epoch 1" in m for m in messages)
    assert any("exploding" in w for w in monitor.warnings)
    assert monitor.history["grad_norm/dense_1/W"][0] > 1e3


def test_diverging_run_is_measured_when_the_loss_becomes_nan(tmp_path):
    model = deep_model(3, 32, "relu", {"name": "random_normal", "scale": 100.0})
    x, y = blobs()
    monitor = TrainingMonitor(x[:200], y[:200], log=lambda message: None)
    history = model.fit(x, y, epochs=3, batch_size=32, callbacks=[monitor], verbose=0)
    assert history.stop_reason and history.epoch == []  # no epoch ended
    assert monitor.history["epoch"] == [1]
    assert any("exploding gradients in layer dense_1 at epoch 1" in w for w in monitor.warnings)
    monitor.save(tmp_path)
    stats = json.loads((tmp_path / "layer_stats.json").read_text())  # strict JSON: null
    assert None in stats["history"]["grad_norm/dense_1/W"]


def test_dead_relu_fraction_is_exact():
    """Biases of -100 make units 0 and 1 negative for any input in [-1, 1]; unit 3 is alive."""
    model = Sequential(
        [Input((3,)), Dense(4, "relu", name="hidden"), Dense(2, "softmax", name="out")], seed=0
    )
    model.compile(GradientDescent(0.1), "categorical_crossentropy")
    x = np.random.default_rng(1).uniform(-1, 1, size=(50, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    hidden = model.layers[0]
    hidden.params["W"][...] = np.array([[1, 1, 1, 0]] * 3, dtype=np.float32) * 0.1
    hidden.params["b"][...] = [-100.0, -100.0, 0.0, 100.0]
    monitor = TrainingMonitor(x, y)
    monitor.set_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = monitor.measure(0)
    assert record["dead_relu/hidden"] == 0.5 and not monitor.warnings  # 2 of 4: not > half

    hidden.params["b"][2] = -100.0
    with pytest.warns(DiagnosticWarning, match="dead ReLUs in layer hidden at epoch 2: 75%"):
        record = monitor.measure(1)
    assert record["dead_relu/hidden"] == 0.75
    assert "dead_relu/out" not in record


def test_dead_fraction_of_an_activation_layer():
    a = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.5]])
    assert dead_fraction(a) == pytest.approx(1 / 3)
    model = Sequential([Input((2,)), Dense(3), Activation("relu", name="act")], seed=0)
    model.compile("sgd", "mse")
    model.layers[0].params["b"][...] = [-50.0, -50.0, 50.0]
    monitor = TrainingMonitor(np.ones((4, 2), np.float32), np.zeros((4, 3), np.float32))
    monitor.set_model(model)
    with pytest.warns(DiagnosticWarning, match="layer act at epoch 1"):
        assert monitor.measure(0)["dead_relu/act"] == pytest.approx(2 / 3)


# -------------------------------------------------------------------------- saving
def test_save_writes_stats_and_plots(tmp_path):
    model = bn_model()
    x, y = blobs()
    monitor = TrainingMonitor(x[:100], y[:100])
    fit_with(model, monitor, epochs=2, x=x, y=y)
    paths = monitor.save(tmp_path)
    assert [p.name for p in paths] == ["layer_stats.json", "gradient_norms.png", "activations.png"]
    for name in ("gradient_norms.png", "activations.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000
    stats = json.loads((tmp_path / "layer_stats.json").read_text())
    assert stats["history"] == monitor.history and stats["sample_size"] == 100


def test_train_run_folder_has_layer_stats_and_resume_continues_them(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *PLANAR, "--epochs", "2", "--out", str(run)]) == 0
    for name in ("layer_stats.json", "gradient_norms.png", "activations.png"):
        assert (run / name).exists(), name
    stats = json.loads((run / "layer_stats.json").read_text())
    assert stats["history"]["epoch"] == [1, 2] and stats["sample_size"] == 256
    assert {"grad_norm/dense_1/W", "act_std/dense_1", "dead_relu/dense_1"} <= set(stats["history"])

    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 0
    resumed = json.loads((run / "layer_stats.json").read_text())["history"]
    assert resumed["epoch"] == [1, 2, 3, 4]
    assert resumed["grad_norm/dense_1/W"][:2] == stats["history"]["grad_norm/dense_1/W"]
