"""The small ResNet: gradients through residual blocks, save and load."""

import numpy as np

import nnlab
from nnlab.applications import small_resnet


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
