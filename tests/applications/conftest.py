"""Fixtures of the pretrained-weight tests (VGG16, MTCNN, the face descriptor)."""

import pytest


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache folder for the test (``NNLAB_CACHE_DIR``): ~/.cache/nnlab is never
    touched.  Modules whose every test needs it say ``pytestmark =
    pytest.mark.usefixtures("private_cache")``."""
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
