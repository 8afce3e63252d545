"""A small ResNet: the course's week-2 residual blocks (He et al. 2015).

It takes channels-last images (m, n_H, n_W, n_C) and ends in a softmax over n_classes:

    CONV 3x3 -> BN -> ReLU -> identity block -> convolutional block (stride 2) ->
    identity block -> convolutional block (stride 2) -> identity block -> GAP -> FC softmax

    identity block:       x -> CONV-BN-ReLU -> CONV-BN -> (+ x) -> ReLU
    convolutional block:  x -> CONV/s-BN-ReLU -> CONV-BN -> (+ CONV1x1/s-BN(x)) -> ReLU
"""

from __future__ import annotations

from ..layers import Activation, Add, BatchNormalization, Dense, Input
from ..layers.convolutional import Conv2D
from ..layers.pooling import GlobalAveragePooling2D
from ..training.model import Model
from .augmentation import augmentation_layers


def conv_bn(x, filters, kernel_size=3, strides=1, relu=True):
    """CONV (no bias: BN's beta replaces it) -> BN [-> ReLU]."""
    x = Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he",
    )(x)
    x = BatchNormalization()(x)
    return Activation("relu")(x) if relu else x


def identity_block(x, filters):
    """a[l+2] = ReLU(BN(CONV(ReLU(BN(CONV(a[l]))))) + a[l])."""
    shortcut = x
    x = conv_bn(x, filters)
    x = conv_bn(x, filters, relu=False)
    return Activation("relu")(Add()([x, shortcut]))


def convolutional_block(x, filters, strides=2):
    """As the identity block, with a strided 1x1 CONV + BN on the shortcut to match shapes."""
    shortcut = conv_bn(x, filters, kernel_size=1, strides=strides, relu=False)
    x = conv_bn(x, filters, strides=strides)
    x = conv_bn(x, filters, relu=False)
    return Activation("relu")(Add()([x, shortcut]))


def small_resnet(
    input_shape=(28, 28, 1), n_classes=10, widths=(16, 32, 64), augment=False, seed=None
):
    """A small ResNet (see the module docstring), uncompiled, as a functional Model."""
    inputs = Input(input_shape)
    x = inputs
    if augment:
        for layer in augmentation_layers():
            x = layer(x)
    x = conv_bn(x, widths[0])
    x = identity_block(x, widths[0])
    for filters in widths[1:]:
        x = convolutional_block(x, filters)
        x = identity_block(x, filters)
    x = GlobalAveragePooling2D()(x)
    outputs = Dense(n_classes, activation="softmax")(x)
    return Model(inputs, outputs, seed=seed, name="resnet")
