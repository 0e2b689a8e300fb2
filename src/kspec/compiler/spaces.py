"""Search spaces of file parameters (``param units: int = 64 in [32, 64]``).

Two checks, both before any search starts:

- :func:`check_spaces` (every load): each space is well formed for its
  parameter: the right types, not empty, a positive step, a log scale above
  zero, and the default inside it (``K218``);
- the corners (``kspec check`` and ``kspec tune``, through
  :func:`kspec.compiler.pipeline.check_corners`): the model still checks at
  the corners of the space (each choice, the ends of each range), a bounded
  number of combinations (:func:`corners`), each expanded and checked like
  a ``-D`` build; a value that breaks the model is reported with the values
  that break it (``K219``, :func:`corner_problems`).

:func:`spaced_params` and :func:`value_type` are what a tuner needs to turn
each space into its own hyperparameter. Nothing here imports keras.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic
from kspec.spec.ir import Span

__all__ = ["CORNER_LIMIT", "check_spaces", "corner_problems", "corners", "describe", "spaced_params", "value_type"]

#: At most this many combinations of corner values are checked.
CORNER_LIMIT = 16


def spaced_params(spec: ir.Spec) -> list[ir.Param]:
    """The spec's own file parameters that have a search space, in order."""
    return [p for p in spec.params if p.space is not None]


def value_type(param: ir.Param) -> str | None:
    """The type a search gives ``param``'s values: its declared type, else
    the type of its default or of its space's values (``None`` when mixed)."""
    if param.type in ("int", "float", "bool", "str"):
        return param.type
    values = list(param.space.values) if param.space is not None else []
    if param.has_default and _is_literal(param.default):
        values.append(param.default)
    kinds = {_kind(v) for v in values}
    if kinds == {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else None


def describe(space: ir.Space) -> str:
    """A space in .kspec syntax, for messages and summaries."""
    if space.kind == "choice":
        return "[" + ", ".join(_show(v) for v in space.values) + "]"
    return f"{space.kind}({', '.join(_show(v) for v in space.values)})"


# ---------------------------------------------------------------------------
# well-formed spaces


def check_spaces(spec: ir.Spec) -> list[Diagnostic]:
    """``K218`` for every search space that is not well formed (see the
    module docstring); an empty list when all are."""
    diags: list[Diagnostic] = []
    for param in spaced_params(spec):
        assert param.space is not None
        problem = _problem(param, param.space)
        if problem is not None:
            message, hint = problem
            diags.append(Diagnostic("K218", f"parameter '{param.name}': {message}",
                                    param.space.span or param.span, hint))
    return diags


def _problem(param: ir.Param, space: ir.Space) -> tuple[str, str | None] | None:
    """What is wrong with ``space``, and a hint, or ``None``."""
    kind = value_type(param)
    if space.kind == "choice":
        return _choice_problem(param, space, kind)
    if kind not in ("int", "float"):
        what = f"a {kind} parameter" if kind else "a parameter of no single type"
        return f"{space.kind}(...) needs an int or float parameter, this is {what}", "list the choices: in [...]"
    low, high, *rest = space.values
    step = rest[0] if rest else None
    if kind == "int" and not all(isinstance(v, int) for v in space.values):
        shown = next(_show(v) for v in space.values if not isinstance(v, int))
        return f"an int parameter's {space.kind}(...) takes whole numbers, got {shown}", "declare it float"
    if not low < high:
        return f"the {describe(space)} space is empty: its low bound must be below its high bound", None
    if space.kind == "log":
        if low <= 0:
            return f"a log scale needs a low bound above zero, got {_show(low)}", "use range(...) for a linear scale"
        if step is not None and not step > 1:
            return f"the factor of log(...) multiplies the value and must be above 1, got {_show(step)}", None
    elif step is not None:
        if not step > 0:
            return f"the step of range(...) must be above zero, got {_show(step)}", None
        if step > high - low:
            return f"the step {_show(step)} is larger than the range {_show(low)} to {_show(high)}", None
        if kind == "int" and (high - low) % step:
            last = high - (high - low) % step
            return (f"range({_show(low)}, {_show(high)}, {_show(step)}) never reaches {_show(high)}: "
                    f"both ends of a search range are values it takes"), f"end it at {_show(last)}"
    return _default_problem(param, space, low, high, step)


def _choice_problem(param: ir.Param, space: ir.Space, kind: str | None) -> tuple[str, str | None] | None:
    if not space.values:
        return "the search space has no choices", "give at least one: in [32, 64]"
    if any(v is None for v in space.values):
        return "a search space cannot choose none", "use a bool parameter to turn something off"
    if kind is None:
        return "the choices of a search space have one type", None
    wrong = next((v for v in space.values if not _fits(kind, v)), None)
    if wrong is not None:
        return f"the choice {_show(wrong)} is not {'an' if kind == 'int' else 'a'} {kind}", None
    seen: set[tuple[bool, Any]] = set()  # as _same tells values apart: by value, and bool or not
    for v in space.values:
        key = (isinstance(v, bool), v)
        if key in seen:
            return f"the choice {_show(v)} is listed twice", None
        if v == v:  # a NaN is the same as no value, not even itself
            seen.add(key)
    if param.has_default and _is_literal(param.default) and not any(_same(param.default, v) for v in space.values):
        return f"the default {_show(param.default)} is not one of the choices {describe(space)}", \
            "add it to the choices, or change the default"
    return None


def _default_problem(param: ir.Param, space: ir.Space, low: Any, high: Any,
                     step: Any) -> tuple[str, str | None] | None:
    default = param.default
    if not (param.has_default and isinstance(default, (int, float)) and not isinstance(default, bool)):
        return None
    if not low <= default <= high:
        return f"the default {_show(default)} is outside {describe(space)}", "both ends are included"
    if space.kind == "range" and step is not None and isinstance(default, int) and isinstance(step, int) \
            and (default - low) % step:
        return f"the default {_show(default)} is not a value of {describe(space)} (steps of {step} from {low})", None
    return None


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def _fits(kind: str, value: Any) -> bool:
    got = _kind(value)
    return got == kind or (kind == "float" and got == "int")


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind (``1`` is not ``true``)."""
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    return repr(value)


# ---------------------------------------------------------------------------
# corners


def _ends(param: ir.Param) -> list[Any]:
    """The values of ``param`` at the corners of its space: every choice, or
    both ends of a range (as the parameter's type)."""
    space = param.space
    assert space is not None
    if space.kind == "choice":
        return list(space.values)
    low, high = space.values[0], space.values[1]
    if value_type(param) == "float":
        return [float(low), float(high)]
    if space.kind == "log" and len(space.values) == 3:  # the last power of the factor not above high
        factor, value = space.values[2], low
        while value * factor <= high:
            value *= factor
        return [low, value]
    return [low, high]


def corners(spec: ir.Spec, defines: Mapping[str, Any] | None = None,
            limit: int = CORNER_LIMIT) -> list[dict[str, Any]]:
    """Combinations of corner values to check, at most ``limit``, fewest
    changes first: each parameter's corners with the others at their
    defaults, all low ends, all high ends, and every combination when there
    are few enough. Each is given as the values that differ from the
    defaults. Parameters set with ``-D`` keep that value."""
    fixed = set(defines or {})
    params = [p for p in spaced_params(spec) if p.name not in fixed]
    ends = {p.name: _ends(p) for p in params}
    defaults = {p.name: p.default for p in params}
    if not params:
        return []
    out: list[dict[str, Any]] = []
    seen: set[frozenset[tuple[str, Any]]] = set()  # those in out: equal as sets exactly when as dicts
    for changed in _changes(ends, defaults, limit):
        if not changed:
            continue
        try:
            key = frozenset(changed.items())
        except TypeError:  # a value that cannot be hashed (a list) equals no hashable one: compare with each
            if changed not in out:
                out.append(changed)
            continue
        if key not in seen:
            seen.add(key)
            out.append(changed)
    out.sort(key=len)  # fewest changes first: a problem is reported with the values that alone cause it
    return out[:limit]


def _changes(ends: dict[str, list[Any]], defaults: dict[str, Any], limit: int) -> Iterator[dict[str, Any]]:
    """For :func:`corners`, each combination in turn, as the values that
    differ from the defaults: each parameter's corners with the others at
    their defaults (just that parameter, unless a default is unequal to
    itself and so differs everywhere), all low ends, all high ends, and
    every combination when there are at most ``limit``."""
    alone = all(_same(v, v) for v in defaults.values())
    for name, values in ends.items():
        for value in values:
            if alone:
                yield {name: value} if not _same(value, defaults[name]) else {}
            else:
                yield _differing({**defaults, name: value}, defaults)
    yield _differing({n: v[0] for n, v in ends.items()}, defaults)
    yield _differing({n: v[-1] for n, v in ends.items()}, defaults)
    if math.prod(len(v) for v in ends.values()) <= limit:
        for picked in itertools.product(*ends.values()):
            yield _differing(dict(zip(ends, picked, strict=True)), defaults)


def _differing(combo: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The values of ``combo`` that differ from the defaults."""
    return {n: v for n, v in combo.items() if not _same(v, defaults[n])}


def corner_problems(found: list[tuple[Diagnostic, dict[str, Any]]], spec: ir.Spec) -> list[Diagnostic]:
    """``K219`` for each problem the model has at a corner of its search
    space, given as (diagnostic, the corner's values) pairs in the order of
    :func:`corners`: each problem once (the same code at the same place),
    said with the values that first show it and the others that do too."""
    spaces = {p.name: p.space for p in spaced_params(spec)}
    grouped: dict[tuple[str, Span | None], tuple[Diagnostic, list[dict[str, Any]]]] = {}
    for d, combo in found:
        if d.severity == "error":
            grouped.setdefault((d.code, d.span), (d, []))[1].append(combo)
    return [_at_corner(d, combos, spaces) for d, combos in grouped.values()]


def _at_corner(d: Diagnostic, combos: list[dict[str, Any]], spaces: Mapping[str, ir.Space | None]) -> Diagnostic:
    """``d``, found with the values of ``combos[0]`` (and again with the
    others), said as a search space problem."""
    kept: list[dict[str, Any]] = []
    for c in combos:  # a combination that holds one already listed adds nothing
        if not any(c.items() >= k.items() for k in kept):
            kept.append(c)
    combo = kept[0]
    values = _values(combo)
    if len(kept) > 1:
        shown = "; ".join(_values(c) for c in kept[1:4]) + ("; ..." if len(kept) > 4 else "")
        values += f" (and with {shown})"
    notes = list(d.notes)
    via = d.span
    while not d.notes and via is not None and via.via is not None:  # keep the block-expansion trail
        notes.append((f"in block '{via.via_block}', expanded from this call", via.via))
        via = via.via
    for name in dict.fromkeys(n for c in kept for n in c):
        space = spaces.get(name)
        if space is not None:
            notes.append((f"the search space of '{name}' is {describe(space)}", space.span))
    return Diagnostic("K219", f"with {values} from the search space: {d.message} [{d.code}]", d.span, d.hint,
                      notes=tuple(notes))


def _values(combo: Mapping[str, Any]) -> str:
    return ", ".join(f"{n}={_define(v)}" for n, v in combo.items())


def _define(value: Any) -> str:
    """A value as ``-D`` takes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
