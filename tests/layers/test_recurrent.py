"""SimpleRNN, GRU and LSTM: the course's "Building your RNN step by step" numbers, PyTorch's
nn.RNN / nn.GRU / nn.LSTM with the weights copied across, both GRU forms, go_backwards and
initial states against finite differences.

The course's lab works column-wise (x<t> (n_x, m), W_ax (n_a, n_x)); nnlab is batch-first
with W = W_ax.T, U = W_aa.T, so every course array goes in transposed.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, numeric_gradient

from nnlab import GRU, LSTM, Dense, SimpleRNN

torch = pytest.importorskip("torch")


def course_rnn_arrays(t_steps=None):
    """The lab's seeded arrays, drawn in its order (np.random.seed(1))."""
    np.random.seed(1)
    x = np.random.randn(3, 10) if t_steps is None else np.random.randn(3, 10, t_steps)
    a_prev = np.random.randn(5, 10)
    waa, wax, wya = np.random.randn(5, 5), np.random.randn(5, 3), np.random.randn(2, 5)
    ba, by = np.random.randn(5, 1), np.random.randn(2, 1)
    return x, a_prev, waa, wax, wya, ba, by


def rnn_layer(waa, wax, ba, return_sequences, steps=1):
    layer = SimpleRNN(5, return_sequences=return_sequences)
    layer.build((steps, 3), np.random.default_rng(0), "float64")
    layer.params["W"][...] = wax.T
    layer.params["U"][...] = waa.T
    layer.params["b"][...] = ba[:, 0]
    return layer


def softmax_layer(wya, by, steps=None):
    dense = Dense(2, activation="softmax")
    dense.build((5,) if steps is None else (steps, 5), np.random.default_rng(0), "float64")
    dense.params["W"][...] = wya.T
    dense.params["b"][...] = by[:, 0]
    return dense


def test_course_rnn_cell_forward():
    xt, a_prev, waa, wax, wya, ba, by = course_rnn_arrays()
    layer = rnn_layer(waa, wax, ba, return_sequences=False)
    a_next = layer.forward(xt.T[:, None, :], initial_state=a_prev.T)  # (10, 5)
    yt_pred = softmax_layer(wya, by).forward(a_next)  # (10, 2)
    expected_a4 = [0.59584544, 0.18141802, 0.61311866, 0.99808218, 0.85016201,
                   0.99980978, -0.18887155, 0.99815551, 0.6531151, 0.82872037]  # fmt: skip
    expected_y1 = [0.9888161, 0.01682021, 0.21140899, 0.36817467, 0.98988387,
                   0.88945212, 0.36920224, 0.9966312, 0.9982559, 0.17746526]  # fmt: skip
    np.testing.assert_allclose(a_next.T[4], expected_a4, atol=1e-8)
    np.testing.assert_allclose(yt_pred.T[1], expected_y1, atol=1e-8)


def test_course_rnn_forward():
    """rnn_forward over T_x = 4 steps from a0: the lab's a[4][1] and y_pred[1][3]."""
    x, a0, waa, wax, wya, ba, by = course_rnn_arrays(t_steps=4)
    layer = rnn_layer(waa, wax, ba, return_sequences=True, steps=4)
    a = layer.forward(x.transpose(1, 2, 0), initial_state=a0.T)  # (10, 4, 5)
    y = softmax_layer(wya, by, steps=4).forward(a)  # (10, 4, 2): Dense on every step
    np.testing.assert_allclose(a.transpose(2, 0, 1)[4][1],
                               [-0.99999375, 0.77911235, -0.99861469, -0.99833267], atol=1e-8)  # fmt: skip
    np.testing.assert_allclose(y.transpose(2, 0, 1)[1][3],
                               [0.79560373, 0.86224861, 0.11118257, 0.81515947], atol=1e-8)  # fmt: skip


def course_rnn_backward(x, a0, waa, wax, ba, da):
    """The lab's rnn_cell_backward through time, column-wise, as an independent reference:
    (dx, da0, dWax, dWaa, dba)."""
    n_a, m, steps = da.shape
    a = {-1: a0}
    for t in range(steps):
        a[t] = np.tanh(waa @ a[t - 1] + wax @ x[:, :, t] + ba)
    dx, dwax, dwaa, dba = np.zeros_like(x), np.zeros_like(wax), np.zeros_like(waa), 0
    da_prev = np.zeros((n_a, m))
    for t in reversed(range(steps)):
        dtanh = (da[:, :, t] + da_prev) * (1 - a[t] ** 2)
        dx[:, :, t] = wax.T @ dtanh
        dwax += dtanh @ x[:, :, t].T
        dwaa += dtanh @ a[t - 1].T
        dba = dba + dtanh.sum(axis=1, keepdims=True)
        da_prev = waa.T @ dtanh
    return dx, da_prev, dwax, dwaa, dba


def test_course_rnn_backward():
    x, a0, waa, wax, _, ba, _ = course_rnn_arrays(t_steps=4)
    da = np.random.randn(5, 10, 4)
    layer = rnn_layer(waa, wax, ba, return_sequences=True, steps=4)
    layer.forward(x.transpose(1, 2, 0), initial_state=a0.T, training=True)
    dx = layer.backward(da.transpose(1, 2, 0))
    want = course_rnn_backward(x, a0, waa, wax, ba, da)
    got = (dx.transpose(2, 0, 1), layer.cache.d_initial_state[0].T, layer.grads["W"].T,
           layer.grads["U"].T, layer.grads["b"][:, None])  # fmt: skip
    for name, g, w in zip(["dx", "da0", "dWax", "dWaa", "dba"], got, want, strict=True):
        assert_close(g, w, tol=1e-12, what=name)


def course_lstm_arrays():
    np.random.seed(1)
    xt, a_prev, c_prev = np.random.randn(3, 10), np.random.randn(5, 10), np.random.randn(5, 10)
    p = {}
    for gate in ("f", "i", "o", "c"):
        p["W" + gate], p["b" + gate] = np.random.randn(5, 5 + 3), np.random.randn(5, 1)
    return xt, a_prev, c_prev, p


def lstm_from_course(p, steps=1):
    """nnlab's LSTM holding the lab's W_f, W_i, W_c, W_o (each (n_a, n_a + n_x), acting on
    [a<t-1>; x<t>]): gate blocks i, f, g (= c~), o."""
    layer = LSTM(5, return_sequences=True)
    layer.build((steps, 3), np.random.default_rng(0), "float64")
    for k, gate in enumerate(("i", "f", "c", "o")):
        block = slice(5 * k, 5 * (k + 1))
        layer.params["U"][:, block] = p["W" + gate][:, :5].T
        layer.params["W"][:, block] = p["W" + gate][:, 5:].T
        layer.params["b"][block] = p["b" + gate][:, 0]
    return layer


def test_course_lstm_cell_forward():
    xt, a_prev, c_prev, p = course_lstm_arrays()
    layer = lstm_from_course(p)
    a_next = layer.forward(xt.T[:, None, :], initial_state=[a_prev.T, c_prev.T])[:, 0]
    c_next = layer.kept("cells")[:, 0]
    expected_a4 = [-0.66408471, 0.0036921, 0.02088357, 0.22834167, -0.85575339,
                   0.00138482, 0.76566531, 0.34631421, -0.00215674, 0.43827275]  # fmt: skip
    expected_c2 = [0.63267805, 1.00570849, 0.35504474, 0.20690913, -1.64566718,
                   0.11832942, 0.76449811, -0.0981561, -0.74348425, -0.26810932]  # fmt: skip
    np.testing.assert_allclose(a_next.T[4], expected_a4, atol=1e-8)
    np.testing.assert_allclose(c_next.T[2], expected_c2, atol=1e-8)


def test_course_lstm_forward():
    """lstm_forward over T_x = 7 steps from a0 (c0 = 0): the lab's a[4][3][6], y[1][4][3]
    and c[1][2][1]."""
    np.random.seed(1)
    x, a0 = np.random.randn(3, 10, 7), np.random.randn(5, 10)
    p = {}
    for gate in ("f", "i", "o", "c"):
        p["W" + gate], p["b" + gate] = np.random.randn(5, 5 + 3), np.random.randn(5, 1)
    wy, by = np.random.randn(2, 5), np.random.randn(2, 1)
    layer = lstm_from_course(p, steps=7)
    a = layer.forward(x.transpose(1, 2, 0), initial_state=[a0.T, np.zeros((10, 5))])
    y = softmax_layer(wy, by, steps=7).forward(a)
    c = layer.kept("cells")
    assert a.transpose(2, 0, 1)[4][3][6] == pytest.approx(0.172117767533, abs=1e-11)
    assert y.transpose(2, 0, 1)[1][4][3] == pytest.approx(0.95087346185, abs=1e-10)
    assert c.transpose(2, 0, 1)[1][2][1] == pytest.approx(-0.855544916718, abs=1e-11)


# ------------------------------------------------------------- against PyTorch modules
def torch_module(kind, n_x, n_a):
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    return cls(n_x, n_a, batch_first=True)


def copy_to_torch(layer, module, kind):
    """nnlab's W (n_x, G n_a), U, b into PyTorch's weight_ih (G n_a, n_x), weight_hh,
    bias_ih, bias_hh; GRU blocks reordered from (z, r, h) to PyTorch's (r, z, n)."""
    n = layer.units
    order = [1, 0, 2] if kind == "gru" else list(range(layer.gates))

    def blocks(a):  # reorder the gate blocks of the last axis
        return np.concatenate([a[..., k * n : (k + 1) * n] for k in order], axis=-1)

    params = layer.params
    rec_bias = params.get("b_rec", np.zeros_like(params["b"]))
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(blocks(params["W"]).T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(blocks(params["U"]).T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(blocks(params["b"])))
        module.bias_hh_l0.copy_(torch.from_numpy(blocks(rec_bias)))
    return blocks


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_equals_torch_module(kind, return_sequences, dtype):
    """Outputs, the final states and every gradient equal PyTorch's (1e-5 in float32)."""
    m, steps, n_x, n_a = 4, 6, 3, 5
    make = {"rnn": SimpleRNN, "gru": GRU, "lstm": LSTM}[kind]
    layer = make(n_a, return_sequences=return_sequences, bias_initializer="random_normal")
    layer.build((steps, n_x), np.random.default_rng(1), dtype)
    module = torch_module(kind, n_x, n_a).to(getattr(torch, dtype))
    blocks = copy_to_torch(layer, module, kind)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((m, steps, n_x)).astype(dtype)
    out = layer.forward(x, training=True)
    da = rng.standard_normal(out.shape).astype(dtype)
    dx = layer.backward(da)

    x_t = torch.tensor(x, requires_grad=True)
    seq_t, _ = module(x_t)
    out_t = seq_t if return_sequences else seq_t[:, -1]
    out_t.backward(torch.tensor(da))
    tol = 1e-5 if dtype == "float32" else 1e-10
    assert_close(out, out_t.detach().numpy(), dtype, tol, f"{kind} output")
    assert_close(dx, x_t.grad.numpy(), dtype, tol, f"{kind} dx")
    grads = layer.grads
    assert_close(blocks(grads["W"]).T, module.weight_ih_l0.grad.numpy(), dtype, tol, "dW")
    assert_close(blocks(grads["U"]).T, module.weight_hh_l0.grad.numpy(), dtype, tol, "dU")
    assert_close(blocks(grads["b"]), module.bias_ih_l0.grad.numpy(), dtype, tol, "db")
    rec = grads.get("b_rec", grads["b"])  # one bias: its gradient is both of PyTorch's
    assert_close(blocks(rec), module.bias_hh_l0.grad.numpy(), dtype, tol, "db_rec")


# --------------------------------------------------- variants against finite differences
VARIANTS = {
    "gru course form": lambda: GRU(3, reset_after=False, return_sequences=True),
    "gru no bias": lambda: GRU(3, use_bias=False),
    "lstm backwards": lambda: LSTM(3, go_backwards=True, return_sequences=True),
    "rnn backwards": lambda: SimpleRNN(3, go_backwards=True),
    "gru backwards": lambda: GRU(3, go_backwards=True, return_sequences=True),
}


@pytest.mark.parametrize("initial", [False, True])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_gradients_equal_finite_differences(name, initial):
    """Every parameter, the input and the initial state(s), in float64."""
    layer = VARIANTS[name]()
    layer.build((4, 2), np.random.default_rng(3), "float64")
    for value in layer.params.values():  # non-zero biases, so every path is exercised
        value += np.random.default_rng(4).standard_normal(value.shape) * 0.3
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 2))
    count = 2 if isinstance(layer, LSTM) else 1
    init = [rng.standard_normal((2, 3)) for _ in range(count)] if initial else None
    r = rng.standard_normal((2, *layer.output_shape))

    def cost():
        return float((layer.forward(x, training=True, initial_state=init) * r).sum())

    cost()
    dx = layer.backward(r.copy())
    analytic = {key: g.copy() for key, g in layer.grads.items()}
    d_init = [d.copy() for d in layer.cache.d_initial_state]
    for key, param in layer.params.items():
        assert_close(analytic[key], numeric_gradient(cost, param), tol=1e-7, what=f"d{key}")
    assert_close(dx, numeric_gradient(cost, x), tol=1e-7, what="dx")
    for k, state in enumerate(init or []):
        assert_close(d_init[k], numeric_gradient(cost, state), tol=1e-7, what=f"d_init{k}")


def test_gru_course_form_equals_a_torch_loop():
    """reset_after=False (r * a<t-1> before U_h) against the equations run in PyTorch."""
    from test_harness import gru_t

    layer = GRU(4, reset_after=False, return_sequences=True, bias_initializer="random_normal")
    layer.build((5, 3), np.random.default_rng(6), "float64")
    x = np.random.default_rng(7).standard_normal((3, 5, 3))
    params = {k: torch.tensor(v) for k, v in layer.params.items()}
    expected = gru_t(torch.tensor(x), params, sequences=True, reset_after=False)
    assert_close(layer.forward(x), expected.numpy(), "float64", 1e-12, "course GRU")


def test_go_backwards_reads_the_sequence_from_its_end():
    layer = LSTM(3, return_sequences=True)
    layer.build((4, 2), np.random.default_rng(8), "float64")
    x = np.random.default_rng(9).standard_normal((2, 4, 2))
    forward_on_reversed = layer.forward(x[:, ::-1].copy())
    layer.go_backwards = True
    np.testing.assert_array_equal(layer.forward(x), forward_on_reversed)


def test_bad_initial_state_names_the_layer_and_shapes():
    layer = LSTM(3, name="lstm_x")
    layer.build((4, 2), np.random.default_rng(0), "float64")
    with pytest.raises(Exception, match=r"lstm_x.*initial_state must be 2 array"):
        layer.forward(np.zeros((2, 4, 2)), initial_state=np.zeros((2, 3)))


# ------------------------------------------------------------- Bidirectional, stacked
def copy_layer_to_torch(layer, module, suffix):
    """An nnlab LSTM's W, U, b into PyTorch's weights of one layer and direction."""
    with torch.no_grad():
        getattr(module, f"weight_ih_{suffix}").copy_(torch.from_numpy(layer.params["W"].T.copy()))
        getattr(module, f"weight_hh_{suffix}").copy_(torch.from_numpy(layer.params["U"].T.copy()))
        getattr(module, f"bias_ih_{suffix}").copy_(torch.from_numpy(layer.params["b"].copy()))
        getattr(module, f"bias_hh_{suffix}").zero_()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stacked_bidirectional_lstm_equals_torch(dtype):
    """Two Bidirectional(LSTM(return_sequences=True)) layers against nn.LSTM(num_layers=2,
    bidirectional=True): outputs, input gradient and every weight gradient."""
    from nnlab import Bidirectional, Sequential

    m, steps, n_x, n_a = 3, 5, 4, 6
    model = Sequential(
        [Bidirectional(LSTM(n_a, return_sequences=True)) for _ in range(2)],
        input_shape=(steps, n_x),
        seed=0,
        dtype=dtype,
    )
    model.build()
    module = torch.nn.LSTM(n_x, n_a, num_layers=2, bidirectional=True, batch_first=True)
    module = module.to(getattr(torch, dtype))
    for k, wrapper in enumerate(model.layers):
        copy_layer_to_torch(wrapper.forward_layer, module, f"l{k}")
        copy_layer_to_torch(wrapper.backward_layer, module, f"l{k}_reverse")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((m, steps, n_x)).astype(dtype)
    out = model.forward(x, training=True)
    da = rng.standard_normal(out.shape).astype(dtype)
    dx = model.backward(da, input_grads=True)
    x_t = torch.tensor(x, requires_grad=True)
    out_t, _ = module(x_t)
    out_t.backward(torch.tensor(da))
    tol = 1e-5 if dtype == "float32" else 1e-10
    assert_close(out, out_t.detach().numpy(), dtype, tol, "output")
    assert_close(dx, x_t.grad.numpy(), dtype, tol, "dx")
    for k, wrapper in enumerate(model.layers):
        for half, suffix in ((wrapper.forward_layer, f"l{k}"), (wrapper.backward_layer, f"l{k}_reverse")):  # fmt: skip
            for key, name in (("W", "weight_ih"), ("U", "weight_hh"), ("b", "bias_ih")):
                want = getattr(module, f"{name}_{suffix}").grad.numpy()
                assert_close(half.grads[key].T, want, dtype, tol, f"{suffix} d{key}")


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave", "concat"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_merge_modes_against_finite_differences(merge_mode, return_sequences):
    from nnlab import Bidirectional

    layer = Bidirectional(SimpleRNN(3, return_sequences=return_sequences), merge_mode)
    layer.build((4, 2), np.random.default_rng(10), "float64")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 2))
    r = rng.standard_normal((2, *layer.output_shape))

    def cost():
        return float((layer.forward(x, training=True) * r).sum())

    cost()
    dx = layer.backward(r.copy())
    analytic = {key: g.copy() for key, g in layer.grads.items()}
    for key, param in layer.params.items():
        assert_close(analytic[key], numeric_gradient(cost, param), tol=1e-7, what=f"d{key}")
    assert_close(dx, numeric_gradient(cost, x), tol=1e-7, what="dx")


def test_a_bidirectional_model_survives_saving(tmp_path):
    import nnlab
    from nnlab import Bidirectional, Sequential

    model = Sequential(
        [Bidirectional(GRU(3, return_sequences=True), "sum"), LSTM(2), Dense(1)],
        input_shape=(5, 2),
        seed=0,
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(12).standard_normal((4, 5, 2)).astype(np.float32)
    model.fit(x, x.sum(axis=(1, 2))[:, None], epochs=1, verbose=0)
    model.save(tmp_path / "rnn.safetensors")
    loaded = nnlab.load_model(tmp_path / "rnn.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# ----------------------------------------------------------------- any sequence length
def test_a_time_axis_of_none_takes_sequences_of_any_length(tmp_path):
    """Input((None, n_x)): one model trains and predicts on T = 5, 9 and 1, is saved and
    loaded, and a wrong n_x still names the layer that would receive it."""
    import nnlab
    from nnlab import Bidirectional, Input, Model

    inputs = Input((None, 3))
    states = Bidirectional(LSTM(4, return_sequences=True))(inputs)
    outputs = Dense(2, activation="softmax")(GRU(5)(Dense(3)(states)))  # Dense on every step
    model = Model(inputs, outputs)
    model.compile("adam", "categorical_crossentropy")
    rng = np.random.default_rng(0)
    y = np.eye(2)[np.arange(6) % 2]
    for steps in (5, 9, 1):
        x = rng.random((6, steps, 3), dtype=np.float32)
        model.fit(x, y, epochs=1, verbose=0)
        assert model.predict(x).shape == (6, 2)
    (wrapper,) = [layer for layer in model.layers if isinstance(layer, Bidirectional)]
    assert wrapper.output_shape == (None, 8)
    model.save(tmp_path / "any_length.safetensors")
    loaded = nnlab.load_model(tmp_path / "any_length.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(nnlab.ShapeError, match=r"Bidirectional layer .*\(m, None, 3\)"):
        model.predict(rng.random((6, 4, 2), dtype=np.float32))


@pytest.mark.parametrize(
    "make", [SimpleRNN, LSTM, lambda n, **k: GRU(n, reset_after=False, **k), GRU]
)
def test_a_batch_split_between_threads_gives_the_same_numbers(make, monkeypatch):
    """Each thread runs the loop over its own examples: outputs, dX and the initial
    states' gradients equal the one-thread run's bit for bit; the weight gradients, summed
    over the two halves of the batch in another order, to float32 rounding."""
    from nnlab.layers import recurrent
    from nnlab.ops import parallel

    rng = np.random.default_rng(13)
    x = rng.standard_normal((7, 5, 3)).astype(np.float32)
    da = rng.standard_normal((7, 5, 4)).astype(np.float32)
    runs = []
    monkeypatch.setattr(recurrent, "SPLIT_ELEMENTS", 1)
    for threads in (1, 2):
        parallel.set_num_threads(threads)
        try:
            layer = make(4, return_sequences=True)
            layer.build((5, 3), np.random.default_rng(0), "float32")
            out = layer.forward(x, training=True)
            dx = layer.backward(da)
            grads = {k: g.copy() for k, g in layer.grads.items()}
            runs.append((out.copy(), dx, grads, layer.cache.d_initial_state[0].copy()))
        finally:
            parallel.set_num_threads(parallel._default_threads())
    (out1, dx1, g1, d01), (out2, dx2, g2, d02) = runs
    np.testing.assert_array_equal(out1, out2)
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(d01, d02)
    for key in g1:
        np.testing.assert_allclose(g1[key], g2[key], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- input dropout
@pytest.mark.parametrize("make", [SimpleRNN, GRU, LSTM])
def test_input_dropout_drops_the_same_features_at_every_step(make):
    """dropout=0.4: in training, the layer sees x * mask / 0.6 with one mask per sequence
    for all steps; gradients (of the parameters and of x) match finite differences with
    that mask; inference uses x as it is."""
    layer = make(3, dropout=0.4, return_sequences=True)
    layer.build((5, 4), np.random.default_rng(0), "float64")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5, 4))
    r = rng.standard_normal((6, 5, 3))

    def run(training=True):
        layer.rng = np.random.default_rng(7)  # the same mask at every call
        return layer.forward(x, training=training)

    out = run()
    mask = layer.cache.input_mask
    assert mask.shape == (6, 1, 4) and set(np.unique(mask)) <= {0.0, 1 / 0.6}
    plain = make(3, return_sequences=True)
    plain.build((5, 4), np.random.default_rng(0), "float64")
    np.testing.assert_allclose(out, plain.forward(x * mask), rtol=1e-12)
    np.testing.assert_array_equal(run(training=False), plain.forward(x))

    def cost():
        return float((run() * r).sum())

    cost()
    dx = layer.backward(r.copy())
    grads = {key: g.copy() for key, g in layer.grads.items()}
    for key, param in layer.params.items():
        assert_close(grads[key], numeric_gradient(cost, param), tol=1e-7, what=f"d{key}")
    assert_close(dx, numeric_gradient(cost, x), tol=1e-7, what="dx")
    assert layer.get_config()["dropout"] == 0.4


def test_bad_dropout_rate_names_the_layer():
    with pytest.raises(Exception, match=r"GRU: dropout must be a rate in \[0, 1\), got 1"):
        GRU(3, dropout=1)
