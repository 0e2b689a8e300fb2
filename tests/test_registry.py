"""The layer registry agrees with the catalogue: every rule names a layer
Keras has, every catalogue layer has a shape rule or a stated reason for
having none, every family module registers layers, and argument rules name
only arguments the layer's constructor takes. No keras import."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from kspec.catalogue import ALIASES, catalogue
from kspec.compiler import registry
from kspec.compiler.registry import (
    FAMILY_MODULES,
    MERGES,
    RULES,
    SHAPE_UNKNOWN,
    Layer,
    argument_problems,
    families,
    rule_for,
)


def _registered() -> dict[str, Layer]:
    return {name: layer for family in families() for name, layer in family.layers.items()}


def test_every_rule_names_a_catalogue_layer() -> None:
    layers = catalogue().layers
    strays = sorted(name for name in _registered() if name not in layers or name in ALIASES)
    assert strays == []
    assert sorted(name for name in RULES if name not in layers) == []


def test_every_catalogue_layer_has_a_shape_rule_or_a_reason() -> None:
    missing = []
    for name in catalogue().layers:
        layer = rule_for(name)  # aliases resolved
        if layer is None or not (name in RULES or layer.name in SHAPE_UNKNOWN):
            missing.append(name)
    assert missing == []


def test_shape_unknown_reasons_are_stated_and_exclusive() -> None:
    assert SHAPE_UNKNOWN, "some layers are known to have no shape rule"
    for name, reason in SHAPE_UNKNOWN.items():
        assert reason.strip(), name
        assert name not in RULES, name


def test_aliases_resolve_to_the_main_name() -> None:
    for alias, name in ALIASES.items():
        if alias not in catalogue().layers:
            continue
        assert rule_for(alias) is rule_for(name)
        assert RULES.get(alias) is RULES.get(name)
    problems = list(argument_problems("MaxPool2D", {"padding": "vaild"}))
    assert [(p.message, p.key) for p in problems] == [
        ("MaxPool2D: 'padding' must be one of 'valid', 'same', got 'vaild'", "padding")]


def test_every_family_module_registers_layers() -> None:
    by_module = {module.family.name: module for module in FAMILY_MODULES}
    assert {family.name for family in families()} == set(by_module)
    for family in families():
        assert family.layers, f"{family.name} registers no layer"
    names = {m.name for m in pkgutil.iter_modules(registry.__path__) if not m.name.startswith("_")}
    names.discard("settings")  # the compile/train call policy: not a layer family
    names.discard("operations")  # keras.ops operations: not layers either
    assert names == {module.__name__.rsplit(".", 1)[1] for module in FAMILY_MODULES}
    for name in names:
        assert hasattr(importlib.import_module(f"kspec.compiler.registry.{name}"), "family")


@pytest.mark.parametrize("name", sorted(_registered()))
def test_argument_rules_name_accepted_parameters(name: str) -> None:
    accepted = catalogue().layers[name].accepted
    layer = _registered()[name]
    assert sorted(key for key in layer.args if key not in accepted) == []


def test_merges_are_registered_merging_layers() -> None:
    assert {"Add", "Concatenate", "Dot"} <= MERGES
    assert all(rule_for(name) is not None and name in RULES for name in MERGES)
