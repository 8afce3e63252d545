"""Tests of the callbacks: EarlyStopping, ModelCheckpoint, ProgressBar and custom hooks."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import nnlab
from nnlab import (
    Adam,
    BatchNormalization,
    ConfigError,
    Dense,
    EarlyStopping,
    Input,
    ModelCheckpoint,
    Sequential,
)
from nnlab.training.callbacks import Callback, MonitorCallback, ProgressBar
from nnlab.training.metrics import metric_mode


def data(m=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(int)
    return x, y


def make_model(seed=0):
    model = Sequential(
        [
            Input((4,)),
            Dense(6, activation="relu"),
            BatchNormalization(),
            Dense(2, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(Adam(0.01), "categorical_crossentropy", ["accuracy"])
    return model


def script_validation(model, **series):
    """Make fit's validation step return the scripted values, one per epoch."""
    iterators = {key: iter(values) for key, values in series.items()}
    calls = []

    def evaluate(x, y, batch_size=1024, prepared=False):
        calls.append(prepared)
        return {key: next(it) for key, it in iterators.items()}

    model.evaluate = evaluate
    return calls


class WeightsPerEpoch(Callback):
    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, epoch, logs):
        self.weights[epoch] = self.model.get_weights()


def assert_weights_equal(actual, expected):
    assert actual.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


# ------------------------------------------------------------ EarlyStopping
def test_early_stopping_stops_after_patience_epochs_and_restores_best_weights():
    x, y = data()
    model = make_model()
    calls = script_validation(model, loss=[1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1])
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    per_epoch = WeightsPerEpoch()
    history = model.fit(
        x,
        y,
        epochs=8,
        batch_size=10,
        validation_data=(x, y),
        callbacks=[per_epoch, stopper],
        verbose=0,
    )
    assert len(calls) == 5  # one validation pass per epoch
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history["val_loss"] == [1.0, 0.5, 0.6, 0.7, 0.8]
    assert stopper.best_epoch == 1 and stopper.stopped_epoch == 4
    reason = history.stop_reason
    assert reason.startswith("early stopping")
    assert "val_loss did not improve for 3 epochs" in reason
    assert "best 0.5000 at epoch 2" in reason
    # the weights of epoch 2 (index 1) are back, BN moving statistics included
    assert_weights_equal(model.get_weights(), per_epoch.weights[1])
    assert not np.array_equal(per_epoch.weights[1]["dense_1/W"], per_epoch.weights[4]["dense_1/W"])


def test_early_stopping_state_goes_into_the_checkpoint_and_a_resume_continues_it(tmp_path):
    """Stopped after epoch 3 of the scripted run, a fresh model and stopper loaded from the
    checkpoint stop at the same epoch with the same best weights as the uninterrupted fit."""
    from nnlab.saving.model_file import load_checkpoint
    from nnlab.training.callbacks import restore_states

    losses = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    x, y = data()
    whole, per_epoch = make_model(), WeightsPerEpoch()
    script_validation(whole, loss=losses)
    stopper = EarlyStopping(patience=3)
    whole.fit(x, y, epochs=8, batch_size=10, validation_data=(x, y),
              callbacks=[per_epoch, stopper], verbose=0)  # fmt: skip

    first, path = make_model(), tmp_path / "checkpoint.safetensors"
    script_validation(first, loss=losses[:3])
    states = {"early_stopping": EarlyStopping(patience=3)}
    first.fit(x, y, epochs=3, batch_size=10, validation_data=(x, y), verbose=0,
              callbacks=[*states.values(), ModelCheckpoint(path, states=states)])  # fmt: skip
    model, extra, tensors = load_checkpoint(path)
    assert extra["early_stopping"] == {
        "best": 0.5,
        "best_epoch": 1,
        "wait": 1,
        "stopped_epoch": None,
    }
    assert_weights_equal(
        {k[len("early_stopping/") :]: v for k, v in tensors.items()}, per_epoch.weights[1]
    )
    resumed = EarlyStopping(patience=3)
    restore_states({"early_stopping": resumed}, extra, tensors)
    script_validation(model, loss=losses[3:])
    history = model.fit(x, y, epochs=8, batch_size=10, validation_data=(x, y), verbose=0,
                        callbacks=[resumed], initial_epoch=model.initial_epoch)  # fmt: skip
    assert history.epoch == [3, 4] and resumed.stopped_epoch == stopper.stopped_epoch == 4
    assert resumed.best_epoch == 1 and history.stop_reason.endswith("best 0.5000 at epoch 2")
    assert_weights_equal(model.get_weights(), whole.get_weights())


def test_early_stopping_without_restore_keeps_the_last_weights():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    per_epoch = WeightsPerEpoch()
    history = model.fit(
        x,
        y,
        epochs=6,
        validation_data=(x, y),
        callbacks=[per_epoch, EarlyStopping(patience=2, restore_best_weights=False)],
        verbose=0,
    )
    assert history.epoch == [0, 1, 2, 3]
    assert_weights_equal(model.get_weights(), per_epoch.weights[3])


def test_early_stopping_restores_best_weights_when_training_ends_without_stopping():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[1.0, 0.4, 0.6])
    per_epoch = WeightsPerEpoch()
    history = model.fit(
        x,
        y,
        epochs=3,
        validation_data=(x, y),
        callbacks=[per_epoch, EarlyStopping(patience=5)],
        verbose=0,
    )
    assert history.stop_reason is None
    assert_weights_equal(model.get_weights(), per_epoch.weights[1])


def test_early_stopping_does_not_stop_while_improving():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[1.0, 0.9, 0.8, 0.7, 0.6])
    history = model.fit(
        x, y, epochs=5, validation_data=(x, y), callbacks=[EarlyStopping(patience=1)], verbose=0
    )
    assert history.epoch == [0, 1, 2, 3, 4] and history.stop_reason is None


def test_early_stopping_min_delta():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[1.0, 0.98, 0.96, 0.94, 0.5])
    stopper = EarlyStopping(patience=2, min_delta=0.05)
    history = model.fit(x, y, epochs=5, validation_data=(x, y), callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1, 2]
    assert stopper.best_epoch == 0


def test_early_stopping_mode_auto_maximizes_accuracy():
    assert EarlyStopping(monitor="val_accuracy").sign == 1.0
    assert EarlyStopping(monitor="accuracy").sign == 1.0
    assert EarlyStopping(monitor="val_acc").sign == 1.0
    assert EarlyStopping(monitor="val_loss").sign == -1.0
    assert EarlyStopping(monitor="val_accuracy", mode="min").sign == -1.0
    assert EarlyStopping(monitor="val_loss", mode="max").sign == 1.0
    x, y = data()
    rising = [0.5, 0.6, 0.7, 0.8, 0.9]
    model = make_model()
    script_validation(model, loss=[1.0] * 5, accuracy=rising)
    history = model.fit(
        x,
        y,
        epochs=5,
        validation_data=(x, y),
        callbacks=[EarlyStopping(monitor="val_accuracy", patience=1)],
        verbose=0,
    )
    assert history.epoch == [0, 1, 2, 3, 4] and history.stop_reason is None
    model = make_model()
    script_validation(model, loss=[1.0] * 5, accuracy=rising)
    history = model.fit(
        x,
        y,
        epochs=5,
        validation_data=(x, y),
        callbacks=[EarlyStopping(monitor="val_accuracy", mode="min", patience=1)],
        verbose=0,
    )
    assert history.epoch == [0, 1]
    assert "best 0.5000 at epoch 1" in history.stop_reason


def test_early_stopping_on_a_real_overfitting_run():
    # a tiny noisy training set and a wide network: the dev loss rises after a few epochs
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=16)
    x_dev = rng.normal(size=(200, 4)).astype(np.float32)
    y_dev = rng.integers(0, 2, size=200)
    model = Sequential(
        [Input((4,)), Dense(128, activation="relu"), Dense(2, activation="softmax")], seed=0
    )
    model.compile(Adam(0.05), "categorical_crossentropy")
    stopper = EarlyStopping(patience=3)
    per_epoch = WeightsPerEpoch()
    history = model.fit(
        x,
        y,
        epochs=200,
        batch_size=16,
        validation_data=(x_dev, y_dev),
        callbacks=[per_epoch, stopper],
        verbose=0,
    )
    assert len(history.epoch) < 200
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == best
    assert history.epoch[-1] == best + 3
    assert all(v >= history["val_loss"][best] for v in history["val_loss"][best + 1 :])
    assert_weights_equal(model.get_weights(), per_epoch.weights[best])
    assert model.evaluate(x_dev, y_dev)["loss"] == pytest.approx(
        history["val_loss"][best], rel=1e-6
    )


def test_early_stopping_monitor_missing_raises_config_error():
    x, y = data()
    with pytest.raises(
        ConfigError, match=r"monitor 'val_loss' is not in the logs \(loss, accuracy, lr\)"
    ):
        make_model().fit(x, y, epochs=2, callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(ConfigError, match="'val_f1'"):
        make_model().fit(
            x, y, epochs=2, validation_data=(x, y), callbacks=[EarlyStopping("val_f1")], verbose=0
        )


def test_early_stopping_bad_mode_raises_config_error():
    with pytest.raises(ConfigError, match=r"mode must be 'auto', 'min' or 'max', got 'biggest'"):
        EarlyStopping(mode="biggest")


def test_early_stopping_is_reset_by_each_fit():
    x, y = data()
    model = make_model()
    stopper = EarlyStopping(patience=1)
    script_validation(model, loss=[0.1, 0.2, 0.3])
    first = model.fit(x, y, epochs=3, validation_data=(x, y), callbacks=[stopper], verbose=0)
    assert first.epoch == [0, 1]
    script_validation(model, loss=[0.9, 0.8, 0.7])  # worse than 0.1, but a new run
    second = model.fit(x, y, epochs=3, validation_data=(x, y), callbacks=[stopper], verbose=0)
    assert second.epoch == [0, 1, 2] and second.stop_reason is None


# Bug: if the monitored value never becomes a number (NaN every epoch), best_epoch stays None
# and on_train_end crashes with TypeError formatting "epoch {best_epoch + 1}".
def test_early_stopping_with_nan_monitor_does_not_crash():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[math.nan] * 6)
    history = model.fit(
        x, y, epochs=6, validation_data=(x, y), callbacks=[EarlyStopping(patience=2)], verbose=0
    )
    assert history.epoch == [0, 1]
    assert "early stopping" in history.stop_reason


# Bug: after a NaN/inf loss stops training, the weights are the diverged ones; restore_best_weights
# only restores when best_epoch != the last *recorded* epoch, so it does nothing when the best
# epoch is the one just before the divergence.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_restore_best_weights_after_nan_stop():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [3.0]], np.float32)
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(1)], seed=0)
    model.compile(nnlab.GradientDescent(nnlab.ExponentialDecay(0.01, 1e12)), "mse")
    per_epoch = WeightsPerEpoch()
    history = model.fit(
        x,
        y,
        epochs=4,
        batch_size=8,
        validation_data=(x, y),
        callbacks=[per_epoch, EarlyStopping(patience=3, restore_best_weights=True)],
        verbose=0,
    )
    assert history.epoch == [0] and "loss became" in history.stop_reason
    assert_weights_equal(model.get_weights(), per_epoch.weights[0])


def test_early_stopping_baseline_must_be_beaten_first():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[0.9, 0.8, 0.7, 0.4, 0.3])
    stopper = EarlyStopping(patience=2, baseline=0.5)
    history = model.fit(x, y, epochs=5, validation_data=(x, y), callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1]  # 0.9 and 0.8 do not beat the baseline 0.5
    assert stopper.best_epoch is None
    assert "val_loss never beat the baseline 0.5" in history.stop_reason
    script_validation(model, loss=[0.9, 0.4, 0.45, 0.3])
    history = model.fit(x, y, epochs=4, validation_data=(x, y), callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1, 2, 3] and stopper.best_epoch == 3 and stopper.best == 0.3


# ----------------------------------------------------------- MonitorCallback
@pytest.mark.parametrize(
    "name, mode",
    [
        ("accuracy", "max"),
        ("val_accuracy", "max"),
        ("acc", "max"),
        ("val_acc", "max"),
        ("categorical_accuracy", "max"),
        ("val_f1", "max"),
        ("dev.precision", "max"),
        ("val_recall", "max"),
        ("val_AUC", "max"),
        ("loss", "min"),
        ("val_loss", "min"),
        ("dev.loss", "min"),
        ("mean_squared_error", "min"),
        ("ms_per_example", "min"),
        ("params", "min"),
        ("accident_rate", "min"),  # words, not substrings: "acc" inside a word is not accuracy
    ],
)
def test_metric_mode_maximizes_accuracy_like_names_only(name, mode):
    assert metric_mode(name) == mode
    assert MonitorCallback(name).mode == mode
    assert MonitorCallback(name, mode="min").mode == "min"
    assert MonitorCallback(name, mode="max").mode == "max"


def test_monitor_callback_improvement_respects_mode_min_delta_and_nan():
    lower = MonitorCallback("val_loss", min_delta=0.1)
    assert lower._is_improvement(0.5, lower._initial_reference())  # anything beats no value
    assert lower._is_improvement(0.5, 0.7) and not lower._is_improvement(0.65, 0.7)
    assert not lower._is_improvement(math.nan, lower._initial_reference())
    higher = MonitorCallback("val_accuracy", baseline=0.9)
    assert higher._initial_reference() == 0.9
    assert higher._is_improvement(0.95, 0.9) and not higher._is_improvement(0.85, 0.9)


# ----------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_save_best_only_saves_when_the_metric_improves_in_its_mode():
    x, y = data()
    model = make_model()
    script_validation(model, loss=[1.0, 0.8, 0.9], f1=[0.5, 0.7, 0.6])
    saved = []
    model.save = lambda path, include_optimizer, extra_metadata: saved.append(
        extra_metadata["epoch"]
    )
    checkpoints = [ModelCheckpoint("f1", "val_f1", True), ModelCheckpoint("loss", "val_loss", True)]
    model.fit(x, y, epochs=3, validation_data=(x, y), callbacks=checkpoints, verbose=0)
    assert saved == [1, 1, 2, 2]  # f1 is maximized, the loss minimized: both best at epoch 2


# Bug (minor): with save_best_only and a monitor that is never logged, nothing is ever written
# and nothing says so (EarlyStopping raises ConfigError for the same mistake).
def test_model_checkpoint_save_best_only_with_missing_monitor_is_an_error(tmp_path):
    x, y = data()
    path = tmp_path / "best.safetensors"
    with pytest.raises(ConfigError, match="val_loss"):
        make_model().fit(
            x, y, epochs=2, callbacks=[ModelCheckpoint(path, save_best_only=True)], verbose=0
        )


def test_model_checkpoint_is_not_written_for_a_diverged_epoch(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [3.0]], np.float32)
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(1)], seed=0)
    model.compile(nnlab.GradientDescent(nnlab.ExponentialDecay(0.01, 1e12)), "mse")
    path = tmp_path / "ckpt.safetensors"
    with np.errstate(all="ignore"):
        history = model.fit(
            x, y, epochs=4, batch_size=8, callbacks=[ModelCheckpoint(path)], verbose=0
        )
    assert history.stop_reason is not None
    restored = nnlab.load_model(path)
    assert restored.initial_epoch == 1
    assert all(np.isfinite(w).all() for w in restored.get_weights().values())


# --------------------------------------------------------------- ProgressBar
def test_progress_bar_writes_to_the_given_file():
    x, y = data()
    out = io.StringIO()
    model = make_model()
    model.fit(x, y, epochs=2, batch_size=10, callbacks=[ProgressBar(file=out)], verbose=0)
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "4/4" in text  # four batches per epoch
    assert "loss=" in text and "accuracy=" in text


def test_progress_bar_shows_the_resumed_epoch_numbers():
    x, y = data()
    out = io.StringIO()
    make_model().fit(x, y, epochs=5, initial_epoch=3, callbacks=[ProgressBar(file=out)], verbose=0)
    text = out.getvalue()
    assert "Epoch 4/5" in text and "Epoch 5/5" in text and "Epoch 1/" not in text


def test_verbose_controls_the_default_progress_bar(capsys):
    x, y = data()
    make_model().fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().err == ""
    make_model().fit(x, y, epochs=1, verbose=1)
    assert "Epoch 1/1" in capsys.readouterr().err


# ------------------------------------------------------------ custom hooks
def test_stop_training_from_a_callback_ends_after_the_current_epoch():
    class StopAtSecond(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                self.model.stop_training = True

    x, y = data()
    model = make_model()
    history = model.fit(x, y, epochs=10, callbacks=[StopAtSecond()], verbose=0)
    assert history.epoch == [0, 1]
    assert history.stop_reason is None
    # the flag does not leak into the next fit
    assert model.fit(x, y, epochs=2, verbose=0).epoch == [0, 1]


def test_epoch_logs_seen_by_callbacks_match_history():
    seen = []

    class Logs(Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(dict(logs))

    x, y = data()
    history = make_model().fit(x, y, epochs=3, validation_split=0.25, callbacks=[Logs()], verbose=0)
    assert [set(logs) for logs in seen] == [
        {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    ] * 3
    for key, values in history.history.items():
        assert [logs[key] for logs in seen] == values


def test_on_nan_hook_receives_the_stop_reason():
    messages = []

    class OnNan(Callback):
        def on_nan(self, message):
            messages.append(message)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 5)) * 1000.0
    y = x.sum(axis=1, keepdims=True)
    model = Sequential([Input((5,)), Dense(1)], seed=0)
    model.compile("sgd", "mse", learning_rate=1e6)
    with np.errstate(all="ignore"):
        history = model.fit(x, y, epochs=3, batch_size=8, callbacks=[OnNan()], verbose=0)
    assert messages == [history.stop_reason]
