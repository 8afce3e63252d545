"""The block every layer is: ``forward(a_prev) -> a`` and ``backward(da) -> da_prev``.

A layer owns ``params`` (name -> array) and ``grads`` (name -> array of the same shape)
side by side.  Once a model is built, both dicts hold *views* into the model's flat
parameter and gradient buffers, so a layer must write gradients in place
(``xp.matmul(..., out=self.grads["W"])`` or ``self.grads["W"][...] = ...``) and never
rebind an entry.  Non-trainable arrays that must be saved (batch-norm running averages)
live in ``state``.

Shapes exclude the batch axis: ``input_shape = (784,)`` means inputs of shape (m, 784).

What forward keeps for backward (A_prev, Z, masks, scratch buffers) lives in ``self.cache``,
one :class:`Cache` per *call*: a model that calls a layer several times (shared weights)
gives each call its own cache and sets ``layer.cache`` before running that call.  Every
call's backward adds into the layer's one gradient buffer (see :meth:`Layer.write_grad`).

A layer with several outputs (``n_outputs`` > 1, a recurrent layer's ``return_state``)
returns a list from ``forward`` (``compute_output_shape`` and ``output_mask`` give lists
too), and its ``backward`` takes a list aligned with it, None where no gradient reaches
an output.  A layer that takes initial states (``forward(..., initial_state=[...])``)
leaves dJ/d(each initial state) in ``cache.d_initial_state`` after backward.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from .node import call_symbolic, is_symbolic


class Cache(SimpleNamespace):
    """What one call's forward keeps for its backward (attributes set by the layer), and
    ``buffers``: scratch arrays the call reuses from step to step.  ``reuse_output``: the
    model says this call's output never leaves it in the current (inference) forward, so
    the layer may write it into the array it filled last time (Layer.output_array)."""

    def __init__(self):
        super().__init__(buffers={}, reuse_output=False, mask=None)

    def release(self) -> None:
        """Drop what forward kept (A_prev, Z, masks, ...) once backward has used it, so the
        activations are freed as backward passes them; the reused scratch buffers stay."""
        buffers = self.buffers
        self.__dict__.clear()
        self.buffers, self.reuse_output, self.mask = buffers, False, None


class Layer:
    """Base class of all layers.

    Subclasses implement ``build_params`` (create parameters for an input shape),
    ``compute_output_shape``, ``forward`` and ``backward``, and list their constructor
    arguments in ``get_config`` so a model file can rebuild them.  Forward stores what
    backward needs in ``self.cache``; backward writes parameter gradients through
    :meth:`write_grad`.
    """

    #: merge layers (Add, Concatenate) take a list of inputs and return a list of gradients
    multi_input = False
    #: layers that take token ids (Embedding) accept integer inputs
    accepts_integer_input = False
    #: layers that act on each time step alone pass a sequence mask on (output_mask)
    keeps_mask = False

    def __init__(self, name: str | None = None, input_shape=None, trainable: bool = True):
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.output_shape = None
        self.trainable = trainable
        self.params: dict = {}
        self.grads: dict = {}
        self.state: dict = {}
        self.regularizers: dict = {}
        self.built = False
        #: which model buffers (FlatParameters) hold each parameter, once a model packed it
        self.param_homes: dict = {}
        self.rng = None
        self.dtype = None
        self.cache = Cache()
        #: the calls of this layer in functional graphs (see nnlab.layers.node)
        self.inbound_nodes: list = []
        #: False: the next backward overwrites grads; True: it adds (later calls in a step)
        self.accumulate_grads = False

    # ----------------------------------------------------------------- building

    def build(self, input_shape, rng, dtype=None) -> tuple:
        """Create the parameters for inputs of shape (m, *input_shape); return the output shape."""
        if self.multi_input:
            self.input_shape = [as_shape(shape) for shape in input_shape]
        else:
            self.input_shape = as_shape(input_shape)
        self.dtype = np.dtype(dtype or backend.floatx())
        self.rng = rng
        self.build_params(self.input_shape, rng)
        for key, value in self.params.items():
            self.grads[key] = backend.xp.zeros_like(value)
        shape = self.compute_output_shape(self.input_shape)
        self.output_shape = [tuple(s) for s in shape] if self.n_outputs > 1 else tuple(shape)
        self.built = True
        return self.output_shape

    def build_params(self, input_shape, rng) -> None:
        """Create ``self.params`` (default: none)."""

    @property
    def n_outputs(self) -> int:
        """How many outputs a call of this layer has (1; more for a recurrent layer with
        ``return_state``): forward then returns a list, backward takes one."""
        return 1

    @property
    def fusable_activation(self):
        """The activation ending this layer that a loss may fuse with (dZ = A - Y over the
        last axis), or None."""
        return getattr(self, "activation", None)

    def compute_output_shape(self, input_shape) -> tuple:
        """One output example's shape (a list of them when ``n_outputs`` > 1)."""
        return input_shape

    def check_initial_state(self, shapes: list) -> None:
        """Raise unless the layer takes initial states of these example shapes (only the
        recurrent layers take any)."""
        raise ConfigError(f"{self.describe()}: takes no initial_state")

    # ------------------------------------------------------------------ running
    def forward(self, a_prev, training: bool = False):
        raise NotImplementedError

    def backward(self, da, need_input_grad: bool = True):
        raise NotImplementedError

    def write_grad(self, key: str, compute):
        """Put this call's gradient of ``params[key]`` into ``grads[key]``; return it.

        ``compute(out)`` computes the gradient into ``out`` (``xp.matmul(..., out=out)``,
        ``x.sum(axis=0, out=out)``) and returns it.  On the layer's first backward of a
        step ``out`` is the gradient buffer itself (no copy, as fast as a layer called
        once can be); on a later call of a shared layer ``out`` is None, so ``compute``
        makes a new array, which is added to the buffer.
        """
        grad = self.grads[key]
        if not self.accumulate_grads:
            return compute(grad)
        contribution = compute(None)
        grad += contribution.reshape(grad.shape)
        return contribution

    def __call__(self, a_prev, training: bool = False, initial_state=None):
        """Forward on arrays; on symbolic nodes (functional API) record a call.
        ``initial_state``: the recurrent layers' initial states (arrays, or nodes)."""
        if is_symbolic(a_prev):
            return call_symbolic(self, a_prev, initial_state)
        if initial_state is None:
            return self.forward(a_prev, training=training)
        return self.forward(a_prev, training=training, initial_state=initial_state)

    @property
    def output(self):
        """The output node of this layer's only call (Keras' ``layer.output``); a list of
        nodes for a layer with several outputs."""
        if len(self.inbound_nodes) != 1:
            raise ConfigError(
                f"{self.describe()}: has {len(self.inbound_nodes)} calls in a graph; "
                "``output`` needs exactly one (use the node each call returned)"
            )
        node = self.inbound_nodes[0]
        return [node.output(k) for k in range(self.n_outputs)] if self.n_outputs > 1 else node

    def output_array(self, shape, dtype):
        """An uninitialized array for this call's output: a new one, or, when the cache
        says ``reuse_output``, the one this call returned last time (an inference forward
        of a model whose output this is not: it is only read by the next layers, and the
        caches hold every activation until the next forward anyway).  A new array of tens
        of MB costs a page fault per page, and now and then a stall while the kernel
        assembles huge pages (VGG16 at 224x224: the first block's 100 MB outputs took 90
        to 230 ms instead of 90)."""
        xp = backend.xp
        cache = self.cache
        if not cache.reuse_output:
            cache.buffers.pop("output", None)  # training: no stale inference output kept
            return xp.empty(shape, dtype=dtype)
        out = cache.buffers.get("output")
        if out is None or out.shape != tuple(shape) or out.dtype != dtype:
            out = cache.buffers["output"] = xp.empty(shape, dtype=dtype)
        return out

    def output_mask(self, a_prev, mask):
        """The mask of this call's output: (m, T) bools, False at padded time steps, or
        None.  ``mask`` is the input's (set by the model, also as ``cache.mask`` before
        forward).  A layer that acts on each step alone (``keeps_mask``) passes it on;
        Embedding(mask_zero=True) makes one from the token ids; a recurrent layer that
        returns only its last state ends it."""
        return mask if self.keeps_mask else None

    def check_input(self, a_prev) -> None:
        """Raise a ShapeError naming this layer if a_prev is not (m, *input_shape) (any
        size where input_shape says None, e.g. the time axis of sequences)."""
        if not shape_matches(a_prev.shape[1:], self.input_shape):
            expected = ("m",) + self.input_shape
            raise ShapeError(
                f"{self.describe()}: expected input of shape {_fmt(expected)}, "
                f"got {tuple(a_prev.shape)}"
            )

    # ----------------------------------------------------------------- metadata
    def describe(self) -> str:
        """'Dense layer "dense_1"': how error messages name this layer."""
        return f'{type(self).__name__} layer "{self.name}"'

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's parameters (Keras' ``layer.trainable``).

        A frozen layer (False) keeps its weights fixed: a model packs only trainable layers'
        parameters into the buffers its optimizer steps (so a frozen parameter has no
        optimizer state either), backward computes no dW for it and stops before it when
        nothing trainable lies further back, and a frozen BatchNormalization runs in
        inference mode (its moving statistics, not the batch's, and no update of them), as
        in Keras.  The flag may change at any time: a built model repacks its buffers before
        its next backward or optimizer step (``Network.sync_trainable``).
        """
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        if not isinstance(value, bool | np.bool_):
            raise ConfigError(f"{self.describe()}: trainable must be True or False, got {value!r}")
        self._trainable = bool(value)

    def count_params(self) -> int:
        """The number of parameters (``params``; a batch norm's moving statistics are
        ``state``, counted by :meth:`count_state`)."""
        return int(sum(p.size for p in self.params.values()))

    def count_state(self) -> int:
        """The number of saved non-parameter values (a batch norm's moving mean and
        variance), which Keras counts among the non-trainable parameters."""
        return int(sum(v.size for v in self.state.values()))

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape is not None:  # JSON lists; one per input for merge layers
            shape = self.input_shape
            config["input_shape"] = [list(s) for s in shape] if self.multi_input else list(shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def check_image_shape(layer: Layer, input_shape) -> None:
    """Raise a ShapeError naming ``layer`` unless one example is an image (n_H, n_W, n_C)."""
    if len(input_shape) != 3:
        dims = ", ".join(map(str, input_shape))
        raise ShapeError(
            f"{layer.describe()}: expected images of shape (m, n_H, n_W, n_C), got (m, {dims})"
        )


def default_name(layer: Layer) -> str:
    """The stem of a layer's default name: its class in snake case ('batch_normalization')."""
    return registry.snake_case(type(layer).__name__)


def as_shape(shape) -> tuple:
    """One example's shape as a tuple of ints, None where any size goes (a time axis)."""
    return tuple(None if d is None else int(d) for d in shape)


def shape_matches(actual, expected) -> bool:
    """Whether an example's shape fits ``expected`` (None matches any size)."""
    return len(actual) == len(expected) and all(
        e is None or a == e for a, e in zip(actual, expected, strict=True)
    )


def _fmt(shape) -> str:
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"
