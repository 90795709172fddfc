"""The ``framebank`` command's options and checks: it starts at once, and Keras only to run.

``import framebank`` imports Keras and its backend on purpose (every layer is then registered
for ``.keras`` loading), which takes seconds and, under TensorFlow, prints native start-up logs.
So this module imports nothing of framebank but :mod:`framebank._resources` (both standard
library only): the console shim ``framebank_cli`` loads the two by their files, without the
package's ``__init__``. It builds the options, checks what it can without Keras (``--help``,
option values, the recipe files, ``data fetch``'s languages), quietens the backend's start-up,
and only then asks its caller for the commands (:data:`framebank.cli.COMMANDS`) to run one.
Nothing here imports :mod:`framebank.cli`: the imports go one way, shim -> cli -> here.

A user's mistake (a bad option, an unreadable config, a results folder that cannot be used)
is one line on stderr and exit status 2, found before any work starts; an error during the
work keeps its traceback (``FRAMEBANK_TRACEBACK=1`` shows one for the user's mistakes too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from framebank._resources import (
    DEFAULT_OUT,
    FOLDER_OUT,
    FOLDER_RECIPE,
    PROG,
    RECIPES,
    UsageError,
    auto_mode,
    find_shipped,
    ready_made_names,
    resolve_recipe,
    shadowing_ready_made,
    shipped_dir,
    shipped_recipes,
)

__all__ = ["UsageError", "build_parser", "main", "resolve_recipe", "shipped_dir"]

RAW_FORMATS = ("s16le", "f32le")
# What `train --frontend` takes: the ready-made front ends that take the recipes' rate,
# window, hop and band count, and the filterbank families they build bare. Written here
# because --help imports no Keras; tests/test_cli.py checks it against the registries.
TRAIN_FRONTENDS = (
    ("ready-made", ("log_mel", "pcen_mel", "leaf", "efficient_leaf", "td_filterbanks", "sincnet")),
    ("bare families", ("mel", "free", "analytic", "sinc", "gabor")),
)


def _description(path: Path) -> str:
    """A YAML file's opening comment, its indented (usage) lines left out."""
    words = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("#  "):  # a usage line (a command) may sit mid-comment
            words.append(line.lstrip("#").strip())
    return " ".join(words)


# --------------------------------------------------------------------------- quiet start


def _tf_noise(line: str, level: int, gpu_present: bool) -> bool:
    """A line of TensorFlow's native start-up that ``TF_CPP_MIN_LOG_LEVEL=level`` hides.

    TensorFlow logs some lines before its logging reads that level (absl then prints every
    one, with "All log messages before absl::InitializeLog() ..."), so they are filtered
    here by their severity as TensorFlow would: ``level`` 1 hides info (I) lines, 2 also
    warnings (W), 3 also errors (E). The failed CUDA probe (``cuInit``) on a machine with no
    NVIDIA device is hidden from level 1 (it says nothing there); 0 hides nothing.
    """
    if level < 1:
        return False
    if "rebuild TensorFlow with the appropriate" in line:  # the rest of an I line
        return True
    if "absl::InitializeLog()" in line:
        return level >= 2
    severity = re.match(r"([IWEF])\d{4} ", line)
    if severity is None:
        return False
    if severity.group(1) == "E" and "cuInit" in line and not gpu_present:
        return True
    return level >= {"I": 1, "W": 2, "E": 3}.get(severity.group(1), 99)  # F: never hidden


@contextlib.contextmanager
def _filtered_stderr(noise: Callable[[str], bool]) -> Iterator[None]:
    """Capture file descriptor 2 (native code writes there, past ``sys.stderr``), then
    write back every line but the noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not noise(line)))
            sys.stderr.flush()


def _log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it (not a number: 0)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _start_backend() -> None:
    """Import Keras (and its backend) and let TensorFlow probe its devices, its native
    start-up lines filtered by ``TF_CPP_MIN_LOG_LEVEL`` (:func:`_tf_noise`)."""

    def start() -> None:
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe, here rather than mid-run

    level = _log_level()
    if level < 1:
        start()
        return
    gpu_present = bool(list(Path("/dev").glob("nvidia[0-9]*")))
    with _filtered_stderr(lambda line: _tf_noise(line, level, gpu_present)):
        start()


# --------------------------------------------------------------------------- options


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)", prog=self.prog)


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a positive, finite ``kind`` (int or float)."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < float("inf"):
            what = "integer" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"must be a positive {what}. Received: {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _add_recipe(
    sub: argparse._SubParsersAction, name: str, help: str, source_help: str
) -> argparse.ArgumentParser:
    """The options every recipe command shares."""
    recipe = RECIPES[name]
    parser = sub.add_parser(name, help=help, description=help)
    parser.add_argument(
        "--config",
        default=recipe,
        help=f"a recipe: the name of a shipped one or a YAML file (default: {recipe}; "
        f"`{PROG} recipes` lists them)",
    )
    parser.add_argument("--source", help=source_help)
    parser.add_argument(
        "--out",
        help=f"results folder (default: {DEFAULT_OUT[name]}, -quick added with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="apply the recipe's `quick:` settings (a smoke run)"
    )
    parser.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    parser.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (no progress)"
    )
    parser.add_argument(
        "--no-tensorboard",
        action="store_true",
        help="write no TensorBoard logs (default: under OUT/tensorboard)",
    )
    return parser


class _Version(argparse.Action):
    """``--version``, reading the installed version only when asked (importlib.metadata
    takes a fifth of ``--help``'s time)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("framebank")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        print(f"{PROG} {found}")
        parser.exit()


def _add_train(sub: argparse._SubParsersAction) -> None:
    train = _add_recipe(
        sub,
        "train",
        help="classify your own folder of audio (one sub-folder per class), or spoken-language "
        "identification on the shipped corpus: learnable vs fixed front ends",
        source_help="a folder <class>/<files>: its sub-folders are the classes (recipe "
        f"{FOLDER_RECIPE}); a folder of the language-ID recipe's languages trains that recipe",
    )
    train.set_defaults(config=None)  # chosen from --source / --labels when not given
    for action in train._actions:
        if action.dest == "config":
            action.help = (
                f"a recipe: the name of a shipped one or a YAML file (default: {FOLDER_RECIPE} "
                f"for --labels or a --source of class folders, else {RECIPES['train']}; "
                f"`{PROG} recipes` lists them)"
            )
        elif action.dest == "out":
            action.help = (
                f"results folder (default: {FOLDER_OUT} or {DEFAULT_OUT['train']}, -quick "
                "added with --quick)"
            )
    train.add_argument(
        "--labels",
        help="a CSV with columns file,label[,group] (files relative to --source, else to the "
        f"CSV's folder): the classes of recipe {FOLDER_RECIPE}; a group is never split",
    )
    train.add_argument(
        "--frontend",
        nargs="+",
        metavar="NAME",
        help="the front ends to train, instead of the recipe's list ("
        + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in TRAIN_FRONTENDS)
        + "; or a name from the config's `variants`)",
    )


def _add_methods(sub: argparse._SubParsersAction) -> None:
    methods = sub.add_parser(
        "methods",
        help="run every execution method on real speech: equal outputs, their times",
        description="Run every registered execution method (framebank.METHODS) on one batch "
        "of the shipped speech with one shared random basis, print each one's largest "
        "difference from matmul's output (relative to its scale) and its median time a "
        "call; the exit status is 1 when a difference exceeds --rtol.",
    )
    integer, number = _positive(int), _positive(float)
    methods.add_argument("--frame-len", type=integer, default=80, help="samples per frame (80)")
    methods.add_argument("--hop", type=integer, default=80, help="samples between frames (80)")
    methods.add_argument("--num-basis", type=integer, default=256, help="basis vectors (256)")
    methods.add_argument("--batch", type=integer, default=16, help="speech chunks (16)")
    methods.add_argument("--seconds", type=number, default=4.0, help="chunk length, s (4)")
    methods.add_argument("--sample-rate", type=integer, default=8000, help="Hz (8000)")
    methods.add_argument("--repeats", type=integer, default=10, help="timed calls per method (10)")
    methods.add_argument(
        "--rtol", type=number, default=1e-5, help="largest difference that agrees (1e-5)"
    )


def _add_recipes_and_inspect(sub: argparse._SubParsersAction) -> None:
    number = _positive(float)
    recipes = sub.add_parser(
        "recipes",
        help="list the shipped recipes and front-end configs, or print one",
        description="List the shipped recipes (for --config) and front-end configs (for "
        "framebank.build_frontend), or print one: `framebank recipes language_id > my.yaml` "
        "makes a copy to edit.",
    )
    recipes.add_argument("name", nargs="?", help="print this one (e.g. frontends/log_mel)")

    inspect = sub.add_parser(
        "inspect",
        help="what a trained front end learned: filter responses, centres, PCEN parameters",
        description="Find the framebank front end in a saved model and write, into --out, a "
        "PNG of its filters' frequency responses (learned against initial where the initial "
        "values are known), a CSV of centre frequencies and bandwidths, and a CSV of each "
        "post-processing layer's per-channel parameters (PCEN's alpha, delta, root, smoothing).",
    )
    inspect.add_argument("model", help="a .keras file holding a framebank Encoder or front end")
    inspect.add_argument("--out", default="inspection", help="folder to write (inspection)")
    inspect.add_argument(
        "--sample-rate", type=number, help="Hz, for families that do not record one"
    )


def _add_stream(sub: argparse._SubParsersAction) -> None:
    integer, number = _positive(int), _positive(float)
    stream = sub.add_parser(
        "stream",
        help="run a saved denoiser or front end chunk by chunk (the streaming path)",
        description="Run a saved model (.keras) through framebank.streaming, one chunk at a "
        "time: a denoiser (a model ending in a Decoder) writes a waveform, a front end writes "
        "its features as .npy [channels, frames, features]. Each channel of the input is one "
        "stream. `-` reads raw PCM from standard input or writes it to standard output "
        "(--format, --rate), so that sox or arecord can pipe: "
        "`arecord -f S16_LE -r 8000 -c 1 -t raw | framebank stream model.keras - out.wav "
        "--rate 8000`.",
    )
    stream.add_argument("model", help="a saved model (.keras): denoiser or front end")
    stream.add_argument("input", help="an audio file, or - for raw PCM on standard input")
    stream.add_argument(
        "output", help="a .wav (denoiser) or .npy (front end) file, or - for standard output"
    )
    stream.add_argument(
        "--chunk-ms", type=number, default=10.0, help="milliseconds read a chunk (10)"
    )
    stream.add_argument(
        "--format",
        choices=RAW_FORMATS,
        default="s16le",
        help="raw PCM on standard input/output: 16-bit or 32-bit float, little-endian (s16le)",
    )
    stream.add_argument("--rate", type=integer, help="sample rate of raw PCM input, Hz")
    stream.add_argument(
        "--resample",
        action="store_true",
        help="resample the input to the model's rate, chunk by chunk (soxr, as the other "
        "commands read audio); a denoiser's output is then at the model's rate",
    )
    stream.add_argument(
        "--channels", type=integer, default=1, help="channels of raw PCM input, interleaved (1)"
    )


def _add_data(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser(
        "data",
        help="the speech corpus",
        description="The speech corpus: data/ ships 365 prompts (15.8 min, 8 kHz) in five "
        "languages; `framebank data fetch` downloads the full sets.",
    )
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fetch = data_sub.add_parser(
        "fetch",
        help="fetch the five full Asterisk prompt sets (verified) into a cache folder",
        description="Download the full Asterisk prompt sets (about 2,800 prompts, 130 min, "
        "in en es fr it ru) from Debian, check each package's size and SHA-256, and unpack "
        "them into the cache folder, for `--source` of `framebank train` and `compare`.",
    )
    fetch.add_argument("--cache", help="where to put them (default: ~/.cache/framebank/asterisk)")
    fetch.add_argument("--languages", nargs="+", help="a subset of: en es fr it ru")
    fetch.add_argument("--debs", help="a folder that already holds the .deb files")
    fetch.add_argument("--quiet", action="store_true", help="print nothing but errors")


# `framebank tune`'s default shapes: the ready-made front ends' encoders (16 kHz, 16 x 1 s)
# and the shipped recipes' (8 kHz). ``fft_length``: a fixed windowed DFT (a Hann window);
# absent: a free basis that trains. ``frames``: per example in one step. ``decoder``:
# whether a Decoder of the shape is timed too (default yes; not where no decoder is used).
TUNE_SHAPES: dict[str, dict] = {
    "log_mel": dict(frame_len=400, hop=160, num_basis=514, fft_length=512, batch=16, frames=101),
    "whisper": dict(frame_len=400, hop=160, num_basis=402, fft_length=400, batch=16, frames=101),
    "kaldi_fbank": dict(frame_len=400, hop=160, num_basis=514, batch=16, frames=98, decoder=False),
    "language_id": dict(frame_len=256, hop=80, num_basis=258, fft_length=256, batch=32, frames=26),
    "compare_methods": dict(frame_len=40, hop=20, num_basis=64, batch=16, frames=399),
    "leaf": dict(frame_len=401, hop=1, num_basis=80, batch=16, frames=16000, decoder=False),
}


def _add_tune(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser(
        "tune",
        help="time the execution methods where this runs, print the table, fill auto's cache",
        description="Time every execution method that can run each shape (forward plus "
        "backward, compiled as training compiles it for the backend: KERAS_BACKEND picks it), "
        "print the milliseconds per step, the fastest (the pick) and what the fixed rule picks, "
        "and store the picks in the cache that method='auto' reads when measuring is on "
        "(FRAMEBANK_AUTO=measure; the folder: FRAMEBANK_CACHE_DIR, else "
        "$XDG_CACHE_HOME/framebank, else ~/.cache/framebank). Without --frame-len, the shipped "
        f"front ends' and recipes' shapes: {', '.join(TUNE_SHAPES)}.",
    )
    integer = _positive(int)
    tune.add_argument("--shapes", help="only these default shapes (comma-separated names)")
    tune.add_argument("--frame-len", type=integer, help="one shape of your own: samples per frame")
    tune.add_argument("--hop", type=integer, help="samples between frames (with --frame-len)")
    tune.add_argument("--num-basis", type=integer, help="basis vectors (with --frame-len)")
    tune.add_argument(
        "--fft-length",
        type=integer,
        help="a fixed Hann-windowed DFT of this length (then --num-basis defaults to "
        "2 * (fft_length // 2 + 1)); default: a free basis that trains",
    )
    tune.add_argument(
        "--batch", type=integer, help="examples per step (default: a named shape's, else 16)"
    )
    tune.add_argument(
        "--frames", type=integer, help="frames per example (default: a named shape's, else 100)"
    )
    tune.add_argument("--repeats", type=integer, default=5, help="timed steps per method (5)")


def _named_tune_shapes(args: argparse.Namespace) -> dict[str, dict]:
    """``--shapes`` (default all of TUNE_SHAPES), each at ``--batch`` and ``--frames`` where
    given, else at its own step size."""
    names = TUNE_SHAPES if args.shapes is None else args.shapes.split(",")
    unknown = [n for n in names if n not in TUNE_SHAPES]
    if unknown:
        raise UsageError(
            f"--shapes: unknown {', '.join(unknown)}. Accepted: {', '.join(TUNE_SHAPES)}"
        )
    given = {k: getattr(args, k) for k in ("batch", "frames") if getattr(args, k) is not None}
    return {n: {**TUNE_SHAPES[n], **given} for n in names}


def _check_tune_args(args: argparse.Namespace) -> None:
    """Resolve the shapes to time into ``args.tune_shapes`` (name -> sizes)."""
    if args.frame_len is None:
        own = [o for o in ("hop", "num_basis", "fft_length") if getattr(args, o) is not None]
        if own:
            flags = ", ".join("--" + o.replace("_", "-") for o in own)
            verb = "describes" if len(own) == 1 else "describe"
            raise UsageError(f"{flags} {verb} a shape of your own: give --frame-len too")
        args.tune_shapes = _named_tune_shapes(args)
        return
    if args.shapes is not None:
        raise UsageError("--shapes names default shapes; --frame-len gives your own: not both")
    if args.hop is None:
        raise UsageError("--frame-len needs --hop (samples between frames)")
    batch = 16 if args.batch is None else args.batch
    frames = 100 if args.frames is None else args.frames
    shape = dict(frame_len=args.frame_len, hop=args.hop, batch=batch, frames=frames)
    if args.fft_length is not None:
        if args.fft_length < args.frame_len:
            raise UsageError(
                f"--fft-length must be at least --frame-len {args.frame_len}. "
                f"Received: {args.fft_length}"
            )
        expected = 2 * (args.fft_length // 2 + 1)
        if args.num_basis not in (None, expected):
            raise UsageError(
                f"--num-basis of a DFT of --fft-length {args.fft_length} is {expected}. "
                f"Received: {args.num_basis}"
            )
        shape.update(fft_length=args.fft_length, num_basis=expected)
    elif args.num_basis is None:
        raise UsageError("--frame-len needs --num-basis (or --fft-length for a fixed DFT)")
    else:
        shape["num_basis"] = args.num_basis
    args.tune_shapes = {"yours": shape}


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, built without importing framebank."""
    parser = _Parser(prog=PROG, description="Learnable audio filterbank front ends for Keras 3.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_methods(sub)
    _add_recipe(
        sub,
        "compare",
        help="train one encoder-decoder per method on real speech: convergence and memory",
        source_help="a folder of audio to train on instead of the shipped corpus",
    )
    _add_train(sub)

    _add_recipes_and_inspect(sub)
    _add_tune(sub)
    _add_stream(sub)
    _add_data(sub)
    return parser


# --------------------------------------------------------------------------- checks


def _check_folder_target(option: str, value: str | None) -> None:
    """``value`` may become a folder: refuse an existing file on its path."""
    if value is None:
        return
    path = Path(value).expanduser()
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                what = "is a file" if ancestor == path else f"lies under a file ({ancestor})"
                raise UsageError(f"{option} must be a folder. Received: {value}, which {what}")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise UsageError(f"{option}: cannot write in {ancestor}. Received: {value}")
            return


def _check_recipe_args(args: argparse.Namespace) -> None:
    args.config = str(resolve_recipe(args.config))
    _check_folder_target("--out", args.out)
    if args.source is not None and not Path(args.source).expanduser().is_dir():
        raise UsageError(f"--source must be a folder of audio files. Received: {args.source}")


def _language_id_languages() -> set[str]:
    """The shipped language-ID recipe's languages, read without Keras."""
    import yaml

    found = find_shipped(RECIPES["train"])
    try:
        data = yaml.safe_load(found.read_text()) if found is not None else None
    except yaml.YAMLError:
        data = None  # the recipe's own load names the mistake
    return set(data.get("languages", [])) if isinstance(data, dict) else set()


def _train_recipe(args: argparse.Namespace) -> str:
    """The recipe ``train`` runs without --config: the folder-of-classes one for --labels
    or a --source whose sub-folders are not the language-ID recipe's languages (a
    ``framebank data fetch`` cache keeps the language-ID study)."""
    if args.labels is not None or args.source is None:
        return FOLDER_RECIPE if args.labels is not None else RECIPES["train"]
    source = Path(args.source).expanduser()
    folders = {p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")}
    languages = _language_id_languages()
    return RECIPES["train"] if languages and languages <= folders else FOLDER_RECIPE


def _check_train_args(args: argparse.Namespace) -> None:
    if args.labels is not None and not Path(args.labels).expanduser().is_file():
        raise UsageError(f"--labels must be a CSV file. Received: {args.labels}")
    if args.source is not None and not Path(args.source).expanduser().is_dir():
        raise UsageError(f"--source must be a folder of audio files. Received: {args.source}")
    if args.config is None:
        args.config = _train_recipe(args)
    _check_recipe_args(args)


def _check_fetch_args(args: argparse.Namespace) -> None:
    _check_folder_target("--cache", args.cache)
    if args.debs is not None and not Path(args.debs).expanduser().is_dir():
        raise UsageError(f"--debs must be a folder of .deb files. Received: {args.debs}")
    data = shipped_dir("data")
    if args.languages and data is not None:
        catalogue = json.loads((data / "packages.json").read_text())["languages"]
        unknown = [language for language in args.languages if language not in catalogue]
        if unknown:
            accepted = ", ".join(sorted(catalogue))
            raise UsageError(f"--languages: unknown {', '.join(unknown)}. Accepted: {accepted}")


def _check_inspect_args(args: argparse.Namespace) -> None:
    model = Path(args.model).expanduser()
    if not model.is_file():
        raise UsageError(f"no model file at {args.model} (a .keras file)")
    if model.suffix == ".keras" and not zipfile.is_zipfile(model):
        # Keras itself says "File not found" of an existing file that is not a zip.
        raise UsageError(f"{args.model} is not a Keras file (a .keras file is a zip archive)")
    _check_folder_target("--out", args.out)


def _check_methods_args(args: argparse.Namespace) -> None:
    samples = int(args.seconds * args.sample_rate)
    if samples < args.frame_len:
        raise UsageError(
            f"--frame-len {args.frame_len} is longer than the signal: --seconds {args.seconds} "
            f"at --sample-rate {args.sample_rate} gives {samples} samples"
        )


def _check_stream_args(args: argparse.Namespace) -> None:
    model = Path(args.model).expanduser()
    if model.suffix != ".keras":
        raise UsageError(f"MODEL must be a saved model, a .keras file. Received: {args.model}")
    if not model.is_file():
        raise UsageError(f"MODEL: no file {args.model}")
    if args.input == "-":
        if args.rate is None:
            raise UsageError("raw PCM on standard input (-) needs --rate (Hz), e.g. --rate 16000")
    elif not Path(args.input).expanduser().is_file():
        raise UsageError(f"IN: no file {args.input}")
    if args.output != "-":
        output = Path(args.output).expanduser()
        if output.suffix not in (".wav", ".npy"):
            raise UsageError(
                f"OUT must be a .wav file (denoiser), a .npy file (front end) or -. "
                f"Received: {args.output}"
            )
        if not output.parent.is_dir():
            raise UsageError(f"OUT: no folder {output.parent} to write {output.name} in")


CHECKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "stream": _check_stream_args,
    "compare": _check_recipe_args,
    "train": _check_train_args,
    "data": _check_fetch_args,
    "methods": _check_methods_args,
    "inspect": _check_inspect_args,
    "tune": _check_tune_args,
}


def cmd_recipes(args: argparse.Namespace) -> int:
    """List the shipped recipes, or print one (no Keras needed)."""
    shipped = shipped_recipes()
    if not shipped:
        raise UsageError("no shipped recipes found: is framebank installed?")
    if args.name is not None:
        found = find_shipped(args.name)
        if found is None:
            raise UsageError(f"no shipped recipe {args.name}. Shipped: {', '.join(shipped)}")
        sys.stdout.write(found.read_text())
        shadow = shadowing_ready_made(found.relative_to(shipped_dir("recipes")).stem, found)
        if shadow and not args.name.removeprefix("recipes/").startswith("frontends/"):
            # On stderr: stdout stays the file, to copy with `> my.yaml`.
            print(
                f"note: build_frontend({shadow!r}) builds the ready-made front end "
                f"framebank.frontends.FRONTENDS[{shadow!r}], not this file; "
                f"build_frontend('frontends/{shadow}') builds this file.",
                file=sys.stderr,
            )
        return 0
    import textwrap

    root = shipped_dir("recipes")
    width = max(len(name) for name in shipped) + 4
    print(f"Recipes, for `framebank compare|train --config NAME` (in {root}):")
    for frontends in (False, True):
        if frontends:
            print(
                "Front ends, for framebank.build_frontend(NAME) (`frontends/` may be left "
                f"out; in {root / 'frontends'}). A ready-made front end of the same name "
                f"wins ({', '.join(ready_made_names())}): build_frontend('log_mel') builds the "
                "ready-made LogMel, 'frontends/log_mel' names the file:"
            )
        for name, path in shipped.items():
            if ("/" in name) == frontends:
                shadow = shadowing_ready_made(name, path) if frontends else None
                note = f" [bare {shadow!r} builds the ready-made one]" if shadow else ""
                print(
                    textwrap.fill(
                        _description(path) + note,
                        width=100,
                        initial_indent=f"  {name:<{width - 2}}",
                        subsequent_indent=" " * width,
                    )
                )
    print("`framebank recipes NAME` prints one; `> my.yaml` makes a copy to edit.")
    return 0


# --------------------------------------------------------------------------- main


def _user_errors() -> tuple[type[BaseException], ...]:
    """What counts as the user's mistake: :class:`UsageError`, and once a recipe has been
    imported, its :class:`~framebank.training.io.RecipeInputError`."""
    errors: tuple[type[BaseException], ...] = (UsageError,)
    io = sys.modules.get("framebank.training.io")
    if io is not None:
        errors += (io.RecipeInputError,)
    return errors


Commands = Callable[[], "dict[str, Callable[[argparse.Namespace], int]]"]


def _run(args: argparse.Namespace, commands: Commands) -> int:
    try:
        # Every command, `recipes` included: a misspelt value stops them all in one line,
        # not only those that build a layer with method="auto".
        auto_mode()
    except ValueError as err:
        raise UsageError(str(err)) from None
    check = CHECKS.get(args.command)
    if check is not None:
        check(args)
    if args.command == "recipes":
        return cmd_recipes(args)
    _start_backend()
    return commands()[args.command](args)


def main(argv: Sequence[str] | None, commands: Commands) -> int:
    """Run ``framebank`` with ``argv`` (None: the process's); return the exit status.

    ``commands`` returns the command functions by name (:data:`framebank.cli.COMMANDS`); it is
    called once the options are checked and the backend started, so that ``--help`` and a
    mistake in the options never import Keras.
    """
    # Warnings and errors only, unless the user set a level (0 shows every native log line).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        return _run(args, commands)
    except _user_errors() as err:
        if os.environ.get("FRAMEBANK_TRACEBACK"):
            raise
        # Its message names the value and what was expected; a traceback would bury it.
        words = (getattr(args, "command", None), getattr(args, "data_command", None))
        where = getattr(err, "prog", None) or " ".join([PROG, *(w for w in words if w)])
        message = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"{where}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        if os.environ.get("FRAMEBANK_TRACEBACK"):
            raise
        # Ctrl-C is the user's choice: one line (a recipe's says what --resume keeps), not a
        # traceback; 130 is the shell's status for a SIGINT.
        print(f"{PROG}: {str(err) or 'interrupted'}", file=sys.stderr)
        return 130
