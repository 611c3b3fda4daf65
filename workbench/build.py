"""Engine builds: a matrix of precisions and shape settings, isolated, parallel and cached.

Each build runs in a worker process (a crash or an out-of-memory is a failed result with
its log, never a dead app); workers are reused, so a matrix costs builds, not
interpreters. Precision transforms (ModelOpt) run in their own worker pool and are cached
separately from builds. Results are cached by (model hash, build config, backend
version, calibration data): an unchanged request returns at once from the workspace.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.backends import BackendInfo, resolve_backend, worker_environment
from workbench.build_options import worker_arguments
from workbench.calibration import CalibrationData, CalibrationReport, check_calibration
from workbench.engine_layers import fallback_warning, precision_counts
from workbench.env import EnvironmentReport, collect_environment
from workbench.errors import WorkbenchError
from workbench.executor import Task, default_executor_name, file_artifact, run_task, task_backend
from workbench.isolation import IsolatedTaskError, TaskCancelled
from workbench.model import LoadedModel
from workbench.precision import PRECISION_INFO, TRANSFORM_TOOLS, TransformResult, refusal
from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile, format_shape_spec
from workbench.summary import ModelSummary, summarize
from workbench.transforms import calibration_file, calibration_needed, transformed_model
from workbench.worker_records import BuildOutcome
from workbench.workspace import Workspace


@dataclass
class BuildConfig(JsonRecord):
    precision: str = "fp32"
    #: Optimization profiles, each input -> [min, opt, max]. A profile with min == opt == max
    #: for every input is a static shape setting.
    profiles: list[ShapeProfile] = field(default_factory=list)
    target: str | None = None
    keep_precision: list[str] = field(default_factory=list)
    calibrator: str = "entropy"
    backend: str = "auto"
    builder_optimization_level: int | None = None
    workspace_mib: int | None = None
    timing_cache: bool = True
    version_compatible: bool = False
    hardware_compatibility: str | None = None
    #: Values of build options registered in ``build_options`` without a field of their own.
    extra_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def with_options(cls, options: dict[str, Any], **fields: Any) -> BuildConfig:
        """A config from build-option values (``build_options.values_from_args``) and other fields."""
        own = {f.name for f in dataclasses.fields(cls)}
        extra = {k: v for k, v in options.items() if k not in own}
        return cls(**fields, **{k: v for k, v in options.items() if k in own}, extra_options=extra)

    def label(self) -> str:
        shapes = (
            " | ".join(", ".join(format_shape_spec(k, v) for k, v in p.items()) for p in self.profiles)
            or "static"
        )
        keep = f" keep {len(self.keep_precision)}" if self.keep_precision else ""
        return f"{self.precision}{keep} · {shapes}"


@dataclass
class LayerRecord(JsonRecord):
    name: str
    type: str
    precision: str
    onnx_nodes: list[str] = field(default_factory=list)
    tactic: str = ""


@dataclass
class SizeFinding(JsonRecord):
    """An engine of a quantized precision larger than FP32, and where its bytes and seconds go.

    Measured against the FP32 engine of the same model, shapes, target and backend in the
    workspace (``reference == "fp32-engine"``), else against the model's weights as FP32
    (``"fp32-weights"``). Byte counts come from the build log ("Total Weights Memory", the
    layer listing's constants), layer counts from the layer listing; a count the log does not
    give stays None.
    """

    precision: str
    engine_bytes: int
    reference: str  # "fp32-engine" | "fp32-weights"
    reference_bytes: int
    reference_engine: str | None = None
    #: Weights in the engine (the builder's "Total Weights Memory") and in the FP32 engine.
    weight_bytes: int | None = None
    reference_weight_bytes: int | None = None
    #: The rest of the plan: compiled kernels, tactics, metadata (engine bytes - weight bytes).
    other_bytes: int | None = None
    reference_other_bytes: int | None = None
    #: Layer constants by TensorRT datatype ("Int8", "Float", "Half"...), from the layer listing.
    weight_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    reference_weight_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    layers: int = 0
    reference_layers: int | None = None
    #: Layer types with more layers than in the FP32 engine: type -> [FP32 count, this count].
    grown_layer_types: dict[str, list[int]] = field(default_factory=dict)
    #: Layers other than the compute layers that carry QuantizeLinear/DequantizeLinear nodes:
    #: Q/DQ that did not fuse into the Conv/MatMul beside them and run as kernels of their own.
    unfused_qdq_layers: int = 0
    unfused_qdq_examples: list[str] = field(default_factory=list)
    #: Layers left in FP32, and the compute layers (Conv, MatMul...) among them.
    fp32_layers: int = 0
    fp32_compute_layers: int = 0
    #: Seconds: this build (and its parse/build split as the worker measured it), its
    #: ModelOpt transform, and the FP32 build.
    build_seconds: float | None = None
    builder_seconds: dict[str, float] = field(default_factory=dict)
    transform_seconds: float | None = None
    reference_build_seconds: float | None = None
    causes: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class BuildResult(JsonRecord):
    precision: str
    #: The optimization profiles the engine was built with.
    shapes: list[ShapeProfile]
    ok: bool
    engine_path: str | None
    engine_bytes: int | None
    build_seconds: float | None
    backend: BackendInfo | None
    target: str | None
    layers: list[LayerRecord]
    precision_counts: dict[str, int]
    warnings: list[str]
    error: str | None
    config: BuildConfig = field(default_factory=BuildConfig)
    model: str = ""
    model_hash: str = ""
    #: The ONNX that was built: the precision-transformed model on strongly typed backends.
    built_model_path: str = ""
    transform: TransformResult | None = None
    calibration: CalibrationReport | None = None
    cache_key: str = ""
    cached: bool = False
    #: Warnings, errors and info lines of the build log; the whole log is at ``log_path``.
    log: list[tuple[str, str]] = field(default_factory=list)
    log_path: str | None = None
    environment: EnvironmentReport | None = None
    #: Seconds inside the build worker: "parse" and "build" (the builder itself).
    builder_seconds: dict[str, float] = field(default_factory=dict)
    #: Set when an engine of a quantized precision is larger than FP32 (also a warning).
    size_finding: SizeFinding | None = None
    #: Which executor ran the build ("local", "ray") and on which node, as the executor says.
    executor: str | None = None
    node: dict[str, Any] | None = None


@dataclass
class BuildProgress:
    """What a progress callback hears: one build's label, its stage and the matrix's count."""

    index: int
    label: str
    stage: str  # "queued" | "transforming" | "building" | "done" | "failed" | "cached" | "cancelled"
    done: int
    total: int


# ----------------------------------------------------------------------------- shapes


def validate_profiles(summary: ModelSummary, profiles: list[ShapeProfile]) -> list[str]:
    """Problems with the profiles, one sentence each (empty when they are fine)."""
    problems = []
    inputs = {t.name: t for t in summary.inputs}
    dynamic = sorted({d.input for d in summary.dynamic_dims})
    if dynamic and not profiles:
        dims = ", ".join(
            f"{d.input}[{d.axis}]" + (f"={d.name}" if d.name else "") for d in summary.dynamic_dims
        )
        problems.append(
            f"The model has dynamic dims ({dims}): give an optimization profile, e.g. --shapes {dynamic[0]}:MIN,OPT,MAX."
        )
    for p, profile in enumerate(profiles):
        where = f"profile {p}" if len(profiles) > 1 else "the profile"
        for name in profile:
            if name not in inputs:
                problems.append(f"{where} names {name!r}, which is not a model input ({', '.join(inputs)}).")
        for name in dynamic:
            if name not in profile:
                problems.append(f"{where} gives no shapes for dynamic input {name!r}.")
        for name, (lo, opt, hi) in profile.items():
            info = inputs.get(name)
            if info is None or info.shape is None:
                continue
            if not len(lo) == len(opt) == len(hi) == len(info.shape):
                problems.append(
                    f"{where}: {name!r} has rank {len(info.shape)}, the shapes given have rank {len(lo)}."
                )
                continue
            for axis, dim in enumerate(info.shape):
                if isinstance(dim, int) and dim > 0 and not lo[axis] == opt[axis] == hi[axis] == dim:
                    problems.append(
                        f"{where}: {name!r} axis {axis} is fixed to {dim} in the model, the profile gives {lo[axis]}..{hi[axis]}."
                    )
                if not lo[axis] <= opt[axis] <= hi[axis]:
                    problems.append(f"{where}: {name!r} axis {axis} needs min <= opt <= max.")
    return problems


def suggest_profile(summary: ModelSummary, served: list[dict[str, list[int]]]) -> ShapeProfile:
    """One profile covering the shapes you will serve: min/max per dim, opt the most frequent
    shape when it is common, else the median (``shapes.suggest_profiles`` with one profile)."""
    from workbench.shapes import suggest_profiles

    if not served:
        raise WorkbenchError("Give at least one served shape to suggest a profile from.")
    names = {info.name for info in summary.inputs}
    for request in served:
        unknown = sorted(set(request) - names)
        if unknown:
            raise WorkbenchError(f"The served shapes name {unknown[0]!r}, which is not a model input.")
    return suggest_profiles(served, max_profiles=1).covering


# ----------------------------------------------------------------------------- caching


def build_cache_key(
    model_hash: str, config: BuildConfig, backend: BackendInfo, calibration_hash: str | None
) -> str:
    described = config.to_dict()
    if not described.get("extra_options"):
        described.pop("extra_options", None)  # keys of builds made before the field existed stay valid
    payload = json.dumps(
        {
            "model": model_hash,
            "config": described,
            "backend": backend.to_dict(),
            "calibration": calibration_hash,
            "v": 1,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _result_path(workspace: Workspace, key: str) -> Path:
    return workspace.root / "engines" / key[:16] / "result.json"


def cached_result(workspace: Workspace, key: str) -> BuildResult | None:
    path = _result_path(workspace, key)
    if not path.is_file():
        return None
    try:
        result = BuildResult.load(path)
    except (ValueError, KeyError, TypeError):
        return None
    if result.ok and (not result.engine_path or not Path(result.engine_path).is_file()):
        return None
    return replace(result, cached=True)


# ----------------------------------------------------------------------------- one build


def _refused(
    config: BuildConfig, model: LoadedModel, message: str, backend: BackendInfo | None, target: str | None
) -> BuildResult:
    return BuildResult(
        precision=config.precision,
        shapes=config.profiles,
        ok=False,
        engine_path=None,
        engine_bytes=None,
        build_seconds=None,
        backend=backend,
        target=target,
        layers=[],
        precision_counts={},
        warnings=[],
        error=message,
        config=config,
        model=str(model.path),
        model_hash=model.content_hash,
    )


def _default_target(backend: BackendInfo) -> str | None:
    """The target a build without ``--target`` is for: TensorRT-RTX's default SM, else this GPU's."""
    if backend.name == "tensorrt-rtx":
        from workbench.parse_job import default_rtx_target

        return default_rtx_target()
    from workbench.capabilities import sm_name

    gpus = collect_environment().gpus
    return sm_name(gpus[0].compute_capability) if gpus else None


def _check_request(
    config: BuildConfig, summary: ModelSummary, calibration: CalibrationData | None
) -> tuple[str | None, CalibrationReport | None]:
    """Why this build cannot run (precision on the target, profiles, calibration), checked
    before anything runs; and the calibration data's report for a calibrated precision."""
    reason = refusal(config.precision, config.target)
    if reason:
        return reason, None
    problems = validate_profiles(summary, config.profiles)
    if problems:
        return " ".join(problems), None
    if not PRECISION_INFO[config.precision].calibrated:
        return None, None
    if calibration is None:
        return calibration_needed(config.precision), None
    report = check_calibration(calibration, summary, config.profiles)
    if not report.ok:
        return "The calibration data is not usable: " + " ".join(i.message for i in report.errors), report
    return None, report


def build(
    model: LoadedModel,
    config: BuildConfig,
    *,
    workspace: Workspace | None = None,
    calibration: CalibrationData | None = None,
    timeout: float = 1800.0,
    cancelled: Callable[[], bool] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build one engine (or return the cached one). Failures are results, not exceptions.

    The stages: resolve the backend and target → check the request (precision on the
    target, profiles, calibration data) → the cache → the precision transform → the engine
    build → the record. A failed build leaves no folder of its own behind.
    """
    workspace = workspace or Workspace.default()
    summary = summarize(model)
    try:
        backend = task_backend(config.backend)
    except WorkbenchError as exc:
        return _refused(config, model, exc.message, None, config.target)
    config = replace(config, target=config.target or _default_target(backend))
    reason, calibration_report = _check_request(config, summary, calibration)
    if reason:
        return replace(_refused(config, model, reason, backend, config.target), calibration=calibration_report)

    key = build_cache_key(
        model.content_hash, config, backend,
        calibration.content_hash() if calibration is not None and calibration_report else None,
    )
    hit = cached_result(workspace, key)
    if hit is not None:
        if PRECISION_INFO[hit.precision].quantized:
            attach_size_finding(hit, model, workspace)  # an FP32 engine may have been built since
        return hit

    folder = _result_path(workspace, key).parent
    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = _transform_and_build(
            folder, model, config, backend, calibration, calibration_report, workspace, timeout, cancelled, on_stage
        )
        result.cache_key = key
        if result.ok:
            _record(result, model, workspace, key)
    except BaseException:
        if made_folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if not result.ok and made_folder:
        # A failed build leaves nothing of its own behind (its log text is in the result).
        shutil.rmtree(folder, ignore_errors=True)
        result.log_path = None
    return result


def _transform_and_build(
    folder: Path,
    model: LoadedModel,
    config: BuildConfig,
    backend: BackendInfo,
    calibration: CalibrationData | None,
    calibration_report: CalibrationReport | None,
    workspace: Workspace,
    timeout: float,
    cancelled: Callable[[], bool] | None,
    on_stage: Callable[[str], None] | None,
) -> BuildResult:
    """The transform stage, then the engine stage, into ``folder``; failures are results."""
    try:
        built_model, transform = transformed_model(
            model,
            config.precision,
            workspace,
            calibration=calibration,
            calibrator=config.calibrator,
            keep_precision=config.keep_precision,
            profiles=config.profiles,
            strongly_typed=backend.strongly_typed_only,
            cancelled=cancelled,
            on_stage=on_stage,
        )
    except TaskCancelled:
        raise
    except (IsolatedTaskError, WorkbenchError) as exc:
        # The message names the stage and, where it can, the input that would fix it.
        return replace(_refused(config, model, exc.message, backend, config.target), calibration=calibration_report)
    # TensorRT 10 calibrates in its builder; a strongly typed backend got its Q/DQ above.
    builder_calibration = (
        calibration if calibration_report is not None and transform is None and not backend.strongly_typed_only else None
    )
    started = time.perf_counter()
    try:
        outcome = _build_engine(
            folder, model, config, backend, built_model, builder_calibration, workspace, timeout, cancelled, on_stage
        )
    except TaskCancelled:
        raise
    except IsolatedTaskError as exc:
        failed = _refused(config, model, f"The build failed ({backend.name} builder): {exc.message}", backend, config.target)
        failed.log = [("error", line) for line in exc.log.splitlines()[-200:]]
        return replace(
            failed, transform=transform, calibration=calibration_report, built_model_path=built_model,
            executor=default_executor_name(),
        )
    return _result_of(
        outcome, folder / f"{model.path.stem}.{config.precision}.engine", time.perf_counter() - started,
        model, config, backend, built_model, transform, calibration, calibration_report,
    )


def _build_engine(
    folder: Path,
    model: LoadedModel,
    config: BuildConfig,
    backend: BackendInfo,
    built_model: str,
    calibration: CalibrationData | None,
    workspace: Workspace,
    timeout: float,
    cancelled: Callable[[], bool] | None,
    on_stage: Callable[[str], None] | None,
) -> BuildOutcome:
    """The engine stage: ``trt_worker.build_engine`` in a worker of the backend, through the seam."""
    calib_npz = str(calibration_file(workspace, calibration)[0]) if calibration is not None else None
    if on_stage:
        on_stage("building")
    kwargs = {
        "model_path": built_model,
        "engine_path": str(folder / f"{model.path.stem}.{config.precision}.engine"),
        "backend": backend.name,
        "precision": config.precision,
        "profiles": config.profiles or None,
        "target": config.target,
        "keep_precision": config.keep_precision,
        **worker_arguments(config, workspace.root),
        "calibration_npz": calib_npz,
        "calibrator": config.calibrator,
        "calibration_cache_path": str(folder / "calibration.cache") if calib_npz else None,
    }
    files = {"model_path": file_artifact(built_model)}
    if calib_npz:
        files["calibration_npz"] = file_artifact(calib_npz)
    def where(stage: str) -> None:
        # A cluster says where the build is (queued, fetching inputs, running, ...): still "building".
        if on_stage is not None and stage != "done":
            on_stage(f"building ({stage})")

    raw = run_task(
        Task("build", "workbench.trt_worker:build_engine", kwargs, env=worker_environment(backend),
             timeout=timeout, artifacts=files, outputs=("engine_path",)),
        cancelled=cancelled,
        on_stage=where,
    )
    return BuildOutcome.from_dict(raw)


def _build_warnings(
    outcome: BuildOutcome, precision: str, calibration: CalibrationData | None, report: CalibrationReport | None
) -> list[str]:
    """What the user should know about an engine that built (or why its layers are unknown)."""
    warnings: list[str] = []
    if calibration is not None and calibration.synthetic and PRECISION_INFO[precision].calibrated:
        warnings.append(
            "Calibrated on SYNTHETIC data: the INT8/FP8 scales are meaningless; calibrate on real samples before judging accuracy."
        )
    if report is not None:
        warnings += [i.message for i in report.items if i.level == "warning" and not i.message.startswith("SYNTHETIC")]
    for name in outcome.ignored_options:
        warnings.append(f"The {name!r} build option is not applied by this worker yet, so it had no effect.")
    fallback = fallback_warning(precision, outcome.layers)
    if fallback:
        warnings.append(fallback)
    if outcome.ok and not outcome.layer_log_found:
        warnings.append("The builder printed no layer listing, so layer precisions are unknown.")
    return warnings


def _result_of(
    outcome: BuildOutcome,
    engine_path: Path,
    seconds: float,
    model: LoadedModel,
    config: BuildConfig,
    backend: BackendInfo,
    built_model: str,
    transform: TransformResult | None,
    calibration: CalibrationData | None,
    calibration_report: CalibrationReport | None,
) -> BuildResult:
    """The worker's typed outcome as the build's record."""
    ran_on = outcome.executed_on or {}
    return BuildResult(
        precision=config.precision,
        shapes=config.profiles,
        ok=outcome.ok,
        engine_path=str(engine_path) if outcome.ok else None,
        engine_bytes=outcome.engine_bytes,
        build_seconds=seconds,
        backend=BackendInfo(outcome.backend.name, outcome.backend.version) if outcome.backend else backend,
        target=outcome.target or config.target,
        layers=[
            LayerRecord(
                name=layer["name"],
                type=layer["type"],
                precision=layer["precision"],
                onnx_nodes=layer["onnx_nodes"],
                tactic=layer.get("tactic", ""),
            )
            for layer in outcome.layers
        ],
        precision_counts=precision_counts(outcome.layers),
        warnings=_build_warnings(outcome, config.precision, calibration, calibration_report),
        error=f"The build failed ({backend.name} builder): {outcome.error}" if outcome.error else None,
        config=config,
        model=str(model.path),
        model_hash=model.content_hash,
        built_model_path=built_model,
        transform=transform,
        calibration=calibration_report,
        log=list(outcome.log),
        log_path=outcome.log_path,
        environment=collect_environment(),
        builder_seconds={k: float(v) for k, v in outcome.seconds.items()},
        executor=ran_on.get("executor"),
        node=ran_on.get("node"),
    )


def _record(result: BuildResult, model: LoadedModel, workspace: Workspace, key: str) -> None:
    """An engine that built: its size finding, its saved result, its line in the workspace index."""
    attach_size_finding(result, model, workspace)
    result.save(_result_path(workspace, key))
    workspace.record(
        "builds",
        {
            "cache_key": key,
            "model": result.model,
            "precision": result.precision,
            "label": result.config.label(),
            "engine_path": result.engine_path,
            "engine_bytes": result.engine_bytes,
            "time": time.time(),
        },
    )


# ----------------------------------------------------------------------------- the matrix


def build_matrix(
    model: LoadedModel,
    configs: list[BuildConfig],
    *,
    workspace: Workspace | None = None,
    calibration: CalibrationData | None = None,
    max_parallel: int | None = None,
    progress: Callable[[BuildProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[BuildResult]:
    """Build every configuration, up to ``max_parallel`` at once (default: the core count).

    Results come back in the order of ``configs``. Cancelling stops running builds (their
    workers are killed) and skips queued ones, which come back as failed "cancelled".
    """
    workspace = workspace or Workspace.default()
    total = len(configs)
    done = 0
    lock = threading.Lock()
    stop = threading.Event()

    def is_cancelled() -> bool:
        return stop.is_set() or (cancelled is not None and cancelled())

    def report(i: int, stage: str) -> None:
        nonlocal done
        with lock:
            if stage in ("done", "failed", "cached", "cancelled"):
                done += 1
            if progress:
                progress(
                    BuildProgress(index=i, label=configs[i].label(), stage=stage, done=done, total=total)
                )

    # Transforms first, each distinct one once, so parallel builds never race to make it.
    backend = None
    try:
        backend = resolve_backend(configs[0].backend) if configs else None
    except WorkbenchError:
        backend = None

    def run(i: int) -> BuildResult:
        config = configs[i]
        if is_cancelled():
            report(i, "cancelled")
            return _refused(config, model, "Cancelled before it started.", backend, config.target)
        try:
            result = build(
                model,
                config,
                workspace=workspace,
                calibration=calibration,
                cancelled=is_cancelled,
                on_stage=lambda s: report(i, s),
            )
        except TaskCancelled:
            report(i, "cancelled")
            return _refused(config, model, "Cancelled.", backend, config.target)
        report(i, "cached" if result.cached else ("done" if result.ok else "failed"))
        return result

    for i in range(total):
        report(i, "queued")
    workers = max(1, min(max_parallel or (os.cpu_count() or 1), total or 1))
    transform_groups = Counter((c.precision, tuple(c.keep_precision), c.calibrator) for c in configs)
    results: list[BuildResult | None] = [None] * total
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        # Configurations that share a transform: the first builds it, the others wait for it.
        first_of: dict[tuple[Any, ...], int] = {}
        order = []
        for i, c in enumerate(configs):
            group = (c.precision, tuple(c.keep_precision), c.calibrator)
            if transform_groups[group] > 1 and group in first_of:
                continue
            first_of.setdefault(group, i)
            order.append(i)
        futures = {pool.submit(run, i): i for i in order}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
        rest = [i for i in range(total) if results[i] is None]
        for i, result in zip(rest, pool.map(run, rest)):
            results[i] = result
    done_results = [r for r in results if r is not None]
    # Builds ran in parallel: a quantized engine may have finished before its FP32 one.
    for result in done_results:
        if result.ok and PRECISION_INFO[result.precision].quantized:
            before = result.size_finding
            attach_size_finding(result, model, workspace, done_results)
            if result.size_finding != before and result.cache_key:
                result.save(_result_path(workspace, result.cache_key))
    return done_results


# ----------------------------------------------------------------------------- engine size findings

_WEIGHTS_MEMORY = re.compile(r"Total Weights Memory: (\d+) bytes")
_CONSTANTS = re.compile(r"Constants: \[(.*?)\], Outputs:")
_CONSTANT = re.compile(r"\{ Name: ([^,]*), Dimensions: \[([^\]]*)\][^}]*?Datatype: (\w+)")
#: Bytes per element of TensorRT datatypes as the layer listing names them.
_DTYPE_BYTES = {
    "Float": 4.0,
    "Half": 2.0,
    "BFloat16": 2.0,
    "Int8": 1.0,
    "UInt8": 1.0,
    "FP8": 1.0,
    "Bool": 1.0,
    "Int32": 4.0,
    "Int64": 8.0,
    "Int4": 0.5,
    "FP4": 0.5,
}
_SYNC_TYPES = {"signal", "wait"}


def engine_log_anatomy(log_path: str | None) -> dict[str, Any]:
    """What the build log says about an engine's bytes: total weights, and constants by datatype."""
    found: dict[str, Any] = {"weight_bytes": None, "weight_bytes_by_dtype": {}}
    if not log_path or not Path(log_path).is_file():
        return found
    text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    totals = _WEIGHTS_MEMORY.findall(text)
    if totals:
        found["weight_bytes"] = int(totals[-1])
    seen: set[str] = set()
    by_dtype: Counter[str] = Counter()
    for section in _CONSTANTS.findall(text):
        for name, dims, dtype in _CONSTANT.findall(section):
            if name in seen:
                continue
            seen.add(name)
            count = 1
            for dim in dims.split(","):
                dim = dim.strip()
                if dim.lstrip("-").isdigit():
                    count *= max(int(dim), 0)
            by_dtype[dtype] += int(count * _DTYPE_BYTES.get(dtype, 4.0))
    found["weight_bytes_by_dtype"] = dict(by_dtype)
    return found


def _qdq_nodes(built_model_path: str) -> set[str]:
    import onnx

    try:
        graph = onnx.load(built_model_path, load_external_data=False).graph
    except Exception:
        return set()
    return {n.name for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.name}


def _fp32_weight_bytes(summary: ModelSummary) -> int:
    """The model's float weights as FP32 bytes."""
    per_fp32 = {"float32": 1.0, "float16": 2.0, "bfloat16": 2.0, "float64": 0.5}
    return int(
        sum(b * per_fp32[d] for d, b in summary.initializer_bytes_by_dtype.items() if d in per_fp32)
    )


def _comparable(a: BuildResult, b: BuildResult) -> bool:
    """Two builds of the same model that differ only in precision (and what follows from it)."""
    if a.model_hash != b.model_hash or a.shapes != b.shapes or a.target != b.target:
        return False
    if (a.backend.name if a.backend else None) != (b.backend.name if b.backend else None):
        return False
    skip = {"precision", "calibrator", "keep_precision"}
    ca = {k: v for k, v in a.config.to_dict().items() if k not in skip}
    cb = {k: v for k, v in b.config.to_dict().items() if k not in skip}
    return ca == cb


def _fp32_reference(
    result: BuildResult, workspace: Workspace, candidates: list[BuildResult] | None
) -> BuildResult | None:
    """The FP32 engine of the same model, shapes, target and backend: among ``candidates``
    (the matrix just built), else among the workspace's saved builds."""
    def usable(r: BuildResult) -> bool:
        return (
            r.ok
            and r.precision == "fp32"
            and bool(r.engine_bytes)
            and bool(r.engine_path)
            and Path(r.engine_path or "").is_file()
            and _comparable(result, r)
        )

    for r in candidates or []:
        if usable(r):
            return r
    for path in sorted((workspace.root / "engines").glob("*/result.json")):
        try:
            saved = BuildResult.load(path)
        except (ValueError, KeyError, TypeError, OSError):
            continue
        if usable(saved):
            return saved
    return None


def _mib(n: int | float | None) -> str:
    return f"{(n or 0) / 2**20:.2f} MiB"


def size_finding(
    result: BuildResult, summary: ModelSummary, reference: BuildResult | None
) -> SizeFinding | None:
    """A finding when a quantized engine is larger than FP32 (see :class:`SizeFinding`), else None."""
    from workbench.engine_layers import COMPUTE_TYPES

    info = PRECISION_INFO[result.precision]
    if not (result.ok and info.quantized and result.engine_bytes):
        return None
    if reference is not None and reference.engine_bytes:
        kind, against = "fp32-engine", int(reference.engine_bytes)
    else:
        reference = None
        kind, against = "fp32-weights", _fp32_weight_bytes(summary)
    if not against or result.engine_bytes <= against:
        return None
    mine = engine_log_anatomy(result.log_path)
    theirs = engine_log_anatomy(reference.log_path) if reference is not None else {}
    qdq = _qdq_nodes(result.built_model_path) if result.built_model_path else set()
    unfused = [
        layer
        for layer in result.layers
        if layer.type.lower() not in COMPUTE_TYPES
        and layer.type.lower() not in _SYNC_TYPES
        and any(node in qdq for node in layer.onnx_nodes)
    ]
    fp32 = [layer for layer in result.layers if layer.precision == "fp32"]
    fp32_compute = [layer for layer in fp32 if layer.type.lower() in COMPUTE_TYPES]
    counts = Counter(layer.type for layer in result.layers if layer.type.lower() not in _SYNC_TYPES)
    grown: dict[str, list[int]] = {}
    if reference is not None:
        ref_counts = Counter(layer.type for layer in reference.layers if layer.type.lower() not in _SYNC_TYPES)
        grown = {t: [ref_counts.get(t, 0), n] for t, n in sorted(counts.items()) if n > ref_counts.get(t, 0)}
    weights = mine.get("weight_bytes")
    ref_weights = theirs.get("weight_bytes")
    finding = SizeFinding(
        precision=result.precision,
        engine_bytes=int(result.engine_bytes),
        reference=kind,
        reference_bytes=against,
        reference_engine=reference.engine_path if reference is not None else None,
        weight_bytes=weights,
        reference_weight_bytes=ref_weights,
        other_bytes=int(result.engine_bytes) - weights if weights is not None else None,
        reference_other_bytes=against - ref_weights if reference is not None and ref_weights is not None else None,
        weight_bytes_by_dtype=mine.get("weight_bytes_by_dtype", {}),
        reference_weight_bytes_by_dtype=theirs.get("weight_bytes_by_dtype", {}),
        layers=sum(counts.values()),
        reference_layers=(
            sum(1 for layer in reference.layers if layer.type.lower() not in _SYNC_TYPES)
            if reference is not None
            else None
        ),
        grown_layer_types=grown,
        unfused_qdq_layers=len(unfused),
        unfused_qdq_examples=[f"{layer.name} ({', '.join(layer.onnx_nodes[:4])})" for layer in unfused[:5]],
        fp32_layers=len(fp32),
        fp32_compute_layers=len(fp32_compute),
        build_seconds=result.build_seconds,
        builder_seconds=dict(result.builder_seconds),
        transform_seconds=result.transform.seconds if result.transform is not None else None,
        reference_build_seconds=reference.build_seconds if reference is not None else None,
    )
    finding.causes = _size_causes(finding, info.title)
    finding.message = _size_message(finding, info.title, result)
    return finding


def _size_causes(f: SizeFinding, title: str) -> list[str]:
    causes = []
    if f.weight_bytes is not None and f.reference_weight_bytes is not None:
        trend = "shrank" if f.weight_bytes < f.reference_weight_bytes else "grew"
        causes.append(
            f"its weights {trend} to {_mib(f.weight_bytes)} (FP32: {_mib(f.reference_weight_bytes)})"
        )
    elif f.weight_bytes is not None:
        causes.append(f"its weights take {_mib(f.weight_bytes)}")
    low = sum(v for k, v in f.weight_bytes_by_dtype.items() if k in ("Int8", "FP8", "Int4", "FP4"))
    high = f.weight_bytes_by_dtype.get("Float", 0) + f.weight_bytes_by_dtype.get("Half", 0)
    ref_float = f.reference_weight_bytes_by_dtype.get("Float", 0)
    if low and high and (high > 0.25 * ref_float if ref_float else high > low):
        causes.append(
            f"{_mib(high)} of weights are still stored in FP32/FP16 beside {_mib(low)} in {title} "
            "(weights held twice where a weight's DequantizeLinear did not fold into its layer)"
        )
    if f.other_bytes is not None and f.reference_other_bytes is not None:
        if f.other_bytes > f.reference_other_bytes:
            causes.append(
                f"the rest of the plan (compiled kernels, tactics, metadata) grew from "
                f"{_mib(f.reference_other_bytes)} to {_mib(f.other_bytes)}"
            )
    elif f.other_bytes is not None:
        causes.append(f"compiled kernels, tactics and metadata take {_mib(f.other_bytes)}")
    if f.unfused_qdq_layers:
        causes.append(
            f"{f.unfused_qdq_layers} layers beside the compute layers carry Q/DQ nodes (quantize/dequantize "
            "steps that did not fuse into the Conv/MatMul next to them and run as kernels of their own)"
        )
    if f.grown_layer_types:
        grown = ", ".join(f"{t} {a} -> {b}" for t, (a, b) in f.grown_layer_types.items())
        causes.append(f"more layers than FP32 ({f.reference_layers} -> {f.layers}: {grown})")
    if f.fp32_layers:
        causes.append(
            f"{f.fp32_layers} layers left in FP32"
            + (f", {f.fp32_compute_layers} of them compute layers" if f.fp32_compute_layers else ", none of them a compute layer")
        )
    return causes


def _size_message(f: SizeFinding, title: str, result: BuildResult) -> str:
    if f.reference == "fp32-engine":
        head = (
            f"Larger than FP32: this {title} engine is {_mib(f.engine_bytes)}, "
            f"{f.engine_bytes / f.reference_bytes:.2f}x the FP32 engine of the same model ({_mib(f.reference_bytes)})"
        )
    else:
        head = (
            f"Larger than FP32: this {title} engine is {_mib(f.engine_bytes)}, more than the model's weights "
            f"as FP32 ({_mib(f.reference_bytes)}; build fp32 too for the side-by-side breakdown)"
        )
    text = head + (": " + "; ".join(f.causes) if f.causes else "") + "."
    if f.build_seconds is not None:
        timing = f" It took {f.build_seconds:.1f} s to build"
        if f.transform_seconds is not None and result.transform is not None and not result.transform.cached:
            tool = TRANSFORM_TOOLS.get(PRECISION_INFO[f.precision].transform or "", "ModelOpt")
            timing += f" plus {f.transform_seconds:.1f} s in {tool}"
        if f.reference_build_seconds is not None:
            timing += f", against {f.reference_build_seconds:.1f} s for FP32"
        text += timing + "."
    return text


def attach_size_finding(
    result: BuildResult,
    model: LoadedModel,
    workspace: Workspace,
    candidates: list[BuildResult] | None = None,
) -> None:
    """Set (or clear) ``result.size_finding`` and its warning."""
    result.warnings = [w for w in result.warnings if not w.startswith("Larger than FP32:")]
    result.size_finding = None
    if not (result.ok and PRECISION_INFO[result.precision].quantized):
        return
    finding = size_finding(result, summarize(model), _fp32_reference(result, workspace, candidates))
    if finding is not None:
        result.size_finding = finding
        result.warnings.append(finding.message)
