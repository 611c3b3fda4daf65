"""Loading from a path, from bytes and from a zip; hashing; every kind of bad input."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import onnx
import pytest
from conftest import SAMPLES, files_under, run_cli, sample

from workbench.errors import ExternalDataError, ModelLoadError
from workbench.model import load_model, load_model_bytes, load_model_zip
from workbench.summary import summarize

EXTERNAL_DIR = SAMPLES / "external_data"


def zip_folder(folder: Path, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, prefix + path.name)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- good input


def test_path_bytes_and_zip_give_the_same_model(workspace, tmp_path: Path) -> None:
    by_path = load_model(sample("detector.onnx"))
    by_bytes = load_model(sample("detector.onnx").read_bytes(), name="detector.onnx", workspace=workspace)
    folder = tmp_path / "only"
    folder.mkdir()
    shutil.copyfile(sample("detector.onnx"), folder / "detector.onnx")
    by_zip = load_model(zip_folder(folder), name="detector.zip", workspace=workspace)
    assert by_bytes.content_hash == by_path.content_hash == by_zip.content_hash
    assert by_bytes.path.is_file() and workspace.root in by_bytes.path.parents
    assert by_zip.path.is_file() and workspace.root in by_zip.path.parents
    assert summarize(by_bytes).op_histogram == summarize(by_path).op_histogram == summarize(by_zip).op_histogram


def test_upload_is_stored_once_by_content(workspace) -> None:
    data = sample("transformer_encoder.onnx").read_bytes()
    first = load_model_bytes(data, name="a.onnx", workspace=workspace)
    second = load_model_bytes(data, name="a.onnx", workspace=workspace)
    assert first.path == second.path
    assert len([p for p in files_under(workspace.models_dir)]) == 1
    # No staging folders are left behind.
    assert not [p for p in workspace.root.iterdir() if p.name.startswith(".staging")]


def test_upload_names_are_sanitised(workspace) -> None:
    data = sample("detector.onnx").read_bytes()
    loaded = load_model_bytes(data, name="../../etc/evil name", workspace=workspace)
    assert loaded.path.name == "evil_name.onnx"
    assert workspace.root in loaded.path.parents


def test_hash_covers_external_data(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(EXTERNAL_DIR, copy)
    before = load_model(copy / "detector_external.onnx").content_hash
    data = copy / "detector_external.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    after = load_model(copy / "detector_external.onnx").content_hash
    assert before != after


def test_zip_with_external_data(workspace) -> None:
    payload = zip_folder(EXTERNAL_DIR, prefix="detector/")
    loaded = load_model(payload, name="detector.zip", workspace=workspace)
    assert loaded.external_data_files == ["detector_external.onnx.data"]
    assert loaded.content_hash == load_model(EXTERNAL_DIR / "detector_external.onnx").content_hash
    assert (loaded.folder / "detector_external.onnx.data").is_file()
    full = loaded.load_full()
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in full.graph.initializer)


def test_zip_from_path(tmp_path: Path, workspace) -> None:
    archive = tmp_path / "model.zip"
    archive.write_bytes(zip_folder(EXTERNAL_DIR))
    loaded = load_model_zip(archive, workspace=workspace)
    assert loaded.name == "detector_external.onnx"


# ----------------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, words the one-sentence message must contain)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[Path, str]] = {}

    text = tmp_path / "notes.onnx"
    text.write_text("This is a README, not a neural network.\n" * 20)
    cases["not_onnx"] = (text, "not an ONNX model")

    png = tmp_path / "picture.onnx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    cases["binary_not_onnx"] = (png, "not an ONNX model")

    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "empty")

    data = sample("resnet_cnn.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    cases["truncated"] = (truncated, "truncated")

    missing = tmp_path / "missing_data"
    missing.mkdir()
    shutil.copy(EXTERNAL_DIR / "detector_external.onnx", missing)
    cases["missing_external"] = (missing / "detector_external.onnx", "missing")

    short = tmp_path / "short_data"
    shutil.copytree(EXTERNAL_DIR, short)
    blob = short / "detector_external.onnx.data"
    blob.write_bytes(blob.read_bytes()[:1000])
    cases["truncated_external"] = (short / "detector_external.onnx", "truncated")

    for label, location in (("outside", "../secret.bin"), ("absolute", "/etc/passwd")):
        folder = tmp_path / label
        folder.mkdir()
        (tmp_path / "secret.bin").write_bytes(b"\0" * 10_000_000)
        model = onnx.load(str(EXTERNAL_DIR / "detector_external.onnx"), load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(model, str(folder / "model.onnx"))
        cases[f"external_{label}"] = (folder / "model.onnx", "model's folder")

    good_zip = zip_folder(EXTERNAL_DIR)
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(good_zip[: len(good_zip) // 2])
    cases["corrupt_zip"] = (corrupt, "zip")

    flipped = bytearray(good_zip)
    flipped[200] ^= 0xFF  # inside the first member's compressed data: CRC fails
    crc = tmp_path / "crc.zip"
    crc.write_bytes(bytes(flipped))
    cases["crc_zip"] = (crc, "corrupt")

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("model.onnx", sample("detector.onnx").read_bytes())
        archive.writestr("../escape.txt", "gotcha")
    cases["zip_slip"] = (evil, "outside the archive")

    no_model = tmp_path / "nomodel.zip"
    with zipfile.ZipFile(no_model, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    cases["zip_without_model"] = (no_model, "no .onnx")

    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.onnx", sample("detector.onnx").read_bytes())
        archive.writestr("b.onnx", sample("detector.onnx").read_bytes())
    cases["zip_two_models"] = (two, "2 .onnx files")

    cases["does_not_exist"] = (tmp_path / "nope.onnx", "does not exist")
    return cases


BAD_CASES = [
    "not_onnx",
    "binary_not_onnx",
    "empty",
    "truncated",
    "missing_external",
    "truncated_external",
    "external_outside",
    "external_absolute",
    "corrupt_zip",
    "crc_zip",
    "zip_slip",
    "zip_without_model",
    "zip_two_models",
    "does_not_exist",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_gets_one_clear_sentence(case: str, tmp_path: Path, workspace) -> None:
    path, words = _bad_inputs(tmp_path / "inputs")[case]
    with pytest.raises(ModelLoadError) as info:
        load_model(path, workspace=workspace)
    message = info.value.message
    assert words in message, message
    assert "\n" not in message and "Traceback" not in message
    assert files_under(workspace.root) == [], "a bad input must leave nothing behind"


@pytest.mark.parametrize(
    "case", ["not_onnx", "truncated", "external_outside", "zip_slip", "missing_external"]
)
def test_bad_input_cli_exit_2_without_traceback(case: str, tmp_path: Path) -> None:
    path, words = _bad_inputs(tmp_path / "inputs")[case]
    home = tmp_path / "home"
    result = run_cli("summary", str(path), "--json", env={"TRT_WORKBENCH_HOME": str(home)})
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert files_under(home) == []


def test_bad_upload_bytes(workspace) -> None:
    with pytest.raises(ModelLoadError, match="empty"):
        load_model(b"", name="x.onnx", workspace=workspace)
    with pytest.raises(ModelLoadError, match="not an ONNX model"):
        load_model(b"hello world, definitely not protobuf" * 10, name="x.onnx", workspace=workspace)
    data = sample("resnet_cnn.onnx").read_bytes()
    for cut in (10, 1000, len(data) // 3, len(data) - 7):
        with pytest.raises(ModelLoadError, match="truncated"):
            load_model(data[:cut], name="cut.onnx", workspace=workspace)
    # An external-data model uploaded without its data file.
    with pytest.raises(ExternalDataError, match="zip"):
        load_model((EXTERNAL_DIR / "detector_external.onnx").read_bytes(), name="d.onnx", workspace=workspace)
    assert files_under(workspace.root) == []
