"""Scratch arrays per thread, carved from buffers that grow and are kept.

A convolution processed in bands (tiled im2col, Winograd) needs the same few scratch arrays
for every band, on each thread that runs bands; a layer's backward needs a few arrays (dZ
of its ReLU, the input-gradient slabs) only while it runs.  Fresh arrays of several MB on
every call would cost page faults (the kernel maps and zeroes each page on first touch)
and, for arrays of tens of MB, sometimes a stall while it assembles huge pages; arrays kept
per layer would add up over the layers, although only one layer's are in use at a time.
So each thread keeps one buffer per *name*, kept from call to call and shared by every
layer: its pages are touched once, and it is as large as the largest request, not the sum.
Callers that are active at the same time on one thread (a layer's backward, and the
banded convolution it calls) use different names.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import backend

_local = threading.local()
ALIGN_BYTES = 64  # each array starts on a cache line


def workspace(shapes, dtype, name: str = "bands") -> list:
    """Arrays of these shapes and dtype (contents undefined: whatever the last call left),
    views into this thread's buffer called ``name``; valid until this thread's next call
    with that name."""
    itemsize = np.dtype(dtype).itemsize
    counts = [math.prod(shape) for shape in shapes]
    sizes = [-(-count * itemsize // ALIGN_BYTES) * ALIGN_BYTES for count in counts]
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    needed = sum(sizes) + ALIGN_BYTES
    if buffer is None or buffer.nbytes < needed or _module_changed(buffer):
        buffer = buffers.pop(name, None)
        del buffer  # the old buffer is freed before the larger one is made
        buffer = buffers[name] = backend.xp.empty(needed, dtype=np.uint8)
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
