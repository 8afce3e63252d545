"""Keras' ``trainable``: frozen layers keep their weights (no update, no optimizer state),
unfreezing resumes training, a frozen batch norm runs in inference mode, backward stops at
the first trainable layer, and summary counts parameters as Keras does."""

import numpy as np
import pytest

import nnlab
from nnlab import (
    Adam,
    BatchNormalization,
    Conv2D,
    Dense,
    Flatten,
    Input,
    MaxPool2D,
    Model,
    Sequential,
    set_trainable,
)
from nnlab.exceptions import ConfigError


def data(m=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, 6)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def mlp(seed=0):
    return Sequential(
        [
            Input((6,)),
            Dense(8, activation="relu", name="d1"),
            BatchNormalization(name="bn"),
            Dense(8, activation="relu", name="d2"),
            Dense(2, activation="softmax", name="out"),
        ],
        seed=seed,
    )


def fitted(model, epochs=2, lr=0.01):
    x, y = data()
    model.compile(Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    return model


def moved(before, after):
    return {k for k in before if not np.array_equal(before[k], after[k])}


def test_frozen_layers_do_not_move_and_have_no_optimizer_state():
    model = fitted(mlp())
    set_trainable(model, False, names=["d1", "bn"])
    before = model.get_weights()
    x, y = data(seed=1)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = model.get_weights()
    assert moved(before, after) == {"d2/W", "d2/b", "out/W", "out/b"}  # BN's stats too stay
    trainable = 8 * 8 + 8 + 8 * 2 + 2
    assert model.count_trainable_params() == trainable
    entries = {e.name for e in model.flat.entries}
    assert entries == {"d2/W", "d2/b", "out/W", "out/b"}
    assert all(slot.size < 2 * trainable for slot in model.optimizer.slots.values())


def test_unfreezing_resumes_training_and_keeps_the_state_of_the_others():
    model = fitted(mlp())
    set_trainable(model, False, names="d*")  # a pattern: d1 and d2
    fitted_again = fitted(model, epochs=1)
    adam = fitted_again.optimizer
    out_entry = next(e for e in model.flat.entries if e.name == "out/W")
    state = model.flat.view(adam.slots["v"], out_entry).copy()
    assert np.any(state != 0)

    assert set_trainable(model, True, names=["d1"]) == ["d1", "bn", "out"]
    model.sync_trainable()  # what the next backward or step does
    out_entry = next(e for e in model.flat.entries if e.name == "out/W")
    d1_entry = next(e for e in model.flat.entries if e.name == "d1/W")
    np.testing.assert_array_equal(model.flat.view(adam.slots["v"], out_entry), state)
    assert not np.any(model.flat.view(adam.slots["v"], d1_entry))  # starts from zeros

    before = model.get_weights()
    x, y = data(seed=2)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    changed = moved(before, model.get_weights())
    assert {"d1/W", "d1/b", "out/W"} <= changed and not changed & {"d2/W", "d2/b"}


def test_frozen_from_the_start_and_recompiled():
    model = Sequential(
        [Input((6,)), Dense(8, trainable=False, name="d1"), Dense(2, activation="softmax")],
        seed=0,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    x, y = data()
    model.fit(x, y, epochs=2, verbose=0)
    assert moved(before, model.get_weights()) == {"dense_1/W", "dense_1/b"}
    model.get_layer("d1").trainable = True
    model.compile(Adam(0.01), "sparse_categorical_crossentropy")  # Keras' way: compile again
    assert model.optimizer.slots["v"].size == model.flat.size >= 6 * 8 + 8
    model.fit(x, y, epochs=1, verbose=0)
    assert "d1/W" in moved(before, model.get_weights())


def test_frozen_batch_norm_runs_in_inference_mode():
    x, _ = data()
    model = fitted(mlp())
    bn = model.get_layer("bn")
    bn.trainable = False
    stats = {k: v.copy() for k, v in bn.state.items()}
    np.testing.assert_array_equal(model.forward(x, training=True), model.forward(x, training=False))
    fitted(model, epochs=1)
    for key, value in stats.items():
        np.testing.assert_array_equal(bn.state[key], value)
    bn.trainable = True
    fitted(model, epochs=1)
    assert not np.array_equal(bn.state["moving_mean"], stats["moving_mean"])


def test_backward_stops_at_the_first_trainable_layer():
    calls = []
    model = Sequential(
        [
            Input((6, 6, 2)),
            Conv2D(3, 3, padding="same", activation="relu", name="c1"),
            MaxPool2D(2, name="pool"),
            Conv2D(4, 3, padding="same", activation="relu", name="c2"),
            Flatten(),
            Dense(2, activation="softmax", name="out"),
        ],
        seed=0,
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    for layer in model.layers:
        original = layer.backward_preactivation if layer.name == "out" else layer.backward

        def spy(*args, _name=layer.name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        if layer.name == "out":
            layer.backward_preactivation = spy
        else:
            layer.backward = spy
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 2))
    y = np.array([0, 1, 1, 0])
    set_trainable(model, True, from_layer="c2")
    model.train_step(model.prepare_inputs(x), model.prepare_targets(y, 4, "t"))
    assert calls == ["out", "flatten_1", "c2"]  # pool and c1 frozen (or empty) before it
    calls.clear()
    set_trainable(model, True)
    model.train_step(model.prepare_inputs(x), model.prepare_targets(y, 4, "t"))
    assert calls == ["out", "flatten_1", "c2", "pool", "c1"]


def test_gradcheck_checks_the_trainable_parameters_only():
    model = Sequential(
        [
            Input((5, 5, 2)),
            Conv2D(3, 3, activation="relu", name="c1"),
            BatchNormalization(name="bn"),
            Conv2D(2, 3, name="c2"),
            Flatten(),
            Dense(2, activation="softmax", name="out"),
        ],
        seed=0,
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    set_trainable(model, False, names=["c1", "bn"])
    x = np.random.default_rng(3).standard_normal((4, 5, 5, 2))
    result = nnlab.gradcheck(model, x, np.array([0, 1, 1, 0]))
    assert set(result.per_parameter) == {"c2/W", "c2/b", "out/W", "out/b"}
    assert result.difference < 1e-7, result


def test_summary_counts_as_keras():
    model = mlp()
    model.build()
    set_trainable(model, False, names=[0])  # by index: d1
    text = model.summary(print_fn=None, show_trainable=True)
    d1, bn, d2, out = 6 * 8 + 8, 4 * 8, 8 * 8 + 8, 8 * 2 + 2  # BN: gamma, beta, 2 stats
    total = d1 + bn + d2 + out
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {2 * 8 + d2 + out:,}" in text
    assert f"Non-trainable params: {d1 + 2 * 8:,}" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if "(" in line}
    assert rows["d1"][-2:] == [f"{d1}", "N"] and rows["bn"][-2:] == [f"{bn}", "Y"]
    assert model.count_params() == total - 2 * 8  # the parameters proper
    assert model.count_params(include_state=True) == total


def test_set_trainable_from_layer_and_errors():
    model = mlp()
    assert set_trainable(model, True, from_layer="d2") == ["d2", "out"]
    assert set_trainable(model, True, from_layer=-1) == ["out"]
    assert set_trainable(model, False, from_layer="d2") == ["d1", "bn"]
    assert set_trainable(model) == ["d1", "bn", "d2", "out"]
    with pytest.raises(ConfigError, match="no layer .* matches 'conv'"):
        set_trainable(model, False, names=["conv"])
    with pytest.raises(ConfigError, match="out of range"):
        set_trainable(model, False, names=[7])
    with pytest.raises(ConfigError, match="not both"):
        set_trainable(model, False, names=["d1"], from_layer="d2")
    with pytest.raises(ConfigError, match="True or False"):
        model.get_layer("d1").trainable = "no"


def test_frozen_flags_and_optimizer_state_survive_save_and_load(tmp_path):
    model = fitted(mlp())
    set_trainable(model, False, names=["d1"])
    fitted(model, epochs=1)
    model.save(tmp_path / "m.safetensors")
    loaded = nnlab.load_model(tmp_path / "m.safetensors")
    assert [layer.trainable for layer in loaded.layers] == [False, True, True, True]
    assert loaded.flat.size == model.flat.size
    np.testing.assert_array_equal(loaded.optimizer.slots["v"], model.optimizer.slots["v"])


def test_a_sub_model_keeps_training_after_the_big_one_repacked():
    inputs = Input((6,))
    hidden = Dense(8, activation="relu", name="enc")(inputs)
    outputs = Dense(2, activation="softmax", name="out")(hidden)
    big = Model(inputs, outputs, seed=0)
    fitted(big, epochs=1)
    encoder = Model(inputs, Dense(2, activation="softmax", name="probe")(hidden))
    fitted(encoder, epochs=1)
    set_trainable(big, False, names=["out"])
    fitted(big, epochs=1)  # repacks the big model's buffers
    before = encoder.get_weights()
    fitted(encoder, epochs=1)
    assert moved(before, encoder.get_weights()) == {"enc/W", "enc/b", "probe/W", "probe/b"}
    before = big.get_weights()
    fitted(big, epochs=1)
    assert moved(before, big.get_weights()) == {"enc/W", "enc/b"}


def test_two_models_on_the_same_buffers_both_follow_a_freeze():
    inputs = Input((6,))
    outputs = Dense(2, activation="softmax", name="out")(Dense(8, name="enc")(inputs))
    a, b = Model(inputs, outputs, seed=0), Model(inputs, outputs, seed=1)
    a.build()
    b.build()
    assert b.flat is a.flat  # the same layers: one pair of buffers
    set_trainable(a, False, names=["enc"])
    assert a.flat is not b.flat and b.flat.released
    before = b.get_weights()
    fitted(b, epochs=1)  # repacks b's buffers, now holding "out" only
    assert moved(before, b.get_weights()) == {"out/W", "out/b"}
    assert b.flat.size < 100
