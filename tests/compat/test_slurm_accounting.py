"""sacctmgr and sshare against Slurm 22.05's answers to the queries clients make
(captured/slurm_anchor/sacctmgr_*.txt, sshare_*.txt: a database with the cluster's root
account and user, no limits set), on the same jobs (anchor_dump_world.py): the same
rows and columns, and empty where nothing is set. A per-user cap ctld applies shows on
the users' associations, as the Assoc* reasons squeue gives for it."""
from __future__ import annotations

import pytest

from hpcq import config
from hpcq.api.lite import admin_pb2
from hpcq.ctld.settings import slurm_settings
from hpcq.shims.slurm import sacctmgr, sshare
from tests.compat import anchor_dump_world as dp
from tests.compat import captures, fake
from tests.compat.allowlist import reason
from tests.compat.fake import FakeClient
from tests.compat.normalize import normalize

CASES = ["sacctmgr_show_assoc_format.txt", "sacctmgr_show_assoc.txt", "sacctmgr_show_qos.txt",
         "sacctmgr_show_qos_format.txt", "sacctmgr_show_qos_table.txt", "sacctmgr_show_user.txt",
         "sacctmgr_show_user_plain.txt", "sacctmgr_user_accounts.txt", "sshare_U.txt", "sshare_default.txt"]


def with_ctld(monkeypatch, settings: dict[str, str]) -> fake.FakeCluster:
    world = dp.world(dp.SQUEUE_AT)
    info = admin_pb2.ServerInfoResponse(cluster=world.cluster)
    info.settings.update(settings)
    monkeypatch.setattr(FakeClient, "share_usage", lambda self: admin_pb2.ListSharesResponse(default_shares=1),
                        raising=False)
    monkeypatch.setattr(FakeClient, "server_info", lambda self: info)
    return world


def run(name: str, world: fake.FakeCluster, monkeypatch, argv: list[str] | None = None) -> fake.Output:
    case = captures.read("slurm_anchor", name)[0]
    main = sacctmgr.main if case.program == "sacctmgr" else sshare.main
    return fake.run(main, case.words[1:] if argv is None else argv, world, monkeypatch)


@pytest.mark.parametrize("name", CASES)
def test_accounting_queries_answer_as_slurm(name: str, monkeypatch) -> None:
    case = captures.read("slurm_anchor", name)[0]
    out = run(name, with_ctld(monkeypatch, slurm_settings(config.Config())), monkeypatch)
    assert (out.stderr, out.exit) == (case.stderr, case.exit)
    ours, theirs = normalize(out.stdout).splitlines(), normalize(case.stdout).splitlines()
    if reason(case.command) is None:
        assert ours == theirs
    else:
        # The figures differ for the reason given; the layout may not: headers, columns, line lengths.
        assert ours[:2] == theirs[:2]
        assert [len(line) for line in ours if "root" in line][-1:] == [len(line) for line in theirs][-1:]


def test_user_associations_show_the_per_user_caps_ctld_applies(monkeypatch) -> None:
    limits = config.from_dict({"ctld": {"max_submit_jobs": 100, "max_running_jobs": 10, "max_running_cpus": 64}})
    world = with_ctld(monkeypatch, slurm_settings(limits))
    out = run("sacctmgr_show_assoc_format.txt", world, monkeypatch,
              ["-nP", "show", "assoc", "format=account,user,maxjobs,maxsubmit,grptres,maxwall"])
    # The account's own association has none: the caps are each user's.
    assert out.stdout == "root|||||\nroot|root|10|100|cpu=64|\n"
    qos = run("sacctmgr_show_qos_format.txt", world, monkeypatch,
              ["-nP", "show", "qos", "format=name,maxjobspu,maxsubmitpu,maxtrespu"])
    assert qos.stdout == "normal|||\n"
    unknown = run("sacctmgr_show_qos_format.txt", world, monkeypatch, ["-nP", "show", "qos", "high"])
    assert unknown.stdout == ""
