"""Per-channel energy normalisation (PCEN) and its exponential moving average, in parallel."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._validation import check_bool, check_choice, check_in_range, check_number
from framebank.postprocessing._common import Clip, Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["PCEN", "PCEN_PARAMETERS", "exponential_moving_average"]

# Frames per block of the parallel smoother: each block is one [16, 16] matrix
# product; the states at the block ends are a 16x shorter recurrence of the
# same form, solved the same way. 16 was the fastest of 16 / 32 / 64 under
# TensorFlow and JAX (benchmarks/README.md, "PCEN's smoother").
BLOCK = 16
# Levels of blocks before the block ends are solved by one product with an
# [n, n] matrix: 3 keep it at most 16 x 16 up to 16**4 = 65536 frames, and
# bound the work where the frame count is known only at run time.
_LEVELS = 3
# s = 1 would make log(1 - s) = -inf, and 0 * -inf a NaN on the diagonal of the
# decay matrix: s is taken as at most 1 - 2**-24 (float32's largest number
# below 1), so the smoother keeps 6e-8 of its previous value where s = 1.
LARGEST_SMOOTH_COEF = 1.0 - 2.0**-24

PCEN_PARAMETERS = ("alpha", "delta", "root", "smooth_coef")
# The smallest delta and smoothing coefficient accepted and kept while learning.
# delta is learned as its logarithm, so it stays positive; this bound also keeps
# x / delta inside float32's range. Below MIN_SMOOTH_COEF the smoother's time
# constant (1 / s frames) is longer than a day of 10 ms frames.
MIN_DELTA = 1e-6
MIN_SMOOTH_COEF = 1e-7
STATE_INITS = ("first_frame", "ones")


def _dim(x: Any, axis: int) -> Any:
    """The size of ``axis``: a Python int, or a scalar tensor where it is known only at run time."""
    size = x.shape[axis]
    return size if size is not None else ops.shape(x)[axis]


def _lags(count: Any, dtype: str) -> tuple[Any, Any]:
    """``(max(j - i, 0), j >= i)`` over ``[count, count]``, for a Python int or a run-time count."""
    if isinstance(count, int):
        steps = np.arange(count)
        lag = steps[None, :] - steps[:, None]
        return (
            ops.convert_to_tensor(np.maximum(lag, 0), dtype),
            ops.convert_to_tensor(lag >= 0, dtype),
        )
    steps = ops.arange(count, dtype=dtype)
    lag = ops.expand_dims(steps, 0) - ops.expand_dims(steps, 1)
    return ops.maximum(lag, 0), ops.cast(lag >= 0, dtype)


def _axes(x: Any, *axes: int) -> Any:
    """``x`` with new length-1 axes at ``axes`` (``ops.expand_dims`` each: TFLite's
    builtin strided slice has no new-axis mask, which ``x[:, None]`` would need)."""
    for axis in axes:
        x = ops.expand_dims(x, axis)
    return x


def _decay_matrix(count: Any, log_decay: Any) -> Any:
    """``[channels, count, count]``: ``a**(j - i)`` at ``(i, j)`` for ``i <= j``, else 0."""
    lag, causal = _lags(count, keras.backend.standardize_dtype(log_decay.dtype))
    return ops.exp(lag * _axes(log_decay, -1, -1)) * causal


def _decay_powers(count: Any, log_decay: Any) -> Any:
    """``[channels, count]``: ``a**(t + 1)`` for ``t = 0 .. count - 1``."""
    dtype = keras.backend.standardize_dtype(log_decay.dtype)
    if isinstance(count, int):
        steps = ops.convert_to_tensor(np.arange(1, count + 1), dtype)
    else:
        steps = ops.arange(1, count + 1, dtype=dtype)
    return ops.exp(steps * _axes(log_decay, -1))


def _linear_recurrence(b: Any, log_decay: Any, initial: Any, levels: int) -> Any:
    """``h[..., t] = a h[..., t - 1] + b[..., t]`` with ``h[..., -1] = initial``.

    ``b`` is ``[channels, batch, frames]``, ``log_decay`` (``log a``) is
    ``[channels]``, ``initial`` is ``[channels, batch]``. Blocks of ``BLOCK``
    frames are solved as if they started from 0 (one matrix product); the true
    state at the end of each block follows the same recurrence with ``a**BLOCK``
    over the block ends, solved by this function one level down; each block's
    output then gains its starting state times ``a**(t + 1)``. Exact up to
    rounding: no power of ``a`` is truncated.
    """
    length = _dim(b, 2)
    if levels == 0 or (isinstance(length, int) and length <= BLOCK):
        start = _axes(_decay_powers(length, log_decay), 1) * _axes(initial, -1)
        return ops.matmul(b, _decay_matrix(length, log_decay)) + start
    channels, batch = b.shape[0], _dim(b, 1)
    padding = (-length) % BLOCK  # zeros at the end change no earlier output
    if not (isinstance(padding, int) and padding == 0):
        b = ops.pad(b, [[0, 0], [0, 0], [0, padding]])
    blocks = ops.reshape(b, (channels, -1, BLOCK))
    local = ops.matmul(blocks, _decay_matrix(BLOCK, log_decay))
    local = ops.reshape(local, (channels, batch, -1, BLOCK))
    ends = _linear_recurrence(local[..., -1], BLOCK * log_decay, initial, levels - 1)
    starts = ops.concatenate([_axes(initial, -1), ends[..., :-1]], axis=-1)
    h = local + _axes(_decay_powers(BLOCK, log_decay), 1, 1) * _axes(starts, -1)
    h = ops.reshape(h, (channels, batch, -1))
    return h if isinstance(padding, int) and padding == 0 else h[..., :length]


def exponential_moving_average(x: Any, smooth_coef: Any, initial_state: Any) -> Any:
    """``M[:, t] = s x[:, t] + (1 - s) M[:, t - 1]`` over the frames, ``M[:, -1] = initial_state``.

    Computed in parallel over the frames (blocked matrix products, no loop over
    frames), exactly up to float rounding, in ``x``'s dtype; its gradient is
    the same products. ``s`` above ``LARGEST_SMOOTH_COEF`` is taken as it.

    Args:
        x: ``[batch, frames, channels]``.
        smooth_coef: ``s``, ``[channels]`` (or a number) in ``(0, 1]``.
        initial_state: the smoother before the first frame, ``[batch, channels]``.

    Returns:
        ``M``, ``[batch, frames, channels]``; ``M[:, -1]`` is the state to carry
        into the next chunk.

    Example:
        >>> x = np.ones((1, 4, 1), "float32")
        >>> smoother = exponential_moving_average(x, 0.5, np.zeros((1, 1), "float32"))
        >>> keras.ops.convert_to_numpy(smoother)[0, :, 0]
        array([0.5   , 0.75  , 0.875 , 0.9375], dtype=float32)
    """
    x = ops.convert_to_tensor(x)
    coef = ops.cast(smooth_coef, x.dtype)
    if len(coef.shape) == 0:
        coef = ops.broadcast_to(coef, (_dim(x, 2),))
    coef = ops.minimum(coef, LARGEST_SMOOTH_COEF)
    b = ops.transpose(x * coef, (2, 0, 1))
    initial = ops.transpose(ops.cast(initial_state, x.dtype), (1, 0))
    h = _linear_recurrence(b, ops.log1p(-coef), initial, _LEVELS)
    return ops.transpose(h, (1, 2, 0))


def _check_learn(learn: Any) -> tuple[str, ...]:
    if isinstance(learn, str) or not isinstance(learn, Iterable):
        raise TypeError(
            "`learn` must be a collection of parameter names, e.g. ('alpha', 'delta'). "
            f"Received: learn={learn!r}"
        )
    learn = tuple(learn)
    unknown = [name for name in learn if name not in PCEN_PARAMETERS]
    if unknown:
        raise ValueError(
            f"`learn` may name {', '.join(map(repr, PCEN_PARAMETERS))}. Received: learn={learn!r}"
        )
    return tuple(name for name in PCEN_PARAMETERS if name in learn)


@register_postprocessing("pcen")
class PCEN(Float32Postprocessing):
    """Per-channel energy normalisation, with per-channel learnable parameters.

    ``y = (x / (floor + M)**alpha + delta)**(1 / root) - delta**(1 / root)``,
    ``M[t] = s x[t] + (1 - s) M[t - 1]`` over the frames, for each channel.

    Computed in log space, as librosa and EfficientLEAF do:
    ``y = delta**(1/root) * expm1(log1p(x (floor + M)**-alpha / delta) / root)``;
    the smoother runs in parallel over the frames
    (:func:`exponential_moving_average`). Each parameter is a ``[channels]``
    weight, learned or fixed as ``learn`` says, and kept in its range while
    learning (the optimiser's step is projected back, and the value used is
    clipped): ``alpha`` in ``[0, 1]``, ``root >= 1``, ``smooth_coef`` in
    ``[MIN_SMOOTH_COEF, LARGEST_SMOOTH_COEF]`` (1 - 2**-24); ``delta`` is
    learned as its logarithm, so it stays positive (and ``>= MIN_DELTA``).
    Computes in float32 under 16-bit policies.

    Args:
        alpha: gain-normalisation exponent (librosa's ``gain``), in ``[0, 1]``.
        delta: bias added before the root (librosa's ``bias``), ``>= MIN_DELTA``.
        root: the compression is the ``1 / root`` power (librosa's ``power`` is
            ``1 / root``), ``>= 1``.
        smooth_coef: the smoother's coefficient ``s`` (librosa's ``b``), in
            ``(0, 1]``; librosa's default is ``b`` for a 0.4 s time constant.
        floor: added to ``M`` (librosa's ``eps``), ``> 0``.
        learn: which of ``"alpha"``, ``"delta"``, ``"root"``, ``"smooth_coef"``
            are learned (all four by default, as LEAF); ``()`` fixes them all.
        state_init: the smoother's state before the first frame when no
            ``initial_state`` is passed: ``"first_frame"`` (LEAF: ``M[0] = x[0]``)
            or ``"ones"`` (librosa: its default ``zi`` is the steady state of a
            unit input, ``M[-1] = 1``).

    Call arguments:
        inputs: ``[batch, frames, channels]``, non-negative (energies).
        initial_state: ``[batch, channels]``, the smoother before the first
            frame (the state returned for the previous chunk); overrides
            ``state_init``. librosa's ``zi`` is ``(1 - s) * initial_state``.
        return_state: also return the smoother at the last frame, ``[batch,
            channels]``, to pass as the next chunk's ``initial_state``.

    Input shape:
        ``[batch, frames, channels]``, at least one frame.

    Output shape:
        ``[batch, frames, channels]``; with ``return_state``, a tuple
        ``(output, state [batch, channels])``.

    References:
        Wang et al., "Trainable frontend for robust and far-field keyword
        spotting", ICASSP 2017 (arXiv:1607.05666). Zeghidour et al., "LEAF: a
        learnable frontend for audio classification", ICLR 2021 (sPCEN).
        Schlüter and Gutenbrunner, "EfficientLEAF", EUSIPCO 2022 (log space).
        ``librosa.pcen``.

    Example:
        >>> pcen = PCEN(learn=("alpha", "delta"))
        >>> x = np.abs(np.random.default_rng(0).standard_normal((2, 50, 40))).astype("float32")
        >>> tuple(pcen(x).shape)
        (2, 50, 40)
        >>> first, state = pcen(x[:, :20], return_state=True)  # chunk by chunk
        >>> rest = pcen(x[:, 20:], initial_state=state)
    """

    def __init__(
        self,
        alpha: float = 0.96,
        delta: float = 2.0,
        root: float = 2.0,
        smooth_coef: float = 0.04,
        floor: float = 1e-12,
        learn: Iterable[str] = PCEN_PARAMETERS,
        state_init: str = "first_frame",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_init = check_in_range("alpha", alpha, 0.0, 1.0)
        self.delta_init = check_number("delta", delta)
        if not (math.isfinite(self.delta_init) and self.delta_init >= MIN_DELTA):
            raise ValueError(
                f"`delta` must be a finite number >= {MIN_DELTA:g} (a bias of 0 or less makes "
                f"the root undefined at silence). Received: delta={delta!r}"
            )
        self.root_init = check_number("root", root)
        if not (math.isfinite(self.root_init) and self.root_init >= 1):
            raise ValueError(f"`root` must be a finite number >= 1. Received: root={root!r}")
        self.smooth_coef_init = check_in_range("smooth_coef", smooth_coef, MIN_SMOOTH_COEF, 1.0)
        self.floor = check_number("floor", floor)
        if not (math.isfinite(self.floor) and self.floor > 0):
            raise ValueError(f"`floor` must be a positive number. Received: floor={floor!r}")
        self.learn = _check_learn(learn)
        self.state_init = check_choice("state_init", state_init, STATE_INITS)

    def build(self, input_shape: tuple) -> None:
        channels = self._channels(input_shape)
        self.alpha = self.add_channel_weight(
            "alpha", self.alpha_init, channels, "alpha" in self.learn, Clip(0.0, 1.0)
        )
        self.log_delta = self.add_channel_weight(
            "log_delta",
            math.log(self.delta_init),
            channels,
            "delta" in self.learn,
            Clip(math.log(MIN_DELTA), None),
        )
        self.root = self.add_channel_weight(
            "root", self.root_init, channels, "root" in self.learn, Clip(1.0, None)
        )
        self.smooth_coef = self.add_channel_weight(
            "smooth_coef",
            min(self.smooth_coef_init, LARGEST_SMOOTH_COEF),
            channels,
            "smooth_coef" in self.learn,
            # Not 1: the value used is clipped to LARGEST_SMOOTH_COEF, whose gradient
            # is 0 above it, so a variable left above would stay there.
            Clip(MIN_SMOOTH_COEF, LARGEST_SMOOTH_COEF),
        )

    def _clipped(self) -> tuple[Any, Any, Any, Any]:
        """``(alpha, log(delta), root, smooth_coef)`` in use: the weights clipped to range."""
        return (
            ops.clip(self.alpha, 0.0, 1.0),
            ops.maximum(self.log_delta, math.log(MIN_DELTA)),
            ops.maximum(self.root, 1.0),
            ops.clip(self.smooth_coef, MIN_SMOOTH_COEF, LARGEST_SMOOTH_COEF),
        )

    def parameters(self) -> dict[str, Any]:
        """The values in use, each ``[channels]``: the weights clipped to their ranges."""
        alpha, log_delta, root, smooth_coef = self._clipped()
        return {
            "alpha": alpha,
            "delta": ops.exp(log_delta),
            "root": root,
            "smooth_coef": smooth_coef,
        }

    def start_state(self, first_frame: Any) -> Any:
        """The smoother before the first frame, as ``state_init`` says.

        Args:
            first_frame: ``[batch, channels]``, the clip's first frame (working dtype).

        Returns:
            ``[batch, channels]``: the frame itself (``"first_frame"``) or ones.
        """
        if self.state_init == "ones":
            return ops.ones_like(first_frame)
        return first_frame

    def call(self, inputs: Any, initial_state: Any = None, return_state: bool = False) -> Any:
        x = ops.cast(inputs, self.working_dtype)
        return_state = check_bool("return_state", return_state)
        if initial_state is not None:
            initial_state = self._checked_state(initial_state, x)
        if x.shape[1] == 0:
            # No frame: nothing to smooth, and the state (if any) passes through unchanged.
            if return_state and initial_state is None:
                raise ValueError(
                    "PCEN received zero frames and no initial_state, so it has no state to "
                    f"return. Received: inputs.shape={tuple(x.shape)}"
                )
            return (x, initial_state) if return_state else x
        alpha, log_delta, root, smooth_coef = self._clipped()
        if initial_state is None:
            initial_state = self.start_state(x[:, 0, :])
        smoother = exponential_moving_average(x, smooth_coef, initial_state)
        # x / (floor + M)**alpha / delta with one exp; then librosa's stable form of the root.
        ratio = x * ops.exp(-alpha * ops.log(self.floor + smoother) - log_delta)
        outputs = ops.exp(log_delta / root) * ops.expm1(ops.log1p(ratio) / root)
        if return_state:
            return outputs, smoother[:, -1, :]
        return outputs

    def _checked_state(self, state: Any, x: Any) -> Any:
        """``state`` as ``[batch, channels]`` in the working dtype; ValueError naming it."""
        state = ops.cast(ops.convert_to_tensor(state), self.working_dtype)
        want = (x.shape[0], x.shape[2])
        shape = tuple(state.shape)
        if len(shape) != 2 or any(
            w is not None and g is not None and w != g for w, g in zip(want, shape, strict=True)
        ):
            raise ValueError(
                f"`initial_state` must be [batch, channels] = {want}, the smoother after the "
                f"previous chunk. Received: initial_state.shape={shape}"
            )
        return state

    def compute_output_spec(
        self, inputs: Any, initial_state: Any = None, return_state: bool = False
    ) -> Any:
        outputs = keras.KerasTensor(inputs.shape, dtype=self.working_dtype)
        if return_state:
            state = keras.KerasTensor((inputs.shape[0], inputs.shape[-1]), self.working_dtype)
            return outputs, state
        return outputs

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            alpha=self.alpha_init,
            delta=self.delta_init,
            root=self.root_init,
            smooth_coef=self.smooth_coef_init,
            floor=self.floor,
            learn=list(self.learn),
            state_init=self.state_init,
        )
        return config
