"""A network: a graph of layer calls run forward and backward (no losses, no optimizer).

Forward runs the calls in order; backward runs them in reverse, and a call's output that
several calls read receives the sum of their gradients (dA = sum over its consumers):

    A[in_k] = X_k                                  the model inputs
    A[c] = layer_c.forward(A[parents of c])        every call c, caches kept per call
    dA[outputs] = the gradients handed in          (dZ for a fused softmax/sigmoid output)
    dA[parents of c] += layer_c.backward(dA[c])    every call c in reverse; dW, db filled

A layer called several times (shared weights) runs each call with that call's cache, and
the backward of every call adds into the layer's one gradient buffer (the first call of a
step writes it, later calls add: see ``Layer.write_grad``).

A call with several outputs (``return_state``) has a list as its A (and as its mask); a
call or model output reading output k of it reads A[c][k], and its gradient is added into
item k of dA[c], a list with None where no gradient arrived, which the layer's backward
takes whole.  A recurrent call with initial states has them as further parents after its
input: forward gets ``initial_state=A[those]``, and their gradients are the layer's
``cache.d_initial_state``:

    A[c] = layer_c.forward(A[p_0], initial_state=[A[p_1], ...])
    dA[p_0] += layer_c.backward(dA[c]);  dA[p_i] += cache_c.d_initial_state[i - 1]

Training (losses, optimizer, fit) is added on top by ``nnlab.training.trainer.Trainer``;
``nnlab.Model`` and ``nnlab.Sequential`` are the two together.
"""

from __future__ import annotations

import fnmatch

import numpy as np

from .. import backend
from ..exceptions import ConfigError, ShapeError
from ..layers import Input, Layer
from ..layers.base import Cache, as_shape, default_name
from .graph import (
    Call,
    accumulate,
    as_node_list,
    calls_from_nodes,
    link_consumers,
    pick,
    unique_layers,
)
from .parameters import FlatParameters


class Network:
    """A graph of layer calls with one or several inputs and outputs.

    Args:
        inputs: an ``Input(shape)`` node, a list of them, or a dict name -> node.
        outputs: the node(s) returned by layer calls: one, a list, or a dict name -> node.
        seed: seeds the model's generator (initialization, dropout, shuffling).
        dtype: "float32" (default) or "float64".
        name: the model's name.
    """

    def __init__(self, inputs=None, outputs=None, seed=None, dtype=None, name="model"):
        self.name = name
        self.dtype = np.dtype(dtype or backend.floatx())
        self.seed = seed
        self.rng = backend.make_rng(seed)
        self.calls: list[Call] = []
        self.layers: list[Layer] = []
        self.input_shapes: list[tuple] | None = None
        self.input_dtypes: list = [None]
        self.input_names: list[str] = ["input"]
        self.output_names: list[str] = []
        self.output_positions: list[int] = []
        self.output_reads: list[int | None] = []  # which output of its call each output is
        self.output_masks: list = []  # each output's (m, T) mask in the last forward, or None
        self.built = False
        self.flat: FlatParameters | None = None
        self._caches_released = False  # by the last backward, until the next forward
        if inputs is not None or outputs is not None:
            self._set_graph(inputs, outputs)

    # ------------------------------------------------------------------ graph
    def _set_graph(self, inputs, outputs) -> None:
        in_nodes, in_keys = as_node_list(inputs, "inputs", self.name)
        out_nodes, out_keys = as_node_list(outputs, "outputs", self.name)
        for node in in_nodes:
            if not isinstance(node.layer, Input):
                raise ConfigError(f"{self.name}: inputs must be Input(...) nodes, got {node!r}")
        calls = calls_from_nodes(in_nodes, out_nodes, self.name)
        for call in calls:  # named in call order, each seeing the names before it
            self.calls.append(call)
            self._name_layer(call.layer)
        self.layers = unique_layers(self.calls)
        self.input_shapes = [node.shape for node in in_nodes]
        self.input_dtypes = [node.dtype for node in in_nodes]
        self.input_names = in_keys or [node.layer.name for node in in_nodes]
        positions = {id(call.node): i for i, call in enumerate(self.calls)}
        self.output_positions = [positions[id(node.call)] for node in out_nodes]
        self.output_reads = [node.index for node in out_nodes]
        self.output_names = out_keys or [self.ref_name(p, k) for p, k in self._output_reads()]

    def _name_layer(self, layer: Layer) -> None:
        """Give ``layer`` a unique default name if it has none; refuse a taken name."""
        taken = {c.layer.name for c in self.calls if c.layer is not None and c.layer is not layer}
        if layer.name is None:
            base, i = default_name(layer), 1
            while f"{base}_{i}" in taken:
                i += 1
            layer.name = f"{base}_{i}"
        elif layer.name in taken:
            raise ConfigError(f"{self.name}: two layers are named {layer.name!r}")

    def call_name(self, position: int) -> str:
        """How configs and messages name a call: the layer's name, with ``:k`` for the k-th
        call (from 0) of a layer this model calls more than once."""
        call = self.calls[position]
        if call.layer is None:  # a Sequential's input
            return "input"
        same = [i for i, c in enumerate(self.calls) if c.layer is call.layer]
        return call.layer.name if len(same) == 1 else f"{call.layer.name}:{same.index(position)}"

    def ref_name(self, position: int, index: int | None) -> str:
        """How configs name output ``index`` of a call: ``call_name``, with ``#k`` for output
        k of a call with several outputs."""
        name = self.call_name(position)
        return name if index is None else f"{name}#{index}"

    @property
    def n_inputs(self) -> int:
        return sum(call.is_input for call in self.calls)

    @property
    def input_shape(self):
        """The shape of one example (without the batch axis); a list for several inputs."""
        if self.input_shapes is None:
            return None
        return self.input_shapes[0] if len(self.input_shapes) == 1 else list(self.input_shapes)

    @property
    def output_shapes(self) -> list[tuple]:
        return [pick(self._call_shape(p), k) for p, k in self._output_reads()]

    @property
    def output_shape(self):
        """The shape of one output example; a list for several outputs."""
        shapes = self.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    def _call_shape(self, position: int) -> tuple:
        call = self.calls[position]
        return self.input_shapes[position] if call.is_input else call.layer.output_shape

    def get_layer(self, name: str) -> Layer:
        """The layer called ``name`` (Keras' ``model.get_layer``)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError(
            f"{self.name}: no layer named {name!r}; layers: {[l.name for l in self.layers]}"
        )

    # ----------------------------------------------------------------- building
    def build(self, input_shape=None, rng=None) -> None:
        """Create every layer's parameters for examples of shape ``input_shape`` (a list of
        shapes for several inputs; default: the shapes the inputs declare).

        ``rng`` overrides the model's generator for initialization (the course-compatible
        mode passes one that replays the course's ``np.random.seed`` order).

        Layers already built (shared with another model, Keras' ``Model(inputs,
        intermediate)`` over a trained model's layers) keep their weights: both models then
        hold the same arrays, and training either moves the other (see
        ``FlatParameters``).  Such a layer must be called on inputs of the shapes and dtype
        it was built for.
        """
        self._set_input_shapes(input_shape)
        if not self.layers:
            raise ConfigError(f"{self.name}: the model has no layers")
        init_rng = rng or self.rng
        seen, shared = set(), set()
        for call in self.calls:
            if call.is_input:
                continue
            layer = call.layer
            if id(layer) not in seen:
                shapes = [pick(self._call_shape(p), k) for p, k in self._reads(call)]
                shape = shapes if layer.multi_input else shapes[0]
                if layer.built:
                    self._check_built(layer, shape)
                    shared.add(id(layer))
                else:
                    layer.build(shape, init_rng, self.dtype)
                    layer.rng = self.rng
                seen.add(id(layer))
        self._assign_caches(shared)
        self._pack()
        self.built = True
        self._on_built()

    def _pack(self) -> None:
        """Pack the trainable layers' parameters (FlatParameters) and note which calls
        backward must reach, for the layers' current ``trainable`` flags."""
        self._gradient_paths = {
            wanted: self._calls_needing_gradients(wanted) for wanted in (False, True)
        }
        self.flat = FlatParameters.pack(self.layers, self.dtype)
        self._packed_flags = self._trainable_flags()

    def _trainable_flags(self) -> tuple:
        return tuple(layer.trainable for layer in self.layers)

    def sync_trainable(self) -> bool:
        """Repack the parameter buffers if a layer's ``trainable`` flag changed since the
        model packed them (Keras' "freeze, then compile again", done for you); return
        whether it did.  Called before every backward and optimizer step.

        It repacks too when another model sharing the buffers released them.  Every
        parameter this model's buffers held moves out of them (its value kept), and
        a new pair of buffers is made for the layers trainable now; a frozen layer's
        parameters then live in arrays of their own, outside every optimizer step.  The
        trainer carries the optimizer's state over for the parameters trainable both before
        and after (``_on_repacked``); a newly unfrozen one starts from zero state.
        """
        if not self.built:
            return False
        if self._trainable_flags() == self._packed_flags and not self.flat.released:
            return False
        old = self.flat
        old.release()
        self._pack()
        self._on_repacked(old)
        return True

    def _on_repacked(self, old: FlatParameters) -> None:
        """Hook: the parameters moved from ``old`` into ``self.flat`` (the trainer carries
        the optimizer's state over)."""

    def _output_reads(self):
        """(call position, output index read) of each model output."""
        return zip(self.output_positions, self.output_reads, strict=True)

    @staticmethod
    def _reads(call: Call):
        """(parent position, output index read) of each of a call's parents."""
        return zip(call.parents, call.reads, strict=True)

    def _on_built(self) -> None:
        """Hook for what depends on the parameters (the trainer builds its optimizer)."""

    def _set_input_shapes(self, input_shape) -> None:
        if input_shape is not None:
            shapes = input_shape if isinstance(input_shape, list) else [input_shape]
            self.input_shapes = [as_shape(shape) for shape in shapes]
        if not self.input_shapes:
            raise ShapeError(
                f"{self.name}: the input shape is unknown; pass input_shape= or start with Input"
            )
        if len(self.input_shapes) != self.n_inputs:
            raise ShapeError(
                f"{self.name}: expected {self.n_inputs} input shapes, got {self.input_shapes}"
            )

    def _check_built(self, layer: Layer, shape) -> None:
        """Raise unless a layer built before (by another model) fits this model's call."""
        if layer.dtype is not None and layer.dtype != self.dtype:
            raise ConfigError(
                f"{self.name}: {layer.describe()} was built as {layer.dtype.name} (shared with "
                f"another model), this model is {self.dtype.name}"
            )
        built = layer.input_shape
        shapes, expected = (shape, built) if layer.multi_input else ([shape], [built])
        fits = len(shapes) == len(expected) and all(
            len(s) == len(e)
            and all(a is None or b is None or a == b for a, b in zip(s, e, strict=True))
            for s, e in zip(shapes, expected, strict=True)
        )
        if not fits:
            raise ShapeError(
                f"{self.name}: {layer.describe()} was built for inputs {built} (shared with "
                f"another model), this model gives it {shape}"
            )

    def _assign_caches(self, shared: set = frozenset()) -> None:
        """One cache per call: the layer's own for a layer called once (nothing to swap),
        a fresh one for each call of a layer called several times or built before (shared
        with another model, whose call may hold the layer's own cache)."""
        counts: dict[int, int] = {}
        for call in self.calls:
            counts[id(call.layer)] = counts.get(id(call.layer), 0) + 1
        for call in self.calls:
            if not call.is_input:
                alone = counts[id(call.layer)] == 1 and id(call.layer) not in shared
                call.cache = call.layer.cache if alone else Cache()

    def _calls_needing_gradients(self, input_grads: bool) -> list[bool]:
        """Per call: is dA of its output needed?  Only where a parameter (or, with
        ``input_grads``, a float model input) lies before it: backward computes nothing for
        the inputs, Flatten or augmentation layers before the first parameters."""
        needs = []
        for position, call in enumerate(self.calls):
            if call.is_input:
                dtype = self.input_dtypes[position]
                needs.append(input_grads and (dtype is None or dtype.kind == "f"))
            else:
                learns = bool(call.layer.params) and call.layer.trainable
                needs.append(learns or any(needs[p] for p in call.parents))
        return needs

    # ---------------------------------------------------------- forward/back
    def forward(self, x, training: bool = False):
        """The outputs for inputs x (one array, or a list/dict for several inputs), keeping
        every call's cache; one array for one output, else a list."""
        values = self.run_calls(self.input_list(x), training, reuse=not training)
        outputs = [pick(values[p], k) for p, k in self._output_reads()]
        if not training:
            outputs = [self._not_reused(out) for out in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def _not_reused(self, out):
        """out, or a copy of it if it is a view of an array some call reuses for its output
        (a Flatten or Reshape after such a call returns a view): the caller keeps it."""
        for call in self.calls:
            kept = None if call.is_input else call.cache.buffers.get("output")
            if kept is not None and backend.xp.may_share_memory(out, kept):
                return out.copy()
        return out

    def run_calls(
        self, xs: list, training: bool = False, last: int | None = None, reuse: bool = False
    ) -> list:
        """Every call's output, in call order (inputs first); with ``last``, only those of
        the calls 0..last (the rest are not computed).  ``reuse`` (inference forward): the
        calls whose outputs are not model outputs may write them into the arrays they
        filled last time (Layer.output_array), which this forward then overwrites."""
        calls = self.calls if last is None else self.calls[: last + 1]
        self._caches_released = False
        outputs = set(self.output_positions)
        values, masks = [], []
        for position, call in enumerate(calls):
            if call.is_input:
                values.append(xs[position])
                masks.append(None)
                continue
            layer = call.layer
            layer.cache = call.cache
            call.cache.reuse_output = reuse and position not in outputs
            args = [pick(values[p], k) for p, k in self._reads(call)]
            arg = args if layer.multi_input else args[0]
            mask = None if layer.multi_input else pick(masks[call.parents[0]], call.reads[0])
            call.cache.mask = mask  # padded time steps, for the layers that use it
            states = {} if layer.multi_input or len(args) == 1 else {"initial_state": args[1:]}
            values.append(layer.forward(arg, training=training, **states))
            masks.append(layer.output_mask(arg, mask))
            call.cache.reuse_output = False  # a direct layer.forward gets a new array
        self.output_masks = [
            pick(masks[p], k) if p < len(masks) else None for p, k in self._output_reads()
        ]
        return values

    def layer_outputs(self, x, training: bool = False, last: int | None = None) -> list:
        """Every layer call's output A[l], in call order (the model inputs left out); with
        ``last``, only those of calls 0..last of that list (the rest are not computed)."""
        k = self.n_inputs
        values = self.run_calls(self.input_list(x), training, None if last is None else last + k)
        return values[k:]

    def backward(
        self, output_grads, from_preactivation=False, input_grads: bool = False, retain=False
    ):
        """Backpropagate the outputs' gradients through the graph, filling every layer's
        parameter gradients (a layer no gradient reaches gets zeros).

        Args:
            output_grads: dJ/dA of each output (one array, or a list aligned with the
                outputs; None for an output that has no loss).
            from_preactivation: True (or one flag per output) where the gradient is dJ/dZ
                of the output layer's activation (the fused softmax/sigmoid + cross-entropy).
            input_grads: also return dJ/dX of the model inputs.
            retain: keep every call's cache for another backward of the same forward
                (PyTorch's ``retain_graph``); by default each call's activations are freed
                as soon as its backward has run, which lowers the peak memory of a step.

        Returns:
            None, or with ``input_grads`` dJ/dX (one array, or a list for several inputs;
            None for an integer input).
        """
        if self._caches_released:
            raise ConfigError(
                f"{self.name}.backward: the last backward freed the activations of the last "
                "forward; run forward again, or pass retain=True to the first backward"
            )
        self.sync_trainable()
        grads = self._seed_gradients(output_grads)
        fused = self._per_output(from_preactivation, "from_preactivation")
        fused_at = {p for p, flag in zip(self.output_positions, fused, strict=True) if flag}
        needs = self._gradient_paths[bool(input_grads)]
        for position in range(len(self.calls) - 1, -1, -1):
            call, grad = self.calls[position], grads[position]
            if call.is_input or grad is None:
                continue
            grads[position] = None  # release it as soon as it is used
            self._backward_call(call, grad, position in fused_at, needs, grads)
            if not retain:
                call.cache.release()
        self._caches_released = not retain
        self._finish_gradients()
        if not input_grads:
            return None
        result = grads[: self.n_inputs]
        return result[0] if len(result) == 1 else result

    def _seed_gradients(self, output_grads) -> list:
        grads = [None] * len(self.calls)
        given = self._per_output(output_grads, "output_grads")
        for (position, index), grad in zip(self._output_reads(), given, strict=True):
            if grad is not None:
                self._add_grad(grads, position, index, grad)
        return grads

    def _per_output(self, value, what: str) -> list:
        """``value`` as one item per output (a single value for a one-output model)."""
        n = len(self.output_positions)
        if n == 1 and not isinstance(value, list | tuple):
            return [value]
        if isinstance(value, bool):
            return [value] * n
        if isinstance(value, dict):
            value = [value.get(name) for name in self.output_names]
        if not isinstance(value, list | tuple) or len(value) != n:
            raise ShapeError(
                f"{self.name}.backward: {what} needs one entry per output ({n}: "
                f"{self.output_names}), got {type(value).__name__}"
            )
        return list(value)

    def _backward_call(self, call: Call, grad, fused: bool, needs: list, grads: list) -> None:
        """Run one call's backward and add its input gradients (and its initial states'
        gradients) to its parents'."""
        layer = call.layer
        layer.cache = call.cache
        need = [needs[p] for p in call.parents]
        wanted = any(need)
        if fused:
            d = layer.backward_preactivation(grad, need_input_grad=wanted)
        else:
            d = layer.backward(grad, need_input_grad=wanted)
        layer.accumulate_grads = True  # this layer's next call in this pass adds
        if not wanted:
            return
        if not layer.multi_input:
            states = call.cache.d_initial_state if len(call.parents) > 1 else []
            d = [d, *states]
        for (p, k), dp, needed in zip(self._reads(call), d, need, strict=True):
            if needed and dp is not None:  # None: an input with no gradient (a mask)
                self._add_grad(grads, p, k, dp)

    def _add_grad(self, grads: list, position: int, index: int | None, grad) -> None:
        """Add ``grad`` to dA of output ``index`` of call ``position`` (see accumulate)."""
        n_outputs = 1 if index is None else self.calls[position].layer.n_outputs
        accumulate(grads, position, index, grad, n_outputs)

    def _finish_gradients(self) -> None:
        """Zero the gradients of trainable layers no gradient reached; the next pass writes
        anew.  (A frozen layer's ``grads`` are not kept up to date: nothing reads them.)"""
        for layer in self.layers:
            if not layer.accumulate_grads and layer.trainable:
                for grad in layer.grads.values():
                    grad[...] = 0
            layer.accumulate_grads = False

    def preactivation(self, output: int = 0):
        """Z of output ``output``'s layer in the last forward pass (None if not kept)."""
        call = self.calls[self.output_positions[output]]
        call.layer.cache = call.cache
        return call.layer.preactivation

    def output_activation(self, output: int = 0):
        """The activation function ending output ``output``, if the gradient may start from
        its Z (the output is read by no other call): what a loss can fuse with."""
        position = self.output_positions[output]
        call = self.calls[position]
        if call.is_input or call.consumers or self.output_positions.count(position) > 1:
            return None
        if self.output_reads[output] is not None:  # one of several outputs
            return None
        return call.layer.fusable_activation

    # ------------------------------------------------------------------- inputs
    def input_list(self, x) -> list:
        """x as a list with one array per input (from an array, a list or a dict)."""
        if isinstance(x, dict):
            missing = [name for name in self.input_names if name not in x]
            if missing:
                raise ShapeError(
                    f"{self.name}: inputs {missing} missing; expected keys {self.input_names}"
                )
            return [x[name] for name in self.input_names]
        if isinstance(x, list | tuple):
            return list(x)
        return [x]

    # ------------------------------------------------------------------ weights
    def named_parameters(self, trainable_only: bool = False):
        """(name, param, grad) for every parameter, in layer order ('dense_1/W', ...); with
        ``trainable_only``, those of trainable layers only."""
        for layer in self.layers:
            if trainable_only and not layer.trainable:
                continue
            for key, value in layer.params.items():
                yield f"{layer.name}/{key}", value, layer.grads[key]

    def regularized(self):
        """(param, grad, regularizer) for every regularized parameter."""
        for layer in self.layers:
            for key, reg in layer.regularizers.items():
                yield layer.params[key], layer.grads[key], reg

    def get_weights(self) -> dict:
        """Copies of every parameter and state array, by name, as NumPy arrays."""
        weights = {}
        for layer in self.layers:
            for key, value in {**layer.params, **layer.state}.items():
                weights[f"{layer.name}/{key}"] = backend.to_numpy(value).copy()
        return weights

    def set_weights(self, weights: dict) -> None:
        """Copy arrays into the parameters and state, in place (views stay views)."""
        for layer in self.layers:
            for key, target in {**layer.params, **layer.state}.items():
                name = f"{layer.name}/{key}"
                if name not in weights:
                    raise ShapeError(f"{self.name}.set_weights: missing weight {name!r}")
                value = backend.xp.asarray(weights[name])
                if value.shape != target.shape:
                    raise ShapeError(
                        f"{self.name}.set_weights: {name} has shape {tuple(value.shape)}, "
                        f"expected {tuple(target.shape)}"
                    )
                target[...] = value

    def count_params(self, include_state: bool = False) -> int:
        """The number of parameters; with ``include_state`` also the batch norms' moving
        statistics, which Keras counts as non-trainable parameters (Keras' total)."""
        total = sum(layer.count_params() for layer in self.layers)
        if include_state:
            total += sum(layer.count_state() for layer in self.layers)
        return total

    def count_trainable_params(self) -> int:
        """The number of parameters of trainable layers (what the optimizer updates)."""
        return sum(layer.count_params() for layer in self.layers if layer.trainable)

    def summary(self, print_fn=print, show_trainable: bool = False) -> str:
        """A table of layers, output shapes and parameter counts (printed and returned).

        Counted as Keras counts them: a layer's row and the total include its saved state
        (a batch norm's moving mean and variance: 4 n_C for n_C channels); "Trainable" is
        the parameters of trainable layers, "Non-trainable" the rest (frozen layers'
        parameters and every moving statistic).  ``show_trainable`` adds a column saying
        whether each layer is trainable (Keras' ``show_trainable``).
        """
        if not self.built:
            self.build()
        rows = [("Layer (type)", "Output shape", "Params", "Trainable")]
        for layer in self.layers:
            shapes = layer.output_shape if layer.n_outputs > 1 else [layer.output_shape]
            shape = ", ".join("(None, " + ", ".join(map(str, s)) + ")" for s in shapes)
            count = layer.count_params() + layer.count_state()
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    shape,
                    f"{count:,}",
                    "Y" if layer.trainable else "N",
                )
            )
        columns = 4 if show_trainable else 3
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(columns)]
        line = "-" * sum(widths)
        out = [f'Model: "{self.name}"', line]
        for i, row in enumerate(rows):
            cells = zip(row[:columns], widths, strict=True)
            out.append("".join(cell.ljust(w) for cell, w in cells))
            if i == 0:
                out.append("=" * sum(widths))
        total = self.count_params(include_state=True)
        trainable = self.count_trainable_params()
        out += [
            line,
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
        ]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict:
        """JSON-able architecture: the layers once each, the inputs, every call with the
        calls it reads (by ``ref_name``: ``call_name``, and ``#k`` for output k of a call
        with several outputs; after a recurrent call's input, its initial states), and the
        outputs."""
        config = {
            "class": type(self).__name__,
            "name": self.name,
            "dtype": self.dtype.name,
            "input_shape": list(self.input_shapes[0]) if self.input_shapes else None,
            "layers": [{"class": type(l).__name__, "config": l.get_config()} for l in self.layers],
        }
        if any(call.node is not None for call in self.calls):
            config["inputs"] = [call.layer.get_config() for call in self.calls if call.is_input]
            config["input_names"] = list(self.input_names)
            config["calls"] = [
                {
                    "layer": call.layer.name,
                    "inbound": [self.ref_name(p, k) for p, k in self._reads(call)],
                }
                for call in self.calls
                if not call.is_input
            ]
            config["outputs"] = [self.ref_name(p, k) for p, k in self._output_reads()]
            config["output_names"] = list(self.output_names)
        return config


def set_trainable(model, trainable: bool = True, *, names=None, from_layer=None) -> list[str]:
    """Freeze or unfreeze a model's layers by name, pattern or index (Keras' ``trainable``).

    Three forms:

    * ``set_trainable(model, False)``: every layer (Keras' ``base_model.trainable = False``).
    * ``set_trainable(model, False, names=["block1_*", "dense_1", 3])``: the layers named,
      matched by a shell pattern (``fnmatch``), or at that index of ``model.layers``;
      the others keep their flags.
    * ``set_trainable(model, True, from_layer="block5_conv1")`` (or an index): that layer
      and every later one (in ``model.layers`` order) get ``trainable``, every earlier one
      the opposite: the course's fine-tuning recipe (``base_model.trainable = True``, then
      ``for layer in base_model.layers[:fine_tune_at]: layer.trainable = False``) in one
      call.

    A built model repacks its parameter buffers here (``sync_trainable``; after a bare
    ``layer.trainable = ...`` it does so before its next backward or step).  A layer
    without parameters may carry either flag (only a batch norm's changes what it
    computes).

    Returns:
        The names of the layers now trainable, in ``model.layers`` order.

    Raises:
        ConfigError: a name, pattern or index matches no layer, or both ``names`` and
            ``from_layer`` are given.
    """
    if not isinstance(trainable, bool):
        raise ConfigError(f"set_trainable: trainable must be True or False, got {trainable!r}")
    layers = list(model.layers)
    if names is not None and from_layer is not None:
        raise ConfigError("set_trainable: give names= or from_layer=, not both")
    if from_layer is not None:
        start = min(_layer_positions(model, [from_layer]))
        for i, layer in enumerate(layers):
            layer.trainable = trainable if i >= start else not trainable
    else:
        chosen = range(len(layers)) if names is None else _layer_positions(model, names)
        for i in chosen:
            layers[i].trainable = trainable
    if getattr(model, "built", False):
        model.sync_trainable()
    return [layer.name for layer in layers if layer.trainable]


def _layer_positions(model, keys) -> list[int]:
    """Positions in ``model.layers`` of the layers that names, patterns or indices pick."""
    keys = [keys] if isinstance(keys, str | int) else list(keys)
    layer_names = [layer.name for layer in model.layers]
    positions: list[int] = []
    for key in keys:
        if isinstance(key, int | np.integer) and not isinstance(key, bool):
            if not -len(layer_names) <= key < len(layer_names):
                raise ConfigError(
                    f"set_trainable: layer index {key} out of range ({len(layer_names)} layers)"
                )
            found = [int(key) % len(layer_names)]
        elif isinstance(key, str):
            found = [i for i, name in enumerate(layer_names) if fnmatch.fnmatchcase(name, key)]
        else:
            raise ConfigError(f"set_trainable: a layer is a name or an index, got {key!r}")
        if not found:
            raise ConfigError(
                f"set_trainable: no layer of {model.name!r} matches {key!r}; layers: "
                f"{', '.join(layer_names)}"
            )
        positions += [i for i in found if i not in positions]
    return positions


class SequentialNetwork(Network):
    """A linear stack of layers: each layer's input is the previous layer's output.

    Args:
        layers: the layers, in order; the first may be ``Input(shape)``.
        input_shape: shape of one example (without the batch axis), if no Input layer.
        seed: seeds the model's generator (initialization, dropout, shuffling).
        dtype: "float32" (default) or "float64".
        name: the model's name.
    """

    def __init__(self, layers=None, input_shape=None, seed=None, dtype=None, name="sequential"):
        super().__init__(seed=seed, dtype=dtype, name=name)
        self.calls = [Call(None, [])]  # the model input
        self.output_positions = [0]
        self.output_reads = [None]
        self.output_names = ["output"]
        if input_shape is not None:
            self.input_shapes = [tuple(input_shape)]
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer, giving it a unique name if it has none."""
        if not isinstance(layer, Layer):
            raise ConfigError(f"{self.name}.add: expected a Layer, got {type(layer).__name__}")
        if isinstance(layer, Input):
            if self.layers:
                raise ConfigError(f"{self.name}: Input must be the first layer")
            self.input_shapes = [layer.input_shape]
            self.input_dtypes = [layer.input_dtype]
            return
        if layer.multi_input:
            raise ConfigError(f"{self.name}: {layer.describe()} needs several inputs; use Model")
        if not self.layers and self.input_shapes is None and layer.input_shape:
            self.input_shapes = [layer.input_shape]
        self._name_layer(layer)
        if layer.n_outputs > 1:
            raise ConfigError(
                f"{self.name}: {layer.describe()} has {layer.n_outputs} outputs "
                "(return_state=True), a layer of a Sequential model one; use Model"
            )
        self.calls.append(Call(layer, [len(self.calls) - 1]))
        link_consumers(self.calls)
        if layer not in self.layers:  # the same layer added twice shares its weights
            self.layers.append(layer)
        self.output_positions = [len(self.calls) - 1]
        self.built = False
