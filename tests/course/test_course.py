"""The course's published numbers, reproduced with nnlab's own layers and training loop.

Every figure comes from ../shared/COURSE_REFERENCE.md.  The course-compatible pieces are
``LegacyGlobalRNG`` (the course's ``np.random.seed`` order and (n_out, n_in) weight
layout), ``epoch_seeded_shuffle`` (the optimization lab's mini-batches), and
``BinaryCrossentropy(course_cost=True)`` (the cost computed from A as the course does).
"""

import numpy as np
import pytest

import nnlab
from nnlab import Dense, Sequential
from nnlab.course.legacy import LegacyGlobalRNG, epoch_seeded_shuffle
from nnlab.data import make_planar_course
from nnlab.training.losses import BinaryCrossentropy

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def course_net(layer_sizes, activations, initializer, seed, optimizer, n_x=2):
    """A float64 net initialised exactly as the course's ``initialize_parameters``."""
    net = Sequential(
        [
            Dense(n, activation=act, kernel_initializer=initializer)
            for n, act in zip(layer_sizes, activations, strict=True)
        ],
        dtype="float64",
    )
    net.build((n_x,), rng=LegacyGlobalRNG(seed))
    net.compile(optimizer, BinaryCrossentropy(course_cost=True), ["accuracy"])
    return net


def full_batch_fit(net, x, y, iterations):
    return net.fit(x, y, epochs=iterations, batch_size=x.shape[0], shuffle=False, verbose=0)


# ----------------------------------------------------------------- Course 1, week 3
@pytest.mark.slow
def test_planar_seed2_costs():
    x, y = make_planar_course(seed=1)
    net = course_net([4, 1], ["tanh", "sigmoid"], "small_random", 2, nnlab.GradientDescent(1.2))
    history = full_batch_fit(net, x, y, 10_000)
    assert history["loss"][0] == pytest.approx(0.693048, abs=1e-6)
    assert history["loss"][9000] == pytest.approx(0.218607, abs=1e-3)


@pytest.mark.slow
def test_planar_seed3_accuracy():
    x, y = make_planar_course(seed=1)
    net = course_net([4, 1], ["tanh", "sigmoid"], "small_random", 3, nnlab.GradientDescent(1.2))
    full_batch_fit(net, x, y, 10_000)
    assert net.evaluate(x, y)["accuracy"] == pytest.approx(0.9075, abs=1e-9)


# ----------------------------------------------------------------- Course 2, week 1
def circles():
    np.random.seed(1)
    train = sklearn_datasets.make_circles(n_samples=300, noise=0.05)
    np.random.seed(2)
    test = sklearn_datasets.make_circles(n_samples=100, noise=0.05)
    return train, test


@pytest.mark.slow
@pytest.mark.parametrize(
    "initializer, cost0, train_acc, test_acc",
    [("zeros", np.log(2), 0.5, 0.5), ("he", 0.8830537, 0.9933, 0.96)],
)
def test_initialization_lab(initializer, cost0, train_acc, test_acc):
    (x, y), (x_test, y_test) = circles()
    net = course_net(
        [10, 5, 1], ["relu", "relu", "sigmoid"], initializer, 3, nnlab.GradientDescent(0.01)
    )
    history = full_batch_fit(net, x, y, 15_000)
    assert history["loss"][0] == pytest.approx(cost0, abs=1e-7)
    assert net.evaluate(x, y)["accuracy"] == pytest.approx(train_acc, abs=5e-5)
    assert net.evaluate(x_test, y_test)["accuracy"] == pytest.approx(test_acc, abs=5e-5)


@pytest.mark.slow
def test_initialization_lab_large_weights_train_through_an_infinite_cost():
    """x10 random weights saturate the sigmoid: the lab prints "Cost after iteration 0: inf"
    (its nansum cost) and trains on, since the gradient A - Y stays finite; it reports
    train accuracy 0.83 and test accuracy 0.86."""
    (x, y), (x_test, y_test) = circles()
    large = nnlab.initializers.RandomNormal(10.0)
    net = course_net([10, 5, 1], ["relu", "relu", "sigmoid"], large, 3, nnlab.GradientDescent(0.01))
    history = full_batch_fit(net, x, y, 15_000)
    assert history["loss"][0] == np.inf and np.isfinite(history["loss"][-1])
    assert len(history["loss"]) == 15_000 and history.stop_reason is None
    assert "course mode trains on" in history.nonfinite_cost
    assert net.evaluate(x, y)["accuracy"] == pytest.approx(0.83, abs=5e-5)
    assert net.evaluate(x_test, y_test)["accuracy"] == pytest.approx(0.86, abs=5e-5)


def test_outside_course_mode_a_non_finite_cost_stops_training_with_the_reason():
    (x, y), _ = circles()
    net = Sequential([Dense(1)], input_shape=(2,), dtype="float64")
    net.compile(nnlab.GradientDescent(1e150), "mse")  # the weights overflow to inf
    history = net.fit(x, y, epochs=20, batch_size=300, shuffle=False, verbose=0)
    assert len(history.epoch) < 20 and "loss became" in history.stop_reason


# ----------------------------------------------------------------- Course 2, week 2
@pytest.mark.slow
@pytest.mark.parametrize(
    "optimizer, cost0, train_acc",
    [
        (lambda: nnlab.GradientDescent(0.0007), 0.702405, 0.7167),
        (lambda: nnlab.Momentum(0.0007, beta=0.9), 0.702413, 0.7167),
        (lambda: nnlab.Adam(0.0007, beta_1=0.9, beta_2=0.999, epsilon=1e-8), 0.702166, 0.9433),
    ],
    ids=["gd", "momentum", "adam"],
)
def test_optimization_lab(optimizer, cost0, train_acc):
    np.random.seed(3)
    x, y = sklearn_datasets.make_moons(n_samples=300, noise=0.2)
    net = course_net([5, 2, 1], ["relu", "relu", "sigmoid"], "he", 3, optimizer())
    history = net.fit(
        x, y, epochs=5000, batch_size=64, shuffle=epoch_seeded_shuffle(start=10), verbose=0
    )
    assert history["loss"][0] == pytest.approx(cost0, abs=1e-6)
    assert net.evaluate(x, y)["accuracy"] == pytest.approx(train_acc, abs=5e-5)


def test_epoch_seeded_shuffle_replays_course_batches():
    """Epoch e uses seed 11 + e, as the lab's ``seed = seed + 1`` before each epoch."""
    order = epoch_seeded_shuffle(start=10)
    first, fifth = order(0, 300), order(4, 300)
    np.random.seed(11)
    assert np.array_equal(first, np.random.permutation(300))
    np.random.seed(15)
    assert np.array_equal(fifth, np.random.permutation(300))


# --------------------------------------------------------- Course 2, week 1: gradcheck
def test_gradient_checking_lab():
    np.random.seed(1)
    x = np.random.randn(4, 3)
    y = np.array([1, 1, 0])
    shapes = {"W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}
    course = {name: np.random.randn(*shape) for name, shape in shapes.items()}
    net = Sequential([Dense(5, "relu"), Dense(3, "relu"), Dense(1, "sigmoid")], dtype="float64")
    net.build((4,))
    net.compile("sgd", BinaryCrossentropy(course_cost=True))
    net.set_weights(
        {f"dense_{l}/W": course[f"W{l}"].T for l in (1, 2, 3)}
        | {f"dense_{l}/b": course[f"b{l}"][:, 0] for l in (1, 2, 3)}
    )
    result = nnlab.gradcheck(net, x.T, y, epsilon=1e-7)
    assert result.difference == pytest.approx(1.1890913024229996e-07, rel=0.01)
    assert result.checked == 5 * 4 + 5 + 3 * 5 + 3 + 3 + 1


def test_legacy_rng_draws_course_layout():
    """W is drawn as the course's (n_out, n_in) and stored transposed as (n_in, n_out)."""
    net = Sequential([Dense(3, kernel_initializer="small_random")], dtype="float64")
    net.build((2,), rng=LegacyGlobalRNG(2))
    np.random.seed(2)
    expected = np.random.randn(3, 2) * 0.01
    assert np.array_equal(net.layers[0].params["W"], expected.T)
