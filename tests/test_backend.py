"""Choosing the Keras backend, and commands without Keras installed.

Keras is hidden from a child process by an import hook, as on a machine
where only ``pip install kspec`` (no extra) was run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIAMESE = ROOT / "examples" / "siamese.kspec"

_HIDE = """
import sys
class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Hidden())
from kspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _kspec(args: list[str], blocked: tuple[str, ...] = (), env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    code = _HIDE.format(blocked=set(blocked))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_static_commands_work_without_keras_and_building_names_the_extra(tmp_path: Path) -> None:
    assert _kspec(["check", str(SIAMESE)], blocked=("keras", "tensorflow")).returncode == 0
    out = tmp_path / "m.keras"
    result = _kspec(["compile", str(SIAMESE), "-o", str(out)], blocked=("keras", "tensorflow"),
                    env={"KERAS_BACKEND": "tensorflow"})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("kspec: error: this command needs Keras with the tensorflow backend, and keras "
                             "is not installed: pip install 'kspec[tensorflow]'\n")
    assert not out.exists()


def test_a_missing_backend_framework_is_named() -> None:
    result = _kspec(["compile", str(SIAMESE), "-o", "never.keras"], blocked=("jax",), env={"KERAS_BACKEND": "jax"})
    assert result.returncode == 2
    assert result.stderr == ("kspec: error: this command needs Keras with the jax backend, and jax is not "
                             "installed: pip install 'kspec[jax]'\n")


def test_an_unknown_backend_is_a_usage_error() -> None:
    result = _kspec(["compile", str(SIAMESE), "-o", "never.keras"], env={"KERAS_BACKEND": "theano"})
    assert (result.returncode, result.stderr) == (
        2, "kspec: error: unknown Keras backend 'theano' (from KERAS_BACKEND or keras.json): "
           "use one of tensorflow, jax, torch\n")


def test_the_backend_comes_from_the_flag_then_the_environment_then_keras_json(tmp_path: Path) -> None:
    from kspec.runtime._quiet import backend_name

    home = tmp_path / "keras_home"
    home.mkdir()
    (home / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    code = "from kspec.runtime._quiet import backend_name; print(backend_name())"
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, env={**env, "KERAS_HOME": str(home)}, capture_output=True, text=True).stdout == "jax\n"
    assert subprocess.run(run, env={**env, "KERAS_HOME": str(tmp_path)}, capture_output=True,
                          text=True).stdout == "tensorflow\n"
    assert subprocess.run(run, env={**env, "KERAS_HOME": str(home), "KERAS_BACKEND": "torch"}, capture_output=True,
                          text=True).stdout == "torch\n"
    # --backend sets KERAS_BACKEND before Keras loads: a missing jax is then what is reported
    result = _kspec(["compile", "--backend", "jax", str(SIAMESE), "-o", str(tmp_path / "m.keras")], blocked=("jax",),
                    env={"KERAS_BACKEND": "tensorflow"})
    assert (result.returncode, result.stderr.endswith("pip install 'kspec[jax]'\n")) == (2, True)
    assert backend_name() in ("tensorflow", "jax", "torch")


def test_backend_flag_cannot_switch_a_loaded_keras(capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    from kspec.cli import main

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    assert main(["compile", "--backend", other, str(SIAMESE), "-o", "never.keras"]) == 2
    assert capsys.readouterr().err == (
        f"kspec: error: Keras is already loaded with the {keras.backend.backend()} backend in this process\n")
