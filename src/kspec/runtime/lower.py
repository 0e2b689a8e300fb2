"""Lowering: checked IR -> Keras 3 models (Functional API or Sequential).

Every layer's arguments are checked against its real constructor before it
is built; anything Keras still rejects while building or calling a layer is
caught and reported at the spec location of that layer.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache, partial
from typing import Any

from kspec.compiler.graph import model_order, tensor_order
from kspec.compiler.naming import LayerNames, is_custom_layer, name_functional, name_sequential, snake
from kspec.runtime._quiet import import_keras
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.ir import Span

__all__ = [
    "LAYER_BASE_KWARGS",
    "clean_keras_message",
    "constructor_keywords",
    "keywords_taken_from",
    "layer_classes",
    "lower_model",
    "lower_spec",
]

_WRAPPED_LAYER_KEYS = ("layer", "backward_layer", "cell", "cells")


def clean_keras_message(exc: BaseException) -> str:
    """The useful first part of a Keras/TensorFlow exception message."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # Keras puts ANSI bold around the real message
    text = text.split("Arguments received by", 1)[0]
    # Keras wraps errors raised in a layer's call() as "Exception encountered
    # when calling X.call().\n\n<the real message>": drop the wrapper first.
    text = re.sub(r"^Exception encountered when calling [^\n]*\n*", "", text).strip()
    text = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    text = " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__
    if len(text) > 400:
        text = text[:397] + "..."
    return text


@lru_cache(maxsize=1)
def layer_classes() -> dict[str, type]:
    """Every public ``keras.layers`` class, by name."""
    keras = import_keras()
    out: dict[str, type] = {}
    for name in dir(keras.layers):
        obj = getattr(keras.layers, name)
        if name.startswith("_") or not inspect.isclass(obj):
            continue
        if issubclass(obj, keras.layers.Layer):
            out[name] = obj
    return out


#: Keywords ``keras.layers.Layer.__init__`` takes through ``**kwargs``.
LAYER_BASE_KWARGS = ("input_shape", "input_dim", "batch_size", "batch_input_shape")


@cache
def _init_params(cls: type) -> tuple[inspect.Signature, frozenset[str]]:
    """The constructor signature and every keyword it accepts."""
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own constructor
    return sig, constructor_keywords(cls)


def constructor_keywords(cls: type) -> frozenset[str]:
    """Every keyword a layer class's constructor accepts, following
    ``**kwargs`` up the class hierarchy to ``keras.layers.Layer``, including
    the legacy keywords a constructor takes out of ``**kwargs`` itself
    (``LeakyReLU(alpha=...)``, ``Embedding(input_length=...)``). The layer
    catalogue (scripts/gen_catalogue.py) is generated with this too."""
    keras = import_keras()
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            s = inspect.signature(init)
        except (TypeError, ValueError):  # pragma: no cover - builtins
            break
        accepted |= {p.name for p in s.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        var_keyword = next((p.name for p in s.parameters.values() if p.kind == p.VAR_KEYWORD), None)
        if var_keyword is None:
            break
        accepted |= keywords_taken_from(init, var_keyword)
        if klass is keras.layers.Layer:
            accepted |= set(LAYER_BASE_KWARGS)
            break
    accepted.discard("self")
    return frozenset(accepted)


def keywords_taken_from(function: Any, var_keyword: str) -> set[str]:
    """Names ``function`` reads out of its ``**var_keyword`` dict with a
    constant key: ``kwargs.pop("alpha")``, ``kwargs.get("x")``,
    ``kwargs["x"]``, ``"x" in kwargs``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):  # pragma: no cover - no source available
        return set()
    names: set[str] = set()

    def is_kwargs(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == var_keyword

    for node in ast.walk(tree):
        key: ast.AST | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_kwargs(node.func.value) \
                and node.func.attr in ("pop", "get") and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and is_kwargs(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In) \
                and is_kwargs(node.comparators[0]):
            key = node.left
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            names.add(key.value)
    return names


def _takes_list(layer: Any) -> bool:
    """Whether several positional tensors go to ``layer`` as one list
    (merge layers, ``Attention``, models) rather than as separate args."""
    try:
        params = [p for p in inspect.signature(layer.call).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):  # pragma: no cover
        return True
    return not params or params[0].name == "inputs"


@dataclass
class _Lowerer:
    spec: ir.Spec
    diags: list[Diagnostic] = field(default_factory=list)
    built: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keras = import_keras()
        self.models = {m.name: m for m in self.spec.models}

    # -- errors ---------------------------------------------------------------

    def fail(self, code: str, message: str, span: Span | None, hint: str | None = None) -> KspecError:
        return KspecError([*self.diags, Diagnostic(code, message, span, hint)])

    # -- values ---------------------------------------------------------------

    def value(self, value: Any, key: str, owner: str, span: Span | None) -> Any:
        if isinstance(value, ir.Call):
            return self.call_value(value, key, owner, span)
        if isinstance(value, ir.Ref):
            raise self.fail(
                "K302",
                f"tensor '{value.name}' cannot be a layer argument ('{key}')",
                value.span or span,
                "tensors go in call arguments: Layer(...)(x, key=tensor)",
            )
        if isinstance(value, (ir.Var, ir.BinOp, ir.UnaryOp, ir.Cond, ir.Format)):
            raise self.fail("K209", f"unresolved parameter expression in '{key}'", value.span or span)
        if isinstance(value, list):
            return [self.value(v, key, owner, span) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, key, owner, span) for k, v in value.items()}
        return value

    def call_value(self, call: ir.Call, key: str, owner: str, span: Span | None) -> Any:
        keras = self.keras
        where = call.span or span
        layers = layer_classes()
        modules: list[tuple[str, Any]]
        if key.endswith("regularizer"):
            modules = [("regularizer", keras.regularizers)]
        elif key.endswith("initializer"):
            modules = [("initializer", keras.initializers)]
        elif key.endswith("constraint"):
            modules = [("constraint", keras.constraints)]
        elif key in _WRAPPED_LAYER_KEYS or call.fn in layers:
            modules = [("layer", None)]
        else:
            modules = [
                ("layer", None),
                ("regularizer", keras.regularizers),
                ("initializer", keras.initializers),
                ("constraint", keras.constraints),
            ]
        for what, module in modules:
            if what == "layer":
                if call.fn in layers:
                    inner = ir.LayerCall(
                        type=call.fn, args=call.args, kwargs=call.kwargs, span=where, key_spans=call.key_spans
                    )
                    return self.make_layer(inner, self.fresh_inner_name(owner, call))
                continue
            fn = getattr(module, call.fn, None)
            if fn is not None and callable(fn) and not call.fn.startswith("_"):
                args = [self.value(a, key, owner, where) for a in call.args]
                kwargs = {k: self.value(v, key, owner, where) for k, v in call.kwargs.items()}
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:  # Keras validates arguments with many exception types
                    raise self.fail(
                        "K302", f"invalid {what} {call.fn}(...): {clean_keras_message(exc)}", where
                    ) from None
        if call.fn in dir(keras.activations):
            raise self.fail(
                "K304",
                f"activation '{call.fn}' takes no arguments here",
                where,
                f'write activation="{call.fn}", or use an activation layer such as LeakyReLU(...)',
            )
        pool: set[str] = set()
        for _what, module in modules:
            pool |= set(layers) if module is None else {n for n in dir(module) if not n.startswith("_")}
        kind = modules[0][0] if len(modules) == 1 else "function"
        raise self.fail("K304", f"unknown {kind} '{call.fn}' in '{key}'", where, did_you_mean(call.fn, pool))

    def fresh_inner_name(self, owner: str, call: ir.Call) -> str:
        explicit = call.kwargs.get("name")
        return explicit if isinstance(explicit, str) else f"{owner}_{snake(call.fn)}"

    # -- layers ---------------------------------------------------------------

    def layer_class(self, call: ir.LayerCall) -> type:
        if is_custom_layer(call.type):
            custom = self.keras.saving.get_registered_object(call.type)
            if not (inspect.isclass(custom) and issubclass(custom, self.keras.layers.Layer)):
                raise self.fail(
                    "K203",
                    f"custom layer '{call.type}' is not registered with Keras",
                    call.span,
                    "register the class with keras.saving.register_keras_serializable in a module, "
                    "and name that module with --plugin (or import it before kspec.build)",
                )
            return custom
        classes = layer_classes()
        cls = classes.get(call.type)
        if cls is None:
            hint = did_you_mean(call.type, [*classes, *self.models])
            raise self.fail("K203", f"unknown layer '{call.type}'", call.span, hint)
        if call.type == "Lambda":
            raise self.fail(
                "K210",
                "Lambda layers are not allowed: a spec never runs Python code",
                call.span,
                "use a built-in layer, or register a custom layer class",
            )
        return cls

    def check_args(self, cls: type, call: ir.LayerCall, args: list[Any], kwargs: dict[str, Any]) -> None:
        sig, accepted = _init_params(cls)
        diags: list[Diagnostic] = []
        for key in call.kwargs:
            if key not in accepted:
                diags.append(
                    Diagnostic(
                        "K301", f"{call.type} has no argument '{key}'", call.at(key), did_you_mean(key, accepted)
                    )
                )
        if not diags:
            try:
                sig.bind(None, *args, **kwargs)
            except TypeError as exc:
                msg = str(exc)
                m = re.search(r"missing a required argument: '(\w+)'", msg)
                if m:
                    diags.append(Diagnostic("K303", f"{call.type} needs argument '{m.group(1)}'", call.span))
                elif "too many positional" in msg:
                    positional = [
                        p.name
                        for p in sig.parameters.values()
                        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
                    ]
                    diags.append(
                        Diagnostic(
                            "K301",
                            f"{call.type} takes at most {len(positional)} positional argument"
                            f"{'s' if len(positional) != 1 else ''} ({', '.join(positional)}), got {len(args)}",
                            call.span,
                        )
                    )
                else:
                    m = re.search(r"multiple values for argument '(\w+)'", msg)
                    name = m.group(1) if m else "?"
                    diags.append(Diagnostic("K301", f"{call.type}: argument '{name}' is given twice", call.at(name)))
        if diags:
            raise KspecError([*self.diags, *diags])

    def make_layer(self, call: ir.LayerCall, name: str) -> Any:
        cls = self.layer_class(call)
        args = [self.value(a, f"#{i}", name, call.span) for i, a in enumerate(call.args)]
        kwargs = {k: self.value(v, k, name, call.at(k)) for k, v in call.kwargs.items()}
        self.check_args(cls, call, args, kwargs)
        kwargs["name"] = name
        try:
            return cls(*args, **kwargs)
        except Exception as exc:  # Keras raises ValueError, TypeError, ...
            message = clean_keras_message(exc)
            span = call.span
            for key in call.kwargs:
                if re.search(rf"\b{re.escape(key)}\b", message):
                    span = call.at(key)
                    break
            raise self.fail("K302", f"invalid arguments for {call.type}: {message}", span) from None

    def model_ref(self, ref: ir.LayerRef) -> Any:
        model = self.built.get(ref.ref)
        if model is None:  # pragma: no cover - graph checks and model_order prevent this
            raise self.fail("K208", f"undefined layer or model '{ref.ref}'", ref.span)
        return model

    # -- application -----------------------------------------------------------

    def apply(
        self,
        layer: Any,
        label: str,
        inputs: list[Any],
        call_kwargs: dict[str, Any],
        span: Span | None,
        shapes: Callable[[], str],
    ) -> Any:
        try:
            if len(inputs) == 1:
                return layer(inputs[0], **call_kwargs)
            if not inputs:
                return layer(**call_kwargs)
            if _takes_list(layer):
                return layer(list(inputs), **call_kwargs)
            return layer(*inputs, **call_kwargs)
        except KspecError:
            raise
        except Exception as exc:
            raise self.fail(
                "K401", f"{label} cannot be applied to {shapes()}: {clean_keras_message(exc)}", span
            ) from None

    # -- models ---------------------------------------------------------------

    def build(self, target: str | None = None) -> dict[str, Any]:
        """Build ``target`` and the models it uses (every model when None)."""
        order, diags = model_order(self.spec, target)
        if diags:
            raise KspecError(diags)
        for name in order:
            m = self.models[name]
            self.built[name] = self.functional(m) if isinstance(m, ir.FunctionalModel) else self.sequential(m)
        return self.built

    def make_input(self, inp: ir.Input) -> Any:
        try:
            return self.keras.Input(
                shape=tuple(inp.shape),
                dtype=inp.dtype,
                name=inp.name,
                batch_size=inp.batch_size,
                sparse=inp.sparse or None,
            )
        except Exception as exc:
            raise self.fail("K302", f"invalid input '{inp.name}': {clean_keras_message(exc)}", inp.span) from None

    def functional(self, model: ir.FunctionalModel) -> Any:
        keras = self.keras
        names: LayerNames = name_functional(model, set(self.models))
        tensors: dict[str, Any] = {i.name: self.make_input(i) for i in model.inputs}

        stacks: dict[str, list[Any]] = {}
        for i, d in enumerate(model.layers):
            stack = []
            for j, c in enumerate(d.stack):
                if isinstance(c, ir.LayerRef):
                    if c.ref in stacks:
                        stack.extend(stacks[c.ref])
                    else:
                        stack.append(self.model_ref(c))
                else:
                    stack.append(self.make_layer(c, names.names[("def", i, j)]))
            stacks[d.name] = stack

        statements: list[ir.Assign | ir.Output] = [*model.nodes, *model.outputs]
        position = {id(s): k for k, s in enumerate(statements)}
        outputs: dict[str, Any] = {}
        for st in tensor_order(model):
            k = position[id(st)]
            expr = st.value
            current = [tensors[n] for n in expr.inputs]
            label = "this expression"
            for j, step in enumerate(expr.steps):
                call_kwargs = {key: self.call_arg(v, tensors, step.span) for key, v in step.call_kwargs.items()}
                if isinstance(step.layer, ir.LayerRef):
                    ref = step.layer.ref
                    layers = stacks[ref] if ref in stacks else [self.model_ref(step.layer)]
                    label = f"'{ref}'"
                else:
                    layers = [self.make_layer(step.layer, names.names[("stmt", k, j)])]
                    label = step.layer.type
                for n, layer in enumerate(layers):
                    kw = call_kwargs if n == 0 else {}
                    got = current
                    result = self.apply(layer, label, got, kw, step.span or expr.span, partial(_shapes, got))
                    current = list(result) if isinstance(result, (list, tuple)) else [result]
            if isinstance(st, ir.Assign):
                if len(st.targets) != len(current):
                    if len(st.targets) == 1:
                        raise self.fail(
                            "K206",
                            f"{label} gives {len(current)} tensors; name each of them: "
                            f"{', '.join(f'{st.targets[0]}{i + 1}' for i in range(len(current)))} = ...",
                            st.span,
                        )
                    n = len(current)
                    raise self.fail(
                        "K206",
                        f"{label} gives {n} tensor{'s' if n != 1 else ''}, but "
                        f"{len(st.targets)} names are given ({', '.join(st.targets)})",
                        st.span,
                        "give one name per result",
                    )
                for t, tensor in zip(st.targets, current, strict=True):
                    tensors[t] = tensor
            else:
                if len(current) != 1:
                    raise self.fail(
                        "K206",
                        f"output '{st.name}' must be one tensor, got {len(current)}",
                        st.span,
                        "destructure the layer's results first, then output one of them",
                    )
                out = current[0]
                ident = names.identity.get(k - len(model.nodes))
                if ident is not None:
                    out = keras.layers.Identity(name=ident)(out)
                tensors[st.name] = out
                outputs[st.name] = out
        ins = [tensors[i.name] for i in model.inputs]
        outs = [outputs[o.name] for o in model.outputs]
        try:
            return keras.Model(
                inputs=ins[0] if len(ins) == 1 else ins,
                outputs=outs[0] if len(outs) == 1 else outs,
                name=model.name,
            )
        except Exception as exc:
            raise self.fail(
                "K402", f"model '{model.name}' cannot be built: {clean_keras_message(exc)}", model.span
            ) from None

    def call_arg(self, value: Any, tensors: dict[str, Any], span: Span | None) -> Any:
        if isinstance(value, ir.Ref):
            return tensors[value.name]
        if isinstance(value, list):
            return [self.call_arg(v, tensors, span) for v in value]
        return self.value(value, "call", "call", span)

    def sequential(self, model: ir.SequentialModel) -> Any:
        keras = self.keras
        names = name_sequential(model)
        assert model.input is not None  # check_graph guarantees it
        inp = self.make_input(model.input)
        seq = keras.Sequential(name=model.name)
        seq.add(inp)
        for j, c in enumerate(model.layers):
            layer = self.model_ref(c) if isinstance(c, ir.LayerRef) else self.make_layer(c, names.names[("seq", j)])
            label = f"'{c.ref}'" if isinstance(c, ir.LayerRef) else c.type
            try:
                seq.add(layer)
            except KspecError:
                raise
            except Exception as exc:
                shape = _shapes([seq.outputs[0]]) if seq.layers and seq.built else "its input"
                raise self.fail(
                    "K401", f"{label} cannot be applied to {shape}: {clean_keras_message(exc)}", c.span
                ) from None
        return seq


def _shapes(tensors: list[Any]) -> str:
    def one(t: Any) -> str:
        shape = getattr(t, "shape", None)
        if shape is None:
            return "?"
        return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"

    return " and ".join(one(t) for t in tensors) if tensors else "no tensors"


def lower_spec(spec: ir.Spec) -> dict[str, Any]:
    """Every model of a checked spec, built as Keras models, by name."""
    return _Lowerer(spec).build()


def lower_model(spec: ir.Spec, name: str | None = None) -> Any:
    """One model of a checked spec (the last one when ``name`` is None),
    with every model it uses."""
    target = spec.model(name).name
    return _Lowerer(spec).build(target)[target]
