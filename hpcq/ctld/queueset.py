"""QueueSet: the queues (Slurm partitions), who may use each, and their limits as the scheduler applies them."""
from __future__ import annotations

from collections.abc import Iterable

from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import scheduler
from hpcq.ctld.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from hpcq.ctld.fieldpaths import copy_path
from hpcq.ctld.store.writer import Delete, Put

Q = admin_pb2.Queue


def queue_row(queue: admin_pb2.Queue) -> Put:
    return Put("queues", {"name": queue.name, "record": queue.SerializeToString()})


class QueueSet:
    def __init__(self) -> None:
        self.queues: dict[str, admin_pb2.Queue] = {}

    def load(self, raw_queues: Iterable[bytes], default_name: str, default_walltime: int) -> list[Put]:
        """Rebuild from the store; a first start makes the default queue (its row returned)."""
        for raw in raw_queues:
            q = admin_pb2.Queue.FromString(raw)
            self.queues[q.name] = q
        if self.queues:
            return []
        default = admin_pb2.Queue(name=default_name, is_default=True, state=Q.UP,
                                  default_walltime_seconds=default_walltime)
        self.queues[default.name] = default
        return [queue_row(default)]

    def default(self) -> admin_pb2.Queue:
        for q in self.queues.values():
            if q.is_default:
                return q
        raise InvalidArgument("UNKNOWN_QUEUE", "no queue given and no default queue is set")

    def for_spec(self, spec: jobs_pb2.JobSpec) -> admin_pb2.Queue:
        if not spec.queue:
            return self.default()
        q = self.queues.get(spec.queue)
        if q is None:
            raise InvalidArgument("UNKNOWN_QUEUE", f"queue {spec.queue!r} does not exist")
        return q

    @staticmethod
    def admits(queue: admin_pb2.Queue, user: str) -> None:
        """Whether `user`'s jobs may go into `queue` (at submit, and when a job moves there)."""
        if queue.state in (Q.DRAIN, Q.INACTIVE):
            raise InvalidArgument("QUEUE_CLOSED", f"queue {queue.name} is not accepting jobs")
        if queue.allowed_users and user not in queue.allowed_users:
            raise InvalidArgument("QUEUE_ACCESS", f"user {user} may not submit to queue {queue.name}")

    def policies(self) -> dict[str, scheduler.QueuePolicy]:
        return {q.name: scheduler.QueuePolicy(
            q.name, frozenset(q.nodes) if q.nodes else None, starts_jobs=q.state in (Q.UP, Q.DRAIN),
            priority=q.priority, allowed_users=frozenset(q.allowed_users) if q.allowed_users else None,
            max_running_per_user=q.max_running_per_user, max_cpus_per_user=q.max_cpus_per_user)
            for q in self.queues.values()}

    # -- admin --------------------------------------------------------------------------------

    def put(self, queue: admin_pb2.Queue, *, create: bool, fields: Iterable[str] = ()) -> tuple[admin_pb2.Queue,
                                                                                              list[Put]]:
        """The queue as it will be and the rows that store it (and the old default it replaces);
        nothing changes here until `apply`."""
        if not queue.name:
            raise InvalidArgument("BAD_QUEUE", "queue.name: empty")
        existing = self.queues.get(queue.name)
        if create and existing is not None:
            raise AlreadyExists("QUEUE_EXISTS", f"queue {queue.name} already exists")
        if not create:
            if existing is None:
                raise NotFound("UNKNOWN_QUEUE", f"queue {queue.name!r} does not exist")
            merged = admin_pb2.Queue()
            merged.CopyFrom(existing)
            for path in fields:
                copy_path(queue, merged, path)
            queue = merged
        if queue.state == Q.STATE_UNSPECIFIED:
            queue.state = Q.UP
        rows = [queue_row(queue)]
        if queue.is_default:
            for other in self.queues.values():
                if other.is_default and other.name != queue.name:
                    changed = admin_pb2.Queue()
                    changed.CopyFrom(other)
                    changed.is_default = False
                    rows.append(queue_row(changed))
        return queue, rows

    def apply(self, queue: admin_pb2.Queue) -> None:
        if queue.is_default:
            for other in self.queues.values():
                if other.name != queue.name:
                    other.is_default = False
        self.queues[queue.name] = queue

    def take_out(self, name: str, busy: bool) -> tuple[admin_pb2.Queue, Delete]:
        """Remove a queue that no unfinished job is in (`busy`: one is), at once, so that no
        job is sent into it while its deletion is stored; the queue (for `put_back`, should
        that fail) and the row to delete."""
        queue = self.queues.get(name)
        if queue is None:
            raise NotFound("UNKNOWN_QUEUE", f"queue {name!r} does not exist")
        if busy:
            raise FailedPrecondition("QUEUE_BUSY", f"queue {name} still has jobs")
        del self.queues[name]
        return queue, Delete("queues", name)

    def put_back(self, queue: admin_pb2.Queue) -> None:
        self.queues[queue.name] = queue
