"""The functional API's symbolic graph: ``Input`` -> layer calls -> ``Model(inputs, outputs)``.

Calling a layer on a :class:`Node` (or on a list of nodes, for merge layers such as
``Add``) records an edge instead of computing anything:

    inputs = Input((28, 28, 1))
    x = Conv2D(8, 3, padding="same", activation="relu")(inputs)
    shortcut = x
    x = Conv2D(8, 3, padding="same")(x)
    x = Add()([x, shortcut])                      # a residual connection
    outputs = Dense(10, activation="softmax")(Flatten()(x))
    model = Model(inputs, outputs)

A node's ``shape`` excludes the batch axis.  Each layer may be called once (its cache
belongs to one place in the graph).
"""

from __future__ import annotations

from ..exceptions import ConfigError


class Node:
    """The (symbolic) output of ``layer`` applied to the outputs of ``parents``."""

    def __init__(self, layer, parents, shape):
        self.layer = layer
        self.parents = list(parents)
        self.shape = tuple(shape)

    def __repr__(self) -> str:
        return f"Node({self.layer!r}, shape={self.shape})"


def as_node(x):
    """A Node for a Node or an Input layer (which carries its own node)."""
    node = getattr(x, "node", x)
    return node if isinstance(node, Node) else None


def is_symbolic(x) -> bool:
    if isinstance(x, list | tuple):
        return bool(x) and all(as_node(item) is not None for item in x)
    return as_node(x) is not None


def call_symbolic(layer, x) -> Node:
    """Record ``layer(x)``: check it is the layer's first call, infer the output shape."""
    if getattr(layer, "_called", False):
        raise ConfigError(
            f"{layer.describe()} is already used in a graph; create a new layer for each call"
        )
    multi = isinstance(x, list | tuple)
    parents = [as_node(item) for item in (x if multi else [x])]
    shapes = [p.shape for p in parents]
    shape = layer.compute_output_shape(shapes if multi else shapes[0])
    layer._called = True
    return Node(layer, parents, shape)


def topological_order(output: Node) -> list[Node]:
    """Every node that ``output`` depends on, each after all its parents, output last."""
    order, seen = [], set()
    stack = [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((parent, False) for parent in reversed(node.parents) if id(parent) not in seen)
    return order
