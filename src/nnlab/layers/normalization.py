"""Batch normalization (Ioffe and Szegedy 2015), over every axis but the last.

For inputs (m, n) the statistics run over m; for images (m, n_H, n_W, n_C) over
m * n_H * n_W, one mean and variance per channel.  With N the number of values per
feature:

    training:   mu = mean(x),  var = mean((x - mu)^2)            (per feature)
                x_hat = (x - mu) / sqrt(var + eps)
                y = gamma * x_hat + beta
                running_mean = momentum * running_mean + (1 - momentum) * mu   (same for var)
    inference:  x_hat = (x - running_mean) / sqrt(running_var + eps)
                (backward then is dx = dy * gamma / sqrt(running_var + eps))
    backward:   dgamma = sum(dy * x_hat),  dbeta = sum(dy)
                dx = gamma / (N sqrt(var + eps)) * (N dy - dbeta - x_hat * dgamma)

Keras defaults: momentum 0.99, epsilon 1e-3 (PyTorch: momentum 0.1 meaning 0.9, eps 1e-5).

A frozen batch norm (``trainable=False``) runs in inference mode even in training, as in
Keras: it normalizes with its moving statistics and leaves them as they are (fine-tuning a
pretrained network must not let small batches of new data shift them).

Affine is batch normalization frozen at inference, folded into one scale and shift per
feature (dlib's ``affine`` layer, which replaces each ``bn_con`` of a trained net):

    y = gamma * x + beta       dgamma = sum(dy * x),  dbeta = sum(dy),  dx = gamma * dy
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError
from ..ops.parallel import run_over_rows
from .base import Layer


@registry.register("layer")
class BatchNormalization(Layer):
    """Normalize each feature (last axis) with batch statistics; learn gamma and beta.

    Args:
        momentum: weight of the old running average (the course's beta of the
            exponentially weighted average), in [0, 1).
        epsilon: added to the variance before the square root.

    Input and output shape: (m, ..., n_C).
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"BatchNormalization: momentum must be in [0, 1), got {momentum}")
        if not epsilon > 0:
            raise ConfigError(f"BatchNormalization: epsilon must be > 0, got {epsilon}")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build_params(self, input_shape, rng):
        xp = backend.xp
        n = input_shape[-1]
        self.params["gamma"] = xp.ones((n,), dtype=self.dtype)
        self.params["beta"] = xp.zeros((n,), dtype=self.dtype)
        self.state["moving_mean"] = xp.zeros((n,), dtype=self.dtype)
        self.state["moving_variance"] = xp.ones((n,), dtype=self.dtype)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        x = a_prev.reshape(-1, a_prev.shape[-1])  # (N, n_C)
        training = training and self.trainable  # frozen: inference mode (Keras)
        if training:
            mu = x.mean(axis=0)
            x_hat = x - mu
            var = (x_hat * x_hat).mean(axis=0)
            inv_std = 1.0 / xp.sqrt(var + self.epsilon)
            x_hat *= inv_std
            self._update_running(mu, var)
        else:
            inv_std = 1.0 / xp.sqrt(self.state["moving_variance"] + self.epsilon)
            x_hat = (x - self.state["moving_mean"]) * inv_std
        cache = self.cache
        cache.x_hat, cache.inv_std, cache.training = x_hat, inv_std, training
        y = x_hat * self.params["gamma"] + self.params["beta"]
        return y.reshape(a_prev.shape)

    def _update_running(self, mu, var):
        for key, batch_value in (("moving_mean", mu), ("moving_variance", var)):
            running = self.state[key]
            running *= self.momentum
            running += (1.0 - self.momentum) * batch_value

    def backward(self, da, need_input_grad=True):
        dy = da.reshape(-1, da.shape[-1])  # (N, n_C)
        cache = self.cache
        x_hat = cache.x_hat
        if not self.trainable:  # frozen, hence inference mode: no dgamma, dbeta
            if not need_input_grad:
                return None
            return (dy * (self.params["gamma"] * cache.inv_std)).reshape(da.shape)
        dbeta = self.write_grad("beta", lambda out: dy.sum(axis=0, out=out))
        dgamma = self.write_grad("gamma", lambda out: (dy * x_hat).sum(axis=0, out=out))
        if not need_input_grad:
            return None
        if not cache.training:  # fixed statistics: a per-feature affine map
            return (dy * (self.params["gamma"] * cache.inv_std)).reshape(da.shape)
        n = dy.shape[0]
        scale = self.params["gamma"] * cache.inv_std / n
        dx = dy * n
        dx -= dbeta
        dx -= x_hat * dgamma
        dx *= scale
        return dx.reshape(da.shape)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, epsilon=self.epsilon)
        return config


@registry.register("layer")
class LayerNormalization(Layer):
    """Normalize each example's features (the last axis) by their own mean and variance
    (Ba et al. 2016): the normalization of transformers, the same at training and
    inference.  With n features per position:

        mu = mean(x),  var = mean((x - mu)^2)                (over the last axis)
        x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
        backward:  dgamma = sum(dy * x_hat),  dbeta = sum(dy)  (over every other axis)
                   g = dy * gamma
                   dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)

    Args:
        epsilon: added to the variance (Keras' default 1e-3; PyTorch's and BERT's 1e-5 /
            1e-12).

    Input and output shape: (m, ..., n).
    """

    keeps_mask = True

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ConfigError(f"LayerNormalization: epsilon must be > 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def build_params(self, input_shape, rng):
        xp = backend.xp
        n = input_shape[-1]
        self.params["gamma"] = xp.ones((n,), dtype=self.dtype)
        self.params["beta"] = xp.zeros((n,), dtype=self.dtype)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        x = a_prev.reshape(-1, a_prev.shape[-1])  # (N positions, n)
        x_hat, y = xp.empty_like(x), xp.empty_like(x)
        inv_std = xp.empty((x.shape[0], 1), dtype=x.dtype)  # (N, 1)
        gamma, beta = self.params["gamma"], self.params["beta"]

        def normalize(lo, hi):  # positions lo..hi-1 (the positions split over the threads)
            rows, rows_hat, rows_inv_std = x[lo:hi], x_hat[lo:hi], inv_std[lo:hi]
            xp.subtract(rows, rows.mean(axis=1, keepdims=True), out=rows_hat)
            var = xp.einsum("ij,ij->i", rows_hat, rows_hat)[:, None] / x.shape[1]
            xp.divide(1.0, xp.sqrt(var + self.epsilon), out=rows_inv_std)
            rows_hat *= rows_inv_std
            xp.multiply(rows_hat, gamma, out=y[lo:hi])
            y[lo:hi] += beta

        run_over_rows(normalize, x.shape[0], x.size)
        self.cache.x_hat, self.cache.inv_std = x_hat, inv_std
        return y.reshape(a_prev.shape)

    def backward(self, da, need_input_grad=True):
        dy = da.reshape(-1, da.shape[-1])  # (N, n)
        x_hat, inv_std = self.cache.x_hat, self.cache.inv_std
        self.write_grad("beta", lambda out: dy.sum(axis=0, out=out))
        self.write_grad("gamma", lambda out: (dy * x_hat).sum(axis=0, out=out))
        if not need_input_grad:
            return None
        g = dy * self.params["gamma"]  # (N, n)
        n = g.shape[1]
        projection = backend.xp.einsum("ij,ij->i", g, x_hat)[:, None] / n  # (N, 1)
        g -= g.mean(axis=1, keepdims=True)
        g -= x_hat * projection
        g *= inv_std
        return g.reshape(da.shape)

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@registry.register("layer")
class Affine(Layer):
    """A learned scale and shift per feature (the last axis): y = gamma * x + beta.

    dlib's ``affine`` layer: a batch normalization frozen at its running statistics,
    gamma = gamma_bn / sqrt(running_var + eps), beta = beta_bn - running_mean * gamma
    (dlib's face recognition ResNet has one after every convolution).  The same in training
    and inference; over every axis but the last,

        dgamma = sum(dy * x),   dbeta = sum(dy),   dx = gamma * dy

    Args:
        gamma_initializer, beta_initializer: names or Initializers (default "ones",
            "zeros": the identity).

    Weights: ``gamma`` and ``beta``, each (n,).
    Input and output shape: (m, ..., n).
    """

    keeps_mask = True

    def __init__(self, gamma_initializer="ones", beta_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.gamma_initializer = registry.get("initializer", gamma_initializer)
        self.beta_initializer = registry.get("initializer", beta_initializer)

    def build_params(self, input_shape, rng):
        n = input_shape[-1]
        if n is None:
            raise ConfigError(f"{self.describe()}: the last axis needs a known size")
        self.params["gamma"] = self.gamma_initializer((n,), rng, self.dtype)
        self.params["beta"] = self.beta_initializer((n,), rng, self.dtype)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        gamma, beta = self.params["gamma"], self.params["beta"]
        y = self.output_array(a_prev.shape, xp.result_type(a_prev, gamma))
        xp.multiply(a_prev, gamma, out=y)
        y += beta
        self.cache.a_prev = a_prev
        return y

    def backward(self, da, need_input_grad=True):
        n = da.shape[-1]
        dy = da.reshape(-1, n)  # (N, n)
        x = self.cache.a_prev.reshape(-1, n)
        self.write_grad("beta", lambda out: dy.sum(axis=0, out=out))
        self.write_grad("gamma", lambda out: backend.xp.einsum("ij,ij->j", dy, x, out=out))
        if not need_input_grad:
            return None
        return da * self.params["gamma"]

    def get_config(self):
        config = super().get_config()
        config.update(
            gamma_initializer=self.gamma_initializer.get_config(),
            beta_initializer=self.beta_initializer.get_config(),
        )
        return config


@registry.register("layer")
class L2Normalize(Layer):
    """Scale each vector (the last axis) to unit Euclidean length: the last layer of a
    FaceNet-style encoder, whose embeddings f(x) live on the unit sphere (||f(x)|| = 1), so
    squared distances lie in [0, 4] and a triplet margin alpha has a fixed scale.  As
    PyTorch's ``torch.nn.functional.normalize(x, dim=-1)``, with n = ||x||:

        forward:   y = x / max(n, eps)
        backward:  dx = (dy - y (y . dy)) / n         where n >= eps
                   dx = dy / eps                      where n < eps (a constant scale)

    (y . dy is the dot product over the last axis, one number per vector: the gradient
    loses its component along y, which only changes the length.)

    Args:
        epsilon: the smallest norm divided by (PyTorch's default 1e-12), > 0.

    Input and output shape: (m, ..., d).
    """

    keeps_mask = True

    def __init__(self, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ConfigError(f"L2Normalize: epsilon must be > 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        norm = xp.sqrt(xp.einsum("...i,...i->...", a_prev, a_prev))[..., None]  # (m, ..., 1)
        kept = norm >= self.epsilon  # (m, ..., 1): rows divided by their own norm
        denominator = xp.maximum(norm, self.epsilon)
        y = a_prev / denominator  # (m, ..., d)
        self.cache.y, self.cache.denominator, self.cache.kept = y, denominator, kept
        return y

    def backward(self, da, need_input_grad=True):
        if not need_input_grad:
            return None
        xp = backend.xp
        y, kept = self.cache.y, self.cache.kept
        along = xp.einsum("...i,...i->...", y, da)[..., None]  # (m, ..., 1): y . dy
        dx = da - y * xp.where(kept, along, 0.0)  # (m, ..., d)
        dx /= self.cache.denominator
        return dx

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config
