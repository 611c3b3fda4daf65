"""The Model page in Streamlit's AppTest: sample, upload, bad upload, server path."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, sample

from workbench.summary import ModelSummary

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def _summary_json(at: AppTest) -> ModelSummary:
    codes = [c.value for c in at.code if c.language == "json"]
    assert codes, "the summary JSON expander is missing"
    return ModelSummary.from_dict(json.loads(codes[-1]))


def test_opens_on_the_bundled_cnn() -> None:
    at = _app().run()
    assert not at.exception
    summary = _summary_json(at)
    assert summary.name == "resnet_cnn.onnx"
    assert any(m.label == "Nodes" and m.value == "70" for m in at.metric)
    assert at.get("plotly_chart"), "operator histogram missing"
    assert any("optimization profile" in i.value for i in at.info)


def test_switching_sample_updates_summary() -> None:
    at = _app().run()
    box = at.selectbox(key="model_sample")
    label = next(o for o in box.options if "broken_contrib_ops.onnx" in o)
    at = box.select(label).run()
    assert not at.exception
    assert _summary_json(at).name == "broken_contrib_ops.onnx"
    assert any("com.microsoft" in w.value for w in at.warning)


def test_upload_and_bad_upload() -> None:
    at = _app().run()
    uploader = at.file_uploader(key="model_upload")
    at = uploader.set_value(
        ("detector.onnx", sample("detector.onnx").read_bytes(), "application/octet-stream")
    ).run()
    assert not at.exception
    assert _summary_json(at).name == "detector.onnx"
    at = (
        at.file_uploader(key="model_upload")
        .set_value(("junk.onnx", b"not a model at all" * 50, "application/octet-stream"))
        .run()
    )
    assert not at.exception
    assert any("not an ONNX model" in e.value for e in at.error)


def test_server_path_with_external_data() -> None:
    at = _app().run()
    at.text_input[0].set_value(str(sample("external_data/detector_external.onnx")))
    at = at.button[0].click().run()
    assert not at.exception
    summary = _summary_json(at)
    assert summary.external_data_files == ["detector_external.onnx.data"]


def test_two_sessions_never_share_workspaces() -> None:
    from workbench.ui.state import Session

    first, second = _app(), _app()
    first.run()
    second.run()
    uploads = {}
    for at, name in ((first, "detector.onnx"), (second, "transformer_encoder.onnx")):
        at.file_uploader(key="model_upload").set_value(
            (name, sample(name).read_bytes(), "application/octet-stream")
        ).run()
        sess = at.session_state["trt_workbench_session"]
        assert isinstance(sess, Session)
        uploads[name] = sess
    a, b = uploads["detector.onnx"], uploads["transformer_encoder.onnx"]
    assert a.workspace.root != b.workspace.root
    assert a.model is not None and b.model is not None
    assert a.workspace.root in a.model.path.parents and b.workspace.root in b.model.path.parents
    assert not list(b.workspace.root.rglob("detector.onnx")) and not list(
        a.workspace.root.rglob("transformer_encoder.onnx")
    )
