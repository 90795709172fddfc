"""``method="auto"`` by measurement: time the candidate methods where the layer runs, once.

The fixed rule (:func:`framebank.methods.resolve_method`) was read off measurements on
some machines; the ranking of methods flips with backend, CPU and shape. With measuring
on (``FRAMEBANK_AUTO=measure`` in the environment, or :func:`set_measuring`), a layer
built with ``method="auto"`` looks its shape class up in a cache on disk and, on a miss,
times each candidate method's forward plus backward step (the gradient of ``0.5 *
sum(y**2)`` with respect to the input and, for a basis that trains, the basis), compiled
as Keras compiles a training step for the backend (TensorFlow: ``tf.function``; JAX:
``jax.jit``; torch: eager), and keeps the fastest. Cached per (Keras backend, device,
CPU model, compute dtype, direction, structure, ``frame_len``, ``num_basis``, ``hop``,
``batch * frames`` rounded up to a power of two), in ``auto_methods.json`` under
:func:`cache_dir`, written atomically. What FFTW's wisdom and cuDNN's benchmark mode do.

The methods compute the same numbers (their agreement is tested), so the pick changes
speed only. Measuring runs when the layer is built, never inside a traced call (there
the cache is read, and a miss takes the fixed rule), and a layer that measured records
``"auto"`` in its config, so a saved model measures again where it is loaded.

This module imports the running backend's own library to compile the timed step (as
:mod:`framebank.device` does), never TensorFlow under another backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._resources import auto_mode
from framebank.device import device_description
from framebank.methods import AUTO, METHODS, get_method, resolve_method, runnable

__all__ = [
    "ShapeClass",
    "cpu_model",
    "cache_dir",
    "cache_path",
    "measuring",
    "set_measuring",
    "measuring_enabled",
    "environment_measures",
    "candidates",
    "time_methods",
    "measured_pick",
    "tune",
]

CACHE_FILE = "auto_methods.json"
CACHE_VERSION = 1
# Where the shape is unknown at build time (batch None, time None): a training step's
# usual size, batch 16 of 1 s at a 10 ms hop.
DEFAULT_BATCH, DEFAULT_FRAMES = 16, 100
# From how many frames a sample is in (frame_len / hop) the FFT convolution is worth
# timing at all: below it, its [batch, num_basis, time] spectrum costs more than frames.
FFT_CONV_MIN_OVERLAP = 8

_MEASURING: list[bool | None] = [None]  # None: the environment decides


def set_measuring(on: bool | None) -> None:
    """Turn measuring on or off for this process (None: ``FRAMEBANK_AUTO`` decides)."""
    if on is not None and not isinstance(on, bool):
        raise TypeError(f"set_measuring expects True, False or None. Received: {on!r}")
    _MEASURING[0] = on


@contextlib.contextmanager
def measuring(on: bool = True) -> Iterator[None]:
    """Within this context layers made with ``method="auto"`` measure (or not, ``on=False``)."""
    previous = _MEASURING[0]
    set_measuring(on)
    try:
        yield
    finally:
        _MEASURING[0] = previous


def measuring_enabled() -> bool:
    """Whether ``"auto"`` measures: :func:`set_measuring`, else ``FRAMEBANK_AUTO=measure``."""
    if _MEASURING[0] is not None:
        return _MEASURING[0]
    return environment_measures()


def environment_measures() -> bool:
    """Whether ``FRAMEBANK_AUTO`` asks ``"auto"`` to measure (``measure``) or not (``rule``,
    the default); a ``ValueError`` naming any other value. ``framebank``'s commands check
    it when they start, so a misspelt value stops them even where no layer reads it."""
    return auto_mode() == "measure"


def cache_dir() -> Path:
    """``$FRAMEBANK_CACHE_DIR``, else ``$XDG_CACHE_HOME/framebank``, else ``~/.cache/framebank``."""
    if os.environ.get("FRAMEBANK_CACHE_DIR"):
        return Path(os.environ["FRAMEBANK_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "framebank"


def cache_path() -> Path:
    """The JSON file holding the measured picks."""
    return cache_dir() / CACHE_FILE


def cpu_model() -> str:
    """The CPU's model name (the ranking of methods differs between AVX2 and AVX-512 parts)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _bucket(count: int) -> int:
    """``count`` rounded up to a power of two (shapes in one bucket share a pick)."""
    return 1 << max(0, int(count) - 1).bit_length()


@dataclass(frozen=True)
class ShapeClass:
    """What a pick is cached for, beside the machine.

    Attributes:
        direction: ``"signal"`` (an encoder: the padded waveform), ``"frames"`` (frames
            given) or ``"synthesis"`` (a decoder).
        frame_len, hop, num_basis: the projection's sizes.
        rows: ``batch * frames``, bucketed to a power of two.
        structure: the basis's description a method may exploit (``"windowed_dft"``), or "".
        trainable: whether the basis's gradient is part of the step.
        dtype: the compute dtype.
        kind: a decoder's variant (``"tied"``, ``"pinv"``, ...) for ``"synthesis"``, else
            "": each variant synthesises with its own basis, so each has its own pick.
    """

    direction: str
    frame_len: int
    hop: int
    num_basis: int
    rows: int
    structure: str = ""
    trainable: bool = True
    dtype: str = "float32"
    kind: str = ""

    @classmethod
    def make(
        cls,
        direction: str,
        frame_len: int,
        hop: int,
        num_basis: int,
        batch: int | None,
        frames: int | None,
        **kwargs: Any,
    ) -> ShapeClass:
        """The class of a step of ``batch`` (None: 16) times ``frames`` (None: 100) frames."""
        rows = (batch or DEFAULT_BATCH) * (frames if frames else DEFAULT_FRAMES)
        return cls(direction, int(frame_len), int(hop), int(num_basis), _bucket(rows), **kwargs)

    def key(self) -> str:
        backend = keras.backend.backend()
        device = device_description()[1]
        return "|".join(
            [
                backend,
                device,
                cpu_model(),
                self.dtype,
                f"{self.direction}:{self.kind}" if self.kind else self.direction,
                self.structure or "-",
                "trainable" if self.trainable else "fixed",
                f"L{self.frame_len}",
                f"N{self.num_basis}",
                f"H{self.hop}",
                f"R{self.rows}",
            ]
        )

    def batch_frames(self) -> tuple[int, int]:
        """A batch and frame count of this class's size (``rows`` split as a step would be)."""
        batch = min(self.rows, DEFAULT_BATCH)
        return batch, max(1, self.rows // batch)


# --------------------------------------------------------------------------- the cache


def read_cache(path: Path | None = None) -> dict:
    """``{key: {"pick": name, "ms": {name: ms}, "rule": name}}``; empty if absent or unreadable."""
    path = path or cache_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def write_cache_entry(key: str, entry: dict, path: Path | None = None) -> None:
    """Add one entry, writing the whole file atomically (a temporary file, then a rename),
    so a reader never sees half a file."""
    path = path or cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = read_cache(path)
    entries[key] = entry
    text = json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True)
    fd, tmp = tempfile.mkstemp(prefix=".auto_methods.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- timing


def _can_run_now() -> bool:
    """False inside a traced call (a TensorFlow graph, a JAX trace), where nothing can be
    timed: a new tensor there has no value."""
    try:
        ops.convert_to_numpy(ops.zeros(()))
    except Exception:
        return False
    return True


def candidates(shape: ShapeClass, structure: Any = None, rule: str | None = None) -> list[str]:
    """The methods worth timing for ``shape``: each registered method that runs as itself
    for this basis (:func:`framebank.methods.runnable`), reads what the caller has, and has
    no known pathological case where it runs (``reshape_conv`` under JAX's XLA). A method
    that cannot be exported and has no fallback is timed only where the fixed rule
    (``rule``) picks it, so measuring never makes a model harder to export."""
    backend = keras.backend.backend()
    names = []
    for name, cls in sorted(METHODS.items()):
        method = cls()
        if method.structure is not None and (
            method.structure != shape.structure or structure is None
        ):
            continue
        if runnable(method, structure) is not method:
            continue
        if shape.direction == "frames" and not method.needs_frames:
            continue
        if name == "reshape_conv" and backend == "jax":
            continue
        if not method.exportable and method.fallback is None and name != rule:
            continue
        if name == "fft_conv" and shape.frame_len < FFT_CONV_MIN_OVERLAP * shape.hop:
            if name != rule:
                continue
        names.append(name)
    return names


def _step_fn(name: str, shape: ShapeClass, structure: Any) -> Callable[[Any, Any], Any]:
    """``f(x, basis) -> y``: the projection by method ``name`` as a layer runs it."""
    method = get_method(name)
    hop, frame_len = shape.hop, shape.frame_len
    if shape.direction == "synthesis" and method.structure is not None:
        # The transposed basis is what the method falls back to if the weight moved.
        return lambda c, basis: method.synthesize_structured(
            c, ops.transpose(basis), basis, structure, hop
        )
    if shape.direction == "synthesis":
        return lambda c, basis: method.synthesize(c, ops.transpose(basis), hop)
    if shape.direction == "frames":
        return lambda frames, basis: method.project(frames, basis)
    if method.structure is not None:
        return lambda x, basis: method.project_structured(x, basis, structure, hop)
    if method.needs_frames:

        def framed(x: Any, basis: Any) -> Any:
            from framebank.framing import frame_valid

            return method.project(frame_valid(x, frame_len, hop), basis)

        return framed
    return lambda x, basis: method.project_signal(x, basis, hop)


def _inputs(shape: ShapeClass, structure: Any) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    batch, frames = shape.batch_frames()
    if shape.direction == "signal":
        x = rng.standard_normal((batch, (frames - 1) * shape.hop + shape.frame_len))
    elif shape.direction == "frames":
        x = rng.standard_normal((batch, frames, shape.frame_len))
    else:
        x = rng.standard_normal((batch, frames, shape.num_basis))
    if structure is not None:
        # A decoder's structure (an inverse DFT) names the analysis basis it inverts.
        basis = getattr(structure, "source", structure).basis()
    else:
        basis = rng.standard_normal((shape.frame_len, shape.num_basis)) / np.sqrt(shape.frame_len)
    return x.astype(shape.dtype), basis.astype(shape.dtype)


def _compiled_step(fn: Callable, x: np.ndarray, basis: np.ndarray, trainable: bool) -> Callable:
    """A zero-argument callable: one forward plus backward step, waited for."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt, bt = tf.constant(x), tf.constant(basis)

        # No autograph: the methods branch with ops.cond, and converting every Keras op
        # they call took seconds per method.
        @tf.function(autograph=False)
        def step(xin: Any, b: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(xin)
                if trainable:
                    tape.watch(b)
                y = tf.cast(fn(xin, b), tf.float32)
                loss = 0.5 * tf.reduce_sum(tf.square(y))
            return tape.gradient(loss, [xin, b] if trainable else [xin])

        return lambda: [g.numpy() for g in step(xt, bt) if g is not None]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def loss(xin: Any, b: Any) -> Any:
            y = fn(xin, b).astype("float32")
            return 0.5 * jnp.sum(jnp.square(y))

        grad = jax.jit(jax.grad(loss, argnums=(0, 1) if trainable else 0))
        xj, bj = jnp.asarray(x), jnp.asarray(basis)
        return lambda: jax.block_until_ready(grad(xj, bj))
    if backend == "torch":
        import torch

        xt = ops.convert_to_tensor(x).requires_grad_(True)
        bt = ops.convert_to_tensor(basis).requires_grad_(trainable)

        def torch_step() -> None:
            xt.grad, bt.grad = None, None
            y = fn(xt, bt).float()
            (0.5 * torch.sum(y * y)).backward()
            if xt.is_cuda:
                torch.cuda.synchronize()

        return torch_step
    raise NotImplementedError(f"measuring is not written for the {backend!r} backend")


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """TensorFlow warns when many functions are traced; one a method, each once, is the plan."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def time_methods(
    shape: ShapeClass, names: list[str], structure: Any = None, repeats: int = 5
) -> dict[str, float]:
    """Median milliseconds of one forward plus backward step of each method, timed in
    interleaved rounds (one step of each per round, so changing load hits all alike)."""
    x, basis = _inputs(shape, structure)
    steps = {n: _compiled_step(_step_fn(n, shape, structure), x, basis, shape.trainable)
             for n in names}  # fmt: skip
    laps: dict[str, list[float]] = {n: [] for n in names}
    with _quiet_tracing():
        for step in steps.values():
            step()  # compile, then warm up
            step()
        for k in range(max(1, repeats)):
            for name in names[k % len(names) :] + names[: k % len(names)]:
                start = time.perf_counter()
                steps[name]()
                laps[name].append(time.perf_counter() - start)
    return {n: float(np.median(laps[n])) * 1e3 for n in names}


def measured_pick(
    shape: ShapeClass, rule: str, structure: Any = None, repeats: int = 5, force: bool = False
) -> str:
    """The method ``"auto"`` runs for ``shape`` here: the cached pick, else (where a step
    can be timed now) the fastest candidate, cached; else ``rule``, the fixed rule's pick.

    ``force`` times again even where the cache has the shape.
    """
    key = shape.key()
    entry = read_cache().get(key)
    if not force and isinstance(entry, dict) and entry.get("pick") in METHODS:
        return entry["pick"]
    names = candidates(shape, structure, rule)
    if len(names) < 2 or not _can_run_now():
        return rule
    times = time_methods(shape, names, structure, repeats)
    pick = min(times, key=times.get)
    entry = {"pick": pick, "rule": rule, "ms": {n: round(t, 4) for n, t in times.items()}}
    write_cache_entry(key, entry)
    return pick


def tune(
    frame_len: int,
    hop: int,
    num_basis: int,
    batch: int = DEFAULT_BATCH,
    frames: int = DEFAULT_FRAMES,
    *,
    direction: str = "signal",
    structure: Any = None,
    trainable: bool | None = None,
    dtype: str | None = None,
    repeats: int = 5,
    kind: str = "tied",
) -> dict:
    """Time the candidate methods for one shape, fill the cache, and say what was found.

    Args:
        frame_len, hop, num_basis: the projection's sizes.
        batch, frames: the step's size (cached by ``batch * frames`` rounded up to a
            power of two).
        direction: ``"signal"`` (an :class:`~framebank.Encoder`), ``"frames"`` (a
            :class:`~framebank.FrameProjection`) or ``"synthesis"`` (a
            :class:`~framebank.Decoder`).
        structure: a :class:`~framebank.structures.WindowedDFT` for a fixed Fourier
            basis (then ``rfft`` is a candidate), or None for a free basis. For
            ``direction="synthesis"`` the decoder inverting it is timed (its transpose, a
            tied decoder's synthesis; or give a
            :class:`~framebank.structures.WindowedInverseDFT`).
        trainable: whether the basis's gradient is timed; default: not for a structure.
        dtype: compute dtype; default the global Keras policy's.
        repeats: timed steps of each method.
        kind: for ``direction="synthesis"``, the decoder variant whose cache entry this
            fills (``"tied"``, ``"pinv"``, ...; each has its own).

    Returns:
        ``{"key", "ms": {method: ms per step}, "pick", "rule"}``; ``rule`` is what the
        fixed rule picks.
    """
    from framebank.structures import WindowedDFT, WindowedInverseDFT

    if direction not in ("signal", "frames", "synthesis"):
        raise ValueError(
            "direction must be 'signal', 'frames' or 'synthesis'. "
            f"Received: direction={direction!r}"
        )
    kinds = (WindowedDFT, WindowedInverseDFT) if direction == "synthesis" else (WindowedDFT,)
    if structure is not None and not isinstance(structure, kinds):
        raise TypeError(
            f"structure must be a {' or '.join(k.__name__ for k in kinds)} or None for "
            f"direction={direction!r}. Received: {structure!r}"
        )
    if direction == "synthesis" and isinstance(structure, WindowedDFT):
        structure = WindowedInverseDFT.transpose_of(structure)
    dtype = dtype or keras.config.dtype_policy().compute_dtype
    shape = ShapeClass.make(
        direction, frame_len, hop, num_basis, batch, frames,
        structure="windowed_dft" if structure is not None else "",
        trainable=structure is None if trainable is None else bool(trainable),
        dtype=dtype, kind=kind if direction == "synthesis" else "",
    )  # fmt: skip
    rule = resolve_method(
        AUTO, frame_len, None if direction == "frames" else hop, num_basis,
        needs_frames=direction == "frames", compute_dtype=dtype,
        synthesis=direction == "synthesis", structures=[shape.structure] if structure else (),
    )  # fmt: skip
    pick = measured_pick(shape, rule, structure, repeats=repeats, force=True)
    entry = read_cache().get(shape.key(), {})
    return {"key": shape.key(), "ms": entry.get("ms", {}), "pick": pick, "rule": rule}
