"""Does a fixed model still mean what the original meant? Both run in ONNX Runtime on the
same random inputs and their outputs must match within a tolerance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from workbench.ort_cpu import cpu_session
from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile, concrete_shapes
from workbench.synthetic import ORT_TYPES, random_value

#: Default tolerance: |candidate - reference| <= ATOL + RTOL * |reference|, elementwise.
ATOL = 1e-5
RTOL = 1e-5


@dataclass
class MeaningCheck(JsonRecord):
    """The outcome of comparing a candidate model with the reference in ONNX Runtime."""

    checked: bool
    passed: bool | None
    reason: str | None = None
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    atol: float = ATOL
    rtol: float = RTOL
    input_shapes: dict[str, list[int]] = field(default_factory=dict)


def _session(model: onnx.ModelProto | str) -> Any:
    return cpu_session(model)


def compare_models(
    reference: onnx.ModelProto | str,
    candidate: onnx.ModelProto | str,
    *,
    shapes: ShapeProfile | None = None,
    input_values: dict[str, Any] | None = None,
    seed: int = 0,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> MeaningCheck:
    """Run both models on the same random inputs; ``passed`` when every output matches.

    Dynamic dims take the opt shape from ``shapes``, else (through
    :func:`workbench.shapes.concrete_shapes`) 1 for a batch axis and 8 for the others, so a
    fix that broke a dim shows (falling back to 1 when the reference refuses 8). An input
    the candidate turned into a constant is fed to the reference with that constant's value
    (from the candidate's initializer, or from ``input_values`` once later fixes folded it
    away).
    """
    try:
        ref = _session(reference)
    except Exception as exc:
        return MeaningCheck(
            checked=False,
            passed=None,
            reason=f"ONNX Runtime cannot run the original model ({_short(exc)}), so the fix was not checked for meaning.",
        )
    try:
        cand = _session(candidate)
    except Exception as exc:
        return MeaningCheck(
            checked=True, passed=False, reason=f"ONNX Runtime cannot run the fixed model: {_short(exc)}"
        )

    candidate_proto = candidate if isinstance(candidate, onnx.ModelProto) else onnx.load(candidate)
    constants = {init.name: init for init in candidate_proto.graph.initializer}
    cand_inputs = {i.name: i for i in cand.get_inputs()}
    last_error: Exception | None = None
    for default_dim in (8, 1):
        rng = np.random.default_rng(seed)
        # The candidate's own shapes first (a fix may have fixed a dim), else the reference's.
        cand_shapes, _ = concrete_shapes(cand.get_inputs(), shapes, default=default_dim, batch=1)
        ref_shapes, _ = concrete_shapes(ref.get_inputs(), shapes, default=default_dim, batch=1)
        ref_feeds: dict[str, np.ndarray] = {}
        cand_feeds: dict[str, np.ndarray] = {}
        used_shapes: dict[str, list[int]] = {}
        for inp in ref.get_inputs():
            if inp.name not in cand_inputs:
                if input_values and inp.name in input_values:
                    ref_feeds[inp.name] = np.asarray(input_values[inp.name]).astype(
                        ORT_TYPES.get(inp.type, np.float32)
                    )
                    continue
                if inp.name in constants:
                    from onnx import numpy_helper

                    ref_feeds[inp.name] = numpy_helper.to_array(constants[inp.name]).astype(
                        ORT_TYPES.get(inp.type, np.float32)
                    )
                    continue
                return MeaningCheck(
                    checked=True, passed=False, reason=f"The fixed model lost input {inp.name!r}."
                )
            cand_inp = cand_inputs[inp.name]
            shape = cand_shapes.get(inp.name, ref_shapes.get(inp.name))
            if shape is None:
                return MeaningCheck(
                    checked=False,
                    passed=None,
                    reason=f"Input {inp.name!r} has no known shape to test with; give --shapes.",
                )
            base = random_value(shape, ORT_TYPES.get(inp.type, np.float32), rng)
            ref_feeds[inp.name] = base
            cand_feeds[inp.name] = base.astype(ORT_TYPES.get(cand_inp.type, np.float32))
            used_shapes[inp.name] = shape
        try:
            ref_out = ref.run(None, ref_feeds)
        except Exception as exc:
            last_error = exc
            continue
        try:
            cand_out = cand.run(None, cand_feeds)
        except Exception as exc:
            return MeaningCheck(
                checked=True,
                passed=False,
                reason=f"The fixed model fails in ONNX Runtime: {_short(exc)}",
                input_shapes=used_shapes,
            )
        return _compare_outputs(ref, cand, ref_out, cand_out, atol, rtol, used_shapes)
    return MeaningCheck(
        checked=False,
        passed=None,
        reason=f"ONNX Runtime cannot run the original model on test inputs ({_short(last_error)}); give --shapes.",
    )


def _compare_outputs(
    ref: Any,
    cand: Any,
    ref_out: list[Any],
    cand_out: list[Any],
    atol: float,
    rtol: float,
    used_shapes: dict[str, list[int]],
) -> MeaningCheck:
    ref_named = {o.name: v for o, v in zip(ref.get_outputs(), ref_out)}
    cand_named = {o.name: v for o, v in zip(cand.get_outputs(), cand_out)}
    diffs: dict[str, float] = {}
    failures = []
    for name, expected in ref_named.items():
        if name not in cand_named:
            failures.append(f"output {name!r} is missing")
            continue
        got = np.asarray(cand_named[name])
        expected = np.asarray(expected)
        if got.shape != expected.shape:
            failures.append(f"output {name!r} has shape {list(got.shape)} instead of {list(expected.shape)}")
            continue
        if expected.dtype.kind in "fc" or got.dtype.kind in "fc":
            a, b = got.astype(np.float64), expected.astype(np.float64)
            finite = np.isfinite(a) & np.isfinite(b)
            diff = float(np.max(np.abs(a[finite] - b[finite]))) if finite.any() else 0.0
            diffs[name] = diff
            if not np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True):
                failures.append(f"output {name!r} differs by up to {diff:.3g}")
        else:
            mismatched = int(np.count_nonzero(got != expected))
            diffs[name] = float(mismatched)
            if mismatched:
                failures.append(f"output {name!r} differs in {mismatched} element(s)")
    return MeaningCheck(
        checked=True,
        passed=not failures,
        reason="; ".join(failures) or None,
        max_abs_diff=diffs,
        atol=atol,
        rtol=rtol,
        input_shapes=used_shapes,
    )


def _short(exc: BaseException | None) -> str:
    text = str(exc or "").strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
