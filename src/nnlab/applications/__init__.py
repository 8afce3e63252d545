"""Ready networks, one a file: an MLP, a LeNet-style CNN, a small ResNet, VGG16's conv base,
the MTCNN face detector, dlib's face recognition ResNet (face descriptors) and the face
alignment it needs, the course's U-Net.

``mlp``, ``lenet`` and ``small_resnet`` build uncompiled models from explicit arguments
(``nnlab train --model mlp | cnn | resnet`` picks one); VGG16 comes with Keras' ImageNet
weights and "caffe" preprocessing.  Nothing here imports onnx: it is needed only once, to
convert the VGG16 weights into the cache.
"""

from .face_alignment import align_faces, extract_chip
from .face_descriptor import FaceEncoder, compute_descriptors, face_descriptor_net
from .lenet import lenet
from .mlp import mlp, mlp_loss
from .mtcnn import MTCNN, mtcnn_weights, onet, pnet, read_joblib_arrays, rnet
from .resnet import ResNet50, convolutional_block, identity_block, resnet50, small_resnet
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
    "align_faces",
    "CAFFE_MEAN_BGR",
    "compute_descriptors",
    "create_mask",
    "extract_chip",
    "face_descriptor_net",
    "FaceEncoder",
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
    "ResNet50",
    "resnet50",
    "identity_block",
    "convolutional_block",
    "unet_model",
    "vgg16_cache_path",
    "vgg16_conv_base",
    "vgg16_features",
    "vgg16_weights",
]
