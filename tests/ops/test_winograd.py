"""Winograd F(2x2, 3x3) against PyTorch's conv2d: paddings, odd sizes, bands across images
and threads, and the input-gradient kernel."""

import numpy as np
import pytest

from nnlab.ops import parallel, winograd

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_conv(x, w, pad, bias=None):
    """conv of channels-last x with HWIO w, zero-padded (top, bottom, left, right)."""
    top, bottom, left, right = pad
    x_cf = F.pad(torch.from_numpy(x).permute(0, 3, 1, 2), (left, right, top, bottom))
    w_t = torch.from_numpy(np.ascontiguousarray(w)).permute(3, 2, 0, 1)
    b_t = None if bias is None else torch.from_numpy(bias)
    return F.conv2d(x_cf, w_t, b_t).permute(0, 2, 3, 1).numpy()


def run(x, w, pad, bias=None, relu=False):
    m, h, wd, _ = x.shape
    top, bottom, left, right = pad
    out = np.full((m, h + top + bottom - 2, wd + left + right - 2, w.shape[-1]), np.nan, x.dtype)
    return winograd.conv3x3(x, winograd.kernel_transform(w), pad, out, bias, relu)


@pytest.mark.parametrize("pad", [(0, 0, 0, 0), (1, 1, 1, 1), (2, 2, 2, 2), (2, 0, 1, 2)])
@pytest.mark.parametrize("size", [(4, 4), (5, 8), (9, 3), (3, 3)])
def test_conv3x3_matches_torch_float64(size, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *size, 3))
    w = rng.standard_normal((3, 3, 3, 5))
    b = rng.standard_normal(5)
    expected = torch_conv(x, w, pad, b)
    np.testing.assert_allclose(run(x, w, pad, b), expected, rtol=1e-12, atol=1e-12)
    relu = run(x, w, pad, b, relu=True)
    np.testing.assert_allclose(relu, np.maximum(expected, 0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tiles_per_gemm", [1, 5, 7, 1000])
def test_bands_across_images_and_threads(monkeypatch, tiles_per_gemm, threads):
    """Bands of tile rows that start and end inside images, split between threads (BLAS
    single-threaded meanwhile), give the same numbers as one band."""
    monkeypatch.setattr(winograd, "TILES_PER_GEMM", tiles_per_gemm)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    parallel.set_num_threads(threads)
    try:
        rng = np.random.default_rng(1)
        x = rng.standard_normal((3, 11, 6, 4)).astype(np.float32)
        w = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
        out = run(x, w, (1, 1, 1, 1))
    finally:
        parallel.set_num_threads(parallel._default_threads())
    np.testing.assert_allclose(out, torch_conv(x, w, (1, 1, 1, 1)), rtol=1e-5, atol=1e-5)


def test_float32_error_on_a_vgg_sized_layer():
    """512 channels in: relative error of a few 1e-6 against a float64 direct convolution."""
    rng = np.random.default_rng(2)
    x = rng.random((1, 14, 14, 512), dtype=np.float32)
    w = (rng.standard_normal((3, 3, 512, 8)) * 0.02).astype(np.float32)
    exact = torch_conv(x.astype(np.float64), w.astype(np.float64), (1, 1, 1, 1))
    error = np.abs(run(x, w, (1, 1, 1, 1)) - exact).max() / np.abs(exact).max()
    assert error < 2e-5


def test_input_gradient_kernel_is_the_adjoint():
    """<conv(x, w), dz> = <x, conv(dz padded by 2 - pad, rotated w)> for every padding."""
    rng = np.random.default_rng(3)
    for pad in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 1, 0, 2)]:
        x = rng.standard_normal((2, 5, 6, 3))
        w = rng.standard_normal((3, 3, 3, 4))
        z = run(x, w, pad)
        dz = rng.standard_normal(z.shape)
        back = tuple(2 - p for p in pad)
        dx = run(dz, winograd.input_gradient_kernel(w), back)
        assert dx.shape == x.shape
        np.testing.assert_allclose(np.vdot(z, dz), np.vdot(x, dx), rtol=1e-10)


def test_kernel_transforms_are_G_g_G_transpose():
    """kernel_transform is G g G^T of every channel pair; input_gradient_transform is the
    transform of input_gradient_kernel, made without the rotated copy."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((3, 3, 5, 7))
    g = np.array(winograd._G)
    expected = np.einsum("ap,pqcn,bq->abcn", g, w, g).reshape(16, 5, 7)
    np.testing.assert_allclose(winograd.kernel_transform(w), expected, rtol=1e-12, atol=1e-12)
    rotated = winograd.kernel_transform(winograd.input_gradient_kernel(w))
    np.testing.assert_allclose(
        winograd.input_gradient_transform(w), rotated, rtol=1e-12, atol=1e-12
    )
    assert winograd.input_gradient_transform(w).shape == (16, 7, 5)
    w32 = w.astype(np.float32)
    assert winograd.input_gradient_transform(w32).dtype == np.float32
