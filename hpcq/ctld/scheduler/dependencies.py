"""Job dependencies: both syntaxes, and their verdict given the referenced jobs.

As in Slurm, an expression is a flat list of atoms (kind, job) joined either all
by `,` (every atom must hold) or all by `?` (one suffices); `afterok:1:2` is two
atoms. PBS (`-W depend=`) only knows the all-of form; `-hold_jid` (Grid Engine,
accepted by many PBS sites) is afterany on every id.

A target names a whole job — an array job as a whole — or one task of an array
(Slurm `1_3`, PBS `1[3]`). The controller tells where each target stands with a
`Phase`; a target it does not know any more was purged after it ended, which
Slurm treats as satisfied, and so does this module.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class DependencyError(ValueError):
    """A dependency expression that cannot be parsed; the message names the bad part."""


class Kind(Enum):
    AFTER = "after"              # the target started (or was cancelled before it could)
    AFTER_OK = "afterok"         # the target ended COMPLETED
    AFTER_NOT_OK = "afternotok"  # the target ended in any other final state
    AFTER_ANY = "afterany"       # the target ended, however
    SINGLETON = "singleton"      # no other job of this user with this name is running


class Phase(Enum):
    """Where a referenced job stands, as much as a dependency needs to know."""
    WAITING = "waiting"      # pending, held, waiting for its begin time, requeued
    RUNNING = "running"      # running or completing
    SUCCEEDED = "succeeded"  # COMPLETED
    FAILED = "failed"        # FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY

    @staticmethod
    def of_state(state: str) -> Phase:
        """From an hpcq state name (`jobs_pb2.JobState.Name(job.state)`)."""
        return _PHASE_OF_STATE[state]

    @staticmethod
    def combine(phases: Iterable[Phase]) -> Phase:
        """The phase of a whole array from its tasks' phases (the pending rest counts as WAITING).

        All started -> RUNNING; all ended -> SUCCEEDED only if every task succeeded.
        So `after` on an array waits for every task to start, `afterok` for every task
        to succeed, and `afternotok` holds once all ended and one of them failed.
        """
        seen = set(phases)
        for phase in (Phase.WAITING, Phase.RUNNING, Phase.FAILED):
            if phase in seen:
                return phase
        return Phase.SUCCEEDED


_PHASE_OF_STATE = {
    "PENDING": Phase.WAITING, "HELD": Phase.WAITING, "WAITING": Phase.WAITING,
    "RUNNING": Phase.RUNNING, "COMPLETING": Phase.RUNNING, "COMPLETED": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED, "CANCELLED": Phase.FAILED, "TIMEOUT": Phase.FAILED,
    "NODE_FAIL": Phase.FAILED, "OUT_OF_MEMORY": Phase.FAILED,
}


class Verdict(Enum):
    SATISFIED = "satisfied"
    WAITING = "waiting"      # pending reason Dependency
    NEVER = "never"          # pending reason DependencyNeverSatisfied (Slurm) / deleted (PBS)


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A whole job (or whole array), or one task of an array."""
    job_id: int
    task: int | None = None

    def __str__(self) -> str:
        return str(self.job_id) if self.task is None else f"{self.job_id}_{self.task}"

    def pbs(self) -> str:
        return str(self.job_id) if self.task is None else f"{self.job_id}[{self.task}]"


@dataclass(frozen=True, slots=True)
class Term:
    """One kind over one or more targets: `afterok:1:2`. SINGLETON has no targets."""
    kind: Kind
    targets: tuple[Target, ...] = ()


@dataclass(frozen=True, slots=True)
class Dependencies:
    """A parsed dependency expression: its terms joined all-of (`,`) or any-of (`?`)."""
    terms: tuple[Term, ...]
    any_of: bool = False

    @property
    def singleton(self) -> bool:
        return any(t.kind is Kind.SINGLETON for t in self.terms)

    def targets(self) -> tuple[Target, ...]:
        return tuple(t for term in self.terms for t in term.targets)

    def slurm(self) -> str:
        """`afterok:1:2,afterany:3_4` — how squeue %E and scontrol print it."""
        sep = "?" if self.any_of else ","
        return sep.join(term.kind.value if not term.targets else
                        term.kind.value + "".join(f":{t}" for t in term.targets) for term in self.terms)

    def pbs(self, server: str = "") -> str:
        suffix = f".{server}" if server else ""
        return ",".join(term.kind.value + "".join(f":{t.pbs()}{suffix}" for t in term.targets)
                        for term in self.terms)


Lookup = Callable[[Target], "Phase | None"]


def _atom(kind: Kind, phase: Phase | None) -> Verdict:
    if phase is None:             # purged long ago: Slurm lets the job go
        return Verdict.SATISFIED
    if phase is Phase.WAITING:
        return Verdict.WAITING
    if kind is Kind.AFTER:
        return Verdict.SATISFIED
    if phase is Phase.RUNNING:
        return Verdict.WAITING
    if kind is Kind.AFTER_ANY:
        return Verdict.SATISFIED
    ok = phase is Phase.SUCCEEDED
    return Verdict.SATISFIED if ok == (kind is Kind.AFTER_OK) else Verdict.NEVER


def evaluate(deps: Dependencies, phase_of: Lookup | Mapping[Target, Phase], *,
             singleton_busy: bool = False) -> Verdict:
    """The verdict of an expression; `singleton_busy`: a job of this user and name runs."""
    lookup = phase_of.get if isinstance(phase_of, Mapping) else phase_of
    verdicts: list[Verdict] = []
    for term in deps.terms:
        if term.kind is Kind.SINGLETON:
            verdicts.append(Verdict.WAITING if singleton_busy else Verdict.SATISFIED)
        else:
            verdicts.extend(_atom(term.kind, lookup(t)) for t in term.targets)
    if deps.any_of:
        if Verdict.SATISFIED in verdicts or not verdicts:
            return Verdict.SATISFIED
        return Verdict.NEVER if all(v is Verdict.NEVER for v in verdicts) else Verdict.WAITING
    if Verdict.NEVER in verdicts:
        return Verdict.NEVER
    return Verdict.WAITING if Verdict.WAITING in verdicts else Verdict.SATISFIED


def describe(deps: Dependencies, phase_of: Lookup | Mapping[Target, Phase], *,
             singleton_busy: bool = False) -> str:
    """Each atom with its state, as scontrol prints `afterok:11254(failed)`."""
    lookup = phase_of.get if isinstance(phase_of, Mapping) else phase_of
    words = {Verdict.SATISFIED: "fulfilled", Verdict.WAITING: "unfulfilled", Verdict.NEVER: "failed"}
    parts = []
    for term in deps.terms:
        if term.kind is Kind.SINGLETON:
            parts.append(f"singleton({words[Verdict.WAITING if singleton_busy else Verdict.SATISFIED]})")
        for t in term.targets:
            parts.append(f"{term.kind.value}:{t}({words[_atom(term.kind, lookup(t))]})")
    return ("?" if deps.any_of else ",").join(parts)


def find_cycle(job_id: int, deps: Dependencies,
               dependencies_of: Callable[[int], Dependencies | None]) -> list[int] | None:
    """The ids of a loop job -> ... -> job if giving `job_id` these dependencies would close one.

    A new job cannot close a loop (nothing refers to its id yet); a changed one can
    (`scontrol update dependency=`, `qalter -W depend=`): refuse it with the path.
    """
    parent: dict[int, int] = {}
    stack = [(job_id, deps)]
    while stack:   # iterative: pipelines of thousands of steps are deeper than Python's recursion limit
        current, d = stack.pop()
        for target in d.targets():
            if target.job_id == job_id:
                path = [job_id]
                while current != job_id:
                    path.append(current)
                    current = parent[current]
                return [job_id, *reversed(path[1:]), job_id]
            if target.job_id in parent:
                continue
            parent[target.job_id] = current
            further = dependencies_of(target.job_id)
            if further is not None:
                stack.append((target.job_id, further))
    return None


# --- parsing ------------------------------------------------------------------

_KINDS = {k.value: k for k in Kind}
_SLURM_UNSUPPORTED = {"aftercorr", "afterburstbuffer", "expand"}
_PBS_UNSUPPORTED = {"before", "beforeok", "beforenotok", "beforeany", "on", "runone"}
_SLURM_ID = re.compile(r"^(\d+)(?:_(\d+))?$")
_PBS_ID = re.compile(r"^(\d+)(?:\[(\d*)\])?(?:\.[A-Za-z0-9_.\-]+)?(?:@[A-Za-z0-9_.\-]+)?$")


def _target(text: str, pattern: re.Pattern[str], where: str) -> Target:
    m = pattern.match(text)
    if not m:
        raise DependencyError(f"{where}: {text!r} is not a job id")
    task = m.group(2)
    return Target(int(m.group(1)), int(task) if task else None)


def parse_slurm(text: str) -> Dependencies:
    """sbatch --dependency: `afterok:1:2,afterany:3`, `afterok:1_3`, `singleton`, `after:1?after:2`."""
    text = text.strip()
    if not text:
        raise DependencyError("dependency: empty")
    if "," in text and "?" in text:
        raise DependencyError(f"dependency {text!r}: ',' (all of) and '?' (any of) cannot be mixed")
    any_of = "?" in text
    terms: list[Term] = []
    for part in text.split("?" if any_of else ","):
        kind_text, _, ids = part.partition(":")
        kind_text = kind_text.strip().lower()
        kind = _KINDS.get(kind_text)
        if kind_text in _SLURM_UNSUPPORTED:
            raise DependencyError(f"dependency {part!r}: {kind_text} is not supported")
        if kind is None:
            raise DependencyError(f"dependency {part!r}: unknown type {kind_text!r}")
        if kind is Kind.SINGLETON:
            if ids:
                raise DependencyError(f"dependency {part!r}: singleton takes no job ids")
            terms.append(Term(kind))
            continue
        if not ids:
            raise DependencyError(f"dependency {part!r}: no job id")
        targets = []
        for raw in ids.split(":"):
            if "+" in raw:
                raise DependencyError(f"dependency {part!r}: {raw!r}: a delay (+minutes) is not supported")
            targets.append(_target(raw, _SLURM_ID, f"dependency {part!r}"))
        terms.append(Term(kind, tuple(targets)))
    return Dependencies(tuple(terms), any_of)


def parse_pbs(text: str) -> Dependencies:
    """qsub -W depend=: `afterok:1.server:2,afterany:3`, arrays `1[]`, tasks `1[3]`."""
    text = text.strip()
    if text.startswith("depend="):
        text = text[len("depend="):]
    if not text:
        raise DependencyError("depend: empty")
    terms: list[Term] = []
    for part in text.split(","):
        kind_text, _, ids = part.partition(":")
        if kind_text in _PBS_UNSUPPORTED:
            raise DependencyError(f"depend {part!r}: {kind_text} is not supported")
        kind = _KINDS.get(kind_text)
        if kind is None or kind is Kind.SINGLETON:
            raise DependencyError(f"depend {part!r}: unknown type {kind_text!r}")
        if not ids:
            raise DependencyError(f"depend {part!r}: no job id")
        terms.append(Term(kind, tuple(_target(raw, _PBS_ID, f"depend {part!r}") for raw in ids.split(":"))))
    return Dependencies(tuple(terms))


def parse_hold_jid(text: str) -> Dependencies:
    """`-hold_jid 1,2`: wait for each to end, however it ends (afterany)."""
    ids = [raw.strip() for raw in text.split(",")]
    if not text.strip() or not all(ids):
        raise DependencyError(f"hold_jid {text!r}: empty job id")
    targets = tuple(_target(raw, _SLURM_ID if "_" in raw else _PBS_ID, f"hold_jid {text!r}") for raw in ids)
    return Dependencies((Term(Kind.AFTER_ANY, targets),))


# --- the API message ------------------------------------------------------------
# jobs_pb2.Dependency carries whole jobs (and whole arrays) in job_ids, single array
# tasks (Slurm 1_3, PBS 1[3]) in tasks.

_PROTO_KIND = {Kind.AFTER: "AFTER", Kind.AFTER_OK: "AFTER_OK", Kind.AFTER_NOT_OK: "AFTER_NOT_OK",
               Kind.AFTER_ANY: "AFTER_ANY", Kind.SINGLETON: "SINGLETON"}


def to_proto(deps: Dependencies) -> tuple[list[Any], bool]:
    """(JobSpec.dependencies, JobSpec.dependency_any)."""
    from hpcq.api import jobs_pb2
    messages = []
    for term in deps.terms:
        msg = jobs_pb2.Dependency(kind=_PROTO_KIND[term.kind])
        for t in term.targets:
            if t.task is None:
                msg.job_ids.append(t.job_id)
            else:
                msg.tasks.add(array_job_id=t.job_id, task=t.task)
        messages.append(msg)
    return messages, deps.any_of


MAX_TARGETS = 10_000   # every scheduling pass looks each one up, for as long as the job is pending


@functools.cache
def _kinds_by_number() -> dict[int, Kind]:
    from hpcq.api import jobs_pb2
    return {jobs_pb2.Dependency.Kind.Value(name): kind for kind, name in _PROTO_KIND.items()}


def from_proto(messages: Iterable[Any], any_of: bool = False) -> Dependencies | None:
    """From JobSpec.dependencies / dependency_any; None when there are none. Raises
    DependencyError for a kind it does not know; `check` says what else is wrong."""
    kinds = _kinds_by_number()
    terms = []
    for n, msg in enumerate(messages):
        if msg.kind not in kinds:
            raise DependencyError(f"dependencies[{n}].kind: {msg.kind} is not a dependency type")
        targets = [Target(int(i)) for i in msg.job_ids]
        targets += [Target(int(t.array_job_id), int(t.task)) for t in msg.tasks]
        terms.append(Term(kinds[msg.kind], tuple(targets)))
    return Dependencies(tuple(terms), any_of) if terms else None


def check(messages: Iterable[Any], any_of: bool = False) -> None:
    """Refuse, naming the field (`dependencies[0].job_ids: missing`), what neither
    syntax can say: an unknown kind, a kind without its jobs, singleton with jobs, job
    id 0, more than MAX_TARGETS jobs. Submit and update check; a stored record is only
    read (from_proto), so that one written before a rule existed still loads."""
    messages = list(messages)
    total = sum(len(m.job_ids) + len(m.tasks) for m in messages)
    if total > MAX_TARGETS:
        raise DependencyError(f"dependencies: {total} jobs; at most {MAX_TARGETS}")
    deps = from_proto(messages, any_of)
    for n, term in enumerate(deps.terms if deps else ()):
        where = f"dependencies[{n}]"
        if term.kind is Kind.SINGLETON and term.targets:
            raise DependencyError(f"{where}: singleton takes no job ids")
        if term.kind is not Kind.SINGLETON and not term.targets:
            raise DependencyError(f"{where}.job_ids: missing")
        if any(t.job_id == 0 for t in term.targets):
            raise DependencyError(f"{where}: 0 is not a job id")
