"""Activation layers: Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU."""

from __future__ import annotations

import math

from kspec.compiler.calls import number_at_least
from kspec.compiler.registry._base import Ctx, Family, Result, ShapeError, Unknown, fmt_shape
from kspec.compiler.registry._common import identity

family = Family("activations")

family.add("Activation", shape=identity)
family.add("ReLU", shape=identity, args={"max_value": number_at_least(0, none=True),
                                        "negative_slope": number_at_least(0), "threshold": number_at_least(0)})
family.add("LeakyReLU", shape=identity, args={"negative_slope": number_at_least(0)})
family.add("ELU", shape=identity)
family.add("Softmax", shape=identity)


def _prelu(ctx: Ctx) -> Result:
    """One slope per input element, shared along ``shared_axes``."""
    x = ctx.one()
    shape = list(x[1:])
    shared = ctx.args.get("shared_axes")
    if shared is not None:
        for i in shared if isinstance(shared, list) else [shared]:
            if not 1 <= int(i) < len(x):
                raise ShapeError(f"PReLU: shared axis {int(i)} is out of range for input {fmt_shape(x)}")
            shape[int(i) - 1] = 1
    if any(d is None for d in shape):
        raise Unknown()
    return [x], math.prod(d for d in shape if d is not None)


family.add("PReLU", shape=_prelu)
