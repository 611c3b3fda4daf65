"""The exported fix.py is run, not just compiled: on the original it must make the model the
workbench wrote, and it must survive any file name a user has."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from conftest import has_module, run_cli, sample

from workbench.equivalence import compare_models

pytestmark = pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed")

CASES = [
    ("broken_reduce_axes_subgraph.onnx", ["--auto"]),
    ("broken_contrib_ops.onnx", ["--auto"]),
    ("broken_float64_initializers.onnx", ["--apply", "cast-float64-initializers"]),
    ("broken_int32_bias_qdq.onnx", ["--auto"]),
    ("broken_shared_dim_names.onnx", ["--auto"]),
    ("broken_uint8_input.onnx", ["--auto"]),
]


@pytest.mark.parametrize(("model", "how"), CASES, ids=[c[0] for c in CASES])
def test_the_script_reproduces_the_fixed_model(model: str, how: list[str], tmp_path: Path) -> None:
    fixed, script = tmp_path / "fixed.onnx", tmp_path / "fix.py"
    done = run_cli("fix", str(sample(model)), "-o", str(fixed), "--script", str(script), *how)
    assert done.returncode in (0, 1), done.stderr
    assert fixed.is_file() and script.is_file(), done.stdout + done.stderr
    again = tmp_path / "again.onnx"
    ran = subprocess.run([sys.executable, str(script), str(sample(model)), str(again)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    ours, theirs = onnx.load(str(fixed)), onnx.load(str(again))
    assert [n.op_type for n in theirs.graph.node] == [n.op_type for n in ours.graph.node]
    assert [i.name for i in theirs.graph.input] == [i.name for i in ours.graph.input]
    check = compare_models(ours, theirs)
    assert check.passed, check.reason


def test_a_file_name_with_quotes_and_a_newline_keeps_the_script_valid(tmp_path: Path) -> None:
    odd = tmp_path / 'my """model"" \\ \n v2.onnx'
    shutil.copyfile(sample("broken_reduce_axes_subgraph.onnx"), odd)
    fixed, script = tmp_path / "fixed.onnx", tmp_path / "fix.py"
    done = run_cli("fix", str(odd), "-o", str(fixed), "--script", str(script), "--auto")
    assert done.returncode in (0, 1), done.stderr
    compile(script.read_text(), str(script), "exec")
    again = tmp_path / "again.onnx"
    ran = subprocess.run([sys.executable, str(script), str(odd), str(again)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert compare_models(onnx.load(str(fixed)), onnx.load(str(again))).passed
