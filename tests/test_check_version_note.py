"""``kspec check`` notes, once per run, when the installed Keras is not the
version the layer catalogue was generated from; the exit status and the rest
of the output stay as they are. No keras import: the version is read from
package metadata (replaced here)."""

from __future__ import annotations

from pathlib import Path

import pytest

import kspec.catalogue
from kspec.catalogue import catalogue
from kspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BAD = ROOT / "tests" / "fixtures" / "shapes" / "add_mismatch.yaml"


def _installed(monkeypatch: pytest.MonkeyPatch, version: str | None) -> None:
    monkeypatch.setattr(kspec.catalogue, "installed_keras_version", lambda: version)


def _note(installed: str) -> str:
    return (f"note: the layer catalogue was generated from Keras {catalogue().keras_version}; Keras {installed} "
            "is installed: checks may differ (scripts/gen_catalogue.py regenerates it)\n")


def test_other_keras_version_is_noted_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _installed(monkeypatch, "3.99.0")
    assert len(EXAMPLES) > 1
    code = main(["check", *map(str, EXAMPLES)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, _note("3.99.0"))
    assert out == "".join(f"{p}: ok\n" for p in EXAMPLES)


def test_note_leaves_errors_and_exit_status(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _installed(monkeypatch, "3.99.0")
    code = main(["check", str(BAD), str(EXAMPLES[0]), str(BAD)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == f"{EXAMPLES[0]}: ok\n"
    assert err.startswith(_note("3.99.0") + f"{BAD}:7:40: error[K401]: ")
    assert err.count("note: the layer catalogue") == 1


def test_note_with_json_format_goes_to_stderr(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _installed(monkeypatch, "3.99.0")
    code = main(["check", "--format", "json", str(EXAMPLES[0]), str(EXAMPLES[-1])])
    out, err = capsys.readouterr()
    assert (code, err) == (0, _note("3.99.0"))
    assert out.startswith("[")


@pytest.mark.parametrize("installed", [None, "same"])
def test_no_note_without_keras_or_for_the_same_version(installed: str | None, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _installed(monkeypatch, catalogue().keras_version if installed == "same" else installed)
    code = main(["check", *map(str, EXAMPLES)])
    _, err = capsys.readouterr()
    assert (code, err) == (0, "")


def test_version_note_text(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, "3.20.0")
    assert kspec.catalogue.version_note() == _note("3.20.0").removeprefix("note: ").removesuffix("\n")
    _installed(monkeypatch, None)
    assert kspec.catalogue.version_note() is None
