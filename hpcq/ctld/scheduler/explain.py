"""Why is job X pending: the same pass over the same snapshot, watching one job."""
from __future__ import annotations

from dataclasses import dataclass

from hpcq.ctld.scheduler.model import Reserve, SetReason, Snapshot, Start
from hpcq.ctld.scheduler.passes import run_pass
from hpcq.ctld.scheduler.priority import PriorityBreakdown, PriorityContext


@dataclass(frozen=True)
class Explanation:
    job_id: int
    reason: str                      # the pending reason; "None" when it would start in this pass
    priority: PriorityBreakdown
    would_start: bool                # (for an array: at least one task would start)
    planned_start: float | None      # the reservation's time, if the job holds one
    planned_nodes: tuple[str, ...]
    detail: str                      # the limit, dependency or shape behind the reason, in words

    def lines(self) -> list[str]:
        """For `hpcqctl job explain`."""
        p = self.priority
        out = [f"job {self.job_id}: {'would start now' if self.would_start else 'pending'}, reason {self.reason}"]
        if self.detail:
            out.append(f"  {self.detail}")
        if self.planned_start is not None:
            out.append(f"  planned start {self.planned_start:.0f} on {','.join(self.planned_nodes)}")
        if p.admin_override is not None:
            out.append(f"  priority {p.priority} (set by an admin)")
        else:
            out.append(f"  priority {p.priority} = " + " + ".join(
                f"{name} {value:.0f}" for name, value in p.contributions().items() if name != "nice")
                + (f" - nice {p.nice}" if p.nice else ""))
            out.append("  factors: " + ", ".join(f"{name} {getattr(p, name):.4f}"
                                                 for name in ("age", "fairshare", "job_size", "queue")))
        return out


def explain(snapshot: Snapshot, now: float, job_id: int) -> Explanation:
    """Raises KeyError when the job is not among the snapshot's pending jobs."""
    job = next((j for j in snapshot.pending if j.id == job_id), None)
    if job is None:
        raise KeyError(job_id)
    result = run_pass(snapshot, now, watch=job_id)
    mine = [d for d in result.decisions if d.job_id == job_id]
    reason = next((d.reason for d in mine if isinstance(d, SetReason)), "None")
    plan = next((d for d in mine if isinstance(d, Reserve)), None)
    return Explanation(job_id, reason, PriorityContext(snapshot, now).breakdown(job),
                       any(isinstance(d, Start) for d in mine),
                       plan.start_at if plan else None, plan.nodes if plan else (),
                       result.notes.get(job_id, ""))
