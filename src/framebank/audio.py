"""Reading real audio: the corpus shipped in ``data/`` and any folder a user has.

Audio I/O is soundfile's; resampling is soxr's (the engine librosa uses).
Nothing here needs TensorFlow.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Clip", "corpus_dir", "read_manifest", "load_audio"]


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
    """The shipped corpus: ``$FRAMEBANK_DATA``, else ``./data``, else the repository's ``data/``."""
    candidates = []
    if os.environ.get("FRAMEBANK_DATA"):
        candidates.append(Path(os.environ["FRAMEBANK_DATA"]))
    candidates += [Path.cwd() / "data", Path(__file__).resolve().parents[2] / "data"]
    for candidate in candidates:
        if (candidate / "manifest.csv").is_file():
            return candidate
    raise FileNotFoundError(
        "framebank's corpus (a folder with manifest.csv) was not found in "
        + ", ".join(str(c) for c in candidates)
        + ". Run from the repository root, set FRAMEBANK_DATA, or pass --source DIR."
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
