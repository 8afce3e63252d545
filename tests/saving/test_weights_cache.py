"""cached_weights: the cache when valid, else made once and written; never stopped by a
read-only cache folder."""

import numpy as np
import pytest

from nnlab.exceptions import ModelFileError
from nnlab.saving.weights_cache import cached_weights

WEIGHTS = {"w": np.ones(3, np.float32)}


def read(path):
    if path.read_text() != "good":
        raise ModelFileError(f"{path}: damaged")
    return WEIGHTS


def write(path, weights, source=None):
    path.write_text("good")


def test_a_valid_cache_is_read_and_nothing_is_made(tmp_path):
    cache = tmp_path / "w.safetensors"
    cache.write_text("good")
    assert cached_weights(cache, read, lambda state: pytest.fail("made"), write, "test") is WEIGHTS


@pytest.mark.parametrize("content, says", [(None, "does not exist"), ("bad", "is damaged")])
def test_missing_or_damaged_caches_are_made_and_written(tmp_path, content, says):
    cache = tmp_path / "w.safetensors"
    if content is not None:
        cache.write_text(content)
    states = []
    made = cached_weights(
        cache, read, lambda state: states.append(state) or (WEIGHTS, "pkg"), write, "test"
    )
    assert made is WEIGHTS and says in states[0] and cache.read_text() == "good"


def test_a_cache_that_cannot_be_written_warns_and_still_gives_the_weights(tmp_path):
    def refuse(path, weights, source=None):
        raise PermissionError("read-only")

    with pytest.warns(UserWarning, match="could not cache the test weights"):
        made = cached_weights(
            tmp_path / "w.safetensors", read, lambda s: (WEIGHTS, None), refuse, "test"
        )
    assert made is WEIGHTS
