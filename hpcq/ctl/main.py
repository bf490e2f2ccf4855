"""hpcqctl: the administrator's tool."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hpcq.ctl import certs, scheduling, tail
from hpcq.errors import ConfigError, HpcqError

TYPE_CHECKING = False  # typing would cost every hpcqctl command its import
if TYPE_CHECKING:
    from google.protobuf.message import Message

    from hpcq.api import admin_pb2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hpcqctl", description="administer an hpcq cluster")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = sub.add_parser("up", help="start (or complete) the personal local cluster in $HPCQ_HOME")
    up.add_argument("--nodes", type=int, default=2, help="number of node daemons (default: 2)")
    up.add_argument("--cpus", type=int, default=0, help="CPUs each node offers (default: all)")
    up.add_argument("--memory", type=int, default=0, help="MiB each node offers (default: all)")
    up.add_argument("--database", default="", help="store URL for a new cluster (default: SQLite in $HPCQ_HOME)")
    up.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="change a config key of the local cluster (repeatable), e.g. ctld.node_timeout=30")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the local cluster's daemons")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="the cluster at a glance, with scheduler and store figures (as sdiag)")
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.add_argument("--metrics", metavar="URL",
                        help="ctld's metrics endpoint (default: from [ctld] metrics_listen)")
    status.set_defaults(func=cmd_status)

    certs.add_parser(sub)
    scheduling.add_parser(sub)
    tail.add_parser(sub)

    json_help = "print JSON for scripts"
    node = sub.add_parser("node", help="list, show, drain, resume or remove nodes")
    nsub = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    n = nsub.add_parser("list", help="every node and its state")
    n.add_argument("--json", action="store_true", help=json_help)
    n.set_defaults(func=cmd_node_list)
    n = nsub.add_parser("show", help="everything ctld knows of one node (as scontrol show node)")
    n.add_argument("name")
    n.add_argument("--json", action="store_true", help=json_help)
    n.set_defaults(func=cmd_node_show)
    for action, help_ in (("drain", "start no new job on a node; running jobs finish"),
                          ("resume", "take a drained node back into service"),
                          ("remove", "forget a node that runs no job (it registers again if it reconnects)")):
        n = nsub.add_parser(action, help=help_)
        n.add_argument("name")
        if action == "drain":
            n.add_argument("--reason", default="", help="shown by node list and sinfo -R")
        n.add_argument("--json", action="store_true", help=json_help)
        n.set_defaults(func=cmd_node_action, action=action)

    queue = sub.add_parser("queue", help="list, show, create, update or delete queues")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    q = qsub.add_parser("list", help="every queue and its settings")
    q.add_argument("--json", action="store_true", help=json_help)
    q.set_defaults(func=cmd_queue_list)
    q = qsub.add_parser("show", help="every setting of one queue and its jobs by state")
    q.add_argument("name")
    q.add_argument("--json", action="store_true", help=json_help)
    q.set_defaults(func=cmd_queue_show)
    for action, help_ in (("create", "add a queue"), ("update", "change the settings given, keep the others")):
        q = qsub.add_parser(action, help=help_)
        q.add_argument("name")
        q.add_argument("--default", action="store_true", dest="is_default", default=None,
                       help="make it the default queue")
        q.add_argument("--nodes", help="comma-separated node names (empty: every node)")
        q.add_argument("--default-walltime", type=int, metavar="SECONDS", help="walltime of jobs that ask for none")
        q.add_argument("--max-walltime", type=int, metavar="SECONDS", help="longest walltime accepted (0: unlimited)")
        q.add_argument("--priority", type=int, help="queue priority factor (Slurm PriorityTier/PriorityJobFactor)")
        q.add_argument("--state", choices=("up", "down", "drain", "inactive"),
                       help="up; down: queue, start none; drain: start queued, accept none; inactive: neither")
        q.add_argument("--max-running-per-user", type=int, metavar="N",
                       help="running jobs per user (0: unlimited; as MaxJobsPerUser / max_run)")
        q.add_argument("--max-cpus-per-user", type=int, metavar="N",
                       help="CPUs in use per user (0: unlimited; as MaxTRESPerUser=cpu)")
        q.add_argument("--max-submit-per-user", type=int, metavar="N",
                       help="unfinished jobs per user, array tasks counted; more are refused at submit (0: unlimited; "
                            "as MaxSubmitJobsPerUser / max_queued)")
        q.add_argument("--allowed-users", metavar="USER,...", help="who may submit (empty: everyone; as AllowAccounts)")
        q.add_argument("--json", action="store_true", help=json_help)
        q.set_defaults(func=cmd_queue_put, action=action)
    q = qsub.add_parser("delete", help="remove a queue that holds no unfinished job")
    q.add_argument("name")
    q.set_defaults(func=cmd_queue_delete)

    conf = sub.add_parser("config", help="check or show a configuration file")
    csub = conf.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("check", help="name every unknown key, wrong type and impossible value of FILE; exit 1 if any")
    c.add_argument("file", metavar="FILE")
    c.set_defaults(func=cmd_config_check)
    c = csub.add_parser("show", help="the effective configuration, defaults filled in (discovered, or FILE); "
                           "a database password shows as ***")
    c.add_argument("file", metavar="FILE", nargs="?")
    c.set_defaults(func=cmd_config_show)

    comp = sub.add_parser("completion", help="print a shell completion script")
    comp.add_argument("shell", choices=("bash", "zsh"))
    comp.set_defaults(func=cmd_completion)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HpcqError as e:
        from hpcq.ctl.connect import refusal_hint
        print(f"hpcqctl: {e.message}{refusal_hint(e.code)}", file=sys.stderr)
        return 1
    except (RuntimeError, TimeoutError, ConfigError) as e:
        print(f"hpcqctl: {e}", file=sys.stderr)
        return 1
    except PermissionError as e:  # a file or a daemon of another user
        print(f"hpcqctl: {str(e.filename) + ': ' if e.filename else ''}{e.strerror}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `hpcqctl … | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _client():
    from hpcq.ctl.connect import admin_client
    return admin_client()


def _own_local_cluster(command: str):
    """The local cluster in $HPCQ_HOME, if this user may start and stop it: its owner's
    (or root's). Another user's cluster hides its pid files, so it would look stopped."""
    from hpcq.ctl.local import LocalCluster
    cluster = LocalCluster()
    try:
        owner = cluster.home.stat().st_uid
    except FileNotFoundError:
        return cluster
    if os.geteuid() not in (owner, 0):
        import pwd
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = f"uid {owner}"
        raise RuntimeError(f"the local cluster in {cluster.home} belongs to {name}: only {name} may "
                           f"`hpcqctl {command}` it")
    return cluster


def cmd_up(args: argparse.Namespace) -> int:
    cluster = _own_local_cluster("up")
    started = cluster.up(args.nodes, args.cpus, args.memory, args.database, args.set)
    print(f"hpcq local cluster in {cluster.home}: "
          + (f"started {', '.join(started)}" if started else "already running"))
    print(f"config: {cluster.conf_path} (HPCQ_HOME={cluster.home})")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = _own_local_cluster("down").down()
    print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from hpcq import config as configuration
    from hpcq.ctl import status
    from hpcq.ctl.local import LocalCluster

    with _client() as client:
        info = client.server_info()
        nodes = client.nodes()
    local = LocalCluster()
    daemons = {d: local.running_pid(d) for d in local.daemons()}
    config = configuration.load()
    url = status.metrics_url(config, args.metrics)
    figures, why_not = status.read_metrics(url)
    if args.json:
        print(json.dumps({"cluster": info.cluster, "version": info.version, "start_time": info.start_time,
                          "next_job_id": info.next_job_id, "default_queue": info.default_queue,
                          "jobs": dict(info.jobs_by_state), "nodes": {n.name: _node_state(n) for n in nodes},
                          "daemons": daemons, "metrics": figures, "metrics_error": why_not or None,
                          "controllers": [{"address": c.address, "role": c.role, "since": c.since, "epoch": c.epoch}
                                          for c in info.controllers],
                          "last_takeover": info.last_takeover}, indent=2))
        return 0
    up = status.duration(max(0.0, time.time() - info.start_time)) if info.start_time else "?"
    print(f"cluster {info.cluster} (hpcq {info.version}), up {up}, next job id {info.next_job_id}, "
          f"default queue {info.default_queue}; you are {info.caller} ({info.caller_role})")
    for daemon, pid in daemons.items():
        print(f"  {daemon:<10} {'pid ' + str(pid) if pid else 'not running'}")
    for line in status.controller_lines(list(info.controllers), info.last_takeover, time.time()):
        print(line)
    print("jobs: " + (", ".join(f"{k.lower()} {v}" for k, v in sorted(info.jobs_by_state.items())) or "none"))
    print("nodes: " + (", ".join(f"{n.name} {_node_state(n)}" for n in nodes) or "none"))
    if figures is None:
        print(f"metrics: {why_not}")
    else:
        print("\n".join(status.render(figures, url)))
    return 0


def _node_state(node: admin_pb2.Node) -> str:
    from hpcq.api import admin_pb2
    return admin_pb2.NodeState.Name(node.state).removeprefix("NODE_").lower()


def _print_json(message_or_list: Message | list[Message]) -> None:
    from google.protobuf import json_format
    if isinstance(message_or_list, list):
        data = [json_format.MessageToDict(m, preserving_proto_field_name=True) for m in message_or_list]
    else:
        data = json_format.MessageToDict(message_or_list, preserving_proto_field_name=True)
    print(json.dumps(data, indent=2))


def cmd_node_list(args: argparse.Namespace) -> int:
    with _client() as client:
        nodes = client.nodes()
    if args.json:
        _print_json(nodes)
        return 0
    print(f"{'NODE':<12} {'STATE':<10} {'CPUS':>9} {'MEMORY_MB':>15} {'GPUS':>5} {'JOBS':>5}  REASON")
    for n in nodes:
        print(f"{n.name:<12} {_node_state(n):<10} {f'{n.cpus_allocated}/{n.hardware.cpus}':>9} "
              f"{f'{n.memory_allocated_mb}/{n.hardware.memory_mb}':>15} "
              f"{f'{n.gpus_allocated}/{len(n.hardware.gpus)}':>5} {len(n.job_ids):>5}  {n.reason}")
    return 0


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds)) if seconds else "-"


def cmd_node_show(args: argparse.Namespace) -> int:
    with _client() as client:
        nodes = client.nodes([args.name])
    if not nodes:
        raise HpcqError("UNKNOWN_NODE", f"node {args.name!r} does not exist")
    n = nodes[0]
    if args.json:
        _print_json(n)
        return 0
    hw = n.hardware
    rows = [("NodeName", n.name), ("State", _node_state(n).upper()), ("Reason", n.reason or "-"),
            ("Connected", "yes" if n.connected else "no"),
            ("CPUAlloc", n.cpus_allocated), ("CPUTot", hw.cpus), ("RealMemory", hw.memory_mb),
            ("AllocMem", n.memory_allocated_mb), ("Gres", f"gpu:{len(hw.gpus)}" if hw.gpus else "(null)"),
            ("GresUsed", f"gpu:{n.gpus_allocated}" if hw.gpus else "(null)"),
            ("AvailableFeatures", ",".join(hw.features) or "(null)"), ("CPULoad", f"{n.load.load_1m:.2f}"),
            ("Enforcement", hw.enforcement or "(unknown)"),
            ("Jobs", ",".join(map(str, n.job_ids)) or "(none)"),
            ("BootTime", _when(n.boot_time)), ("LastSeen", _when(n.last_seen))]
    for key, value in rows:
        print(f"{key:<18} {value}")
    return 0


def cmd_node_action(args: argparse.Namespace) -> int:
    with _client() as client:
        if args.action == "drain":
            node = client.drain_node(args.name, args.reason)
        elif args.action == "resume":
            node = client.resume_node(args.name)
        else:
            node = client.remove_node(args.name)
    if args.json:
        _print_json(node)
        return 0
    print(f"{node.name}: {'removed' if args.action == 'remove' else _node_state(node)}")
    return 0


def _queue_state(queue: admin_pb2.Queue) -> str:
    from hpcq.api import admin_pb2
    return admin_pb2.Queue.State.Name(queue.state).lower()


def cmd_queue_list(args: argparse.Namespace) -> int:
    with _client() as client:
        queues = client.queues()
    if args.json:
        _print_json(queues)
        return 0
    print(f"{'QUEUE':<12} {'STATE':<9} {'DEFAULT':<7} {'PRIO':>5} {'WALLTIME':>9} {'MAX':>9} {'RUN/USER':>8} "
          f"{'CPU/USER':>8}  NODES")
    for q in queues:
        print(f"{q.name:<12} {_queue_state(q):<9} {'yes' if q.is_default else '':<7} "
              f"{q.priority:>5} {q.default_walltime_seconds:>9} {q.max_walltime_seconds or '-':>9} "
              f"{q.max_running_per_user or '-':>8} {q.max_cpus_per_user or '-':>8}  {','.join(q.nodes) or 'all'}")
    return 0


def cmd_queue_show(args: argparse.Namespace) -> int:
    from hpcq.api import jobs_pb2
    with _client() as client:
        queues = client.queues([args.name])
        if not queues:
            raise HpcqError("UNKNOWN_QUEUE", f"queue {args.name!r} does not exist")
        jobs = client.list(queues=[args.name])
    q = queues[0]
    by_state: dict[str, int] = {}
    for job in jobs:
        name = jobs_pb2.JobState.Name(job.state)
        by_state[name] = by_state.get(name, 0) + 1
    if args.json:
        from google.protobuf import json_format
        print(json.dumps({**json_format.MessageToDict(q, preserving_proto_field_name=True),
                          "jobs_by_state": by_state}, indent=2))
        return 0
    rows = [("QueueName", q.name), ("State", _queue_state(q).upper()), ("Default", "YES" if q.is_default else "NO"),
            ("Priority", q.priority), ("Nodes", ",".join(q.nodes) or "ALL"),
            ("DefaultTime", _walltime(q.default_walltime_seconds)),
            ("MaxTime", _walltime(q.max_walltime_seconds) if q.max_walltime_seconds else "UNLIMITED"),
            ("MaxRunningPerUser", q.max_running_per_user or "UNLIMITED"),
            ("MaxCPUsPerUser", q.max_cpus_per_user or "UNLIMITED"),
            ("MaxSubmitPerUser", q.max_submit_per_user or "UNLIMITED"),
            ("AllowedUsers", ",".join(q.allowed_users) or "ALL"),
            ("Jobs", ", ".join(f"{k.lower()} {v}" for k, v in sorted(by_state.items())) or "none")]
    for key, value in rows:
        print(f"{key:<18} {value}")
    return 0


def _walltime(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def cmd_queue_put(args: argparse.Namespace) -> int:
    from hpcq.api import admin_pb2
    queue = admin_pb2.Queue(name=args.name)
    fields = []
    for attr, field, convert in (("is_default", "is_default", bool),
                                 ("default_walltime", "default_walltime_seconds", int),
                                 ("max_walltime", "max_walltime_seconds", int), ("priority", "priority", int),
                                 ("max_running_per_user", "max_running_per_user", int),
                                 ("max_cpus_per_user", "max_cpus_per_user", int),
                                 ("max_submit_per_user", "max_submit_per_user", int)):
        value = getattr(args, attr)
        if value is not None:
            if convert is int and value < 0 and field != "priority":
                raise HpcqError("BAD_QUEUE", f"--{attr.replace('_', '-')}: must not be negative")
            setattr(queue, field, convert(value))
            fields.append(field)
    for attr, field in (("nodes", "nodes"), ("allowed_users", "allowed_users")):
        value = getattr(args, attr)
        if value is not None:
            getattr(queue, field).extend(n.strip() for n in value.split(",") if n.strip())
            fields.append(field)
    if args.state is not None:
        queue.state = admin_pb2.Queue.State.Value(args.state.upper())
        fields.append("state")
    with _client() as client:
        if args.action == "create":
            if args.default_walltime is None:
                queue.default_walltime_seconds = 3600
            result = client.create_queue(queue)
        else:
            result = client.update_queue(queue, fields)
    if args.json:
        _print_json(result)
        return 0
    print(f"queue {args.name} {args.action}d")
    return 0


def cmd_queue_delete(args: argparse.Namespace) -> int:
    with _client() as client:
        client.delete_queue(args.name)
    print(f"queue {args.name} deleted")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from hpcq.ctl import configcheck
    errors = configcheck.check(Path(args.file))
    for error in errors:
        print(f"hpcqctl: {error}", file=sys.stderr)
    if errors:
        print(f"{args.file}: {len(errors)} error{'s' if len(errors) > 1 else ''}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from hpcq import config as configuration
    from hpcq import store_url
    config = configuration.load(args.file)
    config.ctld.database = store_url.shown(config.ctld.database)
    print(f"# {config.path or 'no config file found: defaults'}")
    print(configuration.dump(config), end="")
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    from hpcq.ctl import completion
    print(completion.script(build_parser(), args.shell), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
