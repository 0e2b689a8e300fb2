"""The fuzzing harness: kspec on specs nobody wrote on purpose.

Two structure-aware mutators, one per front end, start from every bundled
example and fixture:

- ``.kspec``: the text is cut into the language's own tokens (names,
  numbers, strings, operators, brackets, keywords) and mutated token by
  token: deleted, duplicated, swapped, replaced by another token of the
  language or by a hostile one (a huge number, a control character, a deep
  bracket run, a 10,000-character name ...);
- YAML: the document is parsed to data and mutated node by node: values
  replaced by other kinds, subtrees duplicated or nested deeply, mappings
  emptied, anchors and aliases added, then written back.

Every case must end, within a time bound and under small limits, either in
a checked spec or in a ``KspecError`` whose every diagnostic is located;
never another exception, never a hang. A batch of cases also runs through
the real command line in a child process watched by an audit hook: exit
codes 0, 1 or 2 only, no traceback, and no file opened outside the test's
directory and the Python installation.

The budget is ``KSPEC_FUZZ_EXAMPLES`` cases per property (Hypothesis's
profile otherwise: 15 by default, 300 with ``make test-thorough``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kspec.compiler.pipeline import load_text
from kspec.spec import limits
from kspec.spec.diagnostics import KspecError

ROOT = Path(__file__).resolve().parent.parent
KSPEC_SOURCES = sorted([*ROOT.glob("examples/*.kspec"), *ROOT.glob("tests/fixtures/kspec/valid/*.kspec")])
YAML_SOURCES = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("tests/fixtures/valid/*.yaml")])
#: Seconds one case may take (generous for a loaded 2-core machine; the limits below keep it far away).
TIME_BOUND = 20
#: Small limits, so that a case reaching one ends fast.
SMALL = limits.Limits(source_bytes=1 << 20, nesting=40, yaml_values=20_000, layers=2_000, loop_iterations=5_000,
                      value_length=5_000, name_length=200, uses=5, array_bytes=1 << 20, data_bytes=1 << 21)

_BUDGET = os.environ.get("KSPEC_FUZZ_EXAMPLES")
_fuzz_settings = settings(max_examples=int(_BUDGET)) if _BUDGET else settings()

_TOKEN = re.compile(r'f?"(?:[^"\\\n]|\\.)*"|#[^\n]*|\*\*|->|==|!=|<=|>=|//|::|[A-Za-z_][A-Za-z0-9_]*|'
                    r"[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\s+|.", re.S)
#: Tokens of the language, and hostile ones.
_VOCABULARY = [
    "model", "sequential", "block", "param", "use", "compile", "train", "input", "output", "return", "for", "in",
    "range", "with", "if", "else", "and", "or", "not", "true", "none", "->", "=", ",", ":", "(", ")", "[", "]", "{",
    "}", "+", "-", "*", "/", "//", "%", "**", "==", "<", "x", "y", "Dense", "Conv2D", "LSTM", "Concatenate", "Add",
    "l2", "relu", "0", "1", "-1", "0.5", '"same"', 'f"{x}"', "int32", "::",
]
_HOSTILE = [
    "9" * 40, "1e308", "-0", "10 ** 10 ** 10", "[" * 60, "(" * 60, "{" * 60, "a" * 10_000, "\x00", "\x1b[2J",
    "\u202e", "\ufeff", "\r", '"\\', 'use "/etc/passwd"', 'use "../../x.kspec"', "range(10 ** 12)",
    '"x" * 100000', "for i in range(100000) { }",
]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@st.composite
def kspec_mutants(draw: st.DrawFn) -> str:
    """A bundled ``.kspec`` file with a few token-level mutations."""
    tokens = _tokens(draw(st.sampled_from(KSPEC_SOURCES)).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert", "hostile", "repeat"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op in ("replace", "insert"):
            token = draw(st.sampled_from(_VOCABULARY))
            tokens[i:i + (op == "replace")] = [" ", token, " "]
        elif op == "hostile":
            tokens.insert(i, draw(st.sampled_from(_HOSTILE)))
        else:
            j = draw(st.integers(i, min(len(tokens), i + 30)))
            tokens[i:j] = tokens[i:j] * draw(st.integers(2, 50))
        if not tokens:
            tokens = ["model"]
    return "".join(tokens)


def _yaml_values(draw: st.DrawFn) -> Any:
    return draw(st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                          st.text(max_size=20), st.sampled_from(["Dense", "relu", "x", "same", "[1]", "{fn: l2}"]),
                          st.lists(st.integers(), max_size=4), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                max_size=3)))


def _paths(data: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*here, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*here, i))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


@st.composite
def yaml_mutants(draw: st.DrawFn) -> str:
    """A bundled YAML spec with a few node-level mutations, written back
    (with anchors and aliases where a subtree is shared)."""
    data = yaml.safe_load(draw(st.sampled_from(YAML_SOURCES)).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 5))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "delete", "share", "nest", "rename", "empty"]))
        if op == "replace":
            parent[key] = _yaml_values(draw)
        elif op == "delete":
            del parent[key]
        elif op == "share":  # the same object twice: the dumper writes an anchor and an alias
            parent[key] = [parent[key]] * draw(st.integers(2, 8))
        elif op == "nest":
            value = parent[key]
            for _ in range(draw(st.integers(1, 60))):
                value = [value]
            parent[key] = value
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["from", "apply", "name", "models", "kind", "x" * 300]))] = parent.pop(key)
        elif op == "empty":
            parent[key] = {} if isinstance(parent[key], dict) else []
    return yaml.safe_dump(data, sort_keys=False)


@contextmanager
def _time_bound(seconds: int) -> Iterator[None]:
    def fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"a case took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _loads_or_located_error(text: str, file: str) -> None:
    with limits.using(SMALL), _time_bound(TIME_BOUND):
        try:
            load_text(text, file)
        except KspecError as exc:
            assert exc.diagnostics
            for d in exc.diagnostics:
                assert d.span is not None and d.span.line >= 1, d
                assert "\x1b" not in exc.render() and "\x00" not in exc.render()


@_fuzz_settings
@given(kspec_mutants())
def test_kspec_mutants_load_or_raise_a_located_error(text: str) -> None:
    _loads_or_located_error(text, "fuzz.kspec")


@_fuzz_settings
@given(yaml_mutants())
def test_yaml_mutants_load_or_raise_a_located_error(text: str) -> None:
    _loads_or_located_error(text, "fuzz.yaml")


_AUDITED = """
import atexit, json, os, sys
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.fsdecode(args[0]))
sys.addaudithook(hook)
atexit.register(lambda: open(os.environ["AUDIT_LOG"], "w").write(json.dumps(opened)))
from kspec.cli import main
codes = [main(["check", "--limit", "layers=2000", "--limit", "loop_iterations=5000", path]) for path in sys.argv[1:]]
print(json.dumps(codes))
"""


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r + os.sep) for r in roots)


@settings(max_examples=1)
@given(st.lists(kspec_mutants(), min_size=8, max_size=8), st.lists(yaml_mutants(), min_size=8, max_size=8))
def test_the_command_line_on_mutants(kspec_texts: list[str], yaml_texts: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp)
        files = []
        for i, text in enumerate([*kspec_texts, *yaml_texts]):
            path = box / (f"case{i}.kspec" if i < len(kspec_texts) else f"case{i}.yaml")
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            files.append(str(path))
        log = box / "audit.json"
        env = {**os.environ, "AUDIT_LOG": str(log), "HOME": tmp, "KERAS_HOME": tmp}
        result = subprocess.run([sys.executable, "-c", _AUDITED, *files], capture_output=True, text=True, env=env,
                                timeout=TIME_BOUND * len(files), cwd=tmp)
        assert result.returncode == 0, result.stderr[-2000:]
        codes = json.loads(result.stdout.splitlines()[-1])
        assert set(codes) <= {0, 1, 2}, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        roots = [os.path.realpath(r) for r in (tmp, sys.prefix, sys.base_prefix, str(ROOT / "src"), "/proc", "/sys",
                                               "/dev/null", "/dev/urandom", "/usr/lib")]
        outside = [p for p in json.loads(log.read_text()) if not _inside(p, roots)]
        assert outside == []


@pytest.mark.parametrize("text", _HOSTILE)
def test_each_hostile_fragment_alone(text: str) -> None:
    _loads_or_located_error(text, "fuzz.kspec")
    _loads_or_located_error(f"model m {{\n  input x: (3,)\n  output y = x -> Dense({text})\n}}\n", "fuzz.kspec")
