"""What this node offers (reported once, at Register) and how loaded it is (every heartbeat)."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Iterable

import psutil

from hpcq.api import nodes_pb2

log = logging.getLogger(__name__)

_MIB = 1 << 20
_NVIDIA_SMI_QUERY = ["--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader,nounits"]


def detect(cpus_override: int = 0, memory_mb_override: int = 0, features: Iterable[str] = ()) -> nodes_pb2.Hardware:
    """The node's facts. The overrides (noded's `cpus` / `memory_mb`, 0 = everything)
    let an admin keep part of a machine for itself."""
    logical = psutil.cpu_count(logical=True) or 1
    uname = os.uname()
    return nodes_pb2.Hardware(
        hostname=socket.gethostname(),
        cpus=cpus_override or logical,
        # psutil answers None where the kernel does not say (some VMs, containers).
        physical_cores=psutil.cpu_count(logical=False) or logical,
        memory_mb=memory_mb_override or psutil.virtual_memory().total // _MIB,
        gpus=nvidia_gpus(),
        os=f"{uname.sysname} {uname.release} {uname.machine}",
        features=list(features),
    )


def load() -> nodes_pb2.Load:
    return nodes_pb2.Load(load_1m=os.getloadavg()[0], free_memory_mb=psutil.virtual_memory().available // _MIB)


def nvidia_gpus() -> list[nodes_pb2.Gpu]:
    """NVIDIA GPUs as nvidia-smi lists them; none when it is missing or fails (a
    driver mismatch must not keep the node from registering its CPUs)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run([smi, *_NVIDIA_SMI_QUERY], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("nvidia-smi failed, reporting no GPUs: %s", e)
        return []
    gpus = []
    for line in done.stdout.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4:
            continue
        # A model name may hold a comma; index comes first, memory and uuid last.
        index, name, memory, uuid = fields[0], ",".join(fields[1:-2]), fields[-2], fields[-1]
        try:
            gpus.append(nodes_pb2.Gpu(index=int(index), model=name, memory_mb=int(float(memory)), uuid=uuid))
        except ValueError:
            log.warning("nvidia-smi: unreadable line %r", line)
    return gpus
