#!/usr/bin/env python3
"""Reading trtexec exports of four engines, comparing them and drawing the figures.

    python benchmarks/bench_engines.py [--repeat 5]

Target: under one second for four engines (fp16, qat, qat-residual, qat-residual-qgap
from /work/shared/trt-artifacts, each with its ~1-1.7 MB --exportTimes file), and again
with every timing file blown up to ~3 MB by replicating its records. The baseline, measured
in the same run, is a plain ``json.load`` of the same files: the parse no reader can avoid.
The workbench route is ``load_engine_exports`` (siblings, layers, profile, percentiles,
metadata) + ``compare_engines`` + the five engine figures. Plotly's first figure in a
process loads its validators (~0.1 s); that one-off cost is measured apart and the timed
repeats run warm.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench import plots  # noqa: E402
from workbench.engine_report import compare_engines, load_engine_exports  # noqa: E402

ARTIFACTS = ROOT.parent / "shared" / "trt-artifacts" / "resnet18-a100"
ENGINES = ["fp16", "qat", "qat-residual", "qat-residual-qgap"]
SYNTHETIC_BYTES = 3 * 2**20


def stage(folder: Path, synthetic: bool) -> Path:
    """Copy the four engines' exports; with ``synthetic``, grow each timing file to ~3 MB."""
    for name in ENGINES:
        target = folder / name
        shutil.copytree(ARTIFACTS / name, target)
        if synthetic:
            (timing,) = target.glob("*.timing.json")
            records = json.loads(timing.read_text())
            size = timing.stat().st_size
            times = max(1, -(-SYNTHETIC_BYTES // size))
            timing.write_text(json.dumps(records * times))
    return folder


def baseline(folder: Path) -> None:
    for path in sorted(folder.rglob("*.json")):
        with open(path) as handle:
            json.load(handle)


def workbench_route(folder: Path) -> None:
    reports = load_engine_exports([folder])
    comparison = compare_engines(reports)
    plots.engine_layer_time_figure(reports[0])
    plots.engine_precision_mix_figure(reports)
    plots.engine_compare_figure(comparison)
    plots.engine_type_time_figure(comparison)
    plots.engine_latency_figure(reports)


def read_only(folder: Path) -> None:
    compare_engines(load_engine_exports([folder]))


def median_seconds(fn, folder: Path, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(folder)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not ARTIFACTS.is_dir():
        sys.exit(f"The trtexec exports are not at {ARTIFACTS}.")

    with tempfile.TemporaryDirectory() as tmp:
        real = stage(Path(tmp) / "real", synthetic=False)
        big = stage(Path(tmp) / "synthetic", synthetic=True)
        cold_start = time.perf_counter()
        workbench_route(real)  # first figure in the process: plotly's validators load here
        cold = time.perf_counter() - cold_start
        rows = []
        for title, folder in (("4 engines, real timing files", real), ("4 engines, ~3 MB timing files", big)):
            mib = sum(p.stat().st_size for p in folder.rglob("*.json")) / 2**20
            b = median_seconds(baseline, folder, args.repeat)
            r = median_seconds(read_only, folder, args.repeat)
            w = median_seconds(workbench_route, folder, args.repeat)
            rows.append((f"{title} ({mib:.1f} MiB JSON)", b, r, w))

    print(f"{'set':<48} {'route':<40} {'median s':>9} {'ratio':>6}")
    for title, b, r, w in rows:
        print(f"{title:<48} {'plain json.load of every file (baseline)':<40} {b:>9.3f} {1.0:>6.2f}")
        print(f"{'':<48} {'load_engine_exports + compare_engines':<40} {r:>9.3f} {r / b:>6.2f}")
        verdict = "ok" if w < 1.0 else "MISSED"
        print(f"{'':<48} {'... + the five engine figures':<40} {w:>9.3f} {w / b:>6.2f}  target < 1 s {verdict}")
    print(f"first run in this process (plotly validators loading): {cold:.3f} s")


if __name__ == "__main__":
    main()
