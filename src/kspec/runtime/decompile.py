"""Decompiling: any Keras model back into a short, readable kspec IR.

The inverse of :mod:`kspec.runtime.lower`. It reads the model's own
serialized configuration (``model.get_config()``), the public, documented
form Keras saves, and rebuilds the spec:

- each layer is written by its class name with only the constructor
  arguments that differ from the defaults (each value is compared with the
  configuration of a layer built from the required arguments alone), and
  every layer written is checked: built back from the IR, its configuration
  must equal the original's (names aside);
- straight runs of single-use layers become one chain; a layer applied
  several times becomes a named layer (one set of weights); a nested model
  becomes a separate model of the spec used by name (a shared sub-model);
  ``keras.Sequential`` comes back as a sequential model;
- layers with several results are destructured; tensors passed as call
  arguments (``initial_state=``, attention ``value=``) become references;
- the last layer of each statement keeps its Keras name through the target
  or output name (the lowering names that layer after it); names of layers
  inside chains are dropped unless ``keep_names`` asks for them;
- a compiled model's optimizer, loss and metrics become a ``compile``
  section.

Lambda layers and custom layers are refused with a diagnostic naming the
layer, unless ``allow_custom`` asks to refer to registered custom layers.
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kspec.compiler.graph import ordered_by_position
from kspec.compiler.naming import LayerNames, NameAllocator, name_functional, name_sequential, snake
from kspec.runtime._quiet import import_keras
from kspec.runtime.lower import (
    SHIPPED_PACKAGES,
    clean_keras_message,
    layer_classes,
    layer_signature,
    make_layer,
    shipped_layer_class,
)
from kspec.runtime.model_files import model_file_problem
from kspec.spec import ir
from kspec.spec.diagnostics import Diagnostic, KspecError
from kspec.spec.ir import Span

__all__ = ["Decompiled", "decompile", "decompile_model", "load_keras_model", "rebuild", "transfer_weights"]

_MODEL_CLASSES = ("Functional", "Sequential", "Model")
#: Keys whose tuples may be written as one number when all parts are equal.
_COLLAPSIBLE = {"kernel_size", "strides", "pool_size", "dilation_rate", "size", "padding", "cropping",
                "depth_multiplier"}
_SERIALIZED_MODULES = {"keras.initializers": "initializers", "keras.regularizers": "regularizers",
                       "keras.constraints": "constraints"}

#: A layer's place in the IR, as :mod:`kspec.compiler.naming` keys it.
LayerKey = tuple[object, ...]


@dataclass
class Decompiled:
    """The result of decompiling: the spec, and for each of its models the
    original Keras layer behind each inline layer (keyed like
    :class:`kspec.compiler.naming.LayerNames`), used to carry weights over."""

    spec: ir.Spec
    originals: dict[str, dict[LayerKey, Any]] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    #: The spec before repeated structure was written as blocks and loops
    #: (``originals`` is keyed by its statements).
    flat: ir.Spec | None = None


def _span(where: str) -> Span:
    return Span(file=where, line=1, column=1)


def _sanitize(name: str) -> str:
    out = re.sub(r"\W", "_", name)
    if not out or out[0].isdigit():
        out = f"t_{out}"
    return out


class _Names(NameAllocator):
    """Unique names within one model, made valid spec names first."""

    def fresh(self, base: str, first_suffix: int = 2) -> str:
        return super().fresh(_sanitize(base), first_suffix)


def _plain(value: Any) -> Any:
    """JSON-normal form of a config value (tuples become lists), without the
    ``build_config`` Keras adds to the layers nested in built wrappers."""
    return _drop_build(json.loads(json.dumps(value, default=str)))


def _drop_build(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_build(v) for k, v in value.items() if k != "build_config"}
    if isinstance(value, list):
        return [_drop_build(v) for v in value]
    return value


def _strip_names(value: Any) -> Any:
    """A config with layer names removed (names are compared separately)."""
    if isinstance(value, dict):
        is_layer = "trainable" in value and "name" in value
        return {k: _strip_names(v) for k, v in value.items() if not (is_layer and k == "name")}
    if isinstance(value, list):
        return [_strip_names(v) for v in value]
    return value


def _unit_axis(config: Any) -> Any:
    """``axis: [-1]`` (what a built normalization layer reports) as ``-1``."""
    if isinstance(config, dict):
        return {k: (v[0] if k == "axis" and isinstance(v, list) and len(v) == 1 else _unit_axis(v))
                for k, v in config.items()}
    return config


def _call_default(layer: Any, param: str) -> Any:
    """The default of ``param`` in ``layer.call``, or a marker if none."""
    try:
        p = inspect.signature(layer.call).parameters.get(param)
    except (TypeError, ValueError, AttributeError):
        return _NO_DEFAULT
    return _NO_DEFAULT if p is None or p.default is p.empty or p.default is None else p.default


_NO_DEFAULT = object()


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _history(value: dict[str, Any]) -> tuple[str, int, int]:
    name, node, index = value["config"]["keras_history"]
    return str(name), int(node), int(index)


def _required(cls: type) -> list[str]:
    """Constructor parameters without defaults, in order."""
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
    return [p.name for p in params if p.name != "self" and p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


@dataclass
class _App:
    """One application of a layer in a functional model."""

    layer: str
    node: int
    inputs: list[tuple[str, int, int]]
    kwargs: dict[str, Any]
    n_out: int
    #: An operation (``keras.ops``): its function, the arguments after the
    #: chain's tensor (tensors still serialized) and its keyword arguments.
    op: tuple[str, list[Any], dict[str, Any]] | None = None


class _Decompiler:
    def __init__(self, keep_names: bool, allow_custom: bool, where: str) -> None:
        self.keras = import_keras()
        self.keep_names = keep_names
        self.allow_custom = allow_custom
        self.where = where
        self.models: list[ir.FunctionalModel | ir.SequentialModel] = []
        self.model_names: dict[int, str] = {}
        self.global_names = _Names(set())
        self.result = Decompiled(spec=ir.Spec())
        self._ref_cache: dict[str, dict[str, Any]] = {}
        #: id() of each layer -> id() of the models and wrappers that hold it.
        self.owners: dict[int, set[int]] = {}
        #: id() of each model or wrapper -> the object (kept alive for ``owners``).
        self.holders: dict[int, Any] = {}
        #: id() of a layer held in several places -> the one-layer model written for it.
        self.layer_models: dict[int, str] = {}
        #: id() of a shared layer written as a named layer -> the layer.
        self.holders_of_inner: dict[int, Any] = {}

    # -- sharing ----------------------------------------------------------------

    def collect_owners(self, model: Any) -> None:
        """Record, for every layer of ``model`` and of the models and
        wrappers nested in it, which models and wrappers hold it: a layer
        held by two of them is one set of weights used in two places."""
        keras = self.keras
        if id(model) in self.holders:
            return
        self.holders[id(model)] = model
        for layer in getattr(model, "layers", []):
            self.owners.setdefault(id(layer), set()).add(id(model))
            if isinstance(layer, keras.Model):
                self.collect_owners(layer)
            self.collect_wrapped(layer)

    def collect_wrapped(self, layer: Any) -> None:
        """The layer a wrapper holds (``TimeDistributed(frame_cnn)``);
        ``Bidirectional`` builds its own copies, so it holds none."""
        keras = self.keras
        inner = self.wrapped(layer)
        if inner is None or id(layer) in self.holders:
            return
        self.holders[id(layer)] = layer
        self.owners.setdefault(id(inner), set()).add(id(layer))
        if isinstance(inner, keras.Model):
            self.collect_owners(inner)
        else:
            self.collect_wrapped(inner)

    def wrapped(self, layer: Any) -> Any:
        """The layer object a wrapper holds, or ``None``."""
        keras = self.keras
        if not isinstance(layer, keras.layers.Wrapper) or isinstance(layer, keras.layers.Bidirectional):
            return None
        inner = getattr(layer, "layer", None)
        return inner if isinstance(inner, keras.layers.Layer) else None

    def shared(self, layer: Any) -> bool:
        """Whether ``layer`` (not a model) is held in more than one place."""
        return not isinstance(layer, self.keras.Model) and len(self.owners.get(id(layer), ())) > 1

    def local_to(self, layer: Any, model: Any) -> bool:
        """Whether every holder of the shared ``layer`` is ``model`` or a
        wrapper used only in ``model``: then it is a named layer of that model."""
        for holder in self.owners.get(id(layer), ()):
            if holder == id(model):
                continue
            if self.owners.get(holder) != {id(model)} or isinstance(self.holders.get(holder), self.keras.Model):
                return False
        return True

    def layer_model(self, layer: Any) -> str:
        """A layer held by several models (a layer shared across sub-models,
        keras-team/keras#9571) as a one-layer model of the spec, used by name
        wherever the layer is: one set of weights, as in the original."""
        if id(layer) in self.layer_models:
            return self.layer_models[id(layer)]
        nodes = [n for n in getattr(layer, "_inbound_nodes", []) if len(getattr(n, "input_tensors", ())) == 1]
        if not nodes or len(nodes) != len(layer._inbound_nodes):
            raise self.fail(f"layer '{layer.name}' is shared by several models and applied to several tensors at "
                            "once, which a spec cannot express", code="K504")
        shapes = {tuple(n.input_tensors[0].shape) for n in nodes}
        ranks = {len(sh) for sh in shapes}
        if len(ranks) != 1:
            raise self.fail(f"layer '{layer.name}' is shared by several models with inputs of different ranks, "
                            "which a spec cannot express", code="K504")
        shape = [d if all(sh[i] == d for sh in shapes) else None for i, d in enumerate(next(iter(shapes)))]
        dtype = str(getattr(nodes[0].input_tensors[0], "dtype", "float32"))
        name = self.global_names.fresh(layer.name)
        self.layer_models[id(layer)] = name
        entry = self.keras.saving.serialize_keras_object(layer)
        call = self.layer_call(entry, layer.name)
        if self.keep_names:
            call = call.model_copy(update={"kwargs": {**call.kwargs, "name": layer.name}})
        inp = ir.Input(name="input", shape=list(shape[1:]), dtype=dtype, batch_size=shape[0])
        self.models.append(ir.SequentialModel(name=name, input=inp, layers=[call]))
        self.result.originals[name] = {("seq", 0): layer}
        self.result.sources[name] = layer
        return name

    def wrapper_refs(self, obj: Any, local: dict[int, str]) -> dict[str, tuple[str, Any]] | None:
        """A wrapper holding a model or a shared layer is written with its
        name (``TimeDistributed(frame_cnn)``): the argument, the name and the
        object; ``None`` for a wrapper written with its layer inline."""
        inner = self.wrapped(obj)
        if inner is None:
            return None
        if isinstance(inner, self.keras.Model):
            return {"layer": (self.model(inner), inner)}
        if not self.shared(inner):
            return None
        if id(inner) in local:
            return {"layer": (local[id(inner)], inner)}
        return {"layer": (self.layer_model(inner), inner)}

    # -- errors ---------------------------------------------------------------

    def fail(self, message: str, hint: str | None = None, code: str = "K501") -> KspecError:
        return KspecError(Diagnostic(code, message, _span(self.where), hint))

    # -- values ---------------------------------------------------------------

    def value(self, key: str, value: Any, owner: str, collapse: bool) -> Any:
        if isinstance(value, (tuple, list)):
            items = [self.value(key, v, owner, collapse) for v in value]
            if collapse and key == "axis" and len(items) == 1 and isinstance(items[0], int):
                return items[0]
            if collapse and key in _COLLAPSIBLE and items and all(i == items[0] for i in items):
                if isinstance(items[0], int) and not isinstance(items[0], bool):
                    return items[0]
                if isinstance(items[0], list) and len(items[0]) == 2 and items[0][0] == items[0][1] \
                        and isinstance(items[0][0], int):
                    return items[0][0]
            return items
        if isinstance(value, dict):
            if "class_name" in value and "config" in value:
                return self.serialized(key, value, owner, collapse)
            return {str(k): self.value(key, v, owner, collapse) for k, v in value.items()}
        if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
            return value
        return value

    def serialized(self, key: str, value: dict[str, Any], owner: str, collapse: bool) -> Any:
        keras = self.keras
        module = str(value.get("module") or "")
        cls_name = str(value["class_name"])
        config = value.get("config") or {}
        if cls_name in ("DTypePolicy", "FloatDTypePolicy") and isinstance(config, dict):
            return config.get("name")
        if module in _SERIALIZED_MODULES:
            mod = getattr(keras, _SERIALIZED_MODULES[module])
            cls = getattr(mod, cls_name, None)
            if cls is None or value.get("registered_name") not in (None, cls_name):
                raise self.fail(f"layer '{owner}': '{key}' uses custom {_SERIALIZED_MODULES[module][:-1]} "
                                f"'{cls_name}', which a spec cannot express")
            try:
                default = _plain(cls().get_config())
            except Exception:
                default = {}
            kwargs = {k: self.value(k, v, owner, collapse) for k, v in config.items()
                      if _plain(v) != default.get(k, object())}
            alias = snake(cls_name)
            fn = alias if callable(getattr(mod, alias, None)) else cls_name
            if not kwargs:
                return fn
            return ir.Call(fn=fn, kwargs=kwargs)
        if cls_name in layer_classes() and module.startswith("keras"):
            call = self.layer_call({"class_name": cls_name, "config": config, "module": module,
                                    "registered_name": value.get("registered_name")}, owner, collapse)
            return ir.Call(fn=call.type, args=call.args, kwargs=call.kwargs)
        raise self.fail(f"layer '{owner}': '{key}' holds a {cls_name} object, which a spec cannot express")

    # -- layers ---------------------------------------------------------------

    def check_class(self, entry: dict[str, Any], name: str) -> type:
        cls_name = str(entry.get("class_name"))
        if cls_name == "Lambda":
            raise self.fail(f"layer '{name}' is a Lambda layer, which a spec cannot express: "
                            "a spec never runs Python code", "replace it with a built-in or registered custom layer",
                            code="K502")
        module = str(entry.get("module") or "")
        cls = layer_classes().get(cls_name)
        registered = entry.get("registered_name")
        if cls is None or not module.startswith("keras") or (registered not in (None, cls_name)):
            hint = ("register the class with keras.saving.register_keras_serializable" if self.allow_custom
                    else "if the class is registered with Keras, decompile with --allow-custom")
            raise self.fail(f"layer '{name}' has class '{registered or cls_name}', which is not a keras.layers class",
                            hint, code="K503")
        return cls

    def shipped_call(self, entry: dict[str, Any]) -> ir.LayerCall | None:
        """A layer class Keras ships outside ``keras.layers`` (ConvNeXt's
        ``LayerScale``, module ``keras.src.applications.convnext``) as
        ``keras.applications::LayerScale`` with its whole configuration;
        ``None`` for any other class."""
        module = str(entry.get("module") or "")
        cls_name = str(entry.get("class_name"))
        for package, prefix in SHIPPED_PACKAGES.items():
            type_ = f"{package}>{cls_name}"
            if module.startswith(prefix) and shipped_layer_class(type_) is not None:
                return self.whole_config_call(type_, entry, cls_name)
        return None

    def whole_config_call(self, type_: str, entry: dict[str, Any], name: str) -> ir.LayerCall:
        """A layer written with its whole configuration (a class kspec has no
        defaults for), without the name and the usual dtype and trainable."""
        return ir.LayerCall(type=type_, kwargs=self.whole_config(entry, name))

    def whole_config(self, entry: dict[str, Any], name: str) -> dict[str, Any]:
        """A layer's whole configuration as keyword arguments, without its
        name and the usual ``dtype`` and ``trainable``."""
        config = {k: v for k, v in dict(entry["config"]).items() if k != "name"}
        kwargs = {k: self.value(k, v, name, False) for k, v in config.items()}
        if kwargs.get("dtype") == "float32":
            kwargs.pop("dtype")
        if kwargs.get("trainable") is True:
            kwargs.pop("trainable")
        return kwargs

    def custom_call(self, entry: dict[str, Any], name: str) -> ir.LayerCall | None:
        """With ``allow_custom``: a layer of a class registered with Keras
        (``keras.saving.register_keras_serializable``) as a reference by its
        registered name, ``Package>Name``, with its whole configuration."""
        registered = entry.get("registered_name")
        if not self.allow_custom or not isinstance(registered, str) or registered == entry.get("class_name"):
            return None
        if self.keras.saving.get_registered_object(registered) is None:
            return None
        return ir.LayerCall(type=registered, kwargs=self.whole_config(entry, name))

    def reference_config(self, cls: type, config: dict[str, Any], required: list[str]) -> dict[str, Any]:
        try:
            base = {"name": config.get("name", "x"), **{p: config[p] for p in required if p in config}}
            key = cls.__name__ + json.dumps(_plain(base), sort_keys=True)
            if key not in self._ref_cache:
                self._ref_cache[key] = _plain(cls.from_config(base).get_config())  # type: ignore[attr-defined]
            return self._ref_cache[key]
        except Exception:
            return {}

    def layer_call(self, entry: dict[str, Any], name: str, collapse: bool = True,
                   refs: dict[str, tuple[str, Any]] | None = None) -> ir.LayerCall:
        """A LayerCall for one serialized layer; checked by rebuilding it.
        ``refs``: arguments written as a name (a wrapper's model or shared
        layer), with the name and the object it stands for."""
        custom = self.custom_call(entry, name) or self.shipped_call(entry)
        if custom is not None:
            return custom
        cls = self.check_class(entry, name)
        config = dict(entry["config"])
        last_err = ""
        for attempt_collapse in ((True, False) if collapse else (False,)):
            for full in (False, True):
                forced: set[str] = set()
                for _ in range(3):  # defaults that depend on other arguments (strides=pool_size) are added back
                    try:
                        call = self._layer_call(cls, str(entry["class_name"]), config, name, attempt_collapse,
                                                full, forced, refs or {})
                    except KspecError:
                        raise
                    except Exception as exc:  # a config value no spec value can hold (arrays, objects)
                        raise self.fail(f"layer '{name}' ({entry['class_name']}) has an argument a spec cannot "
                                        f"express: {clean_keras_message(exc)}", code="K504") from None
                    ok, last_err = self.same_layer(call, config, refs or {})
                    if ok:
                        return call
                    differing = set(last_err.removeprefix("configuration differs in ").split(", "))
                    if not last_err.startswith("configuration differs in ") or differing <= forced:
                        break
                    forced |= differing
        raise self.fail(f"layer '{name}' ({entry['class_name']}) cannot be written exactly: {last_err}", code="K504")

    def _layer_call(self, cls: type, cls_name: str, config: dict[str, Any], name: str, collapse: bool,
                    full: bool, forced: set[str] | None = None,
                    refs: dict[str, tuple[str, Any]] | None = None) -> ir.LayerCall:
        _, accepted = layer_signature(cls)
        refs = refs or {}
        required = [p for p in _required(cls) if p in config]
        ref = {} if full else self.reference_config(cls, config, required)
        args = [refs[p][0] if p in refs else self.value(p, config[p], name, collapse) for p in required]
        kwargs: dict[str, Any] = {}
        for key, val in config.items():
            if key in required or key == "name" or key not in accepted:
                continue
            if key in refs:
                kwargs[key] = refs[key][0]
                continue
            if key in ref and _unit_axis({key: _plain(val)}) == _unit_axis({key: ref[key]}) \
                    and key not in (forced or ()):
                continue
            kwargs[key] = self.value(key, val, name, collapse)
        if full:
            kwargs.pop("dtype", None) if kwargs.get("dtype") == "float32" else None
            kwargs.pop("trainable", None) if kwargs.get("trainable") is True else None
        return ir.LayerCall(type=cls_name, args=args, kwargs=kwargs)

    def same_layer(self, call: ir.LayerCall, config: dict[str, Any],
                   refs: dict[str, tuple[str, Any]] | None = None) -> tuple[bool, str]:
        objects = {name: obj for name, obj in (refs or {}).values()}
        try:
            built = make_layer(call, str(config.get("name", "x")), objects)
        except KspecError as exc:
            return False, exc.diagnostics[0].message
        except Exception as exc:  # pragma: no cover - defensive
            return False, clean_keras_message(exc)
        want = _unit_axis(_strip_names(_plain(config)))
        got = _unit_axis(_strip_names(_plain(built.get_config())))
        if want == got:
            return True, ""
        diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        return False, f"configuration differs in {', '.join(diff)}"

    # -- models ---------------------------------------------------------------

    def model(self, model: Any) -> str:
        """Decompile ``model`` (and every model nested in it); its spec name."""
        if id(model) in self.model_names:
            return self.model_names[id(model)]
        name = self.global_names.fresh(model.name)
        self.model_names[id(model)] = name
        try:
            config = model.get_config()
        except Exception as exc:
            raise self.fail(f"model '{model.name}' has no configuration: {clean_keras_message(exc)}") from None
        cls_name = type(model).__name__
        built: ir.FunctionalModel | ir.SequentialModel
        if cls_name == "Sequential":
            built = self.sequential(model, name, config)
        elif "layers" in config and "input_layers" in config:
            built = self.functional(model, name, config)
        else:
            raise self.fail(f"model '{model.name}' is a subclassed model ({cls_name}); only Functional and "
                            "Sequential models can be decompiled", code="K503")
        self.models.append(built)
        self.result.sources[name] = model
        return name

    def make_input(self, name: str, config: dict[str, Any]) -> ir.Input:
        shape = list(config.get("batch_shape") or config.get("batch_input_shape") or [None])
        dtype = config.get("dtype") or "float32"
        if isinstance(dtype, dict):
            dtype = self.serialized("dtype", dtype, name, False)
        return ir.Input(name=name, shape=[None if d is None else int(d) for d in shape[1:]], dtype=str(dtype),
                        batch_size=shape[0], sparse=bool(config.get("sparse", False)))

    def sequential(self, model: Any, name: str, config: dict[str, Any]) -> ir.SequentialModel:
        entries = list(config.get("layers", []))
        inp: ir.Input | None = None
        if entries and entries[0].get("class_name") == "InputLayer":
            first = entries.pop(0)
            inp = self.make_input(_sanitize(first["config"].get("name", "input")), first["config"])
        elif config.get("build_input_shape"):
            shape = list(config["build_input_shape"])
            inp = ir.Input(name="input", shape=shape[1:], batch_size=shape[0])
        layers: list[ir.LayerCall | ir.LayerRef] = []
        originals: dict[LayerKey, Any] = {}
        live = list(model.layers)
        for j, entry in enumerate(entries):
            lname = str(entry["config"].get("name", f"layer{j}"))
            obj = live[j] if j < len(live) else None
            if entry.get("class_name") in _MODEL_CLASSES and obj is not None:
                layers.append(ir.LayerRef(ref=self.model(obj)))
                continue
            if obj is not None and self.shared(obj):
                layers.append(ir.LayerRef(ref=self.layer_model(obj)))
                continue
            call = self.layer_call(entry, lname, refs=self.wrapper_refs(obj, {}))
            layers.append(call)
            originals[("seq", j)] = obj
        seq = ir.SequentialModel(name=name, input=inp, layers=layers)
        if self.keep_names:
            seq = self.name_sequential(seq, entries)
        self.result.originals[name] = originals
        return seq

    def name_sequential(self, seq: ir.SequentialModel, entries: list[dict[str, Any]]) -> ir.SequentialModel:
        names = name_sequential(seq)
        layers = list(seq.layers)
        for j, c in enumerate(layers):
            want = str(entries[j]["config"].get("name"))
            if isinstance(c, ir.LayerCall) and names.names.get(("seq", j)) != want:
                layers[j] = c.model_copy(update={"kwargs": {**c.kwargs, "name": want}})
        return seq.model_copy(update={"layers": layers})

    def functional(self, model: Any, name: str, config: dict[str, Any]) -> ir.FunctionalModel:
        return _Functional(self, model, name, config).build()


def _is_tensor_ref(value: Any) -> bool:
    """Whether ``value`` is one (layer, node, index) of ``input_layers``/``output_layers``."""
    return isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str) \
        and isinstance(value[1], int) and isinstance(value[2], int)


def _pairs(value: Any) -> list[tuple[str, int, int]]:
    """``input_layers``/``output_layers`` as a list of (layer, node, index),
    in their order (a dict's in its key order, nested ones flattened)."""
    if _is_tensor_ref(value):
        return [(str(value[0]), int(value[1]), int(value[2]))]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return [t for v in items for t in _pairs(v)]


def _structure(value: Any) -> tuple[ir.StructureKind | None, list[str] | None] | None:
    """How ``keras.Model`` was given its inputs or outputs (the config's
    ``input_layers``/``output_layers``): ``(None, None)`` one tensor or a
    list of several, ``("list", None)`` a list of one, ``("dict", keys)``
    a dict; ``None`` for a nested structure kspec cannot write."""
    if _is_tensor_ref(value):
        return None, None
    if isinstance(value, dict) and all(_is_tensor_ref(v) for v in value.values()):
        return "dict", [str(k) for k in value]
    if isinstance(value, (list, tuple)) and value and all(_is_tensor_ref(v) for v in value):
        return ("list" if len(value) == 1 else None), None
    return None


def _creation_order(apps: list[_App], uses: list[list[tuple[str, int, int]]]) -> list[_App]:
    """``apps`` in an order Keras could have created them in: each after the
    applications whose tensors it uses (``uses``, by position), and each
    layer's applications in the order of its nodes, for Keras numbers a
    shared layer's calls in the order they are made. Ties keep the given
    order (the model's layers, each layer's nodes together), so a model
    whose layers are listed in an order they can be called in keeps it."""
    at = {(a.layer, a.node): k for k, a in enumerate(apps)}
    after: list[set[int]] = []
    last_of: dict[str, int] = {}
    for k, a in enumerate(apps):
        first = {at[(t[0], t[1])] for t in uses[k] if (t[0], t[1]) in at} - {k}
        previous = last_of.get(a.layer)
        if previous is not None and apps[previous].node < a.node:
            first.add(previous)
        last_of[a.layer] = k
        after.append(first)
    order = ordered_by_position(after)
    placed = set(order)
    order += [k for k in range(len(apps)) if k not in placed]  # (a cycle: no model Keras built has one)
    return [apps[k] for k in order]


class _Functional:
    """Decompiles one functional model's graph."""

    def __init__(self, owner: _Decompiler, model: Any, name: str, config: dict[str, Any]) -> None:
        self.d = owner
        self.model = model
        self.name = name
        self.config = config
        self.entries = {str(e["name"]): e for e in config["layers"]}
        self.order = [str(e["name"]) for e in config["layers"]]

    def operation(self, lname: str, entry: dict[str, Any], k: int,
                  node: dict[str, Any]) -> _App:
        """An operation layer (``x + 3.0``, ``ops.mean(x, axis=1)``) as the
        ``keras.ops`` call that builds it: its first argument, when a
        tensor, is the chain's tensor; its configuration gives the keyword
        arguments that differ from the function's defaults."""
        fn = snake(str(entry["class_name"]))
        func = getattr(self.d.keras.ops, fn, None)
        if func is None or not callable(func):
            raise self.d.fail(f"operation '{lname}' ({entry['class_name']}) is not a keras.ops function, "
                              "which a spec cannot express", code="K503")
        args = [self.op_value(lname, a) for a in node.get("args", [])]
        kwargs = {str(key): self.op_value(lname, v) for key, v in (node.get("kwargs") or {}).items()}
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):  # pragma: no cover
            params = {}  # type: ignore[assignment]
        for key, value in (entry.get("config") or {}).items():
            if key == "name" or key in kwargs:
                continue
            p = params.get(key)
            default = p.default if p is not None and p.default is not inspect.Parameter.empty else _NO_DEFAULT
            if _plain(value) != _plain(default) if default is not _NO_DEFAULT else True:
                kwargs[key] = _plain(value)
        inputs: list[tuple[str, int, int]] = []
        if args and _is_tensor(args[0]):
            inputs = [_history(args.pop(0))]
        return _App(lname, k, inputs, {}, 1, op=(fn, args, kwargs))

    def op_value(self, lname: str, value: Any) -> Any:
        """An operation's argument from its serialized form."""
        if isinstance(value, dict) and value.get("class_name") == "__slice__":
            cfg = value.get("config") or {}
            return ir.Slice(start=cfg.get("start"), stop=cfg.get("stop"), step=cfg.get("step"))
        if isinstance(value, dict) and value.get("class_name") == "__ellipsis__":
            return ir.EllipsisValue()
        if _is_tensor(value):
            return value
        if isinstance(value, dict) and "class_name" in value:
            raise self.d.fail(f"operation '{lname}' takes a {value['class_name']} argument, which a spec cannot "
                              "express", code="K504")
        if isinstance(value, (list, tuple)):
            return [self.op_value(lname, v) for v in value]
        if isinstance(value, dict):
            return {str(k): self.op_value(lname, v) for k, v in value.items()}
        return value

    def live(self, lname: str) -> Any:
        try:
            return self.model.get_layer(lname)
        except ValueError:
            return None

    def local_layers(self, names: _Names) -> dict[int, str]:
        """Shared layers held only by this model and its wrappers
        (``TimeDistributed(proj)`` beside ``b -> proj``): each becomes a named
        layer of this model; id() of each -> its name."""
        local: dict[int, str] = {}
        for lname in self.order:
            obj = self.live(lname)
            for x in (obj, self.d.wrapped(obj)) if obj is not None else ():
                if x is not None and id(x) not in local and self.d.shared(x) and self.d.local_to(x, self.model):
                    local[id(x)] = names.fresh(x.name)
                    self.d.holders_of_inner[id(x)] = x
        return local

    def implicit_masks(self) -> set[str]:
        """Operations Keras recorded only to compute masks (``Embedding(mask_zero=True)``
        feeding an RNN records ``not_equal`` and ``mask=``): rebuilding the
        layers recreates them, so they are left out."""
        as_mask: set[str] = set()
        other: set[str] = set()

        def collect(value: Any, into: set[str]) -> None:
            if _is_tensor(value):
                into.add(_history(value)[0])
            elif isinstance(value, (list, tuple)):
                for v in value:
                    collect(v, into)
            elif isinstance(value, dict):
                for v in value.values():
                    collect(v, into)

        for entry in self.entries.values():
            for node in entry.get("inbound_nodes", []):
                collect(node.get("args", []), other)
                for key, val in (node.get("kwargs") or {}).items():
                    collect(val, as_mask if key == "mask" else other)
        for lname, _, _ in _pairs(self.config["output_layers"]):
            other.add(lname)
        return {n for n in as_mask - other if str(self.entries[n].get("module") or "").startswith("keras.src.ops")}

    def apps(self) -> list[_App]:
        apps: list[_App] = []
        implicit = self.implicit_masks()
        for lname in self.order:
            entry = self.entries[lname]
            if entry["class_name"] == "InputLayer" or lname in implicit:
                continue
            obj = self.live(lname)
            is_op = str(entry.get("module") or "").startswith("keras.src.ops")
            for k, node in enumerate(entry.get("inbound_nodes", [])):
                if is_op:
                    apps.append(self.operation(lname, entry, k, node))
                    continue
                args = list(node.get("args", []))
                if len(args) == 1 and isinstance(args[0], (list, tuple)) and args[0] and all(
                        _is_tensor(a) for a in args[0]):
                    args = list(args[0])
                if not all(_is_tensor(a) for a in args):
                    raise self.d.fail(f"layer '{lname}' is called with a non-tensor positional argument, "
                                      "which a spec cannot express")
                kwargs = {}
                rnn = obj is not None and isinstance(obj, (self.d.keras.layers.RNN, self.d.keras.layers.Bidirectional))
                for key, val in (node.get("kwargs") or {}).items():
                    if key == "mask" and (val is None or (_is_tensor(val) and _history(val)[0] in implicit)):
                        continue
                    if key == "training" and ((val is False and rnn) or val == _call_default(obj, "training")):
                        continue  # Keras records the call's default itself (Dropout, RNNs)
                    kwargs[key] = val
                if not args and kwargs and _is_tensor(next(iter(kwargs.values()))):
                    # ``mha(query=q, value=v)``: the first argument is written positionally.
                    args = [kwargs.pop(next(iter(kwargs)))]
                apps.append(_App(lname, k, [_history(a) for a in args], kwargs, self.n_outputs(obj, k)))
        return apps

    def n_outputs(self, obj: Any, node: int) -> int:
        nodes = getattr(obj, "_inbound_nodes", None) or []
        counts = {len(n.outputs) for n in nodes if hasattr(n, "outputs")}
        return counts.pop() if len(counts) == 1 else 0

    def structure(self, port: str) -> tuple[ir.StructureKind | None, list[str] | None]:
        """How the model was given its ``port`` (``"input"`` or ``"output"``)
        tensors; a nested structure is refused."""
        found = _structure(self.config[f"{port}_layers"])
        if found is None:
            raise self.d.fail(f"model '{self.name}' gives its {port}s as a nested structure",
                              "kspec writes a model's inputs and outputs as one tensor, a list or a dict of tensors")
        return found

    def build(self) -> ir.FunctionalModel:
        d = self.d
        apps = self.apps()
        by_key = {(a.layer, a.node): a for a in apps}
        uses: dict[tuple[str, int, int], int] = {}
        kw_used: set[tuple[str, int, int]] = set()

        def refs(value: Any) -> list[tuple[str, int, int]]:
            if _is_tensor(value):
                return [_history(value)]
            if isinstance(value, (list, tuple)):
                return [r for v in value for r in refs(v)]
            if isinstance(value, dict):
                return [r for v in value.values() for r in refs(v)]
            return []

        # Keras numbers a nested Functional model's nodes from 1 in some
        # places (its own construction is node 0) and from 0 in others (a
        # reloaded model's to_json): a reference one past a layer's last
        # node in this model means that node.
        keys = {(a.layer, a.node) for a in apps}

        def norm(t: tuple[str, int, int]) -> tuple[str, int, int]:
            if (t[0], t[1]) not in keys and (t[0], t[1] - 1) in keys:
                return (t[0], t[1] - 1, t[2])
            return t

        for a in apps:
            a.inputs = [norm(t) for t in a.inputs]
        apps = _creation_order(apps, [a.inputs + [norm(t) for t in refs(a.kwargs) + refs(a.op[1:] if a.op else [])]
                                      for a in apps])
        max_index: dict[tuple[str, int], int] = {}
        for a in apps:
            for t in a.inputs:
                uses[t] = uses.get(t, 0) + 1
            for t in refs(a.kwargs) + refs(a.op[1:] if a.op else []):
                kw_used.add(t)
                uses[t] = uses.get(t, 0) + 1
        out_kind, out_keys = self.structure("output")
        in_kind, in_keys = self.structure("input")
        outputs = [norm(t) for t in _pairs(self.config["output_layers"])]
        inputs = _pairs(self.config["input_layers"])
        for t in [*uses, *outputs]:
            max_index[(t[0], t[1])] = max(max_index.get((t[0], t[1]), 0), t[2])
        for a in apps:
            if a.n_out <= 0:
                a.n_out = max_index.get((a.layer, a.node), 0) + 1
        out_set = set(outputs)

        # Names: models, inputs and shared layers first.
        names = _Names(set(d.global_names.taken))
        ir_inputs: list[ir.Input] = []
        tensor_name: dict[tuple[str, int, int], str] = {}
        for k, (lname, node, idx) in enumerate(inputs):
            entry = self.entries[lname]
            iname = names.fresh(in_keys[k] if in_keys else lname)  # a dict input is named by its key
            ir_inputs.append(d.make_input(iname, entry["config"]))
            tensor_name[(lname, node, idx)] = iname
        key_names = [names.fresh(k) for k in out_keys or []]  # dict outputs are named by their keys

        callee: dict[str, ir.LayerCall | ir.LayerRef | ir.Op] = {}
        layer_defs: list[ir.LayerDef] = []
        originals: dict[LayerKey, Any] = {}
        count: dict[str, int] = {}
        for a in apps:
            count[a.layer] = count.get(a.layer, 0) + 1
        local = self.local_layers(names)
        for lname in self.order:
            if lname not in count:
                continue
            entry = self.entries[lname]
            obj = self.live(lname)
            if str(entry.get("module") or "").startswith("keras.src.ops"):
                callee[lname] = ir.Op(fn=snake(str(entry["class_name"])))  # each application is written in full
            elif entry["class_name"] in _MODEL_CLASSES:
                callee[lname] = ir.LayerRef(ref=d.model(obj))
            elif obj is not None and d.shared(obj) and id(obj) not in local:
                callee[lname] = ir.LayerRef(ref=d.layer_model(obj))
            elif count[lname] > 1 or (obj is not None and id(obj) in local):
                dname = local[id(obj)] if obj is not None and id(obj) in local else names.fresh(lname)
                call = d.layer_call(entry, lname, refs=d.wrapper_refs(obj, local))
                if d.keep_names and dname != lname:
                    call = call.model_copy(update={"kwargs": {**call.kwargs, "name": lname}})
                originals[("def", len(layer_defs), 0)] = obj
                layer_defs.append(ir.LayerDef(name=dname, stack=[call]))
                callee[lname] = ir.LayerRef(ref=dname)
                local.pop(id(obj), None)
            else:
                callee[lname] = d.layer_call(entry, lname, refs=d.wrapper_refs(obj, local))
        for inner_id, dname in local.items():  # shared layers only wrapped here: named layers, never applied
            inner = d.holders_of_inner[inner_id]
            call = d.layer_call(d.keras.saving.serialize_keras_object(inner), inner.name)
            if d.keep_names and dname != inner.name:
                call = call.model_copy(update={"kwargs": {**call.kwargs, "name": inner.name}})
            originals[("def", len(layer_defs), 0)] = inner
            layer_defs.append(ir.LayerDef(name=dname, stack=[call]))
        names.taken |= set(d.global_names.taken)

        # Which applications fold into their single consumer's chain.
        producer = {(a.layer, a.node): a for a in apps}

        def inline(a: _App) -> bool:
            t = (a.layer, a.node, 0)
            if d.keep_names and a.op is not None:  # an operation takes no name=: its statement's target names it
                return False
            return a.n_out == 1 and t not in out_set and t not in kw_used and uses.get(t, 0) == 1

        consumer_of: dict[tuple[str, int, int], _App] = {}
        for a in apps:
            if len(a.inputs) == 1:
                consumer_of[a.inputs[0]] = a
        folded: set[tuple[str, int]] = set()
        for a in apps:
            t = (a.layer, a.node, 0)
            if inline(a) and t in consumer_of:
                folded.add((a.layer, a.node))
        undirect: set[tuple[str, int]] = set()  # outputs computed where they are, as they were
        self.keep_call_order(apps, folded, consumer_of, out_set, count, undirect)

        # Name every tensor that is not folded.
        out_names: dict[tuple[str, int, int], str] = {}
        model_refs = set(d.model_names.values())
        for k, t in enumerate(outputs):
            if t in out_names:
                continue
            if out_keys is not None:
                out_names[t] = key_names[k]
                continue
            c = callee.get(t[0])
            app = by_key.get((t[0], t[1]))
            if isinstance(c, ir.LayerRef) and c.ref in model_refs and app is not None and app.n_out == 1 \
                    and c.ref not in out_names.values() and (app.layer, app.node) not in undirect:
                out_names[t] = c.ref  # the sub-model's own name is the output's name: no Identity layer
                continue
            out_names[t] = names.fresh(t[0])
        for a in apps:
            if (a.layer, a.node) in folded:
                continue
            base = a.layer if count[a.layer] == 1 else f"{a.layer}_{a.node + 1}"
            for i in range(a.n_out):
                t = (a.layer, a.node, i)
                c = callee[a.layer]
                direct_output = t in out_names and a.n_out == 1 and (a.layer, a.node) not in undirect and (
                    isinstance(c, (ir.LayerCall, ir.Op)) or (isinstance(c, ir.LayerRef) and c.ref == out_names[t])
                    or (isinstance(c, ir.LayerRef) and out_keys is not None))  # a dict key needs no Identity
                if direct_output:
                    tensor_name[t] = out_names[t]
                else:
                    tensor_name[t] = names.fresh(base if i == 0 else f"{base}_{i}")

        def as_value(value: Any) -> Any:
            if _is_tensor(value):
                return ir.Ref(name=tensor_name[_history(value)])
            if isinstance(value, (list, tuple)):
                return [as_value(v) for v in value]
            if isinstance(value, dict):
                return {str(k): as_value(v) for k, v in value.items()}
            return value

        def chain(a: _App) -> tuple[list[str], list[ir.Step], list[_App]]:
            seq = [a]
            while len(seq[0].inputs) == 1 and (seq[0].inputs[0][0], seq[0].inputs[0][1]) in folded:
                seq.insert(0, producer[(seq[0].inputs[0][0], seq[0].inputs[0][1])])
            steps = [ir.Step(layer=ir.Op(fn=x.op[0], args=as_value(x.op[1]), kwargs=as_value(x.op[2])))
                     if x.op is not None else
                     ir.Step(layer=callee[x.layer], call_kwargs={k: as_value(v) for k, v in x.kwargs.items()})
                     for x in seq]
            return [tensor_name[t] for t in seq[0].inputs], steps, seq

        nodes: list[ir.Assign] = []
        outs: dict[tuple[str, int, int], ir.Output] = {}
        node_apps: list[list[_App]] = []
        out_apps: dict[tuple[str, int, int], list[_App]] = {}
        for a in apps:
            if (a.layer, a.node) in folded:
                continue
            ins, steps, seq = chain(a)
            expr = ir.Expr(inputs=ins, steps=steps)
            t0 = (a.layer, a.node, 0)
            if a.n_out == 1 and tensor_name[t0] == out_names.get(t0):
                outs[t0] = ir.Output(name=out_names[t0], value=expr)
                out_apps[t0] = seq
            else:
                targets = [tensor_name[(a.layer, a.node, i)] for i in range(a.n_out)]
                nodes.append(ir.Assign(targets=targets, value=expr))
                node_apps.append(seq)
        for t in outputs:
            if t not in outs:
                outs[t] = ir.Output(name=out_names[t], value=ir.Expr(inputs=[tensor_name[t]]))
                out_apps[t] = []
        ordered_outs: list[ir.Output] = []
        seen: set[tuple[str, int, int]] = set()
        final_out_apps: list[list[_App]] = []
        for k, t in enumerate(outputs):
            if t in seen:
                o = ir.Output(name=key_names[k] if out_keys is not None else names.fresh(t[0]),
                              value=ir.Expr(inputs=[out_names[t]]))
                ordered_outs.append(o)
                final_out_apps.append([])
                continue
            seen.add(t)
            ordered_outs.append(outs[t])
            final_out_apps.append(out_apps[t])

        for k, seq in enumerate([*node_apps, *final_out_apps]):
            for j, x in enumerate(seq):
                if isinstance(callee[x.layer], ir.LayerCall):
                    originals[("stmt", k, j)] = self.live(x.layer)
        fm = ir.FunctionalModel(name=self.name, structure=ir.Structure(inputs=in_kind, outputs=out_kind),
                                inputs=ir_inputs, layers=layer_defs, nodes=nodes, outputs=ordered_outs)
        if d.keep_names:
            fm = self.keep(fm, [*node_apps, *final_out_apps])
        d.result.originals[self.name] = originals
        return fm

    def keep_call_order(self, apps: list[_App], folded: set[tuple[str, int]],
                        consumer_of: dict[tuple[str, int, int], _App], out_set: set[tuple[str, int, int]],
                        count: dict[str, int], undirect: set[tuple[str, int]]) -> None:
        """Unfold applications of layers used several times wherever folding
        them into a later statement would change the order in which the layer
        is applied (Keras numbers a shared layer's calls in that order). An
        output's statement runs after every node's: an application that ends
        an output and must run before a later one of its layer is added to
        ``undirect``, to be written as a node the output names."""
        pos = {(a.layer, a.node): i for i, a in enumerate(apps)}
        n = len(apps)
        while True:
            def exec_pos(a: _App) -> int:
                key = (a.layer, a.node)
                while key in folded:
                    key = (consumer_of[(key[0], key[1], 0)].layer, consumer_of[(key[0], key[1], 0)].node)
                head = apps[pos[key]]
                is_output = (head.layer, head.node, 0) in out_set and head.n_out == 1 and key not in undirect
                return n + pos[key] if is_output else pos[key]

            bad: set[str] = set()
            by_layer: dict[str, list[_App]] = {}
            for a in apps:
                if count[a.layer] > 1:
                    by_layer.setdefault(a.layer, []).append(a)
            for lname, group in by_layer.items():
                order = [exec_pos(a) for a in group]
                if any(x > y for x, y in itertools.pairwise(order)):
                    bad.add(lname)
            changed = False
            for a in apps:
                key = (a.layer, a.node)
                if a.layer in bad and key in folded:
                    folded.discard(key)
                    changed = True
                elif a.layer in bad and key not in undirect and exec_pos(a) >= n:
                    undirect.add(key)
                    changed = True
            if not changed:
                return

    def keep(self, fm: ir.FunctionalModel, stmt_apps: list[list[_App]]) -> ir.FunctionalModel:
        """Add ``name=`` wherever the derived Keras name differs from the original."""
        for _ in range(6):
            names = name_functional(fm, {m.name for m in self.d.models} | {self.name})
            changed = False
            nodes = list(fm.nodes)
            outputs = list(fm.outputs)
            statements: list[ir.Assign | ir.Output] = [*nodes, *outputs]
            for k, seq in enumerate(stmt_apps):
                st = statements[k]
                steps = list(st.value.steps)
                for j, x in enumerate(seq):
                    step = steps[j]
                    if isinstance(step.layer, ir.LayerCall) and names.names.get(("stmt", k, j)) != x.layer:
                        steps[j] = step.model_copy(update={"layer": step.layer.model_copy(
                            update={"kwargs": {**step.layer.kwargs, "name": x.layer}})})
                        changed = True
                value = st.value.model_copy(update={"steps": steps})
                if k < len(nodes):
                    nodes[k] = nodes[k].model_copy(update={"value": value})
                else:
                    outputs[k - len(nodes)] = outputs[k - len(nodes)].model_copy(update={"value": value})
            fm = fm.model_copy(update={"nodes": nodes, "outputs": outputs})
            if not changed:
                break
        return fm


def _compile_section(d: _Decompiler, model: Any, name: str) -> ir.Section | None:
    """The ``compile`` settings of a compiled model, when Keras kept them."""
    try:
        cfg = model.get_compile_config() if getattr(model, "compiled", False) else None
    except Exception:
        cfg = None
    if not cfg:
        return None
    settings: dict[str, Any] = {}
    for key in ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"):
        val = cfg.get(key)
        if val is None:
            continue
        try:
            settings[key] = _setting(d, key, val)
        except KspecError:
            continue
    return ir.Section(model=name, settings=settings) if settings else None


def _setting(d: _Decompiler, key: str, value: Any) -> Any:
    keras = d.keras
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        module = str(value.get("module") or "")
        cls_name = str(value["class_name"])
        config = dict(value.get("config") or {})
        mod = {"keras.optimizers": keras.optimizers, "keras.losses": keras.losses,
               "keras.metrics": keras.metrics}.get(module)
        cls = getattr(mod, cls_name, None) if mod is not None else None
        if value.get("registered_name") == "kspec>RootMeanSquaredError":
            return "rmse"
        alias = config.get("name")
        if cls is not None and module in ("keras.losses", "keras.metrics") and isinstance(alias, str):
            try:
                same = type(mod.get(alias)) is cls  # type: ignore[union-attr]
            except Exception:
                same = False
            rest = {k: v for k, v in config.items() if k not in ("name", "dtype", "reduction")}
            if same and all(_plain(v) == _plain(getattr(cls(), k, v)) for k, v in rest.items()):
                return alias
        if cls is None:
            if module.startswith("keras.src.losses") or module.startswith("keras.src.metrics"):
                return snake(cls_name)
            raise d.fail(f"compile setting '{key}' holds {cls_name}, which a spec cannot express")
        try:
            default = _plain(cls().get_config())
        except Exception:
            default = {}
        kwargs = {k: _short_float(_plain(v)) for k, v in config.items() if _plain(v) != default.get(k, object())}
        kwargs.pop("name", None)
        return ir.Call(fn=cls_name, kwargs=kwargs) if kwargs else snake(cls_name)
    if isinstance(value, (list, tuple)):
        return [_setting(d, key, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _setting(d, key, v) for k, v in value.items()}
    return _short_float(_plain(value))


def _short_float(value: Any) -> Any:
    """``0.009999999776482582`` (a float32 read back) as ``0.01``."""
    if isinstance(value, float):
        import numpy as np

        short = float(repr(np.float32(value)).removeprefix("np.float32(").removesuffix(")"))
        if np.float32(short) == np.float32(value):
            return short
    return value


def decompile_model(model: Any, *, keep_names: bool = False, allow_custom: bool = False,
                    where: str | None = None, blocks: bool = True) -> Decompiled:
    """Decompile a live ``keras.Model`` (see the module docstring)."""
    d = _Decompiler(keep_names, allow_custom, where or f"<model {getattr(model, 'name', '?')}>")
    keras = d.keras
    if not isinstance(model, keras.Model):
        raise d.fail(f"not a Keras model: {type(model).__name__}", code="K503")
    try:
        d.collect_owners(model)
        top = d.model(model)
    except KspecError:
        raise
    except Exception as exc:  # anything unforeseen in a model's config is reported, never a traceback
        raise d.fail(f"model '{model.name}' cannot be decompiled: {clean_keras_message(exc)}") from None
    sections: list[ir.Section] = []
    section = _compile_section(d, model, top)
    if section is not None:
        sections.append(section)
    flat = ir.Spec(models=d.models, compile=sections)
    d.result.flat = flat
    d.result.spec = flat
    if blocks and not keep_names:
        from kspec.compiler.fold_blocks import infer_blocks

        d.result.spec = infer_blocks(flat)
    return d.result


def rebuild(result: Decompiled) -> Any:
    """The model ``result.spec`` compiles to, holding the original model's
    weights (carried over through the flat spec, layer by layer)."""
    from kspec.compiler.pipeline import check, expand
    from kspec.runtime.lower import lower_model, lower_spec

    flat_spec = result.flat or result.spec
    built = lower_spec(flat_spec)
    transfer_weights(result, built)
    flat = built[flat_spec.model().name]
    if result.spec is flat_spec:
        return flat
    model = lower_model(check(expand(result.spec)))
    model.set_weights(flat.get_weights())
    for layer in model.layers:
        _finalize(layer)
    return model


def _finalize(layer: Any) -> None:
    """Let a preprocessing layer recompute what it derives from its state
    (``Normalization`` keeps mean and variance from ``adapt``)."""
    finalize = getattr(layer, "finalize_state", None)
    if callable(finalize) and getattr(layer, "built", False):
        finalize()


def load_keras_model(path: str | Path) -> Any:
    """Load a ``.keras``, ``.h5`` or Keras JSON model in safe mode."""
    keras = import_keras()
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".keras", ".h5", ".json"):
        raise KspecError(Diagnostic("K500", f"unknown model format '{suffix or p.name}': use .keras, .h5 or .json",
                                    _span(str(p))))
    problem = model_file_problem(p)
    if problem is not None:
        raise KspecError(Diagnostic("K500", f"cannot load model: {problem}", _span(str(p))))
    try:
        if suffix == ".json":
            return keras.models.model_from_json(p.read_text(encoding="utf-8"))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.models.load_model(str(p), safe_mode=True, compile=True)
    except OSError:
        raise
    except Exception as exc:
        message = clean_keras_message(exc)
        hint = None
        if "Lambda" in message or "safe_mode" in message:
            hint = "the model holds a Lambda layer (Python code), which kspec refuses to load"
        raise KspecError(Diagnostic("K500", f"cannot load model: {message}", _span(str(p)), hint)) from None


def decompile(model_or_path: Any, *, keep_names: bool = False, allow_custom: bool = False,
              blocks: bool = True) -> ir.Spec:
    """Decompile a ``keras.Model`` or a model file into a spec (with
    repeated structure as blocks and loops unless ``blocks`` is False)."""
    if isinstance(model_or_path, (str, Path)):
        model = load_keras_model(model_or_path)
        return decompile_model(model, keep_names=keep_names, allow_custom=allow_custom,
                               where=str(model_or_path), blocks=blocks).spec
    return decompile_model(model_or_path, keep_names=keep_names, allow_custom=allow_custom, blocks=blocks).spec


def transfer_weights(result: Decompiled, built: dict[str, Any]) -> int:
    """Copy weights from the original layers into the rebuilt models
    (``lower_spec``'s result), matching layers by their place in the spec.
    Returns the number of layers whose weights were set."""
    n = 0
    spec = result.flat or result.spec
    models = {m.name: m for m in spec.models}
    for name, originals in result.originals.items():
        m = models[name]
        target = built.get(name)
        if target is None:
            continue
        names: LayerNames = (name_sequential(m) if isinstance(m, ir.SequentialModel)
                             else name_functional(m, set(models)))
        for key, layer in originals.items():
            if layer is None or not layer.weights:
                continue
            new = target.get_layer(names.names[key])
            new.set_weights(layer.get_weights())
            _finalize(new)
            n += 1
    return n
