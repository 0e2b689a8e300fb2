"""Hypothesis properties of the .kspec language (no keras needed).

- random IRs printed as .kspec parse back equal (core models from
  ``strategies.specs()``, and language-level specs with blocks, loops,
  parameters, arithmetic and compile/train sections);
- ``fmt`` is idempotent on random programs and on every example;
- ``convert`` round-trips both ways (.kspec -> .yaml -> .kspec and back);
- random bytes and random mutations of valid programs either load or raise
  ``KspecError`` with a location, never another exception, within a time
  bound.
"""

from __future__ import annotations

import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kspec import KspecError
from kspec.commands.fmt import format_text
from kspec.compiler.pipeline import load_text
from kspec.spec import ir
from kspec.spec.kspec_form import parse_kspec
from kspec.spec.kspec_printer import KEYWORDS, print_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml
from strategies import canonical_expr, specs

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.kspec"))
TIME_BOUND = 2.0  # seconds per input, generous for a loaded 2-core machine

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in KEYWORDS and not n.startswith("b_") and n != "m")
layer_types = st.sampled_from(["Dense", "Conv2D", "ReLU", "Dropout", "LayerNormalization", "Concatenate", "Add"])
texts = st.text(alphabet=string.ascii_letters + string.digits + " _-./{}'\"\\\n\té", max_size=12)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


def plain_values(depth: int = 2) -> st.SearchStrategy[Any]:
    """Data values: None, bools, numbers, strings, lists, dicts, calls."""
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), floats, texts)
    if depth == 0:
        return leaf
    inner = plain_values(depth - 1)
    return st.one_of(
        leaf,
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(names, texts), inner, max_size=3),
        st.builds(lambda fn, a, k: ir.Call(fn=fn, args=a, kwargs=k), names, st.lists(inner, max_size=2),
                  st.dictionaries(names, inner, max_size=2)),
    )


def param_exprs(scope: list[str]) -> st.SearchStrategy[Any]:
    """Arithmetic over parameters in ``scope`` (never a bare negative
    literal under a unary minus: ``-(3)`` reads back as the number -3)."""
    var = st.sampled_from(scope).map(lambda n: ir.Var(name=n))
    leaf = st.one_of(var, st.integers(0, 100))

    def grow(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        ops = st.sampled_from(["+", "-", "*", "//", "%", "<", "==", "and", "or"])
        return st.one_of(
            st.builds(lambda o, a, b: ir.BinOp(op=o, left=a, right=b), ops, children, children),
            st.builds(lambda a: ir.UnaryOp(op="-", operand=a), var),
            st.builds(lambda a: ir.UnaryOp(op="not", operand=a), children),
            st.builds(lambda t, a, b: ir.Cond(test=t, then=a, otherwise=b), children, children, children),
        )

    return st.recursive(leaf, grow, max_leaves=5)


def computed_values(scope: list[str], tensors: list[str]) -> st.SearchStrategy[Any]:
    """Indexing (``p[-1]``), built-in functions (``max(p, 2)``) and static
    shapes (``x.shape[-1]``) over parameters in ``scope`` and ``tensors``."""
    inner = param_exprs(scope) if scope else st.integers(0, 9)
    options = [
        st.builds(lambda fn, a: ir.Call(fn=fn, args=a), st.sampled_from(sorted(ir.BUILTINS)),
                  st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda v, i: ir.Index(value=v, index=i), st.lists(inner, min_size=1, max_size=3),
                  st.integers(-3, 3)),
    ]
    if scope:
        options.append(st.builds(lambda n, i: ir.Index(value=ir.Var(name=n), index=i), st.sampled_from(scope),
                                 st.one_of(st.integers(-3, 3), param_exprs(scope))))
    if tensors:
        options.append(st.builds(lambda n, i: ir.Index(value=ir.Attr(value=ir.Ref(name=n)), index=i),
                                 st.sampled_from(tensors), st.integers(-3, 3)))
    return st.one_of(options)


OP_NAMES = st.sampled_from(["mean", "sum", "max", "reshape", "transpose", "expand_dims", "squeeze", "where",
                            "clip", "hard_sigmoid", "relu6", "logical_and", "cast"])
BINARY_OPS = st.sampled_from(["add", "subtract", "multiply", "true_divide", "floor_divide", "mod", "power", "matmul",
                              "less", "less_equal", "greater", "greater_equal", "equal", "not_equal"])


def subscripts(scope: list[str]) -> st.SearchStrategy[Any]:
    """What goes between a tensor's brackets: an index, a slice, ``None``,
    ``...``, or several of them (``x[:, 1:3, None]``)."""
    bound = st.one_of(st.none(), st.integers(-5, 5), *([param_exprs(scope)] if scope else []))
    item = st.one_of(st.integers(-5, 5), st.none(), st.just(ir.EllipsisValue()),
                     st.builds(lambda a, b, c: ir.Slice(start=a, stop=b, step=c), bound, bound,
                               st.one_of(st.none(), st.integers(1, 3))))
    return st.one_of(item, st.lists(item, min_size=2, max_size=4))


def tensor_ops(tensors: list[str], scope: list[str]) -> st.SearchStrategy[ir.Op]:
    """Operations on ``tensors`` written with all their arguments, as the
    parser reads a nested operation: operators between tensors and with
    constants (numbers, parameters, parameter arithmetic), unary minus,
    subscripts, and ``ops.NAME(...)`` calls with keyword arguments (shapes
    are not checked: parsing and printing do not look at them)."""
    ref = st.sampled_from(tensors).map(lambda n: ir.Ref(name=n))
    constant = st.one_of(st.integers(-9, 9), st.sampled_from([0.5, 3.0, -1.5, 1e-3]),
                         *([param_exprs(scope)] if scope else []))
    kwargs = st.dictionaries(st.sampled_from(["axis", "keepdims", "dtype", "axes"]),
                             st.one_of(st.integers(-2, 2), st.booleans(), st.just("float32"),
                                       st.lists(st.integers(0, 3), min_size=1, max_size=3)), max_size=2)

    def grow(children: st.SearchStrategy[Any]) -> st.SearchStrategy[ir.Op]:
        operand = st.one_of(children, constant)
        return st.one_of(
            st.builds(lambda fn, a, b: ir.Op(fn=fn, args=[a, b]), BINARY_OPS, children, operand),
            st.builds(lambda fn, a, b: ir.Op(fn=fn, args=[a, b]), BINARY_OPS, constant, children),
            st.builds(lambda a: ir.Op(fn="negative", args=[a]), children),
            st.builds(lambda a, i: ir.Op(fn="get_item", args=[a, i]), children, subscripts(scope)),
            st.builds(lambda fn, a, rest, kw: ir.Op(fn=fn, args=[a, *rest], kwargs=kw), OP_NAMES, children,
                      st.lists(operand, max_size=2), kwargs),
            st.builds(lambda xs, kw: ir.Op(fn="concatenate", args=[xs], kwargs=kw),
                      st.lists(children, min_size=1, max_size=3), kwargs),
        )

    return grow(st.recursive(ref, grow, max_leaves=3))


@st.composite
def layer_calls(draw: st.DrawFn, scope: list[str]) -> ir.LayerCall:
    value = st.one_of(plain_values(1), param_exprs(scope)) if scope else plain_values(1)
    return ir.LayerCall(type=draw(layer_types), args=draw(st.lists(value, max_size=2)),
                        kwargs=draw(st.dictionaries(names, value, max_size=2)))


def _var(name: str) -> Any:
    """A parameter named in a value (typed loosely: it stands for any value)."""
    return ir.Var(name=name)


def _not_in(taken: list[str]) -> Callable[[str], bool]:
    """A filter for names not already ``taken``."""
    return lambda n: n not in taken


@st.composite
def block_bodies(draw: st.DrawFn, tensors: list[str], scope: list[str], depth: int,
                 tensor_names: st.SearchStrategy[str]) -> list[Any]:
    body: list[Any] = []
    live = list(tensors)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["assign", "assign", "for", "for_over", "if"])) if depth > 0 else "assign"
        if kind in ("for", "for_over"):
            var = draw(names.filter(lambda n: n not in scope and n not in live))
            bound = st.one_of(st.integers(0, 4), param_exprs(scope)) if scope else st.integers(0, 4)
            inner = draw(block_bodies(live, [*scope, var], depth - 1, tensor_names.filter(var.__ne__)))
            if kind == "for":
                body.append(ir.For(var=var, range=draw(st.lists(bound, min_size=1, max_size=3)), body=inner))
            else:
                over = draw(st.one_of(st.lists(st.one_of(bound, computed_values(scope, live)), max_size=3),
                                      st.sampled_from(scope).map(_var) if scope else st.just([])))
                body.append(ir.For(var=var, over=over, body=inner))
            continue
        if kind == "if":
            test = draw(st.one_of(param_exprs(scope) if scope else st.booleans(), computed_values(scope, live)))
            then = draw(block_bodies(live, scope, depth - 1, tensor_names))
            orelse = draw(st.one_of(st.just([]), block_bodies(live, scope, depth - 1, tensor_names)))
            body.append(ir.If(test=test, body=then, orelse=orelse))
            continue
        target = draw(tensor_names.filter(lambda n: n not in scope))
        if draw(st.integers(0, 2)) == 0:  # an operation, maybe followed by layers and operations in the chain
            after: list[ir.Step] = []
            for _ in range(draw(st.integers(0, 2))):
                after.append(ir.Step(layer=draw(st.one_of(
                    layer_calls(scope),
                    st.builds(lambda fn, kw: ir.Op(fn=fn, kwargs=kw), OP_NAMES,
                              st.dictionaries(st.just("axis"), st.integers(-2, 2)))))))
            body.append(ir.Assign(targets=[target], value=canonical_expr(draw(tensor_ops(live, scope)), after)))
            live.append(target)
            continue
        srcs = draw(st.lists(st.sampled_from(live), min_size=1, max_size=2))
        steps = [ir.Step(layer=draw(layer_calls(scope))) for _ in range(draw(st.integers(1, 3)))]
        body.append(ir.Assign(targets=[target], value=ir.Expr(inputs=srcs, steps=steps)))
        live.append(target)
    return body


numbers = st.one_of(st.integers(-10**6, 10**6), floats)

#: Search spaces of file parameters (``in [...]``, ``in range(...)``, ``in log(...)``): any plain
#: choices or bounds, since printing and parsing do not check them.
spaces = st.one_of(
    st.none(),
    st.builds(lambda v: ir.Space(kind="choice", values=v),
              st.lists(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), floats, texts), max_size=4)),
    st.builds(lambda k, v: ir.Space(kind=k, values=v), st.sampled_from(["range", "log"]),
              st.lists(numbers, min_size=2, max_size=3)),
)


@st.composite
def language_specs(draw: st.DrawFn) -> ir.Spec:
    """Specs using the language's abstraction layer (not necessarily
    meaningful models: parsing and printing do not check the graph)."""
    params = [ir.Param(name=n, type=draw(st.sampled_from([None, "int", "float", "any"])),
                       default=draw(st.integers(0, 9)), has_default=True, space=draw(spaces))
              for n in draw(st.lists(names, max_size=2, unique=True))]
    file_scope = [p.name for p in params]
    tensor_names = names.filter(lambda n: n not in file_scope)  # a tensor never shadows a parameter
    blocks = []
    for bname in draw(st.lists(names.map(lambda n: "b_" + n), max_size=2, unique=True)):
        inputs = draw(st.lists(tensor_names, min_size=1, max_size=2, unique=True))
        bparams = [ir.Param(name=n, type=draw(st.sampled_from(["int", "float", "bool", "str"])),
                            default=draw(st.integers(0, 5)) if has else None, has_default=has)
                   for n, has in draw(st.lists(st.tuples(names.filter(_not_in(inputs)), st.booleans()),
                                               max_size=3, unique_by=lambda t: t[0]))]
        scope = file_scope + [p.name for p in bparams]
        body = draw(block_bodies(inputs, scope, 2, tensor_names))
        defined = inputs + [s.targets[0] for s in body if isinstance(s, ir.Assign)]
        ret = ir.Expr(inputs=[draw(st.sampled_from(defined))],
                      steps=[ir.Step(layer=draw(layer_calls(scope)))] if draw(st.booleans()) else [])
        blocks.append(ir.Block(name=bname, inputs=inputs, params=bparams, body=body, returns=[ret]))
    model = ir.FunctionalModel(
        name="m",
        # A dimension written as a number is positive (an expression is checked when it is computed).
        inputs=[ir.Input(name="x", shape=draw(st.lists(st.one_of(st.none(), st.integers(1, 64), *(
            [param_exprs(file_scope), computed_values(file_scope, [])] if file_scope else [])).filter(
                lambda d: not (type(d) is int and d <= 0)), max_size=3)),
                         dtype=draw(st.sampled_from(["float32", "int32", "bool"])))],
        nodes=[ir.Assign(targets=["h"], value=ir.Expr(inputs=["x"], steps=[
            ir.Step(layer=ir.LayerCall(type=b.name, args=[1] * len([p for p in b.params if not p.has_default])))
            for b in blocks] + [ir.Step(layer=draw(layer_calls(file_scope)))]))],
        outputs=[ir.Output(name="y", value=ir.Expr(inputs=["h"]))],
    )
    settings = st.dictionaries(names, plain_values(2), max_size=3)
    sections = [ir.Section(model="m", settings=draw(settings))] if draw(st.booleans()) else []
    return ir.Spec(models=[model], params=params, blocks=blocks, compile=sections,
                   train=[ir.Section(model="m", settings=draw(settings))] if draw(st.booleans()) else [],
                   uses=draw(st.lists(st.sampled_from(["a.kspec", "lib/b.kspec"]), max_size=1)))


@given(specs())
def test_random_core_ir_prints_and_parses_back_equal(spec: ir.Spec) -> None:
    text = print_kspec(spec)
    assert parse_kspec(text, "r.kspec") == spec
    assert format_text(text) == text


@given(language_specs())
def test_random_language_ir_prints_and_parses_back_equal(spec: ir.Spec) -> None:
    text = print_kspec(spec)
    assert parse_kspec(text, "r.kspec") == spec
    assert format_text(format_text(text)) == format_text(text)


@given(language_specs())
def test_convert_round_trips_both_ways(spec: ir.Spec) -> None:
    as_yaml = dump_yaml(spec)
    from_yaml = load_yaml(as_yaml, "r.yaml")
    assert from_yaml == spec
    as_kspec = print_kspec(from_yaml)
    assert parse_kspec(as_kspec, "r.kspec") == spec
    assert dump_yaml(parse_kspec(as_kspec, "r.kspec")) == as_yaml


@pytest.mark.parametrize("kwargs", ['fn=1', 'op=2', 'ref="a"', 'expr="b"', 'kind=3', 'fn=1, op=2',
                                    'a={"fn": 1}', 'a={"op": "add", "ref": 1}',
                                    'a={"kind": "dict", "items": 4}', 'a={"kind": "dict", "items": {"x": 1}}'])
def test_call_values_with_keys_of_tagged_values_convert_both_ways(kwargs: str) -> None:
    """A call's keyword arguments (or a dict literal) named like the keys of
    a tagged YAML value (``fn``, ``op``, ``ref``, ``expr``, ``kind``) are
    written as ``{kind: dict, items: ...}`` and read back as the same names."""
    text = f"model m {{\n  input x: (3,)\n  output y = x -> Dense(2, kernel_initializer=f({kwargs}))\n}}\n"
    spec = parse_kspec(text, "r.kspec")
    as_yaml = dump_yaml(spec)
    assert load_yaml(as_yaml, "r.yaml") == spec
    assert parse_kspec(print_kspec(load_yaml(as_yaml, "r.yaml")), "r.kspec") == spec


@pytest.mark.parametrize("expr, printed", [
    ("ops.power(-1, a)", "(-1) ** a"),            # not -1 ** a, which is -(1 ** a)
    ("ops.power(a, -2.5)", "a ** (-2.5)"),
    ("ops.negative(-1)", "ops.negative(-1)"),      # -(-1) would be the number 1
    ("ops.add(1, 2)", "ops.add(1, 2)"),            # 1 + 2 would be parameter arithmetic
    ("ops.get_item([1, 2], 0)", "ops.get_item([1, 2], 0)"),
    ("ops.multiply(a, ops.negative(3))", "a * ops.negative(3)"),
    ("-a[0] ** 2", "-a[0] ** 2"),
])
def test_operations_on_numbers_print_as_they_parse(expr: str, printed: str) -> None:
    spec = parse_kspec(f"block b(a) {{\n  a = a + {expr}\n  return a\n}}\n", "r.kspec")
    text = print_kspec(spec)
    assert text.splitlines()[1] == f"  a = a + {printed}"
    assert parse_kspec(text, "r.kspec") == spec


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_fmt_is_idempotent_on_every_example(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_text(text, path.name)
    assert once == text, f"{path.name} is not in canonical layout: run kspec fmt"
    assert format_text(once, path.name) == once
    assert parse_kspec(once) == parse_kspec(text)


def _assert_loads_or_located_error(text: str) -> None:
    start = time.monotonic()
    try:
        load_text(text, "fuzz.kspec")
    except KspecError as exc:
        for d in exc.diagnostics:
            assert d.span is not None and d.span.file.endswith(".kspec") and d.span.line >= 1, d
    assert time.monotonic() - start < TIME_BOUND


@given(st.binary(max_size=200))
def test_random_bytes_parse_or_raise_located_error(data: bytes) -> None:
    _assert_loads_or_located_error(data.decode("utf-8", errors="replace"))


TOKENS = ["model", "block", "param", "for", "in", "range", "(", ")", "{", "}", "[", "]", "->", "=", ",", ":", "x",
          "Dense", "8", "1e-3", '"s"', "input", "output", "return", "use", "-", "*", "**", "//", "\n", "#c\n", "None"]


@st.composite
def mutations(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(EXAMPLES + sorted((Path(__file__).parent / "fixtures" / "kspec" / "valid")
                                                  .glob("*.kspec")))).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 20)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[j:]
    return text


@given(mutations())
def test_mutated_programs_load_or_raise_located_error(text: str) -> None:
    _assert_loads_or_located_error(text)


def test_huge_loop_and_power_are_refused_quickly() -> None:
    text = ("block b(x, k: int) {\n  for i in range(k) {\n    x = x -> ReLU()\n  }\n"
            "  return x\n}\nmodel m {\n  input x: (2,)\n  output y = x -> b(10 ** 9)\n}\n")
    start = time.monotonic()
    with pytest.raises(KspecError) as info:
        load_text(text, "big.kspec")
    assert str(info.value) == (
        "big.kspec:2:3: error[K216]: the loop runs 1000000000 times; at most 1000000 "
        "(--limit loop_iterations=N raises it)")
    with pytest.raises(KspecError) as info:
        load_text("param n: int = 10 ** 10 ** 10\nmodel m {\n  input x: (2,)\n  output y = x -> Dense(n)\n}\n",
                  "big.kspec")
    assert str(info.value) == "big.kspec:1:16: error[K213]: exponent 10000000000 is too large"
    assert time.monotonic() - start < TIME_BOUND
