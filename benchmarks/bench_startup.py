#!/usr/bin/env python3
"""Start-up cost of the CLI and the library, as ratios against a bare interpreter.

    python benchmarks/bench_startup.py [--repeat 7]

Target (issue #2): `import workbench` and `trt-workbench --help` stay under 1 s, i.e. they
import no TensorRT, ModelOpt or torch. Each figure is the median wall time of fresh
interpreters, measured in this run next to the baseline `python -c pass`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "import workbench": [sys.executable, "-c", "import workbench"],
    "trt-workbench --help": [sys.executable, "-m", "workbench", "--help"],
    "import workbench.summary (onnx)": [sys.executable, "-c", "import workbench.summary"],
    "trt-workbench env": [sys.executable, "-m", "workbench", "env"],
}


def measure(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {name: measure(cmd, args.repeat) for name, cmd in CASES.items()}
    baseline = results["python -c pass (baseline)"]
    print(f"{'case':<34} {'median s':>9} {'x baseline':>11}  target")
    for name, seconds in results.items():
        target = "< 1 s" if name in ("import workbench", "trt-workbench --help") else ""
        verdict = ("ok" if seconds < 1.0 else "MISSED") if target else ""
        print(f"{name:<34} {seconds:>9.3f} {seconds / baseline:>11.1f}  {target} {verdict}")


if __name__ == "__main__":
    main()
