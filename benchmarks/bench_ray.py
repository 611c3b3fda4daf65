"""The Ray executor against the local pool, on this machine, in one run.

1. An 8-build matrix (detector, FP32 and FP16 × SM75/SM80/SM86/SM89, TensorRT-RTX ahead
   of time) through ``build_matrix``, once on the local worker pool and once through the
   Ray executor on a one-node Ray cluster on 127.0.0.1 with as many CPUs as this machine
   (token authentication on, as ``cluster up`` starts it). Each side gets a warm-up build
   first and a fresh workspace per timed run; the best of ``--repeat`` runs counts.
   Target: Ray / local <= 1.15.
2. An unchanged sweep rerun (``trt-workbench sweep`` on the same workspace, a fresh
   process as a nightly job runs it): target <= 2 s, on the local pool and on the cluster.

    python benchmarks/bench_ray.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = ["sm75", "sm80", "sm86", "sm89"]
CLI = str(Path(sys.executable).with_name("trt-workbench"))


def _matrix_seconds(model: object, folder: Path, executor: str) -> tuple[float, int]:
    from workbench import executor as seam
    from workbench.build import BuildConfig, build_matrix
    from workbench.capabilities import expand_targets
    from workbench.workspace import Workspace

    configs = expand_targets([BuildConfig(precision=p, backend="tensorrt-rtx") for p in ("fp32", "fp16")], TARGETS)
    seam.use_executor(executor)
    try:
        started = time.perf_counter()
        results = build_matrix(model, configs, workspace=Workspace(folder),  # type: ignore[arg-type]
                               max_parallel=len(configs) if executor == "ray" else None)
        seconds = time.perf_counter() - started
    finally:
        seam.use_executor(None)
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"a build failed on {executor}: {failed[0]}")
    return seconds, len(results)


def _sweep_rerun(workspace: Path, env: dict[str, str], cluster: str | None) -> float:
    sample = str(ROOT / "workbench" / "bundled_models")
    argv = [CLI, "sweep", f"{sample}/detector.onnx", f"{sample}/resnet_cnn.onnx", f"{sample}/broken_contrib_ops.onnx",
            "--precision", "fp32,fp16", "--target", "sm80,sm86", "-o", str(workspace)]
    if cluster:
        argv += ["--cluster", cluster]
    first = subprocess.run(argv, capture_output=True, text=True, env=env)
    if "cell(s) ok" not in first.stdout:
        raise SystemExit(f"the sweep did not run: {first.stderr[-2000:]}")
    started = time.perf_counter()
    again = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if " 0 step(s) ran" not in again.stdout:
        raise SystemExit(f"the rerun ran steps: {again.stdout[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from workbench import executor as seam
    from workbench.executors.cluster import NodeSpec, ensure_token, free_port, start_node
    from workbench.executors.ray_executor import NODE_CACHE_ENV, RayExecutor
    from workbench.model import load_model

    root = Path(tempfile.mkdtemp(prefix="trtwb-bench-", dir="/tmp"))
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(root / "token")
    os.environ["RAY_AUTH_MODE"] = "token"
    ensure_token(create=True)
    model = load_model(ROOT / "workbench" / "bundled_models" / "detector.onnx")
    head = None
    executor = None
    try:
        spec = NodeSpec(port=free_port(), client_port=free_port(), temp_dir=root / "ray", num_cpus=os.cpu_count() or 2,
                        object_store_bytes=300_000_000, env={NODE_CACHE_ENV: str(root / "node-cache")})
        head = start_node(spec, root / "head.log", attempts=3)
        executor = RayExecutor(head.address)
        executor.connect()
        seam.register_executor("ray", lambda: executor)

        # Warm-up: each side's worker pools (and the Ray workers) start once.
        _matrix_seconds(model, root / "warm-local", "local")
        _matrix_seconds(model, root / "warm-ray", "ray")
        local, ray_ = [], []
        for i in range(args.repeat):
            local.append(_matrix_seconds(model, root / f"local-{i}", "local")[0])
            ray_.append(_matrix_seconds(model, root / f"ray-{i}", "ray")[0])
        ratio = min(ray_) / min(local)
        print(f"8-build matrix, local pool: {', '.join(f'{s:.2f}' for s in local)} s (best {min(local):.2f} s)")
        print(f"8-build matrix, Ray executor (1 node on 127.0.0.1, {spec.num_cpus} CPUs): "
              f"{', '.join(f'{s:.2f}' for s in ray_)} s (best {min(ray_):.2f} s)")
        print(f"ratio Ray / local: {ratio:.3f} (target <= 1.15) {'OK' if ratio <= 1.15 else 'MISSED'}")

        env = {**os.environ}
        env.pop("TRT_WORKBENCH_CLUSTER", None)
        local_rerun = _sweep_rerun(root / "sweep-local", env, None)
        print(f"unchanged sweep rerun (3 models x fp32,fp16 x sm80,sm86), local pool: {local_rerun:.2f} s "
              f"(target <= 2 s) {'OK' if local_rerun <= 2 else 'MISSED'}")
        ray_rerun = _sweep_rerun(root / "sweep-ray", env, head.address)
        print(f"unchanged sweep rerun, on the cluster: {ray_rerun:.2f} s "
              f"(target <= 2 s) {'OK' if ray_rerun <= 2 else 'MISSED'}")
    finally:
        seam._FACTORIES.pop("ray", None)
        seam._INSTANCES.pop("ray", None)
        if executor is not None:
            executor.close()
        if head is not None:
            head.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
