#!/usr/bin/env bash
# framebank's benchmark and comparison recipe on a lent GPU machine, under JAX and PyTorch.
#
#   bash benchmarks/device.sh wheels          # here, with network: what the GPU image lacks, in .whl/
#   bash benchmarks/device.sh time [ARGS]     # there: every method's time (benchmarks/run.py)
#   bash benchmarks/device.sh memory [ARGS]   # there: every method's GPU memory (benchmarks/run.py)
#   bash benchmarks/device.sh compare [ARGS]  # there: `framebank compare --quick` per backend
#
# The GPU image (see the device tool's KINDS.md) has Python 3.12, JAX, PyTorch,
# numpy, scipy, matplotlib, PyYAML and Keras's other needs, but no TensorFlow,
# no Keras and no network: Keras, its two missing needs, asteroid-filterbanks
# and the audio readers travel as wheels (.whl/ is git-ignored; name it in the
# device call's `carry`). ARGS go to run.py (e.g. --shapes stft25ms
# --precisions float32) or to `framebank compare`.
#
# Each phase works in /tmp/framebank-device/PHASE, stops itself after
# PHASE_LIMIT seconds (default 500, inside a device call's 600), and then packs
# that folder, its log included, into $OUT/PHASE.tgz: one file that comes back
# even when the run was cut short.
set -euo pipefail
cd "$(dirname "$0")/.."

# The versions the committed CPU results used, so the two compare; then the
# audio readers the recipe needs (soundfile's cffi and pycparser included).
WHEELS=(keras==3.15.1 namex==0.1.0 optree==0.20.0 asteroid-filterbanks==0.4.0
    soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0)
PYTHON_VERSION=${PYTHON_VERSION:-3.12}
PHASE_LIMIT=${PHASE_LIMIT:-500}

what=${1:-}
shift || true
out=${OUT:-/tmp/framebank-device-out}
work=/tmp/framebank-device

install_wheels() {
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "no wheels in .whl/: run 'bash benchmarks/device.sh wheels' here first" >&2
        exit 2
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/framebank-site .whl/*.whl
    export PYTHONPATH="/tmp/framebank-site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONUNBUFFERED=1
    # JAX takes 75% of the GPU at start otherwise; the recipe's memory runs and the
    # benchmark's run beside their parent.
    export XLA_PYTHON_CLIENT_PREALLOCATE=false
    mkdir -p "$out" "$work/$what"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
        >"$work/$what/gpu.csv" 2>&1 || true
}

# Run a command under the phase's time limit with its output logged, then pack the folder.
run_phase() {
    local status=0
    timeout "$PHASE_LIMIT" "$@" 2>&1 | tee -a "$work/$what/log.txt" || status=$?
    tar czf "$out/$what.tgz" -C "$work" "$what"
    echo "packed $out/$what.tgz (status $status)"
    return "$status"
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
    run_phase python3 benchmarks/run.py --backends jax,torch --no-memory --repeats 20 \
        --out "$work/time" "$@"
    ;;
memory)
    install_wheels
    run_phase python3 benchmarks/run.py --backends jax,torch --no-time \
        --memory-backends jax,torch --jobs 4 --out "$work/memory" "$@"
    ;;
compare)
    install_wheels
    run_phase bash -c 'for backend in jax torch; do
        KERAS_BACKEND=$backend python3 -m framebank.cli compare --quick \
            --out "$0/compare/$backend" "${@:1}" || exit
    done' "$work" "$@"
    ;;
*)
    echo "usage: bash benchmarks/device.sh wheels|time|memory|compare [arguments]" >&2
    exit 2
    ;;
esac
