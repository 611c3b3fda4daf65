"""Accuracy against FP32 (ONNX Runtime, onnx.reference for FP8), keep-precision search, CPU timing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import run_cli, sample

from workbench.calibration import CalibrationData
from workbench.compare import (
    Comparison,
    KeepPrecisionResult,
    check_tolerances,
    compare_precisions,
    keep_precision_search,
    parse_tolerances,
)
from workbench.errors import WorkbenchError
from workbench.model import load_model
from workbench.precision import modelopt_available
from workbench.timing import Profile, profile_onnxruntime, reconcile

needs_modelopt = pytest.mark.skipif(
    not modelopt_available(),
    reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')",
)


def _images(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.repeat(np.repeat(rng.normal(size=(n, 3, 28, 28)).astype(np.float32), 8, axis=2), 8, axis=3)


@pytest.fixture(scope="module")
def cnn_comparison(tmp_path_factory: pytest.TempPathFactory):
    if not modelopt_available():
        pytest.skip("NVIDIA Model Optimizer is not installed")
    from workbench.workspace import Workspace

    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    model = load_model(sample("resnet_cnn.onnx"))
    calibration = CalibrationData({"input": _images(32)}, "test images")
    comparison = compare_precisions(
        model, ["fp16", "int8", "fp8", "bf16"], workspace=workspace, calibration=calibration, layerwise=True
    )
    return model, workspace, calibration, comparison


@needs_modelopt
def test_int8_drifts_more_than_fp16_and_both_drift(cnn_comparison) -> None:
    _, _, _, comparison = cnn_comparison
    by = {r.precision: r for r in comparison.results}
    fp16, int8 = by["fp16"].outputs[0], by["int8"].outputs[0]
    assert 0 < fp16.max_abs < int8.max_abs
    assert fp16.cosine > int8.cosine
    assert by["fp16"].backend == by["int8"].backend == "onnxruntime-cpu"
    assert comparison.reference == {
        "backend": "onnxruntime",
        "device": "cpu",
        "model": str(sample("resnet_cnn.onnx").resolve()),
    }
    assert "calibration" in comparison.input_source  # inputs match the calibration statistics, not zeros


@needs_modelopt
def test_fp8_runs_in_onnx_reference_and_bf16_is_not_guessed(cnn_comparison) -> None:
    _, _, _, comparison = cnn_comparison
    by = {r.precision: r for r in comparison.results}
    assert by["fp8"].backend == "onnx-reference-cpu" and by["fp8"].outputs[0].max_abs > 0
    assert by["bf16"].available is False and by["bf16"].outputs == [] and "GPU" in (by["bf16"].note or "")


@needs_modelopt
def test_layerwise_covers_every_surviving_tensor(cnn_comparison) -> None:
    model, _, _, comparison = cnn_comparison
    original = model.load_full()
    float_tensors = [o for n in original.graph.node for o in n.output]
    int8 = next(r for r in comparison.results if r.precision == "int8")
    quantized = onnx.load(int8.model_path)
    surviving = {o for n in quantized.graph.node for o in n.output}
    expected = [t for t in float_tensors if t in surviving]
    assert [row.tensor for row in int8.layerwise] == expected
    depths = [row.depth for row in int8.layerwise]
    assert depths == sorted(depths)
    assert int8.layerwise[-1].tensor == "logits"


@needs_modelopt
def test_keep_precision_search_meets_what_plain_int8_misses(cnn_comparison) -> None:
    model, workspace, calibration, comparison = cnn_comparison
    int8 = next(r for r in comparison.results if r.precision == "int8")
    baseline_max = int8.outputs[0].max_abs
    tolerance = {"max_abs": round(baseline_max * 0.6, 4)}
    assert check_tolerances(int8.outputs, None, tolerance), "the plain INT8 model must miss the tolerance"
    result = keep_precision_search(model, calibration=calibration, tolerances=tolerance, workspace=workspace)
    assert result.met, [h.to_dict() for h in result.history]
    assert result.outputs[0].max_abs <= tolerance["max_abs"]
    assert len(result.nodes) > 0 and result.trials == len(result.history) >= 2
    assert KeepPrecisionResult.from_json(result.to_json()).nodes == result.nodes


def test_tolerances_parse_and_check() -> None:
    assert parse_tolerances(["cosine=0.999", "max_abs=0.05"]) == {"cosine": 0.999, "max_abs": 0.05}
    with pytest.raises(WorkbenchError, match="METRIC=VALUE"):
        parse_tolerances(["accuracy=1"])


def test_cpu_profile_rows_are_the_optimised_sessions_nodes() -> None:
    # The rows-against-latency ratio is a wall-clock figure: benchmarks/bench_cpu_profile.py
    # measures it. Here, what cannot flake (more in tests/test_fidelity_cpu_profile.py).
    profile = profile_onnxruntime(
        str(sample("resnet_cnn.onnx")), shapes={"input": [1, 3, 224, 224]}, iterations=5, warmup=2
    )
    assert profile.backend == "onnxruntime" and profile.device.startswith("cpu")
    assert profile.optimization == "all" and profile.profiled_iterations == 10
    names = {n.name for n in load_model(sample("resnet_cnn.onnx")).proto.graph.node}
    mapped = {n for layer in profile.layers for n in layer.onnx_nodes}
    assert profile.layers and mapped | set(profile.unmapped_onnx_nodes) == names
    assert all(layer.onnx_nodes or layer.name in profile.unmapped_rows for layer in profile.layers)
    r = reconcile(profile)
    assert r["layer_sum_ms"] <= r["end_to_end_ms"] * (1 + 1e-9)
    assert r["latency_ratio"] == pytest.approx(profile.latency_ratio)
    assert r["row_basis"] == profile.row_basis in ("latency", "shares")
    assert sum(layer.share for layer in profile.layers) + profile.between_nodes_share == pytest.approx(1.0)
    lat = profile.latency_ms
    assert lat.min <= lat.median <= lat.p90 <= lat.p95 <= lat.p99 <= lat.max
    assert profile.by_op_type["Conv"] == pytest.approx(
        sum(layer.ms for layer in profile.layers if layer.op_type == "Conv")
    )
    assert Profile.from_json(profile.to_json()).latency_ms == lat


def test_cli_profile_contract() -> None:
    result = run_cli(
        "profile",
        str(sample("transformer_encoder.onnx")),
        "--shapes",
        "hidden_states:2x32x64",
        "--iterations",
        "10",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) >= {"backend", "device", "latency_ms", "throughput", "layers"}
    assert set(payload["latency_ms"]) >= {"mean", "median", "p90", "p95", "p99"}
    assert set(payload["layers"][0]) >= {"name", "op_type", "ms", "onnx_nodes"}
    assert payload["backend"] == "onnxruntime"
    assert payload["optimization"] == "all" and payload["row_basis"] in ("latency", "shares")
    assert {"share", "onnx_nodes"} <= set(payload["layers"][0])
    # Dynamic dims nobody gave become 1, as diagnose's build check does, and the profile says so.
    dynamic = run_cli("profile", str(sample("transformer_encoder.onnx")), "--iterations", "3", "--json")
    assert dynamic.returncode == 0, dynamic.stderr
    defaulted = json.loads(dynamic.stdout)
    assert defaulted["input_shapes"] == {"hidden_states": [1, 1, 64]}
    assert any(
        n.startswith("dynamic dims defaulted to 1: hidden_states[0]=batch, hidden_states[1]=sequence")
        for n in defaulted["notes"]
    ), defaulted["notes"]


@needs_modelopt
def test_cli_compare_and_keep_precision_contract(tmp_path: Path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, image=np.random.default_rng(0).normal(size=(16, 3, 128, 128)).astype(np.float32))
    env = {"TRT_WORKBENCH_HOME": str(tmp_path / "home")}
    result = run_cli(
        "compare",
        str(sample("detector.onnx")),
        "--precision",
        "int8,fp16",
        "--calib",
        str(calib),
        "--layerwise",
        "--tolerance",
        "cosine=0.5",
        "--json",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload["reference"]) >= {"backend", "device"}
    first = payload["results"][0]
    assert set(first) >= {"precision", "outputs", "top1_agreement", "layerwise"}
    assert set(first["outputs"][0]) >= {"name", "max_abs", "mean_abs", "rel", "cosine", "snr_db"}
    assert set(first["layerwise"][0]) >= {"tensor", "node", "op_type", "max_abs", "cosine", "rel"}
    assert Comparison.from_dict(payload).results[1].precision == "fp16"
    strict = run_cli(
        "compare",
        str(sample("detector.onnx")),
        "--precision",
        "int8",
        "--calib",
        str(calib),
        "--tolerance",
        "max_abs=1e-9",
        "--json",
        env=env,
    )
    assert strict.returncode == 1
    keep = run_cli(
        "keep-precision",
        str(sample("detector.onnx")),
        "--calib",
        str(calib),
        "--tolerance",
        "cosine=0.5",
        "--json",
        env=env,
    )
    assert keep.returncode == 0, keep.stderr
    assert set(json.loads(keep.stdout)) >= {"nodes", "outputs", "met", "trials"}


@needs_modelopt
def test_comparison_and_search_can_be_cancelled(tmp_path: Path) -> None:
    from workbench.isolation import TaskCancelled
    from workbench.workspace import Workspace

    model = load_model(sample("detector.onnx"))
    calibration = CalibrationData(
        {"image": np.random.default_rng(0).normal(size=(8, 3, 128, 128)).astype(np.float32)}, "t"
    )
    with pytest.raises(TaskCancelled):
        compare_precisions(
            model, ["int8"], workspace=Workspace(tmp_path), calibration=calibration, cancelled=lambda: True
        )
    with pytest.raises(TaskCancelled):
        keep_precision_search(
            model,
            calibration=calibration,
            tolerances={"cosine": 1.0},
            workspace=Workspace(tmp_path),
            cancelled=lambda: True,
        )
    assert not list(tmp_path.rglob("*.int8.onnx")), "nothing is transformed after a cancel"
