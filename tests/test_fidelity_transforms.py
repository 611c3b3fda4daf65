"""Precision transforms run on the user's inputs, name their stage when they fail, and take
old-format models after upgrading a private copy checked for meaning (real ModelOpt, real
ONNX Runtime, real TensorRT-RTX builds)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ROOT, requires_rtx, run_cli, sample

from workbench.build import BuildConfig, build
from workbench.calibration import CalibrationData
from workbench.errors import WorkbenchError
from workbench.model import load_model
from workbench.precision import modelopt_available, transform_key
from workbench.transforms import transformed_model
from workbench.workspace import Workspace

pytestmark = pytest.mark.skipif(
    not modelopt_available(), reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')"
)

VAD = sample("vad_like_scalar_sr.onnx")
OLD = sample("old_ir3_opset9_cnn.onnx")


def _audio(n: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 512)).astype(np.float32)


def _vad_inputs(path: Path, n: int = 1, seed: int = 0) -> Path:
    np.savez(path, input=_audio(n, seed), sr=np.array(16000, np.int64))
    return path


def _without_sr(tmp_path: Path) -> Path:
    """The VAD sample with its sample rate folded in (an initializer of 16000): every input is
    float, so a transform is free to run it on random values, and all-1 dims still break it."""
    model = onnx.load(str(VAD))
    kept = [i for i in model.graph.input if i.name != "sr"]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(16000, np.int64), "sr"))
    path = tmp_path / "vad_fixed_rate.onnx"
    onnx.save(model, str(path))
    return path


# ----------------------------------------------------------------------------- task 1: the user's inputs


@pytest.mark.parametrize("shapes", [["--shapes", "input:1x512"], []])
def test_fp16_compare_without_inputs_asks_for_the_sample_rate_before_anything_runs(
    tmp_path: Path, shapes: list[str]
) -> None:
    # The sample rate is not given: the FP32 reference (and AutoCast after it) would run the
    # model on a random sr, so the workbench asks for it first, in one sentence naming the
    # stage and the fix — with or without the audio length.
    result = run_cli("compare", str(VAD), "--precision", "fp16", *shapes, "-o", str(tmp_path / "ws"))
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("trt-workbench: error: ")
    assert "'sr'" in message and "integer scalar" in message
    assert "the FP32 reference (ONNX Runtime) runs the model" in message
    assert "--inputs DATA with sr as a 0-d array, or --calib DATA" in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ws" / "transforms").exists() or not list((tmp_path / "ws" / "transforms").rglob("*.onnx"))


def test_the_transform_asks_for_an_integer_scalar_instead_of_randomising_it(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError) as caught:
        transformed_model(load_model(VAD), "fp16", Workspace(tmp_path))
    assert "'sr'" in caught.value.message and "ModelOpt AutoCast" in caught.value.message
    assert "0-d array" in caught.value.message


def test_fp16_compare_with_the_users_inputs_succeeds(tmp_path: Path) -> None:
    data = _vad_inputs(tmp_path / "audio.npz")
    result = run_cli(
        "compare", str(VAD), "--precision", "fp16", "--inputs", str(data), "-o", str(tmp_path / "ws"), "--json"
    )
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)
    assert comparison["inputs"] == {"input": [1, 512], "sr": []}
    (fp16,) = comparison["results"]
    assert fp16["available"] and fp16["outputs"][0]["cosine"] > 0.9999
    # The transform ran on exactly those inputs, and says so.
    (meta,) = (tmp_path / "ws" / "transforms").rglob("*.fp16.json")
    transform = json.loads(meta.read_text())
    assert transform["ran_on"].startswith("the comparison inputs (input [1, 512], sr [])")
    arrays = dict(np.load(data))
    assert transform["inputs_hash"] == CalibrationData(arrays=arrays, source="x").content_hash()
    # ModelOpt AutoCast loses Constant nodes inside If branches (a KeyError); the copy it sees
    # holds them as initializers, checked against the original on the same inputs.
    assert "Constant nodes inside If/Loop bodies" in transform["note"] and "outputs match" in transform["note"]


def test_fp16_compare_through_the_api_runs_on_the_users_8k_audio(tmp_path: Path) -> None:
    from workbench.compare import compare_precisions

    model = load_model(VAD)
    data = CalibrationData(arrays={"input": _audio(2, 5), "sr": np.array(8000, np.int64)}, source="mine")
    comparison = compare_precisions(model, ["fp16"], data=data, workspace=Workspace(tmp_path))
    assert comparison.results[0].available and comparison.results[0].outputs[0].cosine > 0.9999


def test_transform_cache_is_keyed_by_the_inputs(tmp_path: Path) -> None:
    model = load_model(VAD)
    workspace = Workspace(tmp_path)
    config = BuildConfig(precision="fp16")
    first = {"input": _audio(1, 1), "sr": np.array(16000, np.int64)}
    other = {"input": _audio(1, 2), "sr": np.array(16000, np.int64)}
    path_a, made = transformed_model(model, config.precision, workspace, inputs=first)
    path_again, again = transformed_model(model, config.precision, workspace, inputs=first)
    path_b, made_b = transformed_model(model, config.precision, workspace, inputs=other)
    assert made is not None and not made.cached
    assert again is not None and again.cached and path_again == path_a
    assert made_b is not None and not made_b.cached and path_b != path_a
    assert made.inputs_hash != made_b.inputs_hash
    h = model.content_hash
    assert transform_key(h, "fp16", None, "entropy", []) != transform_key(h, "fp16", None, "entropy", [], "x")
    # A transform on ModelOpt's own random inputs keeps the key it always had.
    legacy = hashlib.sha256(
        json.dumps(
            {"source": h, "precision": "fp16", "calibration": None, "calibrator": "entropy", "keep": [], "v": 1},
            sort_keys=True,
        ).encode()
    ).hexdigest()
    assert transform_key(h, "fp16", None, "entropy", []) == legacy


def test_a_failing_transform_names_its_stage_and_what_to_give(tmp_path: Path) -> None:
    # Every input is float here, so AutoCast runs the model on its own random inputs with
    # every dynamic dim 1, and reflect padding cannot pad one sample.
    model = load_model(_without_sr(tmp_path))
    with pytest.raises(WorkbenchError) as caught:
        transformed_model(model, "fp16", Workspace(tmp_path / "ws"))
    message = caught.value.message
    assert message.startswith("The FP16 transform (ModelOpt AutoCast) failed: ")
    assert "Pad reflect requires axis length >= 2" in message
    assert "ModelOpt's random inputs with every dynamic dim set to 1 (input [1, 1])" in message
    assert "give the inputs it runs on: --inputs DATA, or --calib DATA" in message


@requires_rtx
@pytest.mark.rtx
def test_a_failing_transform_fails_the_build_with_its_stage(tmp_path: Path) -> None:
    model = load_model(_without_sr(tmp_path))
    tiny = {"input": [[1, 1], [1, 1], [1, 4096]]}
    result = build(model, BuildConfig(precision="fp16", profiles=[tiny]), workspace=Workspace(tmp_path / "ws"))
    assert not result.ok
    assert (result.error or "").startswith("The FP16 transform (ModelOpt AutoCast) failed: "), result.error
    assert "random inputs at the profile's opt shapes (input [1, 1])" in (result.error or "")
    # At the opt shape the user serves, the same transform runs and the engine builds.
    served = {"input": [[1, 64], [1, 512], [1, 4096]]}
    ok = build(model, BuildConfig(precision="fp16", profiles=[served]), workspace=Workspace(tmp_path / "ws"))
    assert ok.ok, ok.error
    assert ok.transform is not None and "profile's opt shapes (input [1, 512])" in (ok.transform.ran_on or "")


def test_int8_calibrates_with_a_zero_d_sample_rate(tmp_path: Path) -> None:
    # ModelOpt splits every calibration array along axis 0, which a 0-d sample rate has not.
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=_audio(16, 7), sr=np.array(16000, np.int64))
    data = _vad_inputs(tmp_path / "audio.npz")
    result = run_cli(
        "compare", str(VAD), "--precision", "int8", "--calib", str(calib), "--inputs", str(data),
        "-o", str(tmp_path / "ws"), "--json",
    )
    assert result.returncode == 0, result.stderr
    (int8,) = json.loads(result.stdout)["results"]
    assert int8["available"] and int8["outputs"][0]["cosine"] > 0.99
    (meta,) = (tmp_path / "ws" / "transforms").rglob("*.int8.json")
    transform = json.loads(meta.read_text())
    assert transform["qdq_nodes"] > 0 and transform["ran_on"].startswith("the calibration data (16 batch(es)")


# ----------------------------------------------------------------------------- task 2: old-format models


@requires_rtx
@pytest.mark.rtx
def test_old_format_model_builds_in_fp16_and_int8_after_a_checked_upgrade(tmp_path: Path) -> None:
    mine = tmp_path / "old.onnx"
    shutil.copyfile(OLD, mine)
    before = hashlib.sha256(mine.read_bytes()).hexdigest()
    out = tmp_path / "ws"
    result = run_cli("build", str(mine), "--precision", "fp32,fp16,int8", "--synthetic-calib", "-o", str(out), "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    builds = {b["precision"]: b for b in json.loads(result.stdout)["builds"]}
    assert all(b["ok"] for b in builds.values()), {p: b["error"] for p, b in builds.items()}
    assert builds["fp32"]["transform"] is None  # FP32 builds the model as it is
    for precision in ("fp16", "int8"):
        transform = builds[precision]["transform"]
        note = transform["note"] or ""
        assert note.startswith("upgraded from IR 3 / opset 9 to IR 7 / opset 13"), note
        assert "initializers no longer listed as graph inputs" in note
        assert "before the transform; outputs match" in note
        assert "opset 9 -> 13" in transform["prepared"] and "IR 3 -> 7" in transform["prepared"]
        built = onnx.load(builds[precision]["built_model_path"], load_external_data=False)
        assert built.ir_version >= 7
        assert not {i.name for i in built.graph.input} & {t.name for t in built.graph.initializer}
    assert Path(builds["int8"]["engine_path"]).is_file()
    assert hashlib.sha256(mine.read_bytes()).hexdigest() == before  # the user's file is untouched


def test_the_meaning_check_catches_a_copy_that_computes_something_else(tmp_path: Path) -> None:
    from workbench.precision import _check_on

    model = onnx.load(str(OLD))
    for init in model.graph.initializer:
        if init.name == "/fc.weight":  # (a shifted bias would not show: Softmax ignores a shift)
            init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * 1.5, init.name))
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    feeds = {"data": np.random.default_rng(0).normal(size=(1, 3, 32, 32)).astype(np.float32)}
    assert (_check_on(str(OLD), str(OLD), feeds) or "").startswith("outputs match")
    assert (_check_on(str(OLD), str(changed), feeds) or "").startswith("outputs differ")


# ----------------------------------------------------------------------------- the real model


@requires_rtx
@pytest.mark.slow
def test_real_silero_vad_fp16_compare_on_the_users_inputs(tmp_path: Path) -> None:
    import subprocess

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from real_models import REAL_MODELS

    try:
        path = REAL_MODELS["silero_vad"].path()
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot fetch silero-vad from the package index: {exc}")
    data = tmp_path / "speech.npz"
    np.savez(
        data,
        input=(0.1 * _audio(1, 9)).astype(np.float32),
        state=np.zeros((2, 1, 128), np.float32),
        sr=np.array(16000, np.int64),
    )
    # Calibration as ModelOpt splits it: batches along axis 0 (state [2, 1, 128] per batch).
    calib = tmp_path / "calib.npz"
    np.savez(
        calib,
        input=(0.1 * _audio(8, 10)).astype(np.float32),
        state=np.zeros((16, 1, 128), np.float32),
        sr=np.array(16000, np.int64),
    )
    out = tmp_path / "ws"
    result = run_cli(
        "compare", str(path), "--precision", "fp16,int8", "--inputs", str(data), "--calib", str(calib), "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "fp16 [onnxruntime-cpu] output" in result.stdout and "int8 [onnxruntime-cpu] output" in result.stdout
    notes = {p.name: json.loads(p.read_text())["note"] for p in (out / "transforms").rglob("*.json")}
    # Silero's input dims have no names (ModelOpt PTQ fails on them) and its If branches hold
    # Constant nodes (AutoCast fails on them): the copies fixed both, and say so.
    assert "unnamed dynamic input dims given names" in notes["silero_vad.int8.json"]
    assert "Constant nodes inside If/Loop bodies" in notes["silero_vad.fp16.json"]
    # All of Silero's compute is inside its If: PTQ quantizes nothing there, and says so.
    assert "placed no Q/DQ nodes" in notes["silero_vad.int8.json"]


def test_a_failing_calibration_names_ptq_and_the_data_to_give(tmp_path: Path) -> None:
    # One sample of audio per frame: reflect padding cannot pad it, so calibration fails.
    model = load_model(VAD)
    short = CalibrationData(
        arrays={"input": np.random.default_rng(0).normal(size=(4, 1)).astype(np.float32), "sr": np.array(16000, np.int64)},
        source="too short",
    )
    with pytest.raises(WorkbenchError) as caught:
        transformed_model(model, "int8", Workspace(tmp_path), calibration=short)
    message = caught.value.message
    assert message.startswith("The INT8 transform (ModelOpt PTQ) failed: "), message
    assert "Pad reflect requires axis length >= 2" in message
    assert "the calibration data (4 batch(es) of input [1, 1], sr [])" in message
    assert "--calib DATA" in message and "sr as a 0-d array" in message


@requires_rtx
@pytest.mark.rtx
def test_a_failing_build_says_the_build_failed(tmp_path: Path) -> None:
    model = load_model(sample("broken_shared_dim_names.onnx"))
    shapes = {"image": [[1, 3, 32, 48]] * 3}
    result = build(model, BuildConfig(precision="fp32", profiles=[shapes]), workspace=Workspace(tmp_path))
    assert not result.ok
    assert (result.error or "").startswith("The build failed (tensorrt-rtx builder): "), result.error
