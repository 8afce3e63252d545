"""The verified safetensors container: reading through the library, errors, its imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from nnlab.exceptions import ModelFileError
from nnlab.saving import container

SRC = Path(__file__).resolve().parents[2] / "src" / "nnlab"


def test_read_gives_arrays_of_their_own_and_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    weights = {"a/W": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2)}
    save_file(weights, str(path), metadata={"format": "x"})
    tensors, metadata = container.read_safetensors(path)
    assert metadata == {"format": "x"}
    save_file({"a/W": np.zeros((2, 3), np.float32), "b": np.zeros(2)}, str(path))
    for name, value in weights.items():  # rewriting the file does not change them
        np.testing.assert_array_equal(tensors[name], value)
        assert tensors[name].dtype == value.dtype
    assert container.read_safetensors(path)[1] == {}  # no metadata


def test_digest_covers_metadata_and_tensors(tmp_path):
    tensors = {"w": np.arange(4, dtype=np.float32)}
    metadata = {"format": "x"}
    metadata["sha256"] = container.file_digest(tensors, metadata)
    container.verify_digest("f", tensors, metadata)
    for changed_tensors, changed_metadata in (
        ({"w": tensors["w"] + 1}, metadata),
        ({"w": tensors["w"].astype(np.float64)}, metadata),
        (tensors, {**metadata, "format": "y"}),
    ):
        with pytest.raises(ModelFileError, match=r"f: the weights were altered"):
            container.verify_digest("f", changed_tensors, changed_metadata)


# A fresh interpreter: once ml_dtypes is imported (onnx does it), NumPy knows bfloat16.
BF16_SCRIPT = """
import sys
import numpy as np
from nnlab.exceptions import ModelFileError
from nnlab.saving import container
try:
    np.dtype("bfloat16")
    sys.exit("NumPy knows bfloat16 here: the test needs an interpreter where it does not")
except TypeError:
    pass
try:
    container.read_safetensors(sys.argv[1])
except ModelFileError as err:
    print(err)
"""


def test_a_dtype_numpy_lacks_is_a_model_file_error(tmp_path):
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    done = subprocess.run(
        [sys.executable, "-c", BF16_SCRIPT, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"{path}: the weights cannot be read" in done.stdout


def test_container_imports_no_model_code():
    tree = ast.parse((SRC / "saving" / "container.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    third_party = {name for name in imported if name.split(".")[0] in ("numpy", "safetensors")}
    local = {name for name in imported if name.startswith(".")}
    assert local <= {"..exceptions", "..backend"}, local
    stdlib = imported - third_party - local - {"__future__"}
    assert stdlib <= {"hashlib", "json", "os", "tempfile", "pathlib"}, stdlib


def test_saving_and_applications_import_no_private_names_from_other_modules():
    files = [*(SRC / "saving").glob("*.py"), *(SRC / "applications").glob("*.py")]
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{file.name} imports {private} from {node.module}"
