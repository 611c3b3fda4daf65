"""Start TensorRT's parse (and optional build check) of a model file in an isolated process.

Kept light on purpose (no onnx, no numpy, no package metadata): the CLI starts the parse
first, then imports onnx and loads the model while TensorRT works. Two ways to isolate it:

* the executor seam (:mod:`workbench.executor`; the local worker pool by default), for the app and
  notebooks, where the worker stays warm between tasks;
* a child forked from this process (:class:`workbench.isolation.ForkedTask`), for a one-shot
  command: no second interpreter start-up, and the child begins before onnx is imported.

Either way a crash, a time-out or a cancel comes back as an :class:`IsolatedTaskError`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import BackendInfo, require_backend_name, resolve_backend, worker_environment
from workbench.external_data import check_file_before_parse
from workbench.isolation import ForkedTask, can_fork, start_forked

TASK = "workbench.trt_worker:parse_and_check"


def default_rtx_target() -> str:
    """The local GPU's compute capability if there is one, else SM89 (Ada, the common RTX part)."""
    from workbench.capabilities import sm_name
    from workbench.env import detect_gpus

    for gpu in detect_gpus():
        if sm_name(gpu.compute_capability):
            return str(sm_name(gpu.compute_capability))
    return "sm89"


@dataclass
class ParseJob:
    """A parse handed to an isolated process; :meth:`result` waits for its plain-data answer."""

    path: Path
    backend: str
    build_check: bool
    target: str | None
    shapes: dict[str, Any] | None
    capability: bool
    timeout: float
    cancelled: Callable[[], bool] | None
    started: float = field(default_factory=time.perf_counter)
    _forked: ForkedTask | None = None
    _future: concurrent.futures.Future[Any] | None = None
    _executor: concurrent.futures.ThreadPoolExecutor | None = None
    _abort: threading.Event = field(default_factory=threading.Event)

    @functools.cached_property
    def info(self) -> BackendInfo:
        """The backend that parses (name and version, read from package metadata on demand)."""
        return resolve_backend(self.backend)

    def cache_key(self, content_hash: str) -> str:
        """What a build check's outcome depends on: the model's bytes, the backend and its
        version, the target and the shapes."""
        import hashlib
        import json

        info = self.info
        payload = {
            "model": content_hash,
            "backend": [info.name, info.version],
            "target": self.target,
            "shapes": self.shapes,
            "capability": self.capability,
            "v": 1,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def _stop(self) -> bool:
        return self._abort.is_set() or (self.cancelled is not None and self.cancelled())

    def result(self) -> dict[str, Any]:
        """The worker's answer (see :func:`workbench.trt_worker.parse_and_check`).

        Raises:
            IsolatedTaskError: the parser or builder crashed, hung past the time limit,
                or the job was cancelled (:class:`~workbench.isolation.TaskCancelled`).
        """
        try:
            if self._forked is not None:
                return dict(self._forked.result(timeout=self.timeout, cancelled=self._stop))
            assert self._future is not None
            return dict(self._future.result())
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)

    def abort(self) -> None:
        """Give up on the job (bad input found meanwhile): its process is killed unread."""
        self._abort.set()
        if self._forked is not None:
            self._forked.kill()
        elif self._future is not None:
            # The worker sees the abort flag and is killed; its outcome no longer matters.
            with contextlib.suppress(Exception):
                self._future.result()
        if self._executor is not None:
            self._executor.shutdown(wait=False)


def start_parse_job(
    path: str | Path,
    *,
    backend: str = "auto",
    build_check: bool = False,
    target: str | None = None,
    shapes: dict[str, Any] | None = None,
    capability: bool = True,
    timeout: float = 300.0,
    cancelled: Callable[[], bool] | None = None,
    fork: bool = False,
) -> ParseJob:
    """Start parsing ``path`` with the installed TensorRT (``auto``: full TensorRT, else
    TensorRT-RTX) in an isolated process, and return at once.

    Args:
        fork: run it in a child forked from this process when that is safe (Linux, no
            other thread yet); otherwise, and by default, in a shared pool worker.

    Raises:
        BackendUnavailableError: no TensorRT of the requested kind is installed.
        ExternalDataError, ModelLoadError: the file's external data breaks the safety rules,
            or the file is not a protobuf message; nothing was started.
    """
    name = require_backend_name(backend)
    # TensorRT opens external data files itself: the safety rules come before it starts.
    check_file_before_parse(path)
    if build_check and target is None and name == "tensorrt-rtx":
        target = default_rtx_target()
    task = {
        "model_path": str(Path(path).resolve()),
        "backend": name,
        "build_check": build_check,
        "target": target,
        "shapes": shapes or None,
        "capability": capability,
    }
    job = ParseJob(
        path=Path(path),
        backend=name,
        build_check=build_check,
        target=target,
        shapes=shapes or None,
        capability=capability,
        timeout=timeout,
        cancelled=cancelled,
    )
    env = worker_environment(name)
    from workbench.executor import Task, file_artifact, get_executor

    executor = get_executor()
    if fork and executor.name == "local" and can_fork():
        # The child needs only the backend: keep the pool worker's preload hook out of it.
        env = {k: v for k, v in env.items() if k != "TRT_WORKBENCH_WORKER_PRELOAD"}
        job._forked = start_forked(TASK, task, env)
        return job
    job._future = executor.submit(
        Task("parse", TASK, task, env=env, timeout=timeout, artifacts={"model_path": file_artifact(Path(path).resolve())}),
        cancelled=job._stop,
    )
    return job
