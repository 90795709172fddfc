"""Print the toolkit layers' conformance table: each layer against its reference on real speech.

    python tools/toolkit_conformance.py            # Markdown table (the README's)

Each row: the largest absolute difference over two 1 s clips from data/, divided by the
largest absolute reference value. The layers run under the current Keras backend in float32.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import librosa
import numpy as np
from keras import ops

import framebank as fb
from framebank.audio import load_audio, read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_toolkit_layers import _torchaudio_mfcc  # noqa: E402 (one transcription, the tests')

RATE, N_FFT, HOP = 16000, 512, 128


def _speech(seconds: float = 1.0, batch: int = 2) -> np.ndarray:
    length = int(seconds * RATE)
    clips = [load_audio(c.path, RATE)[0] for c in read_manifest()]
    return np.stack([c[:length] for c in clips if len(c) >= length][:batch]).astype("float32")


def _per_example(fn, x):
    return np.stack([fn(example.T).T for example in x])


def _row(name: str, reference: str, got, want) -> str:
    got, want = np.asarray(got, "float64"), np.asarray(want, "float64")
    error = np.abs(got - want).max() / np.abs(want).max()
    return f"| `{name}` | {reference} | {error:.1e} |"


def rows() -> list[str]:
    """The table's rows, one a comparison."""
    x = _speech()
    mel = librosa.feature.melspectrogram(y=x, sr=RATE, n_fft=N_FFT, hop_length=HOP, n_mels=40)
    mel = np.transpose(mel, (0, 2, 1)).astype("float32")
    db = _per_example(librosa.power_to_db, mel).astype("float32")
    run = lambda layer, inputs: ops.convert_to_numpy(layer(inputs))  # noqa: E731
    stft = np.transpose(librosa.stft(x, n_fft=N_FFT, hop_length=HOP), (0, 2, 1))
    complex_view = run(fb.STFT(N_FFT, HOP), x)
    masked = complex_view * np.random.default_rng(0).uniform(size=complex_view.shape[:3])[..., None]
    masked_complex = (masked[..., 0] + 1j * masked[..., 1]).transpose(0, 2, 1)
    return [
        _row("PowerToDb()", "`librosa.power_to_db` (top_db=80)", run(fb.PowerToDb(), mel), db),
        _row(
            'PowerToDb(ref="max")',
            "`librosa.power_to_db(ref=np.max)` per example",
            run(fb.PowerToDb(ref="max"), mel),
            _per_example(lambda s: librosa.power_to_db(s, ref=np.max), mel),
        ),
        _row(
            "AmplitudeToDb()",
            "`librosa.amplitude_to_db`",
            run(fb.AmplitudeToDb(), np.sqrt(mel)),
            _per_example(librosa.amplitude_to_db, np.sqrt(mel)),
        ),
        _row(
            "MFCC(n_mfcc=20)",
            "`librosa.feature.mfcc(S=power_to_db(mel))`",
            run(fb.MFCC(), db),
            _per_example(lambda s: librosa.feature.mfcc(S=s), db),
        ),
        _row(
            'MFCC(convention="torchaudio")',
            "torchaudio `MFCC` after its mel (numpy transcription)",
            run(fb.MFCC(n_mfcc=20, convention="torchaudio"), mel[:1]),
            _torchaudio_mfcc(mel[0], 20, False)[None],
        ),
        _row(
            "Deltas()",
            "`librosa.feature.delta` (width 9, interp)",
            run(fb.Deltas(), db),
            librosa.feature.delta(db, axis=1),
        ),
        _row(
            "Deltas(order=2)",
            "`librosa.feature.delta(order=2)`",
            run(fb.Deltas(order=2), db),
            librosa.feature.delta(db, order=2, axis=1),
        ),
        _row("STFT(512, 128)", "`librosa.stft` (real part)", complex_view[..., 0], stft.real),
        _row("STFT(512, 128)", "`librosa.stft` (imaginary part)", complex_view[..., 1], stft.imag),
        _row(
            "ISTFT(512, 128)",
            "`librosa.istft` of a masked STFT",
            run(fb.ISTFT(N_FFT, HOP), masked.astype("float32")),
            librosa.istft(masked_complex, n_fft=N_FFT, hop_length=HOP),
        ),
        _row(
            "ISTFT(STFT(x))",
            "`x`",
            ops.convert_to_numpy(fb.ISTFT(N_FFT, HOP)(complex_view, length=x.shape[1])),
            x,
        ),
    ]


def main() -> None:
    print(f"backend: {keras.backend.backend()}; two 1 s speech clips from data/ at 16 kHz")
    print("| layer | reference | max error / largest reference value |")
    print("| --- | --- | --- |")
    print("\n".join(rows()))


if __name__ == "__main__":
    main()
