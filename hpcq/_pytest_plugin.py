"""The pytest plugin that installing hpcq registers (entry point `hpcq`, in pyproject.toml's
pytest11 group): the `hpcq_cluster` fixture. `pytest -p no:hpcq` leaves it out; with plugin
autoloading off, `-p hpcq` brings it in.

Only pytest is imported here: the plugin loads in every pytest run of an environment where
hpcq is installed, and a cluster starts only for a test that asks for one.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.testing import Cluster


@pytest.fixture(scope="session")
def hpcq_cluster_options() -> dict[str, Any]:
    """Keyword arguments of hpcq.testing.local_cluster for `hpcq_cluster` (none: 2 nodes of
    2 CPUs). Override this fixture, session-scoped, in your conftest.py to change them."""
    return {}


@pytest.fixture(scope="session")
def hpcq_cluster(hpcq_cluster_options: dict[str, Any]) -> Iterator[Cluster]:
    """A running local hpcq cluster, shared by the session's tests: while it runs, sbatch,
    squeue, qsub, qstat... are on PATH and reach it. See hpcq.testing."""
    from hpcq.testing import local_cluster
    with local_cluster(**hpcq_cluster_options) as cluster:
        yield cluster
