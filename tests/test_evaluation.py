"""Task accuracy on labelled data and the calibration-data checks, on a real trained model.

The model is the digits CNN of ``sample_models/digits_model.py``, trained here (module
fixture) on scikit-learn's 1,797 real handwritten digits; the labelled data is its held-out
split. Every INT8 figure is a real ModelOpt PTQ run in ONNX Runtime on the CPU.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from conftest import ROOT

from workbench.calibration import CalibrationData
from workbench.calibration import Preprocessing as CalibrationPreprocessing
from workbench.errors import WorkbenchError
from workbench.evaluation import (
    NEAR_DUPLICATES,
    OUTLIER_FRAMES,
    PREPROCESSING_MISMATCH,
    TOO_FEW_SAMPLES,
    CalibrationStudy,
    Evaluation,
    LabelledData,
    LabelledDataError,
    StudyPoint,
    calibration_findings,
    calibration_study,
    curve_findings,
    evaluate,
    keep_precision_for_accuracy,
    load_calibration_data,
    load_labelled,
    measure_effects,
    parse_keep,
    smallest_counts,
)
from workbench.model import load_model
from workbench.plots import calibration_study_figure, evaluation_figure
from workbench.precision import modelopt_available
from workbench.preprocessing import PRESETS, Preprocessing, PreprocessingError, load_preprocessing, to_tensor
from workbench.summary import summarize

BUILDER = ROOT / "sample_models" / "digits_model.py"
needs_modelopt = pytest.mark.skipif(
    not modelopt_available(), reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')"
)
needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None or importlib.util.find_spec("torch") is None,
    reason="the digits sample needs scikit-learn (its data) and torch (its training)",
)
pytestmark = needs_sklearn


def _builder():
    spec = importlib.util.spec_from_file_location("digits_model", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("digits")
    made = _builder().build_digits_model(out)
    model = load_model(made["model"])
    summary = summarize(model)
    data = load_labelled(made["eval"], summary.inputs)
    calibration = load_calibration_data(made["calibration"], summary.inputs)
    return {**made, "out": out, "loaded": model, "summary": summary, "data": data, "calib": calibration}


@pytest.fixture(scope="module")
def workspace_m(tmp_path_factory: pytest.TempPathFactory):
    from workbench.workspace import Workspace

    return Workspace(tmp_path_factory.mktemp("eval-ws"))


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _ort_scores(path: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"input": x})
    return scores


def _pixels(x: np.ndarray) -> np.ndarray:
    """The model's inputs (-1..1) as the 8-bit pixels they came from (0..255): unnormalised frames."""
    return np.round((x * 0.5 + 0.5) * 255).astype(np.float32)


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith("."), message
    assert "Traceback" not in message


# ----------------------------------------------------------------------------- the sample


def test_digits_sample_is_small_real_and_split(digits) -> None:
    assert sum(digits["files"].values()) < 2 * 2**20
    ev, cal = _npz(Path(digits["eval"])), _npz(Path(digits["calibration"]))
    assert ev["input"].shape == (297, 1, 8, 8) and ev["input"].dtype == np.float32
    assert ev["labels"].shape == (297,) and set(ev["labels"].tolist()) == set(range(10))
    assert cal["input"].shape == (512, 1, 8, 8) and cal["labels"].shape == (512,)
    # The held-out digits are none of the calibration (training) digits.
    seen = {row.tobytes() for row in cal["input"]}
    assert sum(row.tobytes() in seen for row in ev["input"]) < 5
    assert digits["summary"].inputs[0].shape == ["batch", 1, 8, 8]
    pre = load_preprocessing(digits["preprocessing"])
    assert pre.grayscale and pre.expected_range() == pytest.approx((-1.0, 1.0))
    # The calibration split's labels are not calibration data.
    assert set(digits["calib"].arrays) == {"input"}


def test_fp32_top1_measured_independently(digits, workspace_m) -> None:
    ev = _npz(Path(digits["eval"]))
    scores = _ort_scores(digits["model"], ev["input"])
    top1 = float(np.mean(np.argmax(scores, axis=1) == ev["labels"]))
    assert top1 >= 0.95
    evaluation = evaluate(digits["loaded"], digits["data"], ["fp32"], workspace=workspace_m)
    assert evaluation.reference.top1 == pytest.approx(top1)
    assert evaluation.reference.computed_by == "onnxruntime-cpu"
    assert evaluation.reference.n == 297


@pytest.mark.slow
def test_builder_is_deterministic(digits, tmp_path: Path) -> None:
    out = tmp_path / "again"
    subprocess.run([sys.executable, str(BUILDER), "--out", str(out)], check=True, capture_output=True, timeout=600)
    for name in digits["files"]:
        first = hashlib.sha256((Path(digits["out"]) / name).read_bytes()).hexdigest()
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == first, f"{name} differs between two builds"


# ----------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def evaluation(digits, workspace_m) -> Evaluation:
    if not modelopt_available():
        pytest.skip("NVIDIA Model Optimizer is not installed")
    return evaluate(
        digits["loaded"], digits["data"], ["fp32", "fp16", "int8", "fp8", "bf16"],
        calibration=digits["calib"], workspace=workspace_m,
    )


@needs_modelopt
def test_int8_keeps_fp32_top1(evaluation: Evaluation) -> None:
    by = {r.precision: r for r in evaluation.results}
    int8 = by["int8"]
    assert int8.available and int8.kept_top1 is not None
    assert int8.kept_top1 >= 0.99, f"INT8 keeps {int8.kept_top1:.4f} of FP32's top-1"
    assert int8.kept_top1 == pytest.approx(int8.top1 / evaluation.reference.top1)
    assert int8.calibrator == "entropy" and int8.calibration_samples == 512
    assert by["fp16"].kept_top1 is not None and by["fp16"].kept_top1 >= 0.99
    for r in evaluation.results:
        if r.available:
            assert r.top5 is not None and r.top1 is not None and r.top5 >= r.top1


@needs_modelopt
def test_each_figure_names_what_computed_it(evaluation: Evaluation) -> None:
    by = {r.precision: r for r in evaluation.results}
    assert by["fp32"].computed_by == by["fp16"].computed_by == by["int8"].computed_by == "onnxruntime-cpu"
    assert by["fp8"].computed_by == "onnx-reference-cpu" and by["fp8"].top1 is not None
    bf16 = by["bf16"]
    assert not bf16.available and bf16.top1 is None and bf16.computed_by == "none"
    assert "BF16" in (bf16.note or "") and "GPU" in (bf16.note or "")
    # The INT8 graph really is quantized: Q/DQ nodes in the file that was run.
    import onnx

    ops = {n.op_type for n in onnx.load(by["int8"].model_path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


@needs_modelopt
def test_json_contract_and_round_trip(evaluation: Evaluation) -> None:
    payload = json.loads(evaluation.to_json())
    assert {"precision", "top1", "top5", "n"} <= set(payload["reference"]) and payload["reference"]["precision"] == "fp32"
    for row in payload["results"]:
        assert {"precision", "top1", "top5", "kept_top1", "n", "computed_by"} <= set(row)
    again = Evaluation.from_json(evaluation.to_json())
    assert again == evaluation
    fig = evaluation_figure(evaluation)
    assert len(fig.data) == 2 and "onnx-reference-cpu" in " ".join(fig.data[0].x)


@pytest.fixture(scope="module")
def outlier_pool(digits) -> CalibrationData:
    """The calibration split plus 10 all-zero frames and 2 frames that skipped normalisation."""
    x = digits["calib"].arrays["input"]
    arrays = np.concatenate([x, np.zeros((10, 1, 8, 8), np.float32), _pixels(x[:2])])
    return CalibrationData({"input": arrays}, "calibration split + 12 bad frames")


@needs_modelopt
def test_regressions_equal_an_independent_computation(digits, outlier_pool, workspace_m) -> None:
    # Max calibration on frames that include two unnormalised ones: a quantized model that loses samples.
    evaluation = evaluate(
        digits["loaded"], digits["data"], ["int8"], calibration=outlier_pool, calibrator="max", workspace=workspace_m
    )
    int8 = evaluation.results[0]
    ev = _npz(Path(digits["eval"]))
    ref = np.argmax(_ort_scores(digits["model"], ev["input"]), axis=1)
    got = np.argmax(_ort_scores(int8.model_path, ev["input"]), axis=1)
    labels = ev["labels"]
    lost = np.flatnonzero((ref == labels) & (got != labels))
    assert len(lost) > 0, "the badly calibrated model should lose samples"
    assert [r.index for r in int8.regressions] == lost.tolist() and int8.regressions_total == len(lost)
    assert [r.prediction for r in int8.regressions] == got[lost].tolist()
    assert all(r.label == labels[r.index] == r.reference_prediction for r in int8.regressions)
    assert int8.improvements == int(((ref != labels) & (got == labels)).sum())
    assert int8.top1 == pytest.approx(float(np.mean(got == labels)))
    assert int8.agreement_top1 == pytest.approx(float(np.mean(got == ref)))
    # Per class, the changes add up to the change in correct samples.
    assert sum(c.change for c in int8.per_class) == int((got == labels).sum() - (ref == labels).sum())
    for c in int8.per_class:
        mask = labels == c.index
        assert c.n == mask.sum() and c.correct == int((got[mask] == c.index).sum())


# ----------------------------------------------------------------------------- calibration findings


def test_clean_calibration_has_no_findings(digits) -> None:
    assert calibration_findings(digits["calib"], digits["data"]) == []


@pytest.mark.parametrize(
    ("how", "aspect"),
    [("not scaled", "scale"), ("0..255 pixels", "scale"), ("transposed", "transposed"), ("inverted", "inverted")],
)
def test_mis_preprocessed_calibration_is_flagged(digits, how: str, aspect: str) -> None:
    x = digits["calib"].arrays["input"]
    bad = {
        "not scaled": (x * 0.5 + 0.5) * 16,  # the 0..16 ink levels, never normalised
        "0..255 pixels": _pixels(x),
        "transposed": x.transpose(0, 1, 3, 2),
        "inverted": -x,
    }[how]
    findings = calibration_findings(CalibrationData({"input": np.ascontiguousarray(bad)}, how), digits["data"])
    assert [(f.kind, f.aspect, f.severity) for f in findings] == [(PREPROCESSING_MISMATCH, aspect, "error")]
    assert findings[0].samples == list(range(512)) and findings[0].effect is None
    _one_sentence(findings[0].message)


def test_layout_mismatch_is_flagged(digits) -> None:
    x = digits["calib"].arrays["input"]
    nhwc = CalibrationData({"input": np.ascontiguousarray(x.transpose(0, 2, 3, 1))}, "NHWC frames")
    (finding,) = calibration_findings(nhwc, digits["data"])
    assert (finding.kind, finding.aspect) == (PREPROCESSING_MISMATCH, "layout")
    assert "NHWC" in finding.message


def test_outlier_and_duplicate_frames_are_flagged(digits, outlier_pool) -> None:
    (finding,) = calibration_findings(outlier_pool, digits["data"])
    assert finding.kind == OUTLIER_FRAMES and finding.samples == list(range(512, 524))
    assert finding.details["counts"] == {"constant": 10, "out of range": 2}
    x = digits["calib"].arrays["input"]
    copies = CalibrationData({"input": np.concatenate([x, x[:64] + np.float32(0.001)])}, "with copies")
    (duplicates,) = calibration_findings(copies, digits["data"])
    assert duplicates.kind == NEAR_DUPLICATES and duplicates.samples == list(range(512, 576))
    assert duplicates.details["duplicate_of"]["530"] == 18


@needs_modelopt
def test_finding_effects_are_measured(digits, outlier_pool, workspace_m) -> None:
    findings = calibration_findings(outlier_pool, digits["data"])
    # (Entropy calibration on these frames takes minutes: its histogram grows with their range.)
    (measured,) = measure_effects(
        digits["loaded"], digits["data"], outlier_pool, findings, calibrators=["max"], workspace=workspace_m
    )
    # Max stretches the input range over the two unnormalised frames: INT8 falls apart with them.
    effect = measured.effect
    assert effect is not None and measured.effects == [effect] and effect.calibrator == "max"
    assert effect.delta is not None and effect.delta > 0.1
    assert effect.without_flagged is not None and effect.without_flagged >= 0.99
    assert effect.samples_with == 524 and effect.samples_without == 512
    x = digits["calib"].arrays["input"]
    raw = CalibrationData({"input": _pixels(x)}, "0..255 pixels")
    (mismatch,) = measure_effects(
        digits["loaded"], digits["data"], raw, calibration_findings(raw, digits["data"]), workspace=workspace_m
    )
    assert mismatch.effect is not None and mismatch.effect.with_flagged is not None
    assert mismatch.effect.with_flagged < 0.5 and mismatch.effect.without_flagged >= 0.99
    assert "evaluation data" in mismatch.effect.how


# ----------------------------------------------------------------------------- the calibration study


@pytest.fixture(scope="module")
def study(digits, workspace_m) -> tuple[CalibrationStudy, list[str]]:
    if not modelopt_available():
        pytest.skip("NVIDIA Model Optimizer is not installed")
    messages: list[str] = []
    x = digits["calib"].arrays["input"]
    levels = (x[:1] * 0.5 + 0.5) * 16  # a frame left as 0..16 ink levels
    pool = CalibrationData({"input": np.concatenate([x, levels])}, "calibration split + 1 unnormalised frame")
    result = calibration_study(
        digits["loaded"], digits["data"], pool, [8, 32, 128], ["entropy", "max"], {"kept_top1": 0.99},
        workspace=workspace_m, progress=messages.append,
    )
    return result, messages


@needs_modelopt
def test_study_points_and_smallest_count(study) -> None:
    result, _ = study
    assert [(p.samples, p.calibrator) for p in result.points] == [
        (n, c) for c in ("entropy", "max") for n in (8, 32, 128)
    ]
    for p in result.points:
        assert p.top1 is not None and p.kept_top1 == pytest.approx(p.top1 / result.reference.top1)
        assert p.meets == (p.kept_top1 >= 0.99) and p.computed_by == "onnxruntime-cpu"
    expected: dict[str, int | None] = {}
    for calibrator in ("entropy", "max"):
        curve = [p for p in result.points if p.calibrator == calibrator]
        expected[calibrator] = next(
            (p.samples for i, p in enumerate(curve) if all(q.kept_top1 >= 0.99 for q in curve[i:])), None
        )
    assert result.smallest_by_calibrator == expected
    reached = [n for n in expected.values() if n is not None]
    assert result.smallest_count == (min(reached) if reached else None)
    assert result.smallest_count is not None, "INT8 should keep 99% of FP32's top-1 on the digits"
    payload = json.loads(result.to_json())
    assert {"points", "smallest_count", "findings"} <= set(payload)
    assert all({"samples", "calibrator", "top1", "kept_top1"} <= set(p) for p in payload["points"])
    assert all({"kind", "severity", "message", "effect"} <= set(f) for f in payload["findings"])
    assert CalibrationStudy.from_json(result.to_json()) == result
    fig = calibration_study_figure(result)
    assert [t.name.split(" ")[1] for t in fig.data] == ["entropy", "max"]


@needs_modelopt
def test_study_flags_the_data_before_building_and_measures_it(study) -> None:
    result, messages = study
    outliers = [f for f in result.findings if f.kind == OUTLIER_FRAMES]
    assert len(outliers) == 1 and outliers[0].samples == [512]
    first_build = next(i for i, m in enumerate(messages) if m.startswith("int8 "))
    flagged = next(i for i, m in enumerate(messages) if "outliers" in m)
    assert flagged < first_build
    effect = outliers[0].effect
    assert effect is not None and effect.samples_with == 513 and effect.samples_without == 512
    assert {e.calibrator for e in outliers[0].effects} == {"entropy", "max"}


def test_too_few_samples_is_read_off_the_curve() -> None:
    def point(n: int, kept: float) -> StudyPoint:
        return StudyPoint(samples=n, calibrator="entropy", top1=kept * 0.9, kept_top1=kept, meets=kept >= 0.99)

    rising = [point(8, 0.90), point(32, 0.95), point(128, 0.97)]
    (finding,) = curve_findings(rising, ["entropy"], {"kept_top1": 0.99}, {"entropy": None}, 128, "int8")
    assert finding.kind == TOO_FEW_SAMPLES and "128" in finding.message
    settled = [point(8, 0.97), point(32, 0.995), point(128, 0.996)]
    assert curve_findings(settled, ["entropy"], {"kept_top1": 0.99}, {"entropy": 32}, 512, "int8") == []
    moving = [point(8, 0.991), point(32, 0.992), point(128, 0.999)]
    (still,) = curve_findings(moving, ["entropy"], {"kept_top1": 0.99}, {"entropy": 8}, 128, "int8")
    assert still.kind == TOO_FEW_SAMPLES and still.effect is not None
    assert still.effect.delta == pytest.approx(0.007)
    # Falling at the largest count is not a shortage of samples (the outlier finding names the frames).
    falling = [point(8, 0.999), point(32, 0.999), point(128, 0.95)]
    assert curve_findings(falling, ["entropy"], {"kept_top1": 0.99}, {"entropy": None}, 128, "int8")[0].message.startswith("No calibration count")
    assert curve_findings([*falling[:2], point(128, 0.992)], ["entropy"], {"kept_top1": 0.99}, {"entropy": 8}, 128, "int8") == []


def test_smallest_count_needs_every_larger_count_to_keep_the_target() -> None:
    def point(n: int, calibrator: str, ok: bool) -> StudyPoint:
        return StudyPoint(samples=n, calibrator=calibrator, top1=None, kept_top1=None, meets=ok)

    points = [
        point(8, "entropy", True), point(32, "entropy", False), point(128, "entropy", True), point(512, "entropy", True),
        point(8, "max", False), point(32, "max", True), point(128, "max", True), point(512, "max", True),
    ]
    assert smallest_counts(points, ["entropy", "max"]) == ({"entropy": 128, "max": 32}, 32, "max")
    tie = [point(8, "entropy", False), point(32, "entropy", True), point(8, "max", False), point(32, "max", True)]
    assert smallest_counts(tie, ["max", "entropy"]) == ({"max": 32, "entropy": 32}, 32, "max")
    never = [point(8, "entropy", True), point(32, "entropy", False)]
    assert smallest_counts(never, ["entropy"]) == ({"entropy": None}, None, None)


def test_keep_targets_parse() -> None:
    assert parse_keep(["kept_top1=0.99", "cosine=0.999"]) == {"kept_top1": 0.99, "output_cosine": 0.999}
    for bad in (["kept_top1"], ["recall=0.9"], ["top1=nan"], ["top1=x"]):
        with pytest.raises(WorkbenchError) as info:
            parse_keep(bad)
        _one_sentence(info.value.message)


@needs_modelopt
def test_keep_precision_for_a_task_target(digits, workspace_m) -> None:
    x = digits["calib"].arrays["input"]
    pool = CalibrationData({"input": np.concatenate([x, _pixels(x[:2])])}, "two unnormalised frames")
    result = keep_precision_for_accuracy(
        digits["loaded"], digits["data"], calibration=pool, calibrator="max", keep=["kept_top1=0.99"],
        workspace=workspace_m,
    )
    assert result.baseline.kept_top1 is not None and result.baseline.kept_top1 < 0.99
    assert result.met and result.final.kept_top1 is not None and result.final.kept_top1 >= 0.99
    assert result.nodes and len(result.nodes) <= 4 and result.trials <= 12
    graph_nodes = {n.name for n in digits["loaded"].proto.graph.node}
    assert set(result.nodes) <= graph_nodes


# ----------------------------------------------------------------------------- labelled data intake


def _write_images(digits: dict, folder: Path, count: int = 100) -> list[Path]:
    from sklearn.datasets import load_digits

    raw = load_digits()
    levels, labels = raw.images[-297:][:count], raw.target[-297:][:count]
    return _builder().write_digit_images(folder, levels, labels)


def test_image_folder_and_zip_give_the_arrays(digits, tmp_path: Path) -> None:
    paths = _write_images(digits, tmp_path / "digits")
    inputs = digits["summary"].inputs
    folder = load_labelled(tmp_path / "digits", inputs, digits["preprocessing"])
    ev = _npz(Path(digits["eval"]))
    order = [int(p.stem) for p in sorted(paths)]
    assert folder.class_names == [str(i) for i in range(10)]
    assert folder.labels.tolist() == ev["labels"][order].tolist()
    assert np.allclose(folder.arrays["input"], ev["input"][order], atol=0.005)
    assert folder.sources == [str(p) for p in sorted(paths)]
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in paths:
            z.write(p, f"digits/{p.parent.name}/{p.name}")
    zipped = load_labelled(archive, inputs, digits["preprocessing"])
    assert np.array_equal(zipped.arrays["input"], folder.arrays["input"])
    assert zipped.labels.tolist() == folder.labels.tolist() and zipped.sources[0].startswith("digits/")
    # The same preprocessing object makes calibration frames from the same images.
    calib = load_calibration_data(tmp_path / "digits", inputs, digits["preprocessing"])
    assert np.array_equal(calib.arrays["input"], folder.arrays["input"])


def test_labels_file_sets_the_class_order(digits, tmp_path: Path) -> None:
    _write_images(digits, tmp_path / "digits", count=40)
    names = [str(9 - i) for i in range(10)]
    (tmp_path / "digits" / "labels.txt").write_text("".join(f"{n} digit {n}\n" for n in names))
    data = load_labelled(tmp_path / "digits", digits["summary"].inputs, digits["preprocessing"])
    assert data.class_names[0] == "digit 9"
    by_folder = {Path(s).parent.name for s in data.sources}
    assert by_folder <= set(names)
    for source, label in zip(data.sources, data.labels):
        assert names[label] == Path(source).parent.name


@needs_modelopt
def test_regressions_name_their_image_files(digits, outlier_pool, workspace_m, tmp_path: Path) -> None:
    _write_images(digits, tmp_path / "digits", count=297)
    data = load_labelled(tmp_path / "digits", digits["summary"].inputs, digits["preprocessing"])
    evaluation = evaluate(
        digits["loaded"], data, ["int8"], calibration=outlier_pool, calibrator="max", workspace=workspace_m
    )
    lost = evaluation.results[0].regressions
    assert lost and all(r.source is not None and r.source.endswith(".png") for r in lost)
    assert all(Path(r.source).parent.name == str(r.label) for r in lost if r.source)


def test_bad_labelled_data_is_one_sentence(digits, tmp_path: Path) -> None:
    inputs = digits["summary"].inputs
    x = digits["data"].arrays["input"]
    cases = {
        "no labels": ({"input": x}, "no 'labels' array"),
        "count": ({"input": x, "labels": np.zeros(296, np.int64)}, "296 labels but 297 samples"),
        "fractional": ({"input": x, "labels": np.full(297, 0.5)}, "not whole class indices"),
        "negative": ({"input": x, "labels": np.full(297, -1)}, "negative class indices"),
        "other key": ({"image": x, "labels": np.zeros(297, np.int64)}, "no array for input 'input'"),
    }
    for name, (arrays, words) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        with pytest.raises(LabelledDataError) as info:
            load_labelled(path, inputs)
        assert words in info.value.message, (name, info.value.message)
        _one_sentence(info.value.message)
    (tmp_path / "flat").mkdir()
    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(LabelledDataError, match="outside any class folder") as info:
        load_labelled(tmp_path / "flat", inputs)
    _one_sentence(info.value.message)
    with pytest.raises(LabelledDataError, match="does not exist"):
        load_labelled(tmp_path / "missing.npz", inputs)
    too_many = LabelledData({"input": x}, np.full(297, 12, np.int64), "labels beyond the classes")
    with pytest.raises(LabelledDataError, match="scores 10 classes") as info:
        evaluate(digits["loaded"], too_many, ["fp32"], workspace=None)
    _one_sentence(info.value.message)


def test_image_pixel_limit_applies(digits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_images(digits, tmp_path / "digits", count=10)
    monkeypatch.setenv("TRT_WORKBENCH_MAX_IMAGE_PIXELS", "32")
    with pytest.raises(WorkbenchError, match="TRT_WORKBENCH_MAX_IMAGE_PIXELS"):
        load_labelled(tmp_path / "digits", digits["summary"].inputs, digits["preprocessing"])


# ----------------------------------------------------------------------------- preprocessing


def _photo(width: int = 300, height: int = 200):
    from PIL import Image

    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), "RGB")


def _legacy_tensor(image: Any, height: int, width: int) -> np.ndarray:
    """How calibration made an image before the preprocessing record grew resize/crop/order:
    straight to the input size with Pillow's default filter, /255, ImageNet mean/std, CHW."""
    rgb = np.asarray(image.convert("RGB").resize((width, height)), dtype=np.float32) * np.float32(1.0 / 255.0)
    normalised = (rgb - np.asarray([0.485, 0.456, 0.406], np.float32)) / np.asarray([0.229, 0.224, 0.225], np.float32)
    return normalised.transpose(2, 0, 1).astype(np.float32)


def test_old_preprocessing_json_loads_and_gives_the_same_tensor(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    # A record written before the resize/crop/order fields existed.
    path.write_text(json.dumps({"height": 64, "width": 48, "layout": "NCHW", "scale": 1 / 255,
                                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "dtype": "float32"}))
    new = load_preprocessing(path)
    assert new.resize is None and new.crop is None and new.channel_order == "RGB" and not new.grayscale
    image = _photo()
    assert np.array_equal(to_tensor(image, new), _legacy_tensor(image, 64, 48))
    assert CalibrationPreprocessing is type(new)  # one preprocessing record for calibration and evaluation


def test_presets_resize_crop_and_order() -> None:
    image = _photo()
    tv = PRESETS["torchvision"].to_tensor(image)
    assert tv.shape == (3, 224, 224) and tv.dtype == np.float32
    # Resize(256) on the short side (300x200 -> 384x256), then the centre 224x224.
    resized = image.resize((384, 256), resample=2)  # bilinear
    crop = np.asarray(resized.crop((80, 16, 304, 240)), np.float32) / 255.0
    manual = ((crop - np.float32([0.485, 0.456, 0.406])) / np.float32([0.229, 0.224, 0.225])).transpose(2, 0, 1)
    assert np.allclose(tv, manual, atol=1e-5)
    bgr = Preprocessing.from_dict({**PRESETS["torchvision"].to_dict(), "channel_order": "BGR", "mean": [0.5], "std": [0.5]})
    rgb = Preprocessing.from_dict({**bgr.to_dict(), "channel_order": "RGB"})
    assert np.array_equal(bgr.to_tensor(image), rgb.to_tensor(image)[::-1])
    nhwc = Preprocessing.from_dict({**PRESETS["timm"].to_dict(), "layout": "NHWC"})
    assert nhwc.to_tensor(image).shape == (224, 224, 3)
    assert load_preprocessing("paddleclas").describe().startswith("resize short 256 bilinear, crop 224x224, RGB")
    none = load_preprocessing("none", shape=["N", 3, 32, 32]).to_tensor(image)
    assert none.shape == (3, 32, 32) and none.max() > 100  # raw 0..255 pixels, not scaled


def test_presets_fit_the_model_input() -> None:
    fitted = load_preprocessing("torchvision", shape=["batch", 1, 8, 8])
    assert (fitted.height, fitted.width, fitted.grayscale, fitted.crop, fitted.resize) == (8, 8, True, [8, 8], 9)
    assert load_preprocessing("timm", shape=[1, 299, 299, 3]).layout == "NHWC"
    assert fitted.to_tensor(_photo()).shape == (1, 8, 8)


def test_bad_preprocessing_is_one_sentence(tmp_path: Path) -> None:
    bad = {
        "typo": {"mena": [0.5]},
        "layout": {"layout": "CHW"},
        "std": {"std": [0.0]},
        "crop": {"crop": [224], "height": 224, "width": 224},
        "channels": {"mean": [0.1, 0.2]},
    }
    for name, values in bad.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(values))
        with pytest.raises(PreprocessingError) as info:
            load_preprocessing(path)
        _one_sentence(info.value.message)
    with pytest.raises(PreprocessingError, match="neither a preprocessing preset"):
        load_preprocessing("imagenet")
    assert load_preprocessing('{"preset": "timm", "crop": 256}').height == 256


def test_cli_evaluate_and_calib_study_json_contracts(digits: dict, tmp_path: Path) -> None:
    import json

    from conftest import run_cli

    made = digits
    model, data, calib, pre = (str(made[k]) for k in ("model", "eval", "calibration", "preprocessing"))
    done = run_cli("evaluate", model, data, "--precision", "fp16,int8", "--calib", calib, "--preprocessing", pre, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"precision", "top1", "top5", "n"} <= set(out["reference"]) and out["reference"]["precision"] == "fp32"
    for row in out["results"]:
        assert {"precision", "top1", "top5", "kept_top1", "n", "computed_by"} <= set(row)
        assert row["kept_top1"] == pytest.approx(row["top1"] / out["reference"]["top1"])
    study = run_cli(
        "calib-study", model, data, "--calib", calib, "--preprocessing", pre, "--sample-counts", "8,32",
        "--calibrator", "entropy", "--keep", "kept_top1=0.99", "--no-effects", "--json",
    )
    assert study.returncode == 0, study.stderr
    result = json.loads(study.stdout)
    assert {"points", "smallest_count", "findings"} <= set(result)
    assert [p["samples"] for p in result["points"]] == [8, 32]
    for point in result["points"]:
        assert {"samples", "calibrator", "top1", "kept_top1"} <= set(point)
    assert result["smallest_count"] in (8, 32)
    bad = run_cli("calib-study", model, data, "--calib", calib, "--sample-counts", "8,x")
    assert bad.returncode == 2 and "Bad --counts" in bad.stderr


def test_evaluate_and_calib_study_take_the_data_as_data_flag_too(tmp_path: Path) -> None:
    """The issue's contract spells it ``evaluate MODEL --data DATA --preprocess P``; the
    positional DATA is the same argument, and giving both (differently) or neither is refused."""
    from conftest import run_cli

    bundled = ROOT / "workbench" / "bundled_models"
    data = str(bundled / "digits_eval.npz")
    flag = run_cli("evaluate", "sample:digits_cnn", "--data", data, "--precision", "fp32", "--preprocess", "none", "--json")
    positional = run_cli("evaluate", "sample:digits_cnn", data, "--precision", "fp32", "--json")
    assert flag.returncode == positional.returncode == 0, flag.stderr + positional.stderr
    a, b = json.loads(flag.stdout)["reference"], json.loads(positional.stdout)["reference"]
    assert (a["top1"], a["top5"], a["n"]) == (b["top1"], b["top5"], b["n"]) and a["n"] == 297
    both = run_cli("evaluate", "sample:digits_cnn", data, "--data", str(bundled / "digits_calib.npz"))
    assert both.returncode == 2 and "Give the labelled data once" in both.stderr
    neither = run_cli("calib-study", "sample:digits_cnn", "--calib", str(bundled / "digits_calib.npz"))
    assert neither.returncode == 2 and "Give the labelled data: DATA or --data DATA" in neither.stderr


def test_token_inputs_get_no_image_findings_but_a_wrong_shape_still_counts() -> None:
    """A byte or text model's int32 token ids (values 0..256) are symbols: no brightness,
    outlier or near-duplicate findings; a frame of another length is still an error."""
    from workbench.calibration import CalibrationData
    from workbench.evaluation import calibration_findings

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 257, size=(64, 512)).astype(np.int32)
    tokens[:6] = 256  # all padding: an "all-black frame" if these were pixels
    tokens[10:16] = tokens[9]  # copies: "near-duplicates" if these were frames
    evaluation = CalibrationData({"bytes": rng.integers(0, 257, size=(64, 512)).astype(np.int32)}, "eval")
    assert calibration_findings(CalibrationData({"bytes": tokens}, "calib"), evaluation) == []
    short = CalibrationData({"bytes": tokens[:, :256]}, "calib")
    (finding,) = calibration_findings(short, evaluation)
    assert finding.severity == "error" and "512" in finding.message
    pixels = CalibrationData({"bytes": tokens.astype(np.float32)}, "calib")  # the same values as measurements
    assert any(f.kind == "outlier-frames" for f in calibration_findings(pixels, CalibrationData(
        {"bytes": evaluation.arrays["bytes"].astype(np.float32)}, "eval")))
