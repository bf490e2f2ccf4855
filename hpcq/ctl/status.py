"""`hpcqctl status`: what ctld says of itself, and a summary of its metrics (as sdiag).

ServerInfo gives the cluster, jobs by state and the caller; the scheduler and store
figures come from ctld's Prometheus endpoint, which the admin's config names
([ctld] metrics_listen) or --metrics gives. Without one, status says so and shows the rest.
"""
from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from hpcq import config as configuration

FETCH_TIMEOUT = 3.0


def metrics_url(config: configuration.Config, given: str | None) -> str:
    """The metrics URL to read: --metrics, else ctld's metrics_listen (a wildcard address
    replaced by the host of [client] server); "" when neither is known."""
    if given:
        return given if "://" in given else f"http://{given}/metrics"
    address = configuration.split_address(config.ctld.metrics_listen) if config.ctld.metrics_listen else None
    if address is None:
        return ""
    host, port = address
    if host in ("", "0.0.0.0", "::"):
        server = configuration.split_address(config.client.server)
        host = server[0] if server else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"


@dataclass
class Histogram:
    count: float = 0.0
    sum: float = 0.0
    buckets: list[tuple[float, float]] = field(default_factory=list)   # (upper bound, cumulative count)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the q-quantile (what a histogram can tell)."""
        if not self.count:
            return 0.0
        for bound, cumulative in sorted(self.buckets):
            if cumulative >= q * self.count:
                return bound
        return math.inf


def fetch(url: str, timeout: float = FETCH_TIMEOUT) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.read().decode()


def parse(text: str) -> dict[str, Any]:
    """Samples by metric family: plain values keyed by their labels, histograms as Histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "histogram":
            by_labels: dict[tuple, Histogram] = {}
            for s in family.samples:
                labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                h = by_labels.setdefault(labels, Histogram())
                if s.name.endswith("_bucket"):
                    h.buckets.append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    h.count = s.value
                elif s.name.endswith("_sum"):
                    h.sum = s.value
            families[family.name] = by_labels
        else:
            families[family.name] = {tuple(sorted(s.labels.items())): s.value for s in family.samples}
    return families


def _one(families: dict[str, Any], name: str) -> Any:
    values = families.get(name) or {}
    return values.get((), next(iter(values.values()), None))


def summary(families: dict[str, Any]) -> dict[str, Any]:
    """The figures status shows, from parsed metrics (also its --json form)."""
    passes = _one(families, "hpcq_sched_pass_duration_seconds") or Histogram()
    started = _one(families, "hpcq_sched_jobs_started_per_pass") or Histogram()
    wait = _one(families, "hpcq_job_submit_to_start_seconds") or Histogram()
    commits = _one(families, "hpcq_store_commit_duration_seconds") or Histogram()
    batches = _one(families, "hpcq_store_commit_batch_size") or Histogram()
    rpcs: dict[str, dict[str, float]] = {}
    for labels, h in (families.get("hpcq_rpc_duration_seconds") or {}).items():
        labels = dict(labels)
        entry = rpcs.setdefault(labels.get("method", "?"), {"calls": 0, "errors": 0, "seconds": 0.0})
        entry["calls"] += h.count
        entry["seconds"] += h.sum
        if labels.get("code") != "OK":
            entry["errors"] += h.count
    ages = {dict(k).get("node", "?"): v for k, v in (families.get("hpcq_node_heartbeat_age_seconds") or {}).items()}
    return {
        "scheduler": {"passes": passes.count, "mean_seconds": passes.mean, "p99_seconds": passes.quantile(0.99),
                      "last_seconds": _one(families, "hpcq_sched_last_pass_duration_seconds") or 0.0,
                      "jobs_started": started.sum, "max_started_per_pass": started.quantile(1.0),
                      "schedulable": _one(families, "hpcq_jobs_schedulable") or 0.0},
        "submit_to_start": {"jobs": wait.count, "mean_seconds": wait.mean, "p50_seconds": wait.quantile(0.5),
                            "p99_seconds": wait.quantile(0.99)},
        "submitted": _one(families, "hpcq_jobs_submitted") or 0.0,
        "store": {"commits": commits.count, "mean_seconds": commits.mean, "p99_seconds": commits.quantile(0.99),
                  "mean_batch": batches.mean, "max_batch": batches.quantile(1.0)},
        "rpc": {m: {**v, "mean_seconds": v["seconds"] / v["calls"] if v["calls"] else 0.0}
                for m, v in sorted(rpcs.items())},
        "heartbeat_age_seconds": ages,
    }


def duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "inf"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render(figures: dict[str, Any], url: str) -> list[str]:
    s, w, st = figures["scheduler"], figures["submit_to_start"], figures["store"]
    lines = [f"ctld metrics ({url}):",
             f"  scheduling passes   {s['passes']:>8.0f}   mean {duration(s['mean_seconds'])}, "
             f"p99 <= {duration(s['p99_seconds'])}, last {duration(s['last_seconds'])}",
             f"  jobs started        {s['jobs_started']:>8.0f}   at most {s['max_started_per_pass']:.0f} in one pass; "
             f"{s['schedulable']:.0f} pending now",
             f"  jobs submitted      {figures['submitted']:>8.0f}",
             f"  submit to start     {w['jobs']:>8.0f}   mean {duration(w['mean_seconds'])}, "
             f"p50 <= {duration(w['p50_seconds'])}, p99 <= {duration(w['p99_seconds'])}",
             f"  store commits       {st['commits']:>8.0f}   mean {duration(st['mean_seconds'])}, "
             f"p99 <= {duration(st['p99_seconds'])}; {st['mean_batch']:.1f} rows per commit "
             f"(most <= {st['max_batch']:.0f})"]
    if figures["rpc"]:
        lines.append(f"  {'RPC':<18} {'calls':>8} {'errors':>7}  mean")
        for method, v in figures["rpc"].items():
            lines.append(f"    {method:<16} {v['calls']:>8.0f} {v['errors']:>7.0f}  {duration(v['mean_seconds'])}")
    if figures["heartbeat_age_seconds"]:
        lines.append("  last heard from     " + ", ".join(
            f"{node} {duration(age)} ago" for node, age in sorted(figures["heartbeat_age_seconds"].items())))
    return lines


def read_metrics(url: str) -> tuple[dict[str, Any] | None, str]:
    """(figures, "") or (None, why not)."""
    if not url:
        return None, "no metrics endpoint known: set [ctld] metrics_listen in this config, or give --metrics URL"
    try:
        return summary(parse(fetch(url))), ""
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"{url}: {getattr(e, 'reason', e)}"


def controller_lines(controllers: list[Any], last_takeover: float, now: float) -> list[str]:
    """The controllers (admin_pb2.Controller, the active one first) and the last takeover,
    as status prints them; nothing from a ctld that does not say."""
    if not controllers:
        return []

    def when(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    shown = [f"{c.address} {c.role} since {when(c.since)}" + (f" (epoch {c.epoch})" if c.role == "active" else "")
             for c in controllers]
    standbys = sum(c.role == "standby" for c in controllers)
    takeover = (f"{when(last_takeover)}, {duration(max(0.0, now - last_takeover))} ago" if last_takeover
                else "never")
    return ["controllers: " + "; ".join(shown) + ("" if standbys else "; no standby"),
            f"last takeover: {takeover}"]
