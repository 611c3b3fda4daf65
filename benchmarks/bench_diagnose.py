#!/usr/bin/env python3
"""Speed of `trt-workbench diagnose` against Polygraphy's CLI on real 1-100 MB models.

    python benchmarks/bench_diagnose.py [--repeat 5] [--models magika,ppocr_rec,...]

Targets (issue #3), as ratios measured in this run on the same file:
  * plain diagnose           <= 1.0 x  `polygraphy inspect capability` (parse only)
  * diagnose --build-check   <= 0.2 x  `polygraphy check lint` + `polygraphy inspect capability`
Every command is a fresh process, as a user runs it; Polygraphy drives TensorRT-RTX
(POLYGRAPHY_USE_TENSORRT_RTX=1), the same backend as the workbench here. Each figure is
the median of --repeat runs, the tools interleaved so machine noise hits both alike.

The build-check ratio is measured cold: every run gets an empty workbench home, so the
build-check cache cannot answer. The warm column (same model, backend, target and shapes
checked before) is printed beside it for what a repeated check costs; it is not the target.

The output starts with the versions of what the commands import and run (onnx, ml_dtypes,
numpy, protobuf, onnxruntime, tensorrt_rtx, polygraphy) and what a fresh `import onnx` and
`import ml_dtypes` cost, so a dependency that got slower shows up as the figure that moved
(ml_dtypes 0.7.0 added ~0.6 s to every one-shot command). `--versions` prints only that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_models import REAL_MODELS

BIN = Path(sys.executable).parent
DEFAULT_MODELS = [
    "silero_vad",
    "magika",
    "ppocr_det",
    "ppocr_rec",
    "nudenet_yolov8n",
    "ddddocr_det",
    "ddddocr_ocr",
]


#: Distributions whose versions decide the figures: imported by the CLI or run by Polygraphy.
VERSIONED = ("onnx", "ml_dtypes", "numpy", "protobuf", "onnxruntime", "tensorrt_rtx", "polygraphy")
#: A fresh `import ml_dtypes` (after numpy) may cost at most this much (0.6.0: ~10 ms; 0.7.0: ~700 ms).
ML_DTYPES_IMPORT_TARGET_S = 0.1


def versions() -> dict[str, str]:
    """Installed versions, from package metadata (nothing is imported)."""
    from importlib import metadata

    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def import_cost(statement: str, repeat: int = 5) -> float:
    """Median wall time of a fresh interpreter running ``statement`` minus an empty one."""

    def run(code: str) -> float:
        return statistics.median(timed([sys.executable, "-c", code])[0] for _ in range(repeat))

    return run(statement) - run("pass")


def print_versions(repeat: int) -> None:
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print("  " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    onnx_s = import_cost("import onnx", repeat)
    numpy_s = import_cost("import numpy", repeat)
    ml_s = import_cost("import numpy, ml_dtypes", repeat) - numpy_s
    verdict = "ok" if ml_s <= ML_DTYPES_IMPORT_TARGET_S else "MISSED"
    print(
        f"  fresh import: onnx {onnx_s:.3f} s, numpy {numpy_s:.3f} s, ml_dtypes after numpy {ml_s:.3f} s "
        f"(target <= {ML_DTYPES_IMPORT_TARGET_S} s {verdict})\n"
    )


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start, proc.returncode


def where_time_goes(path: Path, shapes: list[str]) -> dict[str, float]:
    """The workbench's own split (from the diagnosis JSON) of one --build-check run."""
    cmd = [str(BIN / "trt-workbench"), "diagnose", str(path), "--build-check", "--no-cache", "--json"]
    for s in shapes:
        cmd += ["--shapes", s]
    out = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(out.stdout)["seconds"]
    except (json.JSONDecodeError, KeyError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--versions", action="store_true", help="print the versions and import costs only")
    args = parser.parse_args()
    print_versions(args.repeat)
    if args.versions:
        return

    # Polygraphy runs from site-packages with the bytecode pip compiled at install time; give
    # the workbench the same (an editable install has none, and PYTHONDONTWRITEBYTECODE, set
    # on our machines, keeps Python from writing it), or the comparison times our compiler.
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "workbench"), quiet=1)
    poly_env = dict(os.environ, POLYGRAPHY_USE_TENSORRT_RTX="1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.models.split(","):
            model = REAL_MODELS[key]
            path = model.path()
            mb = path.stat().st_size / 2**20
            shape_args = [a for s in model.shapes for a in ("--shapes", s)]
            runs: dict[str, list[float]] = {
                "capability": [],
                "lint": [],
                "diagnose": [],
                "build_check": [],
                "build_check_warm": [],
            }
            build_cmd = [str(BIN / "trt-workbench"), "diagnose", str(path), "--build-check", *shape_args]
            for _ in range(args.repeat):
                runs["capability"].append(
                    timed(
                        [str(BIN / "polygraphy"), "inspect", "capability", str(path), "-o", f"{tmp}/cap"],
                        poly_env,
                    )[0]
                )
                runs["diagnose"].append(timed([str(BIN / "trt-workbench"), "diagnose", str(path)])[0])
                runs["lint"].append(
                    timed(
                        [str(BIN / "polygraphy"), "check", "lint", str(path), "-o", f"{tmp}/lint.json"],
                        poly_env,
                    )[0]
                )
                home = tempfile.mkdtemp(dir=tmp)  # empty: the cold check cannot be answered from cache
                wb_env = dict(os.environ, TRT_WORKBENCH_HOME=home)
                runs["build_check"].append(timed(build_cmd, wb_env)[0])
                runs["build_check_warm"].append(timed(build_cmd, wb_env)[0])
            med = {k: statistics.median(v) for k, v in runs.items()}
            rows.append((key, mb, med, where_time_goes(path, list(model.shapes))))

    print(
        f"{'model':<18} {'MB':>6} {'capab. s':>9} {'diagnose s':>10} {'ratio':>6}   {'lint s':>7} {'lint+cap s':>10} "
        f"{'--build-check s':>15} {'ratio':>6}   {'warm s':>7} {'ratio':>6}"
    )
    worst_plain = worst_build = 0.0
    for key, mb, med, _ in rows:
        plain = med["diagnose"] / med["capability"]
        build = med["build_check"] / (med["lint"] + med["capability"])
        worst_plain, worst_build = max(worst_plain, plain), max(worst_build, build)
        print(
            f"{key:<18} {mb:>6.1f} {med['capability']:>9.3f} {med['diagnose']:>10.3f} {plain:>6.2f}   "
            f"{med['lint']:>7.3f} {med['lint'] + med['capability']:>10.3f} {med['build_check']:>15.3f} {build:>6.2f}   "
            f"{med['build_check_warm']:>7.3f} {med['build_check_warm'] / (med['lint'] + med['capability']):>6.2f}"
        )
    print(
        f"\nworst ratio: plain {worst_plain:.2f} (target <= 1.0), --build-check cold {worst_build:.2f} (target <= 0.2)"
    )
    print("\nwhere the workbench's --build-check time goes inside the diagnosis (s, worker side):")
    for key, _, _, split in rows:
        print(f"  {key:<18} " + ", ".join(f"{k} {v:.3f}" for k, v in split.items()))


if __name__ == "__main__":
    main()
