"""Losses: a value J and the gradient dA = dJ/dA of the last activation.

All values are means over the m examples of the batch (and over the outputs), so every
gradient below carries the 1/m that the course writes in dW = (1/m) dZ A_prev.T.

Fused pairs.  When the model ends in sigmoid (softmax) and the loss is binary
(categorical) cross-entropy, the model skips the activation's backward and asks the loss
for dZ directly:  dZ = (A - Y) / m  (the course's ``dZ = A - Y``).  The value is then
computed from the logits Z with log-sum-exp, so it stays finite for Z = +-1000:

    binary:       J = mean( max(z, 0) - z y + log(1 + exp(-|z|)) )
    categorical:  J = mean( logsumexp(z) - z[y] )   (the top logit's term kept out of the
                  sum, so a confident net's tiny loss keeps its digits)

Unfused (an output without the matching activation): J from A with A clipped to
[eps, 1 - eps], and dA = -(y/A - (1-y)/(1-A)) / m etc.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..exceptions import InputValueError, ShapeError
from ..ops.parallel import run_over_rows
from ..registry import register

_EPS = 1e-7


class Loss:
    """Base class.  ``prepare(y, output_shape)`` validates targets once per fit."""

    name = "loss"
    #: the activation name this loss fuses with, or None
    fuses_with: str | None = None

    def prepare(self, y, output_shape):
        raise NotImplementedError

    def value_and_grad(self, y, a):
        """(J, dA) from the output A (m, ...) and prepared targets."""
        raise NotImplementedError

    def fused_value_and_grad(self, y, z, a):
        """(J, dZ) for the fused activation; z may be None when only a is cached."""
        raise NotImplementedError

    def kept_positions(self, y):
        """Which positions of prepared targets count (a bool array of y's shape), or None
        for all of them."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name}


@register("loss")
class BinaryCrossentropy(Loss):
    """The course's logistic loss J = -mean(y log a + (1 - y) log(1 - a)).

    Targets: (m,) or (m, k) of 0/1 (or probabilities) matching an output (m, k).

    Args:
        from_logits: the output is a linear z, not a probability.
        course_cost: compute the fused value from A exactly as the course's
            ``compute_cost`` does (no clipping; infinite at saturated outputs).  Only for
            reproducing the course's published numbers, where the order of operations
            shows in finite differences.
    """

    name = "binary_crossentropy"
    fuses_with = "sigmoid"

    def __init__(self, from_logits: bool = False, course_cost: bool = False):
        self.from_logits = from_logits
        self.course_cost = course_cost

    def prepare(self, y, output_shape):
        y = _as_targets(y, self.name)
        if y.ndim == 1 and output_shape == (1,):
            y = y.reshape(-1, 1)
        _check_target_shape(self.name, y, output_shape)
        _check_range(self.name, y, 0.0, 1.0, "labels in [0, 1]")
        return y

    def value_and_grad(self, y, a):
        xp = backend.xp
        if self.from_logits:
            return self.fused_value_and_grad(y, a, _sigmoid(a))
        a_c = xp.clip(a, _EPS, 1 - _EPS)
        value = -float(xp.mean(y * xp.log(a_c) + (1 - y) * xp.log(1 - a_c)))
        da = (a_c - y) / (a_c * (1 - a_c)) / a.size
        return value, da

    def fused_value_and_grad(self, y, z, a):
        xp = backend.xp
        if self.course_cost or z is None:
            # the course's compute_cost: nansum drops the 0 * log(0) = nan terms of
            # saturated outputs, and a cost of inf (a = 1 where y = 0) stays inf
            with np.errstate(divide="ignore", invalid="ignore"):
                logprobs = -xp.log(a) * y + -xp.log(1 - a) * (1 - y)
            value = float(1.0 / a.shape[0] * xp.nansum(logprobs)) / (a.size // a.shape[0])
        else:
            value = float(xp.mean(xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))))
        return value, (a - y) * (1.0 / a.size)

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "course_cost": self.course_cost}


@register("loss", aliases=("sparse_categorical_crossentropy",))
class CategoricalCrossentropy(Loss):
    """J = -mean over positions of sum_k y_k log a_k.

    A position is an example (outputs (m, K)) or one step of one example (outputs (m, T, K),
    a softmax per time step): N = m or m T positions.  K may be left open (an output
    declared (m, 2, None): extractive QA's start and end logits over a sequence's T
    tokens, one softmax over the positions for each); labels are then checked to be >= 0
    only.  Targets: one-hot (m, [T,] K) or
    integer labels (m, [T]), used directly (no one-hot array is built):
    dZ = (A - 1[k = y]) / N.

    Args:
        from_logits: the output is a linear z, not a probability.
        ignore_class: an integer label whose positions count for nothing (Keras'
            ``ignore_class``; Hugging Face labels the subwords after a word's first, and the
            special tokens, -100): N counts the other positions, and the ignored ones get a
            zero gradient.
    """

    name = "categorical_crossentropy"
    fuses_with = "softmax"

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None):
        self.from_logits = from_logits
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def kept_positions(self, y):
        if self.ignore_class is None or y.dtype.kind not in "iu":
            return None
        return y != self.ignore_class

    def prepare(self, y, output_shape):
        y = _as_targets(y, self.name)
        n_classes = output_shape[-1]  # None: any number (a softmax over positions, QA)
        if y.ndim == len(output_shape) + 1 and y.shape[-1] == 1 and n_classes != 1:
            y = y[..., 0]  # (m, [T,] 1) labels
        if y.ndim == len(output_shape):  # integer labels, one per position
            fractional = y != backend.xp.round(y)
            if bool(fractional.any()):
                raise InputValueError(
                    f"{self.name}: integer class labels expected, "
                    f"got a label of {float(y[fractional][0]):g}"
                )
            labels = y if self.ignore_class is None else y[y != self.ignore_class]
            if n_classes is None:
                _check_range(self.name, labels, 0, np.inf, "class labels >= 0")
            else:
                _check_range(
                    self.name, labels, 0, n_classes - 1, f"class labels in [0, {n_classes - 1}]"
                )
            return y.astype(backend.xp.int64)
        _check_target_shape(self.name, y, output_shape)
        return y

    @staticmethod
    def _positions(y, a):
        """(labels (N,) or targets (N, K), outputs (N, K)): one row per position."""
        k = a.shape[-1]
        flat_y = y.reshape(-1) if y.ndim == a.ndim - 1 else y.reshape(-1, k)
        return flat_y, a.reshape(-1, k)

    def _nll_grad(self, y, a):
        xp = backend.xp
        flat_y, flat_a = self._positions(y, a)
        n = flat_a.shape[0]
        if flat_y.ndim == 1:
            dz = flat_a * (1.0 / n)
            dz[xp.arange(n), flat_y] -= 1.0 / n
        else:
            dz = (flat_a - flat_y) * (1.0 / n)
        return dz.reshape(a.shape)

    def fused_value_and_grad(self, y, z, a):
        xp = backend.xp
        if z is None:
            return self._value_from_probs(y, a), self._nll_grad(y, a)
        return float(xp.mean(_nll_from_logits(y, z))), self._nll_grad(y, a)

    def _value_from_probs(self, y, a):
        xp = backend.xp
        flat_y, flat_a = self._positions(y, a)
        a_c = xp.clip(flat_a, _EPS, 1.0)
        if flat_y.ndim == 1:
            return -float(xp.mean(xp.log(a_c[xp.arange(a_c.shape[0]), flat_y])))
        return -float(xp.mean((flat_y * xp.log(a_c)).sum(axis=-1)))

    def value_and_grad(self, y, a):
        if self.from_logits:
            return self.fused_value_and_grad(y, a, _softmax(a))
        xp = backend.xp
        flat_y, flat_a = self._positions(y, a)
        n = flat_a.shape[0]
        a_c = xp.clip(flat_a, _EPS, 1.0)
        if flat_y.ndim == 1:
            da = xp.zeros_like(flat_a)
            rows = xp.arange(n)
            da[rows, flat_y] = -1.0 / (n * a_c[rows, flat_y])
        else:
            da = -flat_y / (n * a_c)
        return self._value_from_probs(y, a), da.reshape(a.shape)

    def get_config(self):
        config = {"name": self.name, "from_logits": self.from_logits}
        if self.ignore_class is not None:
            config["ignore_class"] = self.ignore_class
        return config


@register("loss", aliases=("mse",))
class MeanSquaredError(Loss):
    """J = mean over all elements of (a - y)^2;  dA = 2 (a - y) / (m k)."""

    name = "mean_squared_error"

    def prepare(self, y, output_shape):
        y = _as_targets(y, self.name)
        if y.ndim == 1 and output_shape == (1,):
            y = y.reshape(-1, 1)
        _check_target_shape(self.name, y, output_shape)
        return y

    def value_and_grad(self, y, a):
        diff = a - y
        return float(backend.xp.mean(diff * diff)), diff * (2.0 / a.size)


def _nll_from_logits(y, z):
    """-log softmax(z)[y] of each example, from logits z (m, K) and integer labels (m,) or
    one-hot / probability targets (m, K) (any leading axes: (m, T, K) and (m, T)).

    With t the top logit, logsumexp(z) - z_y = log1p(sum_{k != t} exp(z_k - z_t)) + (z_t - z_y).
    Leaving the top term exp(0) = 1 out of the sum keeps every digit of a small loss: the
    textbook z_t + log(sum) - z_y rounds at the scale of z_t (about 1e-15 absolute), which
    is all of a confident net's loss of 1e-12 and swamps the finite differences of
    gradient checking.
    """
    xp = backend.xp
    z2 = z.reshape(-1, z.shape[-1])  # (every position, K)
    y2 = y.reshape(-1) if y.ndim == z.ndim - 1 else y.reshape(-1, y.shape[-1])
    out = xp.empty(z2.shape[0], dtype=z.dtype)

    def pass_(lo, hi):  # row by row, so the rows split across threads
        out[lo:hi] = _nll_rows(y2[lo:hi], z2[lo:hi])

    run_over_rows(pass_, z2.shape[0], z2.size)
    return out.reshape(z.shape[:-1])


def _nll_rows(y, z):
    """_nll_from_logits of logits z (n, K) and labels y (n,) or targets (n, K)."""
    xp = backend.xp
    top = z.argmax(axis=-1)[:, None]  # (n, 1)
    z_top = xp.take_along_axis(z, top, axis=-1)  # (n, 1)
    is_top = xp.arange(z.shape[-1]) == top  # (n, K)
    rest = xp.log1p(xp.where(is_top, 0.0, xp.exp(z - z_top)).sum(axis=-1))  # (n,)
    if y.ndim == 1:  # integer labels
        z_y = xp.take_along_axis(z, y[:, None], axis=-1)  # (n, 1)
        return rest + (z_top - z_y)[:, 0]
    return rest * y.sum(axis=-1) + (y * (z_top - z)).sum(axis=-1)  # sum_k y_k (lse - z_k)


def _sigmoid(z):
    from ..ops.activations import Sigmoid

    return Sigmoid().forward(z)


def _softmax(z):
    from ..ops.activations import Softmax

    return Softmax().forward(z.copy())


def _as_targets(y, loss_name):
    xp = backend.xp
    y = xp.asarray(y)
    if y.dtype.kind not in "biuf":
        raise InputValueError(f"{loss_name}: labels must be numbers, got dtype {y.dtype}")
    if y.ndim == 0 or y.shape[0] == 0:
        raise ShapeError(f"{loss_name}: labels must be a non-empty array (m, ...), got {y.shape}")
    if y.dtype.kind == "f" and not bool(xp.isfinite(y).all()):
        raise InputValueError(f"{loss_name}: labels contain NaN or inf")
    return y


def _check_target_shape(loss_name, y, output_shape):
    if tuple(y.shape[1:]) != tuple(output_shape):
        expected = ("m",) + tuple(output_shape)
        raise ShapeError(
            f"{loss_name}: labels of shape {expected} expected to match the model output, "
            f"got {tuple(y.shape)}"
        )


def _check_range(loss_name, y, low, high, what):
    lo, hi = float(y.min()), float(y.max())
    if lo < low or hi > high:
        bad = lo if lo < low else hi
        raise InputValueError(f"{loss_name}: expected {what}, got a label of {bad:g}")
