"""The recipes' one skeleton: a recipe's runs behind one progress bar (:func:`run_recipe`),
each trained epoch by epoch with a checkpoint after each epoch, resume, TensorBoard logs and
progress lines (:func:`train_run`).

A recipe supplies :class:`RecipeHooks` (its config record, its data, its runs, its report)
and :func:`run_recipe` does the rest in one order for every recipe: the results folder is
checked (a finished or different run is never overwritten), the data read, ``config.json``
written, each run trained into ``out/runs/<run>/`` (TensorBoard logs under
``out/tensorboard/<run>/``), then the summary handed to the recipe's report.

Each run supplies :class:`RunHooks` (what to build, one epoch's steps, what each epoch
measures, the run's result) and :func:`train_run` does the rest in one order for every run:
a run whose ``result.json`` exists is kept; else the model is built (inside the distribution
scope), its checkpoint loaded if there is one, and each remaining epoch is trained, measured,
logged to TensorBoard, checkpointed, then reported; the trained model is saved as
``model.keras`` (and its front end alone as ``frontend.keras``) and the result written last.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framebank.progress import Progress
from framebank.training import io
from framebank.training.checkpoint import (
    checkpoint_epochs,
    load_checkpoint,
    save_checkpoint,
    save_trained_models,
)

__all__ = [
    "RecipeHooks",
    "Run",
    "RunHooks",
    "run_recipe",
    "steps_per_epoch",
    "train_run",
    "write_results",
]


def steps_per_epoch(n: int, batch_size: int, steps: int | None = None) -> int:
    """Training steps in one epoch over ``n`` items: whole batches only, at most ``steps``."""
    return n // batch_size if steps is None else min(steps, n // batch_size)


class RunHooks:
    """What one recipe's run does at each point of :func:`train_run`; override them all."""

    def build(self) -> Any:
        """The model, freshly built and seeded (called inside the distribution scope)."""
        raise NotImplementedError

    def encoder(self, model: Any) -> Any:
        """The encoder whose filters TensorBoard draws."""
        raise NotImplementedError

    def new_state(self) -> dict:
        """A fresh run's state (``epochs_done`` 0, ``step_loss`` empty, the recipe's lists)."""
        raise NotImplementedError

    def train_epoch(self, model: Any, state: dict, epoch: int, progress: Progress) -> None:
        """One epoch's steps: append each step's loss to ``state["step_loss"]``."""
        raise NotImplementedError

    def end_epoch(self, model: Any, state: dict, epoch: int, logging: bool) -> dict:
        """Measure the epoch into ``state``; return TensorBoard scalars (``logging``: logs on)."""
        raise NotImplementedError

    def epoch_note(self, state: dict) -> str:
        """What the progress line adds after the epoch's last loss."""
        return ""

    def finish(self, model: Any, state: dict) -> dict:
        """The run's result (written to ``result.json``)."""
        raise NotImplementedError

    def frontend_layers(self, model: Any) -> list | None:
        """The front end's layers in ``model``, saved alone as ``frontend.keras`` (None: none)."""
        return None


def train_run(
    hooks: RunHooks,
    run_dir: Path,
    progress: Progress,
    epochs: int,
    per_epoch: int,
    distribution: Any = None,
    tensorboard: Path | None = None,
) -> dict:
    """Train one run in ``run_dir``, resuming from its checkpoint; its result as a dict.

    ``per_epoch``: the steps one epoch reports to ``progress`` (kept runs and resumed epochs
    are skipped by as many); ``tensorboard``: this run's TensorBoard folder, or None.
    """
    from framebank.training import tensorboard as tb

    result_path = run_dir / "result.json"
    if result_path.exists():
        progress.log(f"  already finished, kept: {run_dir.name}")
        progress.skip(epochs * per_epoch)
        return io.read_json(result_path)
    from framebank.distribute import distribution_scope

    # batch_size is the global batch: the engine splits it over the replicas.
    with distribution_scope(distribution):
        model = hooks.build()
        encoder = hooks.encoder(model)
        state = load_checkpoint(run_dir, model)
        if state is None:
            state = hooks.new_state()
            if tensorboard is not None:
                tb.log_epoch(tensorboard, 0, [], {}, encoder)  # the initial filters
        else:
            progress.log(f"  resuming {run_dir.name} after epoch {state['epochs_done']}")
            progress.skip(state["epochs_done"] * per_epoch)
        for epoch in range(state["epochs_done"], epochs):
            first_step = len(state["step_loss"])
            hooks.train_epoch(model, state, epoch, progress)
            state["epochs_done"] = epoch + 1
            scalars = hooks.end_epoch(model, state, epoch, tensorboard is not None)
            if tensorboard is not None:
                # Before the checkpoint: a kill between the two redoes the epoch, and its
                # log file is written again, not twice.
                steps = state["step_loss"][first_step:]
                tb.log_epoch(tensorboard, epoch + 1, steps, scalars, encoder, first_step + 1)
            save_checkpoint(run_dir, model, state)
            progress.log(
                f"  {run_dir.name}: epoch {epoch + 1}/{epochs} "
                f"loss {state['step_loss'][-1]:.3f}" + hooks.epoch_note(state),
                timing=True,
            )
        result = hooks.finish(model, state)
        # Beside the weights: the trained model as `framebank stream` and `inspect` read it.
        save_trained_models(run_dir, model, hooks.frontend_layers(model))
        io.write_json(result_path, result)
        return result


@dataclass(frozen=True)
class Run:
    """One run of a recipe: its folder's name (under ``out/runs`` and ``out/tensorboard``),
    what its progress line says, and its hooks, made for its folder."""

    name: str
    label: str
    hooks: Callable[[Path], RunHooks]


class RecipeHooks:
    """What one recipe does at each point of :func:`run_recipe`; override all but the last
    three. ``config`` is the recipe's config (its ``epochs`` and ``distribution`` serve every
    run); ``what`` names the recipe in a refusal of its results folder; ``description``
    heads its progress bar; ``jobs`` counts the timed jobs after the runs."""

    config: Any

    what = "recipe"
    description = "framebank"
    jobs = 0
    jobs_name: str | None = None  # what the headline calls the jobs, if it names them

    def record(self) -> dict:
        """What ``config.json`` holds: a resumed run must give the same."""
        raise NotImplementedError

    def prepare(self) -> Any:
        """The data (with a ``summary`` dict), read after the results folder is checked."""
        raise NotImplementedError

    def plan(self, data: Any) -> tuple[list[Run], int]:
        """The runs in order, and the steps of one epoch (the same for every run)."""
        raise NotImplementedError

    def headline(self, data: Any) -> str:
        """The first progress line: what is trained on (the backend and the runs follow)."""
        raise NotImplementedError

    def write(self, summary: dict, out: Path, progress: Progress, tensorboard: bool) -> dict:
        """Write ``results.json`` and the report from ``summary``; the summary as written."""
        raise NotImplementedError

    def after_run(self, out: Path, record: dict, results: list) -> None:
        """After each run (``results`` so far)."""

    def after_runs(self, out: Path, progress: Progress) -> dict:
        """The timed jobs after the runs; what they add to the summary (before ``runs``)."""
        return {}

    def summary_tail(self) -> dict:
        """What the summary ends with (after ``wall_seconds``)."""
        return {}


def write_results(
    report: Any, summary: dict, out: Path, progress: Progress, files: str, tensorboard: bool
) -> dict:
    """A recipe's results: ``report.write_all`` (its files; it may add to ``summary``), then
    ``results.json``; logs ``report.summary_text`` and what ``out`` now holds (``files``, and
    the TensorBoard logs when written). The summary as written.

    Args:
        report: the recipe's report module (``write_all(summary, out)``,
            ``summary_text(summary)``).
        files: what the report and the recipe wrote, for the last progress line.
    """
    report.write_all(summary, out)
    io.write_json(out / "results.json", summary)
    progress.log(report.summary_text(summary))
    board = f", tensorboard/ (tensorboard --logdir {out / 'tensorboard'})" if tensorboard else ""
    progress.log(f"results in {out}: {files}{board}")
    return summary


@contextlib.contextmanager
def _interruptible(out: Path, run_dir: Path | None) -> Iterator[None]:
    """Ctrl-C inside becomes :class:`io.Interrupted`, saying what a --resume keeps: the
    finished runs and ``run_dir``'s last checkpointed epoch (None: after the runs)."""
    try:
        yield
    except io.Interrupted:
        raise
    except KeyboardInterrupt:
        if run_dir is None:
            where, kept = "after the last run", "the finished runs are kept"
        elif done := checkpoint_epochs(run_dir):
            where = f"after {run_dir.name} epoch {done}"
            kept = "the finished runs and that epoch's checkpoint are kept"
        else:
            where = f"in {run_dir.name}'s first epoch"
            kept = "the finished runs are kept (this run starts again)"
        raise io.Interrupted(
            f"interrupted {where}; {kept} in {out}: resume with the same command and --resume"
        ) from None


def run_recipe(
    recipe: RecipeHooks,
    out: str | Path,
    resume: bool = False,
    quiet: bool = False,
    tensorboard: bool = True,
    started: float | None = None,
) -> dict:
    """Check the results folder, prepare the data, train every run behind one progress
    bar, then write the results: the recipes' one skeleton, their summary as written.

    ``started``: when the recipe began (``time.perf_counter()``; default now), for
    ``wall_seconds``.
    """
    import keras

    out = Path(out)
    started = time.perf_counter() if started is None else started
    record = recipe.record()
    io.check_results_folder(out, record, resume, recipe.what)
    nothing = resume and not (out / "config.json").exists()
    data = recipe.prepare()
    io.write_json(out / "config.json", {io.RECIPE_KEY: recipe.what, **record})
    runs, per_epoch = recipe.plan(data)
    epochs, distribution = recipe.config.epochs, recipe.config.distribution
    progress = Progress(
        len(runs) * epochs * per_epoch,
        quiet=quiet,
        jobs=recipe.jobs,
        description=recipe.description,
    )
    if nothing:
        progress.log(f"nothing to resume in {out}: starting")
    then = f", then {recipe.jobs} {recipe.jobs_name}" if recipe.jobs_name else ""
    progress.log(
        f"{recipe.headline(data)}; backend {keras.backend.backend()}; {len(runs)} runs of "
        f"{epochs} x {per_epoch} steps{then}"
    )
    results: list[dict] = []
    with progress:
        for number, run in enumerate(runs, 1):
            progress.log(f"[{number}/{len(runs)}] {run.label}")
            run_dir = out / "runs" / run.name
            run_dir.mkdir(parents=True, exist_ok=True)
            board = out / "tensorboard" / run.name if tensorboard else None
            with _interruptible(out, run_dir):
                hooks = run.hooks(run_dir)
                results.append(
                    train_run(hooks, run_dir, progress, epochs, per_epoch, distribution, board)
                )
                recipe.after_run(out, record, results)
        with _interruptible(out, None):
            extra = recipe.after_runs(out, progress)
    summary = {
        "config": record,
        "data": data.summary,
        "backend": keras.backend.backend(),
        **extra,
        "runs": results,
        "wall_seconds": round(time.perf_counter() - started, 1),
        **recipe.summary_tail(),
    }
    return recipe.write(summary, out, progress, tensorboard)
