"""A submit that asks for mail where ctld has no mail program is warned at once; one that
does not ask, or a cluster that can mail, is not (and costs no extra call)."""
from __future__ import annotations

import asyncio

import pytest

from hpcq.api import admin_pb2
from hpcq.ctld import auth, server
from hpcq.shims.pbs import qsub
from hpcq.shims.slurm import sbatch
from hpcq.slurmconf import NO_MAIL_PROGRAM
from tests.compat import fake
from tests.compat.fake import FakeCluster
from tests.unit.controllers import make
from tests.unit.test_read_rules import Context, Gate

SCRIPT = "#!/bin/sh\ntrue\n"


@pytest.mark.parametrize(("main", "argv", "warning"), [
    (sbatch.main, ["--mail-type=END,FAIL"], "sbatch: warning: the cluster has no mail program: "
                                             "no mail will be sent for --mail-type=END,FAIL\n"),
    (qsub.main, ["-m", "ae"], "qsub: warning: the cluster has no mail program: no mail will be sent for -m ae\n"),
])
def test_asking_for_mail_without_a_mail_program_is_warned_and_still_submitted(main, argv, warning, monkeypatch,
                                                                              tmp_path):
    monkeypatch.chdir(tmp_path)
    world = FakeCluster("hpcq", settings={"MailProg": NO_MAIL_PROGRAM})
    out = fake.run(main, argv, world, monkeypatch, stdin=SCRIPT)
    assert (out.exit, out.stderr) == (0, warning)
    assert len(world.submitted) == 1


@pytest.mark.parametrize(("main", "argv"), [
    (sbatch.main, ["--mail-type=NONE"]), (sbatch.main, []), (qsub.main, ["-m", "n"]), (qsub.main, []),
])
def test_no_mail_asked_no_warning(main, argv, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    world = FakeCluster("hpcq", settings={"MailProg": NO_MAIL_PROGRAM})
    out = fake.run(main, argv, world, monkeypatch, stdin=SCRIPT)
    assert (out.exit, out.stderr) == (0, "")


def test_a_cluster_that_can_mail_gives_no_warning(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    world = FakeCluster("hpcq", settings={"MailProg": "/usr/sbin/sendmail"})
    out = fake.run(sbatch.main, ["--mail-type=ALL"], world, monkeypatch, stdin=SCRIPT)
    assert (out.exit, out.stderr) == (0, "")


@pytest.mark.parametrize(("program", "reported"), [("", NO_MAIL_PROGRAM), ("/opt/mail/sendmail", "/opt/mail/sendmail")])
def test_server_info_reports_the_mail_program_ctld_uses(program, reported, tmp_path):
    c, store = make(tmp_path, mail_program=program)
    try:
        c.notifier.sender.mail_program = program     # "": as on a host with no sendmail anywhere
        admin = server.AdminServicer(c, Gate(auth.Caller("alice", "user")))
        reply = asyncio.run(admin.ServerInfo(admin_pb2.ServerInfoRequest(), Context()))
    finally:
        store.close()
    assert reply.settings["MailProg"] == reported
