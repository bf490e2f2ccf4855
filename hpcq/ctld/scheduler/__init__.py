"""The pure scheduler: (snapshot, now) -> decisions. No I/O, no gRPC, no database."""
from hpcq.ctld.scheduler.model import (Decision, JobRequest, NodeCapacity, QueuePolicy, SetReason, Slice,
                                       Snapshot, Start)
from hpcq.ctld.scheduler.passes import schedule

__all__ = ["Decision", "JobRequest", "NodeCapacity", "QueuePolicy", "SetReason", "Slice", "Snapshot", "Start",
           "schedule"]
