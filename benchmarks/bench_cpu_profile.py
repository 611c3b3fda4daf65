#!/usr/bin/env python3
"""CPU per-node timing against the latency shown beside it (`trt-workbench profile --backend onnxruntime`).

    python benchmarks/bench_cpu_profile.py [--repeat 3] [--iterations 30]

Target (issue "Fidelity: numbers and fixes that hold on real models"): on models that take
20 ms or more here, the per-node rows add up to 0.8-1.2x the latency shown beside them
(both from the one fully optimised ONNX Runtime session). On smaller models, where
ONNX Runtime's per-node overhead and the profiler's dominate, the profile must say its
rows are shares of the profiled run (row_basis "shares"), not milliseconds of the latency.

The "before" column is what the profile did until now: per-node times from a second
session with basic optimisations only, summed against the fully optimised latency.
Each figure is the median of --repeat profiles.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.timing import ROWS_EXPLAIN_LATENCY, SMALL_MODEL_MS, profile_onnxruntime  # noqa: E402

MODELS = ROOT / "workbench" / "bundled_models"
CASES = [
    ("resnet_cnn", "resnet_cnn.onnx", {"input": [8, 3, 224, 224]}),
    ("resnet_cnn", "resnet_cnn.onnx", {"input": [1, 3, 224, 224]}),
    ("detector", "detector.onnx", {"image": [1, 3, 128, 128]}),
    ("transformer_encoder", "transformer_encoder.onnx", {"hidden_states": [2, 32, 64]}),
]
#: Models at least this slow (median latency, ms) must have rows that add up to the latency.
BIG_MS = SMALL_MODEL_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--profiled-iterations", type=int, default=10)
    args = parser.parse_args()
    low, high = ROWS_EXPLAIN_LATENCY

    print(
        f"{'model':<20} {'input':<14} {'latency ms':>10} {'profiled ms':>11} {'rows ms':>9} "
        f"{'rows/lat':>8} {'overhead':>8} {'basis':>14} {'before':>7} {'unmapped':>9}  verdict"
    )
    worst_big = None
    for label, file, shapes in CASES:
        path = str(MODELS / file)
        runs = []
        for _ in range(args.repeat):
            full = profile_onnxruntime(
                path,
                shapes=shapes,
                iterations=args.iterations,
                profiled_iterations=args.profiled_iterations,
            )
            basic = profile_onnxruntime(
                path,
                shapes=shapes,
                iterations=3,
                warmup=2,
                profiled_iterations=args.profiled_iterations,
                optimization="basic",
            )
            runs.append((full, basic.layer_sum_ms / full.latency_ms.median))
        med = {
            "latency": statistics.median(p.latency_ms.median for p, _ in runs),
            "profiled": statistics.median(p.profiled_run_ms for p, _ in runs),
            "rows": statistics.median(p.layer_sum_ms for p, _ in runs),
            "ratio": statistics.median(p.latency_ratio for p, _ in runs),
            "overhead": statistics.median(p.profiler_overhead for p, _ in runs),
            "before": statistics.median(b for _, b in runs),
        }
        bases = {p.row_basis for p, _ in runs}
        last = runs[-1][0]
        unmapped = f"{len(last.unmapped_rows)}r/{len(last.unmapped_onnx_nodes)}n"
        if med["latency"] >= BIG_MS:
            ok = low <= med["ratio"] <= high
            verdict = f"rows/latency in {low}-{high} {'ok' if ok else 'MISSED'}"
            worst_big = (
                med["ratio"] if worst_big is None else max(worst_big, med["ratio"], key=lambda r: abs(r - 1))
            )
        else:
            # Small: whatever the ratio, the profile must say which way to read the rows.
            said = all((p.row_basis == "shares") == (not low <= p.latency_ratio <= high) for p, _ in runs)
            verdict = f"small: says {'/'.join(sorted(bases))} {'ok' if said else 'MISSED'}"
        shape = "x".join(str(d) for d in next(iter(shapes.values())))
        print(
            f"{label:<20} {shape:<14} {med['latency']:>10.3f} {med['profiled']:>11.3f} {med['rows']:>9.3f} "
            f"{med['ratio']:>8.2f} {med['overhead']:>8.2f} {'/'.join(sorted(bases)):>14} {med['before']:>7.2f} "
            f"{unmapped:>9}  {verdict}"
        )
    if worst_big is not None:
        print(f"\nworst rows/latency on models >= {BIG_MS:.0f} ms: {worst_big:.2f} (target {low}-{high})")
    print(
        "rows/lat: per-node rows summed / median latency of the same session; overhead: profiled run / latency;\n"
        "before: basic-optimisation rows / optimised latency (the old profile); unmapped: rows from no ONNX node / "
        "ONNX nodes in no row"
    )


if __name__ == "__main__":
    main()
