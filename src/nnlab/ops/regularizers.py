"""L2 weight regularization in the course's form.

    J_reg = J + (lambda / (2 m)) * sum_l ||W[l]||_F^2        dW[l] += (lambda / m) W[l]

m is the number of training examples (fit passes the training-set size, so every
mini-batch step follows the gradient of the same J_reg whatever the batch size).  Biases and batch-norm parameters are
not regularized.  (Dropout, the other regularizer of the course, is a layer.)
"""

from __future__ import annotations

from .. import backend
from ..exceptions import ConfigError
from ..registry import register


@register("regularizer")
class L2:
    """L2 penalty with strength ``lambd`` (the course's lambda; ``lambda`` is a keyword)."""

    name = "l2"

    def __init__(self, lambd: float = 0.01):
        if not lambd >= 0:
            raise ConfigError(f"L2: lambd must be >= 0, got {lambd}")
        self.lambd = float(lambd)

    def cost(self, w, m: int) -> float:
        """(lambda / 2m) ||W||^2."""
        return self.lambd / (2.0 * m) * float(backend.xp.vdot(w, w))

    def add_gradient(self, w, dw, m: int) -> None:
        """dW += (lambda / m) W, in place."""
        dw += (self.lambd / m) * w

    def get_config(self) -> dict:
        return {"name": self.name, "lambd": self.lambd}
