"""The ``framebank`` command's work: one function a command.

The console script is :mod:`framebank_cli` (outside the package, so that ``--help`` and
option errors need no Keras): :mod:`framebank._command` parses and checks the options, then
calls the command here through :data:`COMMANDS`. :func:`main` is the same entry point, for
``python -m framebank.cli`` and for tests.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from framebank._resources import DEFAULT_OUT, UsageError

__all__ = ["COMMANDS", "UsageError", "main"]


def _speech_batch(batch: int, seconds: float, sample_rate: int) -> tuple:
    """``batch`` chunks of real speech from the shipped corpus, one language each in turn."""
    import numpy as np

    from framebank.audio import load_audio, read_manifest

    clips = read_manifest()
    length = int(seconds * sample_rate)
    chunks, sources = [], []
    for clip in clips:
        samples, _ = load_audio(clip.path, sample_rate)
        if len(samples) >= length:
            chunks.append(samples[:length])
            sources.append(clip.path.name)
        if len(chunks) == batch:
            break
    if not chunks:
        raise UsageError(f"no clip in the corpus is {seconds} s long; use --seconds with less")
    return np.stack(chunks), sources


@contextlib.contextmanager
def _user_input() -> Iterator[None]:
    """Errors raised while reading options and configs are the user's to fix.

    Only this part of a command is covered: an error during the run itself keeps
    its traceback (it may be a bug, and hours into a run it needs one).
    """
    try:
        yield
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise UsageError(str(err)) from err


def cmd_methods(args: argparse.Namespace) -> int:
    import keras

    from framebank.check import run_methods

    # framebank._command checked the options: positive numbers, a frame within the signal.
    signal, sources = _speech_batch(args.batch, args.seconds, args.sample_rate)
    print(
        f"framebank: every method on real speech [{signal.shape[0]}, {signal.shape[1]}] "
        f"({args.sample_rate} Hz), frame_len={args.frame_len} hop={args.hop} "
        f"num_basis={args.num_basis}, backend {keras.backend.backend()}"
    )
    runs = run_methods(signal, args.num_basis, args.frame_len, args.hop, repeats=args.repeats)
    print(f"{'method':<16}{'output shape':<18}{'max |diff|':>12}{'relative':>12}{'median ms':>12}")
    for run in runs:
        print(
            f"{run.method:<16}{str(run.shape):<18}{run.max_abs_diff:>12.2e}"
            f"{run.rel_diff:>12.2e}{run.median_ms:>12.2f}"
        )
    worst = max(run.rel_diff for run in runs)
    agree = worst <= args.rtol
    verdict = "agree" if agree else "DISAGREE"
    print(
        f"all methods {verdict}: largest difference {worst:.2e} of the output scale "
        f"(tolerance {args.rtol:g}) against matmul, from one shared basis."
    )
    return 0 if agree else 1


# Fewer timed steps than this and one disturbed step moves the median a pick is read from.
TUNE_MIN_REPEATS = 5


def cmd_tune(args: argparse.Namespace) -> int:
    import keras

    from framebank import tuning
    from framebank.device import device_description
    from framebank.layers import Encoder
    from framebank.methods import METHODS

    if args.repeats < TUNE_MIN_REPEATS:
        print(
            f"framebank tune: --repeats {args.repeats} is below {TUNE_MIN_REPEATS}: the median "
            "of so few steps moves with the machine's load, so a pick may be timing noise "
            "(and is cached)",
            file=sys.stderr,
        )
    # framebank._command resolved the shapes: name -> sizes (fft_length: a fixed DFT).
    rows = []
    for name, shape in args.tune_shapes.items():
        structure = None
        if "fft_length" in shape:
            dft = Encoder(
                frame_len=shape["frame_len"], hop=shape["hop"], filterbank="fourier",
                window="hann", fft_length=shape["fft_length"], trainable=False,
            )  # fmt: skip
            structure = dft.filterbank.windowed_dft
        sizes = {k: shape[k] for k in ("frame_len", "hop", "num_basis", "batch", "frames")}
        # A decoder of the shape too (a fixed DFT's: the tied inverse, by irfft or a product).
        layers = ("encoder", "decoder") if shape.get("decoder", True) else ("encoder",)
        for layer in layers:
            direction = "synthesis" if layer == "decoder" else "signal"
            result = tuning.tune(
                **sizes, direction=direction, structure=structure, repeats=args.repeats
            )
            rows.append((name, shape, layer, result))
    timed = [m for m in METHODS if any(m in result["ms"] for *_, result in rows)]
    print(
        f"framebank tune: backend {keras.backend.backend()} ({device_description()[1]}), "
        f"{tuning.cpu_model()}, {keras.config.dtype_policy().compute_dtype}; ms per forward "
        f"plus backward step; picks cached in {tuning.cache_path()}"
    )
    print()
    print("| shape | layer | frame_len/hop/num_basis | batch x frames | basis | "
          + " | ".join(timed) + " | pick | fixed rule |")  # fmt: skip
    print("|" + "---|" * (len(timed) + 7))
    for name, shape, layer, result in rows:
        basis = "fixed DFT" if "fft_length" in shape else "free"
        cells = [f"{result['ms'][m]:.2f}" if m in result["ms"] else "-" for m in timed]
        print(
            f"| {name} | {layer} | {shape['frame_len']}/{shape['hop']}/{shape['num_basis']} | "
            f"{shape['batch']} x {shape['frames']} | {basis} | {' | '.join(cells)} | "
            f"{result['pick']} | {result['rule']} |"
        )
    return 0


def _out(args: argparse.Namespace, folder: str | None = None) -> str:
    """``--out``, else ``folder`` or the command's default one (``-quick`` added under
    ``--quick``)."""
    folder = folder or DEFAULT_OUT[args.command]
    return args.out or (f"{folder}-quick" if args.quick else folder)


def _run_recipe(args: argparse.Namespace, load: Callable, run: Callable) -> int:
    """Read the recipe's config (the user's mistakes in one line), then run it."""
    with _user_input():
        config = load(args.config, quick=args.quick)
    run(
        config,
        _out(args),
        source=args.source,
        resume=args.resume,
        quiet=args.quiet,
        tensorboard=not args.no_tensorboard,
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from framebank.training.compare import load_compare_config, run_compare

    return _run_recipe(args, load_compare_config, run_compare)


def _command(args: argparse.Namespace) -> str:
    """The command line that gives a run's numbers (what the report quotes)."""
    import os
    import shlex
    from pathlib import Path

    from framebank._resources import shipped_recipes

    words = ["framebank", args.command]
    if getattr(args, "config", None):
        # A shipped recipe by its name, which works on any install; a user's file as given.
        names = {str(Path(p).resolve()): n for n, p in shipped_recipes().items()}
        words += ["--config", names.get(str(Path(args.config).resolve()), str(args.config))]
    for option in ("source", "labels"):
        if getattr(args, option, None):
            words += [f"--{option}", str(getattr(args, option))]
    if getattr(args, "frontend", None):
        words += ["--frontend", *args.frontend]
    if args.quick:
        words.append("--quick")
    backend = os.environ.get("KERAS_BACKEND")
    return (f"KERAS_BACKEND={backend} " if backend else "") + shlex.join(words)


def _with_frontends(config: Any, names: list[str] | None) -> Any:
    """``config`` training ``names`` (``--frontend``) instead of its list; its reference
    kept when named, else the first of them."""
    import dataclasses

    if not names:
        return config
    reference = config.reference if config.reference in names else None
    return dataclasses.replace(config, frontends=list(names), reference=reference)


def cmd_train(args: argparse.Namespace) -> int:
    import functools

    from framebank._resources import FOLDER_OUT, FOLDER_RECIPE
    from framebank.files import read_yaml

    with _user_input():
        data = read_yaml(args.config)
    if isinstance(data, dict) and data.get("task") == FOLDER_RECIPE:
        from framebank.training.classify_folder import (
            load_classify_folder_config as load,
        )
        from framebank.training.classify_folder import run_classify_folder

        run = functools.partial(run_classify_folder, labels=args.labels)
        out = _out(args, FOLDER_OUT)
    else:
        from framebank.training.language_id import load_language_id_config as load
        from framebank.training.language_id import run_language_id as run

        if args.labels is not None:
            raise UsageError(
                f"--labels takes the folder-classification recipe ({FOLDER_RECIPE}); "
                f"{args.config} is the language-ID one: leave out --config or pass "
                f"--config {FOLDER_RECIPE}"
            )
        out = _out(args)
    with _user_input():
        config = _with_frontends(load(args.config, quick=args.quick), args.frontend)
    run(
        config,
        out,
        source=args.source,
        resume=args.resume,
        quiet=args.quiet,
        tensorboard=not args.no_tensorboard,
        command=_command(args),
    )
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framebank.corpus import default_cache, fetch_corpus

    cache = Path(args.cache).expanduser() if args.cache else default_cache()
    debs = Path(args.debs).expanduser() if args.debs else None
    counts = fetch_corpus(cache, args.languages, debs=debs, quiet=args.quiet)
    if not args.quiet:
        print(
            f"{sum(counts.values())} files in {cache}; train on them with "
            f"`framebank compare --source {cache}`"
        )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pathlib import Path

    import keras

    from framebank.inspection import encoders_in, inspect_frontend, sample_rates

    try:
        model = keras.models.load_model(Path(args.model).expanduser())
    except (ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"{args.model}: cannot load it as a Keras model ({first})") from err
    encoders = encoders_in(model)
    if not encoders:
        raise UsageError(f"{args.model} holds no framebank Encoder or front end to inspect")
    try:
        sample_rates(encoders, args.sample_rate)  # refused before --out is made
    except ValueError as err:
        raise UsageError(f"{args.model}: {err}") from err
    written = inspect_frontend(model, Path(args.out).expanduser(), sample_rate=args.sample_rate)
    for name, entry in written["encoders"].items():
        moved = entry["moved_hz"]
        change = "" if moved is None else f"; centres moved {moved:.1f} Hz (median)"
        read = (
            "centres from the filters' parameters"
            if entry["centres"] == "parameters"
            else f"centres at the responses' peaks, to {entry['grid_hz']:.2f} Hz"
        )
        print(f"{name}: {entry['png']}, {entry['csv']}{change} ({read})")
    for name, path in written["parameters"].items():
        print(f"{name}: {path}")
    print(f"in {args.out}")
    return 0


def _pcm_reader(args: argparse.Namespace, chunk_ms: float) -> tuple[Iterator, int, int]:
    """``(chunks [channels, samples] float32, rate, channels)`` from a file or raw stdin."""
    import numpy as np

    if args.input == "-":
        rate, channels = args.rate, args.channels
        dtype = np.int16 if args.format == "s16le" else np.float32
        samples = max(1, round(chunk_ms * rate / 1000))
        size = samples * channels * np.dtype(dtype).itemsize

        def raw() -> Iterator:
            source = sys.stdin.buffer
            left = b""
            while True:
                data = source.read(size)
                if not data:
                    break
                data, left = left + data, b""
                usable = len(data) - len(data) % (channels * np.dtype(dtype).itemsize)
                data, left = data[:usable], data[usable:]
                values = np.frombuffer(data, "<" + np.dtype(dtype).str[1:]).astype(np.float32)
                if dtype == np.int16:
                    values = values / 32768.0
                yield values.reshape(-1, channels).T

        return raw(), rate, channels
    import soundfile as sf

    with _user_input():
        try:
            info = sf.info(args.input)
        except RuntimeError as err:
            raise ValueError(f"IN: cannot read {args.input} as audio ({err})") from None
    if args.rate is not None and args.rate != info.samplerate:
        raise UsageError(
            f"--rate {args.rate} differs from {args.input}'s own rate, {info.samplerate} Hz"
        )
    samples = max(1, round(chunk_ms * info.samplerate / 1000))

    def blocks() -> Iterator:
        for block in sf.blocks(args.input, blocksize=samples, dtype="float32", always_2d=True):
            yield block.T

    return blocks(), info.samplerate, info.channels


def _resampled(chunks: Iterator, rate: int, to: int, channels: int) -> Iterator:
    """``chunks`` [channels, samples] at ``rate`` resampled to ``to``, chunk by chunk, with
    soxr's streaming resampler at the quality of :func:`framebank.audio.load_audio`."""
    import numpy as np
    import soxr

    resampler = soxr.ResampleStream(rate, to, channels, dtype="float32")
    for chunk in chunks:
        yield resampler.resample_chunk(np.ascontiguousarray(chunk.T, "float32")).T
    yield resampler.resample_chunk(np.zeros((0, channels), "float32"), last=True).T


def _at_model_rate(
    args: argparse.Namespace, own: float | None, chunks: Iterator, rate: int, channels: int
) -> tuple[Iterator, int]:
    """``(chunks, rate)`` at the model's own rate ``own``: resampled with ``--resample``,
    else a rate that differs is the user's to fix."""
    if own is None:
        if args.resample:
            raise UsageError(f"--resample: {args.model} records no sample rate to resample to")
        return chunks, rate
    if own == rate:
        return chunks, rate
    if not args.resample:
        raise UsageError(
            f"IN is {rate} Hz but the model was built for {own:g} Hz: add --resample "
            f"(or give audio at {own:g} Hz)"
        )
    return _resampled(chunks, rate, int(own), channels), int(own)


def cmd_stream(args: argparse.Namespace) -> int:
    """Run a saved model through framebank.streaming, chunk by chunk."""
    import keras
    import numpy as np

    import framebank  # noqa: F401  (registers the layers for loading)
    from framebank import streaming

    with _user_input():
        try:
            model = keras.models.load_model(args.model)
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"MODEL: cannot load {args.model} as a Keras model ({err})") from None
    chunks, rate, channels = _pcm_reader(args, args.chunk_ms)
    with _user_input():
        step = streaming.StreamingStep(model)
    chunks, rate = _at_model_rate(args, step.sample_rate, chunks, rate, channels)
    with _user_input():
        stream = streaming.Stream(step, sample_rate=rate)
    waveform = stream.step.waveform_out
    if args.output != "-" and waveform != args.output.endswith(".wav"):
        what = (
            "a denoiser (waveform out): OUT must be .wav"
            if waveform
            else ("a front end (features out): OUT must be .npy")
        )
        raise UsageError(f"{args.model} is {what} or -. Received: {args.output}")
    writer = _waveform_writer(args, rate, channels) if waveform else None
    features = []
    for chunk in chunks:
        if chunk.shape[1] == 0:
            continue
        out = stream.process(chunk)
        if waveform:
            writer(out)
        else:
            features.append(out)
    out = stream.flush()
    if waveform:
        writer(out)
        writer(None)
    else:
        features.append(out)
        result = np.concatenate(features, axis=1)
        if args.output == "-":
            np.save(sys.stdout.buffer, result)
            sys.stdout.buffer.flush()
        else:
            np.save(args.output, result)
    latency = stream.latency
    print(
        f"framebank stream: {stream.samples_received} samples a channel at {rate} Hz through "
        f"{args.model}; algorithmic latency {latency.delay} samples "
        f"({1000 * latency.delay / rate:.1f} ms) plus a chunk",
        file=sys.stderr,
    )
    return 0


def _waveform_writer(args: argparse.Namespace, rate: int, channels: int) -> Callable:
    """``write(samples [channels, n])`` to a .wav file or raw stdout; ``write(None)`` closes."""
    import numpy as np

    if args.output == "-":
        sink = sys.stdout.buffer

        def raw(samples: Any) -> None:
            if samples is None:
                sink.flush()
                return
            interleaved = samples.T.reshape(-1)
            if args.format == "s16le":
                data = np.clip(np.round(interleaved * 32768.0), -32768, 32767).astype("<i2")
            else:
                data = interleaved.astype("<f4")
            sink.write(data.tobytes())
            sink.flush()

        return raw
    import soundfile as sf

    handle = sf.SoundFile(args.output, "w", samplerate=rate, channels=channels, subtype="FLOAT")

    def write(samples: Any) -> None:
        if samples is None:
            handle.close()
        elif samples.shape[1]:
            handle.write(samples.T)

    return write


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "stream": cmd_stream,
    "methods": cmd_methods,
    "compare": cmd_compare,
    "train": cmd_train,
    "data": cmd_data,
    "inspect": cmd_inspect,
    "tune": cmd_tune,
}


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    """:data:`COMMANDS` (``FRAMEBANK_AUTO`` is checked before, by :mod:`framebank._command`)."""
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    """``framebank`` with ``argv`` (default: the process's); return the exit status."""
    from framebank import _command

    return _command.main(argv, _commands)


if __name__ == "__main__":
    sys.exit(main())
