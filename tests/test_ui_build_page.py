"""The Build page in Streamlit's AppTest, with real TensorRT-RTX builds."""

from __future__ import annotations

import pytest
from conftest import ROOT, requires_rtx

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

pytestmark = [pytest.mark.rtx, requires_rtx]


def _app_on(sample_name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    box = at.selectbox(key="model_sample")
    at = box.select(next(o for o in box.options if sample_name in o)).run()
    at.switch_page("workbench/ui/build_page.py")
    return at.run()


def test_build_two_precisions_and_see_the_results() -> None:
    at = _app_on("detector.onnx")
    assert not at.exception
    at = at.multiselect(key="build_precisions").set_value(["fp32", "fp16"]).run()
    at = at.button(key="build_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["precision"]) == ["fp32", "fp16"]
    assert all(table["ok"])
    assert table["engine MiB"][0] > table["engine MiB"][1]
    assert any("Built with tensorrt-rtx" in c.value for c in at.caption)


def test_refused_precision_is_explained_before_building() -> None:
    at = _app_on("detector.onnx")
    at = at.multiselect(key="build_targets").set_value(["sm80"]).run()
    at = at.multiselect(key="build_precisions").set_value(["fp8"]).run()
    assert any("FP8 cannot be built for SM80" in w.value for w in at.warning)
    assert any("calibration data" in i.value for i in at.info)


def test_calibration_upload_is_checked_before_building() -> None:
    import io

    import numpy as np

    at = _app_on("resnet_cnn.onnx")
    at = at.multiselect(key="build_precisions").set_value(["int8"]).run()
    buffer = io.BytesIO()
    np.savez(buffer, input=np.zeros((3, 3, 224, 200), np.float32))
    at = (
        at.file_uploader(key="build_calib_upload")
        .set_value(("calib.npz", buffer.getvalue(), "application/octet-stream"))
        .run()
    )
    assert not at.exception
    assert any("axis 3, the model fixes it to 224" in e.value for e in at.error)
    assert any("Only 3 sample(s)" in w.value for w in at.warning)


def test_report_page_after_a_build() -> None:
    at = _app_on("detector.onnx")
    at = at.multiselect(key="build_precisions").set_value(["fp32"]).run()
    at = at.button(key="build_run").click().run()
    at.switch_page("workbench/ui/report_page.py")
    at = at.run()
    at = at.button(key="report_run").click().run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download report.html" in labels and "Download report.json" in labels
    assert any("trtexec --onnx=detector.onnx" in c.value for c in at.code)
