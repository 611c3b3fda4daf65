"""Worker processes: a crash, a hang or a cancel becomes a reported error, never a dead caller."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from workbench.isolation import IsolatedTaskError, TaskCancelled, WorkerCrashed, WorkerPool, WorkerTimeout

HELPERS = str(Path(__file__).parent / "helpers")


@pytest.fixture
def pool():
    p = WorkerPool(size=2, env={"PYTHONPATH": HELPERS})
    yield p
    p.close()


def test_workers_are_reused(pool: WorkerPool) -> None:
    first = pool.run("worker_tasks:echo", {"value": 1})
    second = pool.run("worker_tasks:echo", {"value": 2})
    assert (first["value"], second["value"]) == (1, 2)
    assert first["pid"] == second["pid"], "isolation must not cost a fresh interpreter per task"


@pytest.mark.parametrize(
    "task, signal_name", [("worker_tasks:segfault", "SIGSEGV"), ("worker_tasks:abort", "SIGABRT")]
)
def test_crash_is_reported_and_the_pool_recovers(pool: WorkerPool, task: str, signal_name: str) -> None:
    before = pool.run("worker_tasks:echo", {"value": 0})["pid"]
    with pytest.raises(WorkerCrashed) as info:
        pool.run(task, {})
    assert signal_name in info.value.message
    assert "crash" in info.value.log or "abort" in info.value.log
    after = pool.run("worker_tasks:echo", {"value": 1})
    assert after["value"] == 1 and after["pid"] != before


def test_timeout_kills_the_worker(pool: WorkerPool) -> None:
    start = time.monotonic()
    with pytest.raises(WorkerTimeout):
        pool.run("worker_tasks:sleep", {"seconds": 30}, timeout=1.0)
    assert time.monotonic() - start < 10
    assert pool.run("worker_tasks:echo", {"value": 3})["value"] == 3


def test_cancel_stops_a_running_task(pool: WorkerPool) -> None:
    flag = threading.Event()
    threading.Timer(0.5, flag.set).start()
    with pytest.raises(TaskCancelled):
        pool.run("worker_tasks:sleep", {"seconds": 30}, cancelled=flag.is_set)


def test_python_errors_come_back_with_their_message(pool: WorkerPool) -> None:
    with pytest.raises(IsolatedTaskError, match="bad value inside the worker"):
        pool.run("worker_tasks:fail", {})


def test_native_output_does_not_corrupt_results(pool: WorkerPool) -> None:
    assert pool.run("worker_tasks:native_print_then_value", {}) == 42
    assert pool.run("worker_tasks:echo", {"value": "ok"})["value"] == "ok"


def test_parallel_tasks_use_separate_workers(pool: WorkerPool) -> None:
    pids = []

    def go() -> None:
        pids.append(pool.run("worker_tasks:sleep_pid", {"seconds": 1.0}))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) == 2, "two tasks at once must run in two workers"


# ----------------------------------------------------------------------------- one-shot fork

FORK_SCRIPT = r"""
import json, sys, threading, time
sys.path.insert(0, {helpers!r})
from workbench.isolation import ForkedTask, IsolatedTaskError, can_fork
outcome = {{"can_fork": can_fork()}}
flag = threading.Event()
start = time.monotonic()
task = ForkedTask({func!r}, {kwargs!r})
if {cancel_after} is not None:
    threading.Timer({cancel_after}, flag.set).start()
try:
    outcome["value"] = task.result(timeout={timeout}, cancelled=flag.is_set)
except IsolatedTaskError as exc:
    outcome.update(error=type(exc).__name__, message=exc.message, log=exc.log)
outcome["seconds"] = time.monotonic() - start
outcome["log_left"] = task.log_path.exists()
print(json.dumps(outcome))
"""


def run_forked(func: str, kwargs: dict | None = None, *, timeout: float = 60, cancel_after: float | None = None) -> dict:
    """Run a ForkedTask in a fresh single-threaded interpreter, as the CLI does."""
    import json
    import subprocess
    import sys

    script = FORK_SCRIPT.format(
        helpers=HELPERS, func=func, kwargs=kwargs or {}, timeout=timeout, cancel_after=cancel_after
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_forked_task_returns_its_value_from_another_process() -> None:
    outcome = run_forked("worker_tasks:echo", {"value": [1, "two"]})
    assert outcome["can_fork"]
    assert outcome["value"]["value"] == [1, "two"]
    assert not outcome["log_left"]


@pytest.mark.parametrize(
    "task, signal_name", [("worker_tasks:segfault", "SIGSEGV"), ("worker_tasks:abort", "SIGABRT")]
)
def test_forked_task_crash_is_reported_with_its_log(task: str, signal_name: str) -> None:
    outcome = run_forked(task)
    assert outcome["error"] == "WorkerCrashed"
    assert signal_name in outcome["message"]
    assert "crash" in outcome["log"] or "abort" in outcome["log"]
    assert not outcome["log_left"]


def test_forked_task_timeout_and_cancel_kill_the_child() -> None:
    timed_out = run_forked("worker_tasks:sleep", {"seconds": 30}, timeout=1.0)
    assert timed_out["error"] == "WorkerTimeout" and timed_out["seconds"] < 10
    cancelled = run_forked("worker_tasks:sleep", {"seconds": 30}, cancel_after=0.5)
    assert cancelled["error"] == "TaskCancelled" and cancelled["seconds"] < 10


def test_forked_task_python_error_and_native_output() -> None:
    failed = run_forked("worker_tasks:fail")
    assert failed["error"] == "IsolatedTaskError" and "bad value inside the worker" in failed["message"]
    assert run_forked("worker_tasks:native_print_then_value")["value"] == 42


def test_fork_is_refused_once_threads_run() -> None:
    from workbench.isolation import can_fork

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork(), "forking beside other threads can deadlock the child"
    finally:
        stop.set()
        thread.join()


def test_a_runaway_allocation_fails_the_task_not_the_caller() -> None:
    # A 1 GiB cap on the worker's data segment: a 2 GiB allocation fails inside the worker,
    # the caller gets one error, and the pool (recreated) serves the next task.
    capped = WorkerPool(size=1, env={"PYTHONPATH": HELPERS, "TRT_WORKBENCH_WORKER_MEMORY_BYTES": str(2**30)})
    try:
        with pytest.raises(IsolatedTaskError, match=r"MemoryError|memory"):
            capped.run("worker_tasks:allocate", {"n_bytes": 2 * 2**30})
        assert capped.run("worker_tasks:allocate", {"n_bytes": 2**20}) == 2**20
        assert capped.run("worker_tasks:echo", {"value": 1})["value"] == 1
    finally:
        capped.close()
