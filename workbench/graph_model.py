"""The graph the app draws: nodes, edges, tensors and overlays, as plain JSON records.

Two graphs come out of this module:

* :func:`onnx_graph` — the ONNX graph of a :class:`~workbench.model.LoadedModel`: one node
  per ONNX node (``kind="op"``), one per graph input and output (``kind="input"``/``"output"``),
  and the bodies of If/Loop/Scan nodes (summarised in ``subgraphs``) as nodes of their own
  with ``parent`` (the holder's id) and ``attr`` (``then_branch``, ``body``) set, ids
  ``"<parent id>/<attr>/<node name or op#index>"``, nested bodies likewise; the component
  draws them only once the holder is opened in place,
  one edge per (producer, consumer, tensor); every tensor with its dtype, shape, kind,
  producer and consumers; and, given a :class:`~workbench.diagnose.Diagnosis`, the errors,
  findings and fixes that concern each node (``notes``).
* :func:`engine_graph` — an engine's layers as nodes (from a build's
  :class:`~workbench.build.LayerRecord` list or an imported
  :class:`~workbench.engine_report.EngineReport`), each listing the ONNX nodes fused into it
  (``fused``); edges from the layers' tensor names when the export has them, else from the
  ONNX graph's edges between the layers' nodes, else the layer order.

An :class:`Overlay` is one value per node (a category or a number), a colour per node and a
legend: parser status and capability, engine precision (builds and imports), time per node
(ONNX Runtime CPU, TensorRT exports), FP32-vs-quantized drift, nodes kept in higher precision.
The Streamlit component (``workbench/ui/graph_component``) draws a :class:`GraphData` as
it is (``to_dict()``); nothing here imports Streamlit or plotly.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.serialize import JsonRecord

if TYPE_CHECKING:
    import onnx

    from workbench.build import BuildResult, LayerRecord
    from workbench.compare import Comparison, KeepPrecisionResult
    from workbench.diagnose import Diagnosis
    from workbench.engine_report import EngineReport, OnnxMapping
    from workbench.model import LoadedModel
    from workbench.timing import Profile

#: Colour of a node an overlay has no value for.
NO_VALUE = "#d9d9d9"


@dataclass
class GraphTensor(JsonRecord):
    name: str
    dtype: str | None = None
    #: Dims: int (fixed), str (symbolic) or None (unknown); None: rank unknown.
    shape: list[Any] | None = None
    #: "activation" | "graph input" | "graph output" | "initializer" | "constant"
    kind: str = "activation"
    #: The id of the node that produces it (None for graph inputs and initializers).
    producer: str | None = None
    consumers: list[str] = field(default_factory=list)


@dataclass
class NodeNote(JsonRecord):
    """An error, finding or hint that concerns one node."""

    severity: str  # "error" | "warning" | "info"
    #: Where it comes from: "parse error", "build error", "ONNX check", "finding: <kind>".
    source: str
    message: str
    #: Fixes that answer it, as "id: title".
    fixes: list[str] = field(default_factory=list)


@dataclass
class GraphNode(JsonRecord):
    id: str
    #: What the box shows: the op type (or the layer type, or the tensor name of an input).
    label: str
    name: str
    #: "op" | "input" | "output" | "layer"
    kind: str = "op"
    op_type: str = ""
    domain: str = ""
    #: Position in the graph (ONNX node index or engine layer index); -1 for inputs/outputs.
    index: int = -1
    #: Tensor names, in order (the tensors table describes them).
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    #: Subgraph attributes summarised: "then_branch: 4 nodes (Add, Mul)".
    subgraphs: list[str] = field(default_factory=list)
    #: Engine layers: the ONNX nodes fused into this layer (ids of the ONNX graph's nodes when
    #: they are in it, else the names the engine gives).
    fused: list[str] = field(default_factory=list)
    #: Further facts shown in the details panel (precision, tactic, time...).
    details: dict[str, str] = field(default_factory=dict)
    notes: list[NodeNote] = field(default_factory=list)
    #: A second line for the box (the first output's shape, or the layer's precision).
    sublabel: str = ""
    #: In a diff graph: "added" | "removed" | "changed" | "renamed" ("" unchanged or no diff).
    mark: str = ""
    #: A node of a subgraph body: the id of the If/Loop/Scan node that holds the body ("" in the
    #: main graph) and the attribute the body is ("then_branch", "else_branch", "body").
    parent: str = ""
    attr: str = ""


@dataclass
class GraphEdge(JsonRecord):
    source: str
    target: str
    tensor: str = ""


@dataclass
class LegendEntry(JsonRecord):
    label: str
    color: str
    count: int = 0


@dataclass
class Overlay(JsonRecord):
    """One value per node, its colour, and the legend that explains the colours."""

    id: str
    title: str
    #: "category" (values are labels) or "scale" (values are numbers).
    kind: str = "category"
    values: dict[str, Any] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)
    legend: list[LegendEntry] = field(default_factory=list)
    #: Numbers' unit ("ms") and the side table's column name.
    unit: str = ""
    value_label: str = "value"
    log_scale: bool = False
    #: Who made the numbers ("ONNX Runtime CPU (...)", "TensorRT on A100, trtexec export").
    source: str = ""
    note: str = ""

    def rows(self, graph: GraphData) -> list[dict[str, Any]]:
        """The side table: one row per node with a value, largest numbers first."""
        nodes = {n.id: n for n in graph.nodes}
        rows = [
            {"node": node_id, "op": nodes[node_id].op_type if node_id in nodes else "", self.value_label: value}
            for node_id, value in self.values.items()
        ]
        if self.kind == "scale":
            rows.sort(key=lambda r: -float(r[self.value_label]))
        return rows


@dataclass
class GraphData(JsonRecord):
    """What the graph component draws."""

    #: "onnx" | "engine"
    kind: str
    title: str
    #: Content key: the component lays a graph out once per key (same key, same layout).
    key: str
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    tensors: dict[str, GraphTensor] = field(default_factory=dict)
    overlays: list[Overlay] = field(default_factory=list)
    #: Engine graphs: ONNX node id -> the layer id it went into (for keeping the selection).
    onnx_to_layer: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        """The dict the component reads: ``to_dict()`` without empty fields, and category
        overlays as one colour per category instead of one per node (half the bytes)."""
        data = self.to_dict()
        nodes = []
        for n in data["nodes"]:
            # Defaults the component fills in: name = id, kind = "op", label = op_type.
            slim = {k: v for k, v in n.items() if v not in ("", [], {}, None) or k == "id"}
            if slim.get("name") == slim["id"]:
                del slim["name"]
            elif "parent" in slim and slim["id"] == f"{slim['parent']}/{slim['attr']}/{slim.get('name')}":
                # A body node's id ends with its name: the component cuts it back out.
                del slim["name"]
            if slim.get("kind") == "op":
                del slim["kind"]
            if "label" in slim and slim["label"] == slim.get("op_type"):
                del slim["label"]
            nodes.append(slim)
        data["nodes"] = nodes
        data["tensors"] = {
            name: {k: v for k, v in t.items() if k != "name" and v not in ([], None)} for name, t in data["tensors"].items()
        }
        data["edges"] = [{k: v for k, v in e.items() if v != ""} for e in data["edges"]]
        for overlay, record in zip(data["overlays"], self.overlays):
            if record.kind == "category":
                overlay["category_colors"] = {record.values[n]: c for n, c in record.colors.items()}
                del overlay["colors"]
        return data

    def node(self, node_id: str) -> GraphNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def op_nodes(self) -> list[GraphNode]:
        """The main graph's ops or layers (not the nodes of subgraph bodies: :meth:`body_nodes`)."""
        return [n for n in self.nodes if n.kind in ("op", "layer") and not n.parent]

    def body_nodes(self, parent: str | None = None, attr: str | None = None) -> list[GraphNode]:
        """Nodes inside subgraph bodies (all of them, or those of one holder and attribute)."""
        return [
            n for n in self.nodes
            if n.parent and (parent is None or n.parent == parent) and (attr is None or n.attr == attr)
        ]

    def overlay(self, overlay_id: str) -> Overlay:
        for overlay in self.overlays:
            if overlay.id == overlay_id:
                return overlay
        raise KeyError(overlay_id)

    def producers(self, node_id: str) -> list[str]:
        return _unique(e.source for e in self.edges if e.target == node_id)

    def consumers(self, node_id: str) -> list[str]:
        return _unique(e.target for e in self.edges if e.source == node_id)

    def find(self, text: str) -> str | None:
        """The node a search names: a node id or name, else the producer (or first consumer) of a tensor."""
        for node in self.nodes:
            if text in (node.id, node.name):
                return node.id
        tensor = self.tensors.get(text)
        if tensor is not None:
            if tensor.producer:
                return tensor.producer
            if tensor.consumers:
                return tensor.consumers[0]
        return None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _ids_by_name(graph: GraphData) -> dict[str, str]:
    """Op node name -> id, body nodes included: results name the nodes of If/Loop/Scan bodies
    too, and a main-graph node keeps its name when a body node has the same one."""
    out: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind == "op" and n.parent:
            out.setdefault(n.name, n.id)
    out.update({n.name: n.id for n in graph.nodes if n.kind == "op" and not n.parent})
    return out


# ----------------------------------------------------------------------------- the ONNX graph


def _shape_text(shape: list[Any] | None) -> str:
    if shape is None:
        return ""
    return "×".join("?" if d is None else str(d) for d in shape) if shape else "scalar"


def node_ids(graph: onnx.GraphProto) -> list[str]:
    """A unique id per node: its name, or ``op#index`` for an unnamed or repeated name."""
    ids: list[str] = []
    seen: set[str] = set()
    for i, node in enumerate(graph.node):
        candidate = node.name or f"{node.op_type}#{i}"
        if candidate in seen:
            candidate = f"{candidate}#{i}"
        seen.add(candidate)
        ids.append(candidate)
    return ids


def _subgraph_summary(node: onnx.NodeProto) -> tuple[list[str], list[str]]:
    """("then_branch: 4 nodes (Add, Mul)", ...) and the outer tensors the bodies read."""
    from collections import Counter

    import onnx

    lines: list[str] = []
    outer: list[str] = []
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for k, g in enumerate(graphs):
            ops = Counter(n.op_type for n in g.node)
            top = ", ".join(op for op, _ in ops.most_common(4))
            label = attr.name if len(graphs) == 1 else f"{attr.name}[{k}]"
            lines.append(f"{label}: {len(g.node)} nodes" + (f" ({top})" if top else ""))
            defined = {vi.name for vi in g.input} | {t.name for t in g.initializer}
            for sub in g.node:
                defined.update(o for o in sub.output if o)
            for sub in g.node:
                outer.extend(t for t in sub.input if t and t not in defined)
    return lines, _unique(outer)


def onnx_graph(
    model: LoadedModel, diagnosis: Diagnosis | None = None, *, title: str | None = None
) -> GraphData:
    """The ONNX graph of ``model`` with, given ``diagnosis``, its errors, findings and fixes on the nodes."""
    from workbench.graph_index import GraphIndex, attribute_summary
    from workbench.summary import graph_inputs

    proto = model.proto
    graph = proto.graph
    inferred = model.inferred.graph if model.inferred is not None else None
    index = GraphIndex.build(graph, inferred)
    ids = node_ids(graph)
    data = GraphData(
        kind="onnx",
        title=title or f"{model.name}: {len(graph.node):,} nodes",
        key=_key("onnx", model.content_hash or model.name, str(len(graph.node))),
    )
    tensors = data.tensors

    def tensor(name: str) -> GraphTensor:
        if name not in tensors:
            info = index.value_info.get(name)
            kind = (
                "initializer"
                if name in index.initializers
                else "graph input"
                if name in index.graph_input_names
                else "constant"
                if index.is_constant(name)
                else "activation"
            )
            tensors[name] = GraphTensor(
                name=name, dtype=info.dtype if info else None, shape=info.shape if info else None, kind=kind
            )
        return tensors[name]

    input_ids: dict[str, str] = {}
    used_ids = set(ids)
    for vi in graph_inputs(graph):
        node_id = _free_id(f"input:{vi.name}", used_ids)
        input_ids[vi.name] = node_id
        t = tensor(vi.name)
        data.nodes.append(
            GraphNode(id=node_id, label=vi.name, name=vi.name, kind="input", outputs=[vi.name],
                      sublabel=_shape_text(t.shape), details={"dtype": t.dtype or "?"})
        )
    seen_edges: set[tuple[str, str, str]] = set()
    inferred_nodes = list(inferred.node) if inferred is not None and len(inferred.node) == len(graph.node) else None

    def outer_tensor(name: str) -> tuple[str, str | None]:
        """A main-graph tensor as a body sees it: its key in ``tensors`` and its producer's id."""
        tensor(name)
        return name, ids[index.producer[name]] if name in index.producer else input_ids.get(name)

    bodies = _Bodies(data, seen_edges)
    for i, node in enumerate(graph.node):
        node_id = ids[i]
        subgraphs, outer = _subgraph_summary(node)
        first_out = next((o for o in node.output if o), None)
        gn = GraphNode(
            id=node_id,
            label=node.op_type,
            name=node.name or node_id,
            kind="op",
            op_type=node.op_type,
            domain=node.domain,
            index=i,
            inputs=list(node.input),
            outputs=list(node.output),
            attributes=attribute_summary(node),
            subgraphs=subgraphs,
        )
        if outer:
            gn.details["reads from outside its subgraphs"] = ", ".join(outer[:12]) + (" …" if len(outer) > 12 else "")
        if first_out is not None:
            gn.sublabel = _shape_text(tensor(first_out).shape)
        data.nodes.append(gn)
        for out in node.output:
            if out:
                tensor(out).producer = node_id
        for inp in node.input:
            if not inp:
                continue
            t = tensor(inp)
            t.consumers.append(node_id)
            source = ids[index.producer[inp]] if inp in index.producer else input_ids.get(inp)
            if source is not None and (source, node_id, inp) not in seen_edges:
                seen_edges.add((source, node_id, inp))
                data.edges.append(GraphEdge(source=source, target=node_id, tensor=inp))
        if subgraphs:
            bodies.add(node_id, node, inferred_nodes[i] if inferred_nodes is not None else None, outer_tensor)
    for vi in graph.output:
        node_id = _free_id(f"output:{vi.name}", used_ids)
        t = tensor(vi.name)
        if t.kind == "activation":
            t.kind = "graph output"
        t.consumers.append(node_id)
        data.nodes.append(
            GraphNode(id=node_id, label=vi.name, name=vi.name, kind="output", inputs=[vi.name],
                      sublabel=_shape_text(t.shape), details={"dtype": t.dtype or "?"})
        )
        source = ids[index.producer[vi.name]] if vi.name in index.producer else input_ids.get(vi.name)
        if source is not None:
            data.edges.append(GraphEdge(source=source, target=node_id, tensor=vi.name))
    if any(n.subgraphs for n in data.nodes):
        count = sum(1 for n in data.nodes if n.subgraphs and not n.parent)
        data.notes.append(
            f"{count} node(s) hold subgraphs (If/Loop/Scan), {bodies.count:,} body node(s): each holder is one box, "
            "opened in place by a double-click or its details' button"
        )
        # A new key: the closed drawing has the captured tensors' edges a body-less one lacked.
        data.key = _key(data.key, "bodies", str(bodies.count))
    if diagnosis is not None:
        add_diagnosis(data, diagnosis, index, ids)
        data.key = _key(data.key, diagnosis.content_hash, str(len(diagnosis.errors)), str(len(diagnosis.findings)))
    return data


#: Shown for a body input or output in the tensors table ("kind").
_BODY_INPUT = "subgraph input"
_BODY_OUTPUT = "subgraph output"


class _Bodies:
    """The nodes of If/Loop/Scan bodies, added to a :class:`GraphData` after their holder.

    Each body becomes its input nodes (``kind="input"``: Loop's iteration count, condition and
    carried values, Scan's states and slices), its op nodes and its output nodes, all with
    ``parent`` and ``attr`` set; ids are ``"<holder id>/<attr>/<node name or op#index>"`` (so
    they are the same on every load and say where they are). A tensor a body reads from an
    enclosing scope (captured) gets an edge from the node that makes it there. Shapes come from
    the shape-inferred copy of the body when it has them, else from the body's own value_info.
    """

    def __init__(self, data: GraphData, seen_edges: set[tuple[str, str, str]]) -> None:
        self.data = data
        self.seen_edges = seen_edges
        self.used = {n.id for n in data.nodes}
        self.count = 0

    def add(
        self,
        holder: str,
        node: onnx.NodeProto,
        inferred: onnx.NodeProto | None,
        outer: Any,
    ) -> None:
        import onnx

        inferred_attrs = {a.name: a for a in inferred.attribute} if inferred is not None else {}
        for attr in node.attribute:
            graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            if attr.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                continue
            twin = inferred_attrs.get(attr.name)
            twins = ([twin.g] if twin.type == onnx.AttributeProto.GRAPH else list(twin.graphs)) if twin is not None else []
            for k, body in enumerate(graphs):
                label = attr.name if len(graphs) == 1 else f"{attr.name}[{k}]"
                same = k < len(twins) and len(twins[k].node) == len(body.node)
                self._body(holder, label, body, twins[k] if same else None, outer)

    def _body(self, holder: str, attr: str, body: onnx.GraphProto, inferred: onnx.GraphProto | None, outer: Any) -> None:
        from workbench.graph_index import _dtype, attribute_summary
        from workbench.summary import tensor_info

        data = self.data
        prefix = f"{holder}/{attr}/"
        infos: dict[str, Any] = {}
        for described in (body, inferred) if inferred is not None else (body,):
            for vi in [*described.input, *described.value_info, *described.output]:
                info = tensor_info(vi)
                if info.shape is not None or info.dtype is not None or vi.name not in infos:
                    infos[vi.name] = info
        initializers = {t.name: t for t in body.initializer}
        #: Tensor name in this body -> (key in data.tensors, producer id or None).
        local: dict[str, tuple[str, str | None]] = {}

        def define(name: str, kind: str, producer: str | None) -> str:
            # Names are unique across scopes in a valid model; a clash (two branches reusing a
            # name) gets the body's prefix so neither tensor's record is overwritten.
            key = name if name not in data.tensors else prefix + name
            info = infos.get(name)
            shape = info.shape if info is not None else None
            dtype = info.dtype if info is not None else None
            if name in initializers:
                init = initializers[name]
                dtype, shape = _dtype(init.data_type), [int(d) for d in init.dims]
            data.tensors[key] = GraphTensor(name=key, dtype=dtype, shape=shape, kind=kind, producer=producer)
            local[name] = (key, producer)
            return key

        def resolve(name: str) -> tuple[str, str | None]:
            if name in local:
                return local[name]
            key, producer = outer(name)
            return key, producer

        for name in initializers:
            define(name, "initializer", None)
        for vi in body.input:
            node_id = _free_id(prefix + "input:" + vi.name, self.used)
            key = define(vi.name, _BODY_INPUT, node_id)
            record = data.tensors[key]
            data.nodes.append(GraphNode(id=node_id, label=vi.name, name=vi.name, kind="input", outputs=[key],
                                        sublabel=_shape_text(record.shape), details={"dtype": record.dtype or "?"},
                                        parent=holder, attr=attr))
            # A body input is made by the holder (the loop's counter, a carried value), not by an edge.
            data.tensors[key].producer = None
            local[vi.name] = (key, node_id)
        body_ids = []
        seen: set[str] = set()
        for i, sub in enumerate(body.node):
            candidate = sub.name or f"{sub.op_type}#{i}"
            if candidate in seen:
                candidate = f"{candidate}#{i}"
            seen.add(candidate)
            body_ids.append(_free_id(prefix + candidate, self.used))
        for i, sub in enumerate(body.node):
            node_id = body_ids[i]
            inputs = []
            for inp in sub.input:
                if not inp:
                    inputs.append("")
                    continue
                key, source = resolve(inp)
                inputs.append(key)
                t = data.tensors.get(key)
                if t is not None:
                    t.consumers.append(node_id)
                if source is not None and (source, node_id, key) not in self.seen_edges:
                    self.seen_edges.add((source, node_id, key))
                    data.edges.append(GraphEdge(source=source, target=node_id, tensor=key))
            outputs = [define(o, "constant" if sub.op_type == "Constant" else "activation", node_id) if o else ""
                       for o in sub.output]
            gn = GraphNode(
                id=node_id, label=sub.op_type, name=sub.name or node_id, kind="op", op_type=sub.op_type,
                domain=sub.domain, index=i, inputs=inputs, outputs=outputs, attributes=attribute_summary(sub),
                parent=holder, attr=attr,
            )
            first = next((o for o in outputs if o), None)
            if first is not None:
                gn.sublabel = _shape_text(data.tensors[first].shape)
            data.nodes.append(gn)
            self.count += 1
            lines, captured = _subgraph_summary(sub)
            if lines:
                gn.subgraphs = lines
                if captured:
                    gn.details["reads from outside its subgraphs"] = ", ".join(captured[:12]) + (" …" if len(captured) > 12 else "")
                twin = inferred.node[i] if inferred is not None else None
                self.add(node_id, sub, twin, resolve)
        for vi in body.output:
            node_id = _free_id(prefix + "output:" + vi.name, self.used)
            key, source = resolve(vi.name)
            t = data.tensors.get(key)
            if t is not None:
                t.consumers.append(node_id)
                if t.kind == "activation":
                    t.kind = _BODY_OUTPUT
            data.nodes.append(GraphNode(id=node_id, label=vi.name, name=vi.name, kind="output", inputs=[key],
                                        sublabel=_shape_text(t.shape if t else None),
                                        details={"dtype": (t.dtype if t else None) or "?"}, parent=holder, attr=attr))
            if source is not None:
                data.edges.append(GraphEdge(source=source, target=node_id, tensor=key))


def _free_id(candidate: str, used: set[str]) -> str:
    result, n = candidate, 1
    while result in used:
        n += 1
        result = f"{candidate}#{n}"
    used.add(result)
    return result


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _fix_titles(fix_ids: Iterable[str]) -> list[str]:
    try:
        from workbench.fixes import REGISTRY
    except Exception:  # the registry's optional imports failing must not hide the graph
        REGISTRY = {}
    return [f"{f}: {REGISTRY[f].title}" if f in REGISTRY else f for f in fix_ids]


def add_diagnosis(data: GraphData, diagnosis: Diagnosis, index: Any = None, ids: Sequence[str] | None = None) -> None:
    """Put the diagnosis' errors (by node), findings (by node or tensor) and their fixes on the nodes."""
    by_id = {n.id: n for n in data.nodes}
    by_name = {n.name: n for n in data.nodes if n.kind == "op" and n.parent}
    by_name.update({n.name: n for n in data.nodes if n.kind == "op" and not n.parent})

    def find(name: str | None, position: int | None = None, op_type: str | None = None) -> GraphNode | None:
        if index is not None and ids is not None:
            i = index.find_node(name, position, op_type)
            if i is not None and 0 <= i < len(ids):
                return by_id.get(ids[i])
        if name and name in by_name:
            return by_name[name]
        return None

    for err in diagnosis.errors:
        node = find(err.node_name, err.node_index, err.op_type)
        if node is None:
            continue
        stage = {"parse": "parse error", "build": "build error", "onnx": "ONNX check"}.get(err.stage, err.stage)
        node.notes.append(
            NodeNote(severity="error", source=stage, message=err.message, fixes=_fix_titles(err.fixes))
        )
    for finding in diagnosis.findings:
        if finding.resolved:
            continue
        targets: list[GraphNode] = [n for n in (find(name) for name in finding.nodes) if n is not None]
        if not targets:
            for t in finding.tensors:
                gt = data.tensors.get(t)
                if gt is None:
                    continue
                holder = gt.producer or next(
                    (n.id for n in data.nodes if n.kind == "input" and n.name == t), None
                )
                if holder and holder in by_id:
                    targets.append(by_id[holder])
        for node in _unique_nodes(targets):
            node.notes.append(
                NodeNote(severity=finding.severity, source=f"finding: {finding.kind}", message=finding.message,
                         fixes=_fix_titles(finding.fixes))
            )


def _unique_nodes(nodes: Iterable[GraphNode]) -> list[GraphNode]:
    seen: dict[str, GraphNode] = {}
    for n in nodes:
        seen.setdefault(n.id, n)
    return list(seen.values())


# ----------------------------------------------------------------------------- the engine graph


def engine_graph(
    layers: Sequence[LayerRecord] | EngineReport,
    model: LoadedModel | None = None,
    *,
    label: str = "engine",
    onnx: GraphData | None = None,
) -> GraphData:
    """The engine's layers as nodes, each listing the ONNX nodes fused into it.

    ``layers`` is a build's ``BuildResult.layers`` or an imported ``EngineReport``. Edges
    come from the layers' input/output tensor names (trtexec's detailed export), else from
    the ONNX graph's edges between the layers' nodes (``model`` or ``onnx`` given), else
    from the layer order.
    """
    from workbench.engine_report import EngineReport

    report = layers if isinstance(layers, EngineReport) else None
    rows: list[Any] = list(layers.layers) if isinstance(layers, EngineReport) else list(layers)
    if onnx is None and model is not None:
        onnx = onnx_graph(model)
    known = {n.name: n.id for n in onnx.nodes if n.kind == "op"} if onnx is not None else {}
    # Name ranges run over the main graph's order (a body's nodes are not between two of its nodes).
    order = [n.name for n in onnx.nodes if n.kind == "op" and not n.parent] if onnx is not None else []
    position = {name: i for i, name in enumerate(order)}
    data = GraphData(
        kind="engine",
        title=f"{label}: {len(rows):,} engine layers",
        key=_key("engine", label, onnx.key if onnx is not None else "", str(len(rows)),
                 *(getattr(r, "name", "") for r in rows[:50])),
    )
    used: set[str] = set()
    has_tensors = False
    for i, row in enumerate(rows):
        pieces = list(getattr(row, "onnx_nodes", []) or [])
        if (
            report is not None
            and getattr(row, "onnx_source", "") == "name-range"
            and len(pieces) == 2
            and all(p in position for p in pieces)
        ):
            lo, hi = sorted(position[p] for p in pieces)
            pieces = order[lo : hi + 1]
        if known:
            fused = [known[p] for p in pieces if p in known]
        else:
            from workbench.engine_report import is_initializer_piece

            fused = [p for p in pieces if not is_initializer_piece(p)]
        node_id = _free_id(row.name, used)
        precision = getattr(row, "precision", "") or ""
        kind = getattr(row, "kind", "") or ""
        ltype = getattr(row, "type", "") or kind or "layer"
        details: dict[str, str] = {"precision": precision}
        if kind:
            details["kind"] = kind
        tactic = getattr(row, "tactic_name", "") or getattr(row, "tactic", "")
        if tactic:
            details["tactic"] = str(tactic)
        avg = getattr(row, "avg_ms", None)
        if avg is not None:
            details["avg time"] = f"{avg:.4f} ms"
        others = [p for p in getattr(row, "onnx_nodes", []) or [] if known and p not in known]
        if others:
            details["other names in the layer"] = ", ".join(others[:12])
        inputs = [t.name for t in getattr(row, "inputs", [])]
        outputs = [t.name for t in getattr(row, "outputs", [])]
        has_tensors = has_tensors or bool(inputs or outputs)
        for t in [*getattr(row, "inputs", []), *getattr(row, "outputs", [])]:
            if t.name not in data.tensors:
                data.tensors[t.name] = GraphTensor(
                    name=t.name, dtype=t.dtype, shape=list(t.dims) if t.dims else None,
                    kind="activation",
                )
                if getattr(t, "format", ""):
                    data.tensors[t.name].kind = f"activation ({t.format})"
        data.nodes.append(
            GraphNode(id=node_id, label=ltype, name=row.name, kind="layer", op_type=ltype, index=i,
                      inputs=inputs, outputs=outputs, fused=fused, details=details, sublabel=precision)
        )
        for f in fused:
            data.onnx_to_layer.setdefault(f, node_id)
    layer_ids = [n.id for n in data.nodes]
    seen: set[tuple[str, str]] = set()
    if has_tensors:
        producer: dict[str, str] = {}
        for node in data.nodes:
            for t in node.outputs:
                producer.setdefault(t, node.id)
                data.tensors[t].producer = node.id
        for node in data.nodes:
            for t in node.inputs:
                data.tensors[t].consumers.append(node.id)
                src = producer.get(t)
                if src is not None and src != node.id and (src, node.id) not in seen:
                    seen.add((src, node.id))
                    data.edges.append(GraphEdge(source=src, target=node.id, tensor=t))
        data.notes.append("edges: the layers' input and output tensors, as the engine names them")
    elif onnx is not None and data.onnx_to_layer:
        layer_of = data.onnx_to_layer
        for e in onnx.edges:
            a, b = layer_of.get(e.source), layer_of.get(e.target)
            if a and b and a != b and (a, b) not in seen:
                seen.add((a, b))
                data.edges.append(GraphEdge(source=a, target=b, tensor=e.tensor))
        # Layers with no ONNX node (reformats, TensorRT's own) sit in order between their neighbours.
        for i, node in enumerate(data.nodes):
            if node.fused:
                continue
            if i > 0 and (layer_ids[i - 1], node.id) not in seen:
                seen.add((layer_ids[i - 1], node.id))
                data.edges.append(GraphEdge(source=layer_ids[i - 1], target=node.id))
            if i + 1 < len(layer_ids) and (node.id, layer_ids[i + 1]) not in seen:
                seen.add((node.id, layer_ids[i + 1]))
                data.edges.append(GraphEdge(source=node.id, target=layer_ids[i + 1]))
        data.notes.append("edges: the ONNX graph's edges between the nodes each layer computes")
    else:
        for a, b in itertools.pairwise(layer_ids):
            data.edges.append(GraphEdge(source=a, target=b))
        data.notes.append("edges: the layer order (the engine names no tensors and no ONNX model is loaded)")
    if known:
        covered = set(data.onnx_to_layer)
        missing = [n for n in order if known[n] not in covered]
        if missing:
            data.notes.append(
                f"{len(missing)} ONNX node(s) are named by no layer (folded, absorbed or renamed): "
                + ", ".join(missing[:8]) + (" …" if len(missing) > 8 else "")
            )
    data.overlays.append(precision_overlay({n.id: n.sublabel for n in data.nodes if n.sublabel},
                                           "precision", f"Layer precision ({label})"))
    times = {n.id: float(r.avg_ms) for n, r in zip(data.nodes, rows) if getattr(r, "avg_ms", None) is not None}
    if times:
        source = ""
        if report is not None:
            device = report.device.name or "an unrecorded GPU"
            source = f"TensorRT on {device}, trtexec export"
        data.overlays.append(scale_overlay(times, "time", f"Time per layer ({label})", unit="ms",
                                           value_label="ms", source=source))
    data.overlays.append(category_overlay({n.id: n.op_type for n in data.nodes}, "type", "Layer type"))
    return data


# ----------------------------------------------------------------------------- overlays

#: Netron-like families of operators, for the default colouring.
_OP_FAMILIES: dict[str, tuple[str, ...]] = {
    "convolution / matmul": ("Conv", "ConvTranspose", "Gemm", "MatMul", "MatMulInteger", "ConvInteger",
                             "QLinearConv", "QLinearMatMul", "Einsum", "Attention", "FusedMatMul"),
    "activation": ("Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Gelu", "Elu",
                   "Selu", "HardSigmoid", "HardSwish", "Softplus", "Mish", "Clip", "Erf"),
    "normalization": ("BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
                      "LRN", "SkipLayerNormalization", "RMSNormalization"),
    "pooling": ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax",
                "ReduceSum", "ReduceMin", "ReduceProd", "ReduceL2", "TopK", "ArgMax", "ArgMin"),
    "shape / layout": ("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
                       "Gather", "GatherElements", "GatherND", "Shape", "Expand", "Tile", "Pad", "Resize",
                       "DepthToSpace", "SpaceToDepth", "Size", "ScatterND", "ScatterElements", "Range"),
    "quantize": ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Cast", "CastLike"),
    "constant": ("Constant", "ConstantOfShape", "Identity"),
    "control flow": ("If", "Loop", "Scan"),
}
_FAMILY_COLORS = {
    "convolution / matmul": "#4e79a7",
    "activation": "#e15759",
    "normalization": "#59a14f",
    "pooling": "#76b7b2",
    "shape / layout": "#b07aa1",
    "quantize": "#f28e2b",
    "constant": "#bab0ac",
    "control flow": "#edc948",
    "elementwise / other": "#9c755f",
    "custom domain": "#ff4d94",
    "graph input / output": "#555555",
}
_FAMILY_OF = {op: family for family, ops in _OP_FAMILIES.items() for op in ops}

STATUS_COLORS = {
    "supported": "#76b900",
    "error": "#b30000",
    "unsupported": "#e8453c",
    "blocked": "#ffa8a8",
    "not diagnosed": NO_VALUE,
}
STATUS_LABELS = {
    "supported": "supported by TensorRT",
    "error": "parser or build error here",
    "unsupported": "unsupported by the parser",
    "blocked": "not reached (after an unsupported node)",
    "not diagnosed": "not diagnosed",
}


def op_family(op_type: str, domain: str = "") -> str:
    if domain not in ("", "ai.onnx") and op_type not in _FAMILY_OF:
        return "custom domain"
    return _FAMILY_OF.get(op_type, "elementwise / other")


def category_overlay(
    values: Mapping[str, str],
    overlay_id: str,
    title: str,
    colors: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    *,
    source: str = "",
    note: str = "",
    value_label: str = "value",
) -> Overlay:
    """A category per node; colours from ``colors`` or a fixed palette, in legend order."""
    palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
               "#9c755f", "#bab0ac"]
    counts: dict[str, int] = {}
    for v in values.values():
        counts[v] = counts.get(v, 0) + 1
    order = list(colors) if colors else sorted(counts, key=lambda c: -counts[c])
    order = [c for c in order if c in counts] + [c for c in counts if c not in order]
    color_of = {c: (colors or {}).get(c) or palette[i % len(palette)] for i, c in enumerate(order)}
    return Overlay(
        id=overlay_id,
        title=title,
        kind="category",
        values=dict(values),
        colors={n: color_of[v] for n, v in values.items()},
        legend=[LegendEntry(label=(labels or {}).get(c, c), color=color_of[c], count=counts[c]) for c in order],
        source=source,
        note=note,
        value_label=value_label,
    )


#: A sequential palette (light yellow -> dark red), for numbers.
_SCALE = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"]


def _mix(a: str, b: str, t: float) -> str:
    ra, ga, ba = (int(a[i : i + 2], 16) for i in (1, 3, 5))
    rb, gb, bb = (int(b[i : i + 2], 16) for i in (1, 3, 5))
    return f"#{round(ra + (rb - ra) * t):02x}{round(ga + (gb - ga) * t):02x}{round(ba + (bb - ba) * t):02x}"


def scale_color(fraction: float) -> str:
    f = min(1.0, max(0.0, fraction)) * (len(_SCALE) - 1)
    i = min(int(f), len(_SCALE) - 2)
    return _mix(_SCALE[i], _SCALE[i + 1], f - i)


def scale_overlay(
    values: Mapping[str, float],
    overlay_id: str,
    title: str,
    *,
    unit: str = "",
    value_label: str = "value",
    log_scale: bool = False,
    source: str = "",
    note: str = "",
) -> Overlay:
    """A number per node, coloured on a light-to-dark scale (log10 when ``log_scale``)."""
    clean = {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}
    overlay = Overlay(id=overlay_id, title=title, kind="scale", values=clean, unit=unit,
                      value_label=value_label, log_scale=log_scale, source=source, note=note)
    if not clean:
        return overlay

    def t(v: float) -> float:
        return math.log10(max(v, 1e-12)) if log_scale else v

    lo, hi = min(t(v) for v in clean.values()), max(t(v) for v in clean.values())
    span = hi - lo or 1.0
    overlay.colors = {k: scale_color((t(v) - lo) / span) for k, v in clean.items()}
    steps = 5
    for s in range(steps):
        f = s / (steps - 1)
        x = lo + f * span
        v = 10**x if log_scale else x
        overlay.legend.append(LegendEntry(label=f"{v:.3g} {unit}".strip(), color=scale_color(f)))
    return overlay


def operator_overlay(graph: GraphData) -> Overlay:
    values = {}
    for n in graph.nodes:
        values[n.id] = "graph input / output" if n.kind in ("input", "output") else op_family(n.op_type, n.domain)
    return category_overlay(values, "operator", "Operator kind", _FAMILY_COLORS)


def status_overlay(graph: GraphData, diagnosis: Diagnosis) -> Overlay:
    """Parser status and capability: supported, unsupported, not reached, an error here."""
    by_name = _ids_by_name(graph)
    # Capability rows count the main graph's nodes: a body node's index is its place in its body.
    by_index = {n.index: n.id for n in graph.nodes if n.kind == "op" and not n.parent}
    values: dict[str, str] = {}
    for support in diagnosis.capability or []:
        node_id = by_index.get(support.index) if support.index in by_index else by_name.get(support.name)
        if node_id is not None:
            values[node_id] = support.status
    for n in graph.nodes:
        if n.kind == "op" and any(note.severity == "error" for note in n.notes):
            values[n.id] = "error"
    for n in graph.nodes:
        # Body nodes are coloured only when the diagnosis says something about them.
        if n.kind == "op" and not n.parent:
            values.setdefault(n.id, "not diagnosed")
    backend = diagnosis.backend
    source = f"{backend.name} {backend.version}" if backend is not None else ""
    parse = "parses" if diagnosis.parse_ok else "does not parse"
    note = f"{parse}; " + (
        "capability per node from the parser" if diagnosis.capability is not None else "no capability report"
    )
    return category_overlay(values, "status", "TensorRT support", STATUS_COLORS, STATUS_LABELS,
                            source=source, note=note, value_label="status")


def precision_overlay(values: Mapping[str, str], overlay_id: str, title: str, *, source: str = "",
                      note: str = "") -> Overlay:
    from workbench.precision import PRECISION_INFO

    colors = {name: info.color for name, info in PRECISION_INFO.items()}
    colors.setdefault("int4", "#9467bd")
    colors.setdefault("fp4", "#e377c2")
    colors["other"] = "#bcbd22"
    colors["unknown"] = "#9e9e9e"
    return category_overlay({k: v for k, v in values.items() if v}, overlay_id, title, colors,
                            source=source, note=note, value_label="precision")


def build_precision_overlay(graph: GraphData, build: BuildResult, label: str | None = None) -> Overlay:
    """The precision of the engine layer each ONNX node ended up in, from one of our builds."""
    by_name = _ids_by_name(graph)
    values: dict[str, str] = {}
    for layer in build.layers:
        for name in layer.onnx_nodes:
            if name in by_name:
                values.setdefault(by_name[name], layer.precision)
    backend = f"{build.backend.name} {build.backend.version}" if build.backend is not None else ""
    name = label or f"{build.precision.upper()} build" + (f" for {build.target}" if build.target else "")
    uncovered = sum(1 for n in graph.nodes if n.kind == "op" and not n.parent and n.id not in values)
    return precision_overlay(values, f"build:{build.cache_key or build.precision}", f"Engine precision: {name}",
                             source=backend,
                             note=f"{uncovered} node(s) named by no layer (folded or fused away)" if uncovered else "")


def mapping_overlays(graph: GraphData, mapping: OnnxMapping, label: str, device: str = "") -> list[Overlay]:
    """Precision and time per ONNX node from an imported TensorRT export (``map_to_onnx``)."""
    by_name = _ids_by_name(graph)
    source = f"TensorRT on {device or 'an unrecorded GPU'}, trtexec export"
    out = [
        precision_overlay({by_name[k]: v for k, v in mapping.node_precision.items() if k in by_name},
                          f"export-precision:{label}", f"Engine precision: {label} (imported)", source=source)
    ]
    if mapping.node_ms:
        out.append(scale_overlay({by_name[k]: v for k, v in mapping.node_ms.items() if k in by_name},
                                 f"export-time:{label}", f"Time per node: {label} (TensorRT)", unit="ms",
                                 value_label="ms", source=source, note=mapping.note))
    return out


def profile_overlay(graph: GraphData, profile: Profile, label: str = "") -> Overlay:
    """Time per ONNX node from a profile: a fused row's time split equally among its ONNX nodes."""
    by_name = _ids_by_name(graph)
    shares = profile.row_basis == "shares"
    row_value = {layer.name: (layer.share * 100 if shares else layer.ms) for layer in profile.layers}
    values: dict[str, float] = {}
    if profile.node_rows:
        members: dict[str, int] = {}
        for row in profile.node_rows.values():
            members[row] = members.get(row, 0) + 1
        for node, row in profile.node_rows.items():
            if node in by_name and row in row_value:
                values[by_name[node]] = row_value[row] / members[row]
    else:
        for layer in profile.layers:
            nodes = [n for n in (layer.onnx_nodes or [layer.name]) if n in by_name]
            for n in nodes:
                values[by_name[n]] = values.get(by_name[n], 0.0) + row_value[layer.name] / len(nodes)
    backend = {"onnxruntime": "ONNX Runtime"}.get(profile.backend, profile.backend)
    unit = "% of run" if shares else "ms"
    return scale_overlay(
        values,
        f"profile:{label or profile.backend}",
        f"Time per node: {backend} {profile.device}".strip(),
        unit=unit,
        value_label=unit,
        source=f"{backend} on {profile.device}",
        note="shares of the profiled run (the rows do not add up to the latency)" if shares else "",
    )


def drift_overlays(graph: GraphData, comparison: Comparison) -> list[Overlay]:
    """FP32-vs-<precision> drift per node: the largest max |Δ| over the tensors it produces."""
    by_name = _ids_by_name(graph)
    out = []
    for result in comparison.results:
        if not result.layerwise:
            continue
        values: dict[str, float] = {}
        for row in result.layerwise:
            node_id = by_name.get(row.node) or (graph.tensors[row.tensor].producer if row.tensor in graph.tensors else None)
            if node_id is not None:
                values[node_id] = max(values.get(node_id, 0.0), float(row.max_abs))
        out.append(scale_overlay(values, f"drift:{result.precision}", f"Drift FP32 vs {result.precision.upper()}",
                                 unit="max |Δ|", value_label="max |Δ|", log_scale=True,
                                 source=f"{result.backend} on {result.device}"))
    return out


def keep_overlay(graph: GraphData, nodes: Iterable[str], title: str = "Kept in higher precision",
                 source: str = "") -> Overlay:
    by_name = _ids_by_name(graph)
    kept = {by_name[n] for n in nodes if n in by_name}
    values = {n.id: ("kept in higher precision" if n.id in kept else "quantized / default")
              for n in graph.nodes if n.kind == "op" and (not n.parent or n.id in kept)}
    return category_overlay(values, "keep", title,
                            {"kept in higher precision": "#1f77b4", "quantized / default": "#e6e6e6"},
                            source=source, value_label="kept")


def with_overlays(
    graph: GraphData,
    *,
    diagnosis: Diagnosis | None = None,
    builds: Sequence[BuildResult] = (),
    profiles: Mapping[str, Profile] | None = None,
    comparison: Comparison | None = None,
    keep: KeepPrecisionResult | None = None,
    exports: Sequence[tuple[str, OnnxMapping, str]] = (),
) -> GraphData:
    """``graph`` with every overlay the results give (the operator kinds first)."""
    graph.overlays = [operator_overlay(graph)]
    if diagnosis is not None:
        graph.overlays.append(status_overlay(graph, diagnosis))
    for build in builds:
        if build.ok and build.layers:
            graph.overlays.append(build_precision_overlay(graph, build))
    for label, mapping, device in exports:
        graph.overlays.extend(mapping_overlays(graph, mapping, label, device))
    for label, profile in (profiles or {}).items():
        if profile.layers:
            graph.overlays.append(profile_overlay(graph, profile, label))
    if comparison is not None:
        graph.overlays.extend(drift_overlays(graph, comparison))
    kept: list[str] = []
    kept_from: list[str] = []
    if keep is not None and keep.nodes:
        kept += keep.nodes
        kept_from.append(f"keep-precision search ({keep.precision})")
    for build in builds:
        if build.config.keep_precision:
            kept += build.config.keep_precision
            kept_from.append(f"{build.precision} build")
    if kept:
        graph.overlays.append(keep_overlay(graph, _unique(kept), source=", ".join(_unique(kept_from))))
    return graph


# ----------------------------------------------------------------------------- test and benchmark graphs


def synthetic_model(nodes: int = 1500, *, branch_every: int = 4, seed: int = 0) -> onnx.ModelProto:
    """A chain of ``nodes`` small ops with a residual branch every ``branch_every`` nodes
    (Conv-free, so it checks and runs anywhere): the large-graph test and benchmark model."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    made: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    current = "x"
    skip = "x"
    ops = ["Relu", "Sigmoid", "Tanh", "Abs", "Neg"]
    for i in range(nodes):
        out = f"t{i}"
        if branch_every and i % branch_every == branch_every - 1:
            made.append(helper.make_node("Add", [current, skip], [out], name=f"block{i // branch_every}/add_{i}"))
            skip = out
        elif i % 7 == 3:
            w = f"w{i}"
            inits.append(onnx.numpy_helper.from_array(rng.normal(size=(1, 16)).astype(np.float32), w))
            made.append(helper.make_node("Mul", [current, w], [out], name=f"block{i // branch_every}/mul_{i}"))
        else:
            op = ops[i % len(ops)]
            made.append(helper.make_node(op, [current], [out], name=f"block{i // branch_every}/{op.lower()}_{i}"))
        current = out
    graph = helper.make_graph(
        made,
        f"synthetic_{nodes}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, [1, 16])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# ----------------------------------------------------------------------------- the view in a report


#: The graph component's shipped files (read here as text; nothing imports Streamlit).
COMPONENT_FILES = Path(__file__).resolve().parent / "ui" / "graph_component" / "frontend"


def _inline_script(text: str) -> str:
    # "</" cannot end the element early once escaped; "<\/" means the same in JavaScript.
    return "<script>" + text.replace("</", "<\\/") + "</script>"


def graph_view_html(
    graph: GraphData | Mapping[str, Any],
    *,
    overlay: str | None = None,
    select: str | None = None,
    height: int = 640,
    title: str | None = None,
) -> str:
    """The graph view as one self-contained HTML fragment, for a report that opens offline.

    An ``<iframe srcdoc=...>`` holding the component's own page with its stylesheet, cytoscape,
    the layout and ``graph.js`` inlined, and ``graph`` (a :class:`GraphData` or its
    ``to_wire()`` dict) as the page's arguments: the same drawing, search, details, overlays
    (chosen inside the view), collapsing and SVG/PNG export as in the app, with no server and
    nothing fetched. The iframe keeps the component's styles and ids apart from the report's.
    """
    import html
    import json
    import re

    wire = graph.to_wire() if isinstance(graph, GraphData) else dict(graph)
    args = {"graph": wire, "overlay": overlay, "select": select, "height": height}
    page = (COMPONENT_FILES / "index.html").read_text(encoding="utf-8")

    def style(match: re.Match[str]) -> str:
        return "<style>" + (COMPONENT_FILES / match.group(1)).read_text(encoding="utf-8") + "</style>"

    def script(match: re.Match[str]) -> str:
        text = (COMPONENT_FILES / match.group(1)).read_text(encoding="utf-8")
        if match.group(1) == "graph.js":
            data = json.dumps(args, separators=(",", ":")).replace("</", "<\\/")
            return "<script>window.__GRAPH_ARGS__ = " + data + ";</script>" + _inline_script(text)
        return _inline_script(text)

    head, marker, body = page.partition("<body>")
    head = re.sub(r'<link rel="stylesheet" href="([\w.-]+)" />', style, head)
    body = re.sub(r'<script src="([\w.-]+)"></script>', script, body)
    head = re.sub(r'<script src="([\w.-]+)"></script>', script, head)
    if re.search(r"<(script|link)[^>]*(src|href)=", head + body):
        raise RuntimeError("the graph component's page references a file graph_view_html does not inline")
    page = head + marker + body
    label = html.escape(title or str(wire.get("title") or "graph"), quote=True)
    return (
        f'<iframe class="trt-workbench-graph" title="{label}" sandbox="allow-scripts allow-downloads" '
        f'style="width:100%;height:{int(height) + 4}px;border:0" srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )
