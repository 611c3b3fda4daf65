"""Engine builds with the real TensorRT-RTX builder and real ModelOpt transforms."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import requires_rtx, run_cli, sample

from workbench.build import BuildConfig, build, build_matrix, suggest_profile, validate_profiles
from workbench.calibration import CalibrationData
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

CNN_STATIC = {"input": [[1, 3, 224, 224]] * 3}


def _images(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(n, 3, 28, 28)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)


@pytest.fixture(scope="module")
def cnn_matrix(tmp_path_factory: pytest.TempPathFactory):
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    model = load_model(sample("resnet_cnn.onnx"))
    calibration = CalibrationData(arrays={"input": _images(48)}, source="test images")
    configs = [
        BuildConfig(precision=p, profiles=[CNN_STATIC], target="sm89")
        for p in ("fp32", "fp16", "bf16", "int8", "fp8")
    ]
    configs.append(BuildConfig(precision="fp8", profiles=[CNN_STATIC], target="sm80"))
    stages = []
    results = build_matrix(
        model, configs, workspace=workspace, calibration=calibration, progress=lambda p: stages.append(p)
    )
    return model, workspace, calibration, configs, results, stages


def test_cnn_builds_in_every_precision_with_sizes_ordered(cnn_matrix) -> None:
    _, _, _, _, results, _ = cnn_matrix
    by = {(r.precision, r.target): r for r in results}
    for precision in ("fp32", "fp16", "bf16", "int8", "fp8"):
        r = by[(precision, "sm89")]
        assert r.ok, r.error
        assert r.engine_path and Path(r.engine_path).stat().st_size == r.engine_bytes
        assert r.backend is not None and r.backend.name == "tensorrt-rtx"
    assert (
        by[("fp32", "sm89")].engine_bytes
        > by[("fp16", "sm89")].engine_bytes
        > by[("int8", "sm89")].engine_bytes
    )


def test_fp8_on_sm80_is_refused_with_a_reason(cnn_matrix) -> None:
    _, _, _, _, results, _ = cnn_matrix
    refused = next(r for r in results if r.target == "sm80")
    assert not refused.ok and refused.engine_path is None
    assert "FP8 cannot be built for SM80" in (refused.error or "")
    assert "SM89" in refused.error


def test_layer_precisions_are_reported(cnn_matrix) -> None:
    _, _, _, _, results, _ = cnn_matrix
    by = {r.precision: r for r in results if r.ok}
    assert set(by["fp32"].precision_counts) == {"fp32"}
    assert by["fp16"].precision_counts.get("fp16", 0) > 0.8 * sum(by["fp16"].precision_counts.values())
    assert by["bf16"].precision_counts.get("bf16", 0) > 0
    assert by["int8"].precision_counts.get("int8", 0) >= 20  # every Conv runs in INT8
    assert by["fp8"].precision_counts.get("fp8", 0) >= 20
    conv = next(layer for layer in by["int8"].layers if "/layer1/layer1.0/conv1/Conv" in layer.onnx_nodes)
    assert conv.precision == "int8"
    assert any(layer.onnx_nodes for layer in by["fp32"].layers)
    for r in by.values():
        assert not any("Silent fallback" in w for w in r.warnings), r.warnings


def test_transforms_are_kept_and_recorded(cnn_matrix) -> None:
    _, _, _, _, results, _ = cnn_matrix
    int8 = next(r for r in results if r.precision == "int8")
    assert (
        int8.transform is not None and int8.transform.method == "quantize" and int8.transform.qdq_nodes > 40
    )
    assert Path(int8.built_model_path).is_file() and int8.built_model_path.endswith(".int8.onnx")
    fp16 = next(r for r in results if r.precision == "fp16")
    assert (
        fp16.transform is not None and fp16.transform.method == "autocast" and fp16.transform.cast_nodes >= 2
    )
    fp32 = next(r for r in results if r.precision == "fp32")
    assert fp32.transform is None and fp32.built_model_path == str(sample("resnet_cnn.onnx").resolve())


def test_unchanged_rerun_comes_from_the_cache(cnn_matrix) -> None:
    model, workspace, calibration, configs, first, _ = cnn_matrix
    again = build_matrix(model, configs, workspace=workspace, calibration=calibration)
    for before, after in zip(first, again):
        if before.ok:
            assert (
                after.cached
                and after.engine_path == before.engine_path
                and after.engine_bytes == before.engine_bytes
            )
    index = workspace.index()
    assert len([b for b in index["builds"] if b["model"].endswith("resnet_cnn.onnx")]) == 5


def test_progress_reports_every_build(cnn_matrix) -> None:
    _, _, _, configs, _, stages = cnn_matrix
    finished = [s for s in stages if s.stage in ("done", "failed", "cached")]
    assert len(finished) == len(configs)
    assert max(s.done for s in stages) == len(configs)
    assert any(s.stage == "transforming" for s in stages) and any(s.stage == "building" for s in stages)


def test_dynamic_model_needs_a_profile_and_builds_with_two(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    model = load_model(sample("transformer_encoder.onnx"))
    refused = build(model, BuildConfig(precision="fp16"), workspace=workspace)
    assert not refused.ok and "give an optimization profile" in (refused.error or "")
    two = [
        {"hidden_states": [[1, 1, 64], [4, 64, 64], [8, 128, 64]]},
        {"hidden_states": [[1, 128, 64], [16, 256, 64], [32, 512, 64]]},
    ]
    result = build(model, BuildConfig(precision="fp16", profiles=two), workspace=workspace)
    assert result.ok, result.error
    assert result.shapes == two


def test_profile_validation_and_suggestion() -> None:
    summary = summarize(load_model(sample("resnet_cnn.onnx")))
    bad = validate_profiles(
        summary, [{"input": [[1, 3, 224, 224], [8, 3, 224, 224], [4, 3, 224, 224]], "other": [[1], [1], [1]]}]
    )
    assert any("min <= opt <= max" in p for p in bad) and any("not a model input" in p for p in bad)
    fixed = validate_profiles(summary, [{"input": [[1, 3, 128, 128]] * 3}])
    assert any("fixed to 224" in p for p in fixed)
    served = [{"input": [b, 3, 224, 224]} for b in (1, 1, 2, 4, 8, 16)]
    profile = suggest_profile(summary, served)
    # opt is where most requests are (batch 1: 2 of 6), min/max cover every request.
    assert profile["input"] == [[1, 3, 224, 224], [1, 3, 224, 224], [16, 3, 224, 224]]
    spread = [{"input": [b, 3, 224, 224]} for b in (1, 2, 4, 8, 16)]
    assert suggest_profile(summary, spread)["input"][1] == [4, 3, 224, 224]  # no common shape: the median
    assert validate_profiles(summary, [profile]) == []


def test_keep_precision_excludes_nodes_from_quantization(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    model = load_model(sample("resnet_cnn.onnx"))
    calibration = CalibrationData(arrays={"input": _images(16)}, source="test images")
    keep = ["/conv1/Conv", "/fc/Gemm"]
    result = build(
        model,
        BuildConfig(precision="int8", profiles=[CNN_STATIC], keep_precision=keep),
        workspace=workspace,
        calibration=calibration,
    )
    assert result.ok, result.error
    assert result.transform is not None and result.transform.nodes_excluded == keep
    stem = next(layer for layer in result.layers if "/conv1/Conv" in layer.onnx_nodes)
    assert stem.precision == "fp32"


def test_cancel_stops_the_matrix(tmp_path: Path) -> None:
    model = load_model(sample("resnet_cnn.onnx"))
    flag = threading.Event()
    flag.set()
    results = build_matrix(
        model,
        [BuildConfig(precision="fp32", profiles=[CNN_STATIC])],
        workspace=Workspace(tmp_path),
        cancelled=flag.is_set,
    )
    assert not results[0].ok and "Cancelled" in (results[0].error or "")


def test_cli_build_contract(tmp_path: Path) -> None:
    out = tmp_path / "ws"
    result = run_cli(
        "build",
        str(sample("detector.onnx")),
        "--precision",
        "fp32,fp16,fp8",
        "--synthetic-calib",
        "--target",
        "sm80",
        "-o",
        str(out),
        "--json",
    )
    assert result.returncode == 1  # FP8 on SM80 is refused
    payload = json.loads(result.stdout)
    builds = {b["precision"]: b for b in payload["builds"]}
    for key in (
        "precision",
        "shapes",
        "ok",
        "engine_path",
        "engine_bytes",
        "build_seconds",
        "backend",
        "target",
        "layers",
        "precision_counts",
        "warnings",
        "error",
    ):
        assert key in builds["fp32"], key
    assert builds["fp32"]["ok"] and builds["fp16"]["ok"] and not builds["fp8"]["ok"]
    assert set(builds["fp32"]["layers"][0]) >= {"name", "type", "precision", "onnx_nodes"}
    assert builds["fp32"]["target"] == "sm80"
    assert Path(builds["fp16"]["engine_path"]).is_file()
    rerun = run_cli(
        "build",
        str(sample("detector.onnx")),
        "--precision",
        "fp32",
        "--target",
        "sm80",
        "-o",
        str(out),
        "--json",
    )
    assert json.loads(rerun.stdout)["builds"][0]["cached"] is True


def test_full_build_log_is_kept_beside_the_engine(cnn_matrix) -> None:
    _, _, _, _, results, _ = cnn_matrix
    fp32 = next(r for r in results if r.precision == "fp32")
    assert fp32.log_path and Path(fp32.log_path).is_file()
    text = Path(fp32.log_path).read_text()
    assert "Layers:" in text and "[verbose]" in text
    assert "cudaError 35" not in text


def test_entropy_and_max_side_by_side(tmp_path: Path) -> None:
    from workbench.calibration import compare_calibrators

    model = load_model(sample("resnet_cnn.onnx"))
    comparison = compare_calibrators(
        model, CalibrationData(arrays={"input": _images(30)}, source="test images"), Workspace(tmp_path)
    )
    assert [o.calibrator for o in comparison.outcomes] == ["entropy", "max"]
    assert comparison.evaluation_samples == 6 and comparison.calibration_samples == 24
    for outcome in comparison.outcomes:
        logits = outcome.outputs[0]
        assert logits.name == "logits" and 0 < logits.max_abs < 5 and logits.cosine > 0.98
        assert outcome.top1_agreement is not None
    # Max calibration keeps the full range, so its activation scales are never smaller.
    assert comparison.scale_ratio_median is not None and comparison.scale_ratio_median >= 1.0
    entropy, maximum = comparison.outcomes
    assert entropy.outputs[0].max_abs != maximum.outputs[0].max_abs


def test_transforms_never_touch_the_users_model(tmp_path: Path) -> None:
    import hashlib
    import shutil

    # ModelOpt writes inferred shapes back into the file it is given; ours must stay as it was.
    original = tmp_path / "mine.onnx"
    shutil.copyfile(sample("transformer_encoder.onnx"), original)
    before = hashlib.sha256(original.read_bytes()).hexdigest()
    model = load_model(original)
    profile = {"hidden_states": [[1, 16, 64], [2, 16, 64], [4, 16, 64]]}
    calibration = CalibrationData(
        arrays={"hidden_states": np.random.default_rng(0).normal(size=(8, 16, 64)).astype(np.float32)},
        source="t",
    )
    for precision in ("fp16", "int8"):
        result = build(
            model,
            BuildConfig(precision=precision, profiles=[profile]),
            workspace=Workspace(tmp_path / "ws"),
            calibration=calibration,
        )
        assert result.ok, result.error
    assert hashlib.sha256(original.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.onnx", "ws"]


def test_cancel_mid_matrix_at_the_first_done(tmp_path: Path) -> None:
    """Cancel when the first engine is done: the running build is killed within seconds, the
    queued one never starts, and neither leaves an engine or a folder behind."""
    import time

    from workbench.build import BuildProgress
    from workbench.calibration import synthetic_calibration
    from workbench.summary import summarize

    model = load_model(sample("resnet_cnn.onnx"))
    calibration = synthetic_calibration(summarize(model).inputs, {"input": [[1, 3, 224, 224]] * 3}, samples=8)
    configs = [
        BuildConfig(precision="fp32", profiles=[CNN_STATIC]),
        BuildConfig(precision="int8", profiles=[CNN_STATIC]),
        BuildConfig(precision="fp16", profiles=[CNN_STATIC]),
    ]
    flag = threading.Event()
    cancelled_at: list[float] = []
    stages: list[tuple[int, str]] = []

    def progress(p: BuildProgress) -> None:
        stages.append((p.index, p.stage))
        if p.stage == "done" and not flag.is_set():
            cancelled_at.append(time.monotonic())
            flag.set()

    workspace = Workspace(tmp_path / "ws")
    results = build_matrix(
        model, configs, workspace=workspace, calibration=calibration, max_parallel=2,
        progress=progress, cancelled=flag.is_set,
    )
    returned = time.monotonic()
    assert cancelled_at, "no build finished"
    assert results[0].ok
    for result in results[1:]:
        assert not result.ok and "Cancelled" in (result.error or ""), result.error
    assert (1, "cancelled") in stages and (2, "cancelled") in stages
    assert returned - cancelled_at[0] < 15, "cancel took the length of a build, not seconds"
    engines = sorted(p.name for p in workspace.root.rglob("*.engine"))
    assert engines == [Path(results[0].engine_path or "").name]
    assert not [p for p in workspace.root.rglob(".staging*")]
