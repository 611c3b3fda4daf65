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


def test_a_session_cannot_open_another_sessions_files_by_path(tmp_path, monkeypatch) -> None:
    first, second = _app(), _app()
    first.run()
    second.run()
    first.file_uploader(key="model_upload").set_value(
        ("detector.onnx", sample("detector.onnx").read_bytes(), "application/octet-stream")
    ).run()
    theirs = first.session_state["trt_workbench_session"].model.path
    assert theirs.is_file()

    def try_path(at: AppTest, text: str) -> list[str]:
        at.text_input[0].set_value(text)
        at = at.button[0].click().run()
        assert not at.exception
        return [e.value for e in at.error]

    stolen = try_path(second, str(theirs))
    missing = try_path(second, str(theirs.with_name("nothing-here.onnx")))
    assert stolen == [f"{theirs} is not a file the workbench may open here."]
    assert missing == [f"{theirs.with_name('nothing-here.onnx')} is not a file the workbench may open here."]
    assert _summary_json(second).name == "resnet_cnn.onnx", "the other session's model was not opened"
    # Its own uploads stay reachable by path.
    second.file_uploader(key="model_upload").set_value(
        ("transformer_encoder.onnx", sample("transformer_encoder.onnx").read_bytes(), "application/octet-stream")
    ).run()
    own = second.session_state["trt_workbench_session"].model.path
    assert try_path(second, str(own)) == []


def test_server_paths_follow_the_operators_roots(tmp_path, monkeypatch) -> None:
    allowed = tmp_path / "models"
    allowed.mkdir()
    (allowed / "broken_uint8_input.onnx").write_bytes(sample("broken_uint8_input.onnx").read_bytes())
    monkeypatch.setenv("TRT_WORKBENCH_SERVER_ROOTS", str(allowed))
    at = _app().run()
    at.text_input[0].set_value(str(allowed / "broken_uint8_input.onnx"))
    at = at.button[0].click().run()
    assert _summary_json(at).name == "broken_uint8_input.onnx"
    at.text_input[0].set_value(str(sample("transformer_encoder.onnx")))
    at = at.button[0].click().run()
    assert [e.value for e in at.error] == [f"{sample('transformer_encoder.onnx')} is not a file the workbench may open here."]
    # A symlink inside the root that points out of it is outside.
    (allowed / "link.onnx").symlink_to(sample("transformer_encoder.onnx"))
    at.text_input[0].set_value(str(allowed / "link.onnx"))
    at = at.button[0].click().run()
    assert len(at.error) == 1 and "may open here" in at.error[0].value
