"""The executor seam: "run this task somewhere and give me its result".

Every piece of work that must not run in the caller's process (a TensorRT parse or build,
a ModelOpt transform, a GPU profile) is a :class:`Task`: the worker-side function to call,
its plain-data arguments, the environment it needs, a time limit, and the artifacts it
reads, named by content hash so an executor on another machine (or in another TensorRT
version's environment) can fetch them instead of trusting a local path. An
:class:`Executor` runs tasks with progress, cancel, timeout and crash reporting; callers
never know which one ran them.

Executors register by name (:func:`register_executor`); ``local`` (today's worker pool,
:mod:`workbench.isolation`) is the first and the default. ``TRT_WORKBENCH_EXECUTOR``
chooses another for every caller that does not name one.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import WorkbenchError

EXECUTOR_ENV = "TRT_WORKBENCH_EXECUTOR"


@dataclass(frozen=True)
class Artifact:
    """A file a task reads, by content: ``sha256`` is what a remote executor fetches by."""

    path: str
    sha256: str = ""


@dataclass(frozen=True)
class Task:
    #: What it is, for placement and progress ("parse", "build", "transform", "profile", ...).
    kind: str
    #: The worker-side entry point, ``"module:function"``; it imports only what it needs.
    func: str
    kwargs: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 600.0
    #: Argument name -> the artifact it names (the argument holds the local path).
    artifacts: dict[str, Artifact] = field(default_factory=dict)


class Executor(Protocol):
    name: str

    def run(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> Any:
        """The task's result; raises ``IsolatedTaskError`` (crash, timeout, cancel, error)."""
        ...

    def submit(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> concurrent.futures.Future[Any]:
        """Start the task; the future gives what :meth:`run` would."""
        ...


class LocalExecutor:
    """Worker processes on this machine (one warm pool per environment)."""

    name = "local"

    def __init__(self) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))

    def run(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> Any:
        from workbench.isolation import run_isolated

        return run_isolated(task.func, task.kwargs, timeout=task.timeout, cancelled=cancelled, env=task.env)

    def submit(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> concurrent.futures.Future[Any]:
        return self._threads.submit(self.run, task, cancelled=cancelled)


_FACTORIES: dict[str, Callable[[], Executor]] = {}
_INSTANCES: dict[str, Executor] = {}


def register_executor(name: str, factory: Callable[[], Executor]) -> None:
    """Make an executor available by name (``--executor NAME`` / ``TRT_WORKBENCH_EXECUTOR``)."""
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


register_executor("local", LocalExecutor)


def executor_names() -> list[str]:
    return sorted(_FACTORIES)


def get_executor(name: str | None = None) -> Executor:
    """The executor called ``name``, else ``$TRT_WORKBENCH_EXECUTOR``, else the local pool."""
    chosen = name or os.environ.get(EXECUTOR_ENV) or "local"
    if chosen not in _FACTORIES:
        raise WorkbenchError(f"There is no executor called {chosen!r} (available: {', '.join(executor_names())}).")
    if chosen not in _INSTANCES:
        _INSTANCES[chosen] = _FACTORIES[chosen]()
    return _INSTANCES[chosen]


def run_task(task: Task, *, cancelled: Callable[[], bool] | None = None, executor: str | None = None) -> Any:
    """Run a task on the chosen executor (the one call every caller makes)."""
    return get_executor(executor).run(task, cancelled=cancelled)


def file_artifact(path: str | os.PathLike[str], sha256: str = "") -> Artifact:
    return Artifact(str(Path(path)), sha256)
