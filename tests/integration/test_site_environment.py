"""Environments of real sites: exported bash functions (Lmod's `module`, RHEL's `which`)
travel with sbatch and qsub -V to the job, which sees them as functions, and the export
options choose them as Slurm 22.05 does (checked against Debian's slurm-wlm: the default,
--export=ALL,... and a named BASH_FUNC_f%% pass the function; NONE and other names do not)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from tests.cluster import Cluster, start_cluster

pytestmark = pytest.mark.integration

EXPORT_F = "f(){ echo hi-from-f; }; export -f f; export X=1; "
PROBE = "#!/bin/bash\ntype -t f || echo none\nf 2>/dev/null\n"
SEES_F = "function\nhi-from-f\n"
NO_F = "none\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("hpcq-site-env"), nodes=1, cpus=2)
    yield cluster
    cluster.run("hpcqctl", "down", check=False)


def submit_with_function(cluster: Cluster, command: str, cwd: Path) -> int:
    """Run `command` in bash after `export -f f`, as a user's shell with Lmod would; the job id."""
    out = cluster.run("bash", "-c", EXPORT_F + command, cwd=cwd).stdout.strip()
    return int(out.split(".")[0].split()[-1])


def finish(cluster: Cluster, job_ids: list[int]) -> dict[int, jobs_pb2.Job]:
    with cluster.client(admin=True) as admin:
        return {job.id: job for job in admin.wait(job_ids, timeout=60)}


@pytest.mark.parametrize("options, expected", [
    ("", SEES_F),
    ("--export=ALL,Y=2", SEES_F),
    ("'--export=BASH_FUNC_f%%'", SEES_F),
    ("--export=NONE", NO_F),
    ("--export=X", NO_F),
], ids=["default", "ALL-and-more", "named", "NONE", "other-name"])
def test_sbatch_passes_exported_functions_as_slurm_does(cluster: Cluster, tmp_path: Path, options: str,
                                                        expected: str) -> None:
    (tmp_path / "probe.sh").write_text(PROBE)
    job_id = submit_with_function(cluster, f"sbatch {options} -o out.txt probe.sh", tmp_path)
    job = finish(cluster, [job_id])[job_id]
    assert (tmp_path / "out.txt").read_text() == expected
    assert job.state == (jobs_pb2.COMPLETED if expected == SEES_F else jobs_pb2.FAILED)


def test_sbatch_wrap_submits_with_functions_in_the_environment(cluster: Cluster, tmp_path: Path) -> None:
    # --wrap is a #!/bin/sh script: on Debian, dash runs it and drops the function, as under Slurm.
    job_id = submit_with_function(cluster, "sbatch --wrap true", tmp_path)
    assert finish(cluster, [job_id])[job_id].state == jobs_pb2.COMPLETED
    with cluster.client(admin=True) as admin:
        [job], _ = admin.get([job_id])
    assert job.spec.environment["BASH_FUNC_f%%"].startswith("() {")


@pytest.mark.parametrize("options, expected", [("-V", SEES_F), ("", NO_F)], ids=["V", "no-V"])
def test_qsub_V_passes_exported_functions(cluster: Cluster, tmp_path: Path, options: str, expected: str) -> None:
    (tmp_path / "probe.sh").write_text(PROBE)
    out = tmp_path / "out.txt"
    job_id = submit_with_function(cluster, f"qsub {options} -j oe -o {out} probe.sh", tmp_path)
    finish(cluster, [job_id])
    assert out.read_text() == expected
