"""``python -m kspec``."""

from kspec.cli import run

run()
