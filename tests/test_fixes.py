"""Fixes on real models, checked with the real TensorRT-RTX parser and ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import manifest, requires_rtx, run_cli, sample, sample_shapes
from onnx import TensorProto, helper, numpy_helper

from workbench.fixes import REGISTRY, FixOptions
from workbench.fixing import (
    DiagnoseOptions,
    FixStep,
    RejectedFix,
    apply_fix,
    auto_fix,
    export,
    fix_script,
    start_session,
)
from workbench.model import load_model

pytestmark = [pytest.mark.rtx, requires_rtx]

BROKEN_WITH_FIXES = [e for e in manifest() if e["kind"] == "broken" and e["fixes"]]


def _session(path: Path, workspace, shapes=None, values=None, build_check=True):
    options = FixOptions(shapes=shapes or {}, input_values=values or {})
    return start_session(
        load_model(path),
        workspace=workspace,
        options=options,
        diagnose_options=DiagnoseOptions(
            backend="tensorrt-rtx", build_check=build_check, shapes=shapes or {}
        ),
    )


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("entry", BROKEN_WITH_FIXES, ids=lambda e: e["file"])
def test_auto_fix_repairs_every_broken_sample(entry: dict, workspace, tmp_path: Path) -> None:
    session = _session(sample(entry["file"]), workspace, shapes=sample_shapes(entry))
    auto_fix(session)
    final = session.current_diagnosis
    assert final.parse_ok and final.build_ok, [e.message for e in final.errors]
    assert session.applied and session.applied[0] in entry["fixes"]
    for step in session.steps:
        assert step.meaning.checked and step.meaning.passed, step.meaning.reason
        assert not step.diff.empty
    # The exported script reproduces the fixed model from the original file, on its own.
    output, script = export(session, tmp_path / "fixed.onnx", tmp_path / "fix.py")
    again = tmp_path / "again.onnx"
    subprocess.run(
        [sys.executable, str(script), str(sample(entry["file"])), str(again)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    a, b = onnx.load(str(output)), onnx.load(str(again))
    assert a.graph.SerializeToString(deterministic=True) == b.graph.SerializeToString(deterministic=True)


def test_history_diff_and_undo(workspace) -> None:
    session = _session(sample("broken_contrib_ops.onnx"), workspace)
    step = apply_fix(session, "decompose-contrib-ops")
    assert isinstance(step, FixStep)
    assert step.diff.op_count_delta["com.microsoft::FusedMatMul"] == -2
    assert step.diff.op_count_delta["MatMul"] == 2
    assert "/mlp/act/BiasGelu" in step.diff.nodes_removed
    assert step.before.parse_ok is False and step.after.parse_ok is True
    assert session.current_path == step.model_path
    undone = session.undo()
    assert undone is step
    assert session.current_path == session.original_path
    assert session.current_diagnosis.parse_ok is False


def test_a_fix_that_changes_results_is_rejected(workspace, tmp_path: Path) -> None:
    # (x + 1e8) - 1e8 in float64 keeps x; in float32 it does not: casting changes the results.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    big = numpy_helper.from_array(np.array(1e8, np.float64), "big")
    nodes = [
        helper.make_node("Cast", ["x"], ["xd"], to=TensorProto.DOUBLE, name="to_double"),
        helper.make_node("Add", ["xd", "big"], ["s"], name="add_big"),
        helper.make_node("Sub", ["s", "big"], ["d"], name="sub_big"),
        helper.make_node("Cast", ["d"], ["y"], to=TensorProto.FLOAT, name="to_float"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "precise", [x], [y], [big]), opset_imports=[helper.make_opsetid("", 17)]
    )
    path = _save(model, tmp_path / "precise.onnx")
    session = _session(path, workspace)
    result = apply_fix(session, "cast-float64-initializers")
    assert isinstance(result, RejectedFix)
    assert "changes the model's results" in result.reason
    assert result.meaning is not None and result.meaning.passed is False
    assert session.steps == []


def test_set_input_constant_for_axes_given_as_input(workspace, tmp_path: Path) -> None:
    data = helper.make_tensor_value_info("data", TensorProto.FLOAT, [2, 3, 4])
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    out = helper.make_tensor_value_info("reduced", TensorProto.FLOAT, [2, 1, 4])
    node = helper.make_node("ReduceSum", ["data", "axes"], ["reduced"], keepdims=1, name="reduce")
    model = helper.make_model(
        helper.make_graph([node], "g", [data, axes], [out]), opset_imports=[helper.make_opsetid("", 13)]
    )
    path = _save(model, tmp_path / "axes_input.onnx")
    no_value = _session(path, workspace)
    assert not no_value.original_diagnosis.parse_ok
    assert "set-input-constant" not in no_value.original_diagnosis.errors[0].fixes  # no value given yet
    session = _session(path, workspace, values={"axes": [1]})
    assert session.original_diagnosis.errors[0].fixes[0] == "set-input-constant"
    auto_fix(session)
    assert session.applied == ["set-input-constant"]
    assert session.current_diagnosis.parse_ok
    assert session.steps[0].meaning.passed


def test_remove_training_nodes(workspace, tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Dropout", ["r"], ["d"], name="dropout"),
        helper.make_node("Sigmoid", ["d"], ["y"], name="sigmoid"),
    ]
    path = _save(
        helper.make_model(
            helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]
        ),
        tmp_path / "dropout.onnx",
    )
    session = _session(path, workspace)
    assert any(f.kind == "training-nodes" for f in session.original_diagnosis.findings)
    step = apply_fix(session, "remove-training-nodes")
    assert isinstance(step, FixStep), step
    assert step.diff.op_count_delta == {"Dropout": -1}
    assert step.meaning.passed


def test_convert_opset_and_clamp_int64(workspace, tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 7])
    starts = numpy_helper.from_array(np.array([1], np.int64), "starts")
    ends = numpy_helper.from_array(np.array([2**63 - 1], np.int64), "ends")
    axes = numpy_helper.from_array(np.array([3], np.int64), "axes")
    nodes = [
        helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"], name="slice"),
        helper.make_node("Relu", ["s"], ["y"], name="relu"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [starts, ends, axes]),
        opset_imports=[helper.make_opsetid("", 11)],
    )
    path = _save(model, tmp_path / "slice.onnx")
    session = _session(path, workspace)
    assert any(f.kind == "int64-out-of-int32-range" for f in session.original_diagnosis.findings)
    clamped = apply_fix(session, "clamp-int64-initializers")
    assert isinstance(clamped, FixStep) and clamped.meaning.passed
    values = {i.name: numpy_helper.to_array(i) for i in onnx.load(clamped.model_path).graph.initializer}
    # INT64_MAX ("to the end") became INT32_MAX, which TensorRT takes; the others are untouched.
    assert values["ends"].tolist() == [2**31 - 1]
    assert values["starts"].tolist() == [1] and values["axes"].tolist() == [3]
    converted = apply_fix(session, "convert-opset")
    assert isinstance(converted, FixStep) and converted.meaning.passed
    assert converted.params == {"target_opset": 17}
    assert onnx.load(converted.model_path).opset_import[0].version == 17
    assert session.current_diagnosis.parse_ok


def test_extract_failing_subgraph_reproduces_the_error(workspace) -> None:
    session = _session(sample("broken_reduce_axes_subgraph.onnx"), workspace, build_check=False)
    step = apply_fix(session, "extract-failing-subgraph")
    assert isinstance(step, FixStep)
    assert session.steps == []  # a reproduction is not a step of the fixed model
    repro = onnx.load(step.model_path)
    ops = sorted(n.op_type for n in repro.graph.node)
    assert "ReduceMean" in ops and "Conv" not in ops
    assert [i.name for i in repro.graph.input] == ["/block/Relu_output_0"]
    assert not step.after.parse_ok
    parse_errors = [e for e in step.after.errors if e.stage == "parse"]
    assert parse_errors and parse_errors[0].node_name == "/pool/ReduceMean"
    assert "build-time constant" in parse_errors[0].message


def test_simplify_with_onnxslim_also_folds_the_axes(workspace) -> None:
    session = _session(sample("broken_reduce_axes_subgraph.onnx"), workspace)
    step = apply_fix(session, "simplify-onnxslim")
    assert isinstance(step, FixStep)
    assert step.after.parse_ok and step.meaning.passed
    fixed = onnx.load(step.model_path)
    constants = {i.name: numpy_helper.to_array(i) for i in fixed.graph.initializer}
    (reduce,) = [n for n in fixed.graph.node if n.op_type == "ReduceMean"]
    # The Constant -> Add subgraph became one initializer: the spatial axes, [2, 3].
    assert reduce.input[1] in constants and constants[reduce.input[1]].tolist() == [2, 3]
    assert not [n for n in fixed.graph.node if n.op_type in ("Add", "Constant") and "axes" in n.output[0]]


def test_cleanup_toposort_sorts_an_unsorted_graph(workspace, tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    nodes = [
        helper.make_node("Sigmoid", ["r"], ["y"], name="second"),
        helper.make_node("Relu", ["x"], ["r"], name="first"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]
    )
    path = tmp_path / "unsorted.onnx"
    onnx.save(model, str(path))
    session = _session(path, workspace)
    onnx_errors = [e for e in session.original_diagnosis.errors if e.stage == "onnx"]
    assert onnx_errors and "cleanup-toposort" in onnx_errors[0].fixes
    step = apply_fix(session, "cleanup-toposort")
    assert isinstance(step, FixStep) and step.meaning.passed
    assert [n.name for n in onnx.load(step.model_path).graph.node] == ["first", "second"]


def test_every_fix_explains_itself_and_its_snippet_compiles() -> None:
    required = {
        "fold-constants",
        "override-input-shapes",
        "rename-shared-dims",
        "set-input-constant",
        "convert-opset",
        "retype-inputs",
        "cast-float64-initializers",
        "clamp-int64-initializers",
        "remove-training-nodes",
        "cleanup-toposort",
        "simplify-onnxslim",
        "extract-failing-subgraph",
        "decompose-contrib-ops",
        "dequantize-int32-bias",
    }
    assert required <= set(REGISTRY)
    for fix in REGISTRY.values():
        assert len(fix.explanation) > 80, fix.id
        compile(fix.snippet({}), f"<{fix.id}>", "exec")


def test_fix_script_without_steps_is_valid_python(workspace) -> None:
    session = _session(sample("detector.onnx"), workspace, build_check=False)
    compile(fix_script(session), "fix.py", "exec")


def test_cli_fix_contract(tmp_path: Path) -> None:
    out = tmp_path / "fixed.onnx"
    script = tmp_path / "fix.py"
    result = run_cli(
        "fix",
        str(sample("broken_contrib_ops.onnx")),
        "-o",
        str(out),
        "--auto",
        "--build-check",
        "--script",
        str(script),
        "--json",
        env={"TRT_WORKBENCH_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) >= {"applied", "before", "after", "output", "script"}
    assert payload["applied"] == ["decompose-contrib-ops"]
    assert payload["before"]["parse_ok"] is False and payload["after"]["parse_ok"] is True
    assert payload["output"] == str(out) and out.is_file()
    assert payload["script"] == str(script) and script.is_file()

    nothing = run_cli(
        "fix",
        str(sample("broken_contrib_ops.onnx")),
        "-o",
        str(tmp_path / "x.onnx"),
        "--apply",
        "fold-constants",
        "--json",
    )
    assert nothing.returncode == 1
    assert json.loads(nothing.stdout)["applied"] == []
    assert json.loads(nothing.stdout)["rejected"][0]["fix_id"] == "fold-constants"

    usage = run_cli("fix", str(sample("broken_contrib_ops.onnx")), "-o", str(tmp_path / "y.onnx"))
    assert usage.returncode == 2 and "--auto" in usage.stderr
    unknown = run_cli(
        "fix",
        str(sample("broken_contrib_ops.onnx")),
        "-o",
        str(tmp_path / "y.onnx"),
        "--apply",
        "make-it-work",
    )
    assert unknown.returncode == 2 and "no fix called" in unknown.stderr


def test_int32_quantized_biases_are_folded_by_auto_fix(workspace, tmp_path: Path) -> None:
    # ONNX Runtime's quantize_static output: int32 bias -> DequantizeLinear -> Conv bias.
    path = sample("broken_int32_bias_qdq.onnx")
    session = _session(path, workspace)
    before = session.original_diagnosis
    first = next(e for e in before.errors if e.stage == "parse")
    assert "has type Int32" in first.message and first.op_type == "DequantizeLinear"
    assert first.fixes[0] == "dequantize-int32-bias"
    finding = next(f for f in before.findings if f.kind == "int32-dequantize")
    assert finding.fixes[0] == "dequantize-int32-bias" and len(finding.tensors) == 3
    auto_fix(session)
    assert session.applied == ["dequantize-int32-bias"]
    assert session.current_diagnosis.parse_ok and session.current_diagnosis.build_ok
    step = session.steps[0]
    assert step.meaning.checked and step.meaning.passed, step.meaning.reason
    assert step.diff.op_count_delta == {"DequantizeLinear": -3}
    fixed = onnx.load(step.model_path)
    inits = {t.name: t for t in fixed.graph.initializer}
    assert not [t for t in fixed.graph.initializer if t.data_type == TensorProto.INT32]
    original = onnx.load(str(path))
    orig_inits = {t.name: numpy_helper.to_array(t) for t in original.graph.initializer}
    for tensor in finding.tensors:  # each bias ("/stem.bias") is (q - zero_point) * scale, as float32
        expected = (
            orig_inits[f"{tensor}_quantized"].astype(np.int64) - orig_inits[f"{tensor}_quantized_zero_point"]
        ).astype(np.float32) * orig_inits[f"{tensor}_quantized_scale"]
        got = numpy_helper.to_array(inits[tensor])
        assert got.dtype == np.float32 and np.array_equal(got, expected)
    # The 8-bit weights and activations keep their Q/DQ: it is still an INT8 model.
    assert sum(n.op_type == "DequantizeLinear" for n in fixed.graph.node) == 3 + 4

    out = tmp_path / "fixed.onnx"
    cli = run_cli(
        "fix",
        str(path),
        "-o",
        str(out),
        "--auto",
        "--json",
        env={"TRT_WORKBENCH_HOME": str(tmp_path / "home")},
    )
    assert cli.returncode == 0, cli.stderr
    payload = json.loads(cli.stdout)
    assert payload["applied"] == ["dequantize-int32-bias"]
    assert payload["before"]["parse_ok"] is False and payload["after"]["parse_ok"] is True
    assert out.is_file()


def test_int32_dequantize_of_a_runtime_tensor_is_not_folded(workspace, tmp_path: Path) -> None:
    # An int32 tensor computed at run time is not a quantized bias: nothing to fold.
    x = helper.make_tensor_value_info("x", TensorProto.INT32, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    scale = numpy_helper.from_array(np.array(0.5, np.float32), "scale")
    nodes = [
        helper.make_node("Abs", ["x"], ["a"], name="abs"),
        helper.make_node("DequantizeLinear", ["a", "scale"], ["y"], name="dq"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "runtime_int32", [x], [y], [scale]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    path = _save(model, tmp_path / "runtime_int32.onnx")
    session = _session(path, workspace, build_check=False)
    assert not any(f.kind == "int32-dequantize" for f in session.original_diagnosis.findings)
    assert all("dequantize-int32-bias" not in i.fixes for i in session.original_diagnosis.issues)
    rejected = apply_fix(session, "dequantize-int32-bias")
    assert isinstance(rejected, RejectedFix) and "nothing to work with" in rejected.reason


def test_shared_dim_names_are_renamed_by_auto_without_shapes(workspace, tmp_path: Path) -> None:
    # H and W both "size" (really 32x48): the default all-1 profile parses and builds, which
    # hides the clash. --auto must still rename the dims, so the real shape builds.
    path = sample("broken_shared_dim_names.onnx")
    session = _session(path, workspace)
    before = session.original_diagnosis
    assert before.parse_ok and before.build_ok is True
    assert any(f.kind == "shared-dim-names" and f.severity == "warning" for f in before.findings)
    auto_fix(session)
    assert session.applied == ["rename-shared-dims"]
    assert session.steps[0].meaning.checked and session.steps[0].meaning.passed
    assert not any(f.kind == "shared-dim-names" for f in session.current_diagnosis.findings)
    dims = [
        d.dim_param or d.dim_value
        for d in onnx.load(session.current_path).graph.input[0].type.tensor_type.shape.dim
    ]
    assert dims[:2] == [1, 3] and dims[2] != dims[3]
    # The renamed model builds at the shape the original could not.
    from workbench.diagnose import diagnose
    from workbench.shapes import parse_shape_specs

    real = parse_shape_specs(["image:1x3x32x48"])
    assert diagnose(load_model(path), backend="tensorrt-rtx", build_check=True, shapes=real).build_ok is False
    renamed = diagnose(
        load_model(session.current_path), backend="tensorrt-rtx", build_check=True, shapes=real
    )
    assert renamed.build_ok is True, [e.message for e in renamed.errors]

    out = tmp_path / "renamed.onnx"
    cli = run_cli(
        "fix",
        str(path),
        "-o",
        str(out),
        "--auto",
        "--json",
        env={"TRT_WORKBENCH_HOME": str(tmp_path / "home")},
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["applied"] == ["rename-shared-dims"]
    assert out.is_file()
