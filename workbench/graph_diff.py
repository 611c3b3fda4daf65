"""The model diff the graph view draws: which nodes two ONNX graphs share, and how they differ.

Fixes and onnxslim rename nodes (onnxslim names a Conv that absorbed its BatchNormalization
after the Conv's old output; a decomposition names its pieces after the node it replaced), so
names alone pair too little. :func:`diff_models` pairs the nodes of two graphs by these rules,
in this order, each rule only among nodes the rules before left unpaired (:data:`MATCHING_RULE`):

1. **name**: the same non-empty node name (unique on each side); the op may differ;
2. **outputs**: the same op type and domain, and the same first output tensor name;
3. **inputs**: the same op type and domain, and the same input tensors, read through the
   tensors already paired (a paired node's outputs pair with its counterpart's, by position);
4. **connected tensors**: the same op type and domain, and at least one input slot reading the
   paired tensor of the other side (or one output read by the counterpart of one of its
   consumers, at the same input slot); the candidate agreeing on the most slots wins, ties
   go to the nearest position in the graph; repeated until nothing new pairs, so a renamed
   chain pairs from both of its ends inwards.

A paired node is *changed* when its op type, domain, attributes or inputs differ (an input is
the same when it is the paired tensor; initializers are compared by content, so a renamed
but equal weight is no change), *renamed* when only its name or its output tensors' names
differ, else *unchanged*.
Unpaired nodes are *removed* (only before) or *added* (only after); an added node that makes
a removed node's output tensor *replaces* it (FusedMatMul decomposed into MatMul). Graph
inputs and outputs pair by name and change with their dtype or shape.

:func:`diff_graph` draws both graphs in one: the after graph, plus the removed nodes where they
were (wired to the counterparts of their neighbours), with a "Diff" overlay; the component
marks removed nodes with a dashed border and steps through the changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.serialize import JsonRecord

if TYPE_CHECKING:
    import onnx

    from workbench.diagnose import Diagnosis
    from workbench.fixing import FixSession
    from workbench.graph_model import GraphData
    from workbench.model import LoadedModel

MATCHING_RULE = (
    "Nodes pair by name first; then, among the rest, by op type and first output tensor, by op type and "
    "input tensors (through the tensors already paired), and by op type and connected tensors (an input "
    "or output shared with a paired neighbour at the same slot), repeated until nothing new pairs. "
    "A pair is changed when op, attributes or inputs differ (weights compared by content), renamed when "
    "only its name or its outputs' names differ; unpaired nodes are removed or added."
)

#: The diff overlay's categories, their colours and legend labels, in legend order.
DIFF_COLORS = {
    "added": "#2da44e",
    "removed": "#cf222e",
    "changed": "#fb8500",
    "renamed": "#8250df",
    "unchanged": "#e6e6e6",
}
DIFF_LABELS = {
    "added": "added (only after)",
    "removed": "removed (only before)",
    "changed": "changed (op, attributes or inputs)",
    "renamed": "renamed (node or output names only)",
    "unchanged": "unchanged",
}
RULES = ("name", "outputs", "inputs", "connected tensors")


@dataclass
class NodeMatch(JsonRecord):
    """One pair of nodes: ids in each graph (``graph_model.node_ids``, or ``input:``/``output:`` ids)."""

    before: str
    after: str
    #: Which rule paired them: "name" | "outputs" | "inputs" | "connected tensors".
    rule: str
    #: "changed" | "renamed" | "unchanged"
    status: str
    #: What differs, in words: "op: FusedMatMul → MatMul", "attribute alpha: 0.1 → 0.2", "input 1: ...".
    changes: list[str] = field(default_factory=list)


@dataclass
class ModelDiff(JsonRecord):
    before_label: str
    after_label: str
    matches: list[NodeMatch] = field(default_factory=list)
    #: Node ids only in the after graph / only in the before graph.
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Added node id -> the removed node ids whose output tensors it makes.
    replaces: dict[str, list[str]] = field(default_factory=dict)
    #: Removed node id -> the after node ids that now make its output tensors (a Conv that
    #: absorbed its BatchNormalization makes the BatchNormalization's output).
    outputs_now_from: dict[str, list[str]] = field(default_factory=dict)
    rule: str = MATCHING_RULE

    def status_of_after(self) -> dict[str, str]:
        """After node id -> added / changed / renamed / unchanged."""
        out = {m.after: m.status for m in self.matches}
        out.update({a: "added" for a in self.added})
        return out

    def counts(self) -> dict[str, int]:
        counts = {k: 0 for k in DIFF_COLORS}
        for m in self.matches:
            counts[m.status] += 1
        counts["added"] = len(self.added)
        counts["removed"] = len(self.removed)
        return counts

    def summary(self) -> str:
        c = self.counts()
        by_rule: dict[str, int] = {}
        for m in self.matches:
            if m.rule != "name":
                by_rule[m.rule] = by_rule.get(m.rule, 0) + 1
        paired = ", ".join(f"{n} by {r}" for r, n in by_rule.items())
        return (
            f"{self.before_label} → {self.after_label}: {c['added']} added, {c['removed']} removed, "
            f"{c['changed']} changed, {c['renamed']} renamed, {c['unchanged']} unchanged"
            + (f" ({paired}; the rest by name)" if paired else "")
        )


# ----------------------------------------------------------------------------- matching


class _Side:
    """One graph's nodes with the look-ups matching needs."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        from workbench.graph_model import node_ids

        self.graph = graph
        self.nodes = list(graph.node)
        self.ids = node_ids(graph)
        self.producer: dict[str, tuple[int, int]] = {}
        self.consumers: dict[str, list[tuple[int, int]]] = {}
        for i, node in enumerate(self.nodes):
            for k, out in enumerate(node.output):
                if out:
                    self.producer.setdefault(out, (i, k))
            for k, inp in enumerate(node.input):
                if inp:
                    self.consumers.setdefault(inp, []).append((i, k))
        self.initializers = {t.name: t for t in graph.initializer}
        self.inputs = {vi.name: vi for vi in graph.input if vi.name not in self.initializers}
        self.outputs = {vi.name: vi for vi in graph.output}
        self.names: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            if node.name:
                self.names.setdefault(node.name, []).append(i)

    def op(self, i: int) -> tuple[str, str]:
        node = self.nodes[i]
        return (node.domain if node.domain != "ai.onnx" else "", node.op_type)

    def position(self, i: int) -> float:
        return i / max(1, len(self.nodes) - 1)


def _tensor_digest(t: onnx.TensorProto) -> str:
    """A content key of an initializer: dtype, dims and data (external data by its reference)."""
    copy = type(t)()
    copy.CopyFrom(t)
    copy.name = ""
    copy.doc_string = ""
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


class _Matcher:
    def __init__(self, before: onnx.GraphProto, after: onnx.GraphProto) -> None:
        self.a = _Side(before)
        self.b = _Side(after)
        self.pair_ab: dict[int, int] = {}
        self.pair_ba: dict[int, int] = {}
        self.rule: dict[int, str] = {}
        # Tensor correspondence, before name -> after name (identity where the name exists after).
        self.tensor_ab: dict[str, str] = {}
        b_known = set(self.b.producer) | set(self.b.initializers) | set(self.b.inputs)
        for name in set(self.a.producer) | set(self.a.initializers) | set(self.a.inputs):
            if name in b_known:
                self.tensor_ab[name] = name
        self._digests: dict[tuple[int, str], str] = {}

    def pair(self, i: int, j: int, rule: str) -> None:
        self.pair_ab[i] = j
        self.pair_ba[j] = i
        self.rule[i] = rule
        for out_a, out_b in zip(self.a.nodes[i].output, self.b.nodes[j].output):
            if out_a and out_b:
                self.tensor_ab[out_a] = out_b

    def free_a(self) -> list[int]:
        return [i for i in range(len(self.a.nodes)) if i not in self.pair_ab]

    def free_b(self) -> set[int]:
        return {j for j in range(len(self.b.nodes)) if j not in self.pair_ba}

    def run(self) -> None:
        # 1. names
        for name, ia in self.a.names.items():
            jb = self.b.names.get(name)
            if len(ia) == 1 and jb is not None and len(jb) == 1:
                self.pair(ia[0], jb[0], "name")
        # 2. op type + first output tensor
        free_b = self.free_b()
        for i in self.free_a():
            outs = [o for o in self.a.nodes[i].output if o]
            if not outs or outs[0] not in self.b.producer:
                continue
            j, k = self.b.producer[outs[0]]
            if k == 0 and j in free_b and self.b.op(j) == self.a.op(i):
                self.pair(i, j, "outputs")
                free_b.discard(j)
        # 3. op type + input tensors (through the pairing so far)
        self._by_inputs()
        # 4. op type + connected tensors, to a fixed point
        while self._by_neighbours():
            self._by_inputs()

    def _mapped_inputs(self, i: int) -> tuple[str, ...] | None:
        mapped = []
        for t in self.a.nodes[i].input:
            if not t:
                mapped.append("")
            elif t in self.tensor_ab:
                mapped.append(self.tensor_ab[t])
            else:
                return None
        return tuple(mapped)

    def _by_inputs(self) -> None:
        index: dict[tuple[Any, ...], list[int]] = {}
        for j in self.free_b():
            index.setdefault((self.b.op(j), tuple(self.b.nodes[j].input)), []).append(j)
        for i in self.free_a():
            mapped = self._mapped_inputs(i)
            if mapped is None or not any(mapped):
                continue
            candidates = [j for j in index.get((self.a.op(i), mapped), []) if j not in self.pair_ba]
            if len(candidates) == 1:
                self.pair(i, candidates[0], "inputs")

    def _by_neighbours(self) -> bool:
        added = False
        for i in self.free_a():
            node = self.a.nodes[i]
            op = self.a.op(i)
            score: dict[int, int] = {}
            for k, t in enumerate(node.input):
                t_b = self.tensor_ab.get(t) if t else None
                if t_b is None:
                    continue
                for j, slot in self.b.consumers.get(t_b, []):
                    if slot == k and j not in self.pair_ba and self.b.op(j) == op:
                        score[j] = score.get(j, 0) + 1
            for k, t in enumerate(node.output):
                for ci, slot in self.a.consumers.get(t, []) if t else []:
                    cj = self.pair_ab.get(ci)
                    if cj is None:
                        continue
                    inputs_b = self.b.nodes[cj].input
                    if slot < len(inputs_b) and inputs_b[slot] in self.b.producer:
                        j, kb = self.b.producer[inputs_b[slot]]
                        if kb == k and j not in self.pair_ba and self.b.op(j) == op:
                            score[j] = score.get(j, 0) + 1
            if not score:
                continue
            here = self.a.position(i)
            best = max(score, key=lambda j: (score[j], -abs(self.b.position(j) - here), -j))
            self.pair(i, best, "connected tensors")
            added = True
        return added

    # ------------------------------------------------------------------ what changed
    def _digest(self, side: _Side, name: str) -> str | None:
        t = side.initializers.get(name)
        if t is None:
            return None
        key = (id(side), name)
        if key not in self._digests:
            self._digests[key] = _tensor_digest(t)
        return self._digests[key]

    def changes(self, i: int, j: int) -> list[str]:
        import onnx

        na, nb = self.a.nodes[i], self.b.nodes[j]
        out: list[str] = []
        if self.a.op(i) != self.b.op(j):
            out.append(f"op: {_op_text(*self.a.op(i))} → {_op_text(*self.b.op(j))}")
        attrs_a = {x.name: x for x in na.attribute}
        attrs_b = {x.name: x for x in nb.attribute}
        for name in sorted(attrs_a.keys() | attrs_b.keys()):
            xa, xb = attrs_a.get(name), attrs_b.get(name)
            if xa is not None and xb is not None and xa.SerializeToString(deterministic=True) == xb.SerializeToString(
                deterministic=True
            ):
                continue
            if xa is not None and xb is not None and xa.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                out.append(f"attribute {name}: subgraph changed")
                continue
            out.append(f"attribute {name}: {_attr_text(xa)} → {_attr_text(xb)}")
        for k in range(max(len(na.input), len(nb.input))):
            ta = na.input[k] if k < len(na.input) else None
            tb = nb.input[k] if k < len(nb.input) else None
            if ta is None:
                out.append(f"input {k} added: {tb}")
                continue
            if tb is None:
                out.append(f"input {k} removed: {ta}")
                continue
            if self.tensor_ab.get(ta, None if ta else "") == tb:
                da, db = self._digest(self.a, ta), self._digest(self.b, tb)
                if da != db:
                    out.append(f"input {k} ({tb}): values changed")
                continue
            da, db = self._digest(self.a, ta), self._digest(self.b, tb)
            if da is not None and da == db:
                continue  # a renamed but equal initializer
            out.append(f"input {k}: {ta or '(none)'} → {tb or '(none)'}")
        if len(na.output) != len(nb.output):
            out.append(f"outputs: {len(na.output)} → {len(nb.output)}")
        return out


def _op_text(domain: str, op: str) -> str:
    return f"{domain}::{op}" if domain else op


def _attr_text(attr: Any) -> str:
    if attr is None:
        return "(none)"
    import onnx

    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, onnx.TensorProto):
        return f"tensor {list(value.dims)}"
    text = str(list(value) if isinstance(value, (list, tuple)) else value)
    return text if len(text) <= 60 else text[:59] + "…"


def _value_text(vi: onnx.ValueInfoProto) -> str:
    from workbench.summary import tensor_info

    info = tensor_info(vi)
    dims = "?" if info.shape is None else "×".join("?" if d is None else str(d) for d in info.shape)
    return f"{info.dtype} [{dims}]"


def diff_models(
    before: onnx.ModelProto | LoadedModel,
    after: onnx.ModelProto | LoadedModel,
    *,
    before_label: str = "before",
    after_label: str = "after",
) -> ModelDiff:
    """Pair the nodes of two models (:data:`MATCHING_RULE`) and say what was added, removed, changed."""
    pa = before if not hasattr(before, "proto") else before.proto  # type: ignore[union-attr]
    pb = after if not hasattr(after, "proto") else after.proto  # type: ignore[union-attr]
    matcher = _Matcher(pa.graph, pb.graph)  # type: ignore[union-attr]
    matcher.run()
    a, b = matcher.a, matcher.b
    diff = ModelDiff(before_label=before_label, after_label=after_label)
    for i in range(len(a.nodes)):
        j = matcher.pair_ab.get(i)
        if j is None:
            diff.removed.append(a.ids[i])
            continue
        changes = matcher.changes(i, j)
        names = [f"name: {a.ids[i]} → {b.ids[j]}"] if a.nodes[i].name != b.nodes[j].name else []
        names += [f"output {k}: {oa} → {ob}" for k, (oa, ob) in enumerate(zip(a.nodes[i].output, b.nodes[j].output))
                  if oa != ob]
        status = "changed" if changes else "renamed" if names else "unchanged"
        changes = [*changes, *names]
        diff.matches.append(NodeMatch(before=a.ids[i], after=b.ids[j], rule=matcher.rule[i], status=status,
                                      changes=changes))
    diff.added = [b.ids[j] for j in range(len(b.nodes)) if j not in matcher.pair_ba]
    removed = {a.ids[i] for i in range(len(a.nodes)) if i not in matcher.pair_ab}
    for j in range(len(b.nodes)):
        if j in matcher.pair_ba:
            continue
        made = []
        for out in b.nodes[j].output:
            if out and out in a.producer:
                ai = a.producer[out][0]
                if a.ids[ai] in removed:
                    made.append(a.ids[ai])
        if made:
            diff.replaces[b.ids[j]] = list(dict.fromkeys(made))
    for i in range(len(a.nodes)):
        if i in matcher.pair_ab:
            continue
        makers = [b.ids[b.producer[o][0]] for o in a.nodes[i].output if o and o in b.producer]
        if makers:
            diff.outputs_now_from[a.ids[i]] = list(dict.fromkeys(makers))
    # Graph inputs and outputs, by name.
    for kind, side_a, side_b in (("input", a.inputs, b.inputs), ("output", a.outputs, b.outputs)):
        for name in side_a:
            if name not in side_b:
                diff.removed.append(f"{kind}:{name}")
                continue
            ta, tb = _value_text(side_a[name]), _value_text(side_b[name])
            changes = [] if ta == tb else [f"{kind} {name}: {ta} → {tb}"]
            diff.matches.append(NodeMatch(before=f"{kind}:{name}", after=f"{kind}:{name}", rule="name",
                                          status="changed" if changes else "unchanged", changes=changes))
        diff.added.extend(f"{kind}:{name}" for name in side_b if name not in side_a)
    return diff


# ----------------------------------------------------------------------------- the diff graph


def diff_graph(
    before: LoadedModel,
    after: LoadedModel,
    *,
    diff: ModelDiff | None = None,
    before_label: str = "before",
    after_label: str = "after",
    before_diagnosis: Diagnosis | None = None,
    after_diagnosis: Diagnosis | None = None,
    title: str | None = None,
) -> GraphData:
    """One graph with both models: the after graph, plus the removed nodes wired where they were.

    Every node carries its diff status (``mark``; ``details["diff"]`` says what changed and by
    which rule it paired), and the first overlay, "Diff", colours by it with a legend. The
    status overlay of ``after_diagnosis`` follows when given.
    """
    from workbench.graph_model import (
        GraphEdge,
        GraphNode,
        _key,
        category_overlay,
        onnx_graph,
        operator_overlay,
        status_overlay,
    )

    if diff is None:
        diff = diff_models(before, after, before_label=before_label, after_label=after_label)
    old = onnx_graph(before, before_diagnosis)
    new = onnx_graph(after, after_diagnosis)
    data = new
    data.title = title or f"Diff: {diff.before_label} → {diff.after_label}"
    data.key = _key("diff", old.key, new.key, str(len(diff.matches)), str(len(diff.added)), str(len(diff.removed)))
    data.overlays = []
    by_after = {m.after: m for m in diff.matches}
    to_after = {m.before: m.after for m in diff.matches}
    status: dict[str, str] = {}
    for node in data.nodes:
        match = by_after.get(node.id)
        if match is not None:
            status[node.id] = match.status
            node.mark = match.status if match.status != "unchanged" else ""
            text = match.status + (": " + "; ".join(match.changes) if match.changes else "")
            node.details["diff"] = text
            if match.rule != "name" or match.before != match.after:
                node.details["paired with"] = f"{match.before} (by {match.rule})"
        elif node.id in diff.added:
            status[node.id] = "added"
            node.mark = "added"
            node.details["diff"] = f"added: only in {diff.after_label}"
            if node.id in diff.replaces:
                node.details["replaces"] = ", ".join(diff.replaces[node.id])
    used = {n.id for n in data.nodes}
    removed_ids: dict[str, str] = {}
    old_nodes = {n.id: n for n in old.nodes}
    for rid in diff.removed:
        source = old_nodes.get(rid)
        if source is None:
            continue
        new_id = rid
        n = 1
        while new_id in used:
            n += 1
            new_id = f"removed:{rid}" if n == 2 else f"removed:{rid}#{n}"
        used.add(new_id)
        removed_ids[rid] = new_id
        copy = GraphNode.from_dict(source.to_dict())
        copy.id = new_id
        copy.name = source.name
        copy.mark = "removed"
        copy.details["diff"] = f"removed: only in {diff.before_label}"
        if rid in diff.outputs_now_from:
            copy.details["its outputs now come from"] = ", ".join(diff.outputs_now_from[rid])
        data.nodes.append(copy)
        status[new_id] = "removed"
        for t in [*copy.inputs, *copy.outputs]:
            if t and t not in data.tensors and t in old.tensors:
                data.tensors[t] = old.tensors[t]

    def where(before_id: str) -> str | None:
        return removed_ids.get(before_id) or to_after.get(before_id)

    seen = {(e.source, e.target, e.tensor) for e in data.edges}
    for e in old.edges:
        if e.source not in removed_ids and e.target not in removed_ids:
            continue
        src, dst = where(e.source), where(e.target)
        if src is not None and dst is not None and src != dst and (src, dst, e.tensor) not in seen:
            seen.add((src, dst, e.tensor))
            data.edges.append(GraphEdge(source=src, target=dst, tensor=e.tensor))
    data.overlays.append(
        category_overlay(status, "diff", f"Diff: {diff.before_label} → {diff.after_label}", DIFF_COLORS, DIFF_LABELS,
                         source=diff.summary(), note=diff.rule, value_label="diff")
    )
    data.overlays.append(operator_overlay(data))
    if after_diagnosis is not None:
        data.overlays.append(status_overlay(data, after_diagnosis))
    data.notes = [diff.summary(), "Matching: " + diff.rule]
    return data


def fix_diff_graph(fs: FixSession, start: int = 0, end: int | None = None) -> GraphData:
    """The diff between two steps of a fix history: ``start`` (0 = the original model) and ``end``
    (default the last step), with the diagnoses at both ends."""
    from workbench.model import load_model

    end = len(fs.steps) if end is None else end
    if not 0 <= start < end <= len(fs.steps):
        raise ValueError(f"steps {start}..{end} are not in a history of {len(fs.steps)} fix(es)")

    def at(k: int) -> tuple[str, Diagnosis, str]:
        if k == 0:
            return fs.original_path, fs.original_diagnosis, "original"
        step = fs.steps[k - 1]
        return step.model_path, step.after, f"after {step.fix_id}" if k == end and end - start == 1 else f"after fix {k}"

    path_a, diag_a, label_a = at(start)
    path_b, diag_b, label_b = at(end)
    if end == len(fs.steps) and end - start > 1:
        label_b = f"after {end} fixes"
    fixes = ", ".join(s.fix_id for s in fs.steps[start:end])
    return diff_graph(
        load_model(path_a), load_model(path_b), before_label=label_a, after_label=label_b,
        before_diagnosis=diag_a, after_diagnosis=diag_b, title=f"Diff: {label_a} → {label_b} ({fixes})",
    )


def diff_rows(diff: ModelDiff) -> list[dict[str, str]]:
    """The diff as table rows (not unchanged pairs): status, before, after, rule, what changed."""
    rows: list[dict[str, str]] = []
    for m in diff.matches:
        if m.status != "unchanged":
            rows.append({"status": m.status, "before": m.before, "after": m.after, "rule": m.rule,
                         "changes": "; ".join(m.changes)})
    rows += [{"status": "removed", "before": r, "after": "", "rule": "",
              "changes": ("outputs now from " + ", ".join(diff.outputs_now_from[r])) if r in diff.outputs_now_from else ""}
             for r in diff.removed]
    rows += [{"status": "added", "before": "", "after": a, "rule": "",
              "changes": ("replaces " + ", ".join(diff.replaces[a])) if a in diff.replaces else ""}
             for a in diff.added]
    order = {s: i for i, s in enumerate(("removed", "added", "changed", "renamed"))}
    rows.sort(key=lambda r: order.get(r["status"], 9))
    return rows
