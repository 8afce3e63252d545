"""nnlab.registry: one name table for every kind (activations ... layers).

Every registered name resolves, aliases resolve to their target (with the arguments they
imply), configs round-trip (``get(kind, get_config(obj))`` gives the same config), objects
pass through, unknown names list the known ones, and model configs written before the
registry existed still load.
"""

import json
from pathlib import Path

import pytest

import nnlab
from nnlab import ConfigError, registry
from nnlab.ops import activations, initializers
from nnlab.ops.regularizers import L2
from nnlab.saving.model_file import load_model_from_config
from nnlab.training import losses, metrics, optimizers, schedules

SAVED_CONFIGS = Path(__file__).with_name("saved_configs_9fb2178.json")

# arguments a name needs before it can be built (every other name builds with none)
REQUIRED = {
    "schedule": {"initial_learning_rate": 0.1, "decay_rate": 0.5},
    "layer": {
        "Conv1D": {"filters": 2, "kernel_size": 3},
        "Conv2D": {"filters": 2, "kernel_size": 3},
        "Conv2DTranspose": {"filters": 2, "kernel_size": 3},
        "Dense": {"units": 2},
        "DepthwiseConv2D": {"kernel_size": 3},
        "Input": {"shape": [3]},
        "SeparableConv2D": {"filters": 2, "kernel_size": 3},
        "Embedding": {"input_dim": 5, "output_dim": 2},
        "SimpleRNN": {"units": 2},
        "GRU": {"units": 2},
        "LSTM": {"units": 2},
        "Bidirectional": {"layer": {"class": "LSTM", "config": {"units": 2}}},
        "RepeatVector": {"n": 3},
        "Permute": {"dims": [2, 1]},
        "MultiHeadAttention": {"num_heads": 2, "key_dim": 3},
        "Rescaling": {"scale": 0.5},
    },
    "loss": {"yolo_loss": {"anchors": [[10.0, 12.0], [20.0, 18.0]]}},  # by name, as layers
}
PER_NAME = ("layer", "loss")  # kinds whose REQUIRED arguments are given name by name


def build_spec(kind, name):
    """The spec that builds ``name``: the bare name, or a config with its required args."""
    needed = REQUIRED.get(kind, {})
    if kind in PER_NAME:
        needed = needed.get(name, {})
    if kind == "layer":
        return {"class": name, "config": needed}
    return {"name": name, **needed} if needed else name


def every_name(aliases=True):
    """Every (kind, name) that builds from a spec (models are rebuilt by nnlab.saving from
    their whole architecture, tested there)."""
    kinds = [kind for kind in registry.KINDS if kind != "model"]
    return [(kind, name) for kind in kinds for name in registry.names(kind, aliases)]


def jsonable(config):
    return json.loads(json.dumps(config))


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test vanish after it."""
    monkeypatch.setattr(registry, "_TABLE", {k: dict(v) for k, v in registry._TABLE.items()})
    monkeypatch.setattr(registry, "_NAMES", dict(registry._NAMES))


# ------------------------------------------------------------------------ names
def test_every_kind_has_names():
    assert set(registry.KINDS) == {
        "activation",
        "initializer",
        "regularizer",
        "loss",
        "optimizer",
        "schedule",
        "metric",
        "layer",
        "model",
    }
    for kind in registry.KINDS:
        assert registry.names(kind), kind
        assert set(registry.names(kind, aliases=False)) <= set(registry.names(kind))


@pytest.mark.parametrize("kind, name", every_name(), ids=lambda x: str(x))
def test_every_name_resolves_to_its_class_and_round_trips(kind, name):
    obj = registry.get(kind, build_spec(kind, name))
    target = registry.lookup(kind, name)
    if isinstance(target, type):
        assert type(obj) is target
    else:
        assert obj is target  # a registered function (metrics)
    config = jsonable(registry.get_config(obj))
    assert jsonable(registry.get_config(registry.get(kind, config))) == config
    assert jsonable(registry.get_config(registry.from_config(kind, config))) == config


def test_layers_are_named_by_class_and_all_public_layers_are_registered():
    public = {name for name in nnlab.layers.__all__ if name != "Layer"}
    assert set(registry.names("layer")) == public
    for name in public:
        assert registry.lookup("layer", name) is getattr(nnlab.layers, name)
        assert getattr(nnlab, name) is getattr(nnlab.layers, name)


@pytest.mark.parametrize(
    "kind, alias, cls",
    [
        ("initializer", "he_normal", initializers.He),
        ("initializer", "glorot", initializers.GlorotUniform),
        ("initializer", "large_random", initializers.RandomNormal),
        ("loss", "mse", losses.MeanSquaredError),
        ("loss", "sparse_categorical_crossentropy", losses.CategoricalCrossentropy),
        ("optimizer", "gd", optimizers.GradientDescent),
        ("optimizer", "gradient_descent", optimizers.GradientDescent),
    ],
)
def test_aliases_resolve_to_their_target(kind, alias, cls):
    assert registry.lookup(kind, alias) is cls
    assert type(registry.get(kind, alias)) is cls
    assert type(registry.get(kind, {"name": alias})) is cls
    assert alias in registry.names(kind)
    assert alias not in registry.names(kind, aliases=False)


def test_metric_names_give_the_counting_function():
    assert registry.get("metric", "accuracy") is metrics.accuracy_counts
    assert registry.get("metric", "acc") is metrics.accuracy_counts
    assert registry.get_config(metrics.accuracy_counts) == {"name": "accuracy"}
    with pytest.raises(ConfigError, match="takes no arguments"):
        registry.get("metric", {"name": "accuracy", "top_k": 5})


def test_an_alias_can_imply_arguments():
    large = registry.get("initializer", "large_random")
    assert large.scale == 10.0
    assert registry.get_config(large) == {"name": "random_normal", "scale": 10.0}
    assert registry.get("initializer", {"name": "large_random", "scale": 3}).scale == 3.0


# -------------------------------------------------------- None, numbers, objects
def test_none_gives_the_kinds_default():
    assert type(registry.get("activation", None)) is activations.Linear
    assert registry.get("regularizer", None) is None
    for kind in ("initializer", "loss", "optimizer", "schedule", "metric", "layer"):
        with pytest.raises(ConfigError, match=f"unknown {registry.KINDS[kind].label} None"):
            registry.get(kind, None)


def test_a_number_is_an_l2_strength_or_a_constant_learning_rate():
    l2 = registry.get("regularizer", 1e-4)
    assert type(l2) is L2 and l2.lambd == 1e-4
    assert registry.get("regularizer", 3).lambd == 3.0
    assert registry.get("regularizer", 0) is None
    assert registry.get("regularizer", {"name": "l2", "lambd": 0.5}).lambd == 0.5
    assert registry.get("schedule", 0.01) == 0.01
    assert registry.get_config(0.01) == 0.01 and registry.get_config(None) is None
    with pytest.raises(ConfigError, match="lambd must be >= 0"):
        registry.get("regularizer", -1.0)
    for kind, spec in [("regularizer", True), ("activation", 0.5), ("loss", 1), ("layer", 2)]:
        with pytest.raises(ConfigError, match="must be a name"):
            registry.get(kind, spec)


@pytest.mark.parametrize(
    "kind, obj",
    [
        ("activation", activations.LeakyReLU(0.3)),
        ("initializer", initializers.He()),
        ("regularizer", L2(0.1)),
        ("loss", losses.BinaryCrossentropy(from_logits=True)),
        ("optimizer", optimizers.Adam(0.01)),
        ("schedule", schedules.ExponentialDecay(0.1, 0.9)),
        ("metric", metrics.accuracy_counts),
        ("layer", nnlab.Dense(3)),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_objects_pass_through_and_round_trip(kind, obj):
    assert registry.get(kind, obj) is obj
    config = jsonable(registry.get_config(obj))
    assert jsonable(registry.get_config(registry.get(kind, config))) == config


def test_an_unregistered_subclass_passes_but_another_kinds_object_does_not():
    class Cube(activations.Activation):
        def forward(self, z):
            return z**3

    cube = Cube()
    assert registry.get("activation", cube) is cube
    with pytest.raises(ConfigError, match="Cube is not registered"):
        registry.get_config(cube)
    with pytest.raises(ConfigError, match="activation must be a name .*got Adam"):
        registry.get("activation", optimizers.Adam())
    with pytest.raises(ConfigError, match="metric must be a name"):
        registry.get("metric", len)


def test_keyword_arguments_override_the_config():
    assert registry.get("optimizer", "sgd", learning_rate=0.25).lr == 0.25
    adam = registry.get("optimizer", {"name": "adam", "learning_rate": 0.1}, learning_rate=0.2)
    assert adam.lr == 0.2
    decayed = registry.get(
        "optimizer", "momentum", learning_rate={"name": "inverse_time", **REQUIRED["schedule"]}
    )
    assert type(decayed.learning_rate) is schedules.InverseTimeDecay
    assert registry.get_config(decayed)["learning_rate"] == {
        "name": "inverse_time",
        "initial_learning_rate": 0.1,
        "decay_rate": 0.5,
    }


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize("kind", list(registry.KINDS))
def test_unknown_names_list_the_known_ones(kind):
    label = registry.KINDS[kind].label
    for spec in ("nope", {"class" if registry.KINDS[kind].by_class_name else "name": "nope"}):
        with pytest.raises(ConfigError) as info:
            registry.get(kind, spec)
        message = str(info.value)
        assert message.startswith(f"unknown {label} 'nope'; expected one of: ")
        for name in registry.names(kind):
            assert name in message


def test_malformed_configs_and_kinds():
    with pytest.raises(ConfigError, match="config needs a 'name' entry"):
        registry.get("loss", {"from_logits": True})
    with pytest.raises(ConfigError, match="config needs a 'class' entry"):
        registry.from_config("layer", {"config": {"units": 2}})
    with pytest.raises(ConfigError, match=r"optimizer 'adam': .*'beta'"):
        registry.get("optimizer", {"name": "adam", "beta": 0.9})
    with pytest.raises(ConfigError, match=r"learning-rate schedule 'exponential': .*missing"):
        registry.get("schedule", "exponential")
    with pytest.raises(ConfigError, match="unknown registry kind 'widget'"):
        registry.get("widget", "relu")
    with pytest.raises(ConfigError, match="unknown registry kind"):
        registry.register("widget")


# ------------------------------------------------------------------ registering
def test_registering_a_new_class_and_function(scratch_registry):
    @registry.register("activation")
    class Swish(activations.Activation):
        def __init__(self, beta=1.0):
            self.beta = beta

        def get_config(self):
            return {"name": "ignored: the registered name wins", "beta": self.beta}

    @registry.register("metric", aliases=("err",))
    def error_counts(y, a):
        correct, count = metrics.accuracy_counts(y, a)
        return count - correct, count

    @registry.register("layer")
    class Identity(nnlab.layers.Layer):
        def forward(self, a_prev, training=False):
            return a_prev

    assert "swish" in registry.names("activation")  # Keras' snake case of the class name
    assert Swish.name == "swish"  # which becomes its name
    swish = registry.get("activation", {"name": "swish", "beta": 2.0})
    assert swish.beta == 2.0
    assert registry.get_config(swish) == {"name": "swish", "beta": 2.0}
    assert registry.get("metric", "err") is error_counts
    assert registry.get_config(error_counts) == {"name": "error_counts"}
    layer = registry.get("layer", {"class": "Identity", "config": {"name": "id"}})
    assert type(layer) is Identity and layer.name == "id"
    assert registry.get_config(layer)["class"] == "Identity"


def test_registering_a_duplicate_name_is_an_error(scratch_registry):
    with pytest.raises(ConfigError, match="activation name 'relu' is already taken"):

        @registry.register("activation")
        class OtherReLU(activations.Activation):
            name = "relu"

    with pytest.raises(ConfigError, match="optimizer name 'gd' is already taken"):
        registry.register("optimizer", "nesterov", aliases=("gd",))(type("Nesterov", (), {}))
    with pytest.raises(ConfigError, match="layer name 'Dense' is already taken"):
        registry.register("layer")(type("Dense", (nnlab.layers.Layer,), {}))
    with pytest.raises(ConfigError, match="already registered"):
        registry.register("activation", "relu2")(activations.ReLU)
    # a failed registration leaves nothing behind
    assert "nesterov" not in registry.names("optimizer")
    assert registry.lookup("activation", "relu") is activations.ReLU


# --------------------------------------------------------------- saved configs
def test_configs_saved_before_the_registry_still_load():
    saved = json.loads(SAVED_CONFIGS.read_text())
    for config in saved["models"]:
        model = load_model_from_config(config)
        # the graph format of issue 8 (calls, several inputs) replaces the per-layer "inbound"
        # lists: the same layers in the same order, and the new config is a fixed point
        new = jsonable(model.get_config())
        assert [(s["class"], s["config"]["name"]) for s in new["layers"]] == [
            (s["class"], s["config"]["name"]) for s in config["layers"]
        ]
        assert new["compile"] == config["compile"]
        assert jsonable(load_model_from_config(new).get_config()) == new
    for compiled in saved["compile"]:
        optimizer = registry.get("optimizer", compiled["optimizer"])
        loss = registry.get("loss", compiled["loss"])
        assert registry.get_config(optimizer) == compiled["optimizer"]
        assert registry.get_config(loss) == compiled["loss"]
