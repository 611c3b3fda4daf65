"""Real TensorRT engines, read from ``trtexec``'s JSON exports: one normalised :class:`EngineReport`.

The workbench builds engines on CPU-only machines, where nothing can be timed; the
numbers that matter come from a GPU, usually as the files ``trtexec`` writes there
(``--exportLayerInfo``, ``--exportProfile``, ``--exportTimes``) plus the metadata files
TensorRT Engine Explorer (TREx) keeps beside them. This module reads those files,
whatever TensorRT version wrote them, into one record: layers with their types,
tensor formats, precisions, tactics and times; latency percentiles; device; and a
plain statement of what the exports do not say. It then maps layers back to ONNX
nodes (:func:`map_to_onnx`) and lines up several engines layer by layer
(:func:`compare_engines`), which is how a slow INT8 engine shows *where* it loses
to FP16.

The formats are undocumented and change between releases (TensorRT 8.6 added the
``Metadata`` field with ``\\x1e``/``\\x1f`` separators, 10.x the ``Bindings`` list,
11.x replaced it with ``I/O Tensors`` and split ``Format/Datatype``), so every reader
here is defensive: an unknown or missing field becomes an unknown value, never an
exception. A file that is not JSON, or JSON of the wrong shape, raises a
:class:`~workbench.errors.WorkbenchError` whose message is one sentence naming it.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine_layers import fallback_warning, layer_precision
from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

if TYPE_CHECKING:
    import onnx

    from workbench.model import LoadedModel

# ----------------------------------------------------------------------------- file naming

#: TREx's names for the files that describe one engine ``X`` (``X.graph.json``...).
SUFFIXES = {
    "graph": ".graph.json",
    "profile": ".profile.json",
    "timing": ".timing.json",
    "profile_metadata": ".profile.metadata.json",
    "device_metadata": ".metadata.json",
    "build_metadata": ".build.metadata.json",
}
#: Longest first, so ``X.profile.metadata.json`` is never taken for ``X.profile.json``'s kin.
_SUFFIX_ORDER = sorted(SUFFIXES.items(), key=lambda item: -len(item[1]))
_FILE_WORDS = {
    "graph": "layer info (--exportLayerInfo)",
    "profile": "profile (--exportProfile)",
    "timing": "timing (--exportTimes)",
    "profile_metadata": "profile metadata",
    "device_metadata": "device metadata",
    "build_metadata": "build metadata",
}
#: The workbench's precision names, lowest first (the order ``engine_layers`` uses).
PRECISIONS = ["fp4", "int4", "int8", "fp8", "fp16", "bf16", "fp32"]
QUANTIZED = frozenset({"fp4", "int4", "int8", "fp8"})
#: Workbench precision -> the TensorRT datatype name ``engine_layers.layer_precision`` reads.
_TRT_NAME = {
    "fp4": "FP4",
    "int4": "Int4",
    "int8": "Int8",
    "fp8": "FP8",
    "fp16": "Half",
    "bf16": "BFloat16",
    "fp32": "Float",
}
#: Datatype words as they appear in prose formats ("Channel major FP16 format..."), in
#: TRT 11's separate ``Datatype`` field and in enum spellings (kHALF), lower-cased.
_DTYPE_WORDS = {
    "fp32": "fp32",
    "float": "fp32",
    "float32": "fp32",
    "kfloat": "fp32",
    "tf32": "fp32",
    "fp16": "fp16",
    "half": "fp16",
    "float16": "fp16",
    "khalf": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "kbf16": "bf16",
    "int8": "int8",
    "kint8": "int8",
    "fp8": "fp8",
    "float8": "fp8",
    "e4m3": "fp8",
    "e5m2": "fp8",
    "kfp8": "fp8",
    "int4": "int4",
    "kint4": "int4",
    "fp4": "fp4",
    "float4": "fp4",
    "e2m1": "fp4",
    "kfp4": "fp4",
    "nvfp4": "fp4",
    "uint8": "uint8",
    "kuint8": "uint8",
    "int32": "int32",
    "kint32": "int32",
    "int64": "int64",
    "kint64": "int64",
    "bool": "bool",
    "kbool": "bool",
    "double": "fp64",
    "fp64": "fp64",
}
_ITEM_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "fp8": 1.0, "int4": 0.5, "fp4": 0.5,
               "uint8": 1.0, "int32": 4.0, "int64": 8.0, "bool": 1.0, "fp64": 8.0}
_COMPUTE = re.compile(r"conv(?!ert)|gemm|matrixmultiply|matmul|fullyconnected|mha|attention|correlation", re.I)
_COMPUTE_OPS = frozenset(
    {"conv", "convtranspose", "gemm", "matmul", "matmulinteger", "qlinearconv", "qlinearmatmul", "convinteger",
     "attention", "multiheadattention", "einsum"}
)
_QDQ_PIECE = re.compile(r"(quantizelinear|dequantizelinear|_quantize(_|$)|_dequantize(_|$))", re.I)
_INITIALIZER_SUFFIXES = (".weight", ".bias", ".running_mean", ".running_var", "_weight", "_bias", ".scale",
                         "_scale", "_zero_point", ".weight_quantized", "_quantized")
_GENERATED_PREFIXES = ("onnx::", "(Unnamed Layer*", "unsqueeze_node_after_", "copied_squeeze_after_",
                       "squeeze_after_", "reshape_after_", "reshape_before_", "shuffle_after_",
                       "shuffle_between_", "Reformatted ")
_REFORMAT_NAME = re.compile(r"^Reformatting CopyNode for (?P<which>(?:Input|Output) Tensor \d+) to (?P<target>.*)$")
_PROFILE_SUFFIX = re.compile(r" ?\[profile (\d+)\]")
_METADATA_MARK = "[ONNX Layer: "
_LATENCY_NOTE = (
    "Per-inference latency (from --exportTimes) is not the layer sum (from --exportProfile): the "
    "profiled run times each layer separately and adds synchronisation per layer, while the timed "
    "run may replay a CUDA graph and overlap enqueue with execution. Compare layer sums with layer "
    "sums and latency with latency."
)

# ----------------------------------------------------------------------------- records


@dataclass
class TensorFormat(JsonRecord):
    """One input or output tensor of an engine layer, as the layer info describes it."""

    name: str
    dims: list[int] = field(default_factory=list)
    #: The format text as exported ("Channel major FP16 format where channel % 8 == 0").
    format: str = ""
    #: TensorRT 11's separate datatype field, verbatim ("" when the format text holds it).
    datatype: str = ""
    #: fp32/fp16/bf16/int8/fp8/int4/fp4/uint8/int32/int64/bool/fp64, or "unknown".
    dtype: str = "unknown"
    location: str = ""


@dataclass
class EngineLayer(JsonRecord):
    """One engine layer: what TensorRT built, what it computes in, and what it costs."""

    name: str
    #: TensorRT's LayerType (CaskConvolution, Reformat, kgen...); "" when not exported.
    type: str = ""
    #: TensorRT's ParameterType (Convolution, Pooling, Reformat...); "" when not exported.
    parameter_type: str = ""
    #: Why a layer exists when TensorRT added it: "REFORMAT", "QDQ" (Q/DQ folded to a reformat).
    origin: str = ""
    #: The tactic's kernel name, else its value; "" when not exported.
    tactic: str = ""
    tactic_name: str = ""
    tactic_value: str = ""
    inputs: list[TensorFormat] = field(default_factory=list)
    outputs: list[TensorFormat] = field(default_factory=list)
    #: Lowest precision among inputs and weights (fp32/fp16/bf16/int8/fp8/int4/fp4), "other"
    #: for layers on integer/bool tensors only, "unknown" when the formats were not exported.
    precision: str = "unknown"
    weights_type: str = ""
    weights_count: int | None = None
    #: Bytes of the weights (not the bias) at their stored type.
    weights_bytes: int | None = None
    is_reformat: bool = False
    #: A Q/DQ pair TensorRT turned into a reformat (Origin "QDQ").
    is_qdq: bool = False
    is_compute: bool = False
    #: For "Reformatting CopyNode for Input Tensor 0 to X": X (the reformat has no node of its own).
    reformat_of: str = ""
    avg_ms: float | None = None
    median_ms: float | None = None
    #: Total time over the profiled iterations (trtexec's ``timeMs``).
    time_ms: float | None = None
    #: Share of the engine's layer-time sum, 0-100.
    percent: float | None = None
    #: Candidate ONNX node names: from ``[ONNX Layer: ...]`` metadata, else from the fused name.
    onnx_nodes: list[str] = field(default_factory=list)
    #: "metadata", "name", "name-range" (a Myelin ForeignNode names its first and last node) or "".
    onnx_source: str = ""
    metadata: str = ""
    #: Every other exported field, verbatim (Kernel, Stride, Weights, Bias, Activation...).
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.is_qdq:
            return "qdq"
        if self.is_reformat:
            return "reformat"
        if self.is_compute:
            return "compute"
        if self.type.lower() == "noop":
            return "noop"
        return "other"

    @property
    def type_label(self) -> str:
        """The grouping used for "time by layer type": Q/DQ and reformats apart, else ParameterType."""
        if self.is_qdq:
            return "Q/DQ"
        if self.is_reformat:
            return "Reformat"
        return self.parameter_type or self.type or "unknown"

    def to_inspector_entry(self) -> str | dict[str, Any]:
        """This layer in the engine inspector's JSON form (what ``--exportLayerInfo`` writes)."""
        if not self.type and not self.inputs and not self.outputs and not self.attributes:
            return self.name
        entry: dict[str, Any] = {"Name": self.name}
        if self.type:
            entry["LayerType"] = self.type
        entry["Inputs"] = [_tensor_entry(t) for t in self.inputs]
        entry["Outputs"] = [_tensor_entry(t) for t in self.outputs]
        if self.parameter_type:
            entry["ParameterType"] = self.parameter_type
        if self.origin:
            entry["Origin"] = self.origin
        entry.update(self.attributes)
        if self.metadata:
            entry["Metadata"] = self.metadata
        if self.tactic_name:
            entry["TacticName"] = self.tactic_name
        if self.tactic_value:
            entry["TacticValue"] = self.tactic_value
        return entry


@dataclass
class DeviceInfo(JsonRecord):
    name: str = ""
    compute_capability: str = ""
    sms: int | None = None
    clock_ghz: float | None = None
    memory_clock_ghz: float | None = None
    memory_mib: float | None = None
    memory_bus_bits: int | None = None


@dataclass
class LatencyDistribution(JsonRecord):
    """Percentiles of one per-inference quantity, in milliseconds (numpy's linear percentiles)."""

    count: int
    mean: float
    median: float
    min: float
    max: float
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p25: float | None = None
    p75: float | None = None
    std: float | None = None

    @classmethod
    def from_samples(cls, samples: Sequence[float] | np.ndarray) -> LatencyDistribution:
        a = np.asarray(samples, dtype=np.float64)
        q = np.percentile(a, [25, 50, 75, 90, 95, 99])
        return cls(
            count=int(a.size),
            mean=float(a.mean()),
            median=float(q[1]),
            min=float(a.min()),
            max=float(a.max()),
            p90=float(q[3]),
            p95=float(q[4]),
            p99=float(q[5]),
            p25=float(q[0]),
            p75=float(q[2]),
            std=float(a.std()),
        )


@dataclass
class EngineReport(JsonRecord):
    """Everything the exports of one engine say, and what they leave unknown (``missing``)."""

    label: str
    #: kind (graph, profile, timing, profile_metadata, device_metadata, build_metadata) -> path.
    files: dict[str, str] = field(default_factory=dict)
    device: DeviceInfo = field(default_factory=DeviceInfo)
    #: "tensorrt", "cuda" (the CUDA driver API version TREx records) where the exports have them.
    versions: dict[str, str] = field(default_factory=dict)
    batch: int | None = None
    batch_source: str = ""
    layers: list[EngineLayer] = field(default_factory=list)
    #: False when the layer info holds names only (no --profilingVerbosity=detailed) or is absent.
    detailed: bool = False
    #: Sum of the per-layer average times of the profile export; None without a profile.
    total_ms: float | None = None
    profile_iterations: int | None = None
    precision_counts: dict[str, int] = field(default_factory=dict)
    compute_precision_counts: dict[str, int] = field(default_factory=dict)
    #: The lowest precision the build allowed (build options, else the label); "" when unknown.
    requested_precision: str = ""
    warnings: list[str] = field(default_factory=list)
    latency_ms: LatencyDistribution | None = None
    latency_source: str = ""
    #: compute, h2d, d2h, enqueue (end - start of enqueue) per inference.
    timing_ms: dict[str, LatencyDistribution] = field(default_factory=dict)
    #: Inferences (one batch each) per second.
    throughput: float | None = None
    throughput_source: str = ""
    samples_per_second: float | None = None
    model: str = ""
    bindings: list[str] = field(default_factory=list)
    performance_summary: dict[str, Any] = field(default_factory=dict)
    inference_options: dict[str, Any] = field(default_factory=dict)
    build_options: dict[str, Any] = field(default_factory=dict)
    #: Profile rows no graph layer carries the name of, and graph layers no profile row times.
    unmatched_profile_rows: list[str] = field(default_factory=list)
    unprofiled_layers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def backend(self) -> str:
        """The backend and device in words: every number shown names where it came from."""
        version = self.versions.get("tensorrt")
        trt = f"TensorRT {version}" if version else "TensorRT (version not recorded)"
        source = "from trtexec export" if self.files else "from the build log (no GPU run)"
        return f"{trt} on {self.device.name or 'an unrecorded device'}, {source}"

    @property
    def reformat_ms(self) -> float:
        return sum(layer.avg_ms or 0.0 for layer in self.layers if layer.is_reformat)

    @property
    def qdq_ms(self) -> float:
        return sum(layer.avg_ms or 0.0 for layer in self.layers if layer.is_qdq)

    @property
    def dominant_precision(self) -> str:
        """The precision most compute layers run in (else the requested one)."""
        counts = self.compute_precision_counts or self.precision_counts
        if counts:
            return max(counts.items(), key=lambda item: (item[1], -_rank(item[0])))[0]
        return self.requested_precision

    def time_by_type(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for layer in self.layers:
            out[layer.type_label] += layer.avg_ms or 0.0
        return dict(sorted(out.items(), key=lambda item: -item[1]))

    @classmethod
    def from_build_layers(cls, layers: list[dict[str, Any]], label: str, precision: str) -> EngineReport:
        """A CPU build's layer report (``engine_layers.parse_layer_log`` dicts) as a report without times.

        Builds on this machine have no GPU to run on, so there are no per-layer times and
        no latency; the layer list, precisions and ONNX nodes still line up with a GPU
        export of the same model in :func:`compare_engines`.
        """
        out: list[EngineLayer] = []
        for raw in layers:
            name = str(raw.get("name", ""))
            type_ = str(raw.get("type", ""))
            inputs = [TensorFormat(name="", dtype=_dtype_of(str(d))) for d in raw.get("input_dtypes", [])]
            outputs = [TensorFormat(name="", dtype=_dtype_of(str(d))) for d in raw.get("output_dtypes", [])]
            reformat_of = _reformat_target(name)
            is_qdq = False
            is_reformat = type_.lower() == "reformat" or bool(reformat_of)
            nodes = [str(n) for n in raw.get("onnx_nodes", [])]
            layer = EngineLayer(
                name=name,
                type=type_,
                tactic=str(raw.get("tactic", "")),
                tactic_name=str(raw.get("tactic", "")),
                inputs=inputs,
                outputs=outputs,
                precision=str(raw.get("precision", "unknown")),
                is_reformat=is_reformat,
                is_qdq=is_qdq,
                reformat_of=reformat_of,
                onnx_nodes=nodes or ([] if reformat_of else split_layer_name(name)[0]),
                onnx_source="metadata" if nodes else ("" if reformat_of else "name"),
            )
            layer.is_compute = not is_reformat and bool(_COMPUTE.search(type_))
            out.append(layer)
        report = cls(label=label, layers=out, detailed=bool(out), requested_precision=precision)
        report.missing.append("built on this machine without a GPU run: per-layer times and latency are unknown")
        _finish_counts(report)
        return report


@dataclass
class OnnxLayerMap(JsonRecord):
    layer: str
    kind: str
    #: ONNX nodes of the model this layer covers.
    nodes: list[str] = field(default_factory=list)
    #: Pieces of the layer name that are no node of the model (initializers, TensorRT's own names).
    other_pieces: list[str] = field(default_factory=list)
    avg_ms: float | None = None
    precision: str = ""
    note: str = ""


@dataclass
class OnnxMapping(JsonRecord):
    """Engine layers against the ONNX model's nodes, both directions, gaps listed."""

    engine: str
    layers: list[OnnxLayerMap] = field(default_factory=list)
    #: Layers (not reformats, not Q/DQ) none of whose pieces is a node of the model.
    unmatched_layers: list[str] = field(default_factory=list)
    reformat_layers: int = 0
    qdq_layers: int = 0
    #: Time of the reformats, which belong to no node.
    reformat_ms: float = 0.0
    #: Nodes no layer names: folded constants, Q/DQ absorbed into a fused kernel, or plain gaps.
    uncovered_nodes: list[str] = field(default_factory=list)
    #: Uncovered Q/DQ/Constant/Identity nodes whose consumers all sit in one layer: node -> layer.
    absorbed_nodes: dict[str, str] = field(default_factory=dict)
    node_ms: dict[str, float] = field(default_factory=dict)
    node_precision: dict[str, str] = field(default_factory=dict)
    node_layers: dict[str, list[str]] = field(default_factory=dict)
    model_nodes: int = 0
    note: str = (
        "A fused layer's time is split equally among the ONNX nodes it covers (TensorRT times the "
        "fused kernel, not its parts), leaving out Q/DQ nodes fused into a compute kernel; reformat "
        "time belongs to no node and is reported apart."
    )


@dataclass
class EngineCell(JsonRecord):
    """One engine's side of a comparison row (several layers when that engine split the nodes)."""

    name: str
    avg_ms: float | None
    precision: str
    type: str = ""
    layers: int = 1


@dataclass
class ComparisonRow(JsonRecord):
    key: str
    per_engine: list[EngineCell | None]
    kind: str = ""
    onnx_nodes: list[str] = field(default_factory=list)
    #: "onnx" (shared ONNX nodes), "name" (same layer name), "structure" (same weights or shapes).
    matched_by: str = ""
    note: str = ""


@dataclass
class FusionDifference(JsonRecord):
    """ONNX nodes that are one layer in one engine and several in another."""

    nodes: list[str]
    layers_per_engine: list[list[str]]


@dataclass
class EngineSummary(JsonRecord):
    """An engine report without its layers: the header of a comparison."""

    label: str
    device: str
    backend: str
    batch: int | None
    total_ms: float | None
    precision_counts: dict[str, int]
    latency_ms: LatencyDistribution | None
    throughput: float | None
    reformat_ms: float = 0.0
    qdq_ms: float = 0.0
    layers: int = 0
    dominant_precision: str = ""
    requested_precision: str = ""
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class EngineComparison(JsonRecord):
    engines: list[EngineSummary]
    rows: list[ComparisonRow] = field(default_factory=list)
    #: Per engine: layer time by type (ParameterType; reformats and Q/DQ apart).
    time_by_type: list[dict[str, float]] = field(default_factory=list)
    reformat_ms: list[float] = field(default_factory=list)
    totals_ms: list[float | None] = field(default_factory=list)
    fused_differently: list[FusionDifference] = field(default_factory=list)
    #: The FP16 engine the quantized ones are held against ("" when the set has none).
    reference: str = ""
    #: Keys of the rows where a quantized engine's layer is slower than the reference's (first in ``rows``).
    slower_than_reference: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.engines]


# ----------------------------------------------------------------------------- names


def split_layer_name(name: str) -> tuple[list[str], str]:
    """The pieces of a fused engine layer name, and how they were found.

    ``"conv1.weight + QuantizeLinear_7 + Conv_9"`` -> the three pieces, ``"name"``;
    ``"PWN(PWN(Sigmoid_3), Mul_4)"`` -> ``Sigmoid_3, Mul_4``; ``"{ForeignNode[A...B]}"`` ->
    ``A, B``, ``"name-range"`` (Myelin names a region by its first and last node); a
    ``Reformatting CopyNode`` -> no pieces (a reformat has no node of its own).
    """
    name = _PROFILE_SUFFIX.sub("", name.replace("\x1e", " + ").replace("\x1f", " + ")).strip()
    if not name or _REFORMAT_NAME.match(name):
        return [], ""
    foreign = re.fullmatch(r"\{ForeignNode\[(.*)\]\}", name)
    if foreign:
        return [p.strip() for p in foreign.group(1).split("...") if p.strip()], "name-range"
    pieces: list[str] = []
    for piece in _split_top(name, (" + ",)):
        pieces.extend(_unwrap(piece))
    return [p for p in pieces if p], "name"


def _split_top(text: str, separators: tuple[str, ...]) -> list[str]:
    """Split at separators outside parentheses/brackets (names like ``(Unnamed Layer* 3) [Shuffle]``)."""
    if "(" not in text and "[" not in text:
        pattern = "|".join(re.escape(sep) for sep in separators)
        return [p.strip() for p in re.split(pattern, text)]
    token = re.compile(r"[()\[\]]|" + "|".join(re.escape(sep) for sep in separators))
    out, depth, start = [], 0, 0
    for match in token.finditer(text):
        found = match.group(0)
        if found in "([":
            depth += 1
        elif found in ")]":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(text[start : match.start()].strip())
            start = match.end()
    out.append(text[start:].strip())
    return out


def _unwrap(piece: str) -> list[str]:
    if piece.startswith("PWN(") and piece.endswith(")"):
        inner = piece[4:-1]
        out: list[str] = []
        for part in _split_top(inner, (", ", " + ", ",")):
            out.extend(_unwrap(part))
        return out
    return [piece]


def parse_metadata_nodes(metadata: str) -> list[str]:
    """ONNX node names from a layer's ``Metadata``: ``[ONNX Layer: a]\\x1f[ONNX Layer: b]``.

    Entries are separated by ``\\x1f`` or ``\\x1e`` (TensorRT 8.6+/10.x), by ``+`` in files
    TREx rewrote, or not at all; names may themselves contain brackets.
    """
    out: list[str] = []
    starts = [m.start() for m in re.finditer(re.escape(_METADATA_MARK), metadata)]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(metadata)
        entry = metadata[start + len(_METADATA_MARK) : end].rstrip("\x1e\x1f+ \t\r\n")
        if entry.endswith("]"):
            entry = entry[:-1]
        if entry and entry not in out:
            out.append(entry)
    return out


def is_qdq_piece(piece: str) -> bool:
    return bool(_QDQ_PIECE.search(piece))


def is_initializer_piece(piece: str) -> bool:
    """Pieces that name an initializer or a tensor TensorRT made up, never an ONNX node."""
    return piece.endswith(_INITIALIZER_SUFFIXES) or piece.startswith(_GENERATED_PREFIXES) or (
        "(Unnamed Layer*" in piece
    )


def _reformat_target(name: str) -> str:
    match = _REFORMAT_NAME.match(name.strip())
    return match.group("target") if match else ""


def _layer_key(layer: EngineLayer) -> str:
    """A name for the layer without Q/DQ pieces, initializers or TensorRT-made names."""
    if layer.reformat_of:
        match = _REFORMAT_NAME.match(layer.name.strip())
        which = match.group("which") if match else "tensor"
        target = _key_of_name(layer.reformat_of) or layer.reformat_of
        return f"reformat {which.lower()} of {target}"
    return _key_of_name(layer.name) or layer.name


def _key_of_name(name: str) -> str:
    pieces, _ = split_layer_name(name)
    kept = [p for p in pieces if not is_qdq_piece(p) and not is_initializer_piece(p)]
    return " + ".join(kept)


def _anchors(layer: EngineLayer, known: set[str] | None) -> set[str]:
    if layer.is_reformat and not layer.is_qdq:
        return set()
    nodes = layer.onnx_nodes
    if known is not None:
        return {n for n in nodes if n in known and not is_qdq_piece(n)}
    return {n for n in nodes if not is_qdq_piece(n) and not is_initializer_piece(n)}


def _op_hint(piece: str) -> str:
    last = piece.rsplit("/", 1)[-1]
    return re.sub(r"(_\d+)+$", "", last).lower()


# ----------------------------------------------------------------------------- formats


def _dtype_of(text: str) -> str:
    """The datatype a format text or datatype field names ("unknown" when none)."""
    for token in re.findall(r"[A-Za-z][A-Za-z0-9]*", text):
        dtype = _DTYPE_WORDS.get(token.lower())
        if dtype:
            return dtype
    return "unknown"


def _precision(dtypes: Iterable[str]) -> str:
    names = [_TRT_NAME[d] for d in dtypes if d in _TRT_NAME]
    return layer_precision(names, []) if names else "other"


def _rank(precision: str) -> int:
    return PRECISIONS.index(precision) if precision in PRECISIONS else len(PRECISIONS)


def _tensor(raw: Any) -> TensorFormat:
    if not isinstance(raw, Mapping):
        return TensorFormat(name=str(raw))
    combined = raw.get("Format/Datatype")
    datatype = raw.get("Datatype", raw.get("DataType", raw.get("Data Type")))
    fmt = combined if combined is not None else raw.get("Format", "")
    dims = raw.get("Dimensions", [])
    dtype = _dtype_of(str(datatype)) if datatype is not None else "unknown"
    if dtype == "unknown":
        dtype = _dtype_of(str(fmt))
    return TensorFormat(
        name=str(raw.get("Name", "")),
        dims=[int(d) for d in dims if isinstance(d, (int, float))] if isinstance(dims, list) else [],
        format=str(fmt),
        datatype="" if datatype is None or combined is not None else str(datatype),
        dtype=dtype,
        location=str(raw.get("Location", "")),
    )


def _tensor_entry(t: TensorFormat) -> dict[str, Any]:
    entry: dict[str, Any] = {"Name": t.name}
    if t.location:
        entry["Location"] = t.location
    entry["Dimensions"] = list(t.dims)
    if t.datatype:
        entry["Format"] = t.format
        entry["DataType"] = t.datatype
    else:
        entry["Format/Datatype"] = t.format
    return entry


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = re.search(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", value)
        return float(match.group(0)) if match else None
    return None


# ----------------------------------------------------------------------------- reading


def _read_json(path: Path, kind: str) -> Any:
    what = _FILE_WORDS.get(kind, "export")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise WorkbenchError(f"{path} ({what}) cannot be read: {exc.strerror or exc}.") from exc
    if not text.strip():
        raise WorkbenchError(f"{path} ({what}) is empty.")
    try:
        # strict=False: TensorRT 8.6+ puts \x1e/\x1f control characters inside strings.
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise WorkbenchError(
            f"{path} ({what}) is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "trtexec writes layer names unescaped, so a name with a quote or backslash can break the file.",
            detail=str(exc),
        ) from exc


def _stem_and_kind(path: Path) -> tuple[str, str | None]:
    for kind, suffix in _SUFFIX_ORDER:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)], kind
    return path.name.rsplit(".json", 1)[0], None


def _siblings(path: Path) -> dict[str, Path]:
    stem, _ = _stem_and_kind(path)
    found = {}
    for kind, suffix in SUFFIXES.items():
        candidate = path.with_name(stem + suffix)
        if candidate.is_file():
            found[kind] = candidate
    return found


def _parse_graph(data: Any, path: Path) -> tuple[list[Any], list[str], list[dict[str, Any]], dict[str, Any]]:
    """Layers (raw entries), binding names, I/O tensor dicts and other top-level fields."""
    if isinstance(data, list):
        return data, [], [], {}
    if not isinstance(data, dict) or not isinstance(data.get("Layers"), list):
        raise WorkbenchError(
            f"{path} is not trtexec layer info: expected an object with a \"Layers\" list (from --exportLayerInfo)."
        )
    bindings = [str(b) for b in data.get("Bindings", []) if isinstance(b, str)] if isinstance(
        data.get("Bindings"), list
    ) else []
    io = [t for t in data.get("I/O Tensors", []) if isinstance(t, dict)] if isinstance(
        data.get("I/O Tensors"), list
    ) else []
    if io and not bindings:
        bindings = [str(t.get("Name", "")) for t in io]
    extra = {k: v for k, v in data.items() if k not in ("Layers", "Bindings", "I/O Tensors")}
    return data["Layers"], bindings, io, extra


def _layer_from_entry(entry: Any) -> EngineLayer | None:
    if isinstance(entry, str):
        return _name_only_layer(entry)
    if not isinstance(entry, dict) or "Name" not in entry:
        return None
    name = str(entry.get("Name", ""))
    type_ = str(entry.get("LayerType", ""))
    parameter_type = str(entry.get("ParameterType", ""))
    origin = str(entry.get("Origin", ""))
    inputs = [_tensor(t) for t in entry.get("Inputs", [])] if isinstance(entry.get("Inputs"), list) else []
    outputs = [_tensor(t) for t in entry.get("Outputs", [])] if isinstance(entry.get("Outputs"), list) else []
    weights = entry.get("Weights") if isinstance(entry.get("Weights"), dict) else entry.get("ConvWeights")
    weights_type, weights_count, weights_bytes = "", None, None
    if isinstance(weights, dict):
        weights_type = str(weights.get("Type", ""))
        count = _num(weights.get("Count"))
        weights_count = int(count) if count is not None else None
        item = _ITEM_BYTES.get(_dtype_of(weights_type))
        if weights_count is not None and item is not None:
            weights_bytes = math.ceil(weights_count * item)
    metadata = str(entry.get("Metadata", "") or "")
    meta_nodes = parse_metadata_nodes(metadata)
    reformat_of = _reformat_target(name)
    pieces, source = split_layer_name(name)
    is_qdq = origin.upper() == "QDQ"
    is_reformat = (
        type_.lower() == "reformat" or origin.upper() in ("REFORMAT", "QDQ") or bool(reformat_of)
        or parameter_type.lower() == "reformat"
    )
    kind_text = f"{parameter_type} {type_}"
    is_compute = not is_reformat and (bool(_COMPUTE.search(kind_text)) or (weights_count or 0) > 0)
    input_dtypes = [t.dtype for t in inputs]
    if is_compute and weights_type:
        input_dtypes.append(_dtype_of(weights_type))
    if not input_dtypes:
        input_dtypes = [t.dtype for t in outputs]
    if all(d == "unknown" for d in input_dtypes):
        precision = "unknown"
    else:
        precision = _precision(input_dtypes)
    tactic_name = str(entry.get("TacticName", "") or "")
    tactic_value = str(entry.get("TacticValue", "") or "")
    known = {"Name", "LayerType", "ParameterType", "Origin", "Inputs", "Outputs", "Metadata", "TacticName",
             "TacticValue"}
    return EngineLayer(
        name=name,
        type=type_,
        parameter_type=parameter_type,
        origin=origin,
        tactic=tactic_name or tactic_value,
        tactic_name=tactic_name,
        tactic_value=tactic_value,
        inputs=inputs,
        outputs=outputs,
        precision=precision,
        weights_type=weights_type,
        weights_count=weights_count,
        weights_bytes=weights_bytes,
        is_reformat=is_reformat,
        is_qdq=is_qdq,
        is_compute=is_compute,
        reformat_of=reformat_of,
        onnx_nodes=meta_nodes if meta_nodes else pieces,
        onnx_source="metadata" if meta_nodes else source,
        metadata=metadata,
        attributes={k: v for k, v in entry.items() if k not in known},
    )


def _name_only_layer(name: str) -> EngineLayer:
    """A layer known by name only: kind guessed from the name's pieces (no types were exported)."""
    reformat_of = _reformat_target(name)
    pieces, source = split_layer_name(name)
    qdq = bool(pieces) and all(is_qdq_piece(p) for p in pieces)
    compute = not reformat_of and not qdq and any(_op_hint(p) in _COMPUTE_OPS for p in pieces)
    return EngineLayer(
        name=name,
        is_reformat=bool(reformat_of) or qdq,
        is_qdq=qdq,
        is_compute=compute,
        reformat_of=reformat_of,
        onnx_nodes=pieces,
        onnx_source=source,
    )


def _parse_profile(data: Any, path: Path) -> tuple[int | None, list[dict[str, Any]]]:
    if isinstance(data, dict) and isinstance(data.get("profile"), list):
        data = data["profile"]
    if not isinstance(data, list):
        raise WorkbenchError(
            f"{path} is not a trtexec profile: expected a list of per-layer rows (from --exportProfile)."
        )
    count: int | None = None
    rows = []
    for item in data:
        if not isinstance(item, dict):
            continue
        if "name" not in item:
            if "count" in item and count is None:
                c = _num(item.get("count"))
                count = int(c) if c is not None else None
            continue
        rows.append(item)
    if data and not rows and count is None:
        raise WorkbenchError(f"{path} is not a trtexec profile: none of its entries has a layer \"name\".")
    return count, rows


def _row_times(row: Mapping[str, Any], count: int | None) -> tuple[float | None, float | None, float | None]:
    total = _num(row.get("timeMs"))
    avg = _num(row.get("averageMs"))
    if avg is None and total is not None and count:
        avg = total / count
    return avg, _num(row.get("medianMs")), total


def _parse_timing(data: Any, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(data, list) or (data and not any(isinstance(r, dict) for r in data[:8])):
        raise WorkbenchError(
            f"{path} is not a trtexec timing export: expected a list of per-inference records (from --exportTimes)."
        )
    fast = _timing_columns_fast(data)
    if fast is not None:
        return fast
    columns: dict[str, list[float]] = defaultdict(list)
    fields = {
        "latency": ("latencyMs",),
        "compute": ("computeMs",),
        "h2d": ("h2dMs", "inMs"),
        "d2h": ("d2hMs", "outMs"),
    }
    for record in data:
        if not isinstance(record, dict):
            continue
        for key, names in fields.items():
            for name in names:
                value = record.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    columns[key].append(float(value))
                    break
        start, end = record.get("startEnqMs"), record.get("endEnqMs")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)):
            columns["enqueue"].append(float(end) - float(start))
    if not columns.get("latency"):
        raise WorkbenchError(f"{path} is not a trtexec timing export: no record has a \"latencyMs\" value.")
    return {k: np.asarray(v, dtype=np.float64) for k, v in columns.items() if v}


def _timing_columns_fast(data: list[Any]) -> dict[str, np.ndarray] | None:
    """Columns of a well-formed timing export in one pass per field (files run to megabytes).

    None when any record is irregular (missing keys, non-numbers, old field names): the
    record-by-record reader then takes what it can.
    """
    names = {"latency": "latencyMs", "compute": "computeMs", "h2d": "h2dMs", "d2h": "d2hMs"}
    try:
        out = {key: np.array([r[name] for r in data], dtype=np.float64) for key, name in names.items()}
        start = np.array([r["startEnqMs"] for r in data], dtype=np.float64)
        end = np.array([r["endEnqMs"] for r in data], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if not all(a.ndim == 1 and a.size and np.isfinite(a).all() for a in (*out.values(), start, end)):
        return None
    out["enqueue"] = end - start
    return out


def _as_dict(data: Any, path: Path, kind: str) -> dict[str, Any]:
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]  # TREx's device metadata: one entry per GPU, the first is the one used
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path} is not {_FILE_WORDS[kind]} JSON: expected an object.")
    return data


def _find_version(*sources: Mapping[str, Any]) -> str:
    for source in sources:
        for key, value in source.items():
            lowered = key.lower().replace("_", " ")
            if ("tensorrt" in lowered or lowered.startswith("trt")) and "version" in lowered:
                return _version_text(value)
            if isinstance(value, Mapping):
                found = _find_version(value)
                if found:
                    return found
    return ""


def _version_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ".".join(str(v) for v in value)
    return str(value).strip()


# ----------------------------------------------------------------------------- loading


def load_engine_export(
    path: str | os.PathLike[str],
    *,
    profile: str | os.PathLike[str] | None = None,
    timing: str | os.PathLike[str] | None = None,
    label: str | None = None,
    profile_metadata: str | os.PathLike[str] | None = None,
    device_metadata: str | os.PathLike[str] | None = None,
    build_metadata: str | os.PathLike[str] | None = None,
) -> EngineReport:
    """Read one engine's trtexec exports into an :class:`EngineReport`.

    ``path`` is the ``X.graph.json`` layer info (or, when that is all there is, the
    ``X.profile.json`` profile); its siblings ``X.profile.json``, ``X.timing.json``,
    ``X.profile.metadata.json``, ``X.metadata.json`` and ``X.build.metadata.json`` are
    found by TREx's naming. Explicit paths win over siblings. A folder or zip holding
    exactly one engine is accepted too (see :func:`load_engine_exports` for several).
    """
    source = Path(path)
    if source.is_dir() or source.suffix.lower() == ".zip":
        reports = load_engine_exports([source])
        if len(reports) != 1:
            raise WorkbenchError(
                f"{source} holds {len(reports)} engine exports; load them with load_engine_exports to compare them."
            )
        if label:
            reports[0].label = label
        return reports[0]
    if not source.is_file():
        raise WorkbenchError(f"{source} does not exist.")
    files = _siblings(source)
    _, kind = _stem_and_kind(source)
    if kind is None:  # trtexec takes any file name: tell the export by its content
        kind = _sniff_kind(source)
        files = {}
    if kind in ("graph", "profile", "timing"):
        files[kind] = source
    else:
        raise WorkbenchError(
            f"{source} is {_FILE_WORDS[kind]}, not an engine export: give the *.graph.json or *.profile.json file."
        )
    for kind_name, explicit in (
        ("profile", profile),
        ("timing", timing),
        ("profile_metadata", profile_metadata),
        ("device_metadata", device_metadata),
        ("build_metadata", build_metadata),
    ):
        if explicit is not None:
            p = Path(explicit)
            if not p.is_file():
                raise WorkbenchError(f"{p} ({_FILE_WORDS[kind_name]}) does not exist.")
            files[kind_name] = p
    return _assemble(files, label or _default_label(source, None))


def _sniff_kind(path: Path) -> str:
    data = _read_json(path, "graph")
    if isinstance(data, dict):
        return "graph" if "Layers" in data else "profile_metadata" if "performance_summary" in data else "graph"
    if isinstance(data, list) and data and isinstance(data[0], dict):
        if "latencyMs" in data[0]:
            return "timing"
        if "count" in data[0] or "averageMs" in data[0]:
            return "profile"
    return "graph"


def _assemble(files: dict[str, Path], label: str) -> EngineReport:
    report = EngineReport(label=label, files={k: str(v) for k, v in sorted(files.items())})
    io_tensors: list[dict[str, Any]] = []
    if "graph" in files:
        entries, report.bindings, io_tensors, extra = _parse_graph(_read_json(files["graph"], "graph"), files["graph"])
        entries, dropped = _first_profile_only(entries)
        if dropped:
            report.notes.append(
                f"The engine has several optimization profiles; {dropped} layers of profiles other than the first are left out."
            )
        skipped = 0
        for entry in entries:
            layer = _layer_from_entry(entry)
            if layer is None:
                skipped += 1
                continue
            report.layers.append(layer)
        if skipped and not report.layers:
            raise WorkbenchError(
                f"{files['graph']} is not trtexec layer info: none of its {skipped} layer entries is a name or a layer object."
            )
        if skipped:
            report.notes.append(f"{skipped} entries of the layer info are neither a name nor a layer object and were skipped.")
        report.detailed = any(isinstance(e, dict) for e in entries)
        if not report.detailed and report.layers:
            report.missing.append(
                "layer info was exported without --profilingVerbosity=detailed: layer types, formats and tactics are unknown"
            )
        version = _find_version(extra)
        if version:
            report.versions["tensorrt"] = version
    else:
        report.missing.append(
            "no layer info export (--exportLayerInfo): layer types, formats, tactics and fusion are unknown"
        )
    _attach_profile(report, files)
    _attach_timing(report, files)
    _attach_metadata(report, files, io_tensors)
    _finish_counts(report)
    return report


def _first_profile_only(entries: list[Any]) -> tuple[list[Any], int]:
    def name_of(entry: Any) -> str:
        return entry if isinstance(entry, str) else str(entry.get("Name", "")) if isinstance(entry, dict) else ""

    if not any(_PROFILE_SUFFIX.search(name_of(e) or "") for e in entries):
        return entries, 0
    kept = [e for e in entries if not _PROFILE_SUFFIX.search(name_of(e))]
    return kept, len(entries) - len(kept)


def _attach_profile(report: EngineReport, files: dict[str, Path]) -> None:
    if "profile" not in files:
        report.missing.append("no profile export (--exportProfile): per-layer times unknown")
        return
    count, rows = _parse_profile(_read_json(files["profile"], "profile"), files["profile"])
    rows = [r for r in rows if not _PROFILE_SUFFIX.search(str(r.get("name", "")))] or rows
    report.profile_iterations = count
    if not report.layers:  # a profile alone: its rows are the layers, known by name only
        report.layers = [_name_only_layer(str(r.get("name", ""))) for r in rows]
    by_name: dict[str, deque[int]] = defaultdict(deque)
    for i, layer in enumerate(report.layers):
        by_name[_name_key(layer.name)].append(i)
    timed: set[int] = set()
    total = 0.0
    for row in rows:
        avg, median, time_ms = _row_times(row, count)
        total += avg or 0.0
        queue = by_name.get(_name_key(str(row.get("name", ""))))
        if not queue:
            report.unmatched_profile_rows.append(str(row.get("name", "")))
            continue
        i = queue.popleft()
        timed.add(i)
        layer = report.layers[i]
        layer.avg_ms, layer.median_ms, layer.time_ms = avg, median, time_ms
    report.total_ms = total
    for i, layer in enumerate(report.layers):
        if i not in timed:
            report.unprofiled_layers.append(layer.name)
        elif total > 0 and layer.avg_ms is not None:
            layer.percent = layer.avg_ms / total * 100.0
        elif layer.avg_ms is not None:
            layer.percent = 0.0
    if report.unmatched_profile_rows:
        report.notes.append(
            f"{len(report.unmatched_profile_rows)} profile rows name no layer of the layer info "
            f"(e.g. {report.unmatched_profile_rows[0]!r}); their time is in the total but on no layer."
        )
    if report.unprofiled_layers and "graph" in files:
        report.notes.append(
            f"{len(report.unprofiled_layers)} layers have no profile row (TensorRT did not time them, or the "
            "profile comes from another build)."
        )


def _name_key(name: str) -> str:
    return name.replace("\x1e", "+").replace("\x1f", "+").strip()


def _attach_timing(report: EngineReport, files: dict[str, Path]) -> None:
    if "timing" not in files:
        return
    columns = _parse_timing(_read_json(files["timing"], "timing"), files["timing"])
    report.latency_ms = LatencyDistribution.from_samples(columns["latency"])
    report.latency_source = f"{columns['latency'].size} per-inference records of --exportTimes"
    for key in ("compute", "h2d", "d2h", "enqueue"):
        if key in columns:
            report.timing_ms[key] = LatencyDistribution.from_samples(columns[key])


def _attach_metadata(report: EngineReport, files: dict[str, Path], io_tensors: list[dict[str, Any]]) -> None:
    perf: dict[str, Any] = {}
    if "profile_metadata" in files:
        perf = _as_dict(_read_json(files["profile_metadata"], "profile_metadata"), files["profile_metadata"],
                        "profile_metadata")
    summary = perf.get("performance_summary") if isinstance(perf.get("performance_summary"), dict) else {}
    options = perf.get("inference_options") if isinstance(perf.get("inference_options"), dict) else {}
    device_info = perf.get("device_information") if isinstance(perf.get("device_information"), dict) else {}
    report.performance_summary = dict(summary or {})
    report.inference_options = dict(options or {})
    device: dict[str, Any] = {}
    if "device_metadata" in files:
        device = _as_dict(_read_json(files["device_metadata"], "device_metadata"), files["device_metadata"],
                          "device_metadata")
    build: dict[str, Any] = {}
    if "build_metadata" in files:
        build = _as_dict(_read_json(files["build_metadata"], "build_metadata"), files["build_metadata"],
                         "build_metadata")
    model_options = build.get("model_options") if isinstance(build.get("model_options"), dict) else {}
    build_options = build.get("build_options") if isinstance(build.get("build_options"), dict) else {}
    report.build_options = dict(build_options or {})
    report.model = str((model_options or {}).get("Model", "") or "")

    # Device: trtexec's device information first, TREx's CUDA attribute dump second.
    d = report.device
    d.name = str((device_info or {}).get("Selected Device", "") or device.get("Name", "") or "")
    cc = (device_info or {}).get("Compute Capability", device.get("ComputeCapability"))
    if isinstance(cc, (list, tuple)):
        d.compute_capability = ".".join(str(int(c)) for c in cc if isinstance(c, (int, float)))
    elif cc is not None:
        d.compute_capability = str(cc)
    sms = _num((device_info or {}).get("SMs", device.get("MULTIPROCESSOR_COUNT")))
    d.sms = int(sms) if sms is not None else None
    clock = _num((device_info or {}).get("Compute Clock Rate"))
    if clock is None and _num(device.get("CLOCK_RATE")) is not None:
        clock = float(device["CLOCK_RATE"]) / 1e6  # kHz -> GHz
    d.clock_ghz = clock
    mem_clock = _num((device_info or {}).get("Memory Clock Rate"))
    if mem_clock is None and _num(device.get("MEMORY_CLOCK_RATE")) is not None:
        mem_clock = float(device["MEMORY_CLOCK_RATE"]) / 1e6
    d.memory_clock_ghz = mem_clock
    memory = (device_info or {}).get("Device Global Memory")
    if memory is not None and _num(memory) is not None:
        d.memory_mib = _num(memory)
    elif _num(device.get("TotalMemory")) is not None:
        d.memory_mib = float(device["TotalMemory"]) / 2**20
    bus = _num((device_info or {}).get("Memory Bus Width", device.get("GLOBAL_MEMORY_BUS_WIDTH")))
    d.memory_bus_bits = int(bus) if bus is not None else None
    if not d.name:
        report.missing.append("no device information (profile metadata or device metadata): the GPU is unknown")

    version = _find_version(build, perf, device)
    if version:
        report.versions["tensorrt"] = version
    if device.get("CUDA_VERSION") is not None:
        report.versions["cuda"] = _version_text(device["CUDA_VERSION"])
    if "tensorrt" not in report.versions:
        report.missing.append("the exports do not record the TensorRT version")

    _set_batch(report, options or {}, io_tensors)
    _set_latency_fallback(report, summary or {})
    _set_throughput(report, summary or {})
    _set_requested(report, build_options or {})
    if report.latency_ms is not None and report.total_ms is not None:
        report.notes.append(_LATENCY_NOTE)
        if options:
            graph = options.get("CUDA Graph")
            separate = options.get("Separate profiling")
            if graph is not None or separate is not None:
                report.notes.append(
                    f"trtexec ran with CUDA Graph {str(graph or 'unknown').lower()} and separate profiling "
                    f"{str(separate or 'unknown').lower()}."
                )


def _set_batch(report: EngineReport, options: Mapping[str, Any], io_tensors: list[dict[str, Any]]) -> None:
    for key, value in options.items():
        if "shape" in key.lower() and isinstance(value, str):
            match = re.search(r"=\s*(\d+)", value) or re.match(r"\s*(\d+)", value)
            if match:
                report.batch = int(match.group(1))
                report.batch_source = f"the profile metadata's {key.lower()} {value.split(',')[0].strip()}"
                return
    for tensor in io_tensors:
        if str(tensor.get("IOMode", "")).lower().startswith("input"):
            dims = tensor.get("Dimensions") or (tensor.get("ProfileInfo") or [{}])[0].get("OptShape")
            if isinstance(dims, list) and dims and isinstance(dims[0], int) and dims[0] > 0:
                report.batch = dims[0]
                report.batch_source = f"the first dimension of input {tensor.get('Name', '')}"
                return
    for name in report.bindings:
        for layer in report.layers:
            for t in layer.inputs:
                if t.name == name and t.dims and t.dims[0] > 0:
                    report.batch = t.dims[0]
                    report.batch_source = f"the first dimension of input binding {name}"
                    return
    report.missing.append("the batch size is not recorded (no inference shape, no input binding dimensions)")


def _set_latency_fallback(report: EngineReport, summary: Mapping[str, Any]) -> None:
    if report.latency_ms is not None:
        return
    values = summary.get("Latency")
    if isinstance(values, list) and len(values) >= 4 and all(_num(v) is not None for v in values):
        v = [float(x) for x in values]
        p90 = p95 = None
        p99 = v[4] if len(v) == 5 else v[6] if len(v) >= 7 else None
        if len(v) >= 7:
            p90, p95 = v[4], v[5]
        report.latency_ms = LatencyDistribution(
            count=0, min=v[0], max=v[1], mean=v[2], median=v[3], p90=p90, p95=p95, p99=p99
        )
        report.latency_source = "trtexec's performance summary (no --exportTimes file)"
        if p90 is None:
            report.missing.append("no timing export (--exportTimes): latency p90/p95 unknown")
    else:
        report.missing.append("no timing export (--exportTimes): per-inference latency unknown")


def _set_throughput(report: EngineReport, summary: Mapping[str, Any]) -> None:
    qps = _num(summary.get("Throughput"))
    if qps is not None and qps > 0:
        report.throughput = qps
        report.throughput_source = "trtexec's performance summary"
    elif report.latency_ms is not None and report.latency_ms.median > 0:
        report.throughput = 1000.0 / report.latency_ms.median
        report.throughput_source = "derived: 1000 / median latency (one inference at a time)"
    if report.throughput is not None and report.batch:
        report.samples_per_second = report.throughput * report.batch


def _set_requested(report: EngineReport, build_options: Mapping[str, Any]) -> None:
    text = " ".join(str(v) for k, v in build_options.items() if "precision" in k.lower() or k.lower() in (
        "fp16", "int8", "fp8", "bf16", "best"))
    found = _precisions_in(text)
    if not found:
        found = _precisions_in(report.label.replace("-", " ").replace("_", " "))
    if found:
        report.requested_precision = min(found, key=_rank)


def _precisions_in(text: str) -> list[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", text)}
    found = [p for p in PRECISIONS if p in words]
    if "qat" in words or "best" in words or "ptq" in words:
        found.append("int8")
    if "nvfp4" in words:
        found.append("fp4")
    if "tf32" in words:
        found.append("fp32")
    return found


def _finish_counts(report: EngineReport) -> None:
    known = [layer for layer in report.layers if layer.precision not in ("unknown", "other")]
    report.precision_counts = dict(sorted(Counter(layer.precision for layer in known).items(),
                                          key=lambda item: _rank(item[0])))
    report.compute_precision_counts = dict(
        sorted(Counter(layer.precision for layer in known if layer.is_compute).items(), key=lambda item: _rank(item[0]))
    )
    compute = [
        {"type": "convolution", "precision": layer.precision}
        for layer in report.layers
        if layer.is_compute and layer.precision not in ("unknown", "other")
    ]
    if report.requested_precision and compute:
        warning = fallback_warning(report.requested_precision, compute)
        if warning and warning not in report.warnings:
            report.warnings.append(warning)


def load_engine_exports(paths: Iterable[str | os.PathLike[str]]) -> list[EngineReport]:
    """Read several engines: graph JSON files, folders (every ``*.graph.json`` under them) and zips.

    Labels default to the engine's folder name when the folder holds that one engine,
    else to the file stem, and are made unique (parent folder, then a ``-2`` suffix)
    because TREx-style exports of variants often share a stem.
    """
    found: list[tuple[Path, Path | None, str | None]] = []  # (file, root, zip display prefix)
    temps: list[tempfile.TemporaryDirectory[str]] = []
    try:
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                # A user's folder may name the engine; only a zip's temporary root never does.
                found.extend((f, None, None) for f in _exports_under(path))
            elif path.suffix.lower() == ".zip" or (path.is_file() and _is_zip(path)):
                tmp = tempfile.TemporaryDirectory(prefix="trt-exports-")
                temps.append(tmp)
                unpacked = Path(tmp.name)
                _unpack_exports(path, unpacked)
                found.extend((f, unpacked, f"{path}!") for f in _exports_under(unpacked))
            elif path.is_file():
                found.append((path, None, None))
            else:
                raise WorkbenchError(f"{path} does not exist.")
        if not found:
            raise WorkbenchError("No engine exports found: give *.graph.json files, folders holding them, or a zip.")
        labels = _unique_labels([(f, root, prefix) for f, root, prefix in found])
        reports = []
        for (file, root, prefix), label in zip(found, labels):
            report = load_engine_export(file, label=label)
            if prefix is not None and root is not None:
                report.files = {k: prefix + Path(v).relative_to(root).as_posix() for k, v in report.files.items()}
            reports.append(report)
        return reports
    finally:
        for tmp in temps:
            tmp.cleanup()


def _exports_under(folder: Path) -> list[Path]:
    graphs = sorted(folder.rglob("*" + SUFFIXES["graph"]))
    stems = {(g.parent, _stem_and_kind(g)[0]) for g in graphs}
    profiles = [
        p for p in sorted(folder.rglob("*" + SUFFIXES["profile"]))
        if _stem_and_kind(p)[1] == "profile" and (p.parent, _stem_and_kind(p)[0]) not in stems
    ]
    return sorted([*graphs, *profiles], key=lambda p: (p.parent.parts, p.name))


def _default_label(path: Path, root: Path | None) -> str:
    parent = path.parent
    if parent != root and parent.name and len(_stems_in(parent)) == 1:
        return parent.name
    return short_stem(_stem_and_kind(path)[0])


def _stems_in(folder: Path) -> set[str]:
    stems = set()
    for p in folder.iterdir() if folder.is_dir() else []:
        stem, kind = _stem_and_kind(p)
        if kind in ("graph", "profile"):
            stems.add(stem)
    return stems


def short_stem(stem: str) -> str:
    """``resnet.onnx.engine`` -> ``resnet``: the engine's name without the suffixes trtexec and TREx add."""
    changed = True
    while changed:
        changed = False
        for suffix in (".engine", ".plan", ".trt", ".onnx"):
            if stem.lower().endswith(suffix) and len(stem) > len(suffix):
                stem, changed = stem[: -len(suffix)], True
    return stem


def _unique_labels(items: list[tuple[Path, Path | None, str | None]]) -> list[str]:
    labels = [_default_label(f, root) for f, root, _ in items]
    counts = Counter(labels)
    for i, (f, root, _) in enumerate(items):
        if counts[labels[i]] > 1 and f.parent != root and f.parent.name and f.parent.name != labels[i]:
            labels[i] = f.parent.name
    out: list[str] = []
    used: set[str] = set()
    for label in labels:
        candidate, n = label, 1
        while candidate in used:
            n += 1
            candidate = f"{label}-{n}"
        used.add(candidate)
        out.append(candidate)
    return out


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _unpack_exports(path: Path, root: Path) -> None:
    """Unpack a zip's JSON exports with the workbench's archive checks (``workbench.archives``):
    no absolute or ``..`` paths, no links, declared sizes and ratios within the limits, and
    the bytes really written counted."""
    from workbench.archives import checked_members, extract_members, open_zip

    archive = open_zip(path, path.name, WorkbenchError)
    with archive:
        members = checked_members(archive, path.name, WorkbenchError)
        wanted = [m for m in members if m.filename.lower().endswith(".json")]
        extract_members(archive, wanted, root, path.name, WorkbenchError)


# ----------------------------------------------------------------------------- writing


def write_trtexec_exports(
    folder: str | os.PathLike[str],
    *,
    stem: str,
    layers: Sequence[str | Mapping[str, Any] | EngineLayer],
    profile_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[float]],
    times: Sequence[Mapping[str, Any] | float],
    bindings: Sequence[str] | None = None,
    profile_metadata: Mapping[str, Any] | None = None,
    build_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write graph, profile and timing JSON the way trtexec writes them (``X.graph.json``...).

    The workbench's own GPU profiling writes these so its results open in anything that
    reads trtexec exports (this module, TREx) and compare with engines timed elsewhere.
    ``layers`` are inspector entries (names or dicts) or :class:`EngineLayer` s;
    ``profile_rows`` are trtexec rows (name, timeMs, averageMs, medianMs, percentage) or
    ``{layer name: [ms per iteration]}`` from an ``IProfiler``; ``times`` are trtexec
    timing records or plain per-inference latencies in ms (written as compute time, no copies).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    entries = [lyr.to_inspector_entry() if isinstance(lyr, EngineLayer) else lyr for lyr in layers]
    graph = {"Layers": [e if isinstance(e, str) else dict(e) for e in entries], "Bindings": list(bindings or [])}

    rows: list[dict[str, Any]]
    if isinstance(profile_rows, Mapping):
        count = max((len(v) for v in profile_rows.values()), default=0)
        total = sum(float(sum(v)) for v in profile_rows.values())
        rows = [
            {
                "name": name,
                "timeMs": float(sum(v)),
                "averageMs": float(sum(v)) / count if count else 0.0,
                "medianMs": float(np.median(np.asarray(v, dtype=np.float64))) if len(v) else 0.0,
                "percentage": float(sum(v)) / total * 100.0 if total else 0.0,
            }
            for name, v in profile_rows.items()
        ]
    else:
        rows = [dict(r) for r in profile_rows]
        count = 1
        for r in rows:
            total_ms, avg = _num(r.get("timeMs")), _num(r.get("averageMs"))
            if total_ms and avg:
                count = max(1, round(total_ms / avg))
                break
    profile: list[dict[str, Any]] = [{"count": count}, *rows]

    records: list[dict[str, Any]] = []
    clock = 0.0
    for t in times:
        if isinstance(t, Mapping):
            records.append(dict(t))
            continue
        ms = float(t)
        records.append(
            {"startEnqMs": clock, "endEnqMs": clock, "startH2dMs": clock, "endH2dMs": clock,
             "startComputeMs": clock, "endComputeMs": clock + ms, "startD2hMs": clock + ms,
             "endD2hMs": clock + ms, "h2dMs": 0.0, "computeMs": ms, "d2hMs": 0.0, "latencyMs": ms}
        )
        clock += ms
    written = {
        "graph": out / (stem + SUFFIXES["graph"]),
        "profile": out / (stem + SUFFIXES["profile"]),
        "timing": out / (stem + SUFFIXES["timing"]),
    }
    written["graph"].write_text(json.dumps(graph, indent=None))
    written["profile"].write_text(json.dumps(profile, indent=None))
    written["timing"].write_text(json.dumps(records, indent=None))
    if profile_metadata is not None:
        written["profile_metadata"] = out / (stem + SUFFIXES["profile_metadata"])
        written["profile_metadata"].write_text(json.dumps(dict(profile_metadata)))
    if build_metadata is not None:
        written["build_metadata"] = out / (stem + SUFFIXES["build_metadata"])
        written["build_metadata"].write_text(json.dumps(dict(build_metadata)))
    return written


# ----------------------------------------------------------------------------- ONNX mapping


def _model_nodes(model_or_node_names: Any) -> tuple[list[str], Any]:
    """Node names in graph order, and the ModelProto when one was given."""
    proto = None
    if hasattr(model_or_node_names, "proto") and hasattr(model_or_node_names.proto, "graph"):
        proto = model_or_node_names.proto
    elif hasattr(model_or_node_names, "graph") and hasattr(model_or_node_names.graph, "node"):
        proto = model_or_node_names
    elif isinstance(model_or_node_names, (str, os.PathLike)):
        import onnx

        try:
            proto = onnx.load(str(model_or_node_names), load_external_data=False)
        except Exception as exc:
            raise WorkbenchError(f"{model_or_node_names} is not a loadable ONNX model.", detail=str(exc)) from exc
    if proto is not None:
        return [n.name for n in proto.graph.node if n.name], proto
    return [str(n) for n in model_or_node_names], None


def map_to_onnx(
    report: EngineReport, model_or_node_names: onnx.ModelProto | LoadedModel | str | Path | Iterable[str]
) -> OnnxMapping:
    """Which ONNX nodes each engine layer computes, and which nodes no layer names.

    Candidates come from ``[ONNX Layer: ...]`` metadata (TensorRT 8.6+) or from the fused
    layer name's pieces; only names that are nodes of the model count, so initializers
    (``conv1.weight``) and TensorRT-made names drop out. Per-node time splits a fused
    layer's time equally among its nodes (see ``OnnxMapping.note``). Reformats and Q/DQ
    reformats are counted, not listed as unmatched.
    """
    order, proto = _model_nodes(model_or_node_names)
    known = set(order)
    mapping = OnnxMapping(engine=report.label, model_nodes=len(order))
    node_ms: dict[str, float] = defaultdict(float)
    node_layers: dict[str, list[str]] = defaultdict(list)
    node_prec: dict[str, str] = {}
    index = {n: i for i, n in enumerate(order)}
    for layer in report.layers:
        pieces = list(layer.onnx_nodes)
        if layer.onnx_source == "name-range" and len(pieces) == 2 and all(p in index for p in pieces):
            lo, hi = sorted(index[p] for p in pieces)
            nodes = order[lo : hi + 1]
            note = "a Myelin region named by its first and last node: every node between them is counted"
        else:
            nodes = [p for p in pieces if p in known]
            note = ""
        other = [p for p in pieces if p not in known]
        entry = OnnxLayerMap(layer=layer.name, kind=layer.kind, nodes=nodes, other_pieces=other,
                             avg_ms=layer.avg_ms, precision=layer.precision, note=note)
        if layer.is_qdq:
            mapping.qdq_layers += 1
        if layer.is_reformat:
            mapping.reformat_layers += 1
            mapping.reformat_ms += layer.avg_ms or 0.0
            if layer.reformat_of:
                entry.note = f"reformat of {layer.reformat_of}: no node of its own"
        elif not nodes:
            mapping.unmatched_layers.append(layer.name)
            entry.note = entry.note or (
                "no piece of the name is a node of this model" if pieces else "the layer name holds no node names"
            )
        # A weight quantizer fused into a convolution is a node too, but the kernel's time is the
        # convolution's: time goes to the non-Q/DQ nodes when there are any.
        timed = [n for n in nodes if not is_qdq_piece(n)] or nodes
        share = (layer.avg_ms or 0.0) / len(timed) if timed else 0.0
        for n in nodes:
            node_layers[n].append(layer.name)
            if n in timed and (not layer.is_reformat or layer.is_qdq):
                node_ms[n] += share
            if layer.precision not in ("unknown", "other") and (
                n not in node_prec or layer.is_compute or _rank(layer.precision) < _rank(node_prec[n])
            ):
                node_prec[n] = layer.precision
        mapping.layers.append(entry)
    covered = set(node_layers)
    uncovered = [n for n in order if n not in covered]
    if proto is not None:
        mapping.absorbed_nodes = _absorbed(proto, uncovered, node_layers)
    mapping.uncovered_nodes = [n for n in uncovered if n not in mapping.absorbed_nodes]
    mapping.node_ms = {n: node_ms[n] for n in order if n in node_ms}
    mapping.node_precision = {n: node_prec[n] for n in order if n in node_prec}
    mapping.node_layers = {n: node_layers[n] for n in order if n in node_layers}
    return mapping


def _absorbed(proto: Any, uncovered: list[str], node_layers: Mapping[str, list[str]]) -> dict[str, str]:
    """Uncovered Q/DQ, Constant and Identity nodes whose consumers all sit in one layer."""
    consumers: dict[str, list[str]] = defaultdict(list)
    for node in proto.graph.node:
        for tensor in node.input:
            consumers[tensor].append(node.name)
    by_name = {n.name: n for n in proto.graph.node if n.name}
    result: dict[str, str] = {}
    for _ in range(3):  # Q -> DQ -> Conv chains: a DQ absorbed makes its Q absorbable
        for name in uncovered:
            node = by_name.get(name)
            if node is None or name in result or node.op_type not in (
                "QuantizeLinear", "DequantizeLinear", "Constant", "Identity", "Cast"
            ):
                continue
            layers = set()
            for out in node.output:
                for consumer in consumers.get(out, []):
                    owner = node_layers.get(consumer) or ([result[consumer]] if consumer in result else [])
                    layers.update(owner or ["?"])
            if len(layers) == 1 and "?" not in layers:
                result[name] = next(iter(layers))
    return result


# ----------------------------------------------------------------------------- comparison


@dataclass(eq=False)  # rows are compared by identity: list.index/remove on them must not compare fields
class _Row:
    members: dict[int, list[int]]
    anchors: dict[int, set[str]]
    sig: tuple[Any, ...]
    matched_by: str = ""


def _signature(layer: EngineLayer) -> tuple[Any, ...]:
    if layer.weights_count:
        return ("w", layer.weights_count)
    if not layer.type and not layer.inputs:
        return ("n", _layer_key(layer))
    dims_in = tuple(tuple(t.dims[1:]) for t in layer.inputs[:1])
    dims_out = tuple(tuple(t.dims[1:]) for t in layer.outputs[:1])
    # A free NoOp reformat pairs with free ones only: a real copy is a cost of its own engine.
    if layer.is_reformat:
        kind = "r-noop" if layer.type.lower() == "noop" else "r"
    else:
        kind = layer.parameter_type or layer.type
    return (kind, dims_in, dims_out)


def _groups(reports: Sequence[EngineReport], known: set[str] | None) -> list[int]:
    """Engines that come from one ONNX graph share a group (same model file, or nearly the same nodes)."""
    parent = list(range(len(reports)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    nodes = [set().union(*[_anchors(layer, known) for layer in r.layers]) if r.layers else set() for r in reports]
    for i in range(len(reports)):
        for j in range(i):
            same = known is not None
            mi, mj = Path(reports[i].model).name, Path(reports[j].model).name
            if not same and reports[i].model and reports[j].model:
                same = mi == mj
            elif not same and nodes[i] and nodes[j]:
                same = len(nodes[i] & nodes[j]) / len(nodes[i] | nodes[j]) >= 0.9
            if same:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(reports))]


def compare_engines(
    reports: Sequence[EngineReport], onnx_nodes: Iterable[str] | onnx.ModelProto | LoadedModel | None = None
) -> EngineComparison:
    """Line several engines up layer by layer.

    Engines built from one ONNX graph are matched by the ONNX nodes their layers cover
    (``onnx_nodes`` given: all engines are taken to come from that model). Engines from
    different graphs (a QAT export renumbers every node) are aligned by structure: the
    k-th layer with the same weight count, or the same type and tensor shapes, in each.
    When an FP16 engine is in the set, rows where a quantized (INT8/FP8) engine's layer
    is slower than the FP16 one's come first: that is where quantization did not pay.
    """
    if not reports:
        raise WorkbenchError("Nothing to compare: give at least one engine report.")
    known = set(_model_nodes(onnx_nodes)[0]) if onnx_nodes is not None else None
    groups = _groups(reports, known)
    # Names are parsed once per layer: engines run to thousands of layers.
    keys_of = [[_layer_key(layer) for layer in r.layers] for r in reports]
    sigs_of = [[_signature(layer) for layer in r.layers] for r in reports]
    order: list[_Row] = []
    for e, report in enumerate(reports):
        g = groups[e]
        layer_row: dict[int, _Row] = {}
        anchors = [_anchors(layer, known) for layer in report.layers]
        # 1. Shared ONNX nodes (engines of one graph): union rows and layers that share a node.
        node_rows: dict[str, list[_Row]] = defaultdict(list)
        for existing in order:
            for n in existing.anchors.get(g, ()):
                node_rows[n].append(existing)
        comp_of: dict[int, int] = {}
        comps: list[tuple[list[int], list[_Row]]] = []
        row_comp: dict[int, int] = {}
        for i, a in enumerate(anchors):
            touched = {id(r): r for n in a for r in node_rows.get(n, [])}
            if not touched:
                continue
            targets = {row_comp[rid] for rid in touched if rid in row_comp}
            if targets:
                c = min(targets)
                for other in sorted(targets - {c}, reverse=True):
                    comps[c][0].extend(comps[other][0])
                    comps[c][1].extend(comps[other][1])
                    for rid in [rid for rid, cc in row_comp.items() if cc == other]:
                        row_comp[rid] = c
                    for li in [li for li, cc in comp_of.items() if cc == other]:
                        comp_of[li] = c
                    comps[other] = ([], [])
            else:
                c = len(comps)
                comps.append(([], []))
            comps[c][0].append(i)
            comp_of[i] = c
            for rid, r in touched.items():
                if row_comp.get(rid) != c:
                    row_comp[rid] = c
                    comps[c][1].append(r)
        for layer_ids, rows_in in comps:
            if not layer_ids:
                continue
            rows_sorted = sorted({id(r): r for r in rows_in}.values(), key=order.index)
            keep = rows_sorted[0]
            for extra in rows_sorted[1:]:
                for ee, ids in extra.members.items():
                    keep.members.setdefault(ee, []).extend(ids)
                for gg, ns in extra.anchors.items():
                    keep.anchors.setdefault(gg, set()).update(ns)
                order.remove(extra)
            keep.members[e] = sorted(layer_ids)
            keep.anchors.setdefault(g, set()).update(*[anchors[i] for i in layer_ids])
            keep.matched_by = "onnx"
            for i in layer_ids:
                layer_row[i] = keep
        # 2. Same name within a graph group, then 3. the same structure anywhere.
        rest = [i for i in range(len(report.layers)) if i not in layer_row]
        free = [r for r in order if e not in r.members]
        by_name: dict[str, deque[_Row]] = defaultdict(deque)
        for r in free:
            first_e = min(r.members)
            if groups[first_e] == g:
                by_name[keys_of[first_e][r.members[first_e][0]]].append(r)
        still = []
        for i in rest:
            queue = by_name.get(keys_of[e][i])
            while queue and e in queue[0].members:
                queue.popleft()
            if queue:
                r = queue.popleft()
                r.members[e] = [i]
                r.matched_by = r.matched_by or "name"
                layer_row[i] = r
            else:
                still.append(i)
        by_sig: dict[tuple[Any, ...], deque[_Row]] = defaultdict(deque)
        for r in order:
            if e not in r.members:
                by_sig[r.sig].append(r)
        for i in still:
            queue = by_sig.get(sigs_of[e][i])
            while queue and e in queue[0].members:
                queue.popleft()
            if queue and len(reports) > 1:
                r = queue.popleft()
                r.members[e] = [i]
                r.matched_by = r.matched_by or "structure"
                layer_row[i] = r
        # 4. What is left gets rows of its own, after the row of the engine's previous layer.
        position = -1
        for i in range(len(report.layers)):
            if i in layer_row:
                position = order.index(layer_row[i])
                continue
            new = _Row(members={e: [i]}, anchors={g: set(anchors[i])}, sig=sigs_of[e][i])
            order.insert(position + 1, new)
            position += 1
            layer_row[i] = new

    fused = [
        FusionDifference(
            nodes=sorted(set().union(*r.anchors.values())),
            layers_per_engine=[[reports[e].layers[i].name for i in r.members.get(e, [])] for e in range(len(reports))],
        )
        for r in order
        if r.matched_by == "onnx" and len({len(ids) for ids in r.members.values()}) > 1
    ]
    rows = [_make_row(r, reports, keys_of) for r in order]
    keys: Counter[str] = Counter()
    for row in rows:
        keys[row.key] += 1
        if keys[row.key] > 1:
            row.key = f"{row.key} #{keys[row.key]}"
    comparison = EngineComparison(
        engines=[_summary(r) for r in reports],
        time_by_type=[r.time_by_type() for r in reports],
        reformat_ms=[r.reformat_ms for r in reports],
        totals_ms=[r.total_ms for r in reports],
        fused_differently=fused,
    )
    reference = next((i for i, r in enumerate(reports) if r.dominant_precision == "fp16"), None)
    quantized = [i for i, r in enumerate(reports) if r.dominant_precision in QUANTIZED]
    if reference is not None and quantized:
        comparison.reference = reports[reference].label
        excess: dict[int, float] = {}
        for k, row in enumerate(rows):
            ref = row.per_engine[reference]
            ref_ms = ref.avg_ms if ref is not None and ref.avg_ms is not None else 0.0
            q_cells = [row.per_engine[q] for q in quantized]
            worst = max(((c.avg_ms or 0.0) - ref_ms for c in q_cells if c is not None), default=0.0)
            if worst > 1e-9:
                excess[k] = worst
                if ref is None:
                    row.note = f"no {comparison.reference} counterpart: all of its time is extra"
        slow = sorted(excess, key=lambda k: -excess[k])
        rows = [rows[k] for k in slow] + [row for k, row in enumerate(rows) if k not in excess]
        comparison.slower_than_reference = [rows[k].key for k in range(len(slow))]
        comparison.notes.append(
            f"Rows where a quantized engine ({', '.join(reports[q].label for q in quantized)}) is slower than "
            f"{comparison.reference} come first, the largest excess first."
        )
    versions = {r.label: r.versions.get("tensorrt", "") for r in reports}
    known = {v for v in versions.values() if v}
    if len(known) > 1:
        listed = ", ".join(f"{label} {v}" for label, v in versions.items() if v)
        comparison.notes.append(
            f"The engines come from different TensorRT versions ({listed}): a layer fused or timed "
            "differently may be the version's doing, not the precision's; compare engines of one version "
            "to judge a precision, and of two versions to judge an upgrade."
        )
    elif known and any(not v for v in versions.values()):
        comparison.notes.append(
            "Some exports do not record their TensorRT version, so whether all engines come from the same "
            "version is unknown."
        )
    if len(set(groups)) > 1:
        comparison.notes.append(
            "Engines from different ONNX graphs are aligned by structure (same weight count, or the same type "
            "and tensor shapes, in order); check the row keys where the graphs differ."
        )
    comparison.rows = rows
    return comparison


def _make_row(r: _Row, reports: Sequence[EngineReport], keys_of: list[list[str]]) -> ComparisonRow:
    cells: list[EngineCell | None] = []
    kinds: set[str] = set()
    first: EngineLayer | None = None
    first_e = min(r.members)
    key = keys_of[first_e][r.members[first_e][0]]
    for e, report in enumerate(reports):
        ids = r.members.get(e)
        if not ids:
            cells.append(None)
            continue
        layers = [report.layers[i] for i in ids]
        first = first or layers[0]
        kinds.update(layer.kind for layer in layers)
        times = [layer.avg_ms for layer in layers if layer.avg_ms is not None]
        compute = [layer for layer in layers if layer.is_compute] or layers
        precisions = [layer.precision for layer in compute if layer.precision not in ("unknown", "other")]
        cells.append(
            EngineCell(
                name=" | ".join(layer.name for layer in layers),
                avg_ms=float(sum(times)) if times else None,
                precision=min(precisions, key=_rank) if precisions else compute[0].precision,
                type=compute[0].type_label,
                layers=len(layers),
            )
        )
    assert first is not None
    kind = "compute" if "compute" in kinds else ("qdq" if kinds == {"qdq"} else (
        "reformat" if kinds <= {"reformat", "qdq"} else sorted(kinds)[0]))
    nodes = sorted(set().union(*r.anchors.values())) if r.anchors else []
    return ComparisonRow(key=key, per_engine=cells, kind=kind, onnx_nodes=nodes,
                         matched_by=r.matched_by if sum(c is not None for c in cells) > 1 else "")


def _summary(report: EngineReport) -> EngineSummary:
    return EngineSummary(
        label=report.label,
        device=report.device.name,
        backend=report.backend,
        batch=report.batch,
        total_ms=report.total_ms,
        precision_counts=dict(report.precision_counts),
        latency_ms=report.latency_ms,
        throughput=report.throughput,
        reformat_ms=report.reformat_ms,
        qdq_ms=report.qdq_ms,
        layers=len(report.layers),
        dominant_precision=report.dominant_precision,
        requested_precision=report.requested_precision,
        warnings=list(report.warnings),
        missing=list(report.missing),
    )


# ----------------------------------------------------------------------------- JSON for the CLI


def _latency_json(stats: LatencyDistribution | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {"median": stats.median, "p90": stats.p90, "p95": stats.p95, "p99": stats.p99, "mean": stats.mean,
            "min": stats.min, "max": stats.max, "count": stats.count}


def summary_json(report: EngineReport) -> dict[str, Any]:
    """``show_json`` without the layer list: the per-engine header of ``compare_json``."""
    return {
        "label": report.label,
        "device": report.device.name,
        "backend": report.backend,
        "batch": report.batch,
        "total_ms": report.total_ms,
        "precision_counts": dict(report.precision_counts),
        "latency_ms": _latency_json(report.latency_ms),
        "throughput": report.throughput,
        "throughput_source": report.throughput_source,
        "samples_per_second": report.samples_per_second,
        "reformat_ms": report.reformat_ms,
        "qdq_ms": report.qdq_ms,
        "layer_count": len(report.layers),
        "requested_precision": report.requested_precision,
        "dominant_precision": report.dominant_precision,
        "versions": dict(report.versions),
        "warnings": list(report.warnings),
        "missing": list(report.missing),
        "latency_note": _LATENCY_NOTE,
        "files": dict(report.files),
    }


def show_json(report: EngineReport) -> dict[str, Any]:
    """The public JSON of ``show``: keys are a contract (extend, never rename)."""
    out = summary_json(report)
    out["layers"] = [
        {
            "name": layer.name,
            "type": layer.type,
            "precision": layer.precision,
            "avg_ms": layer.avg_ms,
            "percent": layer.percent,
            "tactic": layer.tactic,
            "onnx_nodes": list(layer.onnx_nodes),
            "reformat": layer.is_reformat,
            "kind": layer.kind,
            "parameter_type": layer.parameter_type,
            "median_ms": layer.median_ms,
        }
        for layer in report.layers
    ]
    out["notes"] = list(report.notes)
    out["device_info"] = report.device.to_dict()
    out["timing_ms"] = {k: _latency_json(v) for k, v in report.timing_ms.items()}
    return out


def compare_json(comparison: EngineComparison) -> dict[str, Any]:
    """The public JSON of ``compare``: one summary per engine, one row per matched layer."""
    return {
        "engines": [
            {
                "label": e.label,
                "device": e.device,
                "backend": e.backend,
                "batch": e.batch,
                "total_ms": e.total_ms,
                "precision_counts": dict(e.precision_counts),
                "latency_ms": _latency_json(e.latency_ms),
                "throughput": e.throughput,
                "reformat_ms": e.reformat_ms,
                "qdq_ms": e.qdq_ms,
                "layer_count": e.layers,
                "dominant_precision": e.dominant_precision,
                "warnings": list(e.warnings),
                "missing": list(e.missing),
            }
            for e in comparison.engines
        ],
        "rows": [
            {
                "key": row.key,
                "per_engine": [
                    None if c is None else {"name": c.name, "avg_ms": c.avg_ms, "precision": c.precision,
                                            "layers": c.layers, "type": c.type}
                    for c in row.per_engine
                ],
                "kind": row.kind,
                "onnx_nodes": list(row.onnx_nodes),
                "matched_by": row.matched_by,
                "note": row.note,
            }
            for row in comparison.rows
        ],
        "reference": comparison.reference,
        "slower_than_reference": list(comparison.slower_than_reference),
        "time_by_type": [dict(t) for t in comparison.time_by_type],
        "reformat_ms": list(comparison.reformat_ms),
        "fused_differently": [f.to_dict() for f in comparison.fused_differently],
        "notes": list(comparison.notes),
    }


# ----------------------------------------------------------------------------- text


def _ms(value: float | None, width: int = 8) -> str:
    return f"{value:{width}.4f}" if value is not None else f"{'—':>{width}}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_report(report: EngineReport, top: int = 15) -> str:
    """One engine as text: where it ran, its precision mix, latency, and its slowest layers."""
    lines = [f"Engine {report.label}: {report.backend}"]
    d = report.device
    if d.name:
        extra = [f"compute capability {d.compute_capability}" if d.compute_capability else "",
                 f"{d.sms} SMs" if d.sms else "", f"{d.memory_mib:.0f} MiB" if d.memory_mib else ""]
        lines.append("  device: " + ", ".join(x for x in [d.name, *extra] if x))
    if report.versions:
        lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    if report.batch:
        lines.append(f"  batch {report.batch} (from {report.batch_source})")
    reformats = sum(1 for layer in report.layers if layer.is_reformat)
    qdq = sum(1 for layer in report.layers if layer.is_qdq)
    compute = sum(1 for layer in report.layers if layer.is_compute)
    mix = ", ".join(f"{k} {v}" for k, v in report.precision_counts.items()) or "unknown"
    lines.append(
        f"  layers {len(report.layers)} ({compute} compute, {reformats} reformat of which {qdq} Q/DQ); "
        f"precision mix: {mix}"
    )
    if report.total_ms is not None:
        share = report.reformat_ms / report.total_ms * 100 if report.total_ms else 0.0
        lines.append(
            f"  layer time (sum of per-layer averages, profiled run): {report.total_ms:.4f} ms; "
            f"reformats {report.reformat_ms:.4f} ms ({share:.1f}%), Q/DQ {report.qdq_ms:.4f} ms"
        )
    if report.latency_ms is not None:
        s = report.latency_ms
        pct = ", ".join(f"{k} {v:.4f}" for k, v in (("p90", s.p90), ("p95", s.p95), ("p99", s.p99)) if v is not None)
        lines.append(
            f"  latency per inference ({report.latency_source}): median {s.median:.4f} ms, {pct}, mean {s.mean:.4f} ms"
        )
    if report.throughput is not None:
        per = f", {report.samples_per_second:.0f} samples/s at batch {report.batch}" if report.samples_per_second else ""
        lines.append(f"  throughput {report.throughput:.1f} inferences/s ({report.throughput_source}){per}")
    for warning in report.warnings:
        lines.append(f"  warning: {warning}")
    for missing in report.missing:
        lines.append(f"  missing: {missing}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    timed = [layer for layer in report.layers if layer.avg_ms is not None]
    if timed:
        shown = sorted(timed, key=lambda layer: -(layer.avg_ms or 0.0))[:top]
        lines.append(f"Top {len(shown)} of {len(report.layers)} layers by time:")
        lines.append(f"  {'ms':>8} {'%':>5}  {'prec':<5} {'type':<18} name")
        for layer in shown:
            lines.append(
                f"  {_ms(layer.avg_ms)} {layer.percent or 0:5.1f}  {layer.precision:<5} "
                f"{_cut(layer.type_label, 18):<18} {_cut(layer.name, 90)}"
            )
    return "\n".join(lines)


def format_comparison(comparison: EngineComparison, top: int = 15) -> str:
    """Several engines as text: totals, precision mix, latency, and the rows that differ most."""
    labels = comparison.labels
    width = max(10, *(len(label) for label in labels))
    devices = sorted({e.device for e in comparison.engines if e.device})
    lines = [f"{len(labels)} engines: {comparison.engines[0].backend.split(' on ')[0]} on "
             f"{', '.join(devices) or 'unrecorded devices'}, from trtexec exports"]
    lines.append(f"  {'engine':<{width}} {'layer ms':>9} {'median ms':>10} {'p99 ms':>8} {'inf/s':>8} "
                 f"{'reformat ms':>11}  precision mix")
    for e in comparison.engines:
        lat = e.latency_ms
        mix = ", ".join(f"{k} {v}" for k, v in e.precision_counts.items())
        lines.append(
            f"  {e.label:<{width}} {_ms(e.total_ms, 9)} {_ms(lat.median if lat else None, 10)} "
            f"{_ms(lat.p99 if lat else None, 8)} {e.throughput or 0:8.1f} {e.reformat_ms:11.4f}  {mix}"
        )
        for warning in e.warnings:
            lines.append(f"    warning: {warning}")
    header = "  " + " ".join(f"{_cut(label, 13):<13}" for label in labels) + "  key"
    if comparison.slower_than_reference:
        lines.append(f"Rows where a quantized engine is slower than {comparison.reference} "
                     f"({len(comparison.slower_than_reference)}), largest excess first (ms):")
        lines.append(header)
        for row in comparison.rows[: min(top, len(comparison.slower_than_reference))]:
            lines.append(_row_text(row))
    rest = [r for r in comparison.rows if r.key not in set(comparison.slower_than_reference)]
    shown = sorted(rest, key=lambda r: -max((c.avg_ms or 0.0) for c in r.per_engine if c is not None))[:top]
    lines.append(f"Top {len(shown)} other rows by time (ms; — = no such layer):")
    lines.append(header)
    lines.extend(_row_text(row) for row in shown)
    lines.append("Time by layer type (ms):")
    types = sorted({t for d in comparison.time_by_type for t in d},
                   key=lambda t: -max(d.get(t, 0.0) for d in comparison.time_by_type))
    lines.append("  " + " ".join(f"{_cut(label, 13):<13}" for label in labels) + "  type")
    for t in types:
        lines.append("  " + " ".join(f"{d.get(t, 0.0):8.4f}     " for d in comparison.time_by_type) + f"  {t}")
    if comparison.fused_differently:
        lines.append(f"Fused differently ({len(comparison.fused_differently)}):")
        for f in comparison.fused_differently[:top]:
            parts = [f"{label}: {len(ls)} layer(s)" for label, ls in zip(labels, f.layers_per_engine)]
            lines.append(f"  {_cut(' + '.join(f.nodes), 60)}: " + "; ".join(parts))
    for note in comparison.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _row_text(row: ComparisonRow) -> str:
    cells = " ".join(
        f"{'—':>13}" if c is None or c.avg_ms is None else f"{c.avg_ms:8.4f} {c.precision[:4]:<4}"
        for c in row.per_engine
    )
    note = f"  ({row.note})" if row.note else ""
    return f"  {cells}  {_cut(row.key, 70)}{note}"
