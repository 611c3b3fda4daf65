"""`trt-workbench engine show/compare` on NVIDIA's real trtexec exports: the JSON contract,
the same numbers as the library, and bad input in one sentence."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import files_under, run_cli, sample

from workbench.engine_report import compare_engines, compare_json, load_engine_exports, show_json

ARTIFACTS = Path(__file__).resolve().parents[2] / "shared" / "trt-artifacts" / "resnet18-a100"
pytestmark = pytest.mark.skipif(not ARTIFACTS.is_dir(), reason=f"the shared trtexec exports are not at {ARTIFACTS}")

SHOW_KEYS = {"label", "device", "batch", "layers", "total_ms", "precision_counts", "latency_ms", "throughput"}
LAYER_KEYS = {"name", "type", "precision", "avg_ms", "percent", "tactic", "onnx_nodes", "reformat"}


def _graph(variant: str) -> Path:
    return next((ARTIFACTS / variant).glob("*.engine.graph.json"))


def test_show_json_contract_and_figures_from_the_files() -> None:
    done = run_cli("engine", "show", str(_graph("qat")), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= SHOW_KEYS
    assert set(out["latency_ms"]) >= {"median", "p90", "p95", "p99", "mean"}
    assert out["label"] == "qat" and out["batch"] == 32 and out["device"] == "NVIDIA A100 80GB PCIe"
    graph = json.loads(_graph("qat").read_text())
    assert len(out["layers"]) == len(graph["Layers"])
    for layer in out["layers"]:
        assert set(layer) >= LAYER_KEYS
    profile = json.loads(next((ARTIFACTS / "qat").glob("*.engine.profile.json")).read_text(), strict=False)
    assert out["total_ms"] == pytest.approx(sum(r["averageMs"] for r in profile[1:]), rel=1e-9)
    assert sum(layer["percent"] for layer in out["layers"]) == pytest.approx(100, abs=0.01)
    assert out["precision_counts"].get("int8", 0) > 0
    meta = json.loads(next((ARTIFACTS / "qat").glob("*.engine.profile.metadata.json")).read_text())
    assert out["throughput"] == pytest.approx(meta["performance_summary"]["Throughput"])
    # The library gives the same figures the CLI prints.
    assert show_json(load_engine_exports([ARTIFACTS / "qat"])[0]) == out


def test_compare_json_contract_and_the_fp16_vs_naive_int8_story(tmp_path: Path) -> None:
    done = run_cli("engine", "compare", str(ARTIFACTS / "fp16"), str(ARTIFACTS / "qat"), "--json", "-o", str(tmp_path / "ws"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [e["label"] for e in out["engines"]] == ["fp16", "qat"]
    for engine in out["engines"]:
        assert {"label", "device", "batch", "total_ms", "precision_counts", "latency_ms", "throughput"} <= set(engine)
    fp16, qat = out["engines"]
    assert qat["total_ms"] > fp16["total_ms"], "naive Q/DQ INT8 is slower than FP16 in these exports"
    first = out["rows"][0]
    assert {"key", "per_engine"} <= set(first) and len(first["per_engine"]) == 2
    a, b = first["per_engine"]
    assert a is not None and b is not None and b["avg_ms"] > a["avg_ms"] and b["precision"] == "int8"
    assert any(None in row["per_engine"] for row in out["rows"]), "Q/DQ layers have no FP16 counterpart"
    expected = compare_json(compare_engines(load_engine_exports([ARTIFACTS / "fp16", ARTIFACTS / "qat"])))
    assert expected == out
    kinds = json.loads((tmp_path / "ws" / "index.json").read_text())
    assert len(kinds["engine_reports"]) == 2 and len(kinds["engine_comparisons"]) == 1


def test_compare_of_all_five_from_a_zip_keeps_labels_unique(tmp_path: Path) -> None:
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in ARTIFACTS.rglob("*.json"):
            zf.write(path, path.relative_to(ARTIFACTS.parent))
    done = run_cli("engine", "compare", str(archive), "--json")
    assert done.returncode == 0, done.stderr
    labels = [e["label"] for e in json.loads(done.stdout)["engines"]]
    assert len(labels) == 5 and len(set(labels)) == 5


def test_text_views_name_the_device_and_the_source() -> None:
    done = run_cli("engine", "compare", str(ARTIFACTS / "fp16"), str(ARTIFACTS / "qat-residual"))
    assert done.returncode == 0, done.stderr
    assert "NVIDIA A100 80GB PCIe" in done.stdout and "trtexec" in done.stdout


@pytest.mark.parametrize(
    "case",
    ["missing", "junk_json", "one_engine_compare", "folder_of_many_show", "model_not_exports"],
)
def test_bad_input_is_one_sentence_and_writes_nothing(case: str, tmp_path: Path) -> None:
    junk = tmp_path / "x.engine.graph.json"
    junk.write_text("{ this is not json")
    args = {
        "missing": ["engine", "show", str(tmp_path / "nope.engine.graph.json")],
        "junk_json": ["engine", "show", str(junk)],
        "one_engine_compare": ["engine", "compare", str(ARTIFACTS / "fp16")],
        "folder_of_many_show": ["engine", "show", str(ARTIFACTS)],
        "model_not_exports": ["engine", "show", str(sample("detector.onnx"))],
    }[case]
    out = tmp_path / "ws"
    done = run_cli(*args, "-o", str(out))
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("trt-workbench: error:"), done.stderr
    assert "Traceback" not in done.stderr
    assert files_under(out) == []


def test_show_maps_layers_to_the_onnx_model(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    # A model holding the first nodes of the exported ResNet-18 under their export names,
    # and one node no engine layer names.
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c0"], name="Conv_0"),
        helper.make_node("Relu", ["c0"], ["r1"], name="Relu_1"),
        helper.make_node("MaxPool", ["r1"], ["m2"], name="MaxPool_2", kernel_shape=[3, 3]),
        helper.make_node("Identity", ["m2"], ["y"], name="NotInTheEngine"),
    ]
    graph = helper.make_graph(
        nodes,
        "resnet-head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 3, 224, 224])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, [64, 3, 7, 7], [0.0] * (64 * 3 * 7 * 7))],
    )
    model = tmp_path / "head.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    done = run_cli("engine", "show", str(_graph("fp16")), "--onnx", str(model), "--json")
    assert done.returncode == 0, done.stderr
    mapping = json.loads(done.stdout)["onnx_mapping"]
    layers = {layer["name"]: layer for layer in json.loads(done.stdout)["layers"]}
    assert mapping["node_precision"]["Conv_0"] == "fp16"
    # Conv_0 + Relu_1 is one kernel: its time is split between the two nodes.
    fused = layers["Conv_0 + Relu_1"]["avg_ms"]
    assert mapping["node_ms"]["Conv_0"] == pytest.approx(fused / 2) == mapping["node_ms"]["Relu_1"]
    assert mapping["node_ms"]["MaxPool_2"] == pytest.approx(layers["MaxPool_2"]["avg_ms"])
    assert "NotInTheEngine" in mapping["uncovered_nodes"]
    assert mapping["unmatched_layers"], "layers of the rest of the network match no node of this model"
