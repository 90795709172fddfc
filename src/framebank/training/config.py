"""Recipe configs: YAML or dict in, a checked dataclass out.

Every field is typed; an unknown or wrong-typed field is one clear error that
names it and lists what is accepted.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from framebank.files import read_yaml

__all__ = [
    "RUN_LABEL",
    "load_yaml",
    "from_dict",
    "check_distribution",
    "load_recipe",
    "recipe_fields",
]

# A name a config gives one of its runs (a family, a variant): it names run folders and
# Keras layers, so letters, digits, '_', '.' and '-', starting with a letter or digit.
RUN_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    data = read_yaml(path)
    if data is None:
        # An empty file is more likely a mistake than a wish for every default.
        raise ValueError(
            f"{path} is empty: a config must be a mapping of fields (the recipe files in "
            "recipes/ list them with their defaults)"
        )
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: a config must be a mapping of fields. Received: {type(data).__name__}"
        )
    return data


def _checked_field(name: str, value: Any, annotation: Any) -> Any:
    """``value`` of config field ``name`` checked against its type annotation (and converted)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _checked_field(name, value, option)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"config field `{name}` must be {annotation}. Received: {value!r}")
    if annotation is type(None):
        if value is None:
            return None
        raise TypeError(f"config field `{name}` must be null. Received: {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"config field `{name}` must be a list. Received: {value!r}")
        return [_checked_field(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise TypeError(f"config field `{name}` must be a mapping. Received: {value!r}")
        return dict(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"config field `{name}` must be a number. Received: {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"config field `{name}` must be an integer. Received: {value!r}")
        return value
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise TypeError(
                f"config field `{name}` must be a {annotation.__name__}. Received: {value!r}"
            )
        return value
    return value


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, checking names and types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(unknown)}. Accepted: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {name: _checked_field(name, value, hints[name]) for name, value in data.items()}
    return cls(**values)


def check_values(
    config: Any,
    positive: tuple[str, ...] = (),
    positive_or_none: tuple[str, ...] = (),
    finite: tuple[str, ...] = (),
    unique: tuple[str, ...] = (),
) -> None:
    """Range checks every recipe config shares, so that a bad value stops the run before
    any training (a learning rate of 0 trained without complaint; ``steps_per_epoch: 0``
    failed after an epoch; a repeated seed shared one run folder and counted twice).

    ``positive``: numbers > 0 and finite; ``positive_or_none`` likewise, or null;
    ``finite``: a number or a list of numbers, none NaN or infinite; ``unique``: lists
    without repeats.
    """
    for name in positive + positive_or_none:
        value = getattr(config, name)
        if value is None and name in positive_or_none:
            continue
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"config `{name}` must be a positive number. Received: {value!r}")
    for name in finite:
        value = getattr(config, name)
        values = value if isinstance(value, list) else [value]
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"config `{name}` must be finite. Received: {value!r}")
    for name in unique:
        value = getattr(config, name)
        repeated = sorted({str(v) for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(
                f"config `{name}` lists {', '.join(repeated)} more than once. Received: {value!r}"
            )


def check_distribution(name: str | None) -> None:
    """A recipe's ``distribution`` field: null, ``"none"``, or a strategy of the running
    backend (checked with the config, not after the results folder is started)."""
    from framebank.distribute import check_name

    check_name(name)


def load_recipe(cls: type[T], path: str | Path | None, quick: bool = False) -> T:
    """A recipe config from YAML (defaults when ``path`` is None); ``quick`` applies the
    file's ``quick:`` overrides on top, and the result is checked again (a ``ValueError``
    when there are none: ``quick`` would otherwise run the full config unannounced)."""
    data = load_yaml(path) if path else {}
    config = from_dict(cls, data, where=str(path or f"{cls.__name__} defaults"))
    if quick and not config.quick:
        # Without it --quick would run the full recipe and say nothing.
        raise ValueError(
            f"--quick applies a recipe's `quick:` settings, and {path or 'the defaults'} "
            "has none: add a `quick:` section (the shipped recipes have one) or leave out "
            "--quick"
        )
    if quick:
        config = from_dict(cls, {**recipe_fields(config), **config.quick}, where=f"{path}: quick")
    return config


def recipe_fields(config: Any) -> dict:
    """A recipe config's settings as a plain dict (the ``quick:`` overrides left out)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k != "quick"}
