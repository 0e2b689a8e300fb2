"""Pausing Python's cyclic garbage collector while a spec is read and checked."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration.

    The front half builds tens of thousands of small, short-lived objects
    (YAML nodes, spans, IR nodes) that hold no reference cycles worth
    collecting; the collector would otherwise rescan the growing heap over
    and over (about a third of ``kspec check``'s run time). Memory is
    reclaimed by reference counting as usual, and the collector resumes
    (if it was on) when the block ends, error or not.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
