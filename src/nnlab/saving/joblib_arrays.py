"""Arrays out of a joblib file (raw or lz4-compressed) without running anything in it.

A joblib file is a pickle, and a pickle can run any code while it loads: nnlab never calls
``pickle.load`` or ``joblib.load`` on a file.  Where real weights ship only as joblib files
(``mtcnn==1.0.0``'s P-, R- and O-Net), :func:`read_joblib_arrays` unpickles them with an
allowlist: joblib's ``NumpyArrayWrapper``, ``numpy.ndarray`` and ``numpy.dtype`` are the
only names the pickle may look up, and an array is read only if it is a plain array of
booleans or numbers (an object array's bytes are a nested pickle: refused before anything
reads them).  Anything else, ``os.system`` included, raises :class:`UnsafePickleError`
without being called (tests/applications/test_mtcnn.py feeds it crafted pickles).  This is
the one module of nnlab that touches pickle's machinery.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..exceptions import ModelFileError


class UnsafePickleError(ModelFileError):
    """A weights pickle asks for something other than plain numeric arrays."""


_LZ4_MAGIC = b'\x04"M\x18'


def _allowed_globals() -> dict:
    from joblib.numpy_pickle import NumpyArrayWrapper

    return {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"): NumpyArrayWrapper,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


def _restricted_unpickler_class():
    """A joblib NumpyUnpickler whose find_class answers only from the allowlist and whose
    BUILD reads only numeric, plain-ndarray wrappers (an object array's bytes are a nested
    pickle; they are refused before anything reads them)."""
    from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler

    allowed = _allowed_globals()

    class RestrictedUnpickler(NumpyUnpickler):
        def find_class(self, module, name):
            found = allowed.get((module, name))
            if found is None:
                raise UnsafePickleError(
                    f"{self.filename}: the pickle asks for {module}.{name}, which a weights "
                    f"file never needs (allowed: {', '.join(f'{m}.{n}' for m, n in allowed)}); "
                    "refused without calling it"
                )
            return found

        def load_build(self):
            pickle._Unpickler.load_build(self)
            wrapper = self.stack[-1]
            if not isinstance(wrapper, NumpyArrayWrapper):
                return
            dtype, shape = getattr(wrapper, "dtype", None), getattr(wrapper, "shape", None)
            if (
                not isinstance(dtype, np.dtype)
                or dtype.hasobject
                or dtype.kind not in "biuf"
                or getattr(wrapper, "subclass", None) is not np.ndarray
                or not isinstance(shape, tuple)
                or not all(isinstance(d, int) and d >= 0 for d in shape)
                or getattr(wrapper, "order", None) not in ("C", "F")
            ):
                raise UnsafePickleError(
                    f"{self.filename}: an array of dtype {dtype!r} (subclass "
                    f"{getattr(wrapper, 'subclass', None)!r}) is not a plain numeric array; "
                    "refused (object arrays are nested pickles)"
                )
            self.stack[-1] = wrapper.read(self, self.ensure_native_byte_order)

    RestrictedUnpickler.dispatch = NumpyUnpickler.dispatch.copy()
    RestrictedUnpickler.dispatch[pickle.BUILD[0]] = RestrictedUnpickler.load_build
    return RestrictedUnpickler


def read_joblib_arrays(path) -> list[np.ndarray]:
    """The list of arrays in a joblib file (raw or lz4-compressed), unpickled safely.

    Only joblib's array wrapper, ``numpy.ndarray`` and ``numpy.dtype`` may be named by the
    pickle, and only arrays of booleans or numbers read: no other class or function is
    ever looked up, so nothing in the file runs.

    Raises:
        UnsafePickleError: the pickle names anything else (``os.system``, ...) or holds an
            object array.
        ModelFileError: missing, not a joblib pickle, damaged, or not a list of arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"weights file {str(path)!r} does not exist")
    with open(path, "rb") as raw:
        head = raw.read(4)
    if head == _LZ4_MAGIC:
        import lz4.frame

        opener = lambda: lz4.frame.open(path, "rb")  # noqa: E731
    elif head[:1] == b"\x80":  # a pickle's PROTO opcode
        opener = lambda: open(path, "rb")  # noqa: E731
    else:
        raise ModelFileError(f"{path}: not a joblib pickle (raw or lz4), starts {head!r}")
    unpickler_class = _restricted_unpickler_class()
    try:
        with opener() as stream:
            obj = unpickler_class(str(path), stream, True).load()
    except UnsafePickleError:
        raise
    except Exception as err:  # truncated streams, bad opcodes, lz4 frame errors
        raise ModelFileError(f"{path}: cannot be read as a joblib pickle ({err})") from None
    if not isinstance(obj, list | tuple) or not all(isinstance(a, np.ndarray) for a in obj):
        raise ModelFileError(f"{path}: expected a list of arrays, got {type(obj).__name__}")
    return list(obj)
