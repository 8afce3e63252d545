"""Image augmentation the ready CNNs use: shifts for digits, flips + shifts + rotations for
photos (the course's ``data_augmenter`` of its transfer-learning lab)."""

from __future__ import annotations

from ..layers.augmentation import RandomFlip, RandomRotation, RandomTranslation


def augmentation_layers(shift=0.08) -> list:
    """Random shifts of up to ``shift`` of the size (2 pixels of 28), to the nearest pixel.

    No flips (digits are not mirror-symmetric), and no bilinear resampling: it blurs the
    training images, which then differ from the sharp test images (a train/test mismatch
    that cost the ResNet half a point of test accuracy on MNIST).
    """
    return [RandomTranslation(shift, shift, interpolation="nearest")]


def photo_augmentation_layers(
    flip="horizontal", shift=0.1, rotation=0.03, fill_mode="reflect"
) -> list:
    """Left-right flips, shifts of up to ``shift`` of the size and rotations of up to
    ``rotation`` of a turn (0.03: about 11 degrees), bilinear, the border mirrored into
    the gaps (``fill_mode``, Keras' default).

    The course's alpaca lab uses ``RandomFlip('horizontal')`` and ``RandomRotation(0.2)``;
    small faces suffer from large rotations, hence the smaller default.  Put them first,
    on the preprocessed inputs.  ``flip=None``, ``shift=0`` or ``rotation=0`` leaves that
    one out.  Zero fill ("constant") hurt here: on the LFW faces, a VGG16 fine-tuned on
    zero-bordered images lost 10 to 15 points of dev accuracy on clean ones.
    """
    layers = [RandomFlip(flip)] if flip else []
    if shift:
        layers.append(RandomTranslation(shift, shift, fill_mode=fill_mode))
    if rotation:
        layers.append(RandomRotation(rotation, fill_mode=fill_mode))
    return layers
