"""Transfer learning: VGG16's base frozen under a new head, fine-tuned from block5, against a
small CNN from scratch, on scikit-image's LFW faces / non-faces."""

import time

import numpy as np
import pytest

from nnlab.applications.transfer import (
    HEAD_START,
    TransferConfig,
    compare_transfer,
    fine_tune,
    scratch_cnn,
    take_per_class,
    vgg16_transfer_model,
)
from nnlab.applications.vgg16 import WeightsNotFoundError, preprocess_caffe, vgg16_weights
from nnlab.data.splits import Split, train_dev_test_split
from nnlab.exceptions import ConfigError, InputValueError

BLOCK5 = 3 * (3 * 3 * 512 * 512 + 512)


def test_the_base_is_frozen_and_fine_tune_opens_block5():
    model = vgg16_transfer_model((32, 32, 3), weights=None, seed=0)
    trainable = [layer.name for layer in model.layers if layer.trainable]
    assert trainable == [HEAD_START, "head_dropout", "head_output"]
    assert model.count_trainable_params() == 513
    text = model.summary(print_fn=None)
    assert "Trainable params: 513" in text and "Non-trainable params: 14,714,688" in text
    assert model.flat.size < 1000  # only the head is in the optimizer's buffers
    names = fine_tune(model)
    assert names[:4] == ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]
    assert model.count_trainable_params() == BLOCK5 + 513
    assert not model.get_layer("block4_conv3").trainable
    softmax = vgg16_transfer_model((32, 32, 3), n_classes=3, head="flatten", weights=None)
    assert softmax.output_shape == (3,) and softmax.get_layer(HEAD_START).output_shape == (512,)
    with pytest.raises(ConfigError, match="head"):
        vgg16_transfer_model(head="max", weights=None)


def test_scratch_cnn_trains_every_layer():
    model = scratch_cnn((16, 16, 3), seed=0)
    model.build()
    assert all(layer.trainable for layer in model.layers)
    assert model.output_shape == (1,)
    bns = [l for l in model.layers if type(l).__name__ == "BatchNormalization"]
    assert len(bns) == 3 and all(bn.momentum == 0.9 for bn in bns)


def test_take_per_class_balances_and_checks():
    x = np.arange(30)[:, None]
    y = np.r_[np.zeros(10, int), np.ones(20, int)]
    xs, ys = take_per_class(x, y, 4, seed=1)
    assert np.bincount(ys).tolist() == [4, 4] and np.all(y[xs[:, 0]] == ys)
    assert not np.array_equal(ys, np.sort(ys))  # shuffled
    with pytest.raises(InputValueError, match="class 0 has 10 examples, 11"):
        take_per_class(x, y, 11)


def lfw(size):
    pytest.importorskip("skimage")
    from nnlab.data.images import load_lfw_subset

    return load_lfw_subset(size)


def test_load_lfw_subset():
    x, y = lfw(25)
    assert x.shape == (200, 25, 25, 3) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 255 and np.array_equal(x[..., 0], x[..., 2])
    assert y.tolist() == [1] * 100 + [0] * 100
    big, _ = lfw(40)
    assert big.shape == (200, 40, 40, 3)
    np.testing.assert_allclose(big.mean(), x.mean(), rtol=0.02)


def test_a_short_transfer_run_beats_chance_clearly():
    """32x32 images, 20 per class: 3 epochs of the head, 2 of block5, 5 of the scratch CNN
    (a few seconds on one core)."""
    try:
        vgg16_weights()
    except WeightsNotFoundError as err:
        pytest.skip(str(err))
    x, y = lfw(32)
    split = train_dev_test_split(preprocess_caffe(x), y, dev=40, test=40, stratify=True, seed=0)
    x_train, y_train = take_per_class(split.x_train, split.y_train, 20, seed=0)
    config = TransferConfig(head_epochs=3, fine_tune_epochs=2, seed=0)
    start = time.perf_counter()
    lines = []
    results = compare_transfer(Split(x_train, y_train, *split[2:]), config, log=lines.append)
    assert time.perf_counter() - start < 20
    assert len(lines) == 3 and "fine_tuned" in lines[1]
    frozen, tuned, scratch = (results[k] for k in ("frozen", "fine_tuned", "scratch"))
    assert frozen["test_accuracy"] >= 0.8 and tuned["test_accuracy"] >= 0.8  # chance: 0.5
    assert tuned["dev_accuracy"] >= 0.8
    assert frozen["trainable_params"] == 513 and tuned["trainable_params"] == BLOCK5 + 513
    assert tuned["epochs"] == scratch["epochs"] == 5 and tuned["steps"] == scratch["steps"] == 20
    assert results["config"]["learning_rate"] == 3e-4
