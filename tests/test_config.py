"""build_frontend: dicts and YAML files to an Encoder (and Decoder); errors that list what is
accepted; a user's own family registered and built without touching framebank."""

from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from keras import ops

import framebank as fb

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes" / "frontends").glob("*.yaml"))


def test_dict_builds_the_encoder_it_describes():
    config = {
        "filterbank": "sinc",
        "method": "strided_conv",
        "num_basis": 8,
        "frame_len": 65,
        "hop": 20,
        "sample_rate": 8000,
        "min_band_hz": 80,
        "center": True,
        "use_bias": True,
        "name": "front",
    }
    frontend = fb.build_frontend(config)
    encoder, decoder = frontend.encoder, frontend.decoder
    assert decoder is None and frontend.postprocessing == []
    assert isinstance(encoder.filterbank, fb.SincFilterbank)
    assert encoder.filterbank.min_band_hz == 80 and encoder.filterbank.sample_rate == 8000
    assert (encoder.num_basis, encoder.frame_len, encoder.hop, encoder.center) == (8, 65, 20, True)
    assert encoder.method.name == "strided_conv" and encoder.use_bias and encoder.name == "front"
    out = encoder(np.zeros((1, 200), "float32"))
    assert tuple(out.shape) == (1, 1 + (200 + 2 * 32 - 65) // 20, 8)


def test_broken_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("frame_len: [400, 160\nhop: 160\n")
    with pytest.raises(fb.FrontendConfigError, match="broken.yaml is not valid YAML"):
        fb.build_frontend(path)


def test_yaml_file_and_dict_agree(tmp_path):
    config = {
        "filterbank": "fourier",
        "frame_len": 64,
        "hop": 16,
        "window": "sqrt_hann",
        "decoder": {"kind": "pinv", "method": "strided_conv"},
    }
    path = tmp_path / "front.yaml"
    path.write_text(yaml.safe_dump(config))
    from_file = fb.build_frontend(path)
    from_str = fb.build_frontend(str(path))
    from_dict = fb.build_frontend(config)
    for built in (from_file, from_str, from_dict):
        assert built.encoder.num_basis == 66  # fixed by frame_len for fourier
        assert built.encoder.filterbank.window == "sqrt_hann"
        assert (built.decoder.kind, built.decoder.method.name) == ("pinv", "strided_conv")
    x = np.random.default_rng(0).standard_normal((1, 300)).astype("float32")
    enc, dec = from_file.encoder, from_file.decoder
    y = ops.convert_to_numpy(dec(enc(x)))
    np.testing.assert_allclose(y[:, 64:240], x[:, 64:240], atol=1e-4)


def test_filterbank_trainable_freezes_only_the_family():
    enc = fb.build_frontend(
        {
            "filterbank": "fourier",
            "frame_len": 16,
            "hop": 8,
            "use_bias": True,
            "filterbank_trainable": False,
        }
    ).encoder
    enc.build((None, None))
    assert [v.path.split("/")[-1] for v in enc.trainable_weights] == ["bias"]
    mel = fb.build_frontend(
        {
            "filterbank": "mel",
            "frame_len": 16,
            "hop": 8,
            "sample_rate": 8000,
            "n_mels": 4,
            "filterbank_trainable": True,
        }
    ).encoder
    mel.build((None, None))
    assert len(mel.trainable_weights) == 1  # the mel basis, fixed by default, now trains


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_builds_and_runs(recipe):
    assert RECIPES, "recipes/frontends/*.yaml"
    frontend = fb.build_frontend(recipe)
    encoder, decoder = frontend.encoder, frontend.decoder
    raw = yaml.safe_load(recipe.read_text())
    if "frontend" in raw:  # a ready-made one
        assert isinstance(frontend, fb.frontends.FRONTENDS[raw["frontend"]])
    else:
        assert encoder.filterbank.family == raw["filterbank"]
    # 2400 samples: more than keras_mel's 2048-sample frame.
    x = np.random.default_rng(0).standard_normal((1, 2400)).astype("float32")
    coefficients = encoder(x)
    assert coefficients.shape[-1] == encoder.num_basis
    assert np.all(np.isfinite(ops.convert_to_numpy(coefficients)))
    if decoder is not None:
        assert decoder(coefficients, length=2400).shape == (1, 2400)
    features = ops.convert_to_numpy(frontend(x))  # the post-processing after the encoder
    assert features.ndim == 3 and features.shape[0] == 1  # pooling may change the frames
    assert np.all(np.isfinite(features))


@pytest.mark.parametrize(
    "config,fragments",
    [
        (
            {"filterbank": "sinx", "num_basis": 8, "frame_len": 16, "hop": 8},
            ["unknown filterbank 'sinx'", "analytic, fourier, free, gabor, kaldi, mel, sinc"],
        ),
        (
            {"num_basis": 8, "frame_len": 16, "hop": 8, "method": "fft"},
            ["unknown method 'fft'", "dense", "strided_conv"],
        ),
        ({"num_basis": 8, "frame_len": 16}, ["missing required key 'hop'"]),
        ({"frame_len": 16, "hop": 8}, ["missing required key 'num_basis'"]),
        (
            {"num_basis": "8", "frame_len": 16.0, "hop": True},
            [
                "`num_basis` must be int. Received: '8' (str)",
                "`frame_len` must be int. Received: 16.0 (float)",
                "`hop` must be int. Received: True (bool)",
            ],
        ),
        (
            {"filterbank": "fourier", "frame_len": 16, "hop": 8, "windw": "hann"},
            ["unknown key 'windw'", "options of filterbank 'fourier': window, fft_length"],
        ),
        (
            {"filterbank": "fourier", "frame_len": 16, "hop": 8, "window": 3},
            ["`window` (option of 'fourier') must be str. Received: 3 (int)"],
        ),
        (
            {"filterbank": "fourier", "frame_len": 16, "hop": 8, "window": "kaiser"},
            ["window='kaiser'", "hann, hamming, sqrt_hann, rectangular"],
        ),
        (
            {"num_basis": 8, "frame_len": 16, "hop": 8, "decoder": {"kind": "istft"}},
            ["unknown decoder kind 'istft'", "tied, free, pinv"],
        ),
        (
            {"num_basis": 8, "frame_len": 16, "hop": 8, "decoder": {"methd": "dense"}},
            ["unknown decoder key 'methd'", "kind, method"],
        ),
        (
            {"num_basis": 8, "frame_len": 16, "hop": 8, "decoder": "pinv"},
            ["`decoder` must be dict. Received: 'pinv' (str)"],
        ),
        (
            {"filterbank": "gabor", "num_basis": 8, "frame_len": 16, "hop": 8},
            ["sample_rate=None"],
        ),
    ],
)
def test_bad_configs_raise_one_error_listing_what_is_accepted(config, fragments):
    with pytest.raises(fb.FrontendConfigError) as info:
        fb.build_frontend(config)
    assert isinstance(info.value, ValueError)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as info:
        fb.build_frontend({"filterbank": "free", "num_basis": -1.0, "hop": "8", "extra": 1})
    message = str(info.value)
    for fragment in ("num_basis", "hop", "'extra'", "missing required key 'frame_len'"):
        assert fragment in message


def test_bad_config_containers():
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        fb.build_frontend("nowhere.yaml")
    with pytest.raises(TypeError, match="dict or the path"):
        fb.build_frontend(["filterbank", "free"])


def test_a_users_own_family_registers_and_builds_from_a_config(tmp_path):
    """The module docstring's recipe: no framebank file is touched."""

    @fb.register_filterbank("test_cosine")
    class Cosine(fb.Filterbank):
        def __init__(self, num_basis, frame_len=None, sample_rate=None, scale: float = 1.0, **kw):
            super().__init__(num_basis, frame_len, sample_rate, **kw)
            self.scale = scale

        def make_weights(self):
            self.freq = self.add_weight(
                name="freq", shape=(self.num_basis,), initializer="random_uniform"
            )

        def filters(self):
            n = ops.arange(self.frame_len, dtype=self.freq.dtype)[:, None]
            return self.scale * ops.cos(n * self.freq)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    config = {"filterbank": "test_cosine", "num_basis": 6, "frame_len": 16, "hop": 8}
    encoder = fb.build_frontend({**config, "scale": 0.5, "method": "pointwise_conv"}).encoder
    assert isinstance(encoder.filterbank, Cosine) and encoder.filterbank.scale == 0.5
    x = np.random.default_rng(0).standard_normal((2, 64)).astype("float32")
    out = ops.convert_to_numpy(encoder(x))
    freq = encoder.get_weights()[0]
    frames = np.stack([x[:, f * 8 : f * 8 + 16] for f in range(7)], axis=1)
    want = frames @ (0.5 * np.cos(np.arange(16)[:, None] * freq))
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    # Its options are checked like a built-in family's.
    with pytest.raises(ValueError, match="`scale` .* must be float or int"):
        fb.build_frontend({**config, "scale": "big"})
    with pytest.raises(ValueError, match="options of filterbank 'test_cosine': scale"):
        fb.build_frontend({**config, "gain": 2})
    # And it saves and loads like one.
    inputs = keras.Input((None,))
    model = keras.Model(inputs, encoder(inputs))
    model.save(tmp_path / "cosine.keras")
    loaded = keras.models.load_model(tmp_path / "cosine.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), out, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "layer,keys",
    [
        (fb.Encoder, fb.config.ENCODER_KEYS),
        (fb.Decoder, fb.config.DECODER_KEYS),
    ],
)
def test_config_defaults_are_the_layers_defaults(layer, keys):
    # The config tables restate the layers' defaults (for the type checks and the docs).
    import inspect

    parameters = inspect.signature(layer.__init__).parameters
    shared = [key for key in keys if key in parameters]
    assert "method" in shared and "kernel_initializer" in shared
    for key in shared:
        default = keys[key][1]
        if default is not fb.config._REQUIRED:
            assert parameters[key].default == default, key


# --------------------------------------------------------------------------- names, as installed


def test_shipped_configs_and_ready_made_names_build_from_any_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # as after `pip install`: no recipes/ folder here
    by_path = fb.build_frontend("recipes/frontends/log_mel.yaml")
    assert by_path.encoder.filterbank.sample_rate == 8000  # the shipped file's own rate
    assert type(fb.build_frontend("frontends/log_mel")).__name__ == "FrontEnd"
    assert isinstance(fb.build_frontend("log_mel"), fb.frontends.LogMel)  # the ready-made
    assert isinstance(fb.build_frontend("leaf_frontend"), fb.frontends.LEAF)  # a shipped file
    with pytest.raises(FileNotFoundError, match="Ready-made: .*leaf.*leaf_frontend"):
        fb.build_frontend("leaf_frontends")
