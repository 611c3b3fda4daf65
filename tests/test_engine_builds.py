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
