"""The typed settings of ``compile`` and ``train`` sections.

A :class:`~kspec.spec.ir.Section` holds plain values as written; the check
pass (:mod:`kspec.compiler.sections`) validates them into these records,
which the runtime reads.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kspec.spec import ir

__all__ = ["CompileSettings", "DataMapping", "TrainSettings"]

_Setting = str | ir.Call


class _Strict(BaseModel):
    # defer_build: the validators are built on first use, so specs without
    # compile or train sections never pay for them.
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)


class CompileSettings(_Strict):
    """The checked ``compile`` section of one model."""

    optimizer: _Setting = "rmsprop"
    loss: _Setting | dict[str, _Setting | None] | list[_Setting] | None = None
    loss_weights: dict[str, float] | list[float] | None = None
    metrics: list[_Setting] | dict[str, list[_Setting] | _Setting] | None = None
    weighted_metrics: list[_Setting] | dict[str, list[_Setting] | _Setting] | None = None
    run_eagerly: bool = False
    jit_compile: bool | str = "auto"
    steps_per_execution: int = Field(default=1, ge=1)


class DataMapping(_Strict):
    """How CSV columns feed the model: ``inputs``/``outputs`` map each spec
    input/output name to one column or a list of columns (in order).

    With no mapping, a single-input, single-output model whose input is
    1-D of width N takes the first N columns as input, the rest as target."""

    inputs: dict[str, str | list[str]] = Field(default_factory=dict)
    outputs: dict[str, str | list[str]] = Field(default_factory=dict)
    delimiter: str = ","
    header: bool = True


class TrainSettings(_Strict):
    """The checked ``train`` section of one model."""

    epochs: int = Field(default=1, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    validation_split: float = Field(default=0.0, ge=0.0, lt=1.0)
    validation_data: str | None = None
    shuffle: bool = True
    class_weight: dict[str, float] | None = None
    callbacks: list[_Setting] = Field(default_factory=list)
    history: str | None = None
    verbose: int | str = "auto"
    seed: int | None = None
    data: DataMapping | None = None
