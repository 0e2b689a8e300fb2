"""Custom layers enter only through an explicit registry: a module named
with ``--plugin`` registers the class with Keras; a spec refers to it as
``package>ClassName``. Without the plugin the build stops with a located
error; the spec alone never imports anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kspec.cli import main

PLUGIN = '''
import keras


@keras.saving.register_keras_serializable(package="kspec_test")
class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
'''

SPEC = """models:
  - name: net
    inputs: {x: [4]}
    nodes:
      - {name: h, from: x, apply: [{Dense: [3]}, {kspec_test>Scale: {factor: 0.5}}]}
    outputs:
      y: {from: h, apply: {Dense: [1]}}
"""


def test_registered_custom_layer_needs_its_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kspec_test_plugin.py").write_text(PLUGIN, encoding="utf-8")
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))

    assert main(["check", "net.yaml"]) == 0  # statically: unknown shape, no false error
    capsys.readouterr()

    if "kspec_test_plugin" not in sys.modules:  # the registry is per process
        assert main(["compile", "net.yaml", "-o", "net.keras"]) == 1
        err = capsys.readouterr().err
        expected = "net.yaml:5:51: error[K203]: custom layer 'kspec_test>Scale' is not registered with Keras"
        assert err.startswith(expected)
        assert not (tmp_path / "net.keras").exists()

    assert main(["compile", "net.yaml", "-o", "net.keras", "--plugin", "no_such_plugin"]) == 2
    expected_err = "kspec: error: cannot import plugin 'no_such_plugin': No module named 'no_such_plugin'\n"
    assert capsys.readouterr().err == expected_err

    assert main(["compile", "net.yaml", "-o", "net.keras", "--plugin", "kspec_test_plugin"]) == 0
    assert capsys.readouterr().out == "wrote net.keras (model 'net', 19 parameters)\n"

    assert main(["decompile", "net.keras", "-o", "back.yaml", "--allow-custom", "--plugin", "kspec_test_plugin"]) == 0
    back = (tmp_path / "back.yaml").read_text(encoding="utf-8")
    assert "kspec_test>Scale:" in back and "factor: 0.5" in back
    assert main(["compile", "back.yaml", "--weights", "back.weights.h5", "-o", "again.keras"]) == 0

    # The .kspec form writes Keras's package>Class as package::Class.
    assert main(["decompile", "net.keras", "-o", "back.kspec", "--allow-custom", "--plugin", "kspec_test_plugin"]) == 0
    text = (tmp_path / "back.kspec").read_text(encoding="utf-8")
    assert "-> kspec_test::Scale(factor=0.5) ->" in text
    assert main(["compile", "back.kspec", "--plugin", "kspec_test_plugin", "-o", "again2.keras"]) == 0
