"""The ``cluster`` and ``sweep`` commands (Ray), registered into the CLI's parser.

Kept apart from :mod:`workbench.cli` so the cluster work can grow without touching every
other command; nothing here imports Ray until a command runs (``--help`` stays fast).

* ``cluster up [--port P] [--address A]``: a Ray head that advertises this machine's
  capabilities, in the foreground until Ctrl-C;
* ``cluster join ADDRESS [--address A]``: a node of that cluster, the same way, after
  checking that Python, Ray and trt-workbench match the head's and that a backend exists;
* ``cluster status [--cluster ADDRESS] [--json]``: nodes, what they can do, what runs;
* ``sweep MODELS... [--precision ...] [--target ...] [-o DIR] [--json]``: the zoo table.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def add_commands(sub: Any) -> None:
    """Register this module's commands on the CLI's sub-parser collection."""
    p = sub.add_parser("cluster", help="start, join or look at a Ray cluster (token auth, 127.0.0.1, no usage stats)")
    actions = p.add_subparsers(dest="cluster_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _usage(p))

    up = actions.add_parser("up", help="start a Ray head here that advertises this machine's capabilities")
    up.add_argument("--port", type=_port, default=6379, help="the head's port (default: %(default)s)")
    _node_options(up)
    up.set_defaults(func=cmd_cluster_up)

    join = actions.add_parser("join", help="start a node here that joins the cluster at ADDRESS")
    join.add_argument("address", metavar="ADDRESS", help="the head, HOST:PORT (as `cluster up` printed it)")
    _node_options(join)
    join.set_defaults(func=cmd_cluster_join)

    status = actions.add_parser("status", help="nodes, their backends, GPUs and targets, and what is running")
    status.add_argument("--cluster", metavar="ADDRESS", help="the cluster (default: $TRT_WORKBENCH_CLUSTER)")
    status.add_argument("--json", action="store_true", help='print {"nodes": [...], "tasks": [...]}')
    status.set_defaults(func=cmd_cluster_status)

    sweep = sub.add_parser("sweep", help="a model zoo run: diagnose/build/accuracy/latency per model × configuration")
    sweep.add_argument("models", nargs="+", metavar="MODEL", help="ONNX files, .zip models, or folders of them")
    sweep.add_argument("--precision", default="fp32,fp16", help="comma-separated precisions (default: %(default)s)")
    sweep.add_argument("--target", help="comma-separated targets, one engine per target (sm80,sm86,sm89)")
    sweep.add_argument("--backend", default="auto", choices=["auto", "tensorrt", "tensorrt-rtx"])
    sweep.add_argument("--no-accuracy", action="store_true", help="skip the accuracy runs")
    sweep.add_argument("--no-latency", action="store_true", help="skip the latency runs")
    sweep.add_argument("--iterations", type=_positive, default=20, help="timed runs per latency (default: %(default)s)")
    sweep.add_argument("-o", "--output", help="workspace folder for engines, cells and the report (default: the user's cache)")
    sweep.add_argument("--json", action="store_true", help="print the table as JSON")
    sweep.set_defaults(func=cmd_sweep)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, not {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _node_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address", dest="listen", default=None, metavar="HOST",
        help="the address every port of this node listens on (default: 127.0.0.1; "
        "give this machine's address on a network you trust to serve other machines)",
    )
    p.add_argument("--client-port", type=_port, help="Ray Client's port on a head (default: a free port)")
    p.add_argument("--temp-dir", help="Ray's session folder (default: a folder of this user under the temp folder)")
    p.add_argument("--num-cpus", type=_positive, help="CPUs this node offers (default: all)")


# ----------------------------------------------------------------------------- cluster up / join


def _say(text: str) -> None:
    print(f"trt-workbench: {text}", flush=True)


def _serve(node: Any, role: str) -> int:
    """Wait in the foreground until Ctrl-C / SIGTERM (stops the node) or the node ends."""
    try:
        code = node.process.wait()
    except BaseException:
        _say(f"stopping the Ray {role}")
        node.stop()
        raise
    node.stop()
    lines = [ln for ln in node.log().splitlines() if ln.strip()]
    print(f"trt-workbench: error: the Ray {role} stopped (exit {code}): {lines[-1] if lines else 'no output'}",
          file=sys.stderr)
    return EXIT_FAILED


def _checked(node: Any, role: str) -> int | None:
    """The binding check: a loopback node whose processes listen beyond 127.0.0.1 is stopped."""
    exposed = node.exposed()
    if not exposed:
        return None
    node.stop()
    print(
        f"trt-workbench: error: the Ray {role} was asked to listen on 127.0.0.1 only, but "
        + "; ".join(str(s) for s in exposed)
        + " listened beyond it, so it was stopped.",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _log_path(spec: Any, role: str) -> Any:
    from workbench.executors.cluster import default_temp_dir

    folder = spec.temp_dir or default_temp_dir()
    return folder / f"trtwb-{role}-{spec.port if role == 'head' else 'node'}.log"


def _spec(args: argparse.Namespace, **fields: Any) -> Any:
    from pathlib import Path

    from workbench.executors.cluster import LOOPBACK, NodeSpec

    return NodeSpec(
        host=args.listen or LOOPBACK,
        client_port=args.client_port,
        temp_dir=Path(args.temp_dir).resolve() if args.temp_dir else None,
        num_cpus=args.num_cpus,
        **fields,
    )


def cmd_cluster_up(args: argparse.Namespace) -> int:
    from workbench.capabilities import local_capabilities
    from workbench.executors.cluster import ensure_token, is_loopback, local_versions, start_node

    token = ensure_token(create=True)
    spec = _spec(args, port=args.port)
    caps = local_capabilities()
    versions = local_versions()
    node = start_node(spec, _log_path(spec, "head"), attempts=2)
    failed = _checked(node, "head")
    if failed is not None:
        return failed
    address = f"{spec.host}:{spec.port}"
    _say(f"Ray head on {address}: {caps.describe()}")
    _say(f"versions: Python {versions['python']}, Ray {versions['ray']}, trt-workbench {versions['workbench']}")
    token_hint = "$RAY_AUTH_TOKEN" if token.startswith("$") else f"$(cat {token})"
    _say(f"token authentication on (token: {token}); callers and nodes need it: export RAY_AUTH_TOKEN={token_hint}")
    if is_loopback(spec.host):
        _say(f"every port listens on 127.0.0.1 only (checked {len(node.listening())} listening sockets)")
    else:
        _say(f"listening on {spec.host}, as asked: keep the network trusted, the token is the only gate")
    _say("Ray usage statistics off")
    _say(f"add a node: trt-workbench cluster join {address}   run tasks here: --cluster {address}")
    _say(f"Ray's log: {node.log_path}; Ctrl-C stops the head")
    return _serve(node, "head")


def cmd_cluster_join(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.executors.cluster import (
        ensure_token,
        head_versions,
        is_loopback,
        local_versions,
        mismatch_from_error,
        missing_for_join,
        split_address,
        start_node,
        version_mismatch,
    )
    from workbench.executors.ray_executor import RayExecutor

    host, port = split_address(args.address)
    if port is None or args.address.startswith("ray://"):
        raise WorkbenchError(f"Give the head as HOST:PORT (what `cluster up` printed), not {args.address!r}.")
    if not is_loopback(host) and not args.listen:
        raise WorkbenchError(
            f"The head at {args.address} is on another machine: give --address with this machine's address on a "
            "network you trust (every port of this node listens there)."
        )
    missing = missing_for_join()
    if missing:
        print(f"trt-workbench: error: {missing}", file=sys.stderr)
        return EXIT_FAILED
    ensure_token(create=False)
    here = local_versions()
    probe = RayExecutor(args.address)
    try:
        nodes = probe.nodes(fresh=True)
    except WorkbenchError as exc:
        gap = mismatch_from_error(exc.detail or exc.message, here)
        if gap:
            print(f"trt-workbench: error: {gap}", file=sys.stderr)
            return EXIT_FAILED
        raise
    finally:
        probe.close()
    gap = version_mismatch(head_versions(nodes), here)
    if gap:
        print(f"trt-workbench: error: {gap}", file=sys.stderr)
        return EXIT_FAILED
    spec = _spec(args, head_address=f"{host}:{port}")
    node = start_node(spec, _log_path(spec, "node"), attempts=2)
    failed = _checked(node, "node")
    if failed is not None:
        return failed
    from workbench.capabilities import local_capabilities

    _say(f"joined the Ray cluster at {args.address} as {spec.host}: {local_capabilities().describe()}")
    _say("token authentication on, Ray usage statistics off"
         + (", every port on 127.0.0.1 only (checked)" if is_loopback(spec.host) else ""))
    _say(f"Ray's log: {node.log_path}; Ctrl-C takes this node out of the cluster")
    return _serve(node, "node")


def cmd_cluster_status(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.executor import CLUSTER_ENV
    from workbench.executors import cluster_address, cluster_executor
    from workbench.executors.cluster import cluster_status, status_lines

    address = cluster_address(args.cluster)
    if address is None:
        raise WorkbenchError(f"Give --cluster ADDRESS or set {CLUSTER_ENV}: there is no cluster to report on.")
    status = cluster_status(cluster_executor(address))
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        for line in status_lines(status):
            print(line)
    return EXIT_OK


# ----------------------------------------------------------------------------- sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.capabilities import parse_targets
    from workbench.sweep import find_models, run_sweep, text_lines
    from workbench.workspace import Workspace

    find_models(args.models)  # a missing path is bad input before anything starts
    targets = parse_targets(args.target) if args.target else []
    workspace = Workspace(Path(args.output)) if args.output else Workspace.default()

    def progress(text: str) -> None:
        if not args.json:
            print(f"  {text}", file=sys.stderr, flush=True)

    result = run_sweep(
        args.models, args.precision.split(","), targets, workspace=workspace, backend=args.backend,
        accuracy=not args.no_accuracy, latency=not args.no_latency, iterations=args.iterations, progress=progress,
    )
    if args.json:
        payload = result.to_dict()
        payload["ok"] = result.ok
        print(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for line in text_lines(result):
            print(line)
    return EXIT_OK if result.ok else EXIT_FAILED
