"""The JSON Schema of the YAML form, for editors and validators (``kspec schema``).

The YAML form is not the IR written out: it has its own short-hands
(``inputs: {x: [16]}``, ``apply: {Dense: {units: 8}}``, ``compile: {model:
{...}}``), which :mod:`kspec.spec.yaml_form` rewrites into IR dictionaries.
So the schema mirrors that front end's structure, and takes its facts from
where kspec keeps them:

- the IR's documented classes (:mod:`kspec.spec.ir`) and the typed compile
  and train settings (:mod:`kspec.spec.settings`), through pydantic's own
  JSON Schema generator (:class:`YamlFormJsonSchema`): field types, bounds,
  defaults and docstrings;
- every layer of the catalogue with its keyword arguments, their defaults
  and which are required or positional (a layer kspec refuses, such as
  ``Lambda``, is left out); activation, initializer, regularizer and
  constraint names and calls; ``keras.ops`` names;
- the names kspec accepts for optimizers, losses, metrics and callbacks
  (:mod:`kspec.compiler.registry.settings`), with each class's arguments.

It is JSON Schema draft-07 (what the YAML language server and most editors
implement). What it cannot know is said in :data:`LIMITS`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from kspec.catalogue import Signature, catalogue
from kspec.compiler.calls import ValueRule, takes_any_keyword
from kspec.compiler.registry import WRAPPED_LAYER_KEYS, rule_for
from kspec.compiler.registry._base import COMMON_ARGS, REFERENCE_KEYS
from kspec.compiler.registry.settings import CALLBACKS, LOSSES, METRICS, OPTIMIZERS, call_kind
from kspec.compiler.sections import _EXPECTED as SETTING_FORMS
from kspec.spec import ir
from kspec.spec.ops import MERGE_HELPERS
from kspec.spec.settings import CompileSettings, TrainSettings

__all__ = ["DRAFT", "LIMITS", "NAMING", "YamlFormJsonSchema", "ir_json_schema", "schema_text", "yaml_form_schema"]

#: The JSON Schema dialect of the schema.
DRAFT = "http://json-schema.org/draft-07/schema#"

#: What ``kspec check`` finds that the schema cannot: it judges each file
#: alone, one value at a time.
LIMITS: tuple[str, ...] = (
    "names: undefined or duplicate tensors, layers, blocks and models, cycles, unused inputs",
    "shapes: tensors that do not fit the layer they are given to",
    "values that depend on other arguments (an argument given both positionally and by keyword, "
    "a range between two arguments, a checkpoint path for save_weights_only)",
    "parameter arithmetic ({expr: ...}): its syntax and its result",
    "the arguments of a block call, and of a layer in the {layer: T, args, kwargs} form",
    "losses, loss weights and metrics against the model's outputs",
)

#: The one convention the schema adds to the YAML form, so that a misspelt
#: Keras layer is caught: a capitalised name is a Keras layer.
NAMING = ("Blocks, named layers and models are expected to have names that start with a lower-case letter or '_' "
          "(a capitalised name is taken for a Keras layer); kspec itself accepts any name.")

#: Keys with a meaning of their own in a layer mapping (never a layer or block name).
_RESERVED = ("op", "ref", "layer", "call", "args", "kwargs")
#: A name that is not a Keras layer: a block, a named layer or stack, another
#: model of the spec, a merge helper (``add``), or a registered custom class
#: (``package>ClassName``). Keras layer names start with a capital letter,
#: so a capitalised name must be one of the catalogue's.
_OTHER_NAME = rf"^((?!({'|'.join(_RESERVED)})$)[a-z_][A-Za-z0-9_.]*|[^>\s]+>[^>\s]+)$"


#: A number YAML 1.1 reads as a string (``1e-4``), which kspec reads as a number.
_FLOAT_TEXT = r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def _with(schema: dict[str, Any], **keywords: Any) -> dict[str, Any]:
    """``schema`` with more keywords (a description, a default). Draft-07
    ignores every keyword beside a ``$ref``, so a reference is wrapped."""
    if "$ref" in schema:
        return {**keywords, "allOf": [schema]}
    return {**schema, **keywords}


def _or_expression(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or a parameter expression that block expansion computes."""
    return {"anyOf": [schema, _ref("expression")]}


def _doc(obj: object) -> str:
    """An object's docstring for an editor: reST literals as Markdown."""
    return inspect.cleandoc(obj.__doc__ or "").replace("``", "`")


def _first(text: str) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join(text.split("\n\n")[0].split())


# --------------------------------------------------------------------------
# pydantic's generator, adapted to the YAML form


class YamlFormJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema generator for IR and settings types as the YAML
    form writes them: a call (:class:`~kspec.spec.ir.Call`) is
    ``{fn: ..., args: [...], kwargs: {...}}``; a number, string or flag may
    also be a parameter expression (``{expr: ...}``); source spans (fields
    excluded from serialization) are left out, since no file writes them.

    ``kind`` (set in subclasses) names the catalogue kind whose names a
    string stands for (``"losses"``): its strings become those names, its
    calls those classes' constructors."""

    kind: ClassVar[str | None] = None

    def field_is_present(self, field: Any) -> bool:
        if field.get("serialization_exclude"):
            return False  # span, key_spans: where a node was read from, never written
        return super().field_is_present(field)

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        if schema["cls"] is ir.Call:
            return {_PLACEHOLDER: f"{self.kind}.call" if self.kind else "call"}
        return super().model_schema(schema)

    def dataclass_schema(self, schema: core_schema.DataclassSchema) -> JsonSchemaValue:
        if schema["cls"] is ir.Call:  # the same, should the IR become plain dataclasses
            return {_PLACEHOLDER: f"{self.kind}.call" if self.kind else "call"}
        return super().dataclass_schema(schema)

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        if self.kind:
            return {_PLACEHOLDER: f"{self.kind}.name"}
        return _or_parameter(super().str_schema(schema))

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        return _or_parameter(super().int_schema(schema))

    def float_schema(self, schema: core_schema.FloatSchema) -> JsonSchemaValue:
        return _or_parameter(super().float_schema(schema))

    def bool_schema(self, schema: core_schema.BoolSchema) -> JsonSchemaValue:
        return _or_parameter(super().bool_schema(schema))

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        return _or_parameter(super().literal_schema(schema))


#: Marks a reference to one of this module's definitions inside pydantic's
#: output (pydantic checks every ``$ref`` it writes against its own).
_PLACEHOLDER = "x-kspec-definition"


def _or_parameter(schema: JsonSchemaValue) -> JsonSchemaValue:
    """:func:`_or_expression` inside pydantic's output (a placeholder reference)."""
    return {"anyOf": [schema, {_PLACEHOLDER: "expression"}]}


def _generator(kind: str | None) -> type[YamlFormJsonSchema]:
    """The generator whose strings and calls stand for names of ``kind``."""
    if kind is None:
        return YamlFormJsonSchema
    return type(f"YamlFormJsonSchema_{kind}", (YamlFormJsonSchema,), {"kind": kind})


def _resolve(schema: Any, prefix: str) -> Any:
    """pydantic's output with its ``$defs`` references renamed under
    ``prefix``, placeholders turned into references and titles dropped
    (the descriptions say more)."""
    if isinstance(schema, list):
        return [_resolve(s, prefix) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if _PLACEHOLDER in schema:
        return _ref(schema[_PLACEHOLDER])
    out = {k: _resolve(v, prefix) for k, v in schema.items() if k not in ("$defs", "title")}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = f"#/definitions/{prefix}{ref[len('#/$defs/'):]}"
    return out


def _pydantic(tp: Any, kind: str | None, defs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The JSON Schema of a type as the YAML form writes it (definitions
    it needs are added to ``defs``, named under ``prefix``; one that is only
    a reference, as a call is, is replaced by that reference)."""
    raw = TypeAdapter(tp).json_schema(schema_generator=_generator(kind))
    local = raw.get("$defs", {})
    resolved = {name: _resolve(body, prefix) for name, body in local.items()}
    aliases = {f"#/definitions/{prefix}{n}": b["$ref"] for n, b in resolved.items() if set(b) == {"$ref"}}
    for name, body in resolved.items():
        if f"#/definitions/{prefix}{name}" not in aliases:
            defs[prefix + name] = _unalias(body, aliases)
    result: dict[str, Any] = _unalias(_resolve(raw, prefix), aliases)
    return result


def _unalias(schema: Any, aliases: Mapping[str, str]) -> Any:
    """``schema`` with references to alias definitions replaced by their targets."""
    if isinstance(schema, list):
        return [_unalias(s, aliases) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _unalias(v, aliases) for k, v in schema.items()}
    if out.get("$ref") in aliases:
        out["$ref"] = aliases[out["$ref"]]
    return out


def _field_types(cls: type[ir.Record]) -> dict[str, Any]:
    """A settings record's field types with their constraints (``ge=1``), for pydantic's generator."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: hints[name] for name in cls.model_fields}


# --------------------------------------------------------------------------
# Values


def _value_definitions() -> dict[str, Any]:
    """Argument values: plain data, parameter expressions, calls, tensors
    and operations, as :meth:`kspec.spec.yaml_form._Normalizer.value` reads them."""
    return {
        "expression": {
            "description": "A parameter expression in .kspec syntax, computed when blocks are expanded: "
                           "{expr: 4 * filters}, {expr: \"stage{i}\"}, {expr: x.shape[-1]}.",
            "type": "object",
            "properties": {"expr": {"type": "string", "description": "the expression, in .kspec syntax"}},
            "required": ["expr"],
            "additionalProperties": False,
        },
        "call": {
            "description": _first(_doc(ir.Call)).replace("`l2(0.01)`", "{fn: l2, args: [0.01]}"),
            "type": "object",
            "properties": {
                "fn": {"type": "string", "description": "what is called: a regularizer, initializer, constraint, "
                                                        "layer (inside a wrapper) or int/float/min/max/round/len"},
                "args": {"type": "array", "items": _ref("value"), "description": "positional arguments"},
                "kwargs": {"type": "object", "additionalProperties": _ref("value"),
                           "description": "keyword arguments"},
            },
            "required": ["fn"],
            "additionalProperties": False,
        },
        "tensor": {
            "description": _first(_doc(ir.Ref)) + " Written {ref: name} inside an operation's arguments.",
            "type": "object",
            "properties": {"ref": {"type": "string"}},
            "required": ["ref"],
            "additionalProperties": False,
        },
        "operation": {
            "description": "A keras.ops operation on tensors: {op: add, args: [{ref: y}]}. In a chain, the "
                           "chain's tensor is its first argument.",
            "type": "object",
            "properties": {
                "op": {"anyOf": [{"enum": sorted(catalogue().ops)}, {"type": "string", "pattern": r"^ops\."}],
                       "description": "the keras.ops function (ops.mean or mean)"},
                "args": {"type": "array", "items": _ref("value"), "description": "its arguments (tensors as "
                                                                                 "{ref: name})"},
                "kwargs": {"type": "object", "additionalProperties": _ref("value"),
                           "description": "its keyword arguments"},
            },
            "required": ["op"],
            "additionalProperties": False,
        },
        "mapping": {
            "description": "A mapping value (keys are strings). A mapping with a key 'fn' or 'op' is a call or "
                           "an operation; write a literal one as {kind: dict, items: {...}}.",
            "type": "object",
            "if": {"not": {"required": ["kind"]}},
            "then": {"not": {"anyOf": [{"required": ["fn"]}, {"required": ["op"]},
                                       {"required": ["expr"], "maxProperties": 1}]},
                     "additionalProperties": _ref("value")},
        },
        "value": {
            "description": "An argument value: a number, string, true/false, null, a list, a mapping, a call "
                           "{fn: ...}, a parameter expression {expr: ...}, a tensor {ref: ...} or an operation "
                           "{op: ...}.",
            "anyOf": [
                {"type": ["null", "boolean", "number", "string"]},
                {"type": "array", "items": _ref("value")},
                _ref("expression"), _ref("call"), _ref("tensor"), _ref("operation"), _ref("mapping"),
            ],
        },
    }


def _call_forms(named: list[tuple[str, Signature, str]]) -> list[dict[str, Any]]:
    """``{fn: name, args: [...], kwargs: {...}}`` forms for ``(name, its
    constructor, the constructor's label)`` triples: names that reach the
    same constructor (``GlorotNormal``, ``glorot_normal``) share one form."""
    groups: dict[str, tuple[list[str], Signature, str]] = {}
    for name, sig, label in named:
        groups.setdefault(label, ([], sig, label))[0].append(name)
    forms = []
    for names, sig, _ in groups.values():
        label = next((n for n in names if n[:1].isupper()), names[0])
        forms.append({
            "type": "object",
            "description": f"{' / '.join(names)}({', '.join(p.name for p in sig.params)})",
            "properties": {
                "fn": {"enum": names},
                "args": _positional(sig, label, layer=False),
                "kwargs": _keywords(sig, label, {}, layer=False),
            },
            "required": ["fn"],
            "additionalProperties": False,
        })
    return forms


def _function_calls(kind: str) -> list[dict[str, Any]]:
    """The call forms of the regularizer/initializer/constraint functions."""
    functions = sorted(catalogue().functions[kind].items())
    return _call_forms([(name, sig, repr(sig)) for name, sig in functions])


def _family_definitions() -> dict[str, Any]:
    """Values of arguments whose name says what they are (``activation``,
    ``*_initializer``, ``*_regularizer``, ``*_constraint``, wrapped layers)."""
    cat = catalogue()
    defs: dict[str, Any] = {
        "activation": {
            "description": "An activation: its name, a call or a configuration mapping, or null.",
            "anyOf": [{"enum": sorted(cat.activations)}, {"type": "null"}, _ref("expression"), _ref("call"),
                      _ref("mapping")],
        },
        "wrapped": {
            "description": "A layer given to a wrapper: {fn: LSTM, kwargs: {units: 8}}, or the name of a named "
                           "layer or another model of the spec.",
            "anyOf": [
                {"type": "object", "properties": {"fn": {"enum": _layer_names()},
                                                  "args": {"type": "array", "items": _ref("value")},
                                                  "kwargs": {"type": "object", "additionalProperties": _ref("value")}},
                 "required": ["fn"], "additionalProperties": False},
                {"type": "string"}, {"type": "null"}, _ref("expression"),
            ],
        },
        "wrapped_cells": {
            "description": "A recurrent cell, or a list of them: {fn: LSTMCell, kwargs: {units: 8}}.",
            "anyOf": [{"type": "array", "items": _ref("wrapped_cells")},
                      {"type": "object", "properties": {"fn": {"enum": _layer_names()},
                                                        "args": {"type": "array", "items": _ref("value")},
                                                        "kwargs": {"type": "object",
                                                                   "additionalProperties": _ref("value")}},
                       "required": ["fn"], "additionalProperties": False},
                      {"type": "null"}, _ref("expression")],
        },
    }
    for kind in ("regularizers", "initializers", "constraints"):
        what = kind[:-1]
        defs[what] = {
            "description": f"A{'n' if what[0] in 'aeiou' else ''} {what}: its name, a call such as "
                           f"{{fn: {sorted(cat.functions[kind])[0]}, ...}}, a configuration mapping, or null.",
            "anyOf": [{"enum": sorted(cat.identifiers[kind])}, {"type": "null"}, _ref("expression"),
                      *_function_calls(kind),
                      {"type": "object", "not": {"anyOf": [{"required": ["fn"]}, {"required": ["op"]},
                                                           {"required": ["expr"]}]}}],
        }
    return defs


# --------------------------------------------------------------------------
# Layers


@cache
def _layer_names() -> list[str]:
    """Every catalogue layer a spec may use (those kspec refuses left out)."""
    out = []
    for name in sorted(catalogue().layers):
        rule = rule_for(name)
        if rule is not None and rule.refused is not None:
            continue
        out.append(name)
    return out


def _choices(rule: ValueRule) -> dict[str, Any] | None:
    """The schema of a rule that is a plain choice of strings (and maybe
    null), in any case when the rule folds case; ``None`` for any other rule."""
    if not rule.choices or rule.ok_with is not None:
        return None
    others: tuple[Any, ...] = ("\x00", 1, 1.5, [], {}, True)
    try:
        if any(rule.accepts(v) for v in others) or not all(rule.accepts(c) for c in rule.choices):
            return None
        nullable = rule.accepts(None)
        folds = any(c.upper() != c and rule.accepts(c.upper()) for c in rule.choices)
    except Exception:  # a predicate that only takes some types: not a plain choice
        return None
    words: dict[str, Any] = {"enum": list(rule.choices)}
    if folds:  # JSON Schema patterns have no flags: each letter in both cases
        spelled = ("".join(f"[{ch.lower()}{ch.upper()}]" if ch.isalpha() else re.escape(ch) for ch in c)
                   for c in rule.choices)
        words = {"type": "string", "pattern": f"^({'|'.join(spelled)})$", "examples": list(rule.choices)}
    return {"anyOf": [words, {"type": "null"}, _ref("expression")] if nullable else [words, _ref("expression")]}


#: What an argument of each family takes, in words (for its description).
_FAMILY_WORDS = {
    "activation": "an activation name (relu) or call, or null",
    "regularizer": "a regularizer name (l2) or call ({fn: l2, args: [0.01]}), or null",
    "initializer": "an initializer name (glorot_uniform) or call ({fn: HeNormal, kwargs: {seed: 1}})",
    "constraint": "a constraint name (non_neg) or call ({fn: MaxNorm, args: [2.0]}), or null",
    "wrapped": "a layer ({fn: LSTM, kwargs: {units: 8}}), or the name of a named layer or a model",
    "wrapped_cells": "a recurrent cell ({fn: LSTMCell, kwargs: {units: 8}}) or a list of them",
}


def _family(key: str) -> str | None:
    """The family an argument belongs to by its name, if any."""
    if key in ("cell", "cells") or (key in WRAPPED_LAYER_KEYS and key not in REFERENCE_KEYS):
        return "wrapped_cells"
    if key in WRAPPED_LAYER_KEYS:
        return "wrapped"
    return next((f for f in ("activation", "regularizer", "initializer", "constraint") if key.endswith(f)), None)


def _argument(owner: str, key: str, param: Any | None, index: int | None, *, brief: bool = False,
              layer: bool = True) -> dict[str, Any]:
    """The schema of one argument of a layer (``layer``) or another call,
    by what its name says (``brief``: without its description and default,
    which the keyword form carries)."""
    schema: dict[str, Any]
    registered = rule_for(owner) if layer else None
    rules: dict[str, ValueRule] = {**COMMON_ARGS, **dict(registered.args)} if registered is not None else (
        dict(COMMON_ARGS) if layer else {})
    rule = rules.get(key)
    choices = _choices(rule) if rule is not None else None
    family = _family(key) if layer else None
    if family is not None:
        schema = _ref(family)
    elif choices is not None:
        schema = choices
    else:
        schema = _ref("value")
    if brief:
        return schema
    words = [_FAMILY_WORDS[family]] if family is not None else []
    if param is None:
        words.append("accepted by every layer" if layer else "accepted as a keyword")
    elif param.required:
        words.append("required")
    if index is not None:
        words.append(f"positional argument {index + 1}")
    if rule is not None:
        words.append(f"must be {rule.expect}")
    out = _with(schema, description=f"{owner}({key})" + (f": {'; '.join(words)}" if words else ""))
    if param is not None and not param.required:
        out["default"] = param.default
    return out


def _positional(sig: Signature, owner: str, *, layer: bool = True) -> dict[str, Any]:
    """The ``args`` list of a call: each item typed by its parameter."""
    params = {p.name: p for p in sig.params}
    items = [_argument(owner, name, params[name], i, brief=True, layer=layer) for i, name in enumerate(sig.positional)]
    schema: dict[str, Any] = {"type": "array",
                              "description": f"positional arguments: {', '.join(sig.positional) or 'none'}"}
    if items:
        schema["items"] = items
        schema["additionalItems"] = _ref("value") if sig.varargs else False
    elif sig.varargs:
        schema["items"] = _ref("value")
    else:
        schema["maxItems"] = 0
    return schema


def _keywords(sig: Signature, owner: str, extra: dict[str, Any], *, layer: bool = True) -> dict[str, Any]:
    """The keyword arguments of a call, as an object schema."""
    positional = sig.positional
    props: dict[str, Any] = dict(extra)
    for p in sig.params:
        props[p.name] = _argument(owner, p.name, p, positional.index(p.name) if p.positional else None, layer=layer)
    for name in sorted(sig.extra):
        props.setdefault(name, _argument(owner, name, None, None, layer=layer))
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if not takes_any_keyword(sig):
        schema["additionalProperties"] = False
    return schema


def _required(sig: Signature) -> tuple[int, list[str]]:
    """How many positional arguments a list of arguments needs, and the
    required parameters only a keyword can give."""
    need = 0
    keyword_only = []
    for p in sig.params:
        if not p.required:
            continue
        if p.positional:
            need = max(need, sig.positional.index(p.name) + 1)
        else:
            keyword_only.append(p.name)
    return need, keyword_only


def _layer_body(name: str, sig: Signature) -> dict[str, Any]:
    """What may follow a layer's name in ``{Name: ...}``: nothing, its
    positional arguments, one argument, or its keyword arguments (with
    ``args`` for the positional ones)."""
    positional = _ref(f"layer.{name}.args")
    need, keyword_only = _required(sig)
    args = {"description": f"{name}'s positional arguments ({', '.join(sig.positional) or 'none'})",
            "anyOf": [positional, {"type": ["string", "number", "boolean", "null"]}, _ref("expression")]}
    body = _keywords(sig, name, {"args": args})
    needs: list[dict[str, Any]] = []
    for p in sig.params:
        if not p.required:
            continue
        if p.positional:
            index = sig.positional.index(p.name)
            needs.append({"anyOf": [{"required": [p.name]},
                                    {"required": ["args"], "properties": {"args": {
                                        "anyOf": [{"type": "array", "minItems": index + 1},
                                                  {"not": {"type": "array"}} if index == 0 else {"not": {}}]}}}]})
        else:
            needs.append({"required": [p.name]})
    if needs:
        body["allOf"] = needs
    forms: list[dict[str, Any]] = [body]
    if not keyword_only:
        forms.append({"allOf": [positional], "minItems": need} if need else positional)
        if need <= 1 and (sig.positional or sig.varargs):
            forms.append({"type": ["string", "number", "boolean"]})
        if need == 0:
            forms.append({"type": "null"})
    required = [p.name for p in sig.params if p.required]
    what = f"needs {', '.join(required)}" if required else "every argument has a default"
    return {"description": f"{name}: {what}. A list gives positional arguments ({', '.join(sig.positional)}); "
                           "a mapping gives keyword arguments, and 'args' for positional ones.",
            "anyOf": forms}


def _layer_definitions() -> dict[str, Any]:
    """Every catalogue layer's arguments, and the forms a layer or a chain step takes."""
    cat = catalogue()
    defs: dict[str, Any] = {}
    bare = []
    for name in _layer_names():
        sig = cat.layers[name]
        defs[f"layer.{name}"] = _layer_body(name, sig)
        defs[f"layer.{name}.args"] = _positional(sig, name)
        need, keyword_only = _required(sig)
        if not need and not keyword_only:
            bare.append(name)
    other = {"description": "A block, a named layer or stack, another model of the spec, a merge helper, or a "
                            "registered custom layer (package>ClassName).",
             "anyOf": [{"type": "null"}, {"type": ["string", "number", "boolean"]}, _ref("expression"),
                       {"type": "array", "items": _ref("value")},
                       {"type": "object", "additionalProperties": _ref("value")}]}
    layer_props = {name: _ref(f"layer.{name}") for name in _layer_names()}
    defs["layer_name"] = {
        "description": "A layer without arguments (ReLU, Flatten), a merge helper (add, concatenate), a named "
                       "layer or stack, a block, or another model of the spec.",
        "anyOf": [{"enum": [*bare, *MERGE_HELPERS]}, {"type": "string", "pattern": _OTHER_NAME}],
    }
    defs["layer_mapping"] = {
        "description": "A layer with its arguments: {Dense: {units: 8, activation: relu}}, {Dense: [8]}, "
                       "{Dropout: 0.5}; or a block call {residual: {args: [64], stride: 2}}.",
        "type": "object",
        "properties": {**layer_props, "call": _ref("call_arguments")},
        "patternProperties": {_OTHER_NAME: other},
        "additionalProperties": False,
        "minProperties": 1,
    }
    defs["call_arguments"] = {
        "description": _first(_doc(ir.Step)) + " Tensors are written by name: {initial_state: [h, c]}.",
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "array"}, _ref("value")]},
    }
    full: dict[str, Any] = {
        "description": "A layer in full: {layer: Dense, args: [8], kwargs: {activation: relu}}.",
        "type": "object",
        "properties": {"layer": {"anyOf": [{"enum": _layer_names()}, {"type": "string", "pattern": _OTHER_NAME}]},
                       "args": {"type": "array", "items": _ref("value")},
                       "kwargs": {"type": "object", "additionalProperties": _ref("value")}},
        "required": ["layer"],
    }
    ref: dict[str, Any] = {"description": _first(_doc(ir.LayerRef)) + " {ref: encoder}.",
           "type": "object", "properties": {"ref": {"type": "string"}}, "required": ["ref"]}
    defs["layer"] = {
        "description": "A layer: a name (ReLU, a named layer, a block, a model), {Dense: {units: 8}}, "
                       "{layer: ..., args: ..., kwargs: ...}, {ref: name} or an operation {op: ...}.",
        "anyOf": [_ref("layer_name"),
                  {"allOf": [_ref("layer_mapping"), {"maxProperties": 1, "not": {"required": ["call"]}}]},
                  {**full, "additionalProperties": False},
                  {**ref, "additionalProperties": False},
                  _ref("operation")],
    }
    with_call = {"call": _ref("call_arguments")}
    operation: dict[str, Any] = _value_definitions()["operation"]
    defs["step"] = {
        "description": "One application in a chain: a layer, plus 'call' for the call's own keyword "
                       "arguments ({LSTM: [8], call: {initial_state: [h, c]}}).",
        "anyOf": [_ref("layer_name"),
                  {"allOf": [_ref("layer_mapping"), {"if": {"required": ["call"]}, "then": {"maxProperties": 2,
                                                                                          "minProperties": 2},
                                                     "else": {"maxProperties": 1}}]},
                  {**full, "properties": {**full["properties"], **with_call}, "additionalProperties": False},
                  {**ref, "properties": {**ref["properties"], **with_call}, "additionalProperties": False},
                  {**operation, "properties": {**operation["properties"], **with_call}}],
    }
    return defs


# --------------------------------------------------------------------------
# Models, blocks and parameters


def _names(description: str) -> dict[str, Any]:
    """One tensor name or a list of them."""
    return {"description": description,
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}


def _model_definitions(defs: dict[str, Any]) -> dict[str, Any]:
    """Models, their inputs, nodes and outputs, as :mod:`kspec.spec.yaml_form` reads them."""
    structure = _pydantic(ir.Structure, None, defs, "ir.")
    input_ir = _pydantic(ir.Input, None, defs, "ir.")
    input_props = dict(input_ir["properties"])
    input_props["name"] = {"type": "string", "description": "the input's name (by default, its key; 'input' "
                                                            "for a sequential model)"}
    input_props["shape"] = _with(_ref("shape"), description="the shape without the batch dimension")
    apply = {"description": "the layers applied in turn: one step or a list of steps",
             "anyOf": [_ref("step"), {"type": "array", "items": _ref("step")}]}
    source = _names("the tensors fed to the first step (one name, or a list of names)")
    expr_props = {"from": source, "apply": apply}
    one_source = {"anyOf": [{"required": ["apply"]}, {"required": ["from"], "properties": {"from": {
        "anyOf": [{"type": "string"}, {"type": "array", "maxItems": 1}]}}}]}
    return {
        "dimension": {
            "description": "A dimension: a positive size, null (unknown), or a parameter expression.",
            "anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}, _ref("expression"), _ref("call")],
        },
        "shape": {"description": "A shape without the batch dimension, e.g. [28, 28, 1] or [null, 64].",
                  "type": "array", "items": _ref("dimension")},
        "input": {
            "description": _doc(ir.Input) + "\n\nWritten as its shape ([28, 28, 1]) or as a mapping "
                                            "{shape: [100], dtype: int32}.",
            "anyOf": [_ref("shape"), {"type": "null"},
                      {"type": "object", "properties": input_props, "required": ["shape"],
                       "additionalProperties": False}],
        },
        "structure": _with(structure, description=_doc(ir.Structure)),
        "node": {
            "description": _doc(ir.Assign) + "\n\n{name: h, from: x, apply: {Dense: [8]}}",
            "type": "object",
            "properties": {"name": _names("the name of the result, or a list of names to destructure several "
                                          "results"), **expr_props},
            "required": ["name"],
            "additionalProperties": False,
            **one_source,
        },
        "output": {
            "description": _doc(ir.Output) + "\n\nA tensor name, or {from: ..., apply: ...}.",
            "anyOf": [{"type": "string"},
                      {"type": "object", "properties": expr_props, "additionalProperties": False, **one_source}],
        },
        "functional_model": {
            "description": _doc(ir.FunctionalModel),
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "the model's name (a Keras model name)"},
                "kind": {"const": "functional", "description": "'functional' (the default) or 'sequential'"},
                "structure": _ref("structure"),
                "inputs": {"description": "the inputs: names mapped to shapes or {shape, dtype, ...}",
                           "anyOf": [{"type": "object", "additionalProperties": _ref("input")},
                                     {"type": "array", "items": {"type": "object", "required": ["name"],
                                                                 "properties": input_props,
                                                                 "additionalProperties": False}}]},
                "layers": {"description": _first(_doc(ir.LayerDef)) + " Names mapped to a layer or a list of "
                                                                      "layers.",
                           "type": "object",
                           "additionalProperties": {"anyOf": [_ref("layer"), {"type": "array", "items": _ref("layer"),
                                                                              "minItems": 1}]}},
                "nodes": {"description": "the model's statements, in any order", "type": "array",
                          "items": _ref("node")},
                "outputs": {"description": "the outputs: names mapped to tensors or expressions", "type": "object",
                            "additionalProperties": _ref("output")},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        "sequential_model": {
            "description": _doc(ir.SequentialModel),
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "the model's name (a Keras model name)"},
                "kind": {"const": "sequential"},
                "input": {"description": "the input: a shape, or {name, shape, dtype, ...}",
                          "anyOf": [_ref("shape"), {"type": "null"},
                                    {"type": "object", "properties": input_props, "required": ["shape"],
                                     "additionalProperties": False}]},
                "layers": {"description": "the layers, in order", "type": "array", "items": _ref("layer")},
            },
            "required": ["name", "kind"],
            "additionalProperties": False,
        },
        "model": {
            "description": "A model: functional (inputs, nodes, outputs) or, with kind: sequential, a stack of "
                           "layers.",
            "if": {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "sequential"}}},
            "then": _ref("sequential_model"),
            "else": _ref("functional_model"),
        },
    }


def _block_definitions(defs: dict[str, Any]) -> dict[str, Any]:
    """Parameters (with search spaces at file level), blocks and their statements."""
    param_ir = _pydantic(ir.Param, None, defs, "ir.")
    param_kind = {"enum": ["int", "float", "bool", "str", "any", None],
                  "description": _first(_doc(ir.Param).split("\n\n")[1]) if "\n\n" in _doc(ir.Param) else "",
                  "default": param_ir["properties"]["type"].get("default")}
    number = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _FLOAT_TEXT}]}
    bounds = {"type": "array", "items": number, "minItems": 2, "maxItems": 3}
    return {
        "param": {
            "description": _doc(ir.Param) + "\n\nA default value, or {type: int, default: 64}.",
            "anyOf": [
                {"type": "object", "properties": {"type": param_kind, "default": _ref("value")},
                 "additionalProperties": False},
                {"allOf": [{"not": {"type": "object"}}, _ref("value")]},
            ],
        },
        "params": {"description": "parameters: names mapped to {type, default} or to a default value",
                   "type": "object", "additionalProperties": _ref("param")},
        "file_param": {
            "description": _doc(ir.Param) + "\n\nA default value, or {type: int, default: 64, in: [32, 64]}.",
            "anyOf": [
                {"type": "object", "properties": {"type": param_kind, "default": _ref("value"),
                                                  "in": _ref("search_space")},
                 "additionalProperties": False},
                {"allOf": [{"not": {"type": "object"}}, _ref("value")]},
            ],
        },
        "file_params": {"description": "file-level parameters: names mapped to {type, default, in} or to a "
                                       "default value",
                        "type": "object", "additionalProperties": _ref("file_param")},
        "search_space": {
            "description": "The values kspec tune tries for a parameter: a list of choices, {range: [low, high, "
                           "step]} or {log: [low, high, factor]} (both ends included).",
            "anyOf": [
                {"type": "array", "items": {"type": ["null", "boolean", "number", "string"]}},
                {"type": "object", "properties": {"range": bounds}, "required": ["range"],
                 "additionalProperties": False},
                {"type": "object", "properties": {"log": bounds}, "required": ["log"],
                 "additionalProperties": False},
            ],
        },
        "statement": {
            "description": "A statement of a block: a node {name, from, apply}, a loop {for, range or in, body} "
                           "or a choice {if, then, else}.",
            "if": {"type": "object", "required": ["for"]},
            "then": _ref("for"),
            "else": {"if": {"type": "object", "required": ["if"]}, "then": _ref("if"), "else": _ref("node")},
        },
        "for": {
            "description": _doc(ir.For),
            "type": "object",
            "properties": {
                "for": {"type": "string", "description": "the loop variable"},
                "range": {"description": "range(start, stop, step) bounds: one to three values",
                          "anyOf": [{"type": "array", "items": _ref("value"), "minItems": 1, "maxItems": 3},
                                    {"allOf": [{"not": {"type": "array"}}, _ref("value")]}]},
                "in": _with(_ref("value"), description="a list (or parameter) to loop over"),
                "body": {"type": "array", "items": _ref("statement")},
            },
            "required": ["for"],
            "additionalProperties": False,
            "oneOf": [{"required": ["range"]}, {"required": ["in"]}],
        },
        "if": {
            "description": _doc(ir.If),
            "type": "object",
            "properties": {"if": _with(_ref("value"), description="the test (a parameter expression)"),
                           "then": {"type": "array", "items": _ref("statement")},
                           "else": {"type": "array", "items": _ref("statement")}},
            "required": ["if"],
            "additionalProperties": False,
        },
        "block": {
            "description": _doc(ir.Block),
            "type": "object",
            "properties": {
                "inputs": {"type": "array", "items": {"type": "string"}, "description": "its tensor parameters"},
                "params": _ref("params"),
                "body": {"type": "array", "items": _ref("statement"), "description": "its statements, in order"},
                "return": {"description": "what it returns: tensor names or {from, apply} expressions",
                           "anyOf": [_ref("output"), {"type": "array", "items": _ref("output"), "minItems": 1}]},
            },
            "required": ["return"],
            "additionalProperties": False,
        },
    }


# --------------------------------------------------------------------------
# compile and train sections


#: The registry's names of each kind of call, and the settings that take them.
_SETTING_KINDS: dict[str, tuple[str, frozenset[str] | tuple[str, ...]]] = {
    "optimizer": ("optimizers", tuple(name for cls in OPTIMIZERS for name in (cls, cls.lower()))),
    "loss": ("losses", LOSSES),
    "metrics": ("metrics", METRICS),
    "weighted_metrics": ("metrics", METRICS),
    "callbacks": ("callbacks", CALLBACKS),
}


def _kind_definitions(kind: str, names: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    """``{kind}.name``: the names a spec may write; ``{kind}.call``: a call
    of each class, with its constructor's arguments."""
    entry = call_kind(kind)
    named = []
    for name in sorted(n for n in entry.names if n in names):
        sig = entry.signature(name)
        if sig is not None:
            named.append((name, sig, entry.names[name] or name))
    calls = _call_forms(named)
    return {
        f"{kind}.name": {"enum": sorted(names), "description": f"one of kspec's {kind} names"},
        f"{kind}.call": {"description": f"a call of one of the {kind}: {{fn: name, args: [...], kwargs: {{...}}}}",
                         "anyOf": [*calls, _ref("expression")]},
    }


def _settings(cls: type[CompileSettings] | type[TrainSettings], defs: dict[str, Any]) -> dict[str, Any]:
    """A section's settings as the YAML form writes them, from the typed
    settings record and what each setting takes."""
    props: dict[str, Any] = {}
    types = _field_types(cls)
    for name, field in cls.model_fields.items():
        kind = _SETTING_KINDS.get(name, (None, ()))[0]
        schema = _pydantic(types[name], kind, defs, f"{cls.__name__}.")
        words = SETTING_FORMS.get(name)
        out = _with(schema, description=words[0].upper() + words[1:] + "." if words else name)
        default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
        if default is not dataclasses.MISSING:
            with contextlib.suppress(TypeError):  # a default with no JSON form is not shown
                out["default"] = json.loads(json.dumps(default))
        props[name] = out
    return {"description": _doc(cls), "type": "object", "properties": props, "additionalProperties": False}


def _section_definitions(defs: dict[str, Any]) -> dict[str, Any]:
    """The compile and train settings, with the names and calls each kind takes."""
    out: dict[str, Any] = {}
    for kind, names in {kind: names for kind, names in _SETTING_KINDS.values()}.items():
        out.update(_kind_definitions(kind, names))
    out["compile_settings"] = _settings(CompileSettings, defs)
    out["train_settings"] = _settings(TrainSettings, defs)
    return out


# --------------------------------------------------------------------------
# The whole schema


#: Definitions that described properties refer to: their own words are a
#: ``$comment``, since an editor shows the innermost description on hover
#: and the property's ("Dense(units): required ...") says more.
_SHARED = ("value", "activation", "regularizer", "initializer", "constraint", "wrapped", "wrapped_cells")


def yaml_form_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of the YAML form of a spec."""
    defs: dict[str, Any] = {}
    defs.update(_value_definitions())
    defs.update(_family_definitions())
    defs.update(_layer_definitions())
    defs.update(_model_definitions(defs))
    defs.update(_block_definitions(defs))
    defs.update(_section_definitions(defs))
    for name, body in defs.items():
        if name in _SHARED or name.endswith((".name", ".call")):
            body["$comment"] = body.pop("description")
    spec = _doc(ir.Spec)
    return {
        "$schema": DRAFT,
        "title": "kspec spec (YAML form)",
        "description": f"{spec}\n\nLayers and their arguments are those of Keras {catalogue().keras_version}. "
                       f"{NAMING} kspec check also judges what a schema cannot: " + "; ".join(LIMITS) + ".",
        "type": "object",
        "properties": {
            "models": {"description": "the models of the spec", "type": "array", "items": _ref("model")},
            "compile": {"description": "how each model is compiled: model names mapped to compile settings",
                        "type": "object", "additionalProperties": _ref("compile_settings")},
            "train": {"description": "how each model is trained: model names mapped to train settings",
                      "type": "object", "additionalProperties": _ref("train_settings")},
            "params": _with(_ref("file_params"), description="file-level parameters (-D NAME=VALUE overrides "
                                                             "them; 'in' gives a search space for kspec tune)"),
            "blocks": {"description": "parameterised subgraphs: names mapped to {inputs, params, body, return}",
                       "type": "object", "additionalProperties": _ref("block")},
            "uses": {"description": "files whose blocks this spec uses", "type": "array",
                     "items": {"type": "string"}},
        },
        "required": ["models"],
        "additionalProperties": False,
        "definitions": defs,
    }


def schema_text() -> str:
    """The schema as ``kspec schema`` prints it (and the repository keeps it)."""
    return json.dumps(yaml_form_schema(), indent=2, ensure_ascii=False) + "\n"


def ir_json_schema() -> dict[str, Any]:
    """The JSON Schema of the IR itself (:class:`~kspec.spec.ir.Spec` as
    pydantic validates it, not the YAML form), for tools that exchange the
    IR as JSON. ``Spec.model_json_schema()`` cannot build it: a node's
    source span is a plain dataclass with no JSON form; this generator
    leaves spans out, as serialization does."""
    return TypeAdapter(ir.Spec).json_schema(schema_generator=_IRJsonSchema)


class _IRJsonSchema(GenerateJsonSchema):
    """pydantic's generator, with source spans left out."""

    def field_is_present(self, field: Any) -> bool:
        return not field.get("serialization_exclude") and super().field_is_present(field)
