"""The catalogue leaves out Keras's abstract base classes: ``kspec check``
refuses ``kernel_initializer="Initializer"`` as it refuses any unknown name,
since Keras fails with it (``Initializer.__call__`` and
``Regularizer.get_config`` raise ``NotImplementedError``). No keras import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import kspec
from _scripts import load_script
from kspec.catalogue import catalogue, load_data

ROOT = Path(__file__).resolve().parent.parent

#: (argument, abstract base named as a string or called) -> an unknown name written the same way.
ABSTRACT = [
    ("kernel_initializer", '"Initializer"', '"glorot"'),
    ("kernel_initializer", '"initializer"', '"glorot"'),
    ("bias_initializer", '"Initializer"', '"glorot"'),
    ("kernel_initializer", "Initializer()", "Glorot()"),
    ("kernel_regularizer", '"Regularizer"', '"l3"'),
    ("kernel_regularizer", '"regularizer"', '"l3"'),
    ("activity_regularizer", '"Regularizer"', '"l3"'),
    ("kernel_regularizer", "Regularizer()", "L3()"),
]

USABLE = [
    ("kernel_initializer", '"glorot_uniform"'),
    ("kernel_initializer", '"GlorotUniform"'),
    ("kernel_initializer", "RandomNormal(stddev=0.1)"),
    ("kernel_regularizer", '"l2"'),
    ("kernel_regularizer", "L2(0.01)"),
    ("kernel_constraint", '"non_neg"'),
    ("kernel_constraint", '"NonNeg"'),
    ("kernel_constraint", "MaxNorm(2.0)"),
]


def _spec(key: str, value: str) -> str:
    return f"model m {{\n  input x: (8,)\n  output y = x -> Dense(4, {key}={value})\n}}\n"


def _codes(key: str, value: str) -> list[str]:
    with pytest.raises(kspec.KspecError) as info:
        kspec.loads(_spec(key, value))
    return [d.code for d in info.value.diagnostics]


@pytest.mark.parametrize(("key", "value", "unknown"), ABSTRACT)
def test_abstract_base_is_refused_like_an_unknown_name(key: str, value: str, unknown: str) -> None:
    codes = _codes(key, value)
    assert codes == _codes(key, unknown)
    assert codes[0] in ("K302", "K304")
    with pytest.raises(kspec.KspecError, match=value.strip('"').removesuffix("()")):
        kspec.loads(_spec(key, value))


@pytest.mark.parametrize(("key", "value"), USABLE)
def test_usable_names_are_still_accepted(key: str, value: str) -> None:
    kspec.loads(_spec(key, value))


def test_catalogue_has_no_abstract_base() -> None:
    cat = catalogue()
    for kind, base in (("initializers", "Initializer"), ("regularizers", "Regularizer")):
        assert base not in cat.functions[kind]
        assert {base, base.lower()}.isdisjoint(cat.identifiers[kind])
    data = load_data()
    assert "Loss" not in data["losses"] and "Metric" not in data["metrics"]
    assert "Optimizer" not in data["optimizers"]
    # Usable all the same: a no-op constraint, wrappers that delegate to another optimizer.
    assert "Constraint" in cat.identifiers["constraints"]
    assert {"LossScaleOptimizer", "MultiOptimizer"} <= set(data["optimizers"])
    assert {"glorot_uniform", "GlorotUniform"} <= cat.identifiers["initializers"]
    assert {"l2", "L2"} <= cat.identifiers["regularizers"]
    assert {"non_neg", "NonNeg"} <= cat.identifiers["constraints"]


def _generator() -> Any:
    return load_script("gen_catalogue")


#: Stand-ins for Keras classes (the rule only looks at Keras's own).
_KERAS = "keras.src.fake"


class _Base:
    __module__ = _KERAS

    def __call__(self, x: Any) -> Any:
        """Subclasses say what to do."""
        raise NotImplementedError("subclasses must implement __call__")

    def get_config(self) -> dict[str, Any]:
        return {}


class _Concrete(_Base):
    __module__ = _KERAS

    def __call__(self, x: Any) -> Any:
        return x


class _Trainer:
    __module__ = _KERAS

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        raise NotImplementedError

    def apply(self, grads: Any) -> None:
        self.update_step(grads, None, None)

    def get_config(self) -> dict[str, Any]:
        return {}


class _Delegating(_Trainer):
    __module__ = _KERAS

    def apply(self, grads: Any) -> None:
        pass


def test_generator_rule() -> None:
    gen = _generator()
    assert gen._unimplemented(_Base, "initializers") == ["__call__"]
    assert gen._unimplemented(_Base(), "constraints") == ["__call__"]
    assert gen._unimplemented(_Concrete, "initializers") == []
    assert gen._unimplemented(_Trainer, "optimizers") == ["update_step"]
    assert gen._unimplemented(_Delegating, "optimizers") == []  # never reaches update_step
    assert gen._unimplemented(len, "losses") == []
