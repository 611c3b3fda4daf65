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
chooses another for every caller that does not name one, and so does
:func:`use_executor` (what ``--cluster`` sets for one process). ``ray``
(:mod:`workbench.executors.ray_executor`) is registered when a cluster address is
configured: ``TRT_WORKBENCH_CLUSTER`` alone is enough for every caller that does not
name an executor.

Where a result came from: every executor adds to a task's result, when it is a dict, the
key ``"executed_on"`` (not ``ran_on``: a transform's result already says what inputs it
ran on under that name)::

    "executed_on": {"executor": "local" | "ray",
               "node": None | {"id": RAY_NODE_ID, "host": NODE_IP, "hostname": NAME},
               "attempt": 1}          # Ray only: 2 when a lost worker's task was retried

(``node`` is None on the local pool: this machine). Build and profile records copy it into
their JSON (``"executor"``, ``"node"``).

A task says where it may run with :class:`Needs` (the backend and its version, the
target SM, whether it needs a GPU of that SM or ModelOpt); an executor that places work
(the Ray one) refuses a task nothing can serve with :class:`PlacementRefused` before
anything starts.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import WorkbenchError
from workbench.isolation import IsolatedTaskError

EXECUTOR_ENV = "TRT_WORKBENCH_EXECUTOR"
#: A Ray cluster address ("HOST:PORT", "ray://HOST:10001" or "auto"); ``--cluster`` wins over it.
CLUSTER_ENV = "TRT_WORKBENCH_CLUSTER"


class PlacementRefused(IsolatedTaskError):
    """Nothing the executor can reach can serve the task; the message names what is missing.

    Raised before the task starts. It is an :class:`IsolatedTaskError`, so a caller that
    turns worker failures into failed results (a build matrix) reports it the same way.
    """


@dataclass(frozen=True)
class Artifact:
    """A file a task reads, by content: ``sha256`` is what a remote executor fetches by."""

    path: str
    sha256: str = ""


@dataclass(frozen=True)
class Needs:
    """Where a task may run, beyond what :func:`workbench.capabilities.requirement_for`
    reads from its kind and arguments (an unset field is inferred from them)."""

    #: "tensorrt", "tensorrt-rtx" or "auto" (any TensorRT); None: the task's ``backend`` argument.
    backend: str | None = None
    #: A version prefix the backend must have ("1.7", "10.13.0.35"); None: any version.
    backend_version: str | None = None
    #: The compute capability the work is for ("sm86"); None: the task's ``target`` argument.
    target: str | None = None
    #: True: it must run on a GPU of ``target`` (timing, accuracy on the engine); False:
    #: an ahead-of-time build is fine; None: decided by the kind of task.
    gpu: bool | None = None
    #: It needs NVIDIA Model Optimizer (the precision transforms).
    modelopt: bool = False
    #: Extra Ray-style custom resources, name -> amount.
    resources: dict[str, float] = field(default_factory=dict)


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
    #: Where it may run (None: inferred from ``kind`` and the arguments).
    needs: Needs | None = None
    #: Arguments that name files the task writes (an engine path): a remote executor runs
    #: the task on a private path and brings what was written there (and beside it) back.
    outputs: tuple[str, ...] = ()


class Executor(Protocol):
    name: str

    def run(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> Any:
        """The task's result; raises ``IsolatedTaskError`` (crash, timeout, cancel, error)."""
        ...

    def submit(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> concurrent.futures.Future[Any]:
        """Start the task; the future gives what :meth:`run` would."""
        ...


#: What the local pool adds to a result: it ran here, on no Ray node.
LOCAL_EXECUTED_ON: dict[str, Any] = {"executor": "local", "node": None}


def with_executed_on(result: Any, ran_on: dict[str, Any]) -> Any:
    """``result`` with ``"executed_on"`` set, when it is a dict (other results are left alone)."""
    if isinstance(result, dict):
        result["executed_on"] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in ran_on.items()}
    return result


def executed_on(result: Any) -> dict[str, Any] | None:
    """The ``"executed_on"`` record of a task's result (None when it has none)."""
    found = result.get("executed_on") if isinstance(result, dict) else None
    return found if isinstance(found, dict) else None


class LocalExecutor:
    """Worker processes on this machine (one warm pool per environment)."""

    name = "local"

    def __init__(self) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))

    def run(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> Any:
        from workbench.isolation import run_isolated

        result = run_isolated(task.func, task.kwargs, timeout=task.timeout, cancelled=cancelled, env=task.env)
        return with_executed_on(result, LOCAL_EXECUTED_ON)

    def submit(self, task: Task, *, cancelled: Callable[[], bool] | None = None) -> concurrent.futures.Future[Any]:
        return self._threads.submit(self.run, task, cancelled=cancelled)


_FACTORIES: dict[str, Callable[[], Executor]] = {}
_INSTANCES: dict[str, Executor] = {}
#: The process-wide choice made by use_executor() (the CLI's ``--cluster``); wins over the env.
_DEFAULT: str | None = None


#: Executors that register themselves when first chosen, by the ``"module:function"`` that
#: registers them (the convention tasks use for their worker functions): the seam knows
#: their names, not their code, so nothing of Ray loads until a cluster is asked for.
EXECUTOR_PLUGINS = {"ray": "workbench.executors:register_cluster_from_env"}


def _entry_point(spec: str) -> Callable[[], Any]:
    import importlib

    module, _, attribute = spec.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    assert callable(found), spec
    return found  # type: ignore[no-any-return]


def register_executor(name: str, factory: Callable[[], Executor]) -> None:
    """Make an executor available by name (``--executor NAME`` / ``TRT_WORKBENCH_EXECUTOR``)."""
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


register_executor("local", LocalExecutor)


def executor_names() -> list[str]:
    return sorted(_FACTORIES)


def use_executor(name: str | None) -> None:
    """Make ``name`` the executor of every caller in this process that does not name one
    (None: back to ``$TRT_WORKBENCH_EXECUTOR`` / ``$TRT_WORKBENCH_CLUSTER`` / local)."""
    global _DEFAULT
    if name is not None and name not in _FACTORIES:
        raise WorkbenchError(f"There is no executor called {name!r} (available: {', '.join(executor_names())}).")
    _DEFAULT = name


def task_backend(requested: str) -> Any:
    """The backend tasks will run with (a ``BackendInfo``): the one installed here, or, on a
    cluster reached from a machine without TensorRT, the one the cluster's nodes have; it
    keys builds' caches and names their records."""
    from workbench.backends import resolve_backend

    try:
        return resolve_backend(requested)
    except WorkbenchError:
        backends = getattr(get_executor(), "backends", None)
        if not callable(backends):
            raise
        found = [b for b in backends() if requested in ("auto", b.name)]
        if not found:
            raise
        return found[0]


def default_executor_name() -> str:
    """The executor a caller that names none gets: use_executor()'s choice, else
    ``$TRT_WORKBENCH_EXECUTOR``, else ``ray`` when ``$TRT_WORKBENCH_CLUSTER`` is set, else local."""
    chosen = _DEFAULT or os.environ.get(EXECUTOR_ENV)
    if chosen:
        return chosen
    if os.environ.get(CLUSTER_ENV, "").strip().lower() not in ("", "local", "none"):
        return "ray"
    return "local"


def get_executor(name: str | None = None) -> Executor:
    """The executor called ``name``, else the default (see :func:`default_executor_name`)."""
    chosen = name or default_executor_name()
    if chosen not in _FACTORIES and chosen in EXECUTOR_PLUGINS and os.environ.get(CLUSTER_ENV):
        _entry_point(EXECUTOR_PLUGINS[chosen])()
    if chosen not in _FACTORIES:
        raise WorkbenchError(f"There is no executor called {chosen!r} (available: {', '.join(executor_names())}).")
    if chosen not in _INSTANCES:
        _INSTANCES[chosen] = _FACTORIES[chosen]()
    return _INSTANCES[chosen]


def run_task(
    task: Task,
    *,
    cancelled: Callable[[], bool] | None = None,
    executor: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Any:
    """Run a task on the chosen executor (the one call every caller makes).

    ``on_stage`` hears where the task is when the executor can say ("queued", "fetching
    inputs", "running", "sending results", "done" on a cluster); an executor that cannot
    (the local pool: the task simply runs) says nothing.
    """
    chosen = get_executor(executor)
    if on_stage is not None and _takes_on_stage(chosen):
        return chosen.run(task, cancelled=cancelled, on_stage=on_stage)  # type: ignore[call-arg]
    return chosen.run(task, cancelled=cancelled)


def _takes_on_stage(executor: Executor) -> bool:
    import inspect

    try:
        return "on_stage" in inspect.signature(executor.run).parameters
    except (TypeError, ValueError):
        return False


def submit_many(
    tasks: list[Task], *, cancelled: Callable[[], bool] | None = None, executor: str | None = None
) -> list[concurrent.futures.Future[Any]]:
    """Start every task at once on the chosen executor (a matrix of builds across a
    cluster); the futures come back in the order of ``tasks``."""
    chosen = get_executor(executor)
    many = getattr(chosen, "submit_many", None)
    if callable(many):
        return list(many(tasks, cancelled=cancelled))
    return [chosen.submit(task, cancelled=cancelled) for task in tasks]


def file_artifact(path: str | os.PathLike[str], sha256: str = "") -> Artifact:
    return Artifact(str(Path(path)), sha256)
