"""ctld's settings under Slurm's names (hpcq/ctld/settings.py) and `scontrol show config`
printing them with Slurm's defaults for the rest (scontrol_format.config_text)."""
from __future__ import annotations

from pathlib import Path

from hpcq import config, slurmconf
from hpcq.api.lite import admin_pb2
from hpcq.ctld.settings import slurm_settings
from hpcq.shims.slurm import scontrol_format as fmt
from tests.compat import captures

CAPTURE = captures.read("slurm_anchor", "scontrol_show_config.txt")[0]


def _values(text: str) -> dict[str, str]:
    lines = text.split("\n")[1:]
    return {k.rstrip(): v for k, _, v in (line.partition(" = ") for line in lines[:lines.index("")])}


def show(settings: dict[str, str], **info: object) -> dict[str, str]:
    response = admin_pb2.ServerInfoResponse(cluster="lab", next_job_id=42, nodes=3, version="0.1.0", **info)
    response.settings.update(settings)
    return _values(fmt.config_text(response, 1795439409.0))


def test_defaults_are_what_hpcq_applies() -> None:
    s = slurm_settings(config.Config())
    assert s["MaxArraySize"] == "1001" and s["MaxJobCount"] == "200000"
    assert s["MinJobAge"] == "300 sec" and s["KillWait"] == "5 sec" and s["SlurmdTimeout"] == "60 sec"
    assert s["SlurmctldHost[0]"] == "127.0.0.1" and s["SlurmctldPort"] == "6817"
    assert s["DefMemPerNode"] == "UNLIMITED" and "DefMemPerCPU" not in s
    assert s["PriorityType"] == "priority/multifactor" and s["PriorityWeightFairShare"] == "10000"
    assert s["PriorityDecayHalfLife"] == "7-00:00:00" and s["PrivateData"] == "none"


def test_configured_values_are_reported() -> None:
    c = config.from_dict({"cluster": {"name": "lab"},
                          "ctld": {"max_array_size": 5000, "default_mem_per_cpu": 2048, "listen": "10.0.0.5:7000",
                                   "max_pending_jobs": 10, "private_data": ["jobs", "usage"],
                                   "fairshare_half_life": 3600.0, "kill_grace": 30}})
    s = slurm_settings(c)
    assert s["MaxArraySize"] == "5000" and s["DefMemPerCPU"] == "2048" and "DefMemPerNode" not in s
    assert s["ClusterName"] == "lab" and s["SlurmctldHost[0]"] == "10.0.0.5" and s["SlurmctldPort"] == "7000"
    assert s["MaxJobCount"] == "10" and s["PrivateData"] == "jobs,usage"
    assert s["PriorityDecayHalfLife"] == "01:00:00" and s["KillWait"] == "30 sec"


def test_max_array_size_is_checked() -> None:
    for bad in (0, 4_000_002):
        try:
            config.from_dict({"ctld": {"max_array_size": bad}})
        except config.ConfigError as e:
            assert "[ctld] max_array_size: must be between 1 and 4000001" in str(e)
        else:
            raise AssertionError(f"max_array_size={bad} accepted")


def test_show_config_prints_every_slurm_key_in_slurms_order() -> None:
    ours = show(slurm_settings(config.Config()))
    theirs = _values(CAPTURE.stdout)
    # The keys of a stock slurmctld, less the build's own (HASH_VAL, MULTIPLE_SLURMD), plus
    # priority/multifactor's weights, and hpcq's version last.
    expected = [k for k in theirs if k not in ("HASH_VAL", "MULTIPLE_SLURMD")]
    assert [k for k in ours if k in theirs] == expected
    assert list(ours)[-1] == "hpcq_version"
    assert {"PriorityWeightAge", "PriorityDecayHalfLife", "PriorityMaxAge"} <= set(ours)


def test_show_config_reports_the_settings_and_no_placeholders() -> None:
    ours = show(slurm_settings(config.from_dict({"ctld": {"max_array_size": 77}})))
    assert ours["MaxArraySize"] == "77" and ours["MinJobAge"] == "300 sec" and ours["NEXT_JOB_ID"] == "42"
    assert ours["ClusterName"] == "hpcq" and ours["MaxNodeCount"] == "3"
    assert all(value not in ("", "0 placeholder") for value in ours.values())
    # Keys hpcq has no notion of: Slurm's own defaults, as the captured slurmctld printed them
    # where its slurm.conf left them alone.
    theirs = _values(CAPTURE.stdout)
    for key in ("MaxStepCount", "MaxTasksPerNode", "MessageTimeout", "TreeWidth", "SwitchType", "FirstJobId"):
        assert ours[key] == theirs[key]


def test_a_controller_without_settings_shows_slurms_defaults() -> None:
    ours = show({})
    assert ours["MaxArraySize"] == str(slurmconf.DEFAULT_MAX_ARRAY_SIZE) and ours["MinJobAge"] == "300 sec"


def test_mem_per_cpu_takes_def_mem_per_node_s_place() -> None:
    keys = list(show(slurm_settings(config.from_dict({"ctld": {"default_mem_per_cpu": 512}}))))
    assert "DefMemPerCPU" in keys and "DefMemPerNode" not in keys
    assert keys.index("DefMemPerCPU") == keys.index("DebugFlags") + 1


def test_controllers_follow_the_keys() -> None:
    info = admin_pb2.ServerInfoResponse(controllers=[admin_pb2.Controller(address="c1:6817", role="active"),
                                                     admin_pb2.Controller(address="c2:6817", role="standby")])
    text = fmt.config_text(info, 1795439409.0)
    assert text.endswith("\nSlurmctld(primary) at c1 is UP\nSlurmctld(backup) at c2 is UP\n")


def test_capture_is_where_the_tests_look() -> None:
    assert Path(captures.COMPAT_DIR / "slurm_anchor" / "scontrol_show_config.txt").is_file()


def test_min_job_age_is_what_squeue_and_scontrol_keep(monkeypatch) -> None:
    """MinJobAge as show config says: a finished job leaves squeue -t all, squeue --json and
    scontrol show job that long after its end (sacct keeps it)."""
    from hpcq.shims.slurm import scontrol, squeue
    from tests.compat import anchor_dump_world as dp
    from tests.compat import fake

    ended = dp.T0 + 1                                 # dp-done (13) and dp-fail (14)
    for age, shown in ((slurmconf.MIN_JOB_AGE - 1, True), (slurmconf.MIN_JOB_AGE + 1, False)):
        world = dp.world(ended + age)
        listed = fake.run(squeue.main, ["-t", "all", "-h", "-o", "%i"], world, monkeypatch).stdout.split()
        assert ("13" in listed) is shown and ("14" in listed) is shown
        assert ("JobId=13 " in fake.run(scontrol.main, ["show", "job"], world, monkeypatch).stdout) is shown
