#!/usr/bin/env bash
# framebank's benchmark on a lent GPU machine: times and device memory under JAX and PyTorch.
#
#   bash benchmarks/device.sh wheels          # here, with network: what the GPU image lacks, in .whl/
#   bash benchmarks/device.sh time [ARGS]     # there: every method's time, both backends
#   bash benchmarks/device.sh memory [ARGS]   # there: every method's GPU memory, both backends
#
# The GPU image (see the device tool's KINDS.md) has Python 3.12, JAX, PyTorch,
# numpy, matplotlib and Keras's other needs, but no TensorFlow, no Keras and no
# network: Keras, namex, optree and asteroid-filterbanks travel as wheels (.whl/
# is git-ignored; name it in the device call's `carry`). Results go to $OUT (the
# device tool's folder that comes back), else /tmp/framebank-device. ARGS go to
# benchmarks/run.py (e.g. --shapes stft25ms --precisions float32).
set -euo pipefail
cd "$(dirname "$0")/.."

# The versions the committed CPU results used, so the two compare.
WHEELS=(keras==3.15.1 namex==0.1.0 optree==0.20.0 asteroid-filterbanks==0.4.0)
PYTHON_VERSION=${PYTHON_VERSION:-3.12}

what=${1:-}
shift || true
out=${OUT:-/tmp/framebank-device}

install_wheels() {
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "no wheels in .whl/: run 'bash benchmarks/device.sh wheels' here first" >&2
        exit 2
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/framebank-site .whl/*.whl
    export PYTHONPATH="/tmp/framebank-site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONUNBUFFERED=1
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/gpu.csv" 2>&1 || true
}

case "$what" in
wheels)
    rm -rf .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    ls -l .whl
    ;;
time)
    install_wheels
    # Steps on a GPU take milliseconds: more repeats for the same budget.
    python3 benchmarks/run.py --backends jax,torch --no-memory --repeats 20 \
        --out "$out/time" "$@" 2>&1 | tee "$out/time.log"
    ;;
memory)
    install_wheels
    python3 benchmarks/run.py --backends jax,torch --no-time --memory-backends jax,torch \
        --jobs 4 --out "$out/memory" "$@" 2>&1 | tee "$out/memory.log"
    ;;
*)
    echo "usage: bash benchmarks/device.sh wheels|time|memory [run.py arguments]" >&2
    exit 2
    ;;
esac
