"""L2Normalize against torch.nn.functional.normalize where the norm is clamped (a zero
vector, a vector shorter than epsilon) as well as where it is not; the harness
(test_harness.py) covers the generic checks."""

import numpy as np
import pytest
from helpers import assert_close, compare_with_torch

from nnlab import L2Normalize
from nnlab.exceptions import ConfigError, ShapeError

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("epsilon", [1e-12, 0.5])
def test_equals_torch_normalize_with_tiny_and_zero_vectors(epsilon):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 4))  # (m, T, d): every position's vector on its own
    x[0, 0] = 0.0  # a zero vector: y = 0, dx = dy / eps
    x[1, 1] *= 1e-3  # shorter than epsilon = 0.5
    out, _, _ = compare_with_torch(
        L2Normalize(epsilon=epsilon),
        lambda x_t, p: F.normalize(x_t, dim=-1, eps=epsilon),
        x,
        dtype="float64",
    )
    lengths = np.linalg.norm(out, axis=-1)
    assert_close(lengths[2:], np.ones((3, 2)), what="unit length")
    assert lengths[0, 0] == 0.0


def test_float32_keeps_its_dtype_and_unit_length():
    x = np.random.default_rng(1).standard_normal((7, 64)).astype(np.float32) * 30
    layer = L2Normalize()
    layer.build((64,), np.random.default_rng(0), "float32")
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-6)
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_bad_epsilon_and_shape_are_refused():
    with pytest.raises(ConfigError, match="epsilon"):
        L2Normalize(epsilon=0)
    layer = L2Normalize(name="unit")
    layer.build((4,), np.random.default_rng(0), "float64")
    with pytest.raises(ShapeError, match='L2Normalize layer "unit"'):
        layer.forward(np.ones((2, 3)))
