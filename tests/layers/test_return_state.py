"""Keras' ``return_state`` and ``initial_state`` for SimpleRNN, GRU, LSTM and Bidirectional:
the layers alone and in functional graphs (several outputs of one call, states of one layer
starting another: the seq2seq encoder-decoder), against finite differences in float64 and
PyTorch's h_0, c_0 -> h_n, c_n; saving and loading; the errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, numeric_gradient

import nnlab
from nnlab import GRU, LSTM, Bidirectional, Dense, Embedding, Input, Model, Sequential, SimpleRNN
from nnlab.exceptions import ConfigError, ShapeError

torch = pytest.importorskip("torch")

from test_recurrent import copy_to_torch, torch_module  # noqa: E402

KINDS = {
    "rnn": SimpleRNN,
    "gru": GRU,
    "gru course form": lambda n, **k: GRU(n, reset_after=False, **k),
    "lstm": LSTM,
}
STEPS, N_X, UNITS, VOCABULARY = 4, 2, 3, 5


def n_states(layer) -> int:
    return 2 if isinstance(layer, LSTM) else 1


def sequence_input(masked: bool):
    """(input node, the node the recurrent layer reads): float sequences, or token ids
    through Embedding(mask_zero=True), whose mask marks the padding."""
    if not masked:
        node = Input((STEPS, N_X))
        return node, node
    node = Input((STEPS,), dtype="int64")
    return node, Embedding(VOCABULARY, N_X, mask_zero=True)(node)


def batch(masked: bool, rng, m=3):
    """A batch for sequence_input: token ids padded with trailing zeros (lengths 4, 2, 1)."""
    if not masked:
        return rng.standard_normal((m, STEPS, N_X))
    ids = rng.integers(1, VOCABULARY, (m, STEPS))
    for i, length in enumerate([4, 2, 1][:m]):
        ids[i, length:] = 0
    return ids


def jitter(model, seed):
    """Non-zero biases and varied weights, so every path carries a gradient."""
    rng = np.random.default_rng(seed)
    for _, param, _ in model.named_parameters():
        param += rng.standard_normal(param.shape) * 0.3


def check_model_gradients(model, xs, seed):
    """Backward of J = sum over outputs of sum(A_k * R_k) equals finite differences, for
    every parameter and every float input (float64)."""
    rng = np.random.default_rng(seed)
    outs = model.forward(xs, training=True)
    outs = outs if isinstance(outs, list) else [outs]
    rs = [rng.standard_normal(out.shape) for out in outs]

    def cost():
        values = model.forward(xs, training=True)
        values = values if isinstance(values, list) else [values]
        return float(sum((v * r).sum() for v, r in zip(values, rs, strict=True)))

    cost()
    dxs = model.backward(rs if len(rs) > 1 else rs[0], input_grads=True)
    dxs = dxs if isinstance(dxs, list) else [dxs]
    analytic = {name: grad.copy() for name, _, grad in model.named_parameters()}
    for name, param, _ in model.named_parameters():
        assert_close(analytic[name], numeric_gradient(cost, param), tol=1e-7, what=f"d{name}")
    for i, (x, dx) in enumerate(zip(xs, dxs, strict=True)):
        if x.dtype.kind == "f":
            assert_close(dx, numeric_gradient(cost, x), tol=1e-7, what=f"dx[{i}]")


# --------------------------------------------------------------- the layer alone
@pytest.mark.parametrize("kind", list(KINDS))
def test_return_state_outputs_the_final_states(kind):
    """[output, a<T>(, c<T>)]: a<T> is the last state of the sequence, c<T> the last cell;
    the shapes are compute_output_shape's."""
    layer = KINDS[kind](UNITS, return_sequences=True, return_state=True)
    layer.build((STEPS, N_X), np.random.default_rng(0), "float64")
    x = np.random.default_rng(1).standard_normal((2, STEPS, N_X))
    outputs = layer.forward(x)
    assert layer.n_outputs == 1 + n_states(layer) == len(outputs)
    assert [o.shape[1:] for o in outputs] == layer.output_shape
    np.testing.assert_array_equal(outputs[1], outputs[0][:, -1])
    if isinstance(layer, LSTM):
        np.testing.assert_array_equal(outputs[2], layer.kept("cells")[:, -1])
    assert layer.get_config()["return_state"] is True


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_layer_gradients_with_state_outputs_equal_finite_differences(
    kind, return_sequences, go_backwards
):
    """J = sum(out R_0) + sum(a<T> R_1) (+ sum(c<T> R_2)), from given initial states, one
    output's gradient None in a second pass: every parameter, x and the initial states."""
    layer = KINDS[kind](
        UNITS, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards
    )
    layer.build((STEPS, N_X), np.random.default_rng(3), "float64")
    for value in layer.params.values():
        value += np.random.default_rng(4).standard_normal(value.shape) * 0.3
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, STEPS, N_X))
    init = [rng.standard_normal((2, UNITS)) for _ in range(n_states(layer))]
    for dropped in (None, 0):  # every gradient given, then none for the output
        rs = [None if k == dropped else rng.standard_normal((2, *s))
              for k, s in enumerate(layer.output_shape)]  # fmt: skip

        def cost(rs=rs):
            outs = layer.forward(x, training=True, initial_state=init)
            return float(sum((o * r).sum() for o, r in zip(outs, rs, strict=True) if r is not None))

        cost()
        dx = layer.backward(list(rs))
        analytic = {key: g.copy() for key, g in layer.grads.items()}
        d_init = [d.copy() for d in layer.cache.d_initial_state]
        for key, param in layer.params.items():
            assert_close(analytic[key], numeric_gradient(cost, param), tol=1e-7, what=f"d{key}")
        assert_close(dx, numeric_gradient(cost, x), tol=1e-7, what="dx")
        for k, state in enumerate(init):
            assert_close(d_init[k], numeric_gradient(cost, state), tol=1e-7, what=f"d_init{k}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_under_a_mask_the_final_state_is_that_after_the_last_real_step(kind):
    inputs = Input((None,), dtype="int64")  # any length
    seq = Embedding(VOCABULARY, N_X, mask_zero=True)(inputs)
    seq_out, *states = KINDS[kind](UNITS, return_sequences=True, return_state=True)(seq)
    model = Model(inputs, [seq_out, *states], dtype="float64", seed=0)
    model.build()
    ids = batch(True, np.random.default_rng(6))
    outs = model.forward(ids)
    assert model.output_masks[0] is not None and model.output_masks[1:] == [None] * len(states)
    for i, length in enumerate([4, 2, 1]):
        alone = model.forward(ids[i : i + 1, :length])  # the same example, no padding
        for k in range(1, len(outs)):
            assert_close(outs[k][i], alone[k][0], tol=1e-12, what=f"state {k} of example {i}")


# -------------------------------------------------------------- functional graphs
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_state_outputs_as_model_outputs_pass_finite_differences(kind, masked, go_backwards):
    """Model(x, [seq, a<T>(, c<T>)]): three outputs of one call, each with its gradient."""
    inputs, seq = sequence_input(masked)
    layer = KINDS[kind](UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards)
    outputs = layer(seq)
    assert len(outputs) == layer.n_outputs and outputs[1].call is outputs[0].call
    model = Model(inputs, outputs, dtype="float64", seed=1)
    model.build()
    jitter(model, 2)
    check_model_gradients(model, [batch(masked, np.random.default_rng(3))], seed=4)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_encoder_states_start_the_decoder_and_pass_finite_differences(kind, masked, go_backwards):
    """seq2seq: the encoder's final states are the decoder's initial_state; gradients reach
    the encoder only through them (its own output is unused), and the decoder's input."""
    make = KINDS[kind]
    enc_in, enc_seq = sequence_input(masked)
    _, *states = make(UNITS, return_state=True, go_backwards=go_backwards)(enc_seq)
    dec_in = Input((STEPS - 1, N_X))
    decoder = make(UNITS, return_sequences=True, go_backwards=go_backwards)
    dec_seq = decoder(dec_in, initial_state=states)
    assert dec_seq.parents[1:] == states
    model = Model([enc_in, dec_in], Dense(2)(dec_seq), dtype="float64", seed=5)
    model.build()
    jitter(model, 6)
    rng = np.random.default_rng(7)
    xs = [batch(masked, rng), rng.standard_normal((3, STEPS - 1, N_X))]
    check_model_gradients(model, xs, seed=8)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_states_read_twice_add_their_gradients(kind):
    """a<T> both a model output and (with c<T>) a decoder's initial state, the sequence
    through Dense to another output: the gradients of one output add up from its readers."""
    make = KINDS[kind]
    inputs = Input((STEPS, N_X))
    seq, *states = make(UNITS, return_sequences=True, return_state=True)(inputs)
    decoded = make(UNITS)(Dense(N_X)(seq), initial_state=states)
    model = Model(inputs, [decoded, states[0], seq], dtype="float64", seed=9)
    model.build()
    jitter(model, 10)
    check_model_gradients(model, [np.random.default_rng(11).standard_normal((2, STEPS, N_X))], 12)


def test_outputs_of_one_call_train_with_fit_and_pass_gradcheck():
    """Model(x, [seq, h]) with a loss on each: fit lowers the loss; nnlab.gradcheck (on a
    float64 copy rebuilt from the config) agrees with backprop."""
    inputs = Input((STEPS, N_X))
    seq, h, _ = LSTM(UNITS, return_sequences=True, return_state=True)(inputs)
    model = Model(inputs, [seq, Dense(1)(h)], seed=0)
    model.compile(nnlab.Adam(0.02), ["mse", "mse"])
    rng = np.random.default_rng(13)
    x = rng.standard_normal((32, STEPS, N_X)).astype(np.float32)
    y = [np.tanh(x[..., :1].repeat(UNITS, -1)), x.sum(axis=(1, 2))[:, None]]
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert nnlab.gradcheck(model, x[:3], [t[:3] for t in y]).difference < 1e-7


# ----------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_states_in_and_out_equal_torch(kind, dtype):
    """h_0 (c_0) in, output sequence and h_n (c_n) out, J using all of them: outputs, final
    states and every gradient, dh_0 and dc_0 included, equal PyTorch's."""
    m, steps, n_x, n_a = 4, 6, 3, 5
    layer = KINDS[kind](n_a, return_sequences=True, return_state=True,
                        bias_initializer="random_normal")  # fmt: skip
    layer.build((steps, n_x), np.random.default_rng(1), dtype)
    module = torch_module(kind, n_x, n_a).to(getattr(torch, dtype))
    blocks = copy_to_torch(layer, module, kind)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((m, steps, n_x)).astype(dtype)
    init = [rng.standard_normal((m, n_a)).astype(dtype) for _ in range(n_states(layer))]
    outs = layer.forward(x, training=True, initial_state=init)
    das = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    dx = layer.backward(das)

    x_t = torch.tensor(x, requires_grad=True)
    init_t = [torch.tensor(s[None], requires_grad=True) for s in init]  # (layers, m, n_a)
    seq_t, final_t = module(x_t, tuple(init_t) if kind == "lstm" else init_t[0])
    finals_t = list(final_t) if kind == "lstm" else [final_t]
    outs_t = [seq_t] + [f[0] for f in finals_t]
    sum((o * torch.tensor(d)).sum() for o, d in zip(outs_t, das, strict=True)).backward()
    tol = 1e-5 if dtype == "float32" else 1e-10
    for k, (out, out_t) in enumerate(zip(outs, outs_t, strict=True)):
        assert_close(out, out_t.detach().numpy(), dtype, tol, f"{kind} output {k}")
    assert_close(dx, x_t.grad.numpy(), dtype, tol, f"{kind} dx")
    for k, state_t in enumerate(init_t):
        assert_close(layer.cache.d_initial_state[k], state_t.grad[0].numpy(), dtype, tol, f"d0{k}")
    grads = layer.grads
    assert_close(blocks(grads["W"]).T, module.weight_ih_l0.grad.numpy(), dtype, tol, "dW")
    assert_close(blocks(grads["U"]).T, module.weight_hh_l0.grad.numpy(), dtype, tol, "dU")
    assert_close(blocks(grads["b"]), module.bias_ih_l0.grad.numpy(), dtype, tol, "db")
    rec = grads.get("b_rec", grads["b"])
    assert_close(blocks(rec), module.bias_hh_l0.grad.numpy(), dtype, tol, "db_rec")


# ------------------------------------------------------------------ Bidirectional
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_bidirectional_return_state_passes_finite_differences(kind, merge_mode):
    """[merged, fwd a<T>(, c<T>), bwd a<T>(, c<T>)], as Keras; the states are each copy's."""
    layer = Bidirectional(KINDS[kind](UNITS, return_sequences=True, return_state=True), merge_mode)
    layer.build((STEPS, N_X), np.random.default_rng(14), "float64")
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, STEPS, N_X))
    outs = layer.forward(x)
    count = n_states(layer.forward_layer)
    assert len(outs) == layer.n_outputs == 1 + 2 * count
    assert [o.shape[1:] for o in outs] == layer.output_shape
    np.testing.assert_array_equal(outs[1], layer.forward_layer.cache.states[:, -1])
    np.testing.assert_array_equal(outs[1 + count], layer.backward_layer.cache.states[:, -1])
    rs = [rng.standard_normal(o.shape) for o in outs]

    def cost():
        return float(sum((o * r).sum() for o, r in zip(layer.forward(x), rs, strict=True)))

    cost()
    dx = layer.backward(rs)
    analytic = {key: g.copy() for key, g in layer.grads.items()}
    for key, param in layer.params.items():
        assert_close(analytic[key], numeric_gradient(cost, param), tol=1e-7, what=f"d{key}")
    assert_close(dx, numeric_gradient(cost, x), tol=1e-7, what="dx")


def test_bidirectional_lstm_states_equal_torch():
    """h_n, c_n of nn.LSTM(bidirectional=True): [0] the forward direction, [1] the reverse."""
    from test_recurrent import copy_layer_to_torch

    layer = Bidirectional(LSTM(UNITS, return_state=True))
    layer.build((STEPS, N_X), np.random.default_rng(16), "float64")
    module = torch.nn.LSTM(N_X, UNITS, bidirectional=True, batch_first=True).double()
    copy_layer_to_torch(layer.forward_layer, module, "l0")
    copy_layer_to_torch(layer.backward_layer, module, "l0_reverse")
    x = np.random.default_rng(17).standard_normal((3, STEPS, N_X))
    _, h_f, c_f, h_b, c_b = layer.forward(x)
    _, (h_n, c_n) = module(torch.tensor(x))
    for got, want, name in ((h_f, h_n[0], "h fwd"), (c_f, c_n[0], "c fwd"),
                            (h_b, h_n[1], "h bwd"), (c_b, c_n[1], "c bwd")):  # fmt: skip
        assert_close(got, want.detach().numpy(), tol=1e-10, what=name)


# ------------------------------------------------------------------ saving, summary
def seq2seq_model():
    enc_in = Input((STEPS, N_X), name="encoder_in")
    enc_seq, h, c = LSTM(UNITS, return_sequences=True, return_state=True, name="enc")(enc_in)
    dec_in = Input((STEPS, N_X), name="decoder_in")
    dec_seq = LSTM(UNITS, return_sequences=True, name="dec")(dec_in, initial_state=[h, c])
    outputs = Dense(1, name="out")(dec_seq)
    model = Model([enc_in, dec_in], [outputs, h, enc_seq], seed=0)
    model.compile("adam", ["mse", "mse", None])
    return model


def test_a_return_state_and_initial_state_model_survives_saving(tmp_path):
    model = seq2seq_model()
    rng = np.random.default_rng(18)
    xs = [rng.standard_normal((6, STEPS, N_X)).astype(np.float32) for _ in range(2)]
    y = [rng.standard_normal((6, STEPS, 1)), rng.standard_normal((6, UNITS)), None]
    model.fit(xs, y, epochs=2, batch_size=3, verbose=0)
    config = model.get_config()
    dec_call = next(call for call in config["calls"] if call["layer"] == "dec")
    assert dec_call["inbound"] == ["decoder_in", "enc#1", "enc#2"]
    assert config["outputs"] == ["out", "enc#1", "enc#0"]
    model.save(tmp_path / "seq2seq.safetensors")
    loaded = nnlab.load_model(tmp_path / "seq2seq.safetensors")
    assert loaded.get_config() == config
    for got, want in zip(loaded.predict(xs), model.predict(xs), strict=True):
        np.testing.assert_array_equal(got, want)
    assert "(None, 4, 3), (None, 3), (None, 3)" in loaded.summary(print_fn=None)


# ------------------------------------------------------------------------- errors
def test_bad_initial_states_name_the_layer_and_the_shapes():
    inputs = Input((STEPS, N_X))
    _, h, c = LSTM(UNITS, return_state=True)(inputs)
    with pytest.raises(ShapeError, match=r'LSTM layer "dec".*2 state\(s\) of shape \[\(m, 3\), \(m, 3\)\], got \[\(m, 3\)\]'):  # fmt: skip
        LSTM(UNITS, name="dec")(inputs, initial_state=[h])
    with pytest.raises(ShapeError, match=r'GRU layer "g".*\[\(m, 4\)\], got \[\(m, 3\)\]'):
        GRU(4, name="g")(inputs, initial_state=h)
    with pytest.raises(ConfigError, match=r'Dense layer "d": takes no initial_state'):
        Dense(2, name="d")(inputs, initial_state=[h])
    with pytest.raises(ConfigError, match="Bidirectional.*takes no initial_state"):
        Bidirectional(LSTM(UNITS))(inputs, initial_state=[h, c])
    with pytest.raises(ConfigError, match="initial_state must be nodes"):
        LSTM(UNITS)(inputs, initial_state=[np.zeros((2, UNITS)), c])


def test_return_state_backward_needs_a_list_per_output():
    layer = GRU(UNITS, return_state=True, name="g")
    layer.build((STEPS, N_X), np.random.default_rng(0), "float64")
    out, _ = layer.forward(np.zeros((2, STEPS, N_X)))
    with pytest.raises(ShapeError, match=r'GRU layer "g".*a list of 2 gradients'):
        layer.backward(np.ones_like(out))


def test_a_sequential_model_refuses_a_return_state_layer():
    with pytest.raises(ConfigError, match=r'LSTM layer "lstm_1" has 3 outputs.*use Model'):
        Sequential([LSTM(UNITS, return_state=True)], input_shape=(STEPS, N_X))


def test_a_shared_return_state_layer_keeps_each_calls_outputs_apart():
    """One LSTM(return_state) called on two inputs: outputs 'enc:0#1', 'enc:1#2' in the
    config, gradients of both calls added in its weights, and the config rebuilds it."""
    from nnlab.saving.model_file import load_model_from_config

    first, second = Input((STEPS, N_X), name="a"), Input((STEPS, N_X), name="b")
    encoder = LSTM(UNITS, return_state=True, name="enc")
    _, h1, _ = encoder(first)
    _, _, c2 = encoder(second)
    model = Model([first, second], [h1, c2], dtype="float64", seed=19)
    model.build()
    jitter(model, 20)
    assert model.get_config()["outputs"] == ["enc:0#1", "enc:1#2"]
    rng = np.random.default_rng(21)
    xs = [rng.standard_normal((2, STEPS, N_X)) for _ in range(2)]
    check_model_gradients(model, xs, seed=22)
    clone = load_model_from_config(model.get_config(), compile=False)
    clone.set_weights(model.get_weights())
    for got, want in zip(clone.forward(xs), model.forward(xs), strict=True):
        np.testing.assert_array_equal(got, want)
