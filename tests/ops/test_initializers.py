"""The Keras initializers the course's ResNet lab uses: RandomUniform and Constant."""

import numpy as np
import pytest

from nnlab import registry
from nnlab.exceptions import ConfigError
from nnlab.ops.initializers import Constant, RandomUniform


def test_random_uniform_stays_in_its_range_and_fills_it():
    w = RandomUniform()((200, 300), np.random.default_rng(0), "float64")
    assert -0.05 <= w.min() < -0.049 and 0.049 < w.max() < 0.05
    assert abs(w.mean()) < 1e-3 and w.std() == pytest.approx(0.1 / np.sqrt(12), rel=0.01)
    w = registry.get("initializer", {"name": "random_uniform", "minval": 1, "maxval": 3})(
        (1000,), np.random.default_rng(1), "float32"
    )
    assert w.dtype == np.float32 and 1 <= w.min() and w.max() < 3
    with pytest.raises(ConfigError, match="minval must be < maxval"):
        RandomUniform(1.0, 1.0)


def test_constant_fills_and_round_trips():
    init = registry.get("initializer", {"name": "constant", "value": 1.5})
    np.testing.assert_array_equal(init((2, 3), None, "float64"), np.full((2, 3), 1.5))
    assert registry.get_config(Constant(2)) == {"name": "constant", "value": 2.0}
