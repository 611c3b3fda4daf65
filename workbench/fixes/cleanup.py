"""Whole-graph tidying (cleanup, toposort, onnxslim) and extraction of a minimal reproduction."""

from __future__ import annotations

from typing import Any

import onnx

from workbench.fixes.base import Fix, FixContext, message_has, register

# ----------------------------------------------------------------------------- implementations


def cleanup_and_toposort(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove nodes no output depends on and sort the rest topologically (onnx-graphsurgeon)."""
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(model)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    return gs.export_onnx(graph)


def simplify_with_onnxslim(model: onnx.ModelProto) -> onnx.ModelProto:
    """Simplify with onnxslim: constant folding, shape simplification, dead-code removal, fusions."""
    import onnxslim

    return onnxslim.slim(model)


def extract_failing_subgraph(model: onnx.ModelProto, node_name: str) -> onnx.ModelProto:
    """A minimal reproduction: the named node, the constant-only subgraphs that feed it, and
    graph inputs in place of every activation it reads."""
    import contextlib

    import onnx
    import onnx_graphsurgeon as gs

    with contextlib.suppress(Exception):  # shapes help the reproduction but are not required
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    graph = gs.import_onnx(model)
    matches = [n for n in graph.nodes if n.name == node_name]
    if not matches:
        raise ValueError(f"the model has no node named {node_name!r}")
    target = matches[0]

    def depends_on_input(tensor: gs.Tensor, seen: set[str]) -> bool:
        if isinstance(tensor, gs.Constant):
            return False
        if tensor in graph.inputs:
            return True
        if tensor.name in seen:
            return False
        seen.add(tensor.name)
        return any(depends_on_input(t, seen) for producer in tensor.inputs for t in producer.inputs)

    new_inputs = []
    for tensor in target.inputs:
        if isinstance(tensor, gs.Variable) and tensor.name and depends_on_input(tensor, set()):
            tensor.inputs.clear()  # cut it from its producer: it becomes a graph input
            new_inputs.append(tensor)
    graph.inputs = new_inputs
    graph.outputs = [t for t in target.outputs if t.name]
    graph.cleanup(remove_unused_graph_inputs=True).toposort()
    graph.name = f"repro_{node_name.strip('/').replace('/', '_')}"
    return gs.export_onnx(graph)


# ----------------------------------------------------------------------------- relevance and parameters


def _cleanup_relevance(issue: Any, ctx: FixContext) -> float:
    if message_has(issue, "topologically sorted", "not topologically"):
        return 10
    if issue.stage == "onnx" and message_has(issue, "is not output of any previous nodes"):
        return 8
    return 0


def _slim_relevance(issue: Any, ctx: FixContext) -> float:
    if getattr(issue, "kind", None) == "foldable-if":
        return 9  # onnxslim inlines an If whose condition is constant
    if issue.stage == "parse" and message_has(
        issue, "IShuffleLayer applied to shape tensor", "is_weights", "shape tensor"
    ):
        return 5
    if issue.stage == "parse":
        return 0.5
    return 0


def _extract_relevance(issue: Any, ctx: FixContext) -> float:
    if issue.stage in ("parse", "build") and getattr(issue, "node_name", None):
        return 0.1
    return 0


def _extract_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    name = ctx.options.node or (getattr(issue, "node_name", None) if issue is not None else None)
    if name is None:
        failing = [
            i
            for i in ctx.issues
            if getattr(i, "stage", "") in ("parse", "build") and getattr(i, "node_name", None)
        ]
        name = failing[0].node_name if failing else None
    if name is None or name not in ctx.index.by_name:
        return None
    return {"node_name": name}


register(
    Fix(
        id="cleanup-toposort",
        title="Clean up and sort the graph",
        explanation=(
            "Removes nodes whose results nothing uses and sorts the nodes topologically with "
            "onnx-graphsurgeon. Hand-edited graphs are often unsorted, which the ONNX checker and some "
            "parsers reject; other fixes run it as their last step anyway."
        ),
        implementation=cleanup_and_toposort,
        relevance=_cleanup_relevance,
    )
)

register(
    Fix(
        id="simplify-onnxslim",
        title="Simplify with onnxslim",
        explanation=(
            "onnxslim folds constants, simplifies shape computations, removes dead code and applies "
            "pattern fusions, like onnx-simplifier. It clears up many 'IShuffleLayer applied to shape "
            "tensor' and 'is_weights()' failures that come from roundabout shape arithmetic."
        ),
        implementation=simplify_with_onnxslim,
        relevance=_slim_relevance,
    )
)

register(
    Fix(
        id="extract-failing-subgraph",
        title="Extract the failing node as a minimal reproduction",
        explanation=(
            "Cuts the failing node out with the constant subgraphs that feed it; every activation it "
            "reads becomes a graph input. The small model reproduces the parser error on its own: the "
            "thing to attach to a bug report, or to try a plugin or a rewrite on. It does not replace "
            "your model."
        ),
        implementation=extract_failing_subgraph,
        relevance=_extract_relevance,
        params=_extract_params,
        preserves_outputs=False,
        auto=False,
    )
)
