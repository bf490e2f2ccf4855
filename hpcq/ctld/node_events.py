"""NodeEvents: what nodes tell ctld — registrations with the jobs they hold, heartbeats,
a job's start and end — and what silence means. Each handler takes the event, changes
the rooms, and sends through NodeComm; writes nobody waits for go to BackgroundWrites."""
from __future__ import annotations

import logging

from hpcq import states
from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.config import CtldSection
from hpcq.ctld.background import BackgroundWrites
from hpcq.ctld.clock import Clock
from hpcq.ctld.comm import NodeComm, head_node
from hpcq.ctld.jobtable import JobTable
from hpcq.ctld.lifecycle import Lifecycle
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.nodeset import NodeSet, node_row
from hpcq.ctld.scheduling import Scheduling
from hpcq.ctld.watch import Watchers

log = logging.getLogger("hpcq.ctld")
S = jobs_pb2.JobState


class NodeEvents:
    def __init__(self, settings: CtldSection, clock: Clock, background: BackgroundWrites, table: JobTable,
                 nodes: NodeSet, comm: NodeComm, watchers: Watchers, lifecycle: Lifecycle,
                 scheduling: Scheduling) -> None:
        self.settings, self.clock, self.background = settings, clock, background
        self.table, self.nodes, self.comm, self.watchers = table, nodes, comm, watchers
        self.lifecycle, self.scheduling = lifecycle, scheduling

    def on_register(self, register: nodes_pb2.Register, link: NodeLink) -> None:
        now = self.clock.wall()
        node = self.nodes.on_register(register, link, now)
        self.background.write([node_row(node)])
        reported = {o.job_id: o for o in register.jobs}
        for outcome in register.jobs:
            job = self.table.get(outcome.job_id)
            ours = (job is not None and job.state in states.ACTIVE and job.attempt == outcome.attempt
                    and job.allocation.slices and head_node(job) == node.name)
            if not ours:
                # Given up on, or ended and stored: the node must not keep it.
                if outcome.running:
                    message = nodes_pb2.CtldMessage(kill=nodes_pb2.KillJob(
                        job_id=outcome.job_id, attempt=outcome.attempt, grace_seconds=0))
                else:
                    message = nodes_pb2.CtldMessage(forget=nodes_pb2.Forget(
                        job_id=outcome.job_id, attempt=outcome.attempt))
                self.comm.send(node.name, message)
            elif outcome.running:
                self.on_job_started(outcome)
                if job is not None and job.state == S.SUSPENDED:   # told again: the message may have been lost
                    self.comm.suspend(job, resume=False, node=node.name)
                # Its kill may have been lost with a ctld (a requeue's), or with the node's stream.
                if job is not None and (job.HasField("requeue_held") or job.id in self.table.cancel_requested):
                    self.comm.kill(job, self.settings.kill_grace)
            else:
                self.on_job_finished(node.name, outcome)
        for job_id in sorted(node.jobs):
            job = self.table.jobs[job_id]
            if job_id not in reported and head_node(job) == node.name:
                if job.session_id:
                    # It had started there and the node no longer knows it: lost with the node.
                    self._lose(job, now, "job lost: node restarted without it")
                elif job_id not in self.scheduling.committing:
                    # Not while its pass commits its start: a ctld killed before that commit
                    # would start the attempt again, elsewhere, while this node runs it.
                    self.scheduling.launch(job)
        log.info("node %s registered: %d CPUs, %d MiB, %d jobs reported", node.name, node.hardware.cpus,
                 node.hardware.memory_mb, len(register.jobs))
        self.scheduling.kick()

    def on_heartbeat(self, name: str, heartbeat: nodes_pb2.Heartbeat) -> None:
        self.nodes.on_heartbeat(name, heartbeat, self.clock.wall())

    def on_disconnect(self, name: str, link: NodeLink) -> None:
        self.nodes.on_disconnect(name, link)

    def on_job_started(self, outcome: nodes_pb2.JobOutcome) -> None:
        job = self.table.get(outcome.job_id)
        if job is None or job.attempt != outcome.attempt or job.state not in states.ACTIVE:
            return
        if job.session_id == outcome.session_id and outcome.session_id:
            return
        job.session_id = outcome.session_id or 1
        job.start_time = outcome.start_time or job.start_time
        self.background.write([self.table.row(job)], lambda: self.watchers.publish(job))

    def on_job_finished(self, node_name: str, outcome: nodes_pb2.JobOutcome) -> None:
        job = self.table.get(outcome.job_id)
        if job is None or job.attempt != outcome.attempt or job.state not in states.ACTIVE:
            self.comm.send(node_name, nodes_pb2.CtldMessage(forget=nodes_pb2.Forget(job_id=outcome.job_id,
                                                                                    attempt=outcome.attempt)))
            return
        now = self.clock.wall()
        job.exit_code, job.signal = outcome.exit_code, outcome.signal
        job.cpu_seconds, job.max_rss_kb = outcome.cpu_seconds, outcome.max_rss_kb
        job.user_cpu_seconds, job.system_cpu_seconds = outcome.user_cpu_seconds, outcome.system_cpu_seconds
        if outcome.start_time:
            job.start_time = outcome.start_time
        if outcome.session_id:  # a quick job's end may come without its start (noded coalesces them)
            job.session_id = outcome.session_id
        ended, again = self.lifecycle.run_ended(job, outcome.state, outcome.reason or "None",
                                                outcome.end_time or now, now)
        log.info("job %d of %s ended %s (exit %d, signal %d) on %s%s", job.id, job.user, S.Name(ended),
                 outcome.exit_code, outcome.signal, node_name, f"; {again}" if again else "")
        attempt = outcome.attempt

        def stored() -> None:
            self.watchers.publish(job)
            self.comm.forget(node_name, job.id, attempt)
        self.background.write([self.table.row(job)], stored)

    def check_health(self) -> None:
        """Nodes silent for node_timeout go DOWN and their jobs NODE_FAIL."""
        now = self.clock.wall()
        for node in self.nodes.fall_silent(now, self.settings.node_timeout):
            for job_id in sorted(node.jobs):
                self._lose(self.table.jobs[job_id], now, f"node {node.name} not responding")

    def _lose(self, job: jobs_pb2.Job, now: float, reason: str) -> None:
        """The job's node failed under it: NODE_FAIL, and queued again when it may be."""
        _, again = self.lifecycle.run_ended(job, S.NODE_FAIL, reason, now, now)
        log.warning("job %d: %s%s", job.id, reason, f"; {again}" if again else "")
        self.background.write([self.table.row(job)], lambda: self.watchers.publish(job))
