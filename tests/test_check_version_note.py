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


def test_installed_version_is_read_as_importlib_metadata_reads_it() -> None:
    from importlib import metadata

    kspec.catalogue.installed_keras_version.cache_clear()
    try:
        expected: str | None = metadata.version("keras")
    except metadata.PackageNotFoundError:
        expected = None
    assert kspec.catalogue.installed_keras_version() == expected


def test_installed_version_is_the_first_keras_distribution_on_the_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def dist(folder: Path, name: str, version: str, file: str = "METADATA") -> None:
        (folder / name).mkdir(parents=True)
        (folder / name / file).write_text(f"Metadata-Version: 2.1\nName: x\nVersion: {version}\n\nVersion: 0\n")

    first, second = tmp_path / "a", tmp_path / "b"
    dist(first, "keras_hub-0.20.0.dist-info", "0.20.0")      # another package whose name starts the same
    dist(first, "keras_nlp-0.1-py3.11.egg-info", "0.1", "PKG-INFO")
    dist(second, "Keras-3.99.0.dist-info", "3.99.0")
    dist(tmp_path / "c", "keras-1.0.egg-info", "1.0", "PKG-INFO")
    monkeypatch.setattr("sys.path", [str(tmp_path / "missing"), str(first), str(second), str(tmp_path / "c")])
    kspec.catalogue.installed_keras_version.cache_clear()
    try:
        assert kspec.catalogue.installed_keras_version() == "3.99.0"
        monkeypatch.setattr("sys.path", [str(first)])
        kspec.catalogue.installed_keras_version.cache_clear()
        assert kspec.catalogue.installed_keras_version() is None
    finally:
        kspec.catalogue.installed_keras_version.cache_clear()
