"""A saved model whose sub-models are Functional models (the Functional API
guide's autoencoder) decompiles from its file, recompiles with its weights,
and gives the same outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kspec.cli import main
from kspec.runtime._quiet import import_keras


def test_saved_autoencoder_with_functional_sub_models_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = import_keras()
    layers = keras.layers
    img = keras.Input((28, 28, 1), name="img")
    x = layers.Conv2D(8, 3, activation="relu")(img)
    x = layers.MaxPooling2D(3)(x)
    encoded = layers.GlobalMaxPooling2D()(x)
    encoder = keras.Model(img, encoded, name="encoder")
    code = keras.Input((8,), name="code")
    y = layers.Reshape((2, 2, 2))(code)
    y = layers.Conv2DTranspose(4, 3, activation="relu")(y)
    decoder = keras.Model(code, layers.Conv2DTranspose(1, 3)(y), name="decoder")
    outer = keras.Input((28, 28, 1), name="picture")
    autoencoder = keras.Model(outer, decoder(encoder(outer)), name="autoencoder")
    autoencoder.save(tmp_path / "ae.keras")

    spec = tmp_path / "ae.kspec"
    assert main(["decompile", str(tmp_path / "ae.keras"), "-o", str(spec)]) == 0
    assert main(["compile", str(spec), "--weights", str(tmp_path / "ae.weights.h5"), "-o",
                 str(tmp_path / "again.keras")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == f"wrote {tmp_path / 'again.keras'} (model 'autoencoder', 193 parameters)"

    again = keras.models.load_model(tmp_path / "again.keras")
    assert [type(layer).__name__ for layer in again.layers] == ["InputLayer", "Functional", "Functional"]
    data = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(again.predict(data, verbose=0), autoencoder.predict(data, verbose=0), atol=1e-6)
