"""Optimizer updates on a flat float64 buffer (hand NumPy and torch.optim) and schedules."""

import math

import numpy as np
import pytest

import nnlab
from nnlab import (
    Adam,
    AdamW,
    Dense,
    ExponentialDecay,
    GradientDescent,
    InverseTimeDecay,
    Momentum,
    RMSprop,
    ScheduledInverseTimeDecay,
    Sequential,
    registry,
)

torch = pytest.importorskip("torch")

SEEDS = [0, 1, 2, 3]


def problem(seed, steps):
    """A random flat float64 buffer and one random gradient per step."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    params = rng.standard_normal(n)
    grads = [rng.standard_normal(n) * rng.uniform(0.01, 10) for _ in range(steps)]
    return params, grads


def run(opt, params, grads):
    """Build and step ``opt`` in place on ``params``; check the buffer is never rebound."""
    buffer = params.copy()
    before = id(buffer)
    opt.build(buffer)
    for g in grads:
        g_copy = g.copy()
        opt.step(buffer, g_copy)
        np.testing.assert_array_equal(g_copy, g)  # the gradient is not modified
    assert id(buffer) == before
    assert opt.t == len(grads)
    return buffer


def assert_close(actual, expected, rtol=1e-12, atol=1e-15):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ------------------------------------------------------------------- hand computations
@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("lr", [0.1, 0.003])
@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_descent(seed, lr, steps):
    params, grads = problem(seed, steps)
    expected = params.copy()
    for g in grads:
        expected = expected - lr * g
    assert_close(run(GradientDescent(lr), params, grads), expected)


@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("seed", SEEDS)
def test_momentum_course_form(seed, beta, steps):
    """v = beta v + (1 - beta) g;  theta -= alpha v  (not torch's v = mu v + g)."""
    lr = 0.05
    params, grads = problem(seed, steps)
    expected, v = params.copy(), np.zeros_like(params)
    for g in grads:
        v = beta * v + (1 - beta) * g
        expected = expected - lr * v
    opt = Momentum(lr, beta=beta)
    assert_close(run(opt, params, grads), expected)
    assert_close(opt.slots["v"], v)
    if steps == 1:  # first step: theta -= alpha (1 - beta) g
        assert_close(expected, params - lr * (1 - beta) * grads[0])


@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("beta", [0.9, 0.99])
@pytest.mark.parametrize("seed", SEEDS)
def test_rmsprop_by_hand(seed, beta, steps):
    lr, eps = 0.01, 1e-8
    params, grads = problem(seed, steps)
    expected, s = params.copy(), np.zeros_like(params)
    for g in grads:
        s = beta * s + (1 - beta) * g * g
        expected = expected - lr * g / (np.sqrt(s) + eps)
    opt = RMSprop(lr, beta=beta, epsilon=eps)
    assert_close(run(opt, params, grads), expected)
    assert_close(opt.slots["s"], s)


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("eps", [1e-8, 1e-2])
@pytest.mark.parametrize("seed", SEEDS)
def test_rmsprop_matches_torch(seed, eps, steps):
    lr, beta = 0.01, 0.9
    params, grads = problem(seed, steps)
    p = torch.tensor(params.copy(), requires_grad=True)
    ref = torch.optim.RMSprop([p], lr=lr, alpha=beta, eps=eps)  # eps outside the sqrt too
    for g in grads:
        p.grad = torch.tensor(g)
        ref.step()
    ours = run(RMSprop(lr, beta=beta, epsilon=eps), params, grads)
    assert_close(ours, p.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("steps", [1, 5])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
@pytest.mark.parametrize("seed", SEEDS)
def test_adam_matches_torch(seed, betas, steps):
    lr, eps = 0.01, 1e-8
    params, grads = problem(seed, steps)
    p = torch.tensor(params.copy(), requires_grad=True)
    ref = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps)
    for g in grads:
        p.grad = torch.tensor(g)
        ref.step()
    ours = run(Adam(lr, beta_1=betas[0], beta_2=betas[1], epsilon=eps), params, grads)
    assert_close(ours, p.detach().numpy(), rtol=1e-6, atol=0)
    assert_close(ours, p.detach().numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
def test_adam_by_hand(seed):
    lr, b1, b2, eps = 0.02, 0.9, 0.999, 1e-8
    params, grads = problem(seed, 5)
    expected, v, s = params.copy(), np.zeros_like(params), np.zeros_like(params)
    for t, g in enumerate(grads, start=1):
        v = b1 * v + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        v_hat, s_hat = v / (1 - b1**t), s / (1 - b2**t)
        expected = expected - lr * v_hat / (np.sqrt(s_hat) + eps)
    opt = Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    assert_close(run(opt, params, grads), expected, rtol=1e-10)
    assert_close(opt.slots["v"], v)
    assert_close(opt.slots["s"], s)
    # the first step moves every coordinate by lr g / (|g| + eps), about lr sign(g)
    first = run(Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps), params, grads[:1])
    g = grads[0]
    assert_close(params - first, lr * g / (np.abs(g) + eps), rtol=1e-9)


@pytest.mark.parametrize(
    "make", [lambda: GradientDescent(0.1), lambda: Momentum(0.1), lambda: Adam(0.1)]
)
def test_model_step_updates_layer_views_in_place(make):
    """The layers' W and b are views into the flat buffer the optimizer updates."""
    model = Sequential([Dense(3, "tanh"), Dense(2)], input_shape=(4,), dtype="float64", seed=0)
    model.compile(make(), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    w = model.layers[0].params["W"]
    w_before, flat_before = w.copy(), model.flat.values.copy()
    model.train_step(model.prepare_inputs(x), model.prepare_targets(y, 5))
    assert model.layers[0].params["W"] is w
    assert np.shares_memory(w, model.flat.values)
    assert not np.array_equal(w, w_before)
    delta = model.flat.values - flat_before
    offset = model.flat.entries[0].offset
    np.testing.assert_array_equal(delta[offset : offset + w.size].reshape(w.shape), w - w_before)
    if isinstance(model.optimizer, GradientDescent):
        np.testing.assert_allclose(w, w_before - 0.1 * model.layers[0].grads["W"], rtol=1e-14)


# ------------------------------------------------------------------------ schedules
EPOCHS = [0, 1, 2, 5, 9, 10, 11, 37, 100]


@pytest.mark.parametrize("lr0, rate", [(0.1, 1.0), (0.01, 0.3), (0.5, 0.0)])
def test_inverse_time_decay(lr0, rate):
    schedule = InverseTimeDecay(lr0, rate)
    for epoch in EPOCHS:
        assert schedule(epoch) == pytest.approx(lr0 / (1 + rate * epoch), rel=1e-15)
    assert schedule(0) == lr0


@pytest.mark.parametrize("interval", [1, 3, 10])
@pytest.mark.parametrize("lr0, rate", [(0.1, 1.0), (0.02, 0.5)])
def test_scheduled_inverse_time_decay(lr0, rate, interval):
    schedule = ScheduledInverseTimeDecay(lr0, rate, interval=interval)
    for epoch in EPOCHS:
        expected = lr0 / (1 + rate * math.floor(epoch / interval))
        assert schedule(epoch) == pytest.approx(expected, rel=1e-15)
    # constant within an interval, a step at its end
    assert schedule(interval - 1) == lr0
    assert schedule(interval) == pytest.approx(lr0 / (1 + rate))


@pytest.mark.parametrize("lr0, rate", [(0.1, 0.95), (0.3, 0.5), (0.01, 1.0)])
def test_exponential_decay(lr0, rate):
    schedule = ExponentialDecay(lr0, rate)
    for epoch in EPOCHS:
        assert schedule(epoch) == pytest.approx(lr0 * rate**epoch, rel=1e-12)


@pytest.mark.parametrize(
    "schedule",
    [
        InverseTimeDecay(0.1, 0.5),
        ScheduledInverseTimeDecay(0.2, 1.0, interval=3),
        ExponentialDecay(0.1, 0.9),
        {"name": "exponential", "initial_learning_rate": 0.1, "decay_rate": 0.8},
        {"name": "scheduled", "initial_learning_rate": 0.1, "decay_rate": 2.0, "interval": 2},
    ],
)
@pytest.mark.parametrize("make", [GradientDescent, Momentum, RMSprop, Adam])
def test_set_epoch_applies_the_schedule(make, schedule):
    opt = make(learning_rate=schedule)
    fn = registry.get("schedule", schedule)
    assert opt.lr == pytest.approx(fn(0))
    for epoch in (4, 0, 7, 12):
        opt.set_epoch(epoch)
        assert opt.lr == pytest.approx(fn(epoch), rel=1e-15)
    # the step uses the scheduled rate
    params, grads = problem(0, 1)
    sgd = GradientDescent(learning_rate=schedule)
    sgd.set_epoch(6)
    assert_close(run(sgd, params, grads), params - fn(6) * grads[0])


def test_fit_sets_the_epoch_learning_rate():
    model = Sequential([Dense(1)], input_shape=(2,), dtype="float64", seed=0)
    model.compile(GradientDescent(ExponentialDecay(0.1, 0.5)), "mse")
    x = np.random.default_rng(0).standard_normal((8, 2))
    history = model.fit(x, x[:, 0], epochs=4, batch_size=8, verbose=0)
    np.testing.assert_allclose(history["lr"], [0.1, 0.05, 0.025, 0.0125])


# ------------------------------------------------------------------------- configs
def test_unknown_optimizer_lists_known_names():
    with pytest.raises(nnlab.ConfigError) as info:
        registry.get("optimizer", "adamax")
    message = str(info.value)
    assert "adamax" in message
    for name in ("sgd", "momentum", "rmsprop", "adam", "adamw"):
        assert name in message
    model = Sequential([Dense(1)], input_shape=(2,))
    with pytest.raises(nnlab.ConfigError, match="rmsprop"):
        model.compile("nesterov", "mse")


@pytest.mark.parametrize("name, cls", [("sgd", GradientDescent), ("gd", GradientDescent),
                                       ("gradient_descent", GradientDescent),
                                       ("momentum", Momentum), ("rmsprop", RMSprop),
                                       ("adam", Adam)])  # fmt: skip
def test_optimizer_names_and_learning_rate(name, cls):
    opt = registry.get("optimizer", name, learning_rate=0.25)
    assert type(opt) is cls
    assert opt.lr == 0.25


@pytest.mark.parametrize(
    "make",
    [
        lambda: GradientDescent(0.0),
        lambda: Adam(-1e-3),
        lambda: Momentum(0.1, beta=1.0),
        lambda: RMSprop(0.1, beta=-0.1),
        lambda: Adam(0.1, beta_2=1.5),
        lambda: InverseTimeDecay(0.0, 1.0),
        lambda: ExponentialDecay(0.1, -0.5),
        lambda: ScheduledInverseTimeDecay(0.1, 1.0, interval=0),
        lambda: registry.get("optimizer", {"name": "sgd", "learning_rate": {"name": "cosine"}}),
    ],
)
def test_invalid_settings_raise_config_error(make):
    with pytest.raises(nnlab.ConfigError):
        make()


# ------------------------------------------------------------- both cores, same bits
@pytest.mark.parametrize("make", [GradientDescent, Momentum, RMSprop, Adam])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_step_split_over_threads_equals_one_call(make, dtype, monkeypatch):
    """A buffer large enough to split (at the real threshold) steps to the same bits with 2
    threads as with 1, and the chunks' bounds lie on 64-byte lines."""
    from nnlab.ops import parallel

    saved = parallel.num_threads()
    n = 2 * parallel.MIN_PASS_ELEMENTS // make.passes + 37  # the last chunk is not aligned
    rng = np.random.default_rng(5)
    params = rng.standard_normal(n).astype(dtype)
    grads = [(rng.standard_normal(n) * 3).astype(dtype) for _ in range(3)]
    results, chunks = [], []
    split = parallel.split
    monkeypatch.setattr(parallel, "split", lambda *a: chunks.append(split(*a)) or chunks[-1])
    try:
        for threads in (1, 2):
            parallel.set_num_threads(threads)
            results.append(run(make(learning_rate=0.01), params, grads))
    finally:
        parallel.set_num_threads(saved)
    assert chunks, "the step was not split"
    itemsize = np.dtype(dtype).itemsize
    assert all(b * itemsize % 64 == 0 for b in chunks[0][:-1]) and chunks[0][-1] == n
    np.testing.assert_array_equal(results[1], results[0])


def test_a_small_buffer_steps_on_the_calling_thread(monkeypatch):
    from nnlab.ops import parallel

    monkeypatch.setattr(parallel, "_get_executor", lambda: pytest.fail("a thread was used"))
    saved = parallel.num_threads()
    try:
        parallel.set_num_threads(2)
        params, grads = problem(0, 2)
        run(Adam(), params, grads)
    finally:
        parallel.set_num_threads(saved)


# ------------------------------------------------------------------- gradient clipping
def clipped_problem(seed):
    """Three parameters' gradients in one flat buffer, large enough to be clipped."""
    rng = np.random.default_rng(seed)
    sizes = [int(k) for k in rng.integers(1, 30, 3)]
    grads = [rng.standard_normal(k) * rng.uniform(0.5, 20) for k in sizes]
    spans, start = [], 0
    for k in sizes:
        spans.append((start, start + k))
        start += k
    return grads, spans


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "kind, torch_clip",
    [
        ("clipvalue", lambda ps, c: torch.nn.utils.clip_grad_value_(ps, c)),
        ("global_clipnorm", lambda ps, c: torch.nn.utils.clip_grad_norm_(ps, c)),
        ("clipnorm", lambda ps, c: [torch.nn.utils.clip_grad_norm_([p], c) for p in ps]),
    ],
)
def test_clipping_equals_torch(seed, kind, torch_clip):
    """The clipped gradient that SGD applies equals torch.nn.utils' clipping (clipnorm:
    each parameter on its own, as Keras).  PyTorch divides by the norm + 1e-6, Keras and
    nnlab by the norm: hence rtol 1e-6."""
    grads, spans = clipped_problem(seed)
    c = 3.0
    params_t = [torch.zeros(len(g), dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params_t, grads, strict=True):
        p.grad = torch.tensor(g)
    torch_clip(params_t, c)
    expected = np.concatenate([p.grad.numpy() for p in params_t])
    flat = np.concatenate(grads)
    params = np.zeros_like(flat)
    opt = GradientDescent(1.0, **{kind: c})
    opt.build(params)
    opt.step(params, flat, spans)
    assert_close(-params, expected, rtol=1e-6)


def test_clipping_leaves_small_gradients_alone():
    grads, spans = clipped_problem(9)
    flat = np.concatenate(grads) * 1e-3
    for kind in ("clipvalue", "clipnorm", "global_clipnorm"):
        g = flat.copy()
        GradientDescent(1.0, **{kind: 100.0}).clip(g, spans)
        np.testing.assert_array_equal(g, flat)


@pytest.mark.parametrize("make", [GradientDescent, Momentum, RMSprop, Adam])
def test_every_optimizer_takes_clipping_and_saves_it(make):
    opt = make(0.01, clipvalue=5)
    assert opt.get_config()["clipvalue"] == 5.0
    again = registry.get("optimizer", opt.get_config())
    assert again.clipping == {"clipvalue": 5.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"clipvalue": 1, "clipnorm": 2}, "at most one of clipvalue, clipnorm and global_clipnorm"),
        ({"clipnorm": 0}, "clipnorm must be a positive number, got 0"),
        ({"global_clipnorm": "big"}, "global_clipnorm must be a positive number"),
    ],
)
def test_bad_clipping_names_the_argument(kwargs, message):
    with pytest.raises(nnlab.ConfigError, match=message):
        Adam(0.01, **kwargs)


def test_fit_clips_by_parameter():
    """In fit, clipnorm bounds each parameter's gradient separately (the spans reach it)."""
    model = Sequential([Dense(4, activation="tanh"), Dense(1)], input_shape=(3,), seed=0)
    model.compile(GradientDescent(0.1, clipnorm=1e-3), "mse")
    seen = []
    original = model.optimizer.update

    def update(params, grads):
        seen.append([np.linalg.norm(g) for g in (layer.grads[k] for layer in model.layers
                                                 for k in layer.grads)])  # fmt: skip
        original(params, grads)

    model.optimizer.update = update
    x = np.random.default_rng(0).standard_normal((32, 3))
    model.fit(x, x.sum(axis=1, keepdims=True) * 10, epochs=1, batch_size=32, verbose=0)
    assert len(seen) == 1 and max(seen[0]) <= 1e-3 * (1 + 1e-6)
    assert min(seen[0]) > 0.999e-3  # every one was larger and came out at the bound


@pytest.mark.parametrize("weight_decay", [0.0, 0.01, 0.3])
@pytest.mark.parametrize("seed", SEEDS)
def test_adamw_matches_torch(seed, weight_decay):
    lr, eps = 0.01, 1e-8
    params, grads = problem(seed, 5)
    p = torch.tensor(params.copy(), requires_grad=True)
    ref = torch.optim.AdamW([p], lr=lr, eps=eps, weight_decay=weight_decay)
    for g in grads:
        p.grad = torch.tensor(g)
        ref.step()
    ours = run(AdamW(lr, weight_decay=weight_decay, epsilon=eps), params, grads)
    assert_close(ours, p.detach().numpy(), rtol=1e-10, atol=1e-14)
