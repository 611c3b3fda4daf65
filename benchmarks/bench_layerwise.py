#!/usr/bin/env python3
"""Layerwise FP32-vs-INT8 drift: the workbench against the Polygraphy CLI route.

    python benchmarks/bench_layerwise.py [--repeat 3]

Target (issue #5): `trt-workbench compare --layerwise` on a ResNet-class model takes at
most 0.5 x the Polygraphy CLI route, measured in the same run. The Polygraphy route runs
both models in ONNX Runtime with every tensor marked as an output and compares them:

    polygraphy run fp32.onnx --onnxrt --onnx-outputs mark all --save-outputs ref.json
    polygraphy run int8.onnx --onnxrt --onnx-outputs mark all --load-outputs ref.json

Both sides use one 1x3x224x224 sample; the INT8 Q/DQ model is made (and cached) first, so
quantization is not part of either figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.backends import BackendInfo  # noqa: E402
from workbench.build import BuildConfig, prepare_model  # noqa: E402
from workbench.calibration import CalibrationData  # noqa: E402
from workbench.model import load_model  # noqa: E402
from workbench.workspace import Workspace  # noqa: E402

BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=str(ROOT / "workbench" / "bundled_models" / "resnet_cnn.onnx"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = dict(os.environ, TRT_WORKBENCH_HOME=str(home))
        os.environ["TRT_WORKBENCH_HOME"] = str(home)
        model = load_model(args.model)
        rng = np.random.default_rng(0)
        images = np.repeat(np.repeat(rng.normal(size=(32, 3, 28, 28)).astype(np.float32), 8, axis=2), 8, axis=3)
        calib_path = Path(tmp) / "calib.npz"
        np.savez(calib_path, input=images)
        calibration = CalibrationData({"input": images}, "benchmark")
        int8_path, _ = prepare_model(model, BuildConfig(precision="int8"), BackendInfo("tensorrt-rtx", "any"), Workspace.default(), calibration)

        ref_json = Path(tmp) / "ref.json"
        poly = [
            [str(BIN / "polygraphy"), "run", args.model, "--onnxrt", "--onnx-outputs", "mark", "all", "--input-shapes", "input:[1,3,224,224]", "--save-outputs", str(ref_json)],
            [str(BIN / "polygraphy"), "run", int8_path, "--onnxrt", "--onnx-outputs", "mark", "all", "--input-shapes", "input:[1,3,224,224]", "--load-outputs", str(ref_json), "--check-error-stat", "max", "--atol", "1e9", "--rtol", "1e9"],
        ]
        ours = [str(BIN / "trt-workbench"), "compare", args.model, "--precision", "int8", "--calib", str(calib_path), "--layerwise", "--samples", "1", "--json"]
        poly_times, our_times = [], []
        for _ in range(args.repeat):
            poly_times.append(sum(timed(cmd, env) for cmd in poly))
            our_times.append(timed(ours, env))
    p, o = statistics.median(poly_times), statistics.median(our_times)
    print(f"{'route':<62} {'median s':>9} {'ratio':>6}")
    print(f"{'Polygraphy CLI: two `polygraphy run --onnx-outputs mark all`':<62} {p:>9.2f} {1.0:>6.2f}")
    print(f"{'trt-workbench compare --layerwise (transform cached)':<62} {o:>9.2f} {o / p:>6.2f}  target <= 0.5 {'ok' if o / p <= 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
