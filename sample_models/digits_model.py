#!/usr/bin/env python3
"""A real trained classifier with real labelled data: scikit-learn's handwritten digits.

    python sample_models/digits_model.py --out DIR     # digits_cnn.onnx and its data in DIR

scikit-learn ships the UCI optical-recognition digits inside its wheel (1,797 real 8x8
images of handwritten digits, 0..16 ink levels, 10 classes), so nothing is downloaded.
A small CNN (two 3x3 convolutions, two fully connected layers, 72 k parameters) is trained
on the first 1,500 digits with torch on the CPU in a few seconds, and written as plain
ONNX operators (Conv, Relu, Flatten, Gemm; opset 17, dynamic batch) from its weights.

What lands in ``DIR``:

- ``digits_cnn.onnx``: input ``input`` [batch, 1, 8, 8] float32, output ``logits`` [batch, 10];
- ``digits_eval.npz``: the held-out split (the last 297 digits), ``input`` and ``labels``;
- ``digits_calib.npz``: a calibration split (512 training digits), ``input`` and ``labels``;
- ``digits_preprocessing.json``: how an 8-bit grayscale image of a digit becomes the input
  (scale 1/255, mean 0.5, std 0.5: values in -1..1), a ``workbench.preprocessing.Preprocessing``.

The arrays in the ``.npz`` files are already preprocessed: ink level ``v`` (0..16) becomes
``(v / 16 - 0.5) / 0.5``, which is what the declared preprocessing gives for the 8-bit image
of the digit (pixel ``round(v * 255 / 16)``), to within 0.004.

The bytes are deterministic: the training runs in float64 with a fixed seed, one thread and
deterministic algorithms (float64 keeps last-bit differences between CPUs about 1e-13 after
training), the weights are rounded to 4 significant digits before they are written, and the
``.npz`` files are written with fixed zip timestamps (``numpy.savez`` stamps the current time).
The ONNX graph is written with ``onnx.helper`` rather than ``torch.onnx.export``: the exporter
records its torch version and its node naming changes between releases, which would change
the file whenever torch does.
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: The model file and the data files beside it.
MODEL_FILE = "digits_cnn.onnx"
EVAL_FILE = "digits_eval.npz"
CALIB_FILE = "digits_calib.npz"
PREPROCESSING_FILE = "digits_preprocessing.json"
FILES = (MODEL_FILE, EVAL_FILE, CALIB_FILE, PREPROCESSING_FILE)

#: The fixed split: train on the first 1,500 digits, hold out the last 297.
TRAIN = 1500
#: The calibration split: this many training digits, from the end of the training part.
CALIBRATION = 512
SEED = 0
EPOCHS = 40
BATCH = 100
#: Width of the hidden fully connected layer.
HIDDEN = 128
OPSET = 17
PRODUCER = "trt-workbench sample_models/digits_model.py"

#: How an 8-bit grayscale image of a digit becomes the model's input (a ``Preprocessing``).
PREPROCESSING: dict[str, Any] = {
    "height": 8,
    "width": 8,
    "layout": "NCHW",
    "scale": 1.0 / 255.0,
    "mean": [0.5],
    "std": [0.5],
    "dtype": "float32",
    "resize": None,
    "resize_mode": "exact",
    "crop": None,
    "channel_order": "RGB",
    "grayscale": True,
    "interpolation": "bilinear",
}


def round_sig(a: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant digits (keeps regenerated files byte-identical)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        mag = np.where(a == 0, 0, np.floor(np.log10(np.abs(a))))
    scale = 10.0 ** (digits - 1 - mag)
    return (np.round(a * scale) / scale).astype(np.float32)


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as ink levels [N, 8, 8] (float64, 0..16) and their labels [N] (int64)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise SystemExit(
            "The digits sample needs scikit-learn (it ships the data): pip install scikit-learn"
        ) from exc
    digits = load_digits()
    return np.asarray(digits.images, dtype=np.float64), np.asarray(digits.target, dtype=np.int64)


def to_input(levels: np.ndarray) -> np.ndarray:
    """Ink levels 0..16 [N, 8, 8] -> the model's input [N, 1, 8, 8] (the declared preprocessing)."""
    scaled = np.asarray(levels, dtype=np.float64) / 16.0
    return ((scaled - 0.5) / 0.5).astype(np.float32)[:, None, :, :]


def to_pixels(levels: np.ndarray) -> np.ndarray:
    """Ink levels 0..16 -> 8-bit grayscale pixels 0..255 (what an image file of the digit holds)."""
    return np.clip(np.round(np.asarray(levels, dtype=np.float64) * 255.0 / 16.0), 0, 255).astype(np.uint8)


def train(inputs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Train the CNN with torch on the CPU; its weights by ONNX initializer name (float64).

    Each training digit is shifted by up to one pixel (a fresh random shift per epoch) and
    the first fully connected layer sees dropout 0.5: without them the net learns the
    first 1,500 writers and gets 92% of the held-out digits right, with them about 97%.
    """
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.Linear(32 * 4 * 4, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, 10),
        ).double()
        x = torch.from_numpy(inputs.astype(np.float64))
        y = torch.from_numpy(labels)
        count = len(x)
        steps = -(-count // BATCH)
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, EPOCHS * steps)
        generator = torch.Generator().manual_seed(SEED)
        # The nine one-pixel shifts of every digit (the border filled with background, -1).
        padded = torch.nn.functional.pad(x, (1, 1, 1, 1), value=-1.0)
        shifted = torch.stack([padded[:, :, dy : dy + 8, dx : dx + 8] for dy in range(3) for dx in range(3)])
        net.train()
        for _ in range(EPOCHS):
            order = torch.randperm(count, generator=generator)
            shift = torch.randint(0, 9, (count,), generator=generator)
            for start in range(0, count, BATCH):
                batch = order[start : start + BATCH]
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(net(shifted[shift[batch], batch]), y[batch])
                loss.backward()
                optimizer.step()
                schedule.step()
        params = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    finally:
        torch.set_num_threads(threads)
    names = {"0": "conv1", "2": "conv2", "6": "fc1", "8": "fc2"}
    return {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in params.items()}


def onnx_model(weights: dict[str, np.ndarray]) -> Any:
    """The trained CNN as plain ONNX operators, named the way torch's exporter names them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(round_sig(w), name) for name, w in sorted(weights.items())]
    nodes = [
        helper.make_node(
            "Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"], name="/conv1/Conv",
            kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
        ),
        helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu1/Relu_output_0"], name="/relu1/Relu"),
        helper.make_node(
            "Conv", ["/relu1/Relu_output_0", "conv2.weight", "conv2.bias"], ["/conv2/Conv_output_0"],
            name="/conv2/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2],
        ),
        helper.make_node("Relu", ["/conv2/Conv_output_0"], ["/relu2/Relu_output_0"], name="/relu2/Relu"),
        helper.make_node(
            "Flatten", ["/relu2/Relu_output_0"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten", axis=1
        ),
        helper.make_node(
            "Gemm", ["/flatten/Flatten_output_0", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"],
            name="/fc1/Gemm", transB=1,
        ),
        helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/relu3/Relu_output_0"], name="/relu3/Relu"),
        helper.make_node(
            "Gemm", ["/relu3/Relu_output_0", "fc2.weight", "fc2.bias"], ["logits"], name="/fc2/Gemm", transB=1
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        doc_string=(
            "A CNN trained on scikit-learn's handwritten digits (first 1,500 for training); "
            "input [batch, 1, 8, 8] = (ink / 16 - 0.5) / 0.5, output logits for the digits 0-9."
        ),
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez`` with fixed zip timestamps, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def top1(model_bytes: bytes, inputs: np.ndarray, labels: np.ndarray) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": inputs})
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def build_digits_model(out_dir: str | Path) -> dict[str, Any]:
    """Train the digits CNN and write it with its data into ``out_dir``.

    Returns what was made: ``files`` (name -> bytes on disk), ``model`` (the ONNX file's
    path), ``eval`` and ``calibration`` (the ``.npz`` paths), ``preprocessing`` (the JSON's
    path), ``fp32_top1`` on the held-out split (ONNX Runtime, CPU), and ``manifest``: the
    entry for ``workbench/bundled_models/manifest.json`` (its ``bytes`` left to the caller:
    ``sum(files.values())``).
    """
    import onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    levels, labels = load_digits_arrays()
    inputs = to_input(levels)
    weights = train(inputs[:TRAIN], labels[:TRAIN])
    model = onnx_model(weights)
    onnx.save_model(model, str(out / MODEL_FILE))
    save_npz(out / EVAL_FILE, {"input": inputs[TRAIN:], "labels": labels[TRAIN:]})
    calib = slice(TRAIN - CALIBRATION, TRAIN)
    save_npz(out / CALIB_FILE, {"input": inputs[calib], "labels": labels[calib]})
    (out / PREPROCESSING_FILE).write_text(json.dumps(PREPROCESSING, indent=2) + "\n")
    accuracy = top1(model.SerializeToString(), inputs[TRAIN:], labels[TRAIN:])
    files = {name: (out / name).stat().st_size for name in FILES}
    held_out = len(labels) - TRAIN
    # The manifest holds nothing measured at build time (an accuracy could differ in its last
    # digit between CPUs, and the committed manifest must be byte-identical everywhere).
    manifest = {
        "file": MODEL_FILE,
        "kind": "working",
        "title": "Handwritten-digits CNN with labelled data (scikit-learn digits)",
        "description": (
            f"A CNN (Conv, Relu, Flatten, Gemm; 72 k parameters) trained on the first {TRAIN} of scikit-learn's "
            f"1,797 real 8x8 handwritten digits; input [batch, 1, 8, 8] in -1..1, logits for 0-9. Beside it: "
            f"{EVAL_FILE} (the last {held_out} digits, input + labels), "
            f"{CALIB_FILE} ({CALIBRATION} training digits for calibration) and {PREPROCESSING_FILE} "
            "(grayscale, scale 1/255, mean 0.5, std 0.5)."
        ),
        "tensorrt": "Parses and builds (give a profile for the batch); the labelled sample for task accuracy "
        "(top-1 per precision) and calibration studies.",
        "expect": {"parse": True, "build": True},
        "fixes": [],
        "data": {"eval": EVAL_FILE, "calibration": CALIB_FILE, "preprocessing": PREPROCESSING_FILE},
    }
    return {
        "model": str(out / MODEL_FILE),
        "eval": str(out / EVAL_FILE),
        "calibration": str(out / CALIB_FILE),
        "preprocessing": str(out / PREPROCESSING_FILE),
        "files": files,
        "fp32_top1": accuracy,
        "eval_samples": held_out,
        "calibration_samples": CALIBRATION,
        "manifest": manifest,
    }


def write_digit_images(out_dir: str | Path, levels: np.ndarray, labels: np.ndarray) -> list[Path]:
    """Digits as 8-bit grayscale PNGs in one folder per class (``out_dir/3/0042.png``).

    The image-folder route of ``workbench.evaluation.load_labelled`` reads them back; the
    tests make them in a temporary folder, none are committed.
    """
    from PIL import Image

    out = Path(out_dir)
    paths = []
    for index, (image, label) in enumerate(zip(to_pixels(levels), labels)):
        folder = out / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:04d}.png"
        Image.fromarray(image, mode="L").save(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    made = build_digits_model(args.out)
    for name, size in made["files"].items():
        print(f"{size:>10,}  {name}")
    print(f"FP32 top-1 on the {made['eval_samples']} held-out digits: {made['fp32_top1']:.4f}")


if __name__ == "__main__":
    main()
