"""Pretrained weights kept in nnlab's cache: read from there, or made once from the files a
package ships (VGG16's ONNX file, MTCNN's joblib files, face-api's quantized binary) and
written there.  What the three weight loaders share.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from ..exceptions import ModelFileError


def cached_weights(cache: Path, read: Callable, make: Callable, write: Callable, what: str) -> dict:
    """The weights in ``cache`` (``read(cache)``, the file verified), else
    ``make(state) -> (weights, source)``, written with ``write(cache, weights, source)``.

    ``state`` says why the cache was not used ("... does not exist" or "the cached file ...
    is damaged (...)"): ``make`` raises with it, and with how to get the package's files,
    when it cannot make them.  A damaged cache is remade; a cache folder that cannot be
    written (read-only) gives a warning, never an error: the weights are still returned.
    """
    damaged = None
    if cache.is_file():
        try:
            return read(cache)
        except ModelFileError as err:
            damaged = err
    state = (
        f"the cached file {cache} is damaged ({damaged})" if damaged else f"{cache} does not exist"
    )
    weights, source = make(state)
    try:
        write(cache, weights, source=source)
    except OSError as err:  # a read-only cache folder must not stop the model
        warnings.warn(f"could not cache the {what} weights at {cache}: {err}", stacklevel=3)
    return weights
