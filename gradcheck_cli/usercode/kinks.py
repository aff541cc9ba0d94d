"""Kinks and jumps in code, found where a value would otherwise fail.

A central difference across a kink (relu, abs at 0) or a jump (floor division,
fmod, a comparison) says nothing about the derivative at the point: it is the
finite differences that are wrong there, not the code. Code has no expression
to say where its breaks are, so they are looked for the way the expression
target looks for them near a break: second-order one-sided differences R(s)
(x, x+s, x+2s) and L(s), at s = h and s = h/2, along the failing element only.

* R and L each stable but different, their difference steady: a **kink** at the
  point -- any value between them passes (a subgradient);
* a side unstable, or the difference not steady: a break within 2h -- the
  stencil straddles it, and the value is **excluded** (with a note), not judged;
* otherwise the function is smooth there and the failure stands.

This runs only for the few values that fail without it, so a correct
function pays nothing, and a wrong gradient at a smooth point is never excused.
"""

from __future__ import annotations

import numpy as np

from ..tolerances import CODE_F_ULPS, DTYPES

SMOOTH, KINK, ROUGH = 0, 1, 2


def one_sided(fn, slot, element: int):
    """(R(h/2), R(h), L(h/2), L(h), f(x), noise) along one element of a slot: arrays over
    the outputs."""
    x = slot.value.astype(float)
    h = fn.step(slot)
    unit = np.zeros(slot.size)
    unit[element] = 1.0
    unit = unit.reshape(x.shape)

    def at(k):
        return fn({slot.name: x + k * h * unit})
    f = {k: at(k) for k in (0.0, 0.5, 1.0, 2.0, -0.5, -1.0, -2.0)}

    def right(s):
        return (-3 * f[0.0] + 4 * f[s] - f[2 * s]) / (2 * s * h)

    def left(s):
        return (3 * f[0.0] - 4 * f[-s] + f[-2 * s]) / (2 * s * h)
    size = np.maximum.reduce([np.abs(v) for v in f.values()])
    noise = CODE_F_ULPS * DTYPES[fn.fd_dtype].eps * size / h
    return right(0.5), right(1.0), left(0.5), left(1.0), noise


def classify(fn, slot, rows: np.ndarray, element: int):
    """(kind, lower, upper) for the given output rows along one input element."""
    r_half, r_full, l_half, l_full, noise = (v[rows] for v in one_sided(fn, slot, element))
    size = np.abs(r_half) + np.abs(l_half)
    unstable = (np.abs(r_full - r_half) > noise + 1e-6 * size) | \
        (np.abs(l_full - l_half) > noise + 1e-6 * size)
    j_half, j_full = r_half - l_half, r_full - l_full
    jump = np.abs(j_half) > noise + 1e-8 * size
    steady = np.abs(j_full - j_half) <= 0.1 * np.abs(j_half) + noise
    kind = np.full(rows.shape, SMOOTH)
    kind[jump & steady & ~unstable] = KINK
    kind[(jump & ~steady) | unstable | ~np.isfinite(r_half + l_half)] = ROUGH
    return kind, np.minimum(l_half, r_half), np.maximum(l_half, r_half)


def refiner(fn, slot, columns: int | None = None, seen: dict | None = None):
    """For the judge (``Comparison.refine``): at flat indices of a (M, n) Jacobian of
    ``slot`` (``columns`` per row; None: a gradient of n values, summed over outputs),
    which values to exclude and where the function has a kink, with its interval.
    ``seen`` collects the elements: ``{"rough": [...], "kink": [...]}``."""
    def refine(flat: np.ndarray):
        n = slot.size if columns is None else columns
        exclude = np.zeros(flat.size, dtype=bool)
        kink = np.zeros(flat.size, dtype=bool)
        lower, upper = np.zeros(flat.size), np.zeros(flat.size)
        cache = {}
        for i, index in enumerate(flat):
            k, j = divmod(int(index), max(1, n)) if columns is not None else (None, int(index))
            if j not in cache:
                cache[j] = classify(fn, slot, np.arange(fn.size), j)
            kind, lo, hi = cache[j]
            if k is None:  # a gradient of the sum of the outputs
                kinds, lo_k, hi_k = kind, lo.sum(), hi.sum()
                exclude[i] = bool(np.any(kinds == ROUGH))
                kink[i] = not exclude[i] and bool(np.any(kinds == KINK))
                lower[i], upper[i] = lo_k, hi_k
            else:
                exclude[i], kink[i] = kind[k] == ROUGH, kind[k] == KINK
                lower[i], upper[i] = lo[k], hi[k]
            if seen is not None and (exclude[i] or kink[i]):
                seen["rough" if exclude[i] else "kink"].append(slot.element(j))
        return exclude, kink, lower, upper
    return refine
