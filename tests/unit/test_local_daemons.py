"""hpcqctl's test of whether a pid file names one of hpcq's daemons (hpcq.ctl.local)."""
import sys

from hpcq.ctl.local import is_hpcq_process

RUNNING = "4242 (python) S 1 4242 4242 0 -1 4194560 100 0 0 0"


def test_a_daemon_is_known_by_its_command_line():
    assert is_hpcq_process(b"/usr/bin/python3\0-P\0-m\0hpcq.noded.main\0", RUNNING, "")
    assert not is_hpcq_process(b"/usr/sbin/sshd\0-D\0", RUNNING, "")   # its pid reused by another program


def test_a_daemon_still_in_its_exec_shows_no_command_line_yet():
    """The kernel sets a new program's command line after the point at which Popen returns:
    read at once on a loaded machine, a node just started looked gone."""
    assert is_hpcq_process(b"", RUNNING, sys.executable)
    assert not is_hpcq_process(b"", RUNNING, "/usr/sbin/sshd")
    zombie = "4242 (python (x)) Z 1 4242 4242 0 -1 4227140 100 0 0 0"   # a ')' in the name too
    assert not is_hpcq_process(b"", zombie, sys.executable)
