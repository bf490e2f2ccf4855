"""What becomes of a job whose run has ended: it ends, it runs again later, or it is held.

The real systems, followed where they have something to say:

- Slurm requeues a batch job whose node failed when the job may be requeued
  (``--requeue``, JobRequeue=1) and, after MaxBatchRequeue such requeues, holds it
  with reason JobHoldMaxRequeue. It never retries a job because its script failed
  (RequeueExit= is a site-wide exit-code list, not a per-job retry).
- PBS reruns a rerunnable (``-r y``) job after a node failure and holds it once its
  run_count passes 20.

Retrying a job whose script failed, with a number of attempts and an exponential
backoff (Kue's ``attempts`` and ``backoff``), is an hpcq extension a job asks for in
its spec (``JobSpec.retry``). A retry waits pending with reason BeginTime, as a job
with a begin time in the future does.

A requeue somebody asks for (``scontrol requeue``, ``qrerun``) sends the job back
whatever its run's end: pending at once, or held (``scontrol requeuehold``). Slurm keeps
a requeued job with reason BeginTime until its launch credential has expired; an hpcq
node ignores a launch of an attempt it has run, so the job may start again at once.
"""
from __future__ import annotations

from dataclasses import dataclass

# The run ended in one of these states and a retry may repeat it. TIMEOUT and
# OUT_OF_MEMORY are left out: the same walltime or memory limit would end the next
# run the same way. CANCELLED is somebody's decision, never retried.
RETRIED = frozenset({"FAILED", "NODE_FAIL"})


@dataclass(frozen=True, slots=True)
class RetryLimits:
    """The site's side: ctld's configuration."""
    backoff: float = 30.0              # retry_backoff: the first retry's wait
    backoff_max: float = 3600.0        # retry_backoff_max: the longest wait
    max_batch_requeue: int = 5         # requeues after node failures before a hold (Slurm MaxBatchRequeue)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """The job's side: how its run ended and what it asked for."""
    state: str                         # the run's end state, a JobState name: "FAILED", "NODE_FAIL", ...
    attempt: int                       # runs so far, this one included (Job.attempt)
    cancelled: bool = False            # somebody asked to cancel it
    requeue: bool = True               # may be requeued after a node failure (--requeue / -r y)
    max_attempts: int = 0              # JobSpec.retry.max_attempts: runs in all; 0 or 1: no retry
    backoff: float = 0.0               # JobSpec.retry.backoff_seconds; 0: the site's
    backoff_max: float = 0.0           # JobSpec.retry.max_backoff_seconds; 0: the site's
    requeued: bool = False             # somebody asked for a requeue (scontrol requeue, qrerun)
    requeue_held: bool = False         # ... and for the job to come back held (scontrol requeuehold)


@dataclass(frozen=True, slots=True)
class Finish:
    """The job ends in the state its run ended in."""


@dataclass(frozen=True, slots=True)
class Requeue:
    """The job is queued again; it may start at `at` (now: at once)."""
    at: float
    reason: str                        # the pending reason until then


@dataclass(frozen=True, slots=True)
class Hold:
    """The job is queued again, held until an operator releases it."""
    reason: str


Outcome = Finish | Requeue | Hold


def backoff(retry: int, base: float, cap: float) -> float:
    """Seconds retry number `retry` (1 for the first) waits: base, 2·base, 4·base, … up to
    cap (0: no cap)."""
    if retry < 1 or base <= 0:
        return 0.0
    # A bigger exponent than 63 changes nothing a cap would not, and would overflow.
    wait = base * 2.0 ** min(retry - 1, 63)
    return min(cap, wait) if cap > 0 else wait


def after_run(end: RunEnd, limits: RetryLimits, now: float) -> Outcome:
    """Whether and when a job whose run ended as `end` runs again."""
    if end.requeued and not end.cancelled:
        return Hold("JobHeldUser") if end.requeue_held else Requeue(at=now, reason="None")
    if end.cancelled or end.state not in RETRIED:
        return Finish()
    if end.state == "NODE_FAIL" and not end.requeue:
        return Finish()
    if end.max_attempts > 1:
        if end.attempt >= end.max_attempts:
            return Finish()
        wait = backoff(end.attempt, end.backoff or limits.backoff, end.backoff_max or limits.backoff_max)
        return Requeue(at=now + wait, reason="BeginTime" if wait > 0 else "None")
    if end.state != "NODE_FAIL":
        return Finish()
    # Requeued at once after a node failure, as Slurm and PBS do, up to the site's limit.
    if end.attempt > limits.max_batch_requeue:
        return Hold("JobHoldMaxRequeue")
    return Requeue(at=now, reason="NodeFail")
