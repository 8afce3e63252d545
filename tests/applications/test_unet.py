"""The course's U-Net (nnlab.applications.unet): shapes, the lab's parameter count,
gradients through the whole net, and a short training on real segmentation canvases."""

import numpy as np
import pytest

import nnlab
from nnlab import backend
from nnlab.applications.unet import (
    conv_block,
    create_mask,
    segmentation_loss,
    unet_model,
    upsampling_block,
)
from nnlab.data.detection import CanvasMaker
from nnlab.exceptions import ConfigError
from nnlab.layers import Dropout, Input
from nnlab.training.gradcheck import float64_copy, numeric_gradient, relative_difference
from nnlab.training.metrics import iou_per_class, mean_iou


def keras_conv_params(f, c_in, c_out):
    """Conv2D or Conv2DTranspose, f x f kernel with bias: f f c_in c_out + c_out."""
    return f * f * c_in * c_out + c_out


def lab_parameter_count(c_in=3, n=32, n_classes=23):
    """The lab's U-Net counted block by block from the Keras formula."""
    widths = [n, 2 * n, 4 * n, 8 * n, 16 * n]
    total, c = 0, c_in
    for w in widths:  # conv_block: two 3x3 convolutions (dropout, pooling: no parameters)
        total += keras_conv_params(3, c, w) + keras_conv_params(3, w, w)
        c = w
    for w in reversed(widths[:-1]):  # upsampling_block: CONVT, concat with w skip channels
        total += keras_conv_params(3, c, w) + keras_conv_params(3, 2 * w, w)
        total += keras_conv_params(3, w, w)
        c = w
    return total + keras_conv_params(3, n, n) + keras_conv_params(1, n, n_classes)


def test_lab_default_model_has_the_labs_parameter_count_and_shapes():
    model = unet_model()  # input_size=(96, 128, 3), n_filters=32, n_classes=23
    model.build()
    assert lab_parameter_count() == 8_640_471  # the lab's summary: "Total params: 8,640,471"
    assert model.count_params() == 8_640_471
    assert model.output_shape == (96, 128, 23)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 20 and kinds.count("Conv2DTranspose") == 4
    assert kinds.count("MaxPool2D") == 4 and kinds.count("Concatenate") == 4
    assert [layer.rate for layer in model.layers if isinstance(layer, Dropout)] == [0.3, 0.3]
    bottleneck = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"][9]
    assert bottleneck.output_shape == (6, 8, 512)


@pytest.mark.parametrize("c_in, n, k", [(1, 16, 11), (3, 8, 2)])
def test_parameter_count_matches_the_formula(c_in, n, k):
    model = unet_model((32, 64, c_in), n, k)
    model.build()
    assert model.count_params() == lab_parameter_count(c_in, n, k)
    assert model.output_shape == (32, 64, k)


def test_blocks_shapes():
    inputs = Input((16, 24, 3))
    pooled, skip = conv_block(inputs, 8)
    assert pooled.shape == (8, 12, 8) and skip.shape == (16, 24, 8)
    same, skip2 = conv_block(pooled, 4, dropout_prob=0.3, max_pooling=False)
    assert same.shape == skip2.shape == (8, 12, 4)
    up = upsampling_block(same, skip, 5)
    assert up.shape == (16, 24, 5)


def test_input_sides_must_divide_by_16():
    with pytest.raises(ConfigError, match="divisible by 16"):
        unet_model((96, 120, 3))


def test_whole_small_unet_passes_gradcheck_on_parameters_and_input():
    """Every tensor of a whole U-Net (16 x 16 x 1, n_filters 2: the bottleneck is 1 x 1),
    dropout on, and dJ/dX.  The biases are drawn away from 0: with b = 0 a pixel whose
    3 x 3 input window is all zeros (ReLU) has Z exactly 0, on the ReLU's kink, where
    finite differences see half the slope (relu'(0) = 0 here, as in Keras)."""
    model = unet_model((16, 16, 1), n_filters=2, n_classes=3, seed=0)
    model.compile("sgd", segmentation_loss())
    rng = np.random.default_rng(0)
    weights = model.get_weights()
    model.set_weights(
        {k: rng.uniform(-0.2, 0.2, v.shape) if k.endswith("/b") else v for k, v in weights.items()}
    )
    x = rng.standard_normal((2, 16, 16, 1))
    y = rng.integers(0, 3, (2, 16, 16))
    result = nnlab.gradcheck(model, x, y, max_per_param=3, seed=1)
    assert len(result.per_parameter) == 2 * 24  # W and b of 20 Conv2D and 4 Conv2DTranspose
    assert result.passed(), result

    # dJ/dX through every layer, dropout masks fixed by the seed
    net = float64_copy(model)
    loss = segmentation_loss()
    targets = net.prepare_targets(y, 2)
    x64 = x.astype(np.float64)

    def forward_loss(inputs):
        net.rng = backend.make_rng(1)
        for layer in net.layers:
            layer.rng = net.rng
        return loss.value_and_grad(targets, net.forward(inputs, training=True))

    _, d_logits = forward_loss(x64)
    dx = net.backward(d_logits, input_grads=True)
    idx = rng.choice(x64.size, 40, replace=False)
    flat = x64.reshape(-1)
    approx = numeric_gradient(lambda: forward_loss(x64)[0], flat, idx, 1e-5)
    assert relative_difference(dx.reshape(-1)[idx], approx) < 1e-6


def test_per_pixel_loss_matches_the_mean_of_pixel_cross_entropies():
    """Logits (m, H, W, K) with masks (m, H, W): J is the mean over every pixel of
    -log softmax(z)[y], and dJ/dz = (softmax(z) - onehot(y)) / (m H W)."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((2, 4, 5, 3))
    y = rng.integers(0, 3, (2, 4, 5))
    loss = segmentation_loss()
    targets = loss.prepare(y, (4, 5, 3))
    value, grad = loss.value_and_grad(targets, z)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(value, -np.mean(np.log((p * onehot).sum(-1))), rtol=1e-12)
    np.testing.assert_allclose(grad, (p - onehot) / y.size, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(create_mask(z), z.argmax(-1))


def test_short_training_segments_held_out_canvases():
    """Three seconds of training on 256 canvases of 32 x 32 (ink vs background, the masks'
    classes > 0): on canvases of MNIST's test digits over the pictures' held-out columns
    the ink's IoU is far above chance (calling every pixel ink: IoU = the ink's share)."""
    settings = dict(size=32, max_digits=2, min_size=20, max_size=32)
    train = CanvasMaker("train", **settings).make(256, seed=0, masks=True)
    test = CanvasMaker("test", **settings).make(128, seed=0, masks=True)
    model = unet_model((32, 32, 1), n_filters=4, n_classes=2, seed=0)
    model.compile("adam", segmentation_loss(), learning_rate=3e-3)
    history = model.fit(train.images, train.masks > 0, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    truth = (test.masks > 0).astype(np.uint8)
    predicted = create_mask(model.predict(test.images))
    background_iou, ink_iou = iou_per_class(truth, predicted, 2)
    chance = truth.mean()
    assert chance < 0.2 and ink_iou > 0.6 and background_iou > 0.9, (ink_iou, chance)
    assert mean_iou(truth, predicted) > 0.8


def test_unet_saves_and_loads(tmp_path):
    model = unet_model((16, 32, 1), n_filters=2, n_classes=4, seed=2)
    model.compile("adam", segmentation_loss())
    x = np.random.default_rng(0).random((3, 16, 32, 1), dtype=np.float32)
    model.fit(x, np.zeros((3, 16, 32), dtype=np.int64), epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "unet.safetensors")
    loaded = nnlab.load_model(tmp_path / "unet.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
