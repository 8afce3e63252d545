"""Activation functions as layers: ``a = g(z)``, ``dz = da * g'(z)``; no parameters, but
for PReLU, whose negative slope alpha is learned (He et al. 2015):

    forward:   a = z                  where z > 0
               a = alpha * z          elsewhere       (alpha broadcast over the shared axes)
    backward:  dz = da * (1 if z > 0 else alpha)
               dalpha = sum over m and the shared axes of da * min(z, 0)

Input and output shape: any (m, ...), unchanged.
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError
from ..ops import activations
from ..ops.parallel import run_over_batch
from .base import Layer


@registry.register("layer")
class Activation(Layer):
    """Apply an activation function (by name or instance) element-wise.

    A final ``Activation("softmax")`` or ``Activation("sigmoid")`` is fused with the
    matching cross-entropy loss exactly as a Dense layer's activation is.
    """

    keeps_mask = True

    def __init__(self, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.activation = registry.get("activation", activation)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        z = a_prev.copy() if self.activation.in_place else a_prev
        a = self.activation.forward(z)
        self.cache.z, self.cache.a = a_prev, a
        return a

    @property
    def preactivation(self):
        return self.cache.z

    def backward(self, da, need_input_grad=True):
        return self.activation.backward(da, self.cache.z, self.cache.a)

    def backward_preactivation(self, dz, need_input_grad=True):
        return dz

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.get_config()
        return config


class _FixedActivation(Activation):
    """An Activation layer whose function is fixed by the subclass."""

    function = "linear"

    def __init__(self, **kwargs):
        super().__init__(self.function, **kwargs)

    def get_config(self):
        return Layer.get_config(self)


@registry.register("layer")
class ReLU(_FixedActivation):
    """a = max(0, z)."""

    function = "relu"


@registry.register("layer")
class Sigmoid(_FixedActivation):
    """a = 1 / (1 + exp(-z))."""

    function = "sigmoid"


@registry.register("layer")
class Tanh(_FixedActivation):
    """a = tanh(z)."""

    function = "tanh"


@registry.register("layer")
class Softmax(_FixedActivation):
    """a = softmax(z) over ``axis`` (default the last): a_i = exp(z_i) / sum_j exp(z_j).

    The course's attention takes it over the input steps, ``Softmax(axis=1)`` on energies
    (m, Tx, 1): alpha<t, t'> sums to 1 over t'.  Another axis than the last is moved last,
    and back (the fused softmax + cross-entropy only fuses the last axis's).
    """

    function = "softmax"

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
            raise ConfigError(f"Softmax: axis must be a non-batch axis (not 0), got {axis!r}")
        self.axis = axis

    def _last(self, a):
        """a with this layer's axis swapped with the last (a view; its own inverse)."""
        return a if self.axis in (-1, a.ndim - 1) else a.swapaxes(self.axis, -1)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        a = self._last(self.activation.forward(self._last(a_prev)))
        self.cache.z, self.cache.a = a_prev, a
        return a

    def backward(self, da, need_input_grad=True):
        z, a = self.cache.z, self.cache.a
        return self._last(self.activation.backward(self._last(da), self._last(z), self._last(a)))

    @property
    def fusable_activation(self):
        """Only a softmax over the last axis fuses with the cross-entropy."""
        return self.activation if self.axis in (-1, len(self.input_shape or ())) else None

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


@registry.register("layer")
class LeakyReLU(Activation):
    """a = z if z > 0 else alpha z."""

    def __init__(self, alpha: float = 0.01, **kwargs):
        super().__init__(activations.LeakyReLU(alpha), **kwargs)

    def get_config(self):
        config = Layer.get_config(self)
        config["alpha"] = self.activation.alpha
        return config


@registry.register("layer")
class PReLU(Layer):
    """Parametric ReLU (Keras' ``PReLU``): a = z if z > 0 else alpha z, alpha learned.

    alpha has one entry per input entry (Keras' default), or one shared along each axis in
    ``shared_axes`` (numbered as Keras does: 1 is the first axis after the batch).  For
    images (m, n_H, n_W, n_C), ``shared_axes=[1, 2]`` gives one alpha per channel, which is
    PyTorch's ``nn.PReLU(n_C)`` (MTCNN's convolutional PReLUs); for vectors (m, n) the
    default is one alpha per unit, PyTorch's ``nn.PReLU(n)``.

    Args:
        alpha_initializer: name or Initializer for alpha (default "zeros": starts as ReLU).
        alpha_regularizer: None, an L2 strength, or ``L2(lambd)``.
        shared_axes: None, an axis, or a list of axes (>= 1) along which alpha is shared.

    Weights: ``alpha`` of shape ``input_shape`` with the shared axes set to 1.
    Input and output shape: any (m, ...), unchanged.
    """

    keeps_mask = True

    def __init__(
        self, alpha_initializer="zeros", alpha_regularizer=None, shared_axes=None, **kwargs
    ):
        super().__init__(**kwargs)
        axes = [shared_axes] if isinstance(shared_axes, int) else shared_axes
        if axes is not None and (
            not isinstance(axes, list | tuple)
            or not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes)
        ):
            raise ConfigError(
                "PReLU: shared_axes must be None, an axis >= 1 or a list of them (axis 0 is "
                f"the batch), got {shared_axes!r}"
            )
        self.shared_axes = None if axes is None else sorted(set(int(a) for a in axes))
        self.alpha_initializer = registry.get("initializer", alpha_initializer)
        self.alpha_regularizer = registry.get("regularizer", alpha_regularizer)

    def alpha_shape(self, input_shape) -> tuple:
        """alpha's shape for examples of ``input_shape``: that shape, 1 on shared axes."""
        shared = self.shared_axes or []
        if shared and shared[-1] > len(input_shape):
            raise ConfigError(
                f"{self.describe()}: shared_axes {shared} name an axis past the input's "
                f"{len(input_shape)} (input shape (m, {', '.join(map(str, input_shape))}))"
            )
        shape = tuple(1 if k + 1 in shared else d for k, d in enumerate(input_shape))
        if None in shape:
            raise ConfigError(
                f"{self.describe()}: an axis of unknown size (None) in input shape "
                f"{tuple(input_shape)} must be in shared_axes"
            )
        return shape

    def build_params(self, input_shape, rng):
        shape = self.alpha_shape(input_shape)
        self.params["alpha"] = self.alpha_initializer(shape, rng, self.dtype)
        if self.alpha_regularizer is not None:
            self.regularizers["alpha"] = self.alpha_regularizer

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        alpha = self.params["alpha"]
        a = self.output_array(a_prev.shape, xp.result_type(a_prev, alpha))
        # alpha <= 1: a = max(z, alpha z); alpha >= 1: a = min(z, alpha z) (two passes, no
        # mask); alphas on both sides of 1: alpha z, then z copied where z > 0
        if bool((alpha <= 1).all()):
            choose = xp.maximum
        elif bool((alpha >= 1).all()):
            choose = xp.minimum
        else:
            choose = None

        z2, alpha2 = _long_rows(a_prev, alpha)
        a2 = a.reshape(z2.shape)

        def pass_(lo, hi):
            z, out = z2[lo:hi], a2[lo:hi]
            xp.multiply(z, alpha2, out=out)
            if choose is not None:
                choose(out, z, out=out)
            else:
                xp.copyto(out, z, where=z > 0)

        run_over_batch(pass_, a_prev.shape[0], a_prev.size)
        self.cache.a_prev = a_prev
        return a

    def backward(self, da, need_input_grad=True):
        xp = backend.xp
        a_prev = self.cache.a_prev
        alpha = self.params["alpha"]
        # dalpha: da * min(z, 0) summed over the batch axis and the shared axes
        axes = (0, *(self.shared_axes or []))
        negative_part = xp.minimum(a_prev, 0)
        self.write_grad(
            "alpha",
            lambda out: _sum_to(da * negative_part, axes, alpha.shape, out),
        )
        if not need_input_grad:
            return None
        dx = da * alpha
        xp.copyto(dx, da, where=a_prev > 0)
        return dx

    def get_config(self):
        config = super().get_config()
        config.update(
            alpha_initializer=self.alpha_initializer.get_config(),
            alpha_regularizer=(
                self.alpha_regularizer.get_config() if self.alpha_regularizer else None
            ),
            shared_axes=self.shared_axes,
        )
        return config


#: Shortest row the PReLU passes run along: alpha shared over the image with a few channels
#: would otherwise broadcast along rows of n_C elements (a 10-element inner loop: ~10x slower)
_ROW = 4096


def _long_rows(z, alpha):
    """Views of z (m, d_1, ..., d_k) as (m, d_1, ..., d_{j-1}, L) and of alpha tiled to
    (a_1, ..., a_{j-1}, L), L = d_j ... d_k >= _ROW (or all of an example): the same
    product, but along rows of L elements (alpha's tile is at most one example)."""
    dims = z.shape[1:]
    j, length = len(dims), 1
    while j > 0 and length < _ROW:
        j -= 1
        length *= dims[j]
    tile = backend.xp.broadcast_to(alpha, (*alpha.shape[:j], *dims[j:]))
    return z.reshape(*z.shape[: j + 1], length), tile.reshape(*alpha.shape[:j], length)


def _sum_to(values, axes, shape, out):
    """values (m, ...) summed over ``axes`` (kept as size 1, the batch axis dropped) into
    ``out`` of ``shape`` (a new array when out is None)."""
    total = values.sum(axis=axes, keepdims=True).reshape(shape)
    if out is None:
        return total
    out[...] = total
    return out
