"""Jobs.Output's two halves without sockets: the node's reader of a job's file (as root it
opens the file as the job's user, regular files of that user only) and ctld's stream of
chunks over a node that answers ReadOutput."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import output
from hpcq.ctld.errors import FailedPrecondition, NotFound, ResourceExhausted
from hpcq.noded import outputreader, spool

S = jobs_pb2.JobState
NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to take another user's identity")


def attempt(tmp_path, out: str, err: str | None = None, uid: int | None = None):
    spool.prepare(tmp_path / "spool")
    directory = spool.attempt_dir(tmp_path / "spool", 5, 0)
    spool.make_attempt_dir(directory)
    ids = (os.geteuid(), os.getegid()) if uid is None else (uid, uid)
    spool.write_json(directory.supervisor, {"pid": 1, "output": [out, err], "uid": ids[0], "gid": ids[1]})
    return tmp_path / "spool"


@pytest.fixture
def public(tmp_path):
    """tmp_path, with every directory above it passable by other users (pytest's are root's alone)."""
    base = tempfile.mkdtemp(prefix="hpcq-output.")
    os.chmod(base, 0o711)
    yield Path(base)
    shutil.rmtree(base, ignore_errors=True)


def read(spool_dir, offset=0, max_bytes=0, stderr=False) -> nodes_pb2.OutputData:
    return outputreader.read_output(spool_dir, nodes_pb2.ReadOutput(request_id=9, job_id=5, attempt=0, offset=offset,
                                                                    max_bytes=max_bytes, stderr=stderr))


def test_reads_from_the_offset_and_says_when_the_job_has_ended(tmp_path):
    out = tmp_path / "slurm-5.out"
    out.write_bytes(b"one\ntwo\n")
    spool_dir = attempt(tmp_path, str(out))
    got = read(spool_dir, offset=4)
    assert (got.request_id, got.data, got.offset, got.ended, got.error) == (9, b"two\n", 4, False, "")
    assert read(spool_dir, max_bytes=3).data == b"one"
    assert read(spool_dir, stderr=True).data == b"one\ntwo\n"      # no error file: stderr went to stdout's
    spool.write_json(spool.attempt_dir(spool_dir, 5, 0).status, {})
    assert read(spool_dir, offset=8).ended


def test_the_last_lines_are_read_after_the_spool_let_the_attempt_go(tmp_path):
    """A follower's last read may come after ctld had noded remove the attempt's spool."""
    out = tmp_path / "slurm-5.out"
    out.write_bytes(b"one\n")
    spool_dir, kept = attempt(tmp_path, str(out)), {}
    ask = nodes_pb2.ReadOutput(request_id=9, job_id=5, attempt=0)
    assert outputreader.read_output(spool_dir, ask, kept).data == b"one\n"
    out.write_bytes(b"one\ntwo\n")   # the job's last line, then its end, then the spool's removal
    spool.remove_attempt(spool.attempt_dir(spool_dir, 5, 0))
    ask.offset = 4
    got = outputreader.read_output(spool_dir, ask, kept)
    assert (got.data, got.ended, got.error) == (b"two\n", True, "")
    assert "does not run on this node" in outputreader.read_output(spool_dir, ask, {}).error


def test_an_attempt_that_is_not_here(tmp_path):
    spool.prepare(tmp_path / "spool")
    got = read(tmp_path / "spool")
    assert got.ended and "does not run on this node" in got.error


def test_a_symlink_is_not_followed(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("root's\n")
    link = tmp_path / "slurm-5.out"
    link.symlink_to(secret)
    got = read(attempt(tmp_path, str(link)))
    assert got.data == b"" and got.error


@root_only
def test_only_the_users_own_regular_file(public):
    theirs = public / "theirs.out"
    theirs.write_text("not the job user's\n")       # root's file, the job runs as nobody
    got = read(attempt(public, str(theirs), uid=NOBODY))
    assert got.data == b"" and "not a regular file of the job's user" in got.error


@root_only
def test_the_file_is_opened_with_the_users_rights(public):
    closed = public / "closed"
    closed.mkdir(mode=0o700)                      # root's: nobody may not pass
    out = closed / "job.out"
    out.write_text("hello\n")
    os.chown(out, NOBODY, NOBODY)
    spool_dir = attempt(public, str(out), uid=NOBODY)
    got = read(spool_dir)
    assert got.data == b"" and "Permission denied" in got.error
    os.chmod(closed, 0o711)
    assert read(spool_dir).data == b"hello\n"
    assert outputreader._libc.setfsuid(-1) == 0          # root's file identity is back on this thread


# -- ctld's side --------------------------------------------------------------------------------

class Node:
    """A node (its comm and its one link) whose job's file grows as the test says; it answers
    ReadOutput on the next turn."""

    def __init__(self) -> None:
        self.file = b""
        self.ended = False
        self.closed = False
        self.reads: list[nodes_pb2.ReadOutput] = []
        self.outputs: output.OutputReads | None = None

    def link(self, name: str) -> Node:
        return self

    def send(self, message: nodes_pb2.CtldMessage) -> None:
        ask = message.read_output
        self.reads.append(ask)
        data = nodes_pb2.OutputData(request_id=ask.request_id, offset=ask.offset, ended=self.ended,
                                    data=self.file[ask.offset:ask.offset + ask.max_bytes])
        asyncio.get_running_loop().call_soon(self.outputs.on_output, "n1", data)


class SilentNode(Node):
    def send(self, message: nodes_pb2.CtldMessage) -> None:
        self.reads.append(message.read_output)


def test_a_read_down_a_stream_that_closes_fails_at_once(monkeypatch):
    monkeypatch.setattr(output, "LINK_CHECK", 0.01)

    async def scenario():
        node = SilentNode()
        reads = output.OutputReads(node)   # type: ignore[arg-type]
        asyncio.get_running_loop().call_later(0.05, setattr, node, "closed", True)
        with pytest.raises(output.NodeUnavailable, match="n1 disconnected"):
            await reads.read("n1", nodes_pb2.ReadOutput(job_id=5))
        return len(reads), len(node.reads)
    assert asyncio.run(scenario()) == (0, 1)


def running_job() -> jobs_pb2.Job:
    job = jobs_pb2.Job(id=5, user="alice", state=S.RUNNING, attempt=0)
    job.allocation.slices.add(node="n1", cpus=1)
    return job


def test_follow_sends_what_is_written_until_the_job_has_ended():
    async def scenario():
        node, job = Node(), running_job()
        reads = output.OutputReads(node)   # type: ignore[arg-type]   # a NodeComm's send
        node.outputs = reads
        node.file = b"a\n"
        script = [lambda: setattr(node, "file", node.file + b"b\n"),
                  lambda: None,
                  lambda: setattr(node, "ended", True) or setattr(job, "state", S.COMPLETED) or
                  setattr(node, "file", node.file + b"c\n")]
        pauses = []

        async def sleep(seconds: float) -> None:
            pauses.append(seconds)
            script.pop(0)()
        chunks = [c async for c in output.chunks(reads, job, jobs_pb2.OutputRequest(job_id=5, follow=True),
                                                 {5: job}.get, sleep)]
        return chunks, pauses, len(reads), node.reads
    chunks, pauses, waiting, asked = asyncio.run(scenario())
    assert [(c.offset, c.data) for c in chunks] == [(0, b"a\n"), (2, b"b\n"), (4, b"c\n")]
    assert pauses == [output.POLL_INTERVAL] * 3 and waiting == 0
    assert all(a.max_bytes == output.CHUNK_BYTES and a.job_id == 5 for a in asked)


def test_without_follow_a_read_ends_at_the_files_end_and_large_files_come_in_chunks():
    async def scenario():
        node, job = Node(), running_job()
        reads = output.OutputReads(node)   # type: ignore[arg-type]
        node.outputs = reads
        node.file = b"x" * (output.CHUNK_BYTES + 10)
        return [c async for c in output.chunks(reads, job, jobs_pb2.OutputRequest(job_id=5), {5: job}.get)]
    chunks = asyncio.run(scenario())
    assert [len(c.data) for c in chunks] == [output.CHUNK_BYTES, 10]


def test_an_answer_from_another_node_is_ignored():
    async def scenario():
        reads = output.OutputReads(None)   # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        answer: asyncio.Future = loop.create_future()
        reads._waiting[1] = ("n1", answer)
        reads.on_output("n2", nodes_pb2.OutputData(request_id=1, data=b"forged"))
        reads.on_output("n1", nodes_pb2.OutputData(request_id=2, data=b"late"))
        return answer.done()
    assert asyncio.run(scenario()) is False


@pytest.mark.parametrize(("state", "error", "token"), [
    (S.PENDING, FailedPrecondition, "JOB_PENDING"),
    (S.HELD, FailedPrecondition, "JOB_PENDING"),
    (S.COMPLETED, FailedPrecondition, "JOB_NOT_RUNNING"),
])
def test_only_a_running_job_can_be_read(state, error, token):
    job = running_job()
    job.state = state
    with pytest.raises(error) as e:
        output.check_readable(job, None)
    assert e.value.token == token


def test_after_end_a_finished_jobs_own_output_can_be_read():
    """A follow made again after a cut (after_end) reads a job that ended meanwhile; a
    first read, a step, or a job that never started still cannot be."""
    job = running_job()
    job.state = S.COMPLETED
    output.check_readable(job, None, after_end=True)
    with pytest.raises(FailedPrecondition):
        output.check_readable(job, None)
    job.steps.add(step_id=0, state=S.COMPLETED)
    with pytest.raises((FailedPrecondition, NotFound)):
        output.check_readable(job, 0, after_end=True)
    del job.allocation.slices[:]   # cancelled before it started
    with pytest.raises(FailedPrecondition, match="is not running"):
        output.check_readable(job, None, after_end=True)


def test_a_job_that_ended_is_read_to_its_end_while_its_node_has_it():
    async def scenario(node_has_it):
        node, job = Node(), running_job()
        job.state, node.ended, node.file = S.COMPLETED, True, b"a\nb\nc\n"
        reads = output.OutputReads(node)   # type: ignore[arg-type]
        node.outputs = reads
        if not node_has_it:
            node.send = lambda m: (node.reads.append(m.read_output), asyncio.get_running_loop().call_soon(
                reads.on_output, "n1", nodes_pb2.OutputData(request_id=m.read_output.request_id, ended=True,
                                                             error="the job does not run on this node")))
        request = jobs_pb2.OutputRequest(job_id=5, follow=True, offset=2, after_end=True)
        return [(c.offset, c.data) async for c in output.chunks(reads, job, request, {5: job}.get)]
    assert asyncio.run(scenario(True)) == [(2, b"b\nc\n")]
    with pytest.raises(FailedPrecondition, match="no longer holds its output"):
        asyncio.run(scenario(False))


def test_a_read_before_the_node_has_set_the_job_up_waits_for_it():
    """ctld has the job RUNNING once it sent the launch; its node answers a read that comes
    first with "does not run on this node" until it has set the attempt up. Before the node
    has reported the start that is no error; after, it is."""
    async def scenario(started):
        node, job = Node(), running_job()
        job.session_id = 77 if started else 0
        reads = output.OutputReads(node)   # type: ignore[arg-type]
        node.outputs, node.file, answers = reads, b"a\n", []
        real_send = node.send

        def send(message):
            if not answers:   # the first read: not set up yet
                answers.append(1)
                ask = message.read_output
                node.reads.append(ask)
                asyncio.get_running_loop().call_soon(reads.on_output, "n1", nodes_pb2.OutputData(
                    request_id=ask.request_id, ended=True, error="the job does not run on this node"))
                return
            real_send(message)

        async def sleep(seconds):
            node.ended = True
            job.state = S.COMPLETED
        node.send = send
        request = jobs_pb2.OutputRequest(job_id=5, follow=True)
        return [c.data async for c in output.chunks(reads, job, request, {5: job}.get, sleep)]
    assert asyncio.run(scenario(started=False)) == [b"a\n"]
    with pytest.raises(FailedPrecondition, match="OUTPUT_UNREADABLE"):
        asyncio.run(scenario(started=True))


def test_a_step_must_be_running():
    job = running_job()
    job.steps.add(step_id=0, state=S.COMPLETED)
    job.steps.add(step_id=1, state=S.RUNNING)
    output.check_readable(job, 1)
    for step in (0, 7):
        with pytest.raises(NotFound):
            output.check_readable(job, step)



def test_one_person_holds_a_bounded_number_of_streams():
    reads = output.OutputReads(None)   # type: ignore[arg-type]
    with contextlib.ExitStack() as stack:
        for _ in range(output.MAX_STREAMS_PER_USER):
            stack.enter_context(reads.stream_of("alice"))
        with pytest.raises(ResourceExhausted), reads.stream_of("alice"):
            pass
        with reads.stream_of("bob"):
            pass
    with reads.stream_of("alice"):     # all closed: alice may open again
        assert reads._streams == {"alice": 1}
