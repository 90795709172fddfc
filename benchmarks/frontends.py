"""Complete front ends: forward plus backward step time as a ratio to LogMel's, one run.

Batch 16 x 1 s at 16 kHz (the issue's case), the gradient of ``0.5 * sum(y**2)`` with
respect to every trainable weight and the input (a front end inside a model), compiled
(TensorFlow: ``tf.function`` graph; JAX: ``jax.jit``), each backend in its own process,
steps timed in interleaved rounds (``worker.time_interleaved``) so that all see the same
load. Rows:

* the ready-made front ends (``framebank.frontends``) with ``method="auto"``, the front
  ends of pretrained models (at 16 kHz) fixed, and Whisper's and Kaldi's learnable;
* LogMel's basis as a dense product (``matmul``) beside ``auto``'s FFT (``rfft``), and a
  log-mel written by hand with ``keras.ops.stft`` with LogMel's parameters;
* LEAF (its band-limited path, the default) beside its stride-1 definition with the
  filters through the FFT (``band_limited=False``, ``fft_conv``) and as a stride-1
  convolution (``strided_conv``, LEAF's own design);
* PCENMel with PCEN's smoother as a sequential scan over frames (``keras.ops.scan``,
  LEAF's ``tf.scan``) beside the parallel one;
* LEAF's whole design transcribed (stride-1 ``conv``, Gaussian pooling, sequential sPCEN);
* EfficientLEAF (8G-opt, LogTBN in training mode: batch statistics).

    python benchmarks/frontends.py                       # TensorFlow and JAX
    python benchmarks/frontends.py --backends jax --repeats 5
    python benchmarks/frontends.py --shape 8000,0.25,32  # the language-ID recipe's step
    python benchmarks/frontends.py --rows stft,PCENMel    # the fixed front ends only

Writes ``benchmarks/results/frontends.csv`` and ``frontends.md`` (another ``--shape``:
``frontends_8000hz_0.25s_b32.*``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BATCH, SECONDS, RATE = 16, 1.0, 16000
ROWS: list[str] = []  # --rows: only the rows whose name contains one of these


def _match(pattern: str, name: str) -> bool:
    """``--rows`` entries: a part of a row's name, or ``=name`` for that row alone."""
    return name == pattern[1:] if pattern.startswith("=") else pattern in name


def _speech() -> np.ndarray:
    """``BATCH`` chunks of ``SECONDS`` of real speech from data/, at ``RATE`` Hz."""
    from framebank.audio import load_audio, read_manifest

    chunks = []
    length = int(SECONDS * RATE)
    for clip in read_manifest():
        samples, _ = load_audio(clip.path, RATE)
        if len(samples) >= length:
            chunks.append(samples[:length])
        if len(chunks) == BATCH:
            break
    return np.stack(chunks).astype("float32")


def _sequential_pcen(pcen):
    """The same PCEN with its smoother as a per-frame scan: LEAF's ``tf.scan``."""
    from keras import ops

    from framebank.postprocessing import pcen as pcen_module

    def smoother(x, smooth_coef, initial_state):
        def step(state, frame):
            new = smooth_coef * frame + (1.0 - smooth_coef) * state
            return new, new

        _, states = ops.scan(step, ops.cast(initial_state, x.dtype), ops.transpose(x, (1, 0, 2)))
        return ops.transpose(states, (1, 0, 2))

    original = pcen_module.exponential_moving_average

    def call(x):
        pcen_module.exponential_moving_average = smoother
        try:
            return pcen(x)
        finally:
            pcen_module.exponential_moving_average = original

    return call


def _stft_log_mel(like):
    """A log-mel written by hand with ``keras.ops.stft``, with ``like``'s (a LogMel) parameters:
    window, hop, DFT size, mel filters, eps; centred (``ops.stft`` pads by reflection)."""
    from keras import ops

    from framebank.postprocessing.mel import mel_weights

    options = like.get_config()
    encoder = like.encoder
    fft_length = encoder.filterbank.fft_length
    mel = mel_weights(RATE, fft_length, options["n_filters"]).astype("float32")

    def log_mel(x):
        real, imag = ops.stft(x, encoder.frame_len, encoder.hop, fft_length, window="hann")
        return ops.log(options["eps"] + ops.matmul(real * real + imag * imag, mel))

    return log_mel


def build_rows() -> dict:
    """``{row name: (fn, variables)}`` for the running backend."""
    import keras

    import framebank as fb
    from framebank import frontends

    rows = {}

    def add(name, layer, fn=None):
        layer(np.zeros((1, int(SECONDS * RATE)), "float32"))  # build
        rows[name] = (fn or layer, list(layer.trainable_variables))

    add("LogMel", frontends.LogMel(RATE))
    add("LogMel (matmul)", frontends.LogMel(RATE, method="matmul"))
    rows["keras.ops.stft log-mel (hand-written)"] = (_stft_log_mel(frontends.LogMel(RATE)), [])
    pcen_mel = frontends.PCENMel(RATE)
    add("PCENMel", pcen_mel)
    sequential = frontends.PCENMel(RATE)
    scan = _sequential_pcen(sequential.postprocessing[-1])
    add(
        "PCENMel (sequential PCEN)",
        sequential,
        lambda x: scan(sequential.postprocessing[0](sequential.encoder(x))),
    )
    add("LEAF", frontends.LEAF(RATE))
    add("LEAF (stride-1 fft_conv)", frontends.LEAF(RATE, band_limited=False))
    add("LEAF (stride-1 conv)", frontends.LEAF(RATE, band_limited=False, method="strided_conv"))
    efficient = frontends.EfficientLEAF(RATE)
    add("EfficientLEAF", efficient, lambda x: efficient(x, training=True))
    add("TDFilterbanks", frontends.TDFilterbanks(RATE))
    add("SincNet", frontends.SincNet(RATE))
    if RATE == 16000:  # the front ends of pretrained models, fixed, then one learnable
        for name in ("whisper", "kaldi_fbank", "ast", "beats", "torchaudio_mel", "keras_mel"):
            add(name, frontends.FRONTENDS[name]())
        add("whisper (learnable=True)", frontends.WhisperLogMel(learnable=True))
        add("kaldi_fbank (learnable=True)", frontends.KaldiFbank(learnable=True))
    leaf = frontends.LEAF(RATE, band_limited=False, method="strided_conv")
    leaf(np.zeros((1, int(SECONDS * RATE)), "float32"))
    scan_leaf = _sequential_pcen(leaf.postprocessing[-1])

    def transcription(x):
        y = leaf.encoder(x)
        for step in leaf.postprocessing[:-1]:
            y = step(y)
        return scan_leaf(y)

    rows["LEAF transcribed (stride-1 conv, sequential sPCEN)"] = (
        transcription,
        list(leaf.trainable_variables),
    )
    del fb, keras
    return rows


def run_parts(repeats: int) -> list[dict]:
    """LEAF's step cut after each piece: the encoder alone, then each layer added."""
    import keras
    import worker

    from framebank import frontends

    x = _speech()
    leaf = frontends.LEAF(RATE)
    leaf(x[:1])

    def upto(count):
        def partial(signal):
            y = leaf.encoder(signal)
            for step in leaf.postprocessing[:count]:
                y = step(y)
            return y

        return partial

    names = ["encoder", *(f"+ {step.name}" for step in leaf.postprocessing)]
    steps = {
        name: worker.make_step(upto(k), list(leaf.trainable_variables), x, "weights+input", "graph")
        for k, name in enumerate(names)
    }
    timed = worker.time_interleaved(steps, repeats, budget_s=300)
    return [
        {
            "backend": keras.backend.backend(),
            "LEAF up to": name,
            "ms": round(timed[name][0] * 1e3, 1),
        }
        for name in names
    ]


def run_backend(repeats: int) -> list[dict]:
    import keras
    import worker

    x = _speech()
    rows = build_rows()
    if ROWS:
        rows = {name: row for name, row in rows.items() if any(_match(r, name) for r in ROWS)}
    steps = {
        name: worker.make_step(fn, variables, x, "weights+input", "graph")
        for name, (fn, variables) in rows.items()
    }
    timed = worker.time_interleaved(steps, repeats, budget_s=120)
    base = timed["LogMel"][0]
    from framebank.device import device_description

    return [
        {
            "backend": keras.backend.backend(),
            "device": device_description()[1],
            "frontend": name,
            "ms": round(sec * 1e3, 2),
            "ratio_to_logmel": round(sec / base, 3),
            "steps": count,
        }
        for name, (sec, count, _) in timed.items()
    ]


def main(argv: list[str] | None = None) -> None:
    global RATE, SECONDS, BATCH, ROWS  # the step's shape, for this process and its workers
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--parameters", action="store_true", help="print each front end's parameter counts"
    )
    parser.add_argument(
        "--parts", action="store_true", help="time LEAF cut after each piece, per backend"
    )
    parser.add_argument(
        "--shape",
        default=f"{RATE},{SECONDS:g},{BATCH}",
        help="sample rate (Hz), seconds and batch of the step (default: %(default)s)",
    )
    parser.add_argument(
        "--rows",
        default="",
        help="comma-separated parts of row names to time, or =name for one row (LogMel always)",
    )
    args = parser.parse_args(argv)
    ROWS = [r for r in args.rows.split(",") if r] + (["LogMel"] if args.rows else [])
    rate, seconds, batch = args.shape.split(",")
    RATE, SECONDS, BATCH = int(rate), float(seconds), int(batch)
    if args.parameters:
        from framebank import frontends

        for name, cls in frontends.FRONTENDS.items():
            # A pretrained model's front end has its own rate and options.
            pretrained = issubclass(cls, frontends.Pretrained)
            layer = cls() if pretrained else cls(sample_rate=RATE)
            layer(np.zeros((1, RATE), "float32"))
            fixed = sum(int(np.prod(v.shape)) for v in layer.non_trainable_variables)
            learned = sum(int(np.prod(v.shape)) for v in layer.trainable_variables)
            print(f"{name}: {learned} trainable, {fixed} fixed")
        return
    if args.worker:
        print(json.dumps((run_parts if args.parts else run_backend)(args.repeats)))
        return
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(
            [sys.executable, __file__, "--worker", "--repeats", str(args.repeats),
             "--shape", args.shape, "--rows", args.rows]
            + (["--parts"] if args.parts else []),
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        rows += json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{backend}: done", flush=True)
    if args.parts:
        for row in rows:
            print(row)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    default = args.shape == parser.get_default("shape")
    stem = "frontends" if default else f"frontends_{RATE}hz_{SECONDS:g}s_b{BATCH}"
    if args.rows:  # a subset of the rows: a file of its own, named by the subset
        stem += "_rows_" + re.sub(r"[^A-Za-z0-9]+", "-", args.rows).strip("-")
    with open(out / f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"Front ends, forward plus backward (weights and input), batch {BATCH} x {SECONDS:g} s "
        f"at {RATE} Hz, median ms and ratio to LogMel in the same run; "
        f"`python benchmarks/frontends.py --repeats {args.repeats}"
        + ("" if default else f" --shape {args.shape}")
        + (f" --rows {args.rows}" if args.rows else "")
        + "`.",
        "",
        "| backend | device | front end | ms | x LogMel |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['device']} | {r['frontend']} | {r['ms']:.1f} | "
            f"{r['ratio_to_logmel']:.2f}x |"
        )
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
