"""Made-up inputs, for when a model must run and nobody gave data: one generator.

Every "random inputs" in the workbench comes from here (the fix meaning check, the FP32
reference of ``compare``, the inputs a ModelOpt transform runs on, CPU timing, synthetic
calibration, a TensorRT timing worker), so they all exercise a model the same way:
standard normal floats (never all zeros), full-range ``uint8``, booleans half true, and
small non-negative integers 0..3 (valid as indices into any axis of length >= 4 and as
counts; ``compare`` used 1..3 before the copies were merged, which made every zero-index
path untested). An integer scalar input (a sample rate, a top-k) has no random value that
means anything: it is asked for, never made up.

Kept light (numpy, the shape helpers and the limits table) so a worker can import it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.limits import TENSOR_ELEMENTS
from workbench.shapes import HasShape, concrete_shapes

#: ONNX Runtime's type strings (``NodeArg.type``) as numpy dtypes.
ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(uint16)": np.uint16,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}

#: The summary's dtype names random inputs are made in; anything else (bfloat16, strings)
#: is made as float32, the type a model's caller would most likely cast from.
FEED_DTYPES = ("float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")


def random_value(shape: list[int], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    """One made-up tensor: normal floats, small non-negative ints, full-range uint8."""
    TENSOR_ELEMENTS.check(math.prod(shape), f"An input of shape {list(shape)} has")
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 4, size=shape).astype(dtype)
    return rng.normal(0.0, 1.0, size=shape).astype(dtype)


def feed_dtype(inp: Any) -> np.dtype:
    """The dtype to make an input in: a summary's ``dtype`` name or ONNX Runtime's ``type``."""
    name = getattr(inp, "dtype", None)
    if isinstance(name, str):
        return np.dtype(name if name in FEED_DTYPES else "float32")
    return np.dtype(ORT_TYPES.get(str(getattr(inp, "type", "")), np.float32))


def random_feeds(
    inputs: Iterable[HasShape],
    shapes: Mapping[str, Any] | None = None,
    *,
    default: int = 1,
    batch: int | None = None,
    seed: int = 0,
    like: Mapping[str, np.ndarray] | None = None,
    scalars_for: str | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Made-up feeds for ``inputs`` and the notice saying which dynamic dims were defaulted.

    Shapes come from :func:`workbench.shapes.concrete_shapes` (``shapes`` given as ``--shapes``
    triples, whose opt is used, or plain dims; other dynamic dims ``default``, a dynamic batch
    ``batch``). With ``like``, a float input present there is drawn with that data's mean and
    spread (inputs "like the calibration data"). With ``scalars_for`` (the stage that runs
    the model, e.g. "the FP16 transform (ModelOpt AutoCast)"), an integer scalar input is
    refused with the sentence that asks for it.
    """
    inputs = list(inputs)
    if scalars_for is not None:
        scalars = integer_scalar_inputs(inputs)
        if scalars:
            raise WorkbenchError(scalar_request(scalars_for, scalars))
    concrete, notes = concrete_shapes(inputs, shapes, default=default, batch=batch)
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for inp in inputs:
        if inp.name not in concrete:
            raise WorkbenchError(
                f"Input {inp.name!r} has no known shape: give it, e.g. --shapes {inp.name}:1x3x224x224."
            )
        shape = list(concrete[inp.name])
        dtype = feed_dtype(inp)
        value = random_value(shape, dtype, rng)
        if like is not None and inp.name in like and dtype.kind == "f":
            source = np.asarray(like[inp.name], dtype=np.float64)
            mean, std = float(source.mean()), float(source.std()) or 1.0
            value = (value.astype(np.float64) * std + mean).astype(dtype)
        feeds[inp.name] = value
    return feeds, notes


def integer_scalar_inputs(inputs: list[Any]) -> list[str]:
    """Names of 0-d integer inputs (a sample rate, a count): settings no random value stands for.

    ``inputs`` are ``summary.TensorInfo`` records (``name``, ``dtype``, ``shape``).
    """
    return [i.name for i in inputs if i.shape == [] and str(i.dtype).startswith(("int", "uint"))]


def what_to_give(scalars: list[str]) -> str:
    """The inputs that would let a transform run the model, as the CLI takes them."""
    zero_d = f" with {_names(scalars)} as a 0-d array" if scalars else ""
    return f"give the inputs it runs on: --inputs DATA{zero_d}, or --calib DATA"


def scalar_request(stage: str, scalars: list[str]) -> str:
    """The sentence that asks for integer scalar inputs a transform would otherwise randomise."""
    names = _names([repr(s) for s in scalars])
    return (
        f"Input {names} is an integer scalar (a setting such as a sample rate, not data) and {stage} "
        f"runs the model, so it needs its value rather than a random one: {what_to_give(scalars)}."
    )


def _names(names: list[str]) -> str:
    return " and ".join(", ".join(names).rsplit(", ", 1)) if names else ""
