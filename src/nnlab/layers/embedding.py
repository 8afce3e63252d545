"""Embedding: token ids -> learned vectors (the course's word-embedding matrix E).

The course multiplies E (n_e, V) by a one-hot vector o_j to get e_j = E o_j; nnlab looks
the rows up directly, batch-first, with W = E.T of shape (V, n_e):

    forward:   A[i, t] = W[ids[i, t]]                 ids (m, T) ints, A (m, T, n_e)
    backward:  dW[v] = sum over (i, t) with ids[i, t] = v of dA[i, t]      (V, n_e)

The ids carry no gradient (they are not differentiable), so backward returns None.
"""

from __future__ import annotations

from .. import backend, registry
from ..exceptions import ConfigError, InputValueError
from .base import Layer


@registry.register("layer")
class Embedding(Layer):
    """Map each token id in [0, input_dim) to a learned vector of ``output_dim`` numbers.

    Args:
        input_dim: V, the vocabulary size.
        output_dim: n_e, the size of each vector.
        embeddings_initializer: for W (default "random_normal": N(0, 0.05^2) entries).
        mask_zero: id 0 is padding: the output carries a mask (m, T) that is False there,
            which recurrent layers and the losses honour (a padded step changes neither
            the outputs at real steps nor any gradient).
        weights: a (input_dim, output_dim) matrix to start from instead (pretrained word
            vectors such as GloVe); with ``trainable=False`` they stay as given.  Model
            files save the weights themselves, so the config keeps only the initializer.

    Input shape: (m, ...) integer ids.  Output shape: (m, ..., output_dim).
    """

    accepts_integer_input = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer="random_normal",
        mask_zero: bool = False,
        weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"Embedding: {name} must be a positive integer, got {value!r}")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = registry.get("initializer", embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.initial_weights = None
        if weights is not None:
            shape = tuple(getattr(weights, "shape", ()))
            if shape != (input_dim, output_dim):
                raise ConfigError(
                    f"Embedding: weights must have shape (input_dim, output_dim) = "
                    f"({input_dim}, {output_dim}), got {shape}"
                )
            self.initial_weights = weights

    def build_params(self, input_shape, rng):
        shape = (self.input_dim, self.output_dim)
        if self.initial_weights is not None:
            self.params["W"] = backend.xp.array(self.initial_weights, dtype=self.dtype)
        else:
            self.params["W"] = self.embeddings_initializer(shape, rng, self.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def forward(self, a_prev, training=False):
        self.check_input(a_prev)
        xp = backend.xp
        if a_prev.dtype.kind not in "iu":
            raise InputValueError(
                f"{self.describe()}: expected integer token ids, got dtype {a_prev.dtype}"
            )
        if a_prev.size and (int(a_prev.min()) < 0 or int(a_prev.max()) >= self.input_dim):
            bad = int(a_prev.min()) if int(a_prev.min()) < 0 else int(a_prev.max())
            raise InputValueError(
                f"{self.describe()}: token ids must be in [0, {self.input_dim}), got {bad}"
            )
        self.cache.ids = a_prev
        return xp.take(self.params["W"], a_prev, axis=0)  # (m, ..., n_e)

    def output_mask(self, a_prev, mask):
        return (a_prev != 0) if self.mask_zero else None

    def backward(self, da, need_input_grad=True):
        xp = backend.xp
        ids = self.cache.ids.reshape(-1)
        rows = da.reshape(-1, self.output_dim)  # (m ..., n_e)

        def scatter(out):  # rows of the same id add up
            if out is None:
                out = xp.zeros_like(self.params["W"])
            else:
                out[...] = 0
            xp.add.at(out, ids, rows)
            return out

        self.write_grad("W", scatter)
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            embeddings_initializer=self.embeddings_initializer.get_config(),
            mask_zero=self.mask_zero,
        )
        return config
