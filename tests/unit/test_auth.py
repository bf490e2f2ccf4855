"""Every RPC of every service, against every role: the table decides, and only it."""
import pytest

from hpcq import pki
from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.ctld import auth

ALL_METHODS = sorted(f"/{service.full_name}/{method.name}"
                     for module in (jobs_pb2, admin_pb2, nodes_pb2)
                     for service in module.DESCRIPTOR.services_by_name.values()
                     for method in service.methods)

STAFF_ONLY = {"DrainNode", "ResumeNode", "RemoveNode", "CreateQueue", "UpdateQueue", "DeleteQueue", "SetShare",
              "Suspend", "Resume"}


def expected(method: str, role: str) -> bool:
    name = method.rsplit("/", 1)[1]
    if name == "Connect":
        return role == "node"
    if name in STAFF_ONLY:
        return role in ("admin", "operator")
    return role in ("user", "admin", "operator")


def test_every_rpc_is_in_the_table():
    assert sorted(auth.TABLE) == ALL_METHODS


@pytest.mark.parametrize("role", ["user", "operator", "admin", "node", "host", "server"])
@pytest.mark.parametrize("method", ALL_METHODS)
def test_role_may_call(method, role):
    who = auth.caller(pki.Identity("someone", role), {})
    if expected(method, role):
        auth.authorize(method, who)
    else:
        with pytest.raises(auth.Refused) as e:
            auth.authorize(method, who)
        assert e.value.status == "PERMISSION_DENIED"


def test_an_rpc_missing_from_the_table_is_refused_even_for_admins():
    with pytest.raises(auth.Refused):
        auth.authorize("/hpcq.v1.Jobs/Teleport", auth.Caller("root", "admin"))


def test_no_certificate_is_unauthenticated():
    with pytest.raises(auth.Refused) as e:
        auth.caller(None, {})
    assert e.value.status == "UNAUTHENTICATED"


def test_only_hosts_may_assert_a_user():
    who = auth.caller(pki.Identity("login1", "host"), {auth.ASSERTED_USER_KEY: "alice"})
    assert (who.name, who.role, who.via_host) == ("alice", "user", "login1")
    for role in ("user", "admin", "node"):
        with pytest.raises(auth.Refused):
            auth.caller(pki.Identity("mallory", role), {auth.ASSERTED_USER_KEY: "alice"})


def test_a_host_may_not_assert_root():
    with pytest.raises(auth.Refused):
        auth.caller(pki.Identity("login1", "host"), {auth.ASSERTED_USER_KEY: "root"})


@pytest.mark.parametrize("role,owner,allowed", [
    ("user", "alice", True), ("user", "bob", False), ("operator", "bob", True), ("admin", "bob", True)])
def test_job_actions_need_ownership_or_staff(role, owner, allowed):
    assert auth.Caller("alice", role).may_act_on(owner) is allowed
