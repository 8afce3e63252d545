"""``nnlab.Model`` and ``nnlab.Sequential``: a network (``nnlab.models``) that trains
(``Trainer``), as Keras' Model is its functional graph plus its trainer."""

from __future__ import annotations

from .. import registry
from ..models.network import Network, SequentialNetwork
from .trainer import Trainer


@registry.register("model")
class Model(Trainer, Network):
    """A graph of layer calls with one or several inputs and outputs (Keras' functional
    API), with compile / fit / evaluate / predict.

    ``Model(inputs, outputs, seed=None, dtype=None, name="model")``: see
    ``nnlab.models.network.Network`` for the arguments, forward and backward (a layer may be
    called several times), and ``nnlab.training.trainer`` for training and the custom-step
    path.
    """


@registry.register("model")
class Sequential(Trainer, SequentialNetwork):
    """A linear stack of layers, with compile / fit / evaluate / predict.

    ``Sequential(layers=None, input_shape=None, seed=None, dtype=None, name="sequential")``:
    see ``nnlab.models.network.SequentialNetwork`` for the arguments.
    """
