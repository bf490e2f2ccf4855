"""Who may call what: the one authorization table, checked at the servicer boundary.

The caller's identity comes only from its client certificate (CN = principal, OU =
role). A `host` certificate (hpcq-agent) may assert a local user in the
``x-hpcq-user`` metadata; that user is then treated exactly as if it had presented a
user certificate. No request field ever names the caller.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from hpcq import pki, states
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import listing
from hpcq.pki import ASSERTED_USER_KEY


class Scope(Enum):
    ANY_JOB = "any authenticated person; job-level rules apply per job"
    STAFF = "operator or admin only"
    NODE = "node certificates only"
    PERSON = "any person (user, operator, admin)"


# RPC -> scope. An RPC missing here is refused for everyone.
TABLE: dict[str, Scope] = {
    "/hpcq.v1.Jobs/Submit": Scope.PERSON,
    "/hpcq.v1.Jobs/Get": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/List": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Watch": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Cancel": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Signal": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Hold": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Release": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Update": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Explain": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/CreateStep": Scope.ANY_JOB,   # the job's owner or staff: checked per job
    "/hpcq.v1.Jobs/FinishStep": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Usage": Scope.ANY_JOB,        # the job's owner or staff: checked per job
    "/hpcq.v1.Jobs/Requeue": Scope.ANY_JOB,
    "/hpcq.v1.Jobs/Suspend": Scope.STAFF,        # as Slurm: operators and admins only
    "/hpcq.v1.Jobs/Resume": Scope.STAFF,
    "/hpcq.v1.Jobs/Allocate": Scope.PERSON,
    "/hpcq.v1.Jobs/Output": Scope.ANY_JOB,       # the job's owner or staff: checked per job
    "/hpcq.v1.Admin/ListShares": Scope.PERSON,
    "/hpcq.v1.Admin/SetShare": Scope.STAFF,
    "/hpcq.v1.Admin/ListNodes": Scope.PERSON,
    "/hpcq.v1.Admin/ListQueues": Scope.PERSON,
    "/hpcq.v1.Admin/ServerInfo": Scope.PERSON,
    "/hpcq.v1.Admin/DrainNode": Scope.STAFF,
    "/hpcq.v1.Admin/ResumeNode": Scope.STAFF,
    "/hpcq.v1.Admin/RemoveNode": Scope.STAFF,
    "/hpcq.v1.Admin/CreateQueue": Scope.STAFF,
    "/hpcq.v1.Admin/UpdateQueue": Scope.STAFF,
    "/hpcq.v1.Admin/DeleteQueue": Scope.STAFF,
    "/hpcq.v1.NodeSession/Connect": Scope.NODE,
}

PEOPLE = frozenset({"user", "operator", "admin"})
STAFF = frozenset({"operator", "admin"})


@dataclass(frozen=True)
class Caller:
    name: str
    role: str
    via_host: str = ""   # the agent that vouched for this user, if any

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def may_act_on(self, owner: str) -> bool:
        """Cancel, hold, release, signal, update: own jobs, or anyone's for staff. The same
        people read every field of the job (see ReadRules)."""
        return self.is_staff or self.name == owner


class Refused(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AgentPolicy:
    """Which host certificates may vouch for users, and whether for root."""
    hosts: frozenset[str] = frozenset()   # empty: any host certificate
    allow_root: bool = False
    root_is_admin: bool = False           # root, when allowed, acts as an admin (as on Slurm)


def caller(identity: pki.Identity | None, metadata: dict[str, str], policy: AgentPolicy = AgentPolicy()) -> Caller:
    """The principal on whose behalf a call is made."""
    if identity is None:
        raise Refused("UNAUTHENTICATED", "no valid client certificate")
    asserted = metadata.get(ASSERTED_USER_KEY)
    if asserted is not None:
        if identity.role != "host":
            raise Refused("PERMISSION_DENIED", f"{identity.role} certificate {identity.name!r} may not assert users")
        if policy.hosts and identity.name not in policy.hosts:
            raise Refused("PERMISSION_DENIED", f"host {identity.name} is not in [ctld] agent_hosts")
        if not asserted or (asserted == "root" and not policy.allow_root):
            raise Refused("PERMISSION_DENIED", f"host {identity.name} may not assert user {asserted!r}")
        # An agent vouches for root only where root owns the host (agents_may_assert_root), so
        # root may act on every job there, as Slurm's root does — when the site says so.
        role = "admin" if asserted == "root" and policy.root_is_admin else "user"
        return Caller(asserted, role, via_host=identity.name)
    return Caller(identity.name, identity.role)


def authorize(method: str, who: Caller) -> None:
    scope = TABLE.get(method)
    if scope is None:
        raise Refused("PERMISSION_DENIED", f"{method} is not in the authorization table")
    allowed = {Scope.ANY_JOB: PEOPLE, Scope.PERSON: PEOPLE, Scope.STAFF: STAFF, Scope.NODE: {"node"}}[scope]
    if who.role not in allowed:
        raise Refused("PERMISSION_DENIED", f"{who.role} {who.name!r} may not call {method.rsplit('/', 1)[1]}")


# -- what each caller may read ------------------------------------------------------------

class FieldClass(Enum):
    PUBLIC = "whoever may see the job"
    OWNER_ONLY = "the job's owner, operators and admins"


_PUBLIC, _OWNER = FieldClass.PUBLIC, FieldClass.OWNER_ONLY

# Every field of a Job (a JobSpec's as spec.NAME; a message field as a whole). Slurm shows a
# job's script and environment only to its owner and to operators/admins, whatever
# PrivateData says; so does hpcq, and the same for whatever else a secret travels in: the
# script's arguments and the dialect extras that hold command lines. A unit test reads the
# descriptors, so a field added to the API fails it until it is classified here.
JOB_FIELDS: dict[str, FieldClass] = {
    **dict.fromkeys((
        "id", "spec", "user", "state", "reason", "submit_time", "eligible_time", "start_time", "end_time",
        "allocation", "exit_code", "signal", "attempt", "priority", "walltime_seconds", "queue", "array_job_id",
        "array_task_id", "cancelled_by", "session_id", "cpu_seconds", "max_rss_kb", "planned_start_time",
        "admin_priority_set", "array_tasks_pending", "steps", "retry_time", "user_cpu_seconds",
        "system_cpu_seconds", "runs", "requeue_held"), _PUBLIC),
    **{f"spec.{name}": _PUBLIC for name in (
        "dialect", "name", "queue", "account", "interpreter", "submit_dir", "submit_host", "workdir",
        "stdout_path", "stderr_path", "join_output", "append_output", "resources", "walltime_seconds", "nice",
        "hold", "begin_time", "dependencies", "dependency_any", "array", "requeue", "comment", "mail_events",
        "mail_users", "umask", "kill_signal", "kill_signal_seconds", "retry", "priority", "allocation")},
    "spec.script": _OWNER,
    "spec.argv": _OWNER,
    "spec.environment": _OWNER,
    "spec.attributes": _OWNER,   # but for the keys of PUBLIC_ATTRIBUTES
    "action_keys": _OWNER,
}

# The spec.attributes keys whoever sees a job may read: what squeue, scontrol, sacct and
# qstat show of other users' jobs. Every other key is the owner's: sbatch --export=VAR=value
# ("export"), qsub's whole command line ("submit_arguments"), the arguments of qsub -- CMD
# ("argument_list") and any qsub -W name=value can carry a secret.
PUBLIC_ATTRIBUTES = frozenset({
    "checkpoint", "command", "depend", "dependency", "executable", "execution_time", "gpus", "gres", "input",
    "join", "keep", "max_nodes", "nodelist", "nodes", "place", "project", "qos", "remove_files", "select",
    "time_limit", "user_list", "wckey"})
PUBLIC_ATTRIBUTE_PREFIXES = ("Resource_List.",)

_OWNER_ONLY_JOB = tuple(p for p, c in JOB_FIELDS.items() if c is _OWNER and "." not in p)
_OWNER_ONLY_SPEC = tuple(p[5:] for p, c in JOB_FIELDS.items()
                         if c is _OWNER and p.startswith("spec.") and p != "spec.attributes")


def is_public_attribute(key: str) -> bool:
    return key in PUBLIC_ATTRIBUTES or key.startswith(PUBLIC_ATTRIBUTE_PREFIXES)


def redact(view: jobs_pb2.Job) -> None:
    """Clear the OWNER_ONLY fields of `view`: a copy, never ctld's own record."""
    for name in _OWNER_ONLY_JOB:
        view.ClearField(name)
    spec = view.spec
    for name in _OWNER_ONLY_SPEC:
        spec.ClearField(name)
    attributes = spec.attributes
    if attributes:
        for key in [k for k in attributes if not is_public_attribute(k)]:
            del attributes[key]


def redacted(job: jobs_pb2.Job) -> jobs_pb2.Job:
    """A copy of the job without its OWNER_ONLY fields."""
    view = jobs_pb2.Job()
    view.CopyFrom(job)
    redact(view)
    return view


class View(Enum):
    HIDDEN = "not at all: the job is unknown to the caller"
    PUBLIC = "its PUBLIC fields"
    FULL = "every field"


# [ctld] private_data (Slurm's PrivateData): what each value hides from users who are not
# operators or admins.
PRIVATE_DATA: dict[str, str] = {
    "jobs": "other users' unfinished jobs (squeue, qstat, scontrol show job, Get, List, Watch, Explain, "
            "actions, node job lists, ServerInfo counts)",
    "accounting": "other users' finished jobs (sacct, qstat -x, squeue -t all)",
    "usage": "fair-share rows and usage of other users and of accounts the caller has no share or job in "
             "(sshare, sacctmgr)",
    "users": "other users' names in fair-share rows and usage (sshare -a, sacctmgr show assoc); their jobs "
             "still name them unless jobs or accounting hides those",
}


@dataclass(frozen=True)
class ReadRules:
    """What a caller may read, whatever the path (Get, List, Watch, Explain, the replies of
    actions, shares): built once from [ctld] private_data."""
    private: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, private_data: Iterable[str]) -> ReadRules:
        return cls(frozenset(private_data))

    def view(self, who: Caller, job: jobs_pb2.Job) -> View:
        if who.may_act_on(job.user):
            return View.FULL
        hidden_by = "accounting" if states.is_finished(job.state) else "jobs"
        return View.HIDDEN if hidden_by in self.private else View.PUBLIC

    def may_see(self, who: Caller, job: jobs_pb2.Job) -> bool:
        return self.view(who, job) is not View.HIDDEN

    def visible(self, who: Caller) -> Callable[[jobs_pb2.Job], bool]:
        """may_see(who, ·) for a scan of every job (List, counts): decided once per request."""
        name, finished = who.name, states.FINISHED
        hide_unfinished, hide_finished = "jobs" in self.private, "accounting" in self.private
        if who.is_staff or not (hide_unfinished or hide_finished):
            return lambda job: True
        if hide_unfinished and hide_finished:
            return lambda job: job.user == name
        if hide_unfinished:
            return lambda job: job.user == name or job.state in finished
        return lambda job: job.user == name or job.state not in finished

    def view_for(self, who: Caller, job: jobs_pb2.Job) -> jobs_pb2.Job | None:
        """The job as this caller may see it: itself, a redacted copy, or None (unknown)."""
        view = self.view(who, job)
        if view is View.FULL:
            return job
        return redacted(job) if view is View.PUBLIC else None

    def encoded_view(self, who: Caller, job: jobs_pb2.Job) -> bytes:
        """What view_for gives of a job the caller may see, encoded as a List answer
        carries it (hpcq.ctld.listing.encoded)."""
        view = self.view_for(who, job)
        assert view is not None, "a listing holds only jobs the caller may see"
        return listing.encoded(view)

    def shares_for(self, who: Caller, reply: admin_pb2.ListSharesResponse,
                   accounts: Callable[[], Iterable[str]]) -> None:
        """Trim a ListShares reply in place to what `who` may read; `accounts()` gives those
        the caller has a job in (asked only when needed; its share rows count too)."""
        if who.is_staff or not self.private & {"usage", "users"}:
            return
        private_usage = "usage" in self.private
        own_accounts = {s.account for s in reply.shares if s.user == who.name}
        if private_usage:
            own_accounts.update(accounts())

        def shown(share: admin_pb2.Share) -> bool:
            if share.user:
                return share.user == who.name
            return not private_usage or share.account in own_accounts
        kept = [s for s in reply.shares if shown(s)]
        del reply.shares[:]
        reply.shares.extend(kept)
        for user in [u for u in reply.user_usage if u != who.name]:
            del reply.user_usage[user]
        if private_usage:
            for account in [a for a in reply.account_usage if a not in own_accounts]:
                del reply.account_usage[account]


class Reads(Enum):
    """What an RPC's answer reveals of other users' work (the admin guide's table says the same)."""
    NOTHING = "nothing of other users' work"
    JOBS = "the jobs the caller may see; other users' without their owner-only fields"
    BY_ID = "a job the caller may not see is unknown (UNKNOWN_JOB); no owner-only field"
    OWN_JOB = "the caller's own jobs (anyone's for staff), every field; other users are refused"
    NODE_JOBS = "each node's job ids, of the jobs the caller may see"
    SHARES = "fair-share rows and usage, trimmed by private_data's usage and users"
    COUNTS = "job counts by state, of the jobs the caller may see"
    STAFF = "everything (operators and admins only)"


# RPC -> what its answer reveals of other users' work, and by which rule. Every Jobs and
# Admin RPC is here; a unit test checks each answer against its rule for every role.
READS: dict[str, Reads] = {
    "/hpcq.v1.Jobs/Submit": Reads.NOTHING,
    "/hpcq.v1.Jobs/Get": Reads.JOBS,
    "/hpcq.v1.Jobs/List": Reads.JOBS,
    "/hpcq.v1.Jobs/Watch": Reads.JOBS,
    "/hpcq.v1.Jobs/Cancel": Reads.BY_ID,
    "/hpcq.v1.Jobs/Signal": Reads.BY_ID,
    "/hpcq.v1.Jobs/Hold": Reads.BY_ID,
    "/hpcq.v1.Jobs/Release": Reads.BY_ID,
    "/hpcq.v1.Jobs/Explain": Reads.BY_ID,
    "/hpcq.v1.Jobs/FinishStep": Reads.OWN_JOB,
    "/hpcq.v1.Jobs/Update": Reads.OWN_JOB,
    "/hpcq.v1.Jobs/CreateStep": Reads.OWN_JOB,
    "/hpcq.v1.Jobs/Usage": Reads.OWN_JOB,
    "/hpcq.v1.Jobs/Requeue": Reads.BY_ID,
    "/hpcq.v1.Jobs/Suspend": Reads.BY_ID,
    "/hpcq.v1.Jobs/Resume": Reads.BY_ID,
    "/hpcq.v1.Jobs/Allocate": Reads.OWN_JOB,
    "/hpcq.v1.Jobs/Output": Reads.OWN_JOB,
    "/hpcq.v1.Admin/ListNodes": Reads.NODE_JOBS,
    "/hpcq.v1.Admin/ListQueues": Reads.NOTHING,
    "/hpcq.v1.Admin/ServerInfo": Reads.COUNTS,
    "/hpcq.v1.Admin/ListShares": Reads.SHARES,
    "/hpcq.v1.Admin/SetShare": Reads.STAFF,
    "/hpcq.v1.Admin/DrainNode": Reads.STAFF,
    "/hpcq.v1.Admin/ResumeNode": Reads.STAFF,
    "/hpcq.v1.Admin/RemoveNode": Reads.STAFF,
    "/hpcq.v1.Admin/CreateQueue": Reads.STAFF,
    "/hpcq.v1.Admin/UpdateQueue": Reads.STAFF,
    "/hpcq.v1.Admin/DeleteQueue": Reads.STAFF,
}
