"""``squeue --json``, ``sinfo --json``, ``sacct --json`` (and ``--yaml``) against Slurm
22.05's, captured from the same jobs (captured/slurm_anchor/, anchor_dump_world.py):

- the text: Slurm's own documents written back through serialize.py are byte-identical
  (JSON layout and escapes, YAML tags, quoting, nulls);
- the shape: every object hpcq writes has the keys Slurm's has there, in its order, and
  every value a type Slurm gives it there (dumpcheck.py learns both from the captures);
- the values: each job's and node's leaves equal Slurm's for the same job, unless
  allowlist.toml says why hpcq's differs.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from hpcq.shims.slurm import data_parser, dumps, scontrol, serialize
from tests.compat import anchor_dump_world as dp
from tests.compat import captures, dumpcheck, fake
from tests.compat.allowlist import reason
from tests.compat.slurm_world import anchor, t

COMMANDS = {"squeue": ("squeue_json.txt", "jobs", "job_id"), "sinfo": ("sinfo_json.txt", "nodes", "name"),
            "sacct": ("sacct_json.txt", "jobs", "job_id")}
# Each capture, the moment it was taken, and the world's items it shows.
VALUE_CASES = [
    ("squeue", "squeue_json.txt", dp.SQUEUE_AT, {13, 14, 15, 16, 17, 18, 20, 21, 40}),
    ("squeue", "squeue_json_more.txt", dp.SQUEUE_MORE_AT, {43, 44, 45}),
    ("sinfo", "sinfo_json.txt", dp.SQUEUE_AT, {"vm"}),
    ("sacct", "sacct_json.txt", dp.SACCT_AT, {13, 14, 15, 16, 17, 18, 20, 21, 40}),
    ("sacct", "sacct_json_more.txt", dp.SACCT_MORE_AT, {43, 44, 45}),
]


def ours(command: str, world: fake.FakeCluster, kind: str = "json") -> str:
    client = world.client()
    if command == "squeue":
        return dumps.squeue_text(kind, client, world.cluster, world.now)
    if command == "sinfo":
        return dumps.sinfo_text(kind, client)
    jobs = sorted(client.list(include_finished=True), key=lambda j: (j.array_job_id or j.id, j.id))
    return dumps.sacct(kind, jobs, world.cluster, world.now)


def sacct_tree(world: fake.FakeCluster) -> Any:
    jobs = sorted(world.client().list(include_finished=True), key=lambda j: (j.array_job_id or j.id, j.id))
    return data_parser.document("jobs", [data_parser.sacct_job(j, world.cluster, world.now) for j in jobs],
                                database=True)


def at(command: str) -> float:
    return dp.SACCT_AT if command == "sacct" else dp.SQUEUE_AT


@pytest.fixture(scope="module")
def shapes() -> dict[str, dict[str, dumpcheck.Shape]]:
    learnt = {}
    for command in COMMANDS:
        docs = [dumpcheck.captured_document(n) for c, n, _, _ in VALUE_CASES if c == command]
        if command == "sinfo":      # the first capture session's, complete (the others are trimmed)
            docs.append(json.loads(captures.read("slurm", "sinfo_json.txt")[0].stdout))
        learnt[command] = dumpcheck.learn(docs)
    return learnt


# -- the text --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["squeue_json.txt", "sinfo_json.txt", "sacct_json.txt"])
def test_json_text_is_slurms(name: str) -> None:
    text = captures.read("slurm_anchor", name)[0].stdout
    assert serialize.to_json(json.loads(text)) == text


def _with_kept_empties(value: Any) -> Any:
    """A loaded YAML document as data_parser builds it: a set empty string is EMPTY."""
    if isinstance(value, dict):
        return {k: _with_kept_empties(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_kept_empties(v) for v in value]
    return serialize.EMPTY if value == "" else value


@pytest.mark.parametrize("name", ["squeue_yaml.txt", "sinfo_yaml.txt", "sacct_yaml.txt"])
def test_yaml_text_is_slurms(name: str) -> None:
    text = captures.read("slurm_anchor", name)[0].stdout
    assert serialize.to_yaml(_with_kept_empties(yaml.safe_load(text))) == text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_yaml_carries_the_json_data(command: str) -> None:
    """--yaml is --json's data: the same keys and values, an unset string null."""
    world = dp.world(at(command))

    def nulled(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: nulled(v) for k, v in value.items()}
        if isinstance(value, list):
            return [nulled(v) for v in value]
        return None if value == "" and not isinstance(value, type(serialize.EMPTY)) else value

    data = sacct_tree(world) if command == "sacct" else json.loads(ours(command, world))
    assert yaml.safe_load(ours(command, world, "yaml")) == nulled(data)


# -- the shape -------------------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_keys_order_and_types_are_slurms(command: str, shapes) -> None:
    doc = json.loads(ours(command, dp.world(at(command))))
    assert list(dumpcheck.mismatches(doc, shapes[command])) == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_first_session_jobs_have_slurms_shape(command: str, shapes) -> None:
    """The jobs of the first capture session (dependencies, begin times, arrays, a timeout)."""
    world = anchor("13:10:06")
    world.now = t("13:10:06")
    doc = json.loads(ours(command, world))
    assert doc[COMMANDS[command][1]], "the session has records"
    assert list(dumpcheck.mismatches(doc, shapes[command])) == []


# -- the values ------------------------------------------------------------------------

def value_differences(command: str, name: str, now: float, wanted: set[Any]) -> list[str]:
    _, key, ident = COMMANDS[command]
    theirs = {item[ident]: item for item in dumpcheck.captured_document(name)[key]}
    mine = {item[ident]: item for item in json.loads(ours(command, dp.world(now)))[key]}
    found = []
    for item_id in sorted(wanted, key=str):
        assert item_id in theirs and item_id in mine, f"{command}: {item_id} missing"
        expected = dict(dumpcheck.leaves(theirs[item_id]))
        got = dict(dumpcheck.leaves(mine[item_id]))
        for path in expected.keys() | got.keys():
            if got.get(path) != expected.get(path) and reason(f"{command} --json:{path}") is None:
                found.append(f"{item_id} {path}: hpcq {got.get(path)!r}, Slurm {expected.get(path)!r}")
    return sorted(found)


@pytest.mark.parametrize(("command", "name", "now", "wanted"), VALUE_CASES, ids=[c[1] for c in VALUE_CASES])
def test_values_are_slurms(command: str, name: str, now: float, wanted: set[Any]) -> None:
    assert value_differences(command, name, now, wanted) == []


def test_the_top_level_is_slurms() -> None:
    for command, (name, key, _) in COMMANDS.items():
        theirs = dumpcheck.captured_document(name)
        doc = json.loads(ours(command, dp.world(at(command))))
        assert list(doc) == ["meta", "errors", key]
        assert doc["meta"] == theirs["meta"] and doc["errors"] == theirs["errors"] == []


# -- scontrol --------------------------------------------------------------------------

def test_scontrol_has_no_json_in_22_05(monkeypatch) -> None:
    """22.05's scontrol has no --json / --yaml (scontrol_show_job_json.txt)."""
    case = captures.read("slurm_anchor", "scontrol_show_job_json.txt")[0]
    out = fake.run(scontrol.main, case.words[1:], dp.world(dp.SQUEUE_AT), monkeypatch)
    assert (out.stdout, out.stderr, out.exit) == (case.stdout, case.stderr, case.exit)
