"""How far Adam moves a learnable mel's bands, relative to each band's own peak.

Adam moves every weight by about the learning rate a step, whatever the weight's size, so the
unit a weight is stored in sets how fast it learns. Slaney-normalised mel bands (``LogMel``,
``WhisperLogMel``, librosa's default) peak at 1.7e-3 to 2.6e-2; HTK-style bands (the Kaldi
presets, ``keras_mel``) at 1. Each band is stored divided by a power of two near its peak
(``framebank.postprocessing.mel.band_units``), so that Adam moves it relative to its size. This
trains each front end's mel weights
(``learnable="mel"``) through a pooled linear head on speech from ``data/`` against a fixed
random target (mean squared error) and prints, every 10 steps, the median over bands of each
band's largest change divided by its initial peak, and the bands whose weights are all zero.

    python benchmarks/mel_learning_rate.py [--steps 50]
"""

from __future__ import annotations

import argparse

import keras
import numpy as np

import framebank as fb
from framebank import audio
from framebank.postprocessing.mel import mel_matrix

CASES = (
    ("LogMel(16000, learnable='mel')", lambda: fb.frontends.LogMel(16000, learnable="mel"), 1e-3),
    ("LogMel(16000, learnable='mel')", lambda: fb.frontends.LogMel(16000, learnable="mel"), 1e-5),
    (
        "WhisperLogMel(learnable='mel')",
        lambda: fb.frontends.WhisperLogMel(learnable="mel", max_over="example"),
        1e-4,
    ),
    ("KaldiFbank(learnable='mel')", lambda: fb.frontends.KaldiFbank(learnable="mel"), 1e-3),
)


def mel_now(frontend: keras.Layer) -> np.ndarray:
    """The mel weights the front end multiplies by now (``mel * mel_unit`` where it has units)."""
    (layer,) = [step for step in frontend.postprocessing if hasattr(step, "mel")]
    return np.array(keras.ops.convert_to_numpy(mel_matrix(layer)), dtype=np.float64)


def run(name: str, frontend: keras.Layer, rate: float, speech: np.ndarray, steps: int) -> None:
    keras.utils.set_random_seed(0)  # the head's initial weights: the same run each time
    inputs = keras.Input(speech.shape[1:])
    pooled = keras.layers.GlobalAveragePooling1D()(frontend(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(pooled))
    model.compile(keras.optimizers.Adam(rate), "mse")
    target = np.random.default_rng(0).standard_normal((len(speech), 4)).astype("float32")
    initial = mel_now(frontend)
    peaks = initial.max(axis=0)
    for done in range(10, steps + 1, 10):
        model.fit(speech, target, epochs=10, batch_size=len(speech), verbose=0)
        now = mel_now(frontend)
        change = np.median(np.abs(now - initial).max(axis=0) / peaks)
        dead = int((now.max(axis=0) == 0).sum())
        print(
            f"{name:34s} Adam {rate:.0e}  steps {done:4d}  median change / peak {change:.3f}  "
            f"zero bands {dead} of {now.shape[1]}  peaks {peaks.min():.1e}..{peaks.max():.1e}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="Adam steps per case (x10)")
    args = parser.parse_args()
    clips = audio.load_clips(audio.read_manifest()[:8], 16000)
    speech = np.stack([samples[:16000] for _, samples in clips]).astype("float32")
    for name, make, rate in CASES:
        run(name, make(), rate, speech, args.steps)


if __name__ == "__main__":
    main()
