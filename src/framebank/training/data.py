"""What every recipe's data preparation shares: the clips of a source, each split read and
cut into audible chunks, and the refusal of a source with no usable audio.

A recipe chooses its splits and what it keeps of each (labels, the recording of each
chunk, a noisy copy); the reading and chunking are these, the same for every recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from framebank.training import io

__all__ = ["check_loaded", "clip_indices", "source_clips", "split_chunks"]


def source_clips(source: str | Path | None) -> list:
    """The :class:`~framebank.audio.Clip` s of ``source`` (a folder), else of the shipped
    corpus; a missing or unreadable source is a :class:`~framebank.training.io.RecipeInputError`."""
    from framebank.audio import read_manifest, scan_folder

    try:
        return scan_folder(source) if source else read_manifest()
    except (ValueError, FileNotFoundError) as err:
        raise io.RecipeInputError(str(err)) from err


def split_chunks(members: list, sample_rate: int, length: int, report: Any) -> tuple:
    """The audible ``[n, length]`` chunks of the clips ``members`` read at ``sample_rate``,
    and the clip each chunk came from (a list of ``n``); ``report`` (a
    :class:`~framebank.audio.LoadReport`) counts what was read and skipped."""
    from framebank.audio import audible, chunk_clips, load_clips

    chunks, owners = chunk_clips(load_clips(members, sample_rate, report), length)
    keep = audible(chunks)
    return chunks[keep], [owner for owner, kept in zip(owners, keep, strict=True) if kept]


def check_loaded(report: Any, source: str | Path | None) -> None:
    """Refuse a source of which no file could be used, saying how many were skipped."""
    if report.loaded == 0:
        raise io.RecipeInputError(
            f"no usable audio: {len(report.skipped)} file(s) skipped as unreadable, empty or "
            f"non-finite in {source or 'the corpus'}"
        )


def clip_indices(members: list, owners: list) -> np.ndarray:
    """The index in ``members`` of each chunk's clip (``owners``): chunks of one recording
    are not independent, so the paired tests resample recordings."""
    index = {id(clip): i for i, clip in enumerate(members)}
    return np.array([index[id(clip)] for clip in owners], "int64")
