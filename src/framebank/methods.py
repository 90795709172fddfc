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
        return ops.conv(frames, kernel, strides=1, padding="valid")


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
        x = ops.expand_dims(signal, -1)  # [batch, time, 1]
        return ops.conv(x, kernel, strides=hop, padding="valid")
