"""Look-ups over an ONNX graph: who produces a tensor, who consumes it, its shape and dtype.

Built once per model from the shape-inferred graph; the diagnosis and the fixes use it to
describe a node in the user's terms (inputs and outputs with shapes and dtypes,
attributes, producer and consumer nodes) and to trace where a tensor comes from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import onnx

from workbench.summary import TensorInfo, graph_inputs, tensor_info


@dataclass
class GraphIndex:
    graph: onnx.GraphProto
    nodes: list[onnx.NodeProto]
    producer: dict[str, int] = field(default_factory=dict)
    consumers: dict[str, list[int]] = field(default_factory=dict)
    value_info: dict[str, TensorInfo] = field(default_factory=dict)
    initializers: set[str] = field(default_factory=set)
    graph_input_names: set[str] = field(default_factory=set)
    by_name: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, graph: onnx.GraphProto, inferred: onnx.GraphProto | None = None) -> GraphIndex:
        index = cls(graph=graph, nodes=list(graph.node))
        for i, node in enumerate(index.nodes):
            if node.name:
                index.by_name.setdefault(node.name, i)
            for out in node.output:
                if out:
                    index.producer[out] = i
            for inp in node.input:
                if inp:
                    index.consumers.setdefault(inp, []).append(i)
        source = inferred if inferred is not None else graph
        for vi in [*source.input, *source.value_info, *source.output]:
            index.value_info[vi.name] = tensor_info(vi)
        for init in graph.initializer:
            index.initializers.add(init.name)
            index.value_info.setdefault(
                init.name,
                TensorInfo(name=init.name, dtype=_dtype(init.data_type), shape=[int(d) for d in init.dims]),
            )
        index.graph_input_names = {vi.name for vi in graph_inputs(graph)}
        return index

    def node_label(self, i: int) -> str:
        node = self.nodes[i]
        return node.name or f"{node.op_type}#{i}"

    def find_node(self, name: str | None, index: int | None = None, op_type: str | None = None) -> int | None:
        """The node a parser error names: by name first, else by index (checked against the op)."""
        if name and name in self.by_name:
            return self.by_name[name]
        if name and name.startswith("node_of_"):
            # TensorRT names an unnamed node after its first output.
            produced = self.producer.get(name.removeprefix("node_of_"))
            if produced is not None:
                return produced
        if (
            index is not None
            and 0 <= index < len(self.nodes)
            and (not op_type or self.nodes[index].op_type == op_type)
        ):
            return index
        return None

    def is_constant(self, tensor: str) -> bool:
        """An initializer or the output of a Constant node."""
        if tensor in self.initializers:
            return True
        producer = self.producer.get(tensor)
        return producer is not None and self.nodes[producer].op_type == "Constant"

    def ancestors(self, tensor: str, limit: int = 10_000) -> tuple[set[int], set[str]]:
        """Nodes that feed ``tensor`` and the graph inputs it depends on."""
        seen_nodes: set[int] = set()
        inputs: set[str] = set()
        stack = [tensor]
        while stack and len(seen_nodes) < limit:
            name = stack.pop()
            if name in self.graph_input_names:
                inputs.add(name)
                continue
            producer = self.producer.get(name)
            if producer is None or producer in seen_nodes:
                continue
            seen_nodes.add(producer)
            stack.extend(t for t in self.nodes[producer].input if t)
        return seen_nodes, inputs

    def describe_tensors(self, names: Iterable[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name in names:
            if not name:
                continue
            info = self.value_info.get(name)
            producer = self.producer.get(name)
            out.append(
                {
                    "name": name,
                    "dtype": info.dtype if info else None,
                    "shape": info.shape if info else None,
                    "kind": "initializer"
                    if name in self.initializers
                    else "graph input"
                    if name in self.graph_input_names
                    else "constant"
                    if self.is_constant(name)
                    else "activation",
                    "producer": self.node_label(producer) if producer is not None else None,
                }
            )
        return out


def _dtype(code: int) -> str:
    from workbench.dtypes import onnx_dtype_name

    return onnx_dtype_name(code)


def attribute_summary(node: onnx.NodeProto, max_len: int = 120) -> dict[str, str]:
    """Attributes as short strings (tensors and graphs described, not dumped)."""
    result = {}
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            text = f"<graph {attr.g.name!r}: {len(attr.g.node)} nodes>"
        elif attr.type == onnx.AttributeProto.TENSOR:
            text = f"<tensor {_dtype(attr.t.data_type)} {list(attr.t.dims)}>"
        else:
            value = onnx.helper.get_attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            text = repr(value)
        result[attr.name] = text if len(text) <= max_len else text[: max_len - 1] + "…"
    return result


def require_node_names(names: Iterable[str], graph: Any, flag: str = "--keep-precision") -> None:
    """Refuse node names the graph (or its subgraphs) does not have, naming a close one."""
    import difflib

    from workbench.errors import WorkbenchError

    known: set[str] = set()
    stack = [graph]
    while stack:
        g = stack.pop()
        for node in g.node:
            known.add(node.name)
            for attr in node.attribute:
                if attr.HasField("g"):
                    stack.append(attr.g)
                stack.extend(attr.graphs)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise WorkbenchError(f"{flag} names node {name!r}, which is not in the model{hint}.")
