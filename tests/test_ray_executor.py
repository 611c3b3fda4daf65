"""The Ray executor on a real Ray cluster this module starts (``ray start --head`` in a
subprocess, with a temporary folder, a free port and token authentication), whose node
advertises what ``python -m workbench.capabilities`` prints; the executor connects to it
by address, as a laptop connects to a shared cluster. Plus the cluster-free parts:
targets, requirements, refusals, the address precedence.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import has_module, sample

from workbench import executor as seam
from workbench.capabilities import (
    RTX_AOT_TARGETS,
    as_ray_resources,
    expand_targets,
    local_capabilities,
    parse_targets,
    refusal,
    requirement_for,
)
from workbench.errors import WorkbenchError
from workbench.executor import Needs, PlacementRefused, Task, file_artifact
from workbench.isolation import IsolatedTaskError, TaskCancelled, WorkerCrashed, WorkerTimeout

HELPERS = str(Path(__file__).parent / "helpers")
PARSE = "workbench.trt_worker:parse_and_check"
BUILD = "workbench.trt_worker:build_engine"
RTX_ENV = {"TRT_WORKBENCH_BACKEND": "tensorrt-rtx", "TRT_WORKBENCH_WORKER_PRELOAD": "workbench.trt_worker:warm_up"}

needs_rtx = pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed")


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


needs_ray = pytest.mark.skipif(not _ray_available(), reason="Ray is not installed (pip install 'trt-workbench[ray]')")


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- no cluster needed


def test_targets_are_parsed_and_checked() -> None:
    assert parse_targets("sm80, SM86,8.9,sm_120,86") == ["sm80", "sm86", "sm89", "sm120"]
    assert parse_targets(["sm80,sm86", "sm89"]) == ["sm80", "sm86", "sm89"]
    with pytest.raises(WorkbenchError, match=r"^Unknown target 'sm8x': write each target like sm86"):
        parse_targets("sm80,sm8x")
    with pytest.raises(WorkbenchError, match="at least one target"):
        parse_targets(" , ")


def test_configurations_expand_across_targets() -> None:
    from workbench.build import BuildConfig

    configs = [BuildConfig(precision="fp32"), BuildConfig(precision="fp16")]
    expanded = expand_targets(configs, ["sm80", "sm86"])
    assert [(c.precision, c.target) for c in expanded] == [
        ("fp32", "sm80"), ("fp32", "sm86"), ("fp16", "sm80"), ("fp16", "sm86"),
    ]
    assert configs[0].target is None  # copies, not the caller's objects
    assert expand_targets([{"precision": "int8"}], ["sm89"]) == [{"precision": "int8", "target": "sm89"}]
    assert expand_targets(configs, []) == configs


def test_the_cluster_address_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.executors import cluster_address, executor_for_cluster

    monkeypatch.delenv(seam.CLUSTER_ENV, raising=False)
    assert cluster_address(None) is None
    monkeypatch.setenv(seam.CLUSTER_ENV, "10.0.0.5:6379")
    assert cluster_address(None) == "10.0.0.5:6379"
    assert cluster_address("10.0.0.9:6379") == "10.0.0.9:6379"
    assert cluster_address("local") is None  # --cluster local runs here even with the variable set
    assert executor_for_cluster(None).name == "local"


def test_the_cluster_variable_alone_selects_the_ray_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(seam.EXECUTOR_ENV, raising=False)
    monkeypatch.setenv(seam.CLUSTER_ENV, "10.0.0.5:6379")
    try:
        chosen = seam.get_executor()  # nothing connects until a task runs
        assert chosen.name == "ray" and chosen.address == "10.0.0.5:6379"  # type: ignore[attr-defined]
        monkeypatch.setenv(seam.CLUSTER_ENV, "local")
        assert seam.get_executor().name == "local"
    finally:
        seam._FACTORIES.pop("ray", None)
        seam._INSTANCES.pop("ray", None)


def test_the_cluster_option_of_a_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.executors import apply_cluster_option

    monkeypatch.delenv(seam.EXECUTOR_ENV, raising=False)
    monkeypatch.setenv(seam.CLUSTER_ENV, "10.0.0.5:6379")
    try:
        assert apply_cluster_option(None).name == "ray"  # no flag: the variable decides
        assert apply_cluster_option("local").name == "local"  # the flag wins over the variable
        assert seam.get_executor().name == "local"  # ...for every task of the command
        chosen = apply_cluster_option("10.0.0.7:6379")
        assert seam.get_executor() is chosen and chosen.address == "10.0.0.7:6379"  # type: ignore[attr-defined]
    finally:
        seam.use_executor(None)
        seam._FACTORIES.pop("ray", None)
        seam._INSTANCES.pop("ray", None)


def test_requirements_follow_the_kind_of_task() -> None:
    parse = requirement_for(Task("parse", PARSE, {"backend": "tensorrt-rtx"}))
    assert parse.resources == {"trtwb_node": 1.0, "trtwb_backend_tensorrt-rtx": 1.0} and not parse.num_gpus
    build = requirement_for(Task("build", BUILD, {"backend": "tensorrt-rtx", "target": "8.6"}))
    assert build.resources["trtwb_aot_sm86"] == 1.0 and not build.num_gpus
    trt10 = requirement_for(Task("build", BUILD, {"backend": "tensorrt", "target": "sm86"}))
    assert trt10.resources["trtwb_gpu_sm86"] == 1.0 and trt10.num_gpus == 1  # full TensorRT builds on its GPU
    timing = requirement_for(
        Task("profile", "workbench.trt_worker:profile_engine", {"backend": "tensorrt-rtx"}, needs=Needs(target="sm89"))
    )
    assert timing.resources["trtwb_gpu_sm89"] == 1.0 and timing.num_gpus == 1
    pinned = requirement_for(Task("parse", PARSE, {"backend": "tensorrt-rtx"}, needs=Needs(backend_version="1.7")))
    assert "trtwb_backend_tensorrt-rtx_1.7" in pinned.resources
    transform = requirement_for(Task("transform", "workbench.precision:transform_model", {}))
    assert "trtwb_modelopt" in transform.resources


def test_a_refusal_names_what_is_missing_and_what_the_cluster_has() -> None:
    cpu_node = {"trtwb_node": 1000.0, "trtwb_backend": 1000.0, "trtwb_backend_tensorrt-rtx": 1000.0,
                "trtwb_backend_tensorrt-rtx_1.7.1.116": 1000.0, "trtwb_aot_sm86": 1000.0, "CPU": 2.0}
    gpu_node = {"trtwb_node": 1000.0, "trtwb_backend": 1000.0, "trtwb_backend_tensorrt": 1000.0,
                "trtwb_gpu_sm80": 1.0, "GPU": 1.0, "CPU": 8.0}
    timing = requirement_for(
        Task("profile", "workbench.trt_worker:profile_engine", {"backend": "tensorrt"}, needs=Needs(target="sm89"))
    )
    reason = refusal(timing, [cpu_node, gpu_node])
    assert reason is not None and reason.count(".") >= 1
    assert reason.startswith("Nothing in the cluster can time an engine on an SM89 GPU with TensorRT: ")
    assert "lacks an SM89 GPU (Ada: L4, L40, RTX 40xx" in reason
    assert "1x SM80 GPU" in reason and "TensorRT-RTX 1.7.1.116 (AOT builds for SM86)" in reason
    on_a100 = requirement_for(
        Task("profile", "workbench.trt_worker:profile_engine", {"backend": "tensorrt"}, needs=Needs(target="sm80"))
    )
    assert refusal(on_a100, [cpu_node, gpu_node]) is None
    plain_ray = refusal(requirement_for(Task("echo", "worker_tasks:echo", {})), [{"CPU": 4.0}])
    assert plain_ray is not None and "python -m workbench.capabilities --ray-resources" in plain_ray


@needs_rtx
def test_this_node_advertises_tensorrt_rtx_and_its_aot_targets() -> None:
    caps = local_capabilities()
    rtx = caps.backend("tensorrt-rtx")
    assert rtx is not None and caps.aot_targets == list(RTX_AOT_TARGETS)
    resources = as_ray_resources(caps)
    assert resources[f"trtwb_backend_tensorrt-rtx_{rtx.version}"] >= 1
    assert {f"trtwb_aot_{t}" for t in RTX_AOT_TARGETS} <= set(resources)
    printed = subprocess.run(
        [sys.executable, "-m", "workbench.capabilities", "--ray-resources"], capture_output=True, text=True, check=True
    )
    assert json.loads(printed.stdout) == resources


def test_a_node_cache_drops_dead_workers_folders_and_its_least_recently_used_files(tmp_path: Path) -> None:
    from workbench.executors.ray_executor import prune_node_cache

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs (a Ray worker killed mid-task)
    (tmp_path / "tasks" / f"task-{dead.pid}-abc").mkdir(parents=True)
    (tmp_path / "tasks" / f"task-{dead.pid}-abc" / "model.onnx").write_bytes(b"x" * 10)
    (tmp_path / "tasks" / f"task-{os.getpid()}-def").mkdir()
    files = []
    for i in range(4):
        path = tmp_path / "cas" / f"{i:02d}" / f"{i:064d}"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"y" * 100)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # file 0 used longest ago
        files.append(path)
    removed = prune_node_cache(tmp_path, max_bytes=250)
    assert removed == {"task_folders": 1, "files": 2, "bytes": 200}
    assert [p.exists() for p in files] == [False, False, True, True]
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == [f"task-{os.getpid()}-def"]


def test_join_says_which_versions_differ_and_needs_the_token(tmp_path: Path) -> None:
    from workbench.executors.cluster import mismatch_from_error, version_mismatch

    here = {"python": "3.11.9", "ray": "2.60.0", "workbench": "0.1.0"}
    assert version_mismatch(dict(here), here) is None
    gap = version_mismatch({"python": "3.12.1", "ray": "2.60.0", "workbench": "0.2.0"}, here)
    assert gap == ("This machine cannot join: Python 3.11.9 here, 3.12.1 on the head; trt-workbench 0.1.0 here, "
                   "0.2.0 on the head (every node needs the same versions).")
    ray_says = "Version mismatch: The cluster was started with:\n    Ray: 2.59.0\n    Python: 3.11.9\n..."
    assert mismatch_from_error(ray_says, here) == (
        "This machine cannot join: Ray 2.60.0 here, 2.59.0 on the head (every node needs the same versions).")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path), RAY_AUTH_TOKEN_PATH=str(tmp_path / "none"))
    out = subprocess.run([str(Path(sys.executable).with_name("trt-workbench")), "cluster", "join", "127.0.0.1:1"],
                         capture_output=True, text=True, env=env, timeout=60)
    if "cannot join" in out.stderr:  # this machine has no backend: that is said first
        assert out.returncode == 1
        return
    assert out.returncode == 2
    assert out.stderr == (
        "trt-workbench: error: No Ray authentication token here: export RAY_AUTH_TOKEN with the head's token "
        f"(`ray get-auth-token` on the head prints it) or put it in {tmp_path / 'none'}.\n"
    )


def test_listening_sockets_are_read_from_proc() -> None:
    from workbench.executors.cluster import listening_sockets

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        mine = [s for s in listening_sockets([os.getpid()]) if s.port == port]
    assert len(mine) == 1 and mine[0].ip == "127.0.0.1" and mine[0].loopback


@needs_ray
def test_an_unreachable_cluster_is_one_sentence() -> None:
    import ray

    from workbench.executors.ray_executor import RayExecutor

    if ray.is_initialized():
        pytest.skip("this process is already connected to a Ray cluster")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    started = time.monotonic()
    with pytest.raises(WorkbenchError, match=rf"^Cannot reach the Ray cluster at 127.0.0.1:{port}: "):
        RayExecutor(f"127.0.0.1:{port}").run(Task("echo", "worker_tasks:echo", {"value": 1}))
    assert time.monotonic() - started < 10


# ----------------------------------------------------------------------------- a real cluster


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ray_command() -> list[str]:
    script = Path(sys.executable).with_name("ray")
    if script.is_file():
        return [str(script)]
    found = shutil.which("ray")
    if found is None:
        pytest.skip("the ray command is not installed beside this Python")
    return [found]


class _Head:
    """``ray start --head --block`` in its own process group, stopped by its pid."""

    def __init__(self, root: Path, env: dict[str, str], resources: str, labels: str) -> None:
        self.port = _free_port()
        self.log_path = root / f"head-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *_ray_command(), "start", "--head", "--block",
                "--node-ip-address=127.0.0.1", f"--port={self.port}", f"--ray-client-server-port={_free_port()}",
                f"--temp-dir={root / 'ray'}", "--num-cpus=2", "--num-gpus=0",
                "--object-store-memory=200000000", "--include-dashboard=false", "--disable-usage-stats",
                # fewer processes starting at once on two cores (no autoscaler, no log streaming)
                "--no-monitor", "--include-log-monitor=false",
                "--resources", resources, "--labels", labels,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # ray start --block stops what it started
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=40)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever of its group is left (a failed start)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A one-node Ray cluster with this machine's advertised capabilities, and a
    RayExecutor connected to it by address."""
    if not _ray_available():
        pytest.skip("Ray is not installed (pip install 'trt-workbench[ray]')")
    from workbench.executors.ray_executor import NODE_CACHE_ENV, RayExecutor

    root = Path(tempfile.mkdtemp(prefix="trtwb-ray-", dir="/tmp"))  # Ray's socket paths must stay short
    resources = subprocess.run(
        [sys.executable, "-m", "workbench.capabilities", "--ray-resources"], capture_output=True, text=True, check=True
    ).stdout.strip()
    labels = subprocess.run(
        [sys.executable, "-m", "workbench.capabilities", "--ray-labels"], capture_output=True, text=True, check=True
    ).stdout.strip()
    # Ray reads RAY_AUTH_MODE when it is imported, and this process imported it already: the
    # test cluster listens on 127.0.0.1 without token authentication (a real one keeps
    # `ray start`'s default, token mode; callers export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=...).
    # TMPDIR: the node's worker logs land in the folder removed at the end, even those of
    # workers the cancel test has Ray kill.
    (root / "tmp").mkdir()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           NODE_CACHE_ENV: str(root / "node-cache"), "TMPDIR": str(root / "tmp")}
    for key in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        env.pop(key, None)
    heads: list[_Head] = []
    executor = None
    try:
        # The raylet gives the dashboard agent a fixed 15 s to report its ports; on two cores
        # shared with other work the agent's start can take longer and the raylet aborts.
        # Another attempt then starts with the imports in the page cache.
        for _ in range(3):
            head = _Head(root, env, resources, labels)
            heads.append(head)
            if head.wait_started():
                break
            head.stop()
        else:
            pytest.fail("ray start --head did not come up in 3 attempts:\n" + heads[-1].log()[-3000:])
        executor = RayExecutor(f"127.0.0.1:{head.port}")
        executor.connect()
        seam.register_executor("ray", lambda: executor)
        yield executor
    finally:
        seam._FACTORIES.pop("ray", None)
        seam._INSTANCES.pop("ray", None)
        if executor is not None:
            executor.close()
        for head in heads:
            head.stop()
        shutil.rmtree(root, ignore_errors=True)


def _isolated_workers_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (the test's isolated workers)."""
    found = []
    needle = f"TRTWB_TEST_MARK={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.ray
def test_the_node_advertises_what_it_can_do(cluster: Any) -> None:
    (node,) = cluster.nodes()
    assert node["resources"]["trtwb_node"] == 1000
    assert node["labels"]["trt-workbench/workbench"]
    if has_module("tensorrt-rtx"):
        assert node["resources"]["trtwb_aot_sm86"] == 1000
        assert "AOT builds for SM75, SM80, SM86, SM89, SM120" in node["description"]
        rtx = local_capabilities().backend("tensorrt-rtx")
        assert rtx in cluster.backends()  # what a caller without TensorRT records its builds under


@pytest.mark.ray
@needs_rtx
def test_a_parse_on_the_cluster_equals_the_local_one(cluster: Any) -> None:
    model = sample("detector.onnx").resolve()
    task = Task(
        "parse",
        PARSE,
        {"model_path": str(model), "backend": "tensorrt-rtx", "build_check": False, "target": None,
         "shapes": None, "capability": True},
        env=RTX_ENV,
        timeout=120,
        artifacts={"model_path": file_artifact(model)},
    )
    remote = cluster.run_detailed(task)
    local = seam.LocalExecutor().run(task)
    assert remote.shipped == {"model_path": sha256(model)}
    assert remote.remote_kwargs["model_path"] != str(model)  # the node parsed its own copy, by hash
    assert {k: v for k, v in remote.result.items() if k not in ("seconds", "executed_on")} == {
        k: v for k, v in local.items() if k not in ("seconds", "executed_on")
    }
    assert local["executed_on"] == {"executor": "local", "node": None}
    assert remote.result["executed_on"]["executor"] == "ray" and remote.result["executed_on"]["node"]["id"] == remote.node_id
    assert remote.result["parse_ok"] is True
    # A model with external data: its .data file travels with it, by hash, to its place.
    external = sample("external_data/detector_external.onnx").resolve()
    task = Task("parse", PARSE, {**task.kwargs, "model_path": str(external)}, env=RTX_ENV, timeout=120,
                artifacts={"model_path": file_artifact(external)})
    remote = cluster.run_detailed(task)
    data = external.with_name("detector_external.onnx.data")
    assert remote.shipped[str(data)] == sha256(data)
    assert remote.result["parse_ok"] is True and remote.result["network_inputs"] == local["network_inputs"]


@pytest.mark.ray
@needs_rtx
def test_engines_for_two_targets_come_back_by_hash(cluster: Any, tmp_path: Path) -> None:
    model = sample("detector.onnx").resolve()
    out = tmp_path / "engines"

    def build_task(target: str) -> Task:
        return Task(
            "build",
            BUILD,
            {"model_path": str(model), "engine_path": str(out / f"detector.{target}.engine"),
             "backend": "tensorrt-rtx", "precision": "fp32", "target": target,
             "timing_cache_path": str(tmp_path / "timing.cache")},
            env=RTX_ENV,
            timeout=300,
            artifacts={"model_path": file_artifact(model)},
        )

    futures = [cluster.submit_detailed(build_task(t)) for t in ("sm80", "sm86")]
    outcomes = [f.result(timeout=300) for f in futures]
    for target, outcome in zip(("sm80", "sm86"), outcomes):
        result = outcome.result
        assert result["ok"] is True and result["target"] == target
        engine = out / f"detector.{target}.engine"
        log = out / f"detector.{target}.build.log"
        assert engine.is_file() and engine.stat().st_size == result["engine_bytes"]
        assert outcome.files[str(engine)] == sha256(engine)  # the bytes the node hashed are the bytes here
        assert outcome.files[str(log)] == sha256(log) and result["log_path"] == str(log)
        assert outcome.remote_kwargs["engine_path"] != str(engine)  # built in the node's own folder
        assert outcome.shipped["model_path"] == sha256(model)
    assert not (tmp_path / "timing.cache").exists()  # the timing cache stays on the node
    assert sha256(out / "detector.sm80.engine") != sha256(out / "detector.sm86.engine")


@pytest.mark.ray
def test_tasks_run_in_parallel_across_the_cluster(cluster: Any) -> None:
    tasks = [Task("sleep", "worker_tasks:sleep_pid", {"seconds": 2.0}, env={"PYTHONPATH": HELPERS}) for _ in range(2)]
    started = time.monotonic()
    futures = seam.submit_many(tasks, executor="ray")  # the seam's batch call, on the registered executor
    pids = [f.result(timeout=60) for f in futures]
    assert len(set(pids)) == 2  # two isolated workers at once
    assert time.monotonic() - started < 3.9  # two 2 s tasks, not one after the other


@pytest.mark.ray
def test_a_timing_run_for_a_missing_gpu_is_refused_up_front(cluster: Any, tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not run")
    task = Task(
        "profile",
        "workbench.trt_worker:profile_engine",
        {"engine_path": str(engine), "backend": "tensorrt-rtx"},
        needs=Needs(target="sm89"),
    )
    started = time.monotonic()
    with pytest.raises(PlacementRefused) as refused:
        cluster.submit(task)
    assert time.monotonic() - started < 5
    message = refused.value.message
    assert message.startswith("Nothing in the cluster can time an engine on an SM89 GPU with TensorRT-RTX: ")
    assert "lacks an SM89 GPU" in message and "no GPU" in message
    # A build for an SM that TensorRT-RTX cannot build ahead of time is refused the same way,
    # and in a batch only that task fails.
    impossible = Task("build", BUILD, {"backend": "tensorrt-rtx", "target": "sm90"})
    echo = Task("echo", "worker_tasks:echo", {"value": 3}, env={"PYTHONPATH": HELPERS})
    ok, refused_build = cluster.submit_many([echo, impossible])
    assert ok.result(timeout=60)["value"] == 3
    with pytest.raises(PlacementRefused, match="ahead-of-time builds for SM90"):
        refused_build.result(timeout=1)


@pytest.mark.ray
def test_a_crash_comes_back_as_worker_crashed_and_the_cluster_lives_on(cluster: Any) -> None:
    with pytest.raises(WorkerCrashed) as crashed:
        cluster.run(Task("crash", "worker_tasks:segfault", {}, env={"PYTHONPATH": HELPERS}, timeout=60))
    assert "SIGSEGV" in crashed.value.message and "on Ray node" in crashed.value.message
    assert "about to crash" in crashed.value.log
    with pytest.raises(WorkerCrashed, match="SIGABRT"):
        cluster.run(Task("crash", "worker_tasks:abort", {}, env={"PYTHONPATH": HELPERS}, timeout=60))
    with pytest.raises(IsolatedTaskError, match="ValueError: bad value inside the worker"):
        cluster.run(Task("fail", "worker_tasks:fail", {}, env={"PYTHONPATH": HELPERS}, timeout=60))
    assert cluster.run(Task("echo", "worker_tasks:echo", {"value": 5}, env={"PYTHONPATH": HELPERS}))["value"] == 5
    assert len(cluster.nodes(fresh=True)) == 1


@pytest.mark.ray
def test_a_task_past_its_time_limit_is_stopped(cluster: Any) -> None:
    with pytest.raises(WorkerTimeout, match=r"longer than its 1 s limit and was stopped \(on Ray node"):
        cluster.run(Task("sleep", "worker_tasks:sleep", {"seconds": 60}, env={"PYTHONPATH": HELPERS}, timeout=1))


@pytest.mark.ray
def test_cancel_stops_a_sleeping_task_within_seconds(cluster: Any) -> None:
    marker = uuid.uuid4().hex
    task = Task("sleep", "worker_tasks:sleep", {"seconds": 120}, env={"PYTHONPATH": HELPERS, "TRTWB_TEST_MARK": marker})
    stop = threading.Event()
    future = cluster.submit(task, cancelled=stop.is_set)
    deadline = time.monotonic() + 60
    while not _isolated_workers_with(marker):  # the task really runs in an isolated worker
        assert time.monotonic() < deadline and not future.done(), "the sleeping task never started"
        time.sleep(0.1)
    stop.set()
    asked = time.monotonic()
    with pytest.raises(TaskCancelled):
        future.result(timeout=30)
    assert time.monotonic() - asked < 5
    deadline = time.monotonic() + 15
    while _isolated_workers_with(marker):  # and its process is gone, not left sleeping
        assert time.monotonic() < deadline, "the cancelled task's worker is still running"
        time.sleep(0.2)
    assert cluster.run(Task("echo", "worker_tasks:echo", {"value": 9}, env={"PYTHONPATH": HELPERS}))["value"] == 9


@pytest.mark.ray
def test_a_build_matrix_across_targets_runs_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    """The library's own build_matrix, with its tasks on the cluster: one engine per target,
    each back in the local workspace, the same as a local build."""
    from conftest import sample

    from workbench.build import BuildConfig, build_matrix
    from workbench.capabilities import expand_targets
    from workbench.model import load_model
    from workbench.workspace import Workspace

    seam.use_executor("ray")
    try:
        configs = expand_targets([BuildConfig(precision="fp32"), BuildConfig(precision="fp16")], ["sm80", "sm86"])
        results = build_matrix(load_model(sample("detector.onnx")), configs, workspace=Workspace(tmp_path / "ws"), max_parallel=4)
    finally:
        seam.use_executor(None)
    assert [(r.precision, r.target, r.ok) for r in results] == [
        ("fp32", "sm80", True), ("fp32", "sm86", True), ("fp16", "sm80", True), ("fp16", "sm86", True)
    ], [r.error for r in results]
    for result in results:
        engine = Path(result.engine_path or "")
        assert engine.is_file() and (tmp_path / "ws") in engine.parents
        assert engine.stat().st_size == result.engine_bytes
