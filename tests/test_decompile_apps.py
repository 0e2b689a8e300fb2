"""keras.applications networks (weights=None) decompiled and compiled back.

Each must give the same layer classes with the same configurations (names
aside), the same topology, the same parameter count and, with the weights
carried over, the same outputs on a random input (atol 1e-5). Two small
networks run in the default profile; the large ones are marked slow.

Tensor arithmetic written with operators (MobileNetV3's ``x + 3.0``,
``x * (1/6)``) is written back as operations, so the comparison is with
the original configuration as it is. ConvNeXt uses LayerScale, a layer class
Keras ships in keras.applications: it is written ``keras.applications::LayerScale``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import kspec
from _decompile_compare import assert_same_model
from kspec.compiler import pipeline
from kspec.runtime._quiet import import_keras
from kspec.runtime.decompile import decompile_model, rebuild
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_form import load_yaml
from kspec.spec.yaml_printer import dump_yaml

keras = import_keras()

FAST = {"MobileNetV3Small": {"input_shape": (32, 32, 3)}, "MobileNetV2": {"input_shape": (32, 32, 3)}}
SLOW = ["ResNet50", "DenseNet121", "InceptionV3", "EfficientNetB0", "Xception", "VGG16", "NASNetMobile"]


class _Expected:
    """The original model as the comparison sees it: its config with each
    tensor operation replaced by the layer kspec writes for it."""

    def __init__(self, model: Any) -> None:
        from kspec.runtime.decompile import _Decompiler, _Functional

        config = model.get_config()
        mapper = _Functional(_Decompiler(False, False, model.name), model, model.name, config)
        self.config = {**config, "layers": [mapper.entries[str(e["name"])] for e in config["layers"]]}
        self.params = model.count_params()

    def get_config(self) -> dict[str, Any]:
        return self.config

    def count_params(self) -> int:
        return self.params


#: Line budgets of the decompiled .kspec (blocks and loops for repeated units).
GOALS = {"ResNet50": 120, "DenseNet121": 150, "MobileNetV2": 150}


def _check(name: str, **kwargs: Any) -> None:
    model = getattr(keras.applications, name)(weights=None, **kwargs)
    result = decompile_model(model)
    spec = load_yaml(dump_yaml(result.spec))
    assert spec == result.spec
    assert kspec.loads(print_kspec(spec)) == pipeline.check(pipeline.expand(spec))
    rebuilt = rebuild(result)
    assert_same_model(_Expected(model), rebuilt)
    rng = np.random.default_rng(0)
    x = rng.random((1, *model.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), atol=1e-5, rtol=0)
    if name in GOALS:
        assert print_kspec(spec).count("\n") <= GOALS[name]


@pytest.mark.parametrize("name", sorted(FAST))
def test_small_applications_round_trip(name: str) -> None:
    _check(name, **FAST[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_applications_round_trip(name: str) -> None:
    _check(name)


@pytest.mark.slow
def test_convnext_layer_keras_ships_is_written_by_its_package() -> None:
    """LayerScale is Keras's own class (keras.applications), so it is written
    and compiled back (the full round trip: tests/test_wrapped_references.py)."""
    model = keras.applications.ConvNeXtTiny(weights=None)
    assert "keras.applications::LayerScale(" in print_kspec(kspec.decompile(model))
