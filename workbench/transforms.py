"""The ONNX each precision builds from: the precision transforms, run once and cached.

A strongly typed backend (TensorRT 11, TensorRT-RTX) takes precision from the graph, so
FP16/BF16 need ModelOpt AutoCast's casts and INT8/FP8 its Q/DQ nodes; the CPU executors
that compute a precision's accuracy (ONNX Runtime, ``onnx.reference``) run that same
graph. TensorRT 10 builds FP32..INT8 from the original graph with builder switches (only
FP8 is transformed for it). :func:`transformed_model` is the caller's side: it decides
whether a transform is needed, what data it runs on, and its content-addressed cache key;
the transform itself (``precision.transform_model``) runs in a ModelOpt worker through
the executor seam, so a ModelOpt crash is a failed result, never a dead app.

This module is what ``build``, ``compare``, ``evaluate`` and the calibrator comparison
share; it imports neither of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.array_files import arrays_file
from workbench.errors import WorkbenchError
from workbench.executor import Needs, Task, file_artifact, run_task
from workbench.isolation import IsolatedTaskError, TaskCancelled
from workbench.precision import (
    PRECISION_INFO,
    TransformResult,
    transform_key,
    transform_stage,
    transformed_path,
)
from workbench.shapes import ShapeProfile
from workbench.summary import summarize
from workbench.synthetic import integer_scalar_inputs, scalar_request

if TYPE_CHECKING:
    from workbench.calibration import CalibrationData
    from workbench.model import LoadedModel
    from workbench.workspace import Workspace

#: ModelOpt workers have their own pool: torch and ModelOpt stay out of TensorRT's workers.
MODELOPT_ENV = {"TRT_WORKBENCH_POOL": "modelopt"}


def calibration_file(workspace: Workspace, calibration: CalibrationData) -> tuple[Path, str]:
    """The calibration data as an ``.npz`` a worker can read, saved once by content."""
    return arrays_file(workspace.root / "calibration", calibration.arrays)


def stage_message(stage: str, message: str) -> str:
    """A failure sentence that names its stage ("The FP16 transform (ModelOpt AutoCast) failed: ...")."""
    if stage.lower() in message.lower()[:200]:
        return message
    return f"{stage[0].upper()}{stage[1:]} failed: {message}"


def needs_transform(precision: str, strongly_typed: bool) -> bool:
    """Whether ``precision`` is built (and computed on the CPU) from a transformed graph."""
    info = PRECISION_INFO[precision]
    return info.transform is not None and (strongly_typed or info.transform_on_trt10)


def calibration_needed(precision: str) -> str:
    """The sentence a calibrated precision without calibration data gets, for every front end."""
    info = PRECISION_INFO[precision]
    return (
        f"{info.title} needs calibration data: give --calib DATA (a .npz keyed by input name), "
        "or --synthetic-calib for a smoke test."
    )


def transformed_model(
    model: LoadedModel,
    precision: str,
    workspace: Workspace,
    *,
    calibration: CalibrationData | None = None,
    calibrator: str = "entropy",
    keep_precision: Sequence[str] = (),
    profiles: Sequence[ShapeProfile] = (),
    strongly_typed: bool = True,
    cancelled: Callable[[], bool] | None = None,
    on_stage: Callable[[str], None] | None = None,
    inputs: dict[str, Any] | None = None,
    inputs_random: bool = False,
    inputs_label: str = "the comparison inputs",
) -> tuple[str, TransformResult | None]:
    """The ONNX to build or run for ``precision``: the model itself, or its cached/new transform.

    ``strongly_typed`` (the default) asks for the graph TensorRT 11 / TensorRT-RTX build and
    the CPU executors run; ``False`` for TensorRT 10, which transforms only what its row says.
    A transform that runs the model (AutoCast's reference run) runs it on ``inputs`` (e.g.
    the comparison's inputs), else on the calibration data, else on random ``inputs``
    (``inputs_random``: made up, not the user's), else on random inputs at the first
    profile's opt shapes, else on ModelOpt's own random inputs. An integer scalar input
    (a sample rate) is never given a random value: it is asked for. The inputs' content hash
    is part of the transform's cache key. Failures raise ``WorkbenchError`` naming the stage.
    """
    info = PRECISION_INFO[precision]
    if not needs_transform(precision, strongly_typed):
        return str(model.path), None
    stage = transform_stage(precision)
    calib_path: Path | None = None
    calib_hash: str | None = None
    if info.calibrated:
        if calibration is None:
            raise WorkbenchError(calibration_needed(precision))
        calib_path, calib_hash = calibration_file(workspace, calibration)
    inputs_path: Path | None = None
    inputs_hash: str | None = None
    label = inputs_label
    if info.transform == "autocast":
        summary = summarize(model)
        scalars = integer_scalar_inputs(summary.inputs)
        feeds: dict[str, Any] | None = None
        if inputs is not None and not inputs_random:
            feeds = inputs
        elif calibration is not None:
            calib_path, inputs_hash = calibration_file(workspace, calibration)
        elif inputs is not None:
            if scalars:
                raise WorkbenchError(scalar_request(stage, scalars))
            feeds, label = inputs, "the comparison's random inputs"
        elif profiles:
            from workbench.synthetic import random_feeds

            # The profile's opt shapes; other dynamic dims 1 (a transform's notes say which).
            feeds, _ = random_feeds(summary.inputs, profiles[0], scalars_for=stage)
            label = "random inputs at the profile's opt shapes"
        elif scalars:
            raise WorkbenchError(scalar_request(stage, scalars))
        if feeds is not None:
            # The inputs a transform runs the model on, saved once by content (as calibration data is).
            inputs_path, inputs_hash = arrays_file(workspace.root / "inputs", feeds)
    key = transform_key(model.content_hash, precision, calib_hash, calibrator, list(keep_precision), inputs_hash)
    output = transformed_path(workspace.root, key, model.path.stem, precision)
    meta = output.with_suffix(".json")
    if output.is_file() and meta.is_file():
        return str(output), replace(TransformResult.load(meta), cached=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    if on_stage:
        on_stage("transforming")
    kwargs = {
        "model_path": str(model.path),
        "output_path": str(output),
        "precision": precision,
        "source_hash": model.content_hash,
        "calibration_npz": str(calib_path) if calib_path else None,
        "calibrator": calibrator,
        "nodes_to_exclude": list(keep_precision),
        "inputs_npz": str(inputs_path) if inputs_path else None,
        "inputs_label": label,
    }
    files = {
        k: file_artifact(v)
        for k, v in kwargs.items()
        if k.endswith(("_path", "_npz")) and isinstance(v, str) and v and k != "output_path"
    }
    try:
        raw = run_task(
            Task("transform", "workbench.precision:transform_model", kwargs, env=MODELOPT_ENV, timeout=3600,
                 artifacts=files, needs=Needs(modelopt=True), outputs=("output_path",)),
            cancelled=cancelled,
        )
    except TaskCancelled:
        raise
    except IsolatedTaskError as exc:  # a crash, a timeout, or an error the worker did not explain
        raise IsolatedTaskError(stage_message(stage, exc.message), log=exc.log, detail=exc.detail) from exc
    except WorkbenchError as exc:
        raise WorkbenchError(stage_message(stage, exc.message), detail=exc.detail) from exc
    result = TransformResult.from_dict(raw)
    result.inputs_hash = inputs_hash
    result.save(meta)
    return str(output), result
