"""The catalogue leaves out Keras's abstract base classes: ``kspec check``
refuses ``kernel_initializer="Initializer"`` as it refuses any unknown name,
since Keras fails with it (``Initializer.__call__`` and
``Regularizer.get_config`` raise ``NotImplementedError``).

The catalogue holds facts about Keras only: its generator reads Keras and no
part of kspec, and kspec's policy for compile and train calls, applied on top
of the facts, agrees with what the runtime builds. The last tests import keras.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import kspec
from _scripts import load_script
from kspec.catalogue import catalogue, load_data
from kspec.compiler.registry.settings import call_kind

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


def test_generator_reads_keras_only() -> None:
    """The generator imports no part of kspec (its facts cannot carry
    kspec's policy), and the shipped calls hold facts only."""
    tree = ast.parse((ROOT / "scripts" / "gen_catalogue.py").read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not {m for m in imported if m.split(".")[0] == "kspec"}
    for kind, facts in load_data()["calls"].items():
        assert set(facts) == {"classes", "functions"}, kind
        assert not [n for n in facts["classes"] if ">" in n], kind


def test_policy_on_top_of_the_facts() -> None:
    calls = {kind: call_kind(kind) for kind in catalogue().calls}
    assert calls["losses"].names["mse"] == "MeanSquaredError"
    assert calls["losses"].names["rmse"] == "kspec>RootMeanSquaredError"
    assert calls["metrics"].names["rmse"] == "RootMeanSquaredError"
    assert calls["metrics"].names["huber"] is None  # a metric Keras has only as a function
    assert calls["metrics"].names["acc"] is None  # passed to Keras as a string
    assert calls["optimizers"].names["adamw"] == "AdamW"
    sig = calls["losses"].signature("rmse")
    assert sig is not None and sig.positional == ["name", "reduction", "dtype"]


def test_runtime_layer_rule_matches_the_catalogue() -> None:
    """The lowering reads each layer's keywords from the installed Keras
    with the rule the generator records: both give the same keywords."""
    from kspec.runtime.lower import layer_classes, layer_signature

    classes = layer_classes()
    differ = [name for name, sig in catalogue().layers.items() if layer_signature(classes[name])[1] != sig.accepted]
    assert differ == []


def test_policy_matches_what_the_runtime_builds() -> None:
    """For every name a spec may write, the class kspec's policy says a call
    of it builds is the class ``kspec train`` builds (``None``: refused)."""
    import keras

    from kspec.compiler import sections
    from kspec.runtime import training
    from kspec.runtime.losses import RootMeanSquaredError
    from kspec.spec import ir
    from kspec.spec.diagnostics import KspecError

    class Probe(training._Resolver):
        def construct(self, cls: Any, call: Any, what: str) -> Any:
            return cls

    probe = Probe(None)
    callbacks = training._classes("callbacks")
    kinds: dict[str, tuple[Any, Any]] = {
        "losses": (sections.LOSSES, probe.loss),
        "metrics": (sections.METRICS, probe.metric),
        "optimizers": ({*sections.OPTIMIZERS, *(n.lower() for n in sections.OPTIMIZERS)}, probe.optimizer),
        "schedules": (sections.SCHEDULES, probe.plain),
        "callbacks": (sections.CALLBACKS, lambda call: callbacks[call.fn]),
    }
    differ = []
    for kind, (names, resolve) in kinds.items():
        for name in sorted(names):
            try:
                cls = resolve(ir.Call(fn=name))
            except KspecError:
                cls = None
            built = keras.saving.get_registered_name(cls) if inspect.isclass(cls) else None
            if call_kind(kind).names.get(name, "absent") != built:
                differ.append((kind, name, built))
    assert differ == []
    own = call_kind("losses").classes["kspec>RootMeanSquaredError"]
    params = list(inspect.signature(RootMeanSquaredError).parameters.values())
    assert [(p.name, p.default) for p in params] == [(p.name, p.default) for p in own.params]
