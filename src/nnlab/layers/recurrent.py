"""Recurrent layers: SimpleRNN, GRU, LSTM (the course's Week 1 cells, batch-first).

A sequence X (m, T, n_x) runs through one cell per time step t = 1..T, each step reading
x<t> (m, n_x) and the previous hidden state a<t-1> (m, n_a), a<0> = 0.  nnlab keeps the
course's equations with the weights transposed (rows are inputs, batch first) and the gates
of a cell side by side in one kernel, in Keras' and PyTorch's order:

    W (n_x, G n_a)   the input kernel        (the course's W_ax, W_f/W_u/W_c/W_o, x part)
    U (n_a, G n_a)   the recurrent kernel    (the course's W_aa, and the a part of the rest)
    b (G n_a,)       the bias

SimpleRNN (G = 1), the course's ``rnn_cell_forward``:

    a<t> = tanh(x<t> W + a<t-1> U + b)

LSTM (G = 4, gates in the order i, f, g, o: the course's update Γ_u, forget Γ_f, candidate
c~ and output Γ_o):

    [z_i, z_f, z_g, z_o] = x<t> W + a<t-1> U + b
    Γ_u = σ(z_i),  Γ_f = σ(z_f),  c~<t> = tanh(z_g),  Γ_o = σ(z_o)
    c<t> = Γ_f * c<t-1> + Γ_u * c~<t>
    a<t> = Γ_o * tanh(c<t>)

GRU (G = 3, gates in the order z, r, h as Keras; PyTorch orders them r, z, n):

    z = σ(x W_z + a<t-1> U_z + b_z)                     the update gate
    r = σ(x W_r + a<t-1> U_r + b_r)                     the relevance (reset) gate
    reset_after=False (Cho et al. 2014, the course):
        h~ = tanh(x W_h + (r * a<t-1>) U_h + b_h)
    reset_after=True (PyTorch, cuDNN; Keras' default), with a second bias b' (3 n_a,):
        h~ = tanh(x W_h + b_h + r * (a<t-1> U_h + b'_h)),  z, r also get + b'_z, b'_r
    a<t> = z * a<t-1> + (1 - z) * h~

The course writes the last line c<t> = Γ_u * c~<t> + (1 - Γ_u) * c<t-1>: its Γ_u is 1 - z
(σ(-x) = 1 - σ(x), so the same model with the update gate's weights negated).

How it is computed.  The examples of a batch are independent, so a large batch is split
between threads, each running the loop over its own examples (a chunk).  Inside the loop
the arrays are step-major and transposed, (T, k, m): at step t every gate, state and cell
is one contiguous (n_a, m) block, so each NumPy call of the loop runs on a whole block
(on (m, T, k) arrays a gate of step t is m strided rows, and the same calls take two to
three times longer).  The same equations, transposed:

    Z<t> = W^T x<t> + U^T a<t-1> + b          (G n_a, m)

The input projections of all steps are computed before the loop, XW = W^T X + b
(T, G n_a, m), one batched product; the loop does one (G n_a, n_a) x (n_a, m) product per
step and the elementwise gate math, keeping each step's gates and states.  Backward runs
the loop in reverse (backpropagation through time), filling dZ (T, G n_a, m), the gradient
of every step's pre-activations, and the gradient flowing into a<t-1> (and c<t-1>):

    da<t-1> = U dZ<t> (+ the direct paths of the LSTM cell and the GRU's z * a<t-1>)

and after the loop the weight gradients are sums over the steps:

    dW = sum_t x<t> dZ<t>^T,  dU = sum_t a<t-1> dZ<t>^T,  db = sum over (t, i) of dZ,
    dX<t> = W dZ<t>

(for the course's GRU, dU_h uses r * a<t-1>).  The layer's inputs and outputs stay
batch-first, (m, T, k); with one chunk the output sequence is a transposed view.

Output: the last state a<T> (m, n_a), or with ``return_sequences`` every a<t> (m, T, n_a).
``go_backwards`` reads the sequence from its end (a Bidirectional layer's second half); the
sequence it returns is then in that reversed order, as in Keras.

States in and out (Keras' ``initial_state`` and ``return_state``, PyTorch's h_0, c_0 and
h_n, c_n).  ``forward(X, initial_state=[a<0>(, c<0>)])`` starts from given states, and
backward leaves dJ/da<0> (and dJ/dc<0>) in ``cache.d_initial_state``.  With
``return_state=True`` the output is the list [output, a<T>] (an LSTM's [output, a<T>,
c<T>]), each state (m, n_a): the carried states after the last step read (under a mask,
after the last real step, as they are carried over padding).  Backward then takes a list
aligned with it (None where no gradient reaches an output); dJ/da<T> (and dJ/dc<T>) seed
the gradients carried back from step T, which otherwise start at zero:

    da_carried<T> = dJ/da<T>,  dc_carried<T> = dJ/dc<T>
    da<t> = dJ/da<t> (of the output sequence) + da_carried<t>
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from ..ops.parallel import run_over_rows
from .base import Layer

#: Fewest elements of one step's pre-activations (m G n_a) per thread for the batch to be
#: split between threads (see forward).
SPLIT_ELEMENTS = 64 * 1024


class _Recurrent(Layer):
    """What the three cells share: weights, the input projection, the loop's frame."""

    gates = 1  # G: blocks of n_a columns in W, U and b
    carried = ("states",)  # the kept arrays of the carried states: a<t> (an LSTM's c<t> too)

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        dropout: float = 0.0,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ConfigError(
                f"{type(self).__name__}: units must be a positive integer, got {units!r}"
            )
        self.units = units
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0 <= dropout < 1
        ):
            raise ConfigError(
                f"{type(self).__name__}: dropout must be a rate in [0, 1), got {dropout!r}"
            )
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = registry.get("initializer", kernel_initializer)
        self.recurrent_initializer = registry.get("initializer", recurrent_initializer)
        self.bias_initializer = registry.get("initializer", bias_initializer)

    # ------------------------------------------------------------------ shapes
    def build_params(self, input_shape, rng):
        if len(input_shape) != 2:
            raise ShapeError(
                f"{self.describe()}: expected sequences of shape (m, T, n_x), got "
                f"(m, {', '.join(map(str, input_shape))})"
            )
        n_x, width = input_shape[-1], self.gates * self.units
        self.params["W"] = self.kernel_initializer((n_x, width), rng, self.dtype)
        self.params["U"] = self.recurrent_initializer((self.units, width), rng, self.dtype)
        if self.use_bias:
            self.params["b"] = self.bias_initializer((width,), rng, self.dtype)

    @property
    def n_outputs(self) -> int:
        """1, or with return_state 1 + the carried states (the output, a<T>(, c<T>))."""
        return 1 + len(self.carried) if self.return_state else 1

    def compute_output_shape(self, input_shape):
        steps = input_shape[0]
        output = (steps, self.units) if self.return_sequences else (self.units,)
        return self._with_states(output, [(self.units,)] * len(self.carried))

    def _with_states(self, output, states: list):
        """``output``, or with return_state the list [output, *states]."""
        return [output, *states] if self.return_state else output

    def check_initial_state(self, shapes):
        expected = [(self.units,)] * len(self.carried)
        if [tuple(shape) for shape in shapes] != expected:
            raise ShapeError(
                f"{self.describe()}: initial_state must be {len(expected)} state(s) of shape "
                f"{_batch_shapes(expected)}, got {_batch_shapes(shapes)}"
            )

    # ---------------------------------------------------------------- forward
    def forward(self, a_prev, training=False, initial_state=None):
        """a<T> (m, n_a), or with return_sequences a<1..T> (m, T, n_a), from X (m, T, n_x);
        with return_state the list [that, a<T>] (an LSTM's [that, a<T>, c<T>]).

        ``initial_state``: a<0> (m, n_a) (for an LSTM, the pair [a<0>, c<0>]); zeros by
        default.  Backward leaves dJ/d(initial state) in ``cache.d_initial_state``.
        """
        self.check_input(a_prev)
        xp = backend.xp
        x = a_prev[:, ::-1] if self.go_backwards else a_prev
        self.cache.input_mask = None
        if training and self.dropout > 0:  # one mask per sequence, the same at every step
            keep = 1.0 - self.dropout
            u = self.rng.random((x.shape[0], 1, x.shape[2]))
            mask = self.cache.input_mask = ((u < keep) / keep).astype(x.dtype)
            x = x * mask
        m, steps = x.shape[:2]
        dtype = xp.result_type(x.dtype, self.params["W"].dtype)
        initial = self._initial_states(initial_state, m, dtype)
        mask = self._step_mask()
        chunks = {}

        def pass_(lo, hi):  # the examples are independent: each thread runs its own loop
            chunk = _Chunk.of(x, initial, mask, lo, hi)
            xw = xp.matmul(self.params["W"].T, chunk.x)  # (T, G n_a, m'): X W, every step
            if self.use_bias:
                xw += self.params["b"][:, None]
            chunk.kept = self.kept_arrays(hi - lo, steps, dtype)
            self.run_steps(xw, chunk.initial, chunk.kept, chunk.mask)
            chunks[lo] = chunk

        # split only when one step's arrays are large: below, each step's NumPy calls are
        # too short for two threads (they wait on each other for the GIL); measured on a
        # 2-core AMD EPYC, LSTM(128), T = 50, forward + backward: batch 64, 15.7 ms in one
        # thread against 16.5 in two; batch 512, 109 against 84
        step_size = m * self.gates * self.units
        run_over_rows(pass_, m, step_size, min_elements=SPLIT_ELEMENTS, own_blas=True)
        cache = self.cache
        cache.chunks, cache.x_shape = [chunks[lo] for lo in sorted(chunks)], x.shape
        states = cache.states = _batch_first(cache.chunks, "states")
        output = states if self.return_sequences else _batch_first(cache.chunks, "states", -1)
        return self._with_states(
            output, [_batch_first(cache.chunks, key, -1) for key in self.carried]
        )

    def kept(self, key: str):
        """What the last forward kept under ``key`` ("states", an LSTM's "cells", ...),
        batch-first (m, T, k): for inspection and tests."""
        return _batch_first(self.cache.chunks, key)

    def _step_mask(self):
        """(m, T) bools, False at padded steps (in this layer's reading order), from the
        mask the model set in the cache; None without one.  At a padded step the state is
        carried over unchanged: a<t> = a<t-1> (and c<t> = c<t-1>)."""
        mask = self.cache.mask
        if mask is None:
            return None
        mask = mask[:, ::-1] if self.go_backwards else mask
        return backend.xp.asarray(mask, dtype=bool)

    def output_mask(self, a_prev, mask):
        """The input's mask on the output sequence; none on a<T> or on the states."""
        return self._with_states(
            mask if self.return_sequences else None, [None] * len(self.carried)
        )

    def _initial_states(self, given, m: int, dtype) -> list:
        """[a<0>] (for an LSTM [a<0>, c<0>]) as (m, n_a) arrays, zeros unless given."""
        xp = backend.xp
        count = len(self.carried)
        if given is None:
            return [xp.zeros((m, self.units), dtype=dtype) for _ in range(count)]
        given = list(given) if isinstance(given, list | tuple) else [given]
        shapes = [tuple(getattr(s, "shape", ())) for s in given]
        if len(given) != count or any(shape != (m, self.units) for shape in shapes):
            raise ShapeError(
                f"{self.describe()}: initial_state must be {count} array(s) of shape "
                f"({m}, {self.units}), got {shapes}"
            )
        return [xp.asarray(s, dtype=dtype) for s in given]

    def kept_arrays(self, m: int, steps: int, dtype) -> dict:
        """The arrays forward fills for backward, step-major (T, k, m), "states" (a<1..T>)
        among them."""
        raise NotImplementedError

    def run_steps(self, xw, initial, kept, mask):
        """The loop over time for some examples (m' of them), step-major: fill ``kept``
        from their input projections xw (T, G n_a, m'), initial states [(n_a, m')] and
        step mask (T, 1, m') (None: every step is real)."""
        raise NotImplementedError

    # --------------------------------------------------------------- backward
    def backward(self, da, need_input_grad=True):
        """dJ/dX from dJ/d(output), or with return_state from the list [dJ/d(output),
        dJ/da<T>(, dJ/dc<T>)], any of them None (no gradient reaches it)."""
        xp = backend.xp
        cache = self.cache
        m, steps, n_x = cache.x_shape
        d_output, d_last = self._split_output_grads(da)
        if not self.return_sequences and d_output is not None:
            d_last[0] = d_last[0] + d_output  # the output a<T> is the state carried from T
            d_output = None
        dtype = cache.states.dtype

        def through_time(chunk):  # backpropagation through time, each thread a chunk
            lo, hi = chunk.lo, chunk.hi
            d_states = None if d_output is None else d_output[lo:hi].transpose(1, 2, 0)
            chunk.grads = self.grad_arrays(hi - lo, steps, dtype)  # dZ (T, G n_a, m'), ...
            chunk.d_initial = [xp.empty_like(s) for s in chunk.initial]
            seeds = [xp.ascontiguousarray(d[lo:hi].T) for d in d_last]
            self.backprop_steps(
                d_states,
                chunk.kept,
                chunk.initial,
                chunk.grads,
                chunk.d_initial,
                chunk.mask,
                seeds,
            )
            chunk.flatten_grads()  # dZ as (G n_a, T m'): each weight gradient one GEMM

        _each_chunk(through_time, cache.chunks)
        cache.d_initial_state = [
            xp.concatenate([c.d_initial[k].T for c in cache.chunks], axis=0)
            for k in range(len(self.carried))
        ]
        self.write_grad(
            "W",
            lambda out: _sum_of_products([(c.flat("x"), c.flat("dz")) for c in cache.chunks], out),
        )
        self.recurrent_grads(cache.chunks)
        if self.use_bias:
            self.write_grad("b", lambda out: _sum_over_steps(cache.chunks, "dz", out))
        if not need_input_grad:
            return None
        dx = xp.empty((m, steps, n_x), dtype=dtype)
        for c in cache.chunks:  # dX<t> = W dZ<t>: (n_x, T m') per chunk, one GEMM
            dx_flat = xp.matmul(self.params["W"], c.flat("dz"))
            dx[c.lo : c.hi] = dx_flat.reshape(n_x, steps, c.hi - c.lo).transpose(2, 1, 0)
        if cache.input_mask is not None:
            dx *= cache.input_mask
        return dx[:, ::-1] if self.go_backwards else dx

    def _split_output_grads(self, da):
        """(dJ/d(output) or None, [dJ/da<T>(, dJ/dc<T>)] as (m, n_a) arrays, zeros where no
        gradient is given): the gradients carried back from step T start from the latter."""
        if self.return_state:
            _check_output_grads(self, da)
        else:
            da = [da] + [None] * len(self.carried)
        xp, states = backend.xp, self.cache.states
        d_output, *d_last = da
        zeros = xp.zeros_like(states[:, -1])
        return d_output, [zeros if d is None else xp.asarray(d, states.dtype) for d in d_last]

    def grad_arrays(self, m: int, steps: int, dtype) -> dict:
        """The arrays backprop_steps fills, step-major: "dz", dJ/d(x W + b) (T, G n_a, m),
        and any more."""
        return {"dz": backend.xp.empty((steps, self.gates * self.units, m), dtype=dtype)}

    def backprop_steps(self, d_states, kept, initial, grads, d_initial, mask, d_last):
        """Backpropagation through time for some examples (m'), step-major: fill ``grads``
        and d_initial (dJ/d initial states, (n_a, m') each) from dJ/da<t> (T, n_a, m') of
        the output sequence (None when it is not an output), the kept arrays, the step
        mask and d_last, the gradients carried back from step T (dJ/da<T>, and dJ/dc<T>;
        zeros unless the final states are outputs).  At a padded step the gradient of
        a<t> goes to a<t-1> unchanged (the state was carried over) and dZ<t> = 0."""
        raise NotImplementedError

    def recurrent_grads(self, chunks):
        """dU (and any recurrent bias) from the states a<0..T-1> and dZ of every chunk:
        dU = sum over t of A<t-1>^T dZ<t>."""
        pairs = [(c.flat("previous"), c.flat("dz")) for c in chunks]
        self.write_grad("U", lambda out: _sum_of_products(pairs, out))

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer.get_config(),
            recurrent_initializer=self.recurrent_initializer.get_config(),
            bias_initializer=self.bias_initializer.get_config(),
        )
        return config


class _Chunk:
    """Some examples lo..hi-1 of a batch, step-major (every step's (k, m') block one
    contiguous array, so the loop's NumPy calls run on whole blocks): the input x
    (T, n_x, m'), initial states [(n_a, m')], step mask (T, 1, m'), and what forward
    keeps (``kept``) and backward computes (``grads``, ``d_initial``) for them."""

    def __init__(self, lo, hi, x, initial, mask):
        self.lo, self.hi, self.x, self.initial, self.mask = lo, hi, x, initial, mask
        self.kept: dict = {}
        self.grads: dict = {}
        self.d_initial: list = []
        self._flat: dict = {}

    def flat(self, key: str):
        """A step-major array (T, p, m') as (p, T m'), every step's columns side by side,
        made once (a copy of rows of m'): the layout in which a weight gradient is one
        GEMM.  ``key``: "x", "previous" (the states a<0..T-1>), a kept array or a grads
        array."""
        if key not in self._flat:
            self._flat[key] = _flat_steps(self._step_major(key))
        return self._flat[key]

    def _step_major(self, key: str):
        if key == "x":
            return self.x
        if key == "previous":
            return _previous(self.kept["states"], self.initial[0])
        return self.kept[key]

    def flatten_grads(self) -> None:
        """Keep backward's step-major arrays (dZ, ...) only as (p, T m') (see flat)."""
        self._flat.update({key: _flat_steps(value) for key, value in self.grads.items()})
        self.grads = {}

    @classmethod
    def of(cls, x, initial, mask, lo: int, hi: int) -> _Chunk:
        xp = backend.xp
        x_steps = xp.ascontiguousarray(x[lo:hi].transpose(1, 2, 0))
        states = [xp.ascontiguousarray(s[lo:hi].T) for s in initial]
        rows = None if mask is None else xp.ascontiguousarray(mask[lo:hi].T)[:, None, :]
        return cls(lo, hi, x_steps, states, rows)


def _each_chunk(work, chunks) -> None:
    """work(chunk) for every chunk, the chunks in parallel threads (as forward split them)."""

    def run(lo, hi):
        for chunk in chunks[lo:hi]:
            work(chunk)

    many = len(chunks) * SPLIT_ELEMENTS
    run_over_rows(run, len(chunks), many, min_elements=SPLIT_ELEMENTS, own_blas=True)


def _batch_first(chunks, key: str, step=None):
    """Kept array ``key`` of the chunks, batch-first: (m, T, k), or at one step (m, k).
    A view of the chunk's array when there is one chunk, else a copy."""
    xp = backend.xp
    parts = [
        c.kept[key].transpose(2, 0, 1) if step is None else c.kept[key][step].T for c in chunks
    ]
    return parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=0)


def _previous(states, a0):
    """a<0..T-1> (T, n_a, m'): the states one step back, a<0> first."""
    xp = backend.xp
    before = xp.empty_like(states)
    before[0] = a0
    before[1:] = states[:-1]
    return before


def _flat_steps(a):
    """(T, p, m') -> (p, T m'): a copy moving whole rows of m' (cheap, unlike a full
    transpose)."""
    xp = backend.xp
    return xp.ascontiguousarray(a.transpose(1, 0, 2)).reshape(a.shape[1], -1)


def _sum_of_products(pairs, out):
    """sum over the pairs (A, B) of A B^T (A (p, T m'), B (q, T m'), see _Chunk.flat): sum
    over the steps and examples of a<t> dZ<t>^T, a weight gradient, into ``out`` (see
    Layer.write_grad) or a new array.  One GEMM per chunk."""
    xp = backend.xp
    total = None
    for a, b in pairs:
        product = xp.matmul(a, b.T)
        total = product if total is None else total + product
    if out is None:
        return total
    out[...] = total
    return out


def _sum_over_steps(chunks, key: str, out):
    """sum over chunks, steps and examples of grads[key]: a bias gradient."""
    xp = backend.xp
    total = sum(c.flat(key).sum(axis=1) for c in chunks)
    if out is None:
        return xp.asarray(total)
    out[...] = total
    return out


def _check_output_grads(layer, da) -> None:
    """Raise unless ``da`` is a list of one gradient (or None) per output of ``layer``."""
    if not isinstance(da, list | tuple) or len(da) != layer.n_outputs:
        raise ShapeError(
            f"{layer.describe()}: with return_state, backward takes a list of "
            f"{layer.n_outputs} gradients (output, states; None for no gradient), got "
            f"{type(da).__name__}"
        )


def _batch_shapes(shapes) -> str:
    """[(3,), (3,)] as '[(m, 3), (m, 3)]': example shapes with the batch axis."""
    return "[" + ", ".join("(m, " + ", ".join(map(str, s)) + ")" for s in shapes) + "]"


def _split_at_padding(grad, mask, t):
    """(the part of a state's gradient that goes through step t's cell, the part carried
    straight to step t - 1): (grad, None) without a mask; at padded examples all of it is
    carried, elsewhere none."""
    if mask is None:
        return grad, None
    xp = backend.xp
    keep = mask[t]  # (1, m)
    return xp.where(keep, grad, 0.0), xp.where(keep, 0.0, grad)


def _sigmoid(z, out=None):
    """σ(z) = 1 / (1 + e^-z), computed as (1 + tanh(z / 2)) / 2 (no overflow)."""
    xp = backend.xp
    out = xp.multiply(z, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


# ------------------------------------------------------------------------ SimpleRNN
@registry.register("layer")
class SimpleRNN(_Recurrent):
    """The course's basic RNN: a<t> = tanh(x<t> W + a<t-1> U + b).

    Args:
        units: n_a, the size of the hidden state.
        return_sequences: return every a<t> (m, T, n_a), not only a<T> (m, n_a).
        return_state: return the list [output, a<T>] (the final state as well).
        go_backwards: read the sequence from its last step.
        dropout: in training, the rate of input features dropped (inverted dropout), with
            one mask per sequence, the same at every time step (as Keras).
        use_bias, kernel_initializer (W, default "glorot_uniform"), recurrent_initializer
            (U, default "orthogonal"), bias_initializer (b, default "zeros").

    Parameters: W (n_x, n_a), U (n_a, n_a), b (n_a,).
    Input shape: (m, T, n_x).  Output shape: (m, n_a), or (m, T, n_a); with return_state
    a list of that and (m, n_a).
    """

    gates = 1

    def kept_arrays(self, m, steps, dtype):
        return {"states": backend.xp.empty((steps, self.units, m), dtype=dtype)}

    def run_steps(self, xw, initial, kept, mask):
        xp = backend.xp
        u_t, states = self.params["U"].T, kept["states"]
        (a,) = initial
        for t in range(xw.shape[0]):  # step-major: a<t> (n_a, m) = tanh(U^T a<t-1> + ...)
            new = states[t]
            xp.matmul(u_t, a, out=new)
            new += xw[t]
            xp.tanh(new, out=new)
            if mask is not None:  # padded: carry a<t-1> over
                xp.copyto(new, a, where=~mask[t])
            a = new

    def backprop_steps(self, d_states, kept, initial, grads, d_initial, mask, d_last):
        xp = backend.xp
        states, dz = kept["states"], grads["dz"]
        u = self.params["U"]
        (da_next,) = d_last
        for t in range(states.shape[0] - 1, -1, -1):
            total = da_next if d_states is None else d_states[t] + da_next
            da, carried = _split_at_padding(total, mask, t)
            a = states[t]
            xp.multiply(da, 1.0 - a * a, out=dz[t])  # tanh'(z) = 1 - a^2
            da_next = xp.matmul(u, dz[t])  # dJ/da<t-1> = U dZ<t>
            if carried is not None:
                da_next += carried
        d_initial[0][...] = da_next


# ----------------------------------------------------------------------------- LSTM
@registry.register("layer")
class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter and Schmidhuber 1997), the course's LSTM cell.

    Gates in W, U, b in the order i, f, g, o (the course's Γ_u, Γ_f, c~, Γ_o; Keras' and
    PyTorch's order); see the module docstring for the equations.

    Args:
        units: n_a, the size of the hidden state a<t> and of the memory cell c<t>.
        unit_forget_bias: start the forget gate's bias at 1 (Keras' default), so the cell
            remembers at first.
        return_sequences, return_state, go_backwards, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer: as SimpleRNN (an LSTM's return_state gives
        [output, a<T>, c<T>]).

    Parameters: W (n_x, 4 n_a), U (n_a, 4 n_a), b (4 n_a,).
    Input shape: (m, T, n_x).  Output shape: (m, n_a), or (m, T, n_a); with return_state
    a list of that, (m, n_a) and (m, n_a).
    """

    gates = 4
    carried = ("states", "cells")

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build_params(self, input_shape, rng):
        super().build_params(input_shape, rng)
        if self.use_bias and self.unit_forget_bias:
            self.params["b"][self.units : 2 * self.units] += 1.0

    def kept_arrays(self, m, steps, dtype):
        xp, n = backend.xp, self.units
        return {
            "gates": xp.empty((steps, 4 * n, m), dtype=dtype),  # i, f, g, o activated
            "cells": xp.empty((steps, n, m), dtype=dtype),  # c<t>
            "tanh_cells": xp.empty((steps, n, m), dtype=dtype),  # tanh(c<t>)
            "states": xp.empty((steps, n, m), dtype=dtype),  # a<t>
        }

    def run_steps(self, xw, initial, kept, mask):
        xp = backend.xp
        n = self.units
        u_t = self.params["U"].T
        gates, cells, tanh_cells, states = (
            kept[k] for k in ("gates", "cells", "tanh_cells", "states")
        )
        a, c = initial
        for t in range(xw.shape[0]):  # step-major: every gate a contiguous (n_a, m) block
            g = gates[t]
            xp.matmul(u_t, a, out=g)
            g += xw[t]
            _sigmoid(g[: 2 * n], out=g[: 2 * n])  # i, f
            xp.tanh(g[2 * n : 3 * n], out=g[2 * n : 3 * n])  # g = c~
            _sigmoid(g[3 * n :], out=g[3 * n :])  # o
            i, f, cand, o = g[:n], g[n : 2 * n], g[2 * n : 3 * n], g[3 * n :]
            c_new = cells[t]
            xp.multiply(f, c, out=c_new)
            c_new += i * cand
            xp.tanh(c_new, out=tanh_cells[t])
            xp.multiply(o, tanh_cells[t], out=states[t])
            if mask is not None:  # padded: carry a<t-1> and c<t-1> over
                xp.copyto(states[t], a, where=~mask[t])
                xp.copyto(c_new, c, where=~mask[t])
            a, c = states[t], c_new

    def backprop_steps(self, d_states, kept, initial, grads, d_initial, mask, d_last):
        xp = backend.xp
        gates, cells, tanh_cells = kept["gates"], kept["cells"], kept["tanh_cells"]
        n = self.units
        u = self.params["U"]
        dz = grads["dz"]
        da_next, dc_next = d_last
        for t in range(cells.shape[0] - 1, -1, -1):
            g = gates[t]
            i, f, cand, o = g[:n], g[n : 2 * n], g[2 * n : 3 * n], g[3 * n :]
            tc = tanh_cells[t]
            c_before = cells[t - 1] if t > 0 else initial[1]
            total = da_next if d_states is None else d_states[t] + da_next
            da, carried = _split_at_padding(total, mask, t)
            dc_next, carried_c = _split_at_padding(dc_next, mask, t)
            dc = dc_next + da * o * (1.0 - tc * tc)  # through a<t> = o * tanh(c<t>)
            d = dz[t]
            xp.multiply(dc * cand, i * (1.0 - i), out=d[:n])  # dz_i
            xp.multiply(dc * c_before, f * (1.0 - f), out=d[n : 2 * n])  # dz_f
            xp.multiply(dc * i, 1.0 - cand * cand, out=d[2 * n : 3 * n])  # dz_g
            xp.multiply(da * tc, o * (1.0 - o), out=d[3 * n :])  # dz_o
            dc_next = dc * f
            da_next = xp.matmul(u, d)  # dJ/da<t-1> = U dZ<t>
            if carried is not None:
                da_next += carried
                dc_next += carried_c
        d_initial[0][...] = da_next
        d_initial[1][...] = dc_next

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


# ------------------------------------------------------------------------------ GRU
@registry.register("layer")
class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), in the course's form or PyTorch's.

    Gates in W, U, b in the order z (update), r (relevance / reset), h (candidate), as
    Keras; see the module docstring for the equations of both forms.

    Args:
        units: n_a, the size of the hidden state.
        reset_after: False for the course's (and Cho et al.'s) GRU, r applied to a<t-1>
            before the product with U_h; True (default, as Keras, PyTorch and cuDNN) for r
            applied after it, with a second bias ``b_rec`` (3 n_a,) on the recurrent side.
        return_sequences, return_state, go_backwards, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer: as SimpleRNN.

    Parameters: W (n_x, 3 n_a), U (n_a, 3 n_a), b (3 n_a,), and with reset_after b_rec
    (3 n_a,).  Input shape: (m, T, n_x).  Output shape: (m, n_a), or (m, T, n_a).
    """

    gates = 3

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def build_params(self, input_shape, rng):
        super().build_params(input_shape, rng)
        if self.use_bias and self.reset_after:
            self.params["b_rec"] = self.bias_initializer((3 * self.units,), rng, self.dtype)

    def kept_arrays(self, m, steps, dtype):
        xp, n = backend.xp, self.units
        return {
            "gates": xp.empty((steps, 3 * n, m), dtype=dtype),  # z, r, h~ activated
            # what h~ sees of a<t-1>: reset_after, U_h^T a<t-1> + b'_h; else r * a<t-1>
            "h_input": xp.empty((steps, n, m), dtype=dtype),
            "states": xp.empty((steps, n, m), dtype=dtype),
        }

    def run_steps(self, xw, initial, kept_arrays, mask):
        xp = backend.xp
        n = self.units
        u_t = self.params["U"].T  # (3 n_a, n_a)
        b_rec = self.params.get("b_rec")
        gates, h_input, states = (kept_arrays[k] for k in ("gates", "h_input", "states"))
        (a,) = initial
        for t in range(xw.shape[0]):  # step-major: every gate a contiguous (n_a, m) block
            g = gates[t]
            if self.reset_after:
                zh = xp.matmul(u_t, a)  # (3 n_a, m)
                if b_rec is not None:
                    zh += b_rec[:, None]
                zr = g[: 2 * n]
                xp.add(xw[t, : 2 * n], zh[: 2 * n], out=zr)
                _sigmoid(zr, out=zr)
                h_input[t] = zh[2 * n :]
                h = g[2 * n :]
                xp.multiply(g[n : 2 * n], h_input[t], out=h)
                h += xw[t, 2 * n :]
                xp.tanh(h, out=h)
            else:
                zr = g[: 2 * n]
                xp.matmul(u_t[: 2 * n], a, out=zr)
                zr += xw[t, : 2 * n]
                _sigmoid(zr, out=zr)
                xp.multiply(g[n : 2 * n], a, out=h_input[t])  # r * a<t-1>
                h = g[2 * n :]
                xp.matmul(u_t[2 * n :], h_input[t], out=h)
                h += xw[t, 2 * n :]
                xp.tanh(h, out=h)
            z, cand = g[:n], g[2 * n :]
            new = states[t]
            xp.subtract(a, cand, out=new)  # a<t> = h~ + z (a<t-1> - h~)
            new *= z
            new += cand
            if mask is not None:  # padded: carry a<t-1> over
                xp.copyto(new, a, where=~mask[t])
            a = new

    def grad_arrays(self, m, steps, dtype):
        grads = super().grad_arrays(m, steps, dtype)
        if self.reset_after:  # dJ/d(U^T a<t-1> + b'), (T, 3 n_a, m): dU and db' from it
            grads["dz_rec"] = backend.xp.empty_like(grads["dz"])
        return grads

    def backprop_steps(self, d_states, kept_arrays, initial, grads, d_initial, mask, d_last):
        xp = backend.xp
        gates, h_input, states = (kept_arrays[k] for k in ("gates", "h_input", "states"))
        n = self.units
        u = self.params["U"]  # (n_a, 3 n_a)
        u_zr, u_h = u[:, : 2 * n], u[:, 2 * n :]
        dz, dz_rec = grads["dz"], grads.get("dz_rec")
        (da_next,) = d_last
        for t in range(states.shape[0] - 1, -1, -1):
            g = gates[t]
            z, r, cand = g[:n], g[n : 2 * n], g[2 * n :]
            a_before = states[t - 1] if t > 0 else initial[0]
            total = da_next if d_states is None else d_states[t] + da_next
            da, carried = _split_at_padding(total, mask, t)
            d = dz[t]
            d_h = xp.multiply(da * (1.0 - z), 1.0 - cand * cand, out=d[2 * n :])  # dz_h
            xp.multiply(da * (a_before - cand), z * (1.0 - z), out=d[:n])  # dz_z
            da_prev = da * z
            if self.reset_after:
                dr = d_h * h_input[t]  # U_h^T a<t-1> + b'_h
                xp.multiply(dr, r * (1.0 - r), out=d[n : 2 * n])  # dz_r
                dzr = dz_rec[t]
                dzr[: 2 * n] = d[: 2 * n]
                xp.multiply(d_h, r, out=dzr[2 * n :])
                da_prev += xp.matmul(u, dzr)
            else:
                d_rh = xp.matmul(u_h, d_h)  # dJ/d(r * a<t-1>)
                xp.multiply(d_rh * a_before, r * (1.0 - r), out=d[n : 2 * n])  # dz_r
                da_prev += d_rh * r
                da_prev += xp.matmul(u_zr, d[: 2 * n])
            da_next = da_prev if carried is None else da_prev + carried
        d_initial[0][...] = da_next

    def recurrent_grads(self, chunks):
        n = self.units
        if self.reset_after:
            pairs = [(c.flat("previous"), c.flat("dz_rec")) for c in chunks]
            self.write_grad("U", lambda out: _sum_of_products(pairs, out))
            if self.use_bias:
                self.write_grad("b_rec", lambda out: _sum_over_steps(chunks, "dz_rec", out))
            return
        # the course's form: dU_zr from a<t-1>, dU_h from r * a<t-1> (rows of the flat dZ)
        zr = [(c.flat("previous"), c.flat("dz")[: 2 * n]) for c in chunks]
        h = [(c.flat("h_input"), c.flat("dz")[2 * n :]) for c in chunks]

        def both(out):
            if out is None:
                out = backend.xp.empty((n, 3 * n), dtype=chunks[0].flat("dz").dtype)
            _sum_of_products(zr, out[:, : 2 * n])
            _sum_of_products(h, out[:, 2 * n :])
            return out

        self.write_grad("U", both)

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


# -------------------------------------------------------------------- Bidirectional
@registry.register("layer")
class Bidirectional(Layer):
    """A recurrent layer run over the sequence in both directions, the outputs merged.

    The forward copy reads x<1..T>, the backward copy x<T..1> (``go_backwards``); with
    ``return_sequences`` the backward copy's states are put back in time order, so that
    step t of the output sees the whole sequence: [a_fwd<t>, a_bwd<t>].

    With the layer's ``return_state`` the output is the list [merged output, the forward
    copy's a<T>(, c<T>), the backward copy's a<T>(, c<T>)], as Keras (the backward copy's
    final states are those after it has read x<1>).

    Args:
        layer: the recurrent layer (SimpleRNN, GRU, LSTM) to run forward; the backward copy
            is made from its config, with its own weights.
        merge_mode: "concat" (default, 2 n_a outputs), "sum", "mul" or "ave".

    Parameters: the two layers', as "forward/W", ..., "backward/W", ....
    Input shape: (m, T, n_x).  Output shape: (m, [T,] 2 n_a) with "concat", else n_a; with
    return_state a list of that and the states, (m, n_a) each.
    """

    MERGE_MODES = ("concat", "sum", "mul", "ave")

    def __init__(self, layer, merge_mode: str = "concat", **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = registry.from_config("layer", layer)
        if not isinstance(layer, _Recurrent):
            raise ConfigError(
                f"Bidirectional: layer must be a SimpleRNN, GRU or LSTM, got {layer!r}"
            )
        if merge_mode not in self.MERGE_MODES:
            raise ConfigError(
                f"Bidirectional: merge_mode must be one of {', '.join(self.MERGE_MODES)}, "
                f"got {merge_mode!r}"
            )
        self.merge_mode = merge_mode
        self.forward_layer = layer
        config = registry.get_config(layer)
        config["config"] = {**config["config"], "go_backwards": not layer.go_backwards}
        self.backward_layer = registry.from_config("layer", config)
        self.halves = {"forward": self.forward_layer, "backward": self.backward_layer}

    def build_params(self, input_shape, rng):
        for prefix, half in self.halves.items():
            half.name = f"{self.name}/{prefix}"
            half.build(input_shape, rng, self.dtype)
            for key, value in half.params.items():
                self.params[f"{prefix}/{key}"] = value

    @property
    def n_outputs(self) -> int:
        """1, or with the layer's return_state 1 + each copy's final states."""
        return 2 * self.forward_layer.n_outputs - 1

    def compute_output_shape(self, input_shape):
        shape, states = self._output_and_states(
            self.forward_layer.compute_output_shape(input_shape)
        )
        width = 2 * shape[-1] if self.merge_mode == "concat" else shape[-1]
        return self._with_states((*shape[:-1], width), states + states)

    def _output_and_states(self, value) -> tuple:
        """(output, [final states]) of one copy's forward (or shape) value."""
        if self.forward_layer.return_state:
            return value[0], list(value[1:])
        return value, []

    def _with_states(self, output, states: list):
        """``output``, or with the layer's return_state the list [output, *states]."""
        return self.forward_layer._with_states(output, states)

    def _bind(self) -> None:
        """Point each half at this layer's parameters, gradients and call cache (the
        model may have moved the parameters into its flat buffers)."""
        cache = self.cache
        for prefix, half in self.halves.items():
            for key in half.params:
                half.params[key] = self.params[f"{prefix}/{key}"]
                half.grads[key] = self.grads[f"{prefix}/{key}"]
            if getattr(cache, prefix, None) is None:
                setattr(cache, prefix, type(cache)())
            half.cache = getattr(cache, prefix)
            half.cache.mask = cache.mask
            half.accumulate_grads = self.accumulate_grads
            half.trainable = self.trainable

    def output_mask(self, a_prev, mask):
        mask = mask if self.forward_layer.return_sequences else None
        return self._with_states(mask, [None] * (self.n_outputs - 1))

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        self._bind()
        y_f, states_f = self._output_and_states(self.forward_layer.forward(a_prev, training))
        y_b, states_b = self._output_and_states(self.backward_layer.forward(a_prev, training))
        if self.forward_layer.return_sequences:
            y_b = y_b[:, ::-1]  # back in time order
        self.cache.outputs = (y_f, y_b)
        return self._with_states(self._merge(y_f, y_b), states_f + states_b)

    def _merge(self, y_f, y_b):
        xp = backend.xp
        if self.merge_mode == "concat":
            return xp.concatenate([y_f, y_b], axis=-1)
        if self.merge_mode == "sum":
            return y_f + y_b
        if self.merge_mode == "mul":
            return y_f * y_b
        return (y_f + y_b) * 0.5

    def backward(self, da, need_input_grad=True):
        """dJ/dX from dJ/d(output), or with return_state from a list aligned with the
        output list (None where no gradient reaches an output)."""
        self._bind()
        if self.n_outputs > 1:
            _check_output_grads(self, da)
        da, d_states = self._output_and_states(da)
        da_f, da_b = (None, None) if da is None else self._unmerge(da)
        count = len(d_states) // 2  # the forward copy's states, then the backward copy's
        dx_f = self.forward_layer.backward(
            self._with_states(da_f, d_states[:count]), need_input_grad
        )
        dx_b = self.backward_layer.backward(
            self._with_states(da_b, d_states[count:]), need_input_grad
        )
        return dx_f + dx_b if need_input_grad else None

    def _unmerge(self, da) -> tuple:
        """(dJ/dy_f, dJ/dy_b), each in its copy's own time order, from dJ/d(merged)."""
        y_f, y_b = self.cache.outputs
        if self.merge_mode == "concat":
            n = y_f.shape[-1]
            da_f, da_b = da[..., :n], da[..., n:]
        elif self.merge_mode == "sum":
            da_f = da_b = da
        elif self.merge_mode == "mul":
            da_f, da_b = da * y_b, da * y_f
        else:
            da_f = da_b = da * 0.5
        if self.forward_layer.return_sequences:
            da_b = da_b[:, ::-1]  # the backward copy's own (reversed) time order
        xp = backend.xp
        return xp.ascontiguousarray(da_f), xp.ascontiguousarray(da_b)

    def get_config(self):
        config = super().get_config()
        config.update(layer=registry.get_config(self.forward_layer), merge_mode=self.merge_mode)
        return config
