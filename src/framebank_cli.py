"""The ``framebank`` console script: it starts at once and imports Keras only to run a command.

``import framebank`` imports Keras (every layer is then registered for ``.keras`` loading),
which takes seconds. So this shim loads the command line's parsing and checks
(:mod:`framebank._command`, and :mod:`framebank._resources` that it reads) from their files
without running the package's ``__init__``, and imports :mod:`framebank.cli` only once a command
is to run. Nothing imports this module: it sits at the top of the import graph.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["UsageError", "build_parser", "main", "resolve_recipe", "shipped_dir"]


def _load_keras_free(name: str) -> ModuleType:
    """``framebank.<name>`` by its file, without ``framebank/__init__`` (which imports Keras).

    It is registered under its own name, so a later ``import framebank`` shares it (one
    ``UsageError`` class, one set of options).
    """
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("framebank")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("framebank is not installed", name="framebank")
    folder = next(iter(package.submodule_search_locations))
    spec = importlib.util.spec_from_file_location(name, f"{folder}/{name.rpartition('.')[2]}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_resources = _load_keras_free("framebank._resources")
_command = _load_keras_free("framebank._command")
UsageError = _resources.UsageError
build_parser = _command.build_parser
resolve_recipe = _resources.resolve_recipe
shipped_dir = _resources.shipped_dir


def _commands() -> dict:
    return importlib.import_module("framebank.cli").COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``framebank`` with ``argv`` (default: the process's); return the exit status."""
    return _command.main(argv, _commands)


def console_main() -> None:
    """The console script ``framebank``."""
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader left (`framebank recipes | head`): no traceback. Python's own advice:
        # point stdout at devnull, so the interpreter's last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    console_main()
