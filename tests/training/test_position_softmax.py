"""A softmax over a sequence's positions (extractive QA's start and end): Dense(2) per token,
MaskLogits, Permute((2, 1)) and CategoricalCrossentropy(from_logits=True) over an open
class axis (T = None) equal torch's masked cross-entropies, averaged."""

import numpy as np
import pytest

from nnlab import layers as L
from nnlab.exceptions import ConfigError, InputValueError, ShapeError
from nnlab.training.losses import CategoricalCrossentropy
from nnlab.training.model import Model

torch = pytest.importorskip("torch")


def span_model():
    hidden, mask = L.Input((None, 4), name="hidden"), L.Input((None,), name="mask")
    logits = L.Dense(2, kernel_initializer="random_normal", bias_initializer="random_normal")(
        hidden
    )
    logits = L.Permute((2, 1))(L.MaskLogits()([logits, mask]))
    model = Model([hidden, mask], logits, dtype="float64", seed=0)
    model.compile(optimizer="sgd", loss=CategoricalCrossentropy(from_logits=True))
    return model


def test_start_and_end_losses_and_gradients_equal_torch():
    rng = np.random.default_rng(0)
    m, t = 4, 7
    h = rng.standard_normal((m, t, 4))
    mask = np.ones((m, t))
    mask[:, :2] = 0  # "the question"
    mask[1, 5:] = mask[3, 4:] = 0  # padding
    y = np.array([[2, 3], [4, 4], [2, 6], [3, 3]])
    model = span_model()
    assert model.output_shapes == [(2, None)]
    loss, _, logits = model.compute_gradients([h, mask], model.prepare_targets(y, m))
    dense = next(layer for layer in model.layers if isinstance(layer, L.Dense))
    w = torch.tensor(np.array(dense.params["W"]), requires_grad=True)
    b = torch.tensor(np.array(dense.params["b"]), requires_grad=True)
    h_t = torch.tensor(h, requires_grad=True)
    z = (h_t @ w + b).masked_fill(torch.tensor(mask == 0)[..., None], -1e9)
    y_t = torch.tensor(y)
    F = torch.nn.functional
    expected = (F.cross_entropy(z[..., 0], y_t[:, 0]) + F.cross_entropy(z[..., 1], y_t[:, 1])) / 2
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(logits, z.detach().permute(0, 2, 1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(dense.grads["W"], w.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dense.grads["b"], b.grad.numpy(), atol=1e-12)
    # other lengths in the next batch: the class axis is open
    loss2, _, _ = model.compute_gradients(
        [h[:, :5], mask[:, :5]], model.prepare_targets(np.array([[2, 3]] * m), m)
    )
    assert np.isfinite(loss2)


def test_labels_must_be_positions():
    loss = CategoricalCrossentropy(from_logits=True)
    assert loss.prepare(np.array([[0, 40]]), (2, None)).dtype == np.int64
    with pytest.raises(InputValueError, match="class labels >= 0"):
        loss.prepare(np.array([[0, -1]]), (2, None))


def test_mask_logits_and_permute_check_their_arguments():
    with pytest.raises(ConfigError, match="permutation of 1..n"):
        L.Permute((1, 3))
    with pytest.raises(ConfigError, match="dims"):
        L.Permute((2, 1))(L.Input((3,)))
    with pytest.raises(ConfigError, match="finite"):
        L.MaskLogits(fill_value=float("-inf"))
    with pytest.raises(ShapeError, match="first axes"):
        L.MaskLogits()([L.Input((5, 2)), L.Input((4,))])
    layer = L.MaskLogits(fill_value=-7.0)
    layer.build([(3, 2), (3,)], np.random.default_rng(0), "float64")
    out = layer.forward([np.ones((1, 3, 2)), np.array([[1.0, 0.0, 1.0]])])
    np.testing.assert_array_equal(out[0, :, 0], [1.0, -7.0, 1.0])
