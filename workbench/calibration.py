"""Calibration data: load it safely, check it before calibrating, report what is wrong.

Accepted: ``.npz`` keyed by input name or a ``.npy`` for a single-input model (always
``allow_pickle=False``: a file with pickled objects is refused, never loaded); a folder or
``.zip`` of images with a declared preprocessing; or synthetic data, with a loud warning
that scales computed from it are meaningless.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.archives import (
    check_image_pixels,
    checked_members,
    open_zip,
    read_arrays,
    read_member,
    safe_text,
)
from workbench.array_files import arrays_hash, save_arrays
from workbench.errors import WorkbenchError
from workbench.limits import TENSOR_ELEMENTS
from workbench.preprocessing import Preprocessing, to_tensor
from workbench.serialize import JsonRecord
from workbench.summary import ModelSummary, TensorInfo

if TYPE_CHECKING:
    from workbench.model import LoadedModel
    from workbench.workspace import Workspace

#: Field practice: calibrate on at least this many representative samples.
RECOMMENDED_SAMPLES = 500
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".tif", ".tiff"}


class CalibrationError(WorkbenchError):
    """Calibration data that cannot be used at all."""


@dataclass
class CalibrationData:
    arrays: dict[str, np.ndarray]
    source: str
    synthetic: bool = False
    preprocessing: Preprocessing | None = None
    #: What was assumed in making the data (synthetic data's defaulted dynamic dims).
    notes: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return min((int(a.shape[0]) for a in self.arrays.values() if a.ndim > 0), default=0)

    def content_hash(self) -> str:
        return arrays_hash(self.arrays)

    def save_npz(self, path: Path) -> Path:
        return save_arrays(path, self.arrays)


@dataclass
class CheckItem(JsonRecord):
    level: str  # "error" | "warning" | "info"
    input: str | None
    message: str


@dataclass
class InputStats(JsonRecord):
    input: str
    shape: list[int]
    dtype: str
    min: float
    max: float
    mean: float
    std: float
    nan: int
    inf: int
    constant_samples: int


@dataclass
class CalibrationReport(JsonRecord):
    source: str
    samples: int
    synthetic: bool
    items: list[CheckItem]
    stats: list[InputStats]

    @property
    def ok(self) -> bool:
        return not any(i.level == "error" for i in self.items)

    @property
    def errors(self) -> list[CheckItem]:
        return [i for i in self.items if i.level == "error"]


# ----------------------------------------------------------------------------- loading


def load_calibration(
    source: str | Path | bytes,
    inputs: list[TensorInfo],
    *,
    name: str | None = None,
    preprocessing: Preprocessing | None = None,
) -> CalibrationData:
    """Load calibration data from a path or uploaded bytes (``.npz``, ``.npy``, images folder or ``.zip``)."""
    label = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        if source[:4] == b"PK\x03\x04" and not label.endswith(".npz"):
            return _load_image_zip(source, label, inputs, preprocessing)
        return _load_numpy(io.BytesIO(source), label, inputs)
    path = Path(source)
    if not path.exists():
        raise CalibrationError(f"{path} does not exist.")
    if path.is_dir():
        return _load_images(
            [p for p in sorted(path.rglob("*")) if p.suffix.lower() in _IMAGE_SUFFIXES],
            label,
            inputs,
            preprocessing,
        )
    if path.suffix.lower() == ".zip":
        return _load_image_zip(path.read_bytes(), label, inputs, preprocessing)
    with open(path, "rb") as handle:
        return _load_numpy(io.BytesIO(handle.read()), label, inputs)


def _load_numpy(buffer: io.BytesIO, label: str, inputs: list[TensorInfo]) -> CalibrationData:
    # Headers first: dtype, size and pickles are refused before any array is allocated.
    loaded = read_arrays(buffer.getvalue(), label, CalibrationError)
    if isinstance(loaded, np.ndarray):
        if len(inputs) != 1:
            raise CalibrationError(
                f"{label} is a single array, but the model has {len(inputs)} inputs: save a .npz keyed by input name ({', '.join(i.name for i in inputs)})."
            )
        arrays = {inputs[0].name: loaded}
    else:
        arrays = loaded
    return CalibrationData(arrays=arrays, source=label)


def _image_input(inputs: list[TensorInfo]) -> TensorInfo:
    images = [i for i in inputs if i.shape is not None and len(i.shape) == 4]
    if len(images) != 1 or len(inputs) != 1:
        raise CalibrationError(
            "Image calibration data needs a model with one 4-D image input; use a .npz keyed by input name instead."
        )
    return images[0]


def _pillow_limit(image_module: Any) -> None:
    # Pillow's own bomb guard fails at open (above twice its limit) with a sentence that
    # names no switch; ours runs right after the header is read and before any pixel is
    # decoded (every image goes through check_image_pixels), so it replaces Pillow's.
    image_module.MAX_IMAGE_PIXELS = None


def _load_images(
    paths: list[Path], label: str, inputs: list[TensorInfo], pre: Preprocessing | None
) -> CalibrationData:
    from PIL import Image, UnidentifiedImageError

    target = _image_input(inputs)
    pre = pre or Preprocessing()
    _pillow_limit(Image)
    if not paths:
        raise CalibrationError(f"{label} holds no images ({', '.join(sorted(_IMAGE_SUFFIXES))}).")
    tensors = []
    for path in paths:
        try:
            with Image.open(path) as image:
                check_image_pixels(*image.size, f"{path.name} in {label}")
                tensors.append(to_tensor(image, pre))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise CalibrationError(f"{path.name} in {label} is not a readable image ({exc}).") from exc
    return CalibrationData(arrays={target.name: np.stack(tensors)}, source=label, preprocessing=pre)


def _load_image_zip(
    data: bytes, label: str, inputs: list[TensorInfo], pre: Preprocessing | None
) -> CalibrationData:
    from PIL import Image, UnidentifiedImageError

    target = _image_input(inputs)
    pre = pre or Preprocessing()
    _pillow_limit(Image)
    archive = open_zip(data, label, CalibrationError)
    tensors = []
    with archive:
        members = checked_members(archive, label, CalibrationError)
        for member in sorted(members, key=lambda m: m.filename):
            if Path(member.filename).suffix.lower() not in _IMAGE_SUFFIXES:
                continue
            raw = read_member(archive, member, label, CalibrationError)
            shown = f"{safe_text(member.filename)} in {label}"
            try:
                with Image.open(io.BytesIO(raw)) as image:
                    check_image_pixels(*image.size, shown)
                    tensors.append(to_tensor(image, pre))
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
                raise CalibrationError(f"{shown} is not a readable image ({exc}).") from exc
    if not tensors:
        raise CalibrationError(f"{label} holds no images.")
    return CalibrationData(arrays={target.name: np.stack(tensors)}, source=label, preprocessing=pre)


def synthetic_calibration(
    inputs: list[TensorInfo],
    shapes: dict[str, list[list[int]]] | None = None,
    samples: int = 32,
    seed: int = 0,
) -> CalibrationData:
    """Random normal data shaped like the inputs: it calibrates, but its scales mean nothing.

    Shapes come from ``shapes`` (opt) or :func:`workbench.shapes.concrete_shapes` (dynamic
    dims 1, axis 0 the ``samples``); ``notes`` says which dims were defaulted."""
    from workbench.shapes import concrete_shapes
    from workbench.synthetic import random_value

    rng = np.random.default_rng(seed)
    arrays = {}
    concrete, notes = concrete_shapes(inputs, shapes, batch=samples)
    for info in inputs:
        if info.name not in concrete:
            raise CalibrationError(
                f"Input {info.name!r} has no known shape: give --shapes to make synthetic data."
            )
        shape = list(concrete[info.name])
        dtype = np.dtype(info.dtype if info.dtype in ("float32", "float16", "int32", "int64") else "float32")
        if not shape:
            # A 0-d input is a setting (a sample rate, a threshold), the same for every
            # sample: an integer one has no random value that means anything.
            if dtype.kind != "f":
                raise CalibrationError(
                    f"Input {info.name!r} is an integer scalar (a setting such as a sample rate, not data): "
                    "synthetic data cannot choose its value; give calibration data (.npz) holding it as a 0-d array."
                )
            arrays[info.name] = np.asarray(rng.normal(), dtype=dtype)
            continue
        shape[0] = samples
        TENSOR_ELEMENTS.check(math.prod(shape), f"Synthetic calibration data for {info.name!r} {shape} has")
        arrays[info.name] = random_value(shape, dtype, rng)
    return CalibrationData(arrays=arrays, source="synthetic", synthetic=True, notes=notes)


def calibration_for(
    precisions: list[str],
    given: CalibrationData | None,
    *,
    synthetic: bool,
    inputs: list[TensorInfo],
    shapes: dict[str, list[list[int]]] | None = None,
) -> CalibrationData | None:
    """The one calibration policy every front end follows (CLI, Build and Accuracy pages).

    A calibrated precision (INT8, FP8) runs on the user's calibration data; else on
    synthetic data only when the user chose it explicitly (``--synthetic-calib``, the
    pages' "Synthetic (smoke test only)"), and that data says so (``synthetic=True``, shown
    as SYNTHETIC wherever a figure computed from it is). Neither: one sentence, nothing runs.
    """
    from workbench.precision import PRECISION_INFO

    calibrated = [p for p in precisions if PRECISION_INFO[p].calibrated]
    if given is not None or not calibrated:
        return given
    if synthetic:
        return synthetic_calibration(inputs, shapes)
    titles = " and ".join(PRECISION_INFO[p].title for p in calibrated)
    raise CalibrationError(
        f"{titles} need{'s' if len(calibrated) == 1 else ''} calibration data: give --calib DATA "
        "(a .npz keyed by input name, or images), or choose synthetic data explicitly (--synthetic-calib) for a smoke test."
    )


def load_calibration_images(
    source: str | Path | bytes, inputs: list[Any], preprocessing: Any = None, *, name: str | None = None
) -> Any:
    """Calibration data from an image folder or ``.zip`` through this module's preprocessing.

    The same images and checks as :func:`load_calibration`, with the full preprocessing record (resize,
    crop, channel order, grayscale) fitted to the input: what the labelled evaluation images go
    through (``workbench.evaluation.load_labelled``). Returns a ``CalibrationData``.
    """
    from workbench.preprocessing import (
        IMAGE_SUFFIXES,
        folder_images,
        load_preprocessing,
        tensors_from_folder,
        tensors_from_zip,
        zip_images,
    )

    images = [i for i in inputs if i.shape is not None and len(i.shape) == 4]
    if len(images) != 1 or len(inputs) != 1:
        raise CalibrationError(
            "Image calibration data needs a model with one 4-D image input; use a .npz keyed by input name instead."
        )
    target = images[0]
    pre = load_preprocessing(preprocessing, shape=target.shape)
    label = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes) or Path(source).suffix.lower() == ".zip":
        if isinstance(source, bytes):
            data = source
        else:
            if not Path(source).is_file():
                raise CalibrationError(f"{safe_text(str(source))} does not exist.")
            data = Path(source).read_bytes()
        archive, files = zip_images(data, label, CalibrationError)
        with archive:
            tensors = list(tensors_from_zip(archive, files, label, pre, CalibrationError))
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise CalibrationError(f"{safe_text(str(folder))} does not exist.")
        files = folder_images(folder)
        tensors = list(tensors_from_folder(files, label, pre, CalibrationError))
    if not tensors:
        raise CalibrationError(f"{label} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    return CalibrationData(arrays={target.name: np.stack(tensors)}, source=label, preprocessing=pre)


# ----------------------------------------------------------------------------- checks


def check_calibration(
    data: CalibrationData,
    summary: ModelSummary,
    profiles: list[dict[str, list[list[int]]]] | None = None,
) -> CalibrationReport:
    """Everything worth knowing before calibrating, as a list of findings and per-input stats."""
    items: list[CheckItem] = []
    stats: list[InputStats] = []
    if data.synthetic:
        items.append(
            CheckItem(
                "warning",
                None,
                "SYNTHETIC DATA: these are random numbers, not your inputs. The scales calibrated from them are "
                "meaningless and the INT8/FP8 accuracy will not reflect your model; use real samples.",
            )
        )
    items.extend(CheckItem("info", None, note) for note in data.notes)
    expected = {i.name: i for i in summary.inputs}
    for name in sorted(set(expected) - set(data.arrays)):
        items.append(
            CheckItem(
                "error",
                name,
                f"No data for input {name!r}: the .npz needs a key per model input ({', '.join(expected)}).",
            )
        )
    for name in sorted(set(data.arrays) - set(expected)):
        items.append(
            CheckItem(
                "error", name, f"Data key {name!r} is not a model input (inputs: {', '.join(expected)})."
            )
        )

    for name, array in data.arrays.items():
        info = expected.get(name)
        if info is None:
            continue
        items.extend(_check_shape(name, array, info, profiles))
        if info.dtype != str(array.dtype):
            castable = (
                np.can_cast(array.dtype, np.dtype(info.dtype), casting="same_kind")
                if info.dtype in np.sctypeDict
                else False
            )
            level = "warning" if castable else "error"
            items.append(
                CheckItem(
                    level,
                    name,
                    f"{name!r} is {array.dtype}, the model takes {info.dtype}"
                    + (" (it will be cast)." if castable else "."),
                )
            )
        if array.dtype.kind not in "fiub":
            continue
        as_float = array.astype(np.float64, copy=False)
        finite = np.isfinite(as_float)
        nan = int(np.isnan(as_float).sum())
        inf = int(np.isinf(as_float).sum())
        if nan or inf:
            items.append(
                CheckItem(
                    "error",
                    name,
                    f"{name!r} holds {nan} NaN and {inf} Inf value(s): calibration ranges would be garbage.",
                )
            )
        values = as_float[finite] if not finite.all() else as_float
        per_sample = (
            as_float.reshape(as_float.shape[0], -1)
            if as_float.ndim > 1 and as_float.shape[0]
            else as_float.reshape(1, -1)
        )
        spread = (
            np.nanmax(per_sample, axis=1) - np.nanmin(per_sample, axis=1) if per_sample.size else np.array([])
        )
        constant = int(
            (spread <= 1e-6 * max(1.0, float(np.nanmax(np.abs(values))) if values.size else 1.0)).sum()
        )
        stat = InputStats(
            input=name,
            shape=list(array.shape),
            dtype=str(array.dtype),
            min=float(values.min()) if values.size else float("nan"),
            max=float(values.max()) if values.size else float("nan"),
            mean=float(values.mean()) if values.size else float("nan"),
            std=float(values.std()) if values.size else float("nan"),
            nan=nan,
            inf=inf,
            constant_samples=constant,
        )
        stats.append(stat)
        if constant:
            items.append(
                CheckItem(
                    "warning",
                    name,
                    f"{constant} of {per_sample.shape[0]} sample(s) of {name!r} are constant (all-black or saturated frames?): they add nothing to the ranges.",
                )
            )
        items.extend(_check_range(name, stat, data.preprocessing))

    samples = data.samples
    if samples < RECOMMENDED_SAMPLES:
        level = "warning" if samples >= 1 else "error"
        items.append(
            CheckItem(
                level,
                None,
                f"Only {samples} sample(s): field practice is {RECOMMENDED_SAMPLES} or more representative samples; "
                "with few samples the ranges follow those samples, not your data.",
            )
        )
    batch = max(1, min(32, samples))
    items.append(
        CheckItem(
            "info",
            None,
            f"{samples} sample(s) will be calibrated in batches of up to {batch}; a batch of 8-32 keeps memory modest.",
        )
    )
    return CalibrationReport(
        source=data.source, samples=samples, synthetic=data.synthetic, items=items, stats=stats
    )


def _check_shape(
    name: str, array: np.ndarray, info: TensorInfo, profiles: list[dict[str, list[list[int]]]] | None
) -> list[CheckItem]:
    if info.shape is None:
        return []
    if array.ndim != len(info.shape):
        return [
            CheckItem(
                "error",
                name,
                f"{name!r} has rank {array.ndim} (shape {list(array.shape)}), the model expects rank {len(info.shape)} ({info.shape_str()}).",
            )
        ]
    problems = []
    for axis, (got, want) in enumerate(zip(array.shape, info.shape)):
        if axis == 0:
            continue  # samples run along the first axis
        if isinstance(want, int) and want > 0 and got != want:
            problems.append(
                CheckItem(
                    "error",
                    name,
                    f"{name!r} has {got} along axis {axis}, the model fixes it to {want} (shape {info.shape_str()}).",
                )
            )
    for p, profile in enumerate(profiles or []):
        triple = profile.get(name)
        if triple is None:
            continue
        lo, _, hi = triple
        for axis in range(1, array.ndim):
            if not lo[axis] <= array.shape[axis] <= hi[axis]:
                problems.append(
                    CheckItem(
                        "error",
                        name,
                        f"{name!r} has {array.shape[axis]} along axis {axis}, outside profile {p}'s range {lo[axis]}..{hi[axis]}.",
                    )
                )
    return problems


def _check_range(name: str, stat: InputStats, pre: Preprocessing | None) -> list[CheckItem]:
    if pre is not None:
        lo, hi = pre.expected_range()
        margin = 0.05 * (hi - lo)
        if stat.min < lo - margin or stat.max > hi + margin:
            return [
                CheckItem(
                    "warning",
                    name,
                    f"{name!r} spans {stat.min:.3g}..{stat.max:.3g}, outside the {lo:.3g}..{hi:.3g} the declared preprocessing gives.",
                )
            ]
        return []
    if stat.dtype.startswith("float") and stat.min >= 0 and stat.max > 20:
        return [
            CheckItem(
                "warning",
                name,
                f"{name!r} spans {stat.min:.3g}..{stat.max:.3g} (mean {stat.mean:.3g}): that looks like raw 0..255 pixels. "
                "If the model expects normalised input (mean/std), the calibration is missing that step.",
            )
        ]
    return []


# ----------------------------------------------------------------------------- entropy vs max


@dataclass
class CalibratorOutcome(JsonRecord):
    calibrator: str
    model_path: str
    outputs: list[Any]  # OutputMetrics
    top1_agreement: float | None
    transform_seconds: float


@dataclass
class CalibratorComparison(JsonRecord):
    """INT8 calibrated with entropy and with max on the same data, side by side.

    Accuracy is measured in ONNX Runtime on the CPU (which runs INT8 Q/DQ faithfully)
    against the FP32 model, on samples held out from calibration.
    """

    reference_backend: str
    evaluation_samples: int
    calibration_samples: int
    outcomes: list[CalibratorOutcome]
    #: Activation scales of max divided by those of entropy: median and largest.
    scale_ratio_median: float | None
    scale_ratio_max: float | None


def _activation_scales(path: str) -> dict[str, float]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    inits = {t.name: t for t in model.graph.initializer}
    weights = {t.name for t in model.graph.initializer}
    scales = {}
    for node in model.graph.node:
        if (
            node.op_type == "QuantizeLinear"
            and node.input[0] not in weights
            and len(node.input) > 1
            and node.input[1] in inits
        ):
            value = numpy_helper.to_array(inits[node.input[1]])
            if value.size == 1:
                scales[node.input[0]] = float(value.reshape(()))
    return scales


def compare_calibrators(
    model: LoadedModel, calibration: CalibrationData, workspace: Workspace, *, strongly_typed: bool = True
) -> CalibratorComparison:
    """Quantize with entropy and with max, then compare both with FP32 on held-out samples."""
    from workbench.accuracy import output_metrics, run_onnxruntime, top1_agreement
    from workbench.transforms import transformed_model

    total = calibration.samples
    if total < 2:
        raise CalibrationError("Comparing calibrators needs at least 2 samples.")
    held = max(1, total // 5)
    calib_part = CalibrationData(
        {k: v[: total - held] for k, v in calibration.arrays.items()},
        calibration.source,
        calibration.synthetic,
        calibration.preprocessing,
    )
    evaluation = {k: v[total - held :] for k, v in calibration.arrays.items()}
    reference = run_onnxruntime(str(model.path), evaluation)
    outcomes = []
    paths = {}
    for kind in ("entropy", "max"):
        path, transform = transformed_model(
            model, "int8", workspace, calibration=calib_part, calibrator=kind, strongly_typed=strongly_typed
        )
        paths[kind] = path
        got = run_onnxruntime(path, evaluation)
        metrics = [output_metrics(name, reference[name], got[name]) for name in reference]
        first = next(iter(reference))
        outcomes.append(
            CalibratorOutcome(
                calibrator=kind,
                model_path=path,
                outputs=metrics,
                top1_agreement=top1_agreement(reference[first], got[first]),
                transform_seconds=transform.seconds if transform else 0.0,
            )
        )
    entropy, maximum = _activation_scales(paths["entropy"]), _activation_scales(paths["max"])
    ratios = [maximum[k] / entropy[k] for k in entropy.keys() & maximum.keys() if entropy[k] > 0]
    return CalibratorComparison(
        reference_backend="onnxruntime-cpu",
        evaluation_samples=held,
        calibration_samples=total - held,
        outcomes=outcomes,
        scale_ratio_median=float(np.median(ratios)) if ratios else None,
        scale_ratio_max=float(np.max(ratios)) if ratios else None,
    )
