"""The custom-step path (forward, a loss of your own, backward, optimizer step), on which fit
itself runs: a triplet-loss face-embedding-style model and an input-image optimization."""

import numpy as np
import pytest
from helpers import assert_close

import nnlab
from nnlab import Conv2D, Dense, Flatten, Input, Model

torch = pytest.importorskip("torch")


def triplet_loss(anchor, positive, negative, alpha=0.2):
    """The course's (FaceNet's) triplet loss and its gradients w.r.t. the three embeddings:

    J = mean over m of max(||a - p||^2 - ||a - n||^2 + alpha, 0)
    dJ/da = 2 (n - p) / m,  dJ/dp = -2 (a - p) / m,  dJ/dn = 2 (a - n) / m  where active
    """
    m = anchor.shape[0]
    pos = ((anchor - positive) ** 2).sum(axis=1)
    neg = ((anchor - negative) ** 2).sum(axis=1)
    margin = pos - neg + alpha
    active = (margin > 0)[:, None] * (2.0 / m)
    grads = [
        active * (negative - positive),
        -active * (anchor - positive),
        active * (anchor - negative),
    ]
    return float(np.maximum(margin, 0).mean()), grads


def triplet_model(seed=0, dtype="float32"):
    """One encoder (Dense relu -> Dense, L2-free) applied to anchor, positive, negative."""
    inputs = [Input((8,), name=name) for name in ("anchor", "positive", "negative")]
    hidden, embed = Dense(16, activation="relu", kernel_initializer="he"), Dense(4)
    model = Model(inputs, [embed(hidden(x)) for x in inputs], seed=seed, dtype=dtype)
    model.compile(nnlab.Adam(0.01), loss=None)  # the loss is ours: no compiled loss
    return model


def identities(rng, m, n_people=5):
    """Vectors of ``n_people`` identities: each a centre plus noise (8 features)."""
    centres = rng.standard_normal((n_people, 8)) * 2
    who = rng.integers(0, n_people, m)
    return centres, who


def test_triplet_loss_custom_step_trains_the_shared_encoder():
    rng = np.random.default_rng(0)
    centres, who = identities(rng, 64)
    other = (who + rng.integers(1, 5, who.size)) % 5

    def batch():
        def noisy(ids):
            return (centres[ids] + rng.standard_normal((ids.size, 8))).astype(np.float32)

        return [noisy(who), noisy(who), noisy(other)]

    model = triplet_model()
    losses = []
    for _ in range(150):
        outputs = model.forward(batch(), training=True)
        loss, grads = triplet_loss(*outputs)
        model.backward(grads)
        model.regularize()
        model.apply_gradients()
        losses.append(loss)
    assert np.mean(losses[:10]) > 0.2
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:10])


def test_triplet_step_gradients_equal_torch():
    rng = np.random.default_rng(1)
    model = triplet_model(dtype="float64")
    xs = [rng.standard_normal((6, 8)) for _ in range(3)]
    outputs = model.forward(xs, training=True)
    loss, grads = triplet_loss(*outputs)
    model.backward(grads)
    p = {
        name: torch.tensor(np.array(v), requires_grad=True)
        for name, v, _ in model.named_parameters()
    }
    hidden, embed = (layer.name for layer in model.layers)

    def encode(x):
        h = torch.relu(torch.tensor(x) @ p[f"{hidden}/W"] + p[f"{hidden}/b"])
        return h @ p[f"{embed}/W"] + p[f"{embed}/b"]

    a, pos, neg = (encode(x) for x in xs)
    margin = ((a - pos) ** 2).sum(1) - ((a - neg) ** 2).sum(1) + 0.2
    loss_t = torch.clamp(margin, min=0).mean()
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=1e-12)
    for name, _, grad in model.named_parameters():
        assert_close(grad, p[name].grad.numpy(), what=name)


def test_input_image_optimization_matches_target_features():
    """Style-transfer's loop in small: fixed weights, the image is the parameter."""
    rng = np.random.default_rng(2)
    image = Input((6, 6, 3))
    features = Flatten()(Conv2D(4, 3, activation="tanh")(image))
    net = Model(image, Dense(5, activation="tanh")(features), seed=3, dtype="float64")
    net.build()
    target = net.forward(rng.standard_normal((1, 6, 6, 3)))
    x = rng.standard_normal((1, 6, 6, 3)) * 0.1
    weights_before = net.get_weights()
    costs = []
    for _ in range(200):
        a = net.forward(x, training=False)
        diff = a - target
        costs.append(float((diff**2).sum()))
        dx = net.backward(2 * diff, input_grads=True)  # dJ/dx of J = ||a - target||^2
        x -= 0.5 * dx
    assert costs[-1] < 1e-3 * costs[0]
    assert all(b <= a + 1e-12 for a, b in zip(costs, costs[1:], strict=False))
    for name, value in net.get_weights().items():  # only the image moved
        np.testing.assert_array_equal(value, weights_before[name])


def test_fit_runs_the_same_four_calls():
    """fit's step is forward -> loss -> backward -> regularize -> apply_gradients."""
    model = nnlab.Sequential(
        [Dense(3, activation="softmax", kernel_regularizer=0.1)], input_shape=(4,), seed=0
    )
    model.compile("sgd", "categorical_crossentropy")
    calls = []
    for name in ("forward", "backward", "regularize", "apply_gradients"):
        original = getattr(model, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        setattr(model, name, spy)
    x = np.random.default_rng(0).standard_normal((10, 4))
    model.fit(x, np.arange(10) % 3, epochs=1, batch_size=5, verbose=0, shuffle=False)
    step = ["forward", "backward", "regularize", "apply_gradients"]
    assert calls == step * 2  # two batches, no validation
