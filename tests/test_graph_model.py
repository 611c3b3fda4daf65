"""The graph the app draws (workbench/graph_model.py), on the bundled models and real results."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import manifest, requires_rtx, sample
from onnx import TensorProto, helper

from workbench.graph_model import (
    NO_VALUE,
    STATUS_COLORS,
    GraphData,
    engine_graph,
    onnx_graph,
    scale_overlay,
    synthetic_model,
    with_overlays,
)
from workbench.model import load_model

TRT_EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "trt-artifacts" / "resnet18-a100"


def _onnx_edges(graph: onnx.GraphProto) -> set[tuple[int, int, str]]:
    """(producer index, consumer index, tensor) for every node input another node makes."""
    producer = {out: i for i, n in enumerate(graph.node) for out in n.output if out}
    return {(producer[t], i, t) for i, n in enumerate(graph.node) for t in n.input if t in producer}


@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_nodes_and_edges_are_the_onnx_graphs(entry: dict) -> None:
    model = load_model(sample(entry["file"]))
    graph = model.proto.graph
    data = onnx_graph(model)
    ops = data.op_nodes()  # the main graph's (bodies of If/Loop/Scan nodes have their own tests)
    assert len(ops) == len(graph.node)
    assert [n.op_type for n in ops] == [n.op_type for n in graph.node]
    assert len({n.id for n in data.nodes}) == len(data.nodes)  # ids are unique
    index = {n.id: n.index for n in ops}
    op_edges = {(index[e.source], index[e.target], e.tensor) for e in data.edges if e.source in index and e.target in index}
    assert op_edges == _onnx_edges(graph)
    inputs = [n for n in data.nodes if n.kind == "input" and not n.parent]
    outputs = [n for n in data.nodes if n.kind == "output" and not n.parent]
    assert {n.name for n in outputs} == {vi.name for vi in graph.output}
    initializers = {t.name for t in graph.initializer}
    assert {n.name for n in inputs} == {vi.name for vi in graph.input if vi.name not in initializers}
    # Every node input is described: dtype and shape from shape inference where it has them.
    for node in ops:
        for t in node.inputs:
            if t:
                assert t in data.tensors
                assert node.id in data.tensors[t].consumers


def test_details_hold_shapes_dtypes_attributes_producers_and_consumers() -> None:
    model = load_model(sample("resnet_cnn.onnx"))
    data = onnx_graph(model)
    add = data.node("/layer2/layer2.0/Add")
    assert add.op_type == "Add" and add.domain == ""
    first = data.tensors[add.inputs[0]]
    assert first.dtype == "float32" and first.shape is not None and first.shape[1:] == [64, 28, 28]
    assert set(data.producers(add.id)) == {data.tensors[t].producer for t in add.inputs}
    assert data.consumers(add.id) == ["/layer2/layer2.0/relu_1/Relu"]
    conv = next(n for n in data.nodes if n.op_type == "Conv")
    assert "kernel_shape" in conv.attributes and "strides" in conv.attributes
    weight = data.tensors[conv.inputs[1]]
    assert weight.kind == "initializer" and weight.producer is None
    assert data.find(add.outputs[0]) == add.id  # a tensor name finds its producer
    assert data.find("/layer2/layer2.0/Add") == add.id


def test_an_if_node_is_one_node_with_its_branches_summarised_and_carried(tmp_path: Path) -> None:
    then = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y_then"])], "then", [], [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [2])]
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["y_else"])], "else", [], [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [2])]
    )
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
            helper.make_node("Greater", ["s", "zero"], ["c"], name="positive"),
            helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then, else_branch=other),
        ],
        "if_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[onnx.numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    path = tmp_path / "if.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    data = onnx_graph(load_model(path))
    branch = data.node("branch")
    assert len(data.op_nodes()) == 3
    assert sorted(branch.subgraphs) == ["else_branch: 1 nodes (Neg)", "then_branch: 1 nodes (Add)"]
    assert "x" in branch.details["reads from outside its subgraphs"]
    assert any("subgraphs" in note for note in data.notes)
    assert {n.id for n in data.body_nodes("branch") if n.kind == "op"} == {"branch/then_branch/Add#0", "branch/else_branch/Neg#0"}


@requires_rtx
def test_a_diagnosis_marks_the_error_node_with_its_message_and_fixes(workspace) -> None:
    from workbench.diagnose import diagnose

    model = load_model(sample("broken_contrib_ops.onnx"))
    diagnosis = diagnose(model, workspace=workspace, environment=False)
    assert not diagnosis.parse_ok
    data = with_overlays(onnx_graph(model, diagnosis), diagnosis=diagnosis)
    node = data.node("/mlp/fc1/FusedMatMul")
    errors = [n for n in node.notes if n.severity == "error"]
    assert errors and errors[0].source == "parse error"
    assert any("decompose-contrib-ops" in f for f in errors[0].fixes)
    status = data.overlay("status")
    assert status.values[node.id] == "error"
    assert status.colors[node.id] == STATUS_COLORS["error"]
    assert {e.label for e in status.legend} >= {"parser or build error here"}
    assert "tensorrt" in status.source.lower()
    # Nodes the error does not concern carry no error note.
    assert all(not n.notes for n in data.nodes if n.id != node.id and n.kind == "op" and n.op_type == "Relu")


@requires_rtx
def test_a_real_fp16_build_puts_its_layer_precisions_on_the_nodes(workspace) -> None:
    from workbench.build import BuildConfig, build
    from workbench.precision import modelopt_available

    if not modelopt_available():
        pytest.skip("NVIDIA Model Optimizer is not installed (FP16 on TensorRT-RTX is an AutoCast transform)")
    model = load_model(sample("detector.onnx"))
    result = build(model, BuildConfig(precision="fp16", target="sm89"), workspace=workspace)
    assert result.ok, result.error
    data = with_overlays(onnx_graph(model), builds=[result])
    overlay = next(o for o in data.overlays if o.id.startswith("build:"))
    assert overlay.title.startswith("Engine precision: FP16 build")
    by_name = {n.name: n.id for n in data.op_nodes()}
    expected = {}
    for layer in result.layers:
        for name in layer.onnx_nodes:
            if name in by_name:
                expected.setdefault(by_name[name], layer.precision)
    assert expected and overlay.values == expected
    assert "fp16" in overlay.values.values()
    assert {e.label for e in overlay.legend} == set(overlay.values.values())
    # The engine graph of the same build: its layers as nodes, each listing the ONNX nodes in it.
    engine = engine_graph(result.layers, label="FP16 build", onnx=data)
    assert len(engine.nodes) == len(result.layers)
    fused = {f for n in engine.nodes for f in n.fused}
    assert fused == set(expected)
    assert engine.edges, "layers are connected through the ONNX graph's edges"
    for layer_node in engine.nodes:
        for f in layer_node.fused:
            assert engine.onnx_to_layer[f] in {n.id for n in engine.nodes}


def test_a_cpu_profile_puts_times_on_the_nodes() -> None:
    from workbench.timing import profile_onnxruntime

    model = load_model(sample("resnet_cnn.onnx"))
    profile = profile_onnxruntime(str(model.path), shapes={"input": [1, 3, 224, 224]}, warmup=2, iterations=5,
                                  profiled_iterations=3)
    data = with_overlays(onnx_graph(model), profiles={"onnxruntime": profile})
    overlay = next(o for o in data.overlays if o.id.startswith("profile:"))
    assert overlay.kind == "scale" and overlay.values
    assert "ONNX Runtime" in overlay.source
    convs = [n.id for n in data.op_nodes() if n.op_type == "Conv"]
    assert sum(1 for c in convs if c in overlay.values) >= len(convs) - 1
    assert all(v >= 0 for v in overlay.values.values())
    assert set(overlay.colors) == set(overlay.values)
    assert len(overlay.legend) == 5
    rows = overlay.rows(data)
    assert rows[0][overlay.value_label] == max(overlay.values.values())


def test_drift_and_kept_nodes_become_overlays() -> None:
    from workbench.compare import Comparison, KeepPrecisionResult, LayerDrift, PrecisionComparison

    model = load_model(sample("resnet_cnn.onnx"))
    data = onnx_graph(model)
    convs = [n for n in data.op_nodes() if n.op_type == "Conv"][:3]
    rows = [LayerDrift(tensor=n.outputs[0], node=n.name, op_type="Conv", max_abs=10.0 ** -k, cosine=1.0, rel=0.0)
            for k, n in enumerate(convs, start=1)]
    comparison = Comparison(
        reference={}, inputs={}, samples=1,
        results=[PrecisionComparison(precision="int8", backend="onnxruntime-cpu", device="cpu", outputs=[],
                                     top1_agreement=None, layerwise=rows)],
    )
    keep = KeepPrecisionResult(precision="int8", nodes=[convs[0].name], outputs=[], met=True, trials=1, tolerances={})
    with_overlays(data, comparison=comparison, keep=keep)
    drift = data.overlay("drift:int8")
    assert drift.log_scale and drift.values == {n.id: 10.0 ** -k for k, n in enumerate(convs, start=1)}
    assert drift.colors[convs[0].id] != drift.colors[convs[2].id]
    kept = data.overlay("keep")
    assert kept.values[convs[0].id] == "kept in higher precision"
    assert kept.values[convs[1].id] == "quantized / default"


@pytest.mark.skipif(not TRT_EXPORTS.is_dir(), reason=f"the shared trtexec exports are not at {TRT_EXPORTS}")
def test_the_engine_graph_of_an_imported_qat_export_lists_fused_nodes() -> None:
    from workbench.engine_report import load_engine_exports

    report = load_engine_exports([TRT_EXPORTS / "qat"])[0]
    data = engine_graph(report, label="qat")
    assert len(data.nodes) == len(report.layers)
    conv = data.node("layer1.0.conv2.weight + QuantizeLinear_32 + Conv_34 + Add_36 + Relu_37")
    assert conv.fused == ["QuantizeLinear_32", "Conv_34", "Add_36", "Relu_37"]  # the weight is no node
    assert conv.details["precision"] == "int8"
    # Edges from the export's tensor names: the residual Add reads the block's input too.
    assert set(data.producers(conv.id)) == {
        "layer1.0.conv1.weight + QuantizeLinear_20 + Conv_22",
        "Reformatting CopyNode for Output Tensor 0 to MaxPool_12",
    }
    assert "tensors" in data.notes[0]
    precision = data.overlay("precision")
    assert precision.values[conv.id] == "int8"
    time_overlay = data.overlay("time")
    assert time_overlay.values[conv.id] == pytest.approx(report.layers[[layer.name for layer in report.layers].index(conv.id)].avg_ms)
    assert "A100" in time_overlay.source


def test_json_round_trip_and_the_wire_form() -> None:
    model = load_model(sample("detector.onnx"))
    data = with_overlays(onnx_graph(model))
    again = GraphData.from_json(data.to_json())
    assert again == data
    wire = data.to_wire()
    json.dumps(wire)
    assert len(wire["nodes"]) == len(data.nodes)
    operator = next(o for o in wire["overlays"] if o["id"] == "operator")
    assert "colors" not in operator and operator["category_colors"]  # one colour per category
    assert scale_overlay({}, "empty", "nothing").colors == {}
    assert NO_VALUE.startswith("#")


def test_a_1500_node_graph_is_built_quickly(tmp_path: Path) -> None:
    path = tmp_path / "synthetic_1500.onnx"
    onnx.save(synthetic_model(1500), str(path))
    model = load_model(path)
    started = time.perf_counter()
    data = with_overlays(onnx_graph(model))
    wire = data.to_wire()
    seconds = time.perf_counter() - started
    assert len(data.op_nodes()) == 1500
    assert len(json.dumps(wire)) < 1_500_000
    # Time is printed, not asserted: benchmarks/bench_graph.py measures the speed targets.
    print(f"1,500-node graph data in {seconds * 1000:.0f} ms, {len(json.dumps(wire)) / 1e6:.2f} MB on the wire")


# ----------------------------------------------------------------------------- the diff view


def _save(model: onnx.ModelProto, path: Path):  # type: ignore[no-untyped-def]
    onnx.save(model, str(path))
    return load_model(path)


def _consumers(graph: onnx.GraphProto, tensor: str) -> list[onnx.NodeProto]:
    return [n for n in graph.node if tensor in n.input]


def test_the_diff_pairs_convs_onnxslim_renamed_and_removes_the_folded_batchnorms(tmp_path: Path) -> None:
    import onnxslim

    from workbench.graph_diff import diff_models

    original = onnx.load(str(sample("resnet_cnn.onnx")))
    slimmed = onnxslim.slim(onnx.load(str(sample("resnet_cnn.onnx"))))
    before = load_model(sample("resnet_cnn.onnx"))
    after = _save(slimmed, tmp_path / "slim.onnx")
    diff = diff_models(before, after, before_label="original", after_label="onnxslim")

    # Independently of the matcher: each Conv followed by a BatchNormalization became one Conv
    # (under a new name) making the BatchNormalization's output.
    produced_after = {o: n for n in slimmed.graph.node for o in n.output}
    folded = {}
    for conv in (n for n in original.graph.node if n.op_type == "Conv"):
        bn = _consumers(original.graph, conv.output[0])
        assert len(bn) == 1 and bn[0].op_type == "BatchNormalization"
        fused = produced_after[bn[0].output[0]]
        assert fused.op_type == "Conv" and fused.name != conv.name  # onnxslim renamed it
        folded[conv.name] = (fused.name, bn[0].name)
    assert len(folded) == 20
    pairs = {m.before: m for m in diff.matches}
    for conv, (fused, bn) in folded.items():
        match = pairs[conv]
        assert match.after == fused and match.rule != "name"
        assert match.status == "changed"  # new weights and a bias input
        assert any(c.startswith("input 2 added") for c in match.changes)
        assert bn in diff.removed and diff.outputs_now_from[bn] == [fused]
    # The nodes onnxslim kept under their names pair by name, unchanged.
    kept = {n.name for n in original.graph.node} & {n.name for n in slimmed.graph.node}
    assert kept and all(pairs[name].rule == "name" and pairs[name].after == name for name in kept)
    for name in kept:
        assert (pairs[name].status == "unchanged") == _same_node(original, slimmed, name), name
    # The Gemm now makes the graph output itself (its Identity is gone): a rename, not a change.
    assert pairs["/fc/Gemm"].status == "renamed" and pairs["/fc/Gemm"].changes == ["output 0: /fc/Gemm_output_0 → logits"]
    assert "/output/logits/Identity" in diff.removed
    # Every node is accounted for exactly once on each side.
    io = ("input:", "output:")
    op_pairs = [m for m in diff.matches if not m.before.startswith(io)]
    assert len(op_pairs) + len([r for r in diff.removed if not r.startswith(io)]) == len(original.graph.node)
    assert len(op_pairs) + len([a for a in diff.added if not a.startswith(io)]) == len(slimmed.graph.node)
    assert len({m.after for m in diff.matches}) == len(diff.matches)
    counts = diff.counts()
    assert counts["removed"] == len(diff.removed) and counts["changed"] >= 20


def _same_node(a: onnx.ModelProto, b: onnx.ModelProto, name: str) -> bool:
    na = next(n for n in a.graph.node if n.name == name)
    nb = next(n for n in b.graph.node if n.name == name)
    return na.SerializeToString(deterministic=True) == nb.SerializeToString(deterministic=True)


def test_the_diff_of_a_real_fix_says_what_the_decomposition_replaced(tmp_path: Path) -> None:
    from workbench.fixes import REGISTRY
    from workbench.graph_diff import diff_models

    proto = onnx.load(str(sample("broken_contrib_ops.onnx")))
    fixed = REGISTRY["decompose-contrib-ops"].implementation(onnx.load(str(sample("broken_contrib_ops.onnx"))))
    diff = diff_models(load_model(sample("broken_contrib_ops.onnx")), _save(fixed, tmp_path / "fixed.onnx"))
    contrib = [n.name for n in proto.graph.node if n.domain == "com.microsoft"]
    assert sorted(diff.removed) == sorted(contrib)
    fixed_names = {n.name for n in fixed.graph.node}
    assert set(diff.added) == {n for n in fixed_names if n not in {m.after for m in diff.matches}}
    # An added node making a removed node's output replaces it.
    made = {o: n.name for n in fixed.graph.node for o in n.output}
    for node in proto.graph.node:
        if node.domain == "com.microsoft":
            assert diff.replaces[made[node.output[0]]] == [node.name]
    untouched = [n.name for n in proto.graph.node if n.domain == ""]
    statuses = {m.before: m.status for m in diff.matches}
    assert all(statuses[name] == "unchanged" for name in untouched)


def test_renamed_nodes_and_tensors_pair_through_their_connections(tmp_path: Path) -> None:
    """A re-export that renames every node and every inner tensor: nothing pairs by name, all by
    op type and connected tensors (propagated from the graph inputs and outputs inwards)."""
    from workbench.graph_diff import diff_models

    proto = onnx.load(str(sample("detector.onnx")))
    renamed = onnx.ModelProto()
    renamed.CopyFrom(proto)
    keep = {vi.name for vi in proto.graph.input} | {vi.name for vi in proto.graph.output}
    keep |= {t.name for t in proto.graph.initializer}
    rename = {}
    for i, node in enumerate(renamed.graph.node):
        node.name = f"n{i}"
        for k, out in enumerate(node.output):
            if out and out not in keep:
                rename[out] = f"t{i}_{k}"
                node.output[k] = rename[out]
    for node in renamed.graph.node:
        for k, inp in enumerate(node.input):
            node.input[k] = rename.get(inp, inp)
    del renamed.graph.value_info[:]
    diff = diff_models(load_model(sample("detector.onnx")), _save(renamed, tmp_path / "renamed.onnx"))
    assert diff.added == [] and diff.removed == []
    expected = {n.name: f"n{i}" for i, n in enumerate(proto.graph.node)}
    pairs = {m.before: m for m in diff.matches if not m.before.startswith(("input:", "output:"))}
    assert {b: m.after for b, m in pairs.items()} == expected
    assert {m.status for m in pairs.values()} == {"renamed"}
    assert {m.rule for m in pairs.values()} <= {"outputs", "inputs", "connected tensors"}
    assert "connected tensors" in {m.rule for m in pairs.values()} or "inputs" in {m.rule for m in pairs.values()}


def test_a_changed_attribute_is_a_change_and_the_diff_graph_marks_it(tmp_path: Path) -> None:
    from workbench.graph_diff import DIFF_COLORS, diff_graph, diff_models

    proto = onnx.load(str(sample("resnet_cnn.onnx")))
    edited = onnx.ModelProto()
    edited.CopyFrom(proto)
    pool = next(n for n in edited.graph.node if n.op_type == "MaxPool")
    for attr in pool.attribute:
        if attr.name == "kernel_shape":
            attr.ints[:] = [2, 2]
    bn = next(n for n in edited.graph.node if n.op_type == "BatchNormalization")
    relu = next(n for n in edited.graph.node if bn.output[0] in n.input)
    relu.input[list(relu.input).index(bn.output[0])] = bn.input[0]  # bypass the first BatchNormalization
    edited.graph.node.remove(bn)
    before = load_model(sample("resnet_cnn.onnx"))
    after = _save(edited, tmp_path / "edited.onnx")
    diff = diff_models(before, after)
    match = next(m for m in diff.matches if m.before == pool.name)
    assert match.status == "changed" and match.changes == ["attribute kernel_shape: [3, 3] → [2, 2]"]
    assert diff.removed == [bn.name]
    relu_match = next(m for m in diff.matches if m.before == relu.name)
    assert relu_match.status == "changed" and relu_match.changes[0].startswith("input 0:")

    data = diff_graph(before, after)
    overlay = data.overlay("diff")
    assert data.overlays[0] is overlay and overlay.source == diff.summary()
    assert overlay.values[pool.name] == "changed" and overlay.colors[pool.name] == DIFF_COLORS["changed"]
    assert overlay.values[bn.name] == "removed"
    removed = data.node(bn.name)
    assert removed.mark == "removed" and removed.op_type == "BatchNormalization"
    # The removed node is wired where it was: from the Conv before it to the Relu after it.
    assert set(data.producers(removed.id)) == {next(n.name for n in proto.graph.node if bn.input[0] in n.output)}
    assert data.consumers(removed.id) == [relu.name]
    assert data.node(pool.name).mark == "changed" and "kernel_shape" in data.node(pool.name).details["diff"]
    unchanged = [n for n in data.op_nodes() if overlay.values.get(n.id) == "unchanged"]
    assert unchanged and all(n.mark == "" for n in unchanged)
    assert len(data.op_nodes()) == len(edited.graph.node) + 1
    assert GraphData.from_json(data.to_json()) == data
    assert any("Matching" in note for note in data.notes)


@requires_rtx
def test_the_diff_of_a_fix_session_step(workspace) -> None:
    from workbench.fixing import FixStep, apply_fix, start_session
    from workbench.graph_diff import fix_diff_graph

    model = load_model(sample("broken_contrib_ops.onnx"))
    fs = start_session(model, workspace=workspace)
    step = apply_fix(fs, "decompose-contrib-ops")
    assert isinstance(step, FixStep), step
    data = fix_diff_graph(fs)
    overlay = data.overlay("diff")
    assert overlay.values["/mlp/fc1/FusedMatMul"] == "removed"
    added = [k for k, v in overlay.values.items() if v == "added"]
    assert added and all(k in {n.id for n in data.nodes} for k in added)
    assert "decompose-contrib-ops" in data.title
    # The after model parses: the status overlay comes from the step's own diagnosis.
    assert step.after.parse_ok and data.overlay("status").values


# ----------------------------------------------------------------------------- subgraph bodies


def _loop_with_an_if_model(path: Path) -> Path:
    """A Loop whose body holds an If (nested), reading ``w`` from the main graph (captured)."""
    then = helper.make_graph([helper.make_node("Add", ["acc_in", "w"], ["t_out"], name="then_add")], "then", [],
                             [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [2])])
    other = helper.make_graph([helper.make_node("Sub", ["acc_in", "w"], ["e_out"], name="else_sub")], "else", [],
                              [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [2])])
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
            helper.make_node("Less", ["i", "half"], ["early"], name="early"),
            helper.make_node("If", ["early"], ["acc_out"], name="pick", then_branch=then, else_branch=other),
        ],
        "loop_body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [2])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["w"], name="weights"),
            helper.make_node("Loop", ["n", "", "x"], ["y"], name="loop", body=body),
        ],
        "loop_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[onnx.numpy_helper.from_array(np.array(4, np.int64), "n"), onnx.numpy_helper.from_array(np.array(2, np.int64), "half")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def test_an_if_nodes_branches_are_body_nodes_with_stable_ids_and_captured_edges() -> None:
    model = load_model(sample("vad_like_scalar_sr.onnx"))
    data = onnx_graph(model)
    holder = next(n for n in data.op_nodes() if n.op_type == "If")
    # The main graph is as before: its ops are the ONNX graph's nodes.
    assert len(data.op_nodes()) == len(model.proto.graph.node)
    branches = {a.name: a.g for a in model.proto.graph.node[holder.index].attribute}
    for attr, body in branches.items():
        ops = [n for n in data.body_nodes(holder.id, attr) if n.kind == "op"]
        assert [n.op_type for n in ops] == [n.op_type for n in body.node]
        assert all(n.id == f"{holder.id}/{attr}/{n.name}" for n in ops)  # named nodes keep their names
        outputs = [n for n in data.body_nodes(holder.id, attr) if n.kind == "output"]
        assert [n.name for n in outputs] == [vi.name for vi in body.output]
        # The branch reads the main graph's "input": an edge from that graph input into the body.
        pad = next(n for n in ops if n.op_type == "Pad")
        assert any(e.source == "input:input" and e.target == pad.id and e.tensor == "input" for e in data.edges)
        assert pad.id in data.tensors["input"].consumers
        # Shapes inside the body come from shape inference.
        conv = next(n for n in ops if n.op_type == "Conv")
        assert data.tensors[conv.outputs[0]].shape is not None and conv.sublabel
    # Same ids on every load (a selection or a search result stays valid).
    assert [n.id for n in onnx_graph(load_model(sample("vad_like_scalar_sr.onnx"))).nodes] == [n.id for n in data.nodes]


def test_nested_bodies_a_loop_holding_an_if_and_the_json_round_trip(tmp_path: Path) -> None:
    data = onnx_graph(load_model(_loop_with_an_if_model(tmp_path / "loop.onnx")))
    assert [n.id for n in data.op_nodes()] == ["weights", "loop"]
    body = data.body_nodes("loop", "body")
    assert {n.id for n in body} == {
        "loop/body/input:i", "loop/body/input:cond_in", "loop/body/input:acc_in",
        "loop/body/keep_going", "loop/body/early", "loop/body/pick",
        "loop/body/output:cond_out", "loop/body/output:acc_out",
    }
    assert data.node("loop/body/input:i").kind == "input" and data.tensors["i"].kind == "subgraph input"
    # The If inside the body holds its own bodies, one level down.
    inner = data.body_nodes("loop/body/pick")
    assert {n.id for n in inner if n.kind == "op"} == {"loop/body/pick/then_branch/then_add", "loop/body/pick/else_branch/else_sub"}
    assert sorted(data.node("loop/body/pick").subgraphs) == ["else_branch: 1 nodes (Sub)", "then_branch: 1 nodes (Add)"]
    edges = {(e.source, e.target, e.tensor) for e in data.edges}
    # Captured tensors two levels deep: "w" from the main graph, "acc_in" from the loop body.
    assert ("weights", "loop/body/pick/then_branch/then_add", "w") in edges
    assert ("loop/body/input:acc_in", "loop/body/pick/else_branch/else_sub", "acc_in") in edges
    assert ("loop/body/pick", "loop/body/output:acc_out", "acc_out") in edges
    assert ("loop/body/input:i", "loop/body/early", "i") in edges
    # Every edge's ends are nodes of the graph.
    ids = {n.id for n in data.nodes}
    assert all(e.source in ids and e.target in ids for e in data.edges)
    again = GraphData.from_dict(json.loads(json.dumps(data.to_dict())))
    assert again == data
    wire = data.to_wire()
    then_add = next(n for n in wire["nodes"] if n["id"] == "loop/body/pick/then_branch/then_add")
    # The wire leaves out a body node's name (its id ends with it); the component cuts it back.
    assert then_add["parent"] == "loop/body/pick" and then_add["attr"] == "then_branch" and "name" not in then_add
    assert all("parent" not in n for n in wire["nodes"] if n["id"] in ("weights", "loop"))


def test_a_scan_body_and_overlays_colour_body_nodes_that_have_values(tmp_path: Path) -> None:
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "row"], ["s_out"], name="accumulate"),
         helper.make_node("Identity", ["s_out"], ["out_row"], name="emit")],
        "scan_body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [3]), helper.make_tensor_value_info("row", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [3]), helper.make_tensor_value_info("out_row", TensorProto.FLOAT, [3])],
    )
    graph = helper.make_graph(
        [helper.make_node("Scan", ["init", "rows"], ["final", "all"], name="scan", num_scan_inputs=1, body=body)],
        "scan_model",
        [helper.make_tensor_value_info("init", TensorProto.FLOAT, [3]), helper.make_tensor_value_info("rows", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("final", TensorProto.FLOAT, [3]), helper.make_tensor_value_info("all", TensorProto.FLOAT, [4, 3])],
    )
    path = tmp_path / "scan.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    data = with_overlays(onnx_graph(load_model(path)))
    acc = data.node("scan/body/accumulate")
    assert acc.parent == "scan" and acc.attr == "body" and acc.inputs == ["s_in", "row"]
    assert data.tensors["s_out"].shape == [3] and data.tensors["s_out"].producer == acc.id
    # Operator kinds colour body nodes like any node; a timing that names a body node colours it.
    assert data.overlay("operator").values[acc.id] == "elementwise / other"
    timed = scale_overlay({acc.id: 2.0, "scan": 3.0}, "t", "time")
    assert timed.colors[acc.id] != NO_VALUE
    from workbench.graph_model import keep_overlay

    kept = keep_overlay(data, ["accumulate"])
    assert kept.values[acc.id] == "kept in higher precision"
    assert "scan/body/emit" not in kept.values  # body nodes without a value stay uncoloured


def test_the_real_silero_vad_opens_level_by_level() -> None:
    path = Path(__file__).resolve().parents[1] / ".cache" / "real-models" / "silero_vad" / "silero_vad.onnx"
    if not path.is_file():
        pytest.skip("the real silero-vad model is not in .cache/real-models")
    model = load_model(path)
    data = onnx_graph(model)
    assert len(data.op_nodes()) == len(model.proto.graph.node)
    holder = data.node("If_0")
    assert {n.attr for n in data.body_nodes("If_0")} == {"then_branch", "else_branch"}
    # Three levels: If_0 > decoder/If_1 > rnn/If_4 > ...; each level's parent is a node of the one above.
    deep = [n for n in data.body_nodes() if n.parent.count("/") >= 4]
    assert deep
    by_id = {n.id: n for n in data.nodes}
    for n in data.body_nodes():
        assert n.parent in by_id and n.id.startswith(f"{n.parent}/{n.attr}/")
    lstm = [n for n in data.body_nodes() if n.op_type == "LSTM"]
    assert lstm and all(n.parent != holder.id or n.attr for n in lstm)
    # The wire stays within a small multiple of the main graph's count of nodes' bytes.
    assert len(json.dumps(data.to_wire())) < 1_200_000
