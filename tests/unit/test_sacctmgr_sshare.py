"""sacctmgr and sshare: associations from ctld's shares and the jobs' accounts, Slurm's
print_fields layouts, and fair-share figures that agree with the scheduler's."""
from __future__ import annotations

import pytest

from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld.scheduler import Shares, Usage, fairshare_factors
from hpcq.shims.slurm import assoc, sacctmgr, sshare
from tests.compat import fake
from tests.compat.fake import FakeClient, FakeCluster

REPLY = admin_pb2.ListSharesResponse(
    shares=[admin_pb2.Share(account="physics", shares=3, usage=100.0),
            admin_pb2.Share(account="physics", user="alice", shares=2, usage=60.0)],
    user_usage={"alice": 60.0, "bob": 40.0}, account_usage={"physics": 100.0, "chem": 50.0}, default_shares=1)


def job(job_id: int, user: str, account: str, submitted: float = 0.0,
        state: int = jobs_pb2.RUNNING) -> jobs_pb2.Job:
    j = jobs_pb2.Job(id=job_id, user=user, state=state, submit_time=submitted)
    j.spec.account = account
    return j


JOBS = [job(1, "alice", "chem", 5.0), job(2, "bob", "physics", 6.0), job(3, "alice", "physics", 1.0),
        job(4, "carol", "", 2.0)]


@pytest.fixture
def world(monkeypatch) -> FakeCluster:
    monkeypatch.setattr(FakeClient, "share_usage", lambda self: REPLY, raising=False)
    return FakeCluster("anchor", user="alice").add(*JOBS)


def run(main, argv: list[str], world: FakeCluster, monkeypatch) -> fake.Output:
    return fake.run(main, argv, world, monkeypatch)


# -- associations --------------------------------------------------------------------------

def test_associations_are_the_configured_shares_and_the_accounts_jobs_name():
    found = assoc.associations(REPLY, JOBS)
    assert [(a.account, a.user, a.shares, a.configured) for a in found] == [
        ("chem", "", 1, False), ("chem", "alice", 1, False),
        ("physics", "", 3, True), ("physics", "alice", 2, True), ("physics", "bob", 1, False)]


def test_fairshare_agrees_with_the_scheduler():
    rows = assoc.share_rows(assoc.associations(REPLY, JOBS), REPLY)
    shares = Shares(accounts={"physics": 3}, users={"physics": {"alice": 2}})
    usage = Usage(epoch=0.0, users=dict(REPLY.user_usage), accounts=dict(REPLY.account_usage))
    active = [(j.user, j.spec.account) for j in JOBS if j.spec.account]
    factors = fairshare_factors(usage, shares, active, 0.0)
    shown = {(r.assoc.user, r.assoc.account): r.fairshare for r in rows if r.assoc.user}
    assert shown == pytest.approx(factors)


def test_without_usage_everybody_has_a_factor_of_one():
    empty = admin_pb2.ListSharesResponse(default_shares=1)
    rows = assoc.share_rows(assoc.associations(empty, JOBS[:1]), empty)
    assert [(r.depth, r.norm_shares, r.fairshare) for r in rows] == [(0, 0.0, None), (1, 1.0, None), (2, 1.0, 1.0)]


# -- print_fields ----------------------------------------------------------------------------

def test_print_fields_cuts_long_text_with_a_plus_and_keeps_numbers():
    columns = [assoc.Column("Name", 5, lambda r: r[0]), assoc.Column("Left", -6, lambda r: r[1]),
               assoc.Column("Value", 9, lambda r: r[2])]
    text = assoc.render(columns, [("Administrator", "ab", 0.5), ("x", None, 12)])
    assert text == (" Name Left       Value \n"
                    "----- ------ --------- \n"
                    "Admi+ ab      0.500000 \n"
                    "    x               12 \n")
    assert assoc.render(columns, [("a", None, 1.0)], parsable="p") == "Name|Left|Value|\na||1.000000|\n"
    assert assoc.render(columns, [("a", None, 1.0)], parsable="P", header=False) == "a||1.000000\n"


def test_formats_take_prefixes_widths_and_refuse_unknown_names():
    cols = assoc.parse_format("acc%-15,DefaultAcc,fairsh", sacctmgr.FIELDS)
    assert [(c.name, c.width) for c in cols] == [("Account", -15), ("Def Acct", 10), ("Share", 9)]
    with pytest.raises(assoc.FieldError, match='Invalid field requested: "ac"'):
        assoc.parse_format("ac", sacctmgr.FIELDS)          # sacctmgr wants three letters
    assert [c.name for c in assoc.parse_format("a,eff,f", sshare.FIELDS, prefix_any=True)] == [
        "Account", "EffectvUsage", "FairShare"]


# -- sacctmgr ----------------------------------------------------------------------------------

def test_sacctmgr_lists_a_users_accounts(world, monkeypatch):
    out = run(sacctmgr.main, ["-nP", "show", "assoc", "where", "user=alice", "format=account"], world, monkeypatch)
    assert (out.stdout, out.stderr, out.exit) == ("chem\nphysics\n", "", 0)


def test_sacctmgr_show_assoc_default_table(world, monkeypatch):
    out = run(sacctmgr.main, ["show", "associations", "account=physics"], world, monkeypatch)
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["Cluster", "Account", "User", "Partition", "Share", "Priority", "GrpJobs",
                                "GrpTRES", "GrpSubmit", "GrpWall", "GrpTRESMins", "MaxJobs", "MaxTRES",
                                "MaxTRESPerNode", "MaxSubmit", "MaxWall", "MaxTRESMins", "QOS", "Def", "QOS",
                                "GrpTRESRunMin"]
    assert lines[2].startswith("    anchor    physics                               3 ")
    assert lines[3].startswith("    anchor    physics      alice                    2 ")
    assert [line.split()[-1] for line in lines[2:]] == ["normal"] * 3
    assert all(line.endswith(" ") for line in lines)


def test_sacctmgr_show_user_and_account(world, monkeypatch):
    out = run(sacctmgr.main, ["list", "user"], world, monkeypatch)
    assert out.stdout == ("      User   Def Acct     Admin \n"
                          "---------- ---------- --------- \n"
                          "     alice       chem      None \n"
                          "       bob    physics      None \n")
    out = run(sacctmgr.main, ["show", "user", "alice", "format=user,account", "-p"], world, monkeypatch)
    assert out.stdout == "User|Account|\nalice|chem|\nalice|physics|\n"
    out = run(sacctmgr.main, ["show", "account", "-P", "-n"], world, monkeypatch)
    assert out.stdout == "chem|chem|chem\nphysics|physics|physics\n"
    out = run(sacctmgr.main, ["-nP", "show", "user", "bob", "format=defaultaccount"], world, monkeypatch)
    assert out.stdout == "physics\n"


@pytest.mark.parametrize("argv, message", [
    (["add", "user", "dave"], "sacctmgr: error: add is not supported by hpcq"),
    (["show", "wckeys"], "No valid entity in list command"),
    (["show", "assoc", "bogus=1"], " Unknown condition: bogus=1"),
    (["show", "assoc", "format=nope"], 'sacctmgr: error: Invalid field requested: "nope"'),
])
def test_sacctmgr_refusals_say_why(world, monkeypatch, argv, message):
    out = run(sacctmgr.main, argv, world, monkeypatch)
    assert out.exit == 1 and out.stderr.startswith(message) and out.stdout == ""


# -- sshare -----------------------------------------------------------------------------------

def test_sshare_default_table_shows_accounts_and_the_callers_lines(world, monkeypatch):
    out = run(sshare.main, [], world, monkeypatch)
    assert out.stdout == (
        "Account                    User  RawShares  NormShares    RawUsage  EffectvUsage  FairShare \n"
        "-------------------- ---------- ---------- ----------- ----------- ------------- ---------- \n"
        "root                                          0.000000         150      1.000000            \n"
        " chem                                    1    0.250000          50      0.333333            \n"
        "  chem                    alice          1    0.250000          60      0.333333   0.396850 \n"
        " physics                                 3    0.750000         100      0.666667            \n"
        "  physics                 alice          2    0.500000          60      0.577778   0.448893 \n")


def test_sshare_options_choose_lines_and_columns(world, monkeypatch):
    out = run(sshare.main, ["-a", "-U", "-P", "-n", "-o", "Account,User,RawShares,FairShare"], world, monkeypatch)
    # Users' lines alone are not indented as in the tree (sshare_U.txt).
    assert out.stdout == ("chem|alice|1|0.396850\nphysics|alice|2|0.448893\n"
                          "physics|bob|1|0.329877\n")
    out = run(sshare.main, ["-u", "bob", "-A", "physics", "-p", "-o", "User,NormShares"], world, monkeypatch)
    assert out.stdout == "User|NormShares|\n|0.750000|\nbob|0.250000|\n"
    out = run(sshare.main, ["-l", "-n"], world, monkeypatch)
    assert len(out.stdout.splitlines()[0]) == len(sshare.LONG_FORMAT.split(",")) + sum(
        abs(f.width) for name in sshare.LONG_FORMAT.split(",") for f in sshare.FIELDS if f.name == name)
    out = run(sshare.main, ["-o", "Bogus"], world, monkeypatch)
    assert (out.stderr, out.exit) == ('sshare: error: Invalid field requested: "Bogus"\n', 1)
