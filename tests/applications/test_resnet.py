"""ResNets: the small ResNet (gradients through residual blocks, save and load), the
course's bottleneck blocks and ResNet50 (the lab's summary and printed numbers, gradient
checks, PyTorch), Keras' ResNet50 (its parameter count and layer names)."""

import numpy as np
import pytest

import nnlab
from nnlab import Dense, Flatten, Input, Model
from nnlab.applications import (
    ResNet50,
    convolutional_block,
    identity_block,
    resnet50,
    small_resnet,
)
from nnlab.exceptions import ConfigError
from nnlab.ops.initializers import Constant


def test_small_resnet_backward_passes_gradcheck():
    model = small_resnet(input_shape=(8, 8, 2), n_classes=3, widths=(3, 4), seed=0)
    model.compile("sgd", "categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 2))
    result = nnlab.gradcheck(model, x, np.array([0, 1, 2, 1]), max_per_param=6)
    assert result.difference < 1e-6, result
    names = [layer.name for layer in model.layers]
    assert sum(name.startswith("add_") for name in names) == 3  # 3 residual connections


def test_resnet_saves_and_loads(tmp_path):
    model = small_resnet(input_shape=(8, 8, 1), n_classes=2, widths=(2, 4), augment=True, seed=1)
    model.compile("adam", "categorical_crossentropy")
    x = np.random.default_rng(0).random((6, 8, 8, 1), dtype=np.float32)
    model.fit(x, np.arange(6) % 2, epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "r.safetensors")
    loaded = nnlab.load_model(tmp_path / "r.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# ------------------------------------------------------------ the course's ResNet50


def test_course_resnet50_has_the_labs_summary():
    """The lab's model.summary(): 23,600,006 / 23,546,886 / 53,120 (Keras counts the batch
    norms' moving means and variances as non-trainable parameters)."""
    model = ResNet50(input_shape=(64, 64, 3), classes=6, seed=0)
    lines = model.summary(print_fn=None).splitlines()
    assert lines[-3:] == [
        "Total params: 23,600,006",
        "Trainable params: 23,546,886",
        "Non-trainable params: 53,120",
    ]
    assert model.output_shape == (6,)
    shapes = {l.name: l.output_shape for l in model.layers}
    assert shapes["zero_padding2d_1"] == (70, 70, 3) and shapes["max_pool2d_1"] == (15, 15, 64)
    assert shapes["avg_pool2d_1"] == (1, 1, 2048) and shapes["flatten_1"] == (2048,)
    names = [l.name for l in model.layers]
    assert sum(n.startswith("add_") for n in names) == 16  # 3 + 4 + 6 + 3 blocks
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0, rtol=1e-5)


def test_keras_resnet50_has_keras_count_and_names():
    model = resnet50(seed=0)
    model.build()
    assert model.count_params(include_state=True) == 25_636_712  # Keras' ResNet50 summary
    assert model.count_trainable_params() == 25_583_592
    assert len(model.layers) == 176  # Keras' 177 with its InputLayer
    names = {l.name for l in model.layers}
    assert {"conv1_pad", "conv1_conv", "conv1_bn", "pool1_pad", "pool1_pool"} <= names
    assert {"conv2_block1_0_conv", "conv2_block1_3_bn", "conv4_block6_out"} <= names
    assert {"conv5_block3_add", "avg_pool", "predictions"} <= names
    assert model.get_layer("conv5_block3_out").output_shape == (7, 7, 2048)
    assert model.get_layer("conv1_bn").epsilon == pytest.approx(1.001e-5)
    base = resnet50(include_top=False, pooling="avg")
    base.build()
    assert base.count_params(include_state=True) == 23_587_712 and base.output_shape == (2048,)
    with pytest.raises(ConfigError, match="at least 32"):
        resnet50(input_shape=(16, 16, 3))


def lab_input():
    """The lab's test batch: three 4x4x3 images of -1, 1 and 3."""
    return np.concatenate([np.full((1, 4, 4, 3), v, np.float32) for v in (-1.0, 1.0, 3.0)])


def test_identity_block_reproduces_the_labs_training_false_numbers():
    """The lab: identity_block(X, f=2, filters=[4, 4, 3], initializer=lambda seed=0:
    constant(value=1), training=False) prints 192.71236, 96.85619, 48.9281 for the second
    image.  In inference mode every BN divides by sqrt(1 + 1e-3) (moving mean 0, variance
    1); a corner of the 2x2 'same' window sees 4, 2 or 1 of its taps."""
    inputs = Input((4, 4, 3))
    out = identity_block(
        inputs, f=2, filters=[4, 4, 3], initializer=lambda seed=0: Constant(value=1),
        training=False,
    )  # fmt: skip
    model = Model(inputs, out)
    model.build()
    a = model.forward(lab_input(), training=True)  # frozen BNs: inference mode anyway
    means = a[:, (0, -1), :, :].mean(axis=3)
    s = np.sqrt(1.001)
    for image, value in ((1, 1.0), (2, 3.0)):
        for taps, (r, c) in ((4, (0, 0)), (2, (0, 3)), (2, (1, 0)), (1, (1, 3))):
            expected = 4 * (taps * 4 * (3 * value / s)) / s / s + value
            assert means[image, r, c] == pytest.approx(expected, rel=1e-6)
    assert means[1, 0, 0] == pytest.approx(192.71236, abs=2e-5)
    assert means[1, 1, 0] == pytest.approx(96.85619, abs=2e-5)
    assert means[1, 1, 3] == pytest.approx(48.9281, abs=2e-5)
    np.testing.assert_array_equal(means[0], 0.0)  # ReLU(negative) + (-1) -> ReLU -> 0


def block_model(kind, seed=0):
    inputs = Input((5, 5, 4))
    if kind == "identity":
        out = identity_block(inputs, 3, (2, 3, 4), initializer="glorot_uniform")
    else:
        out = convolutional_block(inputs, 2, (2, 3, 5), s=2)
    head = Dense(3, activation="softmax")(Flatten()(out))
    return Model(inputs, head, seed=seed, dtype="float64")


@pytest.mark.parametrize("kind", ["identity", "convolutional"])
def test_bottleneck_blocks_pass_a_float64_gradient_check(kind):
    model = block_model(kind)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(1).standard_normal((4, 5, 5, 4))
    result = nnlab.gradcheck(model, x, np.array([0, 1, 2, 1]), max_per_param=8)
    assert result.difference < 1e-7, result
    convs = [l for l in model.layers if type(l).__name__ == "Conv2D"]
    assert len(convs) == (3 if kind == "identity" else 4) and all(c.use_bias for c in convs)


def test_convolutional_block_equals_pytorch():
    """Forward, input and parameter gradients in float64, batch statistics (training)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    inputs = Input((5, 5, 4))
    block = convolutional_block(inputs, 3, (2, 3, 5), s=2, name="b")  # Keras' layer names
    model = Model(inputs, block, seed=0, dtype="float64")
    model.build()
    x = np.random.default_rng(2).standard_normal((3, 5, 5, 4))
    out = model.forward(x, training=True)
    r = np.random.default_rng(3).standard_normal(out.shape)
    dx = model.backward(r, input_grads=True)
    p = {
        name: torch.tensor(np.array(value), requires_grad=True)
        for name, value, _ in model.named_parameters()
    }

    def conv_bn(t, k, stride, pad, relu):  # b_{k}_conv -> b_{k}_bn [-> ReLU], NCHW
        w = p[f"b_{k}_conv/W"].permute(3, 2, 0, 1)  # HWIO -> OIHW
        z = F.conv2d(t, w, p[f"b_{k}_conv/b"], stride=stride, padding=pad)
        z = F.batch_norm(z, None, None, p[f"b_{k}_bn/gamma"], p[f"b_{k}_bn/beta"], True, 0.0, 1e-3)
        return torch.relu(z) if relu else z

    x_t = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    h = conv_bn(conv_bn(conv_bn(x_t, 1, 2, 0, True), 2, 1, 1, True), 3, 1, 0, False)
    y_t = torch.relu(h + conv_bn(x_t, 0, 2, 0, False))
    y_t.backward(torch.tensor(r.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(out, y_t.detach().numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(dx, x_t.grad.numpy().transpose(0, 2, 3, 1), atol=1e-10)
    assert len(p) == 16
    for name, _, grad in model.named_parameters():
        np.testing.assert_allclose(grad, p[name].grad.numpy(), atol=1e-9, err_msg=name)


def test_blocks_check_their_arguments():
    inputs = Input((4, 4, 3))
    with pytest.raises(ConfigError, match="3 channels, F3 = 8"):
        identity_block(inputs, 3, (2, 2, 8))
    with pytest.raises(ConfigError, match=r"\(F1, F2, F3\)"):
        convolutional_block(inputs, 3, (2, 8))
    with pytest.raises(ConfigError, match="training must be True or False"):
        identity_block(inputs, 3, (2, 2, 3), training="yes")
    out = identity_block(inputs, 3, (2, 2, 3), initializer=Constant(0.5))
    assert Model(inputs, out).layers[0].kernel_initializer.value == 0.5
