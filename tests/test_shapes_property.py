"""Static shapes and parameter counts agree with Keras after building.

Over every example and over random specs: each layer's statically inferred
output shape equals the shape Keras gives it, each layer's parameter count
equals ``layer.count_params()``, and the static checks report a shape error
exactly when Keras refuses to build the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from _static_vs_keras import compare as _compare
from kspec.compiler.pipeline import load_text, parse_text, static_check
from kspec.compiler.shapes import infer_spec
from kspec.spec import ir
from kspec.spec.diagnostics import KspecError

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_match_keras(path: Path) -> None:
    import kspec

    spec = kspec.load(path)  # parse, expand blocks and loops, check
    assert static_check(spec) == []
    _compare(spec)


# --------------------------------------------------------------------------
# Random specs


def _image_layer() -> st.SearchStrategy[dict[str, Any]]:
    k = st.integers(1, 3)
    s = st.integers(1, 2)
    pad = st.sampled_from(["valid", "same"])
    f = st.integers(1, 4)
    return st.one_of(
        st.builds(lambda f, k, s, p: {"Conv2D": {"filters": f, "kernel_size": k, "strides": s, "padding": p}},
                  f, k, s, pad),
        st.builds(lambda f, k, d: {"Conv2D": {"filters": f, "kernel_size": k, "dilation_rate": d}}, f, k, s),
        st.builds(lambda f, k, s, p: {"SeparableConv2D": {"filters": f, "kernel_size": k, "strides": s,
                                                          "padding": p}}, f, k, s, pad),
        st.builds(lambda k, m: {"DepthwiseConv2D": {"kernel_size": k, "depth_multiplier": m}}, k, s),
        st.builds(lambda f, k, s, p: {"Conv2DTranspose": {"filters": f, "kernel_size": k, "strides": s,
                                                          "padding": p}}, f, k, s, pad),
        st.builds(lambda p, s, pd: {"MaxPooling2D": {"pool_size": p, "strides": s, "padding": pd}},
                  st.integers(1, 3), s, pad),
        st.builds(lambda p: {"AveragePooling2D": {"pool_size": p}}, st.integers(1, 3)),
        st.builds(lambda p: {"ZeroPadding2D": {"padding": p}}, st.integers(0, 2)),
        st.builds(lambda c: {"Cropping2D": {"cropping": c}}, st.integers(0, 2)),
        st.builds(lambda n: {"UpSampling2D": {"size": n}}, s),
        st.just("BatchNormalization"),
        st.just({"Dropout": [0.1]}),
        st.just("ReLU"),
    )


def _seq_layer() -> st.SearchStrategy[dict[str, Any]]:
    u = st.integers(1, 4)
    return st.one_of(
        st.builds(lambda f, k, p: {"Conv1D": {"filters": f, "kernel_size": k, "padding": p}}, u,
                  st.integers(1, 3), st.sampled_from(["valid", "same", "causal"])),
        st.builds(lambda t, n: {t: {"units": n, "return_sequences": True}},
                  st.sampled_from(["LSTM", "GRU", "SimpleRNN"]), u),
        st.builds(lambda n, m: {"Bidirectional": {"layer": {"fn": "LSTM", "args": [n],
                                                            "kwargs": {"return_sequences": True}},
                                                  "merge_mode": m}}, u, st.sampled_from(["concat", "sum"])),
        st.builds(lambda n: {"TimeDistributed": {"layer": {"fn": "Dense", "args": [n]}}}, u),
        st.just("LayerNormalization"),
        st.builds(lambda p: {"MaxPooling1D": {"pool_size": p}}, st.integers(1, 2)),
        st.builds(lambda n: {"UpSampling1D": {"size": n}}, st.integers(1, 2)),
        st.builds(lambda n: {"ZeroPadding1D": {"padding": n}}, st.integers(0, 2)),
        st.builds(lambda n: {"Cropping1D": {"cropping": n}}, st.integers(0, 1)),
        st.builds(lambda n: {"Dense": [n]}, u),
        st.just({"Permute": [[2, 1]]}),
        st.just({"GaussianNoise": [0.1]}),
    )


@st.composite
def sequential_specs(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        shape = [draw(st.integers(3, 9)), draw(st.integers(3, 9)), draw(st.integers(1, 3))]
        layers = draw(st.lists(_image_layer(), min_size=1, max_size=4))
        layers.append(draw(st.sampled_from(["Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D"])))
    else:
        shape = [draw(st.integers(2, 6)), draw(st.integers(1, 4))]
        layers = draw(st.lists(_seq_layer(), min_size=1, max_size=4))
        layers.append(draw(st.sampled_from(["Flatten", {"LSTM": [2]}, "GlobalAveragePooling1D"])))
    layers.append({"Dense": [draw(st.integers(1, 3))]})
    return {"models": [{"name": "m", "kind": "sequential", "input": shape, "layers": layers}]}


@st.composite
def merge_specs(draw: st.DrawFn) -> dict[str, Any]:
    u = st.integers(1, 3)
    op = draw(st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate",
                               {"Dot": {"axes": 1}}, {"Concatenate": {"axis": 1}}]))
    model: dict[str, Any] = {
        "name": "m",
        "inputs": {"a": [draw(u), draw(u)], "b": [draw(u), draw(u)]},
        "nodes": [{"name": "x", "from": "a", "apply": {"Dense": [draw(u)]}},
                  {"name": "y", "from": "b", "apply": {"Dense": [draw(u)]}},
                  {"name": "z", "from": ["x", "y"], "apply": op}],
        "outputs": {"out": {"from": "z", "apply": {"Dense": [2]}}},
    }
    if draw(st.booleans()):  # one named layer for both branches: shared weights
        model["layers"] = {"proj": {"Dense": [draw(u)]}}
        model["nodes"][0]["apply"] = model["nodes"][1]["apply"] = "proj"
    return {"models": [model]}


def _agree(data: dict[str, Any]) -> None:
    """Static errors exactly when Keras fails; equal shapes otherwise."""
    text = yaml.safe_dump(data, sort_keys=False)
    spec = parse_text(text, "random.yaml")
    diags = static_check(spec)
    import kspec

    if diags:
        with pytest.raises(KspecError):
            kspec.build(spec)
        return
    _compare(spec)


@given(sequential_specs())
def test_random_sequential_specs_match_keras(data: dict[str, Any]) -> None:
    _agree(data)


@given(merge_specs())
def test_random_merge_specs_match_keras(data: dict[str, Any]) -> None:
    _agree(data)


# --------------------------------------------------------------------------
# One layer of each family, with random arguments and input shapes


def _dims(n: int, lo: int = 1, hi: int = 6) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(lo, hi), min_size=n, max_size=n)


@st.composite
def single_layer_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A one-layer sequential model: (input shape, layer)."""
    small = st.integers(1, 3)
    pad = st.sampled_from(["valid", "same"])
    family = draw(st.sampled_from(["conv", "convT", "sep", "pool", "gpool", "reshape", "rnn", "bidi", "td",
                                   "norm", "misc", "embed", "image"]))
    rank = draw(st.integers(1, 3))
    spatial = draw(_dims(rank, 2, 7))
    chans = draw(small)
    image = [*spatial, chans]
    if family == "conv":
        return _one(image, {f"Conv{rank}D": {"filters": draw(small), "kernel_size": draw(small),
                                             "strides": draw(st.integers(1, 2)), "padding": draw(pad),
                                             "use_bias": draw(st.booleans())}})
    if family == "convT":
        args: dict[str, Any] = {"filters": draw(small), "kernel_size": draw(small),
                                "strides": draw(st.integers(1, 2)), "padding": draw(pad)}
        if draw(st.booleans()):
            args["output_padding"] = 0
        return _one(image, {f"Conv{rank}DTranspose": args})
    if family == "sep":
        r = min(rank, 2)
        img = [*spatial[:r], chans]
        if draw(st.booleans()):
            return _one(img, {f"SeparableConv{r}D": {"filters": draw(small), "kernel_size": draw(small),
                                                     "depth_multiplier": draw(small), "padding": draw(pad)}})
        return _one(img, {f"DepthwiseConv{r}D": {"kernel_size": draw(small), "depth_multiplier": draw(small),
                                                 "strides": draw(st.integers(1, 2))}})
    if family == "pool":
        kind = draw(st.sampled_from(["MaxPooling", "AveragePooling"]))
        return _one(image, {f"{kind}{rank}D": {"pool_size": draw(small), "padding": draw(pad)}})
    if family == "gpool":
        kind = draw(st.sampled_from(["GlobalMaxPooling", "GlobalAveragePooling"]))
        return _one(image, {f"{kind}{rank}D": {"keepdims": draw(st.booleans())}})
    if family == "reshape":
        n = draw(st.integers(1, 4))
        choice = draw(st.sampled_from(["Reshape", "Flatten", "Permute", "RepeatVector", "Crop", "Pad", "Up"]))
        if choice == "Reshape":
            return _one([n * 2, 3], {"Reshape": [[draw(st.sampled_from([-1, 3, 2, 6])), draw(st.sampled_from(
                [-1, 2, 4]))]]})
        if choice == "Flatten":
            return _one(image, "Flatten")
        if choice == "Permute":
            return _one(image, {"Permute": [draw(st.permutations(list(range(1, rank + 2))))]})
        if choice == "RepeatVector":
            return _one([chans], {"RepeatVector": [n]})
        if choice == "Crop":
            return _one(image, {f"Cropping{rank}D": {"cropping": draw(st.integers(0, 2))}})
        if choice == "Pad":
            return _one(image, {f"ZeroPadding{rank}D": {"padding": draw(st.integers(0, 2))}})
        return _one(image, {f"UpSampling{rank}D": {"size": draw(st.integers(1, 2))}})
    if family in ("rnn", "bidi"):
        kind = draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN"]))
        inner: dict[str, Any] = {"units": draw(small), "return_sequences": draw(st.booleans())}
        if kind == "GRU":
            inner["reset_after"] = draw(st.booleans())
        if family == "rnn":
            return _one([spatial[0], chans], {kind: inner})
        return _one([spatial[0], chans], {"Bidirectional": {"layer": {"fn": kind, "kwargs": inner},
                                                            "merge_mode": draw(st.sampled_from(
                                                                ["concat", "sum", "mul", "ave"]))}})
    if family == "td":
        return _one([spatial[0], chans, 2], {"TimeDistributed": {"layer": {"fn": "Dense", "args": [draw(small)]}}})
    if family == "norm":
        if draw(st.booleans()):
            return _one(image, {"BatchNormalization": {"center": draw(st.booleans()),
                                                       "scale": draw(st.booleans())}})
        return _one(image, {"LayerNormalization": {"axis": draw(st.sampled_from([-1, 1]))}})
    if family == "embed":
        return _one([spatial[0]], {"Embedding": [draw(st.integers(2, 20)), draw(small)]})
    if family == "image":
        img = [draw(st.integers(2, 9)), draw(st.integers(2, 9)), chans]
        return _one(img, draw(st.sampled_from([
            {draw(st.sampled_from(["Resizing", "CenterCrop"])): [draw(small), draw(small)]},
            {"Rescaling": [0.5]}, "RandomFlip", {"RandomRotation": [0.1]}, "UnitNormalization",
            {"GroupNormalization": {"groups": draw(small)}}, "RMSNormalization",
            {"MaxPool2D": [2]}, {"AvgPool2D": {"pool_size": 2, "padding": "same"}}, "GlobalAvgPool2D",
            {"Convolution2D": [draw(small), draw(small)]}, {"SeparableConvolution2D": [draw(small), 2]},
        ])))
    return _one(image, draw(st.sampled_from(["ReLU", {"LeakyReLU": {}}, {"Activation": ["tanh"]}, "PReLU",
                                             {"PReLU": {"shared_axes": [1]}}, {"Dense": [2]}, "Softmax",
                                             {"GaussianNoise": [0.1]}, {"SpatialDropout1D": [0.1]}])))


def _one(shape: list[int], layer: Any) -> dict[str, Any]:
    return {"models": [{"name": "m", "kind": "sequential", "input": shape, "layers": [layer]}]}


@given(single_layer_specs())
def test_random_single_layers_match_keras(data: dict[str, Any]) -> None:
    _agree(data)


def _functional(inputs: dict[str, Any], nodes: list[Any], out: Any) -> dict[str, Any]:
    return {"models": [{"name": "m", "inputs": inputs, "nodes": nodes, "outputs": {"out": out}}]}


@pytest.mark.parametrize("data", [
    _functional({"q": [4, 8], "v": [6, 5]},
                [{"name": "a", "from": ["q", "v"], "apply": {"MultiHeadAttention": {"num_heads": 2, "key_dim": 3}}}],
                {"from": "a", "apply": "Flatten"}),
    _functional({"q": [4, 8], "v": [6, 5], "k": [6, 7]},
                [{"name": "a", "from": ["q", "v", "k"],
                  "apply": {"MultiHeadAttention": {"num_heads": 2, "key_dim": 3, "value_dim": 2,
                                                   "output_shape": 5}}}],
                {"from": "a", "apply": "Flatten"}),
    _functional({"q": [4, 8], "v": [6, 8]},
                [{"name": "a", "from": ["q", "v"], "apply": {"Attention": {"use_scale": True}}}],
                {"from": "a", "apply": "Flatten"}),
    _functional({"x": [5, 3]},
                [{"name": ["o", "h", "c", "h2", "c2"], "from": "x",
                  "apply": {"Bidirectional": {"layer": {"fn": "LSTM", "args": [4],
                                                        "kwargs": {"return_state": True}}}}},
                 {"name": "z", "from": ["o", "h", "c2"], "apply": "Concatenate"}],
                {"from": "z", "apply": {"Dense": [1]}}),
    _functional({"a": [3, 4], "b": [3, 4]},
                [{"name": "d", "from": ["a", "b"], "apply": {"Dot": {"axes": [2, 2], "normalize": True}}}],
                {"from": "d", "apply": "Flatten"}),
    _functional({"a": [3, 4], "b": [1, 4]},
                [{"name": "d", "from": ["a", "b"], "apply": "Multiply"}],
                {"from": "d", "apply": {"Dense": [2]}}),
    _functional({"a": [3, 4], "b": [3, 2]},
                [{"name": "d", "from": ["a", "b"], "apply": {"Concatenate": {"axis": 2}}}],
                {"from": "d", "apply": {"Conv1D": [2, 2]}}),
    {"models": [
        {"name": "encoder", "kind": "sequential", "input": [6, 3], "layers": [{"Conv1D": [4, 3]},
                                                                              "GlobalMaxPooling1D"]},
        {"name": "pair", "inputs": {"a": [6, 3], "b": [6, 3]},
         "nodes": [{"name": "ea", "from": "a", "apply": "encoder"}, {"name": "eb", "from": "b", "apply": "encoder"},
                   {"name": "d", "from": ["ea", "eb"], "apply": "Subtract"}],
         "outputs": {"score": {"from": "d", "apply": {"Dense": [1]}}}}]},
    {"models": [
        {"name": "tower", "inputs": {"x": [5]}, "outputs": {"h": {"from": "x", "apply": {"Dense": [3]}}}},
        {"name": "top", "inputs": {"a": [5], "b": [5]},
         "layers": {"shared": [{"Dense": [5]}, "tower"]},
         "nodes": [{"name": "ha", "from": "a", "apply": "shared"}, {"name": "hb", "from": "b", "apply": "shared"},
                   {"name": "c", "from": ["ha", "hb"], "apply": "Concatenate"}],
         "outputs": {"out": {"from": "c", "apply": {"Dense": [1]}}}}]},
    {"models": [
        {"name": "enc", "inputs": {"t": {"shape": [None], "dtype": "int32"}},
         "outputs": {"h": {"from": "t", "apply": [{"Embedding": [50, 4]}, {"Conv1D": [3, 2]}]}}},
        {"name": "use", "inputs": {"a": {"shape": [7], "dtype": "int32"}},
         "nodes": [{"name": "e", "from": "a", "apply": "enc"}],
         "outputs": {"out": {"from": "e", "apply": "Flatten"}}}]},
    {"models": [{"name": "m", "inputs": {"a": [4], "b": [4]}, "layers": {"p": {"Dense": [3]}},
                 "nodes": [{"name": "x", "from": "a", "apply": "p"}],
                 "outputs": {"o1": {"from": "b", "apply": "p"}, "o2": {"from": "x"}}}]},
], ids=["mha", "mha_key_dims", "attention", "bidi_states", "dot", "broadcast", "concat_axis", "submodel",
        "stack_with_submodel", "submodel_more_specific", "identity_outputs"])
def test_multi_input_families_match_keras(data: dict[str, Any]) -> None:
    _agree(data)


@st.composite
def dag_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A random functional DAG over vectors: dense layers, merges that may
    or may not fit, normalisation, and a shared named layer."""
    u = st.integers(1, 4)
    inputs = {f"in{i}": [draw(u)] for i in range(draw(st.integers(1, 2)))}
    names = list(inputs)
    nodes: list[dict[str, Any]] = []
    shared = {"Dense": [draw(u)]}
    for i in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["Dense", "shared", "Add", "Concatenate", "Multiply", "Maximum", "Dropout",
                                   "BatchNormalization", "LayerNormalization", "stack"]))
        src = draw(st.sampled_from(names))
        if op in ("Add", "Concatenate", "Multiply", "Maximum"):
            other = draw(st.sampled_from(names))
            nodes.append({"name": f"t{i}", "from": [src, other], "apply": op})
        elif op == "Dense":
            nodes.append({"name": f"t{i}", "from": src, "apply": {"Dense": [draw(u)]}})
        elif op == "shared":
            nodes.append({"name": f"t{i}", "from": src, "apply": "proj"})
        elif op == "stack":
            nodes.append({"name": f"t{i}", "from": src,
                          "apply": [{"Dense": [draw(u)]}, {"Reshape": [[-1, 1]]}, {"Conv1D": [2, 1]}, "Flatten"]})
        else:
            nodes.append({"name": f"t{i}", "from": src, "apply": op if op != "Dropout" else {"Dropout": [0.5]}})
        names.append(f"t{i}")
    used = {n for node in nodes for n in ([node["from"]] if isinstance(node["from"], str) else node["from"])}
    ends = [n for n in names if n not in used]
    outputs = {f"o{j}": {"from": n, "apply": {"Dense": [1]}} for j, n in enumerate(ends)}
    model: dict[str, Any] = {"name": "dag", "inputs": inputs, "nodes": nodes, "outputs": outputs}
    if any(node["apply"] == "proj" for node in nodes):
        model["layers"] = {"proj": shared}
    return {"models": [model]}


@given(dag_specs())
def test_random_dags_match_keras(data: dict[str, Any]) -> None:
    _agree(data)


# --------------------------------------------------------------------------
# Operations on tensors (``x + y``, ``ops.mean(x, axis=1)``, ``x @ w`` ...)


def _compare_operations(spec: ir.Spec) -> Any:
    """Like :func:`_compare`, over every operation of the built model (Keras
    keeps operation layers in ``model.operations``, not ``model.layers``):
    static shapes and parameter counts equal the built ones. Returns the
    built model."""
    import kspec

    model = kspec.build(spec)
    static = infer_spec(spec).models[model.name]
    by_name = {op.name: op for op in model.operations}
    for info in static.layers:
        op = by_name[info.name]
        params = op.count_params() if hasattr(op, "count_params") else 0
        assert info.params == params, (info.name, info.params, params)
        if info.calls == 1 and info.type not in ("Functional", "Sequential"):
            outs = op.output if isinstance(op.output, (list, tuple)) else [op.output]
            assert info.outputs == [_keras_shape(t.shape) for t in outs], (info.name, info.outputs)
    assert static.params == model.count_params()
    assert static.outputs == [_keras_shape(t.shape) for t in model.outputs]
    return model


def _keras_shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in shape)


_SHAPE = st.lists(st.sampled_from([1, 2, 3, None]), min_size=1, max_size=3)
_AXIS_FNS = ["mean", "sum", "max", "min", "prod"]


def _dims_text(shape: list[int | None]) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


@st.composite
def operation_cases(draw: st.DrawFn) -> tuple[str, Callable[..., Any], list[list[int | None]]]:
    """A statement over inputs ``a`` and ``b`` (random shapes, which may not
    fit), the same in Python Keras, and the two input shapes: broadcasting
    operators, scalar constants, reductions with ``axis``/``keepdims``,
    reshape, transpose, concatenate, matmul, subscripts, and operations in
    a chain with a Dense layer (parameters)."""
    a, b = draw(_SHAPE), draw(_SHAPE)
    rank = len(a) + 1  # with the batch axis
    kind = draw(st.sampled_from(["binary", "scalar", "reduce", "reshape", "transpose", "concat", "matmul",
                                 "subscript", "expand", "chain"]))
    if kind == "binary":
        sym, fn = draw(st.sampled_from([("+", "add"), ("-", "subtract"), ("*", "multiply"), ("/", "true_divide"),
                                        (">", "greater")]))
        return f"a {sym} b", lambda x, y, f=fn: getattr(_ops(), f)(x, y), [a, b]
    if kind == "scalar":
        c = draw(st.sampled_from([2, 0.5, -1.0]))
        if draw(st.booleans()):
            return f"a * {c} + 1.0", lambda x, y: x * c + 1.0, [a, b]
        return f"{c} - a", lambda x, y: c - x, [a, b]
    if kind == "reduce":
        fn = draw(st.sampled_from(_AXIS_FNS))
        axis = draw(st.one_of(st.none(), st.integers(-rank, rank - 1)))
        keep = draw(st.booleans())
        kw = ("" if axis is None else f", axis={axis}") + (", keepdims=true" if keep else "")
        return f"ops.{fn}(a{kw})", lambda x, y: getattr(_ops(), fn)(x, axis=axis, keepdims=keep), [a, b]
    if kind == "reshape":
        target = draw(st.sampled_from([[-1, 6], [-1, 3], [-1, 2, 3], [-1, 1]]))
        a = draw(st.sampled_from([[2, 3], [6], [3, 2, 1], [1, 6], a]))
        return f"ops.reshape(a, ({', '.join(map(str, target))}))", lambda x, y: _ops().reshape(x, tuple(target)), [a, b]
    if kind == "transpose":
        perm = draw(st.permutations(list(range(rank))))
        return f"ops.transpose(a, axes={perm})", lambda x, y: _ops().transpose(x, axes=perm), [a, b]
    if kind == "concat":
        axis = draw(st.integers(-rank, rank - 1))
        return (f"ops.concatenate([a, b], axis={axis})", lambda x, y: _ops().concatenate([x, y], axis=axis), [a, b])
    if kind == "matmul":
        return "a @ b", lambda x, y: _ops().matmul(x, y), [a, b]
    if kind == "subscript":
        text, key = draw(st.sampled_from([
            ("a[:, 0]", (slice(None), 0)), ("a[..., 1:3]", (Ellipsis, slice(1, 3))),
            ("a[:, None]", (slice(None), None)), ("a[:, ::2]", (slice(None), slice(None, None, 2))),
            ("a[..., -1]", (Ellipsis, -1))]))
        return text, lambda x, y: x[key], [a, b]
    if kind == "expand":
        axis = draw(st.integers(-rank - 1, rank))
        return f"ops.expand_dims(a, {axis})", lambda x, y: _ops().expand_dims(x, axis), [a, b]
    units = draw(st.integers(1, 3))
    if draw(st.booleans()):
        return (f"a -> Dense({units}) -> ops.mean(axis=1)",
                lambda x, y: _ops().mean(keras_layers().Dense(units)(x), axis=1), [a, b])
    return (f"a + b -> Dense({units})", lambda x, y: keras_layers().Dense(units)(x + y), [a, b])


def keras_layers() -> Any:
    """``keras.layers``, imported when a test first needs it."""
    from kspec.runtime._quiet import import_keras

    return import_keras().layers


def _ops() -> Any:
    """``keras.ops``, imported when a test first needs it."""
    from kspec.runtime._quiet import import_keras

    return import_keras().ops


def _operation_agree(statement: str, build: Callable[..., Any], shapes: list[list[int | None]]) -> None:
    """A static error exactly when Keras refuses the same Python code;
    otherwise the same shapes and parameter counts, layer by layer."""
    from kspec.runtime._quiet import import_keras

    keras = import_keras()
    used = [n for n in ("a", "b") if re.search(rf"\b{n}\b", statement)]
    inputs = "".join(f"  input {n}: {_dims_text(shapes['ab'.index(n)])}\n" for n in used)
    text = f"model m {{\n{inputs}  output out = {statement}\n}}\n"
    tensors = [keras.Input(tuple(s)) for s in shapes]
    try:
        want: Any = build(*tensors)
    except (ValueError, TypeError, IndexError) as exc:  # Keras refuses it: so must kspec
        want = exc
    try:
        spec = load_text(text, "ops.kspec")
    except KspecError as err:
        assert isinstance(want, Exception), (text, err)
        return
    assert not isinstance(want, Exception), (text, want)
    model = _compare_operations(spec)
    assert _keras_shape(model.outputs[0].shape) == _keras_shape(want.shape)


@given(operation_cases())
def test_random_operations_match_keras(case: tuple[str, Callable[..., Any], list[list[int | None]]]) -> None:
    _operation_agree(*case)


@pytest.mark.parametrize(("statement", "shapes"), [
    ("a + b", [[4], [1, 4]]),  # (None, 4) + (None, 1, 4)
    ("a + b", [[None, 4], [1, 4]]),
    ("a * 0.5 - b", [[3, 4], [4]]),
    ("ops.mean(a, axis=1, keepdims=true) * a", [[3, 4], [4]]),
    ("ops.reshape(a, (-1, 2, 6)) -> Dense(3)", [[3, 4], [4]]),
    ("ops.transpose(a, axes=[0, 2, 1]) @ a", [[3, 4], [4]]),
    ("ops.concatenate([a, a[..., :2]], axis=-1)", [[3, 4], [4]]),
    ("a + b", [[4, 3], [5]]),  # refused by both
], ids=["vector_plus_matrix", "unknown_dim", "scalar", "keepdims", "reshape", "transpose_matmul", "concat",
        "mismatch"])
def test_operations_match_keras(statement: str, shapes: list[list[int | None]]) -> None:
    table = {"a": shapes[0], "b": shapes[1]}

    def build(x: Any, y: Any) -> Any:
        from kspec.runtime._quiet import import_keras

        keras = import_keras()
        env = {"a": x, "b": y, "ops": keras.ops, "Dense": keras.layers.Dense}
        py = statement.replace("true", "True")
        if " -> " in py:  # "expr -> Dense(k)" is Dense(k)(expr)
            head, layer = py.split(" -> ")
            py = f"{layer}({head})"
        return eval(py, env)  # a fixed statement of this test

    assert set(table) >= {n for n in "ab" if re.search(rf"\b{n}\b", statement)}
    _operation_agree(statement, build, shapes)


def test_operations_fixture_matches_keras() -> None:
    """The golden operations fixture builds what kspec infers, layer by layer."""
    path = Path(__file__).parent / "fixtures" / "kspec" / "valid" / "operations.kspec"
    _compare_operations(load_text(path.read_text(encoding="utf-8"), str(path)))
