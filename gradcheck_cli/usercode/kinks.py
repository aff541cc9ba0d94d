"""Kinks and jumps in code, found where a value would otherwise fail.

A central difference across a kink (relu, abs at 0) or a jump (floor division,
fmod, a comparison) says nothing about the derivative at the point: it is the
finite differences that are wrong there, not the code. Code has no expression
to say where its breaks are, so they are looked for the way the expression
target looks for them near a break: second-order one-sided differences R(s)
(x, x+s, x+2s) and L(s), at s = h, h/2 and h/4, along the failing element only.

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


def one_sided(fn, slot, element):
    """One-sided differences along one element of a slot (or along a direction, an array
    of the slot's shape), at s = h/4, h/2, h: ``(R, L, noise)``, R and L of shape
    (3, outputs), finest first."""
    x = slot.value.astype(float)
    h = fn.step(slot)
    if np.ndim(element) == 0:
        unit = np.zeros(slot.size)
        unit[element] = 1.0
    else:
        unit = np.asarray(element, dtype=float).ravel()
    unit = unit.reshape(x.shape)

    def at(k):
        return fn({slot.name: x + k * h * unit})
    f = {k: at(k) for k in (0.0, 0.25, 0.5, 1.0, 2.0, -0.25, -0.5, -1.0, -2.0)}

    def right(s):
        return (-3 * f[0.0] + 4 * f[s] - f[2 * s]) / (2 * s * h)

    def left(s):
        return (3 * f[0.0] - 4 * f[-s] + f[-2 * s]) / (2 * s * h)
    size = np.maximum.reduce([np.abs(v) for v in f.values()])
    noise = CODE_F_ULPS * DTYPES[fn.fd_dtype].eps * size / (h / 4)
    steps = (0.25, 0.5, 1.0)
    return np.array([right(s) for s in steps]), np.array([left(s) for s in steps]), noise


def _side(d, noise, size):
    """One side's derivative extrapolated (its error O(s²) removed), the error left, and
    whether it converges as a smooth function's does: halving s quarters the change
    (a break inside the stencil does not)."""
    fine, mid, coarse = d
    change_fine, change_coarse = np.abs(fine - mid), np.abs(mid - coarse)
    converging = (change_coarse <= noise + 1e-6 * size) | \
        (change_fine <= 0.5 * change_coarse + noise)
    return fine + (fine - mid) / 3, mid + (mid - coarse) / 3, change_fine / 3 + noise, converging


def classify(fn, slot, rows: np.ndarray, element: int):
    """(kind, lower, upper) for the given output rows along one input element.

    A smooth function's one-sided differences converge (their change quarters with the
    step) to one value from both sides, within their Richardson error; a kink's converge
    to two values, steadily apart; anything else is a break inside the stencil."""
    right, left, noise = one_sided(fn, slot, element)
    right, left, noise = right[:, rows], left[:, rows], noise[rows]
    size = np.abs(right[0]) + np.abs(left[0])
    r, r_coarse, r_err, r_ok = _side(right, noise, size)
    l, l_coarse, l_err, l_ok = _side(left, noise, size)
    allowed = 4 * (r_err + l_err) + 1e-8 * size
    jump = np.abs(r - l) > allowed
    steady = np.abs((r_coarse - l_coarse) - (r - l)) <= 0.1 * np.abs(r - l) + allowed
    unstable = ~(r_ok & l_ok)
    kind = np.full(rows.shape, SMOOTH)
    kind[jump & steady & ~unstable] = KINK
    kind[(jump & ~steady) | unstable | ~np.isfinite(r + l)] = ROUGH
    return kind, np.minimum(l, r), np.maximum(l, r)


def refiner(fn, slot, columns: int | None = None, seen: dict | None = None,
            values: np.ndarray | None = None, rtol: float = 0.0):
    """For the judge (``Comparison.refine``): at flat indices of a (M, n) Jacobian of
    ``slot`` (``columns`` per row; None: a gradient of n values, summed over outputs),
    which values to exclude and where the function has a kink, with its interval.
    ``seen`` collects the elements: ``{"rough": [...], "kink": [...], "tie": [...]}``.

    ``values`` (the Jacobian being judged): where one output has a kink along two or
    more elements (a tie: max-pool, sort, a max reduction), each element alone may take
    any value between its one-sided derivatives, but moving them together the output
    is often smooth (max(a, a) moves with a), and then the values must add up to that
    rate: a backward pass that hands the whole gradient to every tied element (the
    classic max-pool bug) gives a sum of 2 where f moves at 1. Those elements are then
    judged as at a smooth point, and the tie is noted."""
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
        if values is not None and columns is not None:
            _ties(fn, slot, flat, kink, n, values, rtol, seen)
        return exclude, kink, lower, upper
    return refine


def _ties(fn, slot, flat, kink, n, values, rtol, seen) -> None:
    """Unmark the kinks of an output whose tied elements' values do not add up to the
    rate at which it moves with all of them (see :func:`refiner`)."""
    rows: dict[int, list[int]] = {}
    for i in np.flatnonzero(kink):
        rows.setdefault(int(flat[i]) // n, []).append(i)
    values = np.asarray(values, dtype=float).reshape(-1, n)
    for k, members in rows.items():
        if len(members) < 2:
            continue
        elements = [int(flat[i]) % n for i in members]
        v = np.zeros(slot.size)
        v[elements] = 1.0
        right, left, noise = one_sided(fn, slot, v)
        right, left, noise = right[:, k], left[:, k], float(noise[k])
        size = abs(right[0]) + abs(left[0])
        r, _, r_err, r_ok = _side(right, noise, size)
        l, _, l_err, l_ok = _side(left, noise, size)
        if not (r_ok and l_ok) or abs(r - l) > 4 * (r_err + l_err) + 1e-6 * size:
            continue   # kinked along the tie too: nothing more to say
        rate = 0.5 * (r + l)
        total = float(values[k, elements].sum())
        allowed = (rtol * float(np.abs(values[k, elements]).sum()) + 4 * (r_err + l_err)
                   + 1e-6 * size)
        if abs(total - rate) > allowed:
            kink[members] = False
            if seen is not None:
                names = ", ".join(slot.element(e) for e in elements)
                seen.setdefault("tie", []).append(
                    f"{names} → {fn.output_element(k)} are tied (a kink along each alone): "
                    f"moved together, the output changes at rate {rate:.6g}, but their "
                    f"derivatives add up to {total:.6g}")
