"""Accuracy that means something: task metrics on labelled data, and the science of calibration data.

Output metrics (``workbench.compare``) say how far a precision's logits moved from FP32's;
this module says what that costs the task. Given labelled data (an ``.npz`` of the model's
inputs plus ``labels``, or an image folder with one sub-folder per class, or a ``.zip`` of
one, images through a declared :class:`workbench.preprocessing.Preprocessing`):

- :func:`evaluate`: top-1, top-5, the share of FP32's top-1 each precision keeps, the change
  per class, and the samples FP32 got right and the precision got wrong (with their file
  paths for images). Each precision's ONNX is the graph TensorRT 11 / TensorRT-RTX build
  (``workbench.transforms.transformed_model``), run on the CPU executor its row of the precision
  table names: ONNX Runtime for FP32/FP16/INT8, ``onnx.reference`` for FP8; BF16 and TF32
  have none on a CPU and are reported as not computable. Every figure names what computed it.
- :func:`calibration_findings`: what is wrong with a calibration set, checked against the
  evaluation data before anything is built (pure NumPy, cheap): a preprocessing that differs
  (scale, mean/std, channel order, layout, transposed or inverted frames), outlier frames
  (constant, all-black, over-exposed), near-duplicate frames.
- :func:`measure_effects`: each finding's measured effect on accuracy, by quantizing with and
  without the flagged frames (or, for a preprocessing mismatch, with evaluation-like data).
- :func:`calibration_study`: accuracy and output drift against calibration sample count and
  calibrator, the smallest count that keeps a target, and the findings with their effects.
- :func:`keep_precision_for_accuracy`: the nodes to keep high so the quantized model keeps a
  task-metric target (``kept_top1=0.99``) on the labelled data.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.archives import read_arrays, safe_text
from workbench.calibration import CalibrationData
from workbench.errors import WorkbenchError
from workbench.preprocessing import (
    Preprocessing,
    folder_images,
    load_preprocessing,
    tensors_from_folder,
    tensors_from_zip,
    zip_images,
)
from workbench.serialize import JsonRecord

if TYPE_CHECKING:

    from workbench.model import LoadedModel
    from workbench.summary import TensorInfo

#: Who computes a precision's numbers, by the precision table's ``cpu_executor``.
BACKEND_LABELS = {"onnxruntime": "onnxruntime-cpu", "reference": "onnx-reference-cpu"}
#: Kinds of calibration findings.
PREPROCESSING_MISMATCH = "preprocessing-mismatch"
OUTLIER_FRAMES = "outlier-frames"
NEAR_DUPLICATES = "near-duplicates"
TOO_FEW_SAMPLES = "too-few-samples"
SHAPE_MISMATCH = "shape-mismatch"
#: Task metrics a keep target may name, and whether bigger is better.
KEEP_METRICS = {
    "kept_top1": True,
    "top1": True,
    "top5": True,
    "agreement_top1": True,
    "output_cosine": True,
    "drop_top1": False,
    "output_max_abs": False,
}
_KEEP_ALIASES = {"cosine": "output_cosine", "agreement": "agreement_top1", "max_abs": "output_max_abs"}
#: Labels files recognised at the root of an image folder or zip (one class per line).
LABELS_FILES = ("labels.txt", "classes.txt")
#: Regressions listed per precision (the count is always complete).
MAX_REGRESSIONS = 500
DEFAULT_COUNTS = (8, 32, 128, 512)


class LabelledDataError(WorkbenchError):
    """Labelled data that cannot be used (no labels, counts that disagree, ...)."""


# ----------------------------------------------------------------------------- labelled data


@dataclass
class LabelledData:
    """Model inputs with one class label per sample."""

    arrays: dict[str, np.ndarray]
    labels: np.ndarray
    source: str
    class_names: list[str] = field(default_factory=list)
    #: Per sample, the file it came from (image folders and zips); empty for arrays.
    sources: list[str] = field(default_factory=list)
    preprocessing: Preprocessing | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: Sequence[int] | np.ndarray, source: str | None = None) -> LabelledData:
        index = np.asarray(indices, dtype=np.int64)
        return LabelledData(
            arrays={k: v[index] if v.ndim else v for k, v in self.arrays.items()},
            labels=self.labels[index],
            source=source or f"{self.source} ({len(index)} of {self.samples})",
            class_names=list(self.class_names),
            sources=[self.sources[i] for i in index] if self.sources else [],
            preprocessing=self.preprocessing,
            notes=list(self.notes),
        )

    def as_calibration(self, indices: Sequence[int] | np.ndarray | None = None) -> CalibrationData:
        """These inputs (or some of them) as calibration data, labels left out."""
        data = self if indices is None else self.subset(indices)
        return CalibrationData(arrays=dict(data.arrays), source=data.source, preprocessing=data.preprocessing)

    def content_hash(self) -> str:
        digest = hashlib.sha256(self.as_calibration().content_hash().encode())
        digest.update(np.ascontiguousarray(self.labels).tobytes())
        return digest.hexdigest()


def load_labelled(
    source: str | Path | bytes,
    inputs: list[TensorInfo],
    preprocessing: Any = None,
    *,
    labels_file: str | Path | None = None,
    name: str | None = None,
) -> LabelledData:
    """Labelled data from an ``.npz`` (the model's inputs plus ``labels``), an image folder
    with one sub-folder per class, or a ``.zip`` of such a folder (or their bytes).

    Classes of an image folder are its sub-folders in sorted order (as torchvision's
    ``ImageFolder`` numbers them), unless a labels file gives the order: ``labels_file``, or
    ``labels.txt`` / ``classes.txt`` at the folder's root, one class per line, its first
    word the sub-folder's name (ImageNet's ``LOC_synset_mapping.txt`` reads as it is).
    Images go through ``preprocessing`` (a preset name, a JSON file, a record; default: the
    calibration default fitted to the input). Bad data raises one sentence.
    """
    label = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        if _is_npz_bytes(source) or label.lower().endswith((".npz", ".npy")):
            return _labelled_npz(source, label, inputs, preprocessing)
        return _labelled_zip(source, label, inputs, preprocessing, labels_file)
    path = Path(source)
    if not path.exists():
        raise LabelledDataError(f"{safe_text(str(path))} does not exist.")
    if path.is_dir():
        return _labelled_folder(path, label, inputs, preprocessing, labels_file)
    data = path.read_bytes()
    if path.suffix.lower() == ".zip" and not _is_npz_bytes(data):
        return _labelled_zip(data, label, inputs, preprocessing, labels_file)
    return _labelled_npz(data, label, inputs, preprocessing)


def _is_npz_bytes(data: bytes) -> bool:
    """A zip whose members are all ``.npy`` arrays (what ``numpy.savez`` writes)."""
    import zipfile

    if data[:6] == b"\x93NUMPY":
        return True
    if data[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def _labelled_npz(data: bytes, label: str, inputs: list[TensorInfo], preprocessing: Any) -> LabelledData:
    loaded = read_arrays(data, label, LabelledDataError)
    if isinstance(loaded, np.ndarray):
        raise LabelledDataError(
            f"{label} is a single array: labelled data needs a .npz holding the inputs ({_names(inputs)}) and a 'labels' array."
        )
    arrays = dict(loaded)
    if "labels" not in arrays:
        raise LabelledDataError(
            f"{label} has no 'labels' array (it holds {', '.join(map(repr, sorted(arrays))) or 'nothing'}): "
            "save one class index per sample as labels= beside the inputs."
        )
    labels = _checked_labels(arrays.pop("labels"), label)
    expected = {i.name for i in inputs}
    missing = sorted(expected - set(arrays))
    if missing:
        raise LabelledDataError(
            f"{label} has no array for input {', '.join(map(repr, missing))}: the .npz needs one key per model input ({_names(inputs)}) plus 'labels'."
        )
    extra = sorted(set(arrays) - expected)
    if extra:
        raise LabelledDataError(
            f"{label} holds {', '.join(map(repr, extra))}, which is not a model input (inputs: {_names(inputs)}; labels go under 'labels')."
        )
    for key, array in arrays.items():
        if array.ndim == 0:
            continue
        if array.shape[0] != labels.shape[0]:
            raise LabelledDataError(
                f"{label} holds {labels.shape[0]} labels but {array.shape[0]} samples of {key!r}: give one label per sample."
            )
    pre = load_preprocessing(preprocessing) if preprocessing is not None else None
    return LabelledData(arrays=arrays, labels=labels, source=label, preprocessing=pre)


def _checked_labels(raw: np.ndarray, label: str) -> np.ndarray:
    if raw.ndim == 2 and raw.shape[1] > 1 and raw.dtype.kind in "biuf" and np.isin(raw, (0, 1)).all():
        if not (raw.sum(axis=1) == 1).all():
            raise LabelledDataError(f"{label}: 'labels' is 2-D but not one-hot: give one class index per sample.")
        raw = np.argmax(raw, axis=1)
    if raw.ndim != 1:
        raise LabelledDataError(
            f"{label}: 'labels' has shape {list(raw.shape)}: give one class index per sample (a 1-D array)."
        )
    if raw.shape[0] == 0:
        raise LabelledDataError(f"{label} holds no samples (its 'labels' array is empty).")
    if raw.dtype.kind == "b":
        raw = raw.astype(np.int64)
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all() or not (raw == np.round(raw)).all():
            raise LabelledDataError(f"{label}: 'labels' holds values that are not whole class indices.")
    elif raw.dtype.kind not in "iu":
        raise LabelledDataError(f"{label}: 'labels' is {raw.dtype}, not class indices.")
    labels = raw.astype(np.int64)
    if (labels < 0).any():
        raise LabelledDataError(f"{label}: 'labels' holds negative class indices (smallest {int(labels.min())}).")
    return labels


def _names(inputs: list[TensorInfo]) -> str:
    return ", ".join(i.name for i in inputs)


def _image_target(inputs: list[TensorInfo], label: str) -> TensorInfo:
    images = [i for i in inputs if i.shape is not None and len(i.shape) == 4]
    if len(inputs) != 1 or len(images) != 1:
        raise LabelledDataError(
            f"{label} is images, which need a model with one 4-D image input; this one takes {_names(inputs)}: give a .npz of the inputs plus 'labels'."
        )
    return images[0]


def _read_labels_file(text: str, label: str) -> list[tuple[str, str]]:
    """(folder name, display name) per class, in index order."""
    classes = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        folder, _, rest = line.partition(" ")
        if "\t" in folder:
            folder, _, rest = line.partition("\t")
        classes.append((folder.strip(), rest.strip() or folder.strip()))
    if not classes:
        raise LabelledDataError(f"The labels file {label} names no classes (one class per line).")
    seen: set[str] = set()
    for folder, _ in classes:
        if folder in seen:
            raise LabelledDataError(f"The labels file {label} names class {folder!r} twice.")
        seen.add(folder)
    return classes


def _class_index(
    folders: list[str], listed: list[tuple[str, str]] | None, label: str, labels_name: str | None
) -> tuple[dict[str, int], list[str], list[str]]:
    notes = []
    if listed is None:
        names = sorted(set(folders))
        notes.append(f"classes are the {len(names)} sub-folders of {label} in sorted order (as torchvision's ImageFolder numbers them)")
        return {n: i for i, n in enumerate(names)}, names, notes
    index = {folder: i for i, (folder, _) in enumerate(listed)}
    unknown = sorted(set(folders) - set(index))
    if unknown:
        raise LabelledDataError(
            f"{label} has a class folder {safe_text(unknown[0])!r} that the labels file {labels_name} does not list."
        )
    notes.append(f"class indices from the labels file {labels_name} ({len(listed)} classes)")
    return index, [display for _, display in listed], notes


def _class_of(parts: list[str], label: str) -> str:
    if len(parts) < 2:
        raise LabelledDataError(
            f"{label} has the image {safe_text('/'.join(parts))} outside any class folder: put each image in a sub-folder named after its class."
        )
    return parts[0]


def _labelled_folder(
    folder: Path, label: str, inputs: list[TensorInfo], preprocessing: Any, labels_file: str | Path | None
) -> LabelledData:
    target = _image_target(inputs, label)
    pre = load_preprocessing(preprocessing, shape=target.shape)
    files = folder_images(folder)
    if not files:
        raise LabelledDataError(f"{label} holds no images: give one sub-folder of images per class.")
    classes = [_class_of(f.parts, label) for f in files]
    listed, listed_name = None, None
    labels_path = Path(labels_file) if labels_file else next(
        (folder / n for n in LABELS_FILES if (folder / n).is_file()), None
    )
    if labels_path is not None:
        if not labels_path.is_file():
            raise LabelledDataError(f"The labels file {safe_text(str(labels_path))} does not exist.")
        listed, listed_name = _read_labels_file(labels_path.read_text(errors="replace"), labels_path.name), labels_path.name
    index, names, notes = _class_index(classes, listed, label, listed_name)
    tensors = list(tensors_from_folder(files, label, pre, LabelledDataError))
    return LabelledData(
        arrays={target.name: np.stack(tensors)},
        labels=np.asarray([index[c] for c in classes], dtype=np.int64),
        source=label,
        class_names=names,
        sources=[str(f.path) for f in files],
        preprocessing=pre,
        notes=[*notes, f"images through {pre.describe()}"],
    )


def _labelled_zip(
    data: bytes, label: str, inputs: list[TensorInfo], preprocessing: Any, labels_file: str | Path | None
) -> LabelledData:
    target = _image_target(inputs, label)
    pre = load_preprocessing(preprocessing, shape=target.shape)
    archive, files = zip_images(data, label, LabelledDataError)
    with archive:
        if not files:
            raise LabelledDataError(f"{label} holds no images: zip one sub-folder of images per class.")
        # A zip of a folder holds that folder as its one top-level entry: classes are below it.
        root: list[str] = []
        if all(len(f.parts) >= 3 for f in files) and len({f.parts[0] for f in files}) == 1:
            root = [files[0].parts[0]]
        for f in files:
            f.parts = f.parts[len(root) :]
        classes = [_class_of(f.parts, label) for f in files]
        listed, listed_name = None, None
        if labels_file is not None:
            path = Path(labels_file)
            if not path.is_file():
                raise LabelledDataError(f"The labels file {safe_text(str(path))} does not exist.")
            listed, listed_name = _read_labels_file(path.read_text(errors="replace"), path.name), path.name
        else:
            from workbench.archives import checked_members, read_member

            wanted = {"/".join([*root, n]): n for n in LABELS_FILES}
            for member in checked_members(archive, label, LabelledDataError):
                if member.filename in wanted:
                    text = read_member(archive, member, label, LabelledDataError).decode("utf-8", "replace")
                    listed, listed_name = _read_labels_file(text, wanted[member.filename]), wanted[member.filename]
                    break
        index, names, notes = _class_index(classes, listed, label, listed_name)
        tensors = list(tensors_from_zip(archive, files, label, pre, LabelledDataError))
    return LabelledData(
        arrays={target.name: np.stack(tensors)},
        labels=np.asarray([index[c] for c in classes], dtype=np.int64),
        source=label,
        class_names=names,
        sources=[f.name for f in files],
        preprocessing=pre,
        notes=[*notes, f"images through {pre.describe()}"],
    )


def load_calibration_data(
    source: str | Path | bytes, inputs: list[TensorInfo], preprocessing: Any = None, *, name: str | None = None
) -> CalibrationData:
    """Calibration data for the evaluation commands: ``workbench.calibration.load_calibration``
    for arrays, with a ``labels`` array (a labelled split such as ``digits_calib.npz``) left
    out, and images through this module's preprocessing (resize, crop, channel order)."""
    from workbench.calibration import load_calibration, load_calibration_images

    label = name or (Path(source).name if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        raw: bytes | None = source
    else:
        raw = Path(source).read_bytes() if Path(source).is_file() else None
    if raw is not None and _is_npz_bytes(raw):
        loaded = read_arrays(raw, label, LabelledDataError)
        if isinstance(loaded, dict) and "labels" in loaded and "labels" not in {i.name for i in inputs}:
            arrays = {k: v for k, v in loaded.items() if k != "labels"}
            return CalibrationData(arrays=arrays, source=label, notes=[f"the 'labels' array of {label} is not used for calibration"])
        return load_calibration(raw, inputs, name=label)
    if raw is not None and not label.lower().endswith(".zip") and raw[:4] != b"PK\x03\x04":
        return load_calibration(raw, inputs, name=label)
    return load_calibration_images(source, inputs, preprocessing, name=label)


# ----------------------------------------------------------------------------- records


@dataclass
class ClassAccuracy(JsonRecord):
    index: int
    name: str
    n: int
    #: Samples of this class FP32 gets right, and this precision.
    reference_correct: int
    correct: int
    #: ``correct - reference_correct``: negative when the precision loses samples of this class.
    change: int


@dataclass
class Regression(JsonRecord):
    """A sample FP32 classifies right and the precision gets wrong."""

    index: int
    label: int
    reference_prediction: int
    prediction: int
    #: The image file, for image data.
    source: str | None = None


@dataclass
class ReferenceAccuracy(JsonRecord):
    precision: str
    top1: float
    top5: float
    n: int
    computed_by: str = "onnxruntime-cpu"
    device: str = "cpu"
    per_class: list[ClassAccuracy] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class PrecisionAccuracy(JsonRecord):
    precision: str
    top1: float | None
    top5: float | None
    #: ``top1 / reference top1``, both against the labels.
    kept_top1: float | None
    n: int
    #: What computed these figures ("onnxruntime-cpu", "onnx-reference-cpu", or "none").
    computed_by: str
    device: str = "cpu"
    available: bool = True
    note: str | None = None
    #: Share of samples whose top-1 class is FP32's.
    agreement_top1: float | None = None
    #: The scores against FP32's (``workbench.accuracy.output_metrics``).
    output_cosine: float | None = None
    output_max_abs: float | None = None
    per_class: list[ClassAccuracy] = field(default_factory=list)
    #: Up to ``MAX_REGRESSIONS`` of them; ``regressions_total`` counts them all.
    regressions: list[Regression] = field(default_factory=list)
    regressions_total: int = 0
    #: Samples FP32 gets wrong and this precision right.
    improvements: int = 0
    model_path: str = ""
    calibrator: str | None = None
    calibration_samples: int | None = None
    transform_seconds: float = 0.0
    run_seconds: float = 0.0


@dataclass
class FindingEffect(JsonRecord):
    """A calibration finding's measured effect: the metric calibrating with the flagged
    frames (or the set as given) and without them (or with evaluation-like data)."""

    metric: str
    with_flagged: float | None
    without_flagged: float | None
    #: ``without_flagged - with_flagged`` (for kept_top1/top1: what fixing it gains).
    delta: float | None
    precision: str = "int8"
    calibrator: str = "entropy"
    samples_with: int = 0
    samples_without: int = 0
    top1_with: float | None = None
    top1_without: float | None = None
    computed_by: str = "onnxruntime-cpu"
    how: str = ""


@dataclass
class CalibrationFinding(JsonRecord):
    kind: str
    severity: str  # "error" | "warning" | "info"
    message: str
    #: The measured effect that moves most (``measure_effects``); None until measured.
    effect: FindingEffect | None = None
    input: str | None = None
    #: For preprocessing mismatches: "scale", "offset", "inverted", "channel-order", "layout",
    #: "transposed", "flipped", "declared".
    aspect: str | None = None
    #: The flagged frames (indices into the calibration data).
    samples: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    #: The effect with each calibrator measured.
    effects: list[FindingEffect] = field(default_factory=list)


@dataclass
class Evaluation(JsonRecord):
    model: str
    output: str
    classes: int
    data_source: str
    reference: ReferenceAccuracy
    results: list[PrecisionAccuracy]
    findings: list[CalibrationFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    preprocessing: dict[str, Any] | None = None
    model_hash: str = ""
    #: The calibration data the quantized precisions used ("" when none), and whether it was
    #: synthetic (then every figure computed from it is shown as SYNTHETIC).
    calibration_source: str = ""
    calibration_synthetic: bool = False

    def result(self, precision: str) -> PrecisionAccuracy:
        for r in self.results:
            if r.precision == precision:
                return r
        raise KeyError(precision)


@dataclass
class StudyPoint(JsonRecord):
    samples: int
    calibrator: str
    top1: float | None
    kept_top1: float | None
    top5: float | None = None
    agreement_top1: float | None = None
    output_cosine: float | None = None
    output_max_abs: float | None = None
    #: Whether this point meets the keep target (None without a target).
    meets: bool | None = None
    computed_by: str = "onnxruntime-cpu"
    transform_seconds: float = 0.0
    run_seconds: float = 0.0


@dataclass
class CalibrationStudy(JsonRecord):
    precision: str
    reference: ReferenceAccuracy
    points: list[StudyPoint]
    #: The smallest count that meets ``keep`` there and at every larger count measured, with
    #: the calibrator that does (the smaller count wins; the calibrator listed first on a tie).
    smallest_count: int | None
    smallest_calibrator: str | None = None
    smallest_by_calibrator: dict[str, int | None] = field(default_factory=dict)
    keep: dict[str, float] = field(default_factory=dict)
    findings: list[CalibrationFinding] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    calibrators: list[str] = field(default_factory=list)
    pool_samples: int = 0
    evaluation_samples: int = 0
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: What the study ran on: the model, the labelled data, the calibration pool (synthetic or not).
    model: str = ""
    data_source: str = ""
    pool_source: str = ""
    pool_synthetic: bool = False

    def curve(self, calibrator: str, metric: str = "kept_top1") -> list[tuple[int, float | None]]:
        return [(p.samples, getattr(p, metric)) for p in self.points if p.calibrator == calibrator]


# ----------------------------------------------------------------------------- running models


def _executor(precision: str) -> tuple[str | None, str, str | None]:
    """(engine, computed_by label, note) for a precision, from the precision table."""
    from workbench.precision import PRECISION_INFO

    info = PRECISION_INFO[precision]
    engine = info.cpu_executor
    if engine is None:
        return None, "none", info.cpu_note or f"{info.title} has no CPU execution here: measure it with TensorRT on a GPU."
    return engine, BACKEND_LABELS.get(engine, f"{engine}-cpu"), info.cpu_note or None


def _input_specs(path: str) -> tuple[dict[str, tuple[int | None, int]], list[str]]:
    """Per real graph input: (fixed batch dim or None, ONNX element type); output names."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    initializers = {t.name for t in proto.graph.initializer}
    specs = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = tensor.shape.dim if tensor.HasField("shape") else []
        batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0 else None
        specs[value.name] = (batch, tensor.elem_type)
    return specs, [o.name for o in proto.graph.output]


def predict(
    path: str,
    arrays: dict[str, np.ndarray],
    output: str | None = None,
    *,
    engine: str = "onnxruntime",
    batch_size: int = 256,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """One output of an ONNX model over every sample, in batches, on the CPU.

    ``engine`` is ``"onnxruntime"`` or ``"reference"`` (``onnx.reference``). A model with a
    fixed batch dim runs in batches of that size (the last one padded, its extra rows dropped).
    """
    import onnx
    from onnx import helper

    specs, outputs = _input_specs(path)
    name = output or outputs[0]
    if name not in outputs:
        raise WorkbenchError(f"The model has no output {name!r} (outputs: {', '.join(outputs)}).")
    sized = [k for k in specs if k in arrays and np.ndim(arrays[k]) > 0]
    if not sized:
        raise WorkbenchError("The data holds none of the model's inputs with a sample axis.")
    total = int(np.shape(arrays[sized[0]])[0])
    fixed: set[int] = {b for k in sized if (b := specs[k][0]) is not None}
    step = min(fixed) if fixed else max(1, batch_size)
    feeds_dtype = {k: np.dtype(helper.tensor_dtype_to_np_dtype(t)) for k, (_, t) in specs.items() if t}
    if engine == "reference":
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(onnx.load(path))

        def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
            outputs = list(evaluator.run([name], feeds))
            return np.asarray(outputs[0])

    else:
        from workbench.ort_cpu import cpu_session, session_options

        session = cpu_session(path, session_options(threads=0))

        def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(session.run([name], feeds)[0])

    chunks = []
    for start in range(0, total, step):
        if cancelled is not None and cancelled():
            from workbench.isolation import TaskCancelled

            raise TaskCancelled("Cancelled.")
        stop = min(total, start + step)
        feeds = {}
        for key in specs:
            if key not in arrays:
                continue
            value = np.asarray(arrays[key])
            if value.ndim:
                value = value[start:stop]
                if stop - start < step and fixed:
                    pad = np.repeat(value[-1:], step - (stop - start), axis=0)
                    value = np.concatenate([value, pad])
            want = feeds_dtype.get(key)
            if want is not None and value.dtype != want:
                value = value.astype(want)
            feeds[key] = value
        scores = run(feeds)
        chunks.append(scores[: stop - start])
    return np.concatenate(chunks) if chunks else np.zeros((0,))


def _as_scores(raw: np.ndarray, output: str) -> np.ndarray:
    scores = np.asarray(raw)
    if scores.ndim > 2:
        squeezed = scores.reshape(scores.shape[0], -1) if all(d == 1 for d in scores.shape[2:]) else None
        if squeezed is None:
            raise WorkbenchError(
                f"Output {output!r} has shape {list(scores.shape)}, not class scores [samples, classes]: task accuracy needs a classifier output (choose it with output=)."
            )
        scores = squeezed
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise WorkbenchError(
            f"Output {output!r} has shape {list(scores.shape)}, not class scores [samples, classes]: task accuracy needs a classifier output (choose it with output=)."
        )
    return scores.astype(np.float64)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best classes per sample, best first (ties: the lower class index first)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@dataclass
class _Scored:
    """One model's predictions on the labelled data."""

    scores: np.ndarray
    predictions: np.ndarray
    correct: np.ndarray
    top1: float
    top5: float


def _score(scores: np.ndarray, labels: np.ndarray) -> _Scored:
    k = min(5, scores.shape[1])
    best = top_k(scores, k)
    predictions = best[:, 0]
    correct = predictions == labels
    in_top = (best == labels[:, None]).any(axis=1)
    return _Scored(scores, predictions, correct, float(correct.mean()), float(in_top.mean()))


def _per_class(ref: _Scored, got: _Scored, labels: np.ndarray, names: list[str]) -> list[ClassAccuracy]:
    rows = []
    for c in sorted(set(labels.tolist())):
        mask = labels == c
        r, g = int(ref.correct[mask].sum()), int(got.correct[mask].sum())
        rows.append(
            ClassAccuracy(
                index=int(c), name=names[c] if c < len(names) else str(c), n=int(mask.sum()),
                reference_correct=r, correct=g, change=g - r,
            )
        )
    return rows


def regressions(ref: _Scored, got: _Scored, labels: np.ndarray, sources: list[str]) -> list[Regression]:
    """Every sample the reference classifies right and the candidate wrong, in sample order."""
    lost = np.flatnonzero(ref.correct & ~got.correct)
    return [
        Regression(
            index=int(i), label=int(labels[i]), reference_prediction=int(ref.predictions[i]),
            prediction=int(got.predictions[i]), source=sources[i] if sources else None,
        )
        for i in lost
    ]


def _check_data(model: LoadedModel, data: LabelledData) -> None:
    from workbench.summary import summarize

    summary = summarize(model)
    expected = {i.name: i for i in summary.inputs}
    missing = sorted(set(expected) - set(data.arrays))
    if missing:
        raise LabelledDataError(
            f"{data.source} has no data for input {', '.join(map(repr, missing))} (the model takes {', '.join(expected)})."
        )
    for name, array in data.arrays.items():
        info = expected.get(name)
        if info is None:
            raise LabelledDataError(f"{data.source} holds {name!r}, which is not a model input ({', '.join(expected)}).")
        if info.shape is None or array.ndim == 0:
            continue
        if array.ndim != len(info.shape):
            raise LabelledDataError(
                f"{name!r} in {data.source} has shape {list(array.shape)}, the model takes rank {len(info.shape)} ({info.shape_str()})."
            )
        for axis, (got, want) in enumerate(zip(array.shape, info.shape)):
            if axis and isinstance(want, int) and want > 0 and got != want:
                raise LabelledDataError(
                    f"{name!r} in {data.source} has {got} along axis {axis}, the model fixes it to {want} ({info.shape_str()})."
                )
        if array.shape[0] != data.samples:
            raise LabelledDataError(
                f"{data.source} holds {data.samples} labels but {array.shape[0]} samples of {name!r}: give one label per sample."
            )


@dataclass
class _Context:
    """What every precision of one evaluation shares."""

    model: Any
    data: LabelledData
    output: str
    reference: _Scored
    workspace: Any
    batch_size: int
    cancelled: Callable[[], bool] | None


def _reference(
    model: LoadedModel,
    data: LabelledData,
    output: str | None,
    workspace: Any,
    batch_size: int,
    cancelled: Callable[[], bool] | None,
) -> tuple[_Context, ReferenceAccuracy]:
    from workbench.workspace import Workspace

    _check_data(model, data)
    _, outputs = _input_specs(str(model.path))
    name = output or outputs[0]
    start = time.perf_counter()
    try:
        raw = predict(str(model.path), data.arrays, name, batch_size=batch_size, cancelled=cancelled)
    except WorkbenchError:
        raise
    except Exception as exc:
        from workbench.isolation import TaskCancelled

        if isinstance(exc, TaskCancelled):
            raise
        raise WorkbenchError(
            f"ONNX Runtime cannot run the FP32 model on {data.source}: {_first_line(exc)}"
        ) from exc
    scores = _as_scores(raw, name)
    if int(data.labels.max()) >= scores.shape[1]:
        raise LabelledDataError(
            f"{data.source} has labels up to {int(data.labels.max())}, but output {name!r} scores {scores.shape[1]} classes (0..{scores.shape[1] - 1})."
        )
    ref = _score(scores, data.labels)
    names = data.class_names or [str(i) for i in range(scores.shape[1])]
    record = ReferenceAccuracy(
        precision="fp32",
        top1=ref.top1,
        top5=ref.top5,
        n=data.samples,
        per_class=_per_class(ref, ref, data.labels, names),
        seconds=time.perf_counter() - start,
    )
    context = _Context(model, data, name, ref, workspace or Workspace.default(), batch_size, cancelled)
    return context, record


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return safe_text(text.splitlines()[0][:400]) if text else type(exc).__name__


def _candidate(
    ctx: _Context,
    precision: str,
    *,
    calibration: CalibrationData | None,
    calibrator: str,
    keep_precision: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PrecisionAccuracy:
    """One precision's task accuracy: its transformed ONNX, run by the executor its row names."""
    from workbench.precision import PRECISION_INFO
    from workbench.transforms import transformed_model

    data, ref = ctx.data, ctx.reference
    engine, computed_by, note = _executor(precision)
    info = PRECISION_INFO[precision]
    if engine is None:
        return PrecisionAccuracy(
            precision=precision, top1=None, top5=None, kept_top1=None, n=data.samples,
            computed_by=computed_by, available=False, note=note,
        )
    if info.calibrated and calibration is None:
        raise WorkbenchError(f"{info.title} needs calibration data: give calibration=CalibrationData (--calib DATA).")
    transform_seconds = 0.0
    path = str(ctx.model.path)
    used_calibrator = None
    if precision != "fp32":
        if progress:
            progress(f"{precision}: transforming")
        # The graph TensorRT 11 / TensorRT-RTX build, which the CPU executor runs.
        autocast_inputs = None
        if info.transform == "autocast" and calibration is None:
            autocast_inputs = {k: v[: min(32, data.samples)] if v.ndim else v for k, v in data.arrays.items()}
        path, transform = transformed_model(
            ctx.model, precision, ctx.workspace,
            calibration=calibration if info.calibrated or autocast_inputs is None else None,
            calibrator=calibrator, keep_precision=keep_precision or [], cancelled=ctx.cancelled,
            inputs=autocast_inputs, inputs_label="the first samples of the labelled data",
        )
        transform_seconds = transform.seconds if transform is not None and not transform.cached else 0.0
        used_calibrator = transform.calibrator if transform is not None else (calibrator if info.calibrated else None)
    if progress:
        progress(f"{precision}: running on {data.samples} labelled samples ({computed_by})")
    start = time.perf_counter()
    try:
        raw = predict(path, data.arrays, ctx.output, engine=engine, batch_size=ctx.batch_size, cancelled=ctx.cancelled)
        scores = _as_scores(raw, ctx.output)
    except WorkbenchError:
        raise
    except Exception as exc:
        from workbench.isolation import TaskCancelled

        if isinstance(exc, TaskCancelled):
            raise
        return PrecisionAccuracy(
            precision=precision, top1=None, top5=None, kept_top1=None, n=data.samples, computed_by=computed_by,
            available=False, note=f"{computed_by} could not run the {info.title} model: {_first_line(exc)}",
            model_path=path, transform_seconds=transform_seconds,
        )
    run_seconds = time.perf_counter() - start
    got = _score(scores, data.labels)
    from workbench.accuracy import output_metrics

    drift = output_metrics(ctx.output, ref.scores, scores)
    lost = regressions(ref, got, data.labels, data.sources)
    names = data.class_names or [str(i) for i in range(scores.shape[1])]
    notes = [n for n in (note,) if n]
    if not np.isfinite(scores).all():
        notes.append(f"{int((~np.isfinite(scores)).any(axis=1).sum())} sample(s) have non-finite scores")
    return PrecisionAccuracy(
        precision=precision,
        top1=got.top1,
        top5=got.top5,
        kept_top1=got.top1 / ref.top1 if ref.top1 > 0 else None,
        n=data.samples,
        computed_by=computed_by,
        note="; ".join(notes) or None,
        agreement_top1=float(np.mean(got.predictions == ref.predictions)),
        output_cosine=drift.cosine,
        output_max_abs=drift.max_abs,
        per_class=_per_class(ref, got, data.labels, names),
        regressions=lost[:MAX_REGRESSIONS],
        regressions_total=len(lost),
        improvements=int((~ref.correct & got.correct).sum()),
        model_path=path,
        calibrator=used_calibrator,
        calibration_samples=calibration.samples if calibration is not None and info.calibrated else None,
        transform_seconds=transform_seconds,
        run_seconds=run_seconds,
    )


def _check_cancelled(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        from workbench.isolation import TaskCancelled

        raise TaskCancelled("Cancelled.")


# ----------------------------------------------------------------------------- evaluate


def evaluate(
    model: LoadedModel,
    data: LabelledData,
    precisions: Sequence[str],
    *,
    calibration: CalibrationData | None = None,
    calibrator: str = "entropy",
    workspace: Any = None,
    output: str | None = None,
    keep_precision: list[str] | None = None,
    batch_size: int = 256,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Evaluation:
    """Top-1, top-5 and what each precision keeps of FP32's top-1, against the labels.

    FP32 is always measured (the reference, ONNX Runtime on the CPU). INT8/FP8 need
    ``calibration``; its findings (:func:`calibration_findings`) are checked first, before
    any transform, and listed in the result. ``cancelled`` is checked between precisions
    and between batches, and stops a running transform.
    """
    from workbench.precision import parse_precisions

    wanted = parse_precisions(list(precisions))
    if calibrator not in ("entropy", "max"):
        raise WorkbenchError(f"Unknown calibrator {calibrator!r}: choose entropy or max.")
    findings = calibration_findings(calibration, data) if calibration is not None else []
    if progress:
        progress(f"fp32: running the reference on {data.samples} labelled samples")
    ctx, reference = _reference(model, data, output, workspace, batch_size, cancelled)
    results = []
    for precision in wanted:
        _check_cancelled(cancelled)
        if precision == "fp32":
            results.append(_fp32_result(ctx, reference))
            continue
        results.append(
            _candidate(ctx, precision, calibration=calibration, calibrator=calibrator,
                       keep_precision=keep_precision, progress=progress)
        )
    evaluation = Evaluation(
        model=str(model.path),
        output=ctx.output,
        classes=int(ctx.reference.scores.shape[1]),
        data_source=data.source,
        reference=reference,
        results=results,
        findings=findings,
        notes=list(data.notes)
        + ([f"top-5 is top-{ctx.reference.scores.shape[1]}: the model scores fewer than 5 classes"] if ctx.reference.scores.shape[1] < 5 else []),
        preprocessing=data.preprocessing.to_dict() if data.preprocessing is not None else None,
        model_hash=model.content_hash,
        calibration_source=calibration.source if calibration is not None else "",
        calibration_synthetic=bool(calibration is not None and calibration.synthetic),
    )
    ws = ctx.workspace
    if hasattr(ws, "save_result"):
        ws.save_result("evaluation", evaluation, label=model.name)
    return evaluation


def _fp32_result(ctx: _Context, reference: ReferenceAccuracy) -> PrecisionAccuracy:
    ref = ctx.reference
    return PrecisionAccuracy(
        precision="fp32", top1=ref.top1, top5=ref.top5, kept_top1=1.0 if ref.top1 > 0 else None, n=ctx.data.samples,
        computed_by=reference.computed_by, agreement_top1=1.0, output_cosine=1.0, output_max_abs=0.0,
        per_class=reference.per_class, model_path=str(ctx.model.path), run_seconds=reference.seconds,
    )


# ----------------------------------------------------------------------------- calibration findings


@dataclass
class _Stats:
    """One array's statistics, computed in one pass over chunks of frames.

    The figures the mismatch checks compare are robust to a few bad frames (medians and
    trimmed means over frames): outlier frames are their own finding, not a mismatch."""

    n: int
    mean: float
    std: float
    lo: float
    hi: float
    sample_mean: np.ndarray
    sample_std: np.ndarray
    sample_min: np.ndarray
    sample_max: np.ndarray
    channel_axis: int | None
    #: Per frame, the mean of each channel [N, C].
    sample_channel_mean: np.ndarray | None
    #: Per channel, the standard deviation over every frame.
    channel_std: np.ndarray | None
    #: Per frame, the channel average pooled to at most 32 x 32 [N, h, w].
    thumbs: np.ndarray | None
    #: Per frame, pooled to at most 16 x 16 per channel and flattened (the duplicate search).
    features: np.ndarray

    @property
    def typical_std(self) -> float:
        return float(np.median(self.sample_std))

    @property
    def typical_mean(self) -> float:
        return float(np.median(self.sample_mean))

    @property
    def typical_range(self) -> tuple[float, float]:
        return float(np.median(self.sample_min)), float(np.median(self.sample_max))

    @property
    def channel_mean(self) -> np.ndarray | None:
        return None if self.sample_channel_mean is None else _trimmed_mean(self.sample_channel_mean)

    @property
    def mean_image(self) -> np.ndarray | None:
        return None if self.thumbs is None else _trimmed_mean(self.thumbs)


def _trimmed_mean(values: np.ndarray, cut: float = 0.1) -> np.ndarray:
    """The mean over axis 0 of the values left after cutting ``cut`` of each end (per element)."""
    n = values.shape[0]
    k = int(n * cut)
    if n < 5 or k == 0:
        return np.asarray(values.mean(axis=0))
    ordered = np.sort(values, axis=0)
    return np.asarray(ordered[k : n - k].mean(axis=0))


def _channel_axis(shape: tuple[int, ...]) -> int | None:
    if len(shape) != 4:
        return None
    first, last = shape[1] in (1, 3, 4), shape[3] in (1, 3, 4)
    if first and not last:
        return 1
    if last and not first:
        return 3
    return 1 if first else None


def _pool(frames: np.ndarray, channel_axis: int | None, size: int = 16) -> np.ndarray:
    """Frames averaged down to at most ``size`` x ``size`` per channel, flattened (duplicate search)."""
    if channel_axis is None:
        flat = frames.reshape(frames.shape[0], -1)
        step = max(1, flat.shape[1] // 4096)
        return flat[:, ::step]
    return _pool_nchw(frames if channel_axis == 1 else frames.transpose(0, 3, 1, 2), size).reshape(frames.shape[0], -1)


def _pool_nchw(x: np.ndarray, size: int) -> np.ndarray:
    n, c, h, w = x.shape
    fh, fw = max(1, h // size), max(1, w // size)
    hh, ww = (h // fh) * fh, (w // fw) * fw
    return np.asarray(x[:, :, :hh, :ww].reshape(n, c, hh // fh, fh, ww // fw, fw).mean(axis=(3, 5)))


def _stats(array: np.ndarray, chunk: int = 64) -> _Stats:
    n = int(array.shape[0])
    axis = _channel_axis(array.shape)
    s_mean, s_std, s_min, s_max, s_channel, thumbs, feats = [], [], [], [], [], [], []
    total = total_sq = 0.0
    count = 0
    ch_sum = ch_sq = None
    picks = []
    every = max(1, (array.size // 2_000_000) + 1)
    for start in range(0, n, chunk):
        x = np.asarray(array[start : start + chunk], dtype=np.float64)
        x = np.where(np.isfinite(x), x, 0.0)
        flat = x.reshape(x.shape[0], -1)
        s_mean.append(flat.mean(axis=1))
        s_std.append(flat.std(axis=1))
        s_min.append(flat.min(axis=1) if flat.shape[1] else np.zeros(len(flat)))
        s_max.append(flat.max(axis=1) if flat.shape[1] else np.zeros(len(flat)))
        total += float(flat.sum())
        total_sq += float((flat * flat).sum())
        count += flat.size
        picks.append(flat.ravel()[::every])
        if axis is not None:
            nchw = x if axis == 1 else x.transpose(0, 3, 1, 2)
            s_channel.append(nchw.mean(axis=(2, 3)))
            c_sum, c_sq = nchw.sum(axis=(0, 2, 3)), (nchw * nchw).sum(axis=(0, 2, 3))
            ch_sum = c_sum if ch_sum is None else ch_sum + c_sum
            ch_sq = c_sq if ch_sq is None else ch_sq + c_sq
            thumbs.append(_pool_nchw(nchw, 32).mean(axis=1).astype(np.float32))
        feats.append(_pool(x, axis))
    mean = total / max(count, 1)
    std = math.sqrt(max(total_sq / max(count, 1) - mean * mean, 0.0))
    channel_std = None
    if ch_sum is not None and ch_sq is not None:
        per = count / len(ch_sum)
        channel_std = np.sqrt(np.maximum(ch_sq / per - (ch_sum / per) ** 2, 0.0))
    values = np.concatenate(picks) if picks else np.zeros(1)
    return _Stats(
        n=n, mean=mean, std=std, lo=float(np.percentile(values, 0.1)), hi=float(np.percentile(values, 99.9)),
        sample_mean=np.concatenate(s_mean), sample_std=np.concatenate(s_std),
        sample_min=np.concatenate(s_min), sample_max=np.concatenate(s_max), channel_axis=axis,
        sample_channel_mean=np.concatenate(s_channel) if s_channel else None, channel_std=channel_std,
        thumbs=np.concatenate(thumbs) if thumbs else None, features=np.concatenate(feats),
    )


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denominator) if denominator > 0 else 0.0


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def calibration_findings(
    calibration: CalibrationData, evaluation_data: LabelledData | CalibrationData
) -> list[CalibrationFinding]:
    """What is wrong with a calibration set, judged against the evaluation data (no model run).

    Pure NumPy over the arrays, one pass each: run it first, before any engine is built. A
    calibration set preprocessed differently from the data the engine will see (values not
    scaled, another mean/std, channels reversed, another layout, frames transposed, flipped
    or inverted) is a ``preprocessing-mismatch`` error; constant, all-black or over-exposed
    frames are ``outlier-frames``; frames that are near-copies of one another are
    ``near-duplicates``. Each lists the frames it flags; :func:`measure_effects` measures
    what they do to accuracy.
    """
    findings: list[CalibrationFinding] = []
    declared = _declared_mismatch(calibration.preprocessing, evaluation_data.preprocessing)
    for name in sorted(set(calibration.arrays) & set(evaluation_data.arrays)):
        cal, ev = np.asarray(calibration.arrays[name]), np.asarray(evaluation_data.arrays[name])
        if cal.ndim == 0 or ev.ndim == 0 or cal.dtype.kind not in "biuf" or ev.dtype.kind not in "biuf":
            continue
        if cal.shape[0] == 0:
            continue
        findings.extend(_input_findings(name, cal, ev))
    if declared:
        mismatched = any(f.kind == PREPROCESSING_MISMATCH for f in findings)
        findings.append(
            CalibrationFinding(
                kind=PREPROCESSING_MISMATCH,
                severity="error" if mismatched else "warning",
                message=f"The calibration images were declared with another preprocessing than the evaluation images ({declared}).",
                aspect="declared",
                samples=list(range(calibration.samples)),
            )
        )
    return findings


def _declared_mismatch(a: Any, b: Any) -> str:
    if a is None or b is None:
        return ""
    from workbench.preprocessing import as_preprocessing

    da, db = as_preprocessing(a).to_dict(), as_preprocessing(b).to_dict()
    diffs = [f"{k} {da[k]!r} against {db[k]!r}" for k in da if da.get(k) != db.get(k)]
    return "; ".join(diffs)


def _values_are_measurements(array: np.ndarray) -> bool:
    """Floats and uint8 (pixels, audio, features) are measurements; other integers and booleans
    are symbols (token ids, indices, masks) whose statistics mean nothing."""
    return array.dtype.kind == "f" or array.dtype == np.uint8


def _input_findings(name: str, cal: np.ndarray, ev: np.ndarray) -> list[CalibrationFinding]:
    every = list(range(int(cal.shape[0])))
    if cal.shape[1:] != ev.shape[1:]:
        same_dims = cal.ndim == ev.ndim and sorted(cal.shape[1:]) == sorted(ev.shape[1:])
        if same_dims:
            return [
                CalibrationFinding(
                    kind=PREPROCESSING_MISMATCH, severity="error", aspect="layout", input=name, samples=every,
                    message=(
                        f"{name!r}: calibration frames are {_shape_text(cal.shape[1:])}, evaluation frames "
                        f"{_shape_text(ev.shape[1:])}: the same dims in another order (NHWC against NCHW?), so the "
                        "calibration would see the input laid out wrong."
                    ),
                    details={"calibration_shape": list(cal.shape), "evaluation_shape": list(ev.shape)},
                )
            ]
        return [
            CalibrationFinding(
                kind=SHAPE_MISMATCH, severity="error", input=name, samples=every,
                message=f"{name!r}: calibration frames are {_shape_text(cal.shape[1:])}, evaluation frames {_shape_text(ev.shape[1:])}.",
                details={"calibration_shape": list(cal.shape), "evaluation_shape": list(ev.shape)},
            )
        ]
    if not _values_are_measurements(cal) or not _values_are_measurements(ev):
        # Token ids, indices, masks (a text or byte model's int32/int64 input): their values are
        # symbols, so brightness, contrast and near-copy checks say nothing about them.
        return []
    c, e = _stats(cal), _stats(ev)
    found = _mismatch(name, c, e, every)
    if found:
        return found
    results = []
    outliers = _outliers(name, c, e)
    if outliers is not None:
        results.append(outliers)
    duplicates = _duplicates(name, cal, c, set(outliers.samples) if outliers else set())
    if duplicates is not None:
        results.append(duplicates)
    return results


def _mismatch(name: str, c: _Stats, e: _Stats, every: list[int]) -> list[CalibrationFinding]:
    spread = e.std if e.std > 0 else max(abs(e.hi - e.lo), 1e-12)
    typical = e.typical_std > 1e-3 * spread
    # The typical frame's contrast and level (medians over frames): a few bad frames do not move them.
    ratio = (c.typical_std / e.typical_std) if typical else (c.std / spread)
    offset = abs(c.typical_mean - e.typical_mean) / spread
    (clo, chi), (elo, ehi) = c.typical_range, e.typical_range
    ranges = f"a typical frame spans {clo:.3g}..{chi:.3g} against {elo:.3g}..{ehi:.3g}"
    details = {
        "calibration": {"typical_mean": c.typical_mean, "typical_std": c.typical_std, "typical_range": [clo, chi]},
        "evaluation": {"typical_mean": e.typical_mean, "typical_std": e.typical_std, "typical_range": [elo, ehi]},
    }

    def finding(aspect: str, message: str, severity: str = "error", **extra: Any) -> list[CalibrationFinding]:
        return [
            CalibrationFinding(
                kind=PREPROCESSING_MISMATCH, severity=severity, aspect=aspect, input=name, samples=every,
                message=f"{name!r}: {message}", details={**details, **extra},
            )
        ]

    if ratio > 2.0 or ratio < 0.5:
        return finding(
            "scale",
            f"calibration values spread {ratio:.3g}x {'wider' if ratio > 1 else 'narrower'} than the evaluation data's "
            f"({ranges}): a scale step differs (raw pixels against /255 or /16, or normalised twice), so the "
            "calibrated ranges will not fit the data the engine sees.",
            ratio=ratio,
        )
    cm, em = c.mean_image, e.mean_image
    structured = cm is not None and em is not None and float(np.std(em)) > 0.1 * spread
    if structured and cm is not None and em is not None:
        direct = _corr(cm, em)
        if direct < -0.3:
            return finding(
                "inverted",
                f"the calibration frames look like negatives of the evaluation frames (their mean images correlate "
                f"{direct:.2f}; {ranges}): inverted pixels (255 - x) or a sign flip.",
                correlation=direct,
            )
    if offset > 0.5:
        return finding(
            "offset",
            f"calibration values are centred {offset:.2g} evaluation standard deviations away (typical frame mean "
            f"{c.typical_mean:.3g} against {e.typical_mean:.3g}; {ranges}): another mean/std normalisation.",
            severity="error" if offset >= 1.0 else "warning",
            offset=offset,
        )
    c_channels, e_channels = c.channel_mean, e.channel_mean
    if c_channels is not None and e_channels is not None and e.channel_std is not None and len(e_channels) == 3:
        scale = np.maximum(e.channel_std, 1e-6 * spread + 1e-12)
        direct_d = float(np.max(np.abs(c_channels - e_channels) / scale))
        reversed_d = float(np.max(np.abs(c_channels[::-1] - e_channels) / scale))
        if direct_d > 0.25 and reversed_d < 0.5 * direct_d:
            return finding(
                "channel-order",
                f"the calibration's channel means {_short(c_channels)} match the evaluation's {_short(e_channels)} "
                "only with the channels reversed: one set is RGB, the other BGR.",
                direct=direct_d, reversed=reversed_d,
            )
    if structured and cm is not None and em is not None:
        direct = _corr(cm, em)
        variants = {"flipped": (_corr(cm, em[::-1, :]), _corr(em, em[::-1, :]), "upside down")}
        if em.shape[0] == em.shape[1]:
            variants["transposed"] = (_corr(cm, em.T), _corr(em, em.T), "transposed (height and width swapped)")
        qualifying = [
            (score, aspect, words)
            for aspect, (score, symmetric, words) in variants.items()
            if symmetric < 0.9 and score > 0.5 and score > direct + 0.15
        ]
        if qualifying:
            score, aspect, words = max(qualifying)
            return finding(
                aspect,
                f"the calibration frames look {words} against the evaluation frames (mean images correlate "
                f"{score:.2f} that way, {direct:.2f} as they are): a layout or orientation step differs.",
                correlation=direct, correlation_changed=score,
            )
    return []


def _short(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in values) + "]"


def _robust(values: np.ndarray, floor: float) -> tuple[float, float]:
    median = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - median)))
    return median, max(mad, floor)


def _outliers(name: str, c: _Stats, e: _Stats) -> CalibrationFinding | None:
    spread = e.std if e.std > 0 else 1.0
    m_med, m_mad = _robust(e.sample_mean, 0.02 * spread)
    s_med, s_mad = _robust(e.sample_std, 0.02 * spread)
    z_mean = (c.sample_mean - m_med) / m_mad
    z_std = (c.sample_std - s_med) / s_mad
    flat = c.sample_std <= 0.02 * max(float(np.median(e.sample_std)), 1e-12)
    span = max(e.hi - e.lo, 1e-12)
    reasons: dict[int, str] = {}
    for i in range(c.n):
        if c.sample_max[i] > e.hi + 0.5 * span or c.sample_min[i] < e.lo - 0.5 * span:
            reasons[i] = "out of range"
        elif flat[i]:
            if c.sample_mean[i] <= e.lo + 0.05 * span:
                reasons[i] = "all-black"
            elif c.sample_mean[i] >= e.hi - 0.05 * span:
                reasons[i] = "over-exposed"
            else:
                reasons[i] = "constant"
        elif z_mean[i] > 6:
            reasons[i] = "over-exposed"
        elif z_mean[i] < -6:
            reasons[i] = "dark"
        elif abs(z_std[i]) > 6:
            reasons[i] = "unusual contrast"
    if not reasons or len(reasons) > 0.5 * c.n:
        return None  # none, or most of the set: that is a preprocessing difference, not outliers
    counts: dict[str, int] = {}
    for reason in reasons.values():
        counts[reason] = counts.get(reason, 0) + 1
    listed = sorted(reasons)
    shown = ", ".join(map(str, listed[:10])) + (", ..." if len(listed) > 10 else "")
    kinds = ", ".join(f"{n} {r}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return CalibrationFinding(
        kind=OUTLIER_FRAMES,
        severity="warning",
        input=name,
        samples=listed,
        message=(
            f"{name!r}: {len(listed)} of {c.n} calibration frames are outliers against the evaluation data ({kinds}; "
            f"frames {shown}): constant frames add nothing to the ranges, out-of-range and over-exposed ones "
            "stretch them (a max calibrator most)"
            + (
                ", and out-of-range frames make entropy calibration slow (its histogram grows with their range)."
                if "out of range" in counts
                else "."
            )
        ),
        details={"reasons": {str(i): r for i, r in reasons.items()}, "counts": counts},
    )


#: Centred cosine similarity at which two frames count as near-copies (digits of different
#: writers stay below 0.985; consecutive video frames of a still scene go above 0.995).
DUPLICATE_COSINE = 0.995
#: Frames searched for near-duplicates (the first ones; all pairs among them).
DUPLICATE_SEARCH = 4096


def _frame_mean(array: np.ndarray, n: int, chunk: int = 64) -> np.ndarray:
    """The mean frame of the first ``n`` frames (flattened), summed in chunks."""
    total = np.zeros(int(np.prod(array.shape[1:])), dtype=np.float64)
    for start in range(0, n, chunk):
        total += np.asarray(array[start : min(n, start + chunk)], dtype=np.float64).reshape(-1, total.size).sum(axis=0)
    return total / max(n, 1)


def _duplicates(name: str, cal: np.ndarray, c: _Stats, skip: set[int]) -> CalibrationFinding | None:
    n = min(c.n, DUPLICATE_SEARCH)
    if n < 2:
        return None
    feats = c.features[:n]
    feats = feats - feats.mean(axis=0)
    norms = np.linalg.norm(feats, axis=1)
    usable = (norms > 1e-9 * (float(norms.max()) + 1e-30)) & np.asarray([i not in skip for i in range(n)])
    unit = np.where(usable[:, None], feats / np.maximum(norms, 1e-30)[:, None], 0.0)
    full_mean = _frame_mean(cal, n)
    duplicate_of: dict[int, int] = {}
    block = 512
    for start in range(0, n, block):
        rows = unit[start : start + block]
        sims = rows @ unit[: start + len(rows)].T
        for r in range(len(rows)):
            i = start + r
            if not usable[i]:
                continue
            earlier = np.flatnonzero(sims[r, :i] >= DUPLICATE_COSINE - 0.005)
            for j in earlier[::-1]:
                if j in duplicate_of or not usable[j]:
                    continue
                a = np.asarray(cal[i], dtype=np.float64).ravel()
                b = np.asarray(cal[j], dtype=np.float64).ravel()
                a, b = a - full_mean, b - full_mean
                denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
                if denominator > 0 and float(np.dot(a, b)) / denominator >= DUPLICATE_COSINE:
                    duplicate_of[i] = int(j)
                    break
    if not duplicate_of:
        return None
    listed = sorted(duplicate_of)
    share = len(listed) / n
    shown = ", ".join(f"{i}~{duplicate_of[i]}" for i in listed[:8]) + (", ..." if len(listed) > 8 else "")
    searched = f" (the first {n} searched)" if n < c.n else ""
    return CalibrationFinding(
        kind=NEAR_DUPLICATES,
        severity="warning" if share >= 0.1 else "info",
        input=name,
        samples=listed,
        message=(
            f"{name!r}: {len(listed)} of {n} calibration frames{searched} are near-copies of an earlier frame "
            f"(centred cosine >= {DUPLICATE_COSINE}; {shown}): the set holds about {n - len(listed)} distinct frames."
        ),
        details={"duplicate_of": {str(i): j for i, j in duplicate_of.items()}, "cosine": DUPLICATE_COSINE},
    )


# ----------------------------------------------------------------------------- measured effects


def _subset_calibration(calibration: CalibrationData, indices: Sequence[int] | np.ndarray, source: str) -> CalibrationData:
    index = np.asarray(indices, dtype=np.int64)
    return CalibrationData(
        arrays={k: v[index] if np.ndim(v) else v for k, v in calibration.arrays.items()},
        source=source,
        synthetic=calibration.synthetic,
        preprocessing=calibration.preprocessing,
    )


def measure_effects(
    model: LoadedModel,
    data: LabelledData,
    calibration: CalibrationData,
    findings: list[CalibrationFinding],
    *,
    precision: str = "int8",
    calibrators: Sequence[str] = ("entropy",),
    workspace: Any = None,
    output: str | None = None,
    batch_size: int = 256,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    _context: _Context | None = None,
) -> list[CalibrationFinding]:
    """Each finding with its measured effect on accuracy, as a new list.

    Frames flagged as outliers or near-duplicates: quantized with all frames and without
    the flagged ones. A preprocessing mismatch (the whole set flagged): quantized with the
    set as given and instead with up to 128 samples of the evaluation data (preprocessed as
    the engine's inputs will be). Top-1 and kept top-1 on the labelled data, on the CPU, for
    each calibrator: ``effects`` holds them all, ``effect`` the one that moves most (the
    first calibrator when none moves).
    """
    if isinstance(calibrators, str):
        calibrators = [calibrators]
    ctx = _context or _reference(model, data, output, workspace, batch_size, cancelled)[0]
    cache: dict[tuple[str, str], PrecisionAccuracy] = {}

    def accuracy(cal: CalibrationData, calibrator: str) -> PrecisionAccuracy:
        key = (cal.content_hash(), calibrator)
        if key not in cache:
            _check_cancelled(cancelled)
            cache[key] = _candidate(ctx, precision, calibration=cal, calibrator=calibrator)
        return cache[key]

    measured = []
    for finding in findings:
        if finding.kind in (TOO_FEW_SAMPLES, SHAPE_MISMATCH) or not finding.samples:
            measured.append(finding)
            continue
        flagged = sorted(set(finding.samples))
        if finding.kind == PREPROCESSING_MISMATCH or len(flagged) >= calibration.samples:
            count = min(128, data.samples, max(calibration.samples, 8))
            picks = np.unique(np.linspace(0, data.samples - 1, count).round().astype(np.int64))
            clean_cal = data.as_calibration(picks)
            clean_cal.source = f"{len(picks)} samples of the evaluation data"
            how = (
                f"calibrated on the {calibration.samples} frames as given, and instead on {clean_cal.samples} "
                "samples of the evaluation data (its preprocessing)"
            )
        else:
            dropped = set(flagged)
            keep = [i for i in range(calibration.samples) if i not in dropped]
            clean_cal = _subset_calibration(calibration, keep, f"{calibration.source} without {len(flagged)} flagged frames")
            how = f"calibrated on all {calibration.samples} frames, and on the {len(keep)} left without the {len(flagged)} flagged"
        if progress:
            progress(f"measuring the effect of {finding.kind}" + (f" ({finding.aspect})" if finding.aspect else ""))
        effects = []
        for calibrator in calibrators:
            with_flagged, without = accuracy(calibration, calibrator), accuracy(clean_cal, calibrator)
            effects.append(
                FindingEffect(
                    metric="kept_top1",
                    with_flagged=with_flagged.kept_top1,
                    without_flagged=without.kept_top1,
                    delta=(without.kept_top1 - with_flagged.kept_top1)
                    if with_flagged.kept_top1 is not None and without.kept_top1 is not None
                    else None,
                    precision=precision,
                    calibrator=calibrator,
                    samples_with=calibration.samples,
                    samples_without=clean_cal.samples,
                    top1_with=with_flagged.top1,
                    top1_without=without.top1,
                    computed_by=with_flagged.computed_by,
                    how=f"{precision.upper()} ({calibrator}) {how}; top-1 on {data.samples} labelled samples "
                    f"({with_flagged.computed_by})",
                )
            )
        strongest = max(effects, key=lambda e: abs(e.delta) if e.delta is not None else -1.0)
        if strongest.delta is None or strongest.delta == 0:
            strongest = effects[0]
        measured.append(replace(finding, effect=strongest, effects=effects))
    return measured


# ----------------------------------------------------------------------------- the calibration study


def parse_keep(specs: Sequence[str] | dict[str, float] | None) -> dict[str, float]:
    """``["kept_top1=0.99"]`` -> ``{"kept_top1": 0.99}``, checked (also ``cosine``, ``top1``, ...)."""
    if specs is None:
        return {}
    items: list[tuple[str, Any]] = list(specs.items()) if isinstance(specs, dict) else []
    if not isinstance(specs, dict):
        for spec in specs:
            name, sep, text = str(spec).partition("=")
            if not sep:
                raise WorkbenchError(
                    f"Bad target {spec!r}: write METRIC=VALUE with METRIC one of {', '.join(KEEP_METRICS)}."
                )
            try:
                number = float(text)
            except ValueError as exc:
                raise WorkbenchError(f"Bad target {spec!r}: {text!r} is not a number.") from exc
            items.append((name.strip(), number))
    result: dict[str, float] = {}
    for key, value in items:
        metric = _KEEP_ALIASES.get(key, key)
        if metric not in KEEP_METRICS:
            raise WorkbenchError(f"Bad target {key!r}: the task metrics are {', '.join(KEEP_METRICS)}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise WorkbenchError(f"Bad target {key}={value!r}: the value must be a finite number.")
        result[metric] = float(value)
    return result


def meets(values: Any, keep: dict[str, float], reference_top1: float | None = None) -> bool:
    """Whether a point or a precision's accuracy meets every target of ``keep``."""
    for metric, limit in keep.items():
        if metric == "drop_top1":
            top1 = getattr(values, "top1", None)
            if top1 is None or reference_top1 is None:
                return False
            if reference_top1 - top1 > limit:
                return False
            continue
        value = getattr(values, metric, None)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if (KEEP_METRICS[metric] and value < limit) or (not KEEP_METRICS[metric] and value > limit):
            return False
    return True


def calibration_study(
    model: LoadedModel,
    data: LabelledData,
    calibration_pool: CalibrationData,
    counts: Sequence[int] = DEFAULT_COUNTS,
    calibrators: Sequence[str] = ("entropy", "max"),
    keep: dict[str, float] | Sequence[str] | None = None,
    *,
    precision: str = "int8",
    workspace: Any = None,
    output: str | None = None,
    seed: int = 0,
    measure_findings: bool = True,
    batch_size: int = 256,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CalibrationStudy:
    """Accuracy against calibration sample count and calibrator, and the findings' effects.

    The calibration frames of count ``c`` are the first ``c`` of one seeded shuffle of the
    pool (nested sets, so the curve measures the count, not a new draw). Each point is a
    real ModelOpt PTQ and a real run on the labelled data (ONNX Runtime on the CPU).
    ``smallest_count`` is the smallest count meeting ``keep`` (default ``kept_top1=0.99``)
    there and at every larger count measured. :func:`calibration_findings` runs first, before
    anything is built; with ``measure_findings`` each finding's effect is then measured.
    """
    from workbench.precision import PRECISION_INFO

    began = time.perf_counter()
    if precision not in PRECISION_INFO or not PRECISION_INFO[precision].quantized:
        quantized = ", ".join(p for p, i in PRECISION_INFO.items() if i.quantized)
        raise WorkbenchError(f"A calibration study is for a quantized precision ({quantized}), not {precision!r}.")
    targets = parse_keep(keep) if keep is not None else {"kept_top1": 0.99}
    chosen = [c for c in dict.fromkeys(calibrators)]
    if not chosen or any(c not in ("entropy", "max") for c in chosen):
        raise WorkbenchError(f"Calibrators must be entropy and/or max, not {', '.join(map(str, calibrators)) or 'none'}.")
    pool = calibration_pool.samples
    if pool < 1:
        raise WorkbenchError(f"The calibration pool {calibration_pool.source} holds no samples.")
    asked = sorted({int(c) for c in counts})
    if not asked or asked[0] < 1:
        raise WorkbenchError("Give sample counts of 1 or more, e.g. 8,32,128,512.")
    notes = []
    used = [c for c in asked if c <= pool]
    if len(used) < len(asked):
        skipped = [c for c in asked if c > pool]
        if pool not in used:
            used.append(pool)
        notes.append(
            f"the pool holds {pool} samples: count(s) {', '.join(map(str, skipped))} replaced by the whole pool ({pool})"
        )
    if precision == "fp8" and chosen != ["max"]:
        notes.append("ModelOpt calibrates FP8 with max whatever the calibrator asked: the entropy points are max too")
    # The cheap checks first: nothing is built before the data is judged.
    findings = calibration_findings(calibration_pool, data)
    if progress:
        for f in findings:
            progress(f"finding ({f.severity}): {f.message}")
        progress(f"fp32: running the reference on {data.samples} labelled samples")
    ctx, reference = _reference(model, data, output, workspace, batch_size, cancelled)
    order = np.random.default_rng(seed).permutation(pool)
    points: list[StudyPoint] = []
    for calibrator in chosen:
        for count in used:
            _check_cancelled(cancelled)
            subset = _subset_calibration(
                calibration_pool, np.sort(order[:count]), f"{count} of {calibration_pool.source}"
            )
            if progress:
                progress(f"{precision} {calibrator}, {count} calibration samples")
            result = _candidate(ctx, precision, calibration=subset, calibrator=calibrator)
            point = StudyPoint(
                samples=count, calibrator=calibrator, top1=result.top1, kept_top1=result.kept_top1,
                top5=result.top5, agreement_top1=result.agreement_top1, output_cosine=result.output_cosine,
                output_max_abs=result.output_max_abs, computed_by=result.computed_by,
                transform_seconds=result.transform_seconds, run_seconds=result.run_seconds,
            )
            point.meets = meets(point, targets, reference.top1)
            points.append(point)
    by_calibrator, smallest_count, smallest_calibrator = smallest_counts(points, chosen)
    findings.extend(curve_findings(points, chosen, targets, by_calibrator, pool, precision))
    if measure_findings and any(f.samples and f.kind != SHAPE_MISMATCH for f in findings):
        findings = measure_effects(
            model, data, calibration_pool, findings, precision=precision, calibrators=chosen,
            workspace=ctx.workspace, output=ctx.output, progress=progress, cancelled=cancelled, _context=ctx,
        )
    study = CalibrationStudy(
        precision=precision,
        reference=reference,
        points=points,
        smallest_count=smallest_count,
        smallest_calibrator=smallest_calibrator,
        smallest_by_calibrator=by_calibrator,
        keep=targets,
        findings=findings,
        counts=used,
        calibrators=chosen,
        pool_samples=pool,
        evaluation_samples=data.samples,
        seed=seed,
        notes=notes,
        seconds=time.perf_counter() - began,
        model=str(model.path),
        data_source=data.source,
        pool_source=calibration_pool.source,
        pool_synthetic=calibration_pool.synthetic,
    )
    if hasattr(ctx.workspace, "save_result"):
        ctx.workspace.save_result("calibration_study", study, label=model.name)
    return study


def smallest_counts(
    points: list[StudyPoint], calibrators: Sequence[str]
) -> tuple[dict[str, int | None], int | None, str | None]:
    """Per calibrator, the smallest count whose point meets the target and so does every
    larger count's (a lucky small count followed by a miss does not count); then the
    smallest of those and its calibrator (the one listed first on a tie)."""
    order = list(calibrators)
    by_calibrator: dict[str, int | None] = {}
    for calibrator in order:
        curve = sorted((p for p in points if p.calibrator == calibrator), key=lambda p: p.samples)
        by_calibrator[calibrator] = next(
            (p.samples for i, p in enumerate(curve) if all(q.meets for q in curve[i:])), None
        )
    reached = [(n, order.index(c), c) for c, n in by_calibrator.items() if n is not None]
    if not reached:
        return by_calibrator, None, None
    best = min(reached)
    return by_calibrator, best[0], best[2]


def _target_text(keep: dict[str, float]) -> str:
    return ", ".join(f"{k} {'>=' if KEEP_METRICS[k] else '<='} {v:g}" for k, v in keep.items())


def curve_findings(
    points: list[StudyPoint],
    calibrators: list[str],
    keep: dict[str, float],
    smallest: dict[str, int | None],
    pool: int,
    precision: str,
) -> list[CalibrationFinding]:
    """``too-few-samples`` from the measured curve, each with its effect (read off the curve)."""
    findings = []
    target = _target_text(keep)
    if all(v is None for v in smallest.values()):
        best = max(
            (p for p in points if p.kept_top1 is not None),
            key=lambda p: (p.kept_top1, -p.samples),
            default=None,
        )
        message = (
            f"No calibration count up to {max(p.samples for p in points)} meets {target} with "
            f"{' or '.join(calibrators)}"
            + (f" (best: kept top-1 {best.kept_top1:.4f} at {best.samples} with {best.calibrator})" if best else "")
            + ": more (or more representative) samples, another calibrator, or nodes kept in higher precision."
        )
        largest = [p for p in points if p.samples == max(q.samples for q in points)]
        effect = None
        if best is not None and largest:
            effect = FindingEffect(
                metric="kept_top1", with_flagged=largest[0].kept_top1, without_flagged=None, delta=None,
                precision=precision, calibrator=largest[0].calibrator, samples_with=largest[0].samples,
                top1_with=largest[0].top1, computed_by=largest[0].computed_by,
                how=f"read off the study: kept top-1 at the largest count, {largest[0].samples}",
            )
        findings.append(
            CalibrationFinding(kind=TOO_FEW_SAMPLES, severity="warning", message=message, effect=effect,
                               details={"target": keep})
        )
        return findings
    for calibrator in calibrators:
        curve = [p for p in points if p.calibrator == calibrator and p.kept_top1 is not None]
        if len(curve) < 2:
            continue
        last, before = curve[-1], curve[-2]
        assert last.kept_top1 is not None and before.kept_top1 is not None
        moved = last.kept_top1 - before.kept_top1
        # Still rising: more samples may help. (Falling with more samples means the added
        # frames hurt: the data's findings, outlier frames, say which.)
        if moved > 0.005:
            findings.append(
                CalibrationFinding(
                    kind=TOO_FEW_SAMPLES,
                    severity="warning" if last.samples >= pool else "info",
                    message=(
                        f"With {calibrator}, kept top-1 still moves by {moved:+.4f} between {before.samples} and "
                        f"{last.samples} calibration samples: the curve has not settled"
                        + (f", and the pool holds only {pool}" if last.samples >= pool else "")
                        + "; more samples may change the result."
                    ),
                    effect=FindingEffect(
                        metric="kept_top1", with_flagged=before.kept_top1, without_flagged=last.kept_top1, delta=moved,
                        precision=precision, calibrator=calibrator, samples_with=before.samples,
                        samples_without=last.samples, top1_with=before.top1, top1_without=last.top1,
                        computed_by=last.computed_by,
                        how=f"read off the study: {before.samples} against {last.samples} calibration samples",
                    ),
                    details={"calibrator": calibrator},
                )
            )
    return findings


# ----------------------------------------------------------------------------- keep precision for a task target


@dataclass
class AccuracyKeepTrial(JsonRecord):
    excluded: int
    met: bool
    top1: float | None
    kept_top1: float | None


@dataclass
class AccuracyKeepResult(JsonRecord):
    """The nodes to keep in higher precision so the quantized model meets a task-metric target."""

    precision: str
    nodes: list[str]
    met: bool
    trials: int
    keep: dict[str, float]
    reference: ReferenceAccuracy
    baseline: PrecisionAccuracy
    final: PrecisionAccuracy
    ranking: list[dict[str, Any]] = field(default_factory=list)
    history: list[AccuracyKeepTrial] = field(default_factory=list)
    computed_by: str = "onnxruntime-cpu"


def keep_precision_for_accuracy(
    model: LoadedModel,
    data: LabelledData,
    *,
    calibration: CalibrationData,
    keep: dict[str, float] | Sequence[str] | None = None,
    precision: str = "int8",
    calibrator: str = "entropy",
    workspace: Any = None,
    output: str | None = None,
    max_trials: int = 12,
    drift_samples: int = 16,
    batch_size: int = 256,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> AccuracyKeepResult:
    """Find a small set of nodes to keep out of quantization so the labelled accuracy meets ``keep``.

    The nodes are ranked by the error each adds itself, measured layer by layer on a few
    labelled samples (``workbench.compare.rank_by_drift``); the kept set grows 1, 2, 4, ...
    top-ranked nodes until the target is met on the labelled data, then bisects back to the
    smallest such count. Every trial is a real re-quantization (ModelOpt) and a real run.
    """
    import onnx

    from workbench.compare import layerwise_drift, rank_by_drift, run_model, smallest_keep_set
    from workbench.precision import PRECISION_INFO

    if not PRECISION_INFO[precision].quantized:
        quantized = ", ".join(p for p, i in PRECISION_INFO.items() if i.quantized)
        raise WorkbenchError(f"The keep-precision search is for quantized precisions: {quantized}.")
    targets = parse_keep(keep) if keep is not None else {"kept_top1": 0.99}
    if not targets:
        raise WorkbenchError("Give at least one target, e.g. --tolerance kept_top1=0.99.")
    findings = calibration_findings(calibration, data)
    errors = [f for f in findings if f.severity == "error"]
    if errors and progress:
        progress(f"calibration finding: {errors[0].message}")
    ctx, reference = _reference(model, data, output, workspace, batch_size, cancelled)
    original = model.load_full()
    probe = {k: v[: min(drift_samples, data.samples)] if v.ndim else v for k, v in data.arrays.items()}
    reference_all = run_model(str(model.path), probe, all_tensors=True)
    history: list[AccuracyKeepTrial] = []
    trials = 0

    def trial(nodes: list[str]) -> PrecisionAccuracy:
        nonlocal trials
        _check_cancelled(cancelled)
        trials += 1
        if progress:
            progress(f"trial {trials}: keeping {len(nodes)} node(s) in high precision")
        result = _candidate(ctx, precision, calibration=calibration, calibrator=calibrator, keep_precision=nodes)
        history.append(
            AccuracyKeepTrial(excluded=len(nodes), met=meets(result, targets, reference.top1),
                              top1=result.top1, kept_top1=result.kept_top1)
        )
        return result

    base = trial([])
    quantized = onnx.load(base.model_path)
    got_all = run_model(base.model_path, probe, all_tensors=True)
    ranking = rank_by_drift(layerwise_drift(reference_all, got_all, original), quantized, original)
    candidates = [r["node"] for r in ranking]

    def finish(nodes: list[str], final: PrecisionAccuracy) -> AccuracyKeepResult:
        result = AccuracyKeepResult(
            precision=precision, nodes=nodes, met=meets(final, targets, reference.top1), trials=trials, keep=targets,
            reference=reference, baseline=base, final=final, ranking=ranking, history=history,
            computed_by=final.computed_by,
        )
        if hasattr(ctx.workspace, "save_result"):
            ctx.workspace.save_result("keep_precision_accuracy", result, label=model.name)
        return result

    if meets(base, targets, reference.top1):
        return finish([], base)

    nodes, final = smallest_keep_set(
        candidates, original, base, trial, lambda r: meets(r, targets, reference.top1),
        lambda: trials < max_trials, lambda r: r.top1 or 0.0,
    )
    return finish(nodes, final)
