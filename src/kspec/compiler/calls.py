"""One call checker and one value-rule language, shared by every check of a call.

Layers (``Dense(8)``), regularizer, initializer and constraint calls
(``l2(0.01)``) and the calls of ``compile`` and ``train`` sections
(``Adam(learning_rate=1e-3)``, ``EarlyStopping(patience=3)``) are all checked
against a catalogue :class:`~kspec.catalogue.Signature` by :func:`check_call`,
which returns :class:`CallProblem` records; each pass turns them into its own
diagnostics (codes, wording and locations are the pass's).

A :class:`ValueRule` says what a constructor accepts for one argument:
a predicate, the words for what is expected, the choices a misspelt string
is compared with, and optionally a check that sees the other bound
arguments. The constructors below (:func:`choice`, :func:`positive_int`,
:func:`fraction`, :func:`number_at_least` ...) state the usual ones.

>>> from kspec.catalogue import Param, Signature
>>> sig = Signature((Param("units", True, True, None),), False, False, frozenset())
>>> [p.detail for p in check_call(sig, 0, ["unit"])]
["unexpected argument 'unit'"]
>>> [p.detail for p in check_call(sig, 2, [])]
['takes at most 1 positional argument (units), got 2']
>>> positive_int().accepts(0), positive_int().expect
(False, 'a positive integer')
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

from kspec._records import record
from kspec.catalogue import Signature
from kspec.spec.diagnostics import did_you_mean

__all__ = [
    "CallProblem",
    "PlainKeys",
    "ValueRule",
    "check_call",
    "choice",
    "depends_on_others",
    "fraction",
    "integer",
    "is_int",
    "is_number",
    "is_positive_int",
    "number_above",
    "number_at_least",
    "number_below",
    "plain_key",
    "positive_int",
    "takes_any_keyword",
    "when_number",
    "when_true",
]

ProblemKind = Literal["unknown", "twice", "too_many", "missing"]


# -- calls against signatures --------------------------------------------------


@record(frozen=True)
class CallProblem:
    """One way a call does not fit its callee's signature.

    ``kind``: ``"unknown"`` keyword, argument given ``"twice"`` (positionally
    and by keyword), ``"too_many"`` positional arguments, or a required
    parameter ``"missing"``."""

    kind: ProblemKind
    #: The keyword (unknown, twice) or parameter (missing); empty for too_many.
    name: str = ""
    #: For an unknown keyword, a did-you-mean sentence, if one is close.
    hint: str | None = None
    #: For too_many: the parameters that may be given positionally, in order.
    positional: tuple[str, ...] = ()
    #: For too_many: how many positional arguments the call gave.
    given: int = 0

    @property
    def detail(self) -> str:
        """The problem in the words every check uses after the callee's name
        (``"needs argument 'units'"``)."""
        if self.kind == "unknown":
            return f"unexpected argument '{self.name}'"
        if self.kind == "twice":
            return f"argument '{self.name}' is given twice"
        if self.kind == "too_many":
            n = len(self.positional)
            return (f"takes at most {n} positional argument{'s' if n != 1 else ''} ({', '.join(self.positional)}), "
                    f"got {self.given}")
        return f"needs argument '{self.name}'"


def takes_any_keyword(sig: Signature) -> bool:
    """Whether the callee takes keywords it does not name: it is ``open``
    (``ReduceLROnPlateau`` ignores them), or it has ``**kwargs`` and the
    catalogue lists no ``extra`` names for them (an initializer's
    ``**kwargs``). A layer's or optimizer's ``**kwargs`` takes only its
    ``extra`` names (``name``, ``dtype`` ...)."""
    return sig.open or (sig.varkw and not sig.extra)


def check_call(sig: Signature, n_args: int, keywords: Iterable[str]) -> list[CallProblem]:
    """What is wrong with calling ``sig`` with ``n_args`` positional
    arguments and these keywords (in the call's order): every unknown
    keyword, with a suggestion; if there is none, the first problem Python
    would report binding the call (given twice, too many positional, a
    required argument missing). Empty when the call fits."""
    keys = list(keywords)
    accepted = sig.accepted
    if not takes_any_keyword(sig):
        unknown = [CallProblem("unknown", k, did_you_mean(k, accepted)) for k in keys if k not in accepted]
        if unknown:
            return unknown
    problem = sig.bind_problem(n_args, (k for k in keys if k in accepted))
    if problem is None:
        return []
    kind, name = problem
    if kind == "twice":
        return [CallProblem("twice", name)]
    if kind == "too_many":
        return [CallProblem("too_many", positional=tuple(sig.positional), given=n_args)]
    return [CallProblem("missing", name)]


# -- calls made of plain values ------------------------------------------------

#: The types of plain argument values. A call whose arguments are all plain
#: (or lists of plain values) says everything about itself in their values.
_SCALARS = frozenset({int, float, str, bool, type(None)})


def plain_key(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Hashable | None:
    """A hashable key, equal for two calls exactly when both call ``name``
    with the same plain values (numbers, strings, booleans, none, and lists
    of them) in the same way; ``None`` when an argument is anything else (a
    call such as ``l2(0.01)``, a tensor reference, a dict).

    A check that depends on nothing but the call itself (a layer's
    arguments against the catalogue, its shape rule on given inputs) can be
    done once per key: a spec of ten thousand ``Dense(16)`` has one. Values
    are told apart by type (``16``, ``16.0`` and ``true`` are different
    keys) and floats by how they print (``0.0`` and ``-0.0`` too).

    >>> plain_key("Dense", [16], {"activation": "relu"}) == plain_key("Dense", [16], {"activation": "relu"})
    True
    >>> plain_key("Dense", [16], {}) == plain_key("Dense", [16.0], {})
    False
    >>> plain_key("Conv2D", [8, [3, 3]], {}) == plain_key("Conv2D", [8, [3, 3.0]], {})
    False
    >>> plain_key("Dense", [16], {"kernel_regularizer": {"l2": 0.01}}) is None
    True
    """
    values: tuple[Any, ...] = (*args, *kwargs.values())
    types = tuple(map(type, values))
    if _SCALARS.issuperset(types):  # the usual case: numbers and strings only
        if float in types:
            values = tuple(map(repr, values))
        return (name, tuple(kwargs), types, values)
    frozen = tuple(map(_freeze, values))
    if None in frozen:
        return None
    return (name, tuple(kwargs), None, frozen)


class PlainKeys:
    """:func:`plain_key` of calls, each call's worked out once, as a small
    number: equal for two calls exactly when their plain keys are equal
    (``None`` when a call has none). The argument pass and shape inference
    of one check share one, so each call is read once for both.

    >>> keys = PlainKeys()
    >>> a, b, c = [16], [16], [16.0]
    >>> keys.of(a, "Dense", a, {}) == keys.of(b, "Dense", b, {}) != keys.of(c, "Dense", c, {})
    True
    """

    __slots__ = ("_calls", "_numbers")

    def __init__(self) -> None:
        self._numbers: dict[Hashable, int] = {}
        #: ``id()`` of a call -> the call (kept, so that no other object takes its id) and its number.
        self._calls: dict[int, tuple[object, int | None]] = {}

    def of(self, call: object, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int | None:
        """The number of ``call``, a call of ``name`` with ``args`` and
        ``kwargs`` (always the same for one call object)."""
        known = self._calls.get(id(call))
        if known is not None and known[0] is call:
            return known[1]
        key = plain_key(name, args, kwargs)
        number = None if key is None else self._numbers.setdefault(key, len(self._numbers))
        self._calls[id(call)] = (call, number)
        return number


def _freeze(value: Any) -> Hashable | None:
    """A plain value as a hashable stand-in that keeps its type (``None``:
    not a plain value)."""
    kind = type(value)
    if kind is list:
        items = tuple(map(_freeze, value))
        return None if None in items else (list, items)
    if kind in _SCALARS:
        return (kind, repr(value) if kind is float else value)
    return None


# -- value rules --------------------------------------------------------------


def is_number(v: Any) -> bool:
    """An ``int`` or ``float`` (not ``True``/``False``)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v: Any) -> bool:
    """A true ``int`` (not ``True``/``False``)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_positive_int(v: Any) -> bool:
    """A true ``int`` above zero (Keras refuses ``4.0`` and ``True`` for sizes)."""
    return is_int(v) and v > 0


def _anything(v: Any) -> bool:
    return True


@record(frozen=True)
class ValueRule:
    """What a constructor accepts for one argument.

    ``ok`` judges the value alone; ``expect`` completes "'rate' must be ...";
    ``choices`` are the words a misspelt string is compared with for a
    did-you-mean; ``ok_with``, if given, judges the value together with every
    bound argument (for rules that depend on another argument)."""

    ok: Callable[[Any], bool]
    expect: str  # "a positive integer", "one of 'dot', 'concat'"
    choices: tuple[str, ...] = ()
    ok_with: Callable[[Any, Mapping[str, Any]], bool] | None = None

    def accepts(self, value: Any, bound: Mapping[str, Any] | None = None) -> bool:
        """Whether ``value`` is fine, given the call's other ``bound`` arguments."""
        if not self.ok(value):
            return False
        return self.ok_with is None or self.ok_with(value, {} if bound is None else bound)

    def hint(self, value: Any) -> str | None:
        """A did-you-mean for a refused string close to one of the choices."""
        return did_you_mean(value, self.choices) if self.choices and isinstance(value, str) else None


def choice(*choices: str | None, fold: bool = False, expect: str | None = None,
           comma_list: bool = False) -> ValueRule:
    """One of ``choices`` (``None`` among them: null is accepted too; ``fold``:
    in any case). ``expect`` replaces the generated words ("one of 'a', 'b'
    or none"); ``comma_list`` joins the last word with a comma instead of
    "or" when null is not accepted ("one of 'dot', 'concat'")."""
    words = tuple(c for c in choices if c is not None)
    nullable = None in choices

    def ok(v: Any) -> bool:
        if v is None:
            return nullable
        return isinstance(v, str) and (v.lower() if fold else v) in words

    if expect is None:
        quoted = [f"'{w}'" for w in words]
        if nullable:
            shown = ", ".join(quoted) + " or none"
        elif comma_list or len(quoted) == 1:
            shown = ", ".join(quoted)
        else:
            shown = ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
        expect = f"one of {shown}"
    return ValueRule(ok, expect, words)


def _or_none(rule: ValueRule, none: bool) -> ValueRule:
    if not none:
        return rule
    ok = rule.ok
    return ValueRule(lambda v: v is None or ok(v), f"{rule.expect} or none", rule.choices, rule.ok_with)


def positive_int(*, none: bool = False) -> ValueRule:
    """A positive integer (``none``: or null)."""
    return _or_none(ValueRule(is_positive_int, "a positive integer"), none)


def integer() -> ValueRule:
    """Any integer."""
    return ValueRule(is_int, "an integer")


def number_at_least(low: float, *, none: bool = False) -> ValueRule:
    """A number of at least ``low`` (``none``: or null)."""
    return _or_none(ValueRule(lambda v: is_number(v) and v >= low, f"a number of at least {low}"), none)


def number_above(low: float) -> ValueRule:
    """A number above ``low``."""
    return ValueRule(lambda v: is_number(v) and v > low, f"a number above {low}")


def number_below(high: float) -> ValueRule:
    """A number below ``high``."""
    return ValueRule(lambda v: is_number(v) and v < high, f"a number below {high}")


def fraction(*, expect: str = "a number between 0 and 1") -> ValueRule:
    """A number from 0 to 1, both included."""
    return ValueRule(lambda v: is_number(v) and 0 <= v <= 1, expect)


def when_number(rule: ValueRule) -> ValueRule:
    """``rule`` for numbers only: any other value passes (Keras judges it)."""
    ok = rule.ok
    return ValueRule(lambda v: not is_number(v) or ok(v), rule.expect, rule.choices, rule.ok_with)


def when_true(other: str, rule: ValueRule) -> ValueRule:
    """``rule`` only when the bound argument ``other`` is true (Keras checks
    ``ema_momentum`` only with ``use_ema``)."""
    def ok_with(v: Any, bound: Mapping[str, Any]) -> bool:
        return not bound.get(other) or rule.accepts(v, bound)

    return ValueRule(_anything, f"{rule.expect} when '{other}' is true", rule.choices, ok_with)


def depends_on_others(check: Callable[[Any, Mapping[str, Any]], bool], expect: str) -> ValueRule:
    """A rule that judges the value together with the other bound arguments
    (``check(value, bound)``)."""
    return ValueRule(_anything, expect, ok_with=check)
