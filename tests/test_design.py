"""The library's shape: no import cycles (lazy imports count: they run too), and one
calibration policy for every front end."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT, sample

from workbench.calibration import CalibrationData, CalibrationError, calibration_for
from workbench.model import load_model
from workbench.summary import summarize

PACKAGE = ROOT / "workbench"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every workbench module ``path`` imports, at the top or inside a function (a lazy
    import runs too), except under ``if TYPE_CHECKING:`` (which never runs)."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            for child in node.orelse if name == "TYPE_CHECKING" else [*node.body, *node.orelse]:
                self.visit(child)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)

    Visitor().visit(ast.parse(path.read_text()))
    return {m for m in found if m in modules and m != "workbench"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_workbench_module_is_in_an_import_cycle() -> None:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}
    assert "workbench.transforms" in graph["workbench.build"]  # the walk sees real imports
    assert _cycles(graph) == []


def test_no_library_module_imports_a_front_end() -> None:
    # The front ends, and the command checker that uses the CLI's grammar from above it.
    front_ends = ("workbench.cli", "workbench.__main__", "workbench.ui", "workbench.cluster_commands", "workbench.command_check")
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    library = {n: p for n, p in paths.items() if not n.startswith(front_ends)}
    upward = {
        name: sorted(m for m in _imports(path, set(paths)) if m.startswith(front_ends))
        for name, path in library.items()
    }
    assert {n: m for n, m in upward.items() if m} == {}


# ----------------------------------------------------------------------------- calibration policy


def test_a_calibrated_precision_without_data_is_one_sentence_unless_synthetic_is_chosen() -> None:
    inputs = summarize(load_model(sample("resnet_cnn.onnx"))).inputs
    with pytest.raises(CalibrationError) as refused:
        calibration_for(["fp16", "int8"], None, synthetic=False, inputs=inputs)
    assert refused.value.message.startswith("INT8 needs calibration data: give --calib DATA")
    assert "--synthetic-calib" in refused.value.message
    assert calibration_for(["fp16"], None, synthetic=False, inputs=inputs) is None
    made = calibration_for(["int8", "fp8"], None, synthetic=True, inputs=inputs)
    assert made is not None and made.synthetic and made.source == "synthetic"
    given = CalibrationData({"input": made.arrays["input"]}, "mine")
    assert calibration_for(["int8"], given, synthetic=True, inputs=inputs) is given


def test_every_command_refuses_a_calibrated_precision_without_data_before_anything_runs(tmp_path: Path) -> None:
    from conftest import run_cli

    model = str(sample("resnet_cnn.onnx"))
    for argv in (
        ["build", model, "--precision", "fp16,int8", "-o", str(tmp_path / "build")],
        ["compare", model, "--precision", "int8", "-o", str(tmp_path / "compare")],
        ["keep-precision", model, "--precision", "int8", "--tolerance", "cosine=0.99", "-o", str(tmp_path / "keep")],
    ):
        result = run_cli(*argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert result.stderr.strip().splitlines()[-1] == (
            "trt-workbench: error: INT8 needs calibration data: give --calib DATA (a .npz keyed by input name, "
            "or images), or choose synthetic data explicitly (--synthetic-calib) for a smoke test."
        )
        assert not Path(argv[-1]).exists()


def test_no_onnx_runtime_log_line_reaches_the_terminal(tmp_path: Path) -> None:
    """ONNX Runtime prints coloured native warnings (here: an unused initializer) when a
    session is made with default logging; every session the workbench makes comes from
    ort_cpu, which turns them down, so a command's stderr holds only its own lines."""
    import subprocess
    import sys

    import numpy as np
    import onnx
    from conftest import run_cli
    from onnx import TensorProto, helper, numpy_helper

    unused = numpy_helper.from_array(np.ones(4, np.float32), "unused_weight")
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [unused],
    )
    path = tmp_path / "unused_initializer.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    # The same model in a plain session does print the warning (the test can fail).
    plain = subprocess.run(
        [sys.executable, "-c", f"import onnxruntime as o; o.InferenceSession({str(path)!r}, providers=['CPUExecutionProvider'])"],
        capture_output=True, text=True,
    )
    assert "W:onnxruntime" in plain.stderr
    for argv in (["profile", str(path), "--iterations", "3"], ["compare", str(path), "--precision", "fp16", "-o", str(tmp_path / "ws")]):
        result = run_cli(*argv)
        assert "onnxruntime:" not in result.stderr and "\x1b[" not in result.stderr, (argv, result.stderr)
