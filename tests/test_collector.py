"""The pause of the cyclic garbage collector around reading and checking a spec."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kspec.compiler.pipeline import load_text
from kspec.spec import ir
from kspec.spec.collector import collector_paused
from kspec.spec.diagnostics import KspecError
from kspec.spec.kspec_printer import print_kspec
from kspec.spec.yaml_printer import dump_yaml
from strategies import specs


class _Cell:
    """A small object that can take part in a reference cycle and be watched."""

    def __init__(self) -> None:
        self.other: _Cell | None = None


@pytest.fixture
def collector_on():
    """The collector on, with nothing frozen, as the test found it after.
    CPython 3.12 (3.12.1) starts with some of its own objects frozen (immortal
    tuples of the built-in types): they are unfrozen for the test, which
    ``collector_paused`` itself never does."""
    was_enabled = gc.isenabled()
    gc.enable()
    gc.unfreeze()
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


# -- what a check drops is freed at once ------------------------------------------

_ROOT = Path(__file__).resolve().parent.parent
_SPECS = sorted(
    p for pattern in ("examples/*.kspec", "examples/*.yaml", "tests/fixtures/**/*.kspec", "tests/fixtures/**/*.yaml")
    for p in _ROOT.glob(pattern)
)


def _check_text(text: str, file: str) -> None:
    with contextlib.suppress(KspecError):  # a mistake's path is checked too
        load_text(text, file)


def _cycles_left(check: Callable[[], None]) -> list[str]:
    """The types of what ``check``, run a second time (modules and caches
    are loaded by the first), leaves for the collector. The test process's
    heap is frozen first, so each collection looks at what the checks made
    only (with Keras loaded by other tests, a full one takes a third of a
    second)."""
    gc.freeze()
    try:
        check()
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        check()
        gc.collect()
        return [type(o).__qualname__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.unfreeze()


@pytest.mark.parametrize("path", _SPECS, ids=lambda p: str(p.relative_to(_ROOT)))
def test_checking_a_spec_leaves_no_reference_cycles(path: Path, collector_on) -> None:
    """Everything a check makes and drops is freed by reference counting, so
    the collector's pause can hand what it kept to the oldest generation: an
    editor or a tool checking spec after spec does not wait on the collector
    to get its memory back."""
    text = path.read_text(encoding="utf-8", errors="replace")
    assert _cycles_left(lambda: _check_text(text, str(path))) == []


def test_the_specs_checked_for_cycles_include_valid_and_invalid_ones() -> None:
    names = {p.parent.name for p in _SPECS}
    assert len(_SPECS) > 100 and {"valid", "invalid"} <= names


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=specs(), as_yaml=st.booleans())
def test_checking_a_random_spec_leaves_no_reference_cycles(spec: ir.Spec, as_yaml: bool, collector_on) -> None:
    text, file = (dump_yaml(spec), "random.yaml") if as_yaml else (print_kspec(spec), "random.kspec")
    assert _cycles_left(lambda: _check_text(text, file)) == []
