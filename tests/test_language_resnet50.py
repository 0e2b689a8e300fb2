"""The ResNet-50 example: blocks and loops, at most 80 lines, and exactly
``keras.applications.ResNet50(weights=None)``'s parameter count."""

from __future__ import annotations

from pathlib import Path

import kspec
from kspec.spec import ir

RESNET = Path(__file__).parent.parent / "examples" / "resnet50.kspec"
KERAS_RESNET50_PARAMS = 25_636_712  # keras.applications.ResNet50(weights=None).count_params()


def test_resnet50_example_is_short_and_uses_blocks_and_loops() -> None:
    text = RESNET.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 80
    spec = kspec.loads(text, format="kspec", file="resnet50.kspec")
    model = spec.models[0]
    assert len(model.nodes) == 73  # 16 bottleneck units expanded, deterministic names
    assert [n.targets[0] for n in model.nodes[:6]] == [
        "stem", "conv2_unit_shortcut", "conv2_unit_main_a", "conv2_unit_main_b", "conv2_unit_main", "conv2_unit"]


def test_resnet50_example_has_keras_parameter_count() -> None:
    model = kspec.build(kspec.load(RESNET))
    assert model.count_params() == KERAS_RESNET50_PARAMS
    assert len(model.layers) == 177  # keras.applications.ResNet50 has 177 layers too


def test_resnet50_head_can_be_resized_with_a_define() -> None:
    spec = kspec.load(RESNET, defines={"classes": 10})
    out = spec.models[0].outputs[0].value.steps[-1].layer
    assert isinstance(out, ir.LayerCall)
    assert (out.type, out.args, out.kwargs) == ("Dense", [10], {"activation": "softmax"})
