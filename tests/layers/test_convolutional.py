"""Convolution, pooling, padding and spatial dropout layers without PyTorch.

The course's "convolution step by step" numbers, gradient checks of small CNNs in float64,
output shapes ("same" with asymmetric padding), configuration round trips, and the errors
raised for bad inputs and settings.  (tests/test_conv_torch.py compares with PyTorch.)
"""

import json

import numpy as np
import pytest

import nnlab
from nnlab import (
    L2,
    BatchNormalization,
    ConfigError,
    Dense,
    Flatten,
    Sequential,
    ShapeError,
    registry,
)
from nnlab.layers import (
    AvgPool2D,
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv2D,
    GlobalAveragePooling2D,
    MaxPool2D,
    SeparableConv2D,
    SpatialDropout2D,
    UpSampling2D,
    ZeroPadding2D,
)
from nnlab.layers import convolutional as conv_module
from nnlab.saving.model_file import load_model_from_config

SEEDS = [0, 1, 2]


def built(layer, input_shape, dtype="float64", seed=0):
    layer.build(input_shape, np.random.default_rng(seed), dtype)
    return layer


# --------------------------------------------------------- the course's numbers
def course_conv(a_prev, w, b, pad, stride):
    """A float64 Conv2D(padding=int) holding the course's W and b (1, 1, 1, n_C)."""
    layer = Conv2D(w.shape[-1], w.shape[:2], strides=stride, padding=pad)
    built(layer, a_prev.shape[1:])
    layer.params["W"][...] = w
    layer.params["b"][...] = b[0, 0, 0]
    return layer


def test_course_conv_forward_step_by_step():
    np.random.seed(1)
    a_prev = np.random.randn(2, 5, 7, 4)
    w = np.random.randn(3, 3, 4, 8)
    b = np.random.randn(1, 1, 1, 8)
    z = course_conv(a_prev, w, b, pad=1, stride=2).forward(a_prev)
    assert z.shape == (2, 3, 4, 8)
    assert z.mean() == pytest.approx(0.5511276474566768, rel=1e-12)


def test_course_conv_backward_step_by_step():
    np.random.seed(1)
    a_prev = np.random.randn(10, 4, 4, 3)
    w = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    layer = course_conv(a_prev, w, b, pad=2, stride=2)
    z = layer.forward(a_prev, training=True)
    assert z.shape == (10, 4, 4, 8)
    assert z.mean() == pytest.approx(0.04899520352885578, rel=1e-12)
    da_prev = layer.backward(z)  # the course's conv_backward(Z, cache): dZ = Z, no 1/m
    assert da_prev.shape == a_prev.shape
    assert da_prev.mean() == pytest.approx(1.4524377775388075, rel=1e-12)
    assert layer.grads["W"].mean() == pytest.approx(1.7269914583139097, rel=1e-12)
    assert layer.grads["b"].mean() == pytest.approx(7.839232564616838, rel=1e-12)


def test_course_pooling_step_by_step():
    """The course's pool_forward test: np.random.seed(1); randn(2, 5, 5, 3); f = 3, stride 1
    (its printed A[1, 1]); stride 2 against a sliding-window reference."""
    np.random.seed(1)
    a_prev = np.random.randn(2, 5, 5, 3)
    a_max = built(MaxPool2D(3, strides=1), a_prev.shape[1:]).forward(a_prev)
    a_avg = built(AvgPool2D(3, strides=1), a_prev.shape[1:]).forward(a_prev)
    assert a_max.shape == a_avg.shape == (2, 3, 3, 3)
    expected_max = [
        [1.96710175, 0.84616065, 1.27375593],
        [1.96710175, 0.84616065, 1.23616403],
        [1.62765075, 1.12141771, 1.2245077],
    ]
    expected_avg = [
        [0.44497696, -0.00261695, -0.31040307],
        [0.50811474, -0.23493734, -0.23961183],
        [0.11872677, 0.17255229, -0.22112197],
    ]
    np.testing.assert_allclose(a_max[1, 1], expected_max, rtol=0, atol=5e-9)  # 8 decimals
    np.testing.assert_allclose(a_avg[1, 1], expected_avg, rtol=0, atol=5e-9)
    windows = np.lib.stride_tricks.sliding_window_view(a_prev, (3, 3), axis=(1, 2))[:, ::2, ::2]
    a_max = built(MaxPool2D(3, strides=2), a_prev.shape[1:]).forward(a_prev)
    a_avg = built(AvgPool2D(3, strides=2), a_prev.shape[1:]).forward(a_prev)
    np.testing.assert_array_equal(a_max, windows.max(axis=(-2, -1)))
    np.testing.assert_allclose(a_avg, windows.mean(axis=(-2, -1)), rtol=1e-14)


# ------------------------------------------------------------------ gradient checks
def gradcheck_models():
    """name -> (layers, input shape, loss, label kind)."""
    return {
        "conv-maxpool-dense-softmax": (
            [Conv2D(3, 3, activation="tanh"), MaxPool2D(2), Flatten(), Dense(3, "softmax")],
            (7, 6, 2),
            "categorical_crossentropy",
            "int",
        ),
        "conv-same-stride-relu-avgpool-same": (
            [
                Conv2D(3, (2, 3), strides=2, padding="same", activation="relu"),
                AvgPool2D(2, padding="same"),
                Conv2D(4, 2, strides=(1, 2), padding="same", activation="sigmoid"),
                Flatten(),
                Dense(3, "softmax"),
            ],
            (7, 9, 2),
            "categorical_crossentropy",
            "int",
        ),
        "depthwise-bn-separable-gap": (
            [
                DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="tanh"),
                BatchNormalization(),
                SeparableConv2D(4, 2, padding=1, activation="tanh", depth_multiplier=2),
                MaxPool2D(3, strides=2, padding="same"),
                GlobalAveragePooling2D(),
                Dense(2, "sigmoid"),
            ],
            (6, 5, 3),
            "binary_crossentropy",
            "binary",
        ),
        "zeropad-1x1-spatialdropout-l2-overlapping-maxpool": (
            [
                ZeroPadding2D(((1, 0), (2, 1))),
                Conv2D(3, 1, kernel_regularizer=0.3),
                SpatialDropout2D(0.4),
                Conv2D(
                    2, 3, strides=(2, 1), padding=1, activation="tanh", kernel_regularizer=L2(0.5)
                ),
                MaxPool2D(2, strides=1, padding="same"),
                Flatten(),
                Dense(2),
            ],
            (5, 4, 2),
            "mse",
            "real",
        ),
        "strided-valid-conv-no-bias-avgpool-overlap": (
            [
                Conv2D(3, (3, 2), strides=(2, 3), use_bias=False),
                BatchNormalization(),
                nnlab.Tanh(),
                AvgPool2D((2, 1), strides=1),
                Flatten(),
                Dense(3, "softmax"),
            ],
            (9, 10, 2),
            "categorical_crossentropy",
            "int",
        ),
    }


def make_labels(kind, rng, m, k):
    if kind == "int":
        return rng.integers(0, k, m)
    if kind == "binary":
        return rng.integers(0, 2, (m, k)).astype(np.float64)
    return rng.standard_normal((m, k))


def build_model(name, seed, dtype="float64"):
    layers, shape, loss, kind = gradcheck_models()[name]
    model = Sequential(layers, input_shape=shape, dtype=dtype, seed=seed)
    model.compile("sgd", loss)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial biases
        for key, value in layer.params.items():
            if key in ("b", "beta"):
                value[...] = rng.normal(0, 0.5, value.shape)
    x = rng.standard_normal((3, *shape))  # continuous: no max-pool ties
    return model, x, make_labels(kind, rng, 3, model.output_shape[-1])


def assert_passes(result, model, tol=1e-7):
    assert result.checked == model.count_params()
    assert result.difference < tol, str(result)
    for name, diff in result.per_parameter.items():
        assert diff < 1e-6, f"{name}: {diff:.3e}\n{result}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(gradcheck_models()))
def test_gradcheck_small_cnns(name, seed):
    model, x, y = build_model(name, seed)
    assert_passes(nnlab.gradcheck(model, x, y), model)


@pytest.mark.parametrize("name", ["conv-maxpool-dense-softmax", "depthwise-bn-separable-gap"])
def test_gradcheck_inference_mode(name):
    """training=False: conv columns are dropped after forward and rebuilt in backward."""
    model, x, y = build_model(name, 0)
    assert_passes(nnlab.gradcheck(model, x, y, training=False), model)


def test_gradcheck_with_chunked_im2col(monkeypatch):
    monkeypatch.setattr(conv_module, "COLS_BUDGET_BYTES", 1)  # one example per chunk
    model, x, y = build_model("conv-same-stride-relu-avgpool-same", 1)
    assert_passes(nnlab.gradcheck(model, x, y), model)


def test_gradcheck_of_a_float32_cnn_runs_in_float64():
    model, x, y = build_model("conv-maxpool-dense-softmax", 2, dtype="float32")
    assert_passes(nnlab.gradcheck(model, x, y), model)


# ------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    "n, f, s, padding, n_out, pads",
    [
        (28, 3, 1, "valid", 26, (0, 0)),
        (28, 3, 1, "same", 28, (1, 1)),
        (28, 4, 1, "same", 28, (1, 2)),  # odd total: the extra zero after
        (6, 3, 2, "same", 3, (0, 1)),
        (7, 3, 2, "same", 4, (1, 1)),
        (5, 1, 3, "same", 2, (0, 0)),
        (4, 5, 3, "same", 2, (2, 2)),
        (5, 3, 2, 1, 3, (1, 1)),
        (4, 2, 2, 2, 4, (2, 2)),
        (7, 3, 3, "valid", 2, (0, 0)),
        (1, 1, 1, "valid", 1, (0, 0)),
    ],
)
def test_output_size_and_padding(n, f, s, padding, n_out, pads):
    layer = built(Conv2D(2, (f, 1), strides=(s, 1), padding=padding), (n, 3, 1))
    assert layer.output_shape[0] == n_out
    assert layer.geometry.pad[:2] == pads
    if padding == "same":
        assert layer.output_shape[0] == -(-n // s)
    x = np.random.default_rng(0).standard_normal((2, n, 3, 1))
    assert layer.forward(x).shape == (2, *layer.output_shape)


@pytest.mark.parametrize(
    "layer, shape, expected",
    [
        (Conv2D(8, 3, padding="same"), (28, 28, 1), (28, 28, 8)),
        (Conv2D(8, (3, 5), strides=(1, 2)), (10, 11, 3), (8, 4, 8)),
        (DepthwiseConv2D(3, depth_multiplier=3), (6, 6, 4), (4, 4, 12)),
        (SeparableConv2D(5, 3, strides=2, padding="same"), (9, 8, 4), (5, 4, 5)),
        (MaxPool2D(2), (13, 13, 32), (6, 6, 32)),
        (MaxPool2D(3, strides=2, padding="same"), (13, 12, 2), (7, 6, 2)),
        (AvgPool2D((2, 3)), (8, 9, 5), (4, 3, 5)),
        (GlobalAveragePooling2D(), (7, 7, 6), (6,)),
        (ZeroPadding2D(((1, 2), (3, 4))), (5, 6, 2), (8, 13, 2)),
        (SpatialDropout2D(0.2), (5, 6, 2), (5, 6, 2)),
        (Conv2DTranspose(8, 3, strides=2, padding="same"), (7, 5, 3), (14, 10, 8)),
        (Conv2DTranspose(8, 3, strides=2), (7, 5, 3), (15, 11, 8)),
        (Conv2DTranspose(2, (2, 5), strides=(3, 2), output_padding=(2, 1)), (4, 4, 1), (13, 12, 2)),
        (UpSampling2D((2, 3)), (5, 6, 2), (10, 18, 2)),
    ],
)
def test_compute_output_shape_before_build(layer, shape, expected):
    """The functional API asks for output shapes before anything is built."""
    assert tuple(layer.compute_output_shape(shape)) == expected
    built(layer, shape)
    assert layer.output_shape == expected
    out = layer.forward(np.random.default_rng(0).standard_normal((2, *shape)), training=True)
    assert out.shape == (2, *expected)


def test_parameter_shapes_and_counts():
    conv = built(Conv2D(16, (3, 5), strides=2), (28, 28, 3))
    assert conv.params["W"].shape == (3, 5, 3, 16) and conv.params["b"].shape == (16,)
    assert conv.count_params() == 3 * 5 * 3 * 16 + 16
    depthwise = built(DepthwiseConv2D(3, depth_multiplier=2, use_bias=False), (8, 8, 4))
    assert set(depthwise.params) == {"W"} and depthwise.params["W"].shape == (3, 3, 4, 2)
    sep = built(SeparableConv2D(6, 3, depth_multiplier=2), (8, 8, 4))
    assert {k: v.shape for k, v in sep.params.items()} == {
        "W_depthwise": (3, 3, 4, 2),
        "W_pointwise": (1, 1, 8, 6),
        "b": (6,),
    }
    for layer in (MaxPool2D(), AvgPool2D(), GlobalAveragePooling2D(), ZeroPadding2D()):
        assert built(layer, (4, 4, 2)).count_params() == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_and_gradients_keep_the_dtype(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 8, 3)).astype(dtype)
    for layer in (
        Conv2D(4, 3, padding="same", activation="relu"),
        Conv2D(4, 1),
        DepthwiseConv2D(3),
        SeparableConv2D(2, 3),
        MaxPool2D(2),
        MaxPool2D(3, strides=2, padding="same"),
        AvgPool2D(2, padding="same"),
        GlobalAveragePooling2D(),
        ZeroPadding2D(1),
        SpatialDropout2D(0.5),
        Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        UpSampling2D(2),
        UpSampling2D((2, 3), interpolation="bilinear"),
    ):
        built(layer, x.shape[1:], dtype)
        out = layer.forward(x, training=True)
        dx = layer.backward(np.ones_like(out))
        assert out.dtype == dtype and dx.dtype == dtype, type(layer).__name__
        for key, g in layer.grads.items():
            assert g.dtype == dtype, f"{type(layer).__name__} d{key}"


@pytest.mark.parametrize(
    "layer",
    [
        Conv2D(3, 3, padding=1),
        DepthwiseConv2D(2),
        SeparableConv2D(3, 2, strides=2),
        Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1),
    ],
)
def test_no_input_grad_still_fills_parameter_grads(layer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 5, 3))
    built(layer, x.shape[1:])
    out = layer.forward(x, training=True)
    da = rng.standard_normal(out.shape)
    assert layer.backward(da, need_input_grad=True) is not None
    expected = {k: g.copy() for k, g in layer.grads.items()}
    for g in layer.grads.values():
        g[...] = np.nan
    layer.forward(x, training=True)
    assert layer.backward(da, need_input_grad=False) is None
    for key, g in layer.grads.items():
        np.testing.assert_allclose(g, expected[key], rtol=1e-12, err_msg=key)


def test_gradients_are_written_into_the_flat_buffer():
    model = Sequential(
        [
            Conv2D(2, 3, activation="relu"),
            DepthwiseConv2D(2),
            SeparableConv2D(2, 2),
            Flatten(),
            Dense(2),
        ],
        input_shape=(7, 7, 2),
        seed=0,
    )
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((4, 7, 7, 2)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    model.flat.grads[...] = 0
    model.compute_gradients(x, model.prepare_targets(y, 4))
    for layer in model.layers:
        for key, g in layer.grads.items():
            assert np.shares_memory(g, model.flat.grads), f"{layer.name}/{key} was rebound"
            assert np.abs(g).sum() > 0, f"{layer.name}/{key} is zero"


# --------------------------------------------------------------- spatial dropout
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_spatial_dropout_drops_whole_channels(rate):
    layer = built(SpatialDropout2D(rate), (6, 5, 400), "float32")
    layer.rng = np.random.default_rng(0)
    x = np.random.default_rng(1).uniform(1, 2, (8, 6, 5, 400)).astype(np.float32)
    out = layer.forward(x, training=True)
    scale = out / x  # (m, H, W, C): constant over H, W for each (example, channel)
    np.testing.assert_allclose(scale, scale[:, :1, :1, :].repeat(6, 1).repeat(5, 2), rtol=1e-6)
    values = np.unique(np.round(scale[:, 0, 0, :], 5))
    np.testing.assert_allclose(values, [0.0, round(1 / (1 - rate), 5)], rtol=1e-5)
    assert abs((scale[:, 0, 0, :] == 0).mean() - rate) < 0.03
    da = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(da), da * scale, rtol=1e-6)


def test_spatial_dropout_inference_is_identity():
    layer = built(SpatialDropout2D(0.5), (3, 3, 2))
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 2))
    assert layer.forward(x, training=False) is x
    assert layer.backward(x) is x


# ------------------------------------------------------------------- 1x1 and speed paths
def test_1x1_conv_uses_the_input_as_columns():
    layer = built(Conv2D(4, 1), (5, 6, 3), "float32")
    x = np.random.default_rng(0).standard_normal((2, 5, 6, 3)).astype(np.float32)
    z = layer.forward(x, training=True)
    assert np.shares_memory(layer.cache.cols, x) and "cols" not in layer.cache.buffers
    expected = x.reshape(-1, 3) @ layer.params["W"].reshape(3, 4) + layer.params["b"]
    np.testing.assert_allclose(z.reshape(-1, 4), expected, rtol=1e-6)


def test_max_pool_partition_backward_routes_one_gradient_per_window():
    x = np.zeros((2, 4, 6, 3))  # every window is a tie
    layer = built(MaxPool2D(2), x.shape[1:])
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((2, 2, 3, 3)))
    np.testing.assert_array_equal(dx[:, ::2, ::2, :], 1.0)  # the first element of each window
    assert dx.sum() == 2 * 2 * 3 * 3


# ---------------------------------------------------------------- configuration
def all_new_layers():
    return [
        Conv2D(
            4,
            (3, 2),
            strides=(2, 1),
            padding=(1, 2),
            activation="relu",
            use_bias=False,
            kernel_initializer="he",
            kernel_regularizer=0.1,
            name="c",
        ),
        Conv2D(4, 3, padding="same", activation={"name": "leaky_relu", "alpha": 0.2}),
        DepthwiseConv2D(
            3, strides=2, padding="same", depth_multiplier=2, depthwise_regularizer=L2(0.2)
        ),
        SeparableConv2D(5, 2, padding=1, activation="tanh", pointwise_regularizer=0.3),
        MaxPool2D((2, 3), strides=(1, 2), padding="same"),
        AvgPool2D(3, strides=1),
        GlobalAveragePooling2D(),
        ZeroPadding2D(((1, 2), (0, 3))),
        SpatialDropout2D(0.3),
        Conv2DTranspose(
            3,
            (3, 2),
            strides=(2, 3),
            padding="same",
            output_padding=(1, 0),
            activation="relu",
            use_bias=False,
            kernel_initializer="he",
            kernel_regularizer=0.1,
        ),
        UpSampling2D((2, 3), interpolation="bilinear"),
    ]


@pytest.mark.parametrize("layer", all_new_layers(), ids=lambda layer: type(layer).__name__)
def test_config_round_trip(layer):
    assert registry.lookup("layer", type(layer).__name__) is type(layer)
    config = layer.get_config()
    json.dumps(config)  # serializable
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    assert getattr(nnlab, type(layer).__name__) is type(layer)  # exported at the top level


def test_model_config_round_trip_rebuilds_the_same_network():
    model = Sequential(
        [
            ZeroPadding2D(1),
            Conv2D(4, 3, strides=2, activation="relu"),
            SpatialDropout2D(0.2),
            DepthwiseConv2D(2, padding="same", depth_multiplier=2),
            SeparableConv2D(3, 2, padding="same", activation="tanh"),
            MaxPool2D(2, padding="same"),
            AvgPool2D(1),
            GlobalAveragePooling2D(),
            Dense(2, "softmax"),
        ],
        input_shape=(9, 8, 3),
        seed=0,
    )
    model.compile("adam", "categorical_crossentropy")
    clone = load_model_from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((3, 9, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


# ------------------------------------------------------------------------ errors
def image_layers():
    """A fresh instance of each layer that takes images (m, n_H, n_W, n_C)."""
    return [
        Conv2D(4, 3),
        DepthwiseConv2D(3),
        SeparableConv2D(2, 3),
        MaxPool2D(),
        AvgPool2D(),
        GlobalAveragePooling2D(),
        ZeroPadding2D(),
        SpatialDropout2D(0.1),
        Conv2DTranspose(4, 3),
        UpSampling2D(),
    ]


@pytest.mark.parametrize(
    "layer",
    image_layers(),
    ids=lambda layer: type(layer).__name__,
)
def test_wrong_rank_at_build_names_the_layer_and_the_shape(layer):
    model = Sequential([layer], input_shape=(784,))
    with pytest.raises(ShapeError) as info:
        model.build()
    message = str(info.value)
    assert type(layer).__name__ in message and layer.name in message
    assert "(m, n_H, n_W, n_C)" in message and "(m, 784)" in message


@pytest.mark.parametrize(
    "layer",
    image_layers(),
    ids=lambda layer: type(layer).__name__,
)
@pytest.mark.parametrize("bad_shape", [(2, 8, 8, 3), (2, 8, 8), (2, 8, 7, 1), (2, 64)])
def test_wrong_input_at_forward_names_expected_and_actual_shape(layer, bad_shape):
    built(layer, (8, 8, 1))
    layer.name = "layer_x"
    with pytest.raises(ShapeError) as info:
        layer.forward(np.zeros(bad_shape), training=True)
    message = str(info.value)
    assert f'{type(layer).__name__} layer "layer_x"' in message
    assert "(m, 8, 8, 1)" in message and str(bad_shape) in message


def test_wrong_channels_through_the_model():
    model = Sequential(
        [Conv2D(4, 3, name="conv_a"), Flatten(), Dense(2, "softmax")], input_shape=(8, 8, 1)
    )
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ShapeError, match=r'Conv2D layer "conv_a".*\(m, 8, 8, 1\).*\(2, 8, 8, 3\)'):
        model.predict(np.zeros((2, 8, 8, 3)))


@pytest.mark.parametrize(
    "layer, shape, fragments",
    [
        (Conv2D(4, 5), (3, 3, 1), ["5x5 kernel", "padded input 3x3"]),
        (Conv2D(4, 6, padding=1), (3, 4, 1), ["6x6 kernel", "padded input 5x6"]),
        (Conv2D(4, (2, 7)), (9, 6, 1), ["2x7 kernel", "padded input 9x6"]),
        (DepthwiseConv2D(4), (3, 8, 2), ["4x4 kernel", "padded input 3x8"]),
        (SeparableConv2D(2, 4), (8, 3, 2), ["4x4 kernel"]),
        (MaxPool2D(4), (3, 3, 1), ["4x4 pooling window", "padded input 3x3"]),
        (AvgPool2D((1, 5)), (3, 3, 1), ["1x5 pooling window"]),
    ],
)
def test_window_larger_than_padded_input_fails_at_build(layer, shape, fragments):
    model = Sequential([layer], input_shape=shape)
    with pytest.raises(ShapeError) as info:
        model.build()
    message = str(info.value)
    assert layer.name in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "n, f, s, padding, output_padding, n_out, pads",
    [
        (4, 3, 2, "valid", None, 9, (0, 0)),  # (n - 1) s + f
        (4, 2, 3, "valid", None, 12, (0, 0)),  # n s + max(f - s, 0): the last row bias only
        (4, 5, 2, "valid", None, 11, (0, 0)),
        (4, 3, 2, "valid", 1, 10, (0, 0)),
        (4, 3, 2, "same", None, 8, (0, 1)),  # n s; Conv2D's "same" of 8 -> 4 pads (0, 1)
        (4, 4, 2, "same", None, 8, (1, 1)),
        (4, 5, 2, "same", None, 8, (1, 2)),
        (5, 1, 3, "same", None, 15, (0, 0)),
        (4, 3, 2, "same", 1, 8, (0, 1)),  # (n - 1) s + f % 2 + a
        (4, 3, 2, "same", 0, 7, (1, 1)),
        (4, 4, 2, "same", 1, 7, (1, 2)),
        (4, 4, 2, "same", 0, 6, (2, 2)),  # TensorFlow refuses this one; JAX's padding
        (3, 3, 1, "same", None, 3, (1, 1)),
    ],
)
def test_conv2d_transpose_output_size_and_padding(n, f, s, padding, output_padding, n_out, pads):
    """Keras' deconv_output_length, and the padding of the Conv2D it is the transpose of."""
    a = None if output_padding is None else (output_padding, 0)
    layer = built(Conv2DTranspose(2, (f, 1), (s, 1), padding, output_padding=a), (n, 3, 1))
    assert layer.output_shape[0] == n_out
    assert layer.geometry.pad[:2] == pads
    x = np.random.default_rng(0).standard_normal((2, n, 3, 1))
    assert layer.forward(x).shape == (2, *layer.output_shape)


def test_conv2d_transpose_with_an_empty_output_fails_at_build():
    """ "same", an even kernel and output_padding 0 on one row: (n - 1) s + 0 + 0 = 0."""
    model = Sequential(
        [Conv2DTranspose(2, 2, 2, "same", output_padding=0, name="up")], input_shape=(1, 3, 1)
    )
    with pytest.raises(ShapeError, match=r'Conv2DTranspose layer "up".*empty output \(0, 4\)'):
        model.build()


def test_same_padding_always_fits():
    assert built(Conv2D(2, 7, padding="same"), (2, 3, 1)).output_shape == (2, 3, 2)
    assert built(MaxPool2D(5, padding="same"), (2, 3, 1)).output_shape == (1, 1, 1)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: Conv2D(0, 3), "filters"),
        (lambda: Conv2D(2.5, 3), "filters"),
        (lambda: Conv2D(4, 0), "kernel_size"),
        (lambda: Conv2D(4, (3, 3, 3)), "kernel_size"),
        (lambda: Conv2D(4, 3, strides=0), "strides"),
        (lambda: Conv2D(4, 3, padding="full"), "padding"),
        (lambda: Conv2D(4, 3, padding=-1), "padding"),
        (lambda: Conv2D(4, 3, activation="swish"), "activation"),
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (lambda: SeparableConv2D(0, 3), "filters"),
        (lambda: MaxPool2D(0), "pool_size"),
        (lambda: MaxPool2D(2, strides=(1, 0)), "strides"),
        (lambda: AvgPool2D(2, padding=1), "padding"),
        (lambda: ZeroPadding2D(-1), "padding"),
        (lambda: ZeroPadding2D((1, 2, 3)), "padding"),
        (lambda: SpatialDropout2D(1.0), "rate"),
        (lambda: Conv2DTranspose(0, 3), "Conv2DTranspose: filters"),
        (lambda: Conv2DTranspose(4, 0), "Conv2DTranspose: kernel_size"),
        (lambda: Conv2DTranspose(4, 3, strides=0), "Conv2DTranspose: strides"),
        (lambda: Conv2DTranspose(4, 3, strides=(2, -1)), "Conv2DTranspose: strides"),
        (lambda: Conv2DTranspose(4, 3, padding="full"), "Conv2DTranspose: padding"),
        (lambda: Conv2DTranspose(4, 3, padding=1), "Conv2DTranspose: padding"),
        (
            lambda: Conv2DTranspose(4, 3, strides=2, output_padding=2),
            r"Conv2DTranspose: output_padding must be smaller than strides, got "
            r"output_padding=2 with strides=\(2, 2\)",
        ),
        (
            lambda: Conv2DTranspose(4, 3, strides=(2, 1), output_padding=(1, 1)),
            "Conv2DTranspose: output_padding must be smaller than strides",
        ),
        (lambda: Conv2DTranspose(4, 3, output_padding=-1), "Conv2DTranspose: output_padding"),
        (lambda: Conv2DTranspose(4, 3, activation="swish"), "activation"),
    ],
)
def test_bad_settings_raise_config_errors(make, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make()


# ------------------------------------------------------------------------ training
def bars(n, seed):
    """8x8 images with one vertical (class 0) or horizontal (class 1) bar, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.1, (n, 8, 8, 1)).astype(np.float32)
    pos = rng.integers(1, 7, n)
    for i in range(n):
        if y[i] == 0:
            x[i, :, pos[i], 0] += 1.0
        else:
            x[i, pos[i], :, 0] += 1.0
    return x, y


def test_a_small_cnn_learns_bars():
    x, y = bars(256, 0)
    x_test, y_test = bars(128, 1)
    model = Sequential(
        [
            Conv2D(4, 3, padding="same", activation="relu", kernel_initializer="he"),
            MaxPool2D(2),
            SpatialDropout2D(0.1),
            Conv2D(8, 3, activation="relu", kernel_initializer="he"),
            GlobalAveragePooling2D(),
            Dense(2, "softmax"),
        ],
        input_shape=(8, 8, 1),
        seed=0,
    )
    model.compile("adam", "categorical_crossentropy", ["accuracy"], learning_rate=0.01)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(x_test, y_test)["accuracy"] > 0.9
