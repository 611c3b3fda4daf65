"""Engine layers and their precisions, read from the builder's detailed layer log.

Without a GPU the engine inspector is out of reach (``deserialize_cuda_engine`` returns
None), but a build with ``ProfilingVerbosity.DETAILED`` and a VERBOSE logger prints one
message starting ``Layers:`` that lists every engine layer: name, type, input, constant
and output tensors with their datatypes, tactic, and the ONNX nodes it came from
(``[ONNX Layer: ...]`` in its metadata). The format is undocumented, so this parser is
defensive: anything it cannot read becomes an unknown field, never an exception.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_FIELD = re.compile(r"^Name: (?P<name>.*?), LayerType: (?P<type>[^,]*),(?P<rest>.*)$")
_SECTION = re.compile(
    r"(Inputs|Constants|Outputs): \[(.*?)\](?=, (?:Inputs|Constants|Outputs|TacticName|StreamId|Metadata)|$)"
)
_DATATYPE = re.compile(r"Datatype: (\w+)")
_DIMS = re.compile(r"Dimensions: \[([^\]]*)\]")
_ONNX = re.compile(r"\[ONNX Layer: ([^\]]+)\]")
_TACTIC = re.compile(r"TacticName: ([^,]*)")

#: TensorRT datatypes -> the precision names the workbench uses, lowest first.
_PRECISION_OF = {
    "FP4": "fp4",
    "Int4": "int4",
    "Int8": "int8",
    "FP8": "fp8",
    "Half": "fp16",
    "BFloat16": "bf16",
    "Float": "fp32",
}
_ORDER = ["fp4", "int4", "int8", "fp8", "fp16", "bf16", "fp32"]
#: Layer types that do the arithmetic; what a precision choice is about.
COMPUTE_TYPES = frozenset(
    {
        "correlation",
        "convolution",
        "deconvolution",
        "gemm",
        "matrix_multiply",
        "fully_connected",
        "mha",
        "attention",
    }
)


def find_layer_message(records: list[tuple[str, str]]) -> str | None:
    for _, message in records:
        if message.startswith("Layers:"):
            return message
    return None


def _section_dtypes(text: str, skip_scalars: bool) -> list[str]:
    dtypes = []
    for tensor in text.split("}"):
        dims = _DIMS.search(tensor)
        dtype = _DATATYPE.search(tensor)
        if not dtype:
            continue
        if skip_scalars and dims is not None and dims.group(1).strip() in ("1", ""):
            continue  # scalar constants (scales, literals) say nothing about the layer's precision
        dtypes.append(dtype.group(1))
    return dtypes


def layer_precision(input_dtypes: list[str], constant_dtypes: list[str]) -> str:
    """The lowest float/int precision among a layer's inputs and weights (``"other"`` when none)."""
    found = [_PRECISION_OF[d] for d in [*input_dtypes, *constant_dtypes] if d in _PRECISION_OF]
    if not found:
        return "other"
    return min(found, key=_ORDER.index)


def parse_layer_log(message: str) -> list[dict[str, Any]]:
    """Layers as dicts: name, type, precision, onnx_nodes, tactic, input/output dtypes."""
    layers = []
    for line in message.splitlines():
        match = _FIELD.match(line.strip())
        if not match:
            continue
        rest = match.group("rest")
        sections = {name: body for name, body in _SECTION.findall(rest)}
        inputs = _section_dtypes(sections.get("Inputs", ""), skip_scalars=False)
        constants = _section_dtypes(sections.get("Constants", ""), skip_scalars=True)
        outputs = _section_dtypes(sections.get("Outputs", ""), skip_scalars=False)
        tactic = _TACTIC.search(rest)
        layers.append(
            {
                "name": match.group("name"),
                "type": match.group("type").strip(),
                "precision": layer_precision(inputs, constants) if (inputs or constants) else "other",
                "onnx_nodes": _ONNX.findall(rest),
                "tactic": tactic.group(1).strip() if tactic else "",
                "input_dtypes": inputs,
                "output_dtypes": outputs,
            }
        )
    return layers


def precision_counts(layers: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(layer["precision"] for layer in layers if layer["precision"] != "other"))


def fallback_warning(requested: str, layers: list[dict[str, Any]]) -> str | None:
    """A warning when an engine asked for a low precision runs mostly in FP32."""
    if requested in ("fp32", "tf32") or not layers:
        return None
    compute = [layer for layer in layers if layer["type"].lower() in COMPUTE_TYPES] or [
        layer for layer in layers if layer["precision"] != "other"
    ]
    if not compute:
        return None
    wanted = _ORDER.index(requested) if requested in _ORDER else _ORDER.index("fp16")
    low = [
        layer
        for layer in compute
        if layer["precision"] in _ORDER and _ORDER.index(layer["precision"]) <= wanted
    ]
    share = len(low) / len(compute)
    if share < 0.5:
        return (
            f"Silent fallback: only {len(low)} of {len(compute)} compute layers run in {requested.upper()} or lower; "
            f"the rest run in higher precision, so this engine is mostly {max((layer['precision'] for layer in compute), key=_ORDER.index).upper()}."
        )
    return None
