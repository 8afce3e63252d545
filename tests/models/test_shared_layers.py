"""Graphs that call a layer more than once, several inputs and outputs, sequences, token
ids, and gradients w.r.t. the inputs: against PyTorch and finite differences (float64)."""

import numpy as np
import pytest
from helpers import assert_close, numeric_gradient

import nnlab
from nnlab import Add, BatchNormalization, Conv2D, Dense, Dropout, Embedding, Flatten, Input, Model
from nnlab.exceptions import ShapeError

torch = pytest.importorskip("torch")


def as_torch(model):
    """Every parameter of ``model`` as a torch leaf tensor, by 'layer/key'."""
    return {
        name: torch.tensor(np.array(p, copy=True), requires_grad=True)
        for name, p, _ in model.named_parameters()
    }


def assert_grads_equal_torch(model, params_t, what):
    for name, _, grad in model.named_parameters():
        assert_close(grad, params_t[name].grad.numpy(), what=f"{what}: d{name}")


# ------------------------------------------------------------------ shared Dense
def test_dense_called_three_times_accumulates_torchs_gradient():
    rng = np.random.default_rng(0)
    inputs = [Input((5,)) for _ in range(3)]
    dense = Dense(4, activation="tanh")
    total = Add()([dense(x) for x in inputs])
    model = Model(inputs, total, dtype="float64", seed=0)
    model.build()
    xs = [rng.standard_normal((6, 5)) for _ in range(3)]
    out = model.forward(xs, training=True)
    da = rng.standard_normal(out.shape)
    model.backward(da)

    p = as_torch(model)
    name = dense.name
    out_t = sum(torch.tanh(torch.tensor(x) @ p[f"{name}/W"] + p[f"{name}/b"]) for x in xs)
    out_t.backward(torch.tensor(da))
    assert_close(out, out_t.detach().numpy(), what="forward")
    assert_grads_equal_torch(model, p, "three calls")
    # each call's cache was its own: one call alone gives a third of nothing in common
    single = Model(inputs[0], Dense(4, activation="tanh", name="alone")(inputs[0]), dtype="float64")
    single.build()
    single.set_weights({"alone/W": dense.params["W"], "alone/b": dense.params["b"]})
    single.forward(xs[0], training=True)
    single.backward(da)
    assert not np.allclose(single.get_layer("alone").grads["W"], dense.grads["W"])


def test_dense_on_sequences_equals_torch_linear():
    rng = np.random.default_rng(1)
    layer = Dense(3, activation="relu")
    x = rng.standard_normal((4, 7, 5))  # (m, T, n)
    layer.build(x.shape[1:], rng, "float64")
    out = layer.forward(x.copy(), training=True)
    da = rng.standard_normal(out.shape)
    dx = layer.backward(da)
    linear = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(layer.params["W"].T))
        linear.bias.copy_(torch.tensor(layer.params["b"]))
    x_t = torch.tensor(x, requires_grad=True)
    out_t = torch.relu(linear(x_t))
    out_t.backward(torch.tensor(da))
    assert out.shape == (4, 7, 3) and layer.compute_output_shape((7, 5)) == (7, 3)
    assert_close(out, out_t.detach().numpy(), what="forward")
    assert_close(dx, x_t.grad.numpy(), what="dx")
    assert_close(layer.grads["W"], linear.weight.grad.numpy().T, what="dW")
    assert_close(layer.grads["b"], linear.bias.grad.numpy(), what="db")


def test_batch_norm_and_dropout_act_on_the_last_axis_of_sequences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 3)) * 2 + 1
    bn = BatchNormalization(momentum=0.9, epsilon=1e-5)
    bn.build(x.shape[1:], rng, "float64")
    out = bn.forward(x, training=True)
    da = rng.standard_normal(out.shape)
    dx = bn.backward(da)
    x_t = torch.tensor(x.reshape(-1, 3), requires_grad=True)
    out_t = torch.nn.functional.batch_norm(x_t, None, None, training=True, eps=1e-5)
    out_t.backward(torch.tensor(da.reshape(-1, 3)))
    assert_close(out.reshape(-1, 3), out_t.detach().numpy(), what="batch norm on (m, T, n)")
    assert_close(dx.reshape(-1, 3), x_t.grad.numpy(), what="batch norm dx")
    drop = Dropout(0.5)
    drop.build(x.shape[1:], rng, "float64")
    kept = drop.forward(x, training=True) != 0
    assert 0.3 < kept.mean() < 0.7 and kept.shape == x.shape


# ------------------------------------------------------------------------ siamese
def siamese(dtype="float64", seed=0):
    """One encoder (Dense tanh -> Dense) applied to two inputs: two embeddings out."""
    left, right = Input((6,), name="left"), Input((6,), name="right")
    hidden, embed = Dense(8, activation="tanh", name="hidden"), Dense(3, name="embed")
    model = Model(
        [left, right], [embed(hidden(left)), embed(hidden(right))], dtype=dtype, seed=seed
    )
    model.build()
    return model


def contrastive(a, b, same, margin=1.0):
    """L = mean(same d^2 + (1 - same) max(0, margin - d)^2), d = ||a - b||; and dL/da, dL/db."""
    diff = a - b
    d = np.sqrt((diff * diff).sum(axis=1) + 1e-12)
    gap = np.maximum(margin - d, 0.0)
    m = a.shape[0]
    loss = float(np.mean(same * d**2 + (1 - same) * gap**2))
    coef = (2 * same - 2 * (1 - same) * gap / d) / m  # dL/dd * dd/d(diff) / diff
    da = coef[:, None] * diff
    return loss, [da, -da]


def test_siamese_contrastive_loss_passes_gradcheck_and_equals_torch():
    rng = np.random.default_rng(3)
    model = siamese()
    xs = [rng.standard_normal((5, 6)), rng.standard_normal((5, 6))]
    same = np.array([1.0, 0.0, 1.0, 0.0, 0.0])

    def cost():
        return contrastive(*model.forward(xs, training=True), same)[0]

    loss, grads = contrastive(*model.forward(xs, training=True), same)
    model.backward(grads)
    analytic = {name: np.array(g, copy=True) for name, _, g in model.named_parameters()}
    for name, param, _ in model.named_parameters():  # embed/b cancels in a - b: dJ/db = 0
        assert_close(analytic[name], numeric_gradient(cost, param), tol=1e-8, what=name)

    p = as_torch(model)

    def encode(x):
        return (
            torch.tanh(torch.tensor(x) @ p["hidden/W"] + p["hidden/b"]) @ p["embed/W"]
            + p["embed/b"]
        )

    a, b = encode(xs[0]), encode(xs[1])
    d = torch.sqrt(((a - b) ** 2).sum(dim=1) + 1e-12)
    same_t = torch.tensor(same)
    loss_t = torch.mean(same_t * d**2 + (1 - same_t) * torch.clamp(1.0 - d, min=0) ** 2)
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=1e-12)
    assert_grads_equal_torch(model, p, "siamese")


def test_siamese_conv_encoder_keeps_one_cache_per_call():
    """Conv2D keeps column buffers in its cache: two calls must not overwrite each other's."""
    rng = np.random.default_rng(4)
    a_in, b_in = Input((5, 5, 2)), Input((5, 5, 2))
    conv, head = Conv2D(3, 3, padding="same", activation="relu"), Dense(2)
    flat = Flatten()
    model = Model(
        [a_in, b_in], Add()([head(flat(conv(a_in))), head(flat(conv(b_in)))]), dtype="float64"
    )
    model.build()
    xs = [rng.standard_normal((3, 5, 5, 2)), rng.standard_normal((3, 5, 5, 2))]
    out = model.forward(xs, training=True)
    da = rng.standard_normal(out.shape)
    model.backward(da)
    p = as_torch(model)

    def branch(x):
        x_t = torch.tensor(x).permute(0, 3, 1, 2)
        w = p[f"{conv.name}/W"].permute(3, 2, 0, 1)
        z = torch.relu(torch.nn.functional.conv2d(x_t, w, p[f"{conv.name}/b"], padding=1))
        return z.permute(0, 2, 3, 1).reshape(3, -1) @ p[f"{head.name}/W"] + p[f"{head.name}/b"]

    (branch(xs[0]) + branch(xs[1])).backward(torch.tensor(da))
    assert_grads_equal_torch(model, p, "siamese conv")


# --------------------------------------------------------- several inputs and outputs
def two_in_two_out(seed=0, dtype="float64"):
    image, extra = Input((4, 4, 1), name="image"), Input((3,), name="extra")
    features = Flatten()(Conv2D(2, 3, activation="tanh")(image))
    joined = nnlab.Concatenate()([features, Dense(4, activation="tanh")(extra)])
    label = Dense(3, activation="softmax", name="label")(joined)
    value = Dense(1, name="value")(joined)
    model = Model(
        {"image": image, "extra": extra}, {"label": label, "value": value}, dtype=dtype, seed=seed
    )
    model.compile(
        nnlab.Adam(0.02),
        {"label": "categorical_crossentropy", "value": "mse"},
        {"label": ["accuracy"]},
        loss_weights={"label": 1.0, "value": 0.5},
    )
    return model


def two_task_data(m, seed):
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((m, 4, 4, 1))
    extra = rng.standard_normal((m, 3))
    label = (image[:, :2, :2, 0].mean(axis=(1, 2)) > 0).astype(int) + (extra[:, 0] > 0.5)
    value = (image.mean(axis=(1, 2, 3)) + extra[:, 1])[:, None]
    return {"image": image, "extra": extra}, {"label": label, "value": value}


def test_two_inputs_two_outputs_train_with_two_weighted_losses():
    model = two_in_two_out(dtype="float32")
    x, y = two_task_data(400, seed=5)
    x_dev, y_dev = two_task_data(200, seed=6)
    before = model.evaluate(x_dev, y_dev)
    history = model.fit(x, y, epochs=30, batch_size=32, verbose=0, validation_data=(x_dev, y_dev))
    after = model.evaluate(x_dev, y_dev)
    assert set(history.history) >= {"loss", "label_loss", "value_loss", "label_accuracy"}
    assert after["loss"] == pytest.approx(after["label_loss"] + 0.5 * after["value_loss"], 1e-5)
    assert after["value_loss"] < 0.3 * before["value_loss"]
    assert after["label_accuracy"] > 0.8
    label, value = model.predict(x_dev)
    assert label.shape == (200, 3) and value.shape == (200, 1)


def test_two_inputs_two_outputs_pass_gradcheck():
    model = two_in_two_out()
    x, y = two_task_data(6, seed=7)
    result = nnlab.gradcheck(model, x, y)
    assert result.difference < 1e-7, str(result)


def test_two_output_model_saves_and_loads(tmp_path):
    model = two_in_two_out(dtype="float32")
    x, y = two_task_data(64, seed=8)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.safetensors")
    loaded = nnlab.load_model(tmp_path / "m.safetensors")
    assert loaded.output_names == ["label", "value"] and loaded.input_names == ["image", "extra"]
    for mine, theirs in zip(model.predict(x), loaded.predict(x), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert loaded.evaluate(x, y) == model.evaluate(x, y)


def test_shared_layer_model_saves_and_loads(tmp_path):
    model = siamese(dtype="float32")
    model.compile("adam", ["mse", "mse"])
    model.save(tmp_path / "s.safetensors")
    loaded = nnlab.load_model(tmp_path / "s.safetensors")
    assert len(loaded.layers) == 2 and len(loaded.calls) == 6  # 2 inputs, 2 layers x 2 calls
    xs = [np.ones((2, 6), np.float32), np.zeros((2, 6), np.float32)]
    for mine, theirs in zip(model.predict(xs), loaded.predict(xs), strict=True):
        np.testing.assert_array_equal(mine, theirs)


# ------------------------------------------------------------------ input gradients
def test_input_gradients_equal_finite_differences_and_torch():
    rng = np.random.default_rng(9)
    image = Input((5, 5, 2))
    z = Dense(3, activation="tanh")(Flatten()(Conv2D(2, 3, activation="tanh")(image)))
    model = Model(image, z, dtype="float64", seed=1)
    model.build()
    x = rng.standard_normal((2, 5, 5, 2))
    weights = rng.standard_normal((2, 3))

    def cost():
        return float((model.forward(x, training=False) * weights).sum())

    cost()
    dx = model.backward(weights, input_grads=True)
    assert dx.shape == x.shape
    assert_close(dx, numeric_gradient(cost, x), tol=1e-8, what="dJ/dx vs finite differences")
    p = as_torch(model)
    conv, dense = model.layers[0].name, model.layers[2].name
    x_t = torch.tensor(x, requires_grad=True)
    w = p[f"{conv}/W"].permute(3, 2, 0, 1)
    h = torch.tanh(torch.nn.functional.conv2d(x_t.permute(0, 3, 1, 2), w, p[f"{conv}/b"]))
    out = torch.tanh(h.permute(0, 2, 3, 1).reshape(2, -1) @ p[f"{dense}/W"] + p[f"{dense}/b"])
    (out * torch.tensor(weights)).sum().backward()
    assert_close(dx, x_t.grad.numpy(), what="dJ/dx vs torch")


def test_no_input_gradient_unless_asked():
    model = siamese()
    out = model.forward([np.ones((2, 6)), np.zeros((2, 6))], training=True)
    assert model.backward([np.ones_like(out[0]), None], retain=True) is None
    left, right = model.backward([np.ones_like(out[0]), None], input_grads=True)
    assert left.shape == (2, 6) and right is None  # nothing flows back to the right input
    assert np.any(model.get_layer("embed").grads["W"] != 0)


# ----------------------------------------------------------------------- token ids
def test_embedding_takes_integer_ids_and_equals_torch():
    rng = np.random.default_rng(10)
    ids = Input((4,), dtype="int32")
    embed = Embedding(7, 3)
    out = Dense(2)(Flatten()(embed(ids)))
    model = Model(ids, out, dtype="float64", seed=2)
    model.compile("sgd", "mse")
    x = rng.integers(0, 7, (5, 4))
    x[0, :2] = 3  # a repeated id adds its rows
    y = rng.standard_normal((5, 2))
    model.compute_gradients(model.prepare_inputs(x), model.prepare_targets(y, 5))
    table = torch.nn.Embedding(7, 3).double()
    p = as_torch(model)
    with torch.no_grad():
        table.weight.copy_(p[f"{embed.name}/W"])
    dense = model.layers[-1].name
    pred = table(torch.tensor(x)).reshape(5, -1) @ p[f"{dense}/W"] + p[f"{dense}/b"]
    torch.mean((pred - torch.tensor(y)) ** 2).backward()
    assert_close(embed.grads["W"], table.weight.grad.numpy(), what="dE")
    assert nnlab.gradcheck(model, x, y).difference < 1e-7
    with pytest.raises(nnlab.InputValueError, match=r"token ids must be in \[0, 7\), got 9"):
        model.predict(np.full((1, 4), 9))


def test_float_layers_refuse_integer_inputs_by_name():
    ids = Input((4,), dtype="int64")
    with pytest.raises(nnlab.ConfigError, match="Dense layer .* integer input"):
        Dense(2, name="d")(ids)


def test_every_call_of_a_shared_layer_needs_the_same_input_shape():
    layer = Dense(2)
    layer(Input((3,)))
    with pytest.raises(ShapeError, match=r"\(4,\).*first call had \(3,\)"):
        layer(Input((4,)))


def test_dict_names_that_differ_from_the_layers_survive_saving(tmp_path):
    first, second = Input((3,), name="x1"), Input((2,), name="x2")
    joined = nnlab.Concatenate()([first, second])
    model = Model({"left": first, "right": second}, {"sum": Dense(1, name="d")(joined)})
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.safetensors")
    loaded = nnlab.load_model(tmp_path / "m.safetensors")
    assert loaded.input_names == ["left", "right"] and loaded.output_names == ["sum"]
    x = {"left": np.ones((2, 3)), "right": np.zeros((2, 2))}
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_backward_frees_the_activations_unless_retained():
    model = siamese()
    xs = [np.ones((2, 6)), np.zeros((2, 6))]
    out = model.forward(xs, training=True)
    kept = [np.array(g) for g in model.backward(list(out), input_grads=True, retain=True)]
    again = model.backward(list(out), input_grads=True)  # the retained caches serve twice
    for first, second in zip(kept, again, strict=True):
        np.testing.assert_array_equal(first, second)
    released = {"buffers": {}, "reuse_output": False, "mask": None}
    assert all(vars(call.cache) == released for call in model.calls if not call.is_input)
    with pytest.raises(nnlab.ConfigError, match="run forward again, or pass retain=True"):
        model.backward(list(out))
    model.forward(xs, training=True)
    model.backward(list(out))  # a new forward makes backward possible again


# ------------------------------------------------- a second model over built layers
def _encoder_and_head(seed=0):
    """A trained-model pattern: x -> Dense (encoder) -> Dense (head), and its layers."""
    x = Input((4,))
    encoder, head = Dense(3, activation="tanh", name="enc"), Dense(2, name="head")
    hidden = encoder(x)
    model = Model(x, head(hidden), dtype="float64", seed=seed)
    return model, x, hidden, encoder, head


def test_a_second_model_over_trained_layers_keeps_and_shares_their_weights():
    """Keras' Model(inputs, intermediate): building the sub-model neither initializes the
    trained layers again nor moves their arrays; an update through either is seen by both."""
    rng = np.random.default_rng(0)
    x_train, y_train = rng.standard_normal((64, 4)), rng.standard_normal((64, 2))
    model, x, hidden, encoder, head = _encoder_and_head()
    model.compile(nnlab.Adam(0.05), "mse")
    model.fit(x_train, y_train, epochs=3, batch_size=16, verbose=0)
    trained = model.get_weights()

    sub = Model(x, hidden, dtype="float64", seed=123)  # another seed: would draw other weights
    sub.build()
    for name, value in trained.items():  # the trained weights, not new ones
        np.testing.assert_array_equal(model.get_weights()[name], value, err_msg=name)
    W, b = trained["enc/W"], trained["enc/b"]
    xs = rng.standard_normal((5, 4))
    np.testing.assert_allclose(sub.predict(xs), np.tanh(xs @ W + b), rtol=1e-12)

    # an update through the trained model is seen by the sub-model ...
    model.fit(x_train, y_train, epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(encoder.params["W"], W)
    W2, b2 = encoder.params["W"].copy(), encoder.params["b"].copy()
    np.testing.assert_allclose(sub.predict(xs), np.tanh(xs @ W2 + b2), rtol=1e-12)
    # ... and training the sub-model moves the trained model's encoder (not its head)
    head_W = head.params["W"].copy()
    full_before = model.predict(xs)
    sub.compile(nnlab.GradientDescent(0.1), "mse")
    sub.fit(xs, rng.standard_normal((5, 3)), epochs=1, batch_size=5, verbose=0)
    assert not np.allclose(encoder.params["W"], W2)
    np.testing.assert_array_equal(head.params["W"], head_W)
    expected = np.tanh(xs @ encoder.params["W"] + encoder.params["b"]) @ head_W + head.params["b"]
    np.testing.assert_allclose(model.predict(xs), expected, rtol=1e-12)
    assert not np.allclose(model.predict(xs), full_before)
    # and the trained model still trains its own buffers: its step reaches the layers
    model.fit(x_train, y_train, epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(head.params["W"], head_W)


def test_a_model_over_exactly_the_same_layers_shares_the_flat_buffers():
    model, x, hidden, encoder, head = _encoder_and_head()
    model.build()
    twin = Model(x, head(hidden), dtype="float64")
    twin.build()
    assert twin.flat is model.flat and not model.flat.borrowed
    before = encoder.params["W"].copy()
    model.flat.values += 1.0  # one buffer: a step of either model moves both
    np.testing.assert_array_equal(encoder.params["W"], before + 1.0)


def test_a_shared_built_layer_refuses_another_input_shape_or_dtype():
    model, x, hidden, encoder, head = _encoder_and_head()
    model.build()
    wider = Input((5,))
    with pytest.raises(ShapeError, match=r"input shape \(5,\), but its first call had \(4,\)"):
        Model(wider, encoder(wider), dtype="float64").build()
    with pytest.raises(nnlab.exceptions.ConfigError, match="built as float64.*is float32"):
        Model(x, hidden, dtype="float32").build()
