"""The Accuracy page's labelled-data section in Streamlit's AppTest, on the bundled digits
sample: real ModelOpt transforms, real ONNX Runtime runs, figures checked against an
independent ONNX Runtime computation of the same models on the same bundled files."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import onnxruntime as ort
import pytest
from conftest import ROOT, SAMPLES, files_under

from workbench.precision import modelopt_available

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

needs_modelopt = pytest.mark.skipif(
    not modelopt_available(), reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')"
)

EVAL = SAMPLES / "digits_eval.npz"
CALIB = SAMPLES / "digits_calib.npz"
MODEL = SAMPLES / "digits_cnn.onnx"


def _app_on_digits() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    box = at.selectbox(key="model_sample")
    at = box.select(next(o for o in box.options if "digits_cnn.onnx" in o)).run()
    at.switch_page("workbench/ui/accuracy_page.py")
    at = at.run()
    assert not at.exception
    return at


def _radio(at: AppTest, prefix: str):
    return next(r for r in at.radio if r.key and r.key.startswith(prefix))


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _outlier_pool() -> np.ndarray:
    """The bundled calibration split plus 10 all-zero frames and 2 frames that skipped
    normalisation (pixels 0..255 instead of -1..1): max calibration on it loses samples."""
    x = np.load(CALIB)["input"]
    unnormalised = np.round((x[:2] * 0.5 + 0.5) * 255.0).astype(np.float32)
    return np.concatenate([x, np.zeros((10, 1, 8, 8), np.float32), unnormalised])


def _predict(path: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": x})
    return np.argmax(logits, axis=1)


def _state(at: AppTest):
    from workbench.ui.accuracy_page import LABELLED_KEY

    return at.session_state[LABELLED_KEY]


def _table(at: AppTest):
    return next(d.value for d in at.dataframe if "kept_top1" in d.value.columns and "precision" in d.value.columns)


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _one_sentence(at: AppTest) -> str:
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    (message,) = errors
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    return message


@needs_modelopt
def test_digits_fp32_fp16_int8_with_the_regressions_and_their_images() -> None:
    at = _app_on_digits()
    # The bundled digits are the default demo: labelled data and calibration split preselected.
    assert _radio(at, "lab_source").value == "The sample's labelled data"
    assert _radio(at, "lab_calib_source").value == "The sample's calibration split"
    assert at.multiselect(key="lab_precisions").value == ["fp32", "fp16", "int8"]
    assert any(c.value.startswith("Labelled data: digits_eval.npz, 297 samples, 10 classes") for c in at.caption)

    # A calibration set with outlier frames, calibrated with max: an INT8 model that loses samples.
    at = _radio(at, "lab_calib_source").set_value("Upload calibration data").run()
    pool = _outlier_pool()
    at = at.file_uploader(key="lab_calib_upload").set_value(
        ("outliers.npz", _npz_bytes(input=pool), "application/octet-stream")
    ).run()
    at = at.selectbox(key="lab_calibrator").set_value("max").run()
    at = at.button(key="lab_run").click().run()
    assert not at.exception and not at.error

    ev = np.load(EVAL)
    x, labels = ev["input"], ev["labels"]
    state = _state(at)
    ((evaluation, data, calibration),) = state.evaluations.values()
    assert calibration == "outliers.npz (524 samples)"
    ref = _predict(str(MODEL), x)
    got = _predict(evaluation.result("int8").model_path, x)
    lost = np.flatnonzero((ref == labels) & (got != labels))
    assert len(lost) > 0, "the badly calibrated INT8 model should lose samples"

    table = _table(at)
    assert list(table["precision"]) == ["fp32", "fp16", "int8"]
    assert set(table["computed_by"]) == {"onnxruntime-cpu"} and set(table["n"]) == {297}
    rows = {r["precision"]: r for r in table.to_dict("records")}
    assert rows["fp32"]["top-1"] == pytest.approx(float(np.mean(ref == labels)))
    assert rows["int8"]["top-1"] == pytest.approx(float(np.mean(got == labels)))
    assert rows["int8"]["kept_top1"] == pytest.approx(float(np.mean(got == labels)) / float(np.mean(ref == labels)))
    assert rows["int8"]["lost"] == len(lost)
    assert rows["int8"]["calibration"] == "outliers.npz (524 samples), max"
    # The outliers are named before anything is built, as a finding.
    assert any("outlier-frames" in w.value and "12 of 524" in w.value for w in at.warning)

    charts = _charts(at)
    accuracy = next(c for c in charts if c["layout"]["title"]["text"].startswith("Task accuracy"))
    assert all("onnxruntime-cpu" in label for label in accuracy["data"][0]["x"])
    per_class = next(c for c in charts if c["layout"]["title"]["text"].startswith("Per-class change"))
    int8 = next(t for t in per_class["data"] if t["name"] == "INT8 (onnxruntime-cpu)")
    for c, change in zip(int8["x"], int8["y"]):
        mask = labels == int(c)
        assert change == int((got[mask] == labels[mask]).sum()) - int((ref[mask] == labels[mask]).sum())

    # The regressions: browsable with their images, the first page in sample order.
    images = at.get("image")
    assert len(images) == min(24, len(lost))
    first = lost[0]
    assert images[0].captions == [f"#{first}: label {labels[first]}, FP32 {ref[first]}, INT8 {got[first]}"]
    assert images[0].value[0].endswith(".png")
    from workbench.ui.accuracy_page import sample_image

    digit = x[first, 0].astype(np.float64)
    expected = np.round((digit - digit.min()) / (digit.max() - digit.min()) * 255.0).astype(np.uint8)
    assert np.array_equal(sample_image(data, int(first)), np.kron(expected, np.ones((12, 12), np.uint8)))

    # The same run asked again is looked up by content, not recomputed (nothing new saved).
    saved = len(at.session_state["trt_workbench_session"].workspace.results("evaluation"))
    assert saved >= 1
    started = time.monotonic()
    at = at.button(key="lab_run").click().run()
    assert not at.exception
    assert time.monotonic() - started < 10
    assert any("its result, looked up" in c.value for c in at.caption)
    assert len(at.session_state["trt_workbench_session"].workspace.results("evaluation")) == saved
    assert list(_table(at)["precision"]) == ["fp32", "fp16", "int8"]


@needs_modelopt
def test_synthetic_calibration_is_labelled_synthetic_wherever_shown() -> None:
    at = _app_on_digits()
    at = at.multiselect(key="lab_precisions").set_value(["fp32", "int8"]).run()
    at = _radio(at, "lab_calib_source").set_value(_radio(at, "lab_calib_source").options[-1]).run()
    assert any(w.value.startswith("SYNTHETIC calibration") for w in at.warning)
    at = at.button(key="lab_run").click().run()
    assert not at.exception and not at.error
    row = _table(at).to_dict("records")[1]
    assert row["precision"] == "int8" and row["calibration"].startswith("SYNTHETIC (")
    accuracy = next(c for c in _charts(at) if c["layout"]["title"]["text"].startswith("Task accuracy"))
    assert "calibration SYNTHETIC" in accuracy["layout"]["title"]["text"]


def test_bad_labelled_uploads_give_one_sentence_and_write_nothing() -> None:
    at = _app_on_digits()
    workspace = at.session_state["trt_workbench_session"].workspace.root
    before = files_under(workspace)
    at = _radio(at, "lab_source").set_value("Upload labelled data").run()
    assert at.button(key="lab_run").disabled  # nothing to evaluate yet

    at = at.file_uploader(key="lab_upload").set_value(
        ("junk.npz", b"this is not a NumPy archive at all", "application/octet-stream")
    ).run()
    message = _one_sentence(at)
    assert message.startswith("junk.npz")
    assert at.button(key="lab_run").disabled

    no_labels = _npz_bytes(input=np.load(EVAL)["input"])
    at = at.file_uploader(key="lab_upload").set_value(("inputs.npz", no_labels, "application/octet-stream")).run()
    message = _one_sentence(at)
    assert message.startswith("inputs.npz has no 'labels' array") and "'input'" in message
    assert at.button(key="lab_run").disabled
    assert files_under(workspace) == before

    # A good upload after the bad ones is taken.
    good = _npz_bytes(input=np.load(EVAL)["input"][:50], labels=np.load(EVAL)["labels"][:50])
    at = at.file_uploader(key="lab_upload").set_value(("fifty.npz", good, "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Labelled data: fifty.npz, 50 samples") for c in at.caption)
    assert not at.button(key="lab_run").disabled


@needs_modelopt
def test_calibration_study_shows_its_chart_smallest_count_and_measured_findings() -> None:
    at = _app_on_digits()
    at = _radio(at, "lab_calib_source").set_value("Upload calibration data").run()
    at = at.file_uploader(key="lab_calib_upload").set_value(
        ("outliers.npz", _npz_bytes(input=_outlier_pool()), "application/octet-stream")
    ).run()
    at = at.text_input(key="lab_counts").set_value("16,64").run()
    # max: ModelOpt's entropy calibrator on frames of 0..255 among -1..1 ones takes minutes on a CPU.
    at = at.multiselect(key="lab_calibrators").set_value(["max"]).run()
    at = at.button(key="lab_study_run").click().run()
    assert not at.exception and not at.error

    ((study, label),) = _state(at).studies.values()
    assert label == "outliers.npz (524 samples)"
    assert [(p.calibrator, p.samples) for p in study.points] == [("max", 16), ("max", 64)]
    # smallest_count: the smallest count meeting kept_top1 >= 0.99 there and at every larger count.
    meets = [p.kept_top1 is not None and p.kept_top1 >= 0.99 for p in study.points]
    expected = next((p.samples for i, p in enumerate(study.points) if all(meets[i:])), None)
    assert study.smallest_count == expected
    metric = next(m for m in at.metric if m.label.startswith("Smallest count keeping kept_top1"))
    assert metric.value == (str(expected) if expected is not None else "none measured")

    chart = next(c for c in _charts(at) if "against calibration samples" in c["layout"]["title"]["text"])
    assert "calibration outliers.npz (524 samples)" in chart["layout"]["title"]["text"]
    (line,) = chart["data"]
    assert line["name"] == "INT8 max (onnxruntime-cpu)" and line["x"] == [16, 64]
    assert line["y"] == pytest.approx([p.kept_top1 for p in study.points])
    points = next(d.value for d in at.dataframe if "meets" in d.value.columns)
    assert list(points["samples"]) == [16, 64] and set(points["computed_by"]) == {"onnxruntime-cpu"}

    # The outliers as a finding, with the effect measured by re-quantizing without them.
    outliers = next(f for f in study.findings if f.kind == "outlier-frames")
    assert outliers.effect is not None and outliers.effect.without_flagged is not None
    shown = next(w.value for w in at.warning if "outlier-frames" in w.value)
    assert "Measured effect (INT8 max, onnxruntime-cpu)" in shown
    assert f"{outliers.effect.without_flagged:.4f} without" in shown
