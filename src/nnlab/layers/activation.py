"""Activation functions as layers: ``a = g(z)``, ``dz = da * g'(z)``; no parameters.

Input and output shape: any (m, ...), unchanged.
"""

from __future__ import annotations

from .. import registry
from ..exceptions import ConfigError
from ..ops import activations
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
