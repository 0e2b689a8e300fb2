"""The shared call checker and value rules (kspec.compiler.calls), on hand-made signatures."""

from __future__ import annotations

import doctest
from typing import Any

from kspec.catalogue import Param, Signature
from kspec.compiler import calls
from kspec.compiler.calls import (
    CallProblem,
    ValueRule,
    check_call,
    choice,
    depends_on_others,
    fraction,
    integer,
    is_int,
    is_number,
    is_positive_int,
    number_above,
    number_at_least,
    number_below,
    positive_int,
    takes_any_keyword,
    when_number,
    when_true,
)

#: Like a layer: two positional parameters (one required) and ``**kwargs``
#: that take only the listed extras.
LAYER = Signature(params=(Param("units", True, True, None), Param("activation", True, False, None)),
                  varargs=False, varkw=True, extra=frozenset({"name", "dtype"}))
#: One positional parameter, no ``**kwargs``.
ONE = Signature(params=(Param("factor", True, True, None),), varargs=False, varkw=False, extra=frozenset())
#: ``**kwargs`` with no listed extras: takes any keyword (an initializer's).
ANY = Signature(params=(Param("seed", True, False, None),), varargs=False, varkw=True, extra=frozenset())
#: Takes and ignores any other keyword (``ReduceLROnPlateau``).
OPEN = Signature(params=(Param("monitor", False, True, None),), varargs=False, varkw=True, extra=frozenset(),
                 open=True)


def test_unknown_keywords_are_all_reported_with_suggestions() -> None:
    assert check_call(LAYER, 1, ["unit", "activaton", "name"]) == [
        CallProblem("unknown", "unit", "did you mean 'units'?"),
        CallProblem("unknown", "activaton", "did you mean 'activation'?"),
    ]
    assert check_call(ONE, 1, ["zzz"]) == [CallProblem("unknown", "zzz", None)]
    assert check_call(ONE, 1, ["factr"])[0].detail == "unexpected argument 'factr'"


def test_unknown_keywords_come_before_binding_problems() -> None:
    # units is missing too, but an unknown keyword is what the user mistyped
    assert check_call(LAYER, 0, ["unit"]) == [CallProblem("unknown", "unit", "did you mean 'units'?")]


def test_too_many_positional_arguments() -> None:
    [p] = check_call(LAYER, 3, [])
    assert p == CallProblem("too_many", positional=("units", "activation"), given=3)
    assert p.detail == "takes at most 2 positional arguments (units, activation), got 3"
    assert check_call(ONE, 2, [])[0].detail == "takes at most 1 positional argument (factor), got 2"


def test_varargs_take_any_number_of_positional_arguments() -> None:
    sig = Signature(params=(Param("a", True, True, None),), varargs=True, varkw=False, extra=frozenset())
    assert check_call(sig, 5, []) == []


def test_argument_given_twice() -> None:
    assert check_call(LAYER, 1, ["units"]) == [CallProblem("twice", "units")]
    assert check_call(LAYER, 2, ["activation"])[0].detail == "argument 'activation' is given twice"


def test_missing_required_argument() -> None:
    assert check_call(LAYER, 0, ["activation"]) == [CallProblem("missing", "units")]
    assert check_call(LAYER, 0, [])[0].detail == "needs argument 'units'"


def test_calls_that_fit() -> None:
    assert check_call(LAYER, 1, ["activation", "name", "dtype"]) == []
    assert check_call(LAYER, 0, ["units"]) == []
    assert check_call(ONE, 1, []) == []


def test_varkw_without_extras_and_open_signatures_take_any_keyword() -> None:
    assert [takes_any_keyword(s) for s in (LAYER, ONE, ANY, OPEN)] == [False, False, True, True]
    assert check_call(ANY, 0, ["whatever", "seed"]) == []
    assert check_call(ANY, 2, ["whatever"]) == [CallProblem("too_many", positional=("seed",), given=2)]
    assert check_call(OPEN, 0, ["monitor", "min_delta"]) == []
    # other keywords are ignored, required ones are still required
    assert check_call(OPEN, 0, ["min_delta"]) == [CallProblem("missing", "monitor")]


# -- value rules ---------------------------------------------------------------


def test_number_helpers() -> None:
    assert [is_number(v) for v in (1, 1.5, True, "1", None)] == [True, True, False, False, False]
    assert [is_int(v) for v in (1, 0, -2, 1.0, False)] == [True, True, True, False, False]
    assert [is_positive_int(v) for v in (1, 0, -1, 2.0, True)] == [True, False, False, False, False]


def _verdicts(rule: ValueRule, values: tuple[Any, ...]) -> list[bool]:
    return [rule.accepts(v) for v in values]


def test_choice_words_and_matching() -> None:
    rule = choice("dot", "concat")
    assert rule.expect == "one of 'dot' or 'concat'"
    assert choice("dot", "concat", comma_list=True).expect == "one of 'dot', 'concat'"
    assert choice("sum", "mul", None, comma_list=True).expect == "one of 'sum', 'mul' or none"
    assert choice("a", "b", "none", None).expect == "one of 'a', 'b', 'none' or none"
    assert choice("same").expect == "one of 'same'"
    assert choice("ROC", "roc", expect="one of 'ROC'").expect == "one of 'ROC'"
    assert _verdicts(rule, ("dot", "Dot", None, 1)) == [True, False, False, False]
    assert _verdicts(choice("valid", "same", fold=True), ("SAME", "same", "x")) == [True, True, False]
    assert _verdicts(choice("a", None), (None, "a", "b")) == [True, True, False]
    assert rule.choices == ("dot", "concat")


def test_choice_hints() -> None:
    rule = choice("valid", "same", "causal")
    assert rule.hint("casual") == "did you mean 'causal'?"
    assert rule.hint(3) is None
    assert positive_int().hint("x") is None  # no choices, no suggestion


def test_integer_rules() -> None:
    assert positive_int().expect == "a positive integer"
    assert _verdicts(positive_int(), (1, 0, 2.0, True, None)) == [True, False, False, False, False]
    assert positive_int(none=True).expect == "a positive integer or none"
    assert _verdicts(positive_int(none=True), (None, 3, 0)) == [True, True, False]
    assert integer().expect == "an integer"
    assert _verdicts(integer(), (-3, 1.0, True)) == [True, False, False]


def test_number_rules() -> None:
    assert number_at_least(0).expect == "a number of at least 0"
    assert _verdicts(number_at_least(0), (0, 0.5, -1, True, "1", None)) == [True, True, False, False, False, False]
    assert number_at_least(0, none=True).expect == "a number of at least 0 or none"
    assert number_at_least(0, none=True).accepts(None)
    assert number_above(0).expect == "a number above 0"
    assert _verdicts(number_above(0), (1, 0, -1)) == [True, False, False]
    assert number_below(1.0).expect == "a number below 1.0"
    assert _verdicts(number_below(1.0), (0.5, 1.0)) == [True, False]
    assert fraction().expect == "a number between 0 and 1"
    assert _verdicts(fraction(), (0, 1, 0.5, 1.5, -0.1, "0.5")) == [True, True, True, False, False, False]
    assert fraction(expect="a number from 0 to 1").expect == "a number from 0 to 1"


def test_when_number_leaves_other_values_to_keras() -> None:
    rule = when_number(number_above(0))
    assert rule.expect == "a number above 0"
    assert _verdicts(rule, (1, 0, "x", None, True)) == [True, False, True, True, True]


def test_rules_that_see_the_other_arguments() -> None:
    ema = when_true("use_ema", when_number(fraction(expect="a number from 0 to 1")))
    assert ema.expect == "a number from 0 to 1 when 'use_ema' is true"
    assert not ema.accepts(1.5, {"use_ema": True})
    assert ema.accepts(0.5, {"use_ema": True})
    assert ema.accepts(1.5, {"use_ema": False})
    assert ema.accepts(1.5)  # nothing bound: use_ema is not set

    def one_more(v: Any, bound: Any) -> bool:
        return len(v) == len(bound["boundaries"]) + 1

    values = depends_on_others(one_more, "one value more than there are 'boundaries'")
    assert values.expect == "one value more than there are 'boundaries'"
    assert values.accepts([1, 2, 3], {"boundaries": [10, 20]})
    assert not values.accepts([1, 2], {"boundaries": [10, 20]})


def test_docstring_examples() -> None:
    assert doctest.testmod(calls).failed == 0
