"""Passes over the IR (uses, expand, graph checks, argument checks, section
checks, shape inference, block folding) and the layer registry. No keras."""
