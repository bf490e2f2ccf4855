"""Slurm and PBS times and sizes, both ways."""
from __future__ import annotations

import os
import re

import pytest

from hpcq import units

# -- Slurm --time ------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("5", 300),                    # M
    ("90", 5400),
    ("5:30", 330),                 # M:S
    ("1:02:03", 3723),             # H:M:S
    ("00:05:00", 300),
    ("2-0", 2 * 86400),            # D-H
    ("2-3", 2 * 86400 + 3 * 3600),
    ("1-2:30", 86400 + 2 * 3600 + 30 * 60),          # D-H:M
    ("1-2:30:15", 86400 + 2 * 3600 + 30 * 60 + 15),  # D-H:M:S
    (" 10 ", 600),
])
def test_slurm_time_forms(text, seconds):
    assert units.parse_slurm_time(text) == seconds


@pytest.mark.parametrize("text", ["UNLIMITED", "unlimited", "INFINITE", "infinite", "-1", "0", "0:00"])
def test_slurm_time_without_limit(text):
    assert units.parse_slurm_time(text) is None


@pytest.mark.parametrize("text", ["abc", "", "1:2:3:4", "1-", "-5", "1h", "1.5", "1-2-3", "1:"])
def test_slurm_time_errors_name_the_value(text):
    with pytest.raises(ValueError, match=f"invalid time '{text}'"):
        units.parse_slurm_time(text)


@pytest.mark.parametrize("seconds, text", [
    (0, "0:00"), (2, "0:02"), (59, "0:59"), (600, "10:00"), (3599, "59:59"),
    (3600, "1:00:00"), (3723, "1:02:03"), (86399, "23:59:59"), (86400, "1-00:00:00"),
    (90061, "1-01:01:01"), (-5, "0:00"), (2.9, "0:02"),
])
def test_slurm_elapsed(seconds, text):
    assert units.format_slurm_elapsed(seconds) == text


@pytest.mark.parametrize("seconds, text", [
    (None, "UNLIMITED"), (600, "10:00"), (30, "1:00"), (61, "2:00"), (3600, "1:00:00"),
    (86400, "1-00:00:00"),
])
def test_slurm_limit_rounds_up_to_minutes(seconds, text):
    assert units.format_slurm_limit(seconds) == text


# -- Slurm --begin ------------------------------------------------------------------------

NOW = 1795439285.0   # 2026-11-23T13:08:05Z, as in the captures


@pytest.mark.parametrize("text, offset", [
    ("now", 0), ("now+30", 30), ("now+30s", 30), ("now+2minutes", 120), ("now+1hour", 3600),
    ("now+1days", 86400), ("now+1week", 604800),
])
def test_slurm_begin_relative(text, offset):
    assert units.parse_slurm_timestamp(text, NOW) == NOW + offset


def test_slurm_begin_absolute(utc):
    assert units.format_iso(units.parse_slurm_timestamp("2026-11-23T13:08:35", NOW)) == "2026-11-23T13:08:35"
    assert units.format_iso(units.parse_slurm_timestamp("2026-12-01", NOW)) == "2026-12-01T00:00:00"
    assert units.format_iso(units.parse_slurm_timestamp("16:00", NOW)) == "2026-11-23T16:00:00"
    assert units.format_iso(units.parse_slurm_timestamp("12:00", NOW)) == "2026-11-24T12:00:00"  # passed: tomorrow
    assert units.format_iso(units.parse_slurm_timestamp("4:30pm", NOW)) == "2026-11-23T16:30:00"
    assert units.format_iso(units.parse_slurm_timestamp("12/25", NOW)) == "2026-12-25T00:00:00"
    assert units.format_iso(units.parse_slurm_timestamp("midnight", NOW)) == "2026-11-24T00:00:00"
    assert units.format_iso(units.parse_slurm_timestamp("tomorrow", NOW)) == "2026-11-24T00:00:00"
    assert units.format_iso(units.parse_slurm_timestamp("teatime", NOW)) == "2026-11-23T16:00:00"


@pytest.mark.parametrize("text", ["soon", "now+5parsecs", "2026-13-01", "25:00", ""])
def test_slurm_begin_errors_name_the_value(text):
    with pytest.raises(ValueError, match=re.escape(f"invalid time '{text}'")):
        units.parse_slurm_timestamp(text, NOW)


# -- PBS walltime -------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("45", 45),                  # S
    ("3600", 3600),
    ("10:00", 600),              # M:S
    ("00:10:00", 600),           # H:M:S
    ("1:00:00", 3600),
    ("100:00:00", 360000),
    ("00:00:05", 5),
    ("1:30.6", 91),              # fractional seconds round
])
def test_pbs_time_forms(text, seconds):
    assert units.parse_pbs_time(text) == seconds


@pytest.mark.parametrize("text", ["xx", "", "1:2:3:4", "-1", "1h", "1:-1"])
def test_pbs_time_errors_name_the_value(text):
    with pytest.raises(ValueError, match=f"invalid time '{text}'"):
        units.parse_pbs_time(text)


@pytest.mark.parametrize("seconds, hms, hm", [
    (0, "00:00:00", "00:00"), (5, "00:00:05", "00:00"), (600, "00:10:00", "00:10"),
    (3600, "01:00:00", "01:00"), (39, "00:00:39", "00:00"), (360000, "100:00:00", "100:00"),
])
def test_pbs_time_formats(seconds, hms, hm):
    assert units.format_pbs_hms(seconds) == hms
    assert units.format_pbs_hm(seconds) == hm


# -- sizes ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, mib", [
    ("100", 100),            # default unit M
    ("100M", 100), ("100m", 100), ("100MB", 100), ("100mb", 100),
    ("1G", 1024), ("2GB", 2048), ("1T", 1024 * 1024), ("1tb", 1024 * 1024),
    ("1024K", 1), ("1500K", 2), ("1KB", 1),      # K rounds up to whole MiB
    ("0", 0),
])
def test_slurm_sizes(text, mib):
    assert units.parse_slurm_size(text) == mib


@pytest.mark.parametrize("text", ["1X", "abc", "", "1.5G", "-1", "G", "1GBB"])
def test_slurm_size_errors_name_the_value(text):
    with pytest.raises(ValueError, match=f"invalid size '{text}'"):
        units.parse_slurm_size(text)


@pytest.mark.parametrize("text, mib", [
    ("200mb", 200), ("200MB", 200), ("2gb", 2048), ("1tb", 1024 * 1024),
    ("1024kb", 1), ("1025kb", 2), ("1048576", 1), ("1048576b", 1), ("100", 1),   # bytes round up
    ("8mw", 64), ("1kw", 1),                                                      # words are 8 bytes
    ("2g", 2048), ("100m", 100),
])
def test_pbs_sizes(text, mib):
    assert units.parse_pbs_size(text) == mib


def test_pbs_size_in_bytes():
    assert units.parse_pbs_size_bytes("1kb") == 1024
    assert units.parse_pbs_size_bytes("3w") == 24
    assert units.parse_pbs_size_bytes("5") == 5


@pytest.mark.parametrize("text", ["8 GB", "abc", "", "1.5gb", "1xb", "gb"])
def test_pbs_size_errors_name_the_value(text):
    with pytest.raises(ValueError, match=f"invalid size '{text}'"):
        units.parse_pbs_size(text)


@pytest.mark.parametrize("mib, text", [
    (200, "200mb"), (100, "100mb"), (50, "50mb"), (1024, "1gb"), (2048, "2gb"), (1536, "1536mb"),
    (1024 * 1024, "1tb"),
    (20000, "20gb"),          # as qstat's cnv_size: past four digits the unit grows, rounding up
])
def test_pbs_size_format(mib, text):
    assert units.format_pbs_size(mib) == text


def test_slurm_size_format():
    assert units.format_slurm_size(100) == "100M"
    assert units.format_slurm_size(2048) == "2G"
    assert units.format_slurm_size(1024 * 1024) == "1T"


# -- timestamps ------------------------------------------------------------------------

def test_ctime_pads_the_day(utc):
    assert units.format_ctime(1795437541) == "Mon Nov 23 12:39:01 2026"
    assert units.format_ctime(1796083200) == "Tue Dec  1 00:00:00 2026"


def test_iso(utc):
    assert units.format_iso(1795439285) == "2026-11-23T13:08:05"


def test_units_import_nothing_heavy():
    import subprocess
    import sys
    code = "import sys, hpcq.units; assert 'grpc' not in sys.modules and 'sqlmodel' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


# -- what no parser takes: non-ASCII digits, numbers past what a JobSpec holds ------------

@pytest.mark.parametrize("parse, text", [
    (units.parse_slurm_time, "\uff15"), (units.parse_slurm_time, "1:\u0663"), (units.parse_slurm_time, "\u00b2"),
    (units.parse_pbs_time, "\uff11:00"), (units.parse_slurm_size, "\uff11G"), (units.parse_pbs_size, "\u0661gb"),
    (lambda text: units.parse_slurm_timestamp(text, NOW), "now+\uff11"),
])
def test_only_ascii_digits(parse, text):
    with pytest.raises(ValueError):
        parse(text)


@pytest.mark.parametrize("parse, text", [
    (units.parse_slurm_time, "9" * 12), (units.parse_slurm_time, "71582789"),       # minutes past 2**32-1 s
    (units.parse_slurm_time, "9" * 400), (units.parse_pbs_time, "9" * 400), (units.parse_pbs_time, "4294967296"),
    (units.parse_pbs_size, "9" * 400), (units.parse_pbs_size, "9" * 30 + "pb"),
    (units.parse_slurm_size, "9" * 400 + "K"),
    (lambda text: units.parse_slurm_timestamp(text, NOW), "now+" + "9" * 400),
    (lambda text: units.parse_slurm_timestamp(text, NOW), "now+99999weeks"),
])
def test_too_large_is_a_value_error_naming_the_value(parse, text):
    with pytest.raises(ValueError, match="too large"):
        parse(text)


def test_limits_are_what_a_jobspec_holds():
    assert units.parse_slurm_time("71582788") == 71582788 * 60          # the most minutes under 2**32 s
    assert units.parse_pbs_time("4294967295") == units.MAX_SECONDS
    assert units.parse_slurm_size(str(2**64 - 1)) == units.MAX_MIB
    assert units.parse_pbs_size("1" + "0" * 20) == -(-10**20 // 2**20)


@pytest.mark.parametrize("text, seconds", [("0.5", 0), ("1.5", 2), ("2.5", 2), ("2.51", 3), ("1:00.4", 60),
                                           ("7.", 7), ("0.9999", 1)])
def test_pbs_fractional_seconds_round_half_to_even(text, seconds):
    assert units.parse_pbs_time(text) == seconds


# -- host lists -------------------------------------------------------------------------------

def test_hostlist_both_ways():
    from hpcq import hostlist
    assert hostlist.expand("node[01-03,07],login1") == ["node01", "node02", "node03", "node07", "login1"]
    assert hostlist.compress(["node01", "node02", "node03", "node07", "login1"]) == "node[01-03,07],login1"


@pytest.mark.parametrize("expression, reason", [
    ("n[\u00b2]", "invalid host list 'n[\u00b2]': bad range '\u00b2'"),
    ("n[\uff11-3]", "invalid host list 'n[\uff11-3]': bad range '\uff11-3'"),
    ("a,n[3-1]", "invalid host list 'a,n[3-1]': range '3-1' runs backwards in 'n[3-1]'"),
    ("n[1-", "invalid host list 'n[1-': unbalanced brackets"),
    ("n[1-99999999]", "invalid host list 'n[1-99999999]': more than 65536 names"),
    ("a[1-40000],b[1-40000]", "invalid host list 'a[1-40000],b[1-40000]': more than 65536 names in 'b[1-40000]'"),
    ("n[" + "9" * 30 + "]", "bad range"),
])
def test_hostlist_errors_name_the_expression(expression, reason):
    from hpcq import hostlist
    with pytest.raises(hostlist.HostlistError) as e:
        hostlist.expand(expression)
    assert reason in str(e.value)
