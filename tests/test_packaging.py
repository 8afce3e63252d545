"""Packaging: pyproject.toml in the forms that setuptools reads without a deprecation warning
(``pip install -e .`` prints none)."""

import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string_and_its_file_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # not the deprecated table {text = "MIT"}
    assert project["license-files"] and all((ROOT / f).is_file() for f in project["license-files"])


def test_setuptools_reads_the_project_without_deprecation_warnings(monkeypatch):
    pytest.importorskip("setuptools", minversion="77")  # 77: the SPDX license string
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    monkeypatch.chdir(ROOT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.license_expression == "MIT"
    assert [str(w.message) for w in caught] == []


def test_the_word_bank_is_package_data():
    pytest.importorskip("setuptools", minversion="77")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    patterns = dist.package_data["nnlab.data"]
    assert any((ROOT / "src/nnlab/data").glob(pattern) for pattern in patterns)
