"""How noisy the user's code is along an input: Moré and Wild's ECnoise, after Hamming.

F is evaluated at 9 points spaced δ apart along a random direction. The k-th
differences of a smooth F fall as δ^k; those of noise stay at σ·sqrt(C(2k, k)).
An iterative solver, a random op or a noisy kernel shows here; a deterministic F
shows its rounding. The level is σ per output element, the median over k = 3..6.
"""

from __future__ import annotations

from math import comb

import numpy as np

POINTS = 9
ORDERS = range(3, 7)


def points(slot, step) -> np.ndarray:
    """The 9 values of the slot, the point itself (up to the sign of zeros) first, δ apart along a fixed random
    direction v (zero on elements that are not finite), shape (9, *shape); none where
    nothing can move. δ is a 64th of ``step(max |v|)``, finite differences' step."""
    finite = slot.finite.reshape(slot.shape)
    v = np.random.default_rng(7).standard_normal(slot.shape) * finite
    if not np.any(v):
        return np.zeros((0, *slot.shape))
    delta = step(float(np.max(np.abs(v)))) * 2.0 ** -6
    x = np.where(finite, slot.value, 0.0)
    ks = np.arange(POINTS, dtype=float).reshape((POINTS,) + (1,) * x.ndim)
    return np.where(finite, x + ks * delta * v, slot.value)   # x + 0: -0.0 becomes +0.0


def level(values: np.ndarray) -> np.ndarray:
    """σ per output element from F at the 9 points, shape (9, M); 0 where F is NaN. The
    differences are taken one order at a time (neighbours subtracted: exact for close
    values, where a matrix of binomial weights would round)."""
    levels, d = [], values
    for k in range(1, ORDERS[-1] + 1):
        d = np.diff(d, axis=0)
        if k in ORDERS:
            levels.append(np.sqrt(np.mean(d ** 2, axis=0) / comb(2 * k, k)))
    return np.nan_to_num(np.median(levels, axis=0), nan=0.0)
