"""Which TensorRT versions take this model, and what changes between them.

Each version runs the same parse (and, when asked, the same engine build) in its own
managed environment (:mod:`workbench.environments`) through the executor seam; the
outcomes line up per version, errors are mapped to the ONNX nodes as a diagnosis maps
them, and what differs (a node one version rejects, a build that fails in one, layers
that fuse differently, an engine that grows) is said in sentences. A version that does
not parse the model gets the fixes that answer its own errors, and with ``try_fixes`` the
fixes are applied (each checked in ONNX Runtime) and the fixed model parsed again in that
version. Each version's environment can be exported (requirements lock, Dockerfile on the
NVIDIA CUDA container its wheels were built for, a check script).

Outcomes are cached by the model's content hash, the backend version and interpreter, the
check's options and the worker code, so a second check of the same model only looks up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import os
import re
import shlex
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.diagnose import DiagnosticError
from workbench.environments import (
    DISTRIBUTIONS,
    BackendEnvironment,
    EnvironmentError_,
    ensure_environment,
    existing_environment,
    freeze,
    pin,
    worker_env,
)
from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

if TYPE_CHECKING:
    from workbench.model import LoadedModel

#: Bump when what a cached outcome holds changes meaning.
_CACHE_SCHEMA = 2


# ----------------------------------------------------------------------------- records


@dataclass
class VersionSpec(JsonRecord):
    """One SPEC of ``--versions``: the backend, the version asked for, the pip requirement."""

    backend: str
    version: str
    requirement: str


@dataclass
class LayerSummary(JsonRecord):
    """One engine layer as the builder's detailed log lists it (names carry random ids in
    Myelin layers, so comparisons between versions use the ONNX nodes, not the names)."""

    name: str
    type: str
    precision: str
    onnx_nodes: list[str] = field(default_factory=list)


@dataclass
class VersionFix(JsonRecord):
    """Fixes for one version that does not parse the model."""

    #: Fix ids that answer this version's own errors, best first.
    suggested: list[str] = field(default_factory=list)
    #: With ``try_fixes``: the fixes applied, in order (each one kept the outputs).
    applied: list[str] = field(default_factory=list)
    #: Whether this version parses the fixed model (None: not tried).
    parses_after: bool | None = None
    #: Errors this version still reports on the fixed model.
    remaining_errors: list[str] = field(default_factory=list)
    fixed_model: str | None = None
    #: Fixes tried and not kept, with the reason.
    rejected: list[str] = field(default_factory=list)
    sentence: str = ""


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
    #: The pip requirement this version was installed from (``tensorrt-rtx==1.6.*``).
    spec: str = ""
    #: Parse and build errors mapped to the ONNX nodes (node context, fixes), as diagnose maps them.
    errors: list[DiagnosticError] = field(default_factory=list)
    #: From the real engine build's layer listing (``--build-check``).
    layer_count: int | None = None
    precision_counts: dict[str, int] | None = None
    layers: list[LayerSummary] = field(default_factory=list)
    #: The CUDA major the version's wheels are built for (from their metadata).
    cuda: str | None = None
    fix: VersionFix | None = None
    #: This outcome came from the compat cache (same bytes, version, options, worker code).
    cached: bool = False

    @property
    def ran(self) -> bool:
        return self.environment_error is None and self.parse_ok is not None

    @property
    def accepts(self) -> bool:
        return bool(self.ran and self.parse_ok and self.build_ok is not False)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.version}"


@dataclass
class CompatReport(JsonRecord):
    model: str
    backend: str
    target: str | None
    build_check: bool
    versions: list[VersionOutcome]
    differences: list[str] = field(default_factory=list)
    #: Full version strings of the oldest and newest version that accept the model.
    first_accepting: str | None = None
    last_accepting: str | None = None
    #: What the user said the deployment has (``--cuda``, ``--driver``), and the mismatches.
    cuda: str | None = None
    driver: str | None = None
    warnings: list[str] = field(default_factory=list)
    shapes: dict[str, list[list[int]]] | None = None
    content_hash: str = ""
    seconds: float | None = None


@dataclass
class CompatSection(JsonRecord):
    """What the report shows of a compat check: a title, a table, sentences, the command."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    sentences: list[str]
    command: str


# ----------------------------------------------------------------------------- specs


_SPEC = re.compile(
    r"^\s*(?:(?P<name>[A-Za-z][A-Za-z0-9._-]*)\s*(?P<op>[=<>!~]=*|===)\s*)?(?P<version>\d+(?:\.\d+){0,3})(?P<star>\.\*)?\s*$"
)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_spec(spec: str, backend: str = "tensorrt-rtx") -> VersionSpec:
    """``1.6``, ``1.6.1.120``, ``tensorrt-rtx==1.6.1.120`` or ``tensorrt-rtx==1.6.*``.

    Raises:
        WorkbenchError: not a version or an exact pip requirement of a backend the workbench manages.
    """
    found = _SPEC.match(spec)
    if not found:
        raise WorkbenchError(
            f"{spec!r} is not a version or a pip requirement (write e.g. 1.6, 1.6.1.120 or tensorrt-rtx==1.6.1.120)."
        )
    name, op, version = found.group("name"), found.group("op"), found.group("version")
    if name is not None:
        by_distribution = {_normalise(d): b for b, (d, _) in DISTRIBUTIONS.items()}
        if _normalise(name) not in by_distribution:
            raise WorkbenchError(
                f"{spec!r} names {name!r}; compat manages {', '.join(d for d, _ in DISTRIBUTIONS.values())}."
            )
        if op != "==":
            raise WorkbenchError(f"{spec!r}: compat checks one version per SPEC, so pin it with == (e.g. {name}=={version}).")
        backend = by_distribution[_normalise(name)]
    if backend not in DISTRIBUTIONS:
        raise WorkbenchError(f"The workbench cannot manage {backend!r} environments (it can: {', '.join(DISTRIBUTIONS)}).")
    if found.group("star") and len(version.split(".")) >= 3:
        raise WorkbenchError(f"{spec!r}: a wildcard goes after a major.minor version (e.g. {version.rsplit('.', 1)[0]}.*).")
    return VersionSpec(backend=backend, version=version, requirement=pin(backend, version))


def parse_specs(text: str | list[str], backend: str = "tensorrt-rtx") -> list[VersionSpec]:
    items = text if isinstance(text, list) else text.split(",")
    return [parse_spec(s, backend) for s in items if s.strip()]


# ----------------------------------------------------------------------------- CUDA and drivers


#: Minimum Linux x86-64 driver of each CUDA major (CUDA Toolkit release notes: minor-version
#: compatibility needs >= 525.60.13 for 12.x and >= 580 for 13.x).
CUDA_MIN_DRIVER = {"12": "525.60.13", "13": "580.65.06"}
#: The NVIDIA container a Dockerfile for each CUDA major starts from. There is no TensorRT-RTX
#: container, so it is the CUDA runtime image its wheels were built against (the wheel brings
#: TensorRT-RTX itself).
CUDA_CONTAINER = {
    "12": "nvcr.io/nvidia/cuda:12.9.1-runtime-ubuntu24.04",
    "13": "nvcr.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04",
}
#: NVIDIA's TensorRT containers (release notes: the TensorRT each release ships), for full TensorRT.
TENSORRT_CONTAINERS = {
    "10.13": "nvcr.io/nvidia/tensorrt:25.10-py3",
    "10.11": "nvcr.io/nvidia/tensorrt:25.06-py3",
    "10.9": "nvcr.io/nvidia/tensorrt:25.03-py3",
    "10.8": "nvcr.io/nvidia/tensorrt:25.01-py3",
    "10.7": "nvcr.io/nvidia/tensorrt:24.12-py3",
}


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def check_cuda(
    outcomes: list[VersionOutcome], cuda: str | None = None, driver: str | None = None
) -> list[str]:
    """Sentences for each version whose wheels need another CUDA, or a newer driver, than named.

    Raises:
        WorkbenchError: ``cuda`` or ``driver`` is not a version number.
    """
    if cuda is not None and not re.fullmatch(r"\d+(\.\d+){0,2}", cuda.strip()):
        raise WorkbenchError(f"--cuda {cuda!r} is not a CUDA version (write e.g. 12.9 or 13.0).")
    if driver is not None and not re.fullmatch(r"\d+(\.\d+){0,2}", driver.strip()):
        raise WorkbenchError(f"--driver {driver!r} is not a driver version (write e.g. 580.65.06).")
    warnings = []
    for o in outcomes:
        if o.environment_error is not None or o.cuda is None:
            continue
        if cuda is not None and cuda.strip().split(".")[0] != o.cuda:
            warnings.append(
                f"{o.label} is built for CUDA {o.cuda} (its wheels say so), not the CUDA {cuda} you named: "
                f"install its cu{cuda.strip().split('.')[0]} build or use CUDA {o.cuda}."
            )
        wanted = CUDA_MIN_DRIVER.get(o.cuda)
        if driver is not None and wanted is not None and _version_tuple(driver) < _version_tuple(wanted):
            warnings.append(
                f"{o.label} needs CUDA {o.cuda}, whose minimum Linux driver is {wanted}; "
                f"driver {driver} will build engines and fail to run them."
            )
    return warnings


# ----------------------------------------------------------------------------- the check


def _code_hash() -> str:
    """The worker code that produces an outcome: a change to it invalidates cached outcomes."""
    digest = hashlib.sha256(str(_CACHE_SCHEMA).encode())
    here = Path(__file__).resolve().parent
    for name in ("trt_worker.py", "engine_layers.py", "worker_records.py"):
        with contextlib.suppress(OSError):
            digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _cache_key(content_hash: str, env: BackendEnvironment, options: dict[str, Any]) -> str:
    raw = json.dumps(
        [content_hash, env.backend, env.version, env.python, options, _code_hash()], sort_keys=True, default=str
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _cache_dir(root: Path | None) -> Path:
    from workbench.workspace import default_root

    return (root or default_root()) / "compat-checks"


def _cached(folder: Path, key: str) -> VersionOutcome | None:
    try:
        return VersionOutcome.from_json((folder / f"{key}.json").read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _keep(folder: Path, key: str, outcome: VersionOutcome) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.{id(outcome)}.tmp"
        tmp.write_text(outcome.to_json())
        tmp.replace(folder / f"{key}.json")  # atomic: a reader never sees half a file
    except OSError:
        pass  # a cache that cannot be written only costs the next check its speed


def _crash_error(what: str, exc: Exception) -> dict[str, Any]:
    return {"node_name": None, "op_type": None, "desc": f"the worker crashed {what}: {getattr(exc, 'message', exc)}"}


def _parse_task(env: BackendEnvironment, model_path: str, timeout: float) -> Any:
    from workbench.executor import Task, file_artifact

    kwargs = {
        "model_path": model_path,
        "backend": env.backend,
        "build_check": False,
        "target": None,
        "shapes": None,
        "capability": False,
    }
    return Task(
        "parse",
        "workbench.trt_worker:parse_and_check",
        kwargs,
        env=worker_env(env),
        timeout=timeout,
        artifacts={"model_path": file_artifact(model_path)},
    )


def _parse_in(
    env: BackendEnvironment, model_path: str, timeout: float, cancelled: Callable[[], bool] | None
) -> tuple[bool, list[dict[str, Any]], str, dict[str, float]]:
    """Parse once in ``env``: (parses, errors, the version that ran, seconds)."""
    from workbench.executor import get_executor
    from workbench.isolation import IsolatedTaskError, TaskCancelled
    from workbench.worker_records import ParseOutcome

    try:
        raw = get_executor().run(_parse_task(env, model_path, timeout), cancelled=cancelled)
    except TaskCancelled:
        raise
    except IsolatedTaskError as exc:
        return False, [_crash_error("while parsing", exc)], env.version, {}
    outcome = ParseOutcome.from_dict(raw)
    errors = [
        {
            "node_name": e.get("node_name"),
            "node_index": e.get("node_index"),
            "op_type": e.get("op_type"),
            "desc": e.get("desc"),
            "func": e.get("func"),
            "code": e.get("code"),
        }
        for e in outcome.parse_errors
    ]
    return outcome.parse_ok, errors, outcome.backend.version or env.version, dict(outcome.seconds)


def _build_in(
    env: BackendEnvironment,
    model_path: str,
    *,
    target: str | None,
    shapes: dict[str, list[list[int]]] | None,
    timeout: float,
    cancelled: Callable[[], bool] | None,
) -> dict[str, Any]:
    """One real FP32 engine build in ``env`` (``trt_worker.build_engine``), in a scratch folder."""
    from workbench.executor import Task, file_artifact, get_executor
    from workbench.isolation import IsolatedTaskError, TaskCancelled

    with tempfile.TemporaryDirectory(prefix="trt-workbench-compat-") as scratch:
        kwargs = {
            "model_path": model_path,
            "engine_path": str(Path(scratch) / "engine.plan"),
            "backend": env.backend,
            "precision": "fp32",
            "profiles": [shapes] if shapes else None,
            "target": target,
        }
        task = Task(
            "build",
            "workbench.trt_worker:build_engine",
            kwargs,
            env=worker_env(env),
            timeout=timeout,
            artifacts={"model_path": file_artifact(model_path)},
            outputs=("engine_path",),
        )
        try:
            raw: dict[str, Any] = get_executor().run(task, cancelled=cancelled)
        except TaskCancelled:
            raise
        except IsolatedTaskError as exc:
            return {"ok": False, "error": f"the worker crashed during the build: {exc.message}", "layers": []}
    return raw


def _build_errors(raw: dict[str, Any]) -> list[str]:
    """The builder's real errors: the CPU-only CUDA probe lines it logs after them are dropped."""
    logged = [str(m) for sev, m in raw.get("log") or [] if sev in ("error", "internal_error")]
    real = [m for m in logged if not _NOISE_LINE.search(m)]
    if real:
        return list(dict.fromkeys(real))[-3:]
    return [str(raw.get("error") or "The builder returned no engine and logged no error.")]


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
    from workbench.engine_layers import precision_counts

    base = VersionOutcome(
        backend=env.backend,
        version=env.version,
        requested=env.requested,
        python=env.python,
        spec=env.requirement or pin(env.backend, env.version),
        cuda=env.cuda,
    )
    parse_ok, errors, ran_version, seconds = _parse_in(env, model_path, timeout, cancelled)
    base.version = ran_version  # the full version of the backend that actually ran
    base.parse_ok = parse_ok
    base.parse_errors = errors
    base.seconds = seconds
    if parse_ok and build_check:
        raw = _build_in(env, model_path, target=target, shapes=shapes, timeout=timeout, cancelled=cancelled)
        base.build_ok = bool(raw.get("ok"))
        base.build_errors = _build_errors(raw) if not base.build_ok else []
        base.engine_bytes = raw.get("engine_bytes")
        layers = list(raw.get("layers") or [])
        if base.build_ok and raw.get("layer_log_found", bool(layers)):
            base.layer_count = len(layers)
            base.precision_counts = precision_counts(layers)
            base.layers = [
                LayerSummary(
                    name=str(layer.get("name", "")),
                    type=str(layer.get("type", "")),
                    precision=str(layer.get("precision", "")),
                    onnx_nodes=list(layer.get("onnx_nodes") or []),
                )
                for layer in layers
            ]
        base.seconds.update({f"build_{k}": float(v) for k, v in (raw.get("seconds") or {}).items()})
    return base


def _map_errors(outcome: VersionOutcome, model: LoadedModel, index: Any) -> None:
    """Parse and build errors as DiagnosticErrors mapped to nodes, with the fixes that answer them."""
    from workbench.diagnose import Diagnosis, build_error, parse_error, rank_fixes

    errors = [parse_error(dict(e), index) for e in outcome.parse_errors]
    errors += [build_error(m, index, model) for m in outcome.build_errors]
    diagnosis = Diagnosis(
        model=str(model.path),
        content_hash=model.content_hash,
        parse_ok=bool(outcome.parse_ok),
        build_ok=outcome.build_ok,
        backend=None,
        errors=errors,
        findings=[],
    )
    outcome.errors = rank_fixes(diagnosis, model, index).errors


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
    model: LoadedModel | None = None,
    cache: bool = True,
    cache_root: Path | None = None,
    cuda: str | None = None,
    driver: str | None = None,
    try_fixes: bool = False,
    input_values: dict[str, Any] | None = None,
    steps: Callable[[int, int], None] | None = None,
) -> CompatReport:
    """Parse (and with ``build_check`` build) one model with every requested version of a backend.

    Args:
        versions: SPECs: ``1.6`` (newest 1.6.x), ``1.6.1.120``, ``tensorrt-rtx==1.6.1.120``.
        existing: environments (folders or interpreters) the user names; never modified.
        build_check: build an FP32 engine in each version that parses; its layer listing gives
            the layer count, precision mix and which ONNX nodes each layer fused.
        model: the loaded model (loaded here when not given; errors are mapped to its nodes).
        cache: reuse outcomes of a check of the same bytes, version, options and worker code.
        cuda, driver: what the deployment has; a version that needs another is warned about.
        try_fixes: for a version that does not parse the model, apply the fixes that answer
            its errors and parse the fixed model in that version (see :func:`fix_for_versions`).
        steps: called with (done, total) as environments are made and checks finish.

    Raises:
        WorkbenchError: a bad SPEC, CUDA or driver version, or nothing to run.
    """
    from workbench.external_data import check_file_before_parse

    started_all = time.perf_counter()
    path = str(Path(model_path).resolve())
    check_file_before_parse(path)  # the safety rules, before any backend opens it
    specs = parse_specs(list(versions), backend)
    check_cuda([], cuda, driver)  # bad --cuda/--driver are refused before anything is installed
    if not specs and not existing:
        raise WorkbenchError("Name at least one version (--versions 1.6,1.7) or environment (--env PATH).")
    if model is None:
        from workbench.model import load_model

        model = load_model(path)
    rtx = backend == "tensorrt-rtx" or any(s.backend == "tensorrt-rtx" for s in specs)
    if build_check and target is None and rtx:
        target = "sm89"
    total = 2 * (len(specs) + len(existing or []))
    done = [0]

    def step(message: str | None = None) -> None:
        done[0] += 1
        if steps:
            steps(min(done[0], total), total)
        if message and progress:
            progress(message)

    envs: list[BackendEnvironment | VersionOutcome] = []
    for spec in specs:
        if cancelled and cancelled():
            from workbench.isolation import TaskCancelled

            raise TaskCancelled("Cancelled.")
        started = time.perf_counter()
        try:
            env = ensure_environment(spec.backend, spec.version, progress=progress)
        except EnvironmentError_ as exc:
            envs.append(
                VersionOutcome(
                    backend=spec.backend,
                    version=spec.version,
                    requested=spec.version,
                    spec=spec.requirement,
                    environment_error=exc.message,
                )
            )
            step()
            step()
            continue
        env.created_seconds = env.created_seconds if env.created_seconds is not None else time.perf_counter() - started
        envs.append(env)
        step()
    for where in existing or []:
        try:
            envs.append(existing_environment(where, backend))
        except WorkbenchError as exc:
            envs.append(
                VersionOutcome(backend=backend, version="?", python=str(where), environment_error=exc.message)
            )
            step()
        step()

    options = {"build_check": build_check, "target": target if build_check else None, "shapes": shapes if build_check else None}
    folder = _cache_dir(cache_root)

    def run(item: BackendEnvironment | VersionOutcome) -> VersionOutcome:
        if isinstance(item, VersionOutcome):
            return item
        key = _cache_key(model.content_hash, item, options) if cache else ""
        hit = _cached(folder, key) if cache else None
        if hit is not None:
            hit.cached = True
            hit.requested, hit.spec = item.requested, item.requirement or hit.spec
            step(f"{item.backend} {hit.version}: from the cache")
            return hit
        if progress:
            progress(f"{'building' if build_check else 'parsing'} with {item.backend} {item.version}")
        outcome = _run_one(
            item, path, build_check=build_check, target=target, shapes=shapes, timeout=timeout, cancelled=cancelled
        )
        if cache:
            _keep(folder, key, outcome)
        step(f"{item.backend} {outcome.version}: {'parses' if outcome.parse_ok else 'does not parse'}")
        return outcome

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run, envs))
    outcomes.sort(key=lambda o: _version_key(o.version))

    if any(o.parse_errors or o.build_errors for o in outcomes):
        from workbench.graph_index import GraphIndex

        index = GraphIndex.build(model.proto.graph, model.inferred.graph if model.inferred is not None else None)
        for o in outcomes:
            if o.parse_errors or o.build_errors:
                _map_errors(o, model, index)
    accepting = [o for o in outcomes if o.accepts]
    report = CompatReport(
        model=path,
        backend=backend,
        target=target,
        build_check=build_check,
        versions=outcomes,
        differences=differences(outcomes),
        first_accepting=accepting[0].version if accepting else None,
        last_accepting=accepting[-1].version if accepting else None,
        cuda=cuda,
        driver=driver,
        warnings=check_cuda(outcomes, cuda, driver),
        shapes=shapes,
        content_hash=model.content_hash,
    )
    for o in outcomes:
        if o.ran and not o.parse_ok:
            o.fix = VersionFix(suggested=_suggested(o))
            if o.fix.suggested:
                o.fix.sentence = f"For {o.label}: try {', '.join(o.fix.suggested[:4])} (they answer its own errors)."
    if try_fixes:
        fix_for_versions(report, model, input_values=input_values, timeout=timeout, progress=progress, cancelled=cancelled)
    report.seconds = time.perf_counter() - started_all
    return report


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (10**9,)


# ----------------------------------------------------------------------------- what changed


def _error_key(e: dict[str, Any]) -> str:
    return str(e.get("node_name") or e.get("op_type") or e.get("desc", ""))[:80]


_NOISE_LINE = re.compile(r"catchCudaError|cudaError \d+|CUDA driver version is insufficient")
_SOURCE_LINE = re.compile(r"(\.(?:cpp|cu|h|hpp)):\d+")


def _wording(desc: str) -> str:
    """A parser message without what changes with every build of TensorRT (source line
    numbers, the CPU-only CUDA probe lines), so that only a change of wording counts."""
    lines = [ln.strip() for ln in str(desc).splitlines() if ln.strip() and not _NOISE_LINE.search(ln)]
    return _SOURCE_LINE.sub(r"\1", " ".join(lines))


def _node_errors(outcome: VersionOutcome) -> set[str]:
    return {_error_key(e) for e in outcome.parse_errors}


def _fusions(outcome: VersionOutcome) -> set[tuple[str, ...]]:
    """The groups of ONNX nodes that became one engine layer (layers made from two or more nodes)."""
    return {tuple(sorted(layer.onnx_nodes)) for layer in outcome.layers if len(layer.onnx_nodes) > 1}


def _mix_changed(old: dict[str, int] | None, new: dict[str, int] | None) -> bool:
    """Another set of precisions, or a share that moves by 2 points or more (a layer more or
    less in an all-FP32 engine is a layer-count change, not a precision change)."""
    old, new = old or {}, new or {}
    if set(old) != set(new):
        return True
    a, b = sum(old.values()) or 1, sum(new.values()) or 1
    return any(abs(old[p] / a - new[p] / b) >= 0.02 for p in old)


def _mix(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{n} {p.upper()}" for p, n in sorted((counts or {}).items(), key=lambda kv: -kv[1])) or "none"


def _group(nodes: tuple[str, ...]) -> str:
    shown = " + ".join(nodes[:4])
    return shown + (f" (+{len(nodes) - 4} more)" if len(nodes) > 4 else "")


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
            said_old = {_wording(str(e.get("desc"))) for e in old.parse_errors if _error_key(e) == node}
            said_new = {_wording(str(e.get("desc"))) for e in new.parse_errors if _error_key(e) == node}
            if said_old != said_new:
                notes.append(
                    f"Both reject {node}, in other words: {a} says {sorted(said_old)[0][:240]!r}; "
                    f"{b} says {sorted(said_new)[0][:240]!r}."
                )
        if old.build_ok is not None and new.build_ok is not None and old.build_ok != new.build_ok:
            notes.append(f"The build check {'passes' if old.build_ok else 'fails'} with {a} and {'passes' if new.build_ok else 'fails'} with {b}.")
        new_build = sorted(set(new.build_errors) - set(old.build_errors))
        if old.build_ok is False and new.build_ok is False and new_build:
            notes.append(f"{b} fails the build with a new error: {new_build[0][:200]!r}.")
        if old.engine_bytes and new.engine_bytes:
            ratio = new.engine_bytes / old.engine_bytes
            if abs(ratio - 1) > 0.05:
                notes.append(f"The engine is {ratio:.2f}x the size with {b} ({new.engine_bytes / 2**20:.2f} MiB) as with {a} ({old.engine_bytes / 2**20:.2f} MiB).")
        if old.layer_count is not None and new.layer_count is not None:
            if old.layer_count != new.layer_count:
                notes.append(f"{b} makes {new.layer_count} engine layers where {a} made {old.layer_count}.")
            if _mix_changed(old.precision_counts, new.precision_counts):
                notes.append(f"The precision mix changes: {a} runs {_mix(old.precision_counts)}; {b} runs {_mix(new.precision_counts)}.")
            fused_now = sorted(_fusions(new) - _fusions(old))
            fused_before = sorted(_fusions(old) - _fusions(new))
            if fused_now:
                notes.append(
                    f"{b} fuses differently: {len(fused_now)} layer(s) made of nodes {a} did not put together, "
                    f"e.g. {_group(fused_now[0])}."
                )
            if fused_before:
                notes.append(
                    f"{a} had {len(fused_before)} fused layer(s) that {b} splits or fuses otherwise, e.g. {_group(fused_before[0])}."
                )
    if usable and not notes:
        notes.append("Every version that ran gives the same outcome.")
    return notes


# ----------------------------------------------------------------------------- the fix loop


def _suggested(outcome: VersionOutcome) -> list[str]:
    """The fixes that answer this version's errors, best first (reproductions left out)."""
    from workbench.fixes import get_fix

    ranked: list[str] = []
    for error in outcome.errors:
        for fix_id in error.fixes:
            if fix_id not in ranked and get_fix(fix_id).preserves_outputs:
                ranked.append(fix_id)
    return ranked


def fix_for_versions(
    report: CompatReport,
    model: LoadedModel,
    *,
    input_values: dict[str, Any] | None = None,
    max_steps: int = 4,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    workspace: Any = None,
) -> None:
    """For each version that does not parse the model: apply the fixes that answer its own
    errors, one at a time (each checked in ONNX Runtime to keep the outputs), and parse the
    fixed model in that same version; keep a fix that removes errors, stop when it parses.
    Fills ``outcome.fix`` with what was applied and whether that version now parses it."""
    from workbench.diagnose import Diagnosis
    from workbench.fixes import FixOptions
    from workbench.fixing import FixStep, apply_fix, start_session
    from workbench.graph_index import GraphIndex
    from workbench.model import load_model

    shapes = {k: v for k, v in (report.shapes or {}).items()}
    for outcome in report.versions:
        if not outcome.ran or outcome.parse_ok or outcome.python == "":
            continue
        fix = outcome.fix or VersionFix(suggested=_suggested(outcome))
        outcome.fix = fix
        env = BackendEnvironment(
            backend=outcome.backend, requested=outcome.requested, version=outcome.version, python=outcome.python, path=""
        )
        diagnosis = Diagnosis(
            model=str(model.path),
            content_hash=model.content_hash,
            parse_ok=False,
            build_ok=None,
            backend=None,
            errors=list(outcome.errors),
            findings=[],
        )
        session = start_session(
            model,
            workspace=workspace,
            options=FixOptions(shapes=shapes, input_values=dict(input_values or {})),
            diagnosis=diagnosis,
        )
        errors_now = list(outcome.parse_errors)
        # What the user gave comes first (their input values, their shapes); then the fixes
        # that answer this version's errors; then an opset conversion, which an older parser
        # may need for op versions it predates (each one is judged by this version's parse).
        given = (["set-input-constant"] if input_values else []) + (["override-input-shapes"] if shapes else [])
        opset = next((o.version for o in model.proto.opset_import if o.domain in ("", "ai.onnx")), None)
        late = ["convert-opset"] if opset is not None and opset > 17 else []
        candidates = list(dict.fromkeys([*given, *fix.suggested, *late]))
        tried: set[str] = set()
        while candidates and len(fix.applied) < max_steps:
            fix_id = candidates.pop(0)
            if fix_id in tried:
                continue
            tried.add(fix_id)
            if progress:
                progress(f"trying {fix_id} for {outcome.label}")
            step = apply_fix(session, fix_id)
            if not isinstance(step, FixStep):
                fix.rejected.append(f"{fix_id}: {step.reason}")
                continue
            parses, errors, _, _ = _parse_in(env, step.model_path, timeout, cancelled)
            if parses or len(errors) < len(errors_now):
                fix.applied.append(fix_id)
                errors_now = errors
                fix.fixed_model = step.model_path
                if parses:
                    break
                # The fixed model's own errors in this version decide what to try next.
                fixed = load_model(step.model_path)
                index = GraphIndex.build(fixed.proto.graph, fixed.inferred.graph if fixed.inferred is not None else None)
                probe = VersionOutcome(backend=outcome.backend, version=outcome.version, parse_ok=False, parse_errors=errors)
                _map_errors(probe, fixed, index)
                session.original_diagnosis.errors = probe.errors
                candidates = [f for f in _suggested(probe) if f not in tried] + candidates
            else:
                session.undo()
                fix.rejected.append(f"{fix_id}: {outcome.label} still reports {len(errors)} error(s) after it")
        fix.parses_after = bool(fix.applied) and not errors_now
        fix.remaining_errors = [str(e.get("desc") or "")[:200] for e in errors_now] if fix.applied else []
        if fix.parses_after:
            fix.sentence = (
                f"{' then '.join(fix.applied)} makes the model parse on {outcome.label} "
                f"(outputs unchanged in ONNX Runtime): {fix.fixed_model}."
            )
        elif fix.applied:
            fix.sentence = (
                f"{' then '.join(fix.applied)} leaves {len(errors_now)} error(s) on {outcome.label}: "
                f"{fix.remaining_errors[0][:120] if fix.remaining_errors else ''}"
            )
        elif tried:
            fix.sentence = f"None of the fixes tried ({', '.join(sorted(tried))}) makes the model parse on {outcome.label}."
        else:
            fix.sentence = f"No fix in the catalogue answers the errors of {outcome.label}."
        if fix.parses_after:
            report.differences.append(fix.sentence)


# ----------------------------------------------------------------------------- per-version environments


_CHECK_SCRIPT = '''"""Parse and build {model} with the TensorRT version of this environment ({label})."""
import sys

import {module} as trt

logger = trt.Logger(trt.Logger.WARNING)
builder = trt.Builder(logger)
network = builder.create_network(0)
parser = trt.OnnxParser(network, logger)
if not parser.parse_from_file(sys.argv[1] if len(sys.argv) > 1 else {model!r}):
    for i in range(parser.num_errors):
        print(parser.get_error(i))
    sys.exit(1)
config = builder.create_builder_config()
engine = builder.build_serialized_network(network, config)
print(trt.__version__, "parses", "and builds" if engine is not None else "but does not build")
sys.exit(0 if engine is not None else 1)
'''


def container_for(outcome: VersionOutcome) -> str | None:
    """The NVIDIA container matching a version: NVIDIA's TensorRT container for full TensorRT
    (by its release notes), the CUDA runtime image its wheels need for TensorRT-RTX."""
    if outcome.backend == "tensorrt":
        return TENSORRT_CONTAINERS.get(".".join(outcome.version.split(".")[:2]))
    return CUDA_CONTAINER.get(outcome.cuda or "")


def export_environment(outcome: VersionOutcome, folder: str | Path, model_name: str = "model.onnx") -> dict[str, Path]:
    """Write ``requirements.lock``, ``Dockerfile`` and ``check.py`` for one version into ``folder``.

    The lock is the version's managed environment as pip lists it; the Dockerfile starts from
    the matching NVIDIA container (see :func:`container_for`), installs the lock and runs the
    check on the model copied beside it.

    Raises:
        WorkbenchError: the version did not run (its environment could not be made).
    """
    if outcome.environment_error is not None or not outcome.python:
        raise WorkbenchError(f"{outcome.label} has no environment to export: {outcome.environment_error or 'it did not run'}")
    env = BackendEnvironment(
        backend=outcome.backend, requested=outcome.requested, version=outcome.version, python=outcome.python, path=""
    )
    lock = freeze(env)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    module = DISTRIBUTIONS[outcome.backend][1]
    base = container_for(outcome)
    python_setup = (
        []
        if outcome.backend == "tensorrt" and base
        else [
            "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*",
            "RUN python3 -m venv /opt/trt && ln -s /opt/trt/bin/python /usr/local/bin/python",
        ]
    )
    lines = [
        f"# {outcome.label}: the environment trt-workbench compat checked the model with.",
        "#   docker build -t trt-compat . && docker run --gpus all trt-compat",
        (
            f"# {base} is the NVIDIA container for {outcome.label}"
            + (f" (its wheels are built for CUDA {outcome.cuda}; driver >= {CUDA_MIN_DRIVER.get(outcome.cuda or '', '?')})." if outcome.cuda else ".")
            if base
            else f"# NVIDIA publishes no container known to match {outcome.label}: a plain CUDA-less base, the lock brings TensorRT."
        ),
        f"ARG BASE={base or 'python:3.12-slim'}",
        "FROM ${BASE}",
        *python_setup,
        "WORKDIR /work",
        "COPY requirements.lock check.py /work/",
        f"COPY {model_name} /work/{model_name}",
        "RUN python -m pip install --no-cache-dir -r requirements.lock",
        f'CMD ["python", "check.py", "{model_name}"]',
        "",
    ]
    files = {
        "requirements.lock": out / "requirements.lock",
        "Dockerfile": out / "Dockerfile",
        "check.py": out / "check.py",
    }
    files["requirements.lock"].write_text(f"# {outcome.label}, as installed in {outcome.python}\n{lock}")
    files["Dockerfile"].write_text("\n".join(lines))
    files["check.py"].write_text(_CHECK_SCRIPT.format(model=model_name, label=outcome.label, module=module))
    return files


def export_environments(report: CompatReport, folder: str | Path) -> dict[str, dict[str, Path]]:
    """:func:`export_environment` for every version that ran, one subfolder each (``tensorrt-rtx-1.6.1.120``)."""
    written = {}
    model_name = Path(report.model).name
    for o in report.versions:
        if o.environment_error is None and o.python:
            written[o.version] = export_environment(o, Path(folder) / f"{o.backend}-{o.version}", model_name)
    return written


# ----------------------------------------------------------------------------- JSON contract and report


def result_json(outcome: VersionOutcome) -> dict[str, Any]:
    """One entry of the ``results`` list: the issue's contract first, then everything else."""
    return {
        "backend": {"name": outcome.backend, "version": outcome.version},
        "spec": outcome.spec,
        "parse_ok": outcome.parse_ok,
        "build_ok": outcome.build_ok,
        "errors": [e.to_dict() for e in outcome.errors],
        "engine_bytes": outcome.engine_bytes,
        "layer_count": outcome.layer_count,
        "precision_counts": outcome.precision_counts,
        "accepts": outcome.accepts,
        "environment_error": outcome.environment_error,
        "cuda": outcome.cuda,
        "fix": outcome.fix.to_dict() if outcome.fix is not None else None,
        "cached": outcome.cached,
    }


def compat_json(report: CompatReport) -> dict[str, Any]:
    """The ``compat --json`` document: ``results``, ``first_accepting``, ``last_accepting``,
    and every field of the report as before (``versions``, ``differences``, ...)."""
    return {
        "results": [result_json(o) for o in report.versions],
        "first_accepting": report.first_accepting,
        "last_accepting": report.last_accepting,
        **report.to_dict(),
    }


def reproduction_command(report: CompatReport) -> str:
    """The ``trt-workbench compat`` command that reruns this check."""
    from workbench.shapes import format_shape_spec

    specs = [o.spec or o.version for o in report.versions if o.requested]
    argv = ["trt-workbench", "compat", report.model]
    if specs:
        argv += ["--versions", ",".join(specs)]
    for o in report.versions:
        if not o.requested and o.python:
            argv += ["--env", o.python]
    if report.build_check:
        argv.append("--build-check")
        if report.target:
            argv += ["--target", report.target]
        for name, triple in (report.shapes or {}).items():
            argv += ["--shapes", format_shape_spec(name, triple)]
    if report.cuda:
        argv += ["--cuda", report.cuda]
    if report.driver:
        argv += ["--driver", report.driver]
    return shlex.join(argv)


def report_section(report: CompatReport) -> CompatSection:
    """The report's "Version compatibility" section: one row per version, the sentences, the command."""
    columns = ["version", "spec", "parse", "build", "errors", "layers", "precision mix", "engine MiB", "fix"]
    rows = []
    for o in report.versions:
        rows.append(
            {
                "version": o.label,
                "spec": o.spec,
                "parse": "not run" if not o.ran else ("yes" if o.parse_ok else "no"),
                "build": "—" if o.build_ok is None else ("yes" if o.build_ok else "no"),
                "errors": "; ".join(
                    f"{e.node_name or e.op_type or '?'}: {e.message.splitlines()[0][:120] if e.message else ''}"
                    for e in o.errors[:3]
                )
                or (o.environment_error or ""),
                "layers": o.layer_count,
                "precision mix": _mix(o.precision_counts) if o.precision_counts else "",
                "engine MiB": round(o.engine_bytes / 2**20, 2) if o.engine_bytes else None,
                "fix": o.fix.sentence if o.fix is not None else "",
            }
        )
    sentences = []
    if report.first_accepting:
        sentences.append(
            f"{report.backend} {report.first_accepting} is the oldest version checked that accepts the model, "
            f"{report.last_accepting} the newest."
        )
    else:
        sentences.append("No version checked accepts the model.")
    sentences += report.differences + report.warnings
    return CompatSection(
        title="Version compatibility",
        columns=columns,
        rows=rows,
        sentences=sentences,
        command=reproduction_command(report),
    )


def summary_counts(report: CompatReport) -> dict[str, int]:
    """How many versions accept, reject, or could not run (for a headline)."""
    counts = Counter("not run" if not o.ran else ("accepts" if o.accepts else "rejects") for o in report.versions)
    return dict(counts)
