"""Who may call what: the one authorization table, checked at the servicer boundary.

The caller's identity comes only from its client certificate (CN = principal, OU =
role). A `host` certificate (hpcq-agent) may assert a local user in the
``x-hpcq-user`` metadata; that user is then treated exactly as if it had presented a
user certificate. No request field ever names the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hpcq import pki

ASSERTED_USER_KEY = "x-hpcq-user"


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
        """Cancel, hold, release, signal, update: own jobs, or anyone's for staff."""
        return self.is_staff or self.name == owner

    def may_see(self, owner: str, private_data: bool) -> bool:
        return not private_data or self.may_act_on(owner)


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
