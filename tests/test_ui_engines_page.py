"""The Engines page in Streamlit's AppTest, on NVIDIA's real trtexec exports of ResNet-18 (A100).

Every number the page shows is checked against what ``workbench.engine_report`` computes
from the same files (and the layer-time sum once against the profile JSON itself).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from workbench.engine_report import EngineReport, compare_engines, load_engine_exports, map_to_onnx

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

ARTIFACTS = Path(__file__).resolve().parents[2] / "shared" / "trt-artifacts"
RESNET = ARTIFACTS / "resnet18-a100"
VARIANTS = ["fp16", "fp32", "qat", "qat-residual", "qat-residual-qgap"]

needs_exports = pytest.mark.skipif(
    not RESNET.is_dir(), reason=f"the shared trtexec exports are not at {RESNET} on this machine"
)


@pytest.fixture(scope="module")
def expected() -> dict[str, EngineReport]:
    if not RESNET.is_dir():
        pytest.skip(f"the shared trtexec exports are not at {RESNET} on this machine")
    return {r.label: r for r in load_engine_exports([RESNET])}


@pytest.fixture(autouse=True)
def _fresh_parse_cache() -> None:
    from workbench.ui.cache import engine_exports

    engine_exports.clear()


def _engines_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("workbench/ui/engines_page.py")
    at = at.run()
    assert not at.exception
    return at


def _load_path(at: AppTest, text: str) -> AppTest:
    at.text_input(key="engines_path").set_value(text)
    at = at.button(key="engines_path_load").click().run()
    assert not at.exception
    return at


def _state(at: AppTest):
    from workbench.ui.engines_page import STATE_KEY, EngineState

    state = at.session_state[STATE_KEY]
    assert isinstance(state, EngineState)
    return state


def _tab(at: AppTest, label: str):
    return next(t for t in at.tabs if t.label == label)


def _metrics(container) -> dict[str, str]:
    return {m.label: m.value for m in container.metric}


def _chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _one_sentence(at: AppTest) -> str:
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    message = errors[0]
    assert "\n" not in message and "Traceback" not in message
    return message


@needs_exports
def test_five_variants_from_a_folder_then_fp16_against_qat(
    expected: dict[str, EngineReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    import workbench.engine_report as engine_report

    parses = []
    real = engine_report.load_engine_exports
    monkeypatch.setattr(engine_report, "load_engine_exports", lambda paths: parses.append(1) or real(paths))

    at = _load_path(_engines_page(), str(RESNET))
    assert not at.error
    assert list(_state(at).reports) == VARIANTS
    assert [t.label for t in at.tabs] == VARIANTS
    assert at.multiselect(key="engines_pick").value == VARIANTS
    assert any(t.startswith("Matched layers across 5 engines") for t in _chart_titles(at))

    at = at.multiselect(key="engines_pick").set_value(["fp16", "qat"]).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["fp16", "qat"]
    for label in ("fp16", "qat"):
        report, tab = expected[label], _tab(at, label)
        shown = _metrics(tab)
        assert shown["Layer sum, ms"] == f"{report.total_ms:.4f}"
        assert shown["Layers"] == str(len(report.layers))
        assert report.latency_ms is not None and report.throughput is not None
        assert shown["Median latency, ms"] == f"{report.latency_ms.median:.4f}"
        assert shown["p99 latency, ms"] == f"{report.latency_ms.p99:.4f}"
        assert shown["Inferences/s"] == f"{report.throughput:.1f}"
        assert any("A100" in c.value and "from trtexec export" in c.value for c in tab.caption)
        assert any("is not the layer sum" in c.value for c in tab.caption)  # the latency note
        layers = tab.dataframe[0].value
        assert list(layers.columns) == [
            "name", "type", "precision", "avg_ms", "percent", "tactic", "onnx_nodes", "reformat"
        ]
        assert list(layers["name"]) == [layer.name for layer in report.layers]
        assert math.isclose(layers["avg_ms"].sum(), report.total_ms, rel_tol=1e-9)
        assert int(layers["reformat"].sum()) == sum(layer.is_reformat for layer in report.layers)
    # The FP16 layer sum, once from the profile JSON itself.
    (profile,) = (RESNET / "fp16").glob("*.engine.profile.json")
    rows = [r for r in json.loads(profile.read_text()) if "name" in r]
    assert _metrics(_tab(at, "fp16"))["Layer sum, ms"] == f"{sum(r['averageMs'] for r in rows):.4f}"
    # The session's model is the bundled CNN, not this ResNet-18: the mapping says so.
    assert any("No layer of fp16 names a node of resnet_cnn.onnx" in i.value for i in at.info)

    comparison = compare_engines([expected["fp16"], expected["qat"]])
    table = next(d.value for d in at.dataframe if "key" in d.value.columns)
    assert list(table["key"]) == [row.key for row in comparison.rows]
    first = table.iloc[0]
    assert first["key"] == "Conv_0 + Relu_1" and bool(first["slower than fp16"])  # the stem convolution
    assert first["fp16 ms"] == comparison.rows[0].per_engine[0].avg_ms
    assert first["qat ms"] == comparison.rows[0].per_engine[1].avg_ms
    assert (first["fp16 precision"], first["qat precision"]) == ("fp16", "int8")
    summary = next(d.value for d in at.dataframe if "engine" in d.value.columns)
    assert list(summary["engine"]) == ["fp16", "qat"]
    assert list(summary["layer ms"]) == [expected["fp16"].total_ms, expected["qat"].total_ms]
    titles = _chart_titles(at)
    assert any(t.startswith("Matched layers across 2 engines") and "slower than fp16" in t for t in titles)
    assert any(t.startswith("Layer time by type") for t in titles)
    assert any(t.startswith("Latency per inference") for t in titles)
    assert any(t.startswith("Engine layer time by precision") for t in titles)

    # Parsed once: neither a rerun nor a second load of the same bytes parses again.
    assert len(parses) == 1
    at = _load_path(at, str(RESNET))
    assert len(parses) == 1 and list(_state(at).reports) == VARIANTS
    # Saved where the report (and `trt-workbench report`) finds them.
    ws = at.session_state["trt_workbench_session"].workspace
    assert {EngineReport.load(p).label for p in ws.results("engine_reports")} == set(VARIANTS)
    saved = [[e["label"] for e in json.loads(p.read_text())["engines"]] for p in ws.results("engine_comparisons")]
    assert ["fp16", "qat"] in saved and VARIANTS in saved


def _identity_chain(names: list[str], path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Identity", [f"t{i}"], [f"t{i + 1}"], name=name) for i, name in enumerate(names)
    ]
    graph = helper.make_graph(
        nodes,
        "resnet18-names",
        [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info(f"t{len(names)}", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@needs_exports
def test_mapping_to_the_sessions_onnx_model(expected: dict[str, EngineReport], tmp_path: Path) -> None:
    fp16 = expected["fp16"]
    names: list[str] = []
    for layer in fp16.layers:
        names += [n for n in layer.onnx_nodes if n not in names and not n.endswith(".weight")]
    model_path = _identity_chain([*names, "Unused_999"], tmp_path / "resnet18_names.onnx")

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.text_input[0].set_value(str(model_path))
    at = at.button[0].click().run()
    assert not at.exception and at.session_state["trt_workbench_session"].model.name == "resnet18_names.onnx"
    at.switch_page("workbench/ui/engines_page.py")
    at = _load_path(at.run(), str(RESNET / "fp16"))
    assert list(_state(at).reports) == ["fp16"]

    mapping = map_to_onnx(fp16, str(model_path))
    matched = sum(1 for layer in mapping.layers if layer.nodes)
    shown = _metrics(_tab(at, "fp16"))
    assert shown["Layers matched"] == f"{matched} of {len(fp16.layers)}"
    assert shown["ONNX nodes in a layer"] == f"{len(mapping.node_layers)} of {len(names) + 1}"
    assert shown["Nodes in no layer"] == str(len(mapping.uncovered_nodes)) and "Unused_999" in mapping.uncovered_nodes
    table = next(d.value for d in _tab(at, "fp16").dataframe if "node" in d.value.columns)
    assert list(table["node"]) == list(mapping.node_layers)
    assert dict(zip(table["node"], table["ms"])) == pytest.approx(mapping.node_ms)
    assert dict(zip(table["node"], table["precision"])) == mapping.node_precision
    # One engine: no comparison.
    assert not any(d.value.columns[0] == "key" for d in at.dataframe)


@needs_exports
def test_uploads_loose_files_and_a_zip_and_a_bad_upload(expected: dict[str, EngineReport]) -> None:
    at = _engines_page()
    loose = [(p.name, p.read_bytes(), "application/json") for p in sorted((RESNET / "fp16").iterdir())]
    at = at.file_uploader(key="engines_upload").set_value(loose).run()
    assert not at.exception and not at.error
    state = _state(at)
    assert list(state.reports) == ["resnet"]  # the file stem names an engine uploaded loose
    shown = _metrics(_tab(at, "resnet"))
    assert shown["Layer sum, ms"] == f"{expected['fp16'].total_ms:.4f}"
    ws = at.session_state["trt_workbench_session"].workspace
    kept = state.reports["resnet"].files
    assert set(kept) == {"graph", "profile", "timing", "profile_metadata", "device_metadata", "build_metadata"}
    assert all(Path(p).is_file() and ws.root / "engine_exports" in Path(p).parents for p in kept.values())

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for variant in ("fp16", "qat"):
            for p in sorted((RESNET / variant).iterdir()):
                archive.write(p, f"{variant}/{p.name}")
    at = at.file_uploader(key="engines_upload").set_value(
        ("two.zip", buffer.getvalue(), "application/zip")
    ).run()
    assert not at.exception and not at.error
    assert list(_state(at).reports) == ["resnet", "fp16", "qat"]
    assert _metrics(_tab(at, "qat"))["Layer sum, ms"] == f"{expected['qat'].total_ms:.4f}"
    assert _state(at).reports["qat"].files["graph"].endswith("two.zip!qat/resnet-qat.onnx.engine.graph.json")

    before = sorted(p for p in ws.root.rglob("*") if p.is_file() and p.parent.name != "engine_reports")
    at = at.file_uploader(key="engines_upload").set_value(
        ("junk.json", b"this is not JSON at all {", "application/json")
    ).run()
    assert not at.exception
    message = _one_sentence(at)
    assert message.startswith("junk.json ") and "is not valid JSON" in message
    assert str(ws.root) not in message  # no workspace path in the sentence
    after = sorted(p for p in ws.root.rglob("*") if p.is_file() and p.parent.name != "engine_reports")
    assert after == before and not list(ws.root.glob(".staging-*"))  # a bad upload leaves nothing
    assert list(_state(at).reports) == ["resnet", "fp16", "qat"]  # what was loaded stays


@needs_exports
def test_another_sessions_workspace_is_refused_like_a_missing_path(tmp_path: Path) -> None:
    from workbench.ui.engines_page import not_openable
    from workbench.workspace import Workspace, default_root

    other = Workspace.for_session()  # another browser session on the same server
    theirs = other.root / "engine_exports" / "0123456789abcdef" / "fp16"
    shutil.copytree(RESNET / "fp16", theirs)
    missing = tmp_path / "no-such-folder"

    at = _engines_page()
    at = _load_path(at, str(theirs))
    refused = _one_sentence(at)
    at = _load_path(at, str(missing))
    absent = _one_sentence(at)
    assert refused == not_openable(str(theirs)) and absent == not_openable(str(missing))
    assert refused.replace(str(theirs), "PATH") == absent.replace(str(missing), "PATH")
    # A folder holding every session (the home, the sessions folder) is refused too, so is a zip of theirs.
    for path in (default_root(), default_root() / "sessions", other.root):
        at = _load_path(at, str(path))
        assert _one_sentence(at) == not_openable(str(path))
    assert not _state(at).reports

    own = at.session_state["trt_workbench_session"].workspace
    shutil.copytree(RESNET / "fp16", own.root / "mine" / "fp16")
    at = _load_path(at, str(own.root / "mine"))
    assert not at.error and list(_state(at).reports) == ["fp16"]


@needs_exports
def test_server_roots_limit_the_path_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.ui.engines_page import ROOTS_ENV, not_openable

    allowed = tmp_path / "allowed"
    shutil.copytree(RESNET / "qat", allowed / "qat")
    (allowed / "linked").mkdir()
    for p in (RESNET / "fp16").iterdir():  # links inside an allowed root, to files outside it
        (allowed / "linked" / p.name).symlink_to(p)
    monkeypatch.setenv(ROOTS_ENV, str(allowed))

    at = _engines_page()
    assert any(str(allowed) in c.value for c in at.caption)
    at = _load_path(at, str(RESNET))
    assert _one_sentence(at) == not_openable(str(RESNET))
    at = _load_path(at, str(allowed / "linked"))
    assert _one_sentence(at) == not_openable(str(allowed / "linked"))
    at = _load_path(at, str(allowed / "qat"))
    assert not at.error and list(_state(at).reports) == ["qat"]

    monkeypatch.setenv(ROOTS_ENV, "")
    at = _engines_page()
    assert at.text_input(key="engines_path").disabled
    assert any("Server paths are off" in c.value for c in at.caption)


@needs_exports
def test_the_report_page_includes_the_engines(expected: dict[str, EngineReport]) -> None:
    at = _load_path(_engines_page(), str(RESNET))
    at = at.multiselect(key="engines_pick").set_value(["fp16", "qat"]).run()
    at.switch_page("workbench/ui/report_page.py")
    at = at.run()
    at = at.button(key="report_run").click().run()
    assert not at.exception and not at.error
    html_path, json_path = at.session_state["trt_workbench_session"].report_files
    page = Path(html_path).read_text()
    assert "id=engines>" in page and "Matched layers across 2 engines" in page
    bundle = json.loads(Path(json_path).read_text())
    assert [r["label"] for r in bundle["engine_reports"]] == VARIANTS
    assert {r["label"]: r["total_ms"] for r in bundle["engine_reports"]} == {
        label: expected[label].total_ms for label in VARIANTS
    }
    assert [[e["label"] for e in c["engines"]] for c in bundle["engine_comparisons"]] == [VARIANTS, ["fp16", "qat"]]
    assert any(c["argv"][:3] == ["trt-workbench", "engine", "compare"] for c in bundle["commands"])
