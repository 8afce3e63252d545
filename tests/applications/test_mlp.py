"""The MLP builder: the layer sequence of each option, the output head and its loss."""

import numpy as np

from nnlab.applications import mlp, mlp_loss
from nnlab.layers import Activation, BatchNormalization, Dense, Dropout, Flatten


def kinds(model):
    return [type(layer) for layer in model.layers]


def test_plain_hidden_layers_then_a_softmax():
    model = mlp((5,), 3, layers=(4, 2), activation="tanh", seed=0)
    assert kinds(model) == [Dense, Dense, Dense]
    assert [layer.units for layer in model.layers] == [4, 2, 3]
    assert model.layers[-1].activation.name == "softmax"
    assert mlp_loss(3) == "categorical_crossentropy"


def test_batch_norm_dropout_and_flattened_images():
    model = mlp((4, 4), 10, layers=(8,), batch_norm=True, dropout=0.2, l2=0.01, seed=0)
    assert kinds(model) == [Flatten, Dense, BatchNormalization, Activation, Dropout, Dense]
    assert model.layers[1].use_bias is False  # BN's beta is the bias


def test_two_classes_get_one_sigmoid_unit_and_binary_cross_entropy():
    model = mlp((2,), 2, layers=(3,), seed=0)
    assert model.layers[-1].units == 1 and model.layers[-1].activation.name == "sigmoid"
    assert mlp_loss(2) == "binary_crossentropy"


def test_same_seed_same_weights():
    a, b = (mlp((6,), 3, layers=(5,), seed=4) for _ in range(2))
    a.build(), b.build()
    for (name, wa), wb in zip(a.get_weights().items(), b.get_weights().values(), strict=True):
        np.testing.assert_array_equal(wa, wb, err_msg=name)
