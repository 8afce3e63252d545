"""The runner's model choice: every model name of the config has a builder."""

import pytest

from nnlab.runs.config import MODELS, RunConfig
from nnlab.runs.runner import IMAGE_MODELS, build_model


def test_every_config_model_has_a_builder():
    assert {"mlp", *IMAGE_MODELS} == set(MODELS)


@pytest.mark.parametrize(
    ("config", "n_classes", "loss"),
    [
        (RunConfig(layers=[3]), 2, "binary_crossentropy"),
        (RunConfig(layers=[3]), 3, "categorical_crossentropy"),
        (RunConfig(model="cnn"), 2, "categorical_crossentropy"),
    ],
)
def test_build_model_compiles_with_the_matching_loss(config, n_classes, loss):
    shape = (784,) if config.model == "mlp" else (28, 28, 1)
    model = build_model(config, shape, n_classes)
    assert model.loss.name == loss
