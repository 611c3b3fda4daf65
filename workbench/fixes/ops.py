"""Fixes that replace operators: contrib ops into standard ops, training nodes out, opset conversion."""

from __future__ import annotations

from typing import Any

import onnx

from workbench.fixes.base import Fix, FixContext, is_kind, message_has, register

# ----------------------------------------------------------------------------- implementations

#: com.microsoft ops that decompose_contrib_ops rewrites.
DECOMPOSABLE_CONTRIB_OPS = frozenset({"FusedMatMul", "BiasGelu", "Gelu", "FastGelu", "QuickGelu", "BiasAdd"})


def decompose_contrib_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite onnxruntime contrib ops (com.microsoft FusedMatMul, BiasGelu, Gelu, FastGelu,
    QuickGelu, BiasAdd) into standard ONNX ops, with onnx-graphsurgeon."""
    import math

    import numpy as np
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(model)
    count = [0]

    def const(value: float, dtype: Any) -> gs.Constant:
        count[0] += 1
        return gs.Constant(f"decomposed_const_{count[0]}", np.array(value, dtype=dtype))

    def tmp(node: gs.Node, suffix: str, like: gs.Tensor) -> gs.Variable:
        return gs.Variable(f"{node.name or node.outputs[0].name}/{suffix}", dtype=like.dtype)

    def erf_gelu(node: gs.Node, x: gs.Tensor, out: gs.Tensor, dtype: Any) -> list[gs.Node]:
        scaled, erf, plus1, prod = (tmp(node, s, x) for s in ("div_sqrt2", "erf", "add_one", "mul_x"))
        return [
            gs.Node("Mul", inputs=[x, const(1 / math.sqrt(2.0), dtype)], outputs=[scaled]),
            gs.Node("Erf", inputs=[scaled], outputs=[erf]),
            gs.Node("Add", inputs=[erf, const(1.0, dtype)], outputs=[plus1]),
            gs.Node("Mul", inputs=[x, plus1], outputs=[prod]),
            gs.Node("Mul", inputs=[prod, const(0.5, dtype)], outputs=[out]),
        ]

    def transpose_last_two(node: gs.Node, x: gs.Tensor, suffix: str) -> tuple[list[gs.Node], gs.Tensor]:
        rank = len(x.shape) if x.shape is not None else 2
        perm = [*range(rank - 2), rank - 1, rank - 2]
        out = tmp(node, suffix, x)
        return [gs.Node("Transpose", attrs={"perm": perm}, inputs=[x], outputs=[out])], out

    replaced = []
    for node in list(graph.nodes):
        if node.domain != "com.microsoft" or node.op not in (
            "FusedMatMul",
            "BiasGelu",
            "Gelu",
            "FastGelu",
            "QuickGelu",
            "BiasAdd",
        ):
            continue
        out = node.outputs[0]
        x = node.inputs[0]
        dtype = x.dtype if x.dtype is not None else np.float32
        new: list[gs.Node] = []
        if node.op == "FusedMatMul":
            if node.attrs.get("transBatchA", 0) or node.attrs.get("transBatchB", 0):
                continue  # batch transposes: leave for a plugin
            a, b = node.inputs[0], node.inputs[1]
            if node.attrs.get("transA", 0):
                nodes, a = transpose_last_two(node, a, "transpose_a")
                new += nodes
            if node.attrs.get("transB", 0):
                nodes, b = transpose_last_two(node, b, "transpose_b")
                new += nodes
            alpha = float(node.attrs.get("alpha", 1.0))
            if alpha == 1.0:
                new.append(gs.Node("MatMul", inputs=[a, b], outputs=[out]))
            else:
                product = tmp(node, "matmul", x)
                new += [
                    gs.Node("MatMul", inputs=[a, b], outputs=[product]),
                    gs.Node("Mul", inputs=[product, const(alpha, dtype)], outputs=[out]),
                ]
        elif node.op in ("BiasGelu", "Gelu"):
            if node.op == "BiasGelu":
                biased = tmp(node, "add_bias", x)
                new.append(gs.Node("Add", inputs=[x, node.inputs[1]], outputs=[biased]))
                x = biased
            new += erf_gelu(node, x, out, dtype)
        elif node.op == "FastGelu":
            if len(node.inputs) > 1 and node.inputs[1] is not None and node.inputs[1].name:
                biased = tmp(node, "add_bias", x)
                new.append(gs.Node("Add", inputs=[x, node.inputs[1]], outputs=[biased]))
                x = biased
            # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
            names = ("square", "cube", "cube_scaled", "inner", "scaled", "tanh", "add_one", "mul_x")
            square, cube, cube_scaled, inner, scaled, th, plus1, prod = (tmp(node, s, x) for s in names)
            new += [
                gs.Node("Mul", inputs=[x, x], outputs=[square]),
                gs.Node("Mul", inputs=[square, x], outputs=[cube]),
                gs.Node("Mul", inputs=[cube, const(0.044715, dtype)], outputs=[cube_scaled]),
                gs.Node("Add", inputs=[x, cube_scaled], outputs=[inner]),
                gs.Node("Mul", inputs=[inner, const(math.sqrt(2.0 / math.pi), dtype)], outputs=[scaled]),
                gs.Node("Tanh", inputs=[scaled], outputs=[th]),
                gs.Node("Add", inputs=[th, const(1.0, dtype)], outputs=[plus1]),
                gs.Node("Mul", inputs=[x, plus1], outputs=[prod]),
                gs.Node("Mul", inputs=[prod, const(0.5, dtype)], outputs=[out]),
            ]
        elif node.op == "QuickGelu":
            scaled, sig = tmp(node, "scaled", x), tmp(node, "sigmoid", x)
            new += [
                gs.Node(
                    "Mul", inputs=[x, const(float(node.attrs.get("alpha", 1.702)), dtype)], outputs=[scaled]
                ),
                gs.Node("Sigmoid", inputs=[scaled], outputs=[sig]),
                gs.Node("Mul", inputs=[x, sig], outputs=[out]),
            ]
        elif node.op == "BiasAdd":
            partial = tmp(node, "add_bias", x)
            new += [
                gs.Node("Add", inputs=[x, node.inputs[1]], outputs=[partial]),
                gs.Node("Add", inputs=[partial, node.inputs[2]], outputs=[out]),
            ]
        for i, n in enumerate(new):
            n.name = f"{node.name or out.name}/{n.op}_{i}"
        node.outputs.clear()
        graph.nodes.extend(new)
        replaced.append(node)
    for node in replaced:
        graph.nodes.remove(node)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    exported = gs.export_onnx(graph)
    if not any(n.domain == "com.microsoft" for n in exported.graph.node):
        kept = [o for o in exported.opset_import if o.domain != "com.microsoft"]
        del exported.opset_import[:]
        exported.opset_import.extend(kept)
    return exported


def remove_training_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop what only training needs: Dropout (inference passes its input through) and
    training-domain nodes whose results no graph output uses."""
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(model)
    for node in list(graph.nodes):
        if node.op == "Dropout" and node.domain in ("", "ai.onnx", None):
            mask_used = len(node.outputs) > 1 and (
                node.outputs[1].outputs or node.outputs[1] in graph.outputs
            )
            if mask_used:
                continue
            source, result = node.inputs[0], node.outputs[0]
            for consumer in list(result.outputs):
                for pos, tensor in enumerate(consumer.inputs):
                    if tensor is result:
                        consumer.inputs[pos] = source
            for pos, tensor in enumerate(graph.outputs):
                if tensor is result:
                    identity_out = gs.Variable(
                        result.name + "_inference", dtype=result.dtype, shape=result.shape
                    )
                    graph.nodes.append(
                        gs.Node(
                            "Identity", name=node.name + "/Identity", inputs=[source], outputs=[identity_out]
                        )
                    )
                    result.name, identity_out.name = identity_out.name, result.name
                    graph.outputs[pos] = identity_out
            node.outputs.clear()
    # Training-domain nodes feeding nothing an output needs go with cleanup().
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    return gs.export_onnx(graph)


def convert_opset(model: onnx.ModelProto, target_opset: int = 17) -> onnx.ModelProto:
    """Convert the default-domain opset with onnx's version converter."""
    from onnx import version_converter

    return version_converter.convert_version(model, target_opset)


# ----------------------------------------------------------------------------- relevance and parameters


def _contrib_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "custom-domain"):
        return 10 if _contrib_nodes(ctx) else 0
    if issue.stage == "parse" and issue.op_type in DECOMPOSABLE_CONTRIB_OPS:
        index = ctx.index.find_node(issue.node_name, getattr(issue, "node_index", None), issue.op_type)
        if index is not None and ctx.index.nodes[index].domain == "com.microsoft":
            return 12
    return 0


def _contrib_nodes(ctx: FixContext) -> list[onnx.NodeProto]:
    return [
        n
        for n in ctx.model.graph.node
        if n.domain == "com.microsoft" and n.op_type in DECOMPOSABLE_CONTRIB_OPS
    ]


def _contrib_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    return {} if _contrib_nodes(ctx) else None


def _training_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "training-nodes"):
        return 6
    if issue.stage == "parse" and (issue.op_type in ("Dropout",) or message_has(issue, "training")):
        return 9
    return 0


def _training_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    has = any(
        n.op_type == "Dropout" or n.domain in ("ai.onnx.training", "ai.onnx.preview.training")
        for n in ctx.model.graph.node
    )
    return {} if has else None


def _opset_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "opset-too-old", "opset-too-new"):
        return 8
    if message_has(issue, "Pre-opset 7 broadcasting"):
        return 10
    if issue.stage == "parse" and message_has(issue, "No importer registered", "opset"):
        return 2
    return 0


def _opset_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    target = ctx.options.target_opset or 17
    current = next((o.version for o in ctx.model.opset_import if o.domain in ("", "ai.onnx")), None)
    if current is None or current == target:
        return None
    return {"target_opset": target}


register(
    Fix(
        id="decompose-contrib-ops",
        title="Decompose onnxruntime contrib ops into standard ops",
        explanation=(
            "onnxruntime's graph optimizer fuses MatMul+Mul into com.microsoft FusedMatMul and Add+GELU into "
            "BiasGelu/FastGelu. TensorRT has no importer for these ('Plugin not found'). Each is rewritten "
            "into the standard ops it stands for (MatMul, Transpose, Mul, Add, Erf or Tanh), which TensorRT "
            "imports and fuses again itself. Export from the framework without onnxruntime's optimizer to "
            "avoid them in the first place."
        ),
        implementation=decompose_contrib_ops,
        relevance=_contrib_relevance,
        params=_contrib_params,
    )
)

register(
    Fix(
        id="remove-training-nodes",
        title="Remove training-only nodes",
        explanation=(
            "Dropout does nothing at inference, and ai.onnx.training ops only matter to an optimizer. Dropout "
            "is bypassed (its input feeds its consumers) and training-domain nodes that no output depends on "
            "are removed. Re-export with model.eval() to avoid them."
        ),
        implementation=remove_training_nodes,
        relevance=_training_relevance,
        params=_training_params,
    )
)

register(
    Fix(
        id="convert-opset",
        title="Convert the opset",
        explanation=(
            "Converts the model to another opset (17 by default, which every TensorRT 10 parser imports) "
            "with onnx's version converter. Models older than opset 7 use broadcasting rules TensorRT does "
            "not support; very new opsets may use op versions an older parser lacks."
        ),
        implementation=convert_opset,
        relevance=_opset_relevance,
        params=_opset_params,
    )
)
