"""Fixes about element types TensorRT has no type for: retype inputs, cast float64 to float32,
fold INT32-quantized biases back into float32."""

from __future__ import annotations

from typing import Any

import onnx

from workbench.dtypes import TENSORRT_UNSUPPORTED_DTYPES
from workbench.fixes.base import Fix, FixContext, is_kind, message_has, register

# ----------------------------------------------------------------------------- implementations


def retype_inputs(model: onnx.ModelProto, inputs: dict) -> onnx.ModelProto:
    """Give inputs a type TensorRT takes (e.g. uint8 -> float32) and keep the graph's meaning.

    The new type flows through pure data-movement ops (Transpose, Reshape, Slice...), where
    integer values stay exact in float32; every other consumer gets a Cast back to the old
    type, so it computes exactly what it did before.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    movement = {
        "Transpose",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "Identity",
        "Slice",
        "Expand",
        "Tile",
        "DepthToSpace",
        "SpaceToDepth",
        "Gather",
    }
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    graph_outputs = {o.name for o in graph.output}
    consumers: dict[str, list[tuple[int, int]]] = {}
    for i, node in enumerate(graph.node):
        for pos, name in enumerate(node.input):
            consumers.setdefault(name, []).append((i, pos))

    inserted: list[tuple[int, onnx.NodeProto]] = []
    for name, new_type in inputs.items():
        matches = [vi for vi in graph.input if vi.name == name]
        if not matches:
            raise ValueError(f"the model has no input named {name!r}")
        old_elem = matches[0].type.tensor_type.elem_type
        new_elem = helper.np_dtype_to_tensor_dtype(np.dtype(new_type))
        matches[0].type.tensor_type.elem_type = new_elem
        retyped = {name}
        frontier = [name]
        while frontier:
            tensor = frontier.pop()
            for i, pos in consumers.get(tensor, []):
                node = graph.node[i]
                moves = node.op_type in movement and pos == 0 and node.output[0] not in graph_outputs
                if moves and node.output[0] not in retyped:
                    retyped.add(node.output[0])
                    frontier.append(node.output[0])
        for tensor in sorted(retyped):
            cast_name = None
            for i, pos in consumers.get(tensor, []):
                node = graph.node[i]
                if node.op_type in movement and pos == 0 and node.output[0] in retyped:
                    continue
                if node.op_type == "Cast":
                    continue  # Cast(new -> T) gives what Cast(old -> T) gave for these values
                if cast_name is None:
                    cast_name = f"{tensor}_as_{TensorProto.DataType.Name(old_elem).lower()}"
                    inserted.append(
                        (
                            i,
                            helper.make_node(
                                "Cast", [tensor], [cast_name], name=f"{cast_name}/Cast", to=old_elem
                            ),
                        )
                    )
                node.input[pos] = cast_name
        for vi in list(graph.value_info):
            if vi.name in retyped:
                vi.type.tensor_type.elem_type = new_elem

    # Insert each Cast just before its first consumer, keeping the graph topologically sorted.
    for i, cast in sorted(inserted, key=lambda item: item[0], reverse=True):
        graph.node.insert(i, cast)
    return model_copy


def cast_float64_to_float32(model: onnx.ModelProto) -> onnx.ModelProto:
    """Compute in float32 what the model computed in float64: initializers, Constants, Casts.

    Graph inputs and outputs keep their types: a float64 input gets a Cast to float32 after
    it, a float64 output a Cast back before it.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    double, single = TensorProto.DOUBLE, TensorProto.FLOAT

    def to_single(tensor: onnx.TensorProto) -> None:
        if tensor.data_type == double:
            tensor.CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)
            )

    for init in graph.initializer:
        to_single(init)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                to_single(attr.t)
            if (
                node.op_type
                in (
                    "Cast",
                    "RandomNormal",
                    "RandomUniform",
                    "EyeLike",
                    "RandomNormalLike",
                    "RandomUniformLike",
                )
                and attr.name in ("to", "dtype")
                and attr.i == double
            ):
                attr.i = single
    for vi in graph.value_info:
        if vi.type.tensor_type.elem_type == double:
            vi.type.tensor_type.elem_type = single

    new_nodes = []
    for vi in graph.input:
        if vi.type.tensor_type.elem_type == double:
            internal = f"{vi.name}_as_float32"
            new_nodes.append(
                helper.make_node("Cast", [vi.name], [internal], name=f"{internal}/Cast", to=single)
            )
            for node in graph.node:
                for pos, name in enumerate(node.input):
                    if name == vi.name:
                        node.input[pos] = internal
    for vi in graph.output:
        if vi.type.tensor_type.elem_type == double:
            internal = f"{vi.name}_float32"
            for node in graph.node:
                for pos, name in enumerate(node.output):
                    if name == vi.name:
                        node.output[pos] = internal
                for pos, name in enumerate(node.input):
                    if name == vi.name:
                        node.input[pos] = internal
            graph.node.append(
                helper.make_node("Cast", [internal], [vi.name], name=f"{vi.name}/Cast", to=double)
            )
    for node in reversed(new_nodes):
        graph.node.insert(0, node)
    return model_copy


def dequantize_int32_bias(model: onnx.ModelProto, tensors: list) -> onnx.ModelProto:
    """Replace each DequantizeLinear of a constant INT32 tensor (a quantized bias) by the float
    initializer it computes, (q - zero_point) * scale, and drop the int32 tensors it used."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    inits = {t.name: t for t in graph.initializer}
    wanted = set(tensors)
    kept, removed = [], []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or node.output[0] not in wanted:
            kept.append(node)
            continue
        missing = [t for t in node.input[:2] if t not in inits]
        if missing:
            raise ValueError(f"{node.name or node.output[0]}: input {missing[0]!r} is not an initializer")
        q = numpy_helper.to_array(inits[node.input[0]]).astype(np.int64)
        scale = numpy_helper.to_array(inits[node.input[1]])
        has_zp = len(node.input) > 2 and node.input[2]
        zp = (
            numpy_helper.to_array(inits[node.input[2]]).astype(np.int64) if has_zp else np.zeros((), np.int64)
        )
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if any(a.name == "block_size" and a.i for a in node.attribute):
            raise ValueError(f"{node.name or node.output[0]}: blocked dequantization is not handled")
        if scale.ndim == 1 and q.ndim > 0:
            shape = [1] * q.ndim
            shape[axis % q.ndim] = -1
            scale, zp = scale.reshape(shape), (zp.reshape(shape) if zp.ndim == 1 else zp)
        value = ((q - zp).astype(np.float32) * scale.astype(np.float32)).astype(scale.dtype)
        graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        removed.append(node)
    missing_outputs = wanted - {n.output[0] for n in removed}
    if missing_outputs:
        raise ValueError(f"no DequantizeLinear produces {sorted(missing_outputs)[0]!r}")
    del graph.node[:]
    graph.node.extend(kept)
    # The int32 values, scales and zero points nothing reads any more go too.
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    dropped = {name for node in removed for name in node.input if name and name not in used}
    keep_inits = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(keep_inits)
    keep_inputs = [vi for vi in graph.input if vi.name not in dropped]
    del graph.input[:]
    graph.input.extend(keep_inputs)
    return model_copy


# ----------------------------------------------------------------------------- relevance and parameters

_TARGET_TYPE = {
    "uint8": "float32",
    "int16": "float32",
    "uint16": "float32",
    "float64": "float32",
    "uint32": "int64",
    "uint64": "int64",
}


def _retype_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "unsupported-input-dtype"):
        return 10 if issue.severity != "info" else 0
    if issue.stage == "parse" and message_has(
        issue, "uint8", "uint16", "int16", "unsupported input type", "data type", "date type", "datatype"
    ):
        node_inputs = [t["name"] for t in (issue.node.inputs if getattr(issue, "node", None) else [])]
        if _retypable_inputs(ctx, node_inputs or None):
            return 10
    return 0


def _retypable_inputs(ctx: FixContext, near: list[str] | None = None) -> dict[str, str]:
    result = {}
    for vi in ctx.model.graph.input:
        if vi.name not in ctx.index.graph_input_names:
            continue
        info = ctx.index.value_info.get(vi.name)
        dtype = info.dtype if info else None
        if dtype in TENSORRT_UNSUPPORTED_DTYPES and dtype in _TARGET_TYPE:
            consumers = [ctx.index.nodes[c] for c in ctx.index.consumers.get(vi.name, [])]
            if dtype == "uint8" and consumers and all(n.op_type == "Cast" for n in consumers):
                continue  # TensorRT takes uint8 straight into a Cast
            result[vi.name] = _TARGET_TYPE[dtype]
    if near:
        # Prefer the inputs that reach the failing node.
        reaching = {
            name for name in result if any(name == t or name in ctx.index.ancestors(t)[1] for t in near)
        }
        if reaching:
            return {k: v for k, v in result.items() if k in reaching}
    return result


def _retype_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    inputs = _retypable_inputs(ctx)
    return {"inputs": inputs} if inputs else None


def _float64_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "float64-initializers"):
        return 10
    if message_has(issue, "datatype (11)", "DOUBLE", "float64", "convertOnnxWeights"):
        return 9
    return 0


def _float64_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    graph = ctx.model.graph
    has = (
        any(t.data_type == onnx.TensorProto.DOUBLE for t in graph.initializer)
        or any(
            a.HasField("t") and a.t.data_type == onnx.TensorProto.DOUBLE
            for n in graph.node
            for a in n.attribute
        )
        or any(
            n.op_type == "Cast"
            and any(a.name == "to" and a.i == onnx.TensorProto.DOUBLE for a in n.attribute)
            for n in graph.node
        )
    )
    return {} if has else None


def int32_dequantize_outputs(graph: onnx.GraphProto) -> list[str]:
    """Outputs of the DequantizeLinear nodes that dequantize an INT32 initializer (a quantized bias)
    with initializer scales and zero points; what ``dequantize_int32_bias`` folds."""
    inits = {t.name: t.data_type for t in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    return [
        node.output[0]
        for node in graph.node
        if node.op_type == "DequantizeLinear"
        and node.input
        and inits.get(node.input[0]) == onnx.TensorProto.INT32
        and all(t in inits for t in node.input[1:] if t)
        and node.output[0] not in graph_outputs
    ]


def _int32_bias_dequantize(ctx: FixContext) -> list[str]:
    return int32_dequantize_outputs(ctx.model.graph)


def _int32_bias_relevance(issue: Any, ctx: FixContext) -> float:
    if is_kind(issue, "int32-dequantize"):
        return 10
    if (
        issue.stage == "parse"
        and message_has(issue, "has type Int32 but must have type")
        and issue.op_type in (None, "DequantizeLinear")
        and _int32_bias_dequantize(ctx)
    ):
        return 12
    return 0


def _int32_bias_params(ctx: FixContext, issue: Any) -> dict[str, Any] | None:
    tensors = _int32_bias_dequantize(ctx)
    return {"tensors": tensors} if tensors else None


register(
    Fix(
        id="retype-inputs",
        title="Retype unsupported input dtypes (Cast inside the graph)",
        explanation=(
            "TensorRT has no uint16/int16/float64 inputs, and takes uint8 only straight into a Cast. The "
            "input becomes float32 (int64 for the wide unsigned types); the new type flows through pure "
            "data-movement ops such as the NHWC->NCHW Transpose, where integer pixel values stay exact, and "
            "every other consumer gets a Cast back to the old type, so the model computes what it did. Feed "
            "the same values as float32."
        ),
        implementation=retype_inputs,
        relevance=_retype_relevance,
        params=_retype_params,
    )
)

register(
    Fix(
        id="cast-float64-initializers",
        title="Cast float64 initializers to float32",
        explanation=(
            "float64 weights and computations (numpy's default dtype leaking into an export) are cast to "
            "float32: initializers, Constant values and Cast(to=DOUBLE) nodes. TensorRT has no FP64: older "
            "parsers reject such weights, newer ones cast them silently. Doing it in the model makes what "
            "TensorRT runs the model you check against; inputs and outputs keep their types."
        ),
        implementation=cast_float64_to_float32,
        relevance=_float64_relevance,
        params=_float64_params,
        auto_for_warnings=True,
    )
)

register(
    Fix(
        id="dequantize-int32-bias",
        title="Fold INT32-quantized biases into float32 initializers",
        explanation=(
            "ONNX Runtime's quantize_static stores each Conv/Gemm bias as int32 with a DequantizeLinear "
            "(scale = input scale x weight scale, zero point 0). TensorRT's DequantizeLinear takes only 8-bit "
            "(and FP8/FP4/INT4) inputs, so the parser rejects it ('input has type Int32'); folding constants "
            "does not help, as folders keep Q/DQ nodes. Each such DequantizeLinear is replaced by the float32 "
            "bias it computes, (q - zero_point) x scale, which is the bias TensorRT's INT8 Conv wants; weights "
            "and activations keep their Q/DQ nodes."
        ),
        implementation=dequantize_int32_bias,
        relevance=_int32_bias_relevance,
        params=_int32_bias_params,
    )
)
