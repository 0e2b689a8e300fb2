"""Data classes whose methods are shipped as source, not written at import.

``@record(...)`` is ``@dataclasses.dataclass(...)`` for the parameters kspec
uses (``init``, ``repr``, ``eq``, ``unsafe_hash``, ``frozen``, ``kw_only``,
``slots``): the class it returns is a dataclass like any other (``fields``,
``replace``, pydantic's validation). What differs is where its methods come
from. ``dataclasses`` writes the source of ``__init__``, ``__repr__``,
``__eq__`` and ``__hash__`` for each class and compiles it when the module
is imported: on Python 3.11 that is most of the 0.2 to 0.6 ms each class
costs, and with the methods shipped a ``kspec check`` (78 classes) takes
about 12 ms less. Here the same methods are written once, by
``scripts/gen_records.py``, into :mod:`kspec._record_code`, whose bytecode
Python caches like any module's.

A class takes its shipped methods only when its declaration is the one
they were written from (:func:`_shape`: its parameters, fields,
annotations, defaults and bases, compared as text) and the Python running
is one on which the shipped methods are tested to behave as those
``dataclasses`` writes (``tests/test_records.py`` compares the two, value
for value). Any other class, or the environment variable
``KSPEC_SHIPPED_RECORDS=0``, gets ``dataclasses.dataclass`` itself.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

__all__ = ["made", "record"]

#: The Python versions whose ``dataclasses`` the shipped methods are checked
#: against (tests/test_records.py); on any other, ``dataclasses`` writes them.
CHECKED_ON = ((3, 11),)

_MISSING = dataclasses.MISSING
_dataclass: Callable[..., Any] = dataclasses.dataclass
_Field = dataclasses.Field

#: Every record class made in this process, by key (module and qualified name).
_MADE: dict[str, Made] = {}


class Made:
    """A record class as it was made: what scripts/gen_records.py writes
    its methods from, and whether it took the shipped ones. (A plain class:
    this module makes no dataclass of its own on every start.)"""

    __slots__ = ("cls", "explicit_hash", "own", "shape", "shipped")

    def __init__(self, shape: str, cls: type, shipped: bool, own: frozenset[str], explicit_hash: bool) -> None:
        self.shape = shape
        self.cls = cls
        self.shipped = shipped
        #: What its body defined, before ``dataclasses`` added anything.
        self.own = own
        #: Whether its body set ``__hash__`` (``dataclasses``' "explicit hash").
        self.explicit_hash = explicit_hash


def made() -> dict[str, Made]:
    """Every record class made so far, by key."""
    return dict(_MADE)


def _said(flag: Any) -> str:
    """A field's flag as text: ``unset`` where it was not given (it then
    follows the class's), which ``MISSING``'s own text would show with an
    address that differs from one run to the next."""
    return "unset" if flag is _MISSING else str(flag)


def _shape(cls: type, params: dict[str, bool]) -> str:
    """What the methods of ``cls`` depend on, as text: its parameters, the
    methods its body defines, its own annotations with each one's default
    (its kind and flags, not its value, which the methods read at run
    time), and the fields of its dataclass bases."""
    own = cls.__dict__
    parts = [",".join(k for k, v in params.items() if v),
             ",".join(n for n in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")
                      if n in own),
             "hash=None" if own.get("__hash__", 0) is None else "",
             "post_init" if hasattr(cls, "__post_init__") else "",
             "doc" if cls.__doc__ else ""]
    for name, annotation in own.get("__annotations__", {}).items():
        value = own.get(name, _MISSING)
        if isinstance(value, _Field):
            kind = (f"field({value.default is not _MISSING},{value.default_factory is not _MISSING},{value.init},"
                    f"{value.repr},{value.hash},{value.compare},{_said(value.kw_only)})")
        else:
            kind = "-" if value is _MISSING else "="
        parts.append(f"{name}:{annotation}:{kind}")
    for base in cls.__mro__[-1:0:-1]:
        fields: dict[str, dataclasses.Field[Any]] | None = base.__dict__.get("__dataclass_fields__")
        if fields is not None:
            parts.append(f"<{base.__module__}.{base.__qualname__}:" + ";".join(
                f"{f.name}:{f.type}:{f.default is not _MISSING},{f.default_factory is not _MISSING},{f.init},"
                f"{f.repr},{f.hash},{f.compare},{_said(f.kw_only)}" for f in fields.values())
                + ">")
    return "|".join(parts)


def _defaults(cls: type) -> dict[str, Any]:
    """The default (or default factory) of every field ``cls`` will have
    that has one, read before ``dataclasses`` processes it: from the bases'
    fields, then from the class body."""
    out: dict[str, Any] = {}
    for base in cls.__mro__[-1:0:-1]:
        fields: dict[str, dataclasses.Field[Any]] | None = base.__dict__.get("__dataclass_fields__")
        for f in (fields or {}).values():
            out[f.name] = f.default_factory if f.default_factory is not _MISSING else f.default
    own = cls.__dict__
    for name in own.get("__annotations__", {}):
        value = own.get(name, _MISSING)
        if isinstance(value, _Field):
            value = value.default_factory if value.default_factory is not _MISSING else value.default
        out[name] = value
    return out


@cache
def _shipped() -> dict[str, tuple[str, Callable[..., dict[str, Any]]]]:
    """The shipped methods by class, where they may be used (read once)."""
    if sys.version_info[:2] not in CHECKED_ON or os.environ.get("KSPEC_SHIPPED_RECORDS") == "0":
        return {}
    from kspec import _record_code

    return _record_code.METHODS


def _name(cls: type, fn: Any) -> Any:
    fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
    fn.__module__ = cls.__module__
    return fn


def _make(cls: type, params: dict[str, bool]) -> type:
    key = f"{cls.__module__}.{cls.__qualname__}"
    shape = _shape(cls, params)
    own = frozenset(cls.__dict__)
    hashed = cls.__dict__.get("__hash__", _MISSING)
    explicit_hash = not (hashed is _MISSING or (hashed is None and "__eq__" in own))
    entry = _shipped().get(key)
    if entry is None or entry[0] != shape:
        plain: type = _dataclass(cls, **params)
        _MADE[key] = Made(shape, plain, False, own, explicit_hash)
        return plain
    methods = entry[1](_defaults(cls))
    if "__init__" in methods:  # before dataclasses reads the signature of a class without a docstring
        setattr(cls, "__init__", _name(cls, methods.pop("__init__")))  # noqa: B010 - a method, set on the class
    made: Any = _dataclass(cls, **{**params, "init": False, "repr": False, "eq": False, "unsafe_hash": False})
    for name, fn in methods.items():  # the generator left out what the body defines, as dataclasses does
        setattr(made, name, fn if fn is None else _name(made, fn))
    facts = made.__dataclass_params__
    facts.init, facts.repr, facts.eq, facts.unsafe_hash = (params["init"], params["repr"], params["eq"],
                                                           params["unsafe_hash"])
    _MADE[key] = Made(shape, made, True, own, explicit_hash)
    shipped: type = made
    return shipped


if TYPE_CHECKING:  # type checkers know dataclasses.dataclass
    from dataclasses import dataclass as record
else:

    def record(cls=None, /, *, init=True, repr=True, eq=True, unsafe_hash=False, frozen=False, kw_only=False,
               slots=False):
        """``@dataclasses.dataclass`` with these parameters, its methods
        read from :mod:`kspec._record_code` when they were written from
        this very declaration."""
        params = {"init": init, "repr": repr, "eq": eq, "unsafe_hash": unsafe_hash, "frozen": frozen,
                  "kw_only": kw_only, "slots": slots}

        def wrap(cls):
            return _make(cls, params)

        return wrap if cls is None else wrap(cls)
