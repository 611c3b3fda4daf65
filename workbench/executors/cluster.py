"""Start, join and look at a workbench Ray cluster, safe by default.

``trt-workbench cluster up`` / ``cluster join`` are :func:`start_node` in the foreground;
the tests start their clusters with the same function. Three things are always so:

* **Token authentication is on** (``RAY_AUTH_MODE=token``): the head uses
  ``$RAY_AUTH_TOKEN``, else the file ``$RAY_AUTH_TOKEN_PATH``, else Ray's own
  ``~/.ray/auth_token`` (created, mode 0600, when a head starts without one); a node
  that joins and every caller (``--cluster``) need the same token.
* **Every port is bound to 127.0.0.1** unless another address is asked for
  (``--address``). Ray on Linux replaces a loopback node address by the machine's
  outward address and then listens on every interface; the node is started with
  ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so it keeps 127.0.0.1, and after the start
  :meth:`StartedNode.exposed` lists every listening socket of the node's processes that
  is not on loopback (``cluster up`` stops the node and says which if there is one).
* **Ray's usage statistics are off** (``RAY_USAGE_STATS_ENABLED=0`` and
  ``--disable-usage-stats``).

Nothing here imports Ray at module level.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: Ray's own default token file (what ``ray get-auth-token`` reads).
DEFAULT_TOKEN_PATH = Path("~/.ray/auth_token")
#: Ray keeps a loopback node address only when this is 0 (see the module docstring).
KEEP_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    return host in ("localhost", "::1", "::ffff:127.0.0.1") or host.startswith("127.")


def split_address(address: str) -> tuple[str, int | None]:
    """``"ray://h:10001"`` / ``"h:6379"`` -> (host, port); (address, None) when it has no port."""
    bare = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = bare.rpartition(":")
    if not sep or not port.isdigit():
        return bare, None
    return host.strip("[]"), int(port)


def ray_version() -> str | None:
    """The installed Ray's version, from its metadata (Ray is not imported)."""
    from importlib import metadata

    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


def local_versions() -> dict[str, str]:
    """What a node must share with the head: Python, Ray and trt-workbench versions."""
    from workbench import __version__

    return {"python": platform.python_version(), "ray": ray_version() or "not installed", "workbench": __version__}


# ----------------------------------------------------------------------------- the token


def token_path() -> Path:
    return Path(os.environ.get(TOKEN_PATH_ENV) or DEFAULT_TOKEN_PATH).expanduser()


def ensure_token(*, create: bool) -> str:
    """Where this process's Ray token comes from (a phrase for messages); with ``create``, a
    token file is made (0600) when none is given.

    Raises:
        WorkbenchError: no token is given and ``create`` is False.
    """
    if os.environ.get(TOKEN_ENV):
        return f"${TOKEN_ENV}"
    path = token_path()
    if path.is_file() and path.read_text().strip():
        return str(path)
    if not create:
        raise WorkbenchError(
            f"No Ray authentication token here: export {TOKEN_ENV} with the head's token "
            f"(`ray get-auth-token` on the head prints it) or put it in {path}."
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))  # what `ray get-auth-token --generate` makes
    return str(path)


def read_token() -> str | None:
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    path = token_path()
    return path.read_text().strip() if path.is_file() else None


def node_environment(host: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a Ray node starts with: token mode, usage stats off, loopback kept."""
    env = dict(os.environ if base is None else base)
    env[AUTH_MODE_ENV] = "token"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    if is_loopback(host):
        env[KEEP_LOOPBACK_ENV] = "0"
    else:
        env.pop(KEEP_LOOPBACK_ENV, None)
    return env


# ----------------------------------------------------------------------------- sockets


@dataclass(frozen=True)
class Listening:
    """A listening TCP socket of a process."""

    pid: int
    process: str
    ip: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.ip)

    def __str__(self) -> str:
        return f"{self.process} (pid {self.pid}) on {self.ip}:{self.port}"


def _decode_ip(hex_ip: str) -> str:
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6 holds four little-endian 32-bit words.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def _listening_inodes() -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A: LISTEN
                continue
            ip, _, port = fields[1].partition(":")
            found[fields[9]] = (_decode_ip(ip), int(port, 16))
    return found


def session_pids(session: int) -> list[int]:
    """Processes of one session (a node started with ``start_new_session``: Ray's daemons
    and the workers they spawn)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == session:
            pids.append(int(entry.name))
    return pids


def listening_sockets(pids: list[int]) -> list[Listening]:
    """Every listening TCP socket the processes hold (Linux ``/proc``)."""
    inodes = _listening_inodes()
    found = []
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                ip, port = inodes[target[8:-1]]
                found.append(Listening(pid, name, ip, port))
    return sorted(set(found), key=lambda s: (s.pid, s.port))


# ----------------------------------------------------------------------------- starting a node


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as probe:
        probe.bind((host if host != "0.0.0.0" else "", 0))
        return int(probe.getsockname()[1])


def ray_command() -> list[str]:
    """The ``ray`` CLI of this Python (beside the interpreter, else on PATH)."""
    script = Path(sys.executable).with_name("ray")
    if script.is_file():
        return [str(script)]
    found = shutil.which("ray")
    if found is None:
        raise WorkbenchError("The ray command is not installed: pip install 'trt-workbench[ray]'.")
    return [found]


def default_temp_dir() -> Path:
    """Ray's session folder for nodes this user starts (short: Ray's socket paths are limited)."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"trtwb-ray-{os.getuid()}"


@dataclass
class NodeSpec:
    """What :func:`start_node` starts: a head (no ``head_address``) or a node joining one."""

    host: str = LOOPBACK
    port: int = 6379
    head_address: str | None = None
    client_port: int | None = None
    resources: dict[str, float] | None = None
    labels: dict[str, str] | None = None
    temp_dir: Path | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    object_store_bytes: int | None = None
    #: Extra environment for the node (a node cache folder, a TMPDIR).
    env: dict[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        from workbench.capabilities import (
            as_ray_labels,
            as_ray_resources,
            labels_argument,
            local_capabilities,
        )

        caps = None
        if self.resources is None or self.labels is None:
            caps = local_capabilities()
        resources = self.resources if self.resources is not None else as_ray_resources(caps)  # type: ignore[arg-type]
        labels = self.labels if self.labels is not None else as_ray_labels(caps)  # type: ignore[arg-type]
        ray_command()  # a clear sentence when Ray is missing
        argv = [sys.executable, "-m", "workbench.executors.ray_node", "start", "--block", f"--node-ip-address={self.host}"]
        if self.head_address is None:
            argv += ["--head", f"--port={self.port}", f"--ray-client-server-port={self.client_port or free_port(self.host)}",
                     "--include-dashboard=false", f"--dashboard-host={self.host}"]
        else:
            argv += [f"--address={self.head_address}"]
        argv += [
            "--disable-usage-stats",
            # A static cluster: no autoscaler, and no log streaming (callers run log_to_driver=False).
            "--no-monitor", "--include-log-monitor=false",
            # Fixed default ports would clash between two nodes on one machine.
            f"--dashboard-agent-listen-port={free_port(self.host)}", f"--metrics-export-port={free_port(self.host)}",
            f"--temp-dir={self.temp_dir or default_temp_dir()}",
            "--resources", json.dumps(resources, sort_keys=True), "--labels", labels_argument(labels),
        ]
        if self.num_cpus is not None:
            argv.append(f"--num-cpus={self.num_cpus}")
        if self.num_gpus is not None:
            argv.append(f"--num-gpus={self.num_gpus}")
        if self.object_store_bytes is not None:
            argv.append(f"--object-store-memory={self.object_store_bytes}")
        return argv


class StartedNode:
    """A ``ray start --block`` in its own session; its output goes to ``log_path``."""

    def __init__(self, spec: NodeSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = node_environment(spec.host)
        env.update(spec.env)
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            spec.argv(), env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def address(self) -> str:
        return self.spec.head_address or f"{self.spec.host}:{self.spec.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_started(self, timeout: float = 120.0) -> bool:
        """True once Ray says the node runs; False when it exits or the time is up."""
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def pids(self) -> list[int]:
        return session_pids(self.process.pid)

    def listening(self) -> list[Listening]:
        return listening_sockets(self.pids())

    def exposed(self) -> list[Listening]:
        """Listening sockets of this node's processes beyond loopback (empty when all are
        on 127.0.0.1, or when another address was asked for)."""
        if not is_loopback(self.spec.host):
            return []
        return [s for s in self.listening() if not s.loopback]

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM (``ray start --block`` stops what it started), then SIGKILL for what is left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log.close()


def start_node(spec: NodeSpec, log_path: Path, *, attempts: int = 1, timeout: float = 120.0) -> StartedNode:
    """Start a node and wait until it runs (a head needs a token: see :func:`ensure_token`).

    Raises:
        WorkbenchError: it did not come up (the end of Ray's log is the detail).
    """
    last: StartedNode | None = None
    for _ in range(max(1, attempts)):
        node = StartedNode(spec, log_path)
        if node.wait_started(timeout):
            return node
        last = node
        node.stop()
    tail = last.log()[-3000:] if last else ""
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    reason = _clean(lines[-1]) if lines else "it exited without a word"
    raise WorkbenchError(f"The Ray node did not start: {reason.rstrip('.')}.", detail=tail)


def _clean(line: str) -> str:
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return re.sub(r"^\S+ \S+\s+\w+ \S+ -- ", "", line).strip()


# ----------------------------------------------------------------------------- joining


_MISMATCH = re.compile(r"Ray: (\S+)\s+Python: (\S+)")


def version_mismatch(head: dict[str, str], here: dict[str, str]) -> str | None:
    """One sentence naming what differs between the head's versions and this machine's."""
    names = {"python": "Python", "ray": "Ray", "workbench": "trt-workbench"}
    gaps = [
        f"{names[k]} {here.get(k, '?')} here, {head[k]} on the head"
        for k in ("python", "ray", "workbench")
        if head.get(k) and here.get(k) and head[k] != here[k]
    ]
    if not gaps:
        return None
    return "This machine cannot join: " + "; ".join(gaps) + " (every node needs the same versions)."


def mismatch_from_error(text: str, here: dict[str, str]) -> str | None:
    """The version gap Ray's own refusal (``Version mismatch: ...``) describes, in our words."""
    if "ersion mismatch" not in text:
        return None
    found = _MISMATCH.findall(text)
    if not found:
        return None
    ray_v, python_v = found[0]
    return version_mismatch({"ray": ray_v, "python": python_v}, here)


def missing_for_join() -> str | None:
    """What this machine lacks to be a useful node (a backend), in one sentence, or None."""
    from workbench.backends import installed_backends

    if ray_version() is None:
        return "This machine cannot join: Ray is not installed (pip install 'trt-workbench[ray]')."
    if not installed_backends():
        return (
            "This machine cannot join: it has no TensorRT or TensorRT-RTX, so it could run no "
            "workbench task (pip install 'trt-workbench[rtx]', or full TensorRT on a GPU machine)."
        )
    return None


def head_versions(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """The versions the head's labels advertise (any node's, if no head is marked)."""
    from workbench.capabilities import LABEL_PREFIX

    for node in sorted(nodes, key=lambda n: not n.get("is_head")):
        labels = node.get("labels") or {}
        found = {k: labels.get(f"{LABEL_PREFIX}{k}", "") for k in ("python", "ray", "workbench")}
        if any(found.values()):
            return {k: v for k, v in found.items() if v}
    return {}


# ----------------------------------------------------------------------------- status


def node_record(node: dict[str, Any]) -> dict[str, Any]:
    """One node of ``cluster status --json``: id, address, backends, GPUs, targets."""
    from workbench.capabilities import ANY_BACKEND, LABEL_PREFIX, PREFIX

    resources: dict[str, float] = node.get("resources") or {}
    labels: dict[str, str] = node.get("labels") or {}
    versions: dict[str, str] = {}
    for key in resources:
        if key.startswith(f"{ANY_BACKEND}_"):
            name, _, version = key[len(f"{ANY_BACKEND}_"):].partition("_")
            if len(version) >= len(versions.get(name, "")):
                versions[name] = version
    aot = sorted((k[len(f"{PREFIX}aot_"):] for k in resources if k.startswith(f"{PREFIX}aot_")), key=_sm_key)
    gpu_sms = {k[len(f"{PREFIX}gpu_"):]: int(v) for k, v in resources.items() if k.startswith(f"{PREFIX}gpu_")}
    gpu_name = labels.get(f"{LABEL_PREFIX}gpu")
    gpus = [
        {"target": sm, "count": count, **({"name": gpu_name} if gpu_name and gpu_name != "none" else {})}
        for sm, count in sorted(gpu_sms.items(), key=lambda item: _sm_key(item[0]))
    ]
    return {
        "id": node.get("node_id", ""),
        "address": node.get("ip", ""),
        "head": bool(node.get("is_head")),
        "backends": [{"name": n, "version": v} for n, v in sorted(versions.items())],
        "gpus": gpus,
        "targets": sorted(set(aot) | set(gpu_sms), key=_sm_key),
        "aot_targets": aot,
        "timing_targets": sorted(gpu_sms, key=_sm_key),
        "cpus": resources.get("CPU", 0.0),
        "versions": {k: labels[f"{LABEL_PREFIX}{k}"] for k in ("python", "ray", "workbench") if f"{LABEL_PREFIX}{k}" in labels},
        "workbench": "trtwb_node" in resources,
        "description": node.get("description", ""),
    }


def _sm_key(target: str) -> int:
    digits = re.sub(r"[^0-9]", "", target)
    return int(digits) if digits else 0


def cluster_status(executor: Any) -> dict[str, Any]:
    """``{"nodes": [...], "tasks": [...]}`` of the cluster ``executor`` (a RayExecutor) reaches."""
    nodes = [node_record(n) for n in executor.nodes(fresh=True)]
    alive = {n["id"] for n in nodes}
    tasks = [t for t in executor.running_tasks() if t.get("node_id") in alive or not t.get("node_id")]
    return {"address": executor.address, "nodes": nodes, "tasks": tasks}


def status_lines(status: dict[str, Any]) -> list[str]:
    """The text view of :func:`cluster_status`."""
    nodes = status["nodes"]
    lines = [f"Ray cluster at {status['address']}: {len(nodes)} node{'s' if len(nodes) != 1 else ''}"]
    for node in nodes:
        head = " (head)" if node["head"] else ""
        lines.append(f"  {node['address']}{head} {node['id'][:12]}: {node['description']}")
    tasks = status["tasks"]
    if tasks:
        lines.append(f"Running: {len(tasks)} task{'s' if len(tasks) != 1 else ''}")
        for task in tasks:
            lines.append(
                f"  {task.get('kind', '?')} on {task.get('host', '?')}: {task.get('stage', '?')}"
                f" for {task.get('seconds', 0):.0f} s"
            )
    else:
        lines.append("Running: nothing")
    return lines
