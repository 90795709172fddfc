"""The mel weighting: Fourier coefficients (real then imaginary parts) to a mel spectrogram."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank._tensors import known_cond
from framebank._validation import MEL_OPTIONS, check_mel_options, check_positive_int, mel_options
from framebank._weights import constant_initializer
from framebank.postprocessing._common import Float32Postprocessing
from framebank.postprocessing.base import register_postprocessing

__all__ = ["BandedProduct", "MelSpectrum", "band_units", "check_mel_options", "mel_weights"]

# The cost model a banded product is planned by, in multiply-adds a frame: at most MAX_BLOCKS
# blocks, each BLOCK_COST more than its own (a matmul, a pad and a sum more to run), and
# ROW_COST a row of the input (its copy in the split, and in the gradient's concatenation).
# Used only where it costs less than the dense product. Measured (benchmarks/README.md).
MAX_BLOCKS = 16
BLOCK_COST = 2048
ROW_COST = 16
# The plan's table is quadratic in the rows: above this many, cuts fall on every k-th row
# (fft_length 16384 would need 1.5 GB and 10 s at every build otherwise).
PLANNED_ROWS = 1025


def mel_weights(
    sample_rate: float,
    fft_length: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """librosa's mel filterbank, transposed: ``[fft_length // 2 + 1, n_mels]`` float64.

    A band too narrow to hold an FFT bin is all zeros: one warning of framebank's own says
    which sizes cause it (librosa's, which names neither, is silenced)."""
    import librosa

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Empty filters detected", UserWarning)
        weights = librosa.filters.mel(
            sr=sample_rate,
            n_fft=fft_length,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=htk,
            norm=norm,
            dtype=np.float64,
        ).T
    empty = int(np.sum(~weights.any(axis=0)))
    if empty:
        warnings.warn(
            f"{empty} of the n_mels={n_mels} mel bands hold no FFT bin at n_fft={fft_length}, "
            f"sample_rate={sample_rate}: those channels are zero for every input (as in "
            "librosa and torchaudio); fewer n_mels or a larger n_fft fills them",
            UserWarning,
            stacklevel=2,
        )
    return weights


def matmul(x: Any, weight: Any) -> Any:
    """``x @ weight`` over the last axis; float64 through ``einsum`` (Keras's torch matmul
    returns float64 products as float32)."""
    if keras.backend.standardize_dtype(x.dtype) == "float64":
        return ops.einsum("...f,fm->...m", x, weight)
    return ops.matmul(x, weight)


def _row_spans(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first and one-past-last non-zero column (``[n, 0)`` for a zero row)."""
    nonzero = weights != 0
    some = nonzero.any(axis=1)
    n_cols = weights.shape[1]
    first = np.where(some, nonzero.argmax(axis=1), n_cols)
    end = np.where(some, n_cols - nonzero[:, ::-1].argmax(axis=1), 0)
    return first, end


def _segment_costs(weights: np.ndarray) -> np.ndarray:
    """``cost[a, e]``: the multiply-adds per frame of rows ``a:e`` times the columns their
    non-zeros span (``inf`` where ``e <= a``)."""
    first, end = _row_spans(weights)
    n = len(weights)
    cost = np.full((n + 1, n + 1), np.inf)
    for e in range(1, n + 1):
        lo = np.minimum.accumulate(first[:e][::-1])[::-1]
        hi = np.maximum.accumulate(end[:e][::-1])[::-1]
        cost[:e, e] = (e - np.arange(e)) * np.maximum(hi - lo, 0)
    return cost


def _cheapest_cuts(weights: np.ndarray, max_blocks: int) -> list[int]:
    """The row boundaries ``[0, ..., n]`` of at most ``max_blocks`` contiguous segments whose
    blocks cost the fewest multiply-adds, :data:`BLOCK_COST` each included (dynamic
    programming over the end of each)."""
    rows = len(weights)
    step = -(-rows // PLANNED_ROWS)
    if step > 1:  # k rows as one: their non-zeros' union, k times their cost
        weights = np.add.reduceat(np.abs(weights), np.arange(0, rows, step), axis=0)
    cost = _segment_costs(weights) * step + BLOCK_COST
    n = len(weights)
    best, starts = cost[0], []
    overall = (best[n], 1)
    for count in range(2, max_blocks + 1):
        total = best[:, None] + cost
        starts.append(total.argmin(axis=0))
        best = total.min(axis=0)
        overall = min(overall, (best[n], count))
    cuts = [n]
    for level in range(overall[1] - 2, -1, -1):
        cuts.append(int(starts[level][cuts[-1]]))
    cuts = [0, *cuts[::-1]] if cuts[-1] != 0 else cuts[::-1]
    return [min(cut * step, rows) for cut in cuts]


class BandedProduct:
    """``x @ weight`` for a ``[rows, cols]`` weight whose non-zeros lie in a band (a mel
    matrix: each FFT bin in at most two triangles), reading only the band.

    The rows are cut into at most :data:`MAX_BLOCKS` contiguous segments (one ``split`` of
    ``x``); each segment is multiplied by the block of columns its non-zeros span, and the
    blocks' products, padded to ``cols``, are summed. The cuts are chosen from ``weights``
    (the values the layer starts from) for the fewest multiply-adds. Exact for whatever
    the weight holds: a per-call check that every entry outside the blocks is zero picks
    the banded product, and any other weight gets the dense one.

    Args:
        weights: ``[rows, cols]``, the values the band is read from.
    """

    def __init__(self, weights: np.ndarray) -> None:
        weights = np.asarray(weights)
        self.shape = weights.shape
        first, end = _row_spans(weights)
        cuts = _cheapest_cuts(weights, MAX_BLOCKS)
        self.sizes = [b - a for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        # (segment index, rows a:e, columns lo:hi) of each block with a non-zero.
        self.blocks = []
        inside = np.zeros(weights.shape, bool)
        for index, (a, e) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
            lo, hi = int(first[a:e].min()), int(end[a:e].max())
            if hi > lo:
                self.blocks.append((index, a, e, lo, hi))
                inside[a:e, lo:hi] = True
        self.inside = inside
        self.work = sum((e - a) * (hi - lo) for _, a, e, lo, hi in self.blocks)
        cost = self.work + BLOCK_COST * (len(self.blocks) - 1) + ROW_COST * weights.shape[0]
        self.used = len(self.blocks) > 1 and cost < weights.size

    def __call__(self, x: Any, weight: Any, dense_gradient: bool = False) -> Any:
        """``x [..., rows] @ weight [rows, cols]`` -> ``[..., cols]``; with
        ``dense_gradient`` (a weight that trains), :meth:`banded_dense_gradient`."""
        if not self.used:
            return matmul(x, weight)
        banded = self.banded_dense_gradient if dense_gradient else self.banded
        return known_cond(
            self.holds_band(weight),
            lambda: banded(x, weight),
            lambda: matmul(x, weight),
        )

    def holds_band(self, weight: Any) -> Any:
        """A scalar boolean tensor: every entry of ``weight`` outside the blocks is zero (a
        NaN there is not)."""
        inside = ops.convert_to_tensor(self.inside)
        return ops.all(ops.logical_or(inside, ops.equal(ops.stop_gradient(weight), 0)))

    def banded(self, x: Any, weight: Any) -> Any:
        """The blocks' products, summed: equal to ``x @ weight`` when :meth:`holds_band`."""
        pieces = ops.split(x, np.cumsum(self.sizes)[:-1].tolist(), axis=-1)
        cols = self.shape[1]
        total = None
        for index, a, e, lo, hi in self.blocks:
            part = matmul(pieces[index], weight[a:e, lo:hi])
            part = ops.pad(part, [(0, 0)] * (len(x.shape) - 1) + [(lo, cols - hi)])
            total = part if total is None else total + part
        return total

    def banded_dense_gradient(self, x: Any, weight: Any) -> Any:
        """:meth:`banded`'s numbers (``b + 0``, exactly, for a finite product) with the dense
        product's gradients: a weight that trains has a non-zero gradient outside the band
        too, and starts at the fixed layer's numbers bit for bit."""
        dense = matmul(x, weight)
        return ops.stop_gradient(self.banded(x, weight)) + (dense - ops.stop_gradient(dense))


@register_postprocessing("mel_spectrum")
class MelSpectrum(Float32Postprocessing):
    """Fourier coefficients to a mel spectrogram: ``|X|^power @ mel``.

    Args:
        sample_rate: Hz.
        fft_length: the DFT size of the coefficients.
        n_mels, fmin, fmax, htk, norm: as in ``librosa.filters.mel``.
        power: the exponent of ``|X|``: 1 (magnitude), 2 (power), or any positive number,
            as librosa's ``power``.
        trainable: the mel weights are fixed by default; trained, they are kept >= 0
            after each optimizer step (``keras.constraints.NonNeg``).

    Attributes:
        mel: the ``[fft_length // 2 + 1, n_mels]`` weight, each band divided by its unit
            (assign it the weights divided by ``mel_unit``).
        mel_unit: None where every band peaks near 1 (HTK-style), else a non-trainable
            ``[n_mels]`` weight, each band's unit (:func:`band_units`); the weights the layer
            multiplies by are ``mel * mel_unit`` (:meth:`mel_matrix`). Files saved when
            ``mel`` held the weights themselves (one entry) load into this layout.

    The weights multiply through :class:`BandedProduct` (only the blocks the triangles
    cover, while every other entry is zero); while they train, with the dense product's
    gradient, decided when a function is traced.

    Input shape:
        ``[batch, frames, 2 * (fft_length // 2 + 1)]``, real parts then
        imaginary parts (the ``fourier`` / ``mel`` families' layout).

    Output shape:
        ``[batch, frames, n_mels]``.
    """

    frame_wise = True

    def __init__(
        self,
        sample_rate: float,
        fft_length: int,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        power: float = 2.0,
        htk: bool = False,
        norm: str | None = "slaney",
        trainable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(trainable=trainable, **kwargs)
        for key, value in mel_options(n_mels, fmin, fmax, power, htk, norm, sample_rate).items():
            setattr(self, key, value)
        self.sample_rate = float(sample_rate)
        self.fft_length = check_positive_int("fft_length", fft_length)
        self.n_freq = self.fft_length // 2 + 1

    @classmethod
    def for_encoder(cls, encoder: Any, **options: Any) -> MelSpectrum:
        """Defaults from a ``mel`` encoder's filterbank (its sample rate, DFT size and mel
        options); for other families ``sample_rate`` defaults to the encoder's."""
        filterbank = encoder.filterbank
        defaults = {}
        if hasattr(filterbank, "spectrum_options"):
            defaults = filterbank.spectrum_options()
        elif getattr(filterbank, "sample_rate", None) is not None:
            defaults = {"sample_rate": filterbank.sample_rate}
        return cls(**{**defaults, **options})

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] != 2 * self.n_freq:
            raise ValueError(
                f"MelSpectrum expects 2 * (fft_length // 2 + 1) = {2 * self.n_freq} "
                f"coefficients (real then imaginary). Received: input_shape={tuple(input_shape)}"
            )
        weights = self.initial_weights()
        self._units = band_units(weights)
        # Trained, a negative weight could make a band's power negative: the log's floor
        # then holds it, a dead band with no gradient. NonNeg keeps the (>= 0) start exact.
        self.mel = self.add_array_weight("mel", weights / self._units, keras.constraints.NonNeg())
        self.mel_unit = None
        if np.any(self._units != 1.0):
            self.mel_unit = self.add_weight(
                name="mel_unit",
                shape=self._units.shape,
                initializer=constant_initializer(self._units),
                trainable=False,
                dtype=self.working_dtype,
                autocast=False,
            )
        self.product = BandedProduct(weights)

    def load_own_variables(self, store: Any) -> None:
        """Keras's loading (``.keras`` and ``.weights.h5``), plus the earlier layout: one
        entry, the mel weights themselves, where a layer with band units has two."""
        if self.mel_unit is None or len(store.keys()) != 1:
            super().load_own_variables(store)  # any other count: Keras's own error
            return
        # Divided by powers of two: exponents change only, so these are the same weights.
        self.mel.assign(np.asarray(store["0"]) / self._units)
        self.mel_unit.assign(self._units)

    def mel_matrix(self) -> Any:
        """The ``[fft_length // 2 + 1, n_mels]`` weights the layer multiplies by now."""
        return mel_matrix(self)

    def initial_weights(self) -> np.ndarray:
        """The ``[fft_length // 2 + 1, n_mels]`` float64 weights the layer starts from."""
        return mel_weights(
            self.sample_rate,
            self.fft_length,
            self.n_mels,
            self.fmin,
            self.fmax,
            self.htk,
            self.norm,
        )

    def parameter_values(self) -> dict[str, np.ndarray]:
        """Per band, while the weights train: :func:`mel_band_values`."""
        return mel_band_values(self, self.initial_weights())

    def call(self, coefficients: Any) -> Any:
        # In float32 even under mixed_float16: a full-scale tone's power (256**2 for
        # fft_length 1024) is past float16's largest number, 65504.
        coefficients = ops.cast(coefficients, self.working_dtype)
        # One split, not two slices: its gradient is one concatenation, where two slices'
        # are two zero-padded copies and their sum (benchmarks/README.md, "through the FFT").
        real, imag = ops.split(coefficients, 2, axis=-1)
        power = ops.square(real) + ops.square(imag)
        if self.power != 2.0:
            # The floor keeps the gradient of |X| finite where X = 0.
            tiny = ops.cast(1e-20 if power.dtype != "float16" else 1e-7, power.dtype)
            power = ops.power(ops.maximum(power, tiny), self.power / 2.0)
        return mel_product(self, power)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.n_mels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            fft_length=self.fft_length,
            **{key: getattr(self, key) for key in MEL_OPTIONS},
        )
        return config


def band_units(weights: np.ndarray) -> np.ndarray:
    """Per band of ``weights [n_freq, n_mels]``, the power of two nearest its peak, or 1 where
    that power is 2^-2 to 2^2 (a peak between 2^-2.5 and 2^2.5: an HTK-style band, peak 1
    between bins) or the band is empty: ``[n_mels]`` float64.

    Why: Adam moves every weight by about the learning rate a step, whatever its size, and a
    Slaney-normalised band peaks at 2e-3 to 3e-2 (``benchmarks/mel_learning_rate.py``: at
    1e-3 the median band moved 48% of its peak in 10 steps). Stored divided by its unit, such a
    band peaks between 0.7 and 1.4, near an HTK-style band's 1; a power of two changes
    exponents only, so the division and the product back are exact."""
    peaks = np.abs(np.asarray(weights, np.float64)).max(axis=0)
    exponents = np.round(np.log2(np.where(peaks > 0, peaks, 1.0)))
    exponents[np.abs(exponents) <= 2] = 0.0
    return 2.0 ** np.clip(exponents, -126, 127)


def mel_matrix(layer: Any) -> Any:
    """A mel layer's weights now: its ``mel`` weight times its band units where it has them."""
    unit = getattr(layer, "mel_unit", None)
    return layer.mel if unit is None else ops.multiply(layer.mel, unit)


def mel_band_values(layer: Any, initial: np.ndarray) -> dict[str, np.ndarray]:
    """Per band of a mel layer whose weights train or were trained, what ``framebank
    inspect`` tabulates: ``centre_hz`` (the band's weighted mean frequency over the FFT
    bins), the same from ``initial`` (``[n_freq, bands]``, the weights it started from),
    ``weight_sum`` and ``changed`` (the band's largest change over its largest initial
    weight). ``{}`` for a fixed layer still at its definition (nothing was learned); a layer
    frozen after fine-tuning (``trainable=False``) is tabulated as its weights differ."""
    if getattr(layer, "mel", None) is None:
        return {}
    learned = np.array(ops.convert_to_numpy(mel_matrix(layer)))
    # Rounded as the weight stores it: an untrained band reads `changed` 0 exactly.
    initial = np.asarray(initial).astype(learned.dtype)
    training = layer.trainable and layer.mel.trainable
    if not training and np.array_equal(learned, initial):
        return {}
    learned, initial = learned.astype(np.float64), initial.astype(np.float64)
    hz = np.arange(learned.shape[0]) * layer.sample_rate / layer.fft_length

    def centres(weights: np.ndarray) -> np.ndarray:
        total = weights.sum(axis=0)
        return (hz @ weights) / np.where(total > 0, total, 1.0)

    scale = np.abs(initial).max(axis=0)
    return {
        "centre_hz": centres(learned),
        "initial_centre_hz": centres(initial),
        "weight_sum": learned.sum(axis=0),
        "changed": np.abs(learned - initial).max(axis=0) / np.where(scale > 0, scale, 1.0),
    }


def mel_product(layer: Any, spectrum: Any) -> Any:
    """``spectrum @ mel_matrix(layer)`` through ``layer.product`` (a :class:`BandedProduct`), with
    the dense product's gradient while the weight trains."""
    mel = ops.cast(mel_matrix(layer), spectrum.dtype)
    return layer.product(spectrum, mel, dense_gradient=layer.trainable and layer.mel.trainable)
