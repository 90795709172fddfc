"""The filterbank families ``framebank compare`` can set against each other.

A family entry in a compare config names a registered filterbank (:data:`FILTERBANKS`)
and the decoder that inverts it, in one of two forms:

* a string: ``free``, ``analytic``, ``sinc``, ... (any registered name; decoder ``free``),
  or the name with a decoder kind appended, ``fourier_pinv``, ``fourier_free``,
  ``analytic_tied``;
* a mapping: ``{filterbank: fourier, decoder: pinv}``, with optional ``trainable`` (does
  the encoder's filterbank train), ``options`` (more constructor options of the family)
  and ``name`` (the label in the results; default the string form).

A family whose basis is a windowed DFT (``dft_basis``: ``fourier``, and ``mel`` built on it)
is the fixed transform unless ``trainable: true``: a windowed DFT zero-padded to
``num_basis - 2`` points, so that it gives the config's ``num_basis`` coefficients like every
other family. Every other family's parameters train. ``sample_rate`` is given to every
family (sinc and gabor need it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framebank.training.config import RUN_LABEL, check_options

__all__ = ["FamilySpec", "parse_family", "parse_families", "encoder_kwargs", "accepted_text"]

MAPPING_KEYS = ("filterbank", "decoder", "trainable", "options", "name")


@dataclass(frozen=True)
class FamilySpec:
    """One family of the study: which filterbank encodes, which decoder inverts.

    Attributes:
        name: its label (run folders, the report's rows).
        filterbank: a registered filterbank family.
        decoder: a decoder kind (``free``, ``pinv``, ``tied``).
        trainable: whether the encoder's filterbank trains.
        options: further constructor options of the family.
    """

    name: str
    filterbank: str
    decoder: str = "free"
    trainable: bool = True
    options: dict = field(default_factory=dict)


def accepted_text() -> str:
    """What a family entry may be, for error messages."""
    from framebank.decoder import DECODER_KINDS
    from framebank.filterbanks import FILTERBANKS

    kinds = "/".join(f"_{k}" for k in DECODER_KINDS)
    return (
        f"a registered filterbank ({', '.join(sorted(FILTERBANKS))}), optionally with {kinds} "
        f"appended to choose the decoder (default free), or a mapping with keys "
        f"{', '.join(MAPPING_KEYS)} (filterbank required)"
    )


def _split_name(entry: str) -> tuple[str, str] | None:
    """``(filterbank, decoder)`` from a string entry, or None when it names neither."""
    from framebank.decoder import DECODER_KINDS
    from framebank.filterbanks import FILTERBANKS

    if entry in FILTERBANKS:
        return entry, "free"
    head, _, kind = entry.rpartition("_")
    if head in FILTERBANKS and kind in DECODER_KINDS:
        return head, kind
    return None


def _dft_basis(filterbank: str) -> bool:
    """The family's basis starts as a windowed DFT: fixed by default, sized by its DFT."""
    from framebank.filterbanks import FILTERBANKS

    return FILTERBANKS[filterbank].dft_basis


def parse_family(entry: Any) -> FamilySpec:
    """A :class:`FamilySpec` from one config entry (a string or a mapping, see the module).

    Raises:
        ValueError: an unknown name or key, naming the value and what is accepted.
    """
    from framebank.decoder import DECODER_KINDS
    from framebank.filterbanks import FILTERBANKS

    if isinstance(entry, str):
        parts = _split_name(entry)
        if parts is None:
            raise ValueError(
                f"config `families`: unknown family {entry!r}. Accepted: {accepted_text()}"
            )
        filterbank, decoder = parts
        return FamilySpec(entry, filterbank, decoder, not _dft_basis(filterbank))
    if not isinstance(entry, dict):
        raise ValueError(
            f"config `families`: an entry must be a name or a mapping. Received: {entry!r}. "
            f"Accepted: {accepted_text()}"
        )
    unknown = sorted(set(entry) - set(MAPPING_KEYS))
    if unknown or "filterbank" not in entry:
        raise ValueError(
            f"config `families`: {entry!r} has "
            + (f"unknown key(s) {', '.join(map(str, unknown))}" if unknown else "no `filterbank`")
            + f". Accepted: {accepted_text()}"
        )
    filterbank, decoder = entry["filterbank"], entry.get("decoder", "free")
    if filterbank not in FILTERBANKS:
        raise ValueError(
            f"config `families`: unknown filterbank {filterbank!r} in {entry!r}. "
            f"Accepted: {', '.join(sorted(FILTERBANKS))}"
        )
    if decoder not in DECODER_KINDS:
        raise ValueError(
            f"config `families`: unknown decoder {decoder!r} in {entry!r}. "
            f"Accepted: {', '.join(DECODER_KINDS)}"
        )
    trainable = entry.get("trainable", not _dft_basis(filterbank))
    if not isinstance(trainable, bool):
        raise ValueError(
            f"config `families`: `trainable` must be true or false. Received: {trainable!r} "
            f"in {entry!r}"
        )
    where = "config `families`: `options`"
    options = check_options(entry.get("options", {}), where, f" in {entry!r}")
    default_name = filterbank if "decoder" not in entry else f"{filterbank}_{decoder}"
    name = entry.get("name", default_name)
    if not isinstance(name, str) or not RUN_LABEL.fullmatch(name):
        raise ValueError(
            "config `families`: `name` must be letters, digits, '_', '.' or '-' (it names "
            f"the run folders). Received: {name!r} in {entry!r}"
        )
    return FamilySpec(name, filterbank, decoder, trainable, dict(options))


def encoder_kwargs(
    spec: FamilySpec,
    num_basis: int,
    frame_len: int,
    hop: int,
    sample_rate: int,
    method: str,
    kernel_initializer: Any = None,
) -> dict[str, Any]:
    """Keyword arguments of :class:`framebank.Encoder` for ``spec`` with the config's sizes.

    ``kernel_initializer`` goes to families that take one (free, analytic) and is
    dropped for the others (their basis is made from their own parameters).
    """
    from framebank.filterbanks import FILTERBANKS, family_options

    options = dict(spec.options)
    cls = FILTERBANKS[spec.filterbank]
    if _dft_basis(spec.filterbank) and "fft_length" not in options:
        # 2 * (fft_length // 2 + 1) coefficients: num_basis of them at fft_length num_basis - 2.
        options["fft_length"] = num_basis - 2
    kwargs: dict[str, Any] = {
        "num_basis": num_basis,
        "frame_len": frame_len,
        "hop": hop,
        "method": method,
        "filterbank": spec.filterbank,
        "sample_rate": sample_rate,
        "trainable": spec.trainable,
        **options,
    }
    if kernel_initializer is not None and "kernel_initializer" in family_options(cls):
        kwargs["kernel_initializer"] = kernel_initializer
    return kwargs


def parse_families(
    entries: list,
    reference: str,
    num_basis: int,
    frame_len: int,
    hop: int,
    sample_rate: int,
    method: str,
) -> list[FamilySpec]:
    """Every entry parsed, its encoder and decoder constructed once (so that a family that
    cannot be made with these sizes fails now, not after the others have trained), and
    ``reference`` checked to be one of them.

    Raises:
        ValueError: a bad entry, a repeated name, a family these sizes cannot make, or a
            ``reference`` that is not one of the families.
    """
    import framebank as fb

    specs = [parse_family(entry) for entry in entries]
    names = [spec.name for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"config `families` names {', '.join(repeated)} more than once (give a mapping "
            f"entry its own `name`). Received: {entries!r}"
        )
    for spec in specs:
        try:
            kwargs = encoder_kwargs(spec, num_basis, frame_len, hop, sample_rate, method)
            encoder = fb.Encoder(**kwargs)
            fb.Decoder(encoder, kind=spec.decoder, method="matmul")
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"config `families`: {spec.name!r} cannot be made with num_basis={num_basis}, "
                f"frame_len={frame_len}, sample_rate={sample_rate}: {err}"
            ) from None
    if specs and reference not in names:
        raise ValueError(
            f"config `reference` must be one of the families. Received: reference="
            f"{reference!r}; families: {', '.join(names)}"
        )
    return specs
