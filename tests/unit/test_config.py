import tomllib

import pytest

from hpcq import config


def test_defaults_round_trip_through_toml():
    text = config.dump(config.Config())
    assert config.from_dict(tomllib.loads(text)) == config.Config()


def test_unknown_key_is_named_with_the_nearest_valid_one(tmp_path):
    path = tmp_path / "hpcq.toml"
    path.write_text("[ctld]\nlisten_adress = '1.2.3.4:1'\n")
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert str(path) in str(e.value)
    assert "[ctld] listen_adress" in str(e.value)
    assert "did you mean 'listen'" in str(e.value)


def test_unknown_section():
    with pytest.raises(config.ConfigError, match=r"unknown section \[ctl\].*'ctld'"):
        config.from_dict({"ctl": {}})


def test_wrong_type_names_key_and_types():
    with pytest.raises(config.ConfigError, match=r"\[noded\] cpus: expected int, got str"):
        config.from_dict({"noded": {"cpus": "four"}})


def test_impossible_value():
    with pytest.raises(config.ConfigError, match=r"\[ctld\] node_timeout: must be longer than heartbeat_interval"):
        config.from_dict({"ctld": {"node_timeout": 5.0, "heartbeat_interval": 10.0}})


def test_ints_are_accepted_for_floats():
    assert config.from_dict({"ctld": {"sched_interval": 2}}).ctld.sched_interval == 2.0


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[ctld\n")
    with pytest.raises(config.ConfigError, match=str(path)):
        config.load(path)


def test_discovery_prefers_hpcq_conf_then_hpcq_home(tmp_path, monkeypatch):
    home_conf = tmp_path / "home" / "hpcq.toml"
    home_conf.parent.mkdir()
    home_conf.write_text("[cluster]\nname = 'fromhome'\n")
    monkeypatch.delenv("HPCQ_CONF", raising=False)
    monkeypatch.setenv("HPCQ_HOME", str(home_conf.parent))
    assert config.load().cluster.name == "fromhome"
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[cluster]\nname = 'explicit'\n")
    monkeypatch.setenv("HPCQ_CONF", str(explicit))
    assert config.load().cluster.name == "explicit"
    monkeypatch.setenv("HPCQ_CONF", str(tmp_path / "missing.toml"))
    with pytest.raises(config.ConfigError, match=r"missing\.toml: no such file"):
        config.load()


def test_overrides_are_checked_like_the_file():
    updated = config.apply_overrides(config.Config(),
                                     ["ctld.node_timeout=30", "cluster.name=lab", "noded.features=['a']"])
    assert (updated.ctld.node_timeout, updated.cluster.name, updated.noded.features) == (30.0, "lab", ["a"])
    with pytest.raises(config.ConfigError, match=r"unknown key \[ctld\] node_timout"):
        config.apply_overrides(config.Config(), ["ctld.node_timout=30"])
