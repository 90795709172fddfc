"""An STFT / inverse STFT pair for separation and enhancement models, with complex,
magnitude-phase and magnitude views, equal to ``librosa.stft`` and ``librosa.istft``.

The analysis is an :class:`~framebank.Encoder` with the fixed ``fourier`` family run by the
``rfft`` method (the basis is the model); the synthesis is ``irfft`` and librosa's
weighted overlap-add (:func:`framebank.framing.overlap_add` with the window).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from framebank import framing
from framebank._validation import check_choice, check_floating_policy, check_positive_int
from framebank.filterbanks.base import check_window, make_window
from framebank.layers import Encoder
from framebank.postprocessing._common import working_dtype

__all__ = ["ISTFT", "STFT", "SPECTRUM_VIEWS"]

# "complex": [..., 0] real, [..., 1] imaginary; "magnitude_phase": [..., 0] |X|, [..., 1]
# angle(X) in radians; "magnitude": |X| alone (no inverse).
SPECTRUM_VIEWS = ("complex", "magnitude_phase", "magnitude")


def _geometry(n_fft: Any, hop_length: Any) -> tuple[int, int]:
    n_fft = check_positive_int("n_fft", n_fft)
    hop = n_fft // 4 if hop_length is None else check_positive_int("hop_length", hop_length)
    if hop < 1:
        raise ValueError(f"`n_fft` must be at least 4 for the default hop. Received: {n_fft}")
    return n_fft, hop


class _SpectrumLayer(keras.layers.Layer):
    """What :class:`STFT` and :class:`ISTFT` share: their options, checked alike, their
    config, and a DFT in float32 under 16-bit policies."""

    views: tuple[str, ...] = SPECTRUM_VIEWS

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        window: str = "hann",
        center: bool = True,
        view: str = "complex",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_floating_policy(type(self).__name__, self.dtype_policy)
        self.n_fft, self.hop_length = _geometry(n_fft, hop_length)
        self.window = check_window(window)
        self.center = bool(center)
        self.view = check_choice("view", view, self.views)
        self._make_parts()

    def _make_parts(self) -> None:
        """Hook: create sub-layers once the options are set."""

    @property
    def input_dtype(self) -> str:
        # The waveform reaches the DFT unrounded under 16-bit policies.
        return working_dtype(self.compute_dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "window": self.window,
            "center": self.center,
            "view": self.view,
        }


@keras.saving.register_keras_serializable(package="framebank")
class STFT(_SpectrumLayer):
    """``librosa.stft`` as a layer: ``[batch, time]`` to ``[batch, frames, n_fft // 2 + 1, 2]``.

    A fixed windowed DFT (periodic window, frames of ``n_fft`` samples every
    ``hop_length``), centred as librosa's ``center=True`` with zeros (librosa's
    ``pad_mode="constant"``). :class:`ISTFT` with the same options inverts it. The DFT
    runs in float32 under 16-bit policies.

    Args:
        n_fft: samples per frame and DFT size.
        hop_length: samples between frames (librosa's default ``n_fft // 4``).
        window: ``"hann"`` (default), ``"hamming"``, ``"sqrt_hann"`` or ``"rectangular"``.
        center: pad ``n_fft // 2`` zeros at both ends (frame ``f`` centred on sample
            ``f * hop_length``).
        view: ``"complex"`` (real and imaginary parts on the last axis),
            ``"magnitude_phase"`` (``|X|`` and ``angle(X)``) or ``"magnitude"``
            (``[batch, frames, n_fft // 2 + 1]``).

    Input shape:
        ``[batch, time]`` or ``[batch, time, 1]``.

    Output shape:
        ``[batch, frames, n_fft // 2 + 1, 2]`` (``[batch, frames, n_fft // 2 + 1]`` for
        ``"magnitude"``); ``frames = 1 + time // hop_length`` when centred. The transpose of
        librosa's ``[freq, frames]``, as Keras is channels-last.

    Example:
        >>> STFT(512, 128)(np.zeros((2, 16000), "float32")).shape
        (2, 126, 257, 2)
    """

    def _make_parts(self) -> None:
        self.encoder = Encoder(
            frame_len=self.n_fft,
            hop=self.hop_length,
            filterbank="fourier",
            window=self.window,
            center=self.center,
            method="rfft",
            trainable=False,
            dtype=working_dtype(self.compute_dtype),
            name="dft",
        )

    @property
    def not_streamable(self) -> str:
        return (
            "its views are not streamed yet; stream its encoder, Encoder(frame_len=n_fft, "
            "hop=hop_length, filterbank='fourier', method='rfft', center=...), whose output "
            "is the same numbers as [real parts, imaginary parts] on the last axis"
        )

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def build(self, input_shape: tuple) -> None:
        # Refused here, naming STFT and its own options, rather than by its inner encoder.
        shape = tuple(input_shape)
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (1, None)):
            raise ValueError(
                f"STFT takes mono waveforms [batch, time] or [batch, time, 1]. Received: "
                f"input_shape={shape}. For one clip add the batch axis (x[None]); for several "
                "channels wrap it: framebank.Multichannel(STFT(...))."
            )
        if not self.center and shape[1] is not None and shape[1] < self.n_fft:
            raise ValueError(
                f"STFT(n_fft={self.n_fft}, center=False) needs at least {self.n_fft} samples. "
                f"Received: {shape[1]} samples. Use center=True (pads n_fft // 2 each side) "
                "or a smaller n_fft."
            )
        self.encoder.build(input_shape)

    def call(self, signal: Any) -> Any:
        coefficients = self.encoder(signal)
        # One split, not two slices (under TensorFlow each slice's gradient is a padded copy).
        real, imag = ops.split(coefficients, [self.n_freq], axis=-1)
        if self.view == "complex":
            return ops.stack([real, imag], axis=-1)
        magnitude = ops.sqrt(ops.square(real) + ops.square(imag))
        if self.view == "magnitude":
            return magnitude
        return ops.stack([magnitude, ops.arctan2(imag, real)], axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, frames, _ = self.encoder.compute_output_shape(input_shape)
        tail = () if self.view == "magnitude" else (2,)
        return (batch, frames, self.n_freq, *tail)

    def compute_output_spec(self, signal: Any) -> Any:
        shape = self.compute_output_shape(signal.shape)
        return keras.KerasTensor(shape, dtype=working_dtype(self.compute_dtype))


@keras.saving.register_keras_serializable(package="framebank")
class ISTFT(_SpectrumLayer):
    """``librosa.istft`` as a layer: the inverse of :class:`STFT` with the same options.

    Each frame is ``irfft``'d, windowed again and overlap-added; the sum is divided by the
    overlapped squared window wherever it is a normal number (librosa's rule), and
    ``n_fft // 2`` samples are trimmed at each end when centred. On a spectrogram that no
    signal has (a masked one), this is librosa's least-squares estimate.

    Args:
        n_fft, hop_length, window, center: as :class:`STFT`.
        view: ``"complex"`` or ``"magnitude_phase"``, the :class:`STFT` view it takes.

    Call arguments:
        spectrum: ``[batch, frames, n_fft // 2 + 1, 2]``.
        length: optional int: cut or zero-pad the output to this many samples (the
            STFT's input length; librosa's ``length``).

    Output shape:
        ``[batch, time]``: ``(frames - 1) * hop_length`` samples when centred
        (``+ n_fft`` when not), or ``length``.

    Example:
        >>> x = np.random.randn(2, 4000).astype("float32")
        >>> ISTFT(512, 128)(STFT(512, 128)(x), length=4000).shape
        (2, 4000)
    """

    views = SPECTRUM_VIEWS[:2]

    @property
    def not_streamable(self) -> str:
        return (
            "it is not streamed yet; framebank.Decoder(encoder, kind='pinv') of a fourier "
            "Encoder streams and inverts the same STFT"
        )

    def build(self, input_shape: tuple) -> None:
        want = (self.n_fft // 2 + 1, 2)
        if len(input_shape) != 4 or tuple(input_shape[2:]) != want:
            raise ValueError(
                f"ISTFT(n_fft={self.n_fft}) expects [batch, frames, {want[0]}, 2] (an STFT's "
                f"{self.view!r} view). Received: input_shape={tuple(input_shape)}"
            )

    def call(self, spectrum: Any, length: int | None = None) -> Any:
        dtype = working_dtype(self.compute_dtype)
        spectrum = ops.cast(spectrum, dtype)
        first, second = spectrum[..., 0], spectrum[..., 1]
        if self.view == "complex":
            real, imag = first, second
        else:
            real, imag = first * ops.cos(second), first * ops.sin(second)
        frames = ops.irfft((real, imag), self.n_fft)  # [batch, frames, n_fft]
        window = ops.convert_to_tensor(make_window(self.window, self.n_fft), dtype=dtype)
        y = ops.cast(framing.overlap_add(frames, self.hop_length, window=window), dtype)
        if self.center:
            start = self.n_fft // 2
            y = y[:, start:] if length is not None else y[:, start:-start]
        if length is not None:
            y = framing.fit_length(y, check_positive_int("length", length))
        return y

    def compute_output_shape(self, input_shape: tuple, length: int | None = None) -> tuple:
        frames = input_shape[1]
        if length is not None:
            return (input_shape[0], length)
        if frames is None:
            return (input_shape[0], None)
        time = (frames - 1) * self.hop_length + (0 if self.center else self.n_fft)
        return (input_shape[0], time)

    def compute_output_spec(self, spectrum: Any, length: int | None = None) -> Any:
        shape = self.compute_output_shape(spectrum.shape, length)
        return keras.KerasTensor(shape, dtype=working_dtype(self.compute_dtype))
