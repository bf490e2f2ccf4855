"""hpcqctl: the administrator's tool."""
from __future__ import annotations

import argparse
import json
import sys

from hpcq.ctl import certs
from hpcq.errors import ConfigError, HpcqError


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
    status = sub.add_parser("status", help="what runs, and a summary of the cluster")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    certs.add_parser(sub)

    node = sub.add_parser("node", help="list, drain, resume or remove nodes")
    nsub = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    n = nsub.add_parser("list", help="every node and its state")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_node_list)
    for action in ("drain", "resume", "remove"):
        n = nsub.add_parser(action)
        n.add_argument("name")
        if action == "drain":
            n.add_argument("--reason", default="")
        n.set_defaults(func=cmd_node_action, action=action)

    queue = sub.add_parser("queue", help="list, create, update or delete queues")
    qsub = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    q = qsub.add_parser("list")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_queue_list)
    for action in ("create", "update"):
        q = qsub.add_parser(action)
        q.add_argument("name")
        q.add_argument("--default", action="store_true", dest="is_default", default=None,
                       help="make it the default queue")
        q.add_argument("--nodes", help="comma-separated node names (empty: every node)")
        q.add_argument("--default-walltime", type=int, help="seconds")
        q.add_argument("--max-walltime", type=int, help="seconds (0: unlimited)")
        q.add_argument("--priority", type=int)
        q.add_argument("--state", choices=("up", "down", "drain", "inactive"))
        q.set_defaults(func=cmd_queue_put, action=action)
    q = qsub.add_parser("delete")
    q.add_argument("name")
    q.set_defaults(func=cmd_queue_delete)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HpcqError as e:
        print(f"hpcqctl: {e.message}", file=sys.stderr)
        return 1
    except (RuntimeError, TimeoutError, ConfigError) as e:
        print(f"hpcqctl: {e}", file=sys.stderr)
        return 1


def _client():
    from hpcq.client import Client
    return Client.from_config(use_agent=False)


def cmd_up(args: argparse.Namespace) -> int:
    from hpcq.ctl.local import LocalCluster
    cluster = LocalCluster()
    started = cluster.up(args.nodes, args.cpus, args.memory, args.database, args.set)
    print(f"hpcq local cluster in {cluster.home}: " + (f"started {', '.join(started)}" if started else "already running"))
    print(f"config: {cluster.conf_path} (HPCQ_HOME={cluster.home})")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from hpcq.ctl.local import LocalCluster
    stopped = LocalCluster().down()
    print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from hpcq.ctl.local import LocalCluster
    local = LocalCluster()
    daemons = {d: local.running_pid(d) for d in local.daemons()}
    with _client() as client:
        info = client.server_info()
        nodes = client.nodes()
    if args.json:
        print(json.dumps({"cluster": info.cluster, "version": info.version, "jobs": dict(info.jobs_by_state),
                          "nodes": {n.name: _node_state(n) for n in nodes}, "daemons": daemons}, indent=2))
        return 0
    print(f"cluster {info.cluster} (hpcq {info.version}), next job id {info.next_job_id}, "
          f"default queue {info.default_queue}; you are {info.caller} ({info.caller_role})")
    for daemon, pid in daemons.items():
        print(f"  {daemon:<10} {'pid ' + str(pid) if pid else 'not running'}")
    print("jobs: " + (", ".join(f"{k.lower()} {v}" for k, v in sorted(info.jobs_by_state.items())) or "none"))
    print("nodes: " + (", ".join(f"{n.name} {_node_state(n)}" for n in nodes) or "none"))
    return 0


def _node_state(node) -> str:  # noqa: ANN001
    from hpcq.api import admin_pb2
    return admin_pb2.NodeState.Name(node.state).removeprefix("NODE_").lower()


def cmd_node_list(args: argparse.Namespace) -> int:
    with _client() as client:
        nodes = client.nodes()
    if args.json:
        from google.protobuf import json_format
        print(json.dumps([json_format.MessageToDict(n) for n in nodes], indent=2))
        return 0
    print(f"{'NODE':<12} {'STATE':<10} {'CPUS':>9} {'MEMORY_MB':>15} {'JOBS':>5}  REASON")
    for n in nodes:
        print(f"{n.name:<12} {_node_state(n):<10} {f'{n.cpus_allocated}/{n.hardware.cpus}':>9} "
              f"{f'{n.memory_allocated_mb}/{n.hardware.memory_mb}':>15} {len(n.job_ids):>5}  {n.reason}")
    return 0


def cmd_node_action(args: argparse.Namespace) -> int:
    with _client() as client:
        if args.action == "drain":
            node = client.drain_node(args.name, args.reason)
        elif args.action == "resume":
            node = client.resume_node(args.name)
        else:
            node = client.remove_node(args.name)
    print(f"{node.name}: {'removed' if args.action == 'remove' else _node_state(node)}")
    return 0


def cmd_queue_list(args: argparse.Namespace) -> int:
    with _client() as client:
        queues = client.queues()
    if args.json:
        from google.protobuf import json_format
        print(json.dumps([json_format.MessageToDict(q) for q in queues], indent=2))
        return 0
    from hpcq.api import admin_pb2
    print(f"{'QUEUE':<12} {'STATE':<9} {'DEFAULT':<7} {'PRIO':>5} {'WALLTIME':>9} {'MAX':>9}  NODES")
    for q in queues:
        print(f"{q.name:<12} {admin_pb2.Queue.State.Name(q.state).lower():<9} {'yes' if q.is_default else '':<7} "
              f"{q.priority:>5} {q.default_walltime_seconds:>9} {q.max_walltime_seconds or '-':>9}  "
              f"{','.join(q.nodes) or 'all'}")
    return 0


def cmd_queue_put(args: argparse.Namespace) -> int:
    from hpcq.api import admin_pb2
    queue = admin_pb2.Queue(name=args.name)
    fields = []
    for attr, field, convert in (("is_default", "is_default", bool), ("default_walltime", "default_walltime_seconds", int),
                                 ("max_walltime", "max_walltime_seconds", int), ("priority", "priority", int)):
        value = getattr(args, attr)
        if value is not None:
            setattr(queue, field, convert(value))
            fields.append(field)
    if args.nodes is not None:
        queue.nodes.extend(n for n in args.nodes.split(",") if n)
        fields.append("nodes")
    if args.state is not None:
        queue.state = admin_pb2.Queue.State.Value(args.state.upper())
        fields.append("state")
    with _client() as client:
        if args.action == "create":
            if args.default_walltime is None:
                queue.default_walltime_seconds = 3600
            client.create_queue(queue)
        else:
            client.update_queue(queue, fields)
    print(f"queue {args.name} {args.action}d")
    return 0


def cmd_queue_delete(args: argparse.Namespace) -> int:
    with _client() as client:
        client.delete_queue(args.name)
    print(f"queue {args.name} deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
