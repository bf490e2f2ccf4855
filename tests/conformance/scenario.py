"""Every job state, produced on both systems by the same scripts submitted in the same order
(so that each state's job has the same id on both; `Scenario.start` checks it).

| state | job |
|---|---|
| completed | ``sleep 1`` |
| failed | ``sleep 2; exit 3`` |
| dependency | afterok on the failed job: pending, DependencyNeverSatisfied |
| cancelled | ``sleep``, cancelled once running |
| running | ``sleep`` |
| timeout | ``sleep`` past a one-minute limit (ends last: Slurm ends it 60-89 s after the minute) |
| held | submitted with ``--hold`` |
| array | ``--array=1-4%2``: two tasks running, the rest pending (JobArrayTaskLimit) |
| pending | all the node's CPUs once the others run: pending, Resources |

A case names the states it lists (``{running}`` in its command line becomes that job's id);
`Scenario.reach` waits until the states are there on both systems, polling with a deadline.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conformance.systems import CPUS, Result, System

# Seconds a state may take to appear: a loaded 2-core machine is slow; the timeout state
# takes up to ~150 s on Slurm (a 1-minute limit, ended 60-89 s after the minute).
DEADLINE = 300.0
POLL = 0.5
# How long the accounting may lag; past it the cases go on (and show the lag).
ACCOUNTING_DEADLINE = 120.0

SCRIPTS = {
    # Not `true`: a run under a second leaves the default hour's TIME_LEFT whole (1:00:00) or
    # not (59:59) as the run crosses a second's boundary, independently on each system.
    "completed": "sleep 1",
    "failed": "sleep 2\nexit 3",
    "dependency": "sleep 600",
    # exec: scancel's SIGTERM reaches sleep itself. Through a shell, the script may end by
    # the signal (0:15) or with the shell's 143, as the race goes, on either system.
    "cancelled": "exec sleep 600",
    "running": "sleep 3000",
    "timeout": "sleep 600",
    "held": "sleep 600",
    "pending": "sleep 600",
    "array": "sleep 3000",
}
# The order of submission; the second group after the first has settled.
# The timeout job first: Slurm takes the longest to end it.
FIRST = ("timeout", "completed", "failed", "dependency", "cancelled")
SECOND = ("running", "held", "array")
# Last: were it queued before the array, the array's tasks would wait behind it (Priority).
THIRD = ("pending",)
STATES = FIRST + SECOND + THIRD


def _options(state: str, ids: dict[str, int]) -> list[str]:
    return {
        "dependency": [f"--dependency=afterok:{ids.get('failed', 0)}"],
        "timeout": ["-t", "1"],
        "held": ["--hold"],
        "pending": ["-c", str(CPUS)],
        "array": ["--array=1-4%2"],
    }.get(state, [])


ACCOUNT = "root"        # the account slurm_up.sh's slurmdbd has for root
_SUBMITTED = re.compile(r"Submitted batch job (\d+)")


class ScenarioError(RuntimeError):
    pass


@dataclass
class Scenario:
    systems: list[System]
    workdir: Path
    ids: dict[str, int] = field(default_factory=dict)
    reached: set[str] = field(default_factory=set)

    def start(self) -> None:
        for state, body in SCRIPTS.items():
            # An explicit account: Slurm gives a job without one the user's default account
            # from slurmdbd, hpcq none (a case of its own, in the allowlist).
            (self.workdir / f"{state}.sh").write_text(f"#!/bin/bash\n#SBATCH -J cf-{state}\n#SBATCH -A {ACCOUNT}\n"
                                                      f"{body}\n")
        self._submit(FIRST)
        self.reach(["completed", "failed", "dependency"])
        self._wait("cancelled", lambda s: self._field(s, "cancelled", "%T") == "RUNNING")
        for system in self.systems:
            self._check(system.run(["scancel", str(self.ids["cancelled"])]), system, "scancel")
        self.reach(["cancelled"])
        self._submit(SECOND)
        self.reach(["array"])
        self._submit(THIRD)
        self.reach(["pending"])
        self._accounting_caught_up()

    def _accounting_caught_up(self) -> None:
        """slurmdbd records jobs after slurmctld, asynchronously: wait (a while) until sacct
        lists the scenario's jobs on both systems alike (the timeout job aside, which ends at
        its own moment on each)."""
        ids = ",".join(str(i) for state, i in self.ids.items() if state not in ("timeout",))
        argv = ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ids]
        deadline = time.monotonic() + ACCOUNTING_DEADLINE
        while time.monotonic() < deadline:
            listed = [system.run(argv).stdout for system in self.systems]
            if all(text == listed[0] for text in listed):
                return
            time.sleep(POLL)

    def _submit(self, states: Iterable[str]) -> None:
        for state in states:
            argv = ["sbatch", *_options(state, self.ids), f"{state}.sh"]
            got = {}
            for system in self.systems:
                result = self._check(system.run(argv), system, " ".join(argv))
                m = _SUBMITTED.search(result.stdout)
                if not m:
                    raise ScenarioError(f"{system.name}: {' '.join(argv)}: {result}")
                got[system.name] = int(m[1])
            if len(set(got.values())) != 1:
                raise ScenarioError(f"the {state} job has different ids: {got}")
            self.ids[state] = got[self.systems[0].name]

    @staticmethod
    def _check(result: Result, system: System, what: str) -> Result:
        if result.status != 0:
            raise ScenarioError(f"{system.name}: {what} exited {result.status}: {result.stderr}")
        return result

    def _field(self, system: System, state: str, fmt: str, *extra: str) -> str:
        result = system.run(["squeue", "-h", "-t", "all", "-j", str(self.ids[state]), "-o", fmt, *extra])
        return result.stdout.strip()

    def _settled(self, system: System, state: str) -> bool:
        if state == "array":
            lines = self._field(system, state, "%T %r", "-r").splitlines()
            return sorted(lines).count("RUNNING None") == 2 and len(lines) == 4
        condition = {
            "completed": "COMPLETED", "failed": "FAILED", "cancelled": "CANCELLED", "timeout": "TIMEOUT",
            "running": "RUNNING", "held": "PENDING JobHeldUser", "pending": "PENDING Resources",
            "dependency": "PENDING DependencyNeverSatisfied",
        }[state]
        now = self._field(system, state, "%T %r" if " " in condition else "%T")
        return now == condition

    def _wait(self, state: str, settled: Callable[[System], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        waiting = list(self.systems)
        while waiting:
            waiting = [s for s in waiting if not settled(s)]
            if waiting and time.monotonic() > deadline:
                raise ScenarioError(f"{state} not reached in {DEADLINE:.0f} s on {', '.join(s.name for s in waiting)}")
            if waiting:
                time.sleep(POLL)

    def reach(self, states: Iterable[str]) -> None:
        """Return once every one of these states is there on both systems."""
        for state in sorted(states, key=STATES.index):
            if state not in self.reached:
                self._wait(state, lambda s, state=state: self._settled(s, state))
                self.reached.add(state)

    def substitute(self, text: str) -> str:
        """A case's command line with ``{state}`` as that state's job id."""
        return re.sub(r"\{(\w+)\}", lambda m: str(self.ids[m[1]]) if m[1] in self.ids else m[0], text)
