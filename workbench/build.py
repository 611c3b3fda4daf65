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
import shutil
import statistics
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
from workbench.isolation import IsolatedTaskError, TaskCancelled, run_isolated
from workbench.model import LoadedModel
from workbench.precision import PRECISION_INFO, TransformResult, refusal, transform_key, transformed_path
from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile, format_shape_spec
from workbench.summary import ModelSummary, summarize
from workbench.workspace import Workspace

_MODELOPT_ENV = {"TRT_WORKBENCH_POOL": "modelopt"}


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
    """One profile covering the shapes you will serve: min/max per dim, opt the median shape."""
    if not served:
        raise WorkbenchError("Give at least one served shape to suggest a profile from.")
    profile: ShapeProfile = {}
    for info in summary.inputs:
        shapes = [s[info.name] for s in served if info.name in s]
        if not shapes:
            continue
        rank = {len(s) for s in shapes}
        if len(rank) != 1:
            raise WorkbenchError(f"The served shapes of {info.name!r} have different ranks.")
        lo = [min(s[a] for s in shapes) for a in range(len(shapes[0]))]
        hi = [max(s[a] for s in shapes) for a in range(len(shapes[0]))]
        opt = [int(statistics.median_low([s[a] for s in shapes])) for a in range(len(shapes[0]))]
        profile[info.name] = [lo, opt, hi]
    return profile


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


def _calibration_file(workspace: Workspace, calibration: CalibrationData) -> tuple[Path, str]:
    digest = calibration.content_hash()
    path = workspace.root / "calibration" / f"{digest[:16]}.npz"
    if not path.is_file():
        calibration.save_npz(path)
    return path, digest


def prepare_model(
    model: LoadedModel,
    config: BuildConfig,
    backend: BackendInfo,
    workspace: Workspace,
    calibration: CalibrationData | None,
    cancelled: Callable[[], bool] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[str, TransformResult | None]:
    """The ONNX to build: the model itself, or its cached/new precision transform."""
    info = PRECISION_INFO[config.precision]
    needs_transform = info.transform is not None and (
        backend.strongly_typed_only or info.transform_on_trt10
    )
    if not needs_transform:
        return str(model.path), None
    calib_path, calib_hash = (None, None)
    if info.calibrated:
        if calibration is None:
            raise WorkbenchError(
                f"{info.title} needs calibration data: give --calib DATA (a .npz keyed by input name), or --synthetic-calib for a smoke test."
            )
        calib_path, calib_hash = _calibration_file(workspace, calibration)
    key = transform_key(
        model.content_hash, config.precision, calib_hash, config.calibrator, config.keep_precision
    )
    output = transformed_path(workspace.root, key, model.path.stem, config.precision)
    meta = output.with_suffix(".json")
    if output.is_file() and meta.is_file():
        return str(output), replace(TransformResult.load(meta), cached=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    if on_stage:
        on_stage("transforming")
    raw = run_isolated(
        "workbench.precision:transform_model",
        {
            "model_path": str(model.path),
            "output_path": str(output),
            "precision": config.precision,
            "source_hash": model.content_hash,
            "calibration_npz": str(calib_path) if calib_path else None,
            "calibrator": config.calibrator,
            "nodes_to_exclude": config.keep_precision,
        },
        timeout=3600,
        cancelled=cancelled,
        env=_MODELOPT_ENV,
    )
    result = TransformResult.from_dict(raw)
    result.save(meta)
    return str(output), result


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
    """Build one engine (or return the cached one). Failures are results, not exceptions."""
    workspace = workspace or Workspace.default()
    summary = summarize(model)
    try:
        backend = resolve_backend(config.backend)
    except WorkbenchError as exc:
        return _refused(config, model, exc.message, None, config.target)
    target = config.target
    if target is None and backend.name == "tensorrt-rtx":
        from workbench.parse_job import default_rtx_target

        target = default_rtx_target()
    if target is None and backend.name == "tensorrt":
        gpus = collect_environment().gpus
        target = (
            f"sm{gpus[0].compute_capability.replace('.', '')}"
            if gpus and gpus[0].compute_capability
            else None
        )
    config = replace(config, target=target)
    reason = refusal(config.precision, target)
    if reason:
        return _refused(config, model, reason, backend, target)
    problems = validate_profiles(summary, config.profiles)
    if problems:
        return _refused(config, model, " ".join(problems), backend, target)

    info = PRECISION_INFO[config.precision]
    calibration_report = None
    calibration_hash = None
    if info.calibrated:
        if calibration is None:
            return _refused(
                config,
                model,
                f"{info.title} needs calibration data: give --calib DATA (a .npz keyed by input name), or --synthetic-calib for a smoke test.",
                backend,
                target,
            )
        calibration_report = check_calibration(calibration, summary, config.profiles)
        if not calibration_report.ok:
            return replace(
                _refused(
                    config,
                    model,
                    "The calibration data is not usable: "
                    + " ".join(i.message for i in calibration_report.errors),
                    backend,
                    target,
                ),
                calibration=calibration_report,
            )
        calibration_hash = calibration.content_hash()

    key = build_cache_key(model.content_hash, config, backend, calibration_hash)
    hit = cached_result(workspace, key)
    if hit is not None:
        return hit

    folder = _result_path(workspace, key).parent
    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = _build_in(folder, model, config, backend, target, info, calibration, calibration_report,
                           workspace, key, timeout, cancelled, on_stage)
    except BaseException:
        if made_folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if not result.ok and made_folder:
        # A failed build leaves nothing of its own behind (its log text is in the result).
        shutil.rmtree(folder, ignore_errors=True)
        result.log_path = None
    return result


def _build_in(
    folder: Path,
    model: LoadedModel,
    config: BuildConfig,
    backend: BackendInfo,
    target: str | None,
    info: Any,
    calibration: CalibrationData | None,
    calibration_report: Any,
    workspace: Workspace,
    key: str,
    timeout: float,
    cancelled: Callable[[], bool] | None,
    on_stage: Callable[[str], None] | None,
) -> BuildResult:
    """The transform and the engine build, into ``folder``; the result saved when it is ok."""
    try:
        built_model, transform = prepare_model(
            model, config, backend, workspace, calibration, cancelled, on_stage
        )
    except TaskCancelled:
        raise
    except (IsolatedTaskError, WorkbenchError) as exc:
        return replace(
            _refused(config, model, f"The {info.title} transform failed: {exc.message}", backend, target),
            calibration=calibration_report,
        )

    calib_npz = None
    if info.calibrated and calibration is not None and not backend.strongly_typed_only and transform is None:
        calib_npz = str(_calibration_file(workspace, calibration)[0])
    engine_path = folder / f"{model.path.stem}.{config.precision}.engine"
    if on_stage:
        on_stage("building")
    started = time.perf_counter()
    try:
        raw = run_isolated(
            "workbench.trt_worker:build_engine",
            {
                "model_path": built_model,
                "engine_path": str(engine_path),
                "backend": backend.name,
                "precision": config.precision,
                "profiles": config.profiles or None,
                "target": target,
                "keep_precision": config.keep_precision,
                **worker_arguments(config, workspace.root),
                "calibration_npz": calib_npz,
                "calibrator": config.calibrator,
                "calibration_cache_path": str(folder / "calibration.cache") if calib_npz else None,
            },
            timeout=timeout,
            cancelled=cancelled,
            env=worker_environment(backend),
        )
    except TaskCancelled:
        raise
    except IsolatedTaskError as exc:
        failed = _refused(config, model, f"The builder failed: {exc.message}", backend, target)
        failed.log = [("error", line) for line in exc.log.splitlines()[-200:]]
        return replace(
            failed, transform=transform, calibration=calibration_report, built_model_path=built_model
        )
    layers = [
        LayerRecord(
            name=layer["name"],
            type=layer["type"],
            precision=layer["precision"],
            onnx_nodes=layer["onnx_nodes"],
            tactic=layer.get("tactic", ""),
        )
        for layer in raw.get("layers", [])
    ]
    warnings: list[str] = []
    if calibration is not None and calibration.synthetic and info.calibrated:
        warnings.append(
            "Calibrated on SYNTHETIC data: the INT8/FP8 scales are meaningless; calibrate on real samples before judging accuracy."
        )
    if calibration_report is not None:
        warnings += [
            i.message
            for i in calibration_report.items
            if i.level == "warning" and not i.message.startswith("SYNTHETIC")
        ]
    for name in raw.get("ignored_options", []):
        warnings.append(f"The {name!r} build option is not applied by this worker yet, so it had no effect.")
    fallback = fallback_warning(config.precision, raw.get("layers", []))
    if fallback:
        warnings.append(fallback)
    if raw.get("ok") and not raw.get("layer_log_found"):
        warnings.append("The builder printed no layer listing, so layer precisions are unknown.")
    result = BuildResult(
        precision=config.precision,
        shapes=config.profiles,
        ok=bool(raw.get("ok")),
        engine_path=str(engine_path) if raw.get("ok") else None,
        engine_bytes=raw.get("engine_bytes"),
        build_seconds=time.perf_counter() - started,
        backend=BackendInfo(**raw["backend"]) if raw.get("backend") else backend,
        target=raw.get("target") or target,
        layers=layers,
        precision_counts=precision_counts(raw.get("layers", [])),
        warnings=warnings,
        error=raw.get("error"),
        config=config,
        model=str(model.path),
        model_hash=model.content_hash,
        built_model_path=built_model,
        transform=transform,
        calibration=calibration_report,
        cache_key=key,
        log=[tuple(x) for x in raw.get("log", [])],  # type: ignore[misc]
        log_path=raw.get("log_path"),
        environment=collect_environment(),
    )
    if result.ok:
        result.save(_result_path(workspace, key))
        workspace.record(
            "builds",
            {
                "cache_key": key,
                "model": result.model,
                "precision": result.precision,
                "label": config.label(),
                "engine_path": result.engine_path,
                "engine_bytes": result.engine_bytes,
                "time": time.time(),
            },
        )
    return result


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
    return [r for r in results if r is not None]
