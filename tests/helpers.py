"""Test helpers: float64 numpy references and backend-agnostic gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np


def np_frame(
    x: np.ndarray, frame_len: int, hop: int, pad_end: bool = False, pad_value: float = 0.0
) -> np.ndarray:
    """Reference framing with tf.signal.frame's rules, on [batch, time]."""
    time = x.shape[-1]
    if pad_end:
        n = -(-time // hop)
        need = (n - 1) * hop + frame_len
        if need > time:
            pad = np.full(x.shape[:-1] + (need - time,), pad_value, dtype=x.dtype)
            x = np.concatenate([x, pad], axis=-1)
    else:
        n = max(0, 1 + (time - frame_len) // hop)
    return np.stack([x[..., f * hop : f * hop + frame_len] for f in range(n)], axis=-2)


def np_overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Reference overlap-add on [batch, frames, frame_len]."""
    count, frame_len = frames.shape[-2:]
    out = np.zeros(frames.shape[:-2] + ((count - 1) * hop + frame_len,), frames.dtype)
    for f in range(count):
        out[..., f * hop : f * hop + frame_len] += frames[..., f, :]
    return out


def value_and_grads(fn: Callable, args: Sequence[np.ndarray], variables: Sequence = ()):
    """Evaluate ``fn(*args)`` (a scalar) and its gradients w.r.t. args and variables.

    Written per backend because Keras 3 has no backend-neutral gradient API.
    Returns (value, [grad per arg], [grad per variable]) as numpy arrays.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors + [v.value for v in variables])
        grads = [np.asarray(g) if g is not None else None for g in grads]
        return float(value), grads[: len(args)], grads[len(args) :]
    if backend == "jax":
        import jax

        def pure(arg_values, var_values):
            with keras.StatelessScope(state_mapping=list(zip(variables, var_values, strict=True))):
                return fn(*arg_values)

        var_values = [v.value for v in variables]
        value, (g_args, g_vars) = jax.value_and_grad(pure, argnums=(0, 1))(
            [jax.numpy.asarray(a) for a in args], var_values
        )
        return (float(value), [np.asarray(g) for g in g_args], [np.asarray(g) for g in g_vars])
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        # Keras makes a non-trainable torch variable requires_grad=False; the gradient
        # asked for here is the one TensorFlow and JAX give for any variable.
        was = [v.value.requires_grad for v in variables]
        for v in variables:
            v.value.grad = None
            v.value.requires_grad_(True)
        try:
            value = fn(*[_numpy_friendly(t) for t in tensors])
            value.backward()
            grads = [v.value.grad.detach().cpu().numpy() for v in variables]
        finally:
            for v, flag in zip(variables, was, strict=True):
                v.value.requires_grad_(flag)
                v.value.grad = None
        return float(value.detach()), [t.grad.numpy() for t in tensors], grads
    raise NotImplementedError(backend)


def _numpy_friendly(tensor):
    """Torch only: ``tensor`` as a subclass whose arithmetic accepts numpy operands.

    Why: a loss such as ``ops.sum(layer(x) * upstream)`` with a numpy ``upstream``
    works on TensorFlow and JAX, but torch's ``Tensor.__mul__`` declines the array,
    numpy takes over and cannot read a tensor that requires grad. Torch ops on a
    tensor subclass return the subclass, so everything computed from the inputs of
    ``value_and_grads`` converts a numpy operand as the other backends do. Only the
    loss closures see it; the layers' forward tests run on plain tensors.
    """
    import keras
    import torch

    def convert(other):
        return keras.ops.convert_to_tensor(other) if isinstance(other, np.ndarray) else other

    def binary(name):
        plain = getattr(torch.Tensor, name)
        return lambda self, other: plain(self, convert(other))

    names = ("__mul__", "__rmul__", "__add__", "__radd__", "__sub__", "__rsub__")
    names += ("__truediv__", "__rtruediv__", "__matmul__", "__rmatmul__")
    cls = type("NumpyFriendlyTensor", (torch.Tensor,), {n: binary(n) for n in names})
    return tensor.as_subclass(cls)


def assert_close_rel(
    actual: np.ndarray,
    expected: np.ndarray,
    rtol: float,
    what: str = "",
    scale: float | None = None,
):
    """Max abs error within ``rtol`` times the reference's largest magnitude.

    ``scale`` replaces that magnitude; for a sum of products pass the largest
    sum of *absolute* products (``|X| @ |W|``), the size float rounding is
    relative to: a sum whose terms cancel is small, its rounding is not.
    """
    actual = np.asarray(actual, dtype="float64")
    expected = np.asarray(expected, dtype="float64")
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    scale = max(scale, 1e-30)
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert err <= rtol * scale, f"{what}: max error {err:.3g} > {rtol:g} x {scale:.3g}"


# Constructor options per filterbank family at frame_len 32, sample rate 8 kHz, for tests that
# must cover every registered family (export, backends). A family missing here is tried with
# DEFAULT_FAMILY_CASE; if it cannot be built that way the test fails and names it, so a new
# family is either covered or reported, never silently left out.
FAMILY_CASES: dict[str, tuple[int, dict]] = {
    "free": (12, {}),
    "fourier": (34, {"window": "hann"}),
    "analytic": (12, {}),
    "sinc": (6, {"sample_rate": 8000}),
    "gabor": (12, {"sample_rate": 8000}),
    "mel": (34, {"sample_rate": 8000, "n_mels": 8}),
    "kaldi": (34, {"sample_rate": 8000}),
}
DEFAULT_FAMILY_CASE: tuple[int, dict] = (12, {"sample_rate": 8000})


def family_case(family: str) -> tuple[int, dict]:
    """``(num_basis, options)``: ``Encoder(num_basis, 32, hop, filterbank=family, **options)``."""
    return FAMILY_CASES.get(family, DEFAULT_FAMILY_CASE)


def perturbed_weights(weights: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Weights moved off their initial values, as training would move them.

    Basis-shaped kernels get additive noise; 1-D parameters (frequencies, widths) a 2 %
    relative nudge, which keeps them inside their families' valid ranges.
    """
    rng = np.random.default_rng(seed)
    out = []
    for w in weights:
        if w.ndim == 2:
            out.append((w + 0.05 * rng.standard_normal(w.shape)).astype(w.dtype))
        else:
            out.append((w * (1 + 0.02 * rng.standard_normal(w.shape))).astype(w.dtype))
    return out


def methods_for(family: str = "free") -> list[str]:
    """The registered methods an encoder of ``family`` takes: one that exploits a structure
    of the basis (``rfft``: a windowed DFT) only where the family declares it."""
    import framebank as fb
    from framebank.filterbanks import Filterbank

    cls = fb.FILTERBANKS[family]
    return sorted(
        name
        for name, method in fb.METHODS.items()
        if method.structure is None
        or getattr(cls, method.structure, None) is not getattr(Filterbank, method.structure)
    )


def speech(seconds: float, rate: int = 16000, batch: int = 1) -> np.ndarray:
    """``batch`` chunks of real speech from data/, ``[batch, seconds * rate]`` float32."""
    from framebank.audio import load_audio, read_manifest

    length = int(seconds * rate)
    chunks = []
    for clip in read_manifest():
        samples, _ = load_audio(clip.path, rate)
        if len(samples) >= length:
            chunks.append(samples[:length])
        if len(chunks) == batch:
            break
    return np.stack(chunks).astype("float32")
