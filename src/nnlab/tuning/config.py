"""The search config: a run config plus a ``[search]`` table and an optional ``[objective]``.

``nnlab tune search.toml`` reads one file: the run config keys every trial starts from (see
:mod:`nnlab.runs.config`), the fields to sample (:mod:`nnlab.tuning.space`) and what to
optimize (:mod:`nnlab.tuning.objective`). The same three are accepted as a dict or a tuple,
and written back as TOML (``search.toml``, ``refined_search.toml``) with ``tomli_w``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w

from ..exceptions import ConfigError
from ..runs.config import RunConfig
from ..training.metrics import Objective
from .objective import parse_objective
from .space import EXAMPLE, SearchSpace


def load_tune_config(source) -> tuple[RunConfig, SearchSpace, Objective]:
    """The base run config, the search space and the objective of a search config.

    Parameters
    ----------
    source : str, Path, dict or tuple
        A TOML file (run config keys, a ``[search]`` table and optionally an ``[objective]``
        table), the same as a dict, or a tuple ``(RunConfig, SearchSpace or [search] dict)``
        with optionally a third item, an Objective or ``[objective]`` dict.

    Raises
    ------
    ConfigError
        A missing or invalid file, no ``[search]`` table, or an invalid entry.
    """
    if isinstance(source, tuple):
        return _from_tuple(source)
    values = _read_toml(source) if isinstance(source, str | os.PathLike) else dict(source)
    if "search" not in values:
        raise ConfigError(
            f"{search_name(source)}: no [search] table; add one, e.g. [search] then "
            f"learning_rate = {EXAMPLE}"
        )
    search = values.pop("search")
    objective = parse_objective(values.pop("objective", None))
    base = RunConfig.from_dict(values)
    return base, SearchSpace.from_dict(search, base), objective


def _from_tuple(source: tuple) -> tuple[RunConfig, SearchSpace, Objective]:
    if len(source) not in (2, 3):
        raise ConfigError(
            "tune: expected (base config, search) or (base config, search, objective), "
            f"got a tuple of {len(source)}"
        )
    base, space, objective = (*source, None)[:3]
    if not isinstance(space, SearchSpace):
        space = SearchSpace.from_dict(space, base)
    return base, space, parse_objective(objective)


def load_search_config(source) -> tuple[RunConfig, SearchSpace]:
    """The base run config and the search space of a search config (see
    :func:`load_tune_config`; the ``[objective]`` table is checked, then left out)."""
    base, space, _ = load_tune_config(source)
    return base, space


def _read_toml(path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"search config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"search config file {path}: invalid TOML ({err})") from None


def search_config_toml(
    base: RunConfig, space: SearchSpace, objective: Objective | None = None
) -> str:
    """The TOML text of a search config: the base run config, ``[search]``, ``[objective]``.

    The ``[objective]`` table is written when ``objective`` is given.
    """
    table = {**base.to_dict(), "search": space.to_dict()}
    if objective is not None:
        table["objective"] = objective.to_dict()
    return tomli_w.dumps(table)


def search_name(source) -> str:
    """The stem of a search config file (``tune-<stem>`` names its study), else "search"."""
    return Path(source).stem if isinstance(source, str | os.PathLike) else "search"
