"""Client retries: which failures are sent again, for how long, and the one notice."""
import pytest

from hpcq.errors import HpcqError
from hpcq.transport import NotSent, Overloaded, Retrying, _classified, retry_window, server_list


class Flaky:
    """An attempt that fails with `errors` in turn, then answers."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return b"ok"


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr("hpcq.transport.time.sleep", slept.append)
    return slept


def test_a_repeatable_call_rides_out_unavailable_and_deadlines_and_says_so_once(no_sleep):
    heard = []
    attempt = Flaky(HpcqError("UNAVAILABLE", "Socket closed"), HpcqError("DEADLINE_EXCEEDED", "slow"),
                    HpcqError("UNAVAILABLE", "Connection reset"))
    assert Retrying(60, heard.append).call(attempt, repeatable=True) == b"ok"
    assert attempt.calls == 4 and [e.code for e in heard] == ["UNAVAILABLE"]
    # capped exponential backoff with jitter: each pause within [d/2, d] of 0.2, 0.4, 0.8 s
    assert len(no_sleep) == 3 and all(d / 2 <= p <= d for d, p in zip((0.2, 0.4, 0.8), no_sleep, strict=True))


def test_a_call_that_may_have_been_delivered_is_not_repeated_unless_repeatable(no_sleep):
    attempt = Flaky(HpcqError("UNAVAILABLE", "Socket closed"))
    with pytest.raises(HpcqError, match="Socket closed"):
        Retrying(60).call(attempt, repeatable=False)
    assert attempt.calls == 1


def test_a_call_never_sent_or_shed_by_ctld_is_repeated_whatever_it_is(no_sleep):
    attempt = Flaky(NotSent("failed to connect to all addresses"), Overloaded("OVERLOADED: busy", 0.5))
    assert Retrying(60).call(attempt, repeatable=False) == b"ok"
    assert 0.5 <= no_sleep[1] <= 1.0   # the hint ctld gave, with jitter above it


def test_other_failures_are_not_retried(no_sleep):
    for error in (HpcqError("INVALID_ARGUMENT", "bad"), HpcqError("RESOURCE_EXHAUSTED", "SUBMIT_LIMIT: too many")):
        attempt = Flaky(error)
        with pytest.raises(HpcqError):
            Retrying(60).call(attempt, repeatable=True)
        assert attempt.calls == 1


def test_retries_stop_once_the_window_is_spent(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("hpcq.transport.time.monotonic", lambda: now[0])
    monkeypatch.setattr("hpcq.transport.time.sleep", lambda s: now.__setitem__(0, now[0] + s))
    attempt = Flaky(*[HpcqError("UNAVAILABLE", "down")] * 1000)
    with pytest.raises(HpcqError, match="down"):
        Retrying(10).call(attempt, repeatable=True)
    assert now[0] <= 10 and 5 < attempt.calls < 30   # backoff capped at 2 s: about 10 calls in 10 s
    with pytest.raises(HpcqError):
        Retrying(0).call(Flaky(HpcqError("UNAVAILABLE", "down")), repeatable=True)


def test_statuses_are_classified_from_what_ctld_and_grpc_say():
    assert isinstance(_classified("UNAVAILABLE", "failed to connect to all addresses; last error: ..."), NotSent)
    assert isinstance(_classified("UNAVAILABLE", "this hpcq-ctld is not the active controller"), NotSent)
    assert isinstance(_classified("UNAVAILABLE", "no hpcq-ctld answers at a:1, b:2"), NotSent)
    assert type(_classified("UNAVAILABLE", "Socket closed")) is HpcqError
    shed = _classified("RESOURCE_EXHAUSTED", "OVERLOADED: hpcq-ctld is busy (retry-after-ms=250)")
    assert isinstance(shed, Overloaded) and shed.retry_after == 0.25
    assert _classified("RESOURCE_EXHAUSTED", "busy", "1000").retry_after == 1.0
    assert type(_classified("RESOURCE_EXHAUSTED", "SUBMIT_LIMIT: 10 jobs")) is HpcqError


def test_the_window_comes_from_the_environment_first(monkeypatch):
    monkeypatch.delenv("HPCQ_RETRY_SECONDS", raising=False)
    assert retry_window(60.0) == 60.0
    monkeypatch.setenv("HPCQ_RETRY_SECONDS", "5")
    assert retry_window(60.0) == 5.0


def test_a_server_setting_may_list_several_controllers():
    assert server_list("a:6817") == ["a:6817"]
    assert server_list("a:6817, b:6817,") == ["a:6817", "b:6817"]


def test_a_command_says_once_in_its_dialect_that_it_retries(capsys):
    from hpcq.shims.connection import Connection, pbs_retry_notice, slurm_retry_notice

    down = HpcqError("UNAVAILABLE", "no hpcq-ctld answers")
    Connection(slurm_retry_notice("squeue"))._on_retry(down)
    Connection(slurm_retry_notice("sbatch"))._on_retry(Overloaded("OVERLOADED: busy", 0.1))
    pbs = Connection(pbs_retry_notice("qsub"))
    pbs._on_retry(down)
    assert capsys.readouterr().err.splitlines() == [
        "squeue: error: Unable to contact slurm controller (connect failure), retrying",
        "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying.",
        f"qsub: cannot connect to server {pbs.cluster} (errno=15010), retrying"]
