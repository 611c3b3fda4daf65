"""A quantized engine larger than FP32 is a finding, with the causes the build measured
(real TensorRT-RTX builds of the bundled detector and ResNet, real ModelOpt PTQ)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import requires_rtx, run_cli, sample

from workbench.build import BuildConfig, BuildResult, build, build_matrix, engine_log_anatomy
from workbench.calibration import synthetic_calibration
from workbench.model import load_model
from workbench.precision import modelopt_available
from workbench.summary import summarize
from workbench.workspace import Workspace

pytestmark = [
    pytest.mark.rtx,
    requires_rtx,
    pytest.mark.skipif(
        not modelopt_available(),
        reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')",
    ),
]


@pytest.fixture(scope="module")
def detector_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("det") / "ws"
    result = run_cli(
        "build", str(sample("detector.onnx")), "--precision", "fp32,int8", "--synthetic-calib", "-o", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out, {b["precision"]: b for b in json.loads(result.stdout)["builds"]}


def test_int8_detector_larger_than_fp32_is_a_finding_with_measured_causes(detector_builds) -> None:
    _, builds = detector_builds
    fp32, int8 = builds["fp32"], builds["int8"]
    assert int8["engine_bytes"] > fp32["engine_bytes"]  # what the finding is about
    finding = int8["size_finding"]
    assert finding is not None and builds["fp32"]["size_finding"] is None
    assert finding["reference"] == "fp32-engine" and finding["reference_engine"] == fp32["engine_path"]
    assert finding["engine_bytes"] == int8["engine_bytes"] == Path(int8["engine_path"]).stat().st_size
    assert finding["reference_bytes"] == fp32["engine_bytes"]
    # Where the bytes go: the weights shrank (INT8), the rest of the plan grew.
    assert finding["weight_bytes"] < finding["reference_weight_bytes"]
    assert finding["other_bytes"] > finding["reference_other_bytes"]
    assert finding["weight_bytes"] + finding["other_bytes"] == int8["engine_bytes"]
    assert finding["weight_bytes_by_dtype"].get("Int8", 0) > finding["weight_bytes_by_dtype"].get("Float", 0)
    assert set(finding["reference_weight_bytes_by_dtype"]) == {"Float"}
    # Why: quantize steps that did not fuse into the convolutions run as kernels of their own.
    assert finding["unfused_qdq_layers"] >= 1 and finding["unfused_qdq_examples"]
    assert any("QuantizeLinear" in e for e in finding["unfused_qdq_examples"])
    assert finding["layers"] > finding["reference_layers"] and finding["grown_layer_types"]
    assert finding["fp32_layers"] == int8["precision_counts"].get("fp32", 0) >= 1
    # Where the seconds go: the build, and ModelOpt's transform before it.
    assert finding["build_seconds"] > 0 and finding["reference_build_seconds"] > 0
    assert finding["transform_seconds"] == int8["transform"]["seconds"] > 0
    assert set(finding["builder_seconds"]) >= {"parse", "build"}
    # Said beside the result, in the warnings, with its numbers.
    (warning,) = [w for w in int8["warnings"] if w.startswith("Larger than FP32:")]
    assert warning == finding["message"]
    mib = f"{int8['engine_bytes'] / 2**20:.2f} MiB"
    assert mib in warning and f"{fp32['engine_bytes'] / 2**20:.2f} MiB" in warning
    assert f"{finding['unfused_qdq_layers']} layers beside the compute layers carry Q/DQ nodes" in warning
    assert "ModelOpt PTQ" in warning and "for FP32" in warning


def test_the_finding_is_saved_with_the_result(detector_builds) -> None:
    _, builds = detector_builds
    int8 = builds["int8"]
    saved = BuildResult.load(Path(int8["engine_path"]).parent / "result.json")
    assert saved.size_finding is not None and saved.size_finding.to_dict() == int8["size_finding"]
    assert any(w.startswith("Larger than FP32:") for w in saved.warnings)


def test_log_anatomy_reads_the_weights_of_both_engines(detector_builds) -> None:
    _, builds = detector_builds
    for precision, dtype in (("fp32", "Float"), ("int8", "Int8")):
        log = builds[precision]["log_path"]
        totals = re.findall(r"Total Weights Memory: (\d+) bytes", Path(log).read_text())
        anatomy = engine_log_anatomy(log)
        assert totals and anatomy["weight_bytes"] == int(totals[-1])
        listed = sum(anatomy["weight_bytes_by_dtype"].values())
        # The layer listing's constants account for the weights the builder reports.
        assert abs(listed - anatomy["weight_bytes"]) < 0.1 * anatomy["weight_bytes"]
        assert max(anatomy["weight_bytes_by_dtype"], key=anatomy["weight_bytes_by_dtype"].get) == dtype


def test_without_an_fp32_engine_the_weights_are_the_reference_until_one_is_built(tmp_path: Path) -> None:
    model = load_model(sample("detector.onnx"))
    workspace = Workspace(tmp_path)
    calibration = synthetic_calibration(summarize(model).inputs, samples=8)
    int8 = build(model, BuildConfig(precision="int8"), workspace=workspace, calibration=calibration)
    assert int8.ok and int8.size_finding is not None
    assert int8.size_finding.reference == "fp32-weights"
    weights = summarize(model).initializer_bytes_by_dtype["float32"]
    assert int8.size_finding.reference_bytes == weights < int8.engine_bytes
    assert "more than the model's weights as FP32" in int8.size_finding.message
    fp32 = build(model, BuildConfig(precision="fp32"), workspace=workspace)
    assert fp32.ok
    again = build(model, BuildConfig(precision="int8"), workspace=workspace, calibration=calibration)
    assert again.cached and again.size_finding is not None
    assert again.size_finding.reference == "fp32-engine" and again.size_finding.reference_bytes == fp32.engine_bytes
    assert sum(w.startswith("Larger than FP32:") for w in again.warnings) == 1


def test_an_int8_engine_smaller_than_fp32_has_no_finding(tmp_path: Path) -> None:
    model = load_model(sample("resnet_cnn.onnx"))
    static = {"input": [[1, 3, 224, 224]] * 3}
    calibration = synthetic_calibration(summarize(model).inputs, static, samples=8)
    results = build_matrix(
        model,
        [BuildConfig(precision=p, profiles=[static]) for p in ("int8", "fp32")],
        workspace=Workspace(tmp_path),
        calibration=calibration,
    )
    int8, fp32 = results
    assert int8.ok and fp32.ok and int8.engine_bytes < fp32.engine_bytes
    assert int8.size_finding is None and fp32.size_finding is None
    assert not any(w.startswith("Larger than FP32:") for w in int8.warnings)
