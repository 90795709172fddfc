"""method="auto", the pathological-method warning, mixed precision, and the benchmark's plumbing."""

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from helpers import methods_for, value_and_grads
from keras import ops

import framebank as fb
from framebank.methods import resolve_method

ALL_METHODS = sorted(fb.METHODS)
BACKENDS = ("tensorflow", "jax", "torch")
SHAPES = [(16, 8, 512), (32, 16, 512), (400, 160, 256), (80, 80, 256), (7, 3, 5), (1, 1, 1)]
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("jit_compile", [None, False, True])
@pytest.mark.parametrize("frame_len, hop, num_basis", SHAPES)
def test_auto_picks_a_registered_method_deterministically(
    backend, device, jit_compile, frame_len, hop, num_basis
):
    kwargs = dict(backend=backend, device=device, jit_compile=jit_compile)
    picked = resolve_method("auto", frame_len, hop, num_basis, **kwargs)
    assert picked in fb.METHODS
    assert picked == resolve_method("auto", frame_len, hop, num_basis, **kwargs)
    framed = resolve_method("auto", frame_len, None, num_basis, needs_frames=True, **kwargs)
    assert fb.METHODS[framed].needs_frames, framed


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_auto_never_picks_method_1_under_tensorflow_xla(device):
    for frame_len, hop, num_basis in SHAPES:
        for needs_frames in (False, True):
            picked = resolve_method(
                "auto", frame_len, hop, num_basis, backend="tensorflow", device=device,
                jit_compile=True, needs_frames=needs_frames,
            )  # fmt: skip
            assert picked != "reshape_conv"


def test_auto_under_torch_cpu_skips_frames_only_where_they_outweigh_the_output():
    """The torch rule: strided_conv where frames (~frame_len) cost more than the output's
    transposes (~num_basis) and overlap, else matmul; a caller with frames gets matmul."""
    torch_cpu = dict(backend="torch", device="cpu", jit_compile=False)
    assert resolve_method("auto", 400, 160, 256, **torch_cpu) == "strided_conv"
    assert resolve_method("auto", 256, 128, 256, **torch_cpu) == "strided_conv"
    assert resolve_method("auto", 255, 128, 256, **torch_cpu) == "matmul"  # frames < output
    assert resolve_method("auto", 16, 8, 512, **torch_cpu) == "matmul"
    assert resolve_method("auto", 400, 400, 256, **torch_cpu) == "matmul"  # framing is a reshape
    framed = resolve_method("auto", 400, None, 256, needs_frames=True, **torch_cpu)
    assert framed == "matmul"
    # torch's float16/bfloat16 convolutions on the CPU are slow: matmul there.
    for dtype in ("float16", "bfloat16"):
        assert resolve_method("auto", 400, 160, 256, compute_dtype=dtype, **torch_cpu) == "matmul"
    # Elsewhere the shape does not change the pick.
    for backend, jit in (("tensorflow", False), ("tensorflow", True), ("jax", True)):
        assert resolve_method("auto", 400, 160, 256, backend=backend, device="cpu",
                              jit_compile=jit) == "matmul"  # fmt: skip


def test_layers_default_to_auto_and_record_the_pick():
    encoder = fb.Encoder(32, 16, 8)
    assert encoder.get_config()["method"] == resolve_method("auto", 16, 8, 32)
    # A layer's own dtype policy, not the global one, is what auto reads.
    mixed = fb.Encoder(256, 400, 160, dtype="mixed_float16")
    assert mixed.method.name == resolve_method("auto", 400, 160, 256, compute_dtype="float16")
    projection = fb.FrameProjection(32)
    expected = resolve_method("auto", None, None, 32, needs_frames=True)
    assert projection.get_config()["method"] == expected


def test_concrete_methods_pass_through():
    for name in ALL_METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert resolve_method(name, 16, 8, 32) == name
    instance = fb.get_method("matmul")
    assert resolve_method(instance, 16, 8, 32) is instance
    with pytest.raises(ValueError, match="Unknown method 'fastest'"):
        resolve_method("fastest", 16, 8, 32)
    with pytest.raises(TypeError, match="method=3"):
        resolve_method(3, 16, 8, 32)


def test_method_1_under_xla_warns_naming_the_faster_method():
    for backend in ("tensorflow", "jax"):
        with pytest.warns(UserWarning, match="reshape_conv.*XLA.*method='matmul'"):
            resolve_method("reshape_conv", 80, 80, 64, backend=backend, jit_compile=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where Method 1 is not pathological
        resolve_method("reshape_conv", 80, 80, 64, backend="torch", jit_compile=False)
        resolve_method("reshape_conv", 80, 80, 64, backend="tensorflow", jit_compile=False)
        resolve_method("matmul", 80, 80, 64, backend="tensorflow", jit_compile=True)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="no XLA under torch")
def test_layers_warn_for_method_1_under_xla_backends():
    with pytest.warns(UserWarning, match="method='matmul'"):
        fb.Encoder(8, 16, 8, method="reshape_conv")
    with pytest.warns(UserWarning, match="method='matmul'"):
        fb.FrameProjection(8, method="reshape_conv")


def test_encoder_auto_records_the_concrete_method_and_reloads(tmp_path):
    encoder = fb.Encoder(32, 16, 8, method="auto")
    expected = resolve_method("auto", 16, 8, 32)
    assert encoder.method.name == expected
    assert encoder.get_config()["method"] == expected

    signal = np.random.default_rng(0).standard_normal((2, 400)).astype("float32")
    model = keras.Sequential([keras.Input((400,)), encoder])
    want = ops.convert_to_numpy(model(signal))
    path = tmp_path / "auto.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].method.name == expected
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(signal)), want, rtol=1e-6, atol=1e-6)


def test_frame_projection_auto_picks_a_frame_method():
    layer = fb.FrameProjection(24, method="auto")
    assert layer.method.needs_frames
    assert layer.get_config()["method"] == layer.method.name
    frames = np.ones((2, 5, 40), "float32")
    assert tuple(layer(frames).shape) == (2, 5, 24)


# --------------------------------------------------------------------------- mixed precision


@pytest.fixture
def policy():
    """Set a global dtype policy for one test, then restore float32."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


# float16 keeps 11 significant bits, bfloat16 8: tolerances relative to the largest value.
TOLERANCE = {"mixed_float16": 4e-3, "mixed_bfloat16": 3e-2}


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("method", methods_for("free"))
def test_every_method_works_under_mixed_precision(policy, name, method):
    rng = np.random.default_rng(3)
    signal = rng.standard_normal((2, 300)).astype("float32")
    basis = (rng.standard_normal((24, 16)) / np.sqrt(24)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = fb.Encoder(16, 24, 10, method=method)
        reference.build(signal.shape)
        reference.set_weights([basis])
        want = ops.convert_to_numpy(reference(signal))
        _, (want_input_grad,), (want_grad,) = value_and_grads(
            lambda x: ops.sum(ops.square(reference(x))), [signal], reference.trainable_variables
        )

        policy(name)
        encoder = fb.Encoder(16, 24, 10, method=method)
        encoder.build(signal.shape)
    encoder.set_weights([basis])
    compute = keras.mixed_precision.global_policy().compute_dtype
    assert all(v.dtype == "float32" for v in encoder.weights)  # weights stay float32
    out = encoder(signal)
    assert keras.backend.standardize_dtype(out.dtype) == compute
    got = ops.convert_to_numpy(ops.cast(out, "float32"))
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= TOLERANCE[name] * scale, method

    def loss(x):
        return ops.sum(ops.square(ops.cast(encoder(x), "float32")))

    _, (input_grad,), (grad,) = value_and_grads(loss, [signal], encoder.trainable_variables)
    assert grad.dtype == np.float32
    assert np.abs(grad - want_grad).max() <= 2 * TOLERANCE[name] * np.abs(want_grad).max()
    # The input's gradient agrees too (its float32 value is checked in test_framing).
    input_grad = input_grad.astype("float32")
    scale = np.abs(want_input_grad).max()
    assert np.abs(input_grad - want_input_grad).max() <= 2 * TOLERANCE[name] * scale


# --------------------------------------------------------------------------- the benchmark


def test_quick_benchmark_writes_well_formed_results(tmp_path):
    """The benchmark's plumbing on tiny shapes (no timing is asserted)."""
    backend = keras.backend.backend()
    command = [
        sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--backends", backend,
        "--memory-backends", backend, "--shapes", "tasnet8k",
        "--precisions", "float32,mixed_bfloat16",
        "--out", str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    timed = {(r["shape"], r["grad"], r["precision"], r["impl"]) for r in rows if r["ms"]}
    for shape in ("tasnet8k",):
        # fft_conv is for heavy overlap (hop << frame_len) and rfft for a fixed windowed DFT,
        # not this free basis: benchmarks/frontends.py times both.
        for impl in ["limit", *(m for m in ALL_METHODS if m not in ("fft_conv", "rfft")), "auto"]:
            assert (shape, "weights", "float32", impl) in timed
            assert (shape, "weights+input", "float32", impl) in timed
            assert (shape, "weights", "mixed_bfloat16", impl) in timed
    for r in rows:
        if r["ms"]:
            assert float(r["ms"]) > 0 and float(r["ratio"]) > 0 and float(r["gflops"]) > 0
    assert all(not r.get("error") for r in rows), [r["error"] for r in rows if r.get("error")]
    with open(tmp_path / "memory.csv") as f:
        memory = list(csv.DictReader(f))
    runs = {(r["impl"], r["loss"]) for r in memory}
    squares = {(impl, "square") for impl in ("none", "limit", "matmul", "strided_conv", "auto")}
    assert runs >= squares | {("limit", "sum"), ("auto", "sum")}
    assert all(float(r["peak_mb"]) > 0 for r in memory)
    picks = {r["resolved"] for r in memory if r["impl"] == "auto"}
    assert picks == {resolve_method("auto", 16, 8, 64)}, picks  # tasnet8k --quick: N = 512 / 8
    text = (tmp_path / "results.md").read_text()
    assert "| shape | backend | limit ms |" in text and "## Targets" in text
    # The default method is `auto`; the memory target names the method it ran.
    assert f"default method (auto -> {picks.pop()}) peak memory" in text
    assert (tmp_path / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_runs_where_tensorflow_is_absent(tmp_path):
    """As on the GPU image (JAX and torch, no TensorFlow): benchmarks/device.sh's two runs."""
    # ``sys.modules[name] = None`` makes ``import tensorflow`` fail and find_spec return None.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(hide), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    run = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--backends", "jax"]
    for extra in (["--no-memory"], ["--no-time", "--memory-backends", "jax"]):
        out = tmp_path / extra[0]
        command = [*run, *extra, "--precisions", "float32", "--out", str(out)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "tensorflow" not in (out / "results.md").read_text().split("Command:")[0]
    with open(tmp_path / "--no-memory" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["backend"] for r in rows} == {"jax"} and not any(r.get("error") for r in rows)
    assert {r["device"] for r in rows} == {"jax cpu"}
    assert not (tmp_path / "--no-memory" / "memory.csv").exists()
    with open(tmp_path / "--no-time" / "memory.csv") as f:
        memory = list(csv.DictReader(f))
    assert memory and all(r["measure"] == "peak RSS" for r in memory)
    assert not (tmp_path / "--no-time" / "results.csv").exists()


def test_benchmark_report_names_the_gpu_and_its_memory_measure():
    """The report's wording on a GPU, from rows as the worker writes them there."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run as bench
    finally:
        sys.path.pop(0)
    device = "jax NVIDIA H200"
    common = dict(backend="jax", mode="jit", shape="stft25ms", grad="weights", device=device)
    rows = [
        dict(common, precision="float32", impl=impl, ms=ms, steps=10, gflops=1.0, num_basis=256)
        for impl, ms in (("limit", 1.0), ("matmul", 1.2), ("auto", 1.21))
    ]
    rows[-1]["resolved"] = "matmul"
    bench.add_ratios(rows)
    memory = [
        dict(common, impl=impl, loss="square", frame_len=400, hop=160, output_mb=100.0,
             frames_mb=150.0, measure="allocator peak", peak_mb=peak, step_mb=peak)
        for impl, peak in (("none", 0.0), ("limit", 210.0), ("auto", 250.0))
    ]  # fmt: skip
    for r in memory[1:]:
        r.update(over_baseline_mb=r["peak_mb"], peak_ratio=r["peak_mb"] / 100, step_ratio=2.0)
    opts = SimpleNamespace(argv=["--backends", "jax"], repeats=10, precisions="float32")
    text = bench.report(rows, memory, opts, 1.0)
    assert f"measured on the GPU: {device}." in text
    assert "the GPU allocator's peak (device memory)" in text and "peak RSS" not in text
    assert "| 16 kHz L400 h160 N256 | jax jit | 1.0 |" in text
    assert "(auto) peak memory <= 3x output, stft25ms jax" in text  # 2.50x: met
    cpu_rows = [dict(r, device="jax cpu") for r in rows]
    assert "measured on the GPU" not in bench.report(cpu_rows, [], opts, 1.0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="probes TensorFlow itself")
def test_tensorflow_memory_probe_runs_one_variant():
    """The probe's plumbing (the README's table comes from its full run; nothing is timed)."""
    command = [
        sys.executable, str(ROOT / "benchmarks" / "tf_memory_probe.py"),
        "--one", "computed", "sum", "tape",
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ratio = float(proc.stdout.strip().splitlines()[-1])
    assert 0.5 < ratio < 50, ratio  # a peak over the baseline, in output sizes


@pytest.mark.parametrize(
    "trial,backend,columns",
    [
        ("framing-gradient", None, ["limit", "gather_gradient", "overlap_add_gradient"]),
        ("overlap-add", None, ["padded_reshape", "column_slices"]),
        ("decoder", None, ["dense", "matmul", "pointwise_conv", "reshape_conv", "strided_conv"]),
        ("torch-channels-first", "torch", ["channels_last", "channels_first"]),
    ],
)
def test_trials_run(trial, backend, columns):
    """benchmarks/trials.py's plumbing on a tiny shape (its numbers are not asserted)."""
    env = dict(os.environ, KERAS_BACKEND=backend or keras.backend.backend())
    command = [
        sys.executable, str(ROOT / "benchmarks" / "trials.py"), trial,
        "--shapes", "16/8/4", "--repeats", "1",
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("L16h8N4")]
    assert lines, proc.stdout
    for line in lines:
        assert all(f"{name} " in line and " ms (" in line for name in columns), line


def test_benchmark_gpu_memory_keeps_the_first_steps_peak(monkeypatch, capsys):
    """The worker's GPU branch, on a fake allocator: the first step (tracing, compiling)
    peaks at 1000 MiB, the second at 500; the life peak must read 1000 (it read 500 when
    the peak was reset before it was read)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import worker
    finally:
        sys.path.pop(0)
    import framebank.device as memory

    mib = 2**20
    state = {"in_use": 100 * mib, "peak": 100 * mib, "steps": 0}

    def fake_gpu_memory(reset_peak=False):
        if reset_peak:
            state["peak"] = state["in_use"]
        return state["in_use"], state["peak"]

    def fake_step(*args, **kwargs):
        def step():
            state["steps"] += 1
            state["peak"] = max(state["peak"], (1000 if state["steps"] == 1 else 500) * mib)

        return step

    monkeypatch.setattr(memory, "device_description", lambda: ("gpu", "fake GPU"))
    monkeypatch.setattr(memory, "gpu_memory", fake_gpu_memory)
    monkeypatch.setattr(worker, "make_step", fake_step)
    worker.main(["memory", "--shapes", "tasnet8k", "--impls", "limit", "--quick"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (row["peak_mb"], row["step_mb"], row["measure"]) == (1000.0, 400.0, "allocator peak")
    assert row["device"] == "fake GPU" and state["steps"] == 2
