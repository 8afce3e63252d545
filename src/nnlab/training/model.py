"""``nnlab.Model`` and ``nnlab.Sequential``: a network (``nnlab.models``) that trains
(``Trainer``), as Keras' Model is its functional graph plus its trainer."""

from __future__ import annotations

from ..models.network import Network, SequentialNetwork
from .trainer import Trainer


class Model(Trainer, Network):
    """A graph of layer calls with one or several inputs and outputs (Keras' functional API).

    Args:
        inputs: an ``Input(shape)``, a list of them, or a dict name -> Input.
        outputs: the node(s) returned by layer calls: one, a list, or a dict name -> node.
        seed: seeds the model's generator (initialization, dropout, shuffling).
        dtype: "float32" (default) or "float64".
        name: the model's name.

    A layer may be called several times (shared weights); see ``nnlab.models.network``
    for forward and backward, ``nnlab.training.trainer`` for compile / fit and the
    custom-step path.
    """


class Sequential(Trainer, SequentialNetwork):
    """A linear stack of layers: each layer's input is the previous layer's output.

    Args:
        layers: the layers, in order; the first may be ``Input(shape)``.
        input_shape: shape of one example (without the batch axis), if no Input layer.
        seed: seeds the model's generator (initialization, dropout, shuffling).
        dtype: "float32" (default) or "float64".
        name: the model's name.
    """
