"""The functional API's symbolic values: ``Input`` -> layer calls -> ``Model(inputs, outputs)``.

Calling a layer on a :class:`Node` (or on a list of nodes, for merge layers such as ``Add``)
records a call instead of computing anything, and returns the call's output node:

    inputs = Input((28, 28, 1))
    x = Conv2D(8, 3, padding="same", activation="relu")(inputs)
    shortcut = x
    x = Conv2D(8, 3, padding="same")(x)
    x = Add()([x, shortcut])                      # a residual connection
    outputs = Dense(10, activation="softmax")(Flatten()(x))
    model = Model(inputs, outputs)

A layer may be called more than once (a siamese encoder applied to two images): every call
is a node of its own, with its own cache at run time, and all calls share the layer's
weights.  A node's ``shape`` excludes the batch axis.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError, ShapeError


class Node:
    """The (symbolic) output of one call ``layer(parents)``.

    Attributes:
        layer: the layer called (an ``Input`` layer for a model input).
        parents: the nodes it was called on, in order.
        shape: the output shape without the batch axis.
        dtype: the output's dtype kind: ``None`` for the model's float type, or an integer
            dtype (token ids) for an ``Input(shape, dtype="int32")``.
    """

    def __init__(self, layer, parents, shape, dtype=None):
        self.layer = layer
        self.parents = list(parents)
        self.shape = tuple(shape)
        self.dtype = None if dtype is None else np.dtype(dtype)

    @property
    def name(self) -> str:
        """The layer's name, with the call number for a layer called more than once."""
        calls = self.layer.inbound_nodes
        if len(calls) < 2:
            return self.layer.name
        return f"{self.layer.name}:{calls.index(self)}"

    def __repr__(self) -> str:
        return f"Node({self.layer!r}, shape={self.shape})"


def as_node(x):
    """A Node for a Node or an Input layer (which carries its own node), else None."""
    node = getattr(x, "node", x)
    return node if isinstance(node, Node) else None


def is_symbolic(x) -> bool:
    if isinstance(x, list | tuple):
        return bool(x) and all(as_node(item) is not None for item in x)
    return as_node(x) is not None


def call_symbolic(layer, x) -> Node:
    """Record ``layer(x)`` and return its output node.

    Every call of one layer must see the input shape of its first call (the layer builds
    its weights for that shape once).
    """
    multi = isinstance(x, list | tuple)
    if multi != layer.multi_input:
        wanted = "a list of nodes" if layer.multi_input else "one node"
        raise ConfigError(f"{layer.describe()}: expected {wanted}, got {type(x).__name__}")
    parents = [as_node(item) for item in (x if multi else [x])]
    shapes = [p.shape for p in parents]
    if layer.inbound_nodes:
        first = [p.shape for p in layer.inbound_nodes[0].parents]
        if shapes != first:
            raise ShapeError(
                f"{layer.describe()}: called on input shape {_shapes(shapes, multi)}, but its "
                f"first call had {_shapes(first, multi)}; every call of a shared layer must "
                "have the same input shape"
            )
    integer = [p for p in parents if p.dtype is not None and p.dtype.kind in "iu"]
    if integer and not layer.accepts_integer_input:
        raise ConfigError(
            f"{layer.describe()}: got integer input (dtype {integer[0].dtype}); only layers "
            "that take token ids (Embedding) accept it"
        )
    shape = layer.compute_output_shape(shapes if multi else shapes[0])
    node = Node(layer, parents, shape)
    layer.inbound_nodes.append(node)
    return node


def _shapes(shapes, multi):
    return shapes if multi else shapes[0]
