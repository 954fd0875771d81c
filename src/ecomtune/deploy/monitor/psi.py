"""The population stability index: how far a current distribution has moved from a reference one.

    PSI = sum over bins of (current - reference) * ln(current / reference)      (proportions)

Rule of thumb (the defaults below): < 0.1 stable, 0.1-0.25 a moderate shift worth watching, > 0.25 drifted.
"""
from __future__ import annotations

import numpy as np

WARN = 0.1
DRIFT = 0.25
SMOOTHING = 0.5  # pseudo-count added to every bin that either side uses, so an empty bin never gives ln(0)


def smoothed(reference, current, smoothing: float = SMOOTHING) -> tuple[np.ndarray, np.ndarray]:
    """Proportions of both count vectors, with `smoothing` added to every bin that is non-empty on either side.

    Bins empty on both sides are left out: they carry no evidence either way, and smoothing them would add a
    spurious term whenever the two samples differ in size.
    """
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(f"psi: reference and current must be count vectors of one length, got {r.shape} and "
                         f"{c.shape}")
    if (r < 0).any() or (c < 0).any():
        raise ValueError("psi: counts must be >= 0")
    if smoothing < 0:
        raise ValueError(f"psi: smoothing must be >= 0, got {smoothing}")
    used = (r + c) > 0
    r, c = r[used] + smoothing, c[used] + smoothing
    if r.sum() == 0 or c.sum() == 0:
        return r, c
    return r / r.sum(), c / c.sum()


def psi(reference, current, smoothing: float = SMOOTHING) -> float:
    """PSI between two count vectors over the same bins (0 when either side has no rows)."""
    r, c = smoothed(reference, current, smoothing)
    if r.sum() == 0 or c.sum() == 0:
        return 0.0
    if smoothing == 0 and ((r == 0) | (c == 0)).any():
        return float("inf")  # a bin used by only one side, unsmoothed
    return float(np.sum((c - r) * np.log(c / r)))


def verdict(value: float, warn: float = WARN, drift: float = DRIFT) -> str:
    """'stable' below `warn`, 'moderate' up to `drift`, 'drifted' above it."""
    if value > drift:
        return "drifted"
    return "moderate" if value >= warn else "stable"
