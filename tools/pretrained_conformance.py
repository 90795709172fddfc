"""The pretrained models' front ends against their references: the largest error of each, as a
fraction of the reference's largest value, on the inputs tests/test_pretrained_frontends.py
compares (speech from data/, the edge cases, the Kaldi option grid), for the README's table.

    python tools/pretrained_conformance.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    import keras
    import test_pretrained_frontends as t

    from framebank import frontends

    rate = t.RATE
    rows = {}
    # Whisper: speech (3 s, batch 2), silence, full scale, the shortest clip.
    for n_mels, name in ((80, "whisper"), (128, "whisper_v3")):
        clips = [
            t._noisy_speech(rate, 3 * rate, batch=2, level=1e-2),
            np.zeros((1, rate), "float32"),
            np.sign(t._noisy_speech(rate, rate, level=1e-2)),
            t._noisy_speech(rate, 201, level=1e-2),
        ]
        layer = frontends.WhisperLogMel(n_mels=n_mels)
        rows[name] = max(t._relative(t._numpy(layer(x)), t._whisper(x, n_mels)) for x in clips)
    # Kaldi: the option grid, 8 and 44.1 kHz, the edge cases.
    errors = []
    x = t._noisy_speech(rate, 8000)
    for options in t.GRID:
        got = t._numpy(frontends.KaldiFbank(scale=32768, **options)(x))[0]
        errors.append(t._relative(got, t._kaldi(32768 * x[0], rate, **options)))
    for other in (8000, 44100):
        for snip in (True, False):
            y = t._noisy_speech(other, other // 2)
            layer = frontends.KaldiFbank(other, snip_edges=snip, scale=32768, num_mel_bins=40)
            want = t._kaldi(32768 * y[0], other, snip_edges=snip, num_mel_bins=40)
            errors.append(t._relative(t._numpy(layer(y))[0], want))
    rows["kaldi_fbank"] = max(errors)
    # torchaudio's defaults (numpy transcription) and Keras's MelSpectrogram, with edge cases.
    errors, keras_errors = [], []
    for case in t.MEL_EDGE_CASES + ["speech"]:
        if case == "speech":
            other, y = rate, t._speech(samples=rate)
            z = t._noisy_speech(rate, rate, batch=2)
        else:
            other, y = t._mel_edge_case(case, 201, noisy=False)
            z = t._mel_edge_case(case, 1025, noisy=True)[1]
        if case != "silence":
            got = t._numpy(frontends.TorchaudioMel(sample_rate=other)(y))
            errors.append(t._relative(got, t._torchaudio_mel(y, rate=other)))
        want = np.swapaxes(t._numpy(keras.layers.MelSpectrogram(sampling_rate=other)(z)), 1, 2)
        keras_errors.append(t._relative(t._numpy(frontends.KerasMel(sampling_rate=other)(z)), want))
    rows["torchaudio_mel"], rows["keras_mel"] = max(errors), max(keras_errors)
    for name, error in rows.items():
        print(f"{name}: {error:.2g} of the largest value")


if __name__ == "__main__":
    main()
