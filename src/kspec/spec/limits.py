"""Limits on the work one spec can ask for.

A spec may come from someone else, so everything it can make kspec do is
bounded: the size of the files read, how deeply values nest, how much a
YAML document may expand through aliases, how many statements expansion
may produce, how many times loops may run, how large a computed value may
grow. Reaching a limit is a located error that names the limit and the
``--limit NAME=N`` option that raises it; nothing runs past it.

The limits in force are a context variable: the command line sets them
once (:func:`using`), and every pass reads them with :func:`current`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from kspec._records import record

__all__ = ["DEFAULT", "LIMIT_HELP", "Limits", "current", "exceeded", "parse_limit", "using"]


@record(frozen=True)
class Limits:
    """The bounds in force (each a positive whole number)."""

    #: Bytes in one spec file, or in a file it ``use``s (a 100,000-layer
    #: ``.kspec`` file is about 2.6 MiB, its YAML twin about 8 MiB).
    source_bytes: int = 32 * 1024 * 1024
    #: Brackets or mappings nested inside one another, values nested inside
    #: one another (lists, calls, arithmetic on parameters: ``1 + 1 + 1``
    #: nests two operations), and block calls expanded one inside another
    #: (a block calling a block ...).
    nesting: int = 100
    #: Values a YAML document may expand to, an alias counted at each use.
    yaml_values: int = 4_000_000
    #: Statements and layers of one model after blocks and loops expand.
    layers: int = 200_000
    #: Loop iterations in one expansion, empty loop bodies included.
    loop_iterations: int = 1_000_000
    #: Characters of a computed string, or items of a computed list.
    value_length: int = 100_000
    #: Characters and items of every string and list one expansion computes,
    #: summed (a loop may compute a long list at each of its runs).
    computed_items: int = 10_000_000
    #: Characters of a name (model, input, tensor, layer, block, parameter).
    name_length: int = 1_000
    #: Files one spec may reach through ``use``, directly or not.
    uses: int = 1_000
    #: Bytes of one array: a ``.npy`` array, a ``.npz`` member, a weights
    #: tensor of a model file (read from the headers, before any allocation).
    array_bytes: int = 1024**3
    #: Bytes a data file or a model archive may unpack to in all.
    data_bytes: int = 2 * 1024**3
    #: Directories besides the spec's own that paths in a spec may reach
    #: (``--allow-dir``); not a number, so not a ``--limit``.
    allowed_dirs: tuple[str, ...] = ()


DEFAULT = Limits()

#: Integers a spec writes or computes are below this in size (Keras takes
#: 64-bit integers); not a ``--limit``.
INT_LIMIT = 2**63
#: Digits of INT_LIMIT: an integer written with more is past it (and is
#: never given to ``int()``, which refuses more than 4,300 digits).
INT_LIMIT_DIGITS = len(str(INT_LIMIT))

#: One line per limit, for ``--help`` and the docs.
LIMIT_HELP = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(Limits) if f.type == "int")

_CURRENT: ContextVar[Limits] = ContextVar("kspec_limits", default=DEFAULT)


def current() -> Limits:
    """The limits in force."""
    return _CURRENT.get()


@contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    """Put ``limits`` in force for the duration of the block."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


#: A whole number with an optional binary unit; compiled (and cached by ``re``) when a --limit is given.
_SIZE = r"([0-9][0-9_]*)\s*(?:([kmgt])i?b?)?"


def parse_limit(text: str, base: Limits | None = None) -> Limits:
    """``base`` (the defaults when ``None``) with one ``NAME=N`` setting
    applied (a ``*_bytes`` limit also takes ``512M``, ``4G``: binary
    units); ``ValueError`` with a message for the user otherwise."""
    base = base or DEFAULT
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    names = [f.name for f in dataclasses.fields(Limits) if f.type == "int"]
    if not sep or name not in names:
        raise ValueError(f"--limit takes NAME=N with NAME one of {', '.join(names)}; got {text!r}")
    match = re.fullmatch(_SIZE, value.strip(), re.IGNORECASE)
    if match is None or (match[2] and not name.endswith("_bytes")):
        raise ValueError(f"--limit {name}: expected a whole number"
                         f"{' (or a size such as 4G)' if name.endswith('_bytes') else ''}, got {value.strip()!r}")
    number = int(match[1].replace("_", "")) * 1024 ** ("kmgt".find(match[2].lower()) + 1 if match[2] else 0)
    if number < 1:
        raise ValueError(f"--limit {name}: expected a positive number, got {number}")
    return dataclasses.replace(base, **{name: number})


def exceeded(name: str, what: str) -> str:
    """The message for a limit reached: what happened, and how to allow more."""
    return f"{what}; at most {getattr(current(), name)} (--limit {name}=N raises it)"
