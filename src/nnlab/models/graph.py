"""A model's graph: its layer calls in run order, each with the calls that feed it.

``Model(inputs, outputs)`` walks back from the output nodes to the ``Input`` nodes (see
``nnlab.layers.node``) and lays the calls out in a list, every call after the calls it
reads (a topological order).  Positions in that list are how the model refers to calls:

    calls[0 .. k-1]    the k model inputs (Input layers), in the order given
    calls[k ..]        the layer calls, parents first

A layer called several times has several calls (one cache each) and one set of weights.

A call of a layer with several outputs (a recurrent layer's ``return_state``) is one call
whose value is a list; a call reading it names the output it reads (``Call.reads``), so
its input is ``pick(value, k)``, and in backward its gradient goes into item k of the list
of gradients of that call (``accumulate``): a gradient list with None where no gradient
has arrived, handed whole to the layer's backward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..exceptions import ConfigError
from ..layers.base import Cache, Layer
from ..layers.node import Node, as_node


@dataclass
class Call:
    """One call of a layer in the graph.

    Attributes:
        layer: the layer called.
        parents: positions (in the graph's call list) of the calls it reads, in order.
        node: the symbolic node of this call (None for calls added by ``Sequential.add``).
        cache: what this call's forward keeps for its backward; the layer's own cache
            when the layer has this one call, a separate one for each call otherwise.
        consumers: positions of the calls that read this call's output.
        reads: per parent, which of its outputs this call reads (None: its only output);
            all None unless given.
    """

    layer: Layer
    parents: list[int]
    node: Node | None = None
    cache: Cache | None = None
    consumers: list[int] = field(default_factory=list)
    reads: list[int | None] = field(default_factory=list)

    def __post_init__(self):
        self.reads = list(self.reads) or [None] * len(self.parents)

    @property
    def is_input(self) -> bool:
        """A model input: a call that reads no other call."""
        return not self.parents


def as_node_list(spec, what: str, owner: str) -> tuple[list[Node], list[str] | None]:
    """Nodes from one node, a list of nodes or a dict name -> node (Keras' forms), and the
    dict's names (None unless a dict was given)."""
    if isinstance(spec, dict):
        names, items = list(spec), list(spec.values())
    else:
        names, items = None, list(spec) if isinstance(spec, list | tuple) else [spec]
    nodes = [as_node(item) for item in items]
    if not nodes or any(node is None for node in nodes):
        raise ConfigError(
            f"{owner}: {what} must be a node (the result of Input(...) or of a layer call), a "
            f"list or a dict of them, got {spec!r}"
        )
    return nodes, names


def pick(value, index: int | None):
    """Output ``index`` of a call's value (or mask): the value itself for None (the call's
    only output), else item ``index`` of its list (None stays None: no mask)."""
    return value if index is None or value is None else value[index]


def accumulate(grads: list, position: int, index: int | None, grad, n_outputs: int) -> None:
    """Add ``grad`` to the gradient of call ``position``'s output ``index``, in
    ``grads[position]``: an array, or for a call with several outputs a list of them with
    None where nothing arrived yet (None + g = g; never in place, as the same array may
    arrive twice)."""
    if index is None:
        total = grads[position]
        grads[position] = grad if total is None else total + grad
        return
    items = grads[position] if grads[position] is not None else [None] * n_outputs
    items[index] = grad if items[index] is None else items[index] + grad
    grads[position] = items


def topological_order(outputs: list[Node]) -> list[Node]:
    """Every call node the outputs depend on, each after all its parents (depth first,
    parents in order, so a chain comes out in its own order)."""
    order, seen = [], set()
    stack = [(node.call, False) for node in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend(
            (parent.call, False) for parent in reversed(node.parents) if id(parent.call) not in seen
        )
    return order


def calls_from_nodes(inputs: list[Node], outputs: list[Node], owner: str) -> list[Call]:
    """The call list of the graph from ``inputs`` to ``outputs`` (inputs first)."""
    order = topological_order(outputs)
    reached = {id(node) for node in order}
    for node in inputs:
        if node.parents:
            raise ConfigError(f"{owner}: every input must be an Input(...), got {node!r}")
        if id(node) not in reached:
            raise ConfigError(f"{owner}: the outputs do not depend on input {node.name!r}")
    given = {id(node) for node in inputs}
    stray = [n for n in order if not n.parents and id(n) not in given]
    if stray:
        raise ConfigError(
            f"{owner}: the outputs do not depend on exactly the given Input(s): they depend on "
            f"{stray[0].name!r}, which is not among the inputs"
        )
    nodes = list(inputs) + [node for node in order if id(node) not in given]
    index = {id(node): i for i, node in enumerate(nodes)}
    calls = [
        Call(
            node.layer,
            [index[id(p.call)] for p in node.parents],
            node,
            reads=[p.index for p in node.parents],
        )
        for node in nodes
    ]
    link_consumers(calls)
    return calls


def link_consumers(calls: list[Call]) -> None:
    """Fill every call's ``consumers`` from the others' ``parents``."""
    for call in calls:
        call.consumers = []
    for i, call in enumerate(calls):
        for p in call.parents:
            calls[p].consumers.append(i)


def unique_layers(calls: list[Call]) -> list[Layer]:
    """The layers of the non-input calls, each once, in order of first call."""
    layers, seen = [], set()
    for call in calls:
        if call.parents and id(call.layer) not in seen:
            seen.add(id(call.layer))
            layers.append(call.layer)
    return layers
