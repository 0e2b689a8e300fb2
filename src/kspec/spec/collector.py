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

    Resuming alone would leave every object the block made and kept counted
    as young, so the first allocation after it would make the collector
    traverse them all (the whole checked spec: a tenth of the run at 50,000
    layers, more per layer the larger the spec). They are moved to the
    oldest generation instead, in constant time (``gc.freeze`` then
    ``gc.unfreeze``), where the collector looks at them at its next full
    collection, as at any long-lived object. What a check drops it frees
    by reference counting: it makes no reference cycles (a test holds
    this), so no garbage waits there for that collection. When objects
    are frozen already (an application that froze its heap before
    forking), that is left alone and the collector resumes as it is; so it
    is on CPython 3.12 (3.12.1), which starts with some of its own objects frozen
    (immortal tuples of the built-in types), and where the collector then
    traverses what the block kept at its next collections, as it would
    have without the pause.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
