"""A node's tasks of a job step whose srun runs on another node of the job.

ctld sends LaunchStepTasks; noded starts one helper process per step (this module
run as ``python -m hpcq.noded.steptasks``), in a session of its own, as the job's
user. The helper starts the tasks as srun would (hpcq/stepexec.py), their
output going to srun's --output/--error files or else to the job's own output files,
and prints each rank's wait status; noded reports them to ctld (StepTasksEnded),
where srun reads them. SignalStepTasks reaches the helper's whole session.

Where noded confines jobs by cgroup, the helper makes the job's cgroup on this node
(as jobd would: this node's cpu ids and memory of the job) and enters it before it
becomes the user, so every task and whatever a task leaves behind is counted there;
when the helper has ended, noded kills what is left in it and removes it.

Not done here: an end that happens while noded is disconnected is not reported again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.noded import enforce, spool
from hpcq.noded.supervised import Supervised
from hpcq.steplayout import ranks_on

log = logging.getLogger("hpcq.noded.steps")

Key = tuple[int, int, int]   # job id, attempt, step id


class StepTasks:
    """noded's side: one helper per step, its end reported through `report`."""

    def __init__(self, node_name: str, allow_root: bool,
                 report: Callable[[nodes_pb2.StepTasksEnded], None],
                 enforcement: enforce.Enforcement | None = None) -> None:
        self.node_name = node_name
        self.enforcement = enforcement
        self.allow_root = allow_root
        self.report = report
        self._helpers: dict[Key, asyncio.subprocess.Process | None] = {}   # None: starting
        self._early: dict[Key, int] = {}          # a signal that came while the helper was starting
        self._runs = Supervised(log)

    def launch(self, message: nodes_pb2.LaunchStepTasks) -> None:
        key = (message.job.id, message.step.attempt, message.step.step_id)
        if key in self._helpers:
            return      # a repeat
        self._helpers[key] = None
        self._runs.start(self._run(key, message), f"tasks of job {key[0]} step {key[2]}")

    def signal(self, job_id: int, attempt: int, step_id: int, sig: int) -> None:
        key = (job_id, attempt, step_id)
        if key not in self._helpers:
            return
        helper = self._helpers[key]
        if helper is None:
            self._early[key] = sig
            return
        try:
            os.killpg(helper.pid, sig)
        except ProcessLookupError:
            pass

    async def _run(self, key: Key, message: nodes_pb2.LaunchStepTasks) -> None:
        ranks = ranks_on(message.step, self.node_name)
        statuses: dict[int, int] = {}
        limits = self._limits(message)
        helper = None
        helper_ticks: int | None = None
        try:
            helper = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hpcq.noded.steptasks", "--node", self.node_name,
                *(["--allow-root"] if self.allow_root else []),
                *(["--confine", json.dumps(limits)] if limits else []),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True)
            if limits:
                # Its cgroups are named for its pid and start time, read while it runs (a Python
                # start takes tens of milliseconds). Were it gone already, they are the start
                # sweep's (enforce.sweep).
                helper_ticks = spool.process_start_ticks(helper.pid)
            self._helpers[key] = helper
            if key in self._early:
                os.killpg(helper.pid, self._early.pop(key))
            log.info("job %d step %d: tasks %s started here", key[0], key[2], ranks)
            out, _ = await helper.communicate(message.SerializeToString())
            try:
                statuses = {int(k): v for k, v in json.loads(out or b"{}").items()}
            except ValueError:
                statuses = {}
            lost = signal.SIGKILL if (helper.returncode or 0) < 0 else 1 << 8
        except OSError as e:
            log.warning("job %d step %d: could not start its tasks: %s", key[0], key[2], e)
            lost = 1 << 8
        finally:
            self._helpers.pop(key, None)
            self._early.pop(key, None)
            if limits and helper is not None and helper_ticks is not None:
                name = enforce.job_cgroup_name(str(limits["name"]), helper.pid, helper_ticks)
                await enforce.clear_out(enforce.JobConfinement.made_by(limits, name))
        tasks = [jobs_pb2.TaskExit(rank=r, node=self.node_name, wait_status=statuses.get(r, lost)) for r in ranks]
        self.report(nodes_pb2.StepTasksEnded(job_id=key[0], attempt=key[1], step_id=key[2], tasks=tasks))


    def _limits(self, message: nodes_pb2.LaunchStepTasks) -> dict[str, object] | None:
        """The job's cgroup limits on this node (none for the fallback: the step's binding sets affinity)."""
        e = self.enforcement
        here = next((s for s in message.job.allocation.slices if s.node == self.node_name), None)
        if e is None or e.kind == enforce.AFFINITY or here is None:
            return None
        return e.job_limits(message.job.id, message.step.attempt, list(here.cpu_ids), here.mem_mb,
                            list(here.gpu_ids))


# -- the helper ---------------------------------------------------------------------------------

def _become(user: str, allow_root: bool) -> None:
    """Run as the job's user: switch to it as root; as anyone else, be it (user-level mode)."""
    import pwd
    entry = pwd.getpwnam(user)
    if os.geteuid() != 0:
        if entry.pw_uid != os.geteuid():
            raise SystemExit(f"hpcq-steptasks: noded runs as uid {os.geteuid()}, not as {user}")
        return
    if entry.pw_uid == 0 and not allow_root:
        raise SystemExit("hpcq-steptasks: jobs of root do not run here ([noded] allow_root_jobs)")
    os.setgid(entry.pw_gid)
    os.initgroups(user, entry.pw_gid)
    os.setuid(entry.pw_uid)


def run(message: nodes_pb2.LaunchStepTasks, node: str) -> dict[int, int]:
    """Start this node's tasks of the step as srun would; each rank's wait status."""
    from hpcq import jobenv, stepexec, steplayout
    job, step, launch = message.job, message.step, message.launch
    index, ranks = steplayout.node_ranks(step, node)
    o = stepexec.TaskOptions(argv=list(launch.argv), input=launch.input or "none", unbuffered=True,
                             chdir=launch.cwd, open_mode=launch.open_mode)
    if launch.cpu_bind:
        o.cpu_bind = steplayout.parse_cpu_bind(launch.cpu_bind)   # srun checked it on its node
    if launch.output:
        o.output, o.error = launch.output, launch.error
    else:
        # No srun here to relay to: the job's own files take the output, after what is there.
        out, err = jobenv.output_paths(job, node)
        o.output, o.open_mode = out.replace("%", "%%"), "append"
        o.error = launch.error or (err or out).replace("%", "%%")
    tasks = stepexec.Tasks(o, job, step, node, index, ranks, dict(launch.environment))
    return tasks.run()


def main() -> int:
    args = sys.argv[1:]
    node = args[args.index("--node") + 1]
    message = nodes_pb2.LaunchStepTasks.FromString(sys.stdin.buffer.read())
    if "--confine" in args:
        # As root still: make the job's cgroup here and stay in it; the tasks inherit it.
        limits = json.loads(args[args.index("--confine") + 1])
        pid = os.getpid()
        confinement = enforce.JobConfinement(limits, enforce.job_cgroup_name(limits["name"], pid,
                                                                             spool.process_start_ticks(pid)))
        try:
            confinement.prepare()
            confinement.enter()
        except OSError as e:
            confinement.remove()
            raise SystemExit(f"hpcq-steptasks: cannot confine the step's tasks: {e.strerror or e}") from None
    _become(message.job.user, "--allow-root" in args)
    statuses = run(message, node)
    sys.stdout.write(json.dumps({str(k): v for k, v in statuses.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
