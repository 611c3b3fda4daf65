#!/usr/bin/env python3
"""Make the bundled sample models, deterministically, and their manifest.

    python sample_models/generate.py            # writes *.onnx and manifest.json into the package
    python sample_models/generate.py --out DIR  # somewhere else (the tests compare hashes)

The files ship inside the package (``workbench/bundled_models/``, package data), so a wheel
install has them; this script stays outside it, with the tests that check the files match.

Working models (a ResNet-style CNN, a transformer encoder block with dynamic batch and
sequence, a small detector with Resize/Concat and two outputs, a Silero-VAD-shaped model
with an INT64 0-d sample rate, an IR 3 / opset 9 CNN as old model-zoo exports are, a
CNN trained on scikit-learn's real handwritten digits with its labelled data beside it) and
broken ones that reproduce parser and builder failures seen in the field
(../shared/parse-failures.md).

Weights come from a seeded generator. BatchNorm statistics are re-estimated on random
images with ONNX Runtime, layer by layer, so activations stay in a realistic range and
logits are far from FP16 underflow (random-weight CNNs otherwise give ~1e-14 logits).
The statistics are rounded to 4 significant digits, so last-bit differences between
CPUs cannot change the files. The digits sample is trained by ``digits_model.py`` (torch on
the CPU, float64, one thread, fixed seed; weights rounded the same way), which also writes
its ``.npz`` data and preprocessing JSON; its manifest entry lists them under ``data``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
# digits_model.py sits beside this script: importable when it runs as a script or is loaded by path.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from digits_model import build_digits_model  # noqa: E402

#: Where the bundled models live: package data of ``workbench`` (see ``workbench.samples``).
BUNDLED = HERE.parent / "workbench" / "bundled_models"
OPSET = 17
PRODUCER = "trt-workbench sample_models/generate.py"


def round_sig(a: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant digits (keeps regenerated files byte-identical)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        mag = np.where(a == 0, 0, np.floor(np.log10(np.abs(a))))
    scale = 10.0 ** (digits - 1 - mag)
    return (np.round(a * scale) / scale).astype(np.float32)


class Graph:
    """A tiny graph builder: every node gets a torch-exporter-like name."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count: dict[str, int] = {}

    def unique(self, base: str) -> str:
        n = self._count.get(base, 0)
        self._count[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def init(self, name: str, array: np.ndarray) -> str:
        name = self.unique(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(
        self, op: str, inputs: Sequence[str], scope: str, n_out: int = 1, domain: str = "", **attrs
    ) -> list[str]:
        name = self.unique(f"{scope}/{op}")
        outs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, domain=domain or None, **attrs))
        return outs

    def op(self, op: str, inputs: Sequence[str], scope: str, domain: str = "", **attrs) -> str:
        return self.node(op, inputs, scope, 1, domain, **attrs)[0]

    def const(self, scope: str, array: np.ndarray) -> str:
        return self.op("Constant", [], scope, value=numpy_helper.from_array(np.asarray(array)))

    def add_input(self, name: str, dtype: int, shape: Sequence[int | str] | None) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def add_output(
        self, tensor: str, name: str, dtype: int, shape: Sequence[int | str | None] | None
    ) -> None:
        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=f"/output/{name}/Identity"))
        self.outputs.append(helper.make_tensor_value_info(name, dtype, shape))

    # Layers --------------------------------------------------------------------------
    def conv(
        self, x: str, cin: int, cout: int, k: int, scope: str, stride: int = 1, bias: bool = False
    ) -> str:
        fan_in = cin * k * k
        w = self.rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(cout, cin, k, k)).astype(np.float32)
        ins = [x, self.init(f"{scope}.weight", w)]
        if bias:
            ins.append(self.init(f"{scope}.bias", self.rng.normal(0, 0.05, size=cout).astype(np.float32)))
        return self.op("Conv", ins, scope, kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)

    def batchnorm(self, x: str, c: int, scope: str) -> str:
        gamma = self.rng.uniform(0.6, 1.4, size=c).astype(np.float32)
        beta = self.rng.normal(0.0, 0.1, size=c).astype(np.float32)
        # Mean/var are placeholders until calibrate_batchnorm() measures real statistics.
        ins = [
            x,
            self.init(f"{scope}.weight", gamma),
            self.init(f"{scope}.bias", beta),
            self.init(f"{scope}.running_mean", np.zeros(c, np.float32)),
            self.init(f"{scope}.running_var", np.ones(c, np.float32)),
        ]
        return self.op("BatchNormalization", ins, scope, epsilon=1e-5)

    def linear(self, x: str, fin: int, fout: int, scope: str, gain: float = 1.0) -> tuple[str, str]:
        w = self.rng.normal(0.0, gain * math.sqrt(1.0 / fin), size=(fin, fout)).astype(np.float32)
        b = self.rng.normal(0.0, 0.02, size=fout).astype(np.float32)
        return self.init(f"{scope}.weight", w), self.init(f"{scope}.bias", b)

    def build(self, opsets: dict[str, int] | None = None, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, initializer=self.inits)
        opsets = opsets or {"": OPSET}
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
            producer_name=PRODUCER,
            producer_version="1",
            doc_string=doc,
        )
        model.ir_version = 8
        return model


# ----------------------------------------------------------------------------- helpers


def calibrate_batchnorm(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Set every BatchNormalization's running mean/var to the statistics of its input."""
    import onnxruntime as ort

    inits = {t.name: t for t in model.graph.initializer}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for node in model.graph.node:
        if node.op_type != "BatchNormalization":
            continue
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        del probe.graph.output[:]
        probe.graph.output.append(helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, None))
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        (activation,) = session.run(None, feeds)
        mean = round_sig(activation.mean(axis=(0, 2, 3)))
        var = round_sig(activation.var(axis=(0, 2, 3)) + 1e-3)
        inits[node.input[3]].CopyFrom(numpy_helper.from_array(mean, node.input[3]))
        inits[node.input[4]].CopyFrom(numpy_helper.from_array(var, node.input[4]))
    return model


def run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def image_batch(seed: int, n: int, size: int = 224) -> np.ndarray:
    """Smooth random 'images' normalised like ImageNet inputs (not white noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, size=(n, 3, size // 8, size // 8)).astype(np.float32)
    img = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)
    img += rng.normal(0.0, 0.3, size=img.shape).astype(np.float32)
    return img.astype(np.float32)


# ----------------------------------------------------------------------------- working models


def resnet_cnn() -> onnx.ModelProto:
    """ResNet-18 topology at half its width: 3x224x224 -> 1000 logits, dynamic batch.

    Half width (2.8 M parameters) keeps the file small while weights still dominate the
    engine size, so FP32 > FP16 > INT8 engines differ the way real networks' do.
    """
    g = Graph("resnet_cnn", seed=1)
    x = g.add_input("input", TensorProto.FLOAT, ["batch", 3, 224, 224])
    y = g.conv(x, 3, 32, 7, "/conv1", stride=2)
    y = g.batchnorm(y, 32, "/bn1")
    y = g.op("Relu", [y], "/relu")
    y = g.op("MaxPool", [y], "/maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 32
    for stage, cout in enumerate([32, 64, 128, 256], start=1):
        for block in range(2):
            scope = f"/layer{stage}/layer{stage}.{block}"
            stride = 2 if (block == 0 and stage > 1) else 1
            identity = y
            out = g.conv(y, cin, cout, 3, f"{scope}/conv1", stride=stride)
            out = g.batchnorm(out, cout, f"{scope}/bn1")
            out = g.op("Relu", [out], f"{scope}/relu")
            out = g.conv(out, cout, cout, 3, f"{scope}/conv2")
            out = g.batchnorm(out, cout, f"{scope}/bn2")
            if stride != 1 or cin != cout:
                identity = g.conv(y, cin, cout, 1, f"{scope}/downsample/downsample.0", stride=stride)
                identity = g.batchnorm(identity, cout, f"{scope}/downsample/downsample.1")
            out = g.op("Add", [out, identity], scope)
            y = g.op("Relu", [out], f"{scope}/relu_1")
            cin = cout
    y = g.op("GlobalAveragePool", [y], "/avgpool")
    y = g.op("Flatten", [y], "/flatten", axis=1)
    w, b = g.linear(y, 256, 1000, "/fc", gain=4.0)
    w_name = w
    y = g.op("Gemm", [y, w, b], "/fc")
    g.add_output(y, "logits", TensorProto.FLOAT, ["batch", 1000])
    model = g.build(doc="ResNet-style classifier with calibrated BatchNorm statistics.")
    feeds = {"input": image_batch(seed=11, n=8)}
    model = calibrate_batchnorm(model, feeds)
    # Scale the classifier so logits have a standard deviation near 3, as trained nets do.
    (logits,) = run(model, feeds)
    scale = 3.0 / float(logits.std())
    for t in model.graph.initializer:
        if t.name == w_name:
            t.CopyFrom(numpy_helper.from_array(round_sig(numpy_helper.to_array(t) * scale), w_name))
    return model


def transformer_encoder() -> onnx.ModelProto:
    """One pre-norm transformer encoder layer, hidden 64, 4 heads, dynamic batch and sequence."""
    hidden, heads, ffn = 64, 4, 256
    head_dim = hidden // heads
    g = Graph("transformer_encoder", seed=2)
    x = g.add_input("hidden_states", TensorProto.FLOAT, ["batch", "sequence", hidden])

    def layernorm(t: str, scope: str) -> str:
        gamma = g.init(f"{scope}.weight", g.rng.uniform(0.8, 1.2, size=hidden).astype(np.float32))
        beta = g.init(f"{scope}.bias", g.rng.normal(0, 0.02, size=hidden).astype(np.float32))
        return g.op("LayerNormalization", [t, gamma, beta], scope, axis=-1, epsilon=1e-5)

    def dense(t: str, fin: int, fout: int, scope: str) -> str:
        w, b = g.linear(t, fin, fout, scope)
        mm = g.op("MatMul", [t, w], scope)
        return g.op("Add", [mm, b], scope)

    split_shape = g.init("/attention/split_heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.init("/attention/merge_heads_shape", np.array([0, 0, hidden], np.int64))
    h = layernorm(x, "/attention_norm")
    q = dense(h, hidden, hidden, "/attention/q_proj")
    k = dense(h, hidden, hidden, "/attention/k_proj")
    v = dense(h, hidden, hidden, "/attention/v_proj")

    def split(t: str, scope: str, perm: list[int]) -> str:
        r = g.op("Reshape", [t, split_shape], scope)
        return g.op("Transpose", [r], scope, perm=perm)

    qh = split(q, "/attention/q_split", [0, 2, 1, 3])
    kh = split(k, "/attention/k_split", [0, 2, 3, 1])
    vh = split(v, "/attention/v_split", [0, 2, 1, 3])
    scores = g.op("MatMul", [qh, kh], "/attention/scores")
    scale = g.init("/attention/scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    scores = g.op("Mul", [scores, scale], "/attention/scale")
    probs = g.op("Softmax", [scores], "/attention/softmax", axis=-1)
    ctx = g.op("MatMul", [probs, vh], "/attention/context")
    ctx = g.op("Transpose", [ctx], "/attention/merge", perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, merge_shape], "/attention/merge")
    attn = dense(ctx, hidden, hidden, "/attention/out_proj")
    x1 = g.op("Add", [x, attn], "/attention/residual")

    h2 = layernorm(x1, "/ffn_norm")
    up = dense(h2, hidden, ffn, "/ffn/fc1")
    # GELU as torch exports it at opset 17: x * 0.5 * (1 + erf(x / sqrt(2))).
    inv_sqrt2 = g.init("/ffn/gelu/inv_sqrt2", np.array(1.0 / math.sqrt(2.0), np.float32))
    one = g.init("/ffn/gelu/one", np.array(1.0, np.float32))
    half = g.init("/ffn/gelu/half", np.array(0.5, np.float32))
    e = g.op("Erf", [g.op("Mul", [up, inv_sqrt2], "/ffn/gelu")], "/ffn/gelu")
    gelu = g.op(
        "Mul", [g.op("Mul", [up, g.op("Add", [e, one], "/ffn/gelu")], "/ffn/gelu"), half], "/ffn/gelu"
    )
    down = dense(gelu, ffn, hidden, "/ffn/fc2")
    out = g.op("Add", [x1, down], "/ffn/residual")
    g.add_output(out, "output", TensorProto.FLOAT, ["batch", "sequence", hidden])
    return g.build(doc="Transformer encoder layer (LayerNormalization, MatMul, Softmax, erf GELU).")


def _detector_graph(g: Graph, x: str, cin: int = 3, num_classes: int = 8) -> None:
    """Backbone with three levels, a top-down FPN (Resize + Concat), box and score heads."""
    c1 = g.op("Relu", [g.conv(x, cin, 16, 3, "/backbone/stem", stride=2, bias=True)], "/backbone/stem")
    c2 = g.op("Relu", [g.conv(c1, 16, 32, 3, "/backbone/stage2", stride=2, bias=True)], "/backbone/stage2")
    c3 = g.op("Relu", [g.conv(c2, 32, 64, 3, "/backbone/stage3", stride=2, bias=True)], "/backbone/stage3")
    c4 = g.op("Relu", [g.conv(c3, 64, 96, 3, "/backbone/stage4", stride=2, bias=True)], "/backbone/stage4")
    up_scales = g.init("/fpn/upsample_scales", np.array([1.0, 1.0, 2.0, 2.0], np.float32))
    p4 = g.conv(c4, 96, 32, 1, "/fpn/lateral4", bias=True)
    p4_up = g.op("Resize", [p4, "", up_scales], "/fpn/up4", mode="nearest")
    p3 = g.op("Concat", [p4_up, g.conv(c3, 64, 32, 1, "/fpn/lateral3", bias=True)], "/fpn/merge3", axis=1)
    p3 = g.op("Relu", [g.conv(p3, 64, 32, 3, "/fpn/smooth3", bias=True)], "/fpn/smooth3")
    p3_up = g.op("Resize", [p3, "", up_scales], "/fpn/up3", mode="nearest")
    p2 = g.op("Concat", [p3_up, g.conv(c2, 32, 32, 1, "/fpn/lateral2", bias=True)], "/fpn/merge2", axis=1)
    p2 = g.op("Relu", [g.conv(p2, 64, 32, 3, "/fpn/smooth2", bias=True)], "/fpn/smooth2")
    boxes, scores = [], []
    for level, feat in (("p2", p2), ("p3", p3), ("p4", p4)):
        box = g.conv(feat, 32, 4, 3, f"/head/{level}/box", bias=True)
        cls = g.conv(feat, 32, num_classes, 3, f"/head/{level}/cls", bias=True)
        for tensor, width, sink in ((box, 4, boxes), (cls, num_classes, scores)):
            shape = g.init(f"/head/{level}/flat_shape_{width}", np.array([0, width, -1], np.int64))
            flat = g.op("Reshape", [tensor, shape], f"/head/{level}/flatten")
            sink.append(g.op("Transpose", [flat], f"/head/{level}/to_anchors", perm=[0, 2, 1]))
    all_boxes = g.op("Concat", boxes, "/head/concat_boxes", axis=1)
    all_scores = g.op("Sigmoid", [g.op("Concat", scores, "/head/concat_scores", axis=1)], "/head/scores")
    g.add_output(all_boxes, "boxes", TensorProto.FLOAT, [1, None, 4])
    g.add_output(all_scores, "scores", TensorProto.FLOAT, [1, None, num_classes])


def detector() -> onnx.ModelProto:
    """A small detector: 1x3x128x128 -> boxes (1x1344x4) and scores (1x1344x8)."""
    g = Graph("detector", seed=3)
    x = g.add_input("image", TensorProto.FLOAT, [1, 3, 128, 128])
    _detector_graph(g, x)
    model = g.build(doc="Small detector: FPN with nearest Resize, Concat, two outputs.")
    return _with_output_shapes(model)


def vad_like_scalar_sr() -> onnx.ModelProto:
    """A voice-activity model shaped like Silero VAD: audio [batch, samples] and an INT64 0-d sample rate.

    The sample rate picks a branch (an If on ``sr == 16000``, data-dependent, as in Silero).
    Each branch pads the audio with ``mode="reflect"`` (the STFT's edge padding) and runs a
    strided Conv1d filterbank of its own window, its constants held by Constant nodes inside
    the branch as Silero's are; log power, a Conv1d, a mean over time and a logistic head
    follow. Reflect padding needs at least 2 samples on the padded axis, so a tool that runs
    the model with every dynamic dim set to 1 fails there ("Pad reflect requires axis length
    >= 2 ... Input shape:{1,1}"); on 512 samples at sr=16000 it runs.
    """
    g = Graph("vad_like_scalar_sr", seed=13)
    audio = g.add_input("input", TensorProto.FLOAT, ["batch", "samples"])
    sr = g.add_input("sr", TensorProto.INT64, [])
    is16k = g.op("Equal", [sr, g.init("/sr_16k", np.array(16000, np.int64))], "/select_rate")
    channels = 16

    def branch(name: str, scope: str, pad: int, window: int, hop: int) -> onnx.GraphProto:
        sub = Graph(name, seed=0)
        pads = sub.const(f"{scope}/padding", np.array([0, pad, 0, pad], np.int64))
        padded = sub.op("Pad", [audio, pads], f"{scope}/padding", mode="reflect")
        axes = sub.const(f"{scope}/unsqueeze_axes", np.array([1], np.int64))
        framed = sub.op("Unsqueeze", [padded, axes], f"{scope}")
        n = np.arange(window)
        freqs = np.linspace(1.0, window / 2 - 1, channels)[:, None]
        basis = np.hanning(window) * np.cos(2 * np.pi * freqs * n / window)
        filters = sub.const(f"{scope}/forward_basis", round_sig(basis.reshape(channels, 1, window)))
        spec = sub.op("Conv", [framed, filters], f"{scope}/filterbank", kernel_shape=[window], strides=[hop])
        power = sub.op("Mul", [spec, spec], f"{scope}/power")
        eps = sub.const(f"{scope}/eps", np.array(1e-4, np.float32))
        logp = sub.op("Log", [sub.op("Add", [power, eps], f"{scope}/eps")], f"{scope}/log")
        return helper.make_graph(
            sub.nodes, name, [], [helper.make_tensor_value_info(logp, TensorProto.FLOAT, ["batch", channels, None])]
        )

    features = g.op(
        "If",
        [is16k],
        "/stft",
        then_branch=branch("stft_16k", "/stft_16k", 32, 64, 32),
        else_branch=branch("stft_8k", "/stft_8k", 16, 32, 16),
    )
    w = g.rng.normal(0.0, math.sqrt(2.0 / (channels * 3)), size=(32, channels, 3)).astype(np.float32)
    b = g.rng.normal(0.0, 0.05, size=32).astype(np.float32)
    h = g.op(
        "Conv",
        [features, g.init("/encoder.weight", round_sig(w)), g.init("/encoder.bias", round_sig(b))],
        "/encoder",
        kernel_shape=[3],
        pads=[1, 1],
    )
    h = g.op("Relu", [h], "/encoder")
    pooled = g.op("ReduceMean", [h], "/pool", axes=[2], keepdims=0)
    head_w = g.rng.normal(0.0, math.sqrt(1.0 / 32), size=(32, 1)).astype(np.float32)
    w_name = g.init("/decoder.weight", head_w)
    b_name = g.init("/decoder.bias", np.zeros(1, np.float32))
    logit = g.op("Gemm", [pooled, w_name, b_name], "/decoder")
    g.add_output(g.op("Sigmoid", [logit], "/decoder"), "output", TensorProto.FLOAT, ["batch", 1])
    model = g.build(doc="Silero-VAD-shaped: If on an int64 0-d sample rate, reflect-padded STFT filterbank.")
    # Scale the head so the probabilities of different clips spread over (0, 1).
    clips = np.random.default_rng(21).normal(size=(16, 512)).astype(np.float32)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output[0].CopyFrom(helper.make_tensor_value_info(logit, TensorProto.FLOAT, None))
    probe.graph.node.pop()  # the Identity of the output
    probe.graph.node.pop()  # the Sigmoid
    (raw,) = run(probe, {"input": clips, "sr": np.array(16000, np.int64)})
    scale = 2.0 / float(raw.std())
    bias = -float(raw.mean()) * scale
    for t in model.graph.initializer:
        if t.name == w_name:
            t.CopyFrom(numpy_helper.from_array(round_sig(head_w * scale), w_name))
        elif t.name == b_name:
            t.CopyFrom(numpy_helper.from_array(round_sig(np.array([bias])), b_name))
    return model


def old_ir3_opset9_cnn() -> onnx.ModelProto:
    """A small CNN written the way 2018 model-zoo exports are: IR version 3, opset 9, and every
    initializer also listed as a graph input (IR < 4 required it).

    Conv/BatchNormalization/Relu blocks with a residual Add, MaxPool, GlobalAveragePool, a
    Reshape whose shape is an int64 initializer, Dropout (opset 7 form: ``ratio`` attribute)
    and Softmax (opset < 13: axis coerced to 2-D). TensorRT builds it; ModelOpt's transforms
    refuse it as it is (AutoCast: "can only operate on valid ONNX models"; PTQ: "... in
    initializer but not in graph input"), so the workbench upgrades a private copy first.
    """
    g = Graph("old_ir3_opset9_cnn", seed=14)
    x = g.add_input("data", TensorProto.FLOAT, [1, 3, 32, 32])
    y = g.op("Relu", [g.batchnorm(g.conv(x, 3, 16, 3, "/conv1"), 16, "/bn1")], "/relu1")
    y = g.op("MaxPool", [y], "/pool1", kernel_shape=[2, 2], strides=[2, 2])
    r = g.op("Relu", [g.batchnorm(g.conv(y, 16, 32, 3, "/conv2"), 32, "/bn2")], "/relu2")
    r = g.batchnorm(g.conv(r, 32, 32, 3, "/conv3"), 32, "/bn3")
    shortcut = g.batchnorm(g.conv(y, 16, 32, 1, "/shortcut"), 32, "/shortcut_bn")
    y = g.op("Relu", [g.op("Add", [r, shortcut], "/residual")], "/relu3")
    y = g.op("GlobalAveragePool", [y], "/gap")
    y = g.op("Reshape", [y, g.init("/flatten_shape", np.array([0, -1], np.int64))], "/flatten")
    y = g.op("Dropout", [y], "/dropout", ratio=0.5)
    w, b = g.linear(y, 32, 10, "/fc", gain=3.0)
    logits = g.op("Gemm", [y, w, b], "/fc")
    g.add_output(g.op("Softmax", [logits], "/softmax", axis=1), "prob", TensorProto.FLOAT, [1, 10])
    model = g.build(opsets={"": 9}, doc="IR 3 / opset 9 export with initializers listed as graph inputs.")
    model.ir_version = 3
    # Measure the BatchNorm statistics on 8 images through a batch-dynamic copy.
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    calibrate_batchnorm(probe, {"data": image_batch(seed=15, n=8, size=32)})
    del model.graph.initializer[:]
    model.graph.initializer.extend(probe.graph.initializer)
    for init in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return model


def _with_output_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    del model.graph.output[:]
    model.graph.output.extend(inferred.graph.output)
    return model


# ----------------------------------------------------------------------------- broken models


def broken_contrib_ops() -> onnx.ModelProto:
    """An MLP block after onnxruntime's transformer optimizer: com.microsoft FusedMatMul and BiasGelu.

    ONNX Runtime runs it; TensorRT has no importer for these contrib ops ("Plugin not found").
    """
    g = Graph("broken_contrib_ops", seed=4)
    x = g.add_input("features", TensorProto.FLOAT, [1, 16, 64])
    w1, b1 = g.linear(x, 64, 256, "/mlp/fc1")
    # fc2's weight is stored transposed (64x256), as the optimizer leaves it for transB=1.
    w2t = g.init(
        "/mlp/fc2.weight_t", g.rng.normal(0.0, math.sqrt(1.0 / 256), size=(64, 256)).astype(np.float32)
    )
    b2 = g.init("/mlp/fc2.bias", g.rng.normal(0.0, 0.02, size=64).astype(np.float32))
    h = g.op("FusedMatMul", [x, w1], "/mlp/fc1", domain="com.microsoft", alpha=1.0)
    h = g.op("BiasGelu", [h, b1], "/mlp/act", domain="com.microsoft")
    y = g.op("FusedMatMul", [h, w2t], "/mlp/fc2", domain="com.microsoft", alpha=1.0, transB=1)
    y = g.op("Add", [y, b2], "/mlp/fc2")
    y = g.op("Add", [y, x], "/mlp/residual")
    g.add_output(y, "output", TensorProto.FLOAT, [1, 16, 64])
    return g.build(opsets={"": OPSET, "com.microsoft": 1}, doc="ORT-optimised MLP with contrib ops.")


def broken_reduce_axes_subgraph() -> onnx.ModelProto:
    """Opset 18: ReduceMean axes and Resize scales computed by small constant subgraphs.

    Exporters emit such chains (Constant -> Add, Constant -> Mul); TensorRT needs axes as
    build-time constants: "Axis input must resolve to a build-time constant".
    """
    g = Graph("broken_reduce_axes_subgraph", seed=5)
    x = g.add_input("image", TensorProto.FLOAT, [1, 3, 64, 64])
    f = g.op("Relu", [g.conv(x, 3, 16, 3, "/stem", stride=2, bias=True)], "/stem")
    f = g.op("Relu", [g.conv(f, 16, 32, 3, "/block", stride=2, bias=True)], "/block")
    base = g.const("/pool/axes_base", np.array([1, 2], np.int64))
    offset = g.const("/pool/axes_offset", np.array([1, 1], np.int64))
    axes = g.op("Add", [base, offset], "/pool/axes")
    pooled = g.op("ReduceMean", [f, axes], "/pool", keepdims=1)
    gate = g.op("Sigmoid", [g.conv(pooled, 32, 32, 1, "/gate", bias=True)], "/gate")
    f = g.op("Mul", [f, gate], "/gate/apply")
    ones = g.const("/upsample/ones", np.array([1.0, 1.0, 1.0, 1.0], np.float32))
    factor = g.const("/upsample/factor", np.array([1.0, 1.0, 2.0, 2.0], np.float32))
    scales = g.op("Mul", [ones, factor], "/upsample/scales")
    up = g.op("Resize", [f, "", scales], "/upsample", mode="nearest")
    out = g.conv(up, 32, 4, 1, "/head", bias=True)
    g.add_output(out, "mask_logits", TensorProto.FLOAT, [1, 4, 32, 32])
    return g.build(opsets={"": 18}, doc="ReduceMean axes fed through a foldable Add.")


def broken_shared_dim_names() -> onnx.ModelProto:
    """H and W share one symbolic name ("size"), but a position embedding fixes them to 32 and 48.

    It parses; the builder fails: "Input dimensions with this name have different constant values".
    """
    g = Graph("broken_shared_dim_names", seed=6)
    x = g.add_input("image", TensorProto.FLOAT, [1, 3, "size", "size"])
    f = g.op("Relu", [g.conv(x, 3, 16, 3, "/stem", bias=True)], "/stem")
    pos = g.init("/pos_embed", (0.1 * g.rng.normal(size=(1, 16, 32, 48))).astype(np.float32))
    f = g.op("Add", [f, pos], "/pos_embed")
    f = g.op("Relu", [g.conv(f, 16, 16, 3, "/block", stride=2, bias=True)], "/block")
    out = g.conv(f, 16, 2, 1, "/head", bias=True)
    g.add_output(out, "logits", TensorProto.FLOAT, [1, 2, 16, 24])
    return g.build(doc="A 32x48 model exported with H and W both named 'size'.")


def broken_uint8_input() -> onnx.ModelProto:
    """A TF-style image model: uint8 NHWC input, Transpose to NCHW, then Cast and normalise.

    TensorRT rejects the uint8 Transpose ("first input has type UInt8 but must have type Float...").
    """
    g = Graph("broken_uint8_input", seed=7)
    x = g.add_input("image_uint8", TensorProto.UINT8, [1, 128, 128, 3])
    nchw = g.op("Transpose", [x], "/preprocess/to_nchw", perm=[0, 3, 1, 2])
    f = g.op("Cast", [nchw], "/preprocess/to_float", to=TensorProto.FLOAT)
    mean = g.init("/preprocess/mean", np.array([123.675, 116.28, 103.53], np.float32).reshape(1, 3, 1, 1))
    std = g.init("/preprocess/std", np.array([58.395, 57.12, 57.375], np.float32).reshape(1, 3, 1, 1))
    f = g.op("Div", [g.op("Sub", [f, mean], "/preprocess/normalize"), std], "/preprocess/normalize")
    f = g.op("Relu", [g.conv(f, 3, 16, 3, "/backbone/stem", stride=2, bias=True)], "/backbone/stem")
    f = g.op("Relu", [g.conv(f, 16, 32, 3, "/backbone/stage2", stride=2, bias=True)], "/backbone/stage2")
    f = g.op("GlobalAveragePool", [f], "/pool")
    f = g.op("Flatten", [f], "/flatten", axis=1)
    w, b = g.linear(f, 32, 10, "/classifier", gain=3.0)
    g.add_output(g.op("Gemm", [f, w, b], "/classifier"), "logits", TensorProto.FLOAT, [1, 10])
    return g.build(doc="uint8 NHWC image input, as TensorFlow object-detection exports have.")


def broken_float64_initializers() -> onnx.ModelProto:
    """A tabular model whose normalisation runs in float64 (numpy-default constants).

    Older parsers fail ("Found unsupported datatype (11) when importing initializer");
    current ones cast the weights to FP32 with a warning, so TensorRT computes something
    other than the model says.
    """
    g = Graph("broken_float64_initializers", seed=8)
    x = g.add_input("features", TensorProto.FLOAT, ["batch", 16])
    d = g.op("Cast", [x], "/normalize/to_double", to=TensorProto.DOUBLE)
    mean = g.init("/normalize/mean", g.rng.normal(0, 2, size=16))
    std = g.init("/normalize/std", g.rng.uniform(0.5, 3.0, size=16))
    d = g.op("Div", [g.op("Sub", [d, mean], "/normalize"), std], "/normalize")
    f = g.op("Cast", [d], "/normalize/to_float", to=TensorProto.FLOAT)
    w1, b1 = g.linear(f, 16, 32, "/mlp/fc1", gain=1.4)
    f = g.op("Relu", [g.op("Gemm", [f, w1, b1], "/mlp/fc1")], "/mlp/relu")
    w2, b2 = g.linear(f, 32, 3, "/mlp/fc2", gain=2.0)
    g.add_output(g.op("Gemm", [f, w2, b2], "/mlp/fc2"), "scores", TensorProto.FLOAT, ["batch", 3])
    return g.build(doc="Normalisation constants stored as float64.")


def broken_missing_shapes() -> onnx.ModelProto:
    """A CNN whose input lost its shape (only the element type is declared).

    TensorRT cannot import the first Conv ("Number of spatial dimensions = -2").
    """
    g = Graph("broken_missing_shapes", seed=9)
    x = g.add_input("input", TensorProto.FLOAT, None)
    f = g.op("Relu", [g.conv(x, 3, 16, 3, "/stem", stride=2, bias=True)], "/stem")
    f = g.op("Relu", [g.conv(f, 16, 32, 3, "/block", stride=2, bias=True)], "/block")
    f = g.op("GlobalAveragePool", [f], "/pool")
    f = g.op("Flatten", [f], "/flatten", axis=1)
    w, b = g.linear(f, 32, 10, "/classifier", gain=3.0)
    g.add_output(g.op("Gemm", [f, w, b], "/classifier"), "logits", TensorProto.FLOAT, None)
    return g.build(doc="Input shape stripped; no value_info.")


def broken_int32_bias_qdq() -> onnx.ModelProto:
    """A Q/DQ INT8 CNN as ONNX Runtime's ``quantize_static`` writes it (QDQ format, per-channel
    int8 weights, symmetric int8 activations) with its biases quantized to INT32: an int32
    initializer -> DequantizeLinear(scale = input scale x weight scale, zero point int32 0) -> Conv.

    TensorRT's DequantizeLinear takes only 8-bit (and FP8/FP4/INT4) inputs: the parser fails at
    the first bias ("input has type Int32 but must have type FP8, FP4, Int4, Int8, or UInt8").
    Written by hand with the names quantize_static gives, so the bytes do not depend on the
    installed ONNX Runtime's calibrator.
    """
    rng = np.random.default_rng(10)
    layers = [("/stem", 3, 16, 3, 2), ("/block", 16, 32, 3, 2), ("/head", 32, 10, 1, 1)]
    params = {}
    for scope, cin, cout, k, _ in layers:
        w = round_sig(rng.normal(0.0, math.sqrt(2.0 / (cin * k * k)), size=(cout, cin, k, k)))
        b = round_sig(rng.normal(0.0, 0.1, size=cout))
        params[scope] = (w, b)

    # The float model, to measure activation ranges as a MinMax calibrator would.
    fg = Graph("float_reference", seed=0)
    x = fg.add_input("image", TensorProto.FLOAT, ["batch", 3, 32, 32])
    probes, t = [x], x
    for scope, _, _, k, stride in layers:
        w, b = params[scope]
        conv = fg.op(
            "Conv",
            [t, fg.init(f"{scope}.w", w), fg.init(f"{scope}.b", b)],
            scope,
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
        )
        t = fg.op("Relu", [conv], scope) if scope != "/head" else conv
        probes.append(t)
    fg.outputs = [helper.make_tensor_value_info(p_, TensorProto.FLOAT, None) for p_ in probes[1:]]
    images = image_batch(seed=12, n=4, size=32)
    ranges = [float(np.abs(images).max())] + [
        float(np.abs(a).max()) for a in run(fg.build(), {"image": images})
    ]
    act_scales = [round_sig(np.array(r / 127.0)) for r in ranges]

    g = Graph("broken_int32_bias_qdq", seed=0)
    x = g.add_input("image", TensorProto.FLOAT, [1, 3, 32, 32])

    def qdq(tensor: str, scale: np.ndarray) -> str:
        s = g.init(f"{tensor}_scale", scale.astype(np.float32))
        zp = g.init(f"{tensor}_zero_point", np.array(0, np.int8))
        q = f"{tensor}_QuantizeLinear_Output"
        dq = f"{tensor}_DequantizeLinear_Output"
        g.nodes.append(
            helper.make_node("QuantizeLinear", [tensor, s, zp], [q], name=f"{tensor}_QuantizeLinear")
        )
        g.nodes.append(
            helper.make_node("DequantizeLinear", [q, s, zp], [dq], name=f"{tensor}_DequantizeLinear")
        )
        return dq

    t = qdq(x, act_scales[0])
    for i, (scope, _, cout, k, stride) in enumerate(layers):
        w, b = params[scope]
        w_scale = round_sig(np.abs(w).reshape(cout, -1).max(axis=1) / 127.0)
        w_q = np.clip(np.round(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
        b_scale = (act_scales[i] * w_scale).astype(np.float32)
        b_q = np.round(b / b_scale).astype(np.int32)
        wq = g.init(f"{scope}.weight_quantized", w_q)
        ws = g.init(f"{scope}.weight_scale", w_scale)
        wz = g.init(f"{scope}.weight_zero_point", np.zeros(cout, np.int8))
        w_dq = f"{scope}.weight_DequantizeLinear_Output"
        g.nodes.append(
            helper.make_node(
                "DequantizeLinear", [wq, ws, wz], [w_dq], name=f"{scope}.weight_DequantizeLinear", axis=0
            )
        )
        bq = g.init(f"{scope}.bias_quantized", b_q)
        bs = g.init(f"{scope}.bias_quantized_scale", b_scale)
        bz = g.init(f"{scope}.bias_quantized_zero_point", np.zeros(cout, np.int32))
        b_dq = f"{scope}.bias"
        g.nodes.append(
            helper.make_node(
                "DequantizeLinear", [bq, bs, bz], [b_dq], name=f"{scope}.bias_DequantizeLinear", axis=0
            )
        )
        conv = g.op(
            "Conv", [t, w_dq, b_dq], scope, kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4
        )
        t = g.op("Relu", [conv], scope) if scope != "/head" else conv
        t = qdq(t, act_scales[i + 1])
    pooled = g.op("GlobalAveragePool", [t], "/pool")
    flat = g.op("Flatten", [pooled], "/flatten", axis=1)
    g.add_output(flat, "logits", TensorProto.FLOAT, [1, 10])
    return g.build(doc="Q/DQ INT8 CNN with INT32-quantized biases, as onnxruntime quantize_static writes it.")


# ----------------------------------------------------------------------------- manifest

MODELS = [
    {
        "file": "resnet_cnn.onnx",
        "builder": resnet_cnn,
        "kind": "working",
        "title": "ResNet-style CNN classifier",
        "description": "ResNet-18 topology at half width, 2.8 M parameters (Conv, BatchNormalization, Relu, MaxPool, residual Add, GlobalAveragePool, Gemm); 3x224x224 images to 1000 logits with a dynamic batch. BatchNorm statistics were measured on random images, so activations and logits (std about 3) are realistic and far from FP16 underflow.",
        "tensorrt": "Parses and builds (give an optimization profile for the batch); the reference model for precision comparisons.",
        "expect": {"parse": True, "build": True},
        "fixes": [],
    },
    {
        "file": "transformer_encoder.onnx",
        "builder": transformer_encoder,
        "kind": "working",
        "title": "Transformer encoder layer",
        "description": "A pre-norm encoder layer, hidden 64 with 4 heads and an FFN of 256 (LayerNormalization, MatMul, Softmax, erf-based GELU), with dynamic batch and sequence dims.",
        "tensorrt": "Parses and builds once an optimization profile gives batch and sequence ranges.",
        "expect": {"parse": True, "build": True},
        "fixes": [],
    },
    {
        "file": "detector.onnx",
        "builder": detector,
        "kind": "working",
        "title": "Small FPN detector",
        "description": "A four-stage backbone, a top-down FPN with nearest Resize and Concat, and box and score heads on three levels, concatenated into two outputs: boxes (1x1344x4) and scores (1x1344x8).",
        "tensorrt": "Parses and builds with static shapes.",
        "expect": {"parse": True, "build": True},
        "fixes": [],
    },
    {
        "file": "vad_like_scalar_sr.onnx",
        "builder": vad_like_scalar_sr,
        "kind": "working",
        "title": "Voice-activity model with a scalar sample rate (Silero VAD shaped)",
        "description": "Audio [batch, samples] and an INT64 0-d sample rate sr: an If on sr == 16000 chooses a reflect-padded STFT filterbank (64-sample window at 16 kHz, 32 at 8 kHz), then log power, a Conv1d, a mean over time and a logistic speech probability [batch, 1]. Reflect padding needs 2 or more samples on the padded axis, so running it with every dynamic dim set to 1 fails (Pad reflect requires axis length >= 2); it runs on 512 samples at sr=16000.",
        "tensorrt": "Parses and builds with a profile for the audio (input:1x512), the If on the runtime sample rate as a conditional. Precision transforms run it, so they need inputs like yours: give --inputs (or --calib) holding audio [1, 512] and sr as a 0-d int64 array.",
        "expect": {"parse": True, "build": True},
        "shapes": ["input:1x512"],
        "input_values": {"sr": 16000},
        "fixes": [],
    },
    {
        "file": "old_ir3_opset9_cnn.onnx",
        "builder": old_ir3_opset9_cnn,
        "kind": "working",
        "title": "Old-format CNN (IR 3, opset 9, initializers as graph inputs)",
        "description": "A small residual CNN (Conv, BatchNormalization, Relu, MaxPool, Add, GlobalAveragePool, Reshape, Dropout, Gemm, Softmax) saved as 2018 model-zoo exports are: ir_version 3, opset 9, and every initializer also listed as a graph input. 1x3x32x32 to 10 class probabilities.",
        "tensorrt": "Parses and builds in FP32 as it is; ModelOpt's FP16 and INT8 transforms refuse the old format, so the workbench upgrades a private copy (opset 13, IR 7, initializers out of the inputs) and checks its outputs first.",
        "expect": {"parse": True, "build": True},
        "fixes": [],
    },
    {
        "file": "external_data/detector_external.onnx",
        "builder": None,
        "kind": "working",
        "title": "Detector with external data",
        "description": "The detector saved with its weights (every tensor over 1 KiB) in detector_external.onnx.data beside it, as large models are saved.",
        "tensorrt": "Parses only through parse_from_file (so the data file resolves beside the model); parse(bytes) fails to import the initializers.",
        "expect": {"parse": True, "build": True},
        "fixes": [],
    },
    {
        # A trained model with real labelled data: digits_model.py writes the model, its data
        # and its preprocessing, and gives its own manifest entry (with the data files).
        "file": "digits_cnn.onnx",
        "files_builder": build_digits_model,
    },
    {
        "file": "broken_contrib_ops.onnx",
        "builder": broken_contrib_ops,
        "kind": "broken",
        "title": "Ops with no TensorRT importer (onnxruntime contrib ops)",
        "description": "An MLP block as onnxruntime's transformer optimizer leaves it: com.microsoft FusedMatMul and BiasGelu. ONNX Runtime runs it; TensorRT has no importer for them.",
        "tensorrt": "Parse fails at /mlp/fc1/FusedMatMul: Plugin not found (no importer for the op).",
        "expect": {
            "parse": False,
            "build": None,
            "error_node": "/mlp/fc1/FusedMatMul",
            "error_contains": "Plugin not found",
        },
        "fixes": ["decompose-contrib-ops"],
    },
    {
        "file": "broken_reduce_axes_subgraph.onnx",
        "builder": broken_reduce_axes_subgraph,
        "kind": "broken",
        "title": "Reduce axes and Resize scales from a foldable subgraph",
        "description": "Opset 18: ReduceMean takes axes as an input, here computed by Constant -> Add, and Resize's scales come from Constant -> Mul.",
        "tensorrt": "Parse fails at /pool/ReduceMean: Axis input must resolve to a build-time constant.",
        "expect": {
            "parse": False,
            "build": None,
            "error_node": "/pool/ReduceMean",
            "error_contains": "build-time constant",
        },
        "fixes": ["fold-constants"],
    },
    {
        "file": "broken_shared_dim_names.onnx",
        "builder": broken_shared_dim_names,
        "kind": "broken",
        "title": "H and W share one symbolic dim name",
        "description": "Input 1x3xsizexsize, but a 32x48 position embedding fixes H=32 and W=48.",
        "tensorrt": "Parses; the build fails: size: Input dimensions with this name have different constant values.",
        "expect": {"parse": True, "build": False, "error_contains": "different constant values"},
        # The failure shows at the size the model was made for; a 1x1 default profile hides it.
        "shapes": ["image:1x3x32x48"],
        "fixes": ["rename-shared-dims", "override-input-shapes"],
    },
    {
        "file": "broken_uint8_input.onnx",
        "builder": broken_uint8_input,
        "kind": "broken",
        "title": "uint8 image input",
        "description": "A TensorFlow-style classifier taking uint8 NHWC images: Transpose on uint8, then Cast and normalisation.",
        "tensorrt": "Parse fails at /preprocess/to_nchw/Transpose: its input has type UInt8, which the layer does not take.",
        "expect": {
            "parse": False,
            "build": None,
            "error_node": "/preprocess/to_nchw/Transpose",
            "error_contains": "UInt8",
        },
        "fixes": ["retype-inputs"],
    },
    {
        "file": "broken_float64_initializers.onnx",
        "builder": broken_float64_initializers,
        "kind": "broken",
        "title": "float64 initializers",
        "description": "A tabular MLP whose input normalisation runs in float64 with float64 mean/std constants.",
        "tensorrt": "TensorRT 8.x parsers fail (Found unsupported datatype (11) when importing initializer); TensorRT-RTX 1.7 and TensorRT 10 parse it and silently compute in FP32. The diagnosis flags the float64 tensors.",
        "expect": {"parse": True, "build": True, "finding": "float64"},
        "fixes": ["cast-float64-initializers"],
    },
    {
        "file": "broken_missing_shapes.onnx",
        "builder": broken_missing_shapes,
        "kind": "broken",
        "title": "Missing shape information",
        "description": "A small CNN whose input declares only its element type: no rank, no dims, and no value_info.",
        "tensorrt": "Parse fails at /stem/Conv: the number of spatial dimensions is unknown (-2).",
        "expect": {
            "parse": False,
            "build": None,
            "error_node": "/stem/Conv",
            "error_contains": "spatial dimensions",
        },
        "fixes": ["override-input-shapes"],
    },
    {
        "file": "broken_int32_bias_qdq.onnx",
        "builder": broken_int32_bias_qdq,
        "kind": "broken",
        "title": "Q/DQ model with INT32-quantized biases",
        "description": "A three-Conv INT8 Q/DQ CNN as onnxruntime.quantization.quantize_static writes it: per-channel int8 weights, symmetric int8 activations, and every Conv bias stored as int32 and dequantized with scale = input scale x weight scale and an int32 zero point of 0.",
        "tensorrt": "Parse fails at /stem.bias_DequantizeLinear: input has type Int32 but must have type FP8, FP4, Int4, Int8, or UInt8.",
        "expect": {
            "parse": False,
            "build": None,
            "error_node": "/stem.bias_DequantizeLinear",
            "error_contains": "has type Int32",
        },
        "fixes": ["dequantize-int32-bias"],
    },
]


def save_external(model: onnx.ModelProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data_name = path.name + ".data"
    if (path.parent / data_name).exists():
        (path.parent / data_name).unlink()
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    (path.parent / data_name).chmod(0o644)


def generate(out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    built: dict[str, onnx.ModelProto] = {}
    manifest = []
    for entry in MODELS:
        target = out / entry["file"]
        files_builder: Callable[[Path], dict] | None = entry.get("files_builder")
        if files_builder is not None:
            made = files_builder(out)
            record = dict(made["manifest"])
            if record["file"] != entry["file"]:
                raise RuntimeError(f"{entry['file']}: its builder made {record['file']}")
            record["bytes"] = sum(made["files"].values())
            manifest.append(record)
            continue
        if entry["builder"] is not None:
            model = entry["builder"]()
            try:
                onnx.checker.check_model(model)
            except onnx.checker.ValidationError as exc:
                # Only the model that exists to lack shapes may fail the checker.
                if entry["file"] != "broken_missing_shapes.onnx":
                    raise RuntimeError(f"{entry['file']}: {exc}") from exc
            built[entry["file"]] = model
            onnx.save_model(model, str(target))
        elif entry["file"].startswith("external_data/"):
            model = onnx.ModelProto()
            model.CopyFrom(built["detector.onnx"])
            model.graph.name = "detector_external"
            save_external(model, target)
        record = {k: v for k, v in entry.items() if k != "builder"}
        record["bytes"] = target.stat().st_size + sum(
            p.stat().st_size for p in target.parent.glob(target.name + ".data")
        )
        manifest.append(record)
    (out / "manifest.json").write_text(
        json.dumps({"generator": "generate.py", "models": manifest}, indent=2) + "\n"
    )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=BUNDLED, help="output folder (default: workbench/bundled_models)"
    )
    args = parser.parse_args()
    if args.out.resolve() != BUNDLED and args.out.exists():
        shutil.rmtree(args.out)
    for record in generate(args.out):
        print(f"{record['bytes']:>10,}  {record['file']}")


if __name__ == "__main__":
    main()
