"""TensorRT work that runs inside an isolated worker process (see :mod:`workbench.isolation`).

Written once against TensorRT's documented Python API and shared by full TensorRT
(10.x, 11.x) and TensorRT-RTX, which has the same shape. mypy checks it against the
TensorRT 10.13 stubs; APIs that only one of them has (``set_compute_capability`` is
TensorRT-RTX's) are reached through ``getattr`` guards.

Every function here returns plain data (dicts of str/int/float/list), never TensorRT
objects, because its result crosses a process boundary.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Any

from workbench.backends import (
    BackendInfo,
    import_backend,
    prepare_polygraphy,
    require_backend_name,
    resolve_backend,
)
from workbench.worker_records import BuildOutcome, ParseOutcome, WorkerBackend

if TYPE_CHECKING:
    import tensorrt as trt
else:
    trt = None  # bound to tensorrt or tensorrt_rtx by _bind() in the worker

_BOUND: BackendInfo | None = None

#: Log lines that are noise on a CPU-only machine: TensorRT-RTX probes for a GPU and
#: reports that the CUDA driver is missing, which says nothing about the model.
NOISE_PATTERNS = (
    re.compile(r"cudaError 35"),
    re.compile(r"CUDA driver version is insufficient"),
    re.compile(r"CUDA initialization failure"),
    re.compile(r"--- (Begin|End) node ---"),
    re.compile(r"^\s*Node name:"),
)

SEVERITY_NAMES = {0: "internal_error", 1: "error", 2: "warning", 3: "info", 4: "verbose"}


def _bind(backend: str) -> BackendInfo:
    """Import the chosen backend once per worker and point Polygraphy at it."""
    global trt, _BOUND
    name = require_backend_name(backend)
    if _BOUND is None or _BOUND.name != name:
        info = BackendInfo(name=name, version="")
        prepare_polygraphy(info)
        trt = import_backend(info)
        # The module's own version is the package's; asking package metadata instead costs
        # a one-shot command more than parsing a small model.
        version = str(getattr(trt, "__version__", "") or resolve_backend(name).version)
        _BOUND = BackendInfo(name=name, version=version)
    return _BOUND


def warm_up() -> None:
    """Worker preload hook: import the backend named by ``TRT_WORKBENCH_BACKEND`` ahead of the first task."""
    import os

    _bind(os.environ.get("TRT_WORKBENCH_BACKEND", "auto"))


def is_noise(message: str) -> bool:
    return any(p.search(message) for p in NOISE_PATTERNS)


def make_logger(min_severity: int = 2) -> Any:
    """A TensorRT logger that keeps (severity, message) records instead of printing them."""

    class CollectingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.records: list[tuple[str, str]] = []
            self.mark = 0

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            level = int(severity)
            if level <= min_severity and not is_noise(msg):
                self.records.append((SEVERITY_NAMES.get(level, str(level)), msg))

        def errors_since_mark(self) -> list[str]:
            return [m for s, m in self.records[self.mark :] if s in ("error", "internal_error")]

    return CollectingLogger()


def parse_target(target: str | None) -> tuple[str, int, int] | None:
    """``"sm89"``/``"8.9"``/``"89"`` -> ``("SM89", 8, 9)`` (TensorRT-RTX's enum member name);
    None when no target was given. The digits are read by ``precision.sm_tuple``, as everywhere."""
    from workbench.precision import sm_tuple

    parsed = sm_tuple(target)
    if parsed is None:
        return None
    major, minor = parsed
    return f"SM{major}{minor}", major, minor


def apply_target(config: trt.IBuilderConfig, target: str | None) -> str | None:
    """Build for a compute capability ahead of time (TensorRT-RTX); full TensorRT builds for its GPU."""
    parsed = parse_target(target)
    if parsed is None:
        return None
    name, _, _ = parsed
    capability_enum = getattr(trt, "ComputeCapability", None)
    setter = getattr(config, "set_compute_capability", None)
    if capability_enum is None or setter is None:
        return None  # full TensorRT: the engine is built for the GPU it runs on
    member = getattr(capability_enum, name, None)
    if member is None:
        supported = [m for m in capability_enum.__members__ if m.startswith("SM")]
        raise ValueError(
            f"{_BOUND.name if _BOUND else 'This TensorRT'} cannot target {name}: it builds for {', '.join(supported)}."
        )
    config.num_compute_capabilities = 1  # type: ignore[attr-defined]
    setter(member, 0)
    return name.lower()


def network_inputs(network: trt.INetworkDefinition) -> list[dict[str, Any]]:
    result = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        result.append(
            {
                "name": tensor.name,
                "shape": [int(tensor.shape[d]) for d in range(len(tensor.shape))],
                "dtype": str(tensor.dtype).split(".")[-1].lower(),
                "is_shape_tensor": bool(tensor.is_shape_tensor),
            }
        )
    return result


def add_profile(
    builder: trt.Builder,
    config: trt.IBuilderConfig,
    network: trt.INetworkDefinition,
    shapes: dict[str, list[list[int]]] | None,
) -> dict[str, Any] | None:
    """One optimization profile from user shapes; dynamic dims nobody gave become 1 (Polygraphy's convention)."""
    inputs = network_inputs(network)
    dynamic = [i for i in inputs if any(d < 0 for d in i["shape"])]
    given = shapes or {}
    if not dynamic and not given:
        return None
    from workbench.shapes import InputShape, concrete_shapes

    defaults, _ = concrete_shapes([InputShape(i["name"], i["shape"]) for i in dynamic])
    profile = builder.create_optimization_profile()
    used: dict[str, Any] = {}
    assumed = []
    for inp in inputs:
        triple = given.get(inp["name"])
        if triple is None:
            if inp["name"] not in defaults:
                continue
            static = defaults[inp["name"]]
            triple = [static, static, static]
            assumed.append(inp["name"])
        if inp["is_shape_tensor"]:
            profile.set_shape_input(inp["name"], *triple)
        else:
            profile.set_shape(inp["name"], *(trt.Dims(dims) for dims in triple))
        used[inp["name"]] = triple
    config.add_optimization_profile(profile)
    return {"shapes": used, "assumed": assumed}


def _parser_errors(parser: trt.OnnxParser) -> list[dict[str, Any]]:
    errors = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        entry: dict[str, Any] = {
            "node_index": int(err.node()),
            "code": str(err.code()).split(".")[-1],
            "desc": err.desc(),
            "func": err.func(),
            "file": err.file(),
            "line": int(err.line()),
        }
        # node_name() and node_operator() arrived in TensorRT 10; guard older bindings.
        entry["node_name"] = err.node_name() if hasattr(err, "node_name") else ""
        entry["op_type"] = err.node_operator() if hasattr(err, "node_operator") else ""
        stack_size = getattr(err, "local_function_stack_size", None)
        entry["local_functions"] = list(err.local_function_stack()) if stack_size and stack_size() else []
        errors.append(entry)
    return errors


def _capability(parser: trt.OnnxParser, model_bytes: bytes, model_path: str) -> list[dict[str, Any]] | None:
    """Which node ranges TensorRT supports, as ``polygraphy inspect capability`` reports them."""
    supports = getattr(parser, "supports_model_v2", None)
    if supports is None:
        return None
    supports(model_bytes, model_path)
    ranges = []
    for i in range(parser.num_subgraphs):
        ranges.append(
            {
                "supported": bool(parser.is_subgraph_supported(i)),
                "nodes": [int(n) for n in parser.get_subgraph_nodes(i)],
            }
        )
    return ranges


def parse_and_check(
    model_path: str,
    backend: str = "auto",
    build_check: bool = False,
    target: str | None = None,
    shapes: dict[str, list[list[int]]] | None = None,
    capability: bool = False,
    builder_optimization_level: int | None = None,
) -> dict[str, Any]:
    """Parse with the ONNX parser (``parse_from_file``, so external data resolves) and,
    when it parses and ``build_check`` is set, build the network once.

    Returns plain data: backend, parse errors, build errors, the profile used, the
    capability partition, the filtered log and where the time went.
    """
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    info = _bind(backend)
    seconds["import"] = time.perf_counter() - start

    logger = make_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    start = time.perf_counter()
    parse_ok = bool(parser.parse_from_file(model_path))
    seconds["parse"] = time.perf_counter() - start
    result: dict[str, Any] = {
        "backend": {"name": info.name, "version": info.version},
        "parse_ok": parse_ok,
        "parse_errors": _parser_errors(parser),
        "build_ok": None,
        "build_errors": [],
        "target": None,
        "profile": None,
        "capability": None,
        "engine_bytes": None,
        "network_inputs": network_inputs(network) if parse_ok else [],
    }

    if capability and parse_ok:
        # A model that parses is supported node for node: no second pass needed.
        result["capability"] = []
    elif capability:
        start = time.perf_counter()
        with open(model_path, "rb") as handle:
            model_bytes = handle.read()
        # The parser does not own its network or logger: keep both alive while it works
        # (a temporary network here is freed under the parser and crashes it).
        cap_network = builder.create_network(0)
        cap_logger = make_logger(min_severity=-1)
        cap_parser = trt.OnnxParser(cap_network, cap_logger)
        result["capability"] = _capability(cap_parser, model_bytes, model_path)
        del cap_parser, cap_network, cap_logger
        seconds["capability"] = time.perf_counter() - start

    if parse_ok and build_check:
        config = builder.create_builder_config()
        if builder_optimization_level is not None:
            config.builder_optimization_level = builder_optimization_level
        try:
            result["target"] = apply_target(config, target)
            result["profile"] = add_profile(builder, config, network, shapes)
        except (ValueError, TypeError, RuntimeError) as exc:
            result["build_ok"] = False
            result["build_errors"] = [str(exc)]
        else:
            logger.mark = len(logger.records)
            start = time.perf_counter()
            engine = builder.build_serialized_network(network, config)
            seconds["build"] = time.perf_counter() - start
            result["build_ok"] = engine is not None
            result["engine_bytes"] = int(engine.nbytes) if engine is not None else None
            result["build_errors"] = logger.errors_since_mark() if engine is None else []
            if engine is None and not result["build_errors"]:
                result["build_errors"] = ["The builder returned no engine and logged no error."]
    result["log"] = logger.records
    result["seconds"] = seconds
    # The typed record is the contract; its dict is what crosses the process boundary.
    return ParseOutcome.from_dict(result).to_dict()


# ----------------------------------------------------------------------------- engine builds


def _polygraphy_profiles(profiles: list[dict[str, list[list[int]]]]) -> list[Any]:
    from polygraphy.backend.trt import Profile

    result = []
    for shapes in profiles:
        profile = Profile()
        for name, (lo, opt, hi) in shapes.items():
            profile.add(name, min=lo, opt=opt, max=hi)
        result.append(profile)
    return result


def build_engine(
    model_path: str,
    engine_path: str,
    backend: str = "auto",
    precision: str = "fp32",
    profiles: list[dict[str, list[list[int]]]] | None = None,
    target: str | None = None,
    keep_precision: list[str] | None = None,
    builder_optimization_level: int | None = None,
    workspace_mib: int | None = None,
    timing_cache_path: str | None = None,
    calibration_npz: str | None = None,
    calibrator: str = "entropy",
    calibration_cache_path: str | None = None,
    version_compatible: bool = False,
    hardware_compatibility: str | None = None,
    **other_options: Any,
) -> dict[str, Any]:
    """Build one engine and report its layers, with Polygraphy creating the builder config.

    ``other_options`` are build options (``workbench.build_options``) this worker does not
    apply yet: each one that is set comes back in ``ignored_options``, never silently.

    Strongly typed backends (TensorRT-RTX, TensorRT 11) get a model whose precision is
    already in the graph; weakly typed TensorRT 10 gets builder flags, a Polygraphy
    Calibrator for INT8 and layer precision constraints for ``keep_precision``. The
    builder's detailed layer log gives each layer's precision and ONNX nodes.
    """
    info = _bind(backend)
    seconds: dict[str, float] = {}
    logger = make_logger(min_severity=4)
    builder = trt.Builder(logger)
    from workbench.precision import PRECISION_INFO

    row = PRECISION_INFO[precision]
    strongly_typed = info.strongly_typed_only
    flags = 0
    if not strongly_typed and row.transform_on_trt10:
        flags = 1 << int(
            trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED
        )  # FP8 Q/DQ graphs build strongly typed
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    start = time.perf_counter()
    if not parser.parse_from_file(model_path):
        errors = [f"{e['node_name'] or e['op_type']}: {e['desc']}" for e in _parser_errors(parser)]
        return BuildOutcome(
            ok=False,
            backend=WorkerBackend(info.name, info.version),
            error="The model does not parse: " + "; ".join(errors[:3]),
            log=_important(logger.records),
            seconds=seconds,
        ).to_dict()
    seconds["parse"] = time.perf_counter() - start

    common: dict[str, Any] = {
        "profiles": _polygraphy_profiles(profiles) if profiles else None,
        "profiling_verbosity": trt.ProfilingVerbosity.DETAILED,
        "builder_optimization_level": builder_optimization_level,
        "load_timing_cache": timing_cache_path
        if timing_cache_path and os.path.exists(timing_cache_path)
        else None,
        "version_compatible": version_compatible or None,
    }
    if workspace_mib:
        common["memory_pool_limits"] = {trt.MemoryPoolType.WORKSPACE: workspace_mib * 2**20}
    if hardware_compatibility:
        common["hardware_compatibility_level"] = getattr(
            trt.HardwareCompatibilityLevel, hardware_compatibility.upper()
        )
    if info.name == "tensorrt-rtx":
        from polygraphy.backend.tensorrt_rtx import CreateConfigRTX

        parsed = parse_target(target)
        create = CreateConfigRTX(compute_capabilities=[(parsed[1], parsed[2])] if parsed else None, **common)
    else:
        from polygraphy.backend.trt import CreateConfig

        calibrator_obj = None
        weakly = not strongly_typed and not row.transform_on_trt10
        if row.calibrated and weakly:
            calibrator_obj = _calibrator(calibration_npz, calibrator, calibration_cache_path)
        if keep_precision and weakly:
            _constrain_layers(network, set(keep_precision))
        switches = builder_switches(precision, strongly_typed)
        create = CreateConfig(
            calibrator=calibrator_obj,
            precision_constraints="obey" if keep_precision and weakly else None,
            **switches,
            **common,
        )
    config = create(builder, network)
    # TF32 is on by default: "fp32" means true FP32 math, "tf32" allows TF32 tensor cores.
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
    elif precision == "tf32":
        config.set_flag(trt.BuilderFlag.TF32)

    start = time.perf_counter()
    engine = builder.build_serialized_network(network, config)
    seconds["build"] = time.perf_counter() - start
    from workbench.engine_layers import find_layer_message, parse_layer_log

    message = find_layer_message(logger.records)
    layers = parse_layer_log(message) if message else []
    # The whole log, verbose lines included, beside the engine: the result keeps the important part.
    log_path = os.path.splitext(engine_path)[0] + ".build.log"
    with open(log_path, "w", encoding="utf-8") as handle:
        for severity, line in logger.records:
            handle.write(f"[{severity}] {line}\n")
    outcome = BuildOutcome(
        ok=engine is not None,
        backend=WorkerBackend(info.name, info.version),
        target=_target_name(target) if info.name == "tensorrt-rtx" else None,
        layers=layers,
        layer_log_found=message is not None,
        log_path=log_path,
        seconds=seconds,
        log=_important(logger.records),
        warnings=[m for s, m in logger.records if s == "warning"][:50],
        ignored_options=sorted(k for k, v in other_options.items() if v not in (None, False)),
    )
    if engine is None:
        errors = [m for s, m in logger.records if s in ("error", "internal_error")]
        outcome.error = errors[-1] if errors else "The builder returned no engine and logged no error."
        return outcome.to_dict()
    with open(engine_path, "wb") as handle:
        handle.write(memoryview(engine))  # type: ignore[arg-type]
    outcome.engine_bytes = int(engine.nbytes)
    if timing_cache_path:
        _save_timing_cache(config, timing_cache_path)
    return outcome.to_dict()


def builder_switches(precision: str, strongly_typed: bool) -> dict[str, bool]:
    """The Polygraphy ``CreateConfig`` switches that ask TensorRT 10 for ``precision``.

    From the precision table; none on a strongly typed network (its precision is in the
    graph), except TF32, an allowance rather than a type.
    """
    from workbench.precision import PRECISION_INFO

    row = PRECISION_INFO[precision]
    weakly = not strongly_typed and not row.transform_on_trt10
    return {flag: True for flag in row.trt10_flags if weakly or flag == "tf32"}


def _save_timing_cache(config: Any, path: str) -> None:
    """Merge this build's tactic timings into the shared cache, under Polygraphy's file lock.

    Parallel builds share one cache: each takes the lock, combines what is on disk into its
    own cache (as Polygraphy's EngineBytesFromNetwork does) and replaces the file in one
    rename, so no build's timings are lost and no reader sees half a file.
    """
    from polygraphy import util as polygraphy_util

    cache = config.get_timing_cache()
    if cache is None:
        return
    with polygraphy_util.LockFile(path):
        if os.path.exists(path):
            try:
                with open(path, "rb") as handle:
                    previous = config.create_timing_cache(handle.read())
                cache.combine(previous, ignore_mismatch=True)
            except Exception:  # a damaged or foreign cache is replaced, not fatal
                pass
        staged = f"{path}.{os.getpid()}.tmp"
        with open(staged, "wb") as handle:
            handle.write(memoryview(cache.serialize()))  # type: ignore[arg-type]
        os.replace(staged, path)


def _target_name(target: str | None) -> str | None:
    parsed = parse_target(target)
    return parsed[0].lower() if parsed else None


def _important(records: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The log without the verbose chatter (and without the huge layer listing)."""
    return [
        (s, m)
        for s, m in records
        if s in ("internal_error", "error", "warning") or (s == "info" and not m.startswith("Layers:"))
    ][-400:]


def _calibrator(calibration_npz: str | None, kind: str, cache_path: str | None) -> Any:
    """Polygraphy's Calibrator over the .npz samples (TensorRT 10's INT8 path)."""
    import numpy as np
    from polygraphy.backend.trt import Calibrator

    if calibration_npz is None:
        raise ValueError("INT8 with TensorRT 10 needs calibration data")
    with np.load(calibration_npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    count = min(a.shape[0] for a in arrays.values())

    def batches() -> Any:
        for i in range(count):
            yield {k: v[i : i + 1] for k, v in arrays.items()}

    base = trt.IInt8EntropyCalibrator2 if kind == "entropy" else trt.IInt8MinMaxCalibrator
    return Calibrator(batches(), cache=cache_path, BaseClass=base)


def _constrain_layers(network: trt.INetworkDefinition, keep: set[str]) -> None:
    """Keep the layers made from these ONNX nodes in FP32 (TensorRT 10 precision constraints)."""
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.name in keep or any(layer.name.startswith(name) for name in keep):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)


# ----------------------------------------------------------------------------- GPU timing


def profile_engine(
    engine_path: str,
    shapes: dict[str, list[int]] | None = None,
    warmup: int = 10,
    iterations: int = 100,
    cuda_graph: bool = True,
    backend: str = "auto",
) -> dict[str, Any]:
    """Time an engine on the GPU: end-to-end with Polygraphy's TrtRunner, per layer with an IProfiler.

    Layer names map to ONNX nodes through the engine inspector's metadata. (Runs only where
    a GPU can execute the engine; the CPU-only tests skip it.)
    """
    import json
    from collections import defaultdict

    import numpy as np
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner

    info = _bind(backend)
    with open(engine_path, "rb") as handle:
        engine = EngineFromBytes(handle.read())()

    class LayerProfiler(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.times: dict[str, list[float]] = defaultdict(list)

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.times[layer_name].append(ms)

    from workbench.shapes import InputShape, concrete_shapes
    from workbench.synthetic import random_value

    notes: list[str] = []
    with TrtRunner(engine) as runner:
        feeds = {}
        rng = np.random.default_rng(0)
        metadata = runner.get_input_metadata()
        concrete, defaulted = concrete_shapes(
            [InputShape(name, list(meta.shape)) for name, meta in metadata.items()], shapes
        )
        notes += defaulted
        for name, meta in metadata.items():
            shape = concrete[name]
            dtype = np.dtype(meta.dtype.numpy() if hasattr(meta.dtype, "numpy") else meta.dtype)
            feeds[name] = random_value(shape, dtype, rng)
        for _ in range(warmup):
            runner.infer(feeds)
        samples = []
        for _ in range(iterations):
            runner.infer(feeds)
            samples.append(runner.last_inference_time() * 1000.0)
        profiler = LayerProfiler()
        runner.context.profiler = profiler
        profiled = []
        for _ in range(max(5, iterations // 10)):
            runner.infer(feeds)
            profiled.append(runner.last_inference_time() * 1000.0)
    try:
        streams = _stream_throughput(engine, feeds, streams=2)
        notes.append(
            f"{streams['streams']} streams (one execution context each): {streams['throughput']:.1f} inferences/s in total."
        )
        if cuda_graph and "cuda_graph_ms" in streams:
            notes.append(
                f"CUDA graph replay: {streams['cuda_graph_ms']:.3f} ms median (plain enqueue + synchronize: {float(np.median(samples)):.3f} ms)."
            )
        elif cuda_graph:
            notes.append(f"CUDA graph not measured: {streams.get('cuda_graph_error')}.")
    except Exception as exc:  # multi-stream needs memory for extra contexts; report, do not fail the profile
        streams = {}
        notes.append(f"Multi-stream throughput not measured: {exc}")
    inspector = engine.create_engine_inspector()
    nodes_of: dict[str, list[str]] = {}
    try:
        described = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
        for layer in described.get("Layers", []):
            if isinstance(layer, dict):
                metadata = str(layer.get("Metadata", ""))
                nodes_of[str(layer.get("Name", ""))] = [
                    m.split("]")[0] for m in metadata.split("[ONNX Layer: ")[1:]
                ]
    except Exception as exc:  # the inspector's JSON is best-effort across versions
        notes.append(f"Layer-to-node mapping unavailable: {exc}")
    count = max(1, len(profiled))
    layer_ms = [float(sum(times)) / count for times in profiler.times.values()]
    layers = [
        {"name": name, "op_type": "", "ms": float(sum(times)) / count, "onnx_nodes": nodes_of.get(name, [])}
        for name, times in profiler.times.items()
    ]
    a = np.asarray(samples)
    stats = {
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "min": float(a.min()),
        "max": float(a.max()),
        "std": float(a.std()),
    }
    from workbench.env import collect_environment

    gpus = collect_environment().gpus
    return {
        "backend": f"{info.name} {info.version}",
        "device": gpus[0].name if gpus else "gpu",
        "latency_ms": stats,
        "throughput": 1000.0 / stats["mean"] if stats["mean"] else 0.0,
        "layers": sorted(layers, key=lambda layer: -layer["ms"]),
        "warmup": warmup,
        "iterations": iterations,
        "input_shapes": {k: list(v.shape) for k, v in feeds.items()},
        "layer_sum_ms": float(sum(ms for ms in layer_ms)),
        "profiled_run_ms": float(np.mean(profiled)) if profiled else 0.0,
        "samples_ms": samples,
        "model": engine_path,
        "notes": notes,
        "streams": streams,
    }


# ----------------------------------------------------------------------------- GPU drift with debug tensors


def _capsule_pointer(capsule: Any) -> int:
    import ctypes

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return int(get(capsule, None))


def engine_debug_tensors(
    model_path: str,
    feeds_npz: str,
    backend: str = "auto",
    profile: dict[str, list[list[int]]] | None = None,
    output_npz: str | None = None,
) -> dict[str, Any]:
    """Values of the engine's own (unfused) tensors on the GPU, through TensorRT's debug-tensor API.

    Marking every tensor a network output would change the engine (no fusion across the
    marked tensors). Instead the engine is built once plain; the tensors that survive as
    layer outputs are then marked with ``INetworkDefinition.mark_debug`` and read with an
    ``IDebugListener`` while the engine runs, so the measured engine is the one users ship.
    Returns ``{tensor name: array}`` (saved to an .npz beside the inputs) for comparison
    with the FP32 reference under the same ONNX names.
    """
    import json

    import numpy as np
    from polygraphy import cuda
    from polygraphy.backend.trt import CreateConfig, EngineFromBytes, Profile, TrtRunner

    _bind(backend)
    with np.load(feeds_npz, allow_pickle=False) as data:
        feeds = {k: data[k] for k in data.files}

    def make_network() -> tuple[Any, Any, Any, Any]:
        logger = make_logger()
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(model_path):
            raise ValueError("the model does not parse")
        return logger, builder, network, parser

    profiles = []
    if profile:
        p = Profile()
        for name, (lo, opt, hi) in profile.items():
            p.add(name, min=lo, opt=opt, max=hi)
        profiles = [p]
    # 1. A plain build tells which tensors survive fusion (the engine layers' outputs).
    _logger, builder, network, _parser = make_network()  # logger and parser must outlive the build
    config = CreateConfig(profiles=profiles or None, profiling_verbosity=trt.ProfilingVerbosity.DETAILED)(
        builder, network
    )
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ValueError("the engine did not build")
    engine = EngineFromBytes(bytes(memoryview(plan)))()
    described = json.loads(
        engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)
    )
    surviving = set()
    for layer in described.get("Layers", []):
        if isinstance(layer, dict):
            for out in layer.get("Outputs", []):
                if isinstance(out, dict) and "Name" in out:
                    surviving.add(str(out["Name"]))
    # 2. Rebuild with exactly those tensors marked as debug tensors.
    _logger, builder, network, _parser = make_network()
    marked = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            tensor = layer.get_output(j)
            if tensor.name in surviving and not tensor.is_network_output:
                network.mark_debug(tensor)
                marked.append(tensor.name)
    config = CreateConfig(profiles=profiles or None)(builder, network)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ValueError("the engine with debug tensors did not build")
    engine = EngineFromBytes(bytes(memoryview(plan)))()

    captured: dict[str, Any] = {}

    class Listener(trt.IDebugListener):
        def __init__(self) -> None:
            trt.IDebugListener.__init__(self)

        def process_debug_tensor(
            self, addr: Any, location: Any, type: trt.DataType, shape: trt.Dims, name: str, stream: int
        ) -> None:
            dims = [int(shape[d]) for d in range(len(shape))]
            dtype = np.dtype(trt.nptype(type))
            view = cuda.DeviceView(ptr=_capsule_pointer(addr), shape=tuple(dims), dtype=dtype)
            captured[name] = view.numpy().copy()

    listener = Listener()
    with TrtRunner(engine) as runner:
        runner.context.set_debug_listener(listener)
        runner.context.set_all_tensors_debug_state(True)
        outputs = runner.infer(feeds)
    out_path = output_npz or feeds_npz.replace(".npz", ".debug.npz")
    np.savez(
        out_path, **{k: v for k, v in {**captured, **{k: np.asarray(v) for k, v in outputs.items()}}.items()}
    )
    return {"path": out_path, "marked": marked, "captured": sorted(captured)}


def _stream_throughput(
    engine: Any, feeds: dict[str, Any], streams: int, seconds: float = 2.0
) -> dict[str, Any]:
    """Inferences per second with one execution context per CUDA stream, all streams busy.

    Also times CUDA-graph replay of one context when the CUDA runtime allows capture.
    """
    import ctypes

    import numpy as np
    from polygraphy import cuda

    result: dict[str, Any] = {"streams": streams}
    contexts = []
    for _ in range(streams):
        context = engine.create_execution_context()
        stream = cuda.Stream()
        buffers = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                host = np.ascontiguousarray(feeds[name])
                context.set_input_shape(name, trt.Dims(list(host.shape)))
                device = cuda.DeviceArray(shape=host.shape, dtype=host.dtype)
                device.copy_from(host, stream=stream)
            else:
                shape = [max(1, int(d)) for d in context.get_tensor_shape(name)]
                device = cuda.DeviceArray(
                    shape=tuple(shape), dtype=np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
                )
            context.set_tensor_address(name, device.ptr)
            buffers.append(device)
        contexts.append((context, stream, buffers))
    start = time.perf_counter()
    launched = 0
    while time.perf_counter() - start < seconds:
        for context, stream, _ in contexts:
            context.execute_async_v3(stream.ptr)
            launched += 1
        for _, stream, _ in contexts:
            stream.synchronize()
    elapsed = time.perf_counter() - start
    result["throughput"] = launched / elapsed

    # CUDA graph: capture one enqueue, then replay it (saves launch overhead on small models).
    context, stream, _ = contexts[0]
    runtime = cuda.wrapper().handle
    try:
        graph, exec_graph = ctypes.c_void_p(), ctypes.c_void_p()
        context.execute_async_v3(stream.ptr)  # first run outside capture, as TensorRT requires
        stream.synchronize()
        if runtime.cudaStreamBeginCapture(ctypes.c_void_p(stream.ptr), 0) != 0:
            raise RuntimeError("cudaStreamBeginCapture failed")
        context.execute_async_v3(stream.ptr)
        if runtime.cudaStreamEndCapture(ctypes.c_void_p(stream.ptr), ctypes.byref(graph)) != 0:
            raise RuntimeError("cudaStreamEndCapture failed (the engine may not be capturable)")
        if runtime.cudaGraphInstantiate(ctypes.byref(exec_graph), graph, ctypes.c_ulonglong(0)) != 0:
            raise RuntimeError("cudaGraphInstantiate failed")
        samples = []
        for _ in range(50):
            t = time.perf_counter()
            runtime.cudaGraphLaunch(exec_graph, ctypes.c_void_p(stream.ptr))
            stream.synchronize()
            samples.append((time.perf_counter() - t) * 1000.0)
        result["cuda_graph_ms"] = float(np.median(samples))
    except Exception as exc:
        result["cuda_graph_error"] = str(exc)
    return result
