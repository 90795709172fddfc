"""What every ready-made front end shares: :class:`FrontEnd` (an encoder, then
post-processing, as one Keras layer), the one registry of ready-made front ends by name,
and :class:`FrameSpec`, the window and hop from milliseconds or samples with one set of
options and errors.

A ready-made front end states only its options and its pieces (a subclass of
:class:`ReadyMade`); its config is those options.
"""

from __future__ import annotations

import dataclasses
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np

from framebank._validation import (
    KERAS_INPUT_KEYWORDS,
    KERAS_LAYER_KEYWORDS,
    AudioInput,
    check_positive_int,
    check_positive_number,
    check_registry_name,
    register_class,
)
from framebank.decoder import Decoder
from framebank.layers import Encoder

__all__ = ["FRONTENDS", "FrameSpec", "FrontEnd", "ReadyMade", "register_ready_made"]

# Ready-made front ends by name: a config naming one, ``{"frontend": "leaf",
# "sample_rate": 16000}``, builds it with the other keys. FRONTENDS is the read-only view.
_READY_MADE: dict[str, type] = {}
FRONTENDS: Mapping[str, type] = types.MappingProxyType(_READY_MADE)


def register_ready_made(name: str, *, override: bool = False) -> Callable[[type], type]:
    """Class decorator: a ready-made :class:`FrontEnd` that configs can name with ``frontend``.

    ``build_frontend({"frontend": name, **options})`` then builds it with ``options``
    (checked against its constructor's). A name already registered to another class
    (``"leaf"``) raises a ``ValueError`` unless ``override=True``.
    """
    check_registry_name("register_ready_made", name)

    def decorator(cls: type) -> type:
        register_class(_READY_MADE, name, cls, FrontEnd, "register_ready_made", override)
        return cls

    return decorator


def _postprocessing_step(step: Any, encoder: Encoder) -> Any:
    """A step as given: a layer, its serialised dict, or a registered name (a config's
    ``"log"``; defaults taken from the encoder where the layer takes them)."""
    if isinstance(step, dict):
        return keras.saving.deserialize_keras_object(step)
    if isinstance(step, str):
        from framebank.postprocessing import POSTPROCESSING, get_postprocessing

        make = getattr(POSTPROCESSING.get(step), "for_encoder", None)
        return make(encoder) if make is not None else get_postprocessing(step)
    return step


def _check_complex_pairs(encoder: Encoder, steps: list, loading: bool = False) -> None:
    """Refuse a first step that reads channel ``c`` and ``c + channels / 2`` as one complex
    number (``energy``, ``modulus``, ``log_energy`` with ``pairs``) after a filterbank of
    real filters: it would add the energies of two unrelated filters, silently. A saved
    front end (``loading``) only warns: files written before ``complex_pairs`` existed
    (a free basis started from Gabor filters) must still load, weights and all."""
    if not steps or getattr(steps[0], "pairs", False) is not True:
        return
    filterbank = encoder.filterbank
    if filterbank.complex_pairs:
        return
    family = filterbank.family or type(filterbank).__name__
    message = (
        f"{type(steps[0]).__name__}(pairs=True) reads the channels as real parts, then "
        f"imaginary parts of complex filters, but the {family!r} filterbank holds "
        f"{filterbank.num_basis} real filters (it does not declare complex_pairs): drop "
        "pairs (`pairs: false` in a config, pairs=False in Python) to take each filter's own "
        "energy, or use a complex family ('gabor', 'analytic', 'fourier'; 'free' with "
        "complex_pairs)."
    )
    if not loading:
        raise ValueError(message)
    warnings.warn(
        f"loaded as saved, but check it: {message} (A free basis whose channels are complex "
        "pairs: set complex_pairs=True on its filterbank and save again.)",
        UserWarning,
        stacklevel=3,
    )


@keras.saving.register_keras_serializable(package="framebank")
class FrontEnd(AudioInput, keras.layers.Layer):
    """A whole front end as one Keras layer: an encoder, then post-processing, in order.

    Calling it maps a waveform to features; the optional decoder is held beside
    (it inverts the encoder's coefficients, not the features) and saved with it,
    sharing the encoder's basis.

    Args:
        encoder: the :class:`~framebank.Encoder`.
        postprocessing: layers applied in order to the coefficients.
        decoder: an optional :class:`~framebank.Decoder` of ``encoder``.

    Input shape:
        ``[batch, time]`` or ``[batch, time, 1]``: float samples in ``[-1, 1]``, or
        integer PCM (int8, int16, int32, uint8) which is divided by its full scale
        (int16 by 32768) as soundfile and torchaudio read it; every front end applies
        this one rule (its encoder does). The rank and channels are checked at every
        call. A batch of 0 (known statically) gives ``[0, frames, features]``; 0 samples
        is a ``ValueError``.

    Output shape:
        what the last post-processing layer returns (the coefficients
        ``[batch, frames, num_basis]`` without post-processing).

    Example:
        >>> log_mel = ["mel_spectrum", {"log_energy": {"square": False}}]
        >>> fe = build_frontend({"filterbank": "mel", "frame_len": 256, "hop": 80,
        ...                      "sample_rate": 8000, "n_mels": 40, "postprocessing": log_mel})
        >>> fe(np.zeros((2, 8000), "float32")).shape
        (2, 97, 40)
    """

    def __init__(
        self,
        encoder: Encoder | dict,
        postprocessing: list | tuple = (),
        decoder: Decoder | dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(encoder, dict):  # serialised, from get_config
            encoder = keras.saving.deserialize_keras_object(encoder)
        if not isinstance(encoder, Encoder):
            raise TypeError(
                "`encoder` must be a framebank.Encoder. "
                f"Received: encoder={encoder!r} of type {type(encoder).__name__}"
            )
        if not isinstance(postprocessing, (list, tuple)):
            raise TypeError(
                "`postprocessing` must be a list of Keras layers. "
                f"Received: postprocessing={postprocessing!r}"
            )
        steps = []
        for step in postprocessing:
            step = _postprocessing_step(step, encoder)
            if not isinstance(step, keras.layers.Layer):
                raise TypeError(
                    "Each post-processing step must be a Keras layer. "
                    f"Received: {step!r} of type {type(step).__name__}"
                )
            steps.append(step)
        if isinstance(decoder, dict):
            # Rebuilt around this encoder, so that a tied or pinv decoder shares its basis.
            decoder = Decoder(encoder=encoder, **decoder)
        if decoder is not None and not isinstance(decoder, Decoder):
            raise TypeError(
                "`decoder` must be a framebank.Decoder. "
                f"Received: decoder={decoder!r} of type {type(decoder).__name__}"
            )
        _check_complex_pairs(encoder, steps, loading=FrontEnd._loading)
        self.encoder = encoder
        self.postprocessing = steps
        self.decoder = decoder

    def _check_input_shape(self, input_shape: tuple) -> None:
        """Refuse, naming this front end and the fix, what would fail later or give nothing:
        a rank other than 2 or 3, more than one channel, or a known length too short for
        one frame (or for reflect padding)."""
        what = f"{type(self).__name__} {self.name!r}"
        shape = tuple(input_shape)
        if len(shape) not in (2, 3):
            raise ValueError(
                f"{what} takes a batch of mono waveforms [batch, time] or [batch, time, 1]. "
                f"Received: input_shape={shape}. For one clip, add the batch axis "
                "(x[None] or keras.ops.expand_dims(x, 0))."
            )
        if len(shape) == 3 and shape[-1] not in (1, None):
            raise ValueError(
                f"{what} takes mono audio [batch, time] or [batch, time, 1]. Received: "
                f"input_shape={shape} ({shape[-1]} channels). Mix down first "
                "(keras.ops.mean(x, axis=-1)), pick one channel (x[..., 0]), or run each "
                "channel through the front end: framebank.Multichannel(frontend) gives "
                "[batch, channels, frames, features]."
            )
        if shape[1] == 0:
            # Every front end, whatever its padding would make of nothing (the encoder's rule).
            raise ValueError(self._too_short_message(what, 0, self._shortest(0)))
        if shape[1] is not None and self._frames(shape[1]) < 1:
            raise ValueError(self._too_short_message(what, shape[1], self._shortest(shape[1])))
        half = self.encoder.frame_len // 2
        if shape[1] is not None and self.encoder.center:
            if self.encoder.pad_mode == "reflect" and shape[1] <= half:
                raise ValueError(
                    f"{what} pads with pad_mode='reflect', mirroring {half} samples, so it "
                    f"needs at least {half + 1} samples. Received: {shape[1]} samples. Give "
                    f"it at least {half + 1} (keras.Input(({half + 1},)) or (None,)), or build "
                    "it with pad_mode='constant'."
                )

    def _shortest(self, samples: int) -> int:
        """The fewest samples, more than ``samples``, that give this front end a frame."""
        low, high = samples, 2 * samples + 1
        while self._frames(high) < 1 and high < 1 << 30:  # doubling, ...
            low, high = high, 2 * high
        while high - low > 1:  # ... then bisection
            middle = (low + high) // 2
            low, high = (middle, high) if self._frames(middle) < 1 else (low, middle)
        return high

    # The constructor option that shortens its frame, named in the too-short message; None
    # where the front end has no such option (a pretrained model's is fixed).
    _window_option: str | None = "window"

    def _too_short_message(self, what: str, samples: int, shortest: int) -> str:
        """Why ``samples`` give no frame and the fixes: ``shortest`` samples or more, and, where
        a window longer than one sample is why, this front end's option for a shorter one."""

        def count(n: int) -> str:
            return f"{n} sample" if n == 1 else f"{n} samples"

        fix = f", or build it with a shorter {self._window_option}" if self._window_option else ""
        # 0 samples is refused whatever the padding would make of it (the encoder's rule).
        empty = "received an empty signal (0 samples)"
        got = f"gives 0 frames for {count(samples)}" if samples else empty
        return (
            f"{what} {got}: {self._length_rule()}. Give it at "
            f"least {count(shortest)} (keras.Input(({shortest},)) or longer, or (None,) for any "
            f"length){fix if shortest > 1 else ''}."
        )

    def _length_rule(self) -> str:
        """Why a short input gives no frame, in words (for the too-short message)."""
        return f"one frame is {self.encoder.frame_len} samples (center={self.encoder.center})"

    def _frames(self, samples: int) -> int:
        """Frames this front end gives for ``samples`` (its output's time axis)."""
        shape = self.compute_output_shape((None, samples))
        return shape[1] if len(shape) == 3 else 1

    def _call_checked(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        # The shape is checked at every call, not only at build: a built front end ran on a
        # stereo or channels-first batch (LEAF's band-limited path dropped a channel) or
        # took one clip for a batch. Static shapes only: nothing runs. (AudioInput.__call__
        # has checked the value: a list, a non-PCM integer dtype.)
        try:
            shape = tuple(inputs.shape)
        except (AttributeError, TypeError, ValueError):  # no shape, or TensorFlow's unknown rank
            return super()._call_checked(inputs, *args, **kwargs)
        self._check_input_shape(shape)
        if shape[0] == 0 and None not in shape and not isinstance(inputs, keras.KerasTensor):
            return self._empty_batch(shape)
        return super()._call_checked(inputs, *args, **kwargs)

    def _empty_batch(self, shape: tuple) -> Any:
        """A batch of 0 clips gives 0 rows of features, ``compute_output_shape(shape)``
        (the backends' FFTs, PCEN's state and the grouped paths fail on an empty batch)."""
        if not self.built:
            self.build(shape)
        # The dtype a clip's features have (float32 under 16-bit policies for most front
        # ends), read from a symbolic call on one clip.
        one = keras.KerasTensor((1, *shape[1:]), dtype="float32")
        dtype = keras.Operation.compute_output_spec(self, one).dtype  # traces call
        return keras.ops.zeros(self.compute_output_shape(shape), dtype)

    def build(self, input_shape: tuple) -> None:
        self._check_input_shape(input_shape)
        if not self.encoder.built:
            self.encoder.build(input_shape)
        shape = self.encoder.compute_output_shape(input_shape)
        if self.decoder is not None and not self.decoder.built:
            self.decoder.build(shape)
        for step in self.postprocessing:
            if not step.built:
                step.build(shape)
            shape = step.compute_output_shape(shape)

    def call(self, waveform: Any) -> Any:
        x = self.encoder(waveform)
        for step in self.postprocessing:
            x = step(x)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = self.encoder.compute_output_shape(input_shape)
        for step in self.postprocessing:
            shape = step.compute_output_shape(shape)
        return shape

    # True while from_config rebuilds a saved front end (see _check_complex_pairs).
    _loading = False

    @classmethod
    def from_config(cls, config: dict) -> FrontEnd:
        previous, FrontEnd._loading = FrontEnd._loading, True
        try:
            return super().from_config(config)
        finally:
            FrontEnd._loading = previous

    def get_config(self) -> dict:
        config = super().get_config()
        decoder = None
        if self.decoder is not None:
            decoder = self.decoder.get_config()
            decoder.pop("encoder", None)  # rebuilt around this front end's encoder
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            postprocessing=[keras.saving.serialize_keras_object(s) for s in self.postprocessing],
            decoder=decoder,
        )
        return config


# Names that toolkits (librosa, torchaudio, Kaldi, Keras, LEAF) give one option: an unknown
# name is answered with the one of its group that the class takes, never another's name.
SYNONYMS = (
    ("n_filters", "num_mel_bins", "n_mels", "n_filters_out"),
    ("sample_rate", "sampling_rate", "sr"),
    ("hop_ms", "frame_shift", "hop_length", "sequence_stride", "hop"),
    ("window_ms", "frame_length", "win_length", "sequence_length", "frame_len"),
    ("fft_length", "n_fft"),
    ("fmin", "f_min", "low_freq", "min_freq", "min_hz"),
    ("fmax", "f_max", "high_freq", "max_freq", "max_hz"),
)
# Options in milliseconds, where other toolkits count samples.
MILLISECONDS = ("hop_ms", "window_ms", "frame_shift", "frame_length")


def suggest_option(key: str, accepted: Any) -> str | None:
    """The option of ``accepted`` meant by the unknown ``key`` (another toolkit's name for it,
    or a close spelling), with its unit where that differs; None when nothing fits."""
    import difflib

    accepted = list(accepted)

    def meant(spelling: str) -> str | None:
        for group in SYNONYMS:
            if spelling in group:
                names = [name for name in group if name in accepted and name != key]
                if names:
                    unit = " (milliseconds)" if names[0] in MILLISECONDS else ""
                    return names[0] + unit
        return None

    if meant(key):
        return meant(key)
    # A misspelt name of ours or of another toolkit's (n_mel: librosa's n_mels).
    spellings = accepted + [name for group in SYNONYMS for name in group if meant(name)]
    close = difflib.get_close_matches(key, spellings, n=1)
    if not close:
        return None
    return close[0] if close[0] in accepted else meant(close[0])


def check_keywords(cls: type, kwargs: dict, accepted: list) -> None:
    """Refuse a keyword that is neither an option of ``cls`` nor Keras's, suggesting the
    accepted name (another toolkit's spelling, or a close match) and listing them all."""
    keras_keywords = (*KERAS_LAYER_KEYWORDS, *KERAS_INPUT_KEYWORDS)
    unknown = [k for k in kwargs if k not in keras_keywords]
    if not unknown:
        return
    hints = []
    for key in unknown:
        guess = suggest_option(key, accepted)
        hints.append(f"{key!r}" + (f" (did you mean {guess}?)" if guess else ""))
    raise TypeError(
        f"{cls.__name__} got unknown option(s): {', '.join(hints)}. Accepted: "
        f"{', '.join(accepted)} (and Keras's layer keywords: name, dtype, trainable)."
    )


def _arguments(values: dict) -> dict:
    """A constructor's arguments from its ``locals()`` taken first thing: its config."""
    return {k: v for k, v in values.items() if k not in ("self", "kwargs", "__class__")}


def rounded_window(sample_rate: float, window_ms: float) -> int:
    """librosa's and the mel front ends' window: ``round(sample_rate * window_ms / 1000)``."""
    return int(round(float(sample_rate) * window_ms / 1000))


def leaf_window(sample_rate: float, window_ms: float) -> int:
    """LEAF's filter length: ``int(sample_rate * window_ms // 1000 + 1)`` (401 at 16 kHz)."""
    return int(sample_rate * window_ms // 1000 + 1)


def leaf_hop(sample_rate: float, hop_ms: float) -> int:
    """The stride of every front end given in milliseconds: ``int(sample_rate * hop_ms //
    1000)`` (LEAF's, 160 at 16 kHz)."""
    return int(sample_rate * hop_ms // 1000)


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    """A front end's window and hop in samples, from milliseconds or from samples.

    Every ready-made front end that takes sizes reads them through :meth:`from_options`, so
    that the options, the defaults and the errors are one set: ``window_ms`` and ``hop_ms``
    (milliseconds, default 25 and 10) or ``win_length`` and ``hop_length`` (samples,
    librosa's names), one unit a size. A front end states only how milliseconds become its
    window (its :attr:`ReadyMade.window_rule`).

    Attributes:
        window: samples a window (a filter's taps, or a frame).
        hop: samples between consecutive outputs.
    """

    window: int
    hop: int

    def __post_init__(self) -> None:
        check_positive_int("window", self.window)
        check_positive_int("hop", self.hop)

    def __iter__(self) -> Iterator[int]:
        """``window, hop = spec``."""
        return iter((self.window, self.hop))

    @classmethod
    def from_options(
        cls,
        sample_rate: Any,
        options: Mapping[str, Any],
        window_rule: Callable[[float, float], int] = rounded_window,
    ) -> FrameSpec:
        """The sizes of ``options`` (``window_ms``, ``hop_ms``, ``win_length``,
        ``hop_length``; a missing or None key is not given).

        Args:
            sample_rate: Hz (checked by the caller).
            options: the front end's options.
            window_rule: ``(sample_rate, window_ms) -> samples`` for the window; the hop
                is always :func:`leaf_hop`.

        Raises:
            ValueError: both units given for one size, or a size under one sample (with
                the rate in kHz named when that is the likely cause).
            TypeError: a size that is not a number (samples: not an integer).
        """
        sizes = [
            _size(sample_rate, options, "window_ms", "win_length", 25.0, window_rule),
            _size(sample_rate, options, "hop_ms", "hop_length", 10.0, leaf_hop),
        ]
        return cls(*sizes)


def _size(
    sample_rate: Any, options: Mapping, ms_name: str, samples_name: str, default: float, rule: Any
) -> int:
    """One size of :meth:`FrameSpec.from_options`, in samples."""
    ms, samples = options.get(ms_name), options.get(samples_name)
    if ms is not None and samples is not None:
        raise ValueError(
            "Give the size either in milliseconds or in samples, not both. Received: "
            f"{ms_name}={ms!r} and {samples_name}={samples!r}"
        )
    if samples is not None:
        return check_positive_int(samples_name, samples)
    ms = default if ms is None else check_positive_number(ms_name, ms)
    size = rule(sample_rate, ms)
    if size < 1:
        hint = ""
        if float(sample_rate) < 1000:
            khz = float(sample_rate)
            hint = f" `sample_rate` is in Hz: {khz:g} kHz is sample_rate={khz * 1000:g}."
        raise ValueError(
            f"`{ms_name}` must give at least one sample at sample_rate={sample_rate}. "
            f"Received: {ms_name}={ms!r}.{hint}"
        )
    return size


class ReadyMade(FrontEnd):
    """A front end built from plain options; its config is those options (with the method
    that ``"auto"`` picked, so a reloaded model runs the same one).

    Attributes:
        stride1: its filters run at every sample (``hop=1``, the pooling strides), so its
            encoder is a stride-1 convolution rather than a framed projection.
        window_rule: ``(sample_rate, window_ms) -> samples``, how milliseconds become its
            window (:func:`rounded_window` unless its reference says otherwise).
    """

    stride1: bool = False
    window_rule: Callable[[float, float], int] = staticmethod(rounded_window)
    _window_option = "window_ms (or win_length)"
    # A readable stem for Keras's automatic name, where the class name's snake case is not one.
    _default_name: str | None = None

    @classmethod
    def frame_spec(cls, sample_rate: Any, options: Mapping[str, Any]) -> FrameSpec:
        """Its window and hop in samples from its options (:meth:`FrameSpec.from_options`)."""
        return FrameSpec.from_options(sample_rate, options, cls.window_rule)

    @classmethod
    def sizes_from(cls, arguments: dict) -> tuple[dict, Any, int, int, int]:
        """From a constructor's ``locals()`` taken first thing: its config, its checked
        ``sample_rate`` and ``n_filters``, and its window and hop in samples."""
        options = _arguments(arguments)
        sample_rate, n_filters = _common(options["sample_rate"], options["n_filters"])
        window, hop = cls.frame_spec(sample_rate, options)
        return options, sample_rate, n_filters, window, hop

    def __init__(self, encoder: Encoder, steps: list, options: dict, **kwargs: Any) -> None:
        check_keywords(type(self), kwargs, list(options))
        if kwargs.get("name") is None and self._default_name:
            # Keras's rule (the stem, then stem_1, stem_2, ...), on the same counter.
            uid = keras.backend.get_uid(self._default_name)
            kwargs["name"] = self._default_name if uid == 1 else f"{self._default_name}_{uid - 1}"
        super().__init__(encoder, steps, **kwargs)
        self._options = {**options, "method": encoder.method.name}
        if "dtype" in kwargs:
            # The pieces were made before this layer knew its dtype: they take it now (as a
            # layer's own weights would), before any is built.
            for layer in (encoder, encoder.filterbank, *steps):
                layer.dtype_policy = self.dtype_policy

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self._options,
        }

    @classmethod
    def from_config(cls, config: dict) -> ReadyMade:
        return cls(**config)


def _common(sample_rate: Any, n_filters: Any) -> tuple:
    return check_sample_rate(sample_rate), check_positive_int("n_filters", n_filters)


def check_sample_rate(sample_rate: Any) -> int | float:
    """``sample_rate`` in Hz: a whole number of samples a second, at least 1000 (a value
    below that is a rate in kHz, which is named in the error)."""
    rate = check_positive_number("sample_rate", sample_rate)
    if rate < 1000:
        raise ValueError(
            "`sample_rate` is in Hz and must be at least 1000. Received: "
            f"sample_rate={sample_rate!r} (if that is {rate:g} kHz, pass "
            f"sample_rate={rate * 1000:g})."
        )
    if rate != int(rate):
        raise ValueError(
            "`sample_rate` must be a whole number of samples a second (Hz). Received: "
            f"sample_rate={sample_rate!r}; resample to an integer rate (librosa.resample) first."
        )
    return sample_rate if isinstance(sample_rate, int) else rate


def _upper_edge(sample_rate: Any, max_hz: Any) -> float:
    """The initial filters' upper edge: ``max_hz``, or LEAF's 7800 Hz scaled to the rate
    (``0.4875 * sample_rate``); above Nyquist is an error (the mel matrix would be empty)."""
    nyquist = float(sample_rate) / 2
    if max_hz is None:
        return min(7800.0, 0.4875 * float(sample_rate))
    if check_positive_number("max_hz", max_hz) > nyquist:
        raise ValueError(
            f"`max_hz`={max_hz} is above Nyquist ({nyquist:g} Hz at sample_rate={sample_rate})"
        )
    return float(max_hz)


@keras.saving.register_keras_serializable(package="framebank")
class _FixedInitializer(keras.initializers.Initializer):
    """Values computed from a ready-made front end's options (rebuilt from them, not saved)."""

    def __init__(self, values: Any) -> None:
        self.values = np.asarray(values)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        if tuple(shape) != self.values.shape:
            raise ValueError(f"Expected shape {self.values.shape}. Received: {tuple(shape)}")
        return keras.ops.convert_to_tensor(self.values, dtype=dtype)

    def get_config(self) -> dict:
        return {"values": self.values.tolist()}
