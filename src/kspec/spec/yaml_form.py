"""The YAML front end: YAML text -> IR (its printer is :mod:`kspec.spec.yaml_printer`).

Loading reads YAML as plain data only (no Python tags, no code), keeps
the line and column of every mapping and value, rewrites the YAML form's
short-hands into IR dictionaries and validates them with pydantic. Every
problem is reported as a :class:`~kspec.spec.diagnostics.Diagnostic` at
the YAML position of the offending value.

The text is read by :mod:`kspec.spec.yaml_plain` when it is written in
the usual block style (no PyYAML to import), else by PyYAML
(:mod:`kspec.spec.yaml_read`), which also describes every YAML error;
both give the same located data.

The YAML form (the README and ``docs/language.md`` describe it)::

    models:
      - name: matcher
        inputs:
          left: {shape: [100], dtype: int32}
        layers:                       # named layers / stacks: shared weights
          encoder: [{Embedding: [10000, 64]}, {LSTM: [32]}]
        nodes:
          - {name: l, from: left, apply: encoder}
          - {name: merged, from: [l, r], apply: Concatenate}
        outputs:
          same: {from: merged, apply: {Dense: {units: 1, activation: sigmoid}}}
"""

from __future__ import annotations

import re
from typing import Any

from kspec.spec import ir
from kspec.spec._core import core
from kspec.spec.arithmetic import read_arithmetic
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.ir import KEY_SPANS_KEY, SPAN_KEY, Span
from kspec.spec.ops import MERGE_HELPERS
from kspec.spec.yaml_plain import read_plain

__all__ = ["load_yaml"]

# ---------------------------------------------------------------------------
# located data -> IR dictionaries (short-hands expanded)


def _sp(data: Any) -> Span | None:
    return data.get(SPAN_KEY) if isinstance(data, dict) else None


def _ks(data: Any, key: str) -> Span | None:
    if isinstance(data, dict):
        spans = data.get(KEY_SPANS_KEY, {})
        return spans.get(key) or data.get(SPAN_KEY)
    return None


def _keys(data: dict[str, Any]) -> list[str]:
    return [k for k in data if k not in (SPAN_KEY, KEY_SPANS_KEY)]


def _strip(data: Any) -> Any:
    """Located data -> plain data (spans dropped)."""
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in (SPAN_KEY, KEY_SPANS_KEY)}
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


_MODEL_KEYS = {"name", "kind", "structure", "inputs", "layers", "nodes", "outputs", "input"}
_STRUCTURE_KEYS = {"inputs", "outputs"}
_NODE_KEYS = {"name", "from", "apply"}
_STEP_FULL = {"layer", "ref", "args", "kwargs", "call"}
_INPUT_KEYS = {"shape", "dtype", "batch_size", "sparse"}
_VALUE_SUGAR = {"fn": "call"}


#: Numbers YAML 1.1 leaves as strings (``1e-4``: no dot before the exponent);
#: compiled (and cached by :mod:`re`) at the first string that needs it.
_EXPONENT = r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+"


def _float_text(value: Any) -> Any:
    """``value``, or the float it spells when YAML 1.1 left it a string (``1e-4``)."""
    return float(value) if isinstance(value, str) and re.fullmatch(_EXPONENT, value) else value


class _Normalizer:
    """Turns the YAML form's short-hands into IR dictionaries.

    Problems are collected in ``errors``; the result is still returned so
    that more than one problem can be reported."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[Diagnostic] = []
        self.named: set[str] = set()

    def error(self, message: str, span: Span | None, hint: str | None = None, code: str = "K102") -> None:
        self.errors.append(Diagnostic(code, message, span or Span(file=self.file), hint))

    def expect_keys(self, data: dict[str, Any], allowed: set[str], what: str) -> None:
        for key in _keys(data):
            if key not in allowed:
                self.error(
                    f"unknown field '{key}' in {what}",
                    _ks(data, "key:" + key),
                    did_you_mean(key, allowed) or f"allowed fields: {', '.join(sorted(allowed))}",
                )

    # -- spec ---------------------------------------------------------------

    def spec(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.error("a spec must be a mapping with a 'models' list", None)
            return {"models": []}
        self.expect_keys(data, {"models", "compile", "train", "params", "blocks", "uses"}, "the spec")
        models = data.get("models")
        if models is None:
            self.error("a spec needs a 'models' list", _sp(data))
            return {"models": []}
        if not isinstance(models, list):
            self.error("'models' must be a list of models", _ks(data, "models"))
            return {"models": []}
        for m in models:
            if isinstance(m, dict) and isinstance(m.get("name"), str):
                self.named.add(m["name"])
            if isinstance(m, dict) and isinstance(m.get("layers"), dict):
                self.named.update(_keys(m["layers"]))
        return {
            SPAN_KEY: _sp(data),
            "models": [self.model(m) for m in models],
            "compile": self.sections(data.get("compile"), "compile", _ks(data, "compile")),
            "train": self.sections(data.get("train"), "train", _ks(data, "train")),
            "params": self.params(data.get("params"), _ks(data, "params"), "params", spaces=True),
            "blocks": self.blocks(data.get("blocks"), _ks(data, "blocks")),
            "uses": self.uses(data.get("uses"), _ks(data, "uses")),
        }

    # -- the language's abstraction layer: params, blocks, uses ---------------

    def uses(self, data: Any, span: Span | None) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list) or not all(isinstance(u, str) for u in data):
            self.error("'uses' is a list of file names", span)
            return []
        return list(data)

    def params(self, data: Any, span: Span | None, what: str, spaces: bool = False) -> list[Any]:
        """File parameters (``spaces``: they may have a search space, ``in:``) or a block's."""
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error(f"'{what}' maps parameter names to {{type: ..., default: ...}}", span)
            return []
        out = []
        for name in _keys(data):
            body = data[name]
            if not isinstance(body, dict):
                body = {SPAN_KEY: _ks(data, name), "default": body}
            self.expect_keys(body, {"type", "default", "in"} if spaces else {"type", "default"}, "a parameter")
            param = {
                SPAN_KEY: _ks(data, "key:" + name),
                "name": name,
                "type": body.get("type"),
                "default": self.value(_float_text(body.get("default")) if body.get("type") == "float"
                                      else body.get("default")),
                "has_default": "default" in body,
            }
            if spaces and "in" in body:
                param["space"] = self.space(body["in"], _ks(body, "in"))
            out.append(param)
        return out

    def space(self, data: Any, span: Span | None) -> dict[str, Any] | None:
        """``in: [32, 64]``, ``in: {range: [16, 128, 16]}`` or ``in: {log: [0.0001, 0.01]}``."""
        form = "in: [32, 64, 128], in: {range: [16, 128, 16]} or in: {log: [0.0001, 0.01]}"
        if isinstance(data, list):
            if not all(x is None or isinstance(x, (bool, int, float, str)) for x in data):
                self.error("the choices of a search space are plain values", span,
                           "write numbers, strings, true/false or null")
                return None
            return {SPAN_KEY: span, "kind": "choice", "values": list(data)}
        keys = _keys(data) if isinstance(data, dict) else []
        if len(keys) != 1 or keys[0] not in ("range", "log"):
            self.error("a search space is a list of choices, {range: [...]} or {log: [...]}", span, form)
            return None
        kind = keys[0]
        bounds = data[kind]
        if isinstance(bounds, list):  # YAML 1.1 reads 1e-4 as a string; a bound is a number
            bounds = [_float_text(x) for x in bounds]
        if not isinstance(bounds, list) or len(bounds) not in (2, 3) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in bounds):
            step = "step" if kind == "range" else "factor"
            self.error(f"'{kind}' in a search space takes 2 or 3 numbers: [low, high] or [low, high, {step}]",
                       _ks(data, kind))
            return None
        return {SPAN_KEY: span, "kind": kind, "values": list(bounds)}

    def blocks(self, data: Any, span: Span | None) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error("'blocks' maps block names to {inputs, params, body, return}", span)
            return []
        out = []
        for name in _keys(data):
            body = data[name]
            if not isinstance(body, dict):
                self.error(
                    f"block '{name}' must be a mapping with 'inputs', 'params', 'body' and 'return'", _ks(data, name)
                )
                continue
            self.expect_keys(body, {"inputs", "params", "body", "return"}, "a block")
            returns = body.get("return", [])
            returns = returns if isinstance(returns, list) else [returns]
            out.append(
                {
                    SPAN_KEY: _ks(data, "key:" + name),
                    "name": name,
                    "inputs": _strip(body.get("inputs", [])),
                    "params": self.params(body.get("params"), _ks(body, "params"), "params"),
                    "body": self.block_body(body.get("body", []), _ks(body, "body")),
                    "returns": [self.return_expr(r, _ks(body, "return")) for r in returns],
                }
            )
        return out

    def block_body(self, data: Any, span: Span | None) -> list[Any]:
        if not isinstance(data, list):
            self.error("a block's 'body' is a list of nodes", span)
            return []
        out = []
        for item in data:
            if isinstance(item, dict) and "for" in item:
                self.expect_keys(item, {"for", "range", "in", "body"}, "a loop")
                bounds = item.get("range", [])
                loop = {
                    SPAN_KEY: _sp(item),
                    "kind": "for",
                    "var": item["for"],
                    "range": self.value(bounds if isinstance(bounds, list) else [bounds]),
                    "body": self.block_body(item.get("body", []), _ks(item, "body")),
                }
                if "in" in item:
                    loop["over"] = self.value(item["in"])
                out.append(loop)
            elif isinstance(item, dict) and "if" in item:
                self.expect_keys(item, {"if", "then", "else"}, "an 'if'")
                out.append(
                    {
                        SPAN_KEY: _sp(item),
                        "kind": "if",
                        "test": self.value(item["if"]),
                        "body": self.block_body(item.get("then", []), _ks(item, "then")),
                        "orelse": self.block_body(item.get("else", []), _ks(item, "else")),
                    }
                )
            else:
                out.append(self.node(item))
        return out

    def return_expr(self, data: Any, span: Span | None) -> Any:
        if isinstance(data, str):
            return {SPAN_KEY: span, "inputs": [data], "steps": []}
        if isinstance(data, dict):
            self.expect_keys(data, {"from", "apply"}, "a returned value")
            return self.expr(data)
        self.error("a block returns tensor names or {from, apply} expressions", span)
        return {"inputs": ["?"]}

    def sections(self, data: Any, what: str, span: Span | None) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error(f"'{what}' maps model names to their {what} settings", span)
            return []
        out = []
        for name in _keys(data):
            body = data[name]
            if not isinstance(body, dict):
                self.error(f"the {what} settings of '{name}' must be a mapping", _ks(data, name))
                continue
            out.append(
                {
                    SPAN_KEY: _ks(data, "key:" + name),
                    KEY_SPANS_KEY: dict(_sp_map(body)),
                    "model": name,
                    "settings": {k: self.value(body[k]) for k in _keys(body)},
                }
            )
        return out

    def model(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.error("a model must be a mapping with 'name' and 'inputs'/'outputs' or 'kind: sequential'", None)
            return data
        self.expect_keys(data, _MODEL_KEYS, "a model")
        kind = data.get("kind", "functional")
        out: dict[str, Any] = {SPAN_KEY: _sp(data), KEY_SPANS_KEY: data.get(KEY_SPANS_KEY, {}), "kind": kind}
        if "name" in data:
            out["name"] = data["name"]
        if kind == "sequential":
            for bad in ("inputs", "nodes", "outputs"):
                if bad in data:
                    self.error(f"a sequential model has no '{bad}'; use 'input' and 'layers'", _ks(data, "key:" + bad))
            if "structure" in data:
                self.error("a sequential model has one input and one output: it has no 'structure'",
                           _ks(data, "key:structure"))
            if data.get("input") is not None:
                out["input"] = self.input("input", data["input"], _ks(data, "input"))
            layers = data.get("layers", [])
            if not isinstance(layers, list):
                self.error("'layers' of a sequential model must be a list", _ks(data, "layers"))
                layers = []
            out["layers"] = [self.callee(x, _ks(data, "layers")) for x in layers]
            return out
        if kind != "functional":
            self.error(f"unknown model kind '{kind}'", _ks(data, "kind"), "use 'functional' or 'sequential'")
            return out
        if "input" in data:
            self.error("a functional model lists 'inputs'", _ks(data, "key:input"))
        if "structure" in data:
            out["structure"] = self.structure(data["structure"], _ks(data, "structure"))
        out["inputs"] = self.inputs(data.get("inputs", {}), _ks(data, "inputs"))
        out["layers"] = self.layer_defs(data.get("layers", {}), _ks(data, "layers"))
        nodes = data.get("nodes", [])
        if not isinstance(nodes, list):
            self.error("'nodes' must be a list", _ks(data, "nodes"))
            nodes = []
        out["nodes"] = [self.node(n) for n in nodes]
        out["outputs"] = self.outputs(data.get("outputs", {}), _ks(data, "outputs"))
        return out

    def structure(self, data: Any, span: Span | None) -> Any:
        """``structure: {inputs: dict, outputs: list}`` (pydantic checks the values)."""
        if not isinstance(data, dict):
            self.error("'structure' maps 'inputs' and/or 'outputs' to 'list' or 'dict'", span)
            return {}
        self.expect_keys(data, _STRUCTURE_KEYS, "the structure")
        return {k: v for k, v in data.items() if k in _STRUCTURE_KEYS | {SPAN_KEY, KEY_SPANS_KEY}}

    # -- inputs -------------------------------------------------------------

    def inputs(self, data: Any, span: Span | None) -> list[Any]:
        if isinstance(data, dict):
            return [self.input(k, data[k], _ks(data, k)) for k in _keys(data)]
        if isinstance(data, list):
            result = []
            for item in data:
                if isinstance(item, dict) and "name" in item:
                    rest = {k: v for k, v in item.items() if k != "name"}
                    result.append(self.input(item["name"], rest, _sp(item)))
                else:
                    self.error("an input in a list needs a 'name'", _sp(item) or span)
            return result
        self.error("'inputs' must map input names to shapes", span)
        return []

    def input(self, name: Any, data: Any, span: Span | None) -> Any:
        if isinstance(data, list) or data is None:
            return {SPAN_KEY: span, "name": name, "shape": self.value(data) if data is not None else []}
        if isinstance(data, dict):
            self.expect_keys(data, _INPUT_KEYS | {"name"}, "an input")
            out = {k: self.value(v) if k == "shape" else _strip(v) for k, v in data.items()
                   if k not in (SPAN_KEY, KEY_SPANS_KEY)}
            out.setdefault("name", name)
            out[SPAN_KEY] = _sp(data) or span
            out[KEY_SPANS_KEY] = data.get(KEY_SPANS_KEY, {})
            return out
        self.error("an input is a shape list or a mapping with 'shape' and 'dtype'", span)
        return {"name": name, "shape": []}

    # -- named layers -------------------------------------------------------

    def layer_defs(self, data: Any, span: Span | None) -> list[Any]:
        if not isinstance(data, dict):
            self.error("'layers' must map names to a layer or a list of layers", span)
            return []
        out = []
        for name in _keys(data):
            value = data[name]
            items = value if isinstance(value, list) else [value]
            stack = [self.callee(x, _ks(data, name)) for x in items]
            out.append({SPAN_KEY: _ks(data, "key:" + name), "name": name, "stack": stack})
        return out

    # -- nodes and outputs --------------------------------------------------

    def node(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.error("a node is a mapping with 'name', 'from' and 'apply'", None)
            return {}
        self.expect_keys(data, _NODE_KEYS, "a node")
        if "name" not in data:
            self.error("a node needs a 'name'", _sp(data))
        name = data.get("name")
        targets = name if isinstance(name, list) else [name]
        return {SPAN_KEY: _sp(data), "targets": targets, "value": self.expr(data)}

    def outputs(self, data: Any, span: Span | None) -> list[Any]:
        if isinstance(data, dict):
            result = []
            for name in _keys(data):
                value = data[name]
                if isinstance(value, str):
                    expr = {SPAN_KEY: _ks(data, name), "inputs": [value], "steps": []}
                elif isinstance(value, dict):
                    self.expect_keys(value, {"from", "apply"}, "an output")
                    expr = self.expr(value)
                else:
                    self.error("an output is a tensor name or a mapping with 'from' and 'apply'", _ks(data, name))
                    continue
                result.append({SPAN_KEY: _ks(data, "key:" + name), "name": name, "value": expr})
            return result
        self.error("'outputs' must map output names to tensors", span)
        return []

    def expr(self, data: dict[str, Any]) -> Any:
        src = data.get("from", [])
        inputs = src if isinstance(src, list) else [src]
        apply = data.get("apply", [])
        steps = apply if isinstance(apply, list) else [apply]
        return {
            SPAN_KEY: _sp(data),
            "inputs": inputs,
            "steps": [self.step(s, _ks(data, "apply")) for s in steps],
        }

    # -- layers -------------------------------------------------------------

    def step(self, data: Any, span: Span | None) -> Any:
        call_kwargs: dict[str, Any] = {}
        if isinstance(data, dict) and "call" in data:
            raw = data["call"]
            if not isinstance(raw, dict):
                self.error("'call' holds the call's keyword arguments as a mapping", _ks(data, "call"))
            else:
                call_kwargs = {k: self.call_arg(raw[k]) for k in _keys(raw)}
            data = {k: v for k, v in data.items() if k != "call"}
            data[KEY_SPANS_KEY] = {
                k: v for k, v in data.get(KEY_SPANS_KEY, {}).items() if k not in ("call", "key:call")
            }
        return {SPAN_KEY: _sp(data) or span, "layer": self.callee(data, span), "call_kwargs": call_kwargs}

    def call_arg(self, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": "ref", "name": data}
        if isinstance(data, list):
            return [self.call_arg(v) for v in data]
        return self.value(data)

    def callee(self, data: Any, span: Span | None) -> Any:
        if isinstance(data, str):
            if data in self.named:
                return {SPAN_KEY: span, "kind": "ref", "ref": data}
            return {SPAN_KEY: span, "kind": "layer", "type": MERGE_HELPERS.get(data, data)}
        if not isinstance(data, dict):
            self.error("a layer is a name, or a mapping such as {Dense: {units: 8}}", span)
            return {"kind": "layer", "type": "?"}
        keys = _keys(data)
        if "op" in keys:
            return self.op(data)
        if "ref" in keys:
            self.expect_keys(data, {"ref"}, "a layer reference")
            return {SPAN_KEY: _sp(data), "kind": "ref", "ref": data["ref"]}
        if "layer" in keys:
            self.expect_keys(data, {"layer", "args", "kwargs"}, "a layer")
            return {
                SPAN_KEY: _sp(data),
                KEY_SPANS_KEY: dict(_sp_map(data.get("kwargs"))),
                "kind": "layer",
                "type": data["layer"],
                "args": self.value(data.get("args", [])),
                "kwargs": self.value(data.get("kwargs", {})),
            }
        if len(keys) != 1:
            self.error(
                "a layer mapping has exactly one key, the layer type: {Dense: {units: 8}}",
                _sp(data),
                f"found keys: {', '.join(keys)}" if keys else None,
            )
            return {"kind": "layer", "type": "?"}
        type_ = keys[0]
        body = data[type_]
        out: dict[str, Any] = {SPAN_KEY: _ks(data, "key:" + type_), "kind": "layer",
                               "type": MERGE_HELPERS.get(type_, type_) if type_ not in self.named else type_}
        if body is None:
            return out
        if isinstance(body, list):
            out["args"] = self.value(body)
            return out
        if isinstance(body, dict):
            kwargs = {k: body[k] for k in _keys(body) if k != "args"}
            if "args" in body:
                args = body["args"]
                out["args"] = self.value(args if isinstance(args, list) else [args])
            out["kwargs"] = {k: self.value(v) for k, v in kwargs.items()}
            out[KEY_SPANS_KEY] = dict(_sp_map(body))
            return out
        out["args"] = [self.value(body)]
        return out

    def op(self, data: dict[str, Any]) -> Any:
        """``{op: add, args: [3.0], kwargs: {...}}``: a ``keras.ops`` operation."""
        self.expect_keys(data, {"op", "args", "kwargs"}, "an operation")
        fn = data.get("op")
        if isinstance(fn, str) and fn.startswith("ops."):
            fn = fn[4:]
        args = data.get("args", [])
        return {
            SPAN_KEY: _sp(data),
            KEY_SPANS_KEY: dict(_sp_map(data.get("kwargs"))),
            "kind": "op",
            "fn": fn,
            "args": self.value(args if isinstance(args, list) else [args]),
            "kwargs": self.value(data.get("kwargs", {})),
        }

    def value(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.value(v) for v in data]
        if isinstance(data, dict):
            keys = _keys(data)
            if keys == ["expr"]:
                return self.expression(data["expr"], _ks(data, "expr"))
            if keys == ["ref"] and isinstance(data["ref"], str):
                return {SPAN_KEY: _sp(data), "kind": "ref", "name": data["ref"]}
            if "op" in keys and "kind" not in keys:
                return self.op(data)
            if "kind" not in keys and "fn" in keys:
                self.expect_keys(data, {"fn", "args", "kwargs"}, "a call value")
                return {
                    "kind": "call",
                    "fn": data["fn"],
                    "args": self.value(data.get("args", [])),
                    "kwargs": self.value(data.get("kwargs", {})),
                }
            if "kind" in keys and data.get("kind") == "dict":  # a dict literal, its keys as written
                items = data.get("items", {})
                if isinstance(items, dict):  # not read as a value itself: ``{fn: f}`` there is no call
                    return {"kind": "dict", "items": {k: self.value(items[k]) for k in _keys(items)}}
                return {"kind": "dict", "items": self.value(items)}
            if "kind" in keys:
                return {k: self.value(data[k]) for k in keys}
            return {k: self.value(data[k]) for k in keys}
        return data

    def expression(self, text: Any, span: Span | None) -> Any:
        """``{expr: "4 * filters"}``: a value in .kspec syntax. Arithmetic on
        names and numbers is read without loading the .kspec front end."""
        if not isinstance(text, str):
            self.error("'expr' holds a .kspec expression as a string, e.g. {expr: 4 * filters}", span)
            return None
        value = read_arithmetic(text, (span or Span()).file)  # the file parse_expression names
        if value is not None:
            return value
        from kspec.spec.kspec_form import parse_expression

        try:
            return parse_expression(text, span)
        except KspecError as exc:
            self.errors += exc.diagnostics
            return None


def _sp_map(data: Any) -> dict[str, Span]:
    if isinstance(data, dict):
        return {k: v for k, v in data.get(KEY_SPANS_KEY, {}).items() if not k.startswith("key:")}
    return {}


# ---------------------------------------------------------------------------
# pydantic errors -> located diagnostics


def _locate(data: Any, loc: tuple[int | str, ...]) -> Span | None:
    """The span of the deepest located mapping along ``loc`` in ``data``."""
    best = _sp(data)
    node = data
    for part in loc:
        if isinstance(node, dict):
            if isinstance(part, str) and part in node:
                best = _ks(node, part) or best
                node = node[part]
            else:
                break
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            best = _sp(node) or best
        else:
            break
        if isinstance(node, dict) and node.get(SPAN_KEY) is not None:
            best = node[SPAN_KEY]
    return best


def _describe(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper() and "[" in p)]
    return ".".join(parts)


def _validation_diagnostics(exc: Any, data: Any, file: str) -> list[Diagnostic]:
    """Located diagnostics for pydantic-core's ``ValidationError`` ``exc``."""
    diags = []
    seen: set[tuple[object, ...]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and ("[" in p or p in ("function-after", "functional", "sequential")))
        )
        span = _locate(data, loc) or Span(file=file)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = _describe(loc)
        key = (span.line, span.column, msg)
        if key in seen:
            continue
        seen.add(key)
        text = f"{msg} (at '{where}')" if where else msg
        diags.append(Diagnostic("K102", text, span))
    return diags


def load_yaml(text: str, file: str = "<string>") -> ir.Spec:
    """Parse YAML text into a validated :class:`~kspec.spec.ir.Spec`.

    Raises :class:`KspecError` with located diagnostics on any problem."""
    raw = read_plain(text, file)
    if raw is None:
        from kspec.spec.yaml_read import read_located  # imports PyYAML

        raw = read_located(text, file)
    norm = _Normalizer(file)
    data = norm.spec(raw)
    if norm.errors:
        raise KspecError(norm.errors)
    try:
        return ir.Spec.model_validate(data)
    except core().ValidationError as exc:
        raise KspecError(_validation_diagnostics(exc, data, file)) from None
