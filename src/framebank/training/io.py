"""What the recipes share about their inputs and outputs: the user's errors, the results
folder, progress lines, and (from :mod:`framebank.files`) atomic writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from framebank.files import atomic_write, read_json, write_json, write_text

__all__ = [
    "atomic_write",
    "RecipeInputError",
    "check_results_folder",
    "printer",
    "read_json",
    "write_json",
    "write_text",
]


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
