"""What the recipes share about their inputs and outputs: the user's errors, the results
folder, and (from :mod:`framebank.files`) atomic writes. Progress lines:
:mod:`framebank.progress`."""

from __future__ import annotations

import csv
import io as _io
from collections.abc import Iterable, Sequence
from pathlib import Path

from framebank.files import atomic_write, read_json, write_json, write_text

__all__ = [
    "atomic_write",
    "Interrupted",
    "RECIPE_KEY",
    "RecipeInputError",
    "check_results_folder",
    "read_json",
    "write_csv",
    "write_json",
    "write_text",
]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write a CSV table (``header``, then one line a row) atomically."""
    buffer = _io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


class RecipeInputError(ValueError):
    """What the user gave a recipe cannot run: its results folder, its source audio.

    Raised before any training; ``framebank``'s command line reports it in one line.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a recipe: its message says where it stopped and how to resume.

    A :class:`KeyboardInterrupt`, so code that catches that still does; ``framebank``'s
    command line prints the message in one line and exits 130 (the SIGINT convention).
    """


# config.json's key naming the recipe that started a folder's run (``RecipeHooks.what``);
# folders written before it have none.
RECIPE_KEY = "recipe"


def check_results_folder(out: Path, record: dict, resume: bool, what: str) -> None:
    """Refuse to overwrite a finished or unfinished run in ``out`` unless resuming it
    with the same recipe (``what``) and config (``record``, as its ``config.json`` holds it
    beside :data:`RECIPE_KEY`)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RecipeInputError(f"the results folder {out} is a file; choose another --out")
    config_path = out / "config.json"
    if not config_path.exists():
        return
    if not resume:
        held = _held_recipe(config_path)
        if held is not None and held != what:
            raise _other_recipe(out, held, what)
        raise RecipeInputError(
            f"{out} already holds a {held + ' ' if held else ''}run. Pass --resume to continue "
            "it, or choose another --out (nothing was overwritten)."
        )
    previous = _read_config(config_path)
    held = previous.pop(RECIPE_KEY, None)
    if held is not None and held != what:
        raise _other_recipe(out, held, what)
    if previous != record:
        changed = sorted(k for k in set(record) | set(previous) if previous.get(k) != record.get(k))
        raise RecipeInputError(
            f"--resume: the config differs from the one {out} was started with "
            f"(fields: {', '.join(changed)}). Use another --out for a new config."
        )


def _other_recipe(out: Path, held: str, what: str) -> RecipeInputError:
    return RecipeInputError(
        f"{out} holds a {held} run (its config.json says so), not a {what} one: resume it with "
        "the command that started it, or choose another --out (nothing was overwritten)."
    )


def _held_recipe(config_path: Path) -> str | None:
    """The recipe ``config.json`` names; None when it names none or cannot be read."""
    try:
        previous = read_json(config_path)
    except (ValueError, OSError):
        return None
    held = previous.get(RECIPE_KEY) if isinstance(previous, dict) else None
    return held if isinstance(held, str) else None


def _read_config(config_path: Path) -> dict:
    """A results folder's ``config.json`` for --resume; one-line errors when unusable."""
    try:
        previous = read_json(config_path)
    except (ValueError, OSError) as err:  # json.JSONDecodeError and UnicodeDecodeError
        raise RecipeInputError(
            f"--resume: {config_path} cannot be read ({type(err).__name__}: {err}), so the run "
            f"it started cannot be checked or continued; choose another --out"
        ) from err
    if not isinstance(previous, dict):
        raise RecipeInputError(
            f"--resume: {config_path} holds no config (a JSON {type(previous).__name__}); "
            "choose another --out"
        )
    return previous
