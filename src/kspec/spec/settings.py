"""The typed settings of ``compile`` and ``train`` sections.

A :class:`~kspec.spec.ir.Section` holds plain values as written; the check
pass (:mod:`kspec.compiler.sections`) validates them into these records,
which the runtime reads. Like the IR's nodes they are plain dataclasses
that pydantic validates (from the shipped schema, see
:mod:`kspec.spec._ir_schema`), with bounds declared beside each field.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Literal

from kspec._records import record
from kspec.spec import ir

__all__ = ["CompileSettings", "DataMapping", "TrainSettings"]

_Setting = str | ir.Call
_Metrics = list[_Setting | list[_Setting] | None] | dict[str, list[_Setting] | _Setting | None]


@record(slots=True, kw_only=True, eq=False, repr=False)
class CompileSettings(ir.Record):
    """The checked ``compile`` section of one model."""

    optimizer: _Setting = "rmsprop"
    loss: _Setting | dict[str, _Setting | None] | list[_Setting] | None = None
    loss_weights: dict[str, float] | list[float] | None = None
    #: Every form Keras 3 takes: a list (one output: metrics, nested lists
    #: flattened; several outputs: one entry per output, each a metric, a
    #: list of metrics or none), or a mapping of output names to a metric, a
    #: list of metrics or none.
    metrics: _Metrics | None = None
    weighted_metrics: _Metrics | None = None
    run_eagerly: bool = False
    jit_compile: bool | str = "auto"
    steps_per_execution: Annotated[int, ir.bounded(ge=1)] = 1


@record(slots=True, kw_only=True, eq=False, repr=False)
class DataMapping(ir.Record):
    """How CSV columns feed the model: ``inputs``/``outputs`` map each spec
    input/output name to one column or a list of columns (in order).

    With no mapping, a single-input, single-output model whose input is
    1-D of width N takes the first N columns as input, the rest as target."""

    inputs: dict[str, str | list[str]] = field(default_factory=dict)
    outputs: dict[str, str | list[str]] = field(default_factory=dict)
    delimiter: str = ","
    header: bool = True


@record(slots=True, kw_only=True, eq=False, repr=False)
class TrainSettings(ir.Record):
    """The checked ``train`` section of one model."""

    epochs: Annotated[int, ir.bounded(ge=1)] = 1
    batch_size: Annotated[int | None, ir.bounded(ge=1)] = None
    validation_split: Annotated[float, ir.bounded(ge=0.0, lt=1.0)] = 0.0
    validation_data: str | None = None
    shuffle: bool = True
    class_weight: dict[str, float] | None = None
    callbacks: list[_Setting] = field(default_factory=list)
    history: str | None = None
    verbose: int | str = "auto"
    seed: int | None = None
    data: DataMapping | None = None
    #: Scale-out: "data_parallel" (a copy of the model per device, the batch
    #: split over them) or "model_parallel" (JAX: large variables split over
    #: a ``model`` axis of ``model_devices`` devices, as ``layout`` says).
    distribution: Literal["data_parallel", "model_parallel"] | None = None
    model_devices: Annotated[int | None, ir.bounded(ge=1)] = None
    layout: dict[str, list[str | None]] | None = None
    #: ``batch_size`` is the global batch (every device of every process);
    #: ``batch_size_per_device`` gives it per device instead (not both).
    batch_size_per_device: Annotated[int | None, ir.bounded(ge=1)] = None
    mixed_precision: Literal["mixed_float16", "mixed_bfloat16", "float32"] | None = None


ir.finish(ir.Record)
