"""Recipe configs: YAML or dict in, a checked dataclass out.

Every field is typed; an unknown or wrong-typed field is one clear error that
names it and lists what is accepted (the checks are the package's one config-schema
checker, :mod:`framebank._validation`).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any, TypeVar

from framebank._validation import check_field, check_known_keys
from framebank.files import read_yaml

__all__ = [
    "RUN_LABEL",
    "load_yaml",
    "from_dict",
    "check_distribution",
    "check_options",
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


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, checking names and types."""
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    check_known_keys(where, data, sorted(fields))
    hints = typing.get_type_hints(cls)
    values = {name: check_field(name, value, hints[name]) for name, value in data.items()}
    return cls(**values)


def check_distribution(name: str | None) -> None:
    """A recipe's ``distribution`` field: null, ``"none"``, or a strategy of the running
    backend (checked with the config, not after the results folder is started)."""
    from framebank.distribute import check_name

    check_name(name)


def check_options(options: Any, where: str, context: str = "") -> dict:
    """A config entry's ``options``: a mapping of a family's or front end's option names to
    values; ``where`` names the field and ``context`` (`` in {entry!r}``) its entry."""
    if not isinstance(options, dict):
        raise ValueError(
            f"{where} must be a mapping of option names to values. Received: {options!r}{context}"
        )
    return options


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
