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
