"""Scratch arrays per thread, carved from one buffer that grows and is kept.

A convolution processed in bands (tiled im2col, Winograd) needs the same few scratch arrays
for every band, on each thread that runs bands.  Fresh arrays of several MB on every call
would cost page faults (the kernel maps and zeroes each page on first touch) and, for
arrays of tens of MB, sometimes a stall while it assembles huge pages; one buffer per
thread, kept from call to call, touches its pages once.  Its size is the largest set of
scratch arrays any call asked this thread for.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import backend

_local = threading.local()
ALIGN_BYTES = 64  # each array starts on a cache line


def workspace(shapes, dtype) -> list:
    """Arrays of these shapes and dtype (contents undefined: whatever the last call left),
    views into this thread's buffer; valid until this thread's next call."""
    itemsize = np.dtype(dtype).itemsize
    counts = [math.prod(shape) for shape in shapes]
    sizes = [-(-count * itemsize // ALIGN_BYTES) * ALIGN_BYTES for count in counts]
    buffer = getattr(_local, "buffer", None)
    needed = sum(sizes) + ALIGN_BYTES
    if buffer is None or buffer.nbytes < needed or _module_changed(buffer):
        buffer = _local.buffer = backend.xp.empty(needed, dtype=np.uint8)
    offset = -_address(buffer) % ALIGN_BYTES
    arrays = []
    for shape, count, size in zip(shapes, counts, sizes, strict=True):
        flat = buffer[offset : offset + count * itemsize].view(dtype)
        arrays.append(flat.reshape(shape))
        offset += size
    return arrays


def _address(buffer) -> int:
    return buffer.data.ptr if hasattr(buffer.data, "ptr") else buffer.ctypes.data


def _module_changed(buffer) -> bool:
    """The array module switched (NumPy <-> CuPy) since the buffer was made."""
    return not isinstance(buffer, backend.xp.ndarray)
