"""Atomic writes: a reader never sees a half-written results file or checkpoint."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write",
    "RecipeInputError",
    "check_results_folder",
    "printer",
    "read_json",
    "write_json",
    "write_text",
]


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp makes the file private (0600); results are ordinary files.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write(text)

    atomic_write(path, write)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path) as handle:
        return json.load(handle)


class RecipeInputError(ValueError):
    """What the user gave a recipe cannot run: its results folder, its source audio.

    Raised before any training; ``framebank``'s command line reports it in one line.
    """


def check_results_folder(out: Path, record: dict, resume: bool, what: str) -> None:
    """Refuse to overwrite a finished or unfinished run in ``out`` unless resuming it
    with the same config (``record``, as its ``config.json`` holds it)."""
    config_path = Path(out) / "config.json"
    if not config_path.exists():
        return
    if not resume:
        raise RecipeInputError(
            f"{out} already holds a {what} run. Pass --resume to continue it, or choose "
            "another --out (nothing was overwritten)."
        )
    previous = read_json(config_path)
    if previous != record:
        changed = sorted(k for k in set(record) | set(previous) if previous.get(k) != record.get(k))
        raise RecipeInputError(
            f"--resume: the config differs from the one {out} was started with "
            f"(fields: {', '.join(changed)}). Use another --out for a new config."
        )


def printer(quiet: bool) -> Callable[[str], None]:
    """A progress logger: print and flush, or nothing when ``quiet``."""

    def log(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    return log
