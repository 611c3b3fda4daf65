"""Where the time goes: latency statistics and per-layer times, always naming backend and device.

ONNX Runtime on the CPU runs anywhere: end-to-end latency from timed runs, per-node times
from its profiler, aggregated by op type. TensorRT on a GPU (``profile_tensorrt``) times the
engine's layers with an ``IProfiler`` on Polygraphy's ``TrtRunner``. A CPU number is never
presented as a TensorRT number: every :class:`Profile` says which backend and device made it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord


@dataclass
class LatencyStats(JsonRecord):
    mean: float
    median: float
    p90: float
    p95: float
    p99: float
    min: float
    max: float
    std: float

    @classmethod
    def from_samples(cls, samples_ms: list[float]) -> LatencyStats:
        a = np.asarray(samples_ms, dtype=np.float64)
        return cls(
            mean=float(a.mean()),
            median=float(np.median(a)),
            p90=float(np.percentile(a, 90)),
            p95=float(np.percentile(a, 95)),
            p99=float(np.percentile(a, 99)),
            min=float(a.min()),
            max=float(a.max()),
            std=float(a.std()),
        )


@dataclass
class LayerTime(JsonRecord):
    name: str
    op_type: str
    #: Mean time per inference, in milliseconds.
    ms: float
    onnx_nodes: list[str] = field(default_factory=list)


@dataclass
class Profile(JsonRecord):
    backend: str
    device: str
    latency_ms: LatencyStats
    #: Inferences per second (one batch each) at the mean latency.
    throughput: float
    layers: list[LayerTime]
    warmup: int
    iterations: int
    batch: int = 1
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    #: Sum of the per-layer times and the end-to-end time they are measured against.
    layer_sum_ms: float = 0.0
    profiled_run_ms: float = 0.0
    by_op_type: dict[str, float] = field(default_factory=dict)
    samples_ms: list[float] = field(default_factory=list)
    model: str = ""
    notes: list[str] = field(default_factory=list)
    #: TensorRT only: multi-stream throughput and CUDA-graph replay time.
    streams: dict[str, Any] = field(default_factory=dict)


def _feeds_for(model_path: str, shapes: dict[str, list[int]] | None, seed: int = 0) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from workbench.equivalence import ORT_TYPES, random_value

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for inp in session.get_inputs():
        shape = (shapes or {}).get(inp.name)
        if shape is None:
            if any(not isinstance(d, int) for d in inp.shape):
                raise WorkbenchError(
                    f"Input {inp.name!r} has dynamic dims {inp.shape}: give its shape, e.g. --shapes {inp.name}:1x..."
                )
            shape = list(inp.shape)
        feeds[inp.name] = random_value(shape, ORT_TYPES.get(inp.type, np.float32), rng)
    return feeds


def profile_onnxruntime(
    model_path: str,
    *,
    shapes: dict[str, list[int]] | None = None,
    feeds: dict[str, np.ndarray] | None = None,
    warmup: int = 5,
    iterations: int = 50,
    profiled_iterations: int = 10,
    threads: int | None = None,
) -> Profile:
    """Latency of ONNX Runtime on the CPU, and its per-node times from the built-in profiler."""
    import onnxruntime as ort

    feeds = feeds if feeds is not None else _feeds_for(model_path, shapes)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, feeds)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(None, feeds)
        samples.append((time.perf_counter() - start) * 1000.0)
    stats = LatencyStats.from_samples(samples)

    # Per-node times come from a second, profiled session: profiling slows every node a
    # little, so its end-to-end time (not the un-profiled one) is what the nodes add up to.
    layers, profiled_run_ms = _profiled_nodes(model_path, feeds, threads, warmup, profiled_iterations)
    by_op: dict[str, float] = defaultdict(float)
    for layer in layers:
        by_op[layer.op_type] += layer.ms
    batch = int(next(iter(feeds.values())).shape[0]) if feeds and next(iter(feeds.values())).ndim else 1
    return Profile(
        backend="onnxruntime",
        device=f"cpu ({os.cpu_count()} cores)",
        latency_ms=stats,
        throughput=1000.0 / stats.mean if stats.mean > 0 else 0.0,
        layers=sorted(layers, key=lambda layer: -layer.ms),
        warmup=warmup,
        iterations=iterations,
        batch=batch,
        input_shapes={k: list(v.shape) for k, v in feeds.items()},
        layer_sum_ms=sum(layer.ms for layer in layers),
        profiled_run_ms=profiled_run_ms,
        by_op_type=dict(sorted(by_op.items(), key=lambda item: -item[1])),
        samples_ms=samples,
        model=model_path,
        notes=[
            "ONNX Runtime CPU timings: they show where a CPU spends time, not what TensorRT on a GPU will do.",
            "Per-node times come from a profiled run without fusions (so nodes keep their ONNX names); they add up to that run's time, not to the fused latency above.",
        ],
    )


def _profiled_nodes(
    model_path: str, feeds: dict[str, np.ndarray], threads: int | None, warmup: int, iterations: int
) -> tuple[list[LayerTime], float]:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Basic optimizations only: fusions would rename nodes, and per-node times are
        # meant to sit next to drift under the ONNX node names. The latency statistics come
        # from the fully optimized session.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        for _ in range(warmup + iterations):
            session.run(None, feeds)
        trace_path = session.end_profiling()
        with open(trace_path) as handle:
            events = json.load(handle)
    runs = [e["dur"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"][warmup:]
    per_node: dict[str, float] = defaultdict(float)
    op_of: dict[str, str] = {}
    kernel_events = [
        e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")
    ]
    counts: dict[str, int] = defaultdict(int)
    for event in kernel_events:
        node = event["name"][: -len("_kernel_time")]
        counts[node] += 1
    for event in kernel_events:
        node = event["name"][: -len("_kernel_time")]
        # Skip the warm-up calls: the first `warmup` occurrences of each node.
        counts[node] -= 1
        if counts[node] >= iterations:
            continue
        per_node[node] += float(event["dur"]) / 1000.0
        op_of[node] = event.get("args", {}).get("op_name", "")
    layers = [
        LayerTime(name=n, op_type=op_of.get(n, ""), ms=total / max(1, iterations), onnx_nodes=[n])
        for n, total in per_node.items()
    ]
    profiled_run_ms = float(np.mean(runs)) / 1000.0 if runs else 0.0
    return layers, profiled_run_ms


def profile_tensorrt(
    engine_path: str,
    *,
    shapes: dict[str, list[int]] | None = None,
    warmup: int = 10,
    iterations: int = 100,
    cuda_graph: bool = True,
) -> Profile:
    """Per-layer and end-to-end timing of a TensorRT engine on the GPU (in a worker process).

    Needs a GPU that can run the engine; TensorRT-RTX engines need a supported RTX GPU.
    """
    from workbench.env import collect_environment
    from workbench.isolation import run_isolated

    if not collect_environment().gpus:
        raise WorkbenchError(
            "Timing a TensorRT engine needs an NVIDIA GPU; there is none here. Use --backend onnxruntime for CPU timings of the ONNX model."
        )
    from workbench.backends import resolve_backend, worker_environment

    backend = resolve_backend("auto")
    raw = run_isolated(
        "workbench.trt_worker:profile_engine",
        {
            "engine_path": engine_path,
            "shapes": shapes,
            "warmup": warmup,
            "iterations": iterations,
            "cuda_graph": cuda_graph,
            "backend": backend.name,
        },
        timeout=1800,
        env=worker_environment(backend),
    )
    return Profile.from_dict(raw)


def profile_any(
    path: str,
    *,
    backend: str = "onnxruntime",
    shapes: dict[str, list[int]] | None = None,
    iterations: int = 50,
    warmup: int = 5,
) -> Profile:
    """The ``profile`` command: an ONNX model in ONNX Runtime, or an engine in TensorRT."""
    if backend == "tensorrt" or path.endswith((".engine", ".plan", ".trt")):
        return profile_tensorrt(path, shapes=shapes, iterations=iterations, warmup=warmup)
    return profile_onnxruntime(path, shapes=shapes, iterations=iterations, warmup=warmup)


def reconcile(profile: Profile) -> dict[str, Any]:
    """How the per-layer times add up against the end-to-end time they were measured in."""
    ref = profile.profiled_run_ms or profile.latency_ms.mean
    return {
        "layer_sum_ms": profile.layer_sum_ms,
        "end_to_end_ms": ref,
        "ratio": profile.layer_sum_ms / ref if ref else None,
    }
