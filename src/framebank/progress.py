"""Progress of a whole run (a recipe, a corpus fetch): elapsed time and the time left.

Imports nothing of framebank, so the corpus tools and the recipes share it.

Every log line of a run goes through :class:`Progress`. On a terminal a live bar (``rich``,
which Keras depends on) sits below the lines; elsewhere (a pipe, a log file, CI) the lines
that close an epoch carry the same figures in text. ``quiet`` prints nothing.

The estimate: the steps left times the wall time a step has taken in this process (its
compiling first steps, evaluations and checkpoints included, steps skipped by a resume
excluded), plus the jobs left (the memory measurement's fresh processes) times the time one
took, or ``job_prior_s`` until one has run.
"""

from __future__ import annotations

import time

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts a run's steps (and jobs), prints its lines, estimates what is left.

    Args:
        steps: training steps in the whole run.
        quiet: print nothing.
        jobs: other units of work after the steps (fresh processes), timed apart.
        job_prior_s: the time a job is assumed to take until one has been timed.
        description: the live bar's label.
        live: show a live bar; default: when the output is a terminal.
        unit: what a step is, on the bar (``"steps"``; ``"MB"`` with ``scale=1e-6`` for
            steps of one byte).
        scale: a step's size in ``unit``.
    """

    def __init__(
        self,
        steps: int,
        quiet: bool = False,
        jobs: int = 0,
        job_prior_s: float = 10.0,
        description: str = "framebank",
        live: bool | None = None,
        unit: str = "steps",
        scale: float = 1.0,
    ) -> None:
        self.steps, self.jobs, self.job_prior_s = steps, jobs, job_prior_s
        self.unit, self.scale = unit, scale
        self.quiet = quiet
        self.started = time.perf_counter()
        self.steps_done = self.jobs_done = 0
        self._timed_steps = 0  # steps run in this process, not skipped by a resume
        self._step_seconds = 0.0
        self._job_seconds: list[float] = []
        self._last = self.started
        self._bar = None
        if not quiet:
            from rich.console import Console

            console = Console(highlight=False)
            if console.is_terminal if live is None else live:
                from rich.progress import BarColumn, TextColumn
                from rich.progress import Progress as Bar

                self._bar = Bar(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.fields[count]}"),
                    TextColumn("{task.fields[timing]}"),
                    console=console,
                    transient=True,
                )
                self._task = self._bar.add_task(
                    description, total=1000, timing="", count=self._count()
                )
                self._bar.start()

    # ------------------------------------------------------------------ counting

    def skip(self, steps: int) -> None:
        """Count steps done before this process (a resumed run): no time for them."""
        self.steps_done += steps
        self._last = time.perf_counter()
        self._refresh()

    def step(self, steps: int = 1) -> None:
        """Count steps just run: their wall time since the last count is theirs."""
        now = time.perf_counter()
        self.steps_done += steps
        self._timed_steps += steps
        self._step_seconds += now - self._last
        self._last = now
        self._refresh()

    def job(self, seconds: float) -> None:
        """Count one job that took ``seconds``."""
        self.jobs_done += 1
        self._job_seconds.append(seconds)
        self._last = time.perf_counter()
        self._refresh()

    # ------------------------------------------------------------------ estimate

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float | None:
        """Seconds left, or None before any step was timed (nothing to go on)."""
        steps_left = max(0, self.steps - self.steps_done)
        jobs_left = max(0, self.jobs - self.jobs_done)
        if steps_left and not self._timed_steps:
            return None
        per_step = self._step_seconds / self._timed_steps if self._timed_steps else 0.0
        per_job = (
            sum(self._job_seconds) / len(self._job_seconds)
            if self._job_seconds
            else self.job_prior_s
        )
        return steps_left * per_step + jobs_left * per_job

    def fraction(self, elapsed: float | None = None) -> float:
        """The share of the run done: by time once there is an estimate (steps and jobs
        take different times), else by count."""
        left = self.left()
        elapsed = self.elapsed if elapsed is None else elapsed
        if left is not None and elapsed + left > 0:
            return elapsed / (elapsed + left)
        total = self.steps + self.jobs
        return (self.steps_done + self.jobs_done) / total if total else 1.0

    def status(self) -> str:
        """``"37% · 1:23 elapsed · ~2:10 left"``."""
        left, elapsed = self.left(), self.elapsed
        estimate = "time left unknown" if left is None else f"~{format_seconds(left)} left"
        return f"{self.fraction(elapsed):.0%} · {format_seconds(elapsed)} elapsed · {estimate}"

    # ------------------------------------------------------------------ output

    def log(self, message: str, timing: bool = False) -> None:
        """Print ``message`` (with :meth:`status` appended when ``timing``)."""
        if self.quiet:
            return
        if timing:
            message = f"{message}  [{self.status()}]"
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, flush=True)

    def _count(self) -> str:
        """``"120/600 steps"``, ``"12.3/99.8 MB"``, and the jobs when there are any."""
        places = 0 if self.scale == 1 else 1
        text = (
            f"{self.steps_done * self.scale:.{places}f}/{self.steps * self.scale:.{places}f} "
            f"{self.unit}"
        )
        return text + (f", {self.jobs_done}/{self.jobs} jobs" if self.jobs else "")

    def _refresh(self) -> None:
        if self._bar is not None:
            left, elapsed = self.left(), self.elapsed
            timing = f"{format_seconds(elapsed)} elapsed" + (
                "" if left is None else f" · ~{format_seconds(left)} left"
            )
            self._bar.update(
                self._task,
                completed=round(1000 * self.fraction(elapsed)),
                timing=timing,
                count=self._count(),
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
