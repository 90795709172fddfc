"""Front ends from configs: an encoder, post-processing layers and a decoder from a dict or YAML.

A config names the family, the method and the framing; an ordered list of
post-processing layers by registered name; optionally a decoder; any other key
is an option of the chosen family::

    filterbank: mel           # a name in framebank.FILTERBANKS (default: free)
    method: auto              # "auto" (default) or a name in framebank.METHODS
    num_basis: 258            # optional for families that fix it (fourier, mel)
    frame_len: 256
    hop: 80
    sample_rate: 8000         # sinc, gabor and mel need it
    n_mels: 40                # an option of the mel family
    postprocessing:           # optional: names in framebank.POSTPROCESSING, in order
      - mel_spectrum          # a name alone, or a name with its options:
      - log_energy: {square: false}
    decoder: {kind: pinv, method: strided_conv}   # optional

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

Post-processing (under ``postprocessing``): each entry a registered name, or a
mapping of one name to its options (checked by name and type, like a family's).
A layer may take defaults from the encoder (``MelSpectrum`` takes the mel
family's sample rate, DFT size and mel options).

Decoder keys (under ``decoder``): ``kind`` (``tied``, ``free``, ``pinv``),
``method`` (``auto``, the default, or any name in ``framebank.METHODS``, the
encoder's names), ``kernel_initializer``, ``rcond``, ``name``, ``trainable``.

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

    frontend = framebank.build_frontend(
        {"filterbank": "cosine", "num_basis": 8, "frame_len": 32, "hop": 16, "scale": 0.5})
    frontend.encoder.filterbank.scale  # 0.5
"""

from __future__ import annotations

import inspect
import os
import typing
from pathlib import Path
from typing import Any

import keras

from framebank import methods
from framebank._deprecation import deprecated_names
from framebank._validation import (
    KERAS_LAYER_KEYWORDS,
    NUMBER,
    accepted_types,
    layer_options,
    type_problem,
)
from framebank.decoder import DECODER_KINDS, RENAMED_METHODS, Decoder
from framebank.files import read_yaml
from framebank.filterbanks import FILTERBANKS, family_options, get_filterbank
from framebank.frontends import FrontEnd
from framebank.frontends.base import (  # noqa: F401 (re-export)
    _READY_MADE,
    ReadyMade,
    register_ready_made,
    suggest_option,
)
from framebank.layers import Encoder
from framebank.postprocessing import POSTPROCESSING, postprocessing_options

__all__ = ["FrontEnd", "FrontendConfigError", "build_frontend", "read_frontend_config"]

__getattr__ = deprecated_names(
    __name__,
    {
        "load_config": (
            lambda: read_frontend_config,
            "use framebank.config.read_frontend_config (the same function)",
        )
    },
)

_REQUIRED = object()

# key -> (accepted types, default); _REQUIRED marks a key that must be given.
ENCODER_KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "filterbank": ((str,), "free"),
    "method": ((str,), "auto"),
    "num_basis": ((int,), _REQUIRED),
    "frame_len": ((int,), _REQUIRED),
    "hop": ((int,), _REQUIRED),
    "sample_rate": (NUMBER, None),
    "use_bias": ((bool,), False),
    "pad_end": ((bool,), False),
    "center": ((bool,), False),
    "pad_value": (NUMBER, 0.0),
    "pad_mode": ((str,), "constant"),
    "kernel_initializer": ((str, dict), "basis_glorot_uniform"),
    "bias_initializer": ((str, dict), "zeros"),
    "name": ((str,), None),
    "trainable": ((bool,), True),
    "filterbank_trainable": ((bool,), None),
    "postprocessing": ((list,), None),
    "decoder": ((dict,), None),
}
DECODER_KEYS: dict[str, tuple[tuple[type, ...], Any]] = {
    "kind": ((str,), "tied"),
    "method": ((str,), "auto"),
    "kernel_initializer": ((str, dict), "basis_glorot_uniform"),
    "rcond": (NUMBER, None),
    "name": ((str,), None),
    "trainable": ((bool,), True),
}


class FrontendConfigError(ValueError):
    """A front-end config with unknown, missing or wrong-typed keys (every problem listed)."""


def _config_path(config: str | os.PathLike) -> Path | None:
    """The YAML file ``config`` names: a path, else a shipped config by name (with or
    without ``recipes/frontends/``, so the README's paths work after ``pip install``);
    None for the name of a ready-made front end."""
    from framebank._resources import find_shipped, shipped_recipes

    path = Path(config)
    if path.is_file():
        return path
    if isinstance(config, str) and config in _READY_MADE:
        return None
    shipped = find_shipped(str(config)) if isinstance(config, str) else None
    if shipped is not None:
        return shipped
    names = sorted(n.removeprefix("frontends/") for n in shipped_recipes() if "/" in n)
    raise FileNotFoundError(
        f"Front-end config not found: no file {str(config)!r}, no ready-made front end and no "
        f"shipped config of that name{_did_you_mean(str(config), [*_READY_MADE, *names])}. "
        f"Ready-made: {', '.join(sorted(_READY_MADE))}; shipped "
        f"configs: {', '.join(names) or 'none found'} (`framebank recipes` lists them)."
    )


def _did_you_mean(name: str, names: list) -> str:
    """`` (did you mean X?)`` for the closest of ``names`` to a misspelt ``name``, or ""."""
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_frontend_config(config: dict | str | os.PathLike) -> dict:
    """A front-end config as a dict: ``config`` itself; the name of a ready-made front end
    (``"leaf"``: its defaults); or a YAML file, by path or by shipped name (``"log_mel"``
    is the ready-made, ``"frontends/log_mel"`` the shipped file; ``"leaf_frontend"``)."""
    if isinstance(config, dict):
        return dict(config)
    if isinstance(config, (str, os.PathLike)):
        path = _config_path(config)
        if path is None:
            return {"frontend": str(config)}
        loaded = read_yaml(path, FrontendConfigError)
        if not isinstance(loaded, dict):
            raise FrontendConfigError(
                f"{path} must hold a mapping of config keys. Received: {type(loaded).__name__}"
            )
        return loaded
    raise TypeError(
        "`config` must be a dict or the path of a YAML file. "
        f"Received: config={config!r} of type {type(config).__name__}"
    )


def build_frontend(config: dict | str | os.PathLike) -> FrontEnd:
    """Build a :class:`FrontEnd` (encoder, post-processing, optional decoder) from a config.

    Args:
        config: a dict (see the module docstring for the keys); the name of a
            ready-made front end (``"leaf"``, ``"log_mel"``: a key of
            ``framebank.frontends.FRONTENDS``, its defaults); or a YAML file holding a
            dict, by path or by the name of a shipped one (``"leaf_frontend"``,
            ``"frontends/log_mel"``, ``"recipes/frontends/log_mel.yaml"``: found in the
            installed package; ``framebank recipes`` lists them).

    Returns:
        a :class:`FrontEnd` layer: ``.encoder``, ``.postprocessing`` (a list,
        empty without the key) and ``.decoder`` (None without the key); calling
        it maps a waveform to features.

    Raises:
        FrontendConfigError (a ValueError): unknown names or keys, missing or
            wrong-typed fields, a file that is not a YAML mapping; the message
            lists every such problem and what is accepted. A well-typed value
            the layers refuse (``hop: 0``, a sinc family without
            ``sample_rate``) is reported with the layer's own message.
        FileNotFoundError: a string that is no file, ready-made name or shipped config.

    Example:
        >>> fe = build_frontend({"filterbank": "fourier", "frame_len": 256,
        ...                      "hop": 64, "decoder": {"kind": "pinv"}})
        >>> fe.encoder.num_basis, fe.decoder.kind
        (258, 'pinv')
    """
    raw = read_frontend_config(config)
    if "frontend" in raw:
        return _build_ready_made(raw)
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
    accepted_methods = [methods.AUTO, *sorted(methods.METHODS)]
    if isinstance(method, str) and method not in accepted_methods:
        problems.append(f"unknown method {method!r}. Accepted: {', '.join(accepted_methods)}")
    steps = _check_postprocessing(raw.get("postprocessing"), problems)
    decoder_raw = raw.get("decoder")
    if isinstance(decoder_raw, dict):
        _check_decoder(decoder_raw, problems)
    if problems:
        raise FrontendConfigError("Invalid front-end config:\n  - " + "\n  - ".join(problems))

    try:
        encoder = _build_encoder(raw, family_cls)
        layers = [_make_step(POSTPROCESSING[name], encoder, options) for name, options in steps]
        decoder = None if decoder_raw is None else Decoder(encoder, **decoder_raw)
        # FrontEnd checks the pieces together (pairs on a filterbank of real filters).
        return FrontEnd(encoder, layers, decoder, name=f"{encoder.name}_frontend")
    except (TypeError, ValueError) as err:
        # A layer's own validation (values, not types): say it came from the config.
        raise FrontendConfigError(f"Invalid front-end config: {err}") from err


_KERAS_SHOWN = ("name", "dtype", "trainable")


def _build_ready_made(raw: dict) -> FrontEnd:
    """``{"frontend": name, **options}``: a ready-made front end, its options checked by name
    and type like a family's, every problem at once."""
    options = dict(raw)
    name = options.pop("frontend")
    if not isinstance(name, str) or name not in _READY_MADE:
        raise FrontendConfigError(
            f"Invalid front-end config:\n  - unknown frontend {name!r}"
            f"{_did_you_mean(str(name), list(_READY_MADE))}. Accepted: "
            f"{', '.join(sorted(_READY_MADE))}"
        )
    cls = _READY_MADE[name]
    # Its own options and those of the ready-made front ends it builds on (AST on KaldiFbank),
    # less the pieces ReadyMade itself takes.
    plumbing = ("encoder", "steps", "options")
    accepted = _option_types(cls, layer_options(cls, (ReadyMade,), skip=plumbing))
    # Keras's internal keywords (autocast, ...) are taken but not offered.
    shown = [k for k in accepted if k not in KERAS_LAYER_KEYWORDS or k in _KERAS_SHOWN]
    problems: list[str] = []
    for key, value in options.items():
        if key not in accepted:
            guess = suggest_option(key, shown)
            hint = f" (did you mean {guess}?)" if guess else ""
            problems.append(
                f"unknown option {key!r} of frontend {name!r}{hint}. Accepted: {', '.join(shown)}"
            )
        else:
            _check_type(f"`{key}`", value, accepted[key], problems)
    if problems:
        raise FrontendConfigError("Invalid front-end config:\n  - " + "\n  - ".join(problems))
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        raise FrontendConfigError(f"Invalid front-end config: {err}") from err


def _make_step(cls: type, encoder: Encoder, options: dict) -> keras.layers.Layer:
    """A post-processing layer; a :class:`~framebank.Postprocessing` may take defaults
    from the encoder (its ``for_encoder``)."""
    make = getattr(cls, "for_encoder", None)
    return make(encoder, **options) if make is not None else cls(**options)


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


def _option_types(cls: type, options: dict[str, Any], skip: Any = ()) -> dict:
    """A constructor's options and their accepted types (None: not checked here)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: fall back to the defaults' types
        hints = {}
    return {
        name: accepted_types(hints.get(name), default)
        for name, default in options.items()
        if name not in skip
    }


def _family_keys(cls: type) -> dict[str, tuple[type, ...] | None]:
    """The family's own options and their accepted types (None: not checked here)."""
    return _option_types(cls, family_options(cls), skip={*KERAS_LAYER_KEYWORDS, *ENCODER_KEYS})


def _check_postprocessing(entries: Any, problems: list[str]) -> list[tuple[str, dict]]:
    """``postprocessing`` as ``[(name, options)]``, every problem appended to ``problems``."""
    if entries is None or not isinstance(entries, list):
        return []  # absent, or already reported as the wrong type
    steps = []
    for index, entry in enumerate(entries):
        where = f"postprocessing[{index}]"
        if isinstance(entry, str):
            name, options = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            ((name, options),) = entry.items()
            options = {} if options is None else options
        else:
            problems.append(
                f"`{where}` must be a registered name or a mapping of one name to its options. "
                f"Received: {entry!r}"
            )
            continue
        if not isinstance(name, str) or name not in POSTPROCESSING:
            problems.append(
                f"unknown post-processing {name!r} in `{where}`. Accepted: "
                f"{', '.join(sorted(POSTPROCESSING))} (register your own with "
                "framebank.register_postprocessing)"
            )
            continue
        if not isinstance(options, dict):
            problems.append(f"`{where}.{name}` options must be a mapping. Received: {options!r}")
            continue
        cls = POSTPROCESSING[name]
        accepted = _option_types(cls, postprocessing_options(cls))
        for key, value in options.items():
            if key not in accepted:
                problems.append(
                    f"unknown option {key!r} of post-processing {name!r}. Accepted: "
                    f"{', '.join(accepted)}"
                )
            else:
                _check_type(f"`{where}.{name}.{key}`", value, accepted[key], problems)
        steps.append((name, dict(options)))
    return steps


def _family_fixes_num_basis(cls: type) -> bool:
    param = inspect.signature(cls.__init__).parameters.get("num_basis")
    return param is not None and param.default is None


def _check_type(what: str, value: Any, accepted: tuple[type, ...] | None, problems: list) -> None:
    problem = type_problem(what, value, accepted)
    if problem is not None:
        problems.append(problem)


def _check_decoder(raw: dict, problems: list[str]) -> None:
    for key, value in raw.items():
        if key not in DECODER_KEYS:
            problems.append(f"unknown decoder key {key!r}. Accepted: {', '.join(DECODER_KEYS)}")
            continue
        _check_type(f"`decoder.{key}`", value, DECODER_KEYS[key][0], problems)
    kind = raw.get("kind", "tied")
    if isinstance(kind, str) and kind not in DECODER_KINDS:
        problems.append(f"unknown decoder kind {kind!r}. Accepted: {', '.join(DECODER_KINDS)}")
    method = raw.get("method", "auto")
    accepted = [methods.AUTO, *sorted(methods.METHODS)]
    if isinstance(method, str) and method not in accepted and method not in RENAMED_METHODS:
        problems.append(f"unknown decoder method {method!r}. Accepted: {', '.join(accepted)}")


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
        for key in (
            "use_bias",
            "pad_end",
            "center",
            "pad_value",
            "pad_mode",
            "bias_initializer",
            "name",
        )
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
