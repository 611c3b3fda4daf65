"""Hostile and careless input, generated here, against every command that takes it.

Each case asserts the promise: exit status 2, one sentence on stderr (``trt-workbench:
error: ...``), no traceback, and nothing written anywhere (the whole sandbox — inputs,
HOME, the workbench's home, TMPDIR, the working folder, the -o target — is compared file
by file before and after).
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import ROOT, sample
from onnx import TensorProto, helper

DETECTOR = sample("detector.onnx")  # one input "image" [1, 3, 128, 128]


@dataclass
class Sandbox:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def tree(self) -> dict[str, tuple[int, int]]:
        out = {}
        for path in self.root.rglob("*"):
            rel = str(path.relative_to(self.root))
            if path.is_symlink() or not path.exists():
                out[rel] = (-1, 0)
            elif path.is_file():
                out[rel] = (path.stat().st_size, path.stat().st_mtime_ns)
            elif path.is_dir():
                out[rel] = (0, 0)
        return out

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = dict(self.env, **(extra_env or {}))
        return subprocess.run(
            [sys.executable, "-m", "workbench", *args],
            cwd=self.work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox(tmp_path / "sandbox")
    for sub in ("inputs", "work", "home", "wbhome", "tmp"):
        (sandbox.root / sub).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRT_WORKBENCH")}
    env.update(
        HOME=str(sandbox.root / "home"),
        TRT_WORKBENCH_HOME=str(sandbox.root / "wbhome"),
        TMPDIR=str(sandbox.root / "tmp"),
        PYTHONPATH=str(ROOT),
    )
    sandbox.env = env
    return sandbox


def assert_refused(box: Sandbox, args: list[str], words: str, extra_env: dict[str, str] | None = None) -> str:
    before = box.tree()
    done = box.run(*args, extra_env=extra_env)
    after = box.tree()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, f"{args}: exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(lines) == 1, f"{args}: more than one line on stderr:\n{done.stderr[-3000:]}"
    assert lines[0].startswith("trt-workbench"), lines[0]
    assert words in lines[0], f"{words!r} not in {lines[0]!r}"
    assert after == before, f"{args} changed files: {sorted(set(after) ^ set(before)) or 'sizes/mtimes'}"
    return lines[0]


# ----------------------------------------------------------------------------- makers


def write_zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_zip_headers(path: Path, *, flag_bits: int | None = None, method: int | None = None) -> Path:
    """Rewrite the general-purpose flags or the method of every member, in both headers."""
    data = bytearray(path.read_bytes())
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            if flag_bits is not None:
                struct.pack_into("<H", data, at + flag_at, flag_bits)
            if method is not None:
                struct.pack_into("<H", data, at + method_at, method)
            start = at + 4
    path.write_bytes(bytes(data))
    return path


def npy_with_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 64


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (with a valid CRC) and whose data is tiny."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def model_with_external(folder: Path, entries: dict[str, str], data_name: str = "w.bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": data_name, **entries}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph.initializer.append(tensor)
    path = folder / "model.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


def deep_model(path: Path, depth: int = 40) -> Path:
    """If-in-If nesting past protobuf's parse depth, written as raw wire format."""

    def varint(n: int) -> bytes:
        out = b""
        while True:
            b, n = n & 0x7F, n >> 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])

    def field_(num: int, payload: bytes) -> bytes:
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    graph = field_(2, b"leaf")
    for _ in range(depth):
        attr = field_(1, b"then_branch") + varint(20 << 3) + varint(5) + field_(6, graph)
        graph = field_(1, field_(4, b"If") + field_(5, attr)) + field_(2, b"g")
    path.write_bytes(varint(1 << 3) + varint(8) + field_(8, varint(2 << 3) + varint(17)) + field_(7, graph))
    return path


# ----------------------------------------------------------------------------- archives


ARCHIVE_COMMANDS = [["summary"], ["diagnose"], ["build", "--precision", "fp32"]]


def _archive_cases(box: Sandbox) -> dict[str, tuple[Path, str, dict[str, str]]]:
    i = box.inputs
    detector = DETECTOR.read_bytes()
    cases: dict[str, tuple[Path, str, dict[str, str]]] = {}
    cases["ratio_bomb"] = (write_zip(i / "bomb.zip", {"model.onnx": detector, "pad.bin": b"\0" * (64 << 20)}), "compresses", {})
    cases["unpacked_size"] = (write_zip(i / "big.zip", {"model.onnx": detector}), "TRT_WORKBENCH_MAX_UNPACKED_BYTES", {"TRT_WORKBENCH_MAX_UNPACKED_BYTES": "1000"})
    cases["encrypted"] = (patch_zip_headers(write_zip(i / "enc.zip", {"model.onnx": detector}), flag_bits=1), "encrypted", {})
    cases["method"] = (patch_zip_headers(write_zip(i / "aes.zip", {"model.onnx": detector}), method=99), "method 99", {})
    cases["clash"] = (write_zip(i / "clash.zip", {"model.onnx": detector, "data": b"x", "data/w.bin": b"y"}), "both as a file and as a folder", {})
    cases["duplicate"] = (write_zip(i / "dup.zip", {"model.onnx": detector}), "two members", {})
    with zipfile.ZipFile(i / "dup.zip", "a") as zf, pytest.warns(UserWarning):
        zf.writestr("model.onnx", detector)
    return cases


@pytest.mark.parametrize("case", ["ratio_bomb", "unpacked_size", "encrypted", "method", "clash", "duplicate"])
def test_hostile_archives(box: Sandbox, case: str) -> None:
    path, words, env = _archive_cases(box)[case]
    for command in ARCHIVE_COMMANDS:
        line = assert_refused(box, [command[0], str(path), *command[1:]], words, env)
        if case in ("ratio_bomb", "unpacked_size"):
            assert "TRT_WORKBENCH_MAX_" in line, "a limit's refusal names the switch that raises it"


# ----------------------------------------------------------------------------- arrays and images


def _array_cases(box: Sandbox) -> dict[str, tuple[Path, str]]:
    i = box.inputs
    cases: dict[str, tuple[Path, str]] = {}
    (i / "petabyte.npy").write_bytes(npy_with_header((10**8, 10**8)))
    cases["npy_claims_petabytes"] = (i / "petabyte.npy", "TRT_WORKBENCH_MAX_ARRAY_BYTES")
    buf = io.BytesIO()
    np.savez_compressed(buf, image=np.zeros((500, 3, 128, 128), np.float32))
    (i / "inflates.npz").write_bytes(buf.getvalue())
    cases["npz_inflates"] = (i / "inflates.npz", "compresses")
    write_zip(i / "notarray.npz", {"image.npy": npy_with_header((1, 3, 128, 128)), "readme.txt": b"hello"})
    cases["npz_member_not_array"] = (i / "notarray.npz", "not an array")
    buf = io.BytesIO()
    np.savez(buf, image=np.array(["a", "b"]))
    (i / "strings.npz").write_bytes(buf.getvalue())
    cases["string_dtype"] = (i / "strings.npz", "not numbers")
    (i / "text.npz").write_text("image,1,2,3\n4,5,6\n")
    cases["text_file"] = (i / "text.npz", "looks like text")
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (i / "pickle.npy").write_bytes(buf.getvalue())
    cases["pickled_objects"] = (i / "pickle.npy", "pickled Python objects")
    (i / "truncated.npy").write_bytes(npy_with_header((1, 3, 128, 128))[:-32])
    cases["truncated_npy"] = (i / "truncated.npy", "truncated")
    write_zip(i / "images_bomb.zip", {"a.png": png_claiming(100_000, 100_000)})
    cases["image_pixel_bomb"] = (i / "images_bomb.zip", "TRT_WORKBENCH_MAX_IMAGE_PIXELS")
    write_zip(i / "images_bad.zip", {"a.png": b"\x89PNG\r\n\x1a\nnot really"})
    cases["image_not_an_image"] = (i / "images_bad.zip", "not a readable image")
    return cases


ARRAY_CASES = [
    "npy_claims_petabytes",
    "npz_inflates",
    "npz_member_not_array",
    "string_dtype",
    "text_file",
    "pickled_objects",
    "truncated_npy",
    "image_pixel_bomb",
    "image_not_an_image",
]


@pytest.mark.parametrize("case", ARRAY_CASES)
def test_hostile_arrays_and_images(box: Sandbox, case: str) -> None:
    path, words = _array_cases(box)[case]
    out = box.work / "ws"
    assert_refused(box, ["calib-check", str(DETECTOR), str(path)], words)
    assert_refused(box, ["build", str(DETECTOR), "--precision", "int8", "--calib", str(path), "-o", str(out)], words)
    if not case.startswith("image"):
        assert_refused(box, ["compare", str(DETECTOR), "--precision", "fp16", "--inputs", str(path), "-o", str(out)], words)


# ----------------------------------------------------------------------------- models and external data


def _model_cases(box: Sandbox) -> dict[str, tuple[Path, str]]:
    i = box.inputs
    cases: dict[str, tuple[Path, str]] = {}
    cases["ext_offset_not_a_number"] = (model_with_external(i / "off", {"offset": "abc"}), "not a non-negative whole number")
    cases["ext_negative_length"] = (model_with_external(i / "len", {"length": "-5"}), "not a non-negative whole number")
    cases["ext_offset_past_end"] = (model_with_external(i / "past", {"offset": "1000000"}), "truncated")
    (i / "past" / "w.bin").write_bytes(b"\0" * 16)
    for name in ("off", "len"):
        (i / name / "w.bin").write_bytes(b"\0" * 16)
    outside = i / "outside"
    outside.mkdir()
    os.mkfifo(outside / "secret.fifo")  # opening it for reading would block: a hang proves a backend touched it
    linked = model_with_external(i / "link", {})
    (i / "link" / "w.bin").symlink_to(outside / "secret.fifo")
    cases["ext_symlink_out"] = (linked, "outside the model's folder")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    )
    graph.initializer.append(TensorProto(name="w", data_type=99, dims=[2], raw_data=b"\0" * 8))
    (i / "dtype99.onnx").write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    cases["unknown_dtype"] = (i / "dtype99.onnx", "data type 99")
    cases["deep_nesting"] = (deep_model(i / "deep.onnx"), "nests subgraphs deeper")
    (i / "newline\nname\x1b[31m.onnx").write_bytes(b"not a model at all")
    cases["control_characters_in_name"] = (i / "newline\nname\x1b[31m.onnx", "not an ONNX model")
    return cases


MODEL_CASES = [
    "ext_offset_not_a_number",
    "ext_negative_length",
    "ext_offset_past_end",
    "ext_symlink_out",
    "unknown_dtype",
    "deep_nesting",
    "control_characters_in_name",
]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_hostile_models(box: Sandbox, case: str) -> None:
    path, words = _model_cases(box)[case]
    out = box.work / "ws"
    for args in (
        ["summary", str(path)],
        ["diagnose", str(path)],
        ["diagnose", str(path), "--build-check"],
        ["build", str(path), "--precision", "fp32", "-o", str(out)],
        ["compare", str(path), "--precision", "fp16", "-o", str(out)],
        ["profile", str(path), "-o", str(out)],
    ):
        line = assert_refused(box, args, words)
        assert "\x1b" not in line and "\n" not in line.strip()


def test_huge_static_dims_are_refused_before_allocation(box: Sandbox) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2**20, 2**20])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2**20, 2**20])],
    )
    path = box.inputs / "huge.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    for args in (["compare", str(path), "--precision", "fp16"], ["profile", str(path)]):
        assert_refused(box, args, "TRT_WORKBENCH_MAX_TENSOR_ELEMENTS")


# ----------------------------------------------------------------------------- arguments and outputs


ARGUMENT_CASES: dict[str, tuple[list[str], str]] = {
    "iterations_0": (["profile", str(DETECTOR), "--iterations", "0"], "--iterations"),
    "warmup_negative": (["profile", str(DETECTOR), "--warmup", "-1"], "--warmup"),
    "samples_0": (["compare", str(DETECTOR), "--precision", "fp16", "--samples", "0"], "--samples"),
    "timeout_0": (["diagnose", str(DETECTOR), "--timeout", "0"], "--timeout"),
    "timeout_negative": (["diagnose", str(DETECTOR), "--timeout", "-1"], "--timeout"),
    "timeout_nan": (["fix", str(DETECTOR), "-o", "out.onnx", "--auto", "--timeout", "nan"], "--timeout"),
    "max_trials_0": (["keep-precision", str(DETECTOR), "--synthetic-calib", "--tolerance", "cosine=0.9", "--max-trials", "0"], "--max-trials"),
    "keep_precision_unknown_node": (["build", str(DETECTOR), "--precision", "int8", "--synthetic-calib", "--keep-precision", "/no/such/Conv", "-o", "ws"], "not in the model"),
    "shapes_unknown_input": (["build", str(DETECTOR), "--precision", "fp32", "--shapes", "images:1x3x128x128", "-o", "ws"], "not an input"),
    "shapes_unknown_input_compare": (["compare", str(DETECTOR), "--precision", "fp16", "--shapes", "nope:1x3x128x128"], "not an input"),
    "port_out_of_range": (["ui", "--port", "70000"], "--port"),
    "fix_output_is_a_folder": (["fix", str(DETECTOR), "-o", ".", "--auto"], "names a folder"),
    "fix_script_is_the_output": (["fix", str(DETECTOR), "-o", "out.onnx", "--script", "out.onnx", "--auto"], "same file"),
    "fix_output_is_the_input": (["fix", str(DETECTOR), "-o", str(DETECTOR), "--auto"], "input model itself"),
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_CASES))
def test_arguments_out_of_range(box: Sandbox, case: str) -> None:
    args, words = ARGUMENT_CASES[case]
    assert_refused(box, args, words)


def test_a_failed_build_leaves_its_output_folder_as_it_was(box: Sandbox) -> None:
    out = box.work / "ws"
    before = box.tree()
    done = box.run("build", str(sample("broken_contrib_ops.onnx")), "--precision", "fp32,fp16", "-o", str(out))
    assert done.returncode == 1, done.stderr
    assert not out.exists(), "nothing was built, so the workspace must not exist"
    assert box.tree() == before
    # An existing workspace with earlier results keeps exactly those.
    ok = box.run("build", str(DETECTOR), "--precision", "fp32", "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    kept = box.tree()
    again = box.run("build", str(sample("broken_contrib_ops.onnx")), "--precision", "fp32", "-o", str(out))
    assert again.returncode == 1
    assert box.tree() == kept


def test_sigterm_leaves_no_worker_logs_and_no_partial_workspace(box: Sandbox) -> None:
    import signal
    import time

    out = box.work / "ws"
    before = box.tree()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "build", str(sample("resnet_cnn.onnx")), "--precision", "fp16",
         "--shapes", "input:1x3x224x224", "-o", str(out)],
        cwd=box.work, env=box.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)  # inside the transform or the build
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert not out.exists()
    leftover = sorted(set(box.tree()) - set(before))
    assert leftover == [], leftover


def test_a_limit_set_to_nonsense_is_one_sentence_and_a_raised_limit_lets_input_in(box: Sandbox) -> None:
    data = box.inputs / "calib.npz"
    np.savez(data, image=np.zeros((4, 3, 128, 128), np.float32))
    assert_refused(box, ["calib-check", str(DETECTOR), str(data)], "TRT_WORKBENCH_MAX_ARRAY_BYTES", {"TRT_WORKBENCH_MAX_ARRAY_BYTES": "lots"})
    assert_refused(box, ["calib-check", str(DETECTOR), str(data)], "TRT_WORKBENCH_MAX_ARRAY_BYTES", {"TRT_WORKBENCH_MAX_ARRAY_BYTES": "1000"})
    done = box.run("calib-check", str(DETECTOR), str(data), extra_env={"TRT_WORKBENCH_MAX_ARRAY_BYTES": str(1 << 30)})
    assert done.returncode in (0, 1), done.stderr
    path, _, _ = _archive_cases(box)["unpacked_size"]
    done = box.run("summary", str(path), extra_env={"TRT_WORKBENCH_MAX_UNPACKED_BYTES": str(1 << 30)})
    assert done.returncode == 0, done.stderr


def test_good_runs_write_only_where_they_were_asked_to(box: Sandbox) -> None:
    """Builds, comparisons and fixes (ModelOpt, onnxslim, ONNX Runtime inside) leave nothing in
    the working folder, the temp folder or HOME: only in -o and the workbench's home."""
    out = box.work / "ws"
    runs = [
        ["build", str(DETECTOR), "--precision", "fp16,int8", "--synthetic-calib", "-o", str(out)],
        ["compare", str(DETECTOR), "--precision", "fp16,int8", "--synthetic-calib", "-o", str(out)],
        ["fix", str(sample("broken_reduce_axes_subgraph.onnx")), "-o", str(box.work / "fixed.onnx"), "--apply", "simplify-onnxslim", "--script", str(box.work / "fix.py")],
    ]
    for args in runs:
        done = box.run(*args)
        assert done.returncode in (0, 1), done.stderr[-2000:]
    allowed = (f"work{os.sep}ws", f"work{os.sep}fixed.onnx", f"work{os.sep}fix.py", "wbhome")
    stray = sorted(p for p in box.tree() if not p.startswith(("inputs", *allowed)) and p not in ("work", "home", "tmp"))
    assert stray == [], stray
