"""The catalogue makes each signature from the shipped data when it is
first read: the lazy catalogue holds exactly what making every entry at
once gives, and a check makes only the signatures of what its spec uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kspec.catalogue import CallFacts, Signature, _Lazy, catalogue, load_data

ROOT = Path(__file__).resolve().parent.parent


def test_every_entry_is_what_the_raw_data_makes() -> None:
    data = load_data()
    cat = catalogue()
    tables: list[tuple[_Lazy[Signature], dict[str, object]]] = [
        (cat.layers, data["layers"]), (cat.ops, data["ops"]),  # type: ignore[list-item]
        *((cat.functions[k], data[k]["functions"]) for k in ("regularizers", "initializers", "constraints")),
    ]
    for lazy, raw in tables:
        assert isinstance(lazy, _Lazy)
        assert list(lazy) == list(raw) and len(lazy) == len(raw)
        assert all(name in lazy for name in raw) and "NoSuchName" not in lazy and lazy.get("NoSuchName") is None
        for name, entry in raw.items():
            assert lazy[name] == Signature.of(entry)
            assert lazy[name] is lazy[name]  # made once
    assert list(cat.calls) == list(data["calls"])
    for kind, entry in data["calls"].items():
        facts = cat.calls[kind]
        assert facts == CallFacts.of(entry)
        assert dict(facts.classes) == {n: Signature.of(s) for n, s in entry["classes"].items()}


def test_a_check_makes_only_the_signatures_its_spec_reads(tmp_path: Path) -> None:
    spec = tmp_path / "small.kspec"
    spec.write_text("model m {\n  input x: (8,)\n  output y = x -> Dense(4, kernel_initializer=\"zeros\")"
                    " -> Dropout(0.5)\n}\n")
    code = (
        "import json, sys\n"
        "from kspec.compiler.pipeline import load_text\n"
        "from kspec.catalogue import catalogue\n"
        "load_text(open(sys.argv[1]).read(), sys.argv[1])\n"
        "c = catalogue()\n"
        "print(json.dumps([sorted(c.layers._made), sorted(c.ops._made),\n"
        "                  {k: len(v._made) for k, v in c.functions.items()}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    layers, ops, functions = json.loads(out.stdout)
    assert layers == ["Dense", "Dropout"]
    assert ops == []
    assert functions == {"regularizers": 0, "initializers": 0, "constraints": 0}
    assert len(load_data()["layers"]) > 100  # the rest of the catalogue is there, unmade
