"""Fixes about constants: fold them, make an input one, keep INT64 values in INT32 range."""

from __future__ import annotations

from typing import Any

import onnx

from workbench.fixes.base import Fix, FixContext, is_kind, message_has, register

# ----------------------------------------------------------------------------- implementations
# Each implementation is self-contained (imports inside): its source is the fix script.


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold every subgraph that only depends on constants (polygraphy surgeon sanitize --fold-constants)."""
    import onnx_graphsurgeon as gs
    from polygraphy.backend.onnx import fold_constants as polygraphy_fold_constants

    folded = polygraphy_fold_constants(
        model, num_passes=None, do_shape_inference=True, fold_shapes=True, error_ok=True
    )
    graph = gs.import_onnx(folded)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    return gs.export_onnx(graph)


def set_input_constant(model: onnx.ModelProto, values: dict) -> onnx.ModelProto:
    """Replace graph inputs with constants of the given values (axes, scales, K...)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    for name, value in values.items():
        matches = [vi for vi in graph.input if vi.name == name]
        if not matches:
            raise ValueError(f"the model has no input named {name!r}")
        elem_type = matches[0].type.tensor_type.elem_type
        array = np.asarray(value, dtype=helper.tensor_dtype_to_np_dtype(elem_type))
        graph.input.remove(matches[0])
        graph.initializer.append(numpy_helper.from_array(array, name))
    return model_copy


def clamp_int64_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Clip INT64 initializer values into the INT32 range (Slice ends of INT64_MAX and the like)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    for init in model_copy.graph.initializer:
        if init.data_type != onnx.TensorProto.INT64:
            continue
        array = numpy_helper.to_array(init)
        clipped = np.clip(array, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int64)
        if not np.array_equal(array, clipped):
            init.CopyFrom(numpy_helper.from_array(clipped, init.name))
    return model_copy


# ----------------------------------------------------------------------------- relevance and parameters

_NEEDS_CONSTANT = (
    "build-time constant",
    "must be an initializer",
    "is_weights",
    "as an initializer",
    "initializer!",
    "shape tensor",
    "must be a initializer",
    "constant-foldable",
)


def _constant_tensors(issue: Any, ctx: FixContext) -> list[str]:
    return [t for t in getattr(issue, "tensors", []) if t and not ctx.index.is_constant(t)]


def _fold_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "foldable-constant-input", "foldable-if"):
        return 10
    if is_kind(issue, "runtime-computed-constant"):
        return 4  # folding works once the shapes it depends on are static
    if issue.stage == "parse" and message_has(issue, *_NEEDS_CONSTANT):
        tensors = _constant_tensors(issue, ctx)
        if tensors and all(t in ctx.index.graph_input_names for t in tensors):
            return 0  # nothing to fold: the value comes from the user
        return 10
    if issue.stage == "parse" and message_has(
        issue, "IShuffleLayer applied to shape tensor", "If condition", "IIfConditionalOutputLayer"
    ):
        return 6
    if issue.stage == "parse":
        return 1  # folding rarely hurts and often removes the failing subgraph
    return 0


def _set_constant_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "runtime-constant-input", "data-dependent-if"):
        return 10
    if issue.stage == "build" and message_has(issue, "ScopeType", "IIfConditionalOutputLayer", "conditional"):
        return 8
    if issue.stage == "parse" and message_has(issue, *_NEEDS_CONSTANT, "must have type Int32 or Int64"):
        tensors = _constant_tensors(issue, ctx)
        if any(t in ctx.index.graph_input_names for t in tensors):
            return 11
    return 0


def _set_constant_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    wanted = (
        [t for t in getattr(issue, "tensors", []) if t in ctx.index.graph_input_names]
        if issue is not None
        else []
    )
    values = {k: v for k, v in ctx.options.input_values.items() if k in ctx.index.graph_input_names}
    if wanted:
        values = {k: v for k, v in values.items() if k in wanted}
    return {"values": values} if values else None


def _clamp_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "int64-out-of-int32-range"):
        return 5
    if message_has(issue, "INT64 weights", "outside the range of INT32"):
        return 8
    return 0


register(
    Fix(
        id="fold-constants",
        title="Fold constants",
        explanation=(
            "Evaluates every part of the graph that depends only on constants (with ONNX Runtime, as "
            "`polygraphy surgeon sanitize --fold-constants` does) and replaces it with its value. TensorRT "
            "needs some inputs (Reduce axes, Resize scales, TopK's K, Pad's pads) as build-time constants; "
            "exporters often compute them with small chains of Constant, Add, Shape and Gather nodes, which "
            "folding turns into plain initializers."
        ),
        implementation=fold_constants,
        relevance=_fold_relevance,
    )
)

register(
    Fix(
        id="set-input-constant",
        title="Give an input a constant value",
        explanation=(
            "Some models take axes, scales or K as graph inputs. TensorRT needs those as build-time "
            "constants, so the input is replaced by an initializer holding the value you serve it with. "
            "Give the value with --input-value NAME=JSON (e.g. axes=[1,2])."
        ),
        implementation=set_input_constant,
        relevance=_set_constant_relevance,
        params=_set_constant_params,
    )
)

register(
    Fix(
        id="clamp-int64-initializers",
        title="Clamp INT64 initializers to the INT32 range",
        explanation=(
            "PyTorch writes INT64 constants such as Slice ends of 2^63-1. TensorRT 8.x casts INT64 weights "
            "down to INT32 and warns that values were clamped; clamping them in the model first makes the "
            "result explicit and identical (a Slice end past the dim means 'to the end' either way)."
        ),
        implementation=clamp_int64_initializers,
        relevance=_clamp_relevance,
    )
)
