#!/usr/bin/env python3
"""Speed of `trt-workbench compat` across four TensorRT-RTX versions on a ~10 MB model.

    python benchmarks/bench_compat.py [--model PATH] [--versions 1.4,1.5,1.6,1.7] [--repeat 3] [--parse-only]

Target (issue #16): a cached four-version check within 2x one version's check. Measured on
the same model, in one process, with every environment already made (they are created once
and reused; the first run of this script may create them):

  * one version      one version's check, nothing cached (an empty compat cache each run)
  * four, cold       the four versions, nothing cached (two checks at a time on this machine)
  * four, cached     the same four-version check again: every outcome looked up by content hash

Each figure is the median of --repeat runs. The ratio printed last is the target's:
four cached / one version. The cold four-version ratio is printed beside it for what a
first check of a new model costs; it is not the target.

Without --model, the model is generated here, deterministically (seeded weights): a CNN of
about 10 MB of FP32 weights (convolutions, a residual add, pooling and a classifier), so every
run measures the same bytes. With --build-check (default) each version also builds an FP32
engine (sm89, ahead of time on the CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_model(path: Path, target_mib: float = 10.0) -> Path:
    """A deterministic CNN whose weights total about ``target_mib`` MiB."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(16)
    nodes, inits = [], []
    channels, x = 3, "input"

    def conv(name: str, src: str, cin: int, cout: int, k: int) -> str:
        w = (rng.standard_normal((cout, cin, k, k)) * (2 / (cin * k * k)) ** 0.5).astype(np.float32)
        b = np.zeros(cout, np.float32)
        inits.extend([numpy_helper.from_array(w, f"{name}.w"), numpy_helper.from_array(b, f"{name}.b")])
        nodes.append(helper.make_node("Conv", [src, f"{name}.w", f"{name}.b"], [f"{name}.y"], name=name, pads=[k // 2] * 4))
        nodes.append(helper.make_node("Relu", [f"{name}.y"], [f"{name}.r"], name=f"{name}/relu"))
        return f"{name}.r"

    budget = target_mib * 2**20 / 4  # FP32 parameters
    widths = [32, 64, 128, 192, 256]
    used = 0
    for i, width in enumerate(widths):
        x = conv(f"/stage{i}/conv_a", x, channels, width, 3)
        skip = x
        x = conv(f"/stage{i}/conv_b", x, width, width, 3)
        nodes.append(helper.make_node("Add", [x, skip], [f"/stage{i}/add"], name=f"/stage{i}/add"))
        x = f"/stage{i}/add"
        if i < len(widths) - 1:
            nodes.append(helper.make_node("MaxPool", [x], [f"/stage{i}/pool"], name=f"/stage{i}/pool", kernel_shape=[2, 2], strides=[2, 2]))
            x = f"/stage{i}/pool"
        used += 9 * (channels * width + width * width)
        channels = width
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["/gap"], name="/gap"))
    nodes.append(helper.make_node("Flatten", ["/gap"], ["/flat"], name="/flatten"))
    classes = max(10, int((budget - used) / channels))
    w = (rng.standard_normal((channels, classes)) * 0.02).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "/fc.w"))
    nodes.append(helper.make_node("MatMul", ["/flat", "/fc.w"], ["logits"], name="/fc"))
    graph = helper.make_graph(
        nodes,
        "bench_compat_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 128, 128])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench_compat")
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an ONNX model (default: a generated ~10 MB CNN)")
    parser.add_argument("--versions", default="1.4,1.5,1.6,1.7")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parse-only", action="store_true", help="no engine builds")
    args = parser.parse_args()

    from workbench.compat import check_versions
    from workbench.environments import ensure_environment
    from workbench.model import load_model

    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    for version in versions:
        env = ensure_environment("tensorrt-rtx", version, progress=lambda m: print(f"  {m}", file=sys.stderr))
        print(f"environment: tensorrt-rtx {env.version} at {env.path} (CUDA {env.cuda})")
    with tempfile.TemporaryDirectory(prefix="bench-compat-") as scratch:
        path = Path(args.model) if args.model else make_model(Path(scratch) / "cnn_10mb.onnx")
        model = load_model(path)
        print(f"model: {path.name}, {path.stat().st_size / 2**20:.1f} MiB, build check: {not args.parse_only}")
        build = not args.parse_only

        def timed(names: list[str], cache_root: Path) -> tuple[float, object]:
            started = time.perf_counter()
            report = check_versions(path, names, build_check=build, model=model, cache_root=cache_root)
            return time.perf_counter() - started, report

        # One warm-up of every version's worker, so no figure pays a first import of TensorRT.
        timed(versions, Path(tempfile.mkdtemp(dir=scratch)))
        one, cold, cached = [], [], []
        for _ in range(args.repeat):
            seconds, _ = timed(versions[-1:], Path(tempfile.mkdtemp(dir=scratch)))
            one.append(seconds)
            root = Path(tempfile.mkdtemp(dir=scratch))
            seconds, report = timed(versions, root)
            cold.append(seconds)
            seconds, again = timed(versions, root)
            cached.append(seconds)
            assert all(o.cached for o in again.versions)  # type: ignore[attr-defined]
        for o in report.versions:  # type: ignore[attr-defined]
            layers = f", {o.layer_count} layers, {o.engine_bytes / 2**20:.2f} MiB engine" if o.layer_count else ""
            print(f"  {o.label}: {'parses' if o.parse_ok else 'does not parse'}{layers}")
        m1, m4, m4c = statistics.median(one), statistics.median(cold), statistics.median(cached)
        print(f"one version ({versions[-1]}), nothing cached: {m1:.3f} s (median of {args.repeat})")
        print(f"four versions, nothing cached:       {m4:.3f} s  ({m4 / m1:.2f}x one version)")
        print(f"four versions, cached:               {m4c:.3f} s  ({m4c / m1:.2f}x one version)")
        ok = m4c <= 2 * m1
        print(f"target: cached four-version check <= 2x one version's check: {'met' if ok else 'NOT met'} ({m4c / m1:.2f}x)")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
