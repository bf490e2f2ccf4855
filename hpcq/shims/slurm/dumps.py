"""``--json`` / ``--yaml`` of squeue, sinfo and sacct: which records each dumps, as Slurm
22.05 chooses them, through data_parser.py into serialize.py's text.

squeue and sinfo dump everything slurmctld holds, whatever filter options say (22.05's
squeue and sinfo ignore -j, -u, -t, -p with --json): every job not finished, and those
finished less than MinJobAge ago; every node. sacct dumps the jobs its options select.
"""
from __future__ import annotations

from collections.abc import Sequence

from hpcq import slurmconf
from hpcq.api.lite import jobs_pb2
from hpcq.shims import clock
from hpcq.shims.connection import Connection
from hpcq.shims.slurm import data_parser, serialize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client


def text(kind: str, tree: serialize.Tree) -> str:
    """``json`` or ``yaml``: the JSON without a final newline, as Slurm prints it."""
    return serialize.to_yaml(tree) if kind == "yaml" else serialize.to_json(tree)


def squeue(kind: str, conn: Connection) -> str:
    return squeue_text(kind, conn.client, conn.cluster, clock.now())


def squeue_text(kind: str, client: Client, cluster: str, now: float) -> str:
    jobs = client.list(include_finished=True, ended_after=now - slurmconf.MIN_JOB_AGE)
    items = [data_parser.squeue_job(job, cluster) for job in sorted(jobs, key=lambda j: j.id)
             if slurmconf.in_view(job.state, job.end_time, now)]
    return text(kind, data_parser.document("jobs", items))


def sinfo(kind: str, conn: Connection) -> str:
    return sinfo_text(kind, conn.client)


def sinfo_text(kind: str, client: Client) -> str:
    queues = client.queues()
    items = [data_parser.sinfo_node(node, queues) for node in sorted(client.nodes(), key=lambda n: n.name)]
    return text(kind, data_parser.document("nodes", items))


def sacct(kind: str, jobs: Sequence[jobs_pb2.Job], cluster: str, now: float, *, with_steps: bool = True) -> str:
    """`with_steps` False: -X, the allocations alone."""
    items = [data_parser.sacct_job(job, cluster, now, with_steps=with_steps) for job in jobs]
    return text(kind, data_parser.document("jobs", items, database=True))
