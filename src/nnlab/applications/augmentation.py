"""The image augmentation the ready CNNs use on digits (``augment=True``)."""

from __future__ import annotations

from ..layers.augmentation import RandomTranslation


def augmentation_layers(shift=0.08) -> list:
    """Random shifts of up to ``shift`` of the size (2 pixels of 28), to the nearest pixel.

    No flips (digits are not mirror-symmetric), and no bilinear resampling: it blurs the
    training images, which then differ from the sharp test images (a train/test mismatch
    that cost the ResNet half a point of test accuracy on MNIST).
    """
    return [RandomTranslation(shift, shift, interpolation="nearest")]
