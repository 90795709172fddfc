"""What a trained front end learned: its filters' frequency responses, centres and bandwidths,
and the per-channel parameters of its post-processing (PCEN's alpha, delta, root, smoothing).

``framebank inspect MODEL.keras`` calls :func:`inspect_frontend`; the language-ID recipe uses
:func:`filter_table` for its report. It works on any model that holds a framebank
:class:`~framebank.Encoder` (alone, inside a :class:`~framebank.FrontEnd`, or nested in a
model). Where a filterbank's initial values can be rebuilt from its config (every parametric
family, and the fixed ``fourier`` and ``mel`` bases), learned and initial are shown together.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from framebank.files import write_json, write_text
from framebank.layers import Encoder

__all__ = [
    "FilterStats",
    "encoders_in",
    "filter_responses",
    "filter_table",
    "initial_filterbank",
    "inspect_frontend",
    "parameter_tables",
    "sample_rates",
]

_FFT = 2048


def _walk(layer: Any) -> Iterator[Any]:
    yield layer
    children = getattr(layer, "_layers", None) or []
    if isinstance(layer, keras.Model):
        children = layer.layers
    for child in children:
        yield from _walk(child)
    for name in ("encoder", "decoder"):
        child = getattr(layer, name, None)
        if isinstance(child, keras.layers.Layer) and child is not layer:
            yield from _walk(child)
    for child in getattr(layer, "postprocessing", None) or []:
        yield from _walk(child)


def _unique(layers: Iterator[Any]) -> list[Any]:
    seen, found = set(), []
    for layer in layers:
        if id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
    return found


def encoders_in(model: Any) -> list[Encoder]:
    """Every :class:`~framebank.Encoder` held by ``model``, outermost first, each once."""
    return [layer for layer in _unique(_walk(model)) if isinstance(layer, Encoder)]


def initial_filterbank(encoder: Encoder) -> Any | None:
    """A fresh copy of ``encoder``'s filterbank, built from its config: its initial values.

    None for families whose initial values are a random draw (``free``, ``analytic``).
    """
    filterbank = encoder.filterbank
    if filterbank.random_init:
        return None
    fresh = type(filterbank).from_config(filterbank.get_config())
    fresh.build(encoder.frame_len)
    return fresh


def filter_responses(filterbank: Any, fft_length: int = _FFT) -> np.ndarray:
    """``[fft_length // 2 + 1, filters]`` magnitude responses of a filterbank's filters.

    A complex family's pair (real column ``k``, imaginary column ``k + n/2``) is one
    filter ``re - j im``, as the layout's coefficients read it; other families give
    one real filter a column.
    """
    basis = np.asarray(ops.convert_to_numpy(filterbank.filters()), "float64")
    if filterbank.complex_pairs:
        half = basis.shape[1] // 2
        complex_filters = basis[:, :half] - 1j * basis[:, half:]
        spectrum = np.abs(np.fft.fft(complex_filters, fft_length, axis=0))
        # Positive frequencies; a negative-frequency peak folds onto its mirror.
        positive = spectrum[: fft_length // 2 + 1].copy()
        positive[1:-1] = np.maximum(positive[1:-1], spectrum[-1 : fft_length // 2 : -1])
        return positive
    return np.abs(np.fft.rfft(basis, fft_length, axis=0))


class FilterStats(dict):
    """Per filter: ``centre_hz`` (the response's peak) and ``bandwidth_hz`` (its width at
    half the peak's power, -3 dB), as arrays."""


def _response_fft_length(sample_rate: float) -> int:
    """The DFT size responses are read with: bins at most 1 Hz apart (2048 at least)."""
    return max(_FFT, 1 << int(np.ceil(np.log2(float(sample_rate)))))


def _stats(filterbank: Any, sample_rate: float) -> FilterStats:
    """Centres from the family's parameters where it has them (``centre_hz``), else the
    response's peak on a grid of ``sample_rate / _response_fft_length`` Hz; bandwidths on
    that grid."""
    responses = filter_responses(filterbank, _response_fft_length(sample_rate))
    freqs = np.linspace(0.0, sample_rate / 2, responses.shape[0])
    centres = freqs[responses.argmax(0)]
    exact = filterbank.centre_hz()
    if exact is not None:
        centres = np.asarray(ops.convert_to_numpy(exact), "float64").reshape(centres.shape)
    power = responses**2
    half = power >= power.max(0, keepdims=True) / 2
    width = half.sum(0) * (freqs[1] - freqs[0])
    return FilterStats(centre_hz=centres, bandwidth_hz=width)


def filter_table(encoder: Encoder, sample_rate: float | None = None) -> list[dict]:
    """One row a filter: learned (and, where known, initial) centre and bandwidth in Hz.

    Centres come from the family's parameters where it has them (gabor, sinc: exact), else
    from the response's peak; peaks and bandwidths are read on a grid of at most 1 Hz
    (``_response_fft_length``), which :func:`inspect_frontend` records."""
    rate = sample_rate or encoder.filterbank.sample_rate
    if rate is None:
        raise ValueError(
            f"The {encoder.filterbank.family!r} filterbank of {encoder.name!r} has no "
            "sample_rate: pass sample_rate= to express frequencies in Hz."
        )
    if not encoder.built:  # a front end not called yet: its initial filters
        encoder.build((None, None))
    learned = _stats(encoder.filterbank, rate)
    start = initial_filterbank(encoder)
    initial = _stats(start, rate) if start is not None else None
    rows = []
    for index in range(len(learned["centre_hz"])):
        row = {
            "filter": index,
            "centre_hz": float(learned["centre_hz"][index]),
            "bandwidth_hz": float(learned["bandwidth_hz"][index]),
        }
        if initial is not None:
            row["initial_centre_hz"] = float(initial["centre_hz"][index])
            row["initial_bandwidth_hz"] = float(initial["bandwidth_hz"][index])
        rows.append(row)
    return rows


def parameter_tables(model: Any) -> dict[str, list[dict]]:
    """Per post-processing layer with per-channel parameters: one row a channel.

    A layer says what its parameters are through ``parameter_values()`` (a dict of
    ``[channels]`` arrays in their natural units, e.g. PCEN's ``delta`` rather than the
    logarithm it learns); otherwise its 1-D weights are listed as they are.
    """
    tables = {}
    for layer in _unique(_walk(model)):
        if isinstance(layer, (Encoder, keras.Model)) or not getattr(layer, "kind", ""):
            continue
        if hasattr(layer, "parameter_values"):
            values = {k: np.asarray(v) for k, v in layer.parameter_values().items()}
        else:
            values = {
                w.path.split("/")[-1]: np.asarray(ops.convert_to_numpy(w))
                for w in layer.weights
                if len(w.shape) == 1
            }
        if not values:
            continue
        count = max(v.size for v in values.values())
        rows = []
        for channel in range(count):
            row: dict[str, Any] = {"channel": channel}
            for name, value in values.items():
                row[name] = float(value.reshape(-1)[channel if value.size == count else 0])
            rows.append(row)
        tables[layer.name] = rows
    return tables


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _plot(encoder: Encoder, rate: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learned = filter_responses(encoder.filterbank)
    start = initial_filterbank(encoder)
    panels = [("learned", learned)]
    if start is not None:
        panels.insert(0, ("initial", filter_responses(start)))
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5 * (len(panels) + 1), 4))
    freqs = np.linspace(0, rate / 2, learned.shape[0])
    top = max(float(p.max()) for _, p in panels)
    for ax, (title, responses) in zip(axes, panels, strict=False):
        db = 20 * np.log10(np.maximum(responses / top, 1e-6))
        ax.imshow(
            db,
            aspect="auto",
            origin="lower",
            extent=(-0.5, db.shape[1] - 0.5, 0, rate / 2),
            vmin=-60,
            vmax=0,
            cmap="magma",
        )
        ax.set(title=f"{title} responses (dB)", xlabel="filter", ylabel="Hz")
    ax = axes[-1]
    table = filter_table(encoder, rate)
    ax.plot([r["centre_hz"] for r in table], "o", ms=3, label="learned centre")
    if start is not None:
        ax.plot([r["initial_centre_hz"] for r in table], "-", lw=1, label="initial centre")
    ax.set(title=f"{encoder.name}: centres", xlabel="filter", ylabel="Hz", ylim=(0, rate / 2))
    ax.legend(loc="upper left")
    del freqs
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def sample_rates(encoders: list[Encoder], sample_rate: float | None = None) -> dict[str, float]:
    """``{encoder name: Hz}``: ``sample_rate`` where given, else each filterbank's own.

    Raises:
        ValueError: an encoder's family records no sample rate (``free``, ``analytic``) and
            ``sample_rate`` is None.
    """
    rates = {}
    for encoder in encoders:
        rate = sample_rate or encoder.filterbank.sample_rate
        if rate is None:
            raise ValueError(
                f"The {encoder.filterbank.family!r} filterbank of {encoder.name!r} has no "
                "sample_rate: pass --sample-rate (Hz)."
            )
        rates[encoder.name] = rate
    return rates


def inspect_frontend(
    model: Any, out: str | os.PathLike, sample_rate: float | None = None
) -> dict[str, Any]:
    """Write what ``model``'s front end learned into the folder ``out``.

    Args:
        model: a Keras model or layer holding an Encoder, or the path of a ``.keras``
            file (loaded after ``import framebank``, so its layers are known).
        out: the folder to write (created if missing).
        sample_rate: Hz, for families that do not record one (``free``, ``fourier``).

    Returns:
        What was written: ``{"encoders": {name: {"png", "csv", "moved_hz"}},
        "parameters": {layer: csv}}``; ``moved_hz`` is the median absolute change of the
        filters' centre frequencies from their initial values (None where unknown);
        ``centres`` says where they come from (``"parameters"``, exact, or ``"peak"``, the
        response's) and ``grid_hz`` the spacing peaks and bandwidths are read on.

    Raises:
        FileNotFoundError: ``model`` names a file that does not exist.
        ValueError: the model holds no framebank Encoder.
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"No model file at {str(path)!r}.")
        model = keras.models.load_model(path)
    encoders = encoders_in(model)
    if not encoders:
        raise ValueError(
            f"{getattr(model, 'name', model)!r} holds no framebank Encoder to inspect."
        )
    rates = sample_rates(encoders, sample_rate)  # before any work: nothing written on refusal
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"encoders": {}, "parameters": {}}
    for encoder in encoders:
        rate = rates[encoder.name]
        table = filter_table(encoder, rate)
        write_text(out / f"{encoder.name}_filters.csv", _csv_text(table))
        _plot(encoder, rate, out / f"{encoder.name}_filters.png")
        moved = None
        if "initial_centre_hz" in table[0]:
            moved = float(np.median([abs(r["centre_hz"] - r["initial_centre_hz"]) for r in table]))
        written["encoders"][encoder.name] = {
            "png": f"{encoder.name}_filters.png",
            "csv": f"{encoder.name}_filters.csv",
            "moved_hz": moved,
            "centres": "parameters" if encoder.filterbank.centre_hz() is not None else "peak",
            "grid_hz": rate / _response_fft_length(rate),
        }
    for name, rows in parameter_tables(model).items():
        write_text(out / f"{name}_parameters.csv", _csv_text(rows))
        written["parameters"][name] = f"{name}_parameters.csv"
    write_json(out / "inspection.json", written)
    return written
