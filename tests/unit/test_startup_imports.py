"""The commands' start-up stays lean: what they import, not how long it takes.

A shim answers in a few tens of milliseconds only while its imports stay small (issue
#3: <= 40 ms through the agent). These modules each cost several milliseconds and are
not needed to submit or list jobs through the agent; hpcq/protolite.py says why the
protobuf ones are avoided.
"""
import os
import subprocess
import sys

import pytest

HEAVY = ("typing", "dataclasses", "inspect", "pathlib", "datetime", "calendar", "grpc",
         "google.protobuf.descriptor_pool", "google.protobuf.internal.well_known_types")

COMMANDS = ["hpcq.shims.slurm.sbatch", "hpcq.shims.slurm.squeue", "hpcq.shims.pbs.qsub", "hpcq.shims.pbs.qstat"]


def imported_modules(code: str, **environ: str) -> set[str]:
    """The modules a fresh interpreter imports to run `code` (from -X importtime)."""
    env = {**os.environ, **environ}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env,
                          capture_output=True, text=True, check=True)
    return {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command", COMMANDS)
def test_command_and_agent_client_import_nothing_heavy(command):
    # The client comes in when the command makes its call: count it as part of the command.
    modules = imported_modules(f"import {command}, hpcq.client; hpcq.client.Client.connect")
    assert command in modules
    assert not sorted(m for m in modules if m.partition(".")[0] in HEAVY or m in HEAVY)
