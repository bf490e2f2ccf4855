"""sacctmgr and sshare against a real cluster: a share set with hpcqctl and the accounts
jobs name are the user's associations; the usage of a finished job shows in sshare."""
from __future__ import annotations

import getpass

import pytest

from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("make_cluster", ["sqlite"], indirect=True)]


def test_a_users_accounts_and_shares(cluster, workdir):
    me = getpass.getuser()
    cluster.run("hpcqctl", "share", "set", "physics", "3")
    cluster.run("hpcqctl", "share", "set", "physics", "2", "--user", me)
    done = cluster.run("sbatch", "--parsable", "-A", "physics", "--wrap", "sleep 1", cwd=workdir).stdout.strip()
    wait_until(lambda: _state(cluster, done) == "COMPLETED", timeout=30, what="the first job to complete")
    running = cluster.run("sbatch", "--parsable", "-A", "chem", "--wrap", "sleep 60", cwd=workdir).stdout.strip()
    wait_until(lambda: _state(cluster, running) == "RUNNING", timeout=30, what="the second job to run")

    out = cluster.run("sacctmgr", "-nP", "show", "assoc", "where", f"user={me}", "format=account")
    assert out.stdout == "chem\nphysics\n"
    out = cluster.run("sacctmgr", "-n", "-P", "show", "user", me, "format=user,defaultaccount")
    assert out.stdout == f"{me}|chem\n"

    out = cluster.run("sshare", "-U", "-P", "-n", "-o", "Account,User,RawShares,RawUsage")
    # -U: the users' lines alone, without the tree's indentation (the reference Slurm's sshare_U.txt)
    assert out.stdout.splitlines() == [f"chem|{me}|1|{_usage(cluster)}", f"physics|{me}|2|{_usage(cluster)}"]
    table = cluster.run("sshare", "-a").stdout.splitlines()
    assert table[0].split() == ["Account", "User", "RawShares", "NormShares", "RawUsage", "EffectvUsage", "FairShare"]
    assert [line.split()[0] for line in table[2:]] == ["root", "chem", "chem", "physics", "physics"]
    assert _usage(cluster) >= 1
    cluster.run("scancel", running)


def _state(cluster, job: str) -> str:
    return cluster.run("sacct", "-j", job, "-X", "-n", "-P", "-o", "State").stdout.strip()


def _usage(cluster) -> int:
    """The caller's decayed CPU-seconds as ctld holds them (a second or two)."""
    with cluster.client() as client:
        return int(client.share_usage().user_usage.get(getpass.getuser(), 0.0))
