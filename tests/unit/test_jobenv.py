"""A job's environment, output files and start directory, against what real OpenPBS
and Slurm give (expected values copied from shared/compat/*/job_env_*.txt and the
output-file captures)."""
from __future__ import annotations

from typing import Any

from hpcq import jobenv
from hpcq.api import jobs_pb2 as pb

PBSUSER = jobenv.JobUser("pbsuser", 1001, 1001, "/home/pbsuser", "/bin/bash")
ROOT = jobenv.JobUser("root", 0, 0, "/root", "/bin/bash")
PBS_SUBMIT_ENV = {
    "PBS_O_HOME": "/home/pbsuser", "PBS_O_LOGNAME": "pbsuser", "PBS_O_MAIL": "/var/mail/pbsuser",
    "PBS_O_PATH": "/opt/pbs/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/pbs/bin",
    "PBS_O_SHELL": "/bin/bash", "PBS_O_SYSTEM": "Linux", "PBS_O_INTERACTIVE_AUTH_METHOD": "resvport",
    "PBS_O_INTERACTIVE_ENCRYPT_METHOD": "",
}


def slice_(node: str, cpus: int, mem: int = 0, gpu_ids: tuple[int, ...] = ()) -> pb.Allocation.Slice:
    return pb.Allocation.Slice(node=node, cpus=cpus, mem_mb=mem, gpus=len(gpu_ids), gpu_ids=gpu_ids)


def job(job_id: int, *, dialect: pb.Dialect = pb.DIALECT_SLURM, name: str = "myname", queue: str = "batch",
        user: str = "root", slices: tuple[pb.Allocation.Slice, ...] = (), array: tuple[int, int] | None = None,
        indices: tuple[int, ...] = (), resources: pb.Resources | None = None, **spec: Any) -> pb.Job:
    spec.setdefault("submit_dir", "/scratch/anchor/work/deep/cwd dir")
    spec.setdefault("submit_host", "vm")
    record = pb.Job(id=job_id, attempt=1, user=user, queue=queue,
                    spec=pb.JobSpec(dialect=dialect, name=name, resources=resources, array=pb.ArraySpec(
                        tasks=",".join(map(str, indices))), **spec),
                    allocation=pb.Allocation(slices=slices))
    if array:
        record.array_job_id, record.array_task_id = array
    return record


def env_of(record: pb.Job, node: str, cluster: str, user: jobenv.JobUser = ROOT) -> dict[str, str]:
    return jobenv.job_environment(record, node, cluster, tmpdir="/tmp/hpcq.1", nodefile="/spool/nodefile", user=user)


def pbs_myname() -> pb.Job:
    """qsub -N myname -l select=1:ncpus=2:mem=100mb envjob.sh, from /scratch/pbswork/odd_cwd."""
    return job(4, dialect=pb.DIALECT_PBS, queue="workq", user="pbsuser", slices=(slice_("pbshost", 2, 100),),
               submit_dir="/scratch/pbswork/odd_cwd", submit_host="pbshost", environment=PBS_SUBMIT_ENV)


# --- environment ----------------------------------------------------------------------------

def test_pbs_environment_matches_openpbs() -> None:
    env = env_of(pbs_myname(), "pbshost", "pbshost", PBSUSER)

    captured = {  # myname.o4, less what only a PBS MoM has (cookie, port) and what a shell sets
        "ENVIRONMENT": "BATCH", "HOME": "/home/pbsuser", "LOGNAME": "pbsuser", "NCPUS": "2",
        "OMP_NUM_THREADS": "2", "PBS_ENVIRONMENT": "PBS_BATCH", "PBS_JOBDIR": "/home/pbsuser",
        "PBS_JOBID": "4.pbshost", "PBS_JOBNAME": "myname", "PBS_NODENUM": "0", "PBS_O_HOST": "pbshost",
        "PBS_O_QUEUE": "workq", "PBS_O_WORKDIR": "/scratch/pbswork/odd_cwd", "PBS_QUEUE": "workq",
        "PBS_TASKNUM": "1", "SHELL": "/bin/bash", "USER": "pbsuser", **PBS_SUBMIT_ENV,
    }
    assert {k: env.get(k) for k in captured} == captured
    assert env["PBS_NODEFILE"] == "/spool/nodefile"
    assert env["TMPDIR"] == "/tmp/hpcq.1"
    assert env["SLURM_JOB_ID"] == "4"  # the other dialect's variables are there too


def test_slurm_environment_matches_slurm() -> None:
    """sbatch -J myname -N1 -n2 -c1 --mem=100M, as root, partition batch, cluster anchor, node vm."""
    record = job(11243, slices=(slice_("vm", 2, 100),), environment={"ANCHOR_SUBMIT_VAR": "from submit env"},
                 resources=pb.Resources(nodes=1, tasks=2, cpus_per_task=1, mem_per_node_mb=100))
    env = env_of(record, "vm", "anchor")

    captured = {  # job_env_N1_n2_c1_mem100M.txt, less Slurm's plumbing (SLURM_CONF, topology...) and
        # SLURM_TASK_PID, which the supervisor sets (tests/integration/test_runner.py checks it)
        "ANCHOR_SUBMIT_VAR": "from submit env", "ENVIRONMENT": "BATCH", "HOME": "/root", "SHELL": "/bin/bash",
        "SLURMD_NODENAME": "vm", "SLURM_CLUSTER_NAME": "anchor", "SLURM_CPUS_ON_NODE": "2",
        "SLURM_CPUS_PER_TASK": "1", "SLURM_GTIDS": "0", "SLURM_JOBID": "11243", "SLURM_JOB_ACCOUNT": "root",
        "SLURM_JOB_CPUS_PER_NODE": "2", "SLURM_JOB_GID": "0", "SLURM_JOB_ID": "11243",
        "SLURM_JOB_NAME": "myname", "SLURM_JOB_NODELIST": "vm", "SLURM_JOB_NUM_NODES": "1",
        "SLURM_JOB_PARTITION": "batch", "SLURM_JOB_QOS": "normal", "SLURM_JOB_UID": "0",
        "SLURM_JOB_USER": "root", "SLURM_LOCALID": "0", "SLURM_MEM_PER_NODE": "100", "SLURM_NNODES": "1",
        "SLURM_NODEID": "0", "SLURM_NODELIST": "vm", "SLURM_NPROCS": "2", "SLURM_NTASKS": "2",
        "SLURM_PRIO_PROCESS": "0", "SLURM_PROCID": "0", "SLURM_SUBMIT_DIR": "/scratch/anchor/work/deep/cwd dir",
        "SLURM_SUBMIT_HOST": "vm", "SLURM_TASKS_PER_NODE": "2",
    }
    assert {k: env.get(k) for k in captured} == captured
    assert env["PBS_JOBID"] == "11243.anchor"


def test_multi_node_job_lists_its_nodes_compactly() -> None:
    record = job(7, slices=(slice_("node01", 4, 2000), slice_("node02", 4, 2000), slice_("node03", 2, 1000)),
                 resources=pb.Resources(nodes=3, tasks=10))
    env = env_of(record, "node01", "c")
    assert env["SLURM_JOB_NODELIST"] == env["SLURM_NODELIST"] == "node[01-03]"
    assert env["SLURM_JOB_NUM_NODES"] == env["SLURM_NNODES"] == "3"
    assert env["SLURM_JOB_CPUS_PER_NODE"] == "4(x2),2"
    assert env["SLURM_TASKS_PER_NODE"] == "4(x2),2"
    assert env["SLURM_NTASKS"] == "10"
    assert env["NCPUS"] == env["PBS_NCPUS"] == env["OMP_NUM_THREADS"] == env["SLURM_CPUS_ON_NODE"] == "4"
    assert env["SLURM_MEM_PER_NODE"] == "2000"
    assert jobenv.nodefile_lines(record, "node01") == ["node01"] * 4 + ["node02"] * 4 + ["node03"] * 2


def test_tasks_are_spread_as_slurm_blocks_them() -> None:
    two_nodes = (slice_("a1", 4), slice_("a2", 4))
    assert env_of(job(1, slices=two_nodes, resources=pb.Resources(tasks=3)), "a1", "c")["SLURM_TASKS_PER_NODE"] == "2,1"
    assert env_of(job(1, slices=two_nodes), "a1", "c")["SLURM_TASKS_PER_NODE"] == "1(x2)"
    per_node = env_of(job(1, slices=two_nodes, resources=pb.Resources(tasks_per_node=2)), "a1", "c")
    assert (per_node["SLURM_TASKS_PER_NODE"], per_node["SLURM_NTASKS"]) == ("2(x2)", "4")


def test_pbs_nodefile_has_a_line_per_task_not_per_cpu() -> None:
    # outerr.sh with select=1:ncpus=2 printed one "pbshost" line
    assert jobenv.nodefile_lines(pbs_myname(), "pbshost") == ["pbshost"]


def test_array_task_environment() -> None:
    """sbatch --array=1-3 arr.sh: task 1 of 11247 ran as job 11249; PBS spells it 11247[1].<server>."""
    record = job(11249, name="arr.sh", array=(11247, 1), indices=(1, 2, 3), slices=(slice_("vm", 1),))
    env = env_of(record, "vm", "anchor")
    assert {k: v for k, v in env.items() if k.startswith("SLURM_ARRAY")} == {
        "SLURM_ARRAY_JOB_ID": "11247", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_ID": "1",
        "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "1"}
    assert (env["SLURM_JOB_ID"], env["SLURM_JOBID"]) == ("11249", "11249")
    assert env["PBS_JOBID"] == "11247[1].anchor"
    assert env["PBS_ARRAY_ID"] == "11247[].anchor"
    assert env["PBS_ARRAY_INDEX"] == "1"


def test_array_step_only_for_an_evenly_spaced_range() -> None:
    stepped = env_of(job(3, array=(1, 5), indices=(1, 3, 5)), "n", "c")
    assert stepped["SLURM_ARRAY_TASK_STEP"] == "2"
    assert "SLURM_ARRAY_TASK_STEP" not in env_of(job(3, array=(1, 5), indices=(1, 2, 5)), "n", "c")
    assert "SLURM_ARRAY_JOB_ID" not in env_of(job(3), "n", "c")


def test_gpus_of_this_node_are_visible() -> None:
    record = job(9, slices=(slice_("g1", 8, gpu_ids=(0, 2)), slice_("g2", 8, gpu_ids=(1,))))
    assert env_of(record, "g1", "c")["CUDA_VISIBLE_DEVICES"] == "0,2"
    assert "CUDA_VISIBLE_DEVICES" not in env_of(job(9), "n", "c")


def test_login_variables_override_the_export_but_path_is_kept() -> None:
    record = job(5, environment={"HOME": "/elsewhere", "PATH": "/opt/x/bin:/usr/bin", "FOO": "bar"},
                 account="proj1")
    env = env_of(record, "n", "c", PBSUSER)
    assert (env["HOME"], env["USER"], env["LOGNAME"]) == ("/home/pbsuser", "pbsuser", "pbsuser")
    assert (env["PATH"], env["FOO"]) == ("/opt/x/bin:/usr/bin", "bar")
    assert env["SLURM_JOB_ACCOUNT"] == "proj1"
    assert env_of(job(5), "n", "c")["PATH"] == jobenv.DEFAULT_PATH


def test_slurm_counts() -> None:
    assert jobenv.slurm_counts([2]) == "2"
    assert jobenv.slurm_counts([4, 4, 2, 4]) == "4(x2),2,4"


# --- start directory ---------------------------------------------------------------------

def test_start_directory_is_home_for_pbs_and_submit_dir_for_slurm() -> None:
    assert jobenv.start_directory(pbs_myname(), "/home/pbsuser") == "/home/pbsuser"
    assert jobenv.start_directory(job(1, dialect=pb.DIALECT_PBS, workdir="/w"), "/home/x") == "/w"
    assert jobenv.start_directory(job(1), "/root") == "/scratch/anchor/work/deep/cwd dir"
    assert jobenv.start_directory(job(1, workdir="/w"), "/root") == "/w"


# --- output files ------------------------------------------------------------------------

def never_a_dir(_: str) -> bool:
    return False


def test_pbs_default_output_files_are_in_the_submit_directory() -> None:
    assert jobenv.output_paths(pbs_myname(), "pbshost", is_dir=never_a_dir) == (
        "/scratch/pbswork/odd_cwd/myname.o4", "/scratch/pbswork/odd_cwd/myname.e4")


def test_pbs_join_and_given_paths() -> None:
    joined = job(6, dialect=pb.DIALECT_PBS, name="outerr.sh", submit_dir="/s", join_output=True)
    assert jobenv.output_paths(joined, "n", is_dir=never_a_dir) == ("/s/outerr.sh.o6", None)
    given = job(8, dialect=pb.DIALECT_PBS, name="named", submit_dir="/s", stdout_path="custom_out.txt",
                stderr_path="/abs/custom_err.txt")
    assert jobenv.output_paths(given, "n", is_dir=never_a_dir) == ("/s/custom_out.txt", "/abs/custom_err.txt")
    # no Slurm patterns in PBS
    literal = job(8, dialect=pb.DIALECT_PBS, name="n", submit_dir="/s", stdout_path="o_%j.txt")
    assert jobenv.output_paths(literal, "n", is_dir=never_a_dir)[0] == "/s/o_%j.txt"


def test_pbs_directory_gets_the_default_name_inside() -> None:
    record = job(8, dialect=pb.DIALECT_PBS, name="named", submit_dir="/s", stdout_path="/logs",
                 stderr_path="errs/")
    assert jobenv.output_paths(record, "n", is_dir=lambda p: p == "/logs") == ("/logs/named.o8", "/s/errs/named.e8")


def test_pbs_array_task_output_files() -> None:
    record = job(12, dialect=pb.DIALECT_PBS, name="arr", submit_dir="/s", array=(10, 2))
    assert jobenv.output_paths(record, "n", is_dir=never_a_dir) == ("/s/arr.o10.2", "/s/arr.e10.2")
    given = job(12, dialect=pb.DIALECT_PBS, name="arr", submit_dir="/s", array=(10, 2),
                stdout_path="out.^array_index^")
    assert jobenv.output_paths(given, "n", is_dir=never_a_dir)[0] == "/s/out.2"


def test_slurm_default_output_file() -> None:
    assert jobenv.output_paths(job(11242, name="wrap"), "vm") == (
        "/scratch/anchor/work/deep/cwd dir/slurm-11242.out", None)
    assert jobenv.output_paths(job(11249, array=(11247, 1)), "vm")[0].endswith("/slurm-11247_1.out")
    assert jobenv.output_paths(job(5, workdir="/w"), "vm")[0] == "/w/slurm-5.out"


def test_slurm_patterns_expand_as_sbatch_out_patterns() -> None:
    record = job(11245, name="pat", slices=(slice_("vm", 1),), stdout_path="o_%x_%j_%u_%N_%n_%t.out",
                 stderr_path="e_%x_%j.err")
    out, err = jobenv.output_paths(record, "vm")
    assert out == "/scratch/anchor/work/deep/cwd dir/o_pat_11245_root_vm_0_0.out"
    assert err == "/scratch/anchor/work/deep/cwd dir/e_pat_11245.err"


def test_slurm_patterns_in_directories_padding_and_percent() -> None:
    record = job(42, name="n", array=(40, 3), stdout_path="/logs/%A/%5a-%%-%J.out",
                 stderr_path="/logs/%A/%5a-%%-%j.out")
    # stderr names the stdout file: one file, opened once
    assert jobenv.output_paths(record, "vm") == ("/logs/40/00003-%-42.out", None)
    assert jobenv.output_paths(job(42, stdout_path="%a.out"), "vm")[0].endswith("/4294967294.out")
