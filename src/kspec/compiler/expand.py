"""Pass 2: expand blocks, loops and parameters into the core IR.

After :func:`expand_spec` a spec has no ``params``, ``blocks`` or ``uses``
and no :class:`~kspec.spec.ir.Var`/:class:`~kspec.spec.ir.BinOp` values:
only what lowering understands.

Naming: a block call ``conv2 = x -> stage(64, 3)`` expands with the prefix
``conv2``; a tensor ``y`` assigned inside the block becomes ``conv2_y``,
and inside a loop ``for i in range(1, 3)`` it becomes ``conv2_y1``,
``conv2_y2``. The block's returned expression is assigned to ``conv2``
itself. Layer names then follow :mod:`kspec.compiler.naming` (the last
layer of ``conv2_y`` is named ``conv2_y``). Names are deterministic; a
clash with a name of the model gets ``_2``, ``_3`` ...

Errors inside an expanded block point at the line inside the block, with a
note pointing at the call site (spans carry ``via``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kspec.catalogue import ALIASES, catalogue
from kspec.compiler.naming import NameAllocator
from kspec.spec import ir, limits
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean, suggest
from kspec.spec.ir import Span
from kspec.spec.source import read_spec_text, spec_suffix

__all__ = ["evaluate", "expand_spec"]

_MAX_INT = 2**63


class _Error(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message)
        self.diag = diag


def _notes(span: Span | None) -> tuple[tuple[str, Span | None], ...]:
    notes: list[tuple[str, Span | None]] = []
    while span is not None and span.via is not None:
        notes.append((f"in block '{span.via_block}', expanded from this call", span.via))
        span = span.via
    return tuple(notes)


def _fail(code: str, message: str, span: Span | None, hint: str | None = None) -> _Error:
    return _Error(Diagnostic(code, message, span, hint, notes=_notes(span)))


# ---------------------------------------------------------------------------
# values


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
    "%": operator.mod, "**": operator.pow, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _too_long(span: Span | None) -> _Error:
    return _fail("K213", limits.exceeded("value_length", "the result is too large"), span)


def _check_size(result: Any, span: Span | None) -> Any:
    if isinstance(result, int) and not isinstance(result, bool) and abs(result) >= _MAX_INT:
        raise _fail("K213", "the result is too large", span)
    if isinstance(result, (str, list)) and _weight(result, limits.current().value_length) > \
            limits.current().value_length:
        raise _too_long(span)
    return result


def _weight(value: Any, limit: int) -> int:
    """Characters and items in ``value``, nested lists counted in full (a
    list may hold one big string many times over); counting stops past
    ``limit``, so this is cheap however large the value claims to be."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        v = pending.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, list):
            total += len(v)
            pending.extend(v[: limit + 1])
        else:
            total += 1
    return total


def _binop(v: ir.BinOp, left: Any, right: Any) -> Any:
    if v.op == "and":
        return left and right
    if v.op == "or":
        return left or right
    if v.op == "**" and isinstance(right, (int, float)) and abs(right) > 64:
        raise _fail("K213", f"exponent {right} is too large", v.span)
    if v.op == "*" and isinstance(right, int) and isinstance(left, (str, list)) \
            and len(left) * right > limits.current().value_length:
        raise _too_long(v.span)  # refused before the repetition is built
    if v.op == "*" and isinstance(left, int) and isinstance(right, (str, list)) \
            and left * len(right) > limits.current().value_length:
        raise _too_long(v.span)
    try:
        return _check_size(_BINOPS[v.op](left, right), v.span)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise _fail("K213", f"cannot compute {_show(left)} {v.op} {_show(right)}: {exc}", v.span) from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def evaluate(value: Any, env: Mapping[str, Any], tensors: Mapping[str, str] | None = None) -> Any:
    """``value`` with parameters substituted and arithmetic done.

    ``tensors`` renames :class:`~kspec.spec.ir.Ref` tensors (inside blocks)."""
    if isinstance(value, ir.Var):
        if value.name not in env:
            raise _fail("K212", f"unknown parameter '{value.name}'", value.span, did_you_mean(value.name, env))
        return env[value.name]
    if isinstance(value, ir.Ref):
        if tensors is None:
            return value
        if value.name not in tensors:
            raise _fail("K212", f"unknown tensor '{value.name}'", value.span, did_you_mean(value.name, tensors))
        return value.model_copy(update={"name": tensors[value.name]})
    if isinstance(value, ir.BinOp):
        left = evaluate(value.left, env, tensors)
        if value.op == "and" and not left:
            return left
        if value.op == "or" and left:
            return left
        return _binop(value, left, evaluate(value.right, env, tensors))
    if isinstance(value, ir.UnaryOp):
        operand = evaluate(value.operand, env, tensors)
        if value.op == "not":
            return not operand
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise _fail("K213", f"cannot negate {_show(operand)}", value.span)
        return -operand
    if isinstance(value, ir.Cond):
        test = evaluate(value.test, env, tensors)
        return evaluate(value.then if test else value.otherwise, env, tensors)
    if isinstance(value, ir.Format):
        pieces = [evaluate(p, env, tensors) for p in value.parts]
        if sum(_weight(p, limits.current().value_length) for p in pieces) > limits.current().value_length:
            raise _too_long(value.span)
        return _check_size("".join(str(p) for p in pieces), value.span)
    if isinstance(value, ir.Call):
        return value.model_copy(update={
            "args": [evaluate(a, env, tensors) for a in value.args],
            "kwargs": {k: evaluate(v, env, tensors) for k, v in value.kwargs.items()},
        })
    if isinstance(value, list):
        return [evaluate(v, env, tensors) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, env, tensors) for k, v in value.items()}
    return value


def _relocate(node: Any, via: Span, block: str) -> Any:
    """A copy of ``node`` whose spans say they were expanded from ``via``."""
    if isinstance(node, ir.IRNode):
        update: dict[str, Any] = {}
        for name in type(node).model_fields:
            if name in ("span", "key_spans"):
                continue
            value = getattr(node, name)
            if isinstance(value, (ir.IRNode, list, dict)):
                update[name] = _relocate(value, via, block)
        if node.span is not None:
            update["span"] = _mark(node.span, via, block)
        if node.key_spans:
            update["key_spans"] = {k: _mark(s, via, block) for k, s in node.key_spans.items()}
        return node.model_copy(update=update)
    if isinstance(node, list):
        return [_relocate(v, via, block) for v in node]
    if isinstance(node, dict):
        return {k: _relocate(v, via, block) for k, v in node.items()}
    return node


def _mark(span: Span, via: Span, block: str) -> Span:
    if span.via is not None:
        return span.replace(via=_mark(span.via, via, block))
    return span.replace(via=via, via_block=block)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "any": lambda v: True,
}


def _check_type(param: ir.Param, value: Any, span: Span | None) -> None:
    check = _TYPES.get(param.type or "any", _TYPES["any"])
    if not check(value):
        raise _fail("K211", f"parameter '{param.name}' is {param.type}, got {_show(value)}", span)


# ---------------------------------------------------------------------------
# the expander


class _Expander:
    def __init__(self, blocks: dict[str, ir.Block], env: dict[str, Any]) -> None:
        self.blocks = blocks
        self.env = env
        self.count = 0
        self.iterations = 0
        self.limits = limits.current()
        self.stack: list[str] = []

    # -- one model ----------------------------------------------------------

    def functional(self, m: ir.FunctionalModel) -> tuple[ir.FunctionalModel, list[Diagnostic]]:
        taken = {i.name for i in m.inputs} | {d.name for d in m.layers} | {o.name for o in m.outputs}
        self.names = NameAllocator(taken | {t for n in m.nodes for t in n.targets})
        self.nodes: list[ir.Assign] = []
        errors: list[Diagnostic] = []
        layers = []
        for d in m.layers:
            try:
                for c in d.stack:
                    if isinstance(c, ir.LayerCall) and c.type in self.blocks:
                        raise _fail("K214", f"block '{c.type}' cannot be part of a named layer", c.span,
                                    "apply the block to a tensor: y = x -> block(...)")
                layers.append(d.model_copy(update={"stack": [self.callee(c, self.env) for c in d.stack]}))
            except _Error as exc:
                errors.append(exc.diag)
        for n in m.nodes:
            try:
                self.assign(n.targets, n.value, self.env, None, n.span, keep_targets=True)
            except _Error as exc:
                errors.append(exc.diag)
        outputs = []
        for o in m.outputs:
            try:
                residuals = self.lower(o.value, self.env, None, o.name)
                if len(residuals) != 1:
                    raise _fail("K215", f"output '{o.name}' gets {len(residuals)} tensors from a block", o.span)
                outputs.append(o.model_copy(update={"value": residuals[0]}))
            except _Error as exc:
                errors.append(exc.diag)
        model = m.model_copy(update={"layers": layers, "nodes": self.nodes, "outputs": outputs})
        return model, errors

    def sequential(self, m: ir.SequentialModel) -> ir.SequentialModel:
        for c in m.layers:
            if isinstance(c, ir.LayerCall) and c.type in self.blocks:
                raise _fail("K214", f"block '{c.type}' can only be used in a functional model", c.span,
                            "write the model as 'model NAME { ... }' and chain the block: x -> block(...)")
        return m.model_copy(update={"layers": [self.callee(c, self.env) for c in m.layers]})

    # -- helpers ------------------------------------------------------------

    def callee(self, c: ir.LayerCall | ir.LayerRef, env: Mapping[str, Any]) -> ir.LayerCall | ir.LayerRef:
        if isinstance(c, ir.LayerRef):
            return c
        layers = catalogue().layers
        if c.type not in layers and c.type not in ALIASES and self.blocks and suggest(c.type, self.blocks):
            raise _fail("K203", f"unknown layer or block '{c.type}'", c.span,
                        did_you_mean(c.type, [*self.blocks, *layers]))
        return c.model_copy(update={"args": [evaluate(a, env) for a in c.args],
                                    "kwargs": {k: evaluate(v, env) for k, v in c.kwargs.items()}})

    def emit(self, assign: ir.Assign) -> None:
        self.count += 1
        if self.count > self.limits.layers:
            raise _fail("K216", limits.exceeded("layers", "expansion produces too many statements"), assign.span)
        self.nodes.append(assign)

    def tensor(self, name: str, tensors: Mapping[str, str] | None, span: Span | None) -> str:
        if tensors is None:
            return name
        if name not in tensors:
            raise _fail("K212", f"unknown tensor '{name}' in this block", span, did_you_mean(name, tensors))
        return tensors[name]

    # -- expressions --------------------------------------------------------

    def assign(self, targets: list[str], expr: ir.Expr, env: Mapping[str, Any], tensors: Mapping[str, str] | None,
               span: Span | None, keep_targets: bool, prefix: str = "") -> None:
        residuals = self.lower(expr, env, tensors, targets[0])
        if len(residuals) == 1:
            self.emit(ir.Assign(targets=targets, value=residuals[0], span=span))
            return
        if len(residuals) != len(targets):
            raise _fail("K215", f"the block returns {len(residuals)} tensors but {len(targets)} "
                        f"name{'s are' if len(targets) != 1 else ' is'} given", span)
        for t, r in zip(targets, residuals, strict=True):
            self.emit(ir.Assign(targets=[t], value=r, span=span))

    def lower(self, expr: ir.Expr, env: Mapping[str, Any], tensors: Mapping[str, str] | None,
              hint: str) -> list[ir.Expr]:
        """Expand the block calls of ``expr``; the result expressions (one,
        or one per value a final block returns) use no blocks."""
        inputs = [self.tensor(n, tensors, expr.span) for n in expr.inputs]
        pending: list[ir.Step] = []
        steps = expr.steps
        for k, step in enumerate(steps):
            layer = step.layer
            if not (isinstance(layer, ir.LayerCall) and layer.type in self.blocks):
                pending.append(step.model_copy(update={
                    "layer": self.callee(layer, env),
                    "call_kwargs": {key: evaluate(v, env, tensors) for key, v in step.call_kwargs.items()},
                }))
                continue
            if step.call_kwargs:
                raise _fail("K214", f"block '{layer.type}' takes no call arguments", step.span)
            if pending:
                tmp = self.names.fresh(f"{hint}_{k}")
                self.emit(ir.Assign(targets=[tmp], value=ir.Expr(inputs=inputs, steps=pending, span=expr.span),
                                    span=expr.span))
                inputs, pending = [tmp], []
            last = k == len(steps) - 1
            prefix = hint if last else self.names.fresh(f"{hint}_{layer.type}")
            returns = self.call_block(layer, inputs, env, prefix, step.span or layer.span)
            if last:
                return returns
            if len(returns) != 1:
                raise _fail("K215", f"block '{layer.type}' returns {len(returns)} tensors; a chain continues "
                            "with one", step.span)
            if returns[0].steps:
                name = prefix
                self.emit(ir.Assign(targets=[name], value=returns[0], span=step.span))
                inputs = [name]
            else:
                inputs = list(returns[0].inputs)
        return [ir.Expr(inputs=inputs, steps=pending, span=expr.span)]

    def call_block(self, call: ir.LayerCall, inputs: list[str], env: Mapping[str, Any], prefix: str,
                   span: Span | None) -> list[ir.Expr]:
        block = self.blocks[call.type]
        if call.type in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(call.type):], call.type])
            raise _fail("K214", f"block '{call.type}' calls itself ({chain})", span,
                        "blocks cannot be recursive; use a loop")
        self.stack.append(call.type)
        try:
            return self._call_block(block, call, inputs, env, prefix, span)
        finally:
            self.stack.pop()

    def _call_block(self, block: ir.Block, call: ir.LayerCall, inputs: list[str], env: Mapping[str, Any],
                    prefix: str, span: Span | None) -> list[ir.Expr]:
        if len(inputs) != len(block.inputs):
            want = len(block.inputs)
            raise _fail("K214", f"block '{block.name}' takes {want} tensor{'s' if want != 1 else ''}, "
                        f"got {len(inputs)}", span)
        args = [evaluate(a, env) for a in call.args]
        kwargs = {k: evaluate(v, env) for k, v in call.kwargs.items()}
        local = self.bind(block, args, kwargs, call, span)
        via = span or Span()
        body = _relocate(block.body, via, block.name)
        returns = _relocate(block.returns, via, block.name)
        tensors = dict(zip(block.inputs, inputs, strict=True))
        self.walk(body, local, tensors, prefix, "")
        out: list[ir.Expr] = []
        for r in returns:
            out += self.lower(r, local, tensors, prefix)
        return out

    def bind(self, block: ir.Block, args: list[Any], kwargs: dict[str, Any], call: ir.LayerCall,
             span: Span | None) -> dict[str, Any]:
        params = block.params
        if len(args) > len(params):
            raise _fail("K214", f"block '{block.name}' takes {len(params)} value argument"
                        f"{'s' if len(params) != 1 else ''}, got {len(args)}", span)
        names = {p.name for p in params}
        for k in kwargs:
            if k not in names:
                raise _fail("K214", f"block '{block.name}' has no parameter '{k}'", call.at(k),
                            did_you_mean(k, names))
        local: dict[str, Any] = dict(self.env)
        for i, p in enumerate(params):
            if i < len(args):
                if p.name in kwargs:
                    raise _fail("K214", f"parameter '{p.name}' is given twice", call.at(p.name))
                value = args[i]
            elif p.name in kwargs:
                value = kwargs[p.name]
            elif p.has_default:
                value = evaluate(_relocate(p.default, span or Span(), block.name), local)
            else:
                raise _fail("K214", f"block '{block.name}' needs a value for '{p.name}'", span,
                            f"{block.name}({', '.join(q.name + '=...' for q in params if not q.has_default)})")
            _check_type(p, value, call.at(p.name) if p.name in kwargs else span)
            local[p.name] = value
        return local

    def walk(self, body: list[Any], env: dict[str, Any], tensors: dict[str, str], prefix: str, suffix: str) -> None:
        for st in body:
            if isinstance(st, ir.For):
                bounds = [evaluate(b, env) for b in st.range]
                if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                    raise _fail("K213", "range() takes whole numbers", st.span)
                if len(bounds) == 3 and bounds[2] == 0:
                    raise _fail("K213", "range() step cannot be zero", st.span)
                values = range(*bounds)
                try:
                    runs = len(values)
                except OverflowError:  # more runs than a machine word counts
                    runs = _MAX_INT
                if self.iterations + runs > self.limits.loop_iterations:
                    if runs > self.limits.loop_iterations:
                        what = f"the loop runs {runs} times" if runs < _MAX_INT else "the loop runs too many times"
                    else:
                        what = f"the loops run {self.iterations + runs} times in all"
                    raise _fail("K216", limits.exceeded("loop_iterations", what), st.span)
                self.iterations += runs
                for i in values:
                    inner = {**env, st.var: i}
                    self.walk(st.body, inner, tensors, prefix, f"{suffix}_{i}" if suffix else str(i))
                continue
            names = [self.names.fresh(f"{prefix}_{t}{suffix}") for t in st.targets]
            self.assign(names, st.value, env, tensors, st.span, keep_targets=False)
            for t, n in zip(st.targets, names, strict=True):
                tensors[t] = n


# ---------------------------------------------------------------------------
# entry point


def _load_uses(spec: ir.Spec) -> tuple[list[ir.Block], list[ir.Param]]:
    """The blocks and parameters of every file ``spec`` uses, directly or
    through the files it uses, each file read once."""
    file = spec.span.file if spec.span is not None else "<string>"
    root = Path.cwd().resolve() if file.startswith("<") else Path(file).resolve()
    loader = _Uses(root if file.startswith("<") else root.parent)
    return loader.load(spec, [root])


class _Uses:
    """``use`` statements, confined: a used file must be a spec file
    (``.kspec``, ``.yaml``, ``.yml``) inside the using spec's directory or a
    directory the user allowed (``--allow-dir``), symlinks resolved first;
    it is read within the ``source_bytes`` limit, at most ``uses`` files in
    all, and a cycle of uses is an error."""

    def __init__(self, base: Path) -> None:
        self.roots = [base, *(Path(d).resolve() for d in limits.current().allowed_dirs)]
        self.seen: set[Path] = set()

    def load(self, spec: ir.Spec, chain: list[Path]) -> tuple[list[ir.Block], list[ir.Param]]:
        from kspec.spec.kspec_form import parse_kspec  # Lark loads only for specs that use .kspec files

        blocks: list[ir.Block] = []
        params: list[ir.Param] = []
        file = spec.span.file if spec.span is not None else "<string>"
        base = chain[-1].parent if not file.startswith("<") else self.roots[0]
        where = spec.span or Span(file=file)
        for use in spec.uses:
            path = (base / use).resolve()
            if path in chain:
                cycle = " -> ".join(p.name for p in [*chain[chain.index(path):], path])
                raise _fail("K217", f"'use' cycle: {cycle}", where, "a file cannot use itself, even through others")
            if path in self.seen:
                continue
            self.check(use, path, where)
            self.seen.add(path)
            try:
                text = read_spec_text(path)
            except (OSError, UnicodeDecodeError) as exc:
                raise _fail("K217", f"cannot read '{use}': {getattr(exc, 'strerror', None) or exc}", where) from None
            if path.suffix.lower() in (".yaml", ".yml"):
                from kspec.spec.yaml_form import load_yaml

                used = load_yaml(text, str(path))
            else:
                used = parse_kspec(text, str(path))
            more_blocks, more_params = self.load(used, [*chain, path])
            blocks += more_blocks + list(used.blocks)
            params += more_params + list(used.params)
        return blocks, params

    def check(self, use: str, path: Path, where: Span) -> None:
        if not spec_suffix(path):
            raise _fail("K217", f"'use' takes a spec file (.kspec, .yaml or .yml), not '{use}'", where)
        if not any(path.is_relative_to(r) for r in self.roots):
            raise _fail("K217", f"'use' of '{use}' reaches outside the spec's directory", where,
                        "keep used specs beside the spec (or below it), or allow a directory with --allow-dir DIR")
        if len(self.seen) >= limits.current().uses:
            raise _fail("K217", limits.exceeded("uses", "the spec uses too many files"), where)


def _environment(spec: ir.Spec, params: list[ir.Param], defines: Mapping[str, Any]) -> dict[str, Any]:
    declared = {p.name: p for p in params}
    for name in defines:
        if name not in declared:
            hint = did_you_mean(name, declared)
            if not declared:
                raise _fail("K211", f"-D {name}: this spec has no parameters to set", spec.span)
            raise _fail("K211", f"-D {name}: the spec has no parameter '{name}'", spec.span,
                        hint or f"its parameters: {', '.join(sorted(declared))}")
    env: dict[str, Any] = {}
    for p in params:
        if p.name in defines:
            value = defines[p.name]
            if p.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if p.type == "str" and not isinstance(value, str):
                value = str(value)
            _check_type(p, value, p.span)
        else:
            value = evaluate(p.default, env)
            _check_type(p, value, p.span)
        env[p.name] = value
    return env


def expand_spec(spec: ir.Spec, defines: Mapping[str, Any]) -> ir.Spec:
    """The core IR of ``spec``: blocks expanded, loops unrolled, parameters
    (overridden by ``defines``) substituted. Raises :class:`KspecError`."""
    if not (spec.blocks or spec.params or spec.uses or defines or _has_exprs(spec)):
        return spec
    errors: list[Diagnostic] = []
    try:
        used_blocks, used_params = _load_uses(spec)
        blocks: dict[str, ir.Block] = {}
        for b in [*used_blocks, *spec.blocks]:
            if b.name in blocks and b in spec.blocks:
                raise _fail("K214", f"block '{b.name}' is defined twice", b.span)
            blocks[b.name] = b
        own = {p.name for p in spec.params}
        params = [p for p in used_params if p.name not in own] + list(spec.params)
        env = _environment(spec, params, defines)
    except _Error as exc:
        raise KspecError(exc.diag) from None
    expander = _Expander(blocks, env)
    models: list[ir.FunctionalModel | ir.SequentialModel] = []
    for m in spec.models:
        try:
            if isinstance(m, ir.SequentialModel):
                models.append(expander.sequential(m))
            else:
                model, errs = expander.functional(m)
                errors += errs
                models.append(model)
        except _Error as exc:
            errors.append(exc.diag)
    sections: dict[str, list[ir.Section]] = {"compile": [], "train": []}
    for what in ("compile", "train"):
        for s in getattr(spec, what):
            try:
                sections[what].append(s.model_copy(update={
                    "settings": {k: evaluate(v, env) for k, v in s.settings.items()}}))
            except _Error as exc:
                errors.append(exc.diag)
    if errors:
        raise KspecError(errors)
    return spec.model_copy(update={"models": models, "compile": sections["compile"], "train": sections["train"],
                                   "params": [], "blocks": [], "uses": []})


_EXPRESSIONS = (ir.Var, ir.BinOp, ir.UnaryOp, ir.Cond, ir.Format)


def _has_exprs(spec: ir.Spec) -> bool:
    """Whether any value still holds a parameter expression.

    This runs on every spec, blocks or not, so it is an iterative walk that
    dispatches on exact types through a small cache: ``isinstance`` against
    pydantic models goes through ``ABCMeta`` and costs several times more.
    Spans and scalars are dropped as leaves."""
    kinds: dict[type, int] = {list: 1, dict: 2}  # 0 leaf, 1 list, 2 dict, 3 node, 4 expression
    stack: list[Any] = [spec]
    while stack:
        v = stack.pop()
        cls = type(v)
        kind = kinds.get(cls)
        if kind is None:
            kind = 4 if issubclass(cls, _EXPRESSIONS) else 3 if issubclass(cls, ir.IRNode) else \
                1 if issubclass(cls, list) else 2 if issubclass(cls, dict) else 0
            kinds[cls] = kind
        if kind == 3:
            stack.extend(v.__dict__.values())
        elif kind == 1:
            stack.extend(v)
        elif kind == 2:
            stack.extend(v.values())
        elif kind == 4:
            return True
    return False
