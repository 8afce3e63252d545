"""The regularization experiment (examples/regularization.py), fast: the same data, split,
network and initial weights, 1500 instead of 3000 iterations and a two-value sweep each.

Breast cancer reduced to two overlapping features (worst texture, worst smoothness): the
unregularized net memorizes the training set; L2 and dropout, chosen on dev, close the
train - dev gap.  Every assertion about chosen models is on train / dev numbers.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from nnlab.practice.plots import decision_boundary

pytest.importorskip("sklearn.datasets")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "regularization.py"
EPOCHS = 1500
L2_GRID = (3.0, 10.0)
DROPOUT_GRID = (0.5, 0.6)


def load_example():
    spec = importlib.util.spec_from_file_location("nnlab_example_regularization", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


reg = load_example()


@pytest.fixture(scope="module")
def experiment():
    with reg.threadpool_limits(limits=1):  # as the example runs
        data = reg.load_data()
        base = reg.train(data, "none", None, EPOCHS, every=100)
        l2, l2_rows = reg.select(data, "l2", L2_GRID, EPOCHS, every=100)
        dropout, dropout_rows = reg.select(data, "dropout", DROPOUT_GRID, EPOCHS, every=100)
    return {
        "data": data,
        "none": base,
        "l2": l2,
        "dropout": dropout,
        "rows": {"l2": l2_rows, "dropout": dropout_rows},
    }


def test_split_is_stratified_and_standardized_on_train_only(experiment):
    data = experiment["data"]
    assert [len(data.y_train), len(data.y_dev), len(data.y_test)] == [285, 142, 142]
    benign = [float(np.mean(y)) for y in (data.y_train, data.y_dev, data.y_test)]
    assert max(benign) - min(benign) < 0.01  # 357 / 569 = 62.7% in every part
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0, atol=1e-4)
    assert np.abs(data.x_dev.mean(axis=0)).max() > 1e-3  # dev statistics were not used


def test_the_three_models_start_from_the_same_weights():
    first = [
        reg.build_model(2, l2=l2, dropout=rate) for l2, rate in ((None, 0), (10, 0), (None, 0.6))
    ]
    weights = [list(m.get_weights().values()) for m in first]
    for other in weights[1:]:
        assert len(other) == len(weights[0])
        for a, b in zip(weights[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_unregularized_net_overfits_and_diagnosis_is_variance(experiment):
    base = experiment["none"]
    assert base.scores["train"]["accuracy"] > 0.93
    assert base.gap > 0.20  # train - dev accuracy
    diagnosis = reg.diagnosis_of(base)
    assert diagnosis.dominant == "variance"
    assert reg.variance_gap(diagnosis) == pytest.approx(base.gap, abs=1e-6)
    assert "variance" in [gap.name for gap in diagnosis.problems]
    curves = base.curves  # dev cost rises while train cost falls
    assert curves["train_cost"][-1] < curves["train_cost"][0]
    assert curves["dev_cost"][-1] > 2 * min(curves["dev_cost"])


@pytest.mark.parametrize("kind", ["l2", "dropout"])
def test_regularization_closes_the_dev_gap_without_losing_dev_accuracy(experiment, kind):
    base, run = experiment["none"], experiment[kind]
    assert run.gap < base.gap - 0.15
    assert abs(run.gap) < 0.06
    assert run.scores["dev"]["accuracy"] >= base.scores["dev"]["accuracy"] + 0.05
    diagnosis = reg.diagnosis_of(run)
    assert "variance" not in [gap.name for gap in diagnosis.problems]
    assert diagnosis.dominant != "variance"
    line = reg.improvement(base, run)
    assert "variance gap" in line and "dominant problem variance ->" in line


@pytest.mark.parametrize("kind", ["l2", "dropout"])
def test_hyperparameters_are_chosen_on_dev(experiment, kind):
    run, rows = experiment[kind], experiment["rows"][kind]
    assert "test" not in run.scores  # the sweep never evaluates the test set
    best = max(rows, key=lambda r: (r["dev_accuracy"], -r["dev_cost"]))
    assert run.value == best["value"]
    assert run.scores["dev"]["accuracy"] == best["dev_accuracy"]


def test_l2_shrinks_the_weights(experiment):
    base, l2, dropout = (reg.kernel_norm(experiment[k].model) for k in ("none", "l2", "dropout"))
    assert l2 < 0.1 * base
    assert l2 < dropout


def test_decision_boundary_writes_a_small_png(experiment, tmp_path):
    data, run = experiment["data"], experiment["l2"]
    path = decision_boundary(
        run.model, data.x_train, data.y_train, tmp_path / "b.png", "L2", resolution=60
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 100_000
    with pytest.raises(ValueError, match="2-D inputs"):
        decision_boundary(run.model, np.zeros((3, 3)), np.zeros(3), tmp_path / "x.png", "x")


def test_script_writes_its_outputs(tmp_path):
    assert reg.main(["--out", str(tmp_path), "--epochs", "20"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [row["model"] for row in results["models"]] == ["none", "l2", "dropout"]
    assert set(results["chosen"]) == {"l2", "dropout"}
    assert results["chosen"]["l2"] in reg.L2_GRID
    assert "diagnosis" in (tmp_path / "report.md").read_text()
    for name in ("learning_curves", "sweep", "boundary_none", "boundary_l2", "boundary_dropout"):
        assert 0 < (tmp_path / f"{name}.png").stat().st_size < 100_000
