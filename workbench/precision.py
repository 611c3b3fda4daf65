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
from workbench.synthetic import _names, scalar_request, what_to_give

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

#: The tool behind each transform, as failures and notes name it.
TRANSFORM_TOOLS = {"autocast": "ModelOpt AutoCast", "quantize": "ModelOpt PTQ"}
#: The opset ModelOpt's transforms work from (AutoCast's own floor for FP16), and its IR version.
MIN_TRANSFORM_OPSET = 13
#: At most this many batches of calibration data feed AutoCast's reference run (it keeps every
#: tensor of every batch in memory to find the values FP16 cannot hold).
AUTOCAST_MAX_BATCHES = 8


def transform_stage(precision: str) -> str:
    """``"the FP16 transform (ModelOpt AutoCast)"``: how failures and notes name the stage."""
    info = PRECISION_INFO[precision]
    tool = TRANSFORM_TOOLS.get(info.transform or "", "ModelOpt")
    return f"the {info.title} transform ({tool})"


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
    #: What was done to the private copy before ModelOpt saw it, and whether its outputs still
    #: match the original's, e.g. "upgraded from IR 3 / opset 9 to IR 7 / opset 13 before the
    #: transform; outputs match". None when the model went in as it was.
    note: str | None = None
    #: The steps behind ``note``: "opset 9 -> 13", "ir 3 -> 7", "initializers out of the inputs", ...
    prepared: list[str] = field(default_factory=list)
    #: What the transform ran the model on: the comparison inputs, the calibration data, or
    #: ModelOpt's own random inputs (dynamic dims 1), with their shapes.
    ran_on: str | None = None
    #: Content hash of the inputs it ran on (part of the transform's cache key), when given.
    inputs_hash: str | None = None


def transform_key(
    source_hash: str,
    precision: str,
    calibration_hash: str | None,
    calibrator: str,
    keep: list[str],
    inputs_hash: str | None = None,
) -> str:
    described: dict[str, Any] = {
        "source": source_hash,
        "precision": precision,
        "calibration": calibration_hash,
        "calibrator": calibrator,
        "keep": sorted(keep),
        "v": 1,
    }
    if inputs_hash is not None:
        # The inputs a transform runs the model on change what it makes (AutoCast keeps nodes
        # whose values overflow FP16 high); a transform on ModelOpt's own random inputs keeps
        # the key it always had.
        described["inputs"] = inputs_hash
    payload = json.dumps(described, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def transform_model(
    model_path: str,
    output_path: str,
    precision: str,
    source_hash: str,
    calibration_npz: str | None = None,
    calibrator: str = "entropy",
    nodes_to_exclude: list[str] | None = None,
    inputs_npz: str | None = None,
    inputs_label: str = "the given inputs",
) -> dict[str, Any]:
    """Run the ModelOpt transform for one precision (in a worker: ModelOpt imports torch).

    FP16/BF16: ``convert_to_mixed_precision`` with the graph's I/O types kept, its reference
    run on the inputs given (``inputs_npz``: one batch, e.g. the comparison inputs), else on
    the calibration data, else on ModelOpt's random inputs, which an integer scalar input
    cannot have. INT8/FP8: ``quantize`` with the chosen calibration method on the CPU, the
    rest of the graph left in FP32 (``high_precision_dtype="fp32"``; ModelOpt's default FP16
    would change more than the requested precision).

    The model ModelOpt sees is a private copy brought to a form it accepts first (opset 13
    or newer, a matching IR version, initializers out of the graph inputs, Constant nodes
    of If/Loop bodies as initializers) and checked against the original in ONNX Runtime.
    A failure raises ``WorkbenchError`` naming the stage and what input would fix it.
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
    inputs_npz = os.path.abspath(inputs_npz) if inputs_npz else None
    scratch = tempfile.mkdtemp(prefix="modelopt-", dir=os.path.dirname(output_path))
    try:
        original = model_path
        model_path = _private_copy(model_path, scratch)
        with contextlib.chdir(scratch):
            return _transform(
                original,
                model_path,
                output_path,
                precision,
                source_hash,
                calibration_npz,
                calibrator,
                exclude,
                info,
                start,
                inputs_npz,
                inputs_label,
                scratch,
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


# ----------------------------------------------------------------------------- the copy ModelOpt sees


def _default_opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _subgraph_constants(graph: Any, top: bool = True) -> int:
    """Turn the Constant nodes of If/Loop/Scan bodies into initializers of those bodies.

    The same tensors under the same names, so the meaning is unchanged. ModelOpt AutoCast
    keys its per-node classification of a body by the Python identity of protobuf wrappers;
    a node with no inputs (a Constant) is referenced nowhere else, its wrapper is freed and
    re-made under another identity, and the conversion fails with a KeyError (Silero VAD).
    """
    import onnx

    moved = 0
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                moved += _subgraph_constants(attr.g, top=False)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for body in attr.graphs:
                    moved += _subgraph_constants(body, top=False)
    if top:
        return moved
    kept = []
    for node in graph.node:
        if (
            node.op_type == "Constant"
            and node.domain in ("", "ai.onnx")
            and len(node.attribute) == 1
            and node.attribute[0].name == "value"
            and node.output
        ):
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved += 1
        else:
            kept.append(node)
    if moved:
        del graph.node[:]
        graph.node.extend(kept)
    return moved


def _unnamed_input_dims(graph: Any, name: bool = False) -> int:
    """How many input dims are dynamic without a name; with ``name``, name them (``input_dim1``)."""
    initializers = {t.name for t in graph.initializer}
    count = 0
    for value in graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        for axis, dim in enumerate(tensor.shape.dim):
            if not dim.HasField("dim_value") and not dim.HasField("dim_param"):
                count += 1
                if name:
                    dim.dim_param = f"{value.name}_dim{axis}"
    return count


def _prepare_copy(
    original_path: str, copy_path: str, info: PrecisionInfo, feeds: dict[str, Any] | None, stage: str
) -> tuple[str | None, list[str]]:
    """Bring the private copy to a form ModelOpt accepts, check it still means the same.

    Returns the note for the TransformResult (None when nothing was changed) and the steps.
    """
    import onnx

    skeleton = onnx.load(copy_path, load_external_data=False)
    opset = _default_opset(skeleton)
    initializer_names = {t.name for t in skeleton.graph.initializer}
    listed = [i.name for i in skeleton.graph.input if i.name in initializer_names]
    needs_opset = 0 < opset < MIN_TRANSFORM_OPSET
    needs_ir = skeleton.ir_version < onnx.helper.find_min_ir_version_for(
        [onnx.helper.make_opsetid("", max(opset, MIN_TRANSFORM_OPSET))]
    )
    has_bodies = info.transform == "autocast" and any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        for n in skeleton.graph.node
        for a in n.attribute
    )
    unnamed = _unnamed_input_dims(skeleton.graph)
    if not (needs_opset or needs_ir or listed or has_bodies or unnamed):
        return None, []
    model = onnx.load(copy_path)
    before_ir = model.ir_version
    steps: list[str] = []
    changes: list[str] = []
    if needs_opset:
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, MIN_TRANSFORM_OPSET)
        except Exception as exc:
            raise WorkbenchError(
                f"{stage[0].upper()}{stage[1:]} needs opset {MIN_TRANSFORM_OPSET} or newer, and onnx's version "
                f"converter cannot upgrade this model from opset {opset} ({_first_line(exc)}): "
                "convert it with the convert-opset fix first."
            ) from exc
        steps.append(f"opset {opset} -> {MIN_TRANSFORM_OPSET}")
    new_opset = _default_opset(model)
    wanted_ir = max(before_ir, onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", new_opset)]))
    model.ir_version = wanted_ir
    if wanted_ir != before_ir:
        steps.append(f"IR {before_ir} -> {wanted_ir}")
    upgraded = needs_opset or wanted_ir != before_ir
    if listed:
        names = set(listed)
        kept = [i for i in model.graph.input if i.name not in names]
        del model.graph.input[:]
        model.graph.input.extend(kept)
        steps.append(f"{len(listed)} initializers out of the graph inputs")
    unlisted = f"{len(listed)} initializers no longer listed as graph inputs" if listed else ""
    if upgraded:
        changes.append(
            f"upgraded from IR {before_ir} / opset {opset} to IR {wanted_ir} / opset {new_opset}"
            + (f" ({unlisted})" if unlisted else "")
        )
    elif unlisted:
        changes.append(unlisted)
    if unnamed:
        # ModelOpt PTQ reads a dynamic dim without a name as None and fails comparing it
        # ("'<=' not supported between instances of 'NoneType' and 'int'", Silero VAD).
        named = _unnamed_input_dims(model.graph, name=True)
        steps.append(f"{named} unnamed dynamic input dims named")
        changes.append(f"{named} unnamed dynamic input dims given names")
    moved = _subgraph_constants(model.graph) if has_bodies else 0
    if moved:
        steps.append(f"{moved} Constant nodes of If/Loop bodies as initializers")
        changes.append(f"{moved} Constant nodes inside If/Loop bodies stored as initializers of those bodies")
    if not changes:
        return None, []
    onnx.save_model(
        model,
        copy_path,
        save_as_external_data=model.ByteSize() > 1_500_000_000,
        location=Path(copy_path).name + ".upgraded.data",
    )
    verdict = _meaning(original_path, copy_path, feeds)
    if verdict.startswith("outputs differ"):
        raise WorkbenchError(
            f"{stage[0].upper()}{stage[1:]} was not run: the copy brought to a form ModelOpt accepts "
            f"({'; '.join(changes)}) no longer computes what the model computes ({verdict})."
        )
    return f"{'; '.join(changes)} before the transform; {verdict}", steps


def _meaning(original_path: str, candidate_path: str, feeds: dict[str, Any] | None) -> str:
    """"outputs match (...)", "outputs differ (...)" or "not checked for meaning (...)"."""
    from workbench.equivalence import compare_models

    shapes = None
    if feeds:
        import numpy as np

        shapes = {k: [list(np.shape(v))] * 3 for k, v in feeds.items() if np.ndim(v) > 0}
        check = _check_on(original_path, candidate_path, feeds)
        if check is not None:
            return check
    result = compare_models(original_path, candidate_path, shapes=shapes)
    if not result.checked:
        return f"not checked for meaning ({(result.reason or '').rstrip('.')})"
    on = ", ".join(f"{k} {v}" for k, v in result.input_shapes.items())
    if result.passed:
        worst = max(result.max_abs_diff.values(), default=0.0)
        return f"outputs match in ONNX Runtime (max abs difference {worst:.3g} on random {on})"
    return f"outputs differ: {result.reason}"


def _check_on(original_path: str, candidate_path: str, feeds: dict[str, Any]) -> str | None:
    """Both models in ONNX Runtime on the inputs the transform runs on; None when the original cannot run them."""
    import numpy as np

    from workbench.equivalence import ATOL, RTOL
    from workbench.ort_cpu import cpu_session as _session

    try:
        reference = _session(original_path)
        names = [i.name for i in reference.get_inputs()]
        expected = reference.run(None, {k: v for k, v in feeds.items() if k in names})
    except Exception:
        return None
    try:
        candidate = _session(candidate_path)
        wanted = [i.name for i in candidate.get_inputs()]
        got = candidate.run(None, {k: v for k, v in feeds.items() if k in wanted})
    except Exception as exc:
        return f"outputs differ: ONNX Runtime cannot run the prepared copy ({_first_line(exc)})"
    worst = 0.0
    for a, b in zip(expected, got):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return f"outputs differ: an output has shape {list(b.shape)} instead of {list(a.shape)}"
        if a.dtype.kind in "fc":
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            worst = max(worst, float(np.nanmax(diff)) if diff.size else 0.0)
            if not np.allclose(a, b, atol=ATOL, rtol=RTOL, equal_nan=True):
                return f"outputs differ by up to {worst:.3g}"
        elif not np.array_equal(a, b):
            return "outputs differ in integer elements"
    return f"outputs match in ONNX Runtime (max abs difference {worst:.3g} on {_shapes(feeds)})"


# ----------------------------------------------------------------------------- the inputs it runs on


def _shapes(arrays: dict[str, Any]) -> str:
    import numpy as np

    return ", ".join(f"{k} {list(np.shape(v))}" for k, v in arrays.items())


def _load_npz(path: str) -> dict[str, Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _model_inputs(model_path: str) -> tuple[dict[str, list[int]], list[str]]:
    """Real inputs (initializers excluded) and their dims (0 for a dynamic one), and the
    names of the integer scalar ones."""
    import onnx

    model = onnx.load(model_path, load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    floats = {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.BFLOAT16,
        onnx.TensorProto.BOOL,
    }
    dims: dict[str, list[int]] = {}
    scalars = []
    for value in model.graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        tensor = value.type.tensor_type
        shape = tensor.shape if tensor.HasField("shape") else None
        dims[value.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in shape.dim] if shape else [0]
        if shape is not None and not shape.dim and tensor.elem_type not in floats:
            scalars.append(value.name)
    return dims, scalars


def input_batches(
    arrays: dict[str, Any], dims: dict[str, list[int]], limit: int | None = None
) -> list[dict[str, Any]]:
    """Calibration arrays ``[samples, ...]`` as the model's batches, as ModelOpt splits them.

    The first input with a sample axis sets the count (its samples over the model's batch
    dim, a dynamic batch dim counting 1); 0-d arrays (a sample rate) go whole into every batch,
    where ModelOpt's own splitting fails on them.
    """
    import numpy as np

    order = [n for n in dims if n in arrays] + [n for n in arrays if n not in dims]
    sized = [n for n in order if np.ndim(arrays[n]) > 0]
    if not sized:
        return [dict(arrays)]
    first = sized[0]
    batch = (dims.get(first) or [0])[0] or 1
    count = max(1, int(np.shape(arrays[first])[0]) // batch)
    split = {n: np.array_split(arrays[n], count, axis=0) for n in sized}
    batches = [
        {n: (split[n][i] if n in split else arrays[n]) for n in order} for i in range(count)
    ]
    return batches[:limit] if limit else batches


def _random_description(dims: dict[str, list[int]]) -> str:
    shown = ", ".join(f"{k} {[d or 1 for d in v]}" for k, v in dims.items())
    return f"ModelOpt's random inputs with every dynamic dim set to 1 ({shown})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:600]
    return type(exc).__name__


def _transform(
    original_path: str,
    model_path: str,
    output_path: str,
    precision: str,
    source_hash: str,
    calibration_npz: str | None,
    calibrator: str,
    exclude: list[str],
    info: PrecisionInfo,
    start: float,
    inputs_npz: str | None,
    inputs_label: str,
    scratch: str,
) -> dict[str, Any]:
    import numpy as np
    import onnx

    stage = transform_stage(precision)
    headline = stage[0].upper() + stage[1:]
    dims, scalars = _model_inputs(model_path)
    calibration = _load_npz(calibration_npz) if calibration_npz else None
    given = _load_npz(inputs_npz) if inputs_npz else None
    inputs_hash = None
    # What the transform runs the model on, as batches keyed by the model's real inputs.
    batches: list[dict[str, Any]] | None = None
    ran_on: str | None = None
    if info.transform == "autocast":
        if given is not None:
            batches = [given]
            ran_on = f"{inputs_label} ({_shapes(given)})"
        elif calibration is not None:
            batches = input_batches(calibration, dims, AUTOCAST_MAX_BATCHES)
            ran_on = f"the calibration data ({len(batches)} batch(es) of {_shapes(batches[0])})"
        else:
            if scalars:
                raise WorkbenchError(scalar_request(stage, scalars))
            ran_on = _random_description(dims)
        if batches is not None:
            missing = [n for n in dims if n not in batches[0]]
            if missing:
                raise WorkbenchError(
                    f"{headline} runs the model on {ran_on}, which has no {_names([repr(m) for m in missing])}: "
                    f"{what_to_give([m for m in missing if m in scalars])}."
                )
            batches = [{n: b[n] for n in dims} for b in batches]
    elif calibration is not None:
        batches = input_batches(calibration, dims)
        ran_on = f"the calibration data ({len(batches)} batch(es) of {_shapes(batches[0])})"
    note, prepared = _prepare_copy(original_path, model_path, info, batches[0] if batches else None, stage)

    samples = None
    try:
        if info.transform == "autocast":
            from modelopt.onnx.autocast import convert_to_mixed_precision

            data: Any = None
            if batches is not None and len(batches) == 1:
                data = batches[0]
            elif batches is not None:
                folder = Path(scratch) / "autocast_inputs"
                folder.mkdir()
                for i, batch in enumerate(batches):
                    np.savez(str(folder / f"batch_{i:03d}.npz"), **batch)
                data = str(folder)
            converted = convert_to_mixed_precision(
                model_path,
                low_precision_type=precision,
                keep_io_types=True,
                nodes_to_exclude=_exact_patterns(exclude),
                calibration_data=data,
            )
            onnx.save_model(converted, output_path, save_as_external_data=converted.ByteSize() > 1_500_000_000)
        elif info.transform == "quantize":
            from modelopt.onnx.quantization import quantize

            if calibration is None or batches is None:
                raise WorkbenchError(f"{info.title} needs calibration data.")
            samples = min((int(a.shape[0]) for a in calibration.values() if np.ndim(a) > 0), default=1)
            method = calibrator if precision == "int8" else "max"  # ModelOpt calibrates FP8 with max
            scalar_inputs = any(np.ndim(a) == 0 for a in calibration.values())
            quantize(
                model_path,
                quantize_mode=precision,
                # ModelOpt splits every array along axis 0, which a 0-d array (a sample rate)
                # does not have: then the batches come from a reader that repeats it.
                calibration_data=None if scalar_inputs else calibration,
                calibration_data_reader=_reader(batches) if scalar_inputs else None,
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
    except WorkbenchError:
        raise
    except Exception as exc:
        raise WorkbenchError(
            f"{headline} failed: {_first_line(exc)}. {_failure_hint(info, ran_on, dims, scalars, given, calibration)}",
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    if given is not None:
        from workbench.array_files import arrays_hash

        inputs_hash = arrays_hash(given)
    model = onnx.load(output_path, load_external_data=False)
    ops = [n.op_type for n in model.graph.node]
    if info.transform == "quantize" and not any(op in ("QuantizeLinear", "DequantizeLinear") for op in ops):
        inside = any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in model.graph.node for a in n.attribute
        )
        nothing = (
            f"{TRANSFORM_TOOLS['quantize']} placed no Q/DQ nodes: nothing was quantized, so this "
            f"{info.title} model computes in FP32"
            + (" (its compute is inside If/Loop bodies, which ModelOpt does not quantize)" if inside else "")
        )
        note = f"{note}; {nothing}" if note else nothing
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
        note=note,
        prepared=prepared,
        ran_on=ran_on,
        inputs_hash=inputs_hash,
    ).to_dict()


def _failure_hint(
    info: PrecisionInfo,
    ran_on: str | None,
    dims: dict[str, list[int]],
    scalars: list[str],
    given: dict[str, Any] | None,
    calibration: dict[str, Any] | None,
) -> str:
    """What input would let the transform run, after it failed."""
    if info.transform == "quantize":
        zero_d = f", {_names(scalars)} as a 0-d array" if scalars else ""
        return (
            f"It calibrated the model on {ran_on}: give calibration data it runs on, --calib DATA "
            f"(a .npz keyed by input name, every input at the shapes you serve{zero_d})."
        )
    if given is None and calibration is None:
        dynamic = [n for n, d in dims.items() if any(x == 0 for x in d)]
        why = f" ({_names(dynamic)} at length 1 may be too short for it)" if dynamic else ""
        return f"It ran the model on {ran_on}{why}: {what_to_give(scalars)}."
    return f"It ran the model on {ran_on}: give inputs the model runs on in ONNX Runtime, e.g. --inputs DATA."


def _reader(batches: list[dict[str, Any]]) -> Any:
    """A calibration data reader over prepared batches (what ModelOpt's own provider offers)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Batches(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.calibration_data_list = batches
            self._iter = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            return next(self._iter, None)

        def get_first(self) -> dict[str, Any]:
            return batches[0]

        def rewind(self) -> None:
            self._iter = iter(batches)

    return _Batches()


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
