"""Where the time goes: latency statistics and per-layer times, always naming backend and device.

ONNX Runtime on the CPU runs anywhere: one fully optimised session gives both the
end-to-end latency (un-profiled timed runs) and the per-node times (its profiler, warm-up
runs dropped), with fused nodes mapped back to the ONNX nodes they came from, aggregated
by op type. TensorRT on a GPU (``profile_tensorrt``) times the
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
from pathlib import Path
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
    #: ONNX Runtime only: the fraction (0-1) of the profiled run spent in this row.
    share: float = 0.0


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
    # ONNX Runtime only from here on ------------------------------------------------------
    #: The graph optimisation level of the one session that was timed and profiled
    #: ("all", the default, "extended", "basic" or "disabled").
    optimization: str = ""
    #: Profiled runs the rows come from (the warm-up runs' events are dropped).
    profiled_iterations: int = 0
    #: Profiled runs left out of the rows: the machine interrupted them (over 1.5x the median run).
    stalled_runs: int = 0
    #: profiled_run_ms / latency_ms.median: how much slower the profiler makes a run
    #: (ONNX Runtime's profiled_run_ms is the mean of the profiled runs that were not stalled).
    profiler_overhead: float = 0.0
    #: layer_sum_ms / latency_ms.median: how well the rows explain the latency beside them.
    latency_ratio: float = 0.0
    #: "latency" when the rows add up to 0.8-1.2x the latency (read them as milliseconds);
    #: "shares" when they do not (small models: per-node overhead dominates), read
    #: ``LayerTime.share`` of the profiled run instead.
    row_basis: str = ""
    #: Profiled run time spent outside every node (executor, input and output copies).
    between_nodes_ms: float = 0.0
    #: between_nodes_ms / profiled_run_ms; with the rows' shares it makes 1.
    between_nodes_share: float = 0.0
    #: ONNX node -> the row (ONNX Runtime node, possibly fused) it ran in.
    node_rows: dict[str, str] = field(default_factory=dict)
    #: ONNX nodes that ran in no profiled node: folded into constants or removed by the optimiser.
    unmapped_onnx_nodes: list[str] = field(default_factory=list)
    #: Rows that come from no ONNX node (layout reorders and the like that ONNX Runtime inserted).
    unmapped_rows: list[str] = field(default_factory=list)
    #: Which executor ran the timing ("local": this machine, in or beside the caller's
    #: process; "ray": a cluster node) and on which node, as the executor says.
    executor: str | None = None
    node: dict[str, Any] | None = None


#: ``optimization=`` values and ONNX Runtime's levels.
OPTIMIZATION_LEVELS = ("all", "extended", "basic", "disabled")

#: Rows that add up to latency x [low, high] explain it; outside, they are shown as shares.
ROWS_EXPLAIN_LATENCY = (0.8, 1.2)
#: Below this latency (ms) ONNX Runtime's per-node overhead is a large part of a run.
SMALL_MODEL_MS = 20.0


def _feeds_for(
    session: Any, shapes: dict[str, list[int]] | None, seed: int = 0
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Random feeds for a session's inputs; dynamic dims nobody gave become 1 (as the
    build check does, through :func:`workbench.shapes.concrete_shapes`), and the second
    value is the notice that says which ones."""
    from workbench.synthetic import random_feeds

    return random_feeds(session.get_inputs(), shapes, seed=seed)


def profile_onnxruntime(
    model_path: str,
    *,
    shapes: dict[str, list[int]] | None = None,
    feeds: dict[str, np.ndarray] | None = None,
    warmup: int = 5,
    iterations: int = 50,
    profiled_iterations: int = 10,
    threads: int | None = None,
    optimization: str = "all",
) -> Profile:
    """Latency of ONNX Runtime on the CPU and its per-node times, both from one session.

    The session is built at ``optimization`` (default ``"all"``, ONNX Runtime's default and
    what a user serves with) with the profiler on: ``warmup`` runs, then
    ``profiled_iterations`` runs whose node events become the rows (the warm-up runs' events
    are dropped), then the profiler is ended and ``iterations`` un-profiled runs give the
    latency. Fused nodes are mapped back to the ONNX nodes they came from through the
    optimised graph ONNX Runtime saves; what cannot be mapped is listed, not guessed.
    Dynamic dims without a shape in ``shapes`` become 1, and a note says so.
    """
    import onnxruntime as ort

    from workbench.ort_cpu import cpu_session, session_options

    if optimization not in OPTIMIZATION_LEVELS:
        raise WorkbenchError(
            f"Unknown optimization {optimization!r}: choose one of {', '.join(OPTIMIZATION_LEVELS)}."
        )
    level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[optimization]
    profiled_iterations = max(1, profiled_iterations)
    notes = [
        "ONNX Runtime CPU timings: they show where a CPU spends time, not what TensorRT on a GPU will do."
    ]
    with tempfile.TemporaryDirectory() as tmp:
        optimized_path = os.path.join(tmp, "optimized.onnx")

        def options(save_optimized: bool) -> Any:
            opts = session_options(threads=threads or None)
            opts.graph_optimization_level = level
            opts.enable_profiling = True
            opts.profile_file_prefix = os.path.join(tmp, "ort")
            if save_optimized:
                # The optimised graph is what the profile's node names refer to; its weights go
                # to a side file so a large model saves (and nothing reads them back).
                opts.optimized_model_filepath = optimized_path
                opts.add_session_config_entry(
                    "session.optimized_model_external_initializers_file_name", "optimized.onnx.data"
                )
                opts.add_session_config_entry(
                    "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
                )
            return opts

        try:
            session = cpu_session(model_path, options(True))
        except Exception:
            # Some graphs cannot be saved once optimised; profile them with names only.
            session = cpu_session(model_path, options(False))
        defaulted: list[str] = []
        if feeds is None:
            feeds, defaulted = _feeds_for(session, shapes)
        notes += defaulted
        for _ in range(warmup + profiled_iterations):
            session.run(None, feeds)
        trace_path = session.end_profiling()  # the profiler stops here: the timed runs below are not profiled
        samples = []
        for _ in range(iterations):
            start = time.perf_counter()
            session.run(None, feeds)
            samples.append((time.perf_counter() - start) * 1000.0)
        with open(trace_path) as handle:
            events = json.load(handle)
        optimized = _load_graph(optimized_path)
    stats = LatencyStats.from_samples(samples)

    original = onnx_graph(model_path)
    rows, runs_ms, profiled_runs, stalled = _rows_from_events(events, profiled_iterations)
    labels = [n.name or f"{n.op_type}#{i}" for i, n in enumerate(original.node)]
    if optimized is not None:
        row_nodes = map_optimized_nodes(original, optimized)
    else:
        by_name = {n.name: [label] for n, label in zip(original.node, labels) if n.name}
        row_nodes = {name: by_name.get(name, []) for name in rows}
        notes.append(
            "ONNX Runtime could not save its optimised graph, so rows are matched to ONNX nodes by name only."
        )
    order = {label: i for i, label in enumerate(labels)}
    layers = []
    node_rows: dict[str, str] = {}
    for name, (op_type, mean_us) in rows.items():
        nodes = sorted(set(row_nodes.get(name, [])), key=lambda n: order.get(n, len(order)))
        for node in nodes:
            node_rows.setdefault(node, name)
        layers.append(LayerTime(name=name, op_type=op_type, ms=mean_us / 1000.0, onnx_nodes=nodes))
    profiled_run_ms = float(np.mean(runs_ms)) if runs_ms else 0.0
    layer_sum = sum(layer.ms for layer in layers)
    # Shares of the profiled run: the rows plus the time outside every node make 1.
    between = max(0.0, profiled_run_ms - layer_sum)
    whole = layer_sum + between
    for layer in layers:
        layer.share = layer.ms / whole if whole else 0.0
    by_op: dict[str, float] = defaultdict(float)
    for layer in layers:
        by_op[layer.op_type] += layer.ms
    unmapped_rows = [layer.name for layer in layers if not layer.onnx_nodes]
    unmapped_nodes = [label for label in labels if label not in node_rows]
    # Against the median latency: like the stall-free profiled runs, a run the machine
    # interrupted does not move it.
    latency_ratio = layer_sum / stats.median if stats.median > 0 else 0.0
    overhead = profiled_run_ms / stats.median if stats.median > 0 else 0.0
    low, high = ROWS_EXPLAIN_LATENCY
    row_basis = "latency" if low <= latency_ratio <= high else "shares"

    if optimization != "all":
        notes.append(
            f"optimization={optimization!r}: the session ran with ONNX Runtime's {optimization} graph optimisations "
            "only, so this latency is not what the fully optimised model runs at (the default, 'all')."
        )
    if row_basis == "latency":
        notes.append(
            f"Per-node times come from the same session as the latency ({profiled_runs} profiled runs after "
            f"{warmup} warm-up; fused nodes list the ONNX nodes they ran). They add up to {latency_ratio:.2f}x "
            f"the latency; the profiler made a run {overhead:.2f}x as long."
        )
    else:
        why = (
            f"on a model this small ONNX Runtime's per-node overhead and the profiler's (a profiled run "
            f"takes {overhead:.2f}x as long) dominate"
            if stats.median < SMALL_MODEL_MS
            else f"the profiled runs took {overhead:.2f}x as long as the timed ones (the machine was busier "
            "during one of them, or the profiler's overhead is large here)"
        )
        notes.append(
            f"The per-node times add up to {latency_ratio:.2f}x the latency, not to it: {why}. Read the rows "
            "as shares of the profiled run (the share column), not as milliseconds of the latency; "
            f"{between / whole if whole else 0:.0%} of that run is outside any node."
        )
    if stalled:
        notes.append(
            f"{stalled} of {profiled_runs} profiled runs took over {_STALL}x the median run (the machine "
            "interrupted them) and were left out of the per-node times."
        )
    if unmapped_rows:
        inserted_ms = sum(layer.ms for layer in layers if not layer.onnx_nodes)
        notes.append(
            f"{len(unmapped_rows)} row(s) come from no ONNX node, {inserted_ms:.3f} ms together: ONNX Runtime "
            f"inserted or moved them (layout reorders and the like: {', '.join(unmapped_rows[:3])}"
            f"{'…' if len(unmapped_rows) > 3 else ''})."
        )
    if unmapped_nodes:
        notes.append(
            f"{len(unmapped_nodes)} ONNX node(s) ran in no profiled node: ONNX Runtime folded them into "
            f"constants or removed them ({', '.join(unmapped_nodes[:3])}{'…' if len(unmapped_nodes) > 3 else ''})."
        )
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
        layer_sum_ms=layer_sum,
        profiled_run_ms=profiled_run_ms,
        by_op_type=dict(sorted(by_op.items(), key=lambda item: -item[1])),
        samples_ms=samples,
        model=model_path,
        notes=notes,
        optimization=optimization,
        profiled_iterations=profiled_runs,
        stalled_runs=stalled,
        profiler_overhead=overhead,
        latency_ratio=latency_ratio,
        row_basis=row_basis,
        between_nodes_ms=between,
        between_nodes_share=between / whole if whole else 0.0,
        node_rows=node_rows,
        unmapped_onnx_nodes=unmapped_nodes,
        unmapped_rows=unmapped_rows,
        executor="local",  # in the caller's process, on this machine
    )


def onnx_graph(path: str) -> Any:
    """The graph of an ONNX file, without its weights."""
    import onnx

    return onnx.load(path, load_external_data=False).graph


def _load_graph(path: str) -> Any:
    if not os.path.exists(path):
        return None
    try:
        return onnx_graph(path)
    except Exception:
        return None


def _rows_from_events(
    events: list[dict[str, Any]], iterations: int, stall: float | None = None
) -> tuple[dict[str, tuple[str, float]], list[float], int, int]:
    """Node times of the last ``iterations`` runs in an ONNX Runtime trace.

    Events are attributed to runs by time: a node event belongs to the ``model_run`` whose
    span holds it, so the warm-up runs before them drop out whole. An event nested in
    another node's span (a node of an If/Loop body) is part of its parent's time, not a row.
    A run that took more than ``stall`` (default ``_STALL``) x the median run was interrupted by the machine
    (its stall lands on whichever node it hit): it is dropped. Returns name -> (op type,
    mean µs per kept run), the kept runs' durations (ms), the number of profiled runs and
    the number dropped as stalled.
    """
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )[-iterations:]
    nodes = sorted(
        (e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")),
        key=lambda e: e["ts"],
    )
    op_of: dict[str, str] = {}
    per_run: list[dict[str, float]] = []
    k = 0
    for run in runs:
        begin, end = run["ts"], run["ts"] + run["dur"]
        totals: dict[str, float] = defaultdict(float)
        outer_end = -1
        while k < len(nodes) and nodes[k]["ts"] < begin:
            k += 1  # a warm-up run's node
        while k < len(nodes) and nodes[k]["ts"] <= end:
            event = nodes[k]
            k += 1
            if event["ts"] < outer_end:
                continue  # inside another node (a subgraph's node): its time is the parent's
            outer_end = event["ts"] + event["dur"]
            name = event["name"][: -len("_kernel_time")]
            op_of[name] = op_of.get(name) or event.get("args", {}).get("op_name", "")
            totals[name] += float(event["dur"])
        per_run.append(totals)
    durations = [float(r["dur"]) for r in runs]
    limit = (stall or _STALL) * float(np.median(durations)) if durations else 0.0
    kept = [i for i, d in enumerate(durations) if d <= limit]
    rows = {
        name: (op_type, sum(per_run[i].get(name, 0.0) for i in kept) / max(1, len(kept)))
        for name, op_type in op_of.items()
    }
    return rows, [durations[i] / 1000.0 for i in kept], len(runs), len(runs) - len(kept)


#: A profiled run this many times the median run was interrupted; its events are dropped.
_STALL = 1.5


#: Suffixes ONNX Runtime's optimisers append to the tensor or node a new node is named after.
_NAME_SUFFIXES = ("_nchwc",)


def map_optimized_nodes(original: Any, optimized: Any) -> dict[str, list[str]]:
    """ONNX Runtime node name -> the ONNX nodes (labels: name, else ``op#index``) it computes.

    Each optimised node stands for an original tensor: one of its outputs if that name
    survived, else the tensor or node its name was made from (``<tensor>_nchwc``), carried
    forward through the residual Add and activation a fused Conv absorbed. It is given the
    original nodes that tensor depends on which no earlier optimised node took, stopping at
    constant-only subgraphs (folded: they take no time). Many-to-one by construction; a node
    whose tensor cannot be told gets no ONNX node (it is reported, not guessed).
    """
    nodes = list(original.node)
    labels = [n.name or f"{n.op_type}#{i}" for i, n in enumerate(nodes)]
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        for t in node.output:
            if t:
                producer[t] = i
        for t in node.input:
            if t:
                consumers[t].append(i)
    by_name = {n.name: i for i, n in enumerate(nodes) if n.name}
    # Nodes that depend on no graph input are constant: ONNX Runtime folds them away.
    initializers = {t.name for t in original.initializer}
    live = {vi.name for vi in original.input if vi.name not in initializers}
    dynamic: set[int] = set()
    frontier = list(live)
    while frontier:
        tensor = frontier.pop()
        for c in consumers.get(tensor, []):
            if c not in dynamic:
                dynamic.add(c)
                frontier.extend(t for t in nodes[c].output if t)
    for i, node in enumerate(nodes):
        if node.op_type in ("If", "Loop", "Scan"):
            dynamic.add(i)  # their bodies may read graph inputs from the outer scope

    def seed_tensor(node: Any) -> list[str]:
        survived = [t for t in node.output if t in producer]
        if survived:
            return survived
        candidates = [node.name] + [node.name[: -len(s)] for s in _NAME_SUFFIXES if node.name.endswith(s)]
        for name in candidates:
            if name in producer:
                return [name]
            if name in by_name:
                return [t for t in nodes[by_name[name]].output if t]
        # A name made from an original node's name plus a pass's tag ("/a/MatMul/MatMulScaleFusion/").
        prefixes = [
            n for n in by_name if node.name.startswith(n) and node.name[len(n) : len(n) + 1] in ("/", "_")
        ]
        if prefixes:
            return [t for t in nodes[by_name[max(prefixes, key=len)]].output if t]
        return []

    def absorbed(node: Any, tensors: list[str]) -> list[str]:
        """A fused Conv named after its own output also computed the Add and activation after it."""
        if node.op_type not in ("Conv", "FusedConv") or len(tensors) != 1:
            return tensors
        tensor = tensors[0]
        has_sum = len(node.input) > 3 and bool(node.input[3])
        activation = next(
            (a.s.decode() for a in node.attribute if a.name == "activation" and a.s),
            "",
        )

        def step(tensor: str, ops: tuple[str, ...]) -> str:
            after = consumers.get(tensor, [])
            if len(after) == 1 and nodes[after[0]].op_type in ops and nodes[after[0]].output:
                return nodes[after[0]].output[0]
            return tensor

        if has_sum:
            tensor = step(tensor, ("Add", "Sum"))
        if activation and (tensor not in producer or nodes[producer[tensor]].op_type != activation):
            tensor = step(tensor, (activation,))
        return [tensor]

    assigned: dict[int, str] = {}
    result: dict[str, list[str]] = defaultdict(list)
    for node in optimized.node:
        survived = [t for t in node.output if t in producer]
        tensors = survived or absorbed(node, seed_tensor(node))
        stack = [producer[t] for t in tensors if t in producer]
        region: list[int] = []
        while stack:
            i = stack.pop()
            if i in assigned or i not in dynamic:
                continue
            assigned[i] = node.name
            region.append(i)
            stack.extend(producer[t] for t in nodes[i].input if t in producer)
        result[node.name].extend(labels[i] for i in sorted(region))
    return dict(result)


def profile_tensorrt(
    engine_path: str,
    *,
    shapes: dict[str, list[int]] | None = None,
    warmup: int = 10,
    iterations: int = 100,
    cuda_graph: bool = True,
    exports_dir: str | None = None,
) -> Profile:
    """Per-layer and end-to-end timing of a TensorRT engine on the GPU (in a worker process).

    Needs a GPU that can run the engine; TensorRT-RTX engines need a supported RTX GPU.
    With ``exports_dir``, the profile is also written as the files trtexec writes
    (``<engine>.graph.json``, ``.profile.json``, ``.timing.json``), so it opens in the
    engine explorer beside exports made on other GPUs.
    """
    from workbench.env import collect_environment
    from workbench.executor import Needs, Task, file_artifact, run_task

    if not collect_environment().gpus:
        raise WorkbenchError(
            "Timing a TensorRT engine needs an NVIDIA GPU; there is none here. Use --backend onnxruntime for CPU timings of the ONNX model."
        )
    from workbench.backends import resolve_backend, worker_environment

    backend = resolve_backend("auto")
    raw = run_task(
        Task(
            "profile",
            "workbench.trt_worker:profile_engine",
            {
                "engine_path": engine_path,
                "shapes": shapes,
                "warmup": warmup,
                "iterations": iterations,
                "cuda_graph": cuda_graph,
                "backend": backend.name,
            },
            env=worker_environment(backend),
            timeout=1800,
            artifacts={"engine_path": file_artifact(engine_path)},
            needs=Needs(backend=backend.name, gpu=True),
        )
    )
    profile = Profile.from_dict(raw)
    ran_on = raw.get("executed_on") or {}
    profile.executor, profile.node = ran_on.get("executor"), ran_on.get("node")
    if exports_dir:
        write_profile_exports(profile, exports_dir, stem=Path(engine_path).name)
    return profile


def write_profile_exports(profile: Profile, folder: str, *, stem: str) -> dict[str, Path]:
    """A GPU profile as trtexec's export files (one row per layer; per-inference latencies)."""
    from workbench.engine_report import write_trtexec_exports

    total = sum(layer.ms for layer in profile.layers) or 1.0
    rows = [
        {
            "name": layer.name,
            "timeMs": layer.ms * profile.iterations,
            "averageMs": layer.ms,
            "medianMs": layer.ms,
            "percentage": 100.0 * layer.ms / total,
        }
        for layer in profile.layers
    ]
    return write_trtexec_exports(
        folder,
        stem=stem,
        layers=[layer.name for layer in profile.layers],
        profile_rows=rows,
        times=list(profile.samples_ms),
        profile_metadata={"device_information": {"Selected Device": profile.device}},
    )


def profile_any(
    path: str,
    *,
    backend: str = "onnxruntime",
    shapes: dict[str, list[int]] | None = None,
    iterations: int = 50,
    warmup: int = 5,
    optimization: str = "all",
    exports_dir: str | None = None,
) -> Profile:
    """The ``profile`` command: an ONNX model in ONNX Runtime, or an engine in TensorRT.

    ``optimization`` is ONNX Runtime's graph optimisation level (``"all"``, the default;
    ``"basic"`` keeps nodes closer to the ONNX graph, with a note that its latency is not
    the optimised one). With ``exports_dir``, a TensorRT profile is also written as
    trtexec's export files, for the engine explorer.
    """
    if backend == "tensorrt" or path.endswith((".engine", ".plan", ".trt")):
        return profile_tensorrt(path, shapes=shapes, iterations=iterations, warmup=warmup, exports_dir=exports_dir)
    return profile_onnxruntime(
        path, shapes=shapes, iterations=iterations, warmup=warmup, optimization=optimization
    )


def reconcile(profile: Profile) -> dict[str, Any]:
    """How the per-layer times add up: against the end-to-end time of the profiled runs they
    were measured in (``end_to_end_ms``, ``ratio``) and against the un-profiled latency shown
    beside them (``latency_ms``, ``latency_ratio``), with the profiler's own overhead."""
    ref = profile.profiled_run_ms or profile.latency_ms.mean
    latency = profile.latency_ms.median
    return {
        "layer_sum_ms": profile.layer_sum_ms,
        "end_to_end_ms": ref,
        "ratio": profile.layer_sum_ms / ref if ref else None,
        "latency_ms": latency,
        "latency_ratio": profile.layer_sum_ms / latency if latency else None,
        "profiler_overhead": profile.profiler_overhead or (ref / latency if latency else None),
        "row_basis": profile.row_basis,
    }
