"""Which TensorRT versions take this model, and what changes between them.

Each version runs the same parse (and, when asked, the same build check) in its own
managed environment (:mod:`workbench.environments`) through the executor seam; the
outcomes line up per version, and what differs (a node one version rejects, a build that
fails in one, an engine that grows) is said in sentences.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.environments import (
    BackendEnvironment,
    EnvironmentError_,
    ensure_environment,
    existing_environment,
    worker_env,
)
from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord


@dataclass
class VersionOutcome(JsonRecord):
    backend: str
    version: str
    requested: str = ""
    python: str = ""
    #: The environment could not be made or used: the sentence why (nothing else is set).
    environment_error: str | None = None
    parse_ok: bool | None = None
    #: (node name, op type, message) of each parser error.
    parse_errors: list[dict[str, Any]] = field(default_factory=list)
    build_ok: bool | None = None
    build_errors: list[str] = field(default_factory=list)
    engine_bytes: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    environment_seconds: float | None = None


@dataclass
class CompatReport(JsonRecord):
    model: str
    backend: str
    target: str | None
    build_check: bool
    versions: list[VersionOutcome]
    differences: list[str] = field(default_factory=list)


def _node_errors(outcome: VersionOutcome) -> set[str]:
    return {str(e.get("node_name") or e.get("op_type") or e.get("desc", ""))[:80] for e in outcome.parse_errors}


def differences(outcomes: list[VersionOutcome]) -> list[str]:
    """What changes from one version to the next, oldest first."""
    usable = [o for o in outcomes if o.environment_error is None and o.parse_ok is not None]
    notes: list[str] = []
    for old, new in itertools.pairwise(usable):
        a, b = f"{old.backend} {old.version}", f"{new.backend} {new.version}"
        if old.parse_ok != new.parse_ok:
            notes.append(f"{a} {'parses' if old.parse_ok else 'does not parse'} it; {b} {'parses' if new.parse_ok else 'does not'}.")
        gone, came = _node_errors(old) - _node_errors(new), _node_errors(new) - _node_errors(old)
        if gone:
            notes.append(f"{b} accepts what {a} rejected at: {', '.join(sorted(gone)[:6])}.")
        if came:
            notes.append(f"{b} rejects what {a} accepted at: {', '.join(sorted(came)[:6])}.")
        same_nodes = _node_errors(old) & _node_errors(new)
        for node in sorted(same_nodes)[:6]:
            said_old = {str(e.get("desc")) for e in old.parse_errors if str(e.get("node_name") or e.get("op_type") or e.get("desc", ""))[:80] == node}
            said_new = {str(e.get("desc")) for e in new.parse_errors if str(e.get("node_name") or e.get("op_type") or e.get("desc", ""))[:80] == node}
            if said_old != said_new:
                notes.append(f"Both reject {node}, in other words: {a} says {sorted(said_old)[0]!r}; {b} says {sorted(said_new)[0]!r}.")
        if old.build_ok is not None and new.build_ok is not None and old.build_ok != new.build_ok:
            notes.append(f"The build check {'passes' if old.build_ok else 'fails'} with {a} and {'passes' if new.build_ok else 'fails'} with {b}.")
        if old.engine_bytes and new.engine_bytes:
            ratio = new.engine_bytes / old.engine_bytes
            if abs(ratio - 1) > 0.05:
                notes.append(f"The engine is {ratio:.2f}x the size with {b} ({new.engine_bytes / 2**20:.2f} MiB) as with {a} ({old.engine_bytes / 2**20:.2f} MiB).")
    if usable and not notes:
        notes.append("Every version that ran gives the same outcome.")
    return notes


def _run_one(
    env: BackendEnvironment,
    model_path: str,
    *,
    build_check: bool,
    target: str | None,
    shapes: dict[str, Any] | None,
    timeout: float,
    cancelled: Callable[[], bool] | None,
) -> VersionOutcome:
    from workbench.executor import Task, file_artifact, get_executor
    from workbench.isolation import IsolatedTaskError
    from workbench.worker_records import ParseOutcome

    kwargs = {
        "model_path": model_path,
        "backend": env.backend,
        "build_check": build_check,
        "target": target,
        "shapes": shapes,
        "capability": False,
    }
    task = Task(
        "parse",
        "workbench.trt_worker:parse_and_check",
        kwargs,
        env=worker_env(env),
        timeout=timeout,
        artifacts={"model_path": file_artifact(model_path)},
    )
    base = VersionOutcome(backend=env.backend, version=env.version, requested=env.requested, python=env.python)
    try:
        raw = get_executor().run(task, cancelled=cancelled)
    except IsolatedTaskError as exc:
        base.parse_ok = False
        base.parse_errors = [{"node_name": None, "op_type": None, "desc": f"the worker crashed: {exc.message}"}]
        return base
    outcome = ParseOutcome.from_dict(raw)
    base.parse_ok = outcome.parse_ok
    base.parse_errors = [
        {"node_name": e.get("node_name"), "op_type": e.get("op_type"), "desc": e.get("desc")} for e in outcome.parse_errors
    ]
    base.build_ok = outcome.build_ok
    base.build_errors = list(outcome.build_errors)
    base.engine_bytes = outcome.engine_bytes
    base.seconds = dict(outcome.seconds)
    return base


def check_versions(
    model_path: str | Path,
    versions: list[str],
    *,
    backend: str = "tensorrt-rtx",
    existing: list[str] | None = None,
    build_check: bool = False,
    target: str | None = None,
    shapes: dict[str, Any] | None = None,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CompatReport:
    """Parse (and build-check) one model with every requested version of a backend."""
    from workbench.external_data import check_file_before_parse

    path = str(Path(model_path).resolve())
    check_file_before_parse(path)  # the safety rules, before any backend opens it
    if build_check and target is None and backend == "tensorrt-rtx":
        target = "sm89"
    envs: list[BackendEnvironment | VersionOutcome] = []
    for version in versions:
        started = time.perf_counter()
        try:
            env = ensure_environment(backend, version, progress=progress)
        except EnvironmentError_ as exc:
            envs.append(VersionOutcome(backend=backend, version=version, requested=version, environment_error=exc.message))
            continue
        env.created_seconds = env.created_seconds if env.created_seconds is not None else time.perf_counter() - started
        envs.append(env)
    for where in existing or []:
        try:
            envs.append(existing_environment(where, backend))
        except WorkbenchError as exc:
            envs.append(VersionOutcome(backend=backend, version="?", python=where, environment_error=exc.message))
    if not envs:
        raise WorkbenchError("Name at least one version (--versions 1.6,1.7) or environment (--env PATH).")

    def run(item: BackendEnvironment | VersionOutcome) -> VersionOutcome:
        if isinstance(item, VersionOutcome):
            return item
        if progress:
            progress(f"parsing with {item.backend} {item.version}")
        return _run_one(item, path, build_check=build_check, target=target, shapes=shapes, timeout=timeout, cancelled=cancelled)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run, envs))
    outcomes.sort(key=lambda o: _version_key(o.version))
    return CompatReport(
        model=path,
        backend=backend,
        target=target,
        build_check=build_check,
        versions=outcomes,
        differences=differences(outcomes),
    )


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (10**9,)
