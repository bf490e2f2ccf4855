"""One TOML configuration for every hpcq program.

Every key is declared once below, with its type, default and a line of documentation;
loading checks the file against these declarations and names the file, the key and
the reason of any error. Discovery order: $HPCQ_CONF, $HPCQ_HOME/hpcq.toml (local
mode, HPCQ_HOME defaulting to ~/.local/state/hpcq), ~/.config/hpcq/hpcq.toml,
/etc/hpcq/hpcq.toml.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcq.errors import ConfigError  # re-exported: callers catch config.ConfigError


def _key(default: Any, doc: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"doc": doc, "type": list})
    return field(default=default, metadata={"doc": doc, "type": type(default)})


@dataclass
class ClusterSection:
    name: str = _key("hpcq", "Cluster name: the server part of PBS job ids (`12.NAME`) and SLURM_CLUSTER_NAME.")


@dataclass
class ClientSection:
    server: str = _key("127.0.0.1:6817", "host:port of hpcq-ctld; with a standby controller, every controller's "
                                         "host:port, comma-separated: the commands try them in order.")
    ca: str = _key("", "CA certificate that signed ctld's certificate.")
    cert: str = _key("", "Personal client certificate (role user or admin).")
    key: str = _key("", "Private key of `cert` (mode 0600).")
    server_name: str = _key("", "TLS name to expect in ctld's certificate when it differs from the host dialled.")
    agent_socket: str = _key("/run/hpcq/agent.sock", "hpcq-agent's socket; used instead of a certificate when it "
                                                     "exists.")
    retry_seconds: float = _key(60.0, "Seconds a command keeps retrying while ctld is unreachable or overloaded "
                                      "(a restart, a failover) before it fails; 0: no retries. The environment "
                                      "variable HPCQ_RETRY_SECONDS overrides it.")


@dataclass
class CtldSection:
    listen: str = _key("127.0.0.1:6817", "Address the gRPC API listens on (mutual TLS only).")
    advertise: str = _key("", "host:port by which nodes, agents and clients reach this controller, as `hpcqctl "
                              "status` lists it beside the other controllers of a PostgreSQL store; empty: listen.")
    state_dir: str = _key("/var/lib/hpcq", "Directory for the database and ctld's own files.")
    database: str = _key("", "SQLAlchemy URL of the store; empty: SQLite at <state_dir>/hpcq.db.")
    ca: str = _key("", "CA certificate that client certificates must be signed by.")
    cert: str = _key("", "ctld's server certificate.")
    key: str = _key("", "Private key of `cert` (mode 0600).")
    audit_log: str = _key("", "Append-only JSON-lines audit log; empty: <state_dir>/audit.log.")
    crl: str = _key("", "Certificate revocation list checked on every call; empty: crl.pem beside the CA.")
    default_queue: str = _key("batch", "Queue created at first start and used when a job names none.")
    default_walltime: int = _key(3600, "Walltime in seconds of the default queue's jobs that ask for none.")
    sched_interval: float = _key(5.0, "Seconds between scheduling passes when nothing happens.")
    sched_min_interval: float = _key(0.002, "Minimum seconds between two scheduling passes triggered by events.")
    heartbeat_interval: float = _key(10.0, "Seconds between a node's heartbeats.")
    node_timeout: float = _key(60.0, "Seconds of silence after which a node is DOWN and its jobs NODE_FAIL.")
    kill_grace: int = _key(5, "Seconds between TERM and KILL when a job is cancelled or times out.")
    max_pending_jobs: int = _key(200_000, "Submits beyond this many unfinished jobs are refused (as Slurm's "
                                          "MaxJobCount): pending, held, waiting for a begin time and running alike, "
                                          "each array task counted.")
    max_submit_jobs: int = _key(0, "Unfinished jobs (array tasks counted) one user may have at once; more are refused "
                                   "at submit (Slurm MaxSubmitJobsPerUser). 0: no limit.")
    max_array_size: int = _key(1001, "Array size limit, refused at submit beyond it. A Slurm array's task "
                                     "indices must be below it (MaxArraySize: 1001 allows 0-1000; `Invalid job "
                                     "array specification`); a PBS array may have at most this many subjobs "
                                     "(max_array_size; `Array job exceeds server or queue size limit`). At most "
                                     "4000001.")
    max_running_jobs: int = _key(0, "Jobs one user may run at once; the rest stay pending with reason "
                                 "AssocMaxJobsLimit (Slurm MaxJobsPerUser). 0: no limit.")
    max_running_cpus: int = _key(0, "CPUs one user's running jobs may hold at once; the rest stay pending with reason "
                                 "AssocGrpCpuLimit (Slurm GrpTRES=cpu on the user's association). 0: no limit.")
    private_data: list[str] = _key([], "What users may not see of other users' work (Slurm PrivateData): any of "
                                   "jobs, accounting, usage, users. Scripts and environments are private always.")
    history_days: float = _key(30.0, "Finished jobs stay queryable (sacct, qstat -x) this many days, then are "
                                     "archived.")
    commit_batch: int = _key(2000, "Most store operations written in one transaction.")
    max_calls_in_flight: int = _key(4096, "Calls ctld handles at once; past it, a call is refused unread with "
                                          "RESOURCE_EXHAUSTED and a retry hint, which clients honour.")
    max_waiting_reads: int = _key(256, "List, Get and ListNodes calls (squeue, qstat, sinfo, pbsnodes) that may wait "
                                       "their turn; past it, one is refused as above.")
    allocation_grace_seconds: float = _key(60.0, "How long an interactive allocation (salloc, srun, qsub -I) whose "
                                                 "client's call was cut off without a release (ctld or the host agent "
                                                 "restarted, a connection broken, the client killed) waits for the "
                                                 "client to come back before it is cancelled.")
    reads_busy_share: float = _key(0.2, "Share of a CPU ctld may have used of late when a List, Get or ListNodes "
                                        "starts (0 to 1): under a polling storm the rest is kept for submits and "
                                        "other calls.")
    priority_weight_age: int = _key(1000, "Weight of the age factor (Slurm PriorityWeightAge).")
    priority_weight_fairshare: int = _key(10000, "Weight of the fair-share factor (PriorityWeightFairshare).")
    priority_weight_job_size: int = _key(1000, "Weight of the job-size factor (PriorityWeightJobSize).")
    priority_weight_queue: int = _key(1000, "Weight of the queue-priority factor (PriorityWeightPartition).")
    priority_max_age: float = _key(7 * 86400.0, "Seconds after which a job's age factor stops growing.")
    priority_favor_small: bool = _key(False, "Job-size factor favours small jobs instead of large ones.")
    fairshare_half_life: float = _key(7 * 86400.0, "Half-life in seconds of recorded usage (PriorityDecayHalfLife).")
    fairshare_gpu_weight: float = _key(1.0, "CPU-seconds charged per GPU-second.")
    sched_reservations: int = _key(1, "How many blocked jobs get a reserved start that backfill may not delay.")
    licenses: list[str] = _key([], "Cluster-wide licenses as NAME:COUNT (Slurm Licenses=).")
    kill_invalid_depend: bool = _key(False, "Cancel Slurm jobs whose dependency can never be met (PBS jobs always "
                                            "are).")
    max_batch_requeue: int = _key(5, "Requeues after node failures before a job is held with reason JobHoldMaxRequeue "
                                  "(Slurm MaxBatchRequeue).")
    retry_backoff: float = _key(30.0, "Seconds a failed job that asked for retries (JobSpec.retry) waits before its "
                                "first retry; doubled for each next one.")
    retry_backoff_max: float = _key(3600.0, "The longest wait between two retries, in seconds; 0: no limit.")
    retry_max_attempts: int = _key(20, "Most runs a job may ask for in JobSpec.retry.max_attempts; more is refused at "
                                   "submit.")
    agent_hosts: list[str] = _key([], "Host certificates (CN) allowed to assert users; empty: every host certificate.")
    agents_may_assert_root: bool = _key(False, "Whether an agent may act for root (local clusters run by root need "
                                               "it).")
    root_is_admin: bool = _key(False, "root, asserted by an agent (agents_may_assert_root), acts as an admin on every "
                               "job, as Slurm treats root; `hpcqctl up` run by root sets it.")
    metrics_listen: str = _key("", "HOST:PORT of the Prometheus metrics endpoint (plain HTTP, /metrics); empty: none.")
    metrics_required: bool = _key(False, "Refuse to start when metrics_listen cannot be bound; false: log it and serve "
                                         "without.")
    default_mem_per_cpu: int = _key(0, "MiB of memory per allocated CPU given to a job that asks for none (Slurm "
                                    "DefMemPerCPU); a queue's default_mem_per_cpu_mb comes first. 0: none (such a "
                                    "job gets no memory limit).")
    mail_program: str = _key("", "sendmail-compatible program that mails job notifications (sbatch --mail-type, "
                                 "qsub -m), run as `PROGRAM -oi ADDRESS...` with the message on its input; empty: "
                                 "sendmail on ctld's PATH, else /usr/sbin/sendmail. With none, no mail is sent.")
    notify_url: str = _key("", "http(s) URL that gets a JSON POST for every job's start, end and requeue (for chat "
                               "and dashboards); empty: none.")
    require_memory_enforcement: bool = _key(False, "Refuse at submit a job that asks for memory when no node of its "
                                            "queue enforces memory limits (a cgroup host with [noded] "
                                            "confine_memory on).")


@dataclass
class NodedSection:
    server: str = _key("127.0.0.1:6817", "host:port of hpcq-ctld; with standby controllers, every controller's "
                                         "host:port, comma-separated: noded registers with whichever is active.")
    server_name: str = _key("", "TLS name to expect in ctld's certificate when it differs from the host dialled.")
    name: str = _key("", "Node name; empty: the short host name. Must match the node certificate's CN.")
    cpus: int = _key(0, "CPUs offered to jobs; 0: every logical CPU.")
    memory_mb: int = _key(0, "Memory offered to jobs in MiB; 0: all physical memory.")
    spool_dir: str = _key("/var/spool/hpcq", "Per-job state (status files, scripts, node files).")
    tmp_dir: str = _key("/tmp", "Where per-job TMPDIRs are made.")
    ca: str = _key("", "CA certificate that signed ctld's certificate.")
    cert: str = _key("", "The node's certificate (role node, CN = node name).")
    key: str = _key("", "Private key of `cert` (mode 0600).")
    features: list[str] = _key([], "Node features offered to `-C` / `:feature=true` requests.")
    allow_root_jobs: bool = _key(False, "Run jobs that belong to root (refused by default).")
    confine_jobs: bool = _key(True, "Hold each job to its allocated CPUs and memory, and kill every process of it at "
                              "its end: cgroup v2 or v1 where the host lets noded use them, else CPU affinity and "
                              "RLIMIT_DATA (see the admin guide); false: none of it.")
    confine_cores: bool = _key(True, "With confine_jobs: a job's cpuset (or CPU affinity) is its allocated CPUs; "
                               "false: it may run on every CPU of the node.")
    confine_memory: bool = _key(True, "With confine_jobs: a job's memory request is its limit (cgroup, or "
                                "RLIMIT_DATA); false: no memory limit, and the node does not count as enforcing "
                                "memory for [ctld] require_memory_enforcement.")
    track_processes: bool = _key(True, "With confine_jobs on a cgroup host: every process left in a job's cgroup is "
                                 "killed at its end; false: only those the job's own supervisor can reach (its "
                                 "process group and the orphans it adopted).")
    metrics_listen: str = _key("", "HOST:PORT of the Prometheus metrics endpoint (plain HTTP, /metrics); empty: none. "
                               "In a local cluster (`hpcqctl up`) node k of N listens on PORT+k-1.")
    metrics_required: bool = _key(False, "Refuse to start when metrics_listen cannot be bound; false: log it and serve "
                                         "without.")


@dataclass
class AgentSection:
    socket: str = _key("/run/hpcq/agent.sock", "Unix socket the agent listens on (mode 0666: every local user).")
    server: str = _key("127.0.0.1:6817", "host:port of hpcq-ctld; with standby controllers, every controller's "
                                         "host:port, comma-separated: the agent forwards to whichever is active.")
    server_name: str = _key("", "TLS name to expect in ctld's certificate when it differs from the host dialled.")
    ca: str = _key("", "CA certificate that signed ctld's certificate.")
    cert: str = _key("", "The host's certificate (role host).")
    key: str = _key("", "Private key of `cert` (mode 0600).")
    allow_root: bool = _key(False, "Vouch for uid 0 too (refused by default).")
    min_uid: int = _key(0, "Refuse callers with a smaller uid (root aside, which allow_root decides).")
    rate: float = _key(100.0, "Requests per second each user may make through the agent (token bucket refill).")
    burst: int = _key(1000, "Requests a user may make at once before the rate applies (token bucket size).")
    metrics_listen: str = _key("", "HOST:PORT of the Prometheus metrics endpoint (plain HTTP, /metrics); empty: none.")
    metrics_required: bool = _key(False, "Refuse to start when metrics_listen cannot be bound; false: log it and serve "
                                         "without.")


@dataclass
class Config:
    cluster: ClusterSection = field(default_factory=ClusterSection)
    client: ClientSection = field(default_factory=ClientSection)
    ctld: CtldSection = field(default_factory=CtldSection)
    noded: NodedSection = field(default_factory=NodedSection)
    agent: AgentSection = field(default_factory=AgentSection)
    path: Path | None = None  # the file it was read from


# Slurm's upper bound of MaxArraySize (slurm.conf(5)).
MAX_ARRAY_SIZE_LIMIT = 4_000_001

# What [ctld] private_data may hide, as Slurm's PrivateData names it.
PRIVATE_DATA = ("jobs", "accounting", "usage", "users")

SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "path"}


def hpcq_home() -> Path:
    return Path(os.environ.get("HPCQ_HOME") or Path.home() / ".local" / "state" / "hpcq")


def candidate_paths() -> list[Path]:
    if os.environ.get("HPCQ_CONF"):
        return [Path(os.environ["HPCQ_CONF"])]
    return [hpcq_home() / "hpcq.toml", Path.home() / ".config" / "hpcq" / "hpcq.toml", Path("/etc/hpcq/hpcq.toml")]


def find_config() -> Path | None:
    for path in candidate_paths():
        if path.is_file():
            return path
    return None


def load(path: Path | str | None = None) -> Config:
    """Read and validate a config; with no path, the first one found (or the defaults)."""
    if path is None:
        path = find_config()
        if path is None:
            if os.environ.get("HPCQ_CONF"):
                raise ConfigError(f"{os.environ['HPCQ_CONF']}: no such file (named by HPCQ_CONF)")
            return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    config = from_dict(data, str(path))
    config.path = path
    return config


def from_dict(data: dict[str, Any], origin: str = "<config>") -> Config:
    config = Config()
    for section_name, values in data.items():
        if section_name not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{section_name}]{_nearest(section_name, SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: {section_name} must be a table ([{section_name}])")
        section = getattr(config, section_name)
        fields = {f.name: f for f in dataclasses.fields(section)}
        for key, value in values.items():
            where = f"{origin}: [{section_name}] {key}"
            if key not in fields:
                raise ConfigError(f"{origin}: unknown key [{section_name}] {key}{_nearest(key, fields)}")
            setattr(section, key, _coerce(value, fields[key].metadata["type"], where))
    _check_values(config, origin)
    return config


def apply_overrides(config: Config, assignments: list[str], origin: str = "--set") -> Config:
    """Set `section.key=value` pairs (value in TOML syntax, or a bare string), checked
    like a config file; returns a new Config."""
    data: dict[str, dict[str, Any]] = {name: dataclasses.asdict(getattr(config, name)) for name in SECTIONS}
    for assignment in assignments:
        target, sep, raw = assignment.partition("=")
        section, dot, key = target.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(f"{origin}: {assignment!r}: expected section.key=value")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        data.setdefault(section, {})[key] = value
    updated = from_dict(data, origin)
    updated.path = config.path
    return updated


def _coerce(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_values(config: Config, origin: str) -> None:
    errors = value_errors(config, origin)
    if errors:
        raise ConfigError(errors[0])


def value_errors(config: Config, origin: str) -> list[str]:
    """Every impossible value of a well-typed config (`hpcqctl config check` lists them all)."""
    errors: list[str] = []
    positive = [("ctld", "sched_interval"), ("ctld", "heartbeat_interval"), ("ctld", "node_timeout"),
                ("ctld", "max_pending_jobs"), ("ctld", "commit_batch"), ("ctld", "default_walltime"),
                ("ctld", "max_calls_in_flight"), ("ctld", "max_waiting_reads")]
    for section, key in positive:
        if getattr(getattr(config, section), key) <= 0:
            errors.append(f"{origin}: [{section}] {key}: must be greater than 0")
    for section, key in [("ctld", "sched_min_interval"), ("ctld", "kill_grace"), ("ctld", "sched_reservations"),
                         ("ctld", "max_batch_requeue"), ("ctld", "retry_backoff"), ("ctld", "retry_backoff_max"),
                         ("ctld", "retry_max_attempts"), ("ctld", "max_submit_jobs"), ("ctld", "max_running_jobs"),
                         ("ctld", "max_running_cpus"), ("ctld", "fairshare_gpu_weight"), ("ctld", "priority_max_age"),
                         ("ctld", "default_mem_per_cpu"), ("ctld", "allocation_grace_seconds"),
                         ("noded", "cpus"), ("noded", "memory_mb"),
                         ("agent", "rate"), ("agent", "burst"), ("agent", "min_uid"), ("client", "retry_seconds")]:
        if getattr(getattr(config, section), key) < 0:
            errors.append(f"{origin}: [{section}] {key}: must not be negative")
    if not 0 < config.ctld.reads_busy_share <= 1:
        errors.append(f"{origin}: [ctld] reads_busy_share: must be greater than 0 and at most 1")
    if config.ctld.fairshare_half_life <= 0:
        errors.append(f"{origin}: [ctld] fairshare_half_life: must be greater than 0")
    if not 1 <= config.ctld.max_array_size <= MAX_ARRAY_SIZE_LIMIT:
        errors.append(f"{origin}: [ctld] max_array_size: must be between 1 and {MAX_ARRAY_SIZE_LIMIT}")
    for item in config.ctld.private_data:
        if item not in PRIVATE_DATA:
            errors.append(f"{origin}: [ctld] private_data: {item!r} is not one of {', '.join(PRIVATE_DATA)}")
    for item in config.ctld.licenses:
        name, sep, count = item.partition(":")
        if not name or not sep or not count.isdigit():
            errors.append(f"{origin}: [ctld] licenses: {item!r} is not NAME:COUNT")
    if config.ctld.notify_url and not config.ctld.notify_url.startswith(("http://", "https://")):
        errors.append(f"{origin}: [ctld] notify_url: {config.ctld.notify_url!r} is not an http:// or https:// URL")
    if config.ctld.node_timeout <= config.ctld.heartbeat_interval:
        errors.append(f"{origin}: [ctld] node_timeout: must be longer than heartbeat_interval")
    if config.ctld.advertise and split_address(config.ctld.advertise) is None:
        errors.append(f"{origin}: [ctld] advertise: {config.ctld.advertise!r} is not HOST:PORT with a port 1-65535")
    for section in ("ctld", "noded", "agent"):
        listen = getattr(config, section).metrics_listen
        if listen and split_address(listen) is None:
            errors.append(f"{origin}: [{section}] metrics_listen: {listen!r} is not HOST:PORT with a port 1-65535")
    return errors


def split_address(address: str) -> tuple[str, int] | None:
    """("host", port) of `host:port` or `[v6]:port` with a port 1-65535; None if it is not one."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _nearest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def dump(config: Config) -> str:
    """TOML text of a config (only str, int, float, bool and list-of-str values occur)."""
    lines: list[str] = []
    for section_name in SECTIONS:
        section = getattr(config, section_name)
        lines.append(f"[{section_name}]")
        for f in dataclasses.fields(section):
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
