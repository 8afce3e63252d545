"""Fully connected layer: the course's ``Z = W A + b; A = g(Z)``, batch-first.

With batch-first arrays the course's column equations transpose: nnlab stores
W with shape (n_in, n_out) (the course's W[l] is (n[l], n[l-1]) = W.T) and computes

    forward:   Z = A_prev @ W + b                 A_prev (m, n_in), Z and A (m, n_out)
               A = g(Z)
    backward:  dZ = dA * g'(Z)
               dW = A_prev.T @ dZ                 (n_in, n_out)
               db = sum over m of dZ              (n_out,)
               dA_prev = dZ @ W.T                 (m, n_in)

Dense acts on the last axis: for a sequence A_prev (m, T, n_in) every time step is
projected by the same W (Z is (m, T, n_out)), and dW, db sum over m and T, computed on
the (m T, n_in) and (m T, n_out) views.

The 1/m of the course's dW = (1/m) dZ A_prev.T lives in the loss: its dA is already
divided by m.
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError, ShapeError
from ..ops.parallel import run_over_batch
from .base import Layer


@registry.register("layer")
class Dense(Layer):
    """Fully connected layer ``a = g(a_prev @ W + b)``.

    Args:
        units: n_out, the number of units.
        activation: name or Activation ("linear", "sigmoid", "tanh", "relu", "leaky_relu",
            "softmax"); None means linear.
        kernel_initializer: name or Initializer for W (default "glorot_uniform"; use "he"
            with ReLU).
        bias_initializer: for b (default "zeros").
        use_bias: False drops b (before batch norm, whose beta does its job).
        kernel_regularizer: None, an L2 strength, or ``L2(lambd)``.

    Input shape: (m, ..., n_in).  Output shape: (m, ..., units).
    """

    keeps_mask = True

    def __init__(
        self,
        units: int,
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        use_bias: bool = True,
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ConfigError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = units
        self.activation = registry.get("activation", activation)
        self.kernel_initializer = registry.get("initializer", kernel_initializer)
        self.bias_initializer = registry.get("initializer", bias_initializer)
        self.use_bias = use_bias
        self.kernel_regularizer = registry.get("regularizer", kernel_regularizer)

    def build_params(self, input_shape, rng):
        if len(input_shape) < 1:
            raise ShapeError(f"{self.describe()}: expected input of shape (m, ..., n_in), got (m,)")
        n_in = input_shape[-1]
        self.params["W"] = self.kernel_initializer((n_in, self.units), rng, self.dtype)
        if self.use_bias:
            self.params["b"] = self.bias_initializer((self.units,), rng, self.dtype)
        if self.kernel_regularizer is not None:
            self.regularizers["W"] = self.kernel_regularizer

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        z = _matmul_last_axis(a_prev, self.params["W"])  # (m, ..., n_out)
        if self.use_bias:
            b = self.params["b"]

            def add_bias(lo, hi):  # the batch split across threads
                z[lo:hi] += b

            run_over_batch(add_bias, z.shape[0], z.size)
        a = self.activation.forward(z)
        cache = self.cache
        cache.a_prev = a_prev
        cache.z = None if self.activation.in_place else z
        cache.a = a
        return a

    @property
    def preactivation(self):
        """The cached Z of the last forward pass (None if the activation overwrote it)."""
        return self.cache.z

    def backward(self, da, need_input_grad=True):
        dz = self.activation.backward(da, self.cache.z, self.cache.a)
        return self.backward_preactivation(dz, need_input_grad)

    def backward_preactivation(self, dz, need_input_grad=True):
        """Backward from dZ (the fused loss path starts here): fill dW, db; return dA_prev."""
        xp = backend.xp
        a_prev = self.cache.a_prev
        a2 = a_prev.reshape(-1, a_prev.shape[-1])  # (m ..., n_in)
        dz2 = dz.reshape(-1, self.units)  # (m ..., n_out)
        if self.trainable:  # a frozen layer needs no dW, db
            self.write_grad("W", lambda out: xp.matmul(a2.T, dz2, out=out))
            if self.use_bias:
                self.write_grad("b", lambda out: dz2.sum(axis=0, out=out))
        if not need_input_grad:
            return None
        return _matmul_last_axis(dz, self.params["W"].T)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation.get_config(),
            kernel_initializer=self.kernel_initializer.get_config(),
            bias_initializer=self.bias_initializer.get_config(),
            use_bias=self.use_bias,
            kernel_regularizer=(
                self.kernel_regularizer.get_config() if self.kernel_regularizer else None
            ),
        )
        return config


def _matmul_last_axis(x, w):
    """x @ w over x's last axis as one 2-D GEMM: (m, ..., n_in) -> (m, ..., n_out).  (NumPy's
    matmul of a 3-D x by a matrix runs one GEMM per leading index, on fewer rows each.)"""
    if x.ndim <= 2:
        return backend.xp.matmul(x, w)
    flat = x.reshape(-1, x.shape[-1])  # a view when x is contiguous
    return backend.xp.matmul(flat, w).reshape(*x.shape[:-1], w.shape[-1])


@registry.register("layer")
class Rescaling(Layer):
    """y = scale * x + offset (Keras' Rescaling): pixels to [0, 1], or a transformer's
    embeddings times sqrt(d_model).  dx = scale * dy.  No parameters.

    Input and output shape: any (m, ...), unchanged.
    """

    keeps_mask = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        y = a_prev * self.scale
        if self.offset:
            y += self.offset
        return y

    def backward(self, da, need_input_grad=True):
        return da * self.scale if need_input_grad else None

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config
