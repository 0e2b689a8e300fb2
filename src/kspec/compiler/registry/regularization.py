"""Regularization layers: dropout in its forms, noise, ActivityRegularization."""

from __future__ import annotations

from kspec.compiler.calls import fraction
from kspec.compiler.registry._base import Family
from kspec.compiler.registry._common import identity, ranked_identity

family = Family("regularization")

family.add("Dropout", shape=identity, args={"rate": fraction()})
for _r in (1, 2, 3):  # (batch, *spatial, channels): whole feature maps are dropped
    family.add(f"SpatialDropout{_r}D", shape=ranked_identity(_r + 2), args={"rate": fraction()})
family.add("GaussianDropout", shape=identity, args={"rate": fraction()})
family.add("AlphaDropout", shape=identity, args={"rate": fraction()})
family.add("GaussianNoise", shape=identity, args={"stddev": fraction()})
family.add("ActivityRegularization", shape=identity)
