"""Each Slurm capture replayed: the command run as the shim, against the records hpcq
would hold at the moment of the capture (slurm_world.py), compared after normalize().

A case that cannot match is listed in docs/compat.md with the reason (test_coverage.py
holds the two lists together).
"""
from __future__ import annotations

from collections.abc import Callable

import pytest

from hpcq.errors import HpcqError
from hpcq.shims.slurm import sacct, sbatch, scancel, scontrol, sinfo, squeue
from tests.compat import captures, fake
from tests.compat.fake import FakeCluster
from tests.compat.normalize import normalize
from tests.compat.slurm_world import anchor

MAINS = {"sbatch": sbatch.main, "squeue": squeue.main, "scancel": scancel.main, "sinfo": sinfo.main,
         "sacct": sacct.main, "scontrol": scontrol.main}
ENVJOB = "#!/bin/sh\n#SBATCH --comment=from-directive\nenv | sort\n"
ARRAYJOB = "#!/bin/sh\nenv | grep -E '^SLURM_(ARRAY|JOB)' | sort\nsleep 8\n"


def submits_as(job_id: int) -> Callable[[FakeCluster], None]:
    def setup(world: FakeCluster) -> None:
        world.next_id = job_id
    return setup


def refuses(token: str, detail: str) -> Callable[[FakeCluster], None]:
    def setup(world: FakeCluster) -> None:
        world.submit_error = HpcqError("INVALID_ARGUMENT", f"{token}: {detail}")
    return setup


# case -> (the capture's clock, what else the scenario needs)
MATCHED: dict[str, tuple[str, Callable[[FakeCluster], None] | None]] = {
    "slurm/sacct_X_n_P.txt": ("13:10:06", None),
    "slurm/sacct_array_1_3.txt": ("13:07:50", None),
    "slurm/sacct_begin30.txt": ("13:08:44.5", None),
    "slurm/sacct_brief.txt": ("13:10:06", None),
    "slurm/sacct_cancelled.txt": ("13:08:10", None),
    "slurm/sacct_exit3_timeout_signal.txt": ("13:10:05.5", None),
    "slurm/sacct_j_parsable2.txt": ("13:10:05.5", None),
    "slurm/sacct_unknown_job.txt": ("13:10:06", None),
    "slurm/sbatch_array_1_10pct2.txt": ("13:07:50", submits_as(11251)),
    "slurm/sbatch_array_1_3.txt": ("13:07:45", submits_as(11247)),
    "slurm/sbatch_array_parsable.txt": ("13:07:45", submits_as(11246)),
    "slurm/sbatch_bad_array.txt": ("13:10:09", None),
    "slurm/sbatch_bad_time.txt": ("13:10:09", None),
    "slurm/sbatch_dependency_bad_syntax.txt": ("13:08:03",
                                               refuses("BAD_DEPENDENCY", "dependency: foo:1: unknown type")),
    "slurm/sbatch_dependency_unknown_job.txt": ("13:08:01", submits_as(11263)),
    "slurm/sbatch_empty_wrap.txt": ("13:10:09", submits_as(11297)),
    "slurm/sbatch_env_exportnone.txt": ("13:07:39", submits_as(11244)),
    "slurm/sbatch_env_submit.txt": ("13:07:36", submits_as(11243)),
    "slurm/sbatch_from_stdin.txt": ("13:10:09", submits_as(11296)),
    "slurm/sbatch_invalid_option.txt": ("13:10:07", None),
    "slurm/sbatch_missing_script.txt": ("13:10:09", None),
    "slurm/sbatch_no_args.txt": ("13:10:09", None),
    "slurm/sbatch_no_shebang.txt": ("13:10:07", None),
    "slurm/sbatch_out_patterns.txt": ("13:07:43", submits_as(11245)),
    "slurm/sbatch_output.txt": ("13:07:35", submits_as(11240)),
    "slurm/sbatch_parsable.txt": ("13:07:35", submits_as(11241)),
    "slurm/sbatch_unknown_partition.txt": ("13:10:07", refuses("UNKNOWN_QUEUE", "queue 'nosuchpart' does not exist")),
    "slurm/sbatch_version.txt": ("13:10:09", None),
    "slurm/sbatch_wrap_and_script.txt": ("13:10:09", None),
    "slurm/sbatch_wrap_hostname.txt": ("13:07:35", submits_as(11242)),
    "slurm/scancel_bad_id.txt": ("13:10:06", None),
    "slurm/scancel_never_satisfied.txt": ("13:08:02", None),
    "slurm/scancel_pending.txt": ("13:08:09.4", None),
    "slurm/scancel_running.txt": ("13:08:09.4", None),
    "slurm/scancel_unknown.txt": ("13:10:06", None),
    "slurm/scancel_unknown_v.txt": ("13:10:06", None),
    "slurm/scontrol_hold_pending.txt": ("13:08:09.05", None),
    "slurm/scontrol_hold_unknown.txt": ("13:10:07", None),
    "slurm/scontrol_release.txt": ("13:08:08", None),
    "slurm/scontrol_release_p.txt": ("13:08:09.2", None),
    "slurm/scontrol_release_unknown.txt": ("13:10:07", None),
    "slurm/scontrol_show_job_array_element_done.txt": ("13:07:50", None),
    "slurm/scontrol_show_job_cancelled_running.txt": ("13:08:10", None),
    "slurm/scontrol_show_job_exit3.txt": ("13:08:45.5", None),
    "slurm/scontrol_show_job_oneline.txt": ("13:08:07", None),
    "slurm/scontrol_show_job_running.txt": ("13:08:07", None),
    "slurm/scontrol_show_job_running_details.txt": ("13:08:07", None),
    "slurm/scontrol_show_job_timeout.txt": ("13:10:05.5", None),
    "slurm/scontrol_show_job_unknown.txt": ("13:10:07", None),
    "slurm/scontrol_show_partition.txt": ("13:08:07", None),
    "slurm/scontrol_show_partition_oneline.txt": ("13:08:07", None),
    "slurm/sinfo_N_l.txt": ("13:08:07", None),
    "slurm/sinfo_default.txt": ("13:08:07", None),
    "slurm/sinfo_l.txt": ("13:08:07", None),
    "slurm/sinfo_o_custom.txt": ("13:08:07", None),
    "slurm/sinfo_s.txt": ("13:08:07", None),
    "slurm/squeue_O_JobID_State_Reason.txt": ("13:08:07", None),
    "slurm/squeue_after_cancel.txt": ("13:08:10", None),
    "slurm/squeue_after_hold.txt": ("13:08:09.2", None),
    "slurm/squeue_after_release.txt": ("13:08:09", None),
    "slurm/squeue_all_fields.txt": ("13:08:07", None),
    "slurm/squeue_array_throttled.txt": ("13:07:52.2", None),
    "slurm/squeue_array_throttled_r.txt": ("13:07:52.2", None),
    "slurm/squeue_default_dependency_never_satisfied.txt": ("13:08:01.2", None),
    "slurm/squeue_default_mixed.txt": ("13:08:07", None),
    "slurm/squeue_default_mixed_settled.txt": ("13:08:08.2", None),
    "slurm/squeue_dependency_after_parent_failed.txt": ("13:08:01.2", None),
    "slurm/squeue_dependency_while_parent_runs.txt": ("13:07:54", None),
    "slurm/squeue_h_o_i_T_r.txt": ("13:08:07", None),
    "slurm/squeue_long.txt": ("13:08:07", None),
    "slurm/squeue_me.txt": ("13:08:07", None),
    "slurm/squeue_start.txt": ("13:08:07", None),
    "slurm/squeue_t_PD.txt": ("13:08:07", None),
    "slurm/squeue_t_all_after_cancel.txt": ("13:08:10", None),
    "slurm/squeue_t_all_dependency_unknown_job.txt": ("13:08:03", None),
    "slurm/squeue_t_all_exit3_killsig.txt": ("13:08:45.5", None),
    "slurm/squeue_u_root_format.txt": ("13:08:07", None),
    "slurm/squeue_unknown.txt": ("13:10:06", None),
    "slurm/squeue_unknown_h.txt": ("13:10:07", None),
}


def case(case_id: str) -> captures.Case:
    return captures.read("slurm", case_id.split("/", 1)[1])[0]


@pytest.mark.parametrize("case_id", sorted(MATCHED))
def test_slurm_capture(case_id: str, monkeypatch, tmp_path) -> None:
    c = case(case_id)
    clock, setup = MATCHED[case_id]
    world = anchor(clock)
    if setup:
        setup(world)
    # The scripts the capture's commands name, in a submit directory of its own.
    (tmp_path / "envjob.sh").write_text(ENVJOB)
    (tmp_path / "noshebang.sh").write_text("echo no shebang\n")
    for script in ("arr.sh", "arr2.sh"):
        (tmp_path / script).write_text(ARRAYJOB)
    monkeypatch.chdir(tmp_path)
    argv = c.words[1:]
    stdin = "#!/bin/sh\n#SBATCH -J fromstdin\ntrue\n" if "< stdin.sh" in c.command else ""
    argv = [a for a in argv if a not in ("<", "stdin.sh", "/dev/null", "</dev/null")] if "<" in c.command else argv
    out = fake.run(MAINS[c.program], argv, world, monkeypatch, stdin=stdin)
    ids = world.jobs.keys()
    assert normalize(out.stdout, job_ids=ids) == normalize(c.stdout, job_ids=ids)
    assert normalize(out.stderr, job_ids=ids) == normalize(c.stderr, job_ids=ids)
    assert out.exit == c.exit
