"""Pretrained vision models: VGG16's ImageNet conv base and Keras' "caffe" preprocessing.

Nothing here imports onnx: it is needed only once, to convert the weights into the cache.
"""

from .vgg16 import (
    CAFFE_MEAN_BGR,
    VGG16_CONV_LAYERS,
    VGG16_SHAPES,
    WeightsNotFoundError,
    deprocess_caffe,
    find_vgg16_onnx,
    load_vgg16_weights,
    preprocess_caffe,
    vgg16_cache_path,
    vgg16_conv_base,
    vgg16_features,
    vgg16_weights,
)

__all__ = [
    "CAFFE_MEAN_BGR",
    "VGG16_CONV_LAYERS",
    "VGG16_SHAPES",
    "WeightsNotFoundError",
    "deprocess_caffe",
    "find_vgg16_onnx",
    "load_vgg16_weights",
    "preprocess_caffe",
    "vgg16_cache_path",
    "vgg16_conv_base",
    "vgg16_features",
    "vgg16_weights",
]
