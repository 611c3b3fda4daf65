"""The app's upload and calibration widgets under hostile files (Streamlit AppTest): one
sentence next to the widget, no exception, nothing kept in the session's workspace."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import ROOT, files_under, sample
from test_hostile import npy_with_header, patch_zip_headers, png_claiming, write_zip

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _model_uploads(tmp_path) -> dict[str, tuple[str, bytes, str]]:
    detector = sample("detector.onnx").read_bytes()
    enc = patch_zip_headers(write_zip(tmp_path / "enc.zip", {"model.onnx": detector}), flag_bits=1)
    return {
        "zip_bomb": ("bomb.zip", _zip({"model.onnx": detector, "pad.bin": b"\0" * (64 << 20)}), "compresses"),
        "encrypted_zip": ("enc.zip", enc.read_bytes(), "encrypted"),
        "zip_slip": ("slip.zip", _zip({"model.onnx": detector, "../x.txt": b"x"}), "outside the archive"),
        "not_onnx": ("junk.onnx", b"\x00\x01not a model" * 100, "not an ONNX model"),
        "truncated": ("cut.onnx", detector[: len(detector) // 3], "truncated"),
    }


@pytest.mark.parametrize("case", ["zip_bomb", "encrypted_zip", "zip_slip", "not_onnx", "truncated"])
def test_model_upload_refuses_in_one_sentence(case: str, tmp_path) -> None:
    name, data, words = _model_uploads(tmp_path)[case]
    at = _app().run()
    sess = at.session_state["trt_workbench_session"]
    before = files_under(sess.workspace.root)
    at = at.file_uploader(key="model_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and words in errors[0] and "\n" not in errors[0], errors
    assert files_under(sess.workspace.root) == before, "a refused upload leaves nothing behind"


def _calibration_uploads() -> dict[str, tuple[str, bytes, str]]:
    strings = io.BytesIO()
    np.savez(strings, input=np.array(["a", "b"]))
    return {
        "npy_petabytes": ("big.npy", npy_with_header((10**8, 10**8)), "TRT_WORKBENCH_MAX_ARRAY_BYTES"),
        "strings": ("s.npz", strings.getvalue(), "not numbers"),
        "text": ("t.npz", b"input,1,2\n3,4,5\n", "looks like text"),
        "image_bomb": ("imgs.zip", _zip({"a.png": png_claiming(100_000, 100_000)}), "TRT_WORKBENCH_MAX_IMAGE_PIXELS"),
    }


@pytest.mark.parametrize("case", ["npy_petabytes", "strings", "text", "image_bomb"])
def test_calibration_upload_refuses_in_one_sentence(case: str) -> None:
    name, data, words = _calibration_uploads()[case]
    at = _app().run()
    box = at.selectbox(key="model_sample")
    at = box.select(next(o for o in box.options if "detector.onnx" in o)).run()
    at.switch_page("workbench/ui/build_page.py")
    at = at.run()
    at = at.multiselect(key="build_precisions").set_value(["int8"]).run()
    at = at.file_uploader(key="build_calib_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and words in errors[0], errors
