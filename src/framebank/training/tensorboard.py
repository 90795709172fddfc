"""TensorBoard logs written without TensorFlow: scalars and filter images, one file an epoch.

The recipes log under every Keras backend, and under JAX or PyTorch TensorFlow may be absent,
so this module writes TensorBoard's event-file format itself (nothing else of TensorFlow's is
needed): records of ``[length, masked CRC-32C of length, Event, masked CRC-32C of Event]``
around ``Event`` protocol buffers that carry scalar and PNG image summaries, the few fields
used encoded by hand.

Each epoch's events go to a file of their own, ``events.out.tfevents.<epoch>.framebank``,
written atomically once the epoch is done (TensorBoard reads every ``*tfevents*`` file of a
folder, in name order). So a killed run leaves only whole epochs, and a resumed run rewrites
the epoch it redoes instead of logging it twice: the logs resume as the checkpoints do.

Writing a log reads the model's weights and nothing else: it changes no number of the run.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from framebank.files import atomic_write

__all__ = ["EpochEvents", "crc32c", "filter_image", "log_epoch", "png_gray"]

# --------------------------------------------------------------------------- record framing


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord files use it."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked(crc32c(length)))
        + data
        + struct.pack("<I", _masked(crc32c(data)))
    )


# --------------------------------------------------------------------------- protocol buffers


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes_field(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _int_field(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(int(value))


def _event(step: int, wall_time: float, **what: bytes) -> bytes:
    """``tensorflow.Event``: wall_time 1 (double), step 2, file_version 3, summary 5."""
    body = _key(1, 1) + struct.pack("<d", wall_time) + _int_field(2, step)
    if "file_version" in what:
        body += _bytes_field(3, what["file_version"])
    if "summary" in what:
        body += _bytes_field(5, what["summary"])
    return body


def _scalar_value(tag: str, value: float) -> bytes:
    """``Summary.Value``: tag 1, simple_value 2 (float)."""
    return _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", float(value))


def _image_value(tag: str, png: bytes, height: int, width: int) -> bytes:
    """``Summary.Value`` with ``image`` 4: height 1, width 2, colorspace 3, encoded 4."""
    image = _int_field(1, height) + _int_field(2, width) + _int_field(3, 1) + _bytes_field(4, png)
    return _bytes_field(1, tag.encode()) + _bytes_field(4, image)


# --------------------------------------------------------------------------- images


def png_gray(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` ``[height, width]`` (uint8)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels], axis=1)  # filter 0
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def filter_image(basis: np.ndarray, floor_db: float = 60.0, min_width: int = 256) -> np.ndarray:
    """The magnitude response of each basis vector, as a picture: ``basis``
    ``[frame_len, num_basis]`` in, ``uint8 [frequency, filter]`` out (low frequencies at
    the bottom, white the loudest, ``floor_db`` below it black), columns repeated up to
    ``min_width`` pixels."""
    basis = np.asarray(basis, dtype="float64")
    if basis.ndim != 2 or 0 in basis.shape:
        raise ValueError(f"`basis` must be [frame_len, num_basis]. Received shape {basis.shape}")
    n_fft = max(256, 1 << int(np.ceil(np.log2(basis.shape[0]))))
    magnitude = np.abs(np.fft.rfft(basis, n=n_fft, axis=0))
    db = 20 * np.log10(np.maximum(magnitude, 1e-12))
    top = db.max() if np.isfinite(db.max()) else 0.0
    scaled = np.clip((db - (top - floor_db)) / floor_db, 0.0, 1.0)
    pixels = np.round(255 * scaled[::-1]).astype(np.uint8)
    repeat = max(1, -(-min_width // pixels.shape[1]))
    return np.repeat(pixels, repeat, axis=1)


# --------------------------------------------------------------------------- one epoch's file


class EpochEvents:
    """One epoch's events for one run's folder, written in one atomic file by :meth:`write`.

    Args:
        folder: the run's TensorBoard folder (``<results>/tensorboard/<run>``).
        epoch: the epoch, which names the file (a redone epoch replaces it).
    """

    def __init__(self, folder: str | Path, epoch: int) -> None:
        self.path = Path(folder) / f"events.out.tfevents.{epoch:06d}.framebank"
        self._events = [_event(0, time.time(), file_version=b"brain.Event:2")]

    def scalar(self, tag: str, value: float, step: int) -> None:
        value_ = _scalar_value(tag, value)
        self._events.append(_event(step, time.time(), summary=_bytes_field(1, value_)))

    def image(self, tag: str, pixels: np.ndarray, step: int) -> None:
        """A greyscale image ``uint8 [height, width]``."""
        height, width = pixels.shape
        value = _image_value(tag, png_gray(pixels), height, width)
        self._events.append(_event(step, time.time(), summary=_bytes_field(1, value)))

    def write(self) -> None:
        data = b"".join(_record(event) for event in self._events)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                handle.write(data)

        atomic_write(self.path, write)


def learnable_basis(encoder: Any) -> np.ndarray | None:
    """``encoder``'s basis ``[frame_len, num_basis]`` as numpy, or None when its filterbank
    has nothing to learn (a fixed mel front end, a frozen encoder)."""
    from keras import ops

    filterbank = encoder.filterbank
    if not (encoder.trainable and filterbank.trainable_weights):
        return None
    return np.asarray(ops.convert_to_numpy(filterbank.filters()))


def log_epoch(
    folder: str | Path,
    epoch: int,
    step_losses: list[float],
    scalars: dict[str, float],
    encoder: Any = None,
    first_step: int = 1,
) -> None:
    """Write one epoch's file: the loss of each step (``train/loss``, steps numbered from
    ``first_step`` within the run), ``scalars`` and the encoder's filter image at the
    epoch's last step (epoch 0: the initial filters at step 0)."""
    events = EpochEvents(folder, epoch)
    for offset, loss in enumerate(step_losses):
        events.scalar("train/loss", loss, first_step + offset)
    last = first_step + len(step_losses) - 1 if step_losses else 0
    for tag, value in scalars.items():
        events.scalar(tag, value, last)
    basis = learnable_basis(encoder) if encoder is not None else None
    if basis is not None:
        events.image("filters/magnitude_response_db", filter_image(basis), last)
    events.write()
