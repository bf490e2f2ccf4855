"""Identity at the edges, as pure functions: root through an agent (ctld's caller()) and
qsub's -u user list (the shim's check)."""
from __future__ import annotations

import io

import pytest

from hpcq import pki
from hpcq.ctld import auth
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import options
from hpcq.shims.submit_context import SubmitContext

HOST = pki.Identity("login1", "host")


@pytest.mark.parametrize("root_is_admin, role", [(True, "admin"), (False, "user")])
def test_root_asserted_by_an_allowed_agent_is_admin_only_where_the_site_says_so(root_is_admin, role) -> None:
    policy = auth.AgentPolicy(allow_root=True, root_is_admin=root_is_admin)
    who = auth.caller(HOST, {auth.ASSERTED_USER_KEY: "root"}, policy)
    assert (who.name, who.role, who.via_host) == ("root", role, "login1")
    assert who.may_act_on("alice") is root_is_admin


def test_root_is_admin_makes_no_one_else_an_admin_nor_root_without_allow_root() -> None:
    policy = auth.AgentPolicy(allow_root=True, root_is_admin=True)
    assert auth.caller(HOST, {auth.ASSERTED_USER_KEY: "alice"}, policy).role == "user"
    with pytest.raises(auth.Refused):
        auth.caller(HOST, {auth.ASSERTED_USER_KEY: "root"}, auth.AgentPolicy(root_is_admin=True))
    # a user certificate named root is what its role says, not more
    assert auth.caller(pki.Identity("root", "user"), {}, policy).role == "user"


def qsub(*argv: str, uid: int | None = 1000, user: str = "pbsuser") -> options.QsubRequest:
    ctx = SubmitContext(cwd="/scratch", host="pbshost", user=user, environ={}, now=1795437541.0, uid=uid)
    return options.parse(list(argv), ctx, io.BytesIO(b"#!/bin/sh\ntrue\n"))


@pytest.mark.parametrize("user_list", ["other", "other@pbshost", "pbsuser,other@h2", " "])
def test_qsub_u_naming_anyone_else_is_bad_uid(user_list: str) -> None:
    with pytest.raises(ShimError) as e:
        qsub("-u", user_list, uid=None)
    assert (e.value.text, e.value.exit_code) == ("qsub: Bad UID for job execution", 175)


def test_qsub_u_naming_oneself_or_by_root_is_kept() -> None:
    assert qsub("-u", "pbsuser@pbshost,pbsuser@other", uid=None).spec.attributes["user_list"] == \
        "pbsuser@pbshost,pbsuser@other"
    assert qsub("-u", "alice", uid=0, user="root").spec.attributes["user_list"] == "alice"
