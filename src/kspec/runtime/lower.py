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

from kspec.compiler.naming import is_custom_layer, name_functional, snake
from kspec.compiler.registry import WRAPPED_LAYER_KEYS as _WRAPPED_LAYER_KEYS
from kspec.compiler.registry import rule_for, wrapped_references
from kspec.compiler.walk import Application, Model, ModelVisitor, Operand, Statement, Walked, walk_models
from kspec.runtime._quiet import import_keras
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.ir import Span
from kspec.spec.source import confined_path

__all__ = [
    "LAYER_BASE_KWARGS",
    "clean_keras_message",
    "constructor_keywords",
    "keywords_taken_from",
    "layer_classes",
    "layer_signature",
    "lower_model",
    "lower_spec",
    "make_layer",
]


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


#: Packages of layer classes Keras ships outside ``keras.layers`` and
#: deserializes by their module (``LayerScale`` of ConvNeXt): the package a
#: spec names them by (``keras.applications::LayerScale``) -> Keras's modules.
SHIPPED_PACKAGES = {"keras.applications": "keras.src.applications."}


def shipped_layer_class(type_: str) -> type | None:
    """The class of a layer Keras itself ships in one of
    :data:`SHIPPED_PACKAGES` (``keras.applications>LayerScale``), or
    ``None``: only a ``keras.layers.Layer`` subclass defined in Keras's own
    modules, never anything else a name could reach."""
    import sys

    package, _, cls_name = type_.partition(">")
    prefix = SHIPPED_PACKAGES.get(package)
    if prefix is None or not cls_name.isidentifier():
        return None
    keras = import_keras()
    getattr(keras, package.split(".")[1], None)  # imports the package's modules
    for mod_name, mod in sorted(sys.modules.items()):
        if not mod_name.startswith(prefix) or mod is None:
            continue
        obj = getattr(mod, cls_name, None)
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and obj.__module__ == mod_name:
            return obj
    return None


#: Keywords ``keras.layers.Layer.__init__`` takes through ``**kwargs``.
LAYER_BASE_KWARGS = ("input_shape", "input_dim", "batch_size", "batch_input_shape")


@cache
def layer_signature(cls: type) -> tuple[inspect.Signature, frozenset[str]]:
    """A layer class's constructor signature, and every keyword it accepts
    (:func:`constructor_keywords`): what the lowering checks a layer's
    arguments against, read from the installed Keras (or custom class)."""
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own constructor
    return sig, constructor_keywords(cls)


def constructor_keywords(cls: type) -> frozenset[str]:
    """Every keyword a layer class's constructor accepts, following
    ``**kwargs`` up the class hierarchy to ``keras.layers.Layer``, including
    the legacy keywords a constructor takes out of ``**kwargs`` itself
    (``LeakyReLU(alpha=...)``, ``Embedding(input_length=...)``).
    ``scripts/gen_catalogue.py`` applies the same rule to record the layer
    catalogue; its test compares the two through the shipped catalogue."""
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


def make_layer(call: ir.LayerCall, name: str, objects: dict[str, Any] | None = None) -> Any:
    """One Keras layer built from an IR layer call and named ``name``, with
    the checks the lowering applies (arguments against the constructor,
    nested calls, Keras's own refusal as a located diagnostic). ``objects``:
    the layers and models a wrapper may name (``TimeDistributed(frame_cnn)``)."""
    lowerer = _Lowerer(ir.Spec())
    lowerer.built.update(objects or {})
    return lowerer.make_layer(call, name)


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
        #: The functional model being built (a wrapper names its named layers).
        self.current: _FunctionalBuild | None = None

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
            custom = self.keras.saving.get_registered_object(call.type) or shipped_layer_class(call.type)
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
        rule = rule_for(call.type)
        if rule is not None and rule.refused is not None:
            raise self.fail("K210", rule.refused[0], call.span, rule.refused[1])
        return cls

    def check_args(self, cls: type, call: ir.LayerCall, args: list[Any], kwargs: dict[str, Any]) -> None:
        sig, accepted = layer_signature(cls)
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

    def confine_paths(self, call: ir.LayerCall, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Arguments that name a file (a vocabulary) are read relative to
        the spec's directory, inside it (or ``--allow-dir``), and only when
        they name a regular file: rewritten in place to that file's path."""
        rule = rule_for(call.type)
        if rule is None or not rule.paths:
            return
        positional = inspect.signature(layer_classes()[call.type].__init__).parameters  # type: ignore[misc]
        order = [p for p in positional if p != "self"]
        for key in rule.paths:
            where: tuple[list[Any] | dict[str, Any], Any] | None = None
            if isinstance(kwargs.get(key), str):
                where = (kwargs, key)
            elif key in order and order.index(key) < len(args) and isinstance(args[order.index(key)], str):
                where = (args, order.index(key))
            if where is None:
                continue
            holder, slot = where
            value = holder[slot]
            try:
                path = confined_path(value, call.span)
                if not path.is_file():
                    raise ValueError(f"'{value}' is not a regular file")
            except (ValueError, OSError) as exc:
                raise self.fail("K217", f"{call.type}: {exc}", call.at(key) if key in call.kwargs else call.span,
                                "keep the file beside the spec (or below it), or allow a directory with "
                                "--allow-dir DIR") from None
            holder[slot] = str(path)

    def make_layer(self, call: ir.LayerCall, name: str) -> Any:
        cls = self.layer_class(call)
        args = [self.value(a, f"#{i}", name, call.span) for i, a in enumerate(call.args)]
        kwargs = {k: self.value(v, k, name, call.at(k)) for k, v in call.kwargs.items()}
        self.wrap_references(cls, call, args, kwargs)
        self.check_args(cls, call, args, kwargs)
        self.confine_paths(call, args, kwargs)
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

    def wrap_references(self, cls: type, call: ir.LayerCall, args: list[Any], kwargs: dict[str, Any]) -> None:
        """A wrapper given a name (``TimeDistributed(frame_cnn)``) gets the
        very layer object that name stands for, as Keras code passes it: the
        named layer of this model, or the model built for it; its weights are
        shared with every other use. Rewritten in place."""
        refs = wrapped_references(call)
        if not refs:
            return
        order = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]  # type: ignore[misc]
        for key, ref in refs:
            obj = self.reference(ref, call.at(key) if key in call.kwargs else call.span)
            if key in kwargs:
                kwargs[key] = obj
            elif key in order and order.index(key) < len(args):
                args[order.index(key)] = obj

    def reference(self, ref: str, span: Span | None) -> Any:
        """The layer object a wrapper's name stands for."""
        current = self.current
        if current is not None:
            obj = current.named_layer(ref, span)
            if obj is not None:
                return obj
        model = self.built.get(ref)
        if model is None:
            raise self.fail("K208", f"undefined layer or model '{ref}'", span,
                            did_you_mean(ref, [*self.built, *(current.defs if current is not None else ())]))
        return model

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

    # -- operations -------------------------------------------------------------

    def operation(self, op: ir.Op, name: str, args: list[Any], kwargs: dict[str, Any], at: Application) -> list[Any]:
        """``keras.ops.<fn>`` on Keras tensors, exactly as Python code calls
        it (``x + y`` is ``ops.add(x, y)``, what ``KerasTensor.__add__``
        builds); its operation layer is named ``name``."""
        fn = getattr(self.keras.ops, op.fn, None)
        if fn is None or op.fn.startswith("_"):
            raise self.fail("K203", f"unknown operation 'ops.{op.fn}'", at.span,
                            did_you_mean(op.fn, [n for n in dir(self.keras.ops) if not n.startswith("_")]))
        tensors: list[Any] = []
        call_args = [self.op_value(a, tensors) for a in args]
        if op.fn == "get_item" and len(call_args) == 2 and isinstance(call_args[1], list):
            call_args[1] = tuple(call_args[1])  # x[:, 0]: the key is a tuple, as Python passes it
        call_kwargs = {k: self.op_value(v, tensors) for k, v in kwargs.items()}
        try:
            result = fn(*call_args, **call_kwargs)
        except KspecError:
            raise
        except Exception as exc:
            raise self.fail("K401", f"ops.{op.fn} cannot be applied to {_shapes(tensors)}: "
                            f"{clean_keras_message(exc)}", at.span) from None
        results = list(result) if isinstance(result, (list, tuple)) else [result]
        for n, tensor in enumerate(results):
            history = getattr(tensor, "_keras_history", None)
            if history is not None and history[0] is not None:
                history[0].name = name if n == 0 else f"{name}_{n}"
        return results

    def op_value(self, value: Any, tensors: list[Any]) -> Any:
        """An operation's argument as Python passes it: tensors, slices, ``...``."""
        if isinstance(value, Operand):
            tensors.append(value.tensor)
            return value.tensor
        if isinstance(value, ir.Slice):
            return slice(value.start, value.stop, value.step)
        if isinstance(value, ir.EllipsisValue):
            return Ellipsis
        if isinstance(value, list):
            return [self.op_value(v, tensors) for v in value]
        if isinstance(value, dict):
            return {k: self.op_value(v, tensors) for k, v in value.items()}
        return self.value(value, "call", "call", None)

    # -- models ---------------------------------------------------------------

    def build(self, target: str | None = None) -> dict[str, Any]:
        """Build ``target`` and the models it uses (every model when None)."""
        diags = walk_models(self.spec, self.visitor, self.built, target)
        if diags:
            raise KspecError(diags)
        return self.built

    def visitor(self, model: Model) -> ModelVisitor[Any, Any, Any]:
        """Lowering's side of the walk of ``model`` (see :mod:`kspec.compiler.walk`)."""
        if isinstance(model, ir.FunctionalModel):
            self.current = _FunctionalBuild(self, model)
            return self.current
        assert model.input is not None  # check_graph guarantees it
        self.current = None
        return _SequentialBuild(self, model)

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


class _ModelBuild:
    """What lowering does the same way in every model kind, as one side of
    the walk (:class:`kspec.compiler.walk.ModelVisitor`): layers are Keras
    layers, built from the spec; the first mistake stops lowering."""

    def __init__(self, lowerer: _Lowerer) -> None:
        self.lowerer = lowerer

    def new_layer(self, call: ir.LayerCall, name: str, *, named: bool) -> Any:
        return self.lowerer.make_layer(call, name)

    def model_ref(self, ref: ir.LayerRef) -> Any:
        return self.lowerer.model_ref(ref)

    def call_constant(self, value: Any, span: Span | None) -> Any:
        return self.lowerer.value(value, "call", "call", span)

    def mismatch(self, statement: Statement, problem: Diagnostic, got: list[Any]) -> list[Any]:
        raise KspecError([*self.lowerer.diags, problem])

    def missing(self, name: str) -> Any:  # pragma: no cover - graph checks and count checks leave no name unbound
        raise self.lowerer.fail("K201", f"undefined tensor '{name}'", None)


class _FunctionalBuild(_ModelBuild):
    """A functional model: tensors are Keras tensors."""

    def __init__(self, lowerer: _Lowerer, model: ir.FunctionalModel) -> None:
        super().__init__(lowerer)
        self.model = model
        self.defs = {d.name: (i, d) for i, d in enumerate(model.layers)}
        self.objects: dict[int, Any] = {}  # id() of a named layer's call -> its layer object
        self.building: set[str] = set()

    def input(self, inp: ir.Input, index: int) -> Any:
        return self.lowerer.make_input(inp)

    def new_layer(self, call: ir.LayerCall, name: str, *, named: bool) -> Any:
        """A layer; a named layer is built once, when it is first needed
        (defined, or wrapped by a layer defined before it)."""
        if not named:
            return super().new_layer(call, name, named=named)
        if id(call) not in self.objects:
            self.objects[id(call)] = super().new_layer(call, name, named=named)
        return self.objects[id(call)]

    def named_layer(self, ref: str, span: Span | None) -> Any:
        """The layer object of the one-layer named layer ``ref``, or ``None``
        when ``ref`` is no named layer of this model."""
        if ref not in self.defs:
            return None
        i, d = self.defs[ref]
        inner = d.stack[0]
        if isinstance(inner, ir.LayerRef):
            return self.lowerer.reference(inner.ref, span) if inner.ref != ref else None
        if ref in self.building:
            raise self.lowerer.fail("K204", f"named layer '{ref}' wraps itself", span)
        self.building.add(ref)
        try:
            names = name_functional(self.model, set(self.lowerer.models))
            return self.new_layer(inner, names.names[("def", i, 0)], named=True)
        finally:
            self.building.discard(ref)

    def apply(self, layer: Any, inputs: list[Any], call_kwargs: dict[str, Any], at: Application) -> list[Any]:
        sub = self.lowerer.models.get(at.callee.ref) if isinstance(at.callee, ir.LayerRef) else None
        if isinstance(sub, ir.FunctionalModel) and sub.structure.inputs == "dict" and len(inputs) > 1:
            # a model with dict inputs is called with a dict, as Keras asks
            keyed = dict(zip([i.name for i in sub.inputs], inputs, strict=False))
            result = self.lowerer.apply(layer, at.label, [keyed], call_kwargs, at.span, partial(_shapes, inputs))
        else:
            result = self.lowerer.apply(layer, at.label, inputs, call_kwargs, at.span, partial(_shapes, inputs))
        if isinstance(result, dict):  # a model with dict outputs: its outputs in their written order
            return list(result.values())
        return list(result) if isinstance(result, (list, tuple)) else [result]

    def identity(self, name: str, tensor: Any, output: ir.Output, sources: tuple[str, ...]) -> Any:
        return self.lowerer.keras.layers.Identity(name=name)(tensor)

    def operation(self, op: ir.Op, name: str, args: list[Any], kwargs: dict[str, Any], at: Application) -> list[Any]:
        return self.lowerer.operation(op, name, args, kwargs, at)

    def finish(self, walked: Walked[Any]) -> Any:
        ins, outs = walked.inputs, walked.outputs
        try:
            return self.lowerer.keras.Model(
                inputs=_structured(self.model.structure.inputs, [i.name for i in self.model.inputs], ins),
                outputs=_structured(self.model.structure.outputs, [o.name for o in self.model.outputs], outs),
                name=self.model.name,
            )
        except Exception as exc:
            raise self.lowerer.fail(
                "K402", f"model '{self.model.name}' cannot be built: {clean_keras_message(exc)}", self.model.span
            ) from None


def _structured(kind: ir.StructureKind | None, names: list[str], tensors: list[Any]) -> Any:
    """Inputs or outputs as ``keras.Model`` takes them: a dict keyed by
    their names, a list, or (by default) one tensor when there is one."""
    if kind == "dict":
        return dict(zip(names, tensors, strict=True))
    if kind == "list":
        return list(tensors)
    return tensors[0] if len(tensors) == 1 else tensors


class _SequentialBuild(_ModelBuild):
    """A sequential model: the one tensor is the ``keras.Sequential`` being
    built, and applying a layer adds it."""

    def __init__(self, lowerer: _Lowerer, model: ir.SequentialModel) -> None:
        super().__init__(lowerer)
        self.model = model

    def input(self, inp: ir.Input, index: int) -> Any:
        tensor = self.lowerer.make_input(inp)
        seq = self.lowerer.keras.Sequential(name=self.model.name)
        seq.add(tensor)
        return seq

    def apply(self, layer: Any, inputs: list[Any], call_kwargs: dict[str, Any], at: Application) -> list[Any]:
        seq = inputs[0]
        try:
            seq.add(layer)
        except KspecError:
            raise
        except Exception as exc:
            shape = _shapes([seq.outputs[0]]) if seq.layers and seq.built else "its input"
            raise self.lowerer.fail(
                "K401", f"{at.label} cannot be applied to {shape}: {clean_keras_message(exc)}", at.span
            ) from None
        return [seq]

    def identity(self, name: str, tensor: Any, output: ir.Output, sources: tuple[str, ...]) -> Any:
        raise AssertionError("a sequential model has no outputs to name")  # pragma: no cover

    def operation(self, op: ir.Op, name: str, args: list[Any], kwargs: dict[str, Any], at: Application) -> list[Any]:
        raise AssertionError("a sequential model has no operations")  # pragma: no cover

    def finish(self, walked: Walked[Any]) -> Any:
        return walked.outputs[0]


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
