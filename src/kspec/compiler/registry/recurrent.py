"""Recurrent layers: SimpleRNN, GRU, LSTM, RNN around a cell, ConvLSTM1D-3D,
and the wrappers that apply a layer over time (Bidirectional, TimeDistributed)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from kspec.catalogue import catalogue
from kspec.compiler.calls import choice, positive_int
from kspec.compiler.registry._base import (
    Args,
    Ctx,
    Family,
    Given,
    Problem,
    Result,
    Rule,
    Shape,
    ShapeError,
    TShape,
    Unknown,
    fmt_all,
)
from kspec.compiler.registry._common import conv_out, differ, ints, join, known, last, split
from kspec.spec import ir

family = Family("recurrent")

#: Weight matrices per gate kind, and the layer each cell class belongs to.
_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}
_CELLS = {"SimpleRNNCell": "SimpleRNN", "GRUCell": "GRU", "LSTMCell": "LSTM"}
#: What Bidirectional can wrap.
_RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})


def _check_initial_state(ctx: Ctx, n_states: int, units: int) -> None:
    """``initial_state=[...]`` must be the layer's own states: ``n_states``
    tensors of shape (batch, units). Keras builds the model either way; the
    first call fails."""
    given = ctx.call.get("initial_state")
    if given is None:
        return
    states = given if isinstance(given, list) else [given]
    # Too few states fail; extra ones are ignored by Keras (a GRU given [h, c] runs).
    wrong = len(states) < n_states or any(
        s is not None and (len(s) != 2 or differ(s[-1], units)) for s in states[:n_states])
    if wrong:
        want = " and ".join([f"(None, {units})"] * n_states)
        raise ShapeError(f"{ctx.type}: initial_state must be its {n_states} state tensor"
                         f"{'s' if n_states > 1 else ''} {want}, got {fmt_all(states)}")


def _rnn(ctx: Ctx) -> Result:
    """SimpleRNN/GRU/LSTM, and RNN(cell) around one of their cells (the
    cell's arguments size the weights; the layer's say what it returns)."""
    x = ctx.inputs[0]
    ctx.rank(x, 3)
    cell: Args = ctx.args
    kind = ctx.type
    if kind == "RNN":
        inner = ctx.args.get("cell")
        if not isinstance(inner, ir.Call) or inner.fn not in _CELLS or inner.fn not in catalogue().layers:
            raise Unknown()
        cell, kind = Args(inner, catalogue().layers[inner.fn]), _CELLS[inner.fn]
    units = int(cell.get("units"))
    d = last(ctx, x)
    gates = _GATES[kind]
    bias = gates * units if cell.get("use_bias", True) else 0
    if kind == "GRU" and cell.get("reset_after", True) and bias:
        bias *= 2
    params = gates * units * (d + units) + bias
    n_states = 2 if kind == "LSTM" else 1
    _check_initial_state(ctx, n_states, units)
    out: Shape = (x[0], x[1], units) if ctx.args.get("return_sequences", False) else (x[0], units)
    if ctx.args.get("return_state", False):
        return [out, *[(x[0], units)] * n_states], params
    return [out], params


for _name in _GATES:
    family.add(_name, shape=_rnn, args={"units": positive_int()})
family.add("RNN", shape=_rnn)
for _name in _CELLS:
    family.add(_name, unknown="a recurrent cell: it is sized by the RNN(cell=...) that runs it")
family.add("StackedRNNCells", unknown="a stack of cells for RNN(...), whose rule knows single cells only")


def _conv_lstm(rank: int) -> Rule:
    """ConvLSTM1D/2D/3D: (batch, time, *spatial, channels) -> a convolution
    per step; the recurrent kernel has the same size, padded 'same'."""
    def rule(ctx: Ctx) -> Result:
        x = ctx.inputs[0]
        ctx.rank(x, rank + 3)
        step = (x[0], *x[2:])
        spatial, c = split(ctx, step, rank)
        c = known(ctx, x, c, "channel dimension")
        filters = int(ctx.args.get("filters"))
        k = math.prod(ints(ctx.args.get("kernel_size"), rank))
        bias = 4 * filters if ctx.args.get("use_bias", True) else 0
        state = join(ctx, step, conv_out(ctx, x, spatial, rank), filters)
        out: Shape = (x[0], x[1], *state[1:]) if ctx.args.get("return_sequences", False) else state
        outs: list[TShape] = [out, state, state] if ctx.args.get("return_state", False) else [out]
        return outs, 4 * (k * c * filters + k * filters * filters) + bias
    return rule


for _r in (1, 2, 3):
    family.add(f"ConvLSTM{_r}D", shape=_conv_lstm(_r),
               args={"filters": positive_int(), "padding": choice("valid", "same", fold=True, comma_list=True)})


# --------------------------------------------------------------------------
# Wrappers


def _bidirectional_inner(given: Given) -> Iterator[Problem]:
    """Bidirectional wraps a recurrent layer."""
    inner = given.args.get("layer")
    if isinstance(inner, ir.Call) and inner.fn in catalogue().layers and inner.fn not in _RECURRENT:
        yield Problem(f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN ...), not {inner.fn}", "layer",
                      inner.span)


def _bidirectional(ctx: Ctx) -> Result:
    """Bidirectional(layer): the layer and its copy running backwards (two
    sets of weights); ``layer`` may name a named layer or a model."""
    inner = ctx.args.get("layer")
    if not isinstance(inner, (ir.Call, str)):
        raise Unknown()
    outs, params = ctx.sub(inner, [ctx.inputs[0]])
    if params is None or any(o is None for o in outs):
        raise Unknown()
    back = ctx.args.get("backward_layer")
    if back is not None:
        raise Unknown()
    out, states = outs[0], outs[1:]
    assert out is not None
    mode = ctx.args.get("merge_mode", "concat")
    if mode == "concat":
        first: list[TShape] = [(*out[:-1], None if out[-1] is None else out[-1] * 2)]
    elif mode is None:
        first = [out, out]
    else:
        first = [out]
    return [*first, *states, *states], 2 * params


family.add("Bidirectional", shape=_bidirectional, args={"merge_mode": choice("sum", "mul", "ave", "concat", None)},
           checks=(_bidirectional_inner,))


def _time_distributed(ctx: Ctx) -> Result:
    """TimeDistributed(layer): the layer applied to every step of the second
    axis; ``layer`` may name a named layer or a model (``TimeDistributed(frame_cnn)``)."""
    inner = ctx.args.get("layer")
    x = ctx.one()
    ctx.min_rank(x, 3)
    if not isinstance(inner, (ir.Call, str)):
        raise Unknown()
    outs, params = ctx.sub(inner, [(x[0], *x[2:])])
    if len(outs) != 1 or outs[0] is None:
        raise Unknown()
    o = outs[0]
    return [(o[0], x[1], *o[1:])], params


family.add("TimeDistributed", shape=_time_distributed)
