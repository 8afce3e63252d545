"""Gradient checking: backprop against two-sided finite differences, in float64.

For every parameter theta_i (all of them, or a random sample of ``max_per_param`` per
tensor):

    g_approx_i = (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps),     eps = 1e-5
    difference = ||g - g_approx|| / (||g|| + ||g_approx||)

J is the model's full cost on (x, y): the loss plus any L2 penalty.  The check runs on a
float64 copy of the model in training mode, with every dropout mask drawn from the same
seed at each evaluation, so J is a deterministic function of theta.

The step.  g_approx errs by the truncation error, about eps^2 |J'''| / 6, and by J's
round-off divided by eps.  The round-off does not shrink with the gradient, and a
confident net's gradient is tiny: with the course's eps = 1e-7 a correctly trained MNIST
net showed differences of 1e-6.  ``EPSILON`` = 1e-5 (CS231n's advice) cuts that term a
hundredfold while the truncation error stays near 1e-10; a ReLU kink that the step
crosses, the one thing a larger step makes likelier, stays rare.

The verdict (:meth:`GradCheckResult.passed`).  Each tensor passes when its own
difference is below ``THRESHOLD`` = 1e-5.  The overall difference is never above the
worst tensor's, and a bug in one small tensor (one layer's dW scaled by 2 gives 1/3 on
that tensor) can hide in the overall one.  Correct backprop gives 1e-10 to 1e-7; a bug
almost always 1e-3 or more.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..exceptions import ConfigError

#: The default finite-difference step (see the module docstring).
EPSILON = 1e-5
#: The largest per-tensor relative difference that passes.
THRESHOLD = 1e-5


@dataclass
class GradCheckResult:
    """Overall relative difference and one per parameter tensor ('dense_1/W': ...)."""

    difference: float
    per_parameter: dict = field(default_factory=dict)
    checked: int = 0

    def __str__(self) -> str:
        lines = [
            f"gradient check: relative difference {self.difference:.3e} "
            f"over {self.checked} parameters"
        ]
        lines += [f"  {name:<32} {diff:.3e}" for name, diff in self.per_parameter.items()]
        return "\n".join(lines)

    def failures(self, threshold: float = THRESHOLD) -> dict:
        """``{tensor: difference}`` of the tensors at or above ``threshold``, worst first;
        empty when every tensor passes (a NaN difference fails, as the worst)."""
        failed = {name: d for name, d in self.per_parameter.items() if not d < threshold}
        return dict(sorted(failed.items(), key=lambda item: -np.nan_to_num(item[1], nan=np.inf)))

    def passed(self, threshold: float = THRESHOLD) -> bool:
        """Every tensor's difference, hence the overall one, is below ``threshold``."""
        return self.difference < threshold and not self.failures(threshold)


def float64_copy(model):
    """A compiled float64 copy of a built, compiled model (same architecture and weights)."""
    from ..saving.model_file import load_model_from_config

    clone = load_model_from_config(model.get_config(), dtype="float64")
    clone.set_weights({k: v.astype(np.float64) for k, v in model.get_weights().items()})
    return clone


def gradcheck(model, x, y, epsilon=EPSILON, max_per_param=None, seed=0, training=True):
    """Compare backprop with finite differences on (x, y); see the module docstring.

    Args:
        model: a compiled model (it is not modified: the check runs on a float64 copy).
        x, y: a small batch (a few examples is enough).
        epsilon: the finite-difference step, > 0 (the course's lab uses 1e-7).
        max_per_param: check at most this many random entries per tensor (None: all).
        seed: seeds the dropout masks and the sampled entries.
        training: run layers in training mode (batch statistics, dropout).

    Returns:
        GradCheckResult: the overall and per-tensor differences; ``passed()`` is the verdict.
    """
    if not (isinstance(epsilon, numbers.Real) and epsilon > 0):
        raise ConfigError(f"gradcheck: epsilon must be a number > 0, got {epsilon!r}")
    net = float64_copy(model)
    x64 = net.prepare_inputs(x, "gradcheck")  # float inputs in float64, token ids kept
    y64 = net.prepare_targets(y, net.input_list(x64)[0].shape[0], "gradcheck")

    def cost() -> float:
        net.rng = backend.make_rng(seed)
        for layer in net.layers:
            layer.rng = net.rng
        value, penalty, _ = net.compute_gradients(x64, y64, training=training)
        return value + penalty

    cost()
    trained = list(net.named_parameters(trainable_only=True))  # frozen layers get no dW
    analytic = {name: backend.to_numpy(g).copy() for name, _, g in trained}
    pick = np.random.default_rng(seed)
    per_param, all_g, all_approx = {}, [], []
    for name, param, _ in trained:
        flat = param.reshape(-1)
        idx = np.arange(flat.size)
        if max_per_param is not None and flat.size > max_per_param:
            idx = pick.choice(flat.size, max_per_param, replace=False)
        approx = numeric_gradient(cost, flat, idx, epsilon)
        g = analytic[name].reshape(-1)[idx]
        per_param[name] = relative_difference(g, approx)
        all_g.append(g)
        all_approx.append(approx)
    g, approx = np.concatenate(all_g), np.concatenate(all_approx)
    return GradCheckResult(relative_difference(g, approx), per_param, int(g.size))


def numeric_gradient(cost, flat, idx, epsilon: float) -> np.ndarray:
    """(J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps) for each entry i of ``idx`` of the
    flat parameter view ``flat``, which is restored entry by entry."""
    approx = np.empty(idx.size)
    for j, i in enumerate(idx):
        original = float(flat[i])
        flat[i] = original + epsilon
        plus = cost()
        flat[i] = original - epsilon
        minus = cost()
        flat[i] = original
        approx[j] = (plus - minus) / (2 * epsilon)
    return approx


def relative_difference(g, g_approx) -> float:
    """||g - g_approx|| / (||g|| + ||g_approx||), 0 when both are 0."""
    denominator = np.linalg.norm(g) + np.linalg.norm(g_approx)
    return float(np.linalg.norm(g - g_approx) / denominator) if denominator else 0.0
