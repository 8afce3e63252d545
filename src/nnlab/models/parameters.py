"""One flat buffer for all trainable parameters, and one for their gradients.

After packing, ``layer.params[key]`` and ``layer.grads[key]`` are reshaped views into
``FlatParameters.values`` and ``FlatParameters.grads``.  An optimizer step is then a few
whole-buffer operations, a snapshot (early stopping) is one copy, and saving walks
``entries``.  Each view starts on a 64-byte boundary; the padding between views stays 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import backend

_ALIGN = 16  # elements: 64 bytes of float32


@dataclass
class Entry:
    """Where one parameter lives: ``values[offset : offset + size]`` reshaped to ``shape``."""

    layer: object
    key: str
    offset: int
    shape: tuple

    @property
    def name(self) -> str:
        return f"{self.layer.name}/{self.key}"


class FlatParameters:
    """Pack the trainable parameters of ``layers`` into two contiguous buffers."""

    def __init__(self, layers, dtype):
        xp = backend.xp
        self.entries: list[Entry] = []
        offset = 0
        for layer in layers:
            if not layer.trainable:
                continue
            for key, value in layer.params.items():
                self.entries.append(Entry(layer, key, offset, tuple(value.shape)))
                offset += -(-value.size // _ALIGN) * _ALIGN
        self.values = xp.zeros(offset, dtype=dtype)
        self.grads = xp.zeros(offset, dtype=dtype)
        for entry in self.entries:
            initial = entry.layer.params[entry.key]
            entry.layer.params[entry.key] = self.view(self.values, entry)
            entry.layer.params[entry.key][...] = initial
            entry.layer.grads[entry.key] = self.view(self.grads, entry)

    @staticmethod
    def view(buffer, entry: Entry):
        size = 1
        for d in entry.shape:
            size *= d
        return buffer[entry.offset : entry.offset + size].reshape(entry.shape)

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def spans(self) -> list[tuple[int, int]]:
        """(start, stop) of each parameter in the buffers (what clipnorm clips one by one)."""
        return [(e.offset, e.offset + math.prod(e.shape)) for e in self.entries]
