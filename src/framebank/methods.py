"""Execution methods: how ``frames @ basis`` is computed.

Every method computes the same linear map, coefficients
``[batch, frames, num_basis] = frames [batch, frames, frame_len] @ basis
[frame_len, num_basis]``, and each really runs its own operation (a
convolution method calls a convolution op), because comparing them is the
point. A method never knows where its basis came from; it only receives a
``[frame_len, num_basis]`` tensor and reshapes it to its own kernel layout at
call time, so the trained weight is the same whatever the method.

Methods are chosen by name through :data:`METHODS`; a user can add one with
:func:`register_method`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from keras import ops

from framebank.device import current_device
from framebank.framing import num_frames

__all__ = [
    "Method",
    "METHODS",
    "register_method",
    "get_method",
    "ReshapeConv",
    "PointwiseConv",
    "DenseMethod",
    "Matmul",
    "StridedConv",
]

METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: make a :class:`Method` subclass available by its ``name``."""
    if not getattr(cls, "name", None):
        raise ValueError(f"A method class needs a non-empty `name`. Received: {cls!r}")
    METHODS[cls.name] = cls
    return cls


def get_method(method: str | Method) -> Method:
    """Return a method instance from its name (or pass an instance through)."""
    if isinstance(method, Method):
        return method
    if not isinstance(method, str):
        raise TypeError(
            f"`method` must be a method name or a Method instance. Received: method={method!r} "
            f"of type {type(method).__name__}"
        )
    try:
        return METHODS[method]()
    except KeyError:
        raise ValueError(
            f"Unknown method {method!r}. Expected one of: {', '.join(sorted(METHODS))}"
        ) from None


def _leading_shape(x: Any) -> tuple:
    """``x.shape[:-1]`` with dynamic dimensions as scalar tensors."""
    dynamic = ops.shape(x)
    return tuple(s if s is not None else dynamic[i] for i, s in enumerate(x.shape[:-1]))


class Method:
    """Base class of execution methods.

    Attributes:
        name: the registry name.
        needs_frames: True when the method consumes materialised frames
            ``[batch, frames, frame_len]``; False when it reads the (padded)
            waveform ``[batch, time]`` directly.
    """

    name: ClassVar[str] = ""
    needs_frames: ClassVar[bool] = True

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        """Shape of the kernel the equivalent plain Keras layer would hold.

        Used only to reproduce Keras's own default initialisation
        (``keras_default``), whose fan-out depends on this layout.
        """
        return (frame_len, num_basis)

    def project(self, frames: Any, basis: Any) -> Any:
        """``[batch, frames, frame_len] x [frame_len, num_basis] -> [batch, frames, num_basis]``."""
        raise NotImplementedError

    def project_signal(self, signal: Any, basis: Any, hop: int) -> Any:
        """``[batch, time] -> [batch, frames, num_basis]`` for frame-free methods."""
        raise NotImplementedError(f"method {self.name!r} consumes frames, not a waveform")

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register_method
class ReshapeConv(Method):
    """Method 1: every frame becomes a one-channel sequence of length ``frame_len``.

    ``[batch*frames, frame_len, 1]`` convolved with a ``[frame_len, 1, num_basis]``
    kernel (valid padding) gives one output step per frame.
    """

    name = "reshape_conv"

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (frame_len, 1, num_basis)

    def project(self, frames: Any, basis: Any) -> Any:
        frame_len, num_basis = basis.shape
        lead = _leading_shape(frames)
        x = ops.reshape(frames, (-1, frame_len, 1))
        kernel = ops.reshape(basis, (frame_len, 1, num_basis))
        y = ops.conv(x, kernel, strides=1, padding="valid")  # [batch*frames, 1, num_basis]
        return ops.reshape(y, (*lead, num_basis))


@register_method
class PointwiseConv(Method):
    """Method 2: a kernel-size-1 Conv1D over frames, ``frame_len`` as channels."""

    name = "pointwise_conv"

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (1, frame_len, num_basis)

    def project(self, frames: Any, basis: Any) -> Any:
        frame_len, num_basis = basis.shape
        kernel = ops.reshape(basis, (1, frame_len, num_basis))
        y = ops.conv(frames, kernel, strides=1, padding="valid")
        # A free reshape; TensorFlow's conv of zero frames (a run-time count)
        # returns [batch, 0, frame_len], which this makes [batch, 0, num_basis].
        return ops.reshape(y, (*_leading_shape(frames), num_basis))


@register_method
class DenseMethod(Method):
    """What ``keras.layers.Dense`` does: ``ops.matmul`` of the rank-3 frames."""

    name = "dense"

    def project(self, frames: Any, basis: Any) -> Any:
        return ops.matmul(frames, basis)


@register_method
class Matmul(Method):
    """One explicit 2-D matrix product: ``[batch*frames, frame_len] @ [frame_len, num_basis]``."""

    name = "matmul"

    def project(self, frames: Any, basis: Any) -> Any:
        frame_len, num_basis = basis.shape
        lead = _leading_shape(frames)
        y = ops.matmul(ops.reshape(frames, (-1, frame_len)), basis)
        return ops.reshape(y, (*lead, num_basis))


@register_method
class StridedConv(Method):
    """A Conv1D of kernel ``frame_len`` and stride ``hop`` on the waveform.

    Frames are never materialised; the waveform must already be padded by
    :func:`framebank.framing.pad_signal` so the conv's windows are the frames.
    """

    name = "strided_conv"
    needs_frames = False

    def kernel_layout(self, frame_len: int, num_basis: int) -> tuple[int, ...]:
        return (frame_len, 1, num_basis)

    def project_signal(self, signal: Any, basis: Any, hop: int) -> Any:
        frame_len, num_basis = basis.shape
        kernel = ops.reshape(basis, (frame_len, 1, num_basis))
        count = None
        if signal.shape[1] is None:
            # A length known only at run time may be shorter than the kernel, and
            # TensorFlow's conv then returns its input instead of zero windows:
            # pad to one frame, then keep the frames the signal really has.
            time = ops.shape(signal)[1]
            count = num_frames(time, frame_len, hop)
            signal = ops.pad(signal, [[0, 0], [0, ops.maximum(0, frame_len - time)]])
        x = ops.expand_dims(signal, -1)  # [batch, time, 1]
        y = ops.conv(x, kernel, strides=hop, padding="valid")
        return y if count is None else y[:, :count]


# --------------------------------------------------------------------------- method="auto"

AUTO = "auto"


def resolve_method(
    method: str | Method,
    frame_len: int | None = None,
    hop: int | None = None,
    num_basis: int | None = None,
    *,
    backend: str | None = None,
    device: str | None = None,
    jit_compile: bool | None = None,
    needs_frames: bool = False,
    compute_dtype: str | None = None,
) -> str | Method:
    """The concrete method ``method`` stands for: itself, or the pick for ``"auto"``.

    The pick is a fixed rule read off ``benchmarks/`` (forward plus backward,
    ratio to a bare matmul, one run per backend; see ``benchmarks/README.md``),
    so it is deterministic and costs nothing.

    Args:
        method: a method name, ``"auto"``, or a :class:`Method` instance.
        frame_len, hop, num_basis: the projection's sizes; ``hop=None`` when
            the caller has frames, not a waveform.
        backend: Keras backend name; default ``keras.backend.backend()``.
        device: ``"cpu"`` or ``"gpu"``; default :func:`current_device`.
        jit_compile: whether the step will be XLA-compiled; None means Keras's
            default for the backend and device (JAX: always; TensorFlow: on a
            GPU; torch: never).
        needs_frames: the caller has frames, so a waveform method
            (``strided_conv``) cannot be picked.
        compute_dtype: the dtype the projection computes in (a layer's
            ``dtype_policy.compute_dtype``); default the global Keras policy's.

    Returns:
        ``method`` itself unless it is ``"auto"``; for ``"auto"``, a name in
        :data:`METHODS`.

    Warns:
        UserWarning: a method known to be pathological where it will run
        (``reshape_conv`` under TensorFlow's XLA), naming the faster one.
    """
    import keras

    if method != AUTO:
        name = method.name if isinstance(method, Method) else get_method(method).name
        _warn_if_pathological(name, backend or keras.backend.backend(), jit_compile, device)
        return method
    backend = backend or keras.backend.backend()
    device = device or current_device()
    if jit_compile is None:
        jit_compile = backend == "jax" or (backend == "tensorflow" and device == "gpu")
    if compute_dtype is None:
        compute_dtype = keras.config.dtype_policy().compute_dtype
    return _auto_rule(
        backend, device, bool(jit_compile), frame_len, hop, num_basis, needs_frames, compute_dtype
    )


def _auto_rule(
    backend: str,
    device: str,
    jit_compile: bool,
    frame_len: int | None,
    hop: int | None,
    num_basis: int | None,
    needs_frames: bool,
    compute_dtype: str,
) -> str:
    """The measured rule behind ``"auto"``: the entry of :data:`AUTO_RULES` for this setup.

    Why ``matmul`` (``benchmarks/README.md``: 2 CPU cores, batch 16, 4 s, the
    four shapes of issue 5, float32 and mixed precision, both gradient
    cases): under TensorFlow (graph and XLA) and JAX it was the fastest
    method or near it, and it is the only method with no pathological case.
    Each rival fails somewhere (the last two runs on 2 CPU cores):
    ``reshape_conv`` costs 3-12x the limit in TensorFlow graph mode and
    12-790x under XLA (TensorFlow and JAX) once the input needs a gradient;
    ``strided_conv`` 2.7-3.7x in TensorFlow graph mode with an input gradient
    and 4.9-5.5x under XLA (L400); ``dense`` 1.5-2.4x under JAX (a rank-3
    ``dot_general``) on three of the four shapes; ``pointwise_conv`` up to
    1.7x under XLA and 1.7-3.5x with float16 convolutions on the CPU.
    Under torch on the CPU the pick depends on the shape:
    :func:`_torch_cpu_rule`.
    """
    rule = AUTO_RULES.get((backend, device, jit_compile), AUTO_RULES["default"])
    if callable(rule):
        return rule(frame_len, hop, num_basis, needs_frames, compute_dtype)
    return rule


def _torch_cpu_rule(
    frame_len: int | None,
    hop: int | None,
    num_basis: int | None,
    needs_frames: bool,
    compute_dtype: str,
) -> str:
    """torch on the CPU: ``strided_conv`` where the frames outweigh the output, else ``matmul``.

    torch's strided ``conv1d`` skips the frames (which cost in proportion to
    ``frame_len``), but Keras's channels-last layout adds a transpose of the
    output (in proportion to ``num_basis``) in each direction. Measured, it
    wins where frames are at least as large as the output (``frame_len >=
    num_basis`` with overlap: L400/h160/N256, 0.97x the limit in the training
    case and 1.10x in-model, against ``matmul``'s 1.10x and 1.15x) and loses
    where they are small (L16/L32 with N512: 1.24-1.56x once the input needs
    a gradient, against ``matmul``'s 1.02-1.05x); with ``hop == frame_len``
    frames are a free reshape and ``matmul`` wins. Only in float32: torch's
    float16 convolutions on the CPU are slow (L400 strided ``conv1d``
    11.6-12.3x the limit in two runs, ``matmul`` 1.03-1.05x); in bfloat16 the
    two runs disagreed (strided 1.29x and 1.09x, ``matmul`` 1.11x and 1.21x),
    so the pick stays with the method that has no slow case.
    """
    frames_outweigh_output = (
        frame_len is not None
        and hop is not None
        and num_basis is not None
        and hop < frame_len
        and frame_len >= num_basis
    )
    if frames_outweigh_output and not needs_frames and compute_dtype == "float32":
        return "strided_conv"
    return "matmul"


# (backend, device, jit_compile) -> a method name, or a rule
# ``(frame_len, hop, num_basis, needs_frames, compute_dtype) -> name``;
# "default" for anything not measured (GPUs included).
AUTO_RULES: dict = {
    ("tensorflow", "cpu", False): "matmul",
    ("tensorflow", "cpu", True): "matmul",
    ("jax", "cpu", True): "matmul",
    ("torch", "cpu", False): _torch_cpu_rule,
    "default": "matmul",
}


def _warn_if_pathological(
    name: str, backend: str, jit_compile: bool | None, device: str | None
) -> None:
    """Say so when ``name`` is known to be far slower than another method where it runs.

    ``reshape_conv`` (Method 1) under XLA: the gradient of its
    ``[batch*frames, frame_len, 1]`` convolution with respect to its input
    (needed whenever the front end sits inside a model, or its input is
    learned) took 12-790x the time of one matmul under TensorFlow's XLA and
    under JAX (always XLA), and Keras compiles TensorFlow with XLA by default
    on a GPU (``jit_compile="auto"``). A layer cannot see how it will be
    compiled, so under these backends the warning is given whenever Method 1
    is asked for, unless ``jit_compile=False`` is known.
    """
    if name == "reshape_conv" and backend in ("tensorflow", "jax") and jit_compile is not False:
        import warnings

        warnings.warn(
            f"method='reshape_conv' under {backend} is pathological with XLA (jit_compile=True; "
            "always under JAX, Keras's default for TensorFlow on a GPU): a forward plus backward "
            "step that also needs the input's gradient took 12-790x the time of one matmul (2 "
            "CPU cores, benchmarks/README.md); TensorFlow without XLA took 3-12x. "
            "method='matmul' (what method='auto' picks) computes the same numbers near the "
            "matmul limit.",
            UserWarning,
            stacklevel=4,
        )
