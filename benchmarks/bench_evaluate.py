#!/usr/bin/env python3
"""Task accuracy across FP32, FP16 and INT8 on the digits sample, against plain ONNX Runtime.

    python benchmarks/bench_evaluate.py [--repeat 5]

``workbench.evaluation.evaluate`` on the digits CNN's 297 labelled held-out digits for
fp32, fp16 and int8 (INT8 calibrated on the 512 calibration digits with entropy), measured
three ways in one run:

- cold: a fresh workspace, so the FP16 (ModelOpt AutoCast) and INT8 (ModelOpt PTQ)
  transforms run, in the ModelOpt worker (its start included);
- warm: the same call again, transforms cached by content hash (what a second look costs);
- the baselines: plain ONNX Runtime inference of the FP32 model over the same samples
  (session, run, top-1 with NumPy), and the same for the three ONNX files evaluate ran.

The digits model is the bundled one when it is there, else built into a temporary folder
by ``sample_models/digits_model.py`` (its training is not part of any figure).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def digits_files(tmp: Path) -> dict[str, Path]:
    bundled = ROOT / "workbench" / "bundled_models"
    if (bundled / "digits_cnn.onnx").is_file() and (bundled / "digits_eval.npz").is_file():
        return {"model": bundled / "digits_cnn.onnx", "eval": bundled / "digits_eval.npz",
                "calibration": bundled / "digits_calib.npz"}
    spec = importlib.util.spec_from_file_location("digits_model", ROOT / "sample_models" / "digits_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.build_digits_model(tmp / "digits")
    return {k: Path(made[k]) for k in ("model", "eval", "calibration")}


def plain_top1(path: str, x: np.ndarray, labels: np.ndarray) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"input": x})
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["TRT_WORKBENCH_HOME"] = str(tmp / "home")
        from workbench.evaluation import evaluate, load_calibration_data, load_labelled
        from workbench.model import load_model
        from workbench.summary import summarize
        from workbench.workspace import Workspace

        files = digits_files(tmp)
        model = load_model(files["model"])
        summary = summarize(model)
        data = load_labelled(files["eval"], summary.inputs)
        calibration = load_calibration_data(files["calibration"], summary.inputs)
        x, labels = data.arrays["input"], data.labels
        precisions = ["fp32", "fp16", "int8"]

        baseline, fp32_top1 = timed(lambda: plain_top1(str(model.path), x, labels), args.repeat)
        workspace = Workspace(tmp / "workspace")
        start = time.perf_counter()
        cold_result = evaluate(model, data, precisions, calibration=calibration, workspace=workspace)
        cold = time.perf_counter() - start
        warm, warm_result = timed(
            lambda: evaluate(model, data, precisions, calibration=calibration, workspace=workspace), args.repeat
        )
        paths = [r.model_path for r in cold_result.results]
        plain_three, _ = timed(lambda: [plain_top1(p, x, labels) for p in paths], args.repeat)

    print(f"digits CNN, {data.samples} labelled samples, {calibration.samples} calibration samples; "
          f"median of {args.repeat} (cold: one run)")
    print(f"{'route':<66} {'seconds':>8} {'x FP32 ORT':>10}")
    rows = [
        ("plain ONNX Runtime, FP32 model: session + run + top-1 (baseline)", baseline),
        ("plain ONNX Runtime, the three ONNX files evaluate ran", plain_three),
        ("evaluate fp32,fp16,int8 cold (AutoCast + PTQ in the worker)", cold),
        ("evaluate fp32,fp16,int8 warm (transforms cached)", warm),
    ]
    for label, seconds in rows:
        print(f"{label:<66} {seconds:>8.3f} {seconds / baseline:>10.1f}")
    for r in warm_result.results:  # type: ignore[attr-defined]
        print(f"  {r.precision}: top-1 {r.top1:.4f}, kept {r.kept_top1:.4f} [{r.computed_by}]")
    assert abs(warm_result.reference.top1 - fp32_top1) < 1e-12  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
