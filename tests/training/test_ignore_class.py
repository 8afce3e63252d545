"""ignore_class: Hugging Face's -100 labels count for nothing, as torch's ignore_index."""

import numpy as np
import pytest

from nnlab import layers as L
from nnlab.training.losses import CategoricalCrossentropy
from nnlab.training.model import Model

torch = pytest.importorskip("torch")


def test_a_model_step_equals_torch_cross_entropy_with_ignore_index():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4))
    y = rng.integers(0, 6, (3, 5))
    y[0, 3:] = -100
    y[2, 0] = -100
    inputs = L.Input((5, 4))
    model = Model(inputs, L.Dense(6, activation="softmax")(inputs), dtype="float64", seed=0)
    model.compile(optimizer="sgd", loss=CategoricalCrossentropy(ignore_class=-100))
    loss, _, _ = model.compute_gradients(x, model.prepare_targets(y, 3))
    dense = model.layers[-1]
    w = torch.tensor(np.array(dense.params["W"]), requires_grad=True)
    b = torch.tensor(np.array(dense.params["b"]), requires_grad=True)
    logits = torch.tensor(x) @ w + b
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 6), torch.tensor(y).reshape(-1), ignore_index=-100)  # fmt: skip
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-9)
    np.testing.assert_allclose(dense.grads["W"], w.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dense.grads["b"], b.grad.numpy(), atol=1e-12)
    assert model.evaluate(x, y)["loss"] == pytest.approx(expected.item(), rel=1e-9)


def test_labels_out_of_range_other_than_the_ignored_one_are_refused():
    loss = CategoricalCrossentropy(ignore_class=-100)
    loss.prepare(np.array([[0, -100]]), (2, 3))
    with pytest.raises(Exception, match=r"class labels in \[0, 2\]"):
        loss.prepare(np.array([[0, -1]]), (2, 3))
    assert CategoricalCrossentropy(ignore_class=-100).get_config()["ignore_class"] == -100
