"""The pre-commit hooks (``.pre-commit-hooks.yaml``): ``kspec-check`` and ``kspec-fmt``.

The fast tests read the manifest with pre-commit's own loader and run each
hook as pre-commit runs it: the files its ``files`` pattern selects in a
scratch repository, appended to its ``entry`` (``kspec`` on the ``PATH``,
as in the hook's environment). The slow test runs ``pre-commit try-repo``
itself on a copy of this repository: it installs kspec into a fresh
environment with pip (a new one for every run: try-repo keeps no cache),
about 30 to 50 seconds each.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pre_commit.clientlib import load_manifest  # type: ignore[import-untyped]
from pre_commit.lang_base import hook_cmd  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent

GOOD = (ROOT / "examples" / "siamese.kspec").read_text(encoding="utf-8")
BAD = GOOD.replace('Dense(units=1, activation="sigmoid")', 'Dense2D(units=1, activation="sigmoid")')
GOOD_YAML = (ROOT / "examples" / "siamese.yaml").read_text(encoding="utf-8")
#: YAML files of a repository that are not specs: the default pattern leaves them alone.
NOT_SPECS = {"config.yaml": "learning_rate: 0.1\n", ".github/workflows/ci.yml": "on: push\n"}


def _hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in load_manifest(str(MANIFEST))}


def _selected(hook: dict[str, Any], root: Path) -> list[str]:
    """The files pre-commit passes to ``hook`` in the repository ``root``
    (its ``files`` and ``exclude`` patterns), sorted."""
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [n for n in names if re.search(hook["files"], n) and not re.search(hook["exclude"], n)]


def _run_hook(hook: dict[str, Any], root: Path) -> subprocess.CompletedProcess[str]:
    cmd = [*hook_cmd(hook["entry"], hook["args"]), *_selected(hook, root)]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_manifest_declares_both_hooks_as_pre_commit_reads_it() -> None:
    hooks = _hooks()
    assert list(hooks) == ["kspec-check", "kspec-fmt"]
    assert (hooks["kspec-check"]["entry"], hooks["kspec-fmt"]["entry"]) == ("kspec check", "kspec fmt")
    assert all(hook["language"] == "python" and hook["pass_filenames"] for hook in hooks.values())


def test_the_default_patterns_select_specs_only(tmp_path: Path) -> None:
    _write(tmp_path, {"a.kspec": GOOD, "models/b.kspec.yaml": GOOD_YAML, "c.kspec.yml": GOOD_YAML, **NOT_SPECS})
    hooks = _hooks()
    assert _selected(hooks["kspec-check"], tmp_path) == ["a.kspec", "c.kspec.yml", "models/b.kspec.yaml"]
    assert _selected(hooks["kspec-fmt"], tmp_path) == ["a.kspec"]


def test_kspec_check_passes_a_good_spec_and_fails_a_bad_one(tmp_path: Path) -> None:
    hook = _hooks()["kspec-check"]
    good, bad = tmp_path / "good", tmp_path / "bad"
    _write(good, {"net.kspec": GOOD, "net.kspec.yaml": GOOD_YAML, **NOT_SPECS})
    _write(bad, {"net.kspec": BAD, **NOT_SPECS})
    passed = _run_hook(hook, good)
    assert (passed.returncode, passed.stdout, passed.stderr) == (0, "net.kspec: ok\nnet.kspec.yaml: ok\n", "")
    failed = _run_hook(hook, bad)
    assert failed.returncode == 1
    assert failed.stderr.startswith("net.kspec:11:27: error[K203]: unknown layer 'Dense2D'\n"), failed.stderr


def test_kspec_fmt_rewrites_a_spec_that_is_not_in_the_canonical_layout(tmp_path: Path) -> None:
    hook = _hooks()["kspec-fmt"]
    messy = GOOD.replace("  output same = merged", "  output   same =   merged")
    assert messy != GOOD
    _write(tmp_path, {"messy.kspec": messy, "tidy.kspec": GOOD})
    result = _run_hook(hook, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "messy.kspec").read_text(encoding="utf-8") == GOOD  # pre-commit fails on the change
    assert (tmp_path / "tidy.kspec").read_text(encoding="utf-8") == GOOD


def _git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.mark.slow
def test_pre_commit_try_repo_passes_a_good_spec_and_fails_a_bad_one(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    hooks = tmp_path / "hooks"  # this repository as committed files (try-repo ignores untracked ones)
    hooks.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, hooks / name)
    shutil.copytree(ROOT / "src", hooks / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _git("init", "-q", cwd=hooks)
    _git("add", "-A", cwd=hooks)
    _git("commit", "-qm", "hooks", cwd=hooks)
    scratch = tmp_path / "scratch"
    _write(scratch, {"good.kspec": GOOD, "bad.kspec": BAD, **NOT_SPECS})
    _git("init", "-q", cwd=scratch)
    _git("add", "-A", cwd=scratch)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    results = {}
    for spec in ("good.kspec", "bad.kspec"):
        results[spec] = subprocess.run(
            [str(BIN / "pre-commit"), "try-repo", str(hooks), "kspec-check", "--files", spec, *NOT_SPECS],
            cwd=scratch, env=env, capture_output=True, text=True, timeout=600, check=False)
    good, bad = results["good.kspec"], results["bad.kspec"]
    assert good.returncode == 0 and re.search(r"kspec check\.+Passed", good.stdout), good.stdout + good.stderr
    assert bad.returncode == 1 and re.search(r"kspec check\.+Failed", bad.stdout), bad.stdout + bad.stderr
    assert "bad.kspec:11:27: error[K203]: unknown layer 'Dense2D'" in bad.stdout
