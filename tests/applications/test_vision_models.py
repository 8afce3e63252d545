"""The ready-made CNNs: shapes, gradients through residual blocks, the CLI's --model."""

import json

import numpy as np
import pytest

import nnlab
from nnlab.applications.vision_models import lenet, small_resnet
from nnlab.cli.main import main


def test_lenet_shapes_and_parameter_count():
    model = lenet(seed=0)
    model.build()
    # conv 3*3*1*32+32, conv 3*3*32*64+64, dense 1600*128+128, dense 128*10+10
    assert model.count_params() == 320 + 18_496 + 204_928 + 1_290
    assert model.output_shape == (10,)


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


def image_npz(path, rng, m=240):
    """16x16 images of 3 classes: a bright row band whose position is the class."""

    def part(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 16, 16)).astype(np.uint8)
        for k in range(3):
            x[y == k, 4 * k + 2 : 4 * k + 5] += 180
        return x, y

    (xa, ya), (xb, yb) = part(m), part(m // 3)
    np.savez(path, x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    return path


@pytest.mark.parametrize("model", ["cnn", "resnet"])
def test_cli_trains_the_image_models(tmp_path, model):
    data = image_npz(tmp_path / "bands.npz", np.random.default_rng(0))
    run = tmp_path / model
    code = main(
        [
            "train",
            "--model",
            model,
            "--dataset",
            str(data),
            "--epochs",
            "10",
            "--batch-size",
            "32",
            "--learning-rate",
            "0.003",
            "--quiet",
            "--out",
            str(run),
        ]
    )
    assert code == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.9
    arch = json.loads((run / "model.json").read_text())
    assert arch["class"] == ("Sequential" if model == "cnn" else "Model")
