"""Files that travel with framebank (recipes, the corpus), found without importing Keras,
and the one environment variable the command checks before Keras (``FRAMEBANK_AUTO``).

The recipes and the corpus are shipped inside the package as
``framebank/_shipped/{recipes,data}`` (copied there from the repository's top-level folders when
the wheel is built); a checkout uses its own top-level folders. Imports nothing of framebank and
nothing heavier than the standard library, so the ``framebank`` command's parsing and checks
(:mod:`framebank._command`) use it before Keras is imported.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import warnings
from pathlib import Path

__all__ = [
    "AUTO_MODES",
    "DEFAULT_OUT",
    "FOLDER_OUT",
    "FOLDER_RECIPE",
    "find_shipped",
    "ready_made_names",
    "shadowing_ready_made",
    "RECIPES",
    "UsageError",
    "auto_mode",
    "resolve_recipe",
    "shipped_dir",
    "shipped_recipes",
]

PROG = "framebank"
# The recipe each recipe command reads by default, and where it writes.
RECIPES = {"compare": "compare_methods", "train": "language_id"}
DEFAULT_OUT = {"compare": "runs/compare", "train": "runs/language_id"}
# `train`'s recipe for a folder of classes (or --labels), and where it writes.
FOLDER_RECIPE = "classify_folder"
FOLDER_OUT = "runs/classify_folder"


# What FRAMEBANK_AUTO takes: "auto" follows the measured rule, or measures where it runs.
AUTO_MODES = ("rule", "measure")


def auto_mode() -> str:
    """``FRAMEBANK_AUTO`` as framebank reads it: ``"rule"`` (the default, also when empty) or
    ``"measure"``, case and spaces ignored; a ``ValueError`` naming any other value. Here,
    with the standard library only, so that every ``framebank`` command checks it when it
    starts, before Keras, whether or not it builds a layer."""
    value = os.environ.get("FRAMEBANK_AUTO", "").strip().lower() or "rule"
    if value not in AUTO_MODES:
        raise ValueError(
            "FRAMEBANK_AUTO must be 'rule' (the default) or 'measure'. Received: "
            f"{os.environ['FRAMEBANK_AUTO']!r}"
        )
    return value


@functools.cache
def ready_made_names() -> tuple[str, ...]:
    """framebank.frontends.FRONTENDS's names without importing Keras (the command line names
    them; ``build_frontend(name)`` builds one before it looks for a shipped YAML of that
    name). The one registry is the ``@register_ready_made("name")`` on each front end, read
    here from the sources, on first use (parsing them costs tens of milliseconds)."""
    names = []
    for path in sorted((Path(__file__).parent / "frontends").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "register_ready_made"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.append(node.args[0].value)
    return tuple(sorted(names))


def __getattr__(name: str) -> tuple[str, ...]:
    # READY_MADE_NAMES, the constant this was, kept for a release. Written here rather than
    # with framebank._deprecation because this module imports nothing of framebank.
    if name != "READY_MADE_NAMES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.READY_MADE_NAMES is deprecated and will be removed in the next release; "
        "call ready_made_names().",
        DeprecationWarning,
        stacklevel=2,
    )
    return ready_made_names()


class UsageError(Exception):
    """A mistake in what the user asked for: one line on stderr, exit status 2.

    ``prog`` names the command it belongs to (``framebank compare``) where known.
    """

    def __init__(self, message: str, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


def _package_dir() -> Path | None:
    """``framebank``'s folder, found without importing it (importing it imports Keras)."""
    spec = importlib.util.find_spec("framebank")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def shipped_dir(kind: str) -> Path | None:
    """The shipped ``recipes`` or ``data`` folder: a checkout's own top-level folder (one
    source of truth while developing), else the copy inside the installed package."""
    if kind not in ("recipes", "data"):
        raise ValueError(f"`kind` must be 'recipes' or 'data'. Received: {kind!r}")
    package = _package_dir()
    if package is None:
        return None
    marker = "manifest.csv" if kind == "data" else "compare_methods.yaml"
    checkout = package.parent.parent  # src/framebank -> the repository
    for candidate in (checkout / kind, package / "_shipped" / kind):
        if (candidate / marker).is_file() and (
            candidate.parent != checkout or (checkout / "pyproject.toml").is_file()
        ):
            return candidate
    return None


def shipped_recipes() -> dict[str, Path]:
    """Shipped YAML files by name: ``language_id``, ``frontends/log_mel``, ..."""
    root = shipped_dir("recipes")
    if root is None:
        return {}
    return {
        path.relative_to(root).with_suffix("").as_posix(): path
        for path in sorted(root.rglob("*.yaml"))
    }


def find_shipped(name: str) -> Path | None:
    """A shipped YAML file by name, as a user may write it: ``leaf_frontend``,
    ``frontends/leaf_frontend``, ``recipes/frontends/leaf_frontend.yaml`` (a front-end
    config needs no ``frontends/``); None when nothing shipped has that name."""
    name = name.removesuffix(".yaml").removesuffix(".yml").removeprefix("recipes/")
    shipped = shipped_recipes()
    for candidate in (name, f"frontends/{name}"):
        if candidate in shipped:
            return shipped[candidate]
    return None


def shadowing_ready_made(name: str, path: Path) -> str | None:
    """The ready-made front end that ``build_frontend`` builds for the bare ``name`` of the
    shipped front-end config at ``path``, where it is not that file's own ``frontend:``
    (``log_mel``: the 16 kHz LogMel, not ``frontends/log_mel.yaml``); else None."""
    bare = name.removeprefix("frontends/")
    if bare not in ready_made_names():
        return None
    for line in path.read_text().splitlines():
        if line.partition("#")[0].split() == ["frontend:", bare]:
            return None  # the file builds that very front end
    return bare


def resolve_recipe(value: str) -> Path:
    """``--config``: a path to a YAML file, or the name of a shipped recipe."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    found = find_shipped(value)
    if found is not None:
        return found
    shipped = shipped_recipes()
    if path.exists():
        raise UsageError(f"--config must be a YAML file. Received a folder: {value}")
    names = ", ".join(n for n in shipped if "/" not in n) or "none found"
    raise UsageError(
        f"--config: no file {value} and no shipped recipe of that name (shipped: {names}; "
        f"`{PROG} recipes` lists them)"
    )
