"""Label metrics against scikit-learn, and the optimizing / satisficing Objective."""

import json
import tomllib

import numpy as np
import pytest

from nnlab.exceptions import ConfigError, InputValueError, ShapeError
from nnlab.training import metrics
from nnlab.training.metrics import Objective

sklearn_metrics = pytest.importorskip("sklearn.metrics")

SEEDS = range(6)


def random_labels(seed, n_classes, m=200, never_predicted=None):
    """Random true and predicted labels, correlated; optionally one class never predicted."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, m)
    y_pred = np.where(rng.random(m) < 0.6, y_true, rng.integers(0, n_classes, m))
    if never_predicted is not None:
        y_pred = np.where(y_pred == never_predicted, (never_predicted + 1) % n_classes, y_pred)
        assert never_predicted not in y_pred and never_predicted in y_true
    return y_true, y_pred


CASES = [
    # (n_classes, never_predicted)
    (2, None),
    (2, 1),  # positive class never predicted: binary precision is 0/0 -> 0
    (2, 0),
    (3, None),
    (5, None),
    (5, 2),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes, never", CASES)
def test_confusion_matrix_matches_sklearn(seed, n_classes, never):
    y_true, y_pred = random_labels(seed, n_classes, never_predicted=never)
    expected = sklearn_metrics.confusion_matrix(y_true, y_pred, labels=range(n_classes))
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes, never", CASES)
@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_scores_match_sklearn(seed, n_classes, never, name):
    y_true, y_pred = random_labels(seed, n_classes, never_predicted=never)
    reference = getattr(sklearn_metrics, f"{name}_score")
    ours = getattr(metrics, name)
    averages = ["binary", "macro"] if n_classes == 2 else ["macro"]
    for average in averages:
        expected = reference(y_true, y_pred, average=average, zero_division=0)
        assert ours(y_true, y_pred, average=average) == pytest.approx(expected, abs=1e-12)


def test_macro_averages_over_classes_in_true_or_predicted_labels():
    # class 1 never occurs at all: it is left out of the macro mean, as in scikit-learn
    y_true = np.array([0, 0, 2, 2, 3])
    y_pred = np.array([0, 2, 2, 2, 0])
    for name in ("precision", "recall", "f1"):
        expected = getattr(sklearn_metrics, f"{name}_score")(
            y_true, y_pred, average="macro", zero_division=0
        )
        assert getattr(metrics, name)(y_true, y_pred, "macro") == pytest.approx(expected)
    # class 3 is never predicted: precision 0 (0/0), recall 0
    report = metrics.classification_report(y_true, y_pred)
    assert set(report) == {"0", "2", "3", "macro"}
    assert report["3"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_hand_counted_binary_scores():
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    y_pred = np.array([1, 0, 1, 1, 0, 0, 0, 0])  # TP=2, FP=1, FN=2, TN=3
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), [[3, 1], [2, 2]])
    assert metrics.precision(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.recall(y_true, y_pred) == pytest.approx(2 / 4)
    assert metrics.f1(y_true, y_pred) == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))


def test_all_negative_labels_give_zero_binary_scores():
    zeros = np.zeros(5, dtype=int)
    assert metrics.precision(zeros, zeros) == 0.0
    assert metrics.recall(zeros, zeros) == 0.0
    assert metrics.f1(zeros, zeros) == 0.0


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_report_matches_sklearn(seed):
    y_true, y_pred = random_labels(seed, 4, never_predicted=seed % 4)
    ours = metrics.classification_report(y_true, y_pred)
    theirs = sklearn_metrics.classification_report(
        y_true, y_pred, output_dict=True, zero_division=0
    )
    for k in map(str, range(4)):
        assert ours[k]["precision"] == pytest.approx(theirs[k]["precision"])
        assert ours[k]["recall"] == pytest.approx(theirs[k]["recall"])
        assert ours[k]["f1"] == pytest.approx(theirs[k]["f1-score"])
        assert ours[k]["support"] == theirs[k]["support"]
    for name, their_name in [("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")]:
        assert ours["macro"][name] == pytest.approx(theirs["macro avg"][their_name])
    assert ours["macro"]["support"] == len(y_true)
    assert json.loads(json.dumps(ours)) == ours


def test_confusion_matrix_n_classes_and_label_layouts():
    c = metrics.confusion_matrix(np.array([[0], [1]]), np.array([1.0, 1.0]), n_classes=4)
    assert c.shape == (4, 4) and c[0, 1] == 1 and c[1, 1] == 1 and c.sum() == 2


def test_bad_labels_raise_clear_errors():
    with pytest.raises(ShapeError, match="same number of labels, got 3 and 2"):
        metrics.confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ShapeError, match="y_pred: expected labels of shape"):
        metrics.f1([0, 1], np.eye(2))
    with pytest.raises(InputValueError, match="y_true: expected class labels >= 0, got -1"):
        metrics.precision([-1, 1], [0, 1])
    with pytest.raises(InputValueError, match="y_pred: expected integer class labels"):
        metrics.recall([0, 1], [0.5, 1.0])
    with pytest.raises(InputValueError, match="n_classes=2 is too small"):
        metrics.confusion_matrix([0, 2], [0, 1], n_classes=2)
    with pytest.raises(InputValueError, match="average='binary' needs labels 0 and 1"):
        metrics.f1([0, 1, 2], [0, 1, 2])
    with pytest.raises(ConfigError, match="unknown average 'micro'"):
        metrics.f1([0, 1], [0, 1], average="micro")


# ------------------------------------------------------------------ Objective
RUNS = [
    {"name": "a", "f1": 0.92, "ms_per_example": 3.0},
    {"name": "b", "f1": 0.95, "ms_per_example": 12.0},  # best f1 but too slow
    {"name": "c", "f1": 0.94, "ms_per_example": 5.0},  # exactly on the bound: feasible
    {"name": "d", "f1": 0.90, "ms_per_example": 1.0},
    {"name": "e", "f1": 0.99, "ms_per_example": 5.01},  # just too slow
]


def names(runs):
    return [run["name"] for run in runs]


def test_objective_ranks_feasible_runs_first_then_infeasible():
    objective = Objective("f1", "maximize", {"ms_per_example": ("<=", 5.0)})
    assert names(objective.rank(RUNS)) == ["c", "a", "d", "b", "e"]
    assert objective.score(RUNS[2]) == 0.94
    assert objective.score(RUNS[1]) is None
    assert objective.violations(RUNS[1]) == ["ms_per_example = 12, not <= 5"]


def test_objective_without_constraints_and_minimize():
    assert names(Objective("f1").rank(RUNS)) == ["e", "b", "c", "a", "d"]
    fastest = Objective("ms_per_example", direction="minimize", constraints={"f1": (">=", 0.92)})
    assert names(fastest.rank(RUNS)) == ["a", "c", "e", "b", "d"]
    assert fastest.score(RUNS[0]) == 3.0  # the metric itself, not negated


def test_objective_direction_auto_follows_the_metric_mode():
    assert Objective("f1").direction == Objective("dev.accuracy").direction == "maximize"
    assert Objective("ms_per_example").direction == Objective("dev.loss").direction == "minimize"
    assert Objective("ms_per_example") == Objective("ms_per_example", "minimize")
    assert Objective("dev.loss", direction="maximize").direction == "maximize"  # asked for
    assert names(Objective("ms_per_example").rank(RUNS))[0] == "d"  # the fastest run


def test_objective_several_constraints_and_nan():
    objective = Objective("f1", constraints={"ms_per_example": ("<", 5.0), "f1": (">", 0.91)})
    runs = [*RUNS, {"name": "nan", "f1": float("nan"), "ms_per_example": 1.0}]
    assert names(objective.rank(runs)) == ["a", "b", "c", "d", "e", "nan"]
    assert objective.score(runs[-1]) is None


def test_objective_ties_keep_their_order_and_nested_keys():
    runs = [
        {"name": "x", "dev": {"accuracy": 0.9}, "train_seconds": 50},
        {"name": "y", "dev": {"accuracy": 0.9}, "train_seconds": 10},
        {"name": "z", "dev": {"accuracy": 0.8}, "train_seconds": 10},
    ]
    objective = Objective("dev.accuracy", constraints={"train_seconds": ("<=", 60)})
    assert names(objective.rank(runs)) == ["x", "y", "z"]
    assert names(objective.rank(runs[::-1])) == ["y", "x", "z"]


def test_objective_from_toml_table():
    table = tomllib.loads(
        """
        [objective]
        optimize = "f1"
        direction = "maximize"
        constraints = { ms_per_example = ["<=", 5.0], f1 = [">=", 0.93] }
        """
    )["objective"]
    objective = Objective.from_dict(table)
    assert objective.constraints == {"ms_per_example": ("<=", 5.0), "f1": (">=", 0.93)}
    assert names(objective.rank(RUNS)) == ["c", "a", "b", "d", "e"]
    assert Objective.from_dict(objective.to_dict()) == objective
    assert Objective.from_dict({"optimize": "f1"}) == Objective("f1")


def test_objective_bad_settings_raise_clear_errors():
    with pytest.raises(ConfigError, match="unknown keys goal"):
        Objective.from_dict({"optimize": "f1", "goal": 1})
    with pytest.raises(ConfigError, match="missing key 'optimize'"):
        Objective.from_dict({"direction": "maximize"})
    with pytest.raises(ConfigError, match="unknown direction 'up'"):
        Objective("f1", direction="up")
    with pytest.raises(ConfigError, match="unknown comparison of constraint 'ms' '=<'"):
        Objective("f1", constraints={"ms": ("=<", 5)})
    with pytest.raises(ConfigError, match="constraint 'ms' must be \\(op, bound\\)"):
        Objective("f1", constraints={"ms": 5})
    with pytest.raises(ConfigError, match="bound of constraint 'ms' must be a finite number"):
        Objective("f1", constraints={"ms": ("<=", "fast")})
    with pytest.raises(InputValueError, match="results have no metric 'ms'"):
        Objective("f1", constraints={"ms": ("<=", 5)}).score({"f1": 0.9})
    with pytest.raises(InputValueError, match="metric 'f1' must be a number"):
        Objective("f1").score({"f1": "high"})


def test_accuracy_over_time_steps_counts_positions():
    """Outputs (m, T, K): each step of each example is one prediction."""
    from nnlab.training.metrics import accuracy_counts

    rng = np.random.default_rng(0)
    a = rng.random((3, 4, 5))
    labels = a.argmax(-1)
    labels[0, :2] = (labels[0, :2] + 1) % 5  # two wrong positions out of 12
    for y in (labels, np.eye(5)[labels]):
        assert accuracy_counts(y, a) == (10.0, 12)


# ------------------------------------------------------------------ segmentation IoU
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes, never", CASES)
def test_iou_matches_sklearn_jaccard(seed, n_classes, never):
    """Per-class IoU (average=None) and mean IoU (macro) of masks (m, H, W), every pixel
    counted once, as scikit-learn's jaccard_score of the flattened labels."""
    y_true, y_pred = random_labels(seed, n_classes, m=4 * 5 * 6, never_predicted=never)
    masks_true, masks_pred = y_true.reshape(4, 5, 6), y_pred.reshape(4, 5, 6)
    expected = sklearn_metrics.jaccard_score(
        y_true, y_pred, labels=range(n_classes), average=None, zero_division=0
    )
    np.testing.assert_allclose(metrics.iou_per_class(masks_true, masks_pred), expected)
    macro = sklearn_metrics.jaccard_score(y_true, y_pred, average="macro", zero_division=0)
    assert metrics.mean_iou(masks_true, masks_pred) == pytest.approx(macro, abs=1e-12)


def test_iou_of_absent_classes_and_summed_confusion_matrices():
    t = np.array([[0, 0, 1], [1, 3, 3]])
    p = np.array([[0, 1, 1], [1, 3, 0]])
    # class 0: TP 1, FP 1, FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2 absent: 0;
    # class 3: TP 1, FN 1 -> 1/2
    np.testing.assert_allclose(metrics.iou_per_class(t, p, 4), [1 / 3, 2 / 3, 0, 1 / 2])
    assert metrics.mean_iou(t, p, 4) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    whole = metrics.confusion_matrix(t.ravel(), p.ravel(), 4)
    parts = sum(metrics.confusion_matrix(t[i], p[i], 4) for i in range(2))
    np.testing.assert_allclose(metrics.iou_from_confusion(parts), metrics.iou_from_confusion(whole))
    with pytest.raises(ShapeError, match="same shape"):
        metrics.iou_per_class(t, p[:, :2])
    with pytest.raises(ShapeError, match="K, K"):
        metrics.iou_from_confusion(np.ones((2, 3)))
