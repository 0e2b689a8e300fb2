"""Comparing two Keras models "names aside" for the decompile tests.

:func:`canonical` describes a model's graph without any layer or tensor
name: every application of a layer, in depth-first order from the outputs,
with its layer's class, its configuration (layer names removed), which layer
it applies (so shared layers stay shared), and which earlier applications
feed it (positional arguments and call keyword arguments). Two models with
equal ``canonical`` forms have the same layer classes, the same
configurations and the same topology.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def strip_names(value: Any) -> Any:
    """A config with the names of layers and models removed."""
    if isinstance(value, dict):
        is_layer = "name" in value and ("trainable" in value or "batch_shape" in value or set(value) == {"name"})
        return {k: strip_names(v) for k, v in value.items() if not (is_layer and k == "name")}
    if isinstance(value, (list, tuple)):
        return [strip_names(v) for v in value]
    return value


def canonical(config: dict[str, Any]) -> Any:
    """A name-free description of a model config (functional or sequential)."""
    if "input_layers" not in config:  # Sequential
        return ["sequential", [[e["class_name"], _layer_config(e)] for e in config.get("layers", [])]]
    entries = {e["name"]: e for e in config["layers"]}
    app_ids: dict[tuple[str, int], int] = {}
    layer_ids: dict[str, int] = {}
    out: list[Any] = []

    def visit(lname: str, node: int) -> int:
        key = (lname, node)
        if key in app_ids:
            return app_ids[key]
        entry = entries[lname]
        inbound = entry["inbound_nodes"][node] if entry["inbound_nodes"] else {"args": [], "kwargs": {}}
        args = conv(inbound["args"])
        kwargs = conv(inbound["kwargs"])
        if not args and kwargs:
            # kspec writes the first tensor keyword argument positionally: mha(q, value=v).
            args = [kwargs.pop(next(iter(kwargs)))]
        layer_ids.setdefault(lname, len(layer_ids))
        app_ids[key] = len(app_ids)
        out.append([app_ids[key], layer_ids[lname], entry["class_name"], _layer_config(entry), args, kwargs])
        return app_ids[key]

    def conv(v: Any) -> Any:
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            name, node, index = v["config"]["keras_history"]
            return ["T", visit(name, node), index]
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    outs = config["output_layers"]
    if outs and isinstance(outs[0], str):
        outs = [outs]
    heads = [[visit(n, k), i] for n, k, i in outs]
    ins = config["input_layers"]
    if ins and isinstance(ins[0], str):
        ins = [ins]
    return ["functional", out, heads, [visit(n, k) for n, k, _ in ins]]


def _layer_config(entry: dict[str, Any]) -> Any:
    if entry["class_name"] in ("Functional", "Sequential"):
        return canonical(entry["config"])
    if str(entry.get("module") or "").startswith("keras.src.ops"):  # an operation layer: its name is its own
        return strip_names({k: v for k, v in entry["config"].items() if k != "name"})
    return strip_names(entry["config"])


def assert_same_model(original: Any, rebuilt: Any) -> None:
    """Same layer classes and configs (names aside), same topology, same
    parameter count."""
    assert ("input_layers" in rebuilt.get_config()) == ("input_layers" in original.get_config())
    want = canonical(original.get_config())
    got = canonical(rebuilt.get_config())
    assert got == want
    assert rebuilt.count_params() == original.count_params()


def random_inputs(model: Any, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = (2, *[d if d is not None else 5 for d in t.shape[1:]])
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 5, size=shape).astype(str(t.dtype)))
        else:
            xs.append(rng.standard_normal(shape).astype("float32"))
    return xs


def assert_same_outputs(original: Any, rebuilt: Any, atol: float = 1e-5) -> None:
    xs = random_inputs(original)
    feed = xs[0] if len(xs) == 1 else xs
    a = original(feed, training=False)  # random augmentation layers act only in training
    b = rebuilt(feed, training=False)
    a = list(a) if isinstance(a, (list, tuple)) else [a]
    b = list(b) if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=atol, rtol=0)
