"""Golden tests run in the captures' time zone (UTC), against the capture files."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _in_utc(utc):
    yield
