"""Attention (Vaswani et al. 2017; Course 5, week 4): multi-head scaled dot-product
attention, and the positions a transformer adds to its tokens.

Multi-head attention, for queries q (m, Tq, d_q), keys k (m, Tk, d_k) and values
v (m, Tk, d_v), H heads of size d_h (Keras' ``key_dim``) and e (``value_dim``):

    Q = q Wq + bq    (m, H, Tq, d_h)        the heads split off the projection's last axis
    K = k Wk + bk    (m, H, Tk, d_h)
    V = v Wv + bv    (m, H, Tk, e)
    S = Q K^T / sqrt(d_h)                  (m, H, Tq, Tk)
    S = S - 1e9 where the mask forbids     (padding: a key that is padding; look-ahead:
                                            a key after the query, j > i)
    P = softmax(S) over the keys; dropout on P in training
    O = P V                                 (m, H, Tq, e), heads merged: (m, Tq, H e)
    out = O Wo + bo                         (m, Tq, d_out)

Backward, with dO from d(out) = dOut Wo^T:

    dV = P^T dO,   dP = dO V^T,   dS = P * (dP - sum_keys(dP * P)) / sqrt(d_h)
    dQ = dS K,     dK = dS^T Q,   then dq = dQ Wq^T, dWq = q^T dQ (and so for k, v)

Positions: ``PositionalEncoding`` adds the course's sinusoids, PE(pos, 2i) =
sin(pos / 10000^(2i / d)), PE(pos, 2i + 1) = cos(pos / 10000^(2i / d));
``PositionEmbedding`` adds a learned vector per position (BERT's).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from ..ops import activations
from .base import Layer

_SOFTMAX = activations.Softmax()
MASKED = -1e9  # added to a forbidden key's score: its exp underflows to 0


@registry.register("layer")
class MultiHeadAttention(Layer):
    """Multi-head attention (module docstring), with Keras' weights and call.

    Call ``mha(query, value)`` (self-attention: ``mha(x, x)``), ``mha(query, value, key)``,
    and ``attention_mask=`` (m, Tk) (1 for a real key, 0 for padding, as Hugging Face's
    ``attention_mask``) or (m, Tq, Tk) (1 where query i may read key j).  As a list:
    [query, value], [query, value, key] or [query, value, key, mask].

    Args:
        num_heads: H.
        key_dim: d_h, each head's query and key size.
        value_dim: e, each head's value size (default key_dim).
        dropout: the dropout rate on the attention weights P, in training.
        use_bias: biases on the four projections.
        output_dim: d_out (default the query's last dimension).
        causal: the look-ahead mask: query i reads keys j <= i only (a decoder's
            self-attention).

    Weights (Keras' shapes): query/key/value ``kernel`` (d, H, d_h or e) and ``bias``
    (H, d_h or e); output ``kernel`` (H, e, d_out) and ``bias`` (d_out,).
    Input shapes: [(Tq, d_q), (Tk, d_v)] (+ (Tk, d_k), + (Tk,) or (Tq, Tk) for the mask).
    Output shape: (Tq, d_out).
    """

    multi_input = True
    PROJECTIONS = ("query", "key", "value")

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_dim: int | None = None,
        causal: bool = False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"MultiHeadAttention: {arg} must be an int >= 1, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        self.num_heads, self.key_dim = num_heads, key_dim
        self.value_dim = value_dim or key_dim
        self.dropout, self.use_bias, self.causal = float(dropout), bool(use_bias), bool(causal)
        self.output_dim = output_dim
        self.kernel_initializer = registry.get("initializer", kernel_initializer)

    def __call__(self, query, value=None, key=None, attention_mask=None, training=False):
        """``mha(query, value, key=None, attention_mask=None)`` (class docstring)."""
        if isinstance(query, list | tuple):
            return super().__call__(list(query), training=training)
        inputs = [query, query if value is None else value]
        if key is not None or attention_mask is not None:
            inputs.append(inputs[1] if key is None else key)
        if attention_mask is not None:
            inputs.append(attention_mask)
        return super().__call__(inputs, training=training)

    # ---------------------------------------------------------------- building
    def _split(self, shapes):
        """(query, value, key, mask) shapes from the input shapes (key: value's if absent)."""
        if not 2 <= len(shapes) <= 4:
            raise ConfigError(
                f"{self.describe()}: expected [query, value], [query, value, key] or "
                f"[query, value, key, mask], got {len(shapes)} inputs"
            )
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        mask = shapes[3] if len(shapes) > 3 else None
        return query, value, key, mask

    def build_params(self, input_shape, rng):
        query, value, key, mask = self._split(input_shape)
        for name, shape in (("query", query), ("value", value), ("key", key)):
            if len(shape) != 2:
                raise ShapeError(f"{self.describe()}: {name} must be (T, d), got {shape}")
        if key[0] != value[0] and None not in (key[0], value[0]):
            raise ShapeError(
                f"{self.describe()}: key and value must have the same length, got {key} and {value}"
            )
        h, dh, e = self.num_heads, self.key_dim, self.value_dim
        d_out = self.output_dim or query[-1]
        sizes = {"query": (query[-1], dh), "key": (key[-1], dh), "value": (value[-1], e)}
        for name, (d_in, d_head) in sizes.items():
            self.params[f"{name}_kernel"] = self._kernel((d_in, h, d_head), d_in, h * d_head, rng)
            if self.use_bias:
                self.params[f"{name}_bias"] = backend.xp.zeros((h, d_head), dtype=self.dtype)
        self.params["output_kernel"] = self._kernel((h, e, d_out), h * e, d_out, rng)
        if self.use_bias:
            self.params["output_bias"] = backend.xp.zeros((d_out,), dtype=self.dtype)

    def _kernel(self, shape, fan_in, fan_out, rng):
        flat = self.kernel_initializer((fan_in, fan_out), rng, self.dtype)
        return flat.reshape(shape)

    def compute_output_shape(self, input_shape):
        query = self._split(input_shape)[0]
        return (query[0], self.output_dim or query[-1])

    # ----------------------------------------------------------------- forward
    def forward(self, inputs, training=False):
        xp = backend.xp
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        m, tq, tk = query.shape[0], query.shape[1], key.shape[1]
        h = self.num_heads
        # Each head's rows made contiguous (m, H, T, d_head) by one copy per projection: a
        # stacked matmul over the strided views runs ~1.8x slower, and with a transposed
        # view as its right operand (K^T) NumPy's slow path (5-10x).  The copy of Q also
        # applies the 1/sqrt(d_h) scale: Qs = Q / sqrt(d_h).
        scale = 1.0 / math.sqrt(self.key_dim)
        Q = self._heads("query", query, h)
        Qs = xp.multiply(Q, Q.dtype.type(scale), out=xp.empty(Q.shape, Q.dtype))
        K = self._heads("key", key, h)
        V = xp.ascontiguousarray(self._heads("value", value, h))
        scores = Qs @ xp.ascontiguousarray(K.transpose(0, 1, 3, 2))  # (m, H, Tq, Tk)
        allowed = self._allowed(inputs[3] if len(inputs) > 3 else None, m, tq, tk)
        if allowed is not None:  # + 0 where allowed, + MASKED where not (in place)
            scores += xp.where(allowed, 0.0, MASKED).astype(scores.dtype, copy=False)
        P = _SOFTMAX.forward(scores)  # (m, H, Tq, Tk), rows split over the threads
        keep = None
        if training and self.dropout > 0:
            keep = self.rng.random(P.shape, dtype=P.dtype) >= self.dropout
            P_used = P * keep / (1.0 - self.dropout)
        else:
            P_used = P
        O = P_used @ V  # (m, H, Tq, e)
        merged = O.transpose(0, 2, 1, 3).reshape(m * tq, -1)  # (m Tq, H e)
        out = merged @ self._flat("output_kernel")  # (m Tq, d_out)
        if self.use_bias:
            out += self.params["output_bias"]
        c = self.cache
        c.inputs, c.Qs, c.K, c.V, c.P, c.P_used, c.keep, c.merged = (
            inputs,
            Qs,
            K,
            V,
            P,
            P_used,
            keep,
            merged,
        )
        c.separate_key = len(inputs) > 2
        return out.reshape(m, tq, -1)

    def _heads(self, name, x, h):
        """A projection split into heads, a strided view (m, H, T, d_head)."""
        m, t = x.shape[0], x.shape[1]
        return self._project(name, x).reshape(m, t, h, -1).transpose(0, 2, 1, 3)

    def _project(self, name, x):
        """x W + b for one projection: (m, T, d) -> (m T, H d_head)."""
        y = x.reshape(-1, x.shape[-1]) @ self._flat(f"{name}_kernel")
        if self.use_bias:
            y += self.params[f"{name}_bias"].reshape(-1)
        return y

    def _flat(self, key):
        """A kernel as a matrix: projections (d, H d_head), the output (H e, d_out)."""
        w = self.params[key]
        return w.reshape(w.shape[0], -1) if key != "output_kernel" else w.reshape(-1, w.shape[-1])

    def _allowed(self, mask, m, tq, tk):
        """Where query i may read key j, broadcastable to (m, H, Tq, Tk); None: anywhere."""
        xp = backend.xp
        allowed = None
        if mask is not None:
            if mask.shape not in ((m, tk), (m, tq, tk)):
                raise ShapeError(
                    f"{self.describe()}: attention_mask must be (m, Tk) = {(m, tk)} or "
                    f"(m, Tq, Tk) = {(m, tq, tk)}, got {tuple(mask.shape)}"
                )
            if not mask.all():  # all ones: no mask to add (as transformers' SDPA path)
                allowed = (mask != 0)[:, None, None, :] if mask.ndim == 2 else (mask != 0)[:, None]
        if self.causal:
            look_ahead = xp.tril(xp.ones((tq, tk), dtype=bool))  # j <= i
            allowed = look_ahead if allowed is None else allowed & look_ahead
        return allowed

    # ---------------------------------------------------------------- backward
    def backward(self, da, need_input_grad=True):
        c = self.cache
        m, tq = da.shape[0], da.shape[1]
        h = self.num_heads
        d_out = da.reshape(m * tq, -1)  # (m Tq, d_out)
        self._write_projection_grads("output", c.merged, d_out)
        dO = (d_out @ self._flat("output_kernel").T).reshape(m, tq, h, -1)
        dO = dO.transpose(0, 2, 1, 3)  # (m, H, Tq, e)
        dV = c.P_used.transpose(0, 1, 3, 2) @ dO  # (m, H, Tk, e)
        dP = dO @ backend.xp.ascontiguousarray(c.V.transpose(0, 1, 3, 2))  # (m, H, Tq, Tk)
        if c.keep is not None:
            dP *= c.keep / (1.0 - self.dropout)
        dS = dP  # dJ/d(scores) for scores = Qs K^T, Qs = Q / sqrt(d_h)
        dS -= (dP * c.P).sum(axis=-1, keepdims=True)
        dS *= c.P
        dQ = dS @ c.K  # (m, H, Tq, d_h)
        dQ *= 1.0 / math.sqrt(self.key_dim)
        dK = dS.transpose(0, 1, 3, 2) @ c.Qs  # (m, H, Tk, d_h)
        query, value = c.inputs[0], c.inputs[1]
        key = c.inputs[2] if c.separate_key else value
        grads = {}
        for name, x, d in (("query", query, dQ), ("key", key, dK), ("value", value, dV)):
            d_flat = d.transpose(0, 2, 1, 3).reshape(m * x.shape[1], -1)  # (m T, H d_head)
            self._write_projection_grads(name, x.reshape(-1, x.shape[-1]), d_flat)
            if need_input_grad:
                grads[name] = (d_flat @ self._flat(f"{name}_kernel").T).reshape(x.shape)
        if not need_input_grad:
            return None
        if not c.separate_key:
            return [grads["query"], grads["value"] + grads["key"]]
        rest = [None] if len(c.inputs) > 3 else []  # the mask has no gradient
        return [grads["query"], grads["value"], grads["key"], *rest]

    def _write_projection_grads(self, name, x_flat, d_flat):
        """dW = x^T d (in the kernel's shape), db = sum of d over the positions."""
        kernel = self.params[f"{name}_kernel"]
        self.write_grad(
            f"{name}_kernel",
            lambda out: backend.xp.matmul(
                x_flat.T, d_flat, out=None if out is None else out.reshape(x_flat.shape[1], -1)
            ).reshape(kernel.shape),
        )
        if self.use_bias:
            bias = self.params[f"{name}_bias"]
            self.write_grad(
                f"{name}_bias",
                lambda out: d_flat.sum(
                    axis=0, out=None if out is None else out.reshape(-1)
                ).reshape(bias.shape),
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            dropout=self.dropout,
            use_bias=self.use_bias,
            output_dim=self.output_dim,
            causal=self.causal,
            kernel_initializer=self.kernel_initializer.get_config(),
        )
        return config


def sinusoidal_encoding(length: int, d: int, dtype=np.float32) -> np.ndarray:
    """The course's positional_encoding: (length, d), PE(pos, 2i) = sin(pos / 10000^(2i/d)),
    PE(pos, 2i + 1) = cos(pos / 10000^(2i/d))."""
    positions = np.arange(length)[:, None]  # (length, 1)
    i = np.arange(d)[None, :]  # (1, d)
    angles = positions / np.power(10000.0, (2 * (i // 2)) / d)  # (length, d)
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return angles.astype(dtype)


@registry.register("layer")
class PositionalEncoding(Layer):
    """x + PE[:T]: the course's sinusoidal positions added to (m, T, d) embeddings
    (``sinusoidal_encoding``).  No parameters; the gradient passes through unchanged.

    Args:
        max_length: the longest T (the table's rows).
    """

    keeps_mask = True

    def __init__(self, max_length: int = 512, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_length, int) or max_length < 1:
            raise ConfigError(f"PositionalEncoding: max_length must be >= 1, got {max_length!r}")
        self.max_length = max_length

    def build_params(self, input_shape, rng):
        _check_sequence(self, input_shape)
        table = sinusoidal_encoding(self.max_length, input_shape[-1], self.dtype)
        self.state["encoding"] = backend.xp.asarray(table)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        _check_length(self, a_prev.shape[1])
        return a_prev + self.state["encoding"][: a_prev.shape[1]]

    def backward(self, da, need_input_grad=True):
        return da

    def get_config(self):
        config = super().get_config()
        config["max_length"] = self.max_length
        return config


@registry.register("layer")
class PositionEmbedding(Layer):
    """x + P[:T]: a learned vector per position added to (m, T, d) embeddings (BERT's
    position embeddings).  dP[t] = sum over the batch of dx[:, t].

    Args:
        max_length: the positions learned (BERT: 512).
        embeddings_initializer: P's initializer.
    """

    keeps_mask = True

    def __init__(self, max_length: int = 512, embeddings_initializer="random_normal", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_length, int) or max_length < 1:
            raise ConfigError(f"PositionEmbedding: max_length must be >= 1, got {max_length!r}")
        self.max_length = max_length
        self.embeddings_initializer = registry.get("initializer", embeddings_initializer)

    def build_params(self, input_shape, rng):
        _check_sequence(self, input_shape)
        shape = (self.max_length, input_shape[-1])
        self.params["embeddings"] = self.embeddings_initializer(shape, rng, self.dtype)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        _check_length(self, a_prev.shape[1])
        return a_prev + self.params["embeddings"][: a_prev.shape[1]]

    def backward(self, da, need_input_grad=True):
        t = da.shape[1]

        def positions(out):
            grad = backend.xp.zeros_like(self.params["embeddings"]) if out is None else out
            grad[t:] = 0
            da.sum(axis=0, out=grad[:t])
            return grad

        self.write_grad("embeddings", positions)
        return da if need_input_grad else None

    def get_config(self):
        config = super().get_config()
        config.update(
            max_length=self.max_length,
            embeddings_initializer=self.embeddings_initializer.get_config(),
        )
        return config


def _check_sequence(layer, input_shape):
    if len(input_shape) != 2:
        raise ShapeError(f"{layer.describe()}: expected inputs (m, T, d), got (m, *{input_shape})")
    if input_shape[0] is not None:
        _check_length(layer, input_shape[0])


def _check_length(layer, t):
    if t > layer.max_length:
        raise ShapeError(
            f"{layer.describe()}: sequences of {t} positions, but max_length is {layer.max_length}"
        )


@registry.register("layer")
class PaddingMask(Layer):
    """The attention mask of token ids: (m, T) ids -> (m, T) floats, 1 for a real token
    and 0 for ``pad_id`` (the course's create_padding_mask, as 1 = attend).  No gradient.
    """

    accepts_integer_input = True

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        return (a_prev != self.pad_id).astype(self.dtype)

    def backward(self, da, need_input_grad=True):
        return None

    def get_config(self):
        config = super().get_config()
        config["pad_id"] = self.pad_id
        return config


@registry.register("layer")
class MaskLogits(Layer):
    """Logits of the positions a mask leaves out set to ``fill_value`` (-1e9), so that a
    softmax over the positions gives them no probability and a loss no gradient (extractive
    QA: the start and end of an answer never fall on padding or on the question's tokens).

    Inputs ``[x, mask]``: x (m, T, ...) and mask (m, T), a position kept where mask > 0 (a
    0/1 attention mask); the mask spreads over x's further axes::

        out = x where mask > 0, else fill_value          dx = dOut where mask > 0, else 0

    The mask gets a zero gradient (the output does not change with a kept mask value).
    """

    multi_input = True

    def __init__(self, fill_value: float = MASKED, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(fill_value, int | float) or not math.isfinite(fill_value):
            raise ConfigError(f"MaskLogits: fill_value must be a finite number, got {fill_value!r}")
        self.fill_value = float(fill_value)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ShapeError(
                f"{self.describe()}: expected [x, mask], got {len(input_shape)} inputs"
            )
        x, mask = (tuple(s) for s in input_shape)
        fits = len(mask) <= len(x) and all(
            a is None or b is None or a == b for a, b in zip(x, mask, strict=False)
        )
        if not mask or not fits:
            raise ShapeError(
                f"{self.describe()}: the mask's shape (m, {', '.join(map(str, mask))}) must be "
                f"the first axes of x's (m, {', '.join(map(str, x))})"
            )
        return x

    def forward(self, a_prev, training=False):
        if not isinstance(a_prev, list | tuple) or len(a_prev) != 2:
            raise ShapeError(f"{self.describe()}: expected a list [x, mask]")
        x, mask = a_prev
        if x.shape[: mask.ndim] != mask.shape:
            raise ShapeError(
                f"{self.describe()}: mask of shape {tuple(mask.shape)} does not fit x of shape "
                f"{tuple(x.shape)} (its first axes)"
            )
        keep = (mask > 0).reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
        self.cache.keep, self.cache.mask_shape = keep, mask.shape
        return backend.xp.where(keep, x, x.dtype.type(self.fill_value))

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        xp = backend.xp
        return [xp.where(self.cache.keep, da, 0), xp.zeros(self.cache.mask_shape, da.dtype)]

    def get_config(self):
        config = super().get_config()
        config["fill_value"] = self.fill_value
        return config
