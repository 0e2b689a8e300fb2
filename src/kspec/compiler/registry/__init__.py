"""The layer registry: what kspec knows about each layer family beyond the
generated catalogue (argument rules and shape rules, side by side)."""
