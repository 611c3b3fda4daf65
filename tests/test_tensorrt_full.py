"""Full TensorRT (10.x / 11.x) on a GPU machine: the same diagnosis path as TensorRT-RTX.

These run wherever `tensorrt` imports (it needs NVIDIA's package index and a GPU) and are
skipped elsewhere with the reason printed. The code they cover is shared with the
TensorRT-RTX path, which the other tests run here, and is type-checked against the
TensorRT 10.13 stubs in CI.
"""

from __future__ import annotations

import json

import pytest
from conftest import manifest, requires_tensorrt, run_cli, sample, sample_shapes

from workbench.backends import resolve_backend
from workbench.diagnose import diagnose
from workbench.env import collect_environment
from workbench.errors import BackendUnavailableError
from workbench.model import load_model

gpu_present = bool(collect_environment().gpus)
requires_gpu = pytest.mark.skipif(not gpu_present, reason="no NVIDIA GPU here: full TensorRT builds need one")


def test_asking_for_a_missing_backend_is_one_clear_sentence() -> None:
    try:
        resolve_backend("tensorrt")
    except BackendUnavailableError as exc:
        assert "tensorrt is not installed" in exc.message
        result = run_cli("diagnose", str(sample("detector.onnx")), "--backend", "tensorrt")
        assert result.returncode == 2 and "Traceback" not in result.stderr
    else:
        pytest.skip("full TensorRT is installed here, so it cannot be missing")


@pytest.mark.tensorrt
@requires_tensorrt
@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_full_tensorrt_parses_samples_like_the_manifest_says(entry: dict) -> None:
    d = diagnose(load_model(sample(entry["file"])), backend="tensorrt")
    assert d.backend is not None and d.backend.name == "tensorrt"
    if entry["kind"] == "working":
        assert d.parse_ok, [e.message for e in d.errors]
    for err in d.errors:
        if err.stage == "parse":
            assert err.node_name, "every parser error is mapped to an ONNX node"


@pytest.mark.tensorrt
@pytest.mark.gpu
@requires_tensorrt
@requires_gpu
@pytest.mark.parametrize("entry", [e for e in manifest() if e["kind"] == "working"], ids=lambda e: e["file"])
def test_full_tensorrt_builds_working_samples_on_the_gpu(entry: dict) -> None:
    d = diagnose(
        load_model(sample(entry["file"])),
        backend="tensorrt",
        build_check=True,
        shapes=sample_shapes(entry) or None,
    )
    assert d.build_ok is True, [e.message for e in d.errors]
    assert d.target is None  # full TensorRT builds for the GPU it runs on


@pytest.mark.tensorrt
@pytest.mark.gpu
@requires_tensorrt
@requires_gpu
def test_full_tensorrt_cli_fix(tmp_path) -> None:
    out = tmp_path / "fixed.onnx"
    result = run_cli(
        "fix",
        str(sample("broken_reduce_axes_subgraph.onnx")),
        "-o",
        str(out),
        "--auto",
        "--build-check",
        "--backend",
        "tensorrt",
        "--json",
    )
    payload = json.loads(result.stdout)
    assert payload["after"]["parse_ok"] and payload["after"]["build_ok"]


@pytest.mark.tensorrt
@pytest.mark.gpu
@requires_tensorrt
@requires_gpu
def test_full_tensorrt_int8_calibrator_and_fp16_flags(tmp_path) -> None:
    # TensorRT 10 is weakly typed: FP16 is a builder flag and INT8 uses Polygraphy's Calibrator.
    import numpy as np

    from workbench.backends import resolve_backend
    from workbench.build import BuildConfig, build_matrix
    from workbench.calibration import CalibrationData
    from workbench.workspace import Workspace

    backend = resolve_backend("tensorrt")
    profile = {"input": [[1, 3, 224, 224]] * 3}
    calibration = CalibrationData(
        arrays={"input": np.random.default_rng(0).normal(size=(16, 3, 224, 224)).astype(np.float32)},
        source="test",
    )
    configs = [
        BuildConfig(precision=p, profiles=[profile], backend="tensorrt") for p in ("fp32", "fp16", "int8")
    ]
    results = build_matrix(
        load_model(sample("resnet_cnn.onnx")), configs, workspace=Workspace(tmp_path), calibration=calibration
    )
    assert all(r.ok for r in results), [r.error for r in results]
    if not backend.strongly_typed_only:
        assert results[2].transform is None  # calibrated by TensorRT itself, not by ModelOpt
    assert results[0].engine_bytes > results[1].engine_bytes


@pytest.mark.tensorrt
@pytest.mark.gpu
@requires_tensorrt
@requires_gpu
def test_drift_inside_the_engine_with_debug_tensors(tmp_path) -> None:
    import numpy as np

    from workbench.calibration import CalibrationData
    from workbench.compare import engine_drift
    from workbench.workspace import Workspace

    calibration = CalibrationData(
        {"input": np.random.default_rng(0).normal(size=(16, 3, 224, 224)).astype(np.float32)}, "test"
    )
    result = engine_drift(
        load_model(sample("resnet_cnn.onnx")),
        "int8",
        workspace=Workspace(tmp_path),
        calibration=calibration,
        shapes={"input": [[1, 3, 224, 224]] * 3},
    )
    assert result.backend.startswith("tensorrt") and result.layerwise
    assert result.outputs[0].cosine > 0.9


def test_engine_drift_without_a_gpu_is_one_sentence(tmp_path) -> None:
    from workbench.compare import engine_drift

    if collect_environment().gpus:
        pytest.skip("a GPU is present")
    with pytest.raises(Exception) as info:
        engine_drift(load_model(sample("resnet_cnn.onnx")), "int8", workspace=None)
    assert "needs an NVIDIA GPU" in str(info.value)
