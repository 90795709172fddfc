"""Front-end configs: build an :class:`~framebank.Encoder` (and its Decoder) from a dict or YAML.

A config names the family, the method and the framing; any other key is an
option of the chosen family::

    filterbank: sinc          # a name in framebank.FILTERBANKS (default: free)
    method: strided_conv      # "auto" (default) or a name in framebank.METHODS
    num_basis: 64             # optional for families that fix it (fourier, mel)
    frame_len: 400
    hop: 160
    sample_rate: 16000        # sinc, gabor and mel need it
    min_low_hz: 50            # an option of the sinc family
    decoder: {kind: pinv, method: conv_transpose}   # optional

``framebank.build_frontend(config)`` checks every key's name and type
before building anything and raises one ``ValueError`` listing every such
problem with the accepted names and types; a value of the right type that the
layers refuse (``hop: 0``, a sinc family without ``sample_rate``) is then
reported by the layer that refuses it, one at a time.

Encoder keys: ``filterbank``, ``method``, ``num_basis``, ``frame_len``,
``hop``, ``sample_rate``, ``use_bias``, ``pad_end``, ``center``,
``pad_value``, ``kernel_initializer`` (families that take one),
``bias_initializer``, ``name``, ``trainable`` (the whole encoder) and
``filterbank_trainable`` (only the family's parameters; e.g. ``true`` to
train the ``mel`` basis, which is fixed by default).

Decoder keys (under ``decoder``): ``kind`` (``tied``, ``free``, ``pinv``),
``method`` (``matmul``, the default, ``dense``, ``pointwise_conv``, ``conv_transpose``),
``kernel_initializer``, ``rcond``, ``name``, ``trainable``.

Adding a family (no framebank file changes): subclass
:class:`~framebank.Filterbank`, give its options as keyword arguments with
defaults (their types are checked from the annotations, or the defaults),
and register it; it is then accepted by ``Encoder(filterbank=...)``, by
configs, and by ``.keras`` loading (import the module before loading)::

    import framebank
    from keras import ops

    @framebank.register_filterbank("cosine")
    class Cosine(framebank.Filterbank):
        def __init__(self, num_basis, frame_len=None, sample_rate=None,
                     scale: float = 1.0, **kwargs):
            super().__init__(num_basis, frame_len, sample_rate, **kwargs)
            self.scale = scale

        def make_weights(self):
            self.freq = self.add_weight(name="freq", shape=(self.num_basis,))

        def filters(self):
            n = ops.arange(self.frame_len, dtype="float32")[:, None]
            return self.scale * ops.cos(n * self.freq)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    encoder, _ = framebank.build_frontend(
        {"filterbank": "cosine", "num_basis": 8, "frame_len": 32, "hop": 16, "scale": 0.5})
"""

from __future__ import annotations

import inspect
import os
import types
import typing
from pathlib import Path
from typing import Any, NamedTuple

from framebank import methods
from framebank.decoder import DECODER_KINDS, DECODER_METHODS, Decoder
from framebank.filterbanks import FILTERBANKS, family_options, get_filterbank
from framebank.layers import Encoder

__all__ = ["Frontend", "build_frontend", "load_config", "FrontendConfigError"]

_NUMBER = (int, float)
_REQUIRED = object()

# key -> (accepted types, default); _REQUIRED marks a key that must be given.
ENCODER_KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "filterbank": ((str,), "free"),
    "method": ((str,), "auto"),
    "num_basis": ((int,), _REQUIRED),
    "frame_len": ((int,), _REQUIRED),
    "hop": ((int,), _REQUIRED),
    "sample_rate": (_NUMBER, None),
    "use_bias": ((bool,), False),
    "pad_end": ((bool,), False),
    "center": ((bool,), False),
    "pad_value": (_NUMBER, 0.0),
    "kernel_initializer": ((str, dict), "basis_glorot_uniform"),
    "bias_initializer": ((str, dict), "zeros"),
    "name": ((str,), None),
    "trainable": ((bool,), True),
    "filterbank_trainable": ((bool,), None),
    "decoder": ((dict,), None),
}
DECODER_KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "kind": ((str,), "tied"),
    "method": ((str,), "matmul"),
    "kernel_initializer": ((str, dict), "basis_glorot_uniform"),
    "rcond": (_NUMBER, None),
    "name": ((str,), None),
    "trainable": ((bool,), True),
}
# Family constructor options the config sets through its own keys.
_SET_BY_CONFIG = {"name", "trainable", "dtype", "autocast", "activity_regularizer"}


class FrontendConfigError(ValueError):
    """A front-end config with unknown, missing or wrong-typed keys (every problem listed)."""


class Frontend(NamedTuple):
    """What :func:`build_frontend` returns: the encoder and, if configured, its decoder."""

    encoder: Encoder
    decoder: Decoder | None


def load_config(config: dict | str | os.PathLike) -> dict:
    """A config as a dict: ``config`` itself, or the YAML file it names."""
    if isinstance(config, dict):
        return dict(config)
    if isinstance(config, (str, os.PathLike)):
        import yaml

        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"Front-end config file not found. Received: config={config!r}")
        with open(path) as handle:
            try:
                loaded = yaml.safe_load(handle)
            except yaml.YAMLError as err:
                raise FrontendConfigError(f"{path} is not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise FrontendConfigError(
                f"{path} must hold a mapping of config keys. Received: {type(loaded).__name__}"
            )
        return loaded
    raise TypeError(
        "`config` must be a dict or the path of a YAML file. "
        f"Received: config={config!r} of type {type(config).__name__}"
    )


def build_frontend(config: dict | str | os.PathLike) -> Frontend:
    """Build an :class:`~framebank.Encoder` (and its :class:`~framebank.Decoder`) from a config.

    Args:
        config: a dict, or the path of a YAML file holding one (see the module
            docstring for the keys).

    Returns:
        ``Frontend(encoder, decoder)``; ``decoder`` is None without a
        ``decoder`` key.

    Raises:
        FrontendConfigError (a ValueError): unknown names or keys, missing or
            wrong-typed fields, a file that is not a YAML mapping; the message
            lists every such problem and what is accepted.
        ValueError, TypeError: a well-typed value the layers refuse (their
            own message, one problem at a time).
        FileNotFoundError: a config path that does not exist.

    Example:
        >>> enc, dec = build_frontend({"filterbank": "fourier", "frame_len": 256,
        ...                            "hop": 64, "decoder": {"kind": "pinv"}})
        >>> enc.num_basis, dec.kind
        (258, 'pinv')
    """
    raw = load_config(config)
    problems: list[str] = []
    family_cls = _check_family(raw, problems)
    family_keys = _family_keys(family_cls) if family_cls is not None else {}
    for key, value in raw.items():
        if key in ENCODER_KEYS:
            types_, _ = ENCODER_KEYS[key]
            if key == "num_basis" and value is None:
                continue
            _check_type(f"`{key}`", value, types_, problems)
        elif key in family_keys:
            _check_type(
                f"`{key}` (option of {raw.get('filterbank')!r})", value, family_keys[key], problems
            )
        elif family_cls is not None:
            problems.append(
                f"unknown key {key!r}. Accepted keys: {', '.join(ENCODER_KEYS)}; options of "
                f"filterbank {raw.get('filterbank', 'free')!r}: "
                f"{', '.join(family_keys) or '(none)'}"
            )
    for key in ("frame_len", "hop"):
        if key not in raw:
            problems.append(f"missing required key {key!r} (a positive integer)")
    if "num_basis" not in raw or raw["num_basis"] is None:
        if family_cls is not None and not _family_fixes_num_basis(family_cls):
            problems.append(
                "missing required key 'num_basis' (a positive integer; only families that fix "
                "it from frame_len, such as 'fourier' and 'mel', may leave it out)"
            )
    method = raw.get("method", "auto")
    accepted_methods = sorted(methods.METHODS) + (
        [methods.AUTO] if hasattr(methods, "AUTO") else []
    )
    if isinstance(method, str) and method not in accepted_methods:
        problems.append(f"unknown method {method!r}. Accepted: {', '.join(accepted_methods)}")
    decoder_raw = raw.get("decoder")
    if isinstance(decoder_raw, dict):
        _check_decoder(decoder_raw, problems)
    if problems:
        raise FrontendConfigError("Invalid front-end config:\n  - " + "\n  - ".join(problems))

    try:
        encoder = _build_encoder(raw, family_cls)
        decoder = None
        if decoder_raw is not None:
            decoder = Decoder(encoder, **decoder_raw)
    except (TypeError, ValueError) as err:
        # The family's own validation (values, not types): say it came from the config.
        raise FrontendConfigError(f"Invalid front-end config: {err}") from err
    return Frontend(encoder, decoder)


def _check_family(raw: dict, problems: list[str]) -> type | None:
    name = raw.get("filterbank", "free")
    if not isinstance(name, str):
        problems.append(
            f"`filterbank` must be a family name (str). Received: filterbank={name!r}. "
            f"Accepted: {', '.join(sorted(FILTERBANKS))}"
        )
        return None
    if name not in FILTERBANKS:
        problems.append(
            f"unknown filterbank {name!r}. Accepted: {', '.join(sorted(FILTERBANKS))} "
            "(register your own with framebank.register_filterbank)"
        )
        return None
    return FILTERBANKS[name]


def _family_keys(cls: type) -> dict[str, tuple[type, ...] | None]:
    """The family's own options and their accepted types (None: not checked here)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: fall back to the defaults' types
        hints = {}
    keys = {}
    for name, default in family_options(cls).items():
        if name in _SET_BY_CONFIG or name in ENCODER_KEYS:
            continue
        keys[name] = _types_from_hint(hints.get(name), default)
    return keys


def _types_from_hint(hint: Any, default: Any) -> tuple[type, ...] | None:
    if hint is not None:
        args = typing.get_args(hint) if _is_union(hint) else (hint,)
        accepted = tuple(a for a in args if isinstance(a, type) and a is not type(None))
        if accepted and all(a in (int, float, bool, str, dict, list) for a in accepted):
            if float in accepted and int not in accepted:
                accepted = (*accepted, int)
            return accepted
        return None
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, (int, float)):
        return _NUMBER if isinstance(default, float) else (int,)
    return (type(default),)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _family_fixes_num_basis(cls: type) -> bool:
    param = inspect.signature(cls.__init__).parameters.get("num_basis")
    return param is not None and param.default is None


def _check_type(what: str, value: Any, accepted: tuple[type, ...] | None, problems: list) -> None:
    if accepted is None or value is None:
        return
    is_bool = isinstance(value, bool)
    ok = isinstance(value, accepted) and not (is_bool and bool not in accepted)
    if not ok:
        names = " or ".join(sorted({t.__name__ for t in accepted}))
        problems.append(f"{what} must be {names}. Received: {value!r} ({type(value).__name__})")


def _check_decoder(raw: dict, problems: list[str]) -> None:
    for key, value in raw.items():
        if key not in DECODER_KEYS:
            problems.append(f"unknown decoder key {key!r}. Accepted: {', '.join(DECODER_KEYS)}")
            continue
        _check_type(f"`decoder.{key}`", value, DECODER_KEYS[key][0], problems)
    kind = raw.get("kind", "tied")
    if isinstance(kind, str) and kind not in DECODER_KINDS:
        problems.append(f"unknown decoder kind {kind!r}. Accepted: {', '.join(DECODER_KINDS)}")
    method = raw.get("method", "matmul")
    if isinstance(method, str) and method not in DECODER_METHODS:
        problems.append(
            f"unknown decoder method {method!r}. Accepted: {', '.join(DECODER_METHODS)}"
        )


def _build_encoder(raw: dict, family_cls: type) -> Encoder:
    name = raw.get("filterbank", "free")
    options = {
        key: value for key, value in raw.items() if key not in ENCODER_KEYS
    }  # the family's own options (validated above)
    if raw.get("sample_rate") is not None:
        options["sample_rate"] = raw["sample_rate"]
    if raw.get("num_basis") is not None:
        options["num_basis"] = raw["num_basis"]
    if raw.get("filterbank_trainable") is not None:
        options["trainable"] = raw["filterbank_trainable"]
    if "kernel_initializer" in raw:
        if "kernel_initializer" not in family_options(family_cls):
            raise ValueError(
                f"The {name!r} filterbank takes no kernel_initializer. "
                f"Received: kernel_initializer={raw['kernel_initializer']!r}"
            )
        options["kernel_initializer"] = raw["kernel_initializer"]
    filterbank = get_filterbank(name, frame_len=raw["frame_len"], **options)
    layer = {
        key: raw[key]
        for key in ("use_bias", "pad_end", "center", "pad_value", "bias_initializer", "name")
        if key in raw
    }
    if "trainable" in raw:
        layer["trainable"] = raw["trainable"]
    return Encoder(
        filterbank.num_basis,
        raw["frame_len"],
        raw["hop"],
        method=raw.get("method", "auto"),
        filterbank=filterbank,
        **layer,
    )
