"""Shared test set-up: Hypothesis profiles and the ``slow`` marker.

- ``KSPEC_HYPOTHESIS_PROFILE=thorough`` runs many more property examples
  (``make test-thorough``); the default profile keeps the suite fast.
- ``@pytest.mark.slow`` tests run only with ``KSPEC_SLOW=1``.
"""

from __future__ import annotations

import os
import signal

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A shell without job control starts background commands with SIGINT ignored,
# and children inherit that: the Ctrl-C tests need Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile(
    "default",
    max_examples=int(os.environ.get("KSPEC_MAX_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=int(os.environ.get("KSPEC_MAX_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("KSPEC_HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("KSPEC_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set KSPEC_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
