"""The Accuracy and Timing pages in Streamlit's AppTest (real ModelOpt, ONNX Runtime)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from workbench.env import collect_environment
from workbench.precision import modelopt_available
from workbench.ui.accuracy_page import NEEDS_CALIBRATION

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def _app_on(sample_name: str, page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    box = at.selectbox(key="model_sample")
    at = box.select(next(o for o in box.options if sample_name in o)).run()
    at.switch_page(f"workbench/ui/{page}.py")
    return at.run()


@pytest.mark.skipif(not modelopt_available(), reason="NVIDIA Model Optimizer is not installed")
def test_accuracy_page_shows_drift_for_two_precisions() -> None:
    at = _app_on("detector.onnx", "accuracy_page")
    assert not at.exception
    # INT8 without calibration data: one sentence, and nothing runs until synthetic data is chosen.
    at = at.button(key="acc_run").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [NEEDS_CALIBRATION]
    assert not at.dataframe and at.session_state["trt_workbench_session"].comparison is None
    at = at.checkbox(key="acc_synthetic_calib").check().run()
    at = at.button(key="acc_run").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table["precision"]) == {"fp16", "int8"}
    assert set(table["computed by"]) == {"onnxruntime-cpu"}
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    drift = next(c for c in charts if "drift" in c["layout"]["title"]["text"])
    assert drift["layout"]["yaxis"]["type"] == "log"
    assert {t["name"].split(" ")[0] for t in drift["data"]} == {"FP16", "INT8"}


def test_timing_page_says_cpu_and_profiles() -> None:
    if collect_environment().gpus:
        pytest.skip("a GPU is present: the CPU-only banner does not apply")
    at = _app_on("detector.onnx", "timing_page")
    assert not at.exception
    assert any("no GPU here" in w.value for w in at.warning)
    at = at.button(key="timing_run").click().run()
    assert not at.exception
    assert any(h.value.startswith("onnxruntime on cpu") for h in at.subheader)
    assert any(m.label == "p99 ms" for m in at.metric)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.startswith("Slowest layers: onnxruntime on cpu") for t in titles)
