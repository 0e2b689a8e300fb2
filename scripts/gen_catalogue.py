"""Regenerate ``src/kspec/catalogue.json`` from the installed Keras.

The catalogue lets ``kspec check`` validate layer arguments without importing
keras: for every public ``keras.layers`` class, its constructor parameters
(in order), their defaults, which are required, and which extra keywords the
class accepts through ``**kwargs`` up to ``keras.layers.Layer``; for the
regularizers, initializers, constraints, activations, losses, metrics and
optimizers a spec may name, their names and parameters. Keras's abstract base
classes (``Initializer``, ``Regularizer``, ``Loss``, ``Metric``, ``Optimizer``)
are left out: see :func:`_unimplemented`.

Under ``"calls"``, for each kind of object a ``compile`` or ``train`` section
builds from a call (losses, metrics, optimizers, learning-rate schedules,
callbacks): every public class of its Keras module that is a subclass of
Keras's base for that kind, with its constructor signature (see
:func:`_call_entry`), and the module's public functions.

Under ``"docs"``: the first paragraph (in Keras, one sentence) of each
layer class's and each ``keras.ops`` function's own docstring, on one line
(:func:`_doc_line`), which the language server shows on hover.

The catalogue holds facts about Keras only: this script reads Keras and
nothing of kspec. Which names a spec may write and what kspec builds for them
is kspec's policy, applied on top of these facts (:mod:`kspec.catalogue`).

    python scripts/gen_catalogue.py            # rewrite the shipped file
    python scripts/gen_catalogue.py --check    # exit 1 if it is stale

``tests/test_check_cli.py`` calls :func:`generate` and compares;
``tests/test_catalogue_names.py`` checks that this script imports no part of
kspec and that kspec's policy on top of its facts matches the runtime.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import math
import os
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

CATALOGUE = Path(__file__).resolve().parent.parent / "src" / "kspec" / "catalogue.json"

#: Keywords ``keras.layers.Layer.__init__`` takes through ``**kwargs``.
LAYER_BASE_KWARGS = ("input_shape", "input_dim", "batch_size", "batch_input_shape")

#: For each kind of object a compile or train section builds from a call: its
#: Keras module (below ``keras``) and the name of Keras's base class there.
CALL_MODULES: dict[str, tuple[str, str]] = {
    "losses": ("losses", "Loss"),
    "metrics": ("metrics", "Metric"),
    "optimizers": ("optimizers", "Optimizer"),
    "schedules": ("optimizers.schedules", "LearningRateSchedule"),
    "callbacks": ("callbacks", "Callback"),
}


def _import_keras() -> ModuleType:
    """``import keras`` with the TensorFlow backend (unless one is chosen)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return importlib.import_module("keras")


def _default(value: Any) -> Any:
    """A JSON-ready form of a parameter default (repr for anything else)."""
    if value is inspect.Parameter.empty:
        return None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str, type(None))) for v in value):
        return list(value)
    return {"repr": repr(value)}


def _signature(fn: Any) -> dict[str, Any] | None:
    """Parameters of ``fn`` (a function, or a class's ``__init__``)."""
    try:
        sig = inspect.signature(fn.__init__ if inspect.isclass(fn) else fn)
    except (TypeError, ValueError):
        return None
    params = []
    varargs = varkw = False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind == p.VAR_POSITIONAL:
            varargs = True
            continue
        if p.kind == p.VAR_KEYWORD:
            varkw = True
            continue
        params.append({
            "name": p.name,
            "positional": p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD),
            "required": p.default is inspect.Parameter.empty,
            "default": _default(p.default),
        })
    return {"params": params, "varargs": varargs, "varkw": varkw}


def _layer_entry(keras: Any, cls: type) -> dict[str, Any]:
    """A layer class's constructor signature, and ``extra``: the other
    keywords it accepts through ``**kwargs`` (:func:`_layer_keywords`)."""
    entry = _signature(cls) or {"params": [], "varargs": False, "varkw": False}
    own = {p["name"] for p in entry["params"]}
    entry["extra"] = sorted(_layer_keywords(keras, cls) - own)
    return entry


def _layer_keywords(keras: Any, cls: type) -> set[str]:
    """Every keyword a layer class's constructor accepts, following
    ``**kwargs`` up the class hierarchy to ``keras.layers.Layer``, including
    the legacy keywords a constructor takes out of ``**kwargs`` itself
    (``LeakyReLU(alpha=...)``, ``Embedding(input_length=...)``)."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            sig = inspect.signature(init)
        except (TypeError, ValueError):
            break
        params = sig.parameters.values()
        accepted |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        var_keyword = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)
        if var_keyword is None:
            break
        accepted |= _keywords_taken(init, var_keyword)
        if klass is keras.layers.Layer:
            accepted |= set(LAYER_BASE_KWARGS)
            break
    accepted.discard("self")
    return accepted


def _kwargs_fate(init: Any, var_keyword: str) -> str:
    """What a constructor does with the keywords left in its ``**var_keyword``:
    ``"forwarded"`` (passed on as ``**var_keyword``, e.g. to
    ``super().__init__``), ``"refused"`` (an ``if var_keyword:`` that raises,
    as ``BaseOptimizer`` does) or ``"ignored"`` (``ReduceLROnPlateau`` takes any
    keyword and drops it)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return "forwarded"  # no source: assume the next constructor decides

    def is_kwargs(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == var_keyword

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(k.arg is None and is_kwargs(k.value) for k in node.keywords):
            return "forwarded"
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and any(is_kwargs(n) for n in ast.walk(node.test)) \
                and any(isinstance(n, ast.Raise) for stmt in node.body for n in ast.walk(stmt)):
            return "refused"
    return "ignored"


def _keywords_taken(function: Any, var_keyword: str) -> set[str]:
    """Legacy keywords ``function`` reads out of its ``**var_keyword`` dict
    with a constant key: ``kwargs.pop("alpha")``, ``kwargs.get("x")``,
    ``kwargs["x"]``, ``"x" in kwargs``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
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


def _call_keywords(cls: type) -> tuple[set[str], bool]:
    """Every keyword ``cls(...)`` accepts, following ``**kwargs`` up the class
    hierarchy (as :func:`_layer_entry` does for layers), and whether it also
    accepts any other keyword (a constructor that ignores what is left in its
    ``**kwargs``). ``object.__init__`` refuses whatever reaches it."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        if klass is object:
            return accepted, False
        try:
            sig = inspect.signature(init)
        except (TypeError, ValueError):
            return accepted, True  # cannot tell: never refuse a keyword here
        params = list(sig.parameters.values())[1:]  # without self
        accepted |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        var_keyword = next((p.name for p in params if p.kind == p.VAR_KEYWORD), None)
        if var_keyword is None:
            return accepted, False
        accepted |= _keywords_taken(init, var_keyword)
        fate = _kwargs_fate(init, var_keyword)
        if fate != "forwarded":
            return accepted, fate == "ignored"
    return accepted, False


def _call_entry(cls: type) -> dict[str, Any]:
    """A constructor signature for a class a compile or train section may
    call: its own parameters, ``extra`` (the keywords it accepts through
    ``**kwargs``: ``Adam(decay=...)``, passed on to ``BaseOptimizer``) and
    ``open`` (whether any other keyword is accepted too, and ignored)."""
    entry = _signature(cls) or {"params": [], "varargs": False, "varkw": False}
    accepted, open_ = _call_keywords(cls)
    entry["extra"] = sorted(accepted - {p["name"] for p in entry["params"]})
    entry["open"] = open_
    return entry


def _submodule(keras: Any, path: str) -> Any:
    """``keras.<path>`` (``"optimizers.schedules"``)."""
    module = keras
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _calls(keras: Any) -> dict[str, Any]:
    """For each kind of object a compile or train section builds from a call
    (:data:`CALL_MODULES`): every public class of its Keras module that is a
    subclass of Keras's base for the kind, by name, with its constructor
    (:func:`_call_entry`), and the module's public functions by name."""
    out: dict[str, Any] = {}
    for kind, (path, base_name) in CALL_MODULES.items():
        module = _submodule(keras, path)
        base = getattr(module, base_name)
        classes: dict[str, Any] = {}
        functions: list[str] = []
        for name in sorted(dir(module)):
            if name.startswith("_") or name in ("get", "serialize", "deserialize"):
                continue
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if issubclass(obj, base):
                    classes[name] = _call_entry(obj)
            elif callable(obj):
                functions.append(name)
        out[kind] = {"classes": classes, "functions": functions}
    return out


def _snake(name: str) -> str:
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


#: The methods Keras relies on when it uses an object of each kind: to build
#: a weight (initializers), in training (``__call__`` / ``call`` /
#: ``update_state`` + ``result`` / ``update_step``) and to save the model
#: (``get_config``, which serialization calls for every kind). After a
#: method, the methods through which Keras reaches it: a class overriding one
#: of them does not need the method (``LossScaleOptimizer`` and
#: ``MultiOptimizer`` override ``apply`` and delegate, with no
#: ``update_step`` of their own).
KEY_METHODS: dict[str, tuple[tuple[str, ...], ...]] = {
    "initializers": (("__call__",), ("get_config",)),
    "regularizers": (("__call__",), ("get_config",)),
    "constraints": (("__call__",), ("get_config",)),
    "losses": (("call",), ("get_config",)),
    "metrics": (("update_state",), ("result",), ("get_config",)),
    "optimizers": (("update_step", "apply"), ("get_config",)),
}


def _raises_not_implemented(fn: Any) -> bool:
    """Whether the body of ``fn`` is nothing but ``raise NotImplementedError``
    (after an optional docstring): the way Keras marks a method its base
    classes leave to subclasses."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _unimplemented(obj: Any, kind: str) -> list[str]:
    """The key methods (:data:`KEY_METHODS`) that ``obj``, a class or an
    instance of one, leaves unimplemented: the definition it has, its own or
    inherited, only raises ``NotImplementedError``, and no method Keras
    reaches it through is overridden below that definition. Keras's abstract
    bases are the classes with such methods (``Initializer.__call__``,
    ``Regularizer.get_config``, ``Loss.call``, ``Metric.update_state``,
    ``Optimizer.update_step``): Keras fails when a spec names one. Plain
    functions (``l2``, ``mean_squared_error``) have none."""
    cls = obj if inspect.isclass(obj) else type(obj)
    if cls.__module__.split(".")[0] != "keras":
        return []  # a function (``get`` returns it as is), or not Keras's own
    mro = cls.__mro__

    def owner(method: str) -> int | None:
        """Index in the MRO of the class whose ``method`` ``cls`` uses."""
        return next((i for i, c in enumerate(mro) if method in vars(c)), None)

    missing = []
    for method, *callers in KEY_METHODS[kind]:
        at = owner(method)
        if at is None or not _raises_not_implemented(vars(mro[at])[method]):
            continue
        if any((o := owner(c)) is not None and o < at for c in callers):
            continue  # reached only through a caller this class replaces
        missing.append(method)
    return missing


def _functions(module: Any, kind: str) -> dict[str, Any]:
    """Every public callable of ``module`` with its signature, but for the
    abstract base classes (:func:`_unimplemented`)."""
    out: dict[str, Any] = {}
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if name.startswith("_") or not callable(obj) or name in ("get", "serialize", "deserialize"):
            continue
        if _unimplemented(obj, kind):
            continue
        sig = _signature(obj)
        if sig is not None:
            out[name] = sig
    return out


def _identifiers(module: Any, kind: str) -> list[str]:
    """Strings ``module.get`` accepts (``"l2"``, ``"glorot_uniform"`` ...),
    but for those naming an abstract base class (:func:`_unimplemented`):
    ``get("Initializer")`` succeeds, building the weight does not."""
    get = getattr(module, "get", None)
    if get is None:
        return []
    found: set[str] = set()
    for name in dir(module):
        if name.startswith("_"):
            continue
        for cand in {name, _snake(name)}:
            try:
                obj = get(cand)
            except Exception:
                continue
            if obj is not None and not _unimplemented(obj, kind):
                found.add(cand)
    return sorted(found)


def generate() -> dict[str, Any]:
    """The catalogue for the installed Keras, as JSON-ready data."""
    keras = _import_keras()
    layers: dict[str, Any] = {}
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if name.startswith("_") or not inspect.isclass(obj) or not issubclass(obj, keras.layers.Layer):
            continue
        layers[name] = _layer_entry(keras, obj)
    data: dict[str, Any] = {"keras_version": keras.__version__, "layers": layers}
    for kind in ("regularizers", "initializers", "constraints"):
        module = getattr(keras, kind)
        data[kind] = {"functions": _functions(module, kind), "identifiers": _identifiers(module, kind)}
    data["activations"] = sorted(n for n in dir(keras.activations)
                                 if not n.startswith("_") and n not in ("get", "serialize", "deserialize"))
    for kind in ("losses", "metrics", "optimizers"):
        data[kind] = sorted(_functions(getattr(keras, kind), kind))
    data["calls"] = _calls(keras)
    data["ops"] = _ops(keras)
    data["docs"] = {"layers": {name: _doc_line(getattr(keras.layers, name)) for name in layers},
                    "ops": {name: _doc_line(getattr(keras.ops, name)) for name in data["ops"]}}
    return data


#: Longest documentation line kept (Keras's first lines are one sentence, rarely longer).
DOC_LINE_WIDTH = 200


def _doc_line(obj: Any) -> str:
    """The first paragraph of ``obj``'s own docstring (what an editor shows
    on hover) on one line, at most :data:`DOC_LINE_WIDTH` characters; ``""``
    when it has none.
    A class that does not document itself gets ``""``, not its base's text."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return ""
    paragraph: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    text = " ".join(paragraph)
    if len(text) > DOC_LINE_WIDTH:
        text = text[:DOC_LINE_WIDTH - 3].rstrip() + "..."
    return text


def _ops(keras: Any) -> dict[str, Any]:
    """Every public ``keras.ops`` function with its signature: what a spec's
    operations (``x + y`` is ``add``, ``ops.mean(x, axis=1)``) may call."""
    out: dict[str, Any] = {}
    for name in sorted(dir(keras.ops)):
        obj = getattr(keras.ops, name)
        if name.startswith("_") or inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
            continue
        sig = _signature(obj)
        if sig is not None:
            out[name] = sig
    return out


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped catalogue is stale")
    args = parser.parse_args(argv)
    text = dumps(generate())
    if args.check:
        if CATALOGUE.read_text(encoding="utf-8") != text:
            print(f"{CATALOGUE} is stale: run python scripts/gen_catalogue.py", file=sys.stderr)
            return 1
        print("catalogue is up to date")
        return 0
    partial = CATALOGUE.with_name(f".{CATALOGUE.name}.{os.getpid()}.tmp")  # this script imports no kspec
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, CATALOGUE)  # never a half-written catalogue
    print(f"wrote {CATALOGUE} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
