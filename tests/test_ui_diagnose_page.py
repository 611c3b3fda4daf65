"""The Diagnose & fix page in Streamlit's AppTest, with the real TensorRT-RTX parser."""

from __future__ import annotations

import pytest
from conftest import ROOT, requires_rtx

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

pytestmark = [pytest.mark.rtx, requires_rtx]


def _app_on(sample_name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    box = at.selectbox(key="model_sample")
    at = box.select(next(o for o in box.options if sample_name in o)).run()
    at.switch_page("workbench/ui/diagnose_page.py")
    return at.run()


def _press(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def test_diagnose_apply_fix_and_undo() -> None:
    at = _app_on("broken_reduce_axes_subgraph.onnx")
    assert not at.exception
    at = _press(at, "Diagnose")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "**Parse:** fails" in text
    assert any("/pool/ReduceMean" in e.label for e in at.expander)
    at = _press(at, "Apply: Fold constants")
    assert not at.exception
    history = " ".join(m.value for m in at.markdown)
    assert "Fold constants" in history and "outputs match the original" in history
    assert any("No errors" in s.value for s in at.success)
    labels = [b.label for b in at.get("download_button")]
    assert labels and any("fixed model" in str(b.proto.label) for b in at.get("download_button"))
    at = _press(at, "Undo last fix")
    assert not at.exception
    # Back to the original: its parse error is shown again and the fix left the history.
    text = " ".join(m.value for m in at.markdown)
    assert "**Parse:** fails" in text
    assert any("/pool/ReduceMean" in e.label for e in at.expander)
    assert not any("No errors" in s.value for s in at.success)
    assert "outputs match the original" not in text


def test_auto_fix_with_manifest_shapes() -> None:
    at = _app_on("broken_shared_dim_names.onnx")
    assert at.text_area(key="diagnose_shapes").value == "image:1x3x32x48"
    at = _press(at, "Diagnose")
    assert any("build error" in e.label for e in at.expander)
    at = _press(at, "Auto-fix")
    assert not at.exception
    assert any("No errors" in s.value for s in at.success)
    assert "Rename clashing symbolic dims" in " ".join(m.value for m in at.markdown)


def test_bad_shapes_give_one_sentence() -> None:
    at = _app_on("detector.onnx")
    at.text_area(key="diagnose_shapes").set_value("image=1x3")
    at = _press(at, "Diagnose")
    assert not at.exception
    assert any("NAME:DIMS" in e.value for e in at.error)


def test_graph_marks_the_failing_nodes() -> None:
    import json

    at = _app_on("broken_contrib_ops.onnx")
    at = _press(at, "Diagnose")
    graphs = [
        json.loads(c.proto.json_args)
        for c in at.get("component_instance")
        if c.proto.component_name == "workbench.ui.graph_component.graph"
    ]
    assert graphs, "the graph view is missing"
    args = graphs[0]
    assert args["overlay"] == "status"
    status = next(o for o in args["graph"]["overlays"] if o["id"] == "status")
    assert status["values"]["/mlp/fc1/FusedMatMul"] == "error"
    node = next(n for n in args["graph"]["nodes"] if n["id"] == "/mlp/fc1/FusedMatMul")
    assert node["notes"][0]["source"] == "parse error"
