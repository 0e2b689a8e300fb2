"""The layer catalogue: what Keras accepts, known without importing keras.

Layers with their constructor signatures; the names of regularizers,
initializers, constraints and activations; and, for the losses, metrics,
optimizers, learning-rate schedules and callbacks of ``compile`` and
``train`` sections, the class each name builds and its constructor.

``catalogue.json`` (package data) is generated from the installed Keras by
``scripts/gen_catalogue.py``; a test regenerates it in memory and compares,
so it cannot silently drift from the Keras that kspec builds with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

__all__ = ["ALIASES", "CallKind", "Catalogue", "Param", "Signature", "catalogue"]

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


@dataclass(frozen=True)
class Param:
    """One constructor parameter."""

    name: str
    positional: bool
    required: bool
    default: Any


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class CallKind:
    """One kind of object a compile or train section builds from a call
    (losses, metrics, optimizers, learning-rate schedules, callbacks)."""

    #: Every name a spec may write -> the class kspec builds for a call of
    #: that name (its registered name), or ``None`` when kspec refuses a call
    #: of that name (a metric Keras has only as a function, say).
    names: dict[str, str | None]
    #: Constructor signature of each class.
    classes: dict[str, Signature]

    def signature(self, name: str) -> Signature | None:
        """The constructor a call of ``name`` reaches (``None``: none)."""
        cls = self.names.get(name)
        return self.classes[cls] if cls is not None else None


@dataclass(frozen=True)
class Catalogue:
    """Everything the static checks need to know about Keras."""

    keras_version: str
    layers: dict[str, Signature]
    functions: dict[str, dict[str, Signature]]  # "regularizers" -> name -> signature
    identifiers: dict[str, frozenset[str]]  # "regularizers" -> strings ``get`` accepts
    activations: frozenset[str]
    losses: frozenset[str]
    metrics: frozenset[str]
    optimizers: frozenset[str]
    calls: dict[str, CallKind]  # "losses", "metrics", "optimizers", "schedules", "callbacks"


def _parse(data: dict[str, Any]) -> Catalogue:
    kinds = ("regularizers", "initializers", "constraints")
    return Catalogue(
        keras_version=data["keras_version"],
        layers={n: Signature.of(s) for n, s in data["layers"].items()},
        functions={k: {n: Signature.of(s) for n, s in data[k]["functions"].items()} for k in kinds},
        identifiers={k: frozenset(data[k]["identifiers"]) for k in kinds},
        activations=frozenset(data["activations"]),
        losses=frozenset(data["losses"]),
        metrics=frozenset(data["metrics"]),
        optimizers=frozenset(data["optimizers"]),
        calls={k: CallKind(names=dict(v["names"]), classes={n: Signature.of(s) for n, s in v["classes"].items()})
               for k, v in data["calls"].items()},
    )


def load_data() -> dict[str, Any]:
    """The raw shipped catalogue (JSON data)."""
    text = resources.files("kspec").joinpath("catalogue.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process."""
    return _parse(load_data())
