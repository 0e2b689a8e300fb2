"""``@record`` classes take their methods from shipped source
(``kspec._record_code``) and behave exactly as ``dataclasses`` makes them.

Every record class of kspec is made twice, each in a fresh interpreter:
with the shipped methods, and by ``dataclasses`` alone
(``KSPEC_SHIPPED_RECORDS=0``). What each makes is observed the same way
(signature, docstring, parameters, fields, the methods a class has and
their names; instances built from the same values: repr, equality, hash,
assignment to a frozen field, ``replace``, ``copy``, ``pickle``) and the
two must be equal."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys

import pytest

from _scripts import load_script
from kspec import _record_code, _records
from kspec._records import record
from kspec.compiler import naming  # noqa: F401 - its record classes are made on import
from kspec.spec import ir  # noqa: F401

GEN = load_script("gen_records")
MODULES = GEN.record_modules()

_ON_THIS_PYTHON = sys.version_info[:2] in _records.CHECKED_ON

# Run in a fresh interpreter: every record class of kspec, observed.
_PROBE = r'''
import copy, dataclasses, importlib, inspect, json, pickle, re, sys

for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
from kspec import _records

VALUES = [0, 1, "a", None, [1, 2], {"k": 2}, 2.5, float("nan"), (1, (2,)), frozenset({3}), True, "b"]
HASHABLE = [0, "a", None, 2.5, float("nan"), (1, (2,)), frozenset({3}), True, "b", -7]


def attempt(fn):
    try:
        return ["ok", fn()]
    except Exception as exc:
        return ["raised", type(exc).__name__, str(exc)]


def build(cls, fields, seed, values=VALUES):
    args = {f.name: values[(i + seed) % len(values)] for i, f in enumerate(fields)}
    return cls(**args)


out = {}
for key, made in sorted(_records.made().items()):
    cls = made.cls
    facts = {"shipped": made.shipped}
    facts["signature"] = str(inspect.signature(cls))
    facts["doc"] = cls.__doc__
    facts["match_args"] = repr(getattr(cls, "__match_args__", None))
    facts["params"] = repr(cls.__dataclass_params__)
    facts["slots"] = repr(cls.__dict__.get("__slots__"))
    facts["fields"] = [[f.name, str(f.type), f.init, f.repr, f.hash, f.compare, f.kw_only,
                        f.default is dataclasses.MISSING, f.default_factory is dataclasses.MISSING]
                       for f in dataclasses.fields(cls)]
    facts["hash is None"] = cls.__hash__ is None
    methods = {}
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"):
        fn = cls.__dict__.get(name, "absent")
        if fn is None or fn == "absent":
            methods[name] = repr(fn)
        else:
            methods[name] = [fn.__qualname__, fn.__module__, repr(getattr(fn, "__defaults__", None)),
                             repr(getattr(fn, "__kwdefaults__", None)), repr(getattr(fn, "__annotations__", None))]
    facts["methods"] = methods
    init = [f for f in dataclasses.fields(cls) if f.init]
    required = [f for f in init if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    made_by_default = [f.name for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING]
    x = attempt(lambda: build(cls, required, 0))
    facts["defaults"] = attempt(lambda: repr(x[1])) if x[0] == "ok" else x
    if x[0] == "ok":  # a default factory makes a new value for each object
        y = build(cls, required, 0)
        facts["fresh defaults"] = [getattr(x[1], n) is getattr(y, n) for n in made_by_default]
    for seed in (0, 1, 5):
        a = attempt(lambda: build(cls, init, seed))
        facts[f"built {seed}"] = a if a[0] == "raised" else ["ok"]
        if a[0] != "ok":
            continue
        a = a[1]
        a2 = build(cls, init, seed)
        b = attempt(lambda: build(cls, init, seed + 1))
        b = b[1] if b[0] == "ok" else a2
        facts[f"repr {seed}"] = attempt(lambda: repr(a))
        facts[f"eq {seed}"] = attempt(lambda: [a == a, a == a2, a == b, a != b, a == 3, a != 3])
        facts[f"hash {seed}"] = attempt(lambda: hash(a) == hash(a2))
        names = [f.name for f in dataclasses.fields(cls)]
        if names:
            facts[f"set {seed}"] = attempt(lambda: (setattr(a2, names[0], 7), repr(getattr(a2, names[0])))[1])
            facts[f"del {seed}"] = attempt(lambda: (delattr(b, names[-1]), "deleted")[1])
        facts[f"other attribute {seed}"] = attempt(lambda: (setattr(a2, "not_a_field", 1), "set")[1])
        if init:
            facts[f"replace {seed}"] = attempt(lambda: repr(dataclasses.replace(a, **{init[0].name: "r"})))
        facts[f"copy {seed}"] = attempt(lambda: repr(copy.copy(a)))
        facts[f"pickle {seed}"] = attempt(lambda: repr(pickle.loads(pickle.dumps(a))))
        h = attempt(lambda: build(cls, init, seed, HASHABLE))
        if h[0] == "ok":
            h2 = build(cls, init, seed, HASHABLE)
            keyed = [f.name for f in dataclasses.fields(cls) if (f.compare if f.hash is None else f.hash)]
            facts[f"hash of hashable values {seed}"] = attempt(lambda: [
                hash(h[1]) == hash(tuple(getattr(h[1], n) for n in keyed)), hash(h[1]) == hash(h2), h[1] == h2])
    out[key] = facts
sys.stdout.write(re.sub(r"0x[0-9a-f]+", "0x?", json.dumps(out, default=repr)))  # no addresses
'''


def _observe(shipped: bool) -> dict[str, dict[str, object]]:
    env = {**os.environ, "KSPEC_SHIPPED_RECORDS": "1" if shipped else "0", "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(MODULES)], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    observed: dict[str, dict[str, object]] = json.loads(proc.stdout)
    return observed


def test_the_shipped_methods_are_current() -> None:
    proc = subprocess.run([sys.executable, str(GEN.__file__), "--check"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(not _ON_THIS_PYTHON, reason="the shipped methods are checked against Python 3.11's dataclasses")
def test_record_classes_are_made_as_dataclasses_makes_them() -> None:
    shipped, plain = _observe(True), _observe(False)
    assert shipped.keys() == plain.keys()
    assert len(shipped) >= 60  # the IR, the parser's records, the catalogue, the checks ...
    assert all(facts.pop("shipped") for facts in shipped.values())  # every one took the shipped methods
    assert not any(facts.pop("shipped") for facts in plain.values())
    for key in shipped:
        assert shipped[key] == plain[key], key
    # the probe saw each kind of behaviour: frozen fields, checks on construction, reprs
    seen = [v for facts in plain.values() for v in facts.values() if isinstance(v, list)]
    assert any(v[:2] == ["raised", "FrozenInstanceError"] for v in seen)
    assert any(v[:2] == ["raised", "NodeError"] for v in seen)
    assert sum(1 for facts in plain.values() for k, v in facts.items() if k.startswith("repr") and v[0] == "ok") > 40
    assert sum(1 for facts in plain.values() for k, v in facts.items()
               if k.startswith("hash of hashable") and v[0] == "ok") > 20
    assert sum(1 for facts in plain.values() if facts.get("defaults", ["raised"])[0] == "ok") > 40
    assert sum(len(facts.get("fresh defaults", [])) for facts in plain.values()) > 20


def test_a_declaration_that_changed_is_made_by_dataclasses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A class whose declaration is not the one its shipped methods were
    written from (a field added, the source edited and not regenerated)
    gets the methods ``dataclasses`` writes, not stale ones."""
    key = "kspec.spec.ir.Span"
    assert key in _record_code.METHODS
    monkeypatch.setitem(_records._MADE, key, _records.made()[key])  # put back afterwards
    changed = type("Span", (), {"__module__": "kspec.spec.ir", "__qualname__": "Span", "__doc__": "changed",
                                "__annotations__": {"file": "str | None", "extra": "int"}, "file": None,
                                "extra": 0})
    made = record(slots=True, unsafe_hash=True)(changed)
    assert not _records.made()[key].shipped
    assert list(inspect.signature(made).parameters) == ["file", "extra"]
    assert made("f", 2) == made("f", 2) and repr(made("f", 2)) == "Span(file='f', extra=2)"
    assert [f.name for f in dataclasses.fields(made)] == ["file", "extra"]


@pytest.mark.skipif(not _ON_THIS_PYTHON, reason="the shipped methods are used on Python 3.11 only")
def test_the_classes_of_this_process_took_the_shipped_methods() -> None:
    """The mechanism is not idle in the process the tests run in either."""
    made = _records.made()
    assert made and all(m.shipped for m in made.values())
    layer_names = made["kspec.compiler.naming.LayerNames"].cls
    assert layer_names.__init__.__code__.co_filename == _record_code.__file__


def _declared(annotations: dict[str, str], body: dict[str, object]) -> type:
    return type("C", (), {"__module__": __name__, "__qualname__": "C", "__annotations__": annotations, **body})


_PARAMS = {"init": True, "repr": True, "eq": True, "unsafe_hash": False, "frozen": False, "kw_only": True,
           "slots": False}


@pytest.mark.parametrize(("first", "second", "params"), [
    (({"a": "int"}, {}), ({"a": "int"}, {"a": 0}), {}),  # a default or none
    (({"a": "int"}, {"a": dataclasses.field()}), ({"a": "int"}, {"a": dataclasses.field(kw_only=False)}), {}),
    (({"a": "int"}, {"a": dataclasses.field(default=0)}), ({"a": "int"}, {"a": dataclasses.field(default_factory=int)}),
     {}),
    (({"a": "int"}, {"a": dataclasses.field(repr=False)}), ({"a": "int"}, {"a": dataclasses.field()}), {}),
    (({"a": "int"}, {"a": dataclasses.field(compare=False)}), ({"a": "int"}, {"a": dataclasses.field()}), {}),
    (({"a": "int"}, {}), ({"a": "int"}, {}), {"frozen": True}),
    (({"a": "int"}, {}), ({"a": "int"}, {"__post_init__": lambda self: None}), {}),
    (({"a": "int", "b": "int"}, {}), ({"b": "int", "a": "int"}, {}), {}),  # the order of the parameters
])
def test_declarations_that_need_other_methods_have_other_shapes(
        first: tuple[dict[str, str], dict[str, object]], second: tuple[dict[str, str], dict[str, object]],
        params: dict[str, bool]) -> None:
    assert _records._shape(_declared(*first), _PARAMS) != _records._shape(_declared(*second), {**_PARAMS, **params})
