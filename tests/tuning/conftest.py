"""The reference study of the tuning tests, trained once per session."""

from __future__ import annotations

import pytest
from searches import write_search

from nnlab import tuning


@pytest.fixture(scope="session")
def coarse(tmp_path_factory):
    """A 4-trial random search on moons (the reference run of several tests)."""
    root = tmp_path_factory.mktemp("coarse")
    config = write_search(root / "moons_search.toml")
    return tuning.tune(config, 4, out_dir=root / "out", verbose=False)
