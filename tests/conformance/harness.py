"""One case on both systems: its setup, its command line, its checks; both outputs through
the one normaliser; compared; and the verdict, with the allowlist's reason where there is one."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from tests.conformance import allowlist, normalize
from tests.conformance.corpus import Case
from tests.conformance.scenario import Scenario
from tests.conformance.systems import Result, System

_SUBMITTED = re.compile(r"Submitted batch job (\d+)")

IDENTICAL, ALLOWED, FAILED = "identical", "allowed", "failed"


@dataclass(frozen=True)
class Outcome:
    case: Case
    verdict: str
    reason: str = ""
    diff: str = ""
    reference: str = ""       # both normalised transcripts, when they differ
    ours: str = ""


def _transcript(results: list[tuple[str, Result]]) -> str:
    parts = []
    for command, r in results:
        stderr = f"[stderr]\n{r.stderr}" if r.stderr else ""
        parts.append(f"$ {command}\n{r.stdout}{stderr}[exit {r.status}]\n")
    return "".join(parts)


def run_on(system: System, case: Case, scenario: Scenario) -> str:
    """The case's transcript on one system, normalised."""
    new = ""
    for argv in case.setup:
        r = system.run(list(argv))
        m = _SUBMITTED.search(r.stdout)
        new = m[1] if m else new

    def words(argv: tuple[str, ...]) -> list[str]:
        return [scenario.substitute(w).replace("{new}", new) for w in argv]

    env = {k: v for k, v in case.env}
    results = [(case.id, system.run(words(case.argv), env=env, stdin=case.stdin))]
    for argv in case.check:
        results.append((" ".join(argv), system.run(words(argv))))
    text = _transcript(results)
    if new:     # the case's own job: each system numbers it its own way (normalize.py's new-id)
        text = re.sub(rf"(?<![\w.]){new}(?![\w])", "<new-id>", text)
    return normalize.normalize(text, volatile=case.volatile)


def run_case(case: Case, scenario: Scenario, systems: list[System], workdir: Path) -> Outcome:
    scenario.reach(case.states)
    if case.script:
        (workdir / case.argv[-1]).write_text(case.script)
    reference, ours = (run_on(system, case, scenario) for system in systems)
    if reference == ours:
        return Outcome(case, IDENTICAL)
    diff = "".join(difflib.unified_diff(reference.splitlines(keepends=True), ours.splitlines(keepends=True),
                                        systems[0].name, systems[1].name))
    reason = allowlist.explain(case.id, reference, ours)
    return Outcome(case, ALLOWED if reason else FAILED, reason or "", diff, reference, ours)
