"""Calibration data intake and its checks, on real files."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, sample

from workbench.calibration import (
    CalibrationError,
    Preprocessing,
    check_calibration,
    load_calibration,
    synthetic_calibration,
)
from workbench.model import load_model
from workbench.summary import summarize


@pytest.fixture(scope="module")
def cnn():
    return summarize(load_model(sample("resnet_cnn.onnx")))


def _save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _levels(report, level: str) -> list[str]:
    return [i.message for i in report.items if i.level == level]


def test_good_npz_passes_with_stats(tmp_path: Path, cnn) -> None:
    rng = np.random.default_rng(0)
    path = _save_npz(tmp_path / "c.npz", input=rng.normal(size=(600, 3, 224, 224)).astype(np.float32))
    report = check_calibration(load_calibration(path, cnn.inputs), cnn)
    assert report.ok and report.samples == 600
    assert _levels(report, "warning") == []
    assert report.stats[0].std == pytest.approx(1.0, abs=0.01)


def test_wrong_shape(tmp_path: Path, cnn) -> None:
    path = _save_npz(
        tmp_path / "c.npz", input=np.zeros((8, 3, 128, 128), np.float32) + np.arange(128, dtype=np.float32)
    )
    report = check_calibration(load_calibration(path, cnn.inputs), cnn)
    assert not report.ok
    assert any("axis 2, the model fixes it to 224" in m for m in _levels(report, "error"))


def test_wrong_rank_and_name(tmp_path: Path, cnn) -> None:
    path = _save_npz(tmp_path / "c.npz", image=np.ones((8, 224, 224), np.float32))
    report = check_calibration(load_calibration(path, cnn.inputs), cnn)
    errors = " ".join(_levels(report, "error"))
    assert "No data for input 'input'" in errors and "'image' is not a model input" in errors


def test_pickled_objects_are_refused(tmp_path: Path, cnn) -> None:
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"payload": "x"}], dtype=object), allow_pickle=True)
    with pytest.raises(CalibrationError, match="pickled Python objects"):
        load_calibration(path, cnn.inputs)
    npz = tmp_path / "evil.npz"
    np.savez(npz, input=np.array([object()], dtype=object))
    with pytest.raises(CalibrationError, match="pickled Python objects"):
        load_calibration(npz, cnn.inputs)
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps({"input": [1, 2, 3]}))
    with pytest.raises(CalibrationError):
        load_calibration(raw, cnn.inputs)


def test_nan_and_few_samples(tmp_path: Path, cnn) -> None:
    data = np.random.default_rng(1).normal(size=(3, 3, 224, 224)).astype(np.float32)
    data[1, 0, 0, 0] = np.nan
    data[2, 0, 0, 1] = np.inf
    report = check_calibration(load_calibration(_save_npz(tmp_path / "c.npz", input=data), cnn.inputs), cnn)
    assert not report.ok
    assert any("1 NaN and 1 Inf" in m for m in _levels(report, "error"))
    assert any("Only 3 sample(s)" in m for m in _levels(report, "warning"))


def test_missing_normalisation_and_black_frames(tmp_path: Path, cnn) -> None:
    rng = np.random.default_rng(2)
    raw = rng.integers(0, 256, size=(20, 3, 224, 224)).astype(np.float32)
    raw[:4] = 0.0  # all-black frames
    report = check_calibration(load_calibration(_save_npz(tmp_path / "c.npz", input=raw), cnn.inputs), cnn)
    warnings = " ".join(_levels(report, "warning"))
    assert "raw 0..255 pixels" in warnings
    assert "4 of 20 sample(s)" in warnings


def test_images_folder_and_zip_with_preprocessing(tmp_path: Path, cnn) -> None:
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(6):
            pixels = rng.integers(0, 256, size=(256, 300, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
            archive.write(folder / f"{i}.png", f"imgs/{i}.png")
    pre = Preprocessing(height=224, width=224)
    data = load_calibration(folder, cnn.inputs, preprocessing=pre)
    assert data.arrays["input"].shape == (6, 3, 224, 224)
    report = check_calibration(data, cnn)
    assert report.ok and not any("outside" in m for m in _levels(report, "warning"))
    zipped = load_calibration(buffer.getvalue(), cnn.inputs, name="imgs.zip", preprocessing=pre)
    assert np.allclose(zipped.arrays["input"], data.arrays["input"])
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(CalibrationError, match=r"broken\.png"):
        load_calibration(folder, cnn.inputs, preprocessing=pre)


def test_synthetic_data_warns_loudly(cnn) -> None:
    data = synthetic_calibration(cnn.inputs, {"input": [[1, 3, 224, 224]] * 3}, samples=8)
    report = check_calibration(data, cnn)
    assert report.synthetic and report.items[0].message.startswith("SYNTHETIC DATA")


def test_cli_calib_check(tmp_path: Path) -> None:
    path = _save_npz(tmp_path / "c.npz", input=np.zeros((3, 3, 224, 225), np.float32))
    result = run_cli("calib-check", str(sample("resnet_cnn.onnx")), str(path), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert any("axis 3" in i["message"] for i in report["items"] if i["level"] == "error")
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    bad = run_cli("calib-check", str(sample("resnet_cnn.onnx")), str(evil))
    assert bad.returncode == 2 and "pickled" in bad.stderr and "Traceback" not in bad.stderr
