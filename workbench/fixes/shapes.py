"""Fixes about shapes: override input shapes, rename clashing symbolic dims."""

from __future__ import annotations

from typing import Any

import onnx

from workbench.fixes.base import Fix, FixContext, is_kind, message_has, register

# ----------------------------------------------------------------------------- implementations


def override_input_shapes(model: onnx.ModelProto, shapes: dict) -> onnx.ModelProto:
    """Set input shapes (ints fix a dim, strings name a dynamic one), then re-infer shapes."""
    import onnx

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    for name, dims in shapes.items():
        matches = [vi for vi in graph.input if vi.name == name]
        if not matches:
            raise ValueError(f"the model has no input named {name!r}")
        tensor_type = matches[0].type.tensor_type
        tensor_type.ClearField("shape")
        for dim in dims:
            entry = tensor_type.shape.dim.add()
            if isinstance(dim, int):
                entry.dim_value = dim
            else:
                entry.dim_param = str(dim)
    # Inferred shapes of the old inputs would contradict the new ones: infer them again.
    del graph.value_info[:]
    for output in graph.output:
        output.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(model_copy, data_prop=True)
    except Exception:
        return model_copy


def rename_shared_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every axis of an input its own symbolic name where one name covered several axes."""
    import onnx

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    for vi in model_copy.graph.input:
        dims = vi.type.tensor_type.shape.dim
        names = [d.dim_param for d in dims if d.dim_param]
        for axis, dim in enumerate(dims):
            if dim.dim_param and names.count(dim.dim_param) > 1:
                dim.dim_param = f"{vi.name}_{dim.dim_param}_{axis}"
    return model_copy


# ----------------------------------------------------------------------------- relevance and parameters


def _override_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "unknown-input-rank"):
        return 10
    if issue.stage == "onnx" and message_has(issue, "Field 'shape'"):
        return 7
    if issue.stage == "parse" and message_has(
        issue, "spatial dimensions", "nbDims", "unknown rank", "rank of", "has an unknown"
    ):
        return 9
    if issue.stage == "build" and message_has(issue, "no optimization profile"):
        return 9
    if issue.stage == "build" and message_has(issue, "different constant values", "contradictory"):
        return 8
    if is_kind(issue, "shared-dim-names"):
        return 4
    if is_kind(issue, "runtime-computed-constant"):
        return 6  # static shapes make Shape-derived values foldable
    if is_kind(issue, "dynamic-dims"):
        return 2
    if issue.stage == "parse" and message_has(
        issue, "IIfConditionalOutputLayer", "IShuffleLayer applied to shape tensor"
    ):
        return 5
    return 0


def _rank_from_consumers(ctx: FixContext, name: str) -> list[Any] | None:
    """A shape for an input that lost it, from what its first consumer's weights imply."""
    for c in ctx.index.consumers.get(name, []):
        node = ctx.index.nodes[c]
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            weight = ctx.index.value_info.get(node.input[1])
            if weight is not None and weight.shape:
                rank = len(weight.shape)
                channels = weight.shape[1] if node.op_type == "Conv" else weight.shape[0]
                spatial = ["height", "width", "depth"][: rank - 2]
                return ["batch", channels, *spatial]
        if node.op_type in ("Gemm", "MatMul") and len(node.input) > 1:
            weight = ctx.index.value_info.get(node.input[1])
            if weight is not None and weight.shape and len(weight.shape) == 2:
                return ["batch", weight.shape[0]]
    return None


def _override_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    shapes: dict[str, list[Any]] = {}
    inputs = {vi.name: vi for vi in ctx.model.graph.input if vi.name in ctx.index.graph_input_names}
    for name, triple in ctx.options.shapes.items():
        if name in inputs:
            shapes[name] = list(triple[1])  # the opt shape: the one users serve most
    for name, vi in inputs.items():
        if name in shapes or vi.type.tensor_type.HasField("shape"):
            continue
        guessed = _rank_from_consumers(ctx, name)
        if guessed is not None:
            shapes[name] = guessed
    return {"shapes": shapes} if shapes else None


def _rename_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "shared-dim-names"):
        return 9
    if issue.stage == "build" and message_has(
        issue, "Input dimensions with this name have different constant values"
    ):
        return 10
    return 0


def _rename_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    for vi in ctx.model.graph.input:
        names = [d.dim_param for d in vi.type.tensor_type.shape.dim if d.dim_param]
        if len(names) != len(set(names)):
            return {}
    return None


register(
    Fix(
        id="override-input-shapes",
        title="Override input shapes",
        explanation=(
            "Writes the shapes you give into the model's inputs (as `polygraphy surgeon sanitize "
            "--override-input-shapes` does) and infers every other shape again. An input that lost its "
            "shape gets its rank back (TensorRT cannot import a Conv on an input of unknown rank); static "
            "shapes also let constant folding remove Shape-dependent subgraphs. Without --shapes, an input "
            "of unknown rank gets the rank its first Conv or Gemm implies, with named dynamic dims."
        ),
        implementation=override_input_shapes,
        relevance=_override_relevance,
        params=_override_params,
    )
)

register(
    Fix(
        id="rename-shared-dims",
        title="Rename clashing symbolic dims",
        explanation=(
            "TensorRT treats input dims that share a symbolic name as equal. Exporters sometimes give H and "
            "W the same name (e.g. both 'size'); the model parses, but any non-square profile, or a layer "
            "that fixes H and W to different sizes, fails to build with 'Input dimensions with this name have "
            "different constant values'. Each axis gets its own name; nothing else changes. --auto applies "
            "it even when the model builds under the default all-1 profile, which hides the clash."
        ),
        implementation=rename_shared_dims,
        relevance=_rename_relevance,
        params=_rename_params,
        # The finding predicts a failure at the first real (non-square) shape; the rename
        # preserves meaning, so --auto applies it before that shape is ever tried.
        auto_for_warnings=True,
    )
)
