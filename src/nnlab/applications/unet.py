"""U-Net for semantic segmentation (Ronneberger et al. 2015), as the course's lab builds it
(Course 4, week 3, "Image Segmentation with U-Net").

It takes channels-last images (m, n_H, n_W, n_C) and gives per-pixel logits
(m, n_H, n_W, n_classes) (linear: train with sparse categorical cross-entropy from logits,
predict with an argmax over the last axis, :func:`create_mask`):

    contracting path (conv_block, n = n_filters):
        x -> [CONV 3x3 n  -> CONV 3x3 n ]              -> MAXPOOL 2     skip s1  (n_H,     n_W)
          -> [CONV 3x3 2n -> CONV 3x3 2n]              -> MAXPOOL 2     skip s2  (n_H / 2, ...)
          -> [CONV 3x3 4n -> CONV 3x3 4n]              -> MAXPOOL 2     skip s3  (n_H / 4)
          -> [CONV 3x3 8n -> CONV 3x3 8n -> DROPOUT .3] -> MAXPOOL 2    skip s4  (n_H / 8)
          -> [CONV 3x3 16n -> CONV 3x3 16n -> DROPOUT .3]               (n_H / 16)
    expanding path (upsampling_block):
          -> CONVT 3x3/2 8n, concat s4 -> CONV 3x3 8n -> CONV 3x3 8n
          -> CONVT 3x3/2 4n, concat s3 -> CONV 3x3 4n -> CONV 3x3 4n
          -> CONVT 3x3/2 2n, concat s2 -> CONV 3x3 2n -> CONV 3x3 2n
          -> CONVT 3x3/2 n,  concat s1 -> CONV 3x3 n  -> CONV 3x3 n
          -> CONV 3x3 n -> CONV 1x1 n_classes (logits)

Every CONV 3x3 is "same"-padded, ReLU, He-normal initialized; the transposed convolutions
(stride 2, "same": each doubles n_H and n_W) and the final 1x1 are linear with Keras' default
Glorot-uniform init.  n_H and n_W must be divisible by 16 (four poolings).  The skip
connection of a block is its last activation before pooling (after dropout, as in the lab).

The lab's default model, ``unet_model((96, 128, 3), 32, 23)``, has 8,640,471 parameters
(its summary's "Total params"); tests/applications/test_unet.py recounts them by hand.
"""

from __future__ import annotations

from ..exceptions import ConfigError
from ..layers import Concatenate, Dropout, Input
from ..layers.convolutional import Conv2D, Conv2DTranspose
from ..layers.pooling import MaxPool2D
from ..training.losses import CategoricalCrossentropy
from ..training.model import Model

#: the number of 2 x 2 poolings: input sides must be divisible by 2 ** DEPTH
DEPTH = 4


def _conv3x3_relu(n_filters):
    """The lab's ``Conv2D(n_filters, 3, activation="relu", padding="same",
    kernel_initializer="he_normal")``."""
    return Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")


def conv_block(inputs, n_filters=32, dropout_prob=0, max_pooling=True):
    """The contracting block: two 3x3 ReLU convolutions, optional dropout and max pooling.

    Args:
        inputs: a graph node (m, n_H, n_W, n_C_prev).
        n_filters: channels of both convolutions.
        dropout_prob: the dropout rate after the convolutions (0: none).
        max_pooling: halve n_H and n_W with a 2 x 2 max pool.

    Returns:
        (next_layer, skip_connection): the block's output, (m, n_H / 2, n_W / 2, n_filters)
        with pooling else (m, n_H, n_W, n_filters), and the activation before pooling
        (m, n_H, n_W, n_filters) that the expanding path concatenates.
    """
    conv = _conv3x3_relu(n_filters)(inputs)
    conv = _conv3x3_relu(n_filters)(conv)
    if dropout_prob > 0:
        conv = Dropout(dropout_prob)(conv)
    next_layer = MaxPool2D(pool_size=(2, 2))(conv) if max_pooling else conv
    skip_connection = conv
    return next_layer, skip_connection


def upsampling_block(expansive_input, contractive_input, n_filters=32):
    """The expanding block: a stride-2 transposed convolution, concatenation with the skip
    connection on the channel axis, two 3x3 ReLU convolutions.

    Args:
        expansive_input: a graph node (m, n_H, n_W, n_C) from the layer below.
        contractive_input: the skip connection (m, 2 n_H, 2 n_W, n_C_skip).
        n_filters: channels of the transposed convolution and of both convolutions.

    Returns:
        a graph node (m, 2 n_H, 2 n_W, n_filters).
    """
    up = Conv2DTranspose(n_filters, 3, strides=(2, 2), padding="same")(expansive_input)
    merge = Concatenate(axis=3)([up, contractive_input])  # (m, 2 n_H, 2 n_W, n_f + n_C_skip)
    conv = _conv3x3_relu(n_filters)(merge)
    conv = _conv3x3_relu(n_filters)(conv)
    return conv


def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23, *, seed=None, name="unet"):
    """The lab's U-Net (see the module docstring), uncompiled, as a functional Model.

    Args:
        input_size: (n_H, n_W, n_C), n_H and n_W divisible by 16.
        n_filters: n, the channels of the first block (then 2n, 4n, 8n, 16n).
        n_classes: channels of the output logits.
        seed: seeds the initial weights and the dropout masks.

    Returns:
        Model from (m, n_H, n_W, n_C) to logits (m, n_H, n_W, n_classes); compile it with
        :func:`segmentation_loss`.
    """
    n_h, n_w = input_size[:2]
    if len(input_size) != 3 or n_h % 2**DEPTH or n_w % 2**DEPTH:
        raise ConfigError(
            f"unet_model: input_size must be (n_H, n_W, n_C) with n_H and n_W divisible by "
            f"{2**DEPTH}, got {tuple(input_size)}"
        )
    inputs = Input(tuple(input_size))
    cblock1 = conv_block(inputs, n_filters)
    cblock2 = conv_block(cblock1[0], n_filters * 2)
    cblock3 = conv_block(cblock2[0], n_filters * 4)
    cblock4 = conv_block(cblock3[0], n_filters * 8, dropout_prob=0.3)
    cblock5 = conv_block(cblock4[0], n_filters * 16, dropout_prob=0.3, max_pooling=False)

    ublock6 = upsampling_block(cblock5[0], cblock4[1], n_filters * 8)
    ublock7 = upsampling_block(ublock6, cblock3[1], n_filters * 4)
    ublock8 = upsampling_block(ublock7, cblock2[1], n_filters * 2)
    ublock9 = upsampling_block(ublock8, cblock1[1], n_filters)

    conv9 = _conv3x3_relu(n_filters)(ublock9)
    conv10 = Conv2D(n_classes, 1, padding="same")(conv9)
    return Model(inputs, conv10, seed=seed, name=name)


def segmentation_loss() -> CategoricalCrossentropy:
    """The lab's loss, ``SparseCategoricalCrossentropy(from_logits=True)``: the mean over
    every pixel of the m images of -log softmax(z)[y], for logits (m, n_H, n_W, K) and
    integer masks (m, n_H, n_W)."""
    return CategoricalCrossentropy(from_logits=True)


def create_mask(pred_mask):
    """The lab's ``create_mask``: per-pixel classes (m, n_H, n_W) from logits or
    probabilities (m, n_H, n_W, K), the argmax over the last axis (for the whole batch,
    without the lab's trailing axis of 1)."""
    return pred_mask.argmax(axis=-1)
