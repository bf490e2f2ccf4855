"""Integration tests share the cluster fixtures of tests/conftest.py."""
from tests.cluster import Cluster, start_cluster

__all__ = ["Cluster", "start_cluster"]
