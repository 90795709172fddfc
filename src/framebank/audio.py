"""Reading real audio: the corpus shipped in ``data/`` and any folder a user has.

Audio I/O is soundfile's; resampling is soxr's (the engine librosa uses).
Nothing here calls TensorFlow (importing ``framebank`` imports Keras, and with
it the backend Keras is set to).
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from framebank._resources import shipped_dir

__all__ = [
    "Clip",
    "LoadReport",
    "audible",
    "mix_noise",
    "chunk",
    "chunk_clips",
    "keep_at_most",
    "corpus_dir",
    "load_audio",
    "load_clips",
    "read_manifest",
    "scan_folder",
    "split_clips",
    "split_of",
]


@dataclass(frozen=True)
class Clip:
    """One utterance of a corpus."""

    path: Path
    language: str = ""
    speaker: str = ""
    prompt: str = ""
    seconds: float = 0.0
    sha256: str = ""


def corpus_dir() -> Path:
    """The corpus: ``$FRAMEBANK_DATA``, else ``./data``, else the shipped one (a checkout's
    ``data/``, or the copy inside the installed package)."""
    candidates = []
    if os.environ.get("FRAMEBANK_DATA"):
        candidates.append(Path(os.environ["FRAMEBANK_DATA"]))
    candidates.append(Path.cwd() / "data")
    for candidate in candidates:
        if (candidate / "manifest.csv").is_file():
            return candidate
    shipped = shipped_dir("data")
    if shipped is not None:
        return shipped
    raise FileNotFoundError(
        "framebank's corpus (a folder with manifest.csv) was not found in "
        + ", ".join(str(c) for c in candidates)
        + " or in the package (an install without its data?). Set FRAMEBANK_DATA, or pass "
        "--source DIR."
    )


def read_manifest(root: Path | None = None) -> list[Clip]:
    """The clips listed in ``root/manifest.csv`` (default: :func:`corpus_dir`)."""
    root = corpus_dir() if root is None else Path(root)
    with open(root / "manifest.csv", newline="") as handle:
        return [
            Clip(
                path=root / row["path"],
                language=row["language"],
                speaker=row["speaker"],
                prompt=row["prompt"],
                seconds=float(row["seconds"]),
                sha256=row["sha256"],
            )
            for row in csv.DictReader(handle)
        ]


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a file as mono float32, resampled to ``sample_rate`` when given.

    Returns:
        ``(samples [time], rate)``.
    """
    import soundfile as sf

    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)  # mix channels down
    if sample_rate is not None and sample_rate != rate:
        import soxr

        samples = soxr.resample(samples, rate, sample_rate).astype("float32")
        rate = sample_rate
    return samples, rate


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".au", ".w64", ".caf")


def scan_folder(root: str | Path) -> list[Clip]:
    """Every file soundfile may read under ``root``, sorted by path.

    The language is taken from the first folder below ``root`` (so a tree
    ``root/<language>/...`` gives labels); the prompt is the path below it.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--source must be a folder of audio files. Received: {root}")
    clips = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        parts = path.relative_to(root).parts
        language = parts[0] if len(parts) > 1 else ""
        prompt = str(Path(*parts[1:]).with_suffix("")) if len(parts) > 1 else path.stem
        clips.append(Clip(path=path, language=language, prompt=prompt))
    return clips


def split_of(key: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for ``key``, from a hash: stable everywhere.

    Splitting by prompt name (not by file) puts the same prompt in the same split
    in every language, so no sentence is heard in training and tested on.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(
            f"`fractions` must be three non-negative numbers summing to 1. Received: {fractions}"
        )
    # Salted: tools/make_corpus.py chose data/'s prompts by the plain sha256 of
    # their names, so an unsalted hash would put every shipped prompt in one split.
    digest = hashlib.sha256(f"framebank-split/{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "valid" if u < fractions[0] + fractions[1] else "test"


def split_clips(
    clips: list[Clip], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[Clip]]:
    """Deterministic train/valid/test split by prompt (path when no prompt)."""
    splits: dict[str, list[Clip]] = {"train": [], "valid": [], "test": []}
    for clip in clips:
        splits[split_of(clip.prompt or str(clip.path), fractions)].append(clip)
    return splits


@dataclass
class LoadReport:
    """What loading kept and skipped (reported in each run's summary)."""

    loaded: int = 0
    seconds: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_clips(
    clips: list[Clip], sample_rate: int, report: LoadReport | None = None
) -> list[tuple[Clip, np.ndarray]]:
    """Read clips as mono float32 at ``sample_rate``.

    Unreadable, empty or non-finite files are skipped with one warning each and
    listed in ``report.skipped``.
    """
    report = report if report is not None else LoadReport()
    loaded = []
    for clip in clips:
        try:
            samples, _ = load_audio(clip.path, sample_rate)
        except Exception as err:  # soundfile raises several types for bad files
            reason = f"unreadable ({type(err).__name__}: {err})"
        else:
            if samples.size == 0:
                reason = "empty"
            elif not np.all(np.isfinite(samples)):
                reason = "non-finite samples"
            else:
                loaded.append((clip, samples))
                report.loaded += 1
                report.seconds += samples.size / sample_rate
                continue
        warnings.warn(f"skipping {clip.path}: {reason}", stacklevel=2)
        report.skipped.append((str(clip.path), reason))
    return loaded


def chunk(signal: np.ndarray, length: int, hop: int | None = None) -> np.ndarray:
    """Fixed-length segments ``[count, length]`` of a 1-D signal (the tail is dropped)."""
    hop = length if hop is None else hop
    if length < 1 or hop < 1:
        raise ValueError(f"`length` and `hop` must be >= 1. Received: length={length}, hop={hop}")
    if signal.shape[0] < length:
        return np.zeros((0, length), signal.dtype)
    count = 1 + (signal.shape[0] - length) // hop
    return np.stack([signal[i * hop : i * hop + length] for i in range(count)])


def chunk_clips(
    loaded: list[tuple[Clip, np.ndarray]], length: int, hop: int | None = None
) -> tuple[np.ndarray, list[Clip]]:
    """Chunk every clip; return ``[chunks, length]`` and the clip of each chunk."""
    pieces, owners = [], []
    for clip, samples in loaded:
        segments = chunk(samples, length, hop)
        pieces.append(segments)
        owners += [clip] * len(segments)
    if not pieces or not owners:
        return np.zeros((0, length), "float32"), []
    return np.concatenate(pieces).astype("float32"), owners


def audible(chunks: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Mask of the ``[count, length]`` chunks whose RMS exceeds ``floor``.

    Near-silent chunks carry no speech: no language to hear, no defined SI-SNR.
    """
    if len(chunks) == 0:
        return np.zeros(0, bool)
    return np.sqrt(np.mean(chunks.astype("float64") ** 2, axis=-1)) > floor


def keep_at_most(count: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``limit`` out of ``count`` (all if None)."""
    if not limit or count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).permutation(count)[:limit])


def mix_noise(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise to every row of ``clean`` at ``snr_db``."""
    noise = rng.standard_normal(clean.shape).astype("float32")
    power_clean = np.mean(clean.astype("float64") ** 2, axis=-1, keepdims=True)
    power_noise = np.mean(noise.astype("float64") ** 2, axis=-1, keepdims=True)
    scale = np.sqrt(power_clean / (power_noise * 10 ** (snr_db / 10)))
    return (clean + noise * scale).astype("float32")
