"""Output metrics and tolerance checks against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.accuracy import output_metrics, top1_agreement
from workbench.compare import check_tolerances


def test_orthogonal_unit_vectors() -> None:
    m = output_metrics("y", np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert m.cosine == 0.0
    assert m.rel == pytest.approx(math.sqrt(2))  # |[-1, 1]| / |[1, 0]|
    assert m.max_abs == 1.0 and m.mean_abs == 1.0
    assert m.snr_db == pytest.approx(10 * math.log10(1 / 2))  # signal 1, noise 2


def test_scaled_copy_and_small_noise() -> None:
    ref = np.array([3.0, 4.0])
    m = output_metrics("y", ref, 2 * ref)
    assert m.cosine == pytest.approx(1.0)  # same direction
    assert m.rel == pytest.approx(1.0)  # |ref| / |ref|
    assert m.max_abs == 4.0 and m.mean_abs == 3.5
    assert m.snr_db == pytest.approx(0.0)  # noise equals signal
    m = output_metrics("y", np.array([10.0, 0.0]), np.array([10.0, 0.1]))
    assert m.snr_db == pytest.approx(10 * math.log10(100 / 0.01))  # 40 dB
    assert m.cosine == pytest.approx(10 / math.sqrt(100.01))


def test_identical_and_zero_outputs() -> None:
    m = output_metrics("y", np.zeros(3), np.zeros(3))
    assert (m.max_abs, m.mean_abs, m.rel, m.cosine, m.snr_db) == (0.0, 0.0, 0.0, 1.0, math.inf)
    m = output_metrics("y", np.zeros(2), np.array([0.0, 2.0]))
    assert m.cosine == 0.0 and m.rel == 2.0  # no reference norm: rel is the absolute error norm
    with pytest.raises(ValueError, match="shapes differ"):
        output_metrics("y", np.zeros(2), np.zeros(3))


def test_top1_agreement_by_hand() -> None:
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    got = np.array([[0.8, 0.2], [0.9, 0.1], [0.6, 0.4], [0.1, 0.9]])
    assert top1_agreement(ref, got) == 0.75  # sample 1 flips
    assert top1_agreement(np.zeros(4), np.zeros(4)) is None  # not N x classes


def test_check_tolerances_names_each_miss() -> None:
    outputs = [output_metrics("a", np.array([1.0, 0.0]), np.array([0.0, 1.0])), output_metrics("b", np.ones(2), np.ones(2))]
    failures = check_tolerances(outputs, 0.75, {"cosine": 0.99, "max_abs": 0.5, "top1": 0.9})
    assert failures == ["a: cosine 0 < 0.99", "a: max_abs 1 > 0.5", "top-1 agreement 0.750 < 0.9"]
    assert check_tolerances(outputs[1:], 1.0, {"cosine": 0.99, "max_abs": 0.5, "top1": 0.9, "snr_db": 30}) == []
    # A tolerance that cannot be computed is a miss, not a pass.
    assert check_tolerances(outputs[1:], None, {"top1": 0.9}) == [
        "top-1 agreement is not defined for these outputs (they are not N x classes scores)"
    ]
