"""``kspec check`` starts quickly: it imports only what checking one file
needs. No YAML library for a ``.kspec`` file, no Lark for a YAML file, no
other command's module, no shell-completion, atomic-write or JSON-output
machinery; ``kspec --version`` imports no compiler at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path, PurePath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kspec.cli import _UsageError, build_parser, main
from kspec.commands import COMMANDS
from kspec.spec.source import path_suffix, spec_suffix

ROOT = Path(__file__).resolve().parent.parent
KSPEC_FILE = ROOT / "examples" / "mnist_convnet.kspec"
YAML_FILE = ROOT / "examples" / "mnist_convnet.yaml"


def _run(*argv: str) -> tuple[int, set[str], str]:
    """The exit code of ``kspec ARGV`` run in a fresh interpreter, the
    modules it had imported by then, and what it wrote to stderr."""
    code = (
        "import contextlib, io, json, sys\n"
        "before = set(sys.modules)\n"
        "from kspec.cli import main\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):\n"
        f"    rc = main({list(argv)!r})\n"
        "sys.__stdout__.write(json.dumps([rc, sorted(set(sys.modules) - before), err.getvalue()]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    rc, modules, err = json.loads(proc.stdout)
    return rc, set(modules), err


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    rc, modules, _ = _run(*argv)
    return rc, modules


#: What no check of one self-contained file loads: argparse's formatters
#: import shutil (and bz2, lzma) only to wrap help text; pathlib is for
#: specs that reach other files.
_NOT_ON_A_CHECK = {"shutil", "threading", "bz2", "lzma", "pathlib", "urllib.parse", "ipaddress"}


def _tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_example_pair_exists() -> None:
    assert KSPEC_FILE.is_file() and YAML_FILE.is_file()


def test_checking_a_kspec_file_imports_only_what_it_needs() -> None:
    rc, modules = _modules_after("check", str(KSPEC_FILE))
    assert rc == 0
    assert "kspec.commands.check" in modules and "kspec.compiler.pipeline" in modules
    others = {f"kspec.commands.{name}" for name in COMMANDS if name != "check"}
    assert modules & others == set()
    # parsed on the shipped tables (no Lark), built as slotted records (no pydantic)
    assert _tops(modules) & {"lark", "pydantic", "pydantic_core", "yaml", "_yaml", "shtab", "keras", "tensorflow",
                             "difflib"} == set()
    assert "kspec.spec._core" not in modules  # which loads pydantic-core's compiled module, outside sys.modules
    assert "kspec._atomic" not in modules
    # argparse's formatters import shutil (and bz2, lzma) only to wrap help text
    assert modules & _NOT_ON_A_CHECK == set()


def test_checking_a_yaml_file_needs_no_kspec_parser() -> None:
    rc, modules = _modules_after("check", str(YAML_FILE))
    assert rc == 0
    assert "kspec.spec.yaml_form" in modules
    # read by kspec.spec.yaml_plain: PyYAML loads only for what that reader declines
    assert _tops(modules) & {"lark", "shtab", "keras", "tensorflow", "yaml"} == set()
    assert "kspec.spec.kspec_form" not in modules
    # validated by pydantic-core's compiled module, loaded alone (kspec.spec._core)
    assert _tops(modules) & {"pydantic", "pydantic_core", "typing_extensions"} == set()
    assert modules & _NOT_ON_A_CHECK == set()


def test_a_yaml_spec_outside_the_plain_subset_is_read_by_pyyaml(tmp_path: Path) -> None:
    """An anchor: PyYAML reads the spec, and the check passes."""
    text = YAML_FILE.read_text(encoding="utf-8").replace("input: [28", "input: &shape [28", 1)
    assert "&shape" in text
    spec = tmp_path / "anchored.yaml"
    spec.write_text(text, encoding="utf-8")
    rc, modules, err = _run("check", str(spec))
    assert "yaml" in _tops(modules)
    assert (rc, err) == _run("check", str(YAML_FILE))[::2]


def test_yaml_arithmetic_needs_no_kspec_parser() -> None:
    """resnet50.yaml computes its layers' sizes with {expr: 4 * filters} and
    the like: arithmetic on parameters, read without the .kspec front end."""
    rc, modules = _modules_after("check", str(ROOT / "examples" / "resnet50.yaml"))
    assert rc == 0
    assert "kspec.spec.arithmetic" in modules
    assert {"kspec.spec.kspec_form", "kspec.spec._kspec_tables"} & modules == set()


@pytest.mark.parametrize("name", ["resnet50.kspec", "resnet50.yaml"])
def test_a_spec_that_reaches_no_other_file_needs_no_pathlib(name: str) -> None:
    """Parameters, blocks and loops expanded, every check run: pathlib
    (which imports urllib.parse and ipaddress) loads only for a spec that
    uses other files or names paths."""
    rc, modules = _modules_after("check", str(ROOT / "examples" / name))
    assert rc == 0
    assert "kspec.compiler.expand" in modules
    assert modules & _NOT_ON_A_CHECK == set()


@given(st.lists(st.sampled_from(["", ".", "..", "a", "spec", ".yaml", "b.kspec", "c.YML", "d.", "e..yaml",
                                  "f.tar.yml", " .kspec", "g.ya ml"]), max_size=5),
       st.sampled_from(["/", "//", os.sep, os.altsep or "/"]), st.booleans(), st.booleans())
def test_path_suffix_is_pathlibs(parts: list[str], sep: str, absolute: bool, trailing: bool) -> None:
    """The suffix a check reads a spec's form from, without pathlib, is
    the one ``PurePath.suffix`` gives, for any path."""
    path = ("/" if absolute else "") + sep.join(parts) + (sep if trailing else "")
    assert path_suffix(path) == PurePath(path).suffix
    assert path_suffix(Path(path)) == Path(path).suffix
    assert spec_suffix(path) == (PurePath(path).suffix.lower() in (".kspec", ".yaml", ".yml"))


def test_a_spec_that_uses_another_file_is_still_checked(tmp_path: Path) -> None:
    """What pathlib did before it loaded on demand: a ``use`` is read from
    beside the spec, and one reaching outside its directory is refused."""
    (tmp_path / "blocks.kspec").write_text(
        "block twice(x) {\n  h = x -> Dense(4)\n  return h -> Dense(4)\n}\n", encoding="utf-8")
    main_spec = tmp_path / "main.kspec"
    main_spec.write_text('use "blocks.kspec"\nmodel m {\n  input x: (4,)\n  output y = twice(x)\n}\n',
                         encoding="utf-8")
    rc, modules, err = _run("check", str(main_spec))
    assert rc == 0, err
    assert "pathlib" in modules
    main_spec.write_text('use "../blocks.kspec"\nmodel m {\n  input x: (4,)\n  output y = x -> Dense(4)\n}\n',
                         encoding="utf-8")
    rc, _, err = _run("check", str(main_spec))
    assert rc == 1 and "K217" in err and "reaches outside the spec's directory" in err, err


def test_syntax_errors_are_described_without_lark(tmp_path: Path) -> None:
    """The run-time parser raises the error Lark would: describing it needs
    no Lark, for a mistake where the file stops nor for one further on."""
    broken = tmp_path / "broken.kspec"
    cases = [("model m {\n  input x: (4,)\n  output y = x -> Dense(4\n}\n", "expected ')' to close the call"),
             # the builder stops at the integer; the syntax error after it is the one reported
             ("model m {\n  input x: (4,)\n  h = x -> Dense(99999999999999999999999)\n  output y = h ->\n}\n",
              "expected a layer after '->'")]
    for text, message in cases:
        broken.write_text(text, encoding="utf-8")
        rc, modules, err = _run("check", str(broken))
        assert rc == 1 and "error[K103]" in err and message in err, err
        assert _tops(modules) & {"lark"} == set()


def test_a_spec_with_a_mistake_still_gets_suggestions(tmp_path: Path) -> None:
    """difflib is left out of the start, not out of the messages."""
    typo = tmp_path / "typo.kspec"
    typo.write_text(KSPEC_FILE.read_text(encoding="utf-8").replace("Dense(", "Dnese("), encoding="utf-8")
    rc, modules, err = _run("check", str(typo))
    assert rc == 1
    assert "error[K203]: unknown layer 'Dnese'" in err and "hint: did you mean 'Dense'" in err
    assert "difflib" in modules


def test_version_and_help_import_no_compiler() -> None:
    for argv in (["--version"], ["check", "--help"]):
        rc, modules = _modules_after(*argv)
        assert rc == 0
        assert not {m for m in modules if m.startswith(("kspec.compiler", "kspec.spec.ir", "kspec.catalogue"))}
        assert _tops(modules) & {"yaml", "pydantic", "lark", "shtab"} == set()


def test_public_names_load_on_first_use() -> None:
    code = (
        "import sys, kspec\n"
        "lazy = 'kspec.spec.ir' not in sys.modules\n"
        "from kspec import Spec, Span, Diagnostic, KspecError\n"
        "print(lazy, Spec.__module__, Span.__module__, Diagnostic.__module__, KspecError.__module__,\n"
        "      kspec.Spec is Spec, hasattr(kspec, 'Nope'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.split() == ["True", "kspec.spec.ir", "kspec.spec.ir", "kspec.spec.diagnostics",
                                   "kspec.spec.diagnostics", "True", "False"]


@pytest.mark.parametrize(
    "argv",
    [["check"], ["check", "--bogus", "a.kspec"], ["check", "a.kspec", "--format", "xml"], ["check", "-D"],
     ["check", "a.kspec", "--print-completion", "bash"]],
)
def test_running_one_command_says_what_the_whole_parser_says(argv: list[str],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``kspec COMMAND ...`` lists only that command in its top-level parser;
    every usage error reads as the whole command line's parser words it."""
    with pytest.raises(_UsageError) as whole:
        build_parser(argv[0]).parse_args(argv)
    assert main(argv) == 2
    assert capsys.readouterr().err == f"{whole.value}\n"
