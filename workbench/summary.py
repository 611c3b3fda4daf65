"""What a model is: inputs, outputs, dynamic dims, opsets, operators, parameters, size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import onnx

from workbench.dtypes import onnx_dtype_itemsize, onnx_dtype_name
from workbench.model import LoadedModel, iter_all_tensors
from workbench.serialize import JsonRecord

#: Domains that every ONNX runtime knows; anything else is a custom domain.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"})

Dim = int | str | None


@dataclass
class TensorInfo(JsonRecord):
    """A graph input or output. ``shape`` is None when the rank is unknown; a dim is an
    int (fixed), a str (symbolic name) or None (unknown)."""

    name: str
    dtype: str
    shape: list[Dim] | None

    @property
    def is_dynamic(self) -> bool:
        return self.shape is None or any(not isinstance(d, int) or d < 0 for d in self.shape)

    def shape_str(self) -> str:
        """``[batch, 3, 224, 224]``; ``?`` for an unknown dim, ``[?...]`` for an unknown rank."""
        if self.shape is None:
            return "[?...]"
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass
class DynamicDim(JsonRecord):
    """One input dimension that is not fixed, so TensorRT needs an optimization profile for it."""

    input: str
    axis: int | None  # None: the input's rank itself is unknown
    name: str | None  # the symbolic name, if any


@dataclass
class ModelSummary(JsonRecord):
    name: str
    path: str
    content_hash: str
    total_bytes: int
    external_data_files: list[str]
    ir_version: int
    opsets: dict[str, int]
    custom_domains: list[str]
    producer_name: str
    producer_version: str
    graph_name: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    node_count: int
    #: Nodes inside If/Loop/Scan bodies, also counted in node_count and op_histogram.
    subgraph_node_count: int
    #: op type -> count; ops of non-default domains are written ``domain::OpType``.
    op_histogram: dict[str, int]
    parameter_count: int
    parameter_bytes: int
    #: dtype -> number of initializers of that dtype.
    initializer_dtypes: dict[str, int]
    initializer_bytes_by_dtype: dict[str, int]
    dynamic_dims: list[DynamicDim]
    #: Symbolic names used by more than one axis of one input (H and W both "size").
    shared_dim_names: dict[str, list[str]] = field(default_factory=dict)
    checker_ok: bool = True
    checker_error: str | None = None
    shape_inference_error: str | None = None

    @property
    def needs_profile(self) -> bool:
        return bool(self.dynamic_dims)


def tensor_info(value_info: onnx.ValueInfoProto) -> TensorInfo:
    tensor_type = value_info.type.tensor_type if value_info.type.HasField("tensor_type") else None
    if tensor_type is None:
        kind = value_info.type.WhichOneof("value") or "unknown"
        return TensorInfo(name=value_info.name, dtype=kind.replace("_type", ""), shape=None)
    shape: list[Dim] | None = None
    if tensor_type.HasField("shape"):
        shape = []
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.HasField("dim_param") and dim.dim_param and not dim.dim_param.startswith("unk__"):
                # "unk__N" names are shape inference's placeholders, not the model's.
                shape.append(dim.dim_param)
            else:
                shape.append(None)
    return TensorInfo(name=value_info.name, dtype=onnx_dtype_name(tensor_type.elem_type), shape=shape)


def graph_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """Real inputs: before IR 4, initializers were listed as inputs too."""
    initializer_names = {init.name for init in graph.initializer}
    return [vi for vi in graph.input if vi.name not in initializer_names]


def iter_nodes(graph: onnx.GraphProto, *, depth: int = 0) -> Iterator[tuple[onnx.NodeProto, int]]:
    """Every node with its subgraph depth (0 = main graph)."""
    for node in graph.node:
        yield node, depth
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from iter_nodes(attr.g, depth=depth + 1)
            for sub in attr.graphs:
                yield from iter_nodes(sub, depth=depth + 1)


def op_key(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"


def summarize(model: LoadedModel) -> ModelSummary:
    """Summarise a loaded model (no tensor data is read: sizes come from dims)."""
    proto = model.proto
    graph = proto.graph
    inferred_graph = model.inferred.graph if model.inferred is not None else graph

    inputs = [tensor_info(vi) for vi in graph_inputs(graph)]
    outputs = _outputs_with_inferred_shapes(graph, inferred_graph)

    histogram: Counter[str] = Counter()
    node_count = 0
    subgraph_nodes = 0
    for node, depth in iter_nodes(graph):
        histogram[op_key(node)] += 1
        node_count += 1
        subgraph_nodes += depth > 0

    param_count = 0
    param_bytes = 0
    dtype_counts: Counter[str] = Counter()
    dtype_bytes: Counter[str] = Counter()
    for tensor in _initializers(graph):
        elements = 1
        for d in tensor.dims:
            elements *= int(d)
        nbytes = int(elements * onnx_dtype_itemsize(tensor.data_type))
        dtype = onnx_dtype_name(tensor.data_type)
        param_count += elements
        param_bytes += nbytes
        dtype_counts[dtype] += 1
        dtype_bytes[dtype] += nbytes

    opsets = {(imp.domain or "ai.onnx"): int(imp.version) for imp in proto.opset_import}
    used_domains = {n.domain for n, _ in iter_nodes(graph)}
    custom = sorted((set(opsets) | used_domains) - STANDARD_DOMAINS)

    dynamic: list[DynamicDim] = []
    shared: dict[str, list[str]] = {}
    for info in inputs:
        if info.shape is None:
            dynamic.append(DynamicDim(input=info.name, axis=None, name=None))
            continue
        names: Counter[str] = Counter()
        for axis, dim in enumerate(info.shape):
            if isinstance(dim, int) and dim >= 0:
                continue
            dynamic.append(DynamicDim(input=info.name, axis=axis, name=dim if isinstance(dim, str) else None))
            if isinstance(dim, str):
                names[dim] += 1
        for dim_name, count in names.items():
            if count > 1:
                shared.setdefault(info.name, []).append(dim_name)

    return ModelSummary(
        name=model.name,
        path=str(model.path),
        content_hash=model.content_hash,
        total_bytes=model.total_bytes,
        external_data_files=list(model.external_data_files),
        ir_version=int(proto.ir_version),
        opsets=opsets,
        custom_domains=custom,
        producer_name=proto.producer_name,
        producer_version=proto.producer_version,
        graph_name=graph.name,
        inputs=inputs,
        outputs=outputs,
        node_count=node_count,
        subgraph_node_count=subgraph_nodes,
        op_histogram=dict(histogram.most_common()),
        parameter_count=param_count,
        parameter_bytes=param_bytes,
        initializer_dtypes=dict(dtype_counts),
        initializer_bytes_by_dtype=dict(dtype_bytes),
        dynamic_dims=dynamic,
        shared_dim_names=shared,
        checker_ok=model.checker_error is None,
        checker_error=model.checker_error,
        shape_inference_error=model.shape_inference_error,
    )


def _initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    # Parameters are initializers (main graph and subgraphs); Constant-node values are
    # graph structure (shapes, axes), not weights, and are left out.
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _initializers(attr.g)
            for sub in attr.graphs:
                yield from _initializers(sub)


def _outputs_with_inferred_shapes(graph: onnx.GraphProto, inferred: onnx.GraphProto) -> list[TensorInfo]:
    inferred_outputs = {vi.name: vi for vi in inferred.output}
    result = []
    for vi in graph.output:
        info = tensor_info(vi)
        better = inferred_outputs.get(vi.name)
        if better is not None and (info.shape is None or info.dtype == "undefined"):
            inferred_info = tensor_info(better)
            info = TensorInfo(
                name=info.name,
                dtype=inferred_info.dtype if info.dtype == "undefined" else info.dtype,
                shape=info.shape if info.shape is not None else inferred_info.shape,
            )
        result.append(info)
    return result


__all__ = [
    "DynamicDim",
    "ModelSummary",
    "TensorInfo",
    "graph_inputs",
    "iter_all_tensors",
    "iter_nodes",
    "op_key",
    "summarize",
    "tensor_info",
]
