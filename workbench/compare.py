"""What each precision costs in accuracy: outputs and layer-by-layer drift against FP32.

The FP32 reference is ONNX Runtime on the original model, on the CPU. Each precision is
the precision-transformed ONNX (the graph TensorRT 11 and TensorRT-RTX build), run on the
same inputs: ONNX Runtime on the CPU runs FP32, FP16 and INT8 Q/DQ faithfully; its CPU FP8
results are wrong, so FP8 runs in ``onnx.reference``; BF16 and TF32 have no CPU execution
here and are reported as unavailable rather than guessed. Every result names the backend
and device that computed it.

Layerwise drift marks every tensor of both graphs as an output, runs each model once, and
compares the tensors under their original ONNX names in topological order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import onnx

from workbench.accuracy import OutputMetrics, output_metrics, top1_agreement
from workbench.calibration import CalibrationData
from workbench.errors import WorkbenchError
from workbench.model import LoadedModel
from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile
from workbench.summary import ModelSummary, summarize

#: Metric names a tolerance may name, and whether bigger is better.
TOLERANCE_METRICS = {
    "max_abs": False,
    "mean_abs": False,
    "rel": False,
    "cosine": True,
    "snr_db": True,
    "top1": True,
}


@dataclass
class LayerDrift(JsonRecord):
    tensor: str
    node: str
    op_type: str
    max_abs: float
    cosine: float
    rel: float
    #: Position in the original graph's topological order (0 = first node).
    depth: int = 0


@dataclass
class PrecisionComparison(JsonRecord):
    precision: str
    backend: str  # who computed these numbers, e.g. "onnxruntime-cpu"
    device: str
    outputs: list[OutputMetrics]
    top1_agreement: float | None
    layerwise: list[LayerDrift] = field(default_factory=list)
    passed: bool | None = None
    failures: list[str] = field(default_factory=list)
    model_path: str = ""
    available: bool = True
    note: str | None = None
    seconds: float = 0.0


@dataclass
class Comparison(JsonRecord):
    reference: dict[str, str]
    inputs: dict[str, list[int]]
    samples: int
    results: list[PrecisionComparison]
    tolerances: dict[str, float] = field(default_factory=dict)
    input_source: str = ""


# ----------------------------------------------------------------------------- inputs


def reference_inputs(
    summary: ModelSummary,
    *,
    data: CalibrationData | None = None,
    calibration: CalibrationData | None = None,
    shapes: ShapeProfile | None = None,
    samples: int = 4,
    seed: int = 1,
) -> tuple[dict[str, np.ndarray], str]:
    """Inputs to compare on: the user's data, else random data matching the calibration
    data's statistics, else standard normal data at the profile's opt shape. Never zeros.

    Dynamic dims nobody gave take :func:`workbench.shapes.concrete_shapes`'s defaults (1),
    a dynamic batch ``samples`` (compare on several samples at once); the second value,
    how the inputs were made, then ends with the notice that says so."""
    from workbench.synthetic import random_feeds

    if data is not None:
        return {k: v[:samples] if v.ndim else v for k, v in data.arrays.items()}, f"user data ({data.source})"
    from workbench.synthetic import integer_scalar_inputs

    like = calibration.arrays if calibration is not None else None
    # An integer scalar (a sample rate) is a setting: the calibration data's value, else asked for.
    settings = {
        name: np.asarray(like[name])
        for name in integer_scalar_inputs(summary.inputs)
        if like is not None and name in like and np.ndim(like[name]) == 0
    }
    feeds, notes = random_feeds(
        [i for i in summary.inputs if i.name not in settings], shapes, batch=samples, seed=seed, like=like,
        scalars_for="the FP32 reference (ONNX Runtime)",
    )
    feeds.update(settings)
    if calibration is not None and not calibration.synthetic:
        how = "random, matched to the calibration data's statistics"
    else:
        how = "random normal (no real data given: give --inputs or --calib for inputs like yours)"
    return feeds, "; ".join([how, *notes])


# ----------------------------------------------------------------------------- running


def _with_all_outputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """A copy whose every node output is also a graph output (in topological order)."""
    marked = onnx.ModelProto()
    marked.CopyFrom(model)
    existing = {o.name for o in marked.graph.output}
    order = []
    for node in marked.graph.node:
        for name in node.output:
            if not name:
                continue
            order.append(name)
            if name not in existing:
                marked.graph.output.append(onnx.ValueInfoProto(name=name))
                existing.add(name)
    return marked, order


def run_model(
    path: str, feeds: dict[str, np.ndarray], *, all_tensors: bool = False, engine: str = "onnxruntime"
) -> dict[str, np.ndarray]:
    """Run an ONNX file on the CPU; with ``all_tensors`` every intermediate tensor comes back too."""
    model = onnx.load(path)
    if all_tensors:
        model, _ = _with_all_outputs(model)
    wanted = {vi.name for vi in model.graph.input}
    inputs = {k: v for k, v in feeds.items() if k in wanted}
    if engine == "reference":
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)
        names = [o.name for o in model.graph.output]
        return dict(zip(names, evaluator.run(None, inputs)))
    from workbench.ort_cpu import cpu_session

    session = cpu_session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


def _executor_for(precision: str) -> tuple[str | None, str, str | None]:
    """(engine, backend label, note) that computes this precision's numbers on the CPU."""
    from workbench.precision import ONNX_REFERENCE, ONNXRUNTIME_CPU, PRECISION_INFO

    info = PRECISION_INFO[precision]
    if info.cpu_executor == ONNXRUNTIME_CPU:
        return "onnxruntime", "onnxruntime-cpu", info.cpu_note or None
    if info.cpu_executor == ONNX_REFERENCE:
        return "reference", "onnx-reference-cpu", info.cpu_note or None
    return None, "none", info.cpu_note or f"{info.title} has no CPU execution here: measure it with TensorRT on a GPU."


def layerwise_drift(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], model: onnx.ModelProto
) -> list[LayerDrift]:
    """Tensor-by-tensor drift for every float tensor of the original graph the candidate still has."""
    rows = []
    for depth, node in enumerate(model.graph.node):
        if node.op_type == "Constant":
            continue
        for name in node.output:
            if not name or name not in reference or name not in candidate:
                continue
            ref, got = np.asarray(reference[name]), np.asarray(candidate[name])
            if ref.dtype.kind != "f" or ref.shape != got.shape or ref.size == 0:
                continue
            m = output_metrics(name, ref, got.astype(ref.dtype))
            rows.append(
                LayerDrift(
                    tensor=name,
                    node=node.name or name,
                    op_type=node.op_type,
                    max_abs=m.max_abs,
                    cosine=m.cosine,
                    rel=m.rel,
                    depth=depth,
                )
            )
    return rows


def check_tolerances(
    outputs: list[OutputMetrics], top1: float | None, tolerances: dict[str, float]
) -> list[str]:
    """Every tolerance the outputs miss, one sentence each (empty when all are met)."""
    failures = []
    for metric, limit in tolerances.items():
        if metric == "top1":
            if top1 is None:
                # Asked for and not computable is not a pass.
                failures.append("top-1 agreement is not defined for these outputs (they are not N x classes scores)")
            elif top1 < limit:
                failures.append(f"top-1 agreement {top1:.3f} < {limit}")
            continue
        higher_is_better = TOLERANCE_METRICS[metric]
        for m in outputs:
            value = getattr(m, metric)
            if (higher_is_better and value < limit) or (not higher_is_better and value > limit):
                failures.append(f"{m.name}: {metric} {value:.4g} {'<' if higher_is_better else '>'} {limit}")
    return failures


def parse_tolerances(specs: list[str] | None) -> dict[str, float]:
    """``["cosine=0.999", "max_abs=0.05"]`` -> ``{"cosine": 0.999, "max_abs": 0.05}``."""
    result = {}
    for spec in specs or []:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or name not in TOLERANCE_METRICS:
            raise WorkbenchError(
                f"Bad tolerance {spec!r}: write METRIC=VALUE with METRIC one of {', '.join(TOLERANCE_METRICS)}."
            )
        try:
            number = float(value)
        except ValueError as exc:
            raise WorkbenchError(f"Bad tolerance {spec!r}: {value!r} is not a number.") from exc
        if not math.isfinite(number):
            raise WorkbenchError(f"Bad tolerance {spec!r}: the value must be a finite number.")
        result[name] = number
    return result


def compare_one(
    precision: str,
    candidate_path: str,
    original: onnx.ModelProto,
    reference_all: dict[str, np.ndarray],
    output_names: list[str],
    feeds: dict[str, np.ndarray],
    *,
    layerwise: bool,
    tolerances: dict[str, float],
) -> PrecisionComparison:
    engine, backend, note = _executor_for(precision)

    def unavailable(why: str | None) -> PrecisionComparison:
        return PrecisionComparison(
            precision=precision,
            backend=backend,
            device="cpu",
            outputs=[],
            top1_agreement=None,
            available=False,
            note=why,
            model_path=candidate_path,
        )

    if engine is None:
        return unavailable(note)
    start = time.perf_counter()
    try:
        got = run_model(candidate_path, feeds, all_tensors=layerwise, engine=engine)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return unavailable(f"{backend} could not run the {precision.upper()} model: {message}")
    outputs = [
        output_metrics(name, reference_all[name], np.asarray(got[name]).astype(np.float64))
        for name in output_names
        if name in got
    ]
    first = output_names[0]
    top1 = top1_agreement(np.asarray(reference_all[first]), np.asarray(got[first])) if first in got else None
    failures = check_tolerances(outputs, top1, tolerances)
    return PrecisionComparison(
        precision=precision,
        backend=backend,
        device="cpu",
        outputs=outputs,
        top1_agreement=top1,
        layerwise=layerwise_drift(reference_all, got, original) if layerwise else [],
        passed=(not failures) if tolerances else None,
        failures=failures,
        model_path=candidate_path,
        note=note,
        seconds=time.perf_counter() - start,
    )


def compare_precisions(
    model: LoadedModel,
    precisions: list[str],
    *,
    workspace: Any = None,
    calibration: CalibrationData | None = None,
    data: CalibrationData | None = None,
    shapes: ShapeProfile | None = None,
    layerwise: bool = False,
    tolerances: dict[str, float] | None = None,
    keep_precision: list[str] | None = None,
    calibrator: str = "entropy",
    samples: int = 4,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Comparison:
    """Outputs (and, with ``layerwise``, every tensor) of each precision against FP32.

    ``cancelled`` is checked between precisions and stops a running transform.
    """
    from workbench.transforms import transformed_model
    from workbench.workspace import Workspace

    workspace = workspace or Workspace.default()
    summary = summarize(model)
    feeds, how = reference_inputs(summary, data=data, calibration=calibration, shapes=shapes, samples=samples)
    original = model.load_full()
    output_names = [o.name for o in original.graph.output]
    if progress:
        progress("running the FP32 reference")
    try:
        reference_all = run_model(str(model.path), feeds, all_tensors=layerwise)
    except Exception as exc:
        raise WorkbenchError(
            f"ONNX Runtime cannot run the FP32 reference on inputs { ({k: list(v.shape) for k, v in feeds.items()}) }: {str(exc).strip().splitlines()[0]}"
        ) from exc
    results = []
    for precision in precisions:
        _check_cancelled(cancelled)
        if progress:
            progress(f"{precision}: transforming")
        # The graph TensorRT 11 / TensorRT-RTX build, which ONNX Runtime also runs.
        path, _ = transformed_model(
            model, precision, workspace, calibration=calibration, calibrator=calibrator,
            keep_precision=keep_precision or [], profiles=[shapes] if shapes else [],
            cancelled=cancelled, inputs=feeds, inputs_random=data is None,
        )
        if progress:
            progress(f"{precision}: running")
        results.append(
            compare_one(
                precision,
                path,
                original,
                reference_all,
                output_names,
                feeds,
                layerwise=layerwise,
                tolerances=tolerances or {},
            )
        )
    comparison = Comparison(
        reference={"backend": "onnxruntime", "device": "cpu", "model": str(model.path)},
        inputs={k: list(v.shape) for k, v in feeds.items()},
        samples=int(next(iter(feeds.values())).shape[0]) if feeds else 0,
        results=results,
        tolerances=dict(tolerances or {}),
        input_source=how,
    )
    workspace.save_result("comparisons", comparison, label=f"{model.name}: {', '.join(precisions)}")
    return comparison


def _check_cancelled(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        from workbench.isolation import TaskCancelled

        raise TaskCancelled("Cancelled.")


def drift_jumps(rows: list[LayerDrift], top: int = 10) -> list[tuple[LayerDrift, float]]:
    """Where error jumps: each tensor's max_abs relative to the largest of the tensors before it."""
    jumps = []
    running = 0.0
    for row in rows:
        increase = row.max_abs - running
        jumps.append((row, increase))
        running = max(running, row.max_abs)
    return sorted(jumps, key=lambda item: -item[1])[:top]


def engine_layer_for(nodes: list[str], layers: list[Any]) -> dict[str, str]:
    """ONNX node -> the engine layer it ended up in (from a build's layer list)."""
    mapping: dict[str, str] = {}
    for layer in layers:
        for node in getattr(layer, "onnx_nodes", []):
            mapping.setdefault(node, layer.name)
    return {n: mapping[n] for n in nodes if n in mapping}


# ----------------------------------------------------------------------------- keep-precision search


@dataclass
class KeepPrecisionTrial(JsonRecord):
    excluded: int
    met: bool
    worst: dict[str, float]


@dataclass
class KeepPrecisionResult(JsonRecord):
    precision: str
    #: Nodes to keep in higher precision: ModelOpt ``nodes_to_exclude`` on TensorRT 11 / RTX,
    #: layer precision constraints (--keep-precision) on TensorRT 10.
    nodes: list[str]
    outputs: list[OutputMetrics]
    met: bool
    trials: int
    tolerances: dict[str, float]
    baseline: list[OutputMetrics] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    history: list[KeepPrecisionTrial] = field(default_factory=list)
    backend: str = "onnxruntime-cpu"


def rank_by_drift(
    rows: list[LayerDrift], quantized: onnx.ModelProto, original: onnx.ModelProto
) -> list[dict[str, Any]]:
    """Quantized nodes, largest drift contribution first.

    A node's contribution is how much its output's error exceeds the largest error among
    its inputs: the error it adds itself, not the error it inherits.
    """
    error = {r.tensor: r.max_abs for r in rows}
    dq_outputs = {n.output[0] for n in quantized.graph.node if n.op_type == "DequantizeLinear"}
    fed_by_dq = {n.name for n in quantized.graph.node if any(i in dq_outputs for i in n.input)}
    ranking = []
    for node in original.graph.node:
        if node.name not in fed_by_dq or not node.output or node.output[0] not in error:
            continue
        inherited = max((error.get(i, 0.0) for i in node.input), default=0.0)
        ranking.append(
            {
                "node": node.name,
                "op_type": node.op_type,
                "contribution": error[node.output[0]] - inherited,
                "max_abs": error[node.output[0]],
            }
        )
    return sorted(ranking, key=lambda r: -r["contribution"])


def keep_precision_search(
    model: LoadedModel,
    *,
    precision: str = "int8",
    calibration: CalibrationData,
    tolerances: dict[str, float],
    workspace: Any = None,
    data: CalibrationData | None = None,
    shapes: ShapeProfile | None = None,
    calibrator: str = "entropy",
    samples: int = 4,
    max_trials: int = 12,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> KeepPrecisionResult:
    """Find a small set of nodes to keep out of quantization so the outputs meet the tolerances.

    Ranks the quantized nodes by their drift contribution, then grows the excluded set
    (1, 2, 4, ... of the top-ranked nodes) until the tolerances are met, and bisects back
    to the smallest such count. Every trial is a real re-quantization with ModelOpt and a
    real run in ONNX Runtime on the CPU.
    """
    from workbench.precision import PRECISION_INFO
    from workbench.transforms import transformed_model
    from workbench.workspace import Workspace

    if not tolerances:
        raise WorkbenchError("Give at least one tolerance, e.g. --tolerance cosine=0.999.")
    if not PRECISION_INFO[precision].quantized:
        quantized = ", ".join(p for p, i in PRECISION_INFO.items() if i.quantized)
        raise WorkbenchError(f"The keep-precision search is for quantized precisions: {quantized}.")
    workspace = workspace or Workspace.default()
    summary = summarize(model)
    feeds, _ = reference_inputs(summary, data=data, calibration=calibration, shapes=shapes, samples=samples)
    original = model.load_full()
    output_names = [o.name for o in original.graph.output]
    reference_all = run_model(str(model.path), feeds, all_tensors=True)
    trials = 0
    history: list[KeepPrecisionTrial] = []

    def trial(nodes: list[str], layerwise: bool = False) -> PrecisionComparison:
        nonlocal trials
        _check_cancelled(cancelled)
        trials += 1
        if progress:
            progress(f"trial {trials}: keeping {len(nodes)} node(s) in high precision")
        path, _ = transformed_model(
            model, precision, workspace, calibration=calibration, calibrator=calibrator,
            keep_precision=nodes, profiles=[shapes] if shapes else [], cancelled=cancelled,
        )
        result = compare_one(
            precision,
            path,
            original,
            reference_all,
            output_names,
            feeds,
            layerwise=layerwise,
            tolerances=tolerances,
        )
        history.append(
            KeepPrecisionTrial(
                excluded=len(nodes),
                met=bool(result.passed),
                worst={
                    "max_abs": max((m.max_abs for m in result.outputs), default=0.0),
                    "cosine": min((m.cosine for m in result.outputs), default=1.0),
                },
            )
        )
        return result

    base = trial([], layerwise=True)
    ranking = rank_by_drift(base.layerwise, onnx.load(base.model_path), original)
    candidates = [r["node"] for r in ranking]
    if base.passed:
        return _saved(
            workspace,
            model,
            KeepPrecisionResult(
                precision, [], base.outputs, True, trials, tolerances, base.outputs, ranking, history
            ),
        )

    def worst_cosine(result: PrecisionComparison) -> float:
        return min((m.cosine for m in result.outputs), default=1.0)

    nodes, final = smallest_keep_set(
        candidates, original, base, trial, lambda r: bool(r.passed), lambda: trials < max_trials, worst_cosine
    )
    return _saved(
        workspace,
        model,
        KeepPrecisionResult(
            precision, nodes, final.outputs, bool(final.passed), trials, tolerances, base.outputs, ranking, history
        ),
    )


Trial = TypeVar("Trial")


def smallest_keep_set(
    candidates: list[str],
    original: onnx.ModelProto,
    base: Trial,
    run_trial: Callable[[list[str]], Trial],
    meets: Callable[[Trial], bool],
    may_try: Callable[[], bool],
    score: Callable[[Trial], float],
) -> tuple[list[str], Trial]:
    """The smallest prefix of ``candidates`` (ranked, most harmful first) whose trial meets the
    target: grow 1, 2, 4, ... then bisect back; the one search both keep-precision commands use.

    ``base`` is the trial with nothing kept high; ``run_trial(nodes)`` re-quantizes with
    ``nodes`` kept high and measures (its result has a ``model_path``); ``may_try()`` says whether the trial budget allows another. Each set
    also keeps the BatchNormalization TensorRT fuses into a kept node, and nodes a trial
    newly quantized (ModelOpt moves quantization to the neighbours of an excluded node)
    become candidates. When no trial meets the target, the best-scoring set tried is returned.
    """
    cache: dict[int, Trial] = {0: base}

    def attempt(k: int) -> Trial:
        if k not in cache:
            cache[k] = run_trial(_with_fused(candidates[:k], original))
            for name in _quantized_nodes(onnx.load(cache[k].model_path)):  # type: ignore[attr-defined]
                if name not in candidates and name not in _with_fused(candidates[:k], original):
                    candidates.append(name)
        return cache[k]

    k, low, found = 1, 0, None
    while candidates and may_try():
        size = min(k, len(candidates))
        if meets(attempt(size)):
            found = size
            break
        low = size
        if low >= len(candidates):
            break
        k *= 2
    if found is None:
        size = max(cache, key=lambda n: (score(cache[n]), -n))
        return _with_fused(candidates[:size], original), cache[size]
    high = found
    while high - low > 1 and may_try():
        middle = (low + high) // 2
        if meets(attempt(middle)):
            high = middle
        else:
            low = middle
    return _with_fused(candidates[:high], original), attempt(high)


def _saved(workspace: Any, model: LoadedModel, result: KeepPrecisionResult) -> KeepPrecisionResult:
    workspace.save_result("keep_precision", result, label=model.name)
    return result


def _quantized_nodes(quantized: onnx.ModelProto) -> list[str]:
    dq_outputs = {n.output[0] for n in quantized.graph.node if n.op_type == "DequantizeLinear"}
    return [
        n.name
        for n in quantized.graph.node
        if n.name
        and n.op_type not in ("QuantizeLinear", "DequantizeLinear")
        and any(i in dq_outputs for i in n.input)
    ]


def _with_fused(nodes: list[str], original: onnx.ModelProto) -> list[str]:
    """The nodes plus the BatchNormalization that directly follows each (TensorRT fuses them)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in original.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    by_name = {n.name: n for n in original.graph.node}
    result = list(nodes)
    for name in nodes:
        node = by_name.get(name)
        if node is None or not node.output:
            continue
        following = consumers.get(node.output[0], [])
        if (
            len(following) == 1
            and following[0].op_type == "BatchNormalization"
            and following[0].name not in result
        ):
            result.append(following[0].name)
    return result


# ----------------------------------------------------------------------------- drift inside the engine (GPU)


def engine_drift(
    model: LoadedModel,
    precision: str,
    *,
    workspace: Any = None,
    calibration: CalibrationData | None = None,
    shapes: ShapeProfile | None = None,
    samples: int = 1,
    tolerances: dict[str, float] | None = None,
) -> PrecisionComparison:
    """Drift measured inside the TensorRT engine on a GPU, through debug tensors (no fusion broken).

    The engine's surviving tensors are compared with the FP32 reference (ONNX Runtime,
    CPU) under the same ONNX names. Needs full TensorRT and a GPU.
    """
    import tempfile

    from workbench.backends import resolve_backend, worker_environment
    from workbench.env import collect_environment
    from workbench.executor import Needs, Task, file_artifact, run_task
    from workbench.transforms import transformed_model
    from workbench.workspace import Workspace

    if not collect_environment().gpus:
        raise WorkbenchError(
            "Drift inside a TensorRT engine needs an NVIDIA GPU; there is none here (compare --layerwise measures the same graph in ONNX Runtime on the CPU)."
        )
    backend = resolve_backend("tensorrt")
    workspace = workspace or Workspace.default()
    summary = summarize(model)
    feeds, _ = reference_inputs(summary, calibration=calibration, shapes=shapes, samples=samples)
    original = model.load_full()
    reference_all = run_model(str(model.path), feeds, all_tensors=True)
    path, _ = transformed_model(
        model, precision, workspace, calibration=calibration, profiles=[shapes] if shapes else [],
        strongly_typed=backend.strongly_typed_only, inputs=feeds, inputs_random=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        feeds_npz = f"{tmp}/feeds.npz"
        np.savez(feeds_npz, **feeds)  # type: ignore[arg-type]
        debug_npz = f"{tmp}/feeds.debug.npz"
        raw = run_task(
            Task(
                "debug-tensors",
                "workbench.trt_worker:engine_debug_tensors",
                {"model_path": path, "feeds_npz": feeds_npz, "backend": backend.name, "profile": shapes,
                 "output_npz": debug_npz},
                env=worker_environment(backend),
                timeout=1800,
                artifacts={"model_path": file_artifact(path), "feeds_npz": file_artifact(feeds_npz)},
                needs=Needs(backend=backend.name, gpu=True),
                outputs=("output_npz",),
            )
        )
        with np.load(debug_npz, allow_pickle=False) as data:
            got = {k: data[k] for k in data.files}
    output_names = [o.name for o in original.graph.output]
    outputs = [output_metrics(n, reference_all[n], got[n]) for n in output_names if n in got]
    failures = check_tolerances(outputs, None, tolerances or {})
    env = collect_environment()
    return PrecisionComparison(
        precision=precision,
        backend=f"tensorrt {backend.version}",
        device=env.gpus[0].name if env.gpus else "gpu",
        outputs=outputs,
        top1_agreement=top1_agreement(
            np.asarray(reference_all[output_names[0]]), np.asarray(got[output_names[0]])
        )
        if output_names[0] in got
        else None,
        layerwise=layerwise_drift(reference_all, got, original),
        passed=(not failures) if tolerances else None,
        failures=failures,
        model_path=path,
        note=f"{len(raw['marked'])} unfused engine tensors read as debug tensors; fused-away tensors have no engine value.",
    )
