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

A layer with several outputs (``layer.n_outputs`` > 1: a recurrent layer with
``return_state=True``) records one call node and returns one node per output, each
pointing at that call (``node.call``) and at which of its outputs it is (``node.index``):

    seq, h, c = LSTM(8, return_sequences=True, return_state=True)(x)   # three nodes, one call

Initial states (recurrent layers) are further parents of the call, after its input:

    y = LSTM(8)(x, initial_state=[h, c])     # parents [x, h, c]
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ConfigError, ShapeError


class Node:
    """The (symbolic) output of one call ``layer(parents)``.

    Attributes:
        layer: the layer called (an ``Input`` layer for a model input).
        parents: the nodes it was called on, in order (the input(s), then any initial
            states).
        shape: the output shape without the batch axis; for the call node of a layer with
            several outputs, the list of their shapes.
        dtype: the output's dtype kind: ``None`` for the model's float type, or an integer
            dtype (token ids) for an ``Input(shape, dtype="int32")``.
        call: the node of the call this is an output of (the node itself for a call with
            one output).
        index: which output of ``call`` this is (None: the call's only output).
    """

    def __init__(self, layer, parents, shape, dtype=None, call=None, index=None):
        self.layer = layer
        self.parents = list(parents)
        several = index is None and layer.n_outputs > 1
        self.shape = [tuple(s) for s in shape] if several else tuple(shape)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.call: Node = self if call is None else call
        self.index: int | None = index

    def output(self, index: int) -> Node:
        """The node of output ``index`` of this call (a layer with several outputs)."""
        return Node(self.layer, self.parents, self.shape[index], self.dtype, self, index)

    @property
    def name(self) -> str:
        """The layer's name, with the call number for a layer called more than once, and
        ``#k`` for output k of a call with several outputs."""
        if self.index is not None:
            return f"{self.call.name}#{self.index}"
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


def call_symbolic(layer, x, initial_state=None):
    """Record ``layer(x)`` (or ``layer(x, initial_state=[...])``) and return its output
    node, or a list of one node per output for a layer with several outputs.

    Every call of one layer must see the input shape of its first call (the layer builds
    its weights for that shape once).
    """
    multi = isinstance(x, list | tuple)
    if multi != layer.multi_input:
        wanted = "a list of nodes" if layer.multi_input else "one node"
        raise ConfigError(f"{layer.describe()}: expected {wanted}, got {type(x).__name__}")
    parents = [as_node(item) for item in (x if multi else [x])]
    shapes = [p.shape for p in parents]
    states = _state_nodes(layer, initial_state)
    if layer.inbound_nodes:
        first = [p.shape for p in layer.inbound_nodes[0].parents[: len(parents)]]
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
    node = Node(layer, parents + states, shape)
    layer.inbound_nodes.append(node)
    if layer.n_outputs > 1:
        return [node.output(k) for k in range(layer.n_outputs)]
    return node


def _state_nodes(layer, initial_state) -> list[Node]:
    """The nodes of ``initial_state`` (none when None), their shapes checked by the layer."""
    if initial_state is None:
        return []
    items = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
    nodes = [as_node(item) for item in items]
    if any(node is None for node in nodes):
        raise ConfigError(
            f"{layer.describe()}: initial_state must be nodes (layer outputs or Inputs) in a "
            f"graph, got {initial_state!r}"
        )
    layer.check_initial_state([node.shape for node in nodes])
    return nodes


def _shapes(shapes, multi):
    return shapes if multi else shapes[0]
