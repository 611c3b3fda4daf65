"""The executor seam: tasks run through a named executor; callers never know which."""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import sample

from workbench import executor as seam
from workbench.errors import WorkbenchError

HELPERS = str(Path(__file__).parent / "helpers")


class RecordingExecutor:
    """A second real executor: runs tasks on the local pool and records what it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.tasks: list[seam.Task] = []
        self.local = seam.LocalExecutor()

    def run(self, task: seam.Task, *, cancelled: Any = None) -> Any:
        self.tasks.append(task)
        return self.local.run(task, cancelled=cancelled)

    def submit(self, task: seam.Task, *, cancelled: Any = None) -> concurrent.futures.Future[Any]:
        self.tasks.append(task)
        return self.local.submit(task, cancelled=cancelled)


def test_the_local_executor_runs_a_task_in_a_worker() -> None:
    task = seam.Task("echo", "worker_tasks:echo", {"value": 7}, env={"PYTHONPATH": HELPERS})
    out = seam.run_task(task)
    assert out["value"] == 7 and out["pid"] != os.getpid()
    assert out["executed_on"] == {"executor": "local", "node": None}  # every result names where it ran
    assert seam.executed_on(out) == {"executor": "local", "node": None}
    assert seam.run_task(seam.Task("sleep", "worker_tasks:sleep", {"seconds": 0}, env={"PYTHONPATH": HELPERS})) == "woke"


def test_an_unknown_executor_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(seam.EXECUTOR_ENV, "nowhere")
    with pytest.raises(WorkbenchError, match="no executor called 'nowhere'"):
        seam.get_executor()


@pytest.mark.rtx
def test_the_parse_goes_through_the_chosen_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import has_module

    if not has_module("tensorrt-rtx"):
        pytest.skip("TensorRT-RTX is not installed")
    from workbench.diagnose import diagnose_file

    recorder = RecordingExecutor()
    seam.register_executor("recording", lambda: recorder)
    monkeypatch.setenv(seam.EXECUTOR_ENV, "recording")
    try:
        _, diagnosis = diagnose_file(sample("detector.onnx"))
    finally:
        seam._FACTORIES.pop("recording", None)
        seam._INSTANCES.pop("recording", None)
    assert diagnosis.ok
    (task,) = recorder.tasks
    assert task.kind == "parse" and task.func == "workbench.trt_worker:parse_and_check"
    assert Path(task.artifacts["model_path"].path) == sample("detector.onnx").resolve()
