"""The decoder's variants as objects (``framebank.decoder.Synthesis``): a kind's name and its
object make the same layer; a user's own variant is saved, reloaded and streamed through the
object's answers; a bad variant is refused by name.

Tolerances: a name and its object run the same operations on the same weights, so their
outputs are compared exactly. The user variant's reference is a float64 numpy overlap-add of
float32 products of at most 12 terms, so 1e-5 of the largest value bounds float32 rounding;
the stream adds the same frames in another grouping (tests/test_streaming.py uses 1e-5 too).
"""

import keras
import numpy as np
import pytest
from helpers import np_overlap_add
from keras import ops

import framebank as fb
from framebank import streaming
from framebank.decoder import (
    DECODER_KINDS,
    FreeSynthesis,
    PinvSynthesis,
    Synthesis,
    TiedSynthesis,
    get_synthesis,
)

TOLERANCE = 1e-5


@keras.saving.register_keras_serializable(package="test_decoder_variants")
class ScaledTied(TiedSynthesis):
    """The tied basis, the output divided by the overlap-added constant weights ``scale``."""

    name = "scaled_tied"
    normalises = True

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = float(scale)

    def basis(self, decoder, dtype):
        synthesis, _ = super().basis(decoder, dtype)
        return synthesis, ops.full((decoder.frame_len,), self.scale, dtype=dtype)

    def inverse_dft(self, dft):
        return None

    def get_config(self):
        return {"scale": self.scale}


def _coefficients(batch=2, frames=9, num_basis=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, frames, num_basis)).astype("float32")


@pytest.mark.parametrize("kind", DECODER_KINDS)
def test_a_kind_name_and_its_object_make_the_same_decoder(kind):
    encoder = fb.Encoder(12, 16, 4, use_bias=True, bias_initializer="random_normal")
    options = {"rcond": 1e-4} if kind == "pinv" else {}
    keras.utils.set_random_seed(0)
    by_name = fb.Decoder(encoder, kind=kind, method="matmul", name="dec", **options)
    keras.utils.set_random_seed(0)
    variant = get_synthesis(kind, **options)
    by_object = fb.Decoder(encoder, kind=variant, method="matmul", name="dec")
    assert type(by_object.variant) is {"tied": TiedSynthesis, "free": FreeSynthesis,
                                       "pinv": PinvSynthesis}[kind]  # fmt: skip
    assert by_object.kind == by_name.kind == kind
    c = _coefficients()
    np.testing.assert_array_equal(
        ops.convert_to_numpy(by_object(c)), ops.convert_to_numpy(by_name(c))
    )
    # A built-in variant is written as its name, as configs always had it.
    config = by_object.get_config()
    assert config["kind"] == kind and config["rcond"] == options.get("rcond")
    # (A free decoder's filterbank sub-layer is named per instance.)
    drop = lambda c: {k: v for k, v in c.items() if k != "filterbank"}  # noqa: E731
    assert drop(by_name.get_config()) == drop(config)


def test_a_users_variant_decodes_saves_reloads_and_streams(tmp_path):
    encoder = fb.Encoder(12, 16, 4, method="matmul", name="enc")
    decoder = fb.Decoder(encoder, kind=ScaledTied(4.0), method="matmul", name="dec")
    c = _coefficients()
    got = ops.convert_to_numpy(decoder(c))
    basis = ops.convert_to_numpy(encoder.filterbank.filters()).astype("float64")
    frames = c.astype("float64") @ basis.T
    want = np_overlap_add(frames, 4) / np_overlap_add(np.full(frames.shape, 4.0), 4)
    assert np.abs(got - want).max() <= TOLERANCE * np.abs(want).max()
    # The config carries the object; a reload rebuilds it.
    again = fb.Decoder.from_config(decoder.get_config())
    assert isinstance(again.variant, ScaledTied) and again.variant.scale == 4.0
    inputs = keras.Input((None, 12))
    model = keras.Model(inputs, decoder(inputs))
    model.save(tmp_path / "scaled.keras")
    loaded = keras.models.load_model(tmp_path / "scaled.keras")
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(c)), got)
    # Streaming asks the object: it normalises, so the stream carries the weights' tail.
    stream = streaming.Stream(decoder, compile=False)
    parts = [stream.process(c[:, i : i + 2]) for i in range(0, c.shape[1], 2)]
    streamed = np.concatenate([ops.convert_to_numpy(p) for p in [*parts, stream.flush()]], 1)
    assert streamed.shape == got.shape
    assert np.abs(streamed - got).max() <= TOLERANCE * np.abs(got).max()


@pytest.mark.parametrize(
    "kind,rcond,error,match",
    [
        (3, None, TypeError, "kind=3 of type int"),
        ("inverse", None, ValueError, "'free', 'pinv'.*kind='inverse'"),
        (PinvSynthesis(1e-3), 1e-2, ValueError, "PinvSynthesis\\(rcond=...\\).*rcond=0.01"),
        (Synthesis(), None, NotImplementedError, "Synthesis must define basis"),
    ],
)
def test_a_bad_variant_is_refused_by_name(kind, rcond, error, match):
    encoder = fb.Encoder(12, 16, 4)
    with pytest.raises(error, match=match):
        fb.Decoder(encoder, kind=kind, rcond=rcond)(_coefficients())
