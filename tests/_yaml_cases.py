"""What the tests of the YAML readers draw from: the repository's YAML
files, plain data with the scalars YAML resolves in surprising ways, the
marks that break a document, and edits that insert them."""

from __future__ import annotations

import datetime
from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
YAML_FILES = sorted(p for p in [*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")])

#: Scalar text that YAML 1.1 reads as something else, or that needs quotes.
TEXTS = st.sampled_from(["relu", "yes", "No", "null", "~", "1e-4", "1.5", "0x1F", "012", "2001-12-14", "a b",
                         "", " x", "#", "- a", "a: b", "True", ".inf", "-.5", "16", "@x", "'q'", "é", "x-y", "1_000",
                         "+3", "-0", "0.", "1.e+5", "=", "<<", "a  b", "4 * n", "(x)", "$v", "~x", "-relu", "0"])
SCALARS = st.one_of(TEXTS, st.integers(-10**20, 10**20), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.dates(min_value=datetime.date(1900, 1, 1)), st.text(max_size=6))
KEYS = st.one_of(TEXTS, st.integers(0, 99), st.booleans())
DATA = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(KEYS, inner, max_size=4)), max_leaves=25)
#: What an edit inserts: YAML's indicators, anchors, tags, quotes, line
#: breaks of every kind, characters YAML forbids, numbers and words.
MARKS = ["[", "]", "{", "}", ": ", ":", "- ", "-", ",", "&a ", "*a", "*b", "!!int ", "'", '"', "\n", "\n  ", " ", "#",
         " #", "? ", "|", ">", "\t", "---\n", "...\n", "%YAML 1.1\n", "\x00", "@", "`", "  ", "0", "1.5", "yes", "~",
         "\r", "\r\n", "\u00e9", "\U0001f600", "\x85", "\u2028", "\ufeff"]
#: Edits: where (a fraction of the text) and what to insert ("": delete a character there).
EDITS = st.lists(st.tuples(st.floats(0, 1), st.sampled_from([*MARKS, ""])), min_size=1, max_size=4)


def edited(text: str, edits: list[tuple[float, str]]) -> str:
    """``text`` with each edit made in turn: a mark inserted, or a character deleted."""
    for where, mark in edits:
        at = int(where * len(text))
        text = text[:at] + mark + text[at + (0 if mark else 1):]
    return text
