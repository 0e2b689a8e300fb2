"""``kspec compile``: exact output, exit codes, formats, atomic writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kspec
from kspec.cli import main
from kspec.runtime._quiet import import_keras

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
INVALID = ROOT / "tests" / "fixtures" / "invalid"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_compile_writes_each_format_and_it_loads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    keras = import_keras()
    out = tmp_path / f"siamese{suffix}"
    code, stdout, stderr = run(capsys, "compile", str(EXAMPLES / "siamese.yaml"), "-o", str(out))
    assert (code, stderr) == (0, "")
    assert stdout == f"wrote {out} (model 'matcher', 652,806 parameters)\n"
    expected = kspec.build(kspec.load(EXAMPLES / "siamese.yaml"))
    if suffix == ".json":
        assert out.read_text(encoding="utf-8") == expected.to_json()
        loaded = keras.models.model_from_json(out.read_text(encoding="utf-8"))
    else:
        loaded = keras.models.load_model(out, compile=False)
    assert loaded.count_params() == expected.count_params() == 652_806
    assert loaded.output_names == ["same", "topic"]
    assert sorted(os.listdir(tmp_path)) == [out.name]  # no temporary file left


def test_default_output_is_spec_stem_keras_in_cwd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run(capsys, "compile", str(EXAMPLES / "mnist_convnet.yaml"))
    assert code == 0
    assert stdout == "wrote mnist_convnet.keras (model 'mnist_convnet', 34,826 parameters)\n"
    assert (tmp_path / "mnist_convnet.keras").is_file()


def test_spec_error_exits_1_with_located_message_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(INVALID)
    out = tmp_path / "model.keras"
    code, stdout, stderr = run(capsys, "compile", "unknown_layer.yaml", "-o", str(out))
    assert code == 1
    assert stdout == ""
    assert stderr == (INVALID / "unknown_layer.expected").read_text(encoding="utf-8")
    assert os.listdir(tmp_path) == []


def test_failed_compile_leaves_an_existing_output_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(INVALID)
    out = tmp_path / "model.json"
    out.write_text("previous", encoding="utf-8")
    code, _, stderr = run(capsys, "compile", "shape_clash.yaml", "-o", str(out))
    assert code == 1
    assert "shape_clash.yaml:7:40: error[K401]" in stderr and "(None, 32) and (None, 64)" in stderr
    assert out.read_text(encoding="utf-8") == "previous"
    assert os.listdir(tmp_path) == ["model.json"]


def test_missing_spec_file_is_an_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, stdout, stderr = run(capsys, "compile", str(missing), "-o", str(tmp_path / "x.keras"))
    assert (code, stdout) == (2, "")
    assert stderr == f"kspec: error: cannot access '{missing}': No such file or directory\n"


def test_unknown_output_suffix_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = run(capsys, "compile", str(EXAMPLES / "siamese.yaml"), "-o", str(tmp_path / "m.onnx"))
    assert code == 2
    assert stderr == "kspec: error: unknown output format '.onnx': use .keras, .h5, .json\n"
    assert os.listdir(tmp_path) == []


def test_missing_output_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "such" / "m.keras"
    code, _, stderr = run(capsys, "compile", str(EXAMPLES / "siamese.yaml"), "-o", str(out))
    assert code == 2
    assert stderr == f"kspec: error: cannot write '{out}': directory '{out.parent}' does not exist\n"


def test_unknown_model_name_suggests_the_close_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = ROOT / "tests" / "fixtures" / "valid" / "shared_submodel.yaml"
    code, _, stderr = run(capsys, "compile", str(spec), "--model", "compar", "-o", str(tmp_path / "m.keras"))
    assert code == 1
    assert "error[K207]: no model named 'compar' (the spec has: tower, compare)" in stderr
    assert "hint: did you mean 'compare'?" in stderr
    assert os.listdir(tmp_path) == []


def test_model_option_picks_the_sub_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = ROOT / "tests" / "fixtures" / "valid" / "shared_submodel.yaml"
    out = tmp_path / "tower.json"
    code, stdout, _ = run(capsys, "compile", str(spec), "--model", "tower", "-o", str(out))
    assert code == 0
    assert stdout == f"wrote {out} (model 'tower', 472 parameters)\n"
    assert json.loads(out.read_text(encoding="utf-8"))["class_name"] == "Sequential"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "usage: kspec" in err
    code, _, err = run(capsys, "compile")
    assert code == 2
    assert err.endswith("error: the following arguments are required: SPEC\n")


def test_the_installed_command_is_quiet_and_never_prints_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    ok = subprocess.run(
        [sys.executable, "-m", "kspec", "compile", str(EXAMPLES / "ticket.yaml"), "-o", str(tmp_path / "t.h5")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0
    assert ok.stderr == ""  # TensorFlow's start-up noise is silenced
    assert ok.stdout == f"wrote {tmp_path / 't.h5'} (model 'ticket_classifier', 1,392,097 parameters)\n"
    bad = subprocess.run(
        [sys.executable, "-m", "kspec", "compile", str(INVALID / "cycle.yaml"), "-o", str(tmp_path / "c.keras")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "error[K204]: cycle: a -> c -> b -> a" in bad.stderr
    assert not (tmp_path / "c.keras").exists()


def test_keras_errors_raised_inside_call_keep_their_message() -> None:
    """Keras wraps an error raised in a layer's call() as "Exception
    encountered when calling X.call()." plus the real message in ANSI bold
    plus the arguments; a compile error must show the real message."""
    from kspec.runtime.lower import clean_keras_message

    wrapped = ValueError("Exception encountered when calling MaxPooling2D.call().\n\n"
                         "\x1b[1mArgument `padding` must be either 'valid' or 'same'. Received: sam\x1b[0m\n\n"
                         "Arguments received by MaxPooling2D.call():\n  • inputs=tf.Tensor(shape=(None, 8, 8, 3))")
    assert clean_keras_message(wrapped) == "Argument `padding` must be either 'valid' or 'same'. Received: sam"
    assert clean_keras_message(ValueError("first paragraph\nline two\n\nsecond")) == "first paragraph line two"
    assert clean_keras_message(KeyError()) == "KeyError"


def test_keras_refusal_inside_call_is_located_with_its_message() -> None:
    """Lowering reports a layer Keras refuses in call() at the layer, in
    Keras's own words (the static checks are bypassed to reach Keras)."""
    from kspec.compiler.pipeline import expand, parse_text
    from kspec.runtime.lower import lower_spec

    text = "model m {\n  input x: (8, 8, 3)\n  output y = x -> MaxPooling2D(2, padding=\"sam\")\n}\n"
    with pytest.raises(kspec.KspecError) as caught:
        lower_spec(expand(parse_text(text, "s.kspec")))
    (diag,) = caught.value.diagnostics
    assert diag.code == "K401" and diag.span is not None and (diag.span.line, diag.span.column) == (3, 19)
    assert "padding" in diag.message and diag.message.endswith("sam")
