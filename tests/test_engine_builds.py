"""This machine's own builds open as EngineReports (layers and precisions, no times), so
every route feeds the one engine view."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import has_module, sample

pytestmark = pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed")


def test_builds_become_engine_reports_and_compare(tmp_path: Path) -> None:
    from workbench.build import BuildConfig, build_matrix
    from workbench.engine_report import compare_engines, map_to_onnx
    from workbench.model import load_model
    from workbench.ui.engines_page import build_reports
    from workbench.workspace import Workspace

    model = load_model(sample("detector.onnx"))
    results = build_matrix(model, [BuildConfig(precision="fp32"), BuildConfig(precision="fp16")], workspace=Workspace(tmp_path))
    assert all(r.ok for r in results)
    reports = build_reports(results)
    assert [r.label for r in reports] == ["build fp32 (sm89)", "build fp16 (sm89)"]
    for report, result in zip(reports, results):
        assert len(report.layers) == len(result.layers)
        assert report.total_ms is None and all(layer.avg_ms is None for layer in report.layers)
        counts = {k: v for k, v in report.precision_counts.items() if k != "other"}
        assert counts == {k: v for k, v in result.precision_counts.items() if k != "other"}
    mapping = map_to_onnx(reports[1], model)
    conv_nodes = {n.name for n in model.proto.graph.node if n.op_type == "Conv"}
    assert conv_nodes <= set(mapping.node_precision), "every Conv maps to an engine layer"
    assert {mapping.node_precision[n] for n in conv_nodes} == {"fp16"}
    comparison = compare_engines(reports, onnx_nodes=model)
    assert comparison.rows and all(len(row.per_engine) == 2 for row in comparison.rows)


def test_a_gpu_profile_is_written_as_trtexec_exports_and_reads_back(tmp_path: Path) -> None:
    """The workbench's own GPU profiles write the files trtexec writes: here a Profile with the
    shape a GPU run gives (no GPU here to make one), written and read back by the explorer."""
    from workbench.engine_report import load_engine_export
    from workbench.timing import LatencyStats, LayerTime, Profile, write_profile_exports

    samples = [1.0, 1.1, 0.9, 1.2, 1.0]
    profile = Profile(
        backend="tensorrt 10.13", device="NVIDIA L4", latency_ms=LatencyStats.from_samples(samples),
        throughput=1000.0, layers=[LayerTime("conv1 + relu1", "Convolution", 0.6), LayerTime("fc", "Gemm", 0.3)],
        warmup=2, iterations=5, input_shapes={"x": [1, 3, 224, 224]}, samples_ms=samples,
    )
    files = write_profile_exports(profile, str(tmp_path), stem="model.engine")
    report = load_engine_export(files["graph"])
    assert [layer.name for layer in report.layers] == ["conv1 + relu1", "fc"]
    assert report.total_ms == pytest.approx(0.9)
    assert report.latency_ms is not None and report.latency_ms.median == pytest.approx(1.0)
