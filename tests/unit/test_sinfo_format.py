"""sinfo's tables from Node and Queue records: grouping, states, counts, widths and the
options that choose what to show (the single-node captures are in tests/compat)."""
from __future__ import annotations

import pytest

from hpcq.api import admin_pb2 as a
from hpcq.shims.errors import ShimError
from hpcq.shims.slurm import sinfo
from hpcq.shims.slurm import sinfo_format as sf

NOW = 1795439287.0


def node(name: str, state: int = a.NODE_IDLE, *, cpus: int = 4, mem: int = 8000, used: int = 0,
         connected: bool = True, reason: str = "", features: tuple[str, ...] = ()) -> a.Node:
    n = a.Node(name=name, state=state, connected=connected, cpus_allocated=used, reason=reason)
    n.hardware.cpus, n.hardware.memory_mb, n.hardware.physical_cores = cpus, mem, cpus
    n.hardware.features.extend(features)
    return n


def queue(name: str, *members: str, default: bool = False, state: int = a.Queue.UP, limit: int = 0) -> a.Queue:
    return a.Queue(name=name, nodes=list(members), is_default=default, state=state, max_walltime_seconds=limit)


NODES = [node("n01", a.NODE_MIXED, used=2), node("n02", a.NODE_MIXED, used=1), node("n03"),
         node("n04", a.NODE_DRAINED, reason="disk"), node("g01", a.NODE_ALLOCATED, cpus=8, used=8, features=("gpu",)),
         node("n05", connected=False)]
QUEUES = [queue("batch", "n01", "n02", "n03", "n04", "n05", default=True), queue("gpu", "g01", limit=86400),
          queue("long", state=a.Queue.DRAIN)]


def show(*argv: str, queues=QUEUES, nodes=NODES) -> str:
    return sinfo.render(sinfo.parse(list(argv), {}), queues, nodes, NOW)


def test_nodes_are_grouped_by_state_within_a_partition():
    # "long" names no nodes: every node, in name order.
    assert show() == """\
PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST
batch*       up   infinite      2    mix n[01-02]
batch*       up   infinite      1   idle n03
batch*       up   infinite      1  drain n04
batch*       up   infinite      1  idle* n05
gpu          up 1-00:00:00      1  alloc g01
long      drain   infinite      1  alloc g01
long      drain   infinite      2    mix n[01-02]
long      drain   infinite      1   idle n03
long      drain   infinite      1  drain n04
long      drain   infinite      1  idle* n05
"""


def test_summary_counts_allocated_idle_other_total():
    assert show("-s", "-p", "batch,gpu") == """\
PARTITION AVAIL  TIMELIMIT   NODES(A/I/O/T) NODELIST
batch*       up   infinite          2/1/2/5 n[01-05]
gpu          up 1-00:00:00          1/0/0/1 g01
"""


def test_cpu_counts_and_features():
    # Lines group nodes alike in every per-node field shown: n04 has a reason of its own.
    # Allocated/idle/other/total CPUs: a drained or silent node's CPUs are "other".
    assert show("-h", "-p", "gpu,batch", "-o", "%R %C %c %f %E") == """\
batch 3/9/4/16 4 (null) none
batch 0/0/4/4 4 (null) disk
gpu 8/0/0/8 8 gpu none
"""


def test_long_partition_names_widen_the_hash_column():
    text = show("-p", "a-very-long-partition", queues=[queue("a-very-long-partition", "n03", default=True)])
    assert text.splitlines() == [
        "PARTITION              AVAIL  TIMELIMIT  NODES  STATE NODELIST",
        "a-very-long-partition*    up   infinite      1   idle n03",
    ]


def test_node_oriented_lists_a_node_once_per_partition():
    lines = show("-N", "-n", "n03").splitlines()
    # The partition right-justified, as sinfo 22.05 prints -N (checked by tests/conformance).
    assert lines == ["NODELIST   NODES PARTITION STATE ",
                     "n03            1    batch* idle  ",
                     "n03            1      long idle  "]


def test_filters_by_state_and_responding():
    assert show("-h", "-t", "idle", "-o", "%N") == "n[03,05]\nn[03,05]\n"
    assert show("-h", "-r", "-t", "idle", "-o", "%N") == "n03\nn03\n"
    assert show("-h", "-d", "-o", "%N %t") == "n05 idle*\nn05 idle*\n"


def test_list_reasons():
    assert show("-R").splitlines() == ["REASON               USER      TIMESTAMP           NODELIST",
                                       "disk                 Unknown   Unknown             n04"]


def test_option_errors():
    for argv, text in ((["-t", "sleepy"], 'sinfo: error: Bad state string: "sleepy"'),
                       (["--bogus"], "sinfo: unrecognized option '--bogus'"),
                       (["-n", "n[1-"], "sinfo: error: invalid host list 'n[1-': unbalanced brackets")):
        with pytest.raises(ShimError) as e:
            sinfo.parse(argv, {})
        assert e.value.text.splitlines()[0] == text and e.value.exit_code == 1


def test_environment_format_and_explicit_format():
    assert sinfo.parse([], {"SINFO_FORMAT": "%P %D"}).format() == "%P %D"
    assert sinfo.parse(["-o", "%N"], {"SINFO_FORMAT": "%P"}).format() == "%N"
    assert sinfo.parse(["-N", "-l"], {}).format() == sf.NODE_LONG_FORMAT


def test_states_spelled_as_sinfo():
    assert [sf.state_short(n) for n in NODES] == ["mix", "mix", "idle", "drain", "alloc", "idle*"]
    assert sf.state_long(node("x", a.NODE_DRAINING)) == "draining"
    assert sf.time_limit(0) == "infinite" and sf.time_limit(5400) == "1:30:00"


def test_words_that_are_no_option_are_ignored():
    assert show("extra") == show()


def test_named_fields_and_unknown_letters():
    # As sinfo 22.05 prints them (checked by tests/conformance): -O names with a width,
    # "." to right-justify and a suffix; an unknown name keeps only its suffix.
    assert show("-O", "NodeList:4|,CPUs:.3,bogus:9|,StateLong:").splitlines()[:2] == \
        ["NODE|CPU|STATE", "n[01|  4|mixed"]
    assert sf.named_format_errors("NodeList,bogus") == ["Invalid job format specification: bogus"]
    # -o: a piece whose letter is no field is printed as written; sinfo names it on stderr.
    assert show("-o", "%P %! %%").splitlines()[:2] == ["PARTITION %! ", "batch* %! "]
    assert sf.format_errors("%P %! %5") == ["Invalid node format specification: !",
                                             "Invalid node format specification: \x00"]
