"""framebank.inspection: what a trained front end learned, read back from a model or a file."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest
from keras import ops

import framebank as fb
from framebank.inspection import encoders_in, filter_table, inspect_frontend


def _gabor_model():
    inputs = keras.Input((1600,))
    fe = fb.build_frontend(
        {"filterbank": "gabor", "num_basis": 16, "frame_len": 101, "hop": 40,
         "sample_rate": 8000, "postprocessing": [{"log_energy": {"pairs": True}}]}
    )  # fmt: skip
    return keras.Model(inputs, fe(inputs)), fe.encoder


def test_centres_are_the_parametric_ones_and_the_initial_ones_are_rebuilt():
    model, encoder = _gabor_model()
    table = filter_table(encoder)
    assert len(table) == 8
    parametric = ops.convert_to_numpy(encoder.filterbank.centre_hz())
    got = np.array([row["centre_hz"] for row in table])
    # Read from the family's own parameters, not from a response on a grid: exact.
    np.testing.assert_array_equal(got, parametric.astype("float64"))
    assert all(row["centre_hz"] == row["initial_centre_hz"] for row in table)
    assert all(row["bandwidth_hz"] > 0 for row in table)


def test_inspect_writes_responses_centres_and_how_far_they_moved(tmp_path):
    model, encoder = _gabor_model()
    centre, sigma = encoder.get_weights()
    encoder.set_weights([centre * 1.1, sigma])  # "trained": every centre moved up 10%
    model.save(tmp_path / "m.keras")
    written = inspect_frontend(tmp_path / "m.keras", tmp_path / "out")
    (name,) = written["encoders"]
    entry = written["encoders"][name]
    assert (tmp_path / "out" / entry["png"]).stat().st_size > 1000
    with open(tmp_path / "out" / entry["csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    moved = [float(r["centre_hz"]) - float(r["initial_centre_hz"]) for r in rows]
    assert all(m > 0 for m in moved[1:]) and entry["moved_hz"] > 10


def test_inspect_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        inspect_frontend(tmp_path / "nothing.keras", tmp_path)
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="holds no framebank Encoder"):
        inspect_frontend(plain, tmp_path)
    free = fb.Encoder(8, 16, 8)
    free.build((None, None))
    with pytest.raises(ValueError, match="sample_rate"):
        inspect_frontend(free, tmp_path)
    assert encoders_in(free) == [free]


def test_the_inspect_command_writes_the_files_and_refuses_bad_input(tmp_path, capsys):
    from framebank_cli import main

    model, _ = _gabor_model()
    model.save(tmp_path / "m.keras")
    assert main(["inspect", str(tmp_path / "m.keras"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "_filters.png" in out and (tmp_path / "out" / "inspection.json").is_file()
    assert main(["inspect", str(tmp_path / "missing.keras")]) == 2
    assert "no model file" in capsys.readouterr().err
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "plain.keras")
    assert main(["inspect", str(tmp_path / "plain.keras"), "--out", str(tmp_path / "o2")]) == 2
    assert "holds no framebank Encoder" in capsys.readouterr().err


def test_an_unbuilt_front_end_is_inspected_at_its_initial_filters(tmp_path):
    written = inspect_frontend(fb.frontends.LEAF(sample_rate=8000), tmp_path)
    assert list(written["encoders"].values())[0]["moved_hz"] == 0.0


def test_inspect_refuses_a_file_that_is_not_a_model_in_one_line(tmp_path, capsys):
    from framebank_cli import main

    (tmp_path / "bad.yaml").write_text("filterbank: free\n")
    assert main(["inspect", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot load it as a Keras model" in capsys.readouterr().err


def test_a_user_registered_complex_family_is_drawn_as_pairs():
    """What a family can do is its own attribute: inspection reads ``complex_pairs`` and
    ``centre_hz`` from the family, so a user's complex family is drawn as one filter a pair."""
    import framebank as fb
    from framebank.inspection import filter_responses

    rate, frame_len, tone = 8000, 64, 1000.0

    @fb.register_filterbank("test_one_tone_pairs")
    class OneTonePairs(fb.Filterbank):
        complex_pairs = True

        def make_weights(self):
            n = np.arange(self.frame_len)[:, None]
            hz = tone * np.arange(1, self.num_basis // 2 + 1)[None, :]
            phase = 2 * np.pi * hz * n / self.sample_rate
            self._basis = np.concatenate([np.cos(phase), np.sin(phase)], 1).astype("float32")

        def filters(self):
            return self._basis

        def centre_hz(self):
            return tone * np.arange(1, self.num_basis // 2 + 1)

    try:
        encoder = fb.Encoder(4, frame_len, 32, filterbank="test_one_tone_pairs", sample_rate=rate)
        encoder.build((None, None))
        responses = filter_responses(encoder.filterbank, fft_length=frame_len * 8)
        assert responses.shape[1] == 2  # one filter a (cos, sin) pair, not four real ones
        freqs = np.linspace(0.0, rate / 2, responses.shape[0])
        # The FFT grid is rate / (8 frame_len) = 15.6 Hz: the peak falls within one bin.
        np.testing.assert_allclose(freqs[responses.argmax(0)], [tone, 2 * tone], atol=rate / 512)
        assert fb.FreeFilterbank.complex_pairs is False and fb.FreeFilterbank.random_init
        assert fb.FourierFilterbank(None, 16).centre_hz() is None
    finally:
        fb.filterbanks.base._REGISTRY.pop("test_one_tone_pairs")


def test_peak_centres_are_read_on_a_grid_of_at_most_1_hz(tmp_path):
    """A family without centre parameters (the mel front end's DFT) is read at its responses'
    peaks: bin k of a 400-point DFT at 16 kHz is k * 40 Hz, found within half the grid."""
    fe = fb.frontends.LogMel(16000, n_fft=400, hop_length=160)
    written = inspect_frontend(fe, tmp_path)
    entry = written["encoders"][fe.encoder.name]
    assert entry["centres"] == "peak" and entry["grid_hz"] <= 1.0
    got = np.array([row["centre_hz"] for row in filter_table(fe.encoder)])
    assert np.abs(got - 40.0 * np.arange(len(got))).max() <= entry["grid_hz"] / 2


def _mel_table(frontend, tmp_path):
    inputs = keras.Input((16000,))
    model = keras.Model(inputs, frontend(inputs))
    written = inspect_frontend(model, tmp_path)
    for name in written["parameters"]:
        with open(tmp_path / written["parameters"][name]) as handle:
            rows = list(csv.DictReader(handle))
        if "changed" in rows[0]:  # the mel layer's table
            return rows
    return None


@pytest.mark.parametrize("preset", ["whisper", "kaldi_fbank"])
def test_a_learned_mel_matrix_is_tabulated_per_band(preset, tmp_path):
    cls = fb.frontends.FRONTENDS[preset]
    frontend = cls(learnable="mel")
    assert _mel_table(cls(), tmp_path / "fixed") is None  # a fixed matrix learned nothing
    rows = _mel_table(frontend, tmp_path / "start")
    assert rows and all(float(r["changed"]) == 0 for r in rows)
    assert all(float(r["centre_hz"]) == float(r["initial_centre_hz"]) for r in rows)
    (mel,) = [w for w in frontend.trainable_weights if "mel" in w.path]
    weights = ops.convert_to_numpy(mel)
    band = weights.shape[1] // 2
    moved = weights.copy()
    moved[:, band] = np.roll(weights[:, band], 3)  # band `band` three bins up, same shape
    mel.assign(moved)
    rows = _mel_table(frontend, tmp_path / "moved")
    assert [float(r["changed"]) > 0 for r in rows] == [i == band for i in range(len(rows))]
    bin_hz = 16000 / frontend.encoder.filterbank.fft_length
    shift = float(rows[band]["centre_hz"]) - float(rows[band]["initial_centre_hz"])
    # The centroid of weights moved three bins moves by three bins (csv keeps 6 digits).
    assert shift == pytest.approx(3 * bin_hz, rel=1e-4)
    frontend.trainable = False  # frozen after fine-tuning: what it learned is still shown
    assert _mel_table(frontend, tmp_path / "frozen") == rows


@pytest.mark.parametrize("family", ["free", "analytic"])
def test_inspect_without_a_sample_rate_is_refused_in_one_line_before_any_work(
    family, tmp_path, capsys
):
    """A family that records no sample rate: a 22-line traceback, exit 1 and an empty --out
    folder before; one line, exit 2 and nothing made now (the README's promise)."""
    from framebank_cli import main

    inputs = keras.Input((None,))
    encoder = fb.Encoder(filterbank=family, num_basis=8, frame_len=16, hop=8)
    keras.Model(inputs, encoder(inputs)).save(tmp_path / "m.keras")
    out = tmp_path / "out"
    assert main(["inspect", str(tmp_path / "m.keras"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "pass --sample-rate" in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and not out.exists()
    assert (
        main(["inspect", str(tmp_path / "m.keras"), "--out", str(out)] + ["--sample-rate", "8000"])
        == 0
    )
    assert (out / "inspection.json").is_file()


def test_inspect_says_a_keras_file_that_is_not_a_zip_is_not_a_keras_file(tmp_path, capsys):
    """Keras's own message for it was a misleading "File not found"."""
    from framebank_cli import main

    (tmp_path / "notkeras.keras").write_text("not a zip archive\n")
    assert main(["inspect", str(tmp_path / "notkeras.keras"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "not a Keras file" in err and "zip" in err and "File not found" not in err
    assert not (tmp_path / "o").exists()
