"""The ``framebank`` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
        raise SystemExit(f"no clip in the corpus is {seconds} s long; use --seconds with less")
    return np.stack(chunks), sources


class UsageError(Exception):
    """A bad option or config file: reported in one line, exit status 2 (as are a
    recipe's :class:`~framebank.training.io.RecipeInputError`: its results folder or
    source audio)."""


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

    from framebank._validation import check_framing_args, check_positive_int
    from framebank.check import run_methods

    with _user_input():
        check_framing_args(args.frame_len, args.hop)
        for name in ("num_basis", "batch", "repeats"):
            check_positive_int(name, getattr(args, name))
        if not args.seconds > 0 or not args.sample_rate > 0:
            raise ValueError(
                "--seconds and --sample-rate must be positive. "
                f"Received: {args.seconds}, {args.sample_rate}"
            )
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


def _check_quick(args: argparse.Namespace, recipe: str) -> None:
    if args.quick and args.config is None:
        # The quick settings live in the recipe file: without one, --quick would
        # silently run the full defaults.
        raise UsageError(
            f"--quick applies the `quick:` settings of recipes/{recipe}, which is not in "
            "this folder or beside the package: pass --config with a recipe file"
        )


def cmd_compare(args: argparse.Namespace) -> int:
    from framebank.training.compare import load_compare_config, run_compare

    _check_quick(args, "compare_methods.yaml")
    with _user_input():
        config = load_compare_config(args.config, quick=args.quick)
    out = args.out or ("runs/compare-quick" if args.quick else "runs/compare")
    run_compare(config, out, source=args.source, resume=args.resume, quiet=args.quiet)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from framebank.training.language_id import load_language_id_config, run_language_id

    _check_quick(args, "language_id.yaml")
    with _user_input():
        config = load_language_id_config(args.config, quick=args.quick)
    out = args.out or ("runs/language_id-quick" if args.quick else "runs/language_id")
    run_language_id(config, out, source=args.source, resume=args.resume, quiet=args.quiet)
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framebank.corpus import default_cache, fetch_corpus

    cache = Path(args.cache) if args.cache else default_cache()
    counts = fetch_corpus(cache, args.languages, debs=Path(args.debs) if args.debs else None)
    print(
        f"{sum(counts.values())} files in {cache}; train on them with "
        f"`framebank compare --source {cache}`"
    )
    return 0


def _default_recipe(name: str) -> str | None:
    from pathlib import Path

    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "recipes" / name).is_file():
            return str(root / "recipes" / name)
    return None


def _add_recipe(
    sub: argparse._SubParsersAction,
    name: str,
    recipe: str,
    default_out: str,
    func: object,
    help: str,
    source_help: str,
) -> None:
    """The options every recipe command shares."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument(
        "--config", default=_default_recipe(recipe), help=f"YAML config (default: recipes/{recipe})"
    )
    parser.add_argument("--source", help=source_help)
    parser.add_argument("--out", help=f"results folder (default: {default_out})")
    parser.add_argument("--quick", action="store_true", help="the config's quick settings")
    parser.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="framebank", description="Learnable audio filterbank front ends for Keras 3."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    methods = sub.add_parser(
        "methods", help="run every execution method on real speech: equal outputs, their times"
    )
    methods.add_argument("--frame-len", type=int, default=80, help="samples per frame (80)")
    methods.add_argument("--hop", type=int, default=80, help="samples between frames (80)")
    methods.add_argument("--num-basis", type=int, default=256, help="basis vectors (256)")
    methods.add_argument("--batch", type=int, default=16, help="speech chunks (16)")
    methods.add_argument("--seconds", type=float, default=4.0, help="chunk length, s (4)")
    methods.add_argument("--sample-rate", type=int, default=8000, help="Hz (8000)")
    methods.add_argument("--repeats", type=int, default=10, help="timed calls per method (10)")
    methods.add_argument(
        "--rtol", type=float, default=1e-5, help="largest difference that agrees (1e-5)"
    )
    methods.set_defaults(func=cmd_methods)

    _add_recipe(
        sub,
        "compare",
        "compare_methods.yaml",
        "runs/compare",
        cmd_compare,
        help="train one encoder-decoder per method on real speech: convergence and memory",
        source_help="a folder of audio to train on instead of data/",
    )
    _add_recipe(
        sub,
        "train",
        "language_id.yaml",
        "runs/language_id",
        cmd_train,
        help="spoken-language identification: learnable vs fixed mel front ends",
        source_help="a folder <language>/<files> to train on instead of data/",
    )

    data = sub.add_parser("data", help="the speech corpus")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser(
        "fetch", help="fetch the five full Asterisk prompt sets (verified) into a cache folder"
    )
    fetch.add_argument("--cache", help="where to put them (default: ~/.cache/framebank/asterisk)")
    fetch.add_argument("--languages", nargs="+", help="a subset of: en es fr it ru")
    fetch.add_argument("--debs", help="a folder that already holds the .deb files")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from framebank.training.io import RecipeInputError

    try:
        return args.func(args)
    except (UsageError, RecipeInputError) as err:
        # Its message names the value and what was expected; a traceback would bury it.
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
