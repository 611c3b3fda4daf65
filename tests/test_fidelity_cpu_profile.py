"""CPU per-node timing from the one fully optimised ONNX Runtime session whose latency is shown.

Wall-clock ratios (rows against latency) live in benchmarks/bench_cpu_profile.py: a shared
2-core machine makes them flaky. These tests check what cannot flake: which runs the rows
come from, that every ONNX node is accounted for, fused nodes, shares, notes, options.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import sample
from onnx import TensorProto, helper, numpy_helper

from workbench.errors import WorkbenchError
from workbench.timing import Profile, _rows_from_events, profile_onnxruntime

RESNET = str(sample("resnet_cnn.onnx"))


def _labels(path: str) -> list[str]:
    graph = onnx.load(path, load_external_data=False).graph
    return [n.name or f"{n.op_type}#{i}" for i, n in enumerate(graph.node)]


def _accounted_once(profile: Profile, path: str) -> None:
    mapped = [n for layer in profile.layers for n in layer.onnx_nodes]
    assert len(mapped) == len(set(mapped)), "an ONNX node sits in two rows"
    assert set(mapped).isdisjoint(profile.unmapped_onnx_nodes)
    assert sorted([*mapped, *profile.unmapped_onnx_nodes]) == sorted(_labels(path))
    assert profile.node_rows == {n: layer.name for layer in profile.layers for n in layer.onnx_nodes}
    assert profile.unmapped_rows == [layer.name for layer in profile.layers if not layer.onnx_nodes]


@pytest.fixture(scope="module")
def resnet_profile() -> Profile:
    # No shapes: the dynamic batch defaults to 1, as diagnose's build check does.
    return profile_onnxruntime(RESNET, iterations=4, warmup=2, profiled_iterations=3)


def test_profile_comes_from_the_fully_optimised_session(resnet_profile: Profile) -> None:
    p = resnet_profile
    assert p.backend == "onnxruntime" and p.device.startswith("cpu")
    assert p.optimization == "all"
    assert (p.warmup, p.profiled_iterations, p.iterations, len(p.samples_ms)) == (2, 3, 4, 4)
    assert 0 <= p.stalled_runs < p.profiled_iterations
    assert p.input_shapes == {"input": [1, 3, 224, 224]} and p.batch == 1
    assert any(n.startswith("dynamic dims defaulted to 1: input[0]=batch") for n in p.notes), p.notes
    # ONNX Runtime fused BatchNorm and Relu into the Conv (and renamed it for its NCHWc layout):
    # the row carries the ONNX nodes it ran, under the name ONNX Runtime gave it.
    row = p.layers[[layer.name for layer in p.layers].index(p.node_rows["/conv1/Conv"])]
    assert row.onnx_nodes == ["/conv1/Conv", "/bn1/BatchNormalization", "/relu/Relu"]
    assert row.name not in _labels(RESNET) and row.op_type == "Conv"
    # The residual Add and its Relu went into the second Conv of each block.
    assert p.node_rows["/layer1/layer1.0/Add"] == p.node_rows["/layer1/layer1.0/conv2/Conv"]
    assert p.node_rows["/layer1/layer1.0/relu_1/Relu"] == p.node_rows["/layer1/layer1.0/conv2/Conv"]
    # A layout reorder ONNX Runtime inserted is a row of its own, from no ONNX node, and said so.
    assert "ReorderOutput" in p.unmapped_rows
    assert any("come from no ONNX node" in n for n in p.notes)
    _accounted_once(p, RESNET)


def test_rows_shares_and_overhead_add_up(resnet_profile: Profile) -> None:
    p = resnet_profile
    assert sum(layer.share for layer in p.layers) + p.between_nodes_share == pytest.approx(1.0)
    assert p.layer_sum_ms == pytest.approx(sum(layer.ms for layer in p.layers))
    assert p.layer_sum_ms <= p.profiled_run_ms * (1 + 1e-9), "nodes run inside their run"
    assert p.between_nodes_ms == pytest.approx(p.profiled_run_ms - p.layer_sum_ms)
    assert p.latency_ratio == pytest.approx(p.layer_sum_ms / p.latency_ms.median)
    assert p.profiler_overhead == pytest.approx(p.profiled_run_ms / p.latency_ms.median)
    assert p.row_basis == ("latency" if 0.8 <= p.latency_ratio <= 1.2 else "shares")
    said = [n for n in p.notes if "add up to" in n]
    assert len(said) == 1 and (("shares of the profiled run" in said[0]) == (p.row_basis == "shares"))
    assert p.by_op_type["Conv"] == pytest.approx(
        sum(layer.ms for layer in p.layers if layer.op_type == "Conv")
    )
    lat = p.latency_ms
    assert lat.min <= lat.median <= lat.p90 <= lat.p95 <= lat.p99 <= lat.max
    again = Profile.from_json(p.to_json())
    assert again == p


def test_warm_up_runs_are_not_in_the_rows() -> None:
    """The rows are the node events inside the last N model_run spans of a real trace."""
    feeds = {"input": np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)}
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(RESNET, options, providers=["CPUExecutionProvider"])
        warmup, timed = 3, 2
        for _ in range(warmup + timed):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = [e for e in events if e.get("name") == "model_run"]
    assert len(runs) == warmup + timed
    rows, runs_ms, count, stalled = _rows_from_events(events, timed, stall=float("inf"))
    assert (count, stalled, len(runs_ms)) == (timed, 0, timed)
    # Independently: the node events after the last warm-up run ended, by position in the trace.
    last_warmup = [i for i, e in enumerate(events) if e.get("name") == "model_run"][warmup - 1]
    timed_nodes = [
        e for e in events[last_warmup + 1 :] if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
    ]
    all_nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    assert 0 < len(timed_nodes) < len(all_nodes)
    assert sum(mean for _, mean in rows.values()) * timed == pytest.approx(sum(e["dur"] for e in timed_nodes))
    assert {name for name in rows} == {e["name"][: -len("_kernel_time")] for e in timed_nodes}
    assert runs_ms == [r["dur"] / 1000.0 for r in runs[warmup:]]


def test_basic_optimisation_is_an_option_and_labelled() -> None:
    p = profile_onnxruntime(
        RESNET,
        shapes={"input": [1, 3, 224, 224]},
        iterations=3,
        warmup=1,
        profiled_iterations=2,
        optimization="basic",
    )
    assert p.optimization == "basic"
    assert any(
        "optimization='basic'" in n and "not what the fully optimised model runs at" in n for n in p.notes
    )
    assert not any(n.startswith("dynamic dims defaulted") for n in p.notes), "the shape was given"
    # Basic optimisations fold BatchNorm into the Conv but do not fuse the Relu or change layout.
    by_name = {layer.name: layer for layer in p.layers}
    assert by_name["/conv1/Conv"].onnx_nodes == ["/conv1/Conv", "/bn1/BatchNormalization"]
    assert by_name["/relu/Relu"].onnx_nodes == ["/relu/Relu"]
    assert p.unmapped_rows == []
    _accounted_once(p, RESNET)
    with pytest.raises(WorkbenchError, match="Unknown optimization"):
        profile_onnxruntime(RESNET, optimization="fast")


def test_folded_constants_are_listed_as_unmapped(tmp_path: Path) -> None:
    # Reshape's shape comes from Constant -> Add: ONNX Runtime folds those, so they run in no node.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node(
            "Constant",
            [],
            ["base"],
            name="shape_base",
            value=numpy_helper.from_array(np.array([0, 12, 1], np.int64)),
        ),
        helper.make_node(
            "Constant",
            [],
            ["offset"],
            name="shape_offset",
            value=numpy_helper.from_array(np.array([0, 0, 1], np.int64)),
        ),
        helper.make_node("Add", ["base", "offset"], ["shape"], name="shape_add"),
        helper.make_node("Reshape", ["r", "shape"], ["flat"], name="reshape"),
        helper.make_node("Sigmoid", ["flat"], ["s"], name="sigmoid"),
        helper.make_node("Identity", ["s"], ["y"], name="identity"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "folded", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]
    )
    path = tmp_path / "folded.onnx"
    onnx.save(model, str(path))
    p = profile_onnxruntime(str(path), shapes={"x": [2, 4, 6]}, iterations=3, warmup=1, profiled_iterations=2)
    assert sorted(p.unmapped_onnx_nodes) == ["shape_add", "shape_base", "shape_offset"]
    assert any("folded them into constants or removed them" in n for n in p.notes)
    assert p.node_rows["relu"] == "relu" and p.node_rows["reshape"] == "reshape"
    # The Identity ONNX Runtime removed ran as part of the node that now writes the output.
    assert p.node_rows["identity"] == "sigmoid"
    assert p.input_shapes == {"x": [2, 4, 6]}
    _accounted_once(p, str(path))
