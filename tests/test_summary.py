"""The summary of every bundled sample is right, checked against onnx's own view of the file."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from conftest import SAMPLES, manifest, sample
from onnx import numpy_helper

from workbench.model import load_model
from workbench.summary import ModelSummary, summarize

SAMPLE_FILES = [m["file"] for m in manifest()]


def _onnx_shape(vi: onnx.ValueInfoProto):
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_summary_matches_onnx(name: str) -> None:
    path = sample(name)
    summary = summarize(load_model(path))
    full = onnx.load(str(path))  # with external data: the real tensors
    graph = full.graph
    init_names = {t.name for t in graph.initializer}

    real_inputs = [vi for vi in graph.input if vi.name not in init_names]
    assert [t.name for t in summary.inputs] == [vi.name for vi in real_inputs]
    assert [t.shape for t in summary.inputs] == [_onnx_shape(vi) for vi in real_inputs]
    assert [t.dtype for t in summary.inputs] == [
        {"FLOAT": "float32", "DOUBLE": "float64"}.get(n, n.lower())
        for n in (onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type) for vi in real_inputs)
    ]
    assert [t.name for t in summary.outputs] == [vi.name for vi in graph.output]

    # Nodes of the graph and of every subgraph (If branches, Loop bodies), walked here on our own.
    def walk(g: onnx.GraphProto) -> list[onnx.NodeProto]:
        found = []
        for n in g.node:
            found.append(n)
            for attr in n.attribute:
                for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    found += walk(sub)
        return found

    nodes = walk(graph)
    assert summary.node_count == len(nodes)
    expected_ops = Counter(n.op_type if not n.domain else f"{n.domain}::{n.op_type}" for n in nodes)
    assert summary.op_histogram == dict(expected_ops)

    arrays = [numpy_helper.to_array(t) for t in graph.initializer]
    assert summary.parameter_count == sum(a.size for a in arrays)
    assert summary.parameter_bytes == sum(a.nbytes for a in arrays)
    assert sum(summary.initializer_dtypes.values()) == len(arrays)
    assert summary.initializer_dtypes == dict(Counter(str(a.dtype) for a in arrays))

    assert summary.ir_version == full.ir_version
    assert summary.opsets == {(o.domain or "ai.onnx"): o.version for o in full.opset_import}
    assert summary.producer_name == full.producer_name
    assert summary.total_bytes == path.stat().st_size + sum(
        (path.parent / f).stat().st_size for f in summary.external_data_files
    )


def test_summary_json_round_trip() -> None:
    summary = summarize(load_model(sample("transformer_encoder.onnx")))
    again = ModelSummary.from_json(summary.to_json())
    assert again == summary
    assert again.inputs[0].shape == ["batch", "sequence", 64]


def test_dynamic_dims_and_profile_need() -> None:
    transformer = summarize(load_model(sample("transformer_encoder.onnx")))
    assert [(d.input, d.axis, d.name) for d in transformer.dynamic_dims] == [
        ("hidden_states", 0, "batch"),
        ("hidden_states", 1, "sequence"),
    ]
    assert transformer.needs_profile
    detector = summarize(load_model(sample("detector.onnx")))
    assert not detector.needs_profile and detector.dynamic_dims == []
    missing = summarize(load_model(sample("broken_missing_shapes.onnx")))
    assert missing.inputs[0].shape is None
    assert [(d.input, d.axis) for d in missing.dynamic_dims] == [("input", None)]


def test_shared_dim_names_flagged() -> None:
    summary = summarize(load_model(sample("broken_shared_dim_names.onnx")))
    assert summary.shared_dim_names == {"image": ["size"]}
    assert summary.inputs[0].shape == [1, 3, "size", "size"]


def test_custom_domains_and_float64() -> None:
    contrib = summarize(load_model(sample("broken_contrib_ops.onnx")))
    assert contrib.custom_domains == ["com.microsoft"]
    assert contrib.op_histogram["com.microsoft::FusedMatMul"] == 2
    f64 = summarize(load_model(sample("broken_float64_initializers.onnx")))
    assert f64.initializer_dtypes["float64"] == 2
    assert f64.initializer_bytes_by_dtype["float64"] == 2 * 16 * 8
    u8 = summarize(load_model(sample("broken_uint8_input.onnx")))
    assert u8.inputs[0].dtype == "uint8"


def test_checker_and_shape_inference_are_reported_not_fatal() -> None:
    missing = summarize(load_model(sample("broken_missing_shapes.onnx")))
    assert not missing.checker_ok
    assert "shape" in (missing.checker_error or "")
    ok = summarize(load_model(sample("resnet_cnn.onnx")))
    assert ok.checker_ok and ok.checker_error is None and ok.shape_inference_error is None


def test_external_data_summary_equals_inline_model() -> None:
    inline = summarize(load_model(sample("detector.onnx")))
    external = summarize(load_model(sample("external_data/detector_external.onnx")))
    assert external.external_data_files == ["detector_external.onnx.data"]
    for field in ("inputs", "outputs", "op_histogram", "parameter_count", "parameter_bytes", "node_count"):
        assert getattr(external, field) == getattr(inline, field), field
    # The summary did not need the tensor data: the in-memory graph has none of it.
    loaded = load_model(sample("external_data/detector_external.onnx"))
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in loaded.proto.graph.initializer)
    assert np.allclose(
        numpy_helper.to_array(loaded.load_full().graph.initializer[0]),
        numpy_helper.to_array(onnx.load(str(SAMPLES / "detector.onnx")).graph.initializer[0]),
    )
