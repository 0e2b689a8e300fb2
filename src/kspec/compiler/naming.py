"""Deterministic Keras layer names, derived from the spec alone.

Compiling the same spec twice, in one process or two, must give the same
names, so kspec never lets Keras pick names from its global counters:

- the last layer of ``h = x -> Conv2D(8, 3) -> ReLU()`` is named ``h``; the
  ones before it ``h_conv2d`` (then ``h_conv2d_2`` ... if repeated);
- the last layer of an output expression takes the output's name; when
  that layer cannot take it (a shared layer, a sub-model, a plain
  reference, an explicit other name) an ``Identity`` layer carries it,
  except with ``outputs as dict``, whose keys name the outputs;
- a named single layer takes its name; a named stack's layers are
  ``encoder_embedding``, ``encoder_lstm``;
- a sequential model's layers are named like Keras would in a fresh
  session: ``dense``, ``dense_1``, ...;
- an explicit ``name="..."`` argument always wins.

Names that the spec chooses (targets, outputs, named layers, inputs,
explicit names) are reserved first, so a derived name never takes one.
"""

from __future__ import annotations

import re
from dataclasses import field
from functools import lru_cache

from kspec._records import record
from kspec.spec import ir

__all__ = [
    "LayerNames",
    "NameAllocator",
    "explicit_name",
    "is_custom_layer",
    "name_functional",
    "name_sequential",
    "snake",
]


@lru_cache(maxsize=1024)  # a spec names few layer types, each many times
def snake(name: str) -> str:
    """Keras's own class-name to layer-name rule: ``Conv2D`` -> ``conv2d``,
    ``BatchNormalization`` -> ``batch_normalization``, ``ReLU`` -> ``re_lu``."""
    name = name.split(">")[-1]  # a registered custom class: package>ClassName
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


def is_custom_layer(type_: str) -> bool:
    """Whether a layer type names a custom class registered with Keras
    (``package>ClassName``, as ``keras.saving.register_keras_serializable``
    registers it) rather than a ``keras.layers`` class."""
    return ">" in type_


def explicit_name(callee: ir.LayerCall | ir.LayerRef | ir.Op) -> str | None:
    """The ``name=`` a layer call gives itself, if it is a plain string."""
    if isinstance(callee, ir.LayerCall):
        n = callee.kwargs.get("name")
        if isinstance(n, str):
            return n
    return None


@record
class LayerNames:
    """Names for every inline layer of a model, by position.

    Keys: ``("def", i, j)`` for layer ``j`` of named layer ``i``;
    ``("stmt", i, j)`` for step ``j`` of statement ``i`` (nodes first, then
    outputs, in declaration order); ``("seq", j)`` for sequential layers.
    ``identity`` maps an output index to the name of an Identity layer that
    must carry the output's name (the output ends in a shared layer or is a
    plain reference; never with ``outputs as dict``)."""

    names: dict[tuple[object, ...], str] = field(default_factory=dict)
    identity: dict[int, str] = field(default_factory=dict)


class NameAllocator:
    """Unique names: ``fresh(base)`` is ``base`` if free, else ``base_2``,
    ``base_3`` ... (``base_1`` ... with ``first_suffix=1``, as Keras counts)."""

    def __init__(self, reserved: set[str]) -> None:
        self.taken = set(reserved)
        #: Where the search for a free suffix of a base name resumes: names
        #: are only ever added, so every suffix below it is still taken (and
        #: a thousand ``dense`` layers cost linear time, not quadratic).
        self.resume: dict[tuple[str, int], int] = {}

    def fresh(self, base: str, first_suffix: int = 2) -> str:
        taken = self.taken
        if base not in taken:
            taken.add(base)
            return base
        key = (base, first_suffix)
        i = self.resume.get(key, first_suffix)
        name = f"{base}_{i}"
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        self.resume[key] = i + 1
        return name


def name_functional(model: ir.FunctionalModel, model_names: set[str]) -> LayerNames:
    """Layer names for a functional model (see the module docstring)."""
    result = LayerNames()
    names = result.names
    statements: list[ir.Assign | ir.Output] = [*model.nodes, *model.outputs]
    alloc = NameAllocator(_reserved(model, statements))

    for i, d in enumerate(model.layers):
        for j, c in enumerate(d.stack):
            if isinstance(c, ir.LayerRef):
                continue
            n = explicit_name(c)
            if n:
                names[("def", i, j)] = n
            elif len(d.stack) == 1:
                names[("def", i, j)] = d.name
            else:
                names[("def", i, j)] = alloc.fresh(f"{d.name}_{snake(c.type)}")

    n_nodes = len(model.nodes)
    for i, st in enumerate(statements):
        is_output = isinstance(st, ir.Output)
        primary = st.name if isinstance(st, ir.Output) else st.targets[0]
        steps = st.value.steps
        last = len(steps) - 1
        for j, step in enumerate(steps):
            layer = step.layer
            if isinstance(layer, ir.LayerCall):  # the usual step: tested first
                if "name" in layer.kwargs and (n := explicit_name(layer)):
                    names[("stmt", i, j)] = n
                elif j == last:
                    names[("stmt", i, j)] = primary
                else:
                    names[("stmt", i, j)] = alloc.fresh(f"{primary}_{snake(layer.type)}")
            elif isinstance(layer, ir.Op):  # an operation names itself nothing
                names[("stmt", i, j)] = primary if j == last else alloc.fresh(f"{primary}_{layer.fn}")
        if is_output and model.structure.outputs != "dict":  # a dict's key names the output: no Identity
            final = steps[-1].layer if steps else None
            out_index = i - n_nodes
            needs_identity = final is None or isinstance(final, ir.LayerRef)
            if isinstance(final, ir.LayerRef) and final.ref == primary and final.ref in model_names:
                needs_identity = False  # a sub-model already carries the output's name
            if final is not None and not needs_identity and explicit_name(final) not in (None, primary):
                needs_identity = True
            if needs_identity:
                result.identity[out_index] = primary
    return result


def _reserved(model: ir.FunctionalModel, statements: list[ir.Assign | ir.Output]) -> set[str]:
    """The names a functional model chooses itself (inputs, named layers,
    targets, outputs, references, explicit names): no derived name takes one."""
    reserved: set[str] = {i.name for i in model.inputs}
    reserved.update(d.name for d in model.layers)
    for st in statements:
        if isinstance(st, ir.Assign):
            reserved.update(st.targets)
        else:
            reserved.add(st.name)
        for step in st.value.steps:
            layer = step.layer
            if isinstance(layer, ir.LayerCall):  # the usual step: tested first
                if "name" in layer.kwargs and (n := explicit_name(layer)):
                    reserved.add(n)
            elif isinstance(layer, ir.LayerRef):
                reserved.add(layer.ref)
    for d in model.layers:
        for c in d.stack:
            n = explicit_name(c)
            if n:
                reserved.add(n)
    return reserved


def name_sequential(model: ir.SequentialModel) -> LayerNames:
    """Layer names for a sequential model: Keras's fresh-session names."""
    result = LayerNames()
    named = {j: n for j, c in enumerate(model.layers) if isinstance(c, ir.LayerCall) and "name" in c.kwargs
             and (n := explicit_name(c))}
    reserved = set(named.values())
    if model.input is not None:
        reserved.add(model.input.name)
    fresh, names = NameAllocator(reserved).fresh, result.names
    for j, c in enumerate(model.layers):
        if isinstance(c, ir.LayerCall):
            names[("seq", j)] = named[j] if j in named else fresh(snake(c.type), 1)
    return result
