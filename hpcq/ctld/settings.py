"""The limits and defaults ctld applies, under the names Slurm's ``scontrol show config``
gives them: what ServerInfoResponse.settings carries, so that the shims report what hpcq
does instead of placeholders. Keys hpcq has no notion of are not here: the shims print
Slurm's defaults for them (hpcq/slurmconf.py). Limits Slurm keeps in its accounting
database, not its config, are named ``assoc:<sacctmgr field>`` (every user's association).
Pure: a function of the config.
"""
from __future__ import annotations

from hpcq import slurmconf
from hpcq.config import Config, split_address


def _duration(seconds: float) -> str:
    """secs2time_str(): ``00:05:00``, ``7-00:00:00``."""
    days, rest = divmod(max(0, int(seconds)), 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def slurm_settings(config: Config) -> dict[str, str]:
    """Slurm key -> the value ctld applies under `config`."""
    ctld = config.ctld
    host, port = split_address(ctld.listen) or (ctld.listen, 0)
    settings = {
        "AccountingStorageType": "accounting_storage/hpcq",
        "AuthType": "auth/hpcq-mtls",
        "ClusterName": config.cluster.name,
        "JobAcctGatherFrequency": str(int(ctld.heartbeat_interval)),   # noded samples jobs at each heartbeat
        "JobAcctGatherType": "jobacct_gather/cgroup",
        "JobRequeue": "1",
        "KillWait": f"{ctld.kill_grace} sec",
        "MaxArraySize": str(ctld.max_array_size),
        "MaxJobCount": str(ctld.max_pending_jobs),
        "MaxDBDMsgs": str(max(10000, 2 * ctld.max_pending_jobs)),
        "MinJobAge": f"{slurmconf.MIN_JOB_AGE} sec",
        "PriorityDecayHalfLife": _duration(ctld.fairshare_half_life),
        "PriorityFavorSmall": "Yes" if ctld.priority_favor_small else "No",
        "PriorityMaxAge": _duration(ctld.priority_max_age),
        "PriorityType": "priority/multifactor",
        "PriorityWeightAge": str(ctld.priority_weight_age),
        "PriorityWeightFairShare": str(ctld.priority_weight_fairshare),
        "PriorityWeightJobSize": str(ctld.priority_weight_job_size),
        "PriorityWeightPartition": str(ctld.priority_weight_queue),
        "PrivateData": ",".join(ctld.private_data) or "none",
        "ProctrackType": "proctrack/cgroup",
        "SchedulerType": "sched/backfill",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_CORE_MEMORY",     # cores and memory are allocated
        "SlurmctldHost[0]": host or "localhost",
        "SlurmctldPort": str(port),
        "SlurmdTimeout": f"{int(ctld.node_timeout)} sec",
        "StateSaveLocation": ctld.state_dir,
        "TaskPlugin": "task/cgroup,task/affinity",
    }
    # The per-user caps, as each user's association limits (sacctmgr; squeue's reasons for
    # them are AssocMaxJobsLimit and AssocGrpCpuLimit): none where there is no cap.
    for key, value in (("assoc:MaxSubmitJobs", ctld.max_submit_jobs), ("assoc:MaxJobs", ctld.max_running_jobs)):
        if value:
            settings[key] = str(value)
    if ctld.max_running_cpus:
        settings["assoc:GrpTRES"] = f"cpu={ctld.max_running_cpus}"
    if ctld.default_mem_per_cpu:
        settings["DefMemPerCPU"] = str(ctld.default_mem_per_cpu)
    else:
        settings["DefMemPerNode"] = "UNLIMITED"
    return settings
