"""Metric labels come from fixed sets: whatever a peer sends, the series stay the same."""
from __future__ import annotations

from hpcq import metrics


def agent_series() -> set[tuple[str, str]]:
    return {(s.labels["method"], s.labels["code"]) for family in metrics.AGENT_REQUESTS.collect()
            for s in family.samples if s.name.endswith("_count")}


def test_agent_methods_outside_the_api_are_other_and_codes_are_grpcs() -> None:
    before = agent_series()
    for i in range(100):
        metrics.on_agent_request(f"/hpcq.v1.Jobs/Invented{i}", "UNIMPLEMENTED", 0.0)
        metrics.on_agent_request("/hpcq.v1.Jobs/Get", f"MADE_UP_{i}", 0.0)
    metrics.on_agent_request("/hpcq.v1.Admin/ListNodes", "OK", 0.0)
    added = agent_series() - before
    assert added <= {("other", "UNIMPLEMENTED"), ("Get", "UNKNOWN"), ("ListNodes", "OK")}


def test_status_labels() -> None:
    assert metrics.status_label("PERMISSION_DENIED") == "PERMISSION_DENIED"
    assert metrics.status_label("x" * 1000) == "UNKNOWN"
    assert len(metrics.STATUS_CODES) == 17
