"""Ready networks, one a file: an MLP, a LeNet-style CNN, a small ResNet, VGG16's conv base,
the MTCNN face detector, the course's U-Net.

``mlp``, ``lenet`` and ``small_resnet`` build uncompiled models from explicit arguments
(``nnlab train --model mlp | cnn | resnet`` picks one); VGG16 comes with Keras' ImageNet
weights and "caffe" preprocessing.  Nothing here imports onnx: it is needed only once, to
convert the VGG16 weights into the cache.
"""

from .lenet import lenet
from .mlp import mlp, mlp_loss
from .mtcnn import MTCNN, mtcnn_weights, onet, pnet, read_joblib_arrays, rnet
from .resnet import small_resnet
from .unet import create_mask, segmentation_loss, unet_model
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
    "create_mask",
    "VGG16_CONV_LAYERS",
    "VGG16_SHAPES",
    "WeightsNotFoundError",
    "deprocess_caffe",
    "find_vgg16_onnx",
    "lenet",
    "load_vgg16_weights",
    "mlp",
    "mlp_loss",
    "MTCNN",
    "mtcnn_weights",
    "onet",
    "pnet",
    "read_joblib_arrays",
    "rnet",
    "segmentation_loss",
    "preprocess_caffe",
    "small_resnet",
    "unet_model",
    "vgg16_cache_path",
    "vgg16_conv_base",
    "vgg16_features",
    "vgg16_weights",
]
