"""A real two-node Ray cluster on 127.0.0.1 with token authentication: a head started by
the library (advertising this machine's TensorRT-RTX but AOT builds for SM75/SM80/SM86
only, two CPUs) and a second node started by ``trt-workbench cluster join`` (everything
this machine can do, one CPU). Builds across both, placement, the cache, Ctrl-C, a killed
Ray worker, ``cluster status --json``, the sweep, and the security defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import has_module, sample

from workbench import executor as seam
from workbench.executor import Task, file_artifact

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed"),
]

BUILD = "workbench.trt_worker:build_engine"
RTX_ENV = {"TRT_WORKBENCH_BACKEND": "tensorrt-rtx", "TRT_WORKBENCH_WORKER_PRELOAD": "workbench.trt_worker:warm_up"}
CLI = str(Path(sys.executable).with_name("trt-workbench"))
HEAD_AOT = ("sm75", "sm80", "sm86")


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _marked(marker: str) -> list[int]:
    """Pids of processes whose environment holds the cluster's marker (its nodes and workers)."""
    needle = f"TRTWB_TEST_CLUSTER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
    return found


def _titled(prefix: str, pids: list[int]) -> list[int]:
    """Of ``pids``, the Ray workers whose process title starts with ``prefix`` (Ray names a
    worker after the task it runs: ``ray::trt-workbench build``)."""
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(prefix.encode()):
                found.append(pid)
    return found


class Cluster:
    def __init__(self, root: Path, head: Any, join: subprocess.Popen[bytes], executor: Any, env: dict[str, str],
                 marker: str) -> None:
        self.root, self.head, self.join, self.executor, self.env, self.marker = root, head, join, executor, env, marker

    @property
    def address(self) -> str:
        return self.head.address

    def node_ids(self) -> dict[str, str]:
        """"head" / "joined" -> node id."""
        out = {}
        for node in self.executor.nodes(fresh=True):
            out["head" if node["is_head"] else "joined"] = node["node_id"]
        return out

    def cli(self, *argv: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, *argv], capture_output=True, text=True, timeout=timeout, env=env or self.env,
                              stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not _ray_available():
        pytest.skip("Ray is not installed (pip install 'trt-workbench[ray]')")
    from workbench.capabilities import as_ray_labels, as_ray_resources, local_capabilities
    from workbench.executors.cluster import NodeSpec, ensure_token, free_port, start_node
    from workbench.executors.ray_executor import NODE_CACHE_ENV, RayExecutor, _use_token_if_given

    root = Path(tempfile.mkdtemp(prefix="trtwb-c-", dir="/tmp"))  # Ray's socket paths must stay short
    marker = root.name
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ.pop("RAY_ADDRESS", None)
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(root / "token")
    os.environ["RAY_AUTH_MODE"] = "token"
    ensure_token(create=True)
    (root / "tmp").mkdir()
    base_env = {**os.environ, "TRTWB_TEST_CLUSTER": marker, "TMPDIR": str(root / "tmp")}
    caps = local_capabilities()
    resources = {k: v for k, v in as_ray_resources(caps).items()
                 if not k.startswith("trtwb_aot_") or k[len("trtwb_aot_"):] in HEAD_AOT}
    head = None
    join = None
    executor = None
    try:
        spec = NodeSpec(
            port=free_port(), client_port=free_port(), resources=resources, labels=as_ray_labels(caps),
            temp_dir=root / "h", num_cpus=2, object_store_bytes=150_000_000,
            env={"TRTWB_TEST_CLUSTER": marker, "TMPDIR": str(root / "tmp"), NODE_CACHE_ENV: str(root / "cache-head")},
        )
        head = start_node(spec, root / "head.log", attempts=3)
        join = subprocess.Popen(
            [CLI, "cluster", "join", head.address, "--temp-dir", str(root / "j"), "--num-cpus", "1"],
            env={**base_env, NODE_CACHE_ENV: str(root / "cache-joined"), "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": "0.01"},
            stdout=open(root / "join.out", "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # noqa: SIM115
            start_new_session=True,
        )
        _use_token_if_given()
        executor = RayExecutor(head.address)
        deadline = time.monotonic() + 180
        while len(executor.nodes(fresh=True)) < 2:
            if join.poll() is not None or time.monotonic() > deadline:
                pytest.fail("trt-workbench cluster join did not join:\n" + (root / "join.out").read_text()[-3000:])
            time.sleep(0.5)
        seam.register_executor("ray", lambda: executor)
        yield Cluster(root, head, join, executor, {**base_env, "TRT_WORKBENCH_CLUSTER": head.address}, marker)
    finally:
        seam.use_executor(None)
        seam._FACTORIES.pop("ray", None)
        seam._INSTANCES.pop("ray", None)
        if executor is not None:
            executor.close()
        if join is not None and join.poll() is None:
            join.send_signal(signal.SIGINT)  # the command stops its node on Ctrl-C
            with contextlib.suppress(subprocess.TimeoutExpired):
                join.wait(timeout=40)
        if head is not None:
            head.stop()
        for pid in _marked(marker):  # whatever of this cluster is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.suppress(Exception):
            from ray._private.authentication_test_utils import reset_auth_token_state

            reset_auth_token_state()
        shutil.rmtree(root, ignore_errors=True)


def _build_task(model: Path, engine: Path, target: str) -> Task:
    return Task(
        "build", BUILD,
        {"model_path": str(model), "engine_path": str(engine), "backend": "tensorrt-rtx", "precision": "fp32",
         "target": target},
        env=RTX_ENV, timeout=300, artifacts={"model_path": file_artifact(model)}, outputs=("engine_path",),
    )


# ----------------------------------------------------------------------------- the cluster


def test_status_json_names_both_nodes_and_what_they_can_build(cluster: Cluster) -> None:
    out = cluster.cli("cluster", "status", "--cluster", cluster.address, "--json", timeout=120)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert set(status) >= {"nodes", "tasks"} and status["tasks"] == []
    nodes = {("head" if n["head"] else "joined"): n for n in status["nodes"]}
    assert set(nodes) == {"head", "joined"}
    for node in nodes.values():
        assert set(node) >= {"id", "address", "backends", "gpus", "targets"}
        assert node["address"] == "127.0.0.1" and node["gpus"] == []
        assert [b["name"] for b in node["backends"]] == ["tensorrt-rtx"]
    assert nodes["head"]["targets"] == list(HEAD_AOT)
    assert nodes["joined"]["targets"] == ["sm75", "sm80", "sm86", "sm89", "sm120"]
    assert nodes["head"]["cpus"] == 2 and nodes["joined"]["cpus"] == 1
    text = cluster.cli("cluster", "status", "--cluster", cluster.address, timeout=120)
    assert text.returncode == 0 and "2 nodes" in text.stdout and "Running: nothing" in text.stdout


def test_every_port_of_both_nodes_listens_on_loopback_only(cluster: Cluster) -> None:
    from workbench.executors.cluster import listening_sockets

    sockets = listening_sockets([*_marked(cluster.marker), os.getpid()])
    assert len(sockets) >= 6, sockets  # GCS, two raylets, Ray Client, workers, this driver...
    assert any(s.port == cluster.head.spec.port for s in sockets)
    assert [str(s) for s in sockets if not s.loopback] == []
    assert cluster.head.exposed() == []
    assert "every port on 127.0.0.1 only (checked)" in (cluster.root / "join.out").read_text()


def test_a_caller_without_the_token_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("0" * 64)
    out = cluster.cli("cluster", "status", "--cluster", cluster.address, timeout=120,
                      env={**cluster.env, "RAY_AUTH_TOKEN_PATH": str(wrong)})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    # The last line is the sentence (Ray's C++ client may log its retry warning above it).
    assert out.stderr.splitlines()[-1].startswith(
        f"trt-workbench: error: The Ray cluster at {cluster.address} refused this machine's token"
    )


def test_builds_are_placed_by_target_and_come_back_with_where_they_ran(cluster: Cluster, tmp_path: Path) -> None:
    model = sample("detector.onnx").resolve()
    ids = cluster.node_ids()
    futures = {t: cluster.executor.submit_detailed(_build_task(model, tmp_path / f"d.{t}.engine", t))
               for t in ("sm89", "sm120", "sm80", "sm86")}
    outcomes = {t: f.result(timeout=600) for t, f in futures.items()}
    for target, outcome in outcomes.items():
        assert outcome.result["ok"] is True and (tmp_path / f"d.{target}.engine").is_file()
        ran_on = outcome.result["executed_on"]
        assert ran_on["executor"] == "ray" and ran_on["node"]["id"] == outcome.node_id
        assert ran_on["node"]["host"] == "127.0.0.1"
    # SM89 and SM120 only the joined node can build; SM80/SM86 either.
    assert outcomes["sm89"].node_id == ids["joined"] and outcomes["sm120"].node_id == ids["joined"]
    assert {o.node_id for o in outcomes.values()} == set(ids.values())


def test_the_build_matrix_lands_in_the_workspace_and_a_rerun_submits_nothing(cluster: Cluster, tmp_path: Path) -> None:
    from workbench.build import BuildConfig, build_matrix
    from workbench.capabilities import expand_targets
    from workbench.model import load_model
    from workbench.workspace import Workspace

    model = load_model(sample("detector.onnx"))
    configs = expand_targets([BuildConfig(precision="fp32", backend="tensorrt-rtx")], ["sm80", "sm86", "sm89"])
    workspace = Workspace(tmp_path / "ws")
    seam.use_executor("ray")
    try:
        heard: list[str] = []
        first = build_matrix(model, configs, workspace=workspace, max_parallel=3, progress=lambda p: heard.append(p.stage))
        before = cluster.executor.submitted
        again = build_matrix(model, configs, workspace=workspace, max_parallel=3)
    finally:
        seam.use_executor(None)
    assert [(r.target, r.ok, r.cached) for r in first] == [("sm80", True, False), ("sm86", True, False), ("sm89", True, False)]
    for result in first:
        assert (tmp_path / "ws") in Path(result.engine_path or "").parents
    assert [(r.target, r.cached) for r in again] == [("sm80", True), ("sm86", True), ("sm89", True)]
    assert cluster.executor.submitted == before  # the rerun started no Ray task
    # The cluster's own stages reach the matrix's progress while each build runs on a node
    # (the later ones, "running" and "sending results", only when a poll sees them).
    assert heard.count("building (queued)") == 3, heard


def test_ctrl_c_in_the_cli_cancels_the_ray_tasks_and_keeps_nothing(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "ws"
    process = subprocess.Popen(
        [CLI, "build", str(sample("resnet_cnn.onnx")), "--precision", "fp32", "--shapes", "input:1x3x224x224,1x3x224x224,1x3x224x224",
         "--target", "sm80,sm86,sm89", "--cluster", cluster.address, "-o", str(out)],
        env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _titled("ray::trt-workbench", _marked(cluster.marker)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no Ray task started"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    asked = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert time.monotonic() - asked < 20
    assert "cancelled" in stderr
    assert not out.exists()  # the interrupted command leaves -o as it was
    deadline = time.monotonic() + 20
    while _titled("ray::trt-workbench", _marked(cluster.marker)):
        assert time.monotonic() < deadline, "a cancelled Ray task is still running"
        time.sleep(0.2)


def _kill_during(marker: str, title: str, times: int, stop: threading.Event) -> list[int]:
    """SIGKILL the Ray worker of this cluster running a task titled ``title``, ``times``
    times (the first attempt's, then its retry's)."""
    killed: list[int] = []
    while len(killed) < times and not stop.is_set():
        for pid in _titled(title, _marked(marker)):
            if pid not in killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        time.sleep(0.02)
    return killed


def test_a_killed_ray_worker_is_retried_once_and_the_engine_still_lands(cluster: Cluster, tmp_path: Path) -> None:
    model = sample("resnet_cnn.onnx").resolve()
    engine = tmp_path / "r.engine"
    task = Task(
        "build", BUILD,
        {"model_path": str(model), "engine_path": str(engine), "backend": "tensorrt-rtx", "precision": "fp32",
         "target": "sm86", "profiles": [{"input": [[1, 3, 224, 224]] * 3}]},
        env=RTX_ENV, timeout=300, artifacts={"model_path": file_artifact(model)}, outputs=("engine_path",),
    )
    # The build takes a second or two; on a loaded machine the killer can find the worker
    # only after it sent its result (then the first attempt simply succeeded). Such a miss
    # says nothing about retries, so the scenario runs again, up to three times, until the
    # kill lands while the build runs; a broken retry would fail the build, not pass it.
    for _ in range(3):
        engine.unlink(missing_ok=True)
        stop = threading.Event()
        killer: list[int] = []
        thread = threading.Thread(
            target=lambda killer=killer, stop=stop: killer.extend(
                _kill_during(cluster.marker, "ray::trt-workbench build", 1, stop)
            )
        )
        thread.start()
        try:
            outcome = cluster.executor.run_detailed(task)
        finally:
            stop.set()
            thread.join()
        assert outcome.result["ok"] is True
        assert engine.is_file() and engine.stat().st_size == outcome.result["engine_bytes"]
        if outcome.result["executed_on"]["attempt"] == 2:
            break
    assert len(killer) == 1 and outcome.result["executed_on"]["attempt"] == 2, "the kill never landed during a build"


def test_a_build_whose_worker_dies_every_time_fails_with_the_reason_and_leaves_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    from workbench.build import BuildConfig, build
    from workbench.model import load_model
    from workbench.workspace import Workspace

    # As above: a kill that comes after an attempt already answered is a miss (the build then
    # succeeds); run again in a fresh workspace, up to three times, until both kills land.
    for attempt in range(3):
        workspace = Workspace(tmp_path / f"ws{attempt}")
        stop = threading.Event()
        killer: list[int] = []
        thread = threading.Thread(
            target=lambda killer=killer, stop=stop: killer.extend(
                _kill_during(cluster.marker, "ray::trt-workbench build", 2, stop)
            )
        )
        thread.start()
        seam.use_executor("ray")
        try:
            result = build(load_model(sample("detector.onnx")), BuildConfig(precision="fp32", target="sm89",
                                                                             backend="tensorrt-rtx"), workspace=workspace)
        finally:
            seam.use_executor(None)
            stop.set()
            thread.join()
        if not result.ok:
            break
    assert len(killer) == 2  # the first attempt and its one retry
    assert result.ok is False and "The Ray worker running the task was lost" in (result.error or "")
    engines = workspace.root / "engines"
    assert not engines.exists() or not any(p.is_file() for p in engines.rglob("*"))


def test_a_sweep_runs_on_the_cluster_and_resumes_from_the_cache(cluster: Cluster, tmp_path: Path) -> None:
    from workbench.sweep import run_sweep
    from workbench.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    detector = sample("detector.onnx")
    broken = sample("broken_contrib_ops.onnx")
    seam.use_executor("ray")
    try:
        first = run_sweep([detector], ["fp32"], ["sm86", "sm89"], workspace=workspace)
        resumed = run_sweep([detector, broken], ["fp32"], ["sm86", "sm89"], workspace=workspace)
        before = cluster.executor.submitted
        again = run_sweep([detector, broken], ["fp32"], ["sm86", "sm89"], workspace=workspace)
    finally:
        seam.use_executor(None)
    assert first.executor == "ray" and [c.ok for c in first.cells] == [True, True] and first.ran >= 3
    assert [c.target for c in first.cells] == ["sm86", "sm89"]
    assert all(c.latency_ms and c.cosine == 1.0 for c in first.cells)
    # The detector's cells came from the cache; only the new model ran (its parse).
    assert [sorted(c.cached) for c in resumed.cells[:2]] == [["accuracy", "build", "diagnose", "latency"]] * 2
    assert resumed.ran == 1 and [c.parses for c in resumed.cells] == [True, True, False, False]
    assert again.ran == 0 and cluster.executor.submitted == before
    assert Path(again.report_path or "").is_file()


def test_the_sweep_command_prints_one_table(cluster: Cluster, tmp_path: Path) -> None:
    out = cluster.cli("sweep", str(sample("detector.onnx")), "--precision", "fp32", "--target", "sm80",
                      "--cluster", cluster.address, "-o", str(tmp_path / "ws"), "--json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    (cell,) = payload["cells"]
    assert payload["ok"] is True and payload["executor"] == "ray"
    assert cell["build_ok"] is True and cell["target"] == "sm80" and cell["latency_backend"].startswith("onnxruntime")


def test_a_caller_without_any_tensorrt_builds_three_targets_on_the_cluster(cluster: Cluster, tmp_path: Path) -> None:
    """The issue's "done when": from a machine with no TensorRT at all (here: a caller in which
    neither tensorrt nor tensorrt_rtx can be imported), the CLI builds a real model for three
    targets on the two-node cluster, the engines land in the workspace and a rerun submits
    nothing. The nodes are other processes: they keep their TensorRT-RTX."""
    out = tmp_path / "ws"
    code = (
        "import sys\n"
        "sys.modules['tensorrt'] = None; sys.modules['tensorrt_rtx'] = None  # no TensorRT in this process\n"
        "from workbench.backends import installed_backends\n"
        "assert installed_backends() == [], installed_backends()\n"
        "from workbench.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    argv = [
        sys.executable, "-c", code, "build", str(sample("detector.onnx")), "--precision", "fp32",
        "--target", "sm80,sm86,sm89", "--cluster", cluster.address, "-o", str(out), "--json",
    ]
    first = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    results = json.loads(first.stdout)["builds"]
    assert sorted((r["target"], r["ok"]) for r in results) == [("sm80", True), ("sm86", True), ("sm89", True)]
    for r in results:
        assert r["backend"]["name"] == "tensorrt-rtx" and r["backend"]["version"]  # the nodes' backend
        assert r["executor"] == "ray" and r["node"]["id"]
        assert out in Path(r["engine_path"]).parents and Path(r["engine_path"]).stat().st_size > 0
    again = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(r["cached"] for r in json.loads(again.stdout)["builds"])


def test_the_app_without_any_tensorrt_builds_three_targets_on_the_cluster(cluster: Cluster, tmp_path: Path) -> None:
    """The same from the app (Streamlit AppTest in a process where TensorRT cannot be
    imported): "Run on" in the sidebar names the cluster, the Build page builds one engine
    per target on it, and the results say where they ran."""
    root = Path(__file__).resolve().parent.parent
    code = f"""
import json, sys
sys.modules['tensorrt'] = None; sys.modules['tensorrt_rtx'] = None
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(root / 'app.py')!r}, default_timeout=600).run()
box = at.selectbox(key="model_sample")
at = box.select(next(o for o in box.options if "detector.onnx" in o)).run()
at.text_input(key="run_on_address").set_value({cluster.address!r})
at = next(b for b in at.button if b.label == "Use").click().run()
assert not at.exception, at.exception
at.switch_page("workbench/ui/build_page.py")
at = at.run()
assert not [e.value for e in at.error], [e.value for e in at.error]
at = at.multiselect(key="build_precisions").set_value(["fp32"]).run()
at = at.multiselect(key="build_targets").set_value(["sm80", "sm86", "sm89"]).run()
at = at.button(key="build_run").click().run()
assert not at.exception, at.exception
builds = at.session_state["trt_workbench_session"].builds
print(json.dumps([[b.target, b.ok, b.executor, b.engine_path, b.error] for b in builds]))
"""
    env = {**cluster.env, "TRT_WORKBENCH_HOME": str(tmp_path / "home")}
    env.pop("TRT_WORKBENCH_CLUSTER", None)  # the sidebar's choice, not the environment's
    ran = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900,
                         stdin=subprocess.DEVNULL, cwd=root)
    assert ran.returncode == 0, ran.stderr[-3000:]
    builds = json.loads(ran.stdout.strip().splitlines()[-1])
    assert sorted((t, ok, executor) for t, ok, executor, _, _ in builds) == [
        ("sm80", True, "ray"), ("sm86", True, "ray"), ("sm89", True, "ray")
    ], builds
    for _, _, _, engine, _ in builds:
        assert (tmp_path / "home") in Path(engine).parents and Path(engine).stat().st_size > 0
