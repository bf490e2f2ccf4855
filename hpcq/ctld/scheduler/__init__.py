"""The pure scheduler: (snapshot, now) -> decisions. No I/O, no gRPC, no database."""
from hpcq.ctld.scheduler.arrays import ArrayTasks
from hpcq.ctld.scheduler.dependencies import (
    Dependencies,
    DependencyError,
    Kind,
    Phase,
    Target,
    Term,
    Verdict,
    evaluate,
    find_cycle,
    parse_hold_jid,
    parse_pbs,
    parse_slurm,
)
from hpcq.ctld.scheduler.explain import Explanation, explain
from hpcq.ctld.scheduler.fairshare import Shares, Usage, fairshare_factors
from hpcq.ctld.scheduler.model import (
    Decision,
    JobRequest,
    NodeCapacity,
    PriorityWeights,
    QueuePolicy,
    Reserve,
    RunningJob,
    SetReason,
    Slice,
    Snapshot,
    Start,
    UserLimits,
)
from hpcq.ctld.scheduler.passes import schedule
from hpcq.ctld.scheduler.priority import PriorityBreakdown, priorities
from hpcq.ctld.scheduler.retry import Finish, Hold, Requeue, RetryLimits, RunEnd, after_run
from hpcq.indexset import IndexSet  # re-exported: the scheduler's users build arrays with it

__all__ = ["ArrayTasks", "Decision", "Dependencies", "DependencyError", "Explanation", "Finish", "Hold", "IndexSet",
           "JobRequest", "Kind", "NodeCapacity", "Phase", "PriorityBreakdown", "PriorityWeights", "QueuePolicy",
           "Requeue", "Reserve", "RetryLimits", "RunEnd", "RunningJob", "SetReason", "Shares", "Slice", "Snapshot",
           "Start", "Target", "Term", "Usage", "UserLimits", "Verdict", "after_run", "evaluate", "explain",
           "fairshare_factors", "find_cycle", "parse_hold_jid", "parse_pbs", "parse_slurm", "priorities", "schedule"]
