"""Line counts of decompiled keras.applications networks (weights=None).

    .venv/bin/python bench/bench_decompile.py [NAME ...]

For each network: the lines of the decompiled spec (canonical .kspec when
the printer is available, else YAML), the number of Keras layers, lines per
layer, and the decompile time. The goals: ResNet50 <= 120 lines,
DenseNet121 and MobileNetV2 <= 150 (these need block/loop inference).
"""

from __future__ import annotations

import sys
import time

from kspec.runtime._quiet import import_keras
from kspec.runtime.decompile import decompile_model
from kspec.spec.yaml_printer import dump_yaml

APPS = ["MobileNetV2", "ResNet50", "DenseNet121", "InceptionV3", "EfficientNetB0", "Xception", "VGG16",
        "MobileNetV3Small", "ConvNeXtTiny", "NASNetMobile"]
GOALS = {"ResNet50": 120, "DenseNet121": 150, "MobileNetV2": 150}


def render(spec: object) -> tuple[str, str]:
    """The spec's text and its form."""
    try:
        from kspec.spec.kspec_printer import print_kspec  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return dump_yaml(spec), "yaml"  # type: ignore[arg-type]
    return str(print_kspec(spec)), "kspec"


def main(names: list[str]) -> int:
    keras = import_keras()
    print(f"{'network':<18}{'form':>6}{'lines':>8}{'layers':>8}{'lines/layer':>13}{'seconds':>9}  goal")
    for name in names:
        model = getattr(keras.applications, name)(weights=None)
        start = time.perf_counter()
        try:
            spec = decompile_model(model).spec
        except Exception as exc:  # KspecError: report and go on
            first = str(exc).splitlines()[0]
            print(f"{name:<18}{'-':>6}{'-':>8}{len(model.layers):>8}{'-':>13}{'-':>9}  {first}")
            continue
        text, form = render(spec)
        seconds = time.perf_counter() - start
        lines = text.count("\n")
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"<= {goal}: {'met' if lines <= goal else 'not met'}"
        print(f"{name:<18}{form:>6}{lines:>8}{len(model.layers):>8}{lines / len(model.layers):>13.2f}"
              f"{seconds:>9.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or APPS))
