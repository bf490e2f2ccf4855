"""Usage: charged, decayed with a half-life, persisted as a plain dict; the classic factor."""
import json

import pytest

from hpcq.ctld.scheduler import Shares, Usage, fairshare_factors

DAY = 86400.0


def test_usage_halves_every_half_life():
    usage = Usage(epoch=0.0).charge("alice", "physics", 1000.0, now=0.0)
    assert usage.of_user("alice", 7 * DAY) == pytest.approx(500.0)
    assert usage.of_account("physics", 14 * DAY) == pytest.approx(250.0)
    assert Usage(half_life=DAY).charge("a", "x", 8.0, now=0.0).of_user("a", 3 * DAY) == pytest.approx(1.0)


def test_gpu_seconds_count_with_their_weight():
    usage = Usage(gpu_weight=10.0).charge("alice", "physics", 100.0, 5.0, now=0.0)
    assert usage.of_user("alice", 0.0) == pytest.approx(150.0)


def test_charges_at_different_times_add_up_decayed():
    usage = Usage().charge("a", "x", 100.0, now=0.0).charge("a", "x", 100.0, now=7 * DAY)
    assert usage.of_user("a", 7 * DAY) == pytest.approx(150.0)
    assert usage.total(14 * DAY) == pytest.approx(75.0)


def test_decay_moves_the_reference_time_without_changing_values():
    usage = Usage().charge("a", "x", 100.0, now=DAY)
    moved = usage.decay(10 * DAY)
    assert moved.epoch == 10 * DAY
    for t in (10 * DAY, 30 * DAY):
        assert moved.of_user("a", t) == pytest.approx(usage.of_user("a", t))


def test_usage_is_a_value():
    empty = Usage()
    charged = empty.charge("a", "x", 1.0, now=0.0)
    assert empty.of_user("a", 0.0) == 0.0 and charged.of_user("a", 0.0) == 1.0


def test_a_charge_long_after_the_epoch_does_not_overflow():
    usage = Usage(epoch=0.0, half_life=1.0).charge("a", "x", 1.0, now=10_000.0)
    assert usage.of_user("a", 10_000.0) == pytest.approx(1.0)


def test_usage_round_trips_through_a_plain_dict():
    usage = Usage().charge("alice", "physics", 123.0, 4.0, now=5.0).charge("bob", "chem", 7.0, now=9.0)
    data = json.loads(json.dumps(usage.to_dict()))
    again = Usage.from_dict(data)
    for t in (9.0, 30 * DAY):
        assert again.of_user("alice", t) == pytest.approx(usage.of_user("alice", t))
        assert again.of_account("chem", t) == pytest.approx(usage.of_account("chem", t))


def test_bad_usage_data_names_the_key():
    with pytest.raises(ValueError, match="users"):
        Usage.from_dict({"users": {"alice": "lots"}})
    with pytest.raises(ValueError, match="epoch"):
        Usage.from_dict({"epoch": "yesterday"})
    with pytest.raises(ValueError, match="half_life"):
        Usage.from_dict({}, half_life=0)


def test_without_usage_everybody_has_factor_one():
    f = fairshare_factors(Usage(), Shares(), [("a", "x"), ("b", "y")], 0.0)
    assert f == {("a", "x"): 1.0, ("b", "y"): 1.0}


def test_the_classic_formula():
    # One account, two users with equal shares: S = 1/2 each. Alice did all the work:
    # U(alice) = 1 -> 2**(-2); bob inherits half his account's usage: U = 1/2 -> 2**(-1).
    usage = Usage().charge("alice", "lab", 100.0, now=0.0)
    f = fairshare_factors(usage, Shares(), [("alice", "lab"), ("bob", "lab")], 0.0)
    assert f[("alice", "lab")] == pytest.approx(0.25)
    assert f[("bob", "lab")] == pytest.approx(0.5)


def test_user_shares_inside_an_account():
    usage = Usage().charge("alice", "lab", 50.0, now=0.0).charge("bob", "lab", 50.0, now=0.0)
    shares = Shares(users={"lab": {"alice": 3, "bob": 1}})
    f = fairshare_factors(usage, shares, [("alice", "lab"), ("bob", "lab")], 0.0)
    assert f[("alice", "lab")] > f[("bob", "lab")]


def test_zero_shares_means_last():
    usage = Usage().charge("a", "x", 1.0, now=0.0)
    f = fairshare_factors(usage, Shares(accounts={"x": 0}), [("a", "x")], 0.0)
    assert f[("a", "x")] == 0.0
