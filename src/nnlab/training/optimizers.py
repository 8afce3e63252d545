"""Optimizers that update one flat parameter buffer in place.

The model keeps every parameter in one contiguous array and every gradient in another
(layers hold views into them), so a step is a handful of whole-buffer in-place
operations whatever the number of layers.  With g the gradient and alpha the learning
rate (t counts steps from 1):

=============== =====================================================================
gradient descent theta -= alpha g
momentum         v = beta v + (1 - beta) g;  theta -= alpha v          (the course's form)
RMSprop          s = beta s + (1 - beta) g^2;  theta -= alpha g / (sqrt(s) + eps)
Adam             v = b1 v + (1 - b1) g;  s = b2 s + (1 - b2) g^2
                 v_hat = v / (1 - b1^t);  s_hat = s / (1 - b2^t)
                 theta -= alpha v_hat / (sqrt(s_hat) + eps)
=============== =====================================================================

Adam is computed as theta -= alpha sqrt(1-b2^t)/(1-b1^t) * v / (sqrt(s) + eps sqrt(1-b2^t)),
the same quantity with fewer passes over the buffer.

Gradient clipping (every optimizer, as Keras; at most one of them), applied to g in place
before the update:

=================== ===================================================================
clipvalue=c         g = clip(g, -c, c) elementwise (the course's ``clip`` of its language
                    models: exploding gradients of RNNs)
clipnorm=c          each parameter's gradient g_p scaled to norm c when ||g_p|| > c
global_clipnorm=c   all of them scaled by c / ||g|| when the norm of all, ||g||, is > c
=================== ===================================================================

Both cores: ``update`` cuts a large flat buffer (and its slots) into one contiguous chunk per
thread, bounds on 64-byte lines, and runs a subclass's ``update_chunk`` (all its in-place
passes) on each chunk in its own thread (``ops.parallel.run_over_rows``; NumPy releases the
GIL in its loops).  Every pass is elementwise, so the result is the same, bit for bit, as
one call over the whole buffer.  A chunk must hold at least ``parallel.MIN_PASS_ELEMENTS``
elements x ``passes`` (Adam: 2 threads from about 175k parameters; momentum from 420k).
"""

from __future__ import annotations

import math

from .. import backend, registry
from ..exceptions import ConfigError
from ..ops import parallel


class Optimizer:
    """Base class.  ``build(params)`` allocates slots; ``step(params, grads)`` updates."""

    name = "optimizer"
    slot_names: tuple[str, ...] = ()
    #: whole-chunk passes ``update_chunk`` makes (what splitting over threads must pay for)
    passes = 12

    def __init__(self, learning_rate=0.01, clipvalue=None, clipnorm=None, global_clipnorm=None):
        self.clipping = _check_clipping(
            type(self).__name__,
            {"clipvalue": clipvalue, "clipnorm": clipnorm, "global_clipnorm": global_clipnorm},
        )
        try:
            self.learning_rate = registry.get("schedule", learning_rate)
        except ConfigError as err:  # name the argument: "Adam: learning_rate: unknown ..."
            raise ConfigError(f"{type(self).__name__}: learning_rate: {err}") from None
        if isinstance(self.learning_rate, int | float) and not self.learning_rate > 0:
            raise ConfigError(
                f"{type(self).__name__}: learning_rate must be > 0, got {learning_rate}"
            )
        self.lr = self._lr_at(0)
        self.t = 0
        self.slots: dict = {}
        self._tmp = None

    def _lr_at(self, epoch: int) -> float:
        lr = self.learning_rate
        return float(lr(epoch) if callable(lr) else lr)

    def set_epoch(self, epoch: int) -> None:
        """Apply the learning-rate schedule for this epoch (0-based)."""
        self.lr = self._lr_at(epoch)

    def build(self, params) -> None:
        """Allocate the slots (zeros like the flat parameter buffer)."""
        xp = backend.xp
        self.slots = {key: xp.zeros_like(params) for key in self.slot_names}
        self._tmp = xp.empty_like(params) if self.slot_names else None

    def step(self, params, grads, spans=None) -> None:
        """One update of the flat ``params`` from ``grads`` (clipped first, in place).
        ``spans``: (start, stop) of each parameter in the buffers, for ``clipnorm`` (the
        whole buffer is one parameter when None)."""
        self.t += 1
        if self.clipping:
            self.clip(grads, spans)
        self.update(params, grads)

    def clip(self, grads, spans=None) -> None:
        """Clip the flat gradient buffer in place (see the module docstring)."""
        xp = backend.xp
        ((kind, c),) = self.clipping.items()
        if kind == "clipvalue":
            xp.clip(grads, -c, c, out=grads)
            return
        parts = (
            [grads]
            if kind == "global_clipnorm" or spans is None
            else [grads[start:stop] for start, stop in spans]
        )
        for part in parts:
            norm = math.sqrt(float(xp.vdot(part, part)))
            if norm > c:
                part *= c / norm

    def update(self, params, grads) -> None:
        """One step on the whole buffer: ``update_chunk`` on a chunk per thread."""
        if self._tmp is None:
            self._tmp = backend.xp.empty_like(params)
        slots, tmp = self.slots, self._tmp
        if params.ndim == 0:
            self.update_chunk(params, grads, slots, tmp)
            return

        def pass_(lo, hi):
            chunk = {key: slot[lo:hi] for key, slot in slots.items()}
            self.update_chunk(params[lo:hi], grads[lo:hi], chunk, tmp[lo:hi])

        rows, row = params.shape[0], params.size // max(params.shape[0], 1)
        align = max(1, 64 // (params.itemsize * max(row, 1)))
        work = params.size * self.passes
        parallel.run_over_rows(
            pass_, rows, work, align=align, min_elements=parallel.MIN_PASS_ELEMENTS
        )

    def update_chunk(self, params, grads, slots, tmp) -> None:
        """Update ``params`` in place from ``grads``, with ``slots`` (name -> array) and a
        scratch array ``tmp``, all the same chunk of their buffers (elementwise only)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        config = {"name": self.name, "learning_rate": registry.get_config(self.learning_rate)}
        return {**config, **self.clipping}


@registry.register("optimizer", aliases=("gd", "gradient_descent"))
class GradientDescent(Optimizer):
    """theta -= alpha g."""

    name = "sgd"
    passes = 2

    def update_chunk(self, params, grads, slots, tmp):
        backend.xp.multiply(grads, self.lr, out=tmp)
        params -= tmp


@registry.register("optimizer")
class Momentum(Optimizer):
    """v = beta v + (1 - beta) g;  theta -= alpha v  (beta = 0.9 averages ~10 steps)."""

    name = "momentum"
    slot_names = ("v",)
    passes = 5

    def __init__(
        self, learning_rate=0.01, beta=0.9, *, clipvalue=None, clipnorm=None, global_clipnorm=None
    ):
        super().__init__(learning_rate, clipvalue, clipnorm, global_clipnorm)
        self.beta = _check_beta("Momentum", "beta", beta)

    def update_chunk(self, params, grads, slots, tmp):
        xp, v = backend.xp, slots["v"]
        v *= self.beta
        xp.multiply(grads, 1.0 - self.beta, out=tmp)
        v += tmp
        xp.multiply(v, self.lr, out=tmp)
        params -= tmp

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@registry.register("optimizer")
class RMSprop(Optimizer):
    """s = beta s + (1 - beta) g^2;  theta -= alpha g / (sqrt(s) + eps)."""

    name = "rmsprop"
    slot_names = ("s",)
    passes = 9

    def __init__(
        self,
        learning_rate=0.001,
        beta=0.9,
        epsilon=1e-8,
        *,
        clipvalue=None,
        clipnorm=None,
        global_clipnorm=None,
    ):
        super().__init__(learning_rate, clipvalue, clipnorm, global_clipnorm)
        self.beta = _check_beta("RMSprop", "beta", beta)
        self.epsilon = float(epsilon)

    def update_chunk(self, params, grads, slots, tmp):
        xp, s = backend.xp, slots["s"]
        s *= self.beta
        xp.multiply(grads, grads, out=tmp)
        tmp *= 1.0 - self.beta
        s += tmp
        xp.sqrt(s, out=tmp)
        tmp += self.epsilon
        xp.divide(grads, tmp, out=tmp)
        tmp *= self.lr
        params -= tmp

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "epsilon": self.epsilon}


@registry.register("optimizer")
class Adam(Optimizer):
    """Adam (Kingma and Ba 2015) with bias correction; the course's defaults."""

    name = "adam"
    slot_names = ("v", "s")
    passes = 12

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        *,
        clipvalue=None,
        clipnorm=None,
        global_clipnorm=None,
    ):
        super().__init__(learning_rate, clipvalue, clipnorm, global_clipnorm)
        self.beta_1 = _check_beta("Adam", "beta_1", beta_1)
        self.beta_2 = _check_beta("Adam", "beta_2", beta_2)
        self.epsilon = float(epsilon)

    def update_chunk(self, params, grads, slots, tmp):
        xp, v, s = backend.xp, slots["v"], slots["s"]
        b1, b2 = self.beta_1, self.beta_2
        # v = b1 v + (1 - b1) g  as  v += (1 - b1) (g - v)
        xp.subtract(grads, v, out=tmp)
        tmp *= 1.0 - b1
        v += tmp
        # s = b2 s + (1 - b2) g^2
        s *= b2
        xp.multiply(grads, grads, out=tmp)
        tmp *= 1.0 - b2
        s += tmp
        correction_1 = 1.0 - b1**self.t
        root_correction_2 = math.sqrt(1.0 - b2**self.t)
        xp.sqrt(s, out=tmp)
        tmp += self.epsilon * root_correction_2
        xp.divide(v, tmp, out=tmp)
        tmp *= self.lr * root_correction_2 / correction_1
        params -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


@registry.register("optimizer")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019), as PyTorch's AdamW:
    W <- W (1 - lr * weight_decay), then the Adam step.  Transformers are fine-tuned with
    it.  Every trainable parameter decays (PyTorch's default param group)."""

    name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.01, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not weight_decay >= 0:
            raise ConfigError(f"AdamW: weight_decay must be >= 0, got {weight_decay}")
        self.weight_decay = float(weight_decay)

    def update_chunk(self, params, grads, slots, tmp):
        if self.weight_decay:
            params *= 1.0 - self.lr * self.weight_decay
        super().update_chunk(params, grads, slots, tmp)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}


def _check_clipping(owner, given: dict) -> dict:
    """{kind: c} for the one clipping argument set (none: {}); c a positive number."""
    chosen = {k: v for k, v in given.items() if v is not None}
    if len(chosen) > 1:
        raise ConfigError(
            f"{owner}: set at most one of clipvalue, clipnorm and global_clipnorm, got "
            f"{', '.join(f'{k}={v!r}' for k, v in chosen.items())}"
        )
    for kind, value in chosen.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{owner}: {kind} must be a positive number, got {value!r}")
        chosen[kind] = float(value)
    return chosen


def _check_beta(owner, name, value) -> float:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner}: {name} must be in [0, 1), got {value}")
    return float(value)
