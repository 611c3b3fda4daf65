"""Output accuracy metrics: how far a candidate's outputs are from the reference's.

The names are the public JSON contract (``max_abs``, ``mean_abs``, ``rel``, ``cosine``,
``snr_db``); the calibrator comparison uses them now, the precision comparison builds on
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.serialize import JsonRecord


@dataclass
class OutputMetrics(JsonRecord):
    name: str
    max_abs: float
    mean_abs: float
    #: ||candidate - reference|| / ||reference|| (L2, over the whole tensor).
    rel: float
    cosine: float
    snr_db: float


def output_metrics(name: str, reference: np.ndarray, candidate: np.ndarray) -> OutputMetrics:
    ref = np.asarray(reference, dtype=np.float64).ravel()
    got = np.asarray(candidate, dtype=np.float64).ravel()
    if ref.shape != got.shape:
        raise ValueError(f"output {name!r}: shapes differ ({reference.shape} vs {candidate.shape})")
    diff = got - ref
    ref_norm = float(np.linalg.norm(ref))
    got_norm = float(np.linalg.norm(got))
    noise = float(np.sum(diff * diff))
    signal = float(np.sum(ref * ref))
    if ref_norm == 0 and got_norm == 0:
        cosine = 1.0
    elif ref_norm == 0 or got_norm == 0:
        cosine = 0.0
    else:
        cosine = float(np.dot(ref, got) / (ref_norm * got_norm))
    return OutputMetrics(
        name=name,
        max_abs=float(np.max(np.abs(diff))) if diff.size else 0.0,
        mean_abs=float(np.mean(np.abs(diff))) if diff.size else 0.0,
        rel=float(np.linalg.norm(diff) / ref_norm) if ref_norm > 0 else float(np.linalg.norm(diff)),
        cosine=cosine,
        snr_db=float(10 * np.log10(signal / noise)) if noise > 0 and signal > 0 else float("inf"),
    )


def run_onnxruntime(model_path: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs by name from ONNX Runtime on the CPU (the FP32 reference; it also runs INT8 Q/DQ)."""
    from workbench.ort_cpu import run_cpu

    return run_cpu(model_path, feeds)


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float | None:
    """Share of samples whose argmax class agrees, for classifier-like outputs (N x classes)."""
    if reference.ndim != 2 or reference.shape[1] < 2:
        return None
    return float(np.mean(np.argmax(reference, axis=1) == np.argmax(candidate, axis=1)))
