#!/usr/bin/env python3
"""Cost of the workbench's isolated, parallel, cached build matrix against plain Polygraphy.

    python benchmarks/bench_build.py [--model workbench/bundled_models/resnet_cnn.onnx]

Targets (issue #4), measured in this run:
  * a 4-precision x 2-shape matrix costs <= 1.15 x building the same, already transformed
    models one after another in this process with plain Polygraphy calls;
  * an unchanged rerun returns in < 1 s.
Precision transforms (ModelOpt) are timed separately, and cached before the matrix runs,
so both sides build exactly the same ONNX files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.backends import import_backend, prepare_polygraphy, resolve_backend  # noqa: E402
from workbench.build import BuildConfig, build_matrix, prepare_model  # noqa: E402
from workbench.calibration import CalibrationData  # noqa: E402
from workbench.model import load_model  # noqa: E402
from workbench.workspace import Workspace  # noqa: E402

PRECISIONS = ["fp32", "fp16", "int8", "fp8"]


def plain_polygraphy_build(path: str, profile: dict[str, list[list[int]]], target: tuple[int, int]) -> int:
    """What a user scripting Polygraphy by hand would write for TensorRT-RTX."""
    from polygraphy.backend.tensorrt_rtx import CreateConfigRTX
    from polygraphy.backend.trt import NetworkFromOnnxPath, Profile, engine_bytes_from_network

    p = Profile()
    for name, (lo, opt, hi) in profile.items():
        p.add(name, min=lo, opt=opt, max=hi)
    engine = engine_bytes_from_network(
        NetworkFromOnnxPath(path), config=CreateConfigRTX(compute_capabilities=[target], profiles=[p])
    )
    return int(engine.nbytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "workbench" / "bundled_models" / "resnet_cnn.onnx"))
    parser.add_argument("--target", default="sm89")
    args = parser.parse_args()

    backend = resolve_backend("tensorrt-rtx")
    prepare_polygraphy(backend)
    import_backend(backend)
    model = load_model(args.model)
    inp = model.proto.graph.input[0].name
    shapes = [d.dim_value for d in model.proto.graph.input[0].type.tensor_type.shape.dim]
    static = {inp: [[1, *shapes[1:]]] * 3}
    dynamic = {inp: [[1, *shapes[1:]], [8, *shapes[1:]], [32, *shapes[1:]]]}
    rng = np.random.default_rng(0)
    calibration = CalibrationData(
        arrays={inp: rng.normal(size=(32, *shapes[1:])).astype(np.float32)}, source="benchmark"
    )
    configs = [
        BuildConfig(precision=p, profiles=[s], target=args.target, timing_cache=False)
        for s in (static, dynamic)
        for p in PRECISIONS
    ]

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        transform_seconds = {}
        built = {}
        for config in configs[: len(PRECISIONS)]:
            start = time.perf_counter()
            path, transform = prepare_model(model, config, backend, workspace, calibration)
            transform_seconds[config.precision] = transform.seconds if transform else 0.0
            built[config.precision] = path
            print(
                f"transform {config.precision:<5} {time.perf_counter() - start:6.2f} s (ModelOpt {transform_seconds[config.precision]:.2f} s)"
            )

        target = (int(args.target[2:-1]), int(args.target[-1]))
        start = time.perf_counter()
        for config in configs:
            plain_polygraphy_build(built[config.precision], config.profiles[0], target)
        sequential = time.perf_counter() - start

        shutil.rmtree(workspace.root / "engines", ignore_errors=True)
        start = time.perf_counter()
        results = build_matrix(model, configs, workspace=workspace, calibration=calibration)
        matrix = time.perf_counter() - start
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]

        start = time.perf_counter()
        again = build_matrix(model, configs, workspace=workspace, calibration=calibration)
        rerun = time.perf_counter() - start
        assert all(r.cached for r in again)

    print(f"\n{'case':<58} {'seconds':>8} {'ratio':>6}  target")
    print(f"{'plain Polygraphy, 8 builds one after another (baseline)':<58} {sequential:>8.2f} {1.0:>6.2f}")
    print(
        f"{'workbench build_matrix, 8 builds, isolated + parallel':<58} {matrix:>8.2f} {matrix / sequential:>6.2f}  <= 1.15 {'ok' if matrix / sequential <= 1.15 else 'MISSED'}"
    )
    print(
        f"{'workbench build_matrix, unchanged rerun (cache)':<58} {rerun:>8.2f} {rerun / sequential:>6.2f}  < 1 s {'ok' if rerun < 1 else 'MISSED'}"
    )
    print(
        "ModelOpt transforms, timed and cached separately: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in transform_seconds.items())
    )


if __name__ == "__main__":
    main()
