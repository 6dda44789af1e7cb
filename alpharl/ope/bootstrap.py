"""Nonparametric bootstrap confidence intervals, vectorised over resamples.

The resampled row indices are drawn as a ``(B, n)`` integer array and every estimate is
computed from it with numpy; resamples are processed in chunks only so that the index
array stays small (about `MAX_CHUNK_ELEMENTS` entries) for large datasets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alpharl.ope.checks import check_positive_int, is_real
from alpharl.schema import RecordError

MAX_CHUNK_ELEMENTS = 4_000_000
"""Upper bound on the entries of one ``(chunk, n)`` index array."""


def interval_keys(alpha: float) -> tuple[str, str]:
    """OBP's names of the lower and upper bound for level ``alpha``, e.g. ``95.0% CI (lower)``."""
    level = 100 * (1.0 - alpha)
    return f"{level}% CI (lower)", f"{level}% CI (upper)"


def check_bootstrap_args(alpha: float, n_bootstrap_samples: int) -> None:
    """Raise unless ``0 < alpha < 1`` and ``n_bootstrap_samples`` is an integer >= 1."""
    if not is_real(alpha) or not 0.0 < float(alpha) < 1.0:
        raise RecordError("alpha", alpha, "must be a number in (0, 1)")
    check_positive_int("n_bootstrap_samples", n_bootstrap_samples)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_rounds: int,
    alpha: float = 0.05,
    n_bootstrap_samples: int = 1000,
    random_state: int | None = None,
) -> dict[str, float]:
    """Percentile bootstrap interval of a statistic of ``n_rounds`` logged rounds.

    Follows OBP's ``estimate_confidence_interval_by_bootstrap`` (Efron and Tibshirani,
    "An Introduction to the Bootstrap", 1993): ``mean`` is the mean of the bootstrap
    estimates and the bounds are their ``alpha / 2`` and ``1 - alpha / 2`` percentiles.

    Args:
        statistic: Maps a ``(B, n_rounds)`` array of resampled row indices to the ``B``
            estimates, one per row. A replicate where the statistic is undefined may be NaN;
            such replicates are left out.
        n_rounds: Number of rounds resampled (with replacement) in each replicate.
        alpha: Significance level; the interval covers ``1 - alpha``.
        n_bootstrap_samples: Number of resamples ``B``.
        random_state: Seed of the resampling.

    Returns:
        ``{"mean": ..., "95.0% CI (lower)": ..., "95.0% CI (upper)": ...}`` (for alpha=0.05).
    """
    check_bootstrap_args(alpha, n_bootstrap_samples)
    rng = np.random.default_rng(random_state)
    chunk = max(1, MAX_CHUNK_ELEMENTS // max(n_rounds, 1))
    estimates = np.empty(n_bootstrap_samples, dtype=np.float64)
    for start in range(0, n_bootstrap_samples, chunk):
        stop = min(start + chunk, n_bootstrap_samples)
        idx = rng.integers(0, n_rounds, size=(stop - start, n_rounds))
        estimates[start:stop] = statistic(idx)
    estimates = estimates[~np.isnan(estimates)]
    if estimates.size == 0:
        raise ValueError("bootstrap: the statistic is undefined (NaN) on every resample")
    lower, upper = interval_keys(alpha)
    return {
        "mean": float(estimates.mean()),
        lower: float(np.percentile(estimates, 100 * (alpha / 2))),
        upper: float(np.percentile(estimates, 100 * (1.0 - alpha / 2))),
    }
