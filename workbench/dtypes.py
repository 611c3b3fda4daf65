"""ONNX element types under the names users know from numpy (float32, float64, uint8...)."""

from __future__ import annotations

import onnx

_RENAMES = {"FLOAT": "float32", "DOUBLE": "float64"}


def onnx_dtype_name(elem_type: int) -> str:
    """``TensorProto.FLOAT`` -> ``"float32"``; unknown codes keep their number."""
    try:
        name = onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"onnx_type_{elem_type}"
    return _RENAMES.get(name, name.lower())


def onnx_dtype_itemsize(elem_type: int) -> float:
    """Bytes per element (fractional for the 4-bit and 2-bit types); 0 for strings."""
    if elem_type == onnx.TensorProto.STRING:
        return 0.0
    try:
        bits = onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize * 8
    except (KeyError, TypeError, ValueError):
        bits = 8
    name = onnx.TensorProto.DataType.Name(elem_type)
    if name in {"INT4", "UINT4", "FLOAT4E2M1"}:
        bits = 4
    elif name in {"INT2", "UINT2"}:
        bits = 2
    return bits / 8.0


#: Element types TensorRT cannot take as network inputs or weights (it has no such
#: DataType); the parser either casts them (float64 weights) or rejects them.
TENSORRT_UNSUPPORTED_DTYPES = frozenset(
    {
        "uint16",
        "uint32",
        "uint64",
        "int16",
        "float64",
        "string",
        "complex64",
        "complex128",
        "uint8",
    }
)
