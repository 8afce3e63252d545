"""The array-module seam: ``xp`` is NumPy by default and CuPy when asked.

Layer code does all array math through ``backend.xp`` (looked up at call time, so
``set_backend("cupy")`` switches every layer without touching its code).  The default
floating dtype is float32; gradient checking switches to float64 with :func:`use_dtype`.

Randomness is explicit: :func:`make_rng` returns a seeded generator of the active array
module, and layers receive it from their model; nothing here touches global random state.
"""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType

import numpy as np

xp: ModuleType = np
_floatx = np.dtype(np.float32)


def set_backend(name: str) -> ModuleType:
    """Select the array module: ``"numpy"`` (default) or ``"cupy"`` (needs a GPU)."""
    global xp
    if name not in ("numpy", "cupy"):
        raise ValueError(f"set_backend: expected 'numpy' or 'cupy', got {name!r}")
    xp = importlib.import_module(name)
    return xp


def floatx() -> np.dtype:
    """The default floating dtype of new parameters and inputs (float32 unless changed)."""
    return _floatx


def set_floatx(dtype) -> None:
    """Set the default floating dtype (``"float32"`` or ``"float64"``)."""
    global _floatx
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"set_floatx: expected float32 or float64, got {dtype}")
    _floatx = dtype


@contextlib.contextmanager
def use_dtype(dtype):
    """Temporarily change the default floating dtype (``with use_dtype("float64"): ...``)."""
    previous = _floatx
    set_floatx(dtype)
    try:
        yield
    finally:
        set_floatx(previous)


def make_rng(seed: int | None = None):
    """A seeded random generator of the active array module (NumPy's PCG64 by default)."""
    return xp.random.default_rng(seed)


def to_numpy(a) -> np.ndarray:
    """Bring an array of the active module back to host NumPy (a no-op under NumPy)."""
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    return get() if get is not None else np.asarray(a)


def asarray(a, dtype=None):
    """Move ``a`` to the active array module with the given dtype (default :func:`floatx`)."""
    return xp.asarray(a, dtype=dtype or _floatx)
