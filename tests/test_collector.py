"""The pause of the cyclic garbage collector around reading and checking a spec."""

from __future__ import annotations

import gc
import weakref

import pytest

from kspec.spec.collector import collector_paused


class _Cell:
    """A small object that can take part in a reference cycle and be watched."""

    def __init__(self) -> None:
        self.other: _Cell | None = None


@pytest.fixture
def collector_on():
    """The collector on, with nothing frozen, as the test found it after."""
    was_enabled = gc.isenabled()
    gc.enable()
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()
    if not was_enabled:
        gc.disable()


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation))


def test_what_the_block_keeps_is_old_and_nothing_young_is_pending(collector_on) -> None:
    with collector_paused():
        assert not gc.isenabled()
        kept = [_Cell() for _ in range(20_000)]
    assert gc.isenabled()
    # No young allocation is left counted, so no collection traverses what the block kept.
    assert gc.get_count()[0] < 10
    assert _in_generation(kept[0], 2) and _in_generation(kept[-1], 2)
    assert not _in_generation(kept[-1], 0)


def test_a_cycle_the_block_drops_is_still_collected(collector_on) -> None:
    with collector_paused():
        a, b = _Cell(), _Cell()
        a.other, b.other = b, a
        watch = weakref.ref(a)
        del a, b
    assert watch() is not None  # a cycle: reference counting alone does not free it
    gc.collect()
    assert watch() is None


def test_a_frozen_heap_stays_frozen(collector_on) -> None:
    before = _Cell()
    gc.freeze()
    frozen = gc.get_freeze_count()
    with collector_paused():
        _Cell()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    assert not _in_generation(before, 2)  # still in the permanent generation


def test_a_collector_that_was_off_stays_off(collector_on) -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
    gc.enable()


def test_the_collector_resumes_after_an_error(collector_on) -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("a mistake in the spec")
    assert gc.isenabled()
