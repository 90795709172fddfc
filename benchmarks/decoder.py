"""The Decoder's synthesis of a fixed Fourier basis: the inverse FFT against the dense product.

An STFT resynthesis (a fixed ``fourier`` encoder, Hann window, ``center=True``) decoded by a
``tied`` and a ``pinv`` Decoder, each with ``method="rfft"`` (what ``auto`` picks: ``irfft``
of each frame's coefficients, windowed, overlap-added) and the dense synthesis products
(``matmul``, ``dense``) and the strided transposed convolution (``strided_conv``). The step:
coefficients ``[batch, frames, 2 * (fft_length // 2 + 1)]`` to a waveform, forward plus the
gradient of ``0.5 * sum(y**2)`` with respect to the coefficients (the basis is fixed),
compiled (TensorFlow: ``tf.function`` graph; JAX: ``jax.jit``), each backend in its own
process, steps timed in interleaved rounds (``worker.time_interleaved``). Ratios are to the
same decoder kind's ``matmul`` row, in the same run.

    python benchmarks/decoder.py                        # TensorFlow and JAX, 16 x 1 s at 16 kHz
    python benchmarks/decoder.py --shape 8000,0.25,32 --frame 256,80,256  # language ID's step

Writes ``benchmarks/results/decoder.csv`` and ``decoder.md`` (another shape: its own stem).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

METHODS = ("rfft", "matmul", "dense", "strided_conv")
KINDS = ("tied", "pinv")


def run_backend(shape: tuple, frame: tuple, repeats: int) -> list[dict]:
    """``[{backend, device, kind, method, ms, ratio_to_matmul}]`` for the running backend."""
    import keras
    import worker

    import framebank as fb
    from framebank.device import device_description

    rate, seconds, batch = shape
    frame_len, hop, fft_length = frame
    encoder = fb.Encoder(
        frame_len=frame_len, hop=hop, filterbank="fourier", window="hann",
        fft_length=fft_length, center=True, trainable=False,
    )  # fmt: skip
    signal = np.random.default_rng(0).standard_normal((batch, int(rate * seconds)))
    coefficients = keras.ops.convert_to_numpy(encoder(signal.astype("float32")))
    steps = {}
    for kind in KINDS:
        for method in METHODS:
            decoder = fb.Decoder(encoder, kind=kind, method=method)
            decoder(coefficients[:1])  # build
            steps[(kind, method)] = worker.make_step(
                decoder, [], coefficients, "weights+input", "graph"
            )
    timed = worker.time_interleaved(steps, repeats, budget_s=120)
    device = device_description()[1]
    return [
        {
            "backend": keras.backend.backend(),
            "device": device,
            "kind": kind,
            "method": method,
            "ms": round(sec * 1e3, 3),
            "ratio_to_matmul": round(sec / timed[(kind, "matmul")][0], 3),
            "steps": count,
        }
        for (kind, method), (sec, count, _) in timed.items()
    ]


def _table(rows: list[dict], command: str, shape: tuple, frame: tuple) -> str:
    rate, seconds, batch = shape
    lines = [
        f"Decoder synthesis of a fixed windowed DFT (frame_len/hop/fft_length "
        f"{'/'.join(map(str, frame))}, Hann, centred), forward plus backward (coefficients), "
        f"batch {batch} x {seconds:g} s at {rate} Hz, median ms and ratio to the same kind's "
        f"`matmul` in the same run; `{command}`.",
        "",
        "| backend | device | kind | method | ms | x matmul |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['device']} | {r['kind']} | {r['method']} | {r['ms']:.2f} | "
            f"{r['ratio_to_matmul']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--shape", default="16000,1,16", help="rate, seconds, batch")
    parser.add_argument("--frame", default="400,160,512", help="frame_len, hop, fft_length")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rate, seconds, batch = args.shape.split(",")
    shape = (int(rate), float(seconds), int(batch))
    frame = tuple(int(v) for v in args.frame.split(","))
    if args.worker:
        print(json.dumps(run_backend(shape, frame, args.repeats)))
        return
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(
            [sys.executable, __file__, "--worker", "--repeats", str(args.repeats),
             "--shape", args.shape, "--frame", args.frame],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        rows += json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{backend}: done", flush=True)
    default = (args.shape, args.frame) == ("16000,1,16", "400,160,512")
    stem = "decoder" if default else f"decoder_{shape[0]}hz_{shape[1]:g}s_b{shape[2]}_{frame[0]}"
    command = f"python benchmarks/decoder.py --repeats {args.repeats}" + (
        "" if default else f" --shape {args.shape} --frame {args.frame}"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = _table(rows, command, shape, frame)
    (out / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
