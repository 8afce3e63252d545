"""Convolution, pooling and padding layers against PyTorch on the same data.

nnlab is channels-last with HWIO kernels; torch is NCHW with OIHW kernels, so the torch
side of every test transposes: x.permute(0, 3, 1, 2) in, .permute(0, 2, 3, 1) out, and
W.permute(3, 2, 0, 1).contiguous().  "same" padding is compared with an explicit F.pad (TensorFlow's
rule, computed independently here: the extra zero of an odd total goes bottom / right).
Forward output, input gradient and every parameter gradient must agree to 1e-5 (float32,
relative plus absolute) or 1e-10 (float64).
"""

import math

import numpy as np
import pytest

import nnlab
from nnlab.layers import (
    AvgPool2D,
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv2D,
    GlobalAveragePooling2D,
    MaxPool2D,
    SeparableConv2D,
    ZeroPadding2D,
)
from nnlab.layers import convolutional as conv_module

torch = pytest.importorskip("torch")
F = torch.nn.functional

from helpers import assert_close, compare_with_torch, run_layer  # noqa: E402

DTYPES = ["float32", "float64"]
SEEDS = list(range(12))
PADDINGS = ["valid", "same", "int"]

TORCH_ACTIVATIONS = {
    None: lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


# ------------------------------------------------------------------------ helpers
def same_pads(n, f, s):
    """TensorFlow's "same": (before, after) with the odd zero after."""
    n_out = -(-n // s)
    total = max((n_out - 1) * s + f - n, 0)
    return total // 2, total - total // 2


def torch_pad(x_cf, kernel, strides, padding, value=0.0):
    """Pad an NCHW tensor as nnlab's padding spec says; return (padded, n_out pads)."""
    (f_h, f_w), (s_h, s_w) = kernel, strides
    if padding == "valid":
        return x_cf
    if padding == "same":
        top, bottom = same_pads(x_cf.shape[2], f_h, s_h)
        left, right = same_pads(x_cf.shape[3], f_w, s_w)
    else:
        p_h, p_w = (padding, padding) if isinstance(padding, int) else padding
        top = bottom = p_h
        left = right = p_w
    return F.pad(x_cf, (left, right, top, bottom), value=value)


def to_cf(x):
    return x.permute(0, 3, 1, 2)


def to_cl(x):
    return x.permute(0, 2, 3, 1)


def random_conv_case(seed, padding_kind):
    """(x shape, kernel, strides, padding): kernel sizes 1-5, strides 1-3, non-square."""
    rng = np.random.default_rng(500 + seed)
    f_h, f_w = (int(v) for v in rng.integers(1, 6, 2))
    if seed % 3 == 0:
        f_w = f_h  # some square kernels
    s_h, s_w = (int(v) for v in rng.integers(1, 4, 2))
    if seed % 2 == 0:
        s_w = s_h
    if padding_kind == "int":
        padding = int(rng.integers(0, 3))
        if seed % 4 == 1:
            padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    else:
        padding = padding_kind
    p_h, p_w = (padding, padding) if isinstance(padding, int) else (0, 0)
    if isinstance(padding, tuple):
        p_h, p_w = padding
    if padding == "same":
        p_h = p_w = 0
    n_H = max(int(rng.integers(1, 10)), f_h - 2 * p_h)
    n_W = max(int(rng.integers(1, 10)), f_w - 2 * p_w)
    if padding == "same":
        n_H, n_W = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    m = 1 if seed == 0 else int(rng.integers(2, 5))
    c = int(rng.integers(1, 5))
    return (m, n_H, n_W, c), (f_h, f_w), (s_h, s_w), padding


def spec(kernel):
    """Pass some kernel sizes as ints, the rest as pairs."""
    return kernel[0] if kernel[0] == kernel[1] else kernel


def random_bias():
    return nnlab.ops.initializers.RandomNormal(0.5)


# ----------------------------------------------------------------------------- Conv2D
def torch_conv2d(kernel, strides, padding, activation, use_bias=True):
    def fn(x, p):
        x_cf = torch_pad(to_cf(x), kernel, strides, padding)
        w = p["W"].permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        z = F.conv2d(x_cf, w, p["b"] if use_bias else None, stride=strides)
        return TORCH_ACTIVATIONS[activation](to_cl(z))

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_kind", PADDINGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_matches_torch(seed, padding_kind, dtype):
    shape, kernel, strides, padding = random_conv_case(seed, padding_kind)
    filters = 1 + seed % 5
    activation = list(TORCH_ACTIVATIONS)[seed % 4]
    layer = Conv2D(
        filters,
        spec(kernel),
        strides=strides,
        padding=padding,
        activation=activation,
        bias_initializer=random_bias(),
    )
    x = np.random.default_rng(seed).standard_normal(shape)
    fn = torch_conv2d(kernel, strides, padding, activation)
    out, dx, grads = compare_with_torch(layer, fn, x, seed=seed, dtype=dtype)
    assert layer.params["W"].shape == (*kernel, shape[-1], filters)
    assert out.shape[-1] == filters and dx.shape == shape


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, (2, 3), (5, 2)])
def test_conv2d_same_stride_1_matches_torch_padding_same(kernel, dtype):
    """PyTorch's own padding="same" (stride 1) also puts the odd zero bottom / right."""
    k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    layer = Conv2D(3, kernel, padding="same", bias_initializer=random_bias())
    x = np.random.default_rng(7).standard_normal((2, 6, 5, 2))

    def fn(x_t, p):
        z = F.conv2d(to_cf(x_t), p["W"].permute(3, 2, 0, 1).contiguous(), p["b"], padding="same")
        return to_cl(z)

    out, _, _ = compare_with_torch(layer, fn, x, seed=3, dtype=dtype)
    assert out.shape == (2, 6, 5, 3)
    assert layer.geometry.pad == (
        (k[0] - 1) // 2,
        k[0] - 1 - (k[0] - 1) // 2,
        (k[1] - 1) // 2,
        k[1] - 1 - (k[1] - 1) // 2,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_1x1_is_a_reshape_and_one_gemm(use_bias, dtype):
    layer = Conv2D(5, 1, use_bias=use_bias, bias_initializer=random_bias())
    x = np.random.default_rng(1).standard_normal((3, 4, 6, 7))
    fn = torch_conv2d((1, 1), (1, 1), "valid", None, use_bias)
    compare_with_torch(layer, fn, x, seed=1, dtype=dtype)
    assert layer.geometry.identity
    x32 = x.astype(dtype)
    layer.forward(x32, training=True)
    assert np.shares_memory(layer.cache.cols, x32), "1x1 conv copied its input"
    assert "cols" not in layer.cache.buffers


@pytest.mark.parametrize("strides, padding", [(2, "valid"), (1, 1), (3, "same")])
def test_conv2d_1x1_with_stride_or_padding(strides, padding):
    layer = Conv2D(4, 1, strides=strides, padding=padding, bias_initializer=random_bias())
    x = np.random.default_rng(2).standard_normal((2, 7, 5, 3))
    fn = torch_conv2d((1, 1), (strides, strides), padding, None)
    compare_with_torch(layer, fn, x, seed=2, dtype="float64")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("padding", ["valid", "same", 2])
def test_conv2d_in_chunks_matches_torch(monkeypatch, padding, training):
    """Batches whose columns exceed COLS_BUDGET_BYTES run in chunks of examples and
    backward recomputes the columns; inference forward never keeps them."""
    shape, kernel, strides = (7, 6, 5, 3), (3, 2), (2, 1)
    per_example = 3 * 5 * 3 * 2 * 3 * 8  # generous upper bound: a few examples per chunk
    monkeypatch.setattr(conv_module, "COLS_BUDGET_BYTES", 2 * per_example)
    layer = Conv2D(4, kernel, strides=strides, padding=padding, activation="tanh")
    x = np.random.default_rng(3).standard_normal(shape)
    fn = torch_conv2d(kernel, strides, padding, "tanh")
    compare_with_torch(layer, fn, x, seed=4, dtype="float64", training=training)
    assert layer._chunk(shape[0], 8) < shape[0]
    assert layer.cache.cols is None


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tile_bytes", [1, 700])
@pytest.mark.parametrize("padding_kind", PADDINGS)
@pytest.mark.parametrize("seed", SEEDS[:8])
def test_conv2d_in_bands_matches_torch(monkeypatch, seed, padding_kind, tile_bytes, threads):
    """A forward that keeps no columns runs in bands of output rows once the batch's
    columns pass WHOLE_BATCH_COLS_BYTES: bands of one row or of several, across images,
    split between threads; every kernel size, stride and padding; one channel too."""
    from nnlab.ops import im2col, parallel

    monkeypatch.setattr(conv_module, "WHOLE_BATCH_COLS_BYTES", 0)
    monkeypatch.setattr(im2col, "TILE_BYTES", tile_bytes)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    shape, kernel, strides, padding = random_conv_case(seed, padding_kind)
    activation = list(TORCH_ACTIVATIONS)[seed % 4]
    layer = Conv2D(3, spec(kernel), strides, padding, activation, bias_initializer=random_bias())
    x = np.random.default_rng(seed).standard_normal(shape)
    fn = torch_conv2d(kernel, strides, padding, activation)
    parallel.set_num_threads(threads)
    try:
        compare_with_torch(layer, fn, x, seed=seed, dtype="float64", training=False)
    finally:
        parallel.set_num_threads(parallel._default_threads())
    assert layer.forward_route(shape[0]) in ("bands", "1x1")


@pytest.mark.parametrize("training", [True, False])
def test_conv2d_backward_after_inference_forward(training):
    """Inference forward drops the columns; backward recomputes them."""
    layer = Conv2D(3, 3, padding="same", bias_initializer=random_bias())
    x = np.random.default_rng(5).standard_normal((2, 5, 4, 2))
    fn = torch_conv2d((3, 3), (1, 1), "same", None)
    compare_with_torch(layer, fn, x, seed=5, dtype="float64", training=training)
    assert (layer.cache.cols is None) == (not training)


@pytest.mark.parametrize("channels", [1, 2])
def test_conv2d_reuses_its_column_buffer_across_steps(channels):
    """The kept column buffer (and, with one channel, its zero padding entries, which
    im2col never writes) stays right from step to step."""
    layer = Conv2D(2, 3, padding=1, bias_initializer=random_bias())
    rng = np.random.default_rng(0)
    layer.build((5, 5, channels), rng, "float32")
    x1, x2 = rng.standard_normal((2, 3, 5, 5, channels), dtype=np.float32)
    layer.forward(x1, training=True)
    buffer = layer.cache.buffers["cols"]
    out2 = layer.forward(x2, training=True)
    assert layer.cache.buffers["cols"] is buffer
    fresh = Conv2D(2, 3, padding=1)
    fresh.build((5, 5, channels), np.random.default_rng(1), "float32")
    for key in layer.params:
        fresh.params[key][...] = layer.params[key]
    np.testing.assert_array_equal(fresh.forward(x2, training=True), out2)
    fn = torch_conv2d((3, 3), (1, 1), 1, None)
    compare_with_torch(layer, fn, x2, seed=0, dtype="float32", build=False)


# ------------------------------------------------------------ Conv2D by Winograd F(2x2, 3x3)
WINOGRAD_PADDINGS = ["valid", "same", 1, 2, (2, 0), (0, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("padding", WINOGRAD_PADDINGS)
@pytest.mark.parametrize("size", [(6, 8), (7, 5)])
def test_conv2d_by_winograd_matches_torch(monkeypatch, size, padding, training, dtype):
    """3x3 stride-1 convolutions with enough channels run as Winograd (forward in
    inference, the input gradient always); odd output sizes crop the tiles."""
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 3)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_WIDTH", 1)
    layer = Conv2D(4, 3, padding=padding, activation="relu", bias_initializer=random_bias())
    x = np.random.default_rng(8).standard_normal((3, *size, 5))
    fn = torch_conv2d((3, 3), (1, 1), padding, "relu")
    compare_with_torch(layer, fn, x, seed=8, dtype=dtype, training=training)
    expected = "im2col (columns kept)" if training else "winograd"  # training keeps them for dW
    assert layer.forward_route(3, training, x.itemsize) == expected
    assert layer.input_gradient_route(3) == "winograd"
    assert (layer.cache.cols is None) == (not training)


@pytest.mark.parametrize("activation", [None, "tanh"])
def test_conv2d_by_winograd_without_relu(monkeypatch, activation):
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_WIDTH", 1)
    layer = Conv2D(3, 3, padding="same", activation=activation, bias_initializer=random_bias())
    x = np.random.default_rng(9).standard_normal((2, 9, 6, 2))
    fn = torch_conv2d((3, 3), (1, 1), "same", activation)
    compare_with_torch(layer, fn, x, seed=9, dtype="float64", training=False)


def test_conv2d_winograd_at_its_default_threshold():
    """64 channels in and out, 16 wide (the thresholds): float32 forward, input and weight
    gradient."""
    layer = Conv2D(64, 3, padding="same", activation="relu", bias_initializer=random_bias())
    x = np.random.default_rng(10).standard_normal((2, 5, 16, 64))
    fn = torch_conv2d((3, 3), (1, 1), "same", "relu")
    compare_with_torch(layer, fn, x, seed=10, dtype="float32", training=False, tol=1e-4)
    assert layer._winograd(64, 2)


def test_narrow_outputs_with_many_channels_take_winograd_once_numerous():
    """7 wide (< WINOGRAD_MIN_WIDTH) but 256 channels: Winograd from 1024 outputs per
    channel (21 images), im2col below (20 images); both match PyTorch."""
    for m, expected in [(21, True), (20, False)]:
        layer = Conv2D(8, 3, padding="same", activation="relu", bias_initializer=random_bias())
        x = np.random.default_rng(12).standard_normal((m, 7, 7, 256))
        fn = torch_conv2d((3, 3), (1, 1), "same", "relu")
        compare_with_torch(layer, fn, x, seed=12, dtype="float32", training=False, tol=1e-4)
        assert layer.forward_route(m) == ("winograd" if expected else "im2col")


def test_frozen_conv2d_skips_its_weight_gradients(monkeypatch):
    """A non-trainable layer's backward computes dA_prev only; its grads stay as they were."""
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_WIDTH", 1)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6, 6, 3))
    da = rng.standard_normal((2, 6, 6, 4))
    frozen, live = (Conv2D(4, 3, padding="same", trainable=t) for t in (False, True))
    for layer in (frozen, live):
        layer.build((6, 6, 3), np.random.default_rng(0), "float64")
        layer.forward(x, training=True)
    dx_frozen, dx_live = frozen.backward(da), live.backward(da)
    np.testing.assert_allclose(dx_frozen, dx_live, rtol=1e-12, atol=1e-12)
    assert not np.any(frozen.grads["W"]) and np.any(live.grads["W"])


# -------------------------------------------------------------------- Conv2DTranspose
def keras_transpose_pads(k, s, padding, output_padding):
    """Keras 3's own conversion of its transposed-convolution arguments for JAX (written
    out again from keras/src/backend/common/backend_utils.py; TensorFlow agrees): (left,
    right) zeros around the input dilated by s (s - 1 zeros between pixels), which a
    stride-1 convolution with the spatially flipped kernel then reads."""
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    if output_padding is None:
        total = s + k - 2  # output n s
    else:
        total = k + k % 2 - 2 + output_padding  # output (n - 1) s + k % 2 + a
    left = min(total // 2 + total % 2, k - 1)
    return left, total - left


def torch_transpose_args(n, k, s, padding, output_padding):
    """(t, a, n_out): F.conv_transpose2d(padding=t, output_padding=a) then rows [:n_out].

    The dilated, (left, right)-padded input of Keras' rule has (n - 1) s + 1 + left + right
    rows; the flipped kernel's k taps give n_out = (n - 1) s + left + right - k + 2
    outputs, output o being row o + (k - 1 - left) of the full transposed convolution
    ((n - 1) s + k rows: input i, tap p lands on row i s + p).  PyTorch's padding=t drops t
    rows at both ends of that full output and output_padding=a adds a at the end (zeros,
    plus the bias): so t = k - 1 - left, and a = right - left rows more, or, when
    right - left = -1 (which PyTorch cannot express), one row fewer: a = 0 and crop."""
    left, right = keras_transpose_pads(k, s, padding, output_padding)
    n_out = (n - 1) * s + left + right - k + 2
    return k - 1 - left, max(right - left, 0), n_out


def torch_conv_transpose(kernel, strides, padding, output_padding, activation, use_bias=True):
    """nnlab's Conv2DTranspose in torch: W (f_h, f_w, n_C, n_C_prev) is torch's
    (in = n_C_prev, out = n_C, f_h, f_w) after permute(3, 2, 0, 1); NCHW in and out."""
    ops = (None, None) if output_padding is None else output_padding

    def fn(x, p):
        args = [
            torch_transpose_args(x.shape[1 + axis], kernel[axis], strides[axis], padding, ops[axis])
            for axis in (0, 1)
        ]
        (t_h, a_h, n_h), (t_w, a_w, n_w) = args
        w = p["W"].permute(3, 2, 0, 1).contiguous()
        b = p["b"] if use_bias else None
        z = F.conv_transpose2d(to_cf(x), w, b, strides, (t_h, t_w), (a_h, a_w))
        return TORCH_ACTIVATIONS[activation](to_cl(z[:, :, :n_h, :n_w]))

    return fn


def random_transpose_case(seed, padding, with_output_padding):
    """(x shape, kernel, strides, output_padding): kernel sizes 1-5, strides 1-3."""
    rng = np.random.default_rng(900 + seed)
    f_h, f_w = (int(v) for v in rng.integers(1, 6, 2))
    s_h, s_w = (int(v) for v in rng.integers(1, 4, 2))
    if seed % 3 == 0:
        f_w, s_w = f_h, s_h  # some square cases
    output_padding = None
    if with_output_padding:
        output_padding = (int(rng.integers(0, s_h)), int(rng.integers(0, s_w)))
    m = 1 if seed == 0 else int(rng.integers(2, 4))
    shape = (m, int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 5)))
    if padding == "same" and output_padding is not None:  # Keras' size can be 0 at n = 1
        shape = (m, max(shape[1], 2), max(shape[2], 2), shape[3])
    return shape, (f_h, f_w), (s_h, s_w), output_padding


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_output_padding", [False, True], ids=["auto", "output_padding"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_transpose_matches_torch(seed, padding, with_output_padding, dtype):
    shape, kernel, strides, output_padding = random_transpose_case(
        seed, padding, with_output_padding
    )
    filters = 1 + seed % 4
    activation = list(TORCH_ACTIVATIONS)[seed % 4]
    use_bias = seed % 5 != 4
    layer = Conv2DTranspose(
        filters,
        spec(kernel),
        strides=spec(strides),
        padding=padding,
        output_padding=output_padding,
        activation=activation,
        use_bias=use_bias,
        bias_initializer=random_bias(),
    )
    x = np.random.default_rng(seed).standard_normal(shape)
    fn = torch_conv_transpose(kernel, strides, padding, output_padding, activation, use_bias)
    out, dx, _ = compare_with_torch(layer, fn, x, seed=seed, dtype=dtype)
    assert layer.params["W"].shape == (*kernel, filters, shape[-1])
    assert dx.shape == shape
    if padding == "same" and output_padding is None:
        assert out.shape == (shape[0], shape[1] * strides[0], shape[2] * strides[1], filters)


def torch_same_args(k, s):
    """PyTorch arguments for Keras' Conv2DTranspose(padding="same"), output n s (n inputs).

    Derivation.  Keras (TensorFlow, JAX) defines it as the transpose of Conv2D "same" over
    an n s image: that convolution has ceil(n s / s) = n outputs and pads P = max((n - 1) s
    + k - n s, 0) = max(k - s, 0) zeros, floor(P / 2) before and ceil(P / 2) after.  Its
    transpose spreads input i over rows i s + p - floor(P / 2), p = 0 .. k - 1: the full
    transposed convolution ((n - 1) s + k rows, row i s + p) with its first floor(P / 2)
    rows dropped and n s kept.  PyTorch's ConvTranspose2d(padding=t, output_padding=a)
    keeps rows t .. (n - 1) s + k - t + a - 1 of that full output, so t = floor(P / 2) and
      * k >= s: (n - 1) s + k - 2 t = n s + (k - s) mod 2: a = 0, and when k - s is odd one
        row too many remains at the end: crop it (a would have to be -1);
      * k < s: P = 0, t = 0, and the full output is s - k rows short: a = s - k (< s).
    Returns (t, a, crop): crop = rows to drop at the end.  (Keras' own PyTorch backend took
    t = ceil((k - s) / 2), a = (k - s) mod 2, shifting odd k - s by one pixel, until
    keras-team/keras#22876.)"""
    if k >= s:
        return (k - s) // 2, 0, (k - s) % 2
    return 0, s - k, 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
def test_conv2d_transpose_same_is_torch_padding_output_padding_and_crop(kernel, strides, dtype):
    """Keras' "same" in PyTorch's terms, derived in ``torch_same_args``."""
    t, a, crop = torch_same_args(kernel, strides)
    layer = Conv2DTranspose(3, kernel, strides, padding="same", bias_initializer=random_bias())
    x = np.random.default_rng(kernel).standard_normal((2, 4, 3, 2))

    def fn(x_t, p):
        w = p["W"].permute(3, 2, 0, 1)  # (in, out, f_h, f_w), as ConvTranspose2d.weight
        z = F.conv_transpose2d(to_cf(x_t), w, p["b"], strides, padding=t, output_padding=a)
        return to_cl(z[:, :, : z.shape[2] - crop, : z.shape[3] - crop])

    out, _, _ = compare_with_torch(layer, fn, x, seed=kernel, dtype=dtype)
    assert out.shape == (2, 4 * strides, 3 * strides, 3)


@pytest.mark.parametrize(
    "kernel, strides, padding",
    [(3, 2, "same"), (4, 2, "same"), ((2, 5), (3, 1), "same"), (3, 2, "valid"), (2, 3, "valid")],
)
def test_conv2d_transpose_is_the_input_gradient_of_conv2d(kernel, strides, padding):
    """Conv2DTranspose(A) equals Conv2D's dA_prev for dZ = A (same kernel, strides and
    padding, Conv2D over an image of the transposed layer's output size)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 2))
    tconv = Conv2DTranspose(6, kernel, strides, padding, use_bias=False)
    tconv.build(x.shape[1:], rng, "float64")
    conv = Conv2D(2, kernel, strides, padding, use_bias=False)
    conv.build(tconv.output_shape, rng, "float64")
    assert conv.output_shape == x.shape[1:]
    conv.params["W"][...] = tconv.params["W"]
    conv.forward(rng.standard_normal((3, *tconv.output_shape)), training=True)
    np.testing.assert_allclose(tconv.forward(x), conv.backward(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chunk_bytes", [1, 3000])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_transpose_in_chunks_and_threads(monkeypatch, padding, chunk_bytes, threads):
    """Chunks of one example or of a few (slabs forward, columns backward; dW added up
    over them), the passes split between threads."""
    from nnlab.ops import parallel

    monkeypatch.setattr(conv_module, "TRANSPOSE_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    layer = Conv2DTranspose(
        3, (3, 2), (2, 3), padding, activation="relu", bias_initializer=random_bias()
    )
    x = np.random.default_rng(1).standard_normal((5, 3, 4, 2))
    fn = torch_conv_transpose((3, 2), (2, 3), padding, None, "relu")
    parallel.set_num_threads(threads)
    try:
        compare_with_torch(layer, fn, x, seed=1, dtype="float64")
    finally:
        parallel.set_num_threads(parallel._default_threads())
    assert 1 <= layer._chunk(5, 8 * 3 * 2 * 3) <= 5


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_transpose_1x1_stride_1_is_one_gemm(use_bias, dtype):
    layer = Conv2DTranspose(4, 1, use_bias=use_bias, bias_initializer=random_bias())
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 3))
    fn = torch_conv_transpose((1, 1), (1, 1), "valid", None, None, use_bias)
    compare_with_torch(layer, fn, x, seed=2, dtype=dtype)
    assert layer.geometry.identity


def test_conv2d_transpose_unet_sized_float32():
    """A U-Net decoder's upsampling: 32 -> 16 channels, 3x3, stride 2, "same", ReLU."""
    layer = Conv2DTranspose(16, 3, 2, "same", activation="relu", bias_initializer=random_bias())
    x = np.random.default_rng(3).standard_normal((2, 8, 8, 32))
    fn = torch_conv_transpose((3, 3), (2, 2), "same", None, "relu")
    compare_with_torch(layer, fn, x, seed=3, dtype="float32")


def test_frozen_conv2d_transpose_gives_the_input_gradient_only():
    rng = np.random.default_rng(4)
    x, da = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((2, 6, 6, 4))
    frozen, live = (Conv2DTranspose(4, 3, 2, "same", trainable=t) for t in (False, True))
    for layer in (frozen, live):
        layer.build((3, 3, 2), np.random.default_rng(0), "float64")
        layer.forward(x, training=True)
    np.testing.assert_allclose(frozen.backward(da), live.backward(da), rtol=1e-12, atol=1e-12)
    assert not np.any(frozen.grads["W"]) and np.any(live.grads["W"])
    assert live.backward(da, need_input_grad=False) is None and np.any(live.grads["b"])


# ---------------------------------------------------------------------------- Conv1D
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kernel, strides, padding, pads",
    [
        (3, 1, "valid", (0, 0)),
        (4, 2, "same", (1, 2)),
        (3, 1, "causal", (2, 0)),
        (5, 3, 2, (2, 2)),
        (2, 1, "same", (0, 1)),
    ],  # fmt: skip
)
def test_conv1d_matches_torch(kernel, strides, padding, pads, dtype):
    """Conv1D (W (f, n_C_prev, n_C)) against F.conv1d on the zero-padded sequence."""
    layer = nnlab.layers.Conv1D(
        4, kernel, strides, padding, activation="relu", bias_initializer=random_bias()
    )
    x = np.random.default_rng(kernel).standard_normal((3, 9, 2))

    def fn(x_t, p):
        x_cf = F.pad(x_t.permute(0, 2, 1), pads)
        z = F.conv1d(x_cf, p["W"].permute(2, 1, 0), p["b"], stride=strides)
        return torch.relu(z).permute(0, 2, 1)

    out, _, _ = compare_with_torch(layer, fn, x, seed=kernel, dtype=dtype)
    assert layer.params["W"].shape == (kernel, 2, 4) and out.shape == (3, *layer.output_shape)


# --------------------------------------------------------------------- DepthwiseConv2D
def torch_depthwise(kernel, strides, padding, use_bias=True, activation=None):
    def fn(x, p):
        c = x.shape[-1]
        x_cf = torch_pad(to_cf(x), kernel, strides, padding)
        # HW C d -> (C d, 1, H, W): output channel c d + k uses W[:, :, c, k]
        w = p["W"].permute(2, 3, 0, 1).reshape(-1, 1, *kernel).contiguous()
        z = F.conv2d(x_cf, w, p["b"] if use_bias else None, stride=strides, groups=c)
        return TORCH_ACTIVATIONS[activation](to_cl(z))

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_kind", PADDINGS)
@pytest.mark.parametrize("seed", SEEDS[:8])
def test_depthwise_conv2d_matches_torch_groups(seed, padding_kind, dtype):
    shape, kernel, strides, padding = random_conv_case(seed, padding_kind)
    d = 1 + seed % 3
    activation = list(TORCH_ACTIVATIONS)[seed % 4]
    layer = DepthwiseConv2D(
        spec(kernel),
        strides=strides,
        padding=padding,
        depth_multiplier=d,
        activation=activation,
        use_bias=seed % 4 != 3,
        bias_initializer=random_bias(),
    )
    x = np.random.default_rng(seed).standard_normal(shape)
    fn = torch_depthwise(kernel, strides, padding, layer.use_bias, activation)
    out, _, _ = compare_with_torch(layer, fn, x, seed=seed, dtype=dtype)
    assert out.shape[-1] == shape[-1] * d
    assert layer.params["W"].shape == (*kernel, shape[-1], d)


# --------------------------------------------------------------------- SeparableConv2D
def torch_separable(kernel, strides, padding, activation, use_bias=True):
    def fn(x, p):
        c = x.shape[-1]
        x_cf = torch_pad(to_cf(x), kernel, strides, padding)
        w_d = p["W_depthwise"].permute(2, 3, 0, 1).reshape(-1, 1, *kernel).contiguous()
        y = F.conv2d(x_cf, w_d, None, stride=strides, groups=c)
        z = F.conv2d(
            y, p["W_pointwise"].permute(3, 2, 0, 1).contiguous(), p["b"] if use_bias else None
        )
        return TORCH_ACTIVATIONS[activation](to_cl(z))

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_kind", PADDINGS)
@pytest.mark.parametrize("seed", SEEDS[:6])
def test_separable_conv2d_matches_torch(seed, padding_kind, dtype):
    shape, kernel, strides, padding = random_conv_case(seed, padding_kind)
    activation = list(TORCH_ACTIVATIONS)[seed % 4]
    layer = SeparableConv2D(
        2 + seed % 3,
        spec(kernel),
        strides=strides,
        padding=padding,
        activation=activation,
        depth_multiplier=1 + seed % 2,
        use_bias=seed != 5,
        bias_initializer=random_bias(),
    )
    x = np.random.default_rng(seed).standard_normal(shape)
    fn = torch_separable(kernel, strides, padding, activation, layer.use_bias)
    compare_with_torch(layer, fn, x, seed=seed, dtype=dtype)


# ------------------------------------------------------------------------------ pooling
def random_pool_case(seed, padding):
    rng = np.random.default_rng(900 + seed)
    f_h, f_w = (int(v) for v in rng.integers(1, 5, 2))
    if seed % 2 == 0:
        f_w = f_h
    strides = None if seed % 3 == 0 else tuple(int(v) for v in rng.integers(1, 4, 2))
    s_h, s_w = strides or (f_h, f_w)
    n_H = int(rng.integers(f_h, 11))
    n_W = int(rng.integers(f_w, 11))
    m = 1 if seed == 0 else int(rng.integers(2, 5))
    return (m, n_H, n_W, int(rng.integers(1, 5))), (f_h, f_w), strides, (s_h, s_w)


def torch_max_pool(kernel, strides, padding):
    def fn(x, p):
        x_cf = torch_pad(to_cf(x), kernel, strides, padding, value=-math.inf)
        return to_cl(F.max_pool2d(x_cf, kernel, strides))

    return fn


def torch_avg_pool(kernel, strides, padding):
    """Padded entries are not counted: sum pooling divided by the in-range count."""

    def fn(x, p):
        x_cf = torch_pad(to_cf(x), kernel, strides, padding)
        ones = torch_pad(torch.ones_like(to_cf(x)), kernel, strides, padding)
        total = F.avg_pool2d(x_cf, kernel, strides)
        count = F.avg_pool2d(ones, kernel, strides)
        return to_cl(total / count)

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("seed", SEEDS)
def test_max_pool_matches_torch(seed, padding, dtype):
    shape, kernel, strides, s = random_pool_case(seed, padding)
    layer = MaxPool2D(spec(kernel), strides=strides, padding=padding)
    x = np.random.default_rng(seed).standard_normal(shape)
    out, _, grads = compare_with_torch(layer, torch_max_pool(kernel, s, padding), x, seed, dtype)
    assert grads == {}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("seed", SEEDS)
def test_avg_pool_matches_torch(seed, padding, dtype):
    shape, kernel, strides, s = random_pool_case(seed, padding)
    layer = AvgPool2D(spec(kernel), strides=strides, padding=padding)
    x = np.random.default_rng(seed).standard_normal(shape)
    compare_with_torch(layer, torch_avg_pool(kernel, s, padding), x, seed, dtype)


@pytest.mark.parametrize("pool, strides", [(2, None), (3, 2), (2, 1), (3, 3), ((2, 3), (1, 2))])
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_max_pool_ties_route_to_the_first_maximum_like_torch(seed, pool, strides):
    """Inputs from {0, 1, 2} (and ReLU-like zeros): many ties in every window.  Exactly one
    element per window receives the window's gradient, the first maximum, as in torch."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (3, 8, 9, 2)).astype(np.float64)
    x[0] = 0.0  # a whole example of ties
    layer = MaxPool2D(pool, strides=strides)
    s = strides or pool
    kernel = pool if isinstance(pool, tuple) else (pool, pool)
    s = s if isinstance(s, tuple) else (s, s)
    compare_with_torch(layer, torch_max_pool(kernel, s, "valid"), x, seed, "float64")
    if strides is None or strides == pool:  # non-overlapping: a one-hot mask per window
        da = np.ones((3, *layer.output_shape))
        layer.forward(x, training=True)
        dx = layer.backward(da)
        g = layer.geometry
        counts = dx[:, : g.n_H * kernel[0], : g.n_W * kernel[1]]
        counts = counts.reshape(3, g.n_H, kernel[0], g.n_W, kernel[1], 2).sum(axis=(2, 4))
        np.testing.assert_array_equal(counts, 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_after_relu_matches_torch(dtype):
    """The CNN case: pooling ReLU outputs, where whole windows are 0."""
    x = np.maximum(np.random.default_rng(0).standard_normal((4, 12, 10, 3)), 0)
    compare_with_torch(MaxPool2D(2), torch_max_pool((2, 2), (2, 2), "valid"), x, 0, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_global_average_pooling_matches_torch(seed, dtype):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers([1, 1, 1, 1], [5, 7, 7, 6]))
    x = rng.standard_normal(shape)
    layer = GlobalAveragePooling2D()
    out, _, _ = compare_with_torch(layer, lambda x_t, p: x_t.mean(dim=(1, 2)), x, seed, dtype)
    assert out.shape == (shape[0], shape[-1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [1, 0, (2, 1), ((1, 3), (0, 2))])
def test_zero_padding_matches_torch(padding, dtype):
    if isinstance(padding, int):
        (top, bottom), (left, right) = (padding, padding), (padding, padding)
    elif isinstance(padding[0], int):
        (top, bottom), (left, right) = (padding[0],) * 2, (padding[1],) * 2
    else:
        (top, bottom), (left, right) = padding
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 2))
    layer = ZeroPadding2D(padding)

    def fn(x_t, p):
        return to_cl(F.pad(to_cf(x_t), (left, right, top, bottom)))

    out, _, _ = compare_with_torch(layer, fn, x, 0, dtype)
    assert out.shape == (2, 4 + top + bottom, 3 + left + right, 2)


# ------------------------------------------------------- a whole CNN, layer by layer
@pytest.mark.parametrize("dtype", DTYPES)
def test_small_cnn_step_matches_torch(dtype):
    """conv -> relu -> maxpool -> conv(same, stride 2) -> avgpool -> flatten -> dense:
    the loss and every gradient of one step equal torch's."""
    rng = np.random.default_rng(0)
    model = nnlab.Sequential(
        [
            Conv2D(4, 3, activation="relu", kernel_initializer="he"),
            MaxPool2D(2),
            Conv2D(6, (2, 3), strides=2, padding="same", activation="tanh"),
            AvgPool2D(2, padding="same"),
            nnlab.Flatten(),
            nnlab.Dense(3, activation="softmax"),
        ],
        input_shape=(12, 11, 2),
        dtype=dtype,
        seed=0,
    )
    model.compile("sgd", "categorical_crossentropy")
    x = rng.standard_normal((5, 12, 11, 2)).astype(dtype)
    y = rng.integers(0, 3, 5)
    value, _, _ = model.compute_gradients(x, model.prepare_targets(y, 5))

    p = {
        name: torch.tensor(np.array(v, copy=True), requires_grad=True)
        for name, v, _ in model.named_parameters()
    }
    names = [layer.name for layer in model.layers]
    t = to_cf(torch.tensor(x))
    t = torch.relu(
        F.conv2d(t, p[f"{names[0]}/W"].permute(3, 2, 0, 1).contiguous(), p[f"{names[0]}/b"])
    )
    t = F.max_pool2d(t, 2)
    t = F.pad(t, (0, 1, 0, 1))  # same, (2, 3) kernel, stride 2 on 5x4: bottom 1, right 1
    t = torch.tanh(
        F.conv2d(t, p[f"{names[2]}/W"].permute(3, 2, 0, 1).contiguous(), p[f"{names[2]}/b"], 2)
    )
    t = torch_avg_pool((2, 2), (2, 2), "same")(to_cl(t), {})
    logits = t.flatten(1) @ p[f"{names[5]}/W"] + p[f"{names[5]}/b"]
    loss = F.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    assert_close(value, loss.item(), dtype, what="loss")
    for name, _, grad in model.named_parameters():
        assert_close(grad, p[name].grad.numpy(), dtype, what=name)


def test_run_layer_does_not_modify_inputs_for_every_new_layer():
    """Forward and backward leave x and da untouched (checked inside run_layer)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 3))
    for layer in (
        Conv2D(2, 3, padding="same", activation="relu"),
        Conv2D(2, 1),
        DepthwiseConv2D(3, padding=1),
        SeparableConv2D(2, 2, strides=2),
        MaxPool2D(3, strides=1, padding="same"),
        AvgPool2D(2),
        GlobalAveragePooling2D(),
        ZeroPadding2D(1),
    ):
        layer.build(x.shape[1:], rng, "float64")
        da = rng.standard_normal((2, *layer.output_shape))
        run_layer(layer, x, da)


# ------------------------------------------------ scratch reused from step to step
@pytest.mark.parametrize("layer", [MaxPool2D(2), MaxPool2D(3, strides=2, padding="same")])
def test_max_pool_backward_after_inference_forward_matches_torch(layer):
    """Inference forward skips the argmax; a backward after it computes it."""
    x = np.random.default_rng(0).standard_normal((3, 9, 8, 2))
    kernel, s = layer.pool_size, layer.strides
    fn = torch_max_pool(kernel, s, layer.padding)
    compare_with_torch(layer, fn, x, seed=0, dtype="float64", training=False)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_repeated_steps_reuse_scratch_but_not_results(activation):
    """Conv2D and MaxPool2D keep scratch (columns, ReLU mask, dZ, argmax) between steps;
    what they return must stay valid after the next step."""
    rng = np.random.default_rng(0)
    conv = Conv2D(3, 3, padding="same", activation=activation, bias_initializer=random_bias())
    pool = MaxPool2D(2)
    conv.build((6, 6, 2), rng, "float64")
    pool.build(conv.output_shape, rng, "float64")
    xs = rng.standard_normal((2, 4, 6, 6, 2))
    das = rng.standard_normal((2, 4, 3, 3, 3))
    results = []
    for x, da in zip(xs, das, strict=True):
        a = conv.forward(x, training=True)
        out = pool.forward(a, training=True)
        dx = conv.backward(pool.backward(da))
        results.append((out, dx, conv.grads["W"].copy()))
    for (out, dx, dw), x, da in zip(results, xs, das, strict=True):
        fresh_conv = Conv2D(3, 3, padding="same", activation=activation)
        fresh_conv.build((6, 6, 2), rng, "float64")
        for key in conv.params:
            fresh_conv.params[key][...] = conv.params[key]
        fresh_pool = MaxPool2D(2)
        fresh_pool.build(conv.output_shape, rng, "float64")
        expected_out = fresh_pool.forward(fresh_conv.forward(x, training=True), training=True)
        expected_dx = fresh_conv.backward(fresh_pool.backward(da))
        np.testing.assert_array_equal(out, expected_out)
        np.testing.assert_array_equal(dx, expected_dx)
        np.testing.assert_array_equal(dw, fresh_conv.grads["W"])
