"""pbsnodes: node states in PBS's words, job slots, the JSON layout, -l, and the
command line (the captured listing is replayed in tests/compat)."""
from __future__ import annotations

import json

import pytest

from hpcq.api import admin_pb2 as a
from hpcq.api import jobs_pb2 as pb
from hpcq.shims.errors import ShimError
from hpcq.shims.pbs import pbsnodes
from hpcq.shims.pbs import pbsnodes_format as fmt


def node(name: str, state: int, *, cpus: int = 4, used: int = 0, jobs=(), connected: bool = True,
         reason: str = "", gpus: int = 0) -> a.Node:
    n = a.Node(name=name, state=state, cpus_allocated=used, job_ids=list(jobs), connected=connected, reason=reason,
               last_seen=1795437541.0)
    n.hardware.cpus, n.hardware.memory_mb = cpus, 1000
    for _ in range(gpus):
        n.hardware.gpus.add()
    return n


@pytest.mark.parametrize("n, text", [
    (node("a", a.NODE_IDLE), "free"), (node("a", a.NODE_MIXED, used=1), "free"),
    (node("a", a.NODE_ALLOCATED, used=4), "job-busy"), (node("a", a.NODE_MIXED, used=4), "job-busy"),
    (node("a", a.NODE_DRAINED), "offline"), (node("a", a.NODE_DRAINING, jobs=[1]), "offline,job-busy"),
    (node("a", a.NODE_DOWN), "down"), (node("a", a.NODE_IDLE, connected=False), "state-unknown,down"),
])
def test_states(n, text):
    assert fmt.state(n) == text


def test_job_slots_follow_the_cpus_each_job_holds():
    j1 = pb.Job(id=21)
    j1.allocation.slices.add(node="n1", cpus=2, cpu_ids=[2, 3])
    j2 = pb.Job(id=22)
    j2.allocation.slices.add(node="n1", cpus=1, cpu_ids=[0])
    n = node("n1", a.NODE_MIXED, used=3, jobs=[21, 22])
    assert fmt.job_slots(n, {21: j1, 22: j2}, "srv") == [("22.srv", 0), ("21.srv", 2), ("21.srv", 3)]
    text = fmt.render_text([n], {21: j1, 22: j2}, "srv")
    assert "     jobs = 22.srv/0, 21.srv/2, 21.srv/3\n" in text


def test_json_groups_resources_and_lists_each_job_once():
    j1 = pb.Job(id=21)
    j1.allocation.slices.add(node="g1", cpus=2, cpu_ids=[0, 1])
    n = node("g1", a.NODE_MIXED, used=2, jobs=[21], gpus=2, reason="testing")
    data = json.loads(fmt.render_json([n, node("g2", a.NODE_IDLE)], {21: j1}, "srv", 1795437579.0, "23.06.06"))
    g1 = data["nodes"]["g1"]
    assert g1["jobs"] == ["21.srv"] and g1["resources_available"]["ngpus"] == 2
    assert g1["resources_assigned"] == {"ncpus": 2}          # zero assignments are left out
    assert g1["comment"] == "testing" and g1["last_state_change_time"] == 1795437541
    assert "jobs" not in data["nodes"]["g2"] and "resources_assigned" not in data["nodes"]["g2"]


def test_list_shows_nodes_that_are_down_or_offline():
    nodes = [node("a", a.NODE_IDLE), node("b", a.NODE_DRAINED, reason="bad disk"), node("c", a.NODE_DOWN)]
    assert fmt.render_list(nodes) == "b                    offline         bad disk\nc                    down\n"


def test_command_line():
    r = pbsnodes.parse(["-o", "-C", "bad disk", "n1", "n2"])
    assert (r.action, r.names, r.comment) == ("offline", ["n1", "n2"], "bad disk")
    assert pbsnodes.parse(["-r", "n1"]).action == "online"
    assert pbsnodes.parse(["-av", "-F", "json"]).json and pbsnodes.parse(["-l"]).action == "list"
    for argv in ([], ["-o"], ["-o", "-r", "n1"], ["-a", "-F", "xml"]):
        with pytest.raises(ShimError) as e:
            pbsnodes.parse(argv)
        assert e.value.exit_code == 1


def test_changing_a_node_without_an_admin_certificate_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(pbsnodes, "_admin_client", lambda: None)
    code = pbsnodes.change(pbsnodes.parse(["-o", "n1"]), conn=None)
    assert code == 159 and capsys.readouterr().err == "pbsnodes: Unauthorized Request  n1\n"
