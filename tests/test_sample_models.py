"""The bundled sample models: deterministic, small, realistic, and described by the manifest."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import GENERATOR, SAMPLES, manifest, sample
from onnx import numpy_helper


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    out = tmp_path / "regenerated"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, capture_output=True)
    committed = sorted(
        p.relative_to(SAMPLES) for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".py"
    )
    regenerated = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert committed == regenerated
    for rel in committed:
        assert _sha(SAMPLES / rel) == _sha(out / rel), f"{rel} differs from what generate.py makes"


def test_manifest_lists_every_model_and_fits_the_budget() -> None:
    entries = manifest()
    listed = {e["file"] for e in entries}
    on_disk = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.onnx")}
    assert listed == on_disk
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 20 * 2**20  # "well under 30 MB"
    for entry in entries:
        assert entry["kind"] in ("working", "broken")
        assert entry["title"] and entry["description"] and entry["tensorrt"]
        if entry["kind"] == "broken":
            assert entry["fixes"], f"{entry['file']} must name the fix that repairs it"
    kinds = {e["kind"] for e in entries}
    assert kinds == {"working", "broken"}


def _random_feeds(session: ort.InferenceSession, batch: int = 2, entry: dict | None = None) -> dict[str, np.ndarray]:
    """Random inputs; the manifest's shapes and input values (a sample rate) where it gives them."""
    rng = np.random.default_rng(0)
    given = {}
    for spec in (entry or {}).get("shapes", []):
        name, _, dims = spec.partition(":")
        given[name] = [int(d) for d in dims.split(",")[-1].split("x")]
    values = (entry or {}).get("input_values", {})
    feeds = {}
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else batch if i == 0 else 16 for i, d in enumerate(inp.shape)]
        if inp.name in given:
            shape = [batch, *given[inp.name][1:]]
        if inp.name in values:
            feeds[inp.name] = np.array(values[inp.name], dtype=np.int64 if inp.type == "tensor(int64)" else None)
            continue
        feeds[inp.name] = rng.normal(size=shape).astype(np.float32)
    return feeds


@pytest.mark.parametrize("name", [e["file"] for e in manifest() if e["kind"] == "working"])
def test_working_models_run_in_onnxruntime(name: str) -> None:
    entry = next(e for e in manifest() if e["file"] == name)
    session = ort.InferenceSession(str(sample(name)), providers=["CPUExecutionProvider"])
    outputs = session.run(None, _random_feeds(session, entry=entry))
    for out in outputs:
        assert np.isfinite(out).all()
        assert out.std() > 0.05


def test_cnn_logits_are_realistic_and_fp16_safe() -> None:
    session = ort.InferenceSession(str(sample("resnet_cnn.onnx")), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(123)
    (logits,) = session.run(None, {"input": rng.normal(size=(4, 3, 224, 224)).astype(np.float32)})
    assert logits.shape == (4, 1000)
    # Far from FP16 underflow (6e-8) and overflow (65504), with a spread a classifier has.
    assert 1.0 < logits.std() < 10.0
    assert np.abs(logits).max() < 100.0
    assert np.median(np.abs(logits)) > 1e-2
    # Different images give different top-1 classes: the net is not collapsed.
    assert len(set(logits.argmax(axis=1))) > 1


def test_no_all_constant_weights() -> None:
    model = onnx.load(str(sample("resnet_cnn.onnx")))
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.size > 1 and init.name.endswith("weight"):
            assert array.std() > 0, init.name
    bn_vars = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith("running_var")]
    assert bn_vars and all((v != 1.0).any() for v in bn_vars), (
        "BatchNorm statistics must be measured, not defaults"
    )


@pytest.mark.parametrize("name", [e["file"] for e in manifest() if e["kind"] == "broken"])
def test_broken_models_still_mean_something_to_onnxruntime(name: str) -> None:
    # The broken models are valid ONNX that ONNX Runtime runs: the fixes can be checked
    # for meaning against them. (The shared-dim model only runs at its real 32x48 size.)
    session = ort.InferenceSession(str(sample(name)), providers=["CPUExecutionProvider"])
    feeds = {}
    rng = np.random.default_rng(1)
    for inp in session.get_inputs():
        if inp.type == "tensor(uint8)":
            feeds[inp.name] = rng.integers(0, 256, size=inp.shape, dtype=np.uint8)
            continue
        shape = inp.shape or [1, 3, 64, 64]
        if name == "broken_shared_dim_names.onnx":
            shape = [1, 3, 32, 48]
        shape = [d if isinstance(d, int) else 2 for d in shape]
        feeds[inp.name] = rng.normal(size=shape).astype(np.float32)
    outputs = session.run(None, feeds)
    assert all(np.isfinite(o).all() for o in outputs)


@pytest.mark.rtx
@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_manifest_parse_claims_hold_for_tensorrt_rtx(entry: dict) -> None:
    trt = pytest.importorskip(
        "tensorrt_rtx", reason="TensorRT-RTX is not installed (pip install 'trt-workbench[rtx]')"
    )
    logger = trt.Logger(trt.Logger.INTERNAL_ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse_from_file(str(sample(entry["file"])))
    assert ok == entry["expect"]["parse"]
    if not ok:
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        assert errors[0].node_name() == entry["expect"]["error_node"]
        assert any(entry["expect"]["error_contains"] in e.desc() for e in errors)


def test_int32_bias_sample_is_quantize_static_shaped() -> None:
    """Every Conv bias is an int32 initializer behind a DequantizeLinear whose scale is the
    input activation's scale times the weight's (per channel) and whose zero point is int32 0,
    as onnxruntime.quantization.quantize_static writes it; weights are per-channel int8."""
    model = onnx.load(str(sample("broken_int32_bias_qdq.onnx")))
    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 3
    for conv in convs:
        x_dq, w_dq, b_dq = (producer[t] for t in conv.input)
        assert {x_dq.op_type, w_dq.op_type, b_dq.op_type} == {"DequantizeLinear"}
        assert inits[w_dq.input[0]].data_type == onnx.TensorProto.INT8
        assert inits[b_dq.input[0]].data_type == onnx.TensorProto.INT32
        assert inits[b_dq.input[2]].data_type == onnx.TensorProto.INT32
        assert not numpy_helper.to_array(inits[b_dq.input[2]]).any()
        x_scale = numpy_helper.to_array(inits[x_dq.input[1]])
        w_scale = numpy_helper.to_array(inits[w_dq.input[1]])
        b_scale = numpy_helper.to_array(inits[b_dq.input[1]])
        assert np.array_equal(b_scale, (x_scale * w_scale).astype(np.float32))
        assert w_scale.shape == b_scale.shape == (numpy_helper.to_array(inits[w_dq.input[0]]).shape[0],)


def test_vad_sample_fails_at_all_one_dims_and_runs_on_real_audio() -> None:
    """Silero VAD's shape: an INT64 0-d sample rate picks an If branch, each branch pads the
    audio with mode=reflect, which needs 2 or more samples: every dynamic dim at 1 fails."""
    model = onnx.load(str(sample("vad_like_scalar_sr.onnx")))
    inputs = {i.name: i for i in model.graph.input}
    assert inputs["sr"].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert len(inputs["sr"].type.tensor_type.shape.dim) == 0
    assert [d.dim_param for d in inputs["input"].type.tensor_type.shape.dim] == ["batch", "samples"]
    (if_node,) = [n for n in model.graph.node if n.op_type == "If"]
    equal = next(n for n in model.graph.node if n.output[0] == if_node.input[0])
    assert equal.op_type == "Equal" and "sr" in equal.input
    for branch in (a.g for a in if_node.attribute):
        pads = [n for n in branch.node if n.op_type == "Pad"]
        assert pads and all(a.s == b"reflect" for p in pads for a in p.attribute if a.name == "mode")
    session = ort.InferenceSession(str(sample("vad_like_scalar_sr.onnx")), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    audio = rng.normal(size=(3, 512)).astype(np.float32)
    at_16k = session.run(None, {"input": audio, "sr": np.array(16000, np.int64)})[0]
    at_8k = session.run(None, {"input": audio, "sr": np.array(8000, np.int64)})[0]
    assert at_16k.shape == (3, 1) and np.isfinite(at_16k).all() and ((at_16k > 0) & (at_16k < 1)).all()
    assert not np.allclose(at_16k, at_8k)  # the sample rate picks a different branch
    with pytest.raises(Exception, match="Pad reflect requires axis length >= 2"):
        session.run(None, {"input": rng.normal(size=(1, 1)).astype(np.float32), "sr": np.array(16000, np.int64)})


def test_old_format_sample_is_ir3_opset9_with_initializers_as_inputs() -> None:
    model = onnx.load(str(sample("old_ir3_opset9_cnn.onnx")))
    assert model.ir_version == 3
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 9)]
    initializers = {t.name for t in model.graph.initializer}
    listed = {i.name for i in model.graph.input}
    assert initializers and initializers <= listed and listed - initializers == {"data"}
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "BatchNormalization", "Dropout", "Softmax", "Reshape", "Add"} <= ops
    session = ort.InferenceSession(str(sample("old_ir3_opset9_cnn.onnx")), providers=["CPUExecutionProvider"])
    (prob,) = session.run(None, {"data": np.random.default_rng(4).normal(size=(1, 3, 32, 32)).astype(np.float32)})
    assert prob.shape == (1, 10) and abs(float(prob.sum()) - 1.0) < 1e-5 and prob.max() < 0.999


def test_every_bundled_file_is_a_listed_model_or_its_data() -> None:
    """Nothing ships unlisted: each file is a model of the manifest, its external data, or
    data a model's entry lists under ``data`` (the digits sample's labelled arrays)."""
    expected = {"manifest.json"}
    for entry in manifest():
        model = Path(entry["file"])
        expected.add(str(model))
        expected |= {str(p.relative_to(SAMPLES)) for p in (SAMPLES / model.parent).glob(model.name + ".data")}
        for name in entry.get("data", {}).values():
            assert (SAMPLES / model.parent / name).is_file(), f"{entry['file']} lists {name}, which is missing"
            expected.add(str(model.parent / name))
    on_disk = {str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".py"}
    assert on_disk == expected


def test_digits_sample_ships_labelled_data_it_classifies() -> None:
    """The digits CNN with its held-out digits and calibration split: FP32 top-1 >= 95% on the
    held-out digits (ONNX Runtime here), and the declared preprocessing makes the arrays from
    the 8-bit images of the digits."""
    from PIL import Image

    from workbench.preprocessing import load_preprocessing, to_tensor

    entry = next(e for e in manifest() if e["file"] == "digits_cnn.onnx")
    data = {k: sample(v) for k, v in entry["data"].items()}
    ev, cal = np.load(data["eval"]), np.load(data["calibration"])
    assert sorted(ev.files) == sorted(cal.files) == ["input", "labels"]
    x, labels = ev["input"], ev["labels"]
    assert x.shape == (297, 1, 8, 8) and x.dtype == np.float32 and cal["input"].shape == (512, 1, 8, 8)
    assert set(labels.tolist()) == set(range(10)) and x.min() >= -1.0 and x.max() <= 1.0
    session = ort.InferenceSession(str(sample("digits_cnn.onnx")), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": x})
    assert logits.shape == (297, 10)
    assert float(np.mean(np.argmax(logits, axis=1) == labels)) >= 0.95
    pre = load_preprocessing(data["preprocessing"])
    pixels = np.round((x[:20, 0].astype(np.float64) * 0.5 + 0.5) * 255.0).astype(np.uint8)
    made = np.stack([to_tensor(Image.fromarray(p, mode="L"), pre) for p in pixels])
    assert made.shape == (20, 1, 8, 8)
    assert np.abs(made - x[:20]).max() < 0.004 + 1e-6
