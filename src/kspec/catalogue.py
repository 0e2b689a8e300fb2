"""The layer catalogue: what Keras accepts, known without importing keras.

Layers with their constructor signatures; the names of regularizers,
initializers, constraints and activations; and, for the losses, metrics,
optimizers, learning-rate schedules and callbacks of ``compile`` and
``train`` sections, Keras's classes with their constructors and its
functions (:class:`CallFacts`); and the first line of the documentation of
each layer and operation, for editors.

``catalogue.json`` (package data) is generated from the installed Keras by
``scripts/gen_catalogue.py`` and holds facts about Keras only; a test
regenerates it in memory and compares, so it cannot silently drift from the
Keras that kspec builds with. When the installed Keras is another version,
:func:`version_note` says so (``kspec check`` prints it).

kspec's own policy for calls (which class a call of each name builds, kspec's
``rmse`` loss, calls kspec refuses) is applied on top of these facts by
:mod:`kspec.compiler.registry.settings`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field
from functools import cached_property, lru_cache
from typing import Any, TypeVar

from kspec._records import record

__all__ = [
    "ALIASES",
    "CallFacts",
    "CallKind",
    "Catalogue",
    "Param",
    "Signature",
    "catalogue",
    "installed_keras_version",
    "version_note",
]

#: Keras's other names for the same layer classes (``MaxPool2D`` is
#: ``MaxPooling2D``); static rules are written for the main names.
ALIASES: dict[str, str] = {
    **{f"Convolution{r}D{t}": f"Conv{r}D{t}" for r in (1, 2, 3) for t in ("", "Transpose")},
    **{f"SeparableConvolution{r}D": f"SeparableConv{r}D" for r in (1, 2)},
    **{f"MaxPool{r}D": f"MaxPooling{r}D" for r in (1, 2, 3)},
    **{f"AvgPool{r}D": f"AveragePooling{r}D" for r in (1, 2, 3)},
    **{f"GlobalMaxPool{r}D": f"GlobalMaxPooling{r}D" for r in (1, 2, 3)},
    **{f"GlobalAvgPool{r}D": f"GlobalAveragePooling{r}D" for r in (1, 2, 3)},
}


_V = TypeVar("_V")


class _Lazy(Mapping[str, _V]):
    """A read-only mapping whose values are made from their raw JSON data
    the first time each is read. A check reads the signatures of the few
    layers a spec uses; making all of the catalogue's hundreds (thousands of
    :class:`Param`) took longer than the rest of a small spec's check.
    Making a value twice (two threads at once) is harmless: it is data."""

    __slots__ = ("_made", "_make", "_raw")

    def __init__(self, raw: dict[str, Any], make: Callable[[Any], _V]) -> None:
        self._raw = raw
        self._make = make
        self._made: dict[str, _V] = {}

    def __getitem__(self, key: str) -> _V:
        try:
            return self._made[key]
        except KeyError:
            value = self._made[key] = self._make(self._raw[key])
            return value

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"_Lazy({len(self._raw)} entries)"


@record(frozen=True)
class Param:
    """One constructor parameter."""

    name: str
    positional: bool
    required: bool
    default: Any


@record(frozen=True)
class Signature:
    """A constructor or function signature, plus the keywords a layer class
    accepts through ``**kwargs`` (``name``, ``dtype``, ``input_shape`` ...).

    ``open``: the constructor also takes any other keyword (and ignores it),
    as ``ReduceLROnPlateau`` does; recorded for the classes of compile and
    train sections (``Catalogue.calls``)."""

    params: tuple[Param, ...]
    varargs: bool
    varkw: bool
    extra: frozenset[str]
    open: bool = False

    @cached_property
    def positional(self) -> list[str]:
        """Names of the parameters that may be given positionally, in order."""
        return [p.name for p in self.params if p.positional]

    @cached_property
    def position(self) -> dict[str, int]:
        """Where each positional parameter comes among the positional
        arguments (``{"units": 0}``): what a positional argument binds to,
        read without binding the whole call."""
        return {name: i for i, name in enumerate(self.positional)}

    @cached_property
    def accepted(self) -> frozenset[str]:
        """Every keyword the constructor accepts."""
        return frozenset(p.name for p in self.params) | self.extra

    @cached_property
    def defaults(self) -> dict[str, Any]:
        """Each parameter's default (``None`` when required)."""
        return {p.name: p.default for p in self.params}

    def default(self, name: str) -> Any:
        return self.defaults.get(name)

    def bind(self, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Positional and keyword arguments by parameter name (no checks)."""
        out = dict(kwargs)
        for name, value in zip(self.positional, args, strict=False):
            out.setdefault(name, value)
        return out

    def bind_problem(self, n_args: int, keywords: Iterable[str]) -> tuple[str, str] | None:
        """The first problem Python would report calling with ``n_args``
        positional arguments and these (accepted) keywords, if any:
        ``("twice", name)``, ``("too_many", "")`` or ``("missing", name)``."""
        given = set(keywords)
        positional = self.positional
        for name in positional[:n_args]:
            if name in given:
                return "twice", name
        if n_args > len(positional) and not self.varargs:
            return "too_many", ""
        bound = set(positional[:n_args]) | given
        for p in self.params:
            if p.required and p.name not in bound:
                return "missing", p.name
        return None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Signature:
        params = tuple(Param(p["name"], p["positional"], p["required"], p["default"]) for p in data["params"])
        return cls(params, bool(data["varargs"]), bool(data["varkw"]), frozenset(data.get("extra", ())),
                   bool(data.get("open", False)))


@record(frozen=True)
class CallFacts:
    """What Keras offers for one kind of object a compile or train section
    builds from a call: the public classes of its module that subclass
    Keras's base for the kind (``Loss``, ``Metric``, ``Optimizer``,
    ``LearningRateSchedule``, ``Callback``), and the module's functions."""

    #: Class name -> constructor signature.
    classes: Mapping[str, Signature]
    #: Names of the module's public functions (``mean_squared_error``).
    functions: frozenset[str]

    @classmethod
    def of(cls, data: dict[str, Any]) -> CallFacts:
        return cls(_Lazy(data["classes"], Signature.of), frozenset(data["functions"]))


@record(frozen=True)
class CallKind:
    """One kind of object a compile or train section builds from a call
    (losses, metrics, optimizers, learning-rate schedules, callbacks), as
    kspec builds it (:func:`kspec_calls`)."""

    #: Every name kspec resolves -> the class kspec builds for a call of
    #: that name (its registered name), or ``None`` when kspec refuses a call
    #: of that name (a metric Keras has only as a function, say).
    names: dict[str, str | None]
    #: Constructor signature of each class.
    classes: dict[str, Signature]

    def signature(self, name: str) -> Signature | None:
        """The constructor a call of ``name`` reaches (``None``: none)."""
        cls = self.names.get(name)
        return self.classes[cls] if cls is not None else None


@record(frozen=True)
class Catalogue:
    """Everything the static checks need to know about Keras."""

    keras_version: str
    layers: Mapping[str, Signature]
    functions: dict[str, Mapping[str, Signature]]  # "regularizers" -> name -> signature
    identifiers: dict[str, frozenset[str]]  # "regularizers" -> strings ``get`` accepts
    activations: frozenset[str]
    losses: frozenset[str]
    metrics: frozenset[str]
    optimizers: frozenset[str]
    #: The classes and functions of "losses", "metrics", "optimizers",
    #: "schedules" and "callbacks" (which names a spec may write, and what
    #: each builds, is kspec's policy: :mod:`kspec.compiler.registry.settings`).
    calls: Mapping[str, CallFacts]
    #: Every public ``keras.ops`` function and its signature (a spec's operations).
    ops: Mapping[str, Signature] = field(default_factory=dict)
    #: The first line of each layer class's docstring, by layer name (what an
    #: editor shows on hover; ``""`` when Keras documents none).
    layer_docs: dict[str, str] = field(default_factory=dict)
    #: The first line of each ``keras.ops`` function's docstring, by name.
    op_docs: dict[str, str] = field(default_factory=dict)


def _parse(data: dict[str, Any]) -> Catalogue:
    """The catalogue of the raw data; each signature is made when first read."""
    kinds = ("regularizers", "initializers", "constraints")
    return Catalogue(
        keras_version=data["keras_version"],
        layers=_Lazy(data["layers"], Signature.of),
        functions={k: _Lazy(data[k]["functions"], Signature.of) for k in kinds},
        identifiers={k: frozenset(data[k]["identifiers"]) for k in kinds},
        activations=frozenset(data["activations"]),
        losses=frozenset(data["losses"]),
        metrics=frozenset(data["metrics"]),
        optimizers=frozenset(data["optimizers"]),
        calls=_Lazy(data["calls"], CallFacts.of),
        ops=_Lazy(data.get("ops", {}), Signature.of),
        layer_docs=data.get("docs", {}).get("layers", {}),
        op_docs=data.get("docs", {}).get("ops", {}),
    )


def load_data() -> dict[str, Any]:
    """The raw shipped catalogue (JSON data)."""
    here = os.path.join(os.path.dirname(__file__), "catalogue.json")
    if os.path.isfile(here):
        with open(here, encoding="utf-8") as f:
            text = f.read()
    else:  # installed where modules are not files (a zip)
        from importlib import resources

        text = resources.files("kspec").joinpath("catalogue.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process."""
    return _parse(load_data())


@lru_cache(maxsize=1)
def installed_keras_version() -> str | None:
    """The version of the installed Keras, read from its package metadata
    (keras is not imported); ``None`` when Keras is not installed.

    Found as ``importlib.metadata.version("keras")`` finds it, the first
    ``keras-*.dist-info`` (or ``.egg-info``) directory on ``sys.path``, but
    without importing ``importlib.metadata``, which takes longer than
    checking a spec. Distributions inside zip files are not looked at."""
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            stem, _, kind = name.rpartition(".")
            if kind.lower() not in ("dist-info", "egg-info") or stem.split("-", 1)[0].lower() != "keras":
                continue
            version = _metadata_version(os.path.join(folder, name, "METADATA" if kind.lower() == "dist-info"
                                                     else "PKG-INFO"))
            if version is not None:
                return version
    return None


def _metadata_version(path: str) -> str | None:
    """The ``Version:`` header of a package's metadata file."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line[len("Version:"):].strip()
                if not line.strip():
                    return None  # the headers end at the first blank line
    except OSError:
        return None
    return None


def version_note() -> str | None:
    """A note for the user when the installed Keras is not the version the
    catalogue was generated from (``None`` when it is, or when Keras is not
    installed: the static checks do not need it)."""
    installed = installed_keras_version()
    generated = catalogue().keras_version
    if installed is None or installed == generated:
        return None
    return (f"the layer catalogue was generated from Keras {generated}; Keras {installed} is installed: "
            "checks may differ (scripts/gen_catalogue.py regenerates it)")
