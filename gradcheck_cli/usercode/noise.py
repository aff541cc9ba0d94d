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


def _differences():
    """The k-th differences of 9 values (k = 3..6) as one matrix, the first row of each k,
    and 1 / ((9 - k) C(2k, k)): a k's mean square over the noise's factor."""
    rows, starts, norm = [], [], []
    for k in ORDERS:
        starts.append(len(rows))
        rows += list(np.diff(np.eye(POINTS), n=k, axis=0))
        norm.append(1.0 / ((POINTS - k) * comb(2 * k, k)))
    return np.array(rows), np.array(starts), np.array(norm)[:, None]


_DIFFS, _STARTS, _NORM = _differences()


def points(slot, step) -> np.ndarray:
    """The 9 values of the slot, the point itself first, δ apart along a fixed random
    direction v (zero on elements that are not finite), shape (9, *shape); none where
    nothing can move. δ is a 64th of ``step(max |v|)``, finite differences' step."""
    finite = slot.finite.reshape(slot.shape)
    v = np.random.default_rng(7).standard_normal(slot.shape) * finite
    if not np.any(v):
        return np.zeros((0, *slot.shape))
    delta = step(float(np.max(np.abs(v)))) * 2.0 ** -6
    x = np.where(finite, slot.value, 0.0)
    ks = np.arange(POINTS, dtype=float).reshape((POINTS,) + (1,) * x.ndim)
    found = np.where(finite, x + ks * delta * v, slot.value)
    found[0] = slot.value
    return found


def level(values: np.ndarray) -> np.ndarray:
    """σ per output element from F at the 9 points, shape (9, M); 0 where F is NaN."""
    if np.isfinite(values).all():   # every difference in one product
        squares = np.add.reduceat((_DIFFS @ values) ** 2, _STARTS, axis=0) * _NORM
        return np.median(np.sqrt(squares), axis=0)
    levels = [np.sqrt(np.mean(np.diff(values, n=k, axis=0) ** 2, axis=0) / comb(2 * k, k))
              for k in ORDERS]
    return np.nan_to_num(np.median(levels, axis=0), nan=0.0)
