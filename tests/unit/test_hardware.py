"""Node facts: psutil's numbers, the admin's overrides, and GPUs from a stand-in nvidia-smi."""
from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from hpcq.noded import hardware


def fake_nvidia_smi(directory: Path, body: str) -> None:
    smi = directory / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\n{body}\n")
    smi.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only our stand-ins and the basics a shell script needs."""
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return tmp_path


def test_detect_reports_this_machine(bin_dir: Path) -> None:
    facts = hardware.detect()
    uname = os.uname()
    assert facts.cpus == psutil.cpu_count(logical=True)
    assert 1 <= facts.physical_cores <= facts.cpus
    assert facts.memory_mb == psutil.virtual_memory().total // 2**20
    assert facts.hostname
    assert facts.os == f"Linux {uname.release} {uname.machine}"
    assert list(facts.gpus) == []


def test_overrides_and_features(bin_dir: Path) -> None:
    facts = hardware.detect(cpus_override=1, memory_mb_override=512, features=("ssd", "avx2"))
    assert (facts.cpus, facts.memory_mb, list(facts.features)) == (1, 512, ["ssd", "avx2"])


def test_gpus_from_nvidia_smi(bin_dir: Path) -> None:
    fake_nvidia_smi(bin_dir, 'printf "0, NVIDIA A100-SXM4-40GB, 40960, GPU-aaaa\\n'
                             '1, NVIDIA A100-SXM4-40GB, 40960, GPU-bbbb\\n"')
    gpus = hardware.detect().gpus
    assert [(g.index, g.model, g.memory_mb, g.uuid) for g in gpus] == [
        (0, "NVIDIA A100-SXM4-40GB", 40960, "GPU-aaaa"), (1, "NVIDIA A100-SXM4-40GB", 40960, "GPU-bbbb")]


@pytest.mark.parametrize("body", [
    'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver" >&2; exit 9',
    'echo "0, Tesla T4, [N/A], GPU-cccc"',
])
def test_a_broken_nvidia_smi_means_no_gpus(bin_dir: Path, body: str) -> None:
    fake_nvidia_smi(bin_dir, body)
    facts = hardware.detect()
    assert list(facts.gpus) == []
    assert facts.cpus >= 1


def test_load() -> None:
    now = hardware.load()
    assert now.load_1m >= 0
    assert 0 < now.free_memory_mb <= psutil.virtual_memory().total // 2**20
