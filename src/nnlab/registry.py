"""One table of named objects for every kind: kind -> name -> class (or function), and back.

Every name a user or a file may write (``activation="relu"``, ``loss="mse"``,
``{"class": "Dense", "config": {...}}`` in a model file) resolves here.  A module registers
its classes where it defines them::

    @register("activation")                        # name: the class's ``name`` attribute
    class ReLU(Activation):
        name = "relu"

    @register("optimizer", aliases=("gd", "gradient_descent"))
    class GradientDescent(Optimizer): ...

    @register("initializer", aliases={"large_random": {"scale": 10.0}})  # alias + defaults
    class RandomNormal(Initializer): ...

and every caller resolves through :func:`get`::

    get("activation", None)                        # Linear(): the kind's default
    get("initializer", "he_normal")                # He(): an alias
    get("optimizer", {"name": "adam", "learning_rate": 0.01})
    get("optimizer", "sgd", learning_rate=0.25)    # keyword arguments override the config
    get("regularizer", 1e-4)                       # L2(1e-4): a number is the L2 strength
    get("loss", my_loss)                           # an instance is returned as it is

=============== ================= ========================= ==================================
kind            None gives        a number gives            config format
=============== ================= ========================= ==================================
activation      ``"linear"``      (an error)                ``{"name": n, **arguments}``
initializer     (an error)        (an error)                ``{"name": n, **arguments}``
regularizer     None (no penalty) L2 of that strength (0:   ``{"name": n, **arguments}``
                                  None)
loss            (an error)        (an error)                ``{"name": n, **arguments}``
optimizer       (an error)        (an error)                ``{"name": n, **arguments}``
schedule        (an error)        itself (constant rate)    ``{"name": n, **arguments}``
metric          (an error)        (an error)                ``{"name": n}`` (functions)
layer           (an error)        (an error)                ``{"class": n, "config": {...}}``
model           (an error)        (an error)                (looked up by class name: saving)
=============== ================= ========================= ==================================

Names are the class's ``name`` attribute (Keras' snake case of the class name when it has
none); layers are named by their class name (``"Dense"``), as model files store them.  A
class with a ``from_config(config)`` classmethod is built with it, any other with
``cls(**arguments)``; a registered function is returned as it is.  This module sits on the
bottom floor: it imports nothing of nnlab but the exceptions, so every floor may use it.
Everything registers when ``nnlab`` is imported.
"""

from __future__ import annotations

import inspect
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .exceptions import ConfigError, unknown_name

_REQUIRED = object()  # a kind without a default: None is an unknown name


@dataclass(frozen=True)
class _Kind:
    label: str  # how errors name the kind ("unknown learning-rate schedule 'cosine'")
    default: object = _REQUIRED  # what None resolves to: a name, or None itself
    number: Callable | None = None  # what a number resolves to (None: numbers are errors)
    by_class_name: bool = False  # named by class name, configs {"class": n, "config": {...}}


def _l2_of(strength):
    return None if strength == 0 else get("regularizer", {"name": "l2", "lambd": strength})


KINDS: dict[str, _Kind] = {
    "activation": _Kind("activation", default="linear"),
    "initializer": _Kind("initializer"),
    "regularizer": _Kind("regularizer", default=None, number=_l2_of),
    "loss": _Kind("loss"),
    "optimizer": _Kind("optimizer"),
    "schedule": _Kind("learning-rate schedule", number=lambda rate: rate),
    "metric": _Kind("metric"),
    "layer": _Kind("layer", by_class_name=True),
    "model": _Kind("model", by_class_name=True),
}


@dataclass(frozen=True)
class _Entry:
    obj: object  # the class or function
    name: str  # its registered name (the alias resolves to it)
    defaults: dict = field(default_factory=dict)  # arguments an alias implies


#: kind -> name or alias -> entry
_TABLE: dict[str, dict[str, _Entry]] = {kind: {} for kind in KINDS}
#: registered class or function -> (kind, name)
_NAMES: dict[object, tuple[str, str]] = {}


def register(kind: str, name: str | None = None, aliases: Iterable[str] | Mapping = ()):
    """Class (or function) decorator: make ``name`` and its ``aliases`` resolve to it.

    Args:
        kind: one of :data:`KINDS`.
        name: the name; by default the ``name`` attribute the class itself defines, else
            Keras' snake case of ``__name__`` (``GlorotUniform`` -> ``"glorot_uniform"``),
            which then becomes the class's ``name`` (so ``obj.name`` and the saved config
            agree); for layers the class name (their ``name`` is the instance's).
        aliases: other names, or a mapping ``{alias: default arguments}`` for an alias
            that implies arguments (``{"large_random": {"scale": 10.0}}``).

    Raises:
        ConfigError: an unknown kind, or a name or alias the kind already has.
    """
    table = _table(kind)
    aliases = dict(aliases) if isinstance(aliases, Mapping) else dict.fromkeys(aliases, {})

    def decorate(obj):
        primary = name or _default_name(kind, obj)
        if obj in _NAMES:
            raise ConfigError(f"{obj!r} is already registered as {_NAMES[obj]}")
        new = {primary: {}, **aliases}
        for key in new:
            if not isinstance(key, str) or not key:
                raise ConfigError(f"register: {kind} names must be non-empty strings, got {key!r}")
            if key in table:
                raise ConfigError(
                    f"register: the {KINDS[kind].label} name {key!r} is already taken by "
                    f"{table[key].obj!r}"
                )
        for key, defaults in new.items():
            table[key] = _Entry(obj, primary, dict(defaults))
        _NAMES[obj] = (kind, primary)
        if inspect.isclass(obj) and not KINDS[kind].by_class_name and "name" not in vars(obj):
            obj.name = primary
        return obj

    return decorate


def get(kind: str, spec, **kwargs):
    """Resolve ``spec`` to an object of ``kind``.

    Args:
        kind: one of :data:`KINDS`.
        spec: None (the kind's default), a name or alias, a config dict (the format
            :func:`get_config` writes), a number where the kind takes one (see the module
            table), or an object of the kind (returned as it is).
        **kwargs: constructor arguments that override those of the name or config (an
            optimizer's ``learning_rate``); not applied to an object passed in.

    Raises:
        ConfigError: an unknown name (the message lists the known ones), a config without
            its name, arguments the class does not take, or a spec of another type.
    """
    kind_ = _kind(kind)
    if spec is None:
        if kind_.default is _REQUIRED:
            raise unknown_name(kind_.label, None, names(kind))
        return None if kind_.default is None else get(kind, kind_.default, **kwargs)
    if isinstance(spec, str):
        return _build(kind, _entry(kind, spec), {}, kwargs)
    if isinstance(spec, Mapping):
        return from_config(kind, spec, **kwargs)
    if _is_number(spec) and kind_.number:
        return kind_.number(spec)
    if _is_instance(kind, spec):
        return spec
    number = ", a number" if kind_.number else ""
    raise ConfigError(
        f"{kind_.label} must be a name ({', '.join(names(kind))}), a config dict{number} or an "
        f"object of that kind; got {type(spec).__name__}: {spec!r}"
    )


def from_config(kind: str, config: Mapping, **kwargs):
    """Build an object of ``kind`` from a config dict as :func:`get_config` writes it.

    ``{"name": n, **arguments}`` for most kinds, ``{"class": n, "config": {...}}`` for
    layers; ``kwargs`` override the arguments.
    """
    kind_ = _kind(kind)
    key = "class" if kind_.by_class_name else "name"
    if key not in config:
        raise ConfigError(f"a {kind_.label} config needs a {key!r} entry, got {dict(config)!r}")
    if kind_.by_class_name:
        arguments = dict(config.get("config") or {})
    else:
        arguments = {k: v for k, v in config.items() if k != "name"}
    return _build(kind, _entry(kind, config[key]), arguments, kwargs)


def get_config(obj):
    """The config dict that :func:`get` / :func:`from_config` turn back into ``obj``.

    None and numbers (a constant learning rate) are their own config.

    Raises:
        ConfigError: ``obj``'s class (or the function) is not registered.
    """
    if obj is None or _is_number(obj):
        return obj
    target = obj if _is_function(obj) else type(obj)
    if target not in _NAMES:
        raise ConfigError(
            f"{target.__qualname__} is not registered, so it cannot be saved or rebuilt by "
            f"name; decorate it with @nnlab.registry.register(kind)"
        )
    kind, name = _NAMES[target]
    if target is obj:  # a function: nothing but its name
        return {"name": name}
    if KINDS[kind].by_class_name:
        return {"class": name, "config": obj.get_config()}
    config = dict(obj.get_config())
    config["name"] = name
    return config


def lookup(kind: str, name: str):
    """The class or function registered under ``name`` (or an alias) for ``kind``."""
    return _entry(kind, name).obj


def names(kind: str, aliases: bool = True) -> list[str]:
    """The names (and aliases) ``kind`` knows, sorted: for help texts and errors."""
    table = _table(kind)
    return sorted(key for key, entry in table.items() if aliases or key == entry.name)


# ---------------------------------------------------------------------- internals
def _kind(kind) -> _Kind:
    if kind not in KINDS:
        raise unknown_name("registry kind", kind, KINDS)
    return KINDS[kind]


def _table(kind) -> dict[str, _Entry]:
    _kind(kind)
    return _TABLE[kind]


def _entry(kind, name) -> _Entry:
    table = _table(kind)
    if not isinstance(name, str) or name not in table:
        raise unknown_name(KINDS[kind].label, name, names(kind))
    return table[name]


def _build(kind, entry: _Entry, arguments: dict, overrides: dict):
    arguments = {**entry.defaults, **arguments, **overrides}
    label = f"{KINDS[kind].label} {entry.name!r}"
    if _is_function(entry.obj):
        if arguments:
            raise ConfigError(f"{label} takes no arguments, got {sorted(arguments)}")
        return entry.obj
    factory = getattr(entry.obj, "from_config", None)
    if factory is not None:  # layers: the class checks its own config
        return factory(arguments)
    try:
        inspect.signature(entry.obj).bind(**arguments)
    except TypeError as err:
        raise ConfigError(f"{label}: {err} (arguments {sorted(arguments)})") from None
    return entry.obj(**arguments)


def _is_instance(kind, spec) -> bool:
    """An object of ``kind``: a registered function, or an instance of a registered class
    or of one of its bases (so an unregistered subclass of ``Activation`` passes)."""
    for entry in _TABLE[kind].values():
        if _is_function(entry.obj):
            if spec is entry.obj:
                return True
        elif any(isinstance(spec, base) for base in entry.obj.__mro__[:-1]):
            return True
    return False


def _is_number(spec) -> bool:
    return isinstance(spec, numbers.Real) and not isinstance(spec, bool)


def _is_function(obj) -> bool:
    return inspect.isroutine(obj)


def _default_name(kind, obj) -> str:
    if KINDS[kind].by_class_name:
        return obj.__name__
    name = vars(obj).get("name") if inspect.isclass(obj) else None  # not a base's placeholder
    if isinstance(name, str):
        return name
    return snake_case(obj.__name__)


def snake_case(class_name: str) -> str:
    """Keras' snake case: BatchNormalization -> 'batch_normalization', ReLU -> 're_lu',
    Conv2D -> 'conv2d' (registry names and default layer names)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", class_name).lower()
