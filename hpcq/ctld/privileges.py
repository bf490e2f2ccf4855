"""Job settings that only operators and administrators may choose.

A user may lower their own jobs' priority (a positive nice) but never raise it above
other users' jobs: a negative nice and a fixed priority are for staff, as in Slurm
(`--nice` below 0 and `--priority` by a user: "Access/permission denied"). PBS lets a
user ask for `-p` (a job priority from -1024 to 1023) and leaves to the site's scheduler
whether it counts; here it never ranks a user's job above others' (the nice stays 0),
and the value asked for is kept for qstat to show.
"""
from __future__ import annotations

from collections.abc import Iterable

from hpcq.api import jobs_pb2
from hpcq.ctld.errors import PermissionDenied

PBS_PRIORITY = "priority"     # spec.attributes key: a PBS user's -p, shown by qstat as Priority


def check_spec(spec: jobs_pb2.JobSpec, staff: bool, fields: Iterable[str] | None = None) -> None:
    """Refuse (or, for PBS's -p, neutralise) what `spec` may not set unless by staff.
    `fields`: for an update, the fields it changes (None: a new job, every field)."""
    if staff:
        return
    changing = None if fields is None else {f.split(".", 1)[0] for f in fields}
    if spec.HasField("priority") and (changing is None or "priority" in changing):
        raise PermissionDenied("PRIVILEGED", "priority: only operators and administrators may set a job's priority")
    if spec.nice < 0 and (changing is None or "nice" in changing):
        if spec.dialect == jobs_pb2.DIALECT_PBS:
            spec.attributes[PBS_PRIORITY] = str(-spec.nice)
            spec.nice = 0
            return
        raise PermissionDenied("PRIVILEGED", f"nice: {spec.nice}: only operators and administrators may set a "
                               "negative nice")
