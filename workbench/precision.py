"""One precision choice, two TensorRT worlds.

TensorRT 10 is weakly typed: FP16/BF16/INT8/FP8 are builder flags (INT8 with a
calibrator), and nodes kept in higher precision are layer precision constraints.
TensorRT 11 and TensorRT-RTX are strongly typed: precision is a property of the ONNX
graph, so the same choice becomes an ONNX transform before the build: ModelOpt AutoCast
for FP16/BF16 (I/O types kept) and ModelOpt post-training quantization (Q/DQ nodes) for
INT8/FP8, with ``nodes_to_exclude`` for the nodes kept high. The transformed ONNX is kept
as an artifact: it is what the drift analysis compares.

A precision a target cannot run is refused before anything is built, in one sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

CALIBRATORS = ("entropy", "max")

#: CPU executors a precision's numbers can come from (compare.py runs them).
ONNXRUNTIME_CPU = "onnxruntime"
ONNX_REFERENCE = "reference"


@dataclass(frozen=True)
class PrecisionInfo:
    """Everything the workbench knows about one precision; every module reads this row.

    Adding a precision is one row here (and its ONNX transform in ``transform_model`` when
    ``transform`` names a new kind): the CLI choices, the UI lists, the TensorRT 10 builder
    flags, the reproduction commands, the CPU executor and the chart colour follow.
    """

    name: str
    title: str
    #: Lowest compute capability (major, minor) with hardware support.
    min_sm: tuple[int, int]
    #: Needs calibration data (INT8, FP8).
    calibrated: bool
    #: ONNX transform for strongly typed backends: "autocast", "quantize" or None.
    transform: str | None
    why_min_sm: str = ""
    #: Polygraphy ``CreateConfig`` switches that ask weakly typed TensorRT 10 for it.
    trt10_flags: tuple[str, ...] = ()
    #: ``trtexec`` flags for TensorRT 10 (builder flags) and ``polygraphy convert`` flags.
    trtexec_flags: tuple[str, ...] = ()
    polygraphy_flags: tuple[str, ...] = ()
    #: TensorRT 10 builds it from the transformed (Q/DQ) graph too, strongly typed (FP8).
    transform_on_trt10: bool = False
    #: TensorRT 10 layer precision constraints can keep nodes high under it.
    keeps_nodes_high: bool = False
    #: What computes its numbers on a CPU (None: only a GPU can), and why, when it matters.
    cpu_executor: str | None = None
    cpu_note: str = ""
    #: The weights/activations are quantized (Q/DQ), not a float format.
    quantized: bool = False
    #: Chart colour (plots, graph view).
    color: str = "#7f7f7f"


PRECISION_INFO: dict[str, PrecisionInfo] = {}


def register_precision(info: PrecisionInfo) -> PrecisionInfo:
    """Add (or replace) a row of the precision table; the order of registration is the order shown."""
    PRECISION_INFO[info.name] = info
    global PRECISIONS
    PRECISIONS = tuple(PRECISION_INFO)
    return info


for _row in (
    PrecisionInfo(
        "fp32", "FP32", (7, 5), False, None,
        trtexec_flags=("--noTF32",), polygraphy_flags=(), cpu_executor=ONNXRUNTIME_CPU, color="#7f7f7f",
    ),
    PrecisionInfo(
        "tf32", "TF32", (8, 0), False, None, "TF32 tensor cores arrived with Ampere (SM80)",
        trt10_flags=("tf32",), polygraphy_flags=("--tf32",), color="#8c564b",
        cpu_note="TF32 has no CPU execution here: measure it with TensorRT on a GPU.",
    ),
    PrecisionInfo(
        "fp16", "FP16", (7, 5), False, "autocast",
        trt10_flags=("fp16",), trtexec_flags=("--fp16",), polygraphy_flags=("--fp16",),
        keeps_nodes_high=True, cpu_executor=ONNXRUNTIME_CPU, color="#1f77b4",
    ),
    PrecisionInfo(
        "bf16", "BF16", (8, 0), False, "autocast", "BF16 tensor cores arrived with Ampere (SM80)",
        trt10_flags=("bf16",), trtexec_flags=("--bf16",), polygraphy_flags=("--bf16",),
        keeps_nodes_high=True, color="#17becf",
        cpu_note="BF16 has no CPU execution here: measure it with TensorRT on a GPU.",
    ),
    PrecisionInfo(
        "int8", "INT8", (7, 5), True, "quantize",
        trt10_flags=("int8",), trtexec_flags=("--int8", "--calib=calibration.cache"),
        polygraphy_flags=("--int8",), keeps_nodes_high=True, cpu_executor=ONNXRUNTIME_CPU,
        quantized=True, color="#d62728",
    ),
    PrecisionInfo(
        "fp8", "FP8", (8, 9), True, "quantize",
        "FP8 (E4M3) tensor cores arrived with Ada (SM89) and Hopper (SM90)",
        trt10_flags=("fp8",), trtexec_flags=("--fp8",), polygraphy_flags=("--fp8",),
        transform_on_trt10=True, cpu_executor=ONNX_REFERENCE, quantized=True, color="#ff7f0e",
        cpu_note="ONNX Runtime's CPU FP8 results are wrong, so FP8 runs in onnx.reference (slow, exact).",
    ),
):
    register_precision(_row)

PRECISIONS: tuple[str, ...] = tuple(PRECISION_INFO)


def calibrated_precisions() -> list[str]:
    return [p.name for p in PRECISION_INFO.values() if p.calibrated]


def lower_precisions() -> list[str]:
    """The precisions a build can ask for below FP32 (what the comparison pages offer)."""
    return [p.name for p in PRECISION_INFO.values() if p.name not in ("fp32", "tf32")]


def parse_precisions(text: str | list[str]) -> list[str]:
    """``"fp32,fp16,int8"`` -> ``["fp32", "fp16", "int8"]``, checked."""
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    result = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        if name not in PRECISION_INFO:
            raise WorkbenchError(f"Unknown precision {item!r}: choose from {', '.join(PRECISION_INFO)}.")
        if name not in result:
            result.append(name)
    if not result:
        raise WorkbenchError("Give at least one precision, e.g. --precision fp32,fp16,int8.")
    return result


def sm_tuple(target: str | None) -> tuple[int, int] | None:
    if not target:
        return None
    digits = "".join(ch for ch in target if ch.isdigit())
    if len(digits) < 2:
        raise WorkbenchError(f"Unknown compute capability {target!r}: write it like sm89 or 8.9.")
    return int(digits[:-1]), int(digits[-1])


def refusal(precision: str, target: str | None) -> str | None:
    """Why this precision cannot be built for this target, or None when it can."""
    info = PRECISION_INFO[precision]
    sm = sm_tuple(target)
    if sm is None or sm >= info.min_sm:
        return None
    return (
        f"{info.title} cannot be built for SM{sm[0]}{sm[1]}: {info.why_min_sm}; "
        f"choose a target of SM{info.min_sm[0]}{info.min_sm[1]} or newer, or another precision."
    )


# ----------------------------------------------------------------------------- transforms


@dataclass
class TransformResult(JsonRecord):
    """A precision transform of an ONNX model (strongly typed backends)."""

    precision: str
    method: str  # "autocast" | "quantize" | "none"
    source_hash: str
    output_path: str
    seconds: float
    calibrator: str | None = None
    calibration_samples: int | None = None
    nodes_excluded: list[str] = field(default_factory=list)
    qdq_nodes: int = 0
    cast_nodes: int = 0
    modelopt: str | None = None
    cached: bool = False


def transform_key(
    source_hash: str, precision: str, calibration_hash: str | None, calibrator: str, keep: list[str]
) -> str:
    payload = json.dumps(
        {
            "source": source_hash,
            "precision": precision,
            "calibration": calibration_hash,
            "calibrator": calibrator,
            "keep": sorted(keep),
            "v": 1,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def transform_model(
    model_path: str,
    output_path: str,
    precision: str,
    source_hash: str,
    calibration_npz: str | None = None,
    calibrator: str = "entropy",
    nodes_to_exclude: list[str] | None = None,
) -> dict[str, Any]:
    """Run the ModelOpt transform for one precision (in a worker: ModelOpt imports torch).

    FP16/BF16: ``convert_to_mixed_precision`` with the graph's I/O types kept. INT8/FP8:
    ``quantize`` with the chosen calibration method on the CPU, the rest of the graph left
    in FP32 (``high_precision_dtype="fp32"``; ModelOpt's default FP16 would change more
    than the requested precision).
    """
    info = PRECISION_INFO[precision]
    start = time.perf_counter()
    exclude = list(nodes_to_exclude or [])
    # ModelOpt writes inferred shapes back into the file it is given: hand it a private copy,
    # never the user's model. It also runs ONNX Runtime's symbolic shape inference, which
    # drops "sym_shape_infer_temp.onnx" and a <uuid>.data file into the working directory
    # when inference is incomplete: run it from the scratch folder, removed afterwards.
    output_path = os.path.abspath(output_path)
    calibration_npz = os.path.abspath(calibration_npz) if calibration_npz else None
    scratch = tempfile.mkdtemp(prefix="modelopt-", dir=os.path.dirname(output_path))
    try:
        model_path = _private_copy(model_path, scratch)
        with contextlib.chdir(scratch):
            return _transform(
                model_path,
                output_path,
                precision,
                source_hash,
                calibration_npz,
                calibrator,
                exclude,
                info,
                start,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _private_copy(model_path: str, folder: str) -> str:
    """Copy a model and the external data files it names into ``folder``."""
    import onnx

    from workbench.model import check_external_data

    source = Path(model_path)
    target = Path(folder) / source.name
    shutil.copyfile(source, target)
    proto = onnx.load(str(source), load_external_data=False)
    for rel in check_external_data(proto, source.parent, model_name=source.name):
        (target.parent / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.parent / rel, target.parent / rel)
    return str(target)


def _transform(
    model_path: str,
    output_path: str,
    precision: str,
    source_hash: str,
    calibration_npz: str | None,
    calibrator: str,
    exclude: list[str],
    info: PrecisionInfo,
    start: float,
) -> dict[str, Any]:
    import numpy as np
    import onnx

    samples = None
    if info.transform == "autocast":
        from modelopt.onnx.autocast import convert_to_mixed_precision

        converted = convert_to_mixed_precision(
            model_path,
            low_precision_type=precision,
            keep_io_types=True,
            nodes_to_exclude=_exact_patterns(exclude),
        )
        onnx.save_model(converted, output_path, save_as_external_data=converted.ByteSize() > 1_500_000_000)
    elif info.transform == "quantize":
        from modelopt.onnx.quantization import quantize

        if calibration_npz is None:
            raise WorkbenchError(f"{info.title} needs calibration data.")
        with np.load(calibration_npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        samples = min(int(a.shape[0]) for a in arrays.values()) if arrays else 0
        method = calibrator if precision == "int8" else "max"  # ModelOpt calibrates FP8 with max
        quantize(
            model_path,
            quantize_mode=precision,
            calibration_data=arrays,
            calibration_method=method,
            calibration_eps=["cpu"],
            high_precision_dtype="fp32",
            nodes_to_exclude=_exact_patterns(exclude),
            output_path=output_path,
            log_level="ERROR",
        )
        calibrator = method
    else:
        raise WorkbenchError(f"{info.title} needs no graph transform.")
    model = onnx.load(output_path, load_external_data=False)
    ops = [n.op_type for n in model.graph.node]
    try:
        import importlib.metadata

        modelopt_version: str | None = importlib.metadata.version("nvidia-modelopt")
    except Exception:
        modelopt_version = None
    return TransformResult(
        precision=precision,
        method=info.transform,
        source_hash=source_hash,
        output_path=output_path,
        seconds=time.perf_counter() - start,
        calibrator=calibrator if info.calibrated else None,
        calibration_samples=samples,
        nodes_excluded=exclude,
        qdq_nodes=sum(op in ("QuantizeLinear", "DequantizeLinear") for op in ops),
        cast_nodes=ops.count("Cast"),
        modelopt=modelopt_version,
    ).to_dict()


def _exact_patterns(names: list[str]) -> list[str] | None:
    """ModelOpt reads node names as regular expressions matched at the start ("/conv1/Conv"
    would also exclude "/conv1/Conv_1"); escape and anchor them. A new list each time:
    ModelOpt appends to the list it is given."""
    import re

    return [re.escape(name) + "$" for name in names] or None


def modelopt_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("modelopt") is not None


def transformed_path(workspace_root: Path, key: str, stem: str, precision: str) -> Path:
    return workspace_root / "transforms" / key[:16] / f"{stem}.{precision}.onnx"
