"""Golden tests run in the captures' time zone (UTC), against the capture files."""
from __future__ import annotations

import time

import pytest

from tests.compat import captures


def pytest_collection_modifyitems(config, items):  # noqa: ANN001
    if not captures.available():
        skip = pytest.mark.skip(reason=f"no captures at {captures.COMPAT_DIR} (set HPCQ_COMPAT_DIR)")
        for item in items:
            if "tests/compat" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
