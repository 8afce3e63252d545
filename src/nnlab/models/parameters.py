"""One flat buffer for all trainable parameters, and one for their gradients.

After packing, ``layer.params[key]`` and ``layer.grads[key]`` are reshaped views into
``FlatParameters.values`` and ``FlatParameters.grads``.  An optimizer step is then a few
whole-buffer operations, a snapshot (early stopping) is one copy, and saving walks
``entries``.  Each view starts on a 64-byte boundary; the padding between views stays 0.

Layers shared between models (a second ``Model`` over a trained model's layers: an encoder
sub-model, a one-step decoder) are packed once.  A parameter another buffer already holds
(``layer.param_homes[key]``) stays there: moving it would cut that buffer's model (and its
optimizer) off its own parameters.  So

    the same parameters as one existing buffer      -> that buffer itself (``pack``)
    otherwise, parameters already held elsewhere    -> "borrowed": this buffer keeps a copy,
                                                       refreshed by ``gather`` and written
                                                       back by ``scatter``

and an optimizer step on a model with borrowed parameters is gather, step, scatter: the
layers' arrays (shared with the other model) are what it updates.
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
    """Pack the trainable parameters of ``layers`` into two contiguous buffers (parameters
    another buffer already holds are borrowed: module docstring)."""

    def __init__(self, layers, dtype):
        xp = backend.xp
        self.entries: list[Entry] = []
        offset = 0
        for layer in _trainable(layers):
            for key, value in layer.params.items():
                self.entries.append(Entry(layer, key, offset, tuple(value.shape)))
                offset += -(-value.size // _ALIGN) * _ALIGN
        self.values = xp.zeros(offset, dtype=dtype)
        self.grads = xp.zeros(offset, dtype=dtype)
        #: True once ``release`` moved the parameters out (the models using it repack)
        self.released = False
        #: the entries whose parameters another buffer holds (copied in by ``gather``)
        self.borrowed = [e for e in self.entries if home(e.layer, e.key) is not None]
        borrowed = {id(e) for e in self.borrowed}
        for entry in self.entries:
            if id(entry) in borrowed:
                continue
            layer, key = entry.layer, entry.key
            initial = layer.params[key]
            layer.params[key] = self.view(self.values, entry)
            layer.params[key][...] = initial
            layer.grads[key] = self.view(self.grads, entry)
            homes(layer)[key] = self
        self.gather()

    @classmethod
    def pack(cls, layers, dtype) -> FlatParameters:
        """The buffers of ``layers``' trainable parameters: the existing ones when another
        model packed exactly these parameters (its buffers are then this model's too: a
        step of either moves both), else new ones (borrowing what others hold)."""
        wanted = {(id(layer), key) for layer in _trainable(layers) for key in layer.params}
        found = {id(h): h for layer in _trainable(layers) for key in layer.params
                 if (h := home(layer, key)) is not None}  # fmt: skip
        if len(found) == 1:
            (existing,) = found.values()
            held = {(id(e.layer), e.key) for e in existing.entries}
            if held == wanted and not existing.borrowed and existing.values.dtype == dtype:
                return existing
        return cls(layers, dtype)

    def gather(self) -> None:
        """Copy the borrowed parameters and their gradients into this model's buffers."""
        for entry in self.borrowed:
            self.view(self.values, entry)[...] = entry.layer.params[entry.key]
            self.view(self.grads, entry)[...] = entry.layer.grads[entry.key]

    def scatter(self) -> None:
        """Write the borrowed parameters back from this model's buffers (after a step)."""
        for entry in self.borrowed:
            entry.layer.params[entry.key][...] = self.view(self.values, entry)

    def release(self) -> None:
        """Move every parameter these buffers hold out into an array of its own (same
        values, a zeroed gradient), so that the layers no longer live here: what a model
        does before repacking after a ``trainable`` flag changed."""
        xp = backend.xp
        borrowed = {id(e) for e in self.borrowed}
        for entry in self.entries:
            layer, key = entry.layer, entry.key
            if id(entry) in borrowed or homes(layer).get(key) is not self:
                continue
            layer.params[key] = layer.params[key].copy()
            layer.grads[key] = xp.zeros_like(layer.params[key])
            del homes(layer)[key]
        self.released = True

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


def _trainable(layers):
    return [layer for layer in layers if layer.trainable]


def homes(layer) -> dict:
    """``layer.param_homes``: which FlatParameters holds each of its parameters."""
    found = getattr(layer, "param_homes", None)
    if found is None:
        found = layer.param_homes = {}
    return found


def home(layer, key: str) -> FlatParameters | None:
    """The buffers holding ``layer.params[key]``, if a model packed it and it still lives
    there (``set_weights`` copies in place; a layer built anew has new arrays)."""
    holder = homes(layer).get(key)
    if holder is None or not backend.xp.may_share_memory(layer.params[key], holder.values):
        return None
    return holder
