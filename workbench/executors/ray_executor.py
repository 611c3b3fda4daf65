"""Run workbench tasks on a Ray cluster: the executor seam's ``ray`` executor.

Each :class:`~workbench.executor.Task` becomes one Ray task, placed by capability
(:func:`workbench.capabilities.requirement_for`: a build for sm86 goes where sm86 can be
built, a timing run only to a GPU of the target's compute capability). A task nothing in
the cluster can serve is refused before anything starts (:class:`PlacementRefused`,
naming what is missing and what the cluster has).

On the node, the Ray task runs the worker-side function in an isolated process from the
node's warm :mod:`workbench.isolation` pool, exactly as the local executor does: a
TensorRT segfault, a hang past the time limit or a cancel comes back as
:class:`WorkerCrashed`, :class:`WorkerTimeout` or :class:`TaskCancelled` (with the
worker's log), and the Ray worker and the cluster live on.

Files cross by content. The file arguments of a task (its ``artifacts``, plus the model,
calibration and engine arguments of the workbench's own worker functions) are put into
Ray's object store once per SHA-256 and cached, on the node, in a content-addressed
folder; the task sees node-local paths. Output arguments (``Task.outputs``; the engine
path of a build, a transform's output) point into a private folder on the node, and
every file the task writes there or beside its inputs (the engine, its ``.build.log``)
comes back as bytes with its SHA-256, is checked, and is written where the caller asked;
paths in the result are rewritten to the caller's. A timing cache stays on the node.

Ray is imported only when the executor connects; the functions that run on the node
import only what their task needs. Every node needs trt-workbench installed (the same
version as the caller) and advertises what it can do when it starts::

    ray start --head --resources "$(python -m workbench.capabilities --ray-resources)" \\
        --labels "$(python -m workbench.capabilities --ray-labels)"
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import hashlib
import importlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import BackendInfo
from workbench.capabilities import ANY_BACKEND, describe_resources, refusal, requirement_for
from workbench.errors import WorkbenchError
from workbench.executor import PlacementRefused, Task
from workbench.isolation import IsolatedTaskError, TaskCancelled, WorkerCrashed, WorkerTimeout

#: Where a node keeps the files it was sent (by hash) and its tasks' private folders.
NODE_CACHE_ENV = "TRT_WORKBENCH_RAY_CACHE"
#: How many bytes of files-by-hash a node keeps (least recently used go first; default 8 GiB).
NODE_CACHE_BYTES_ENV = "TRT_WORKBENCH_RAY_CACHE_BYTES"
DEFAULT_NODE_CACHE_BYTES = 8 << 30
#: Ray's internal key-value namespace and key prefix of the running-task registry: each task
#: writes where it runs and its stage there (what ``cluster status`` and progress read).
KV_NAMESPACE = "trt-workbench"
KV_PREFIX = "trtwb/task/"

#: File arguments of the workbench's worker functions: (inputs, outputs, node-local).
#: Inputs are shipped by hash; outputs run on a private node path and come back (an
#: output that already exists at the caller is shipped in as well); node-local files (a
#: timing cache) stay on the node, one per caller path.
KNOWN_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "workbench.trt_worker:parse_and_check": (("model_path",), (), ()),
    "workbench.trt_worker:build_engine": (
        ("model_path", "calibration_npz"),
        ("engine_path", "calibration_cache_path"),
        ("timing_cache_path",),
    ),
    "workbench.precision:transform_model": (("model_path", "calibration_npz"), ("output_path",), ()),
    "workbench.trt_worker:profile_engine": (("engine_path",), (), ()),
    "workbench.trt_worker:engine_debug_tensors": (("model_path", "feeds_npz"), (), ()),
}

_ERRORS: dict[str, type[WorkbenchError]] = {
    "WorkerCrashed": WorkerCrashed,
    "WorkerTimeout": WorkerTimeout,
    "TaskCancelled": TaskCancelled,
    "IsolatedTaskError": IsolatedTaskError,
    "WorkbenchError": WorkbenchError,
}


@dataclass
class RemoteOutcome:
    """A finished Ray task: its result (as :meth:`RayExecutor.run` returns it) and where it ran."""

    result: Any
    node_id: str
    node_ip: str
    #: Node wall-clock times of the isolated run.
    started: float
    finished: float
    #: Argument -> SHA-256 of the file sent for it.
    shipped: dict[str, str] = field(default_factory=dict)
    #: Local path written -> SHA-256 of the bytes that came back.
    files: dict[str, str] = field(default_factory=dict)
    #: The arguments as the node saw them (its own paths).
    remote_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Running:
    task: Task
    ref: Any
    dirs: list[str]
    shipped: dict[str, str]
    id: str = ""


def _sha256_file(path: str | Path) -> tuple[str, bytes]:
    data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest(), data


def _external_files(model_path: str) -> list[str]:
    """The external data files an ONNX model names, relative to its folder (only those
    inside it: the loader refuses the others before any task starts)."""
    import mmap

    from workbench.external_data import external_refs

    try:
        with open(model_path, "rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapping:
            view = memoryview(mapping)
            try:
                locations = sorted({ref.location for ref in external_refs(view)})
            finally:
                view.release()
    except (OSError, ValueError, WorkbenchError):
        return []  # empty or not a model: the worker says so in its own words
    root = os.path.realpath(os.path.dirname(model_path))
    found = []
    for location in locations:
        full = os.path.realpath(os.path.join(root, location))
        if full.startswith(root + os.sep) and os.path.isfile(full):
            found.append(os.path.relpath(full, root))
    return found


def _last_line(exc: BaseException) -> str:
    """The most telling line of a Ray error (its last: the cause, after the traceback)."""
    text = str(exc).strip().splitlines()
    return text[-1].strip() if text else type(exc).__name__


def _chain_text(exc: BaseException) -> str:
    """The messages of an exception and of what caused it (Ray wraps the telling one)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


#: The executor whose ray.init() this process's Ray connection is (one cluster per process).
_CONNECTED_BY: RayExecutor | None = None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) that refuses TCP fails in one sentence, not
    after Ray's long retries."""
    bare = address[len("ray://"):] if address.startswith("ray://") else address
    if "://" in bare or bare == "auto" or ":" not in bare:
        return
    host, _, port = bare.rpartition(":")
    if not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise WorkbenchError(f"Cannot reach the Ray cluster at {address}: {exc.strerror or exc}.") from exc


def _use_token_if_given() -> None:
    """Token mode for this process when a token is given (``$RAY_AUTH_TOKEN``,
    ``$RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) and ``$RAY_AUTH_MODE`` does not say
    otherwise. Ray read the mode when it was imported, so its config is refreshed."""
    from workbench.executors.cluster import AUTH_MODE_ENV, read_token

    mode = os.environ.get(AUTH_MODE_ENV)
    if mode is not None and mode.lower() != "token":
        return
    if mode is None and not read_token():
        return
    os.environ[AUTH_MODE_ENV] = "token"
    with contextlib.suppress(Exception):
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


def _outward_ip() -> str | None:
    """This machine's outward address (what Ray puts in place of 127.0.0.1); no packet is sent."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))
        return str(probe.getsockname()[0])
    return None


def _loopback_only(address: str) -> bool:
    """A cluster on this machine that listens on 127.0.0.1 only (``cluster up``'s default)."""
    from workbench.executors.cluster import is_loopback, split_address

    host, port = split_address(address)
    if port is None or not is_loopback(host):
        return False
    outward = _outward_ip()
    if outward is None or is_loopback(outward):
        return True
    try:
        with socket.create_connection((outward, port), timeout=1.0):
            return False  # a plain `ray start` on every interface: Ray's usual addresses work
    except OSError:
        return True


_RAY_CLUSTER_DEFAULT: list[bool] = []


def _keep_loopback(keep: bool) -> bool:
    """With ``keep``, let this driver keep 127.0.0.1 as its node address (Ray would swap in
    the outward one, which a loopback-only cluster does not listen on); without, Ray's own
    behaviour (as it was before any loopback connection of this process)."""
    with contextlib.suppress(Exception):
        from ray._private import ray_constants

        if not _RAY_CLUSTER_DEFAULT:
            _RAY_CLUSTER_DEFAULT.append(bool(ray_constants.ENABLE_RAY_CLUSTER))
        ray_constants.ENABLE_RAY_CLUSTER = False if keep else _RAY_CLUSTER_DEFAULT[0]
    return keep


class RayExecutor:
    """Tasks as Ray tasks on the cluster at ``address`` (``HOST:6379``, ``ray://HOST:10001``
    or ``auto``), placed by capability, isolated on the node, files moved by hash."""

    name = "ray"

    def __init__(
        self,
        address: str,
        *,
        namespace: str = "trt-workbench",
        object_cache_bytes: int = 2 << 30,
        poll_seconds: float = 0.2,
        max_retries: int = 1,
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.object_cache_bytes = object_cache_bytes
        self.poll_seconds = poll_seconds
        #: Retries when the node or Ray worker is lost (never for the task's own failures).
        self.max_retries = max_retries
        self._lock = threading.RLock()
        self._connected = False
        self._owns_connection = False
        self._remote: Any = None
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._objects: collections.OrderedDict[str, tuple[Any, int]] = collections.OrderedDict()
        self._nodes: tuple[float, list[dict[str, Any]]] | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight = 0
        #: Task id -> the running Ray task (what cancel_all() cancels).
        self._running: dict[str, _Running] = {}
        #: Ray tasks this executor started (a rerun that finds everything cached starts none).
        self.submitted = 0
        self._previous_sigint: Any = None

    # ------------------------------------------------------------------ connection

    def connect(self) -> None:
        """Connect this process to the cluster (once; every call after the first is free).

        Raises:
            WorkbenchError: Ray is not installed, or the cluster cannot be reached.
        """
        with self._lock:
            if self._connected:
                return
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # Ray's C++ client logs its retries to stderr (read when Ray is imported): a
            # refusal is our one sentence.
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
            try:
                import ray
            except ImportError as exc:
                raise WorkbenchError(
                    "Running on a Ray cluster needs Ray here: pip install 'trt-workbench[ray]'."
                ) from exc
            global _CONNECTED_BY
            previous = _CONNECTED_BY
            if previous is not None and previous is not self and ray.is_initialized():
                # Ray connects a process to one cluster: another address means leaving the first.
                if previous._inflight:
                    raise WorkbenchError(
                        f"Tasks are still running on the Ray cluster at {previous.address}: "
                        f"wait for them or cancel them before switching to {self.address}."
                    )
                previous.close()
            if ray.is_initialized():
                self._owns_connection = False  # a notebook connected already: use its connection
            else:
                _check_reachable(self.address)
                _use_token_if_given()
                extra: dict[str, Any] = {}
                if _keep_loopback(_loopback_only(self.address)):
                    extra["_node_ip_address"] = "127.0.0.1"
                try:
                    ray.init(
                        address=self.address,
                        namespace=self.namespace,
                        log_to_driver=False,
                        logging_level=logging.ERROR,
                        **extra,
                    )
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        ray.shutdown()  # a half-made connection must not pass for one next time
                    if "uthenticat" in _chain_text(exc):
                        raise WorkbenchError(
                            f"The Ray cluster at {self.address} refused this machine's token: export "
                            "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (`ray get-auth-token` on the head prints it).",
                            detail=_chain_text(exc),
                        ) from exc
                    raise WorkbenchError(
                        f"Cannot connect to the Ray cluster at {self.address}: {_sentence(_last_line(exc))}",
                        detail=_chain_text(exc),
                    ) from exc
                self._owns_connection = True
                _CONNECTED_BY = self
            self._remote = ray.remote(_node_run)
            self._connected = True
            self._catch_interrupt()

    def _catch_interrupt(self) -> None:
        """Ctrl-C in a command's main thread cancels this executor's Ray tasks first, then
        interrupts as before (the waiting threads see the tasks cancelled and return)."""
        import signal

        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous is not signal.default_int_handler:
            return  # someone else handles Ctrl-C (a notebook kernel, an app)

        def interrupted(signum: int, frame: Any) -> None:
            self.cancel_all()
            signal.default_int_handler(signum, frame)

        signal.signal(signal.SIGINT, interrupted)
        self._previous_sigint = previous

    def cancel_all(self) -> int:
        """Cancel (force: the Ray worker and its isolated worker end) every task this
        executor has running; returns how many were asked to stop."""
        with self._lock:
            running = list(self._running.values())
        if not running:
            return 0
        import ray

        for item in running:
            with contextlib.suppress(Exception):
                ray.cancel(item.ref, force=True)
        return len(running)

    def close(self) -> None:
        """Drop cached objects and disconnect (when this executor made the connection)."""
        global _CONNECTED_BY
        with self._lock:
            self._objects.clear()
            self._nodes = None
            if self._previous_sigint is not None and threading.current_thread() is threading.main_thread():
                import signal

                signal.signal(signal.SIGINT, self._previous_sigint)
                self._previous_sigint = None
            if self._connected and self._owns_connection:
                import ray

                ray.shutdown()
            if _CONNECTED_BY is self:
                _CONNECTED_BY = None
            self._connected = False
            self._remote = None
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads that wait for Ray tasks (cheap: the cluster, not these, limits the parallelism)."""
        with self._lock:
            if self._threads is None:
                self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="trtwb-ray")
            return self._threads

    # ------------------------------------------------------------------ the cluster

    def nodes(self, *, fresh: bool = False) -> list[dict[str, Any]]:
        """Alive nodes: ``node_id``, ``ip``, ``resources``, ``labels``, ``description``."""
        self.connect()
        with self._lock:
            if not fresh and self._nodes is not None and time.monotonic() - self._nodes[0] < 5.0:
                return self._nodes[1]
        import ray

        nodes = [
            {
                "node_id": node.get("NodeID", ""),
                "ip": node.get("NodeManagerAddress", ""),
                "resources": dict(node.get("Resources") or {}),
                "labels": dict(node.get("Labels") or {}),
                "description": describe_resources(node.get("Resources") or {}),
                "hostname": node.get("NodeManagerHostname", ""),
                "is_head": "node:__internal_head__" in (node.get("Resources") or {}),
            }
            for node in ray.nodes()
            if node.get("Alive")
        ]
        with self._lock:
            self._nodes = (time.monotonic(), nodes)
        return nodes

    def backends(self) -> list[BackendInfo]:
        """Every TensorRT backend some alive node has, with its full version (what a build's
        cache key and result record, when no TensorRT is installed on the caller's machine)."""
        found: dict[tuple[str, str], BackendInfo] = {}
        for node in self.nodes():
            versions: dict[str, str] = {}
            for key in node["resources"]:
                if key.startswith(f"{ANY_BACKEND}_"):
                    name, _, version = key[len(f"{ANY_BACKEND}_"):].partition("_")
                    if version and len(version) > len(versions.get(name, "")):
                        versions[name] = version
            for name, version in versions.items():
                found.setdefault((name, version), BackendInfo(name=name, version=version))
        return sorted(found.values(), key=lambda b: (b.name, b.version))

    def describe(self) -> list[str]:
        """One line per alive node, for a "Run on" chooser: ``IP: what it can do``."""
        return [f"{n['ip']}: {n['description']}" for n in self.nodes()]

    def running_tasks(self) -> list[dict[str, Any]]:
        """Every workbench task running on the cluster now (from any caller), as the nodes
        report them: ``id``, ``kind``, ``node_id``, ``host``, ``stage``, ``attempt``,
        ``started`` and ``seconds`` (oldest first)."""
        self.connect()
        from ray.experimental import internal_kv

        found = []
        now = time.time()
        for key in internal_kv._internal_kv_list(KV_PREFIX, namespace=KV_NAMESPACE) or []:
            raw = internal_kv._internal_kv_get(key, namespace=KV_NAMESPACE)
            if not raw:
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            entry["seconds"] = round(now - float(entry.get("started", now)), 1)
            found.append(entry)
        return sorted(found, key=lambda e: e.get("started", 0))

    def stage_of(self, task_id: str) -> str | None:
        """The stage a running task last reported ("fetching inputs", "running", ...)."""
        from ray.experimental import internal_kv

        raw = internal_kv._internal_kv_get(KV_PREFIX + task_id, namespace=KV_NAMESPACE)
        if not raw:
            return None
        try:
            return str(json.loads(raw).get("stage"))
        except ValueError:
            return None

    def refusal(self, task: Task) -> str | None:
        """Why no node of the cluster can run ``task`` (one sentence), or None when one can."""
        requirement = requirement_for(task)
        reason = refusal(requirement, [n["resources"] for n in self.nodes()])
        if reason is not None:  # a node may have joined since the last look
            reason = refusal(requirement, [n["resources"] for n in self.nodes(fresh=True)])
        return reason

    # ------------------------------------------------------------------ running

    def run(
        self, task: Task, *, cancelled: Callable[[], bool] | None = None, on_stage: Callable[[str], None] | None = None
    ) -> Any:
        return self.run_detailed(task, cancelled=cancelled, on_stage=on_stage).result

    def run_detailed(
        self, task: Task, *, cancelled: Callable[[], bool] | None = None, on_stage: Callable[[str], None] | None = None
    ) -> RemoteOutcome:
        """Run ``task`` and say where it ran and which files came back. ``on_stage`` hears
        the stages the node reports ("queued", "fetching inputs", "running", "sending results")."""
        return self._finish(self._start(task), cancelled, on_stage)

    def submit(
        self, task: Task, *, cancelled: Callable[[], bool] | None = None, on_stage: Callable[[str], None] | None = None
    ) -> concurrent.futures.Future[Any]:
        """Start ``task`` now (a refusal is raised here, before anything runs)."""
        running = self._start(task)
        return self._pool().submit(lambda: self._finish(running, cancelled, on_stage).result)

    def submit_detailed(
        self, task: Task, *, cancelled: Callable[[], bool] | None = None, on_stage: Callable[[str], None] | None = None
    ) -> concurrent.futures.Future[RemoteOutcome]:
        running = self._start(task)
        return self._pool().submit(self._finish, running, cancelled, on_stage)

    def submit_many(
        self, tasks: list[Task], *, cancelled: Callable[[], bool] | None = None
    ) -> list[concurrent.futures.Future[Any]]:
        """Start every task at once; a task no node can serve gets a future that already
        holds its :class:`PlacementRefused`, so one impossible target does not stop the rest."""
        futures: list[concurrent.futures.Future[Any]] = []
        for task in tasks:
            try:
                futures.append(self.submit(task, cancelled=cancelled))
            except PlacementRefused as exc:
                failed: concurrent.futures.Future[Any] = concurrent.futures.Future()
                failed.set_exception(exc)
                futures.append(failed)
        return futures

    def _start(self, task: Task) -> _Running:
        self.connect()
        reason = self.refusal(task)
        if reason is not None:
            raise PlacementRefused(reason)
        requirement = requirement_for(task)
        spec, dirs, shipped = self._spec(task)
        spec["id"] = uuid.uuid4().hex
        spec["kind"] = task.kind
        spec["caller"] = socket.gethostname()
        options = requirement.ray_options()
        options.update(max_retries=self.max_retries, retry_exceptions=False, name=f"trt-workbench {task.kind}")
        ref = self._remote.options(**options).remote(spec)
        running = _Running(task=task, ref=ref, dirs=dirs, shipped=shipped, id=spec["id"])
        with self._lock:
            self._inflight += 1
            self.submitted += 1
            self._running[running.id] = running
        return running

    def _spec(self, task: Task) -> tuple[dict[str, Any], list[str], dict[str, str]]:
        """What the node needs: the task, its input files by hash (as object refs), where its
        outputs go, and the caller's folders those paths stand for."""
        known_in, known_out, node_local = KNOWN_FILES.get(task.func, ((), (), ()))
        dirs: list[str] = []

        def folder(path: str) -> int:
            parent = os.path.dirname(os.path.abspath(path))
            if parent not in dirs:
                dirs.append(parent)
            return dirs.index(parent)

        inputs: list[dict[str, Any]] = []
        shipped: dict[str, str] = {}

        def ship(arg: str | None, path: str, declared: str = "", *, name: str = "", copy: bool = False) -> None:
            sha, ref = self._object_for(path, declared)
            inputs.append(
                {"arg": arg, "sha256": sha, "name": name or os.path.basename(path), "dir": folder(path),
                 "ref": [ref], "copy": copy}
            )
            shipped[arg or os.path.abspath(path)] = sha

        names = list(dict.fromkeys([*task.artifacts, *known_in]))
        for arg in names:
            value = task.kwargs.get(arg)
            if not value:
                continue
            declared = task.artifacts[arg].sha256 if arg in task.artifacts else ""
            path = str(value)
            if not os.path.isfile(path):
                if arg in task.artifacts:
                    raise WorkbenchError(f"The task's {arg} names {path}, which is not a file here.")
                continue  # the worker reports a missing optional file in its own words
            index_before = len(inputs)
            ship(arg, path, declared)
            if path.endswith(".onnx"):
                # External data files go along, at their places relative to the model's folder.
                for location in _external_files(path):
                    ship(None, os.path.join(os.path.dirname(path), location), name=location)
                for item in inputs[index_before + 1:]:
                    item["dir"] = inputs[index_before]["dir"]
        outputs: dict[str, dict[str, Any]] = {}
        shipped_args = {item["arg"] for item in inputs}
        for arg in dict.fromkeys([*task.outputs, *known_out]):
            value = task.kwargs.get(arg)
            if not value:
                continue
            path = str(value)
            if os.path.isfile(path) and arg not in shipped_args:  # written in place: the old file goes in too
                ship(arg, path, copy=True)
            else:
                outputs[arg] = {"name": os.path.basename(path), "dir": folder(path)}
        spec = {
            "func": task.func,
            "kwargs": dict(task.kwargs),
            "env": dict(task.env),
            "timeout": task.timeout,
            "inputs": inputs,
            "outputs": outputs,
            "node_local": [a for a in node_local if task.kwargs.get(a)],
            "dirs": len(dirs),
        }
        return spec, dirs, shipped

    def _object_for(self, path: str, declared: str) -> tuple[str, Any]:
        """The file's SHA-256 and its object ref (put once per hash, kept in a bounded cache)."""
        import ray

        stat = os.stat(path)
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            sha = self._hashes.get(key)
            if sha is not None and sha in self._objects and (not declared or declared == sha):
                self._objects.move_to_end(sha)
                return sha, self._objects[sha][0]
        sha, data = _sha256_file(path)
        if declared and declared != sha:
            raise WorkbenchError(f"{path} changed after the task named it (its SHA-256 is no longer {declared[:12]}…).")
        with self._lock:
            self._hashes[key] = sha
            cached = self._objects.get(sha)
            if cached is not None:
                self._objects.move_to_end(sha)
                return sha, cached[0]
        ref = ray.put(data)
        with self._lock:
            self._objects[sha] = (ref, len(data))
            total = sum(size for _, size in self._objects.values())
            while total > self.object_cache_bytes and len(self._objects) > 1:
                _, (_, size) = self._objects.popitem(last=False)  # running tasks hold their own refs
                total -= size
        return sha, ref

    def _finish(
        self,
        running: _Running,
        cancelled: Callable[[], bool] | None,
        on_stage: Callable[[str], None] | None = None,
    ) -> RemoteOutcome:
        try:
            return self._await(running, cancelled, on_stage)
        finally:
            with self._lock:
                self._inflight -= 1
                self._running.pop(running.id, None)
            # A node that died mid-task left its entry behind: the caller removes it.
            with contextlib.suppress(Exception):
                from ray.experimental import internal_kv

                internal_kv._internal_kv_del(KV_PREFIX + running.id, namespace=KV_NAMESPACE)

    def _await(
        self,
        running: _Running,
        cancelled: Callable[[], bool] | None,
        on_stage: Callable[[str], None] | None = None,
    ) -> RemoteOutcome:
        import ray
        from ray import exceptions as rx

        heard = ""
        if on_stage is not None:
            on_stage("queued")
            heard = "queued"
        while True:
            ready, _ = ray.wait([running.ref], timeout=self.poll_seconds)
            if ready:
                break
            if cancelled is not None and cancelled():
                with contextlib.suppress(Exception):
                    ray.cancel(running.ref, force=True)
                raise TaskCancelled("Cancelled.")
            if on_stage is not None:
                with contextlib.suppress(Exception):
                    stage = self.stage_of(running.id)
                    if stage and stage != heard:
                        heard = stage
                        on_stage(stage)
        try:
            reply = ray.get(running.ref)
        except rx.TaskCancelledError as exc:
            raise TaskCancelled("Cancelled.") from exc
        except rx.RayTaskError as exc:
            raise IsolatedTaskError(
                f"The task failed on its Ray node before it ran: {_sentence(_last_line(exc))}", detail=str(exc)
            ) from exc
        except rx.RayError as exc:  # the Ray worker or its node was lost, or an object with it
            raise WorkerCrashed(f"The Ray worker running the task was lost: {_sentence(_last_line(exc))}", detail=str(exc)) from exc

        pairs = sorted(zip(reply["dirs"], running.dirs), key=lambda pair: -len(pair[0]))

        def local(text: str) -> str:
            for remote_dir, caller_dir in pairs:  # longest first: .../d1 must not eat .../d10
                text = text.replace(remote_dir, caller_dir)
            return text

        outcome = reply["outcome"]
        if outcome[0] == "error":
            _, kind, message, log, detail = outcome
            error_type = _ERRORS.get(kind, IsolatedTaskError)
            message = local(message)
            if error_type is WorkbenchError:
                raise WorkbenchError(message, detail=local(detail) if detail else detail)
            where = f" (on Ray node {reply['node_ip']})"
            message = message[:-1] + where + "." if message.endswith(".") else message + where
            raise error_type(message, log=local(log), detail=local(detail) if detail else detail)  # type: ignore[call-arg]
        files = self._write_back(reply["files"], running.dirs)
        result = _rewrite(outcome[1], local)
        if isinstance(result, dict):
            result["executed_on"] = {
                "executor": "ray",
                "node": {"id": reply["node_id"], "host": reply["node_ip"], "hostname": reply.get("hostname", "")},
                "attempt": reply.get("attempt", 1),
            }
        if on_stage is not None:
            on_stage("done")
        return RemoteOutcome(
            result=result,
            node_id=reply["node_id"],
            node_ip=reply["node_ip"],
            started=reply["started"],
            finished=reply["finished"],
            shipped=dict(running.shipped),
            files=files,
            remote_kwargs=reply["kwargs"],
        )

    @staticmethod
    def _write_back(files: list[tuple[int, str, str, bytes]], dirs: list[str]) -> dict[str, str]:
        written: dict[str, str] = {}
        for index, relative, sha, data in files:
            if hashlib.sha256(data).hexdigest() != sha:
                raise IsolatedTaskError(f"{relative} came back from the Ray node damaged (its SHA-256 does not match).")
            target = Path(dirs[index]) / relative
            written[str(target)] = sha
            if target.is_file() and target.stat().st_size == len(data) and _sha256_file(target)[0] == sha:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
            staged.write_bytes(data)
            os.replace(staged, target)
        return written


def _rewrite(value: Any, local: Callable[[str], str]) -> Any:
    """``value`` with every string passed through ``local`` (node paths -> the caller's)."""
    if isinstance(value, str):
        return local(value)
    if isinstance(value, dict):
        return {k: _rewrite(v, local) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, local) for v in value]
    if isinstance(value, tuple):
        return tuple(_rewrite(v, local) for v in value)
    return value


# ----------------------------------------------------------------------------- on the node


def node_cache_root() -> Path:
    """The node's folder for files by hash and task folders (``$TRT_WORKBENCH_RAY_CACHE``)."""
    configured = os.environ.get(NODE_CACHE_ENV)
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / f"trt-workbench-ray-{os.getuid()}"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_node_cache(root: Path, max_bytes: int | None = None) -> dict[str, int]:
    """Keep a node's cache bounded: task folders of Ray workers that are gone (killed mid-task)
    are removed, and files by hash beyond ``max_bytes`` (``$TRT_WORKBENCH_RAY_CACHE_BYTES``,
    default 8 GiB) go least recently used first. Returns what was removed."""
    if max_bytes is None:
        try:
            max_bytes = int(os.environ.get(NODE_CACHE_BYTES_ENV) or DEFAULT_NODE_CACHE_BYTES)
        except ValueError:
            max_bytes = DEFAULT_NODE_CACHE_BYTES
    removed = {"task_folders": 0, "files": 0, "bytes": 0}
    tasks = root / "tasks"
    if tasks.is_dir():
        for folder in tasks.iterdir():
            parts = folder.name.split("-")
            if len(parts) >= 3 and parts[0] == "task" and parts[1].isdigit() and not _pid_alive(int(parts[1])):
                shutil.rmtree(folder, ignore_errors=True)
                removed["task_folders"] += 1
    cas = root / "cas"
    if cas.is_dir():
        entries = []
        for path in cas.glob("*/*"):
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()  # a running task keeps its hard link: only the cached copy goes
                total -= size
                removed["files"] += 1
                removed["bytes"] += size
    return removed


def _report(spec: dict[str, Any], entry: dict[str, Any], stage: str) -> None:
    """Tell the cluster (its key-value store) what this task is doing now."""
    if not spec.get("id"):
        return
    from ray.experimental import internal_kv

    entry["stage"] = stage
    with contextlib.suppress(Exception):
        internal_kv._internal_kv_put(KV_PREFIX + spec["id"], json.dumps(entry), overwrite=True, namespace=KV_NAMESPACE)


def _previous_attempts(spec: dict[str, Any]) -> int:
    """How many times Ray started this task before (its registry entry survives a lost worker)."""
    if not spec.get("id"):
        return 0
    from ray.experimental import internal_kv

    with contextlib.suppress(Exception):
        raw = internal_kv._internal_kv_get(KV_PREFIX + spec["id"], namespace=KV_NAMESPACE)
        if raw:
            return int(json.loads(raw).get("attempt", 1))
    return 0


def _fetch(root: Path, sha: str, ref: Any) -> Path:
    """The node's copy of the file with this hash, fetched from the object store when missing."""
    import ray

    path = root / "cas" / sha[:2] / sha
    if path.is_file():
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return path
    data = ray.get(ref)
    if hashlib.sha256(data).hexdigest() != sha:
        raise WorkbenchError("A file sent to this node arrived damaged (its SHA-256 does not match).")
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{sha}.{os.getpid()}.{threading.get_ident()}.part")
    staged.write_bytes(data)
    os.replace(staged, path)
    return path


def _snapshot(folders: list[Path]) -> dict[Path, tuple[int, int]]:
    seen = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                seen[path] = (stat.st_size, stat.st_mtime_ns)
    return seen


def _node_run(spec: dict[str, Any]) -> dict[str, Any]:
    """The Ray task: materialise the files, run the function in an isolated worker, send
    back the outcome and every file written beside the task's file arguments."""
    import ray

    from workbench.isolation import run_isolated

    root = node_cache_root()
    (root / "tasks").mkdir(exist_ok=True)
    with contextlib.suppress(Exception):
        prune_node_cache(root)
    # The folder names its Ray worker: a worker killed mid-task leaves it for the next prune.
    scratch = Path(tempfile.mkdtemp(prefix=f"task-{os.getpid()}-", dir=root / "tasks"))
    context = ray.get_runtime_context()
    node_id = context.get_node_id()
    node_ip = ray.util.get_node_ip_address()
    attempt = _previous_attempts(spec) + 1
    entry = {
        "id": spec.get("id", ""), "kind": spec.get("kind", ""), "node_id": node_id, "host": node_ip,
        "hostname": socket.gethostname(), "pid": os.getpid(), "caller": spec.get("caller", ""),
        "attempt": attempt, "started": time.time(),
    }
    _report(spec, entry, "fetching inputs")
    try:
        folders = [scratch / f"d{i}" for i in range(spec["dirs"])]
        for folder in folders:
            folder.mkdir()
        kwargs = dict(spec["kwargs"])
        linked: dict[Path, tuple[int, int]] = {}
        for item in spec["inputs"]:
            source = _fetch(root, item["sha256"], item["ref"][0])
            dest = folders[item["dir"]] / item["name"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            if item["copy"]:
                shutil.copyfile(source, dest)
            else:
                try:
                    os.link(source, dest)
                    stat = source.stat()
                    linked[source] = (stat.st_size, stat.st_mtime_ns)
                except OSError:
                    shutil.copyfile(source, dest)
            if item["arg"] is not None:
                kwargs[item["arg"]] = str(dest)
        for arg, item in spec["outputs"].items():
            kwargs[arg] = str(folders[item["dir"]] / item["name"])
        for arg in spec["node_local"]:
            original = str(kwargs[arg])
            key = hashlib.sha256(f"{spec['func']}\n{original}".encode()).hexdigest()[:16]
            place = root / "node-local" / key
            place.mkdir(parents=True, exist_ok=True)
            kwargs[arg] = str(place / os.path.basename(original))
        before = _snapshot(folders)
        started = time.time()
        _report(spec, entry, "running")
        try:
            result = run_isolated(
                f"{__name__}:_guarded",
                {"func": spec["func"], "kwargs": kwargs, "parent": os.getpid()},
                timeout=spec["timeout"],
                env=spec["env"],
            )
            outcome: tuple[Any, ...] = ("ok", result)
        except IsolatedTaskError as exc:
            outcome = ("error", type(exc).__name__, exc.message, exc.log, exc.detail)
        except WorkbenchError as exc:
            outcome = ("error", "WorkbenchError", exc.message, "", exc.detail)
        finished = time.time()
        _report(spec, entry, "sending results")
        files = []
        if outcome[0] == "ok":
            for path, stamp in _snapshot(folders).items():
                if before.get(path) == stamp:
                    continue
                data = path.read_bytes()
                index = folders.index(next(f for f in folders if f in path.parents))
                relative = str(path.relative_to(folders[index]))
                files.append((index, relative, hashlib.sha256(data).hexdigest(), data))
        for source, stamp in linked.items():
            with contextlib.suppress(OSError):
                stat = source.stat()
                if (stat.st_size, stat.st_mtime_ns) != stamp:
                    source.unlink()  # the task wrote into its input: the cached copy is no longer that hash
        return {
            "outcome": outcome,
            "files": files,
            "dirs": [str(f) for f in folders],
            "node_id": node_id,
            "node_ip": node_ip,
            "hostname": socket.gethostname(),
            "attempt": attempt,
            "started": started,
            "finished": finished,
            "kwargs": kwargs,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if spec.get("id"):  # not reached when the worker is killed: the retry counts on the entry
            with contextlib.suppress(Exception):
                from ray.experimental import internal_kv

                internal_kv._internal_kv_del(KV_PREFIX + spec["id"], namespace=KV_NAMESPACE)


_WATCHING = False


def _watch_parent(parent: int) -> None:
    """End this isolated worker when the Ray worker that started it is gone (force-cancelled)."""
    global _WATCHING
    if _WATCHING:
        return
    _WATCHING = True

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="trtwb-parent-watch", daemon=True).start()


def _guarded(func: str, kwargs: dict[str, Any], parent: int) -> Any:
    """Runs in the isolated worker: watch the parent, then call ``module:function(**kwargs)``."""
    _watch_parent(parent)
    module_name, _, attr = func.partition(":")
    return getattr(importlib.import_module(module_name), attr)(**kwargs)
