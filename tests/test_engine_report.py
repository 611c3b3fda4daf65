"""Engine reports from real trtexec exports (TREx's ResNet-18 examples, A100, batch 32).

Every expected number is recomputed here from the files themselves (json + numpy), not
copied from the implementation, so a parser that drifts from the files fails.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from workbench.engine_layers import parse_layer_log
from workbench.engine_report import (
    EngineComparison,
    EngineReport,
    compare_engines,
    compare_json,
    format_comparison,
    format_report,
    load_engine_export,
    load_engine_exports,
    map_to_onnx,
    parse_metadata_nodes,
    show_json,
    split_layer_name,
    write_trtexec_exports,
)
from workbench.errors import WorkbenchError

ARTIFACTS = Path(__file__).resolve().parents[2] / "shared" / "trt-artifacts"
RESNET = ARTIFACTS / "resnet18-a100"
VARIANTS = ["fp32", "fp16", "qat", "qat-residual", "qat-residual-qgap"]

pytestmark = pytest.mark.skipif(
    not RESNET.is_dir(), reason=f"the shared trtexec exports are not at {RESNET} on this machine"
)


def export_file(variant: str, suffix: str) -> Path:
    (path,) = sorted((RESNET / variant).glob(f"*{suffix}"))
    return path


def raw(variant: str, suffix: str):
    return json.loads(export_file(variant, suffix).read_text())


@pytest.fixture(scope="module")
def reports() -> dict[str, EngineReport]:
    return {r.label: r for r in load_engine_exports([RESNET])}


def assert_one_sentence(message: str, names: str) -> None:
    assert names in message, message
    assert "\n" not in message
    assert message.endswith("."), message
    assert re.search(r"[.!?] [A-Z]", message) is None, f"more than one sentence: {message}"


# ----------------------------------------------------------------------------- layers and profile


@pytest.mark.parametrize("variant", VARIANTS)
def test_layers_match_the_graph_json(reports: dict[str, EngineReport], variant: str) -> None:
    graph = raw(variant, ".graph.json")
    report = reports[variant]
    assert len(report.layers) == len(graph["Layers"])
    assert [layer.name for layer in report.layers] == [layer["Name"] for layer in graph["Layers"]]
    assert report.detailed
    assert report.bindings == graph["Bindings"]
    # Reformat / Q/DQ flags follow the exported Origin and LayerType.
    for layer, entry in zip(report.layers, graph["Layers"]):
        assert layer.is_qdq == (entry.get("Origin") == "QDQ")
        if entry["LayerType"] == "Reformat":
            assert layer.is_reformat
        assert layer.tactic == (entry.get("TacticName") or entry.get("TacticValue", ""))


@pytest.mark.parametrize("variant", VARIANTS)
def test_profile_times_sum_and_match_by_name(reports: dict[str, EngineReport], variant: str) -> None:
    profile = raw(variant, ".profile.json")
    rows = [r for r in profile if "name" in r]
    report = reports[variant]
    assert report.profile_iterations == profile[0]["count"]
    file_sum = sum(r["averageMs"] for r in rows)
    layer_sum = sum(layer.avg_ms for layer in report.layers if layer.avg_ms is not None)
    assert report.total_ms == pytest.approx(file_sum, rel=1e-12)
    assert layer_sum == pytest.approx(report.total_ms, rel=1e-12)
    assert sum(layer.percent or 0.0 for layer in report.layers) == pytest.approx(100.0, abs=1e-9)
    # Every profile row names a graph layer and every layer has a row; report any that do not.
    assert report.unmatched_profile_rows == []
    assert report.unprofiled_layers == []
    by_name = {r["name"]: r for r in rows}
    for layer in report.layers:
        assert layer.avg_ms == by_name[layer.name]["averageMs"]
        assert layer.median_ms == by_name[layer.name]["medianMs"]
        # The file's own percentage agrees with ours (rounded by trtexec).
        assert layer.percent == pytest.approx(by_name[layer.name]["percentage"], abs=1e-3)


# ----------------------------------------------------------------------------- precisions


def _dtype_words(text: str) -> str:
    for word, name in (("BFloat16", "bf16"), ("FP16", "fp16"), ("Half", "fp16"), ("FP32", "fp32"),
                       ("Float", "fp32"), ("Int8", "int8"), ("INT8", "int8"), ("FP8", "fp8")):
        if word in text:
            return name
    return "unknown"


def _expected_counts(variant: str) -> dict[str, int]:
    """Precision per layer from the raw tensors: the lowest of inputs (and weights for convolutions)."""
    order = ["fp4", "int4", "int8", "fp8", "fp16", "bf16", "fp32"]
    counts: dict[str, int] = {}
    for entry in raw(variant, ".graph.json")["Layers"]:
        dtypes = [_dtype_words(t["Format/Datatype"]) for t in entry["Inputs"]]
        weights = entry.get("Weights") or entry.get("ConvWeights")
        if weights:
            dtypes.append(_dtype_words(weights["Type"]))
        known = [d for d in dtypes if d in order]
        if known:
            p = min(known, key=order.index)
            counts[p] = counts.get(p, 0) + 1
    return counts


@pytest.mark.parametrize("variant", VARIANTS)
def test_precision_counts_come_from_the_tensors(reports: dict[str, EngineReport], variant: str) -> None:
    assert reports[variant].precision_counts == _expected_counts(variant)


def test_fp32_engine_computes_in_fp32(reports: dict[str, EngineReport]) -> None:
    report = reports["fp32"]
    compute = [layer for layer in report.layers if layer.is_compute]
    assert len(compute) == 21
    assert {layer.precision for layer in compute} == {"fp32"}
    assert report.requested_precision == "fp32"
    assert report.warnings == []


def test_weights_count_toward_a_compute_layers_precision(tmp_path: Path) -> None:
    # The real FP32 engine with one convolution's weights stored in Half: FP32 inputs, FP16 weights -> fp16.
    graph = raw("fp32", ".graph.json")
    conv = next(layer for layer in graph["Layers"] if layer["Name"] == "Conv_3 + Relu_4")
    conv["Weights"]["Type"] = "Half"
    (tmp_path / "mixed.engine.graph.json").write_text(json.dumps(graph))
    report = load_engine_export(tmp_path / "mixed.engine.graph.json")
    by_name = {layer.name: layer for layer in report.layers}
    assert by_name["Conv_3 + Relu_4"].precision == "fp16"
    assert by_name["Conv_3 + Relu_4"].weights_bytes == 2 * conv["Weights"]["Count"]
    assert by_name["Conv_0 + Relu_1"].precision == "fp32"
    assert report.precision_counts == {"fp16": 1, "fp32": 31}


def test_fp16_engine_convolutions_run_in_fp16(reports: dict[str, EngineReport]) -> None:
    report = reports["fp16"]
    convs = [layer for layer in report.layers if layer.parameter_type == "Convolution"]
    assert len(convs) == 21
    assert {layer.precision for layer in convs} == {"fp16"}
    assert {layer.weights_type for layer in convs} == {"Half"}
    assert all(layer.weights_bytes == 2 * layer.weights_count for layer in convs if layer.weights_count)
    # The FP32 input is converted first: that reformat reads FP32.
    assert report.layers[0].is_reformat and report.layers[0].precision == "fp32"
    assert report.requested_precision == "fp16" and report.warnings == []


@pytest.mark.parametrize("variant", ["qat", "qat-residual", "qat-residual-qgap"])
def test_qat_engines_run_int8_convolutions_with_qdq_reformats(reports: dict[str, EngineReport], variant: str) -> None:
    report = reports[variant]
    graph = raw(variant, ".graph.json")["Layers"]
    convs = [layer for layer in report.layers if layer.is_compute]
    assert convs and {layer.precision for layer in convs} == {"int8"}
    qdq = [layer for layer in report.layers if layer.is_qdq]
    assert len(qdq) == sum(1 for entry in graph if entry.get("Origin") == "QDQ") > 0
    assert all(layer.is_reformat for layer in qdq)
    assert report.qdq_ms == pytest.approx(sum(layer.avg_ms or 0 for layer in qdq))
    assert report.requested_precision == "int8" and report.dominant_precision == "int8"


def test_naive_qat_runs_its_maxpool_in_fp32(reports: dict[str, EngineReport]) -> None:
    maxpool = next(layer for layer in reports["qat"].layers if layer.name == "MaxPool_12")
    assert maxpool.precision == "fp32" and maxpool.parameter_type == "Pooling"


def test_silent_fp32_fallback_is_flagged() -> None:
    # An engine asked for INT8 whose convolutions all read FP32 (the build's precision is a request, not a result).
    layers = [
        {"name": f"conv_{i}", "type": "CaskConvolution", "precision": "fp32", "onnx_nodes": [f"Conv_{i}"],
         "tactic": "", "input_dtypes": ["Float"], "output_dtypes": ["Float"]}
        for i in range(4)
    ]
    report = EngineReport.from_build_layers(layers, "resnet-int8", "int8")
    assert report.warnings and "Silent fallback" in report.warnings[0]
    assert report.total_ms is None and report.latency_ms is None
    assert any("without a GPU run" in m for m in report.missing)


# ----------------------------------------------------------------------------- latency, device, batch


@pytest.mark.parametrize("variant", VARIANTS)
def test_latency_is_numpy_percentiles_of_the_timing_file(reports: dict[str, EngineReport], variant: str) -> None:
    timing = raw(variant, ".timing.json")
    report = reports[variant]
    for key, values in (
        ("latency", [r["latencyMs"] for r in timing]),
        ("compute", [r["computeMs"] for r in timing]),
        ("h2d", [r["h2dMs"] for r in timing]),
        ("d2h", [r["d2hMs"] for r in timing]),
        ("enqueue", [r["endEnqMs"] - r["startEnqMs"] for r in timing]),
    ):
        stats = report.latency_ms if key == "latency" else report.timing_ms[key]
        a = np.asarray(values, dtype=np.float64)
        assert stats is not None and stats.count == len(timing)
        assert stats.median == pytest.approx(float(np.median(a)), rel=1e-12)
        for q in (90, 95, 99):
            assert getattr(stats, f"p{q}") == pytest.approx(float(np.percentile(a, q)), rel=1e-12)
        assert stats.mean == pytest.approx(float(a.mean()), rel=1e-12)
    meta = raw(variant, ".profile.metadata.json")
    assert report.throughput == meta["performance_summary"]["Throughput"]
    assert report.batch == 32
    assert report.samples_per_second == pytest.approx(32 * meta["performance_summary"]["Throughput"])
    assert report.device.name == "NVIDIA A100 80GB PCIe"
    assert report.device.compute_capability == "8.0"
    assert report.versions.get("cuda") == "11.6.0"
    # trtexec's own median (performance summary) is the median of the same records.
    assert report.latency_ms is not None
    assert report.latency_ms.median == pytest.approx(meta["performance_summary"]["Latency"][3], rel=1e-6)


def test_irregular_or_old_timing_records_are_read_one_by_one(tmp_path: Path) -> None:
    # Older trtexec wrote inMs/outMs for the copies; a damaged record must cost that record only.
    timing = raw("fp16", ".timing.json")
    for record in timing:
        record["inMs"] = record.pop("h2dMs")
        record["outMs"] = record.pop("d2hMs")
    del timing[0]["latencyMs"]
    timing[1]["computeMs"] = "n/a"
    shutil.copy(export_file("fp16", ".graph.json"), tmp_path / "old.engine.graph.json")
    (tmp_path / "old.engine.timing.json").write_text(json.dumps(timing))
    report = load_engine_export(tmp_path / "old.engine.graph.json")
    latencies = np.asarray([r["latencyMs"] for r in timing[1:]])
    assert report.latency_ms is not None and report.latency_ms.count == len(timing) - 1
    assert report.latency_ms.p99 == pytest.approx(float(np.percentile(latencies, 99)))
    assert report.timing_ms["compute"].count == len(timing) - 1
    assert report.timing_ms["h2d"].count == len(timing) and report.timing_ms["h2d"].max == 0.0


def test_report_names_backend_and_what_is_missing(reports: dict[str, EngineReport]) -> None:
    report = reports["qat"]
    assert report.backend == "TensorRT (version not recorded) on NVIDIA A100 80GB PCIe, from trtexec export"
    assert "the exports do not record the TensorRT version" in report.missing
    text = format_report(report, top=5)
    assert report.backend in text and "median" in text and "Top 5 of 37 layers" in text
    assert "conv1.weight + QuantizeLinear_7 + Conv_9" in text  # its slowest layer


# ----------------------------------------------------------------------------- comparison


def test_naive_qat_is_slower_than_fp16_and_its_slower_rows_come_first(reports: dict[str, EngineReport]) -> None:
    fp16, qat = reports["fp16"], reports["qat"]
    comparison = compare_engines([fp16, qat])
    assert comparison.reference == "fp16"
    # The files say: naive Q/DQ INT8 sums to more layer time (1.096 vs 1.017 ms) and is slower per inference.
    assert qat.total_ms is not None and fp16.total_ms is not None and qat.total_ms > fp16.total_ms
    assert qat.latency_ms is not None and fp16.latency_ms is not None
    assert qat.latency_ms.median > fp16.latency_ms.median
    assert qat.throughput is not None and fp16.throughput is not None and qat.throughput < fp16.throughput
    slower = comparison.slower_than_reference
    assert slower and [row.key for row in comparison.rows[: len(slower)]] == slower

    def excess(row) -> float:
        ref, q = row.per_engine
        return (q.avg_ms if q and q.avg_ms else 0.0) - (ref.avg_ms if ref and ref.avg_ms else 0.0)

    assert all(excess(row) > 0 for row in comparison.rows[: len(slower)])
    assert all(excess(row) <= 1e-9 for row in comparison.rows[len(slower) :])
    assert [excess(r) for r in comparison.rows[: len(slower)]] == sorted(
        (excess(r) for r in comparison.rows[: len(slower)]), reverse=True
    )
    # The worst row is the stem convolution: 0.112 ms in FP16, 0.202 ms in naive INT8.
    first = comparison.rows[0]
    assert first.per_engine[0] is not None and first.per_engine[0].name == "Conv_0 + Relu_1"
    assert first.per_engine[1] is not None and first.per_engine[1].name == "conv1.weight + QuantizeLinear_7 + Conv_9"
    # Reformats with no FP16 counterpart (mostly Q/DQ) are among the slower rows: pure extra cost.
    extra = [r for r in comparison.rows[: len(slower)] if r.per_engine[0] is None]
    assert extra and all(r.per_engine[1] is not None and r.kind in ("qdq", "reformat") for r in extra)
    assert sum(r.kind == "qdq" for r in extra) >= 8
    # Every layer of every engine sits in exactly one row: the rows add up to the totals.
    for e, report in enumerate([fp16, qat]):
        cells = [c for c in (row.per_engine[e] for row in comparison.rows) if c is not None]
        assert sum(c.avg_ms or 0.0 for c in cells) == pytest.approx(report.total_ms)
        assert sum(c.layers for c in cells) == len(report.layers)
    text = format_comparison(comparison, top=5)
    assert "slower than fp16" in text and "Conv_0 + Relu_1" in text


def test_fixing_qdq_placement_makes_int8_pay(reports: dict[str, EngineReport]) -> None:
    qat, residual, qgap = reports["qat"], reports["qat-residual"], reports["qat-residual-qgap"]
    assert residual.total_ms is not None and qat.total_ms is not None and qgap.total_ms is not None
    assert residual.total_ms < qat.total_ms and qgap.total_ms < residual.total_ms
    assert residual.latency_ms is not None and qat.latency_ms is not None
    assert residual.latency_ms.median < qat.latency_ms.median < reports["fp16"].latency_ms.median * 1.05  # type: ignore[union-attr]
    assert residual.qdq_ms < qat.qdq_ms
    comparison = compare_engines([reports[v] for v in VARIANTS])
    totals = {label: t or 0.0 for label, t in zip(comparison.labels, comparison.totals_ms)}
    assert 0 < totals["qat-residual"] < totals["qat"] < totals["fp32"]
    by_type = dict(zip(comparison.labels, comparison.time_by_type))
    assert by_type["qat"]["Q/DQ"] > by_type["qat-residual"]["Q/DQ"] > 0
    assert "Q/DQ" not in by_type["fp16"]


def test_engines_of_one_onnx_graph_match_by_onnx_nodes(reports: dict[str, EngineReport]) -> None:
    comparison = compare_engines([reports["fp32"], reports["fp16"]])
    compute = [row for row in comparison.rows if row.kind == "compute"]
    assert len(compute) == 21 and all(row.matched_by == "onnx" for row in compute)
    assert all(row.per_engine[0] is not None and row.per_engine[1] is not None for row in compute)
    assert comparison.reference == ""  # no quantized engine: nothing to hold against FP16
    stem = next(row for row in compute if row.key == "Conv_0 + Relu_1")
    assert stem.onnx_nodes == ["Conv_0", "Relu_1"]
    assert [c.precision for c in stem.per_engine if c] == ["fp32", "fp16"]


def test_fused_differently_is_reported(reports: dict[str, EngineReport], tmp_path: Path) -> None:
    # Split the fp16 engine's stem layer into two layers (Conv_0 and Relu_1): the same nodes, fused differently.
    graph = raw("fp16", ".graph.json")
    profile = raw("fp16", ".profile.json")
    i = next(k for k, layer in enumerate(graph["Layers"]) if layer["Name"] == "Conv_0 + Relu_1")
    conv = dict(graph["Layers"][i], Name="Conv_0")
    relu = dict(graph["Layers"][i], Name="Relu_1", LayerType="PointWiseV2", ParameterType="PointWise")
    relu.pop("Weights")
    graph["Layers"][i : i + 1] = [conv, relu]
    j = next(k for k, row in enumerate(profile) if row.get("name") == "Conv_0 + Relu_1")
    half = dict(profile[j], averageMs=profile[j]["averageMs"] / 2, timeMs=profile[j]["timeMs"] / 2)
    profile[j : j + 1] = [dict(half, name="Conv_0"), dict(half, name="Relu_1")]
    (tmp_path / "split.graph.json").write_text(json.dumps(graph))
    (tmp_path / "split.profile.json").write_text(json.dumps(profile))
    split = load_engine_export(tmp_path / "split.graph.json", label="split")
    comparison = compare_engines([reports["fp16"], split], onnx_nodes=["Conv_0", "Relu_1", "MaxPool_2"])
    (diff,) = [f for f in comparison.fused_differently if "Conv_0" in f.nodes]
    assert diff.nodes == ["Conv_0", "Relu_1"]
    assert diff.layers_per_engine == [["Conv_0 + Relu_1"], ["Conv_0", "Relu_1"]]
    row = next(r for r in comparison.rows if r.onnx_nodes == ["Conv_0", "Relu_1"])
    assert row.per_engine[1] is not None and row.per_engine[1].layers == 2
    assert row.per_engine[1].avg_ms == pytest.approx(row.per_engine[0].avg_ms)  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- labels, folders, zips


def test_labels_are_unique_from_folder_and_zip(tmp_path: Path) -> None:
    from_folder = load_engine_exports([RESNET])
    assert [r.label for r in from_folder] == ["fp16", "fp32", "qat", "qat-residual", "qat-residual-qgap"]
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(RESNET.rglob("*.json")):
            z.write(f, f"resnet18-a100/{f.relative_to(RESNET).as_posix()}")
    from_zip = load_engine_exports([archive])
    assert [r.label for r in from_zip] == [r.label for r in from_folder]
    assert all(v.startswith(f"{archive}!resnet18-a100/") for r in from_zip for v in r.files.values())
    for a, b in zip(from_folder, from_zip):
        assert a.layers == b.layers and a.latency_ms == b.latency_ms and a.total_ms == b.total_ms
    # Loading both at once: same labels twice, so the second set gets suffixes.
    both = load_engine_exports([RESNET, archive])
    assert len({r.label for r in both}) == 10


def test_same_stem_in_same_named_folders_gets_a_suffix(tmp_path: Path) -> None:
    for variant, folder in (("fp32", tmp_path / "a" / "resnet"), ("fp16", tmp_path / "b" / "resnet")):
        folder.mkdir(parents=True)
        for suffix in (".graph.json", ".profile.json"):
            shutil.copy(export_file(variant, suffix), folder / ("resnet.onnx.engine" + suffix))
    labels = [r.label for r in load_engine_exports([tmp_path])]
    assert labels == ["resnet", "resnet-2"]
    # Two engines in one folder: labelled by their stems, not by the shared folder.
    flat = tmp_path / "flat"
    flat.mkdir()
    for variant in ("fp16", "qat"):
        for suffix in (".graph.json", ".profile.json"):
            src = export_file(variant, suffix)
            shutil.copy(src, flat / src.name)
    assert sorted(r.label for r in load_engine_exports([flat])) == ["resnet", "resnet-qat"]


# ----------------------------------------------------------------------------- other export forms


def test_name_only_layer_info_loads_with_a_missing_note(tmp_path: Path, reports: dict[str, EngineReport]) -> None:
    graph = raw("qat", ".graph.json")
    names_only = {"Layers": [layer["Name"] for layer in graph["Layers"]], "Bindings": graph["Bindings"]}
    (tmp_path / "qat.engine.graph.json").write_text(json.dumps(names_only))
    shutil.copy(export_file("qat", ".profile.json"), tmp_path / "qat.engine.profile.json")
    report = load_engine_export(tmp_path / "qat.engine.graph.json")
    assert report.label == tmp_path.name  # the folder holds this one engine
    assert not report.detailed and len(report.layers) == len(graph["Layers"])
    assert any("--profilingVerbosity=detailed" in m and "tactics are unknown" in m for m in report.missing)
    assert any("per-inference latency unknown" in m for m in report.missing)
    assert report.precision_counts == {}
    assert report.total_ms == pytest.approx(reports["qat"].total_ms)
    # Q/DQ reformats are still recognised by their names alone.
    assert sum(layer.is_qdq for layer in report.layers) == sum(1 for e in graph["Layers"] if e.get("Origin") == "QDQ")
    assert report.layers[1].onnx_nodes == ["conv1.weight", "QuantizeLinear_7", "Conv_9"]


def test_profile_alone_is_enough_for_times(tmp_path: Path) -> None:
    target = tmp_path / "engine.profile.json"
    shutil.copy(export_file("fp16", ".profile.json"), target)
    report = load_engine_export(target, label="fp16 profile")
    rows = [r for r in raw("fp16", ".profile.json") if "name" in r]
    assert [layer.name for layer in report.layers] == [r["name"] for r in rows]
    assert report.total_ms == pytest.approx(sum(r["averageMs"] for r in rows))
    assert any("no layer info export" in m for m in report.missing)


def test_explicit_paths_win_and_any_file_names_work(tmp_path: Path, reports: dict[str, EngineReport]) -> None:
    # trtexec --exportLayerInfo=layers.json --exportProfile=prof.json --exportTimes=times.json
    shutil.copy(export_file("fp16", ".graph.json"), tmp_path / "layers.json")
    shutil.copy(export_file("fp16", ".profile.json"), tmp_path / "prof.json")
    shutil.copy(export_file("fp16", ".timing.json"), tmp_path / "times.json")
    report = load_engine_export(tmp_path / "layers.json", profile=tmp_path / "prof.json", timing=tmp_path / "times.json")
    assert report.label == "layers"  # no TREx naming in the folder: the file's stem
    assert report.layers == reports["fp16"].layers and report.latency_ms == reports["fp16"].latency_ms
    assert sorted(report.files) == ["graph", "profile", "timing"]
    # An explicit profile wins over the sibling TREx naming would pick.
    shutil.copy(export_file("qat", ".graph.json"), tmp_path / "q.engine.graph.json")
    shutil.copy(export_file("fp16", ".profile.json"), tmp_path / "q.engine.profile.json")
    explicit = load_engine_export(tmp_path / "q.engine.graph.json", profile=export_file("qat", ".profile.json"))
    assert explicit.total_ms == reports["qat"].total_ms and explicit.unmatched_profile_rows == []
    # A profile under any name is recognised by its content.
    alone = load_engine_export(tmp_path / "prof.json")
    assert alone.total_ms == pytest.approx(reports["fp16"].total_ms) and not alone.detailed


def _trt10_variant(tmp_path: Path, variant: str) -> Path:
    """The real export rewritten the way TensorRT 10 writes it: opaque layer names, ONNX nodes in Metadata.

    Entries are joined with a raw \\x1f control character, as TensorRT writes it (not JSON-escaped).
    """
    graph = raw(variant, ".graph.json")
    profile = raw(variant, ".profile.json")
    renamed = {}
    for i, layer in enumerate(graph["Layers"]):
        pieces, _ = split_layer_name(layer["Name"])
        if not layer["Name"].startswith("Reformatting"):
            layer["Metadata"] = "\x1f".join(f"[ONNX Layer: {p}]" for p in pieces)
        renamed[layer["Name"]] = layer["Name"] = f"myl_layer_{i}"
    for row in profile[1:]:
        row["name"] = renamed[row["name"]]
    text = json.dumps(graph).replace("\\u001f", "\x1f")
    assert "\x1f" in text
    out = tmp_path / "trt10"
    out.mkdir(exist_ok=True)
    (out / f"{variant}.engine.graph.json").write_text(text)
    (out / f"{variant}.engine.profile.json").write_text(json.dumps(profile))
    return out / f"{variant}.engine.graph.json"


def _onnx_model(nodes: list[tuple[str, str, list[str], list[str]]]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node(op, inputs, outputs, name=name) for name, op, inputs, outputs in nodes],
        "subset",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [32, 3, 224, 224])],
        [helper.make_tensor_value_info(nodes[-1][3][0], TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph)


def test_trt10_metadata_maps_layers_to_onnx_nodes(tmp_path: Path, reports: dict[str, EngineReport]) -> None:
    report = load_engine_export(_trt10_variant(tmp_path, "fp16"), label="fp16-trt10")
    stem = report.layers[1]
    assert stem.name == "myl_layer_1" and stem.onnx_source == "metadata"
    assert stem.onnx_nodes == ["Conv_0", "Relu_1"]
    model = _onnx_model(
        [
            ("Conv_0", "Conv", ["input.1", "w0"], ["c0"]),
            ("Relu_1", "Relu", ["c0"], ["r1"]),
            ("MaxPool_2", "MaxPool", ["r1"], ["m2"]),
            ("Conv_3", "Conv", ["m2", "w3"], ["c3"]),
            ("Relu_4", "Relu", ["c3"], ["r4"]),
            ("NotInTheEngine_99", "Identity", ["r4"], ["out"]),
        ]
    )
    mapping = map_to_onnx(report, model)
    by_layer = {m.layer: m for m in mapping.layers}
    assert by_layer["myl_layer_1"].nodes == ["Conv_0", "Relu_1"]
    assert stem.avg_ms is not None
    assert mapping.node_ms["Conv_0"] == pytest.approx(stem.avg_ms / 2)
    assert mapping.node_ms["Relu_1"] == pytest.approx(stem.avg_ms / 2)
    assert mapping.node_precision["Conv_0"] == "fp16"
    assert mapping.node_layers["MaxPool_2"] == ["myl_layer_2"]
    assert mapping.uncovered_nodes == ["NotInTheEngine_99"]
    # The rest of the engine covers nodes this hand-made subset does not have: listed, not hidden.
    assert "myl_layer_5" in mapping.unmatched_layers
    assert "myl_layer_0" not in mapping.unmatched_layers  # a reformat: counted, not unmatched
    assert mapping.reformat_layers == sum(layer.is_reformat for layer in report.layers)
    assert "split equally" in mapping.note
    # Same precisions and times as the name-joined original: only the names changed.
    original = reports["fp16"]
    assert [layer.precision for layer in report.layers] == [layer.precision for layer in original.layers]
    assert report.total_ms == pytest.approx(original.total_ms)


def test_fused_names_with_initializers_and_qdq_map_to_nodes(reports: dict[str, EngineReport]) -> None:
    report = reports["qat"]
    model = _onnx_model(
        [
            ("QuantizeLinear_2", "QuantizeLinear", ["input.1", "s", "z"], ["q2"]),
            ("DequantizeLinear_5", "DequantizeLinear", ["q2", "s", "z"], ["d5"]),
            ("QuantizeLinear_7", "QuantizeLinear", ["conv1.weight", "s", "z"], ["q7"]),
            ("DequantizeLinear_8", "DequantizeLinear", ["q7", "s", "z"], ["d8"]),
            ("Conv_9", "Conv", ["d5", "d8"], ["c9"]),
            ("Relu_10", "Relu", ["c9"], ["r10"]),
            ("MaxPool_12", "MaxPool", ["r10"], ["m12"]),
            ("Unused_1", "Identity", ["m12"], ["out"]),
        ]
    )
    mapping = map_to_onnx(report, model)
    conv = next(m for m in mapping.layers if m.layer == "conv1.weight + QuantizeLinear_7 + Conv_9")
    assert conv.nodes == ["QuantizeLinear_7", "Conv_9"] and conv.other_pieces == ["conv1.weight"]
    # The kernel's time is the convolution's, not half of it the weight quantizer's.
    assert mapping.node_ms["Conv_9"] == pytest.approx(report.layers[1].avg_ms)
    assert mapping.node_ms.get("QuantizeLinear_7", 0.0) == 0.0
    assert mapping.node_precision["Conv_9"] == "int8"
    assert mapping.node_layers["QuantizeLinear_2"] == ["QuantizeLinear_2"]  # the input Q/DQ reformat
    assert mapping.absorbed_nodes == {
        "DequantizeLinear_5": "conv1.weight + QuantizeLinear_7 + Conv_9",
        "DequantizeLinear_8": "conv1.weight + QuantizeLinear_7 + Conv_9",
    }
    assert mapping.uncovered_nodes == ["Relu_10", "Unused_1"]  # Relu_10 is fused but not in the name
    assert "QuantizeLinear_15" not in mapping.unmatched_layers  # Q/DQ layers are counted apart
    assert mapping.qdq_layers == 10
    assert "Reformatting CopyNode for Output Tensor 0 to MaxPool_12" not in mapping.unmatched_layers
    assert "layer1.0.conv1.weight + QuantizeLinear_20 + Conv_22" in mapping.unmatched_layers


def test_trt11_io_tensors_and_split_datatype_fields(tmp_path: Path, reports: dict[str, EngineReport]) -> None:
    graph = raw("fp16", ".graph.json")
    for layer in graph["Layers"]:
        for t in [*layer["Inputs"], *layer["Outputs"]]:
            text = t.pop("Format/Datatype")
            t["DataType"] = "Half" if "FP16" in text else "Float"
            t["Format"] = text.replace("FP16 ", "").replace("FP32", "").strip()
    graph["I/O Tensors"] = [
        {"Name": "input.1", "IOMode": "Input", "DataType": "Float", "Dimensions": [32, 3, 224, 224]},
        {"Name": graph["Bindings"][1], "IOMode": "Output", "DataType": "Float", "Dimensions": [32, 1000]},
    ]
    del graph["Bindings"]
    (tmp_path / "fp16.engine.graph.json").write_text(json.dumps(graph))
    report = load_engine_export(tmp_path / "fp16.engine.graph.json")
    assert report.bindings == ["input.1", graph["I/O Tensors"][1]["Name"]]
    assert report.batch == 32 and "input" in report.batch_source
    assert [layer.precision for layer in report.layers] == [layer.precision for layer in reports["fp16"].layers]


def test_metadata_entries_parse_with_every_separator() -> None:
    expected = ["/conv1/Conv", "(Unnamed Layer* 3) [Shuffle]", "/relu/Relu"]
    for sep in ("\x1f", "\x1e", "+", ""):
        text = sep.join(f"[ONNX Layer: {n}]" for n in expected)
        assert parse_metadata_nodes(text) == expected
    assert split_layer_name("PWN(PWN(Sigmoid_3), Mul_4) + Conv_2")[0] == ["Sigmoid_3", "Mul_4", "Conv_2"]
    assert split_layer_name("{ForeignNode[/a/MatMul.../b/Add]}") == (["/a/MatMul", "/b/Add"], "name-range")
    assert split_layer_name("Reformatting CopyNode for Input Tensor 0 to Conv_0 + Relu_1") == ([], "")


def test_from_build_layers_reads_the_cpu_build_log() -> None:
    message = (
        "Layers:\n"
        "Name: /stem/Conv_myl0_1, LayerType: correlation, Inputs: [ { Name: x, Dimensions: [1,4,8,8], "
        "Datatype: Half, Format: (NHWC) Channel major format }], Constants: [ { Name: w, Dimensions: [16,4,3,3], "
        "Datatype: Half, Format: (NHWC) Channel major format }], Outputs: [ { Name: y, Dimensions: [1,16,8,8], "
        "Datatype: Half, Format: (NHWC) Channel major format }], TacticName: sm80_conv, StreamId: 0, "
        "Metadata: [ONNX Layer: /stem/Conv]\x1f[ONNX Layer: /stem/Relu]\n"
        "Name: __mye1686_myl0_3, LayerType: signal, Inputs: [], Constants: [], Outputs: [], TacticName: , "
        "StreamId: 0, Metadata: \n"
    )
    report = EngineReport.from_build_layers(parse_layer_log(message), "cpu-fp16", "fp16")
    assert [layer.name for layer in report.layers] == ["/stem/Conv_myl0_1", "__mye1686_myl0_3"]
    conv = report.layers[0]
    assert conv.precision == "fp16" and conv.is_compute and conv.onnx_nodes == ["/stem/Conv", "/stem/Relu"]
    assert report.precision_counts == {"fp16": 1} and report.warnings == []
    assert report.backend.endswith("from the build log (no GPU run)")
    # It lines up with an exported engine by ONNX node.
    comparison = compare_engines([report, report], onnx_nodes=["/stem/Conv", "/stem/Relu"])
    assert comparison.rows[0].matched_by == "onnx"


# ----------------------------------------------------------------------------- round trips and writer


def test_json_round_trips(reports: dict[str, EngineReport]) -> None:
    for report in reports.values():
        assert EngineReport.from_json(report.to_json()) == report
    comparison = compare_engines(list(reports.values()))
    again = EngineComparison.from_json(comparison.to_json())
    assert again == comparison and again.labels == comparison.labels


def test_written_exports_load_back_identically(tmp_path: Path, reports: dict[str, EngineReport]) -> None:
    original = reports["qat"]
    written = write_trtexec_exports(
        tmp_path / "gpu",
        stem="resnet-qat.onnx.engine",
        layers=original.layers,
        profile_rows=[r for r in raw("qat", ".profile.json") if "name" in r],
        times=raw("qat", ".timing.json"),
        bindings=original.bindings,
    )
    assert sorted(written) == ["graph", "profile", "timing"]
    again = load_engine_export(written["graph"], label=original.label)
    assert again.layers == original.layers
    assert again.total_ms == original.total_ms and again.profile_iterations == original.profile_iterations
    assert again.latency_ms == original.latency_ms and again.timing_ms == original.timing_ms
    assert again.bindings == original.bindings and again.precision_counts == original.precision_counts


def test_profiler_samples_write_as_trtexec_rows(tmp_path: Path) -> None:
    samples = {"Conv_0 + Relu_1": [0.10, 0.12, 0.11], "MaxPool_2": [0.05, 0.05, 0.08]}
    latencies = [0.30, 0.31, 0.29, 0.35]
    written = write_trtexec_exports(
        tmp_path, stem="model.engine", layers=list(samples), profile_rows=samples, times=latencies
    )
    profile = json.loads(written["profile"].read_text())
    assert profile[0] == {"count": 3} and set(profile[1]) == {"name", "timeMs", "averageMs", "medianMs", "percentage"}
    report = load_engine_export(written["graph"], label="gpu")
    assert [layer.avg_ms for layer in report.layers] == pytest.approx([0.11, 0.06])
    assert [layer.median_ms for layer in report.layers] == pytest.approx([0.11, 0.05])
    assert report.latency_ms is not None and report.latency_ms.median == pytest.approx(float(np.median(latencies)))
    assert report.throughput == pytest.approx(1000 / float(np.median(latencies)))
    assert report.throughput_source.startswith("derived")


# ----------------------------------------------------------------------------- errors


def test_malformed_exports_raise_one_sentence(tmp_path: Path) -> None:
    truncated = tmp_path / "bad.engine.graph.json"
    truncated.write_text(export_file("fp16", ".graph.json").read_text()[:500])
    with pytest.raises(WorkbenchError) as err:
        load_engine_export(truncated)
    assert_one_sentence(err.value.message, str(truncated))
    assert "not valid JSON" in err.value.message

    wrong = tmp_path / "wrong.engine.graph.json"
    wrong.write_text(json.dumps({"layers": []}))
    with pytest.raises(WorkbenchError) as err:
        load_engine_export(wrong)
    assert_one_sentence(err.value.message, str(wrong))

    numbers = tmp_path / "numbers.engine.graph.json"
    numbers.write_text(json.dumps({"Layers": [1, 2, 3]}))
    with pytest.raises(WorkbenchError) as err:
        load_engine_export(numbers)
    assert_one_sentence(err.value.message, str(numbers))

    shutil.copy(export_file("fp16", ".graph.json"), tmp_path / "ok.engine.graph.json")
    (tmp_path / "ok.engine.profile.json").write_text(json.dumps({"count": 1}))
    with pytest.raises(WorkbenchError) as err:
        load_engine_export(tmp_path / "ok.engine.graph.json")
    assert_one_sentence(err.value.message, "ok.engine.profile.json")

    (tmp_path / "ok.engine.profile.json").unlink()
    (tmp_path / "ok.engine.timing.json").write_text(json.dumps([{"startEnqMs": 1.0}]))
    with pytest.raises(WorkbenchError) as err:
        load_engine_export(tmp_path / "ok.engine.graph.json")
    assert_one_sentence(err.value.message, "ok.engine.timing.json")


def test_zip_with_parent_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../escape.engine.graph.json", json.dumps({"Layers": ["a"]}))
    with pytest.raises(WorkbenchError) as err:
        load_engine_exports([archive])
    assert_one_sentence(err.value.message, "evil.zip")
    assert "outside the archive" in err.value.message
    assert not (tmp_path.parent / "escape.engine.graph.json").exists()
    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(WorkbenchError) as err:
        load_engine_exports([not_zip])
    assert_one_sentence(err.value.message, "broken.zip")


# ----------------------------------------------------------------------------- public JSON contract


def test_cli_json_contract(reports: dict[str, EngineReport]) -> None:
    shown = show_json(reports["qat"])
    json.dumps(shown)
    assert {"label", "device", "batch", "layers", "total_ms", "precision_counts", "latency_ms", "throughput"} <= set(shown)
    assert {"latency_note", "missing", "files", "versions"} <= set(shown)
    assert shown["device"] == "NVIDIA A100 80GB PCIe" and shown["batch"] == 32
    assert set(shown["latency_ms"]) >= {"median", "p90", "p95", "p99", "mean"}
    assert set(shown["precision_counts"]) == {"fp32", "fp16", "int8"}
    for layer in shown["layers"]:
        assert {"name", "type", "precision", "avg_ms", "percent", "tactic", "onnx_nodes", "reformat"} <= set(layer)
    assert sum(layer["percent"] for layer in shown["layers"]) == pytest.approx(100.0)
    graph = raw("qat", ".graph.json")["Layers"]
    assert sum(layer["reformat"] for layer in shown["layers"]) == sum(
        1 for e in graph if e["LayerType"] == "Reformat" or e["Name"].startswith("Reformatting CopyNode")
    )

    compared = compare_json(compare_engines([reports["fp16"], reports["qat"]]))
    json.dumps(compared)
    assert {"engines", "rows"} <= set(compared)
    assert [e["label"] for e in compared["engines"]] == ["fp16", "qat"]
    for engine in compared["engines"]:
        assert {"label", "device", "batch", "total_ms", "precision_counts", "latency_ms", "throughput"} <= set(engine)
    for row in compared["rows"]:
        assert {"key", "per_engine"} <= set(row) and len(row["per_engine"]) == 2
        for cell in row["per_engine"]:
            assert cell is None or {"name", "avg_ms", "precision"} <= set(cell)
    assert any(cell is None for row in compared["rows"] for cell in row["per_engine"])


def test_figures_build_offline(reports: dict[str, EngineReport]) -> None:
    from workbench import plots

    comparison = compare_engines([reports[v] for v in VARIANTS])
    figures = [
        plots.engine_layer_time_figure(reports["qat"]),
        plots.engine_precision_mix_figure(list(reports.values())),
        plots.engine_compare_figure(comparison),
        plots.engine_type_time_figure(comparison),
        plots.engine_latency_figure(list(reports.values())),
    ]
    layer_bars = figures[0].data
    assert sum(len(trace.x) for trace in layer_bars) == len(reports["qat"].layers)
    assert {trace.name for trace in layer_bars} == {"INT8", "FP16", "FP32"}
    assert [trace.name for trace in figures[2].data] == VARIANTS
    boxes = figures[4].data
    assert [box.x[0] for box in boxes] == list(reports)  # one position per engine, not stacked at 0
    assert boxes[list(reports).index("qat")].median == (reports["qat"].latency_ms.median,)  # type: ignore[union-attr]
    for fig in figures:
        assert "NVIDIA A100" in fig.layout.title.text or "engines" in fig.layout.title.text or "type" in fig.layout.title.text
        fig.to_json()


def test_engines_from_two_tensorrt_versions_say_so_in_the_comparison(tmp_path: Path) -> None:
    """Exports from two TensorRT versions (an upgrade, a Jetson on an older JetPack) compare
    side by side, and the comparison says the versions differ, naming them."""
    import json
    import shutil

    from workbench.engine_report import compare_engines, load_engine_export

    folders = {}
    for variant, version in (("fp32", "10.0.1"), ("fp16", "10.13.3")):
        folder = tmp_path / f"{variant}-trt{version}"
        shutil.copytree(RESNET / variant, folder)
        metadata = folder / "resnet.onnx.engine.build.metadata.json"
        data = json.loads(metadata.read_text())
        data["TensorRT version"] = version  # as a newer trtexec records it
        metadata.write_text(json.dumps(data))
        folders[variant] = folder
    reports = [load_engine_export(folders[v] / "resnet.onnx.engine.graph.json") for v in ("fp32", "fp16")]
    assert [r.versions["tensorrt"] for r in reports] == ["10.0.1", "10.13.3"]
    comparison = compare_engines(reports)
    (note,) = [n for n in comparison.notes if "different TensorRT versions" in n]
    assert "10.0.1" in note and "10.13.3" in note
    assert [e.backend.split(" on ")[0] for e in comparison.engines] == ["TensorRT 10.0.1", "TensorRT 10.13.3"]
    same = compare_engines([load_engine_export(RESNET / v / "resnet.onnx.engine.graph.json") for v in ("fp32", "fp16")])
    assert not any("TensorRT version" in n for n in same.notes)  # neither records one: nothing to say
