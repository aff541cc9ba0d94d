"""The one judge: values against a reference, elementwise, into a verdict.

Every column of every target comes here with a :class:`Comparison` -- the
column's values, the reference, and the parts of the tolerance from
:mod:`gradcheck_cli.tolerances` -- and leaves with a
:class:`~gradcheck_cli.results.Verdict`: pass or fail, how many values were
compared and how many are wrong, the worst one (where, both values, the
tolerance there) and the largest error.

Values are measured block by block (see :mod:`gradcheck_cli.blocks`), so a
10^6-point expression check never holds its temporaries whole. Allowances that
cost something to compute (an expression's rounding-error scale) are asked for
lazily, only at the "suspects" that fail without them -- on a correct function,
almost none.

The verdict kinds, the same for every target:

* a value within tolerance passes;
* at a *kink* (a point where the function has no derivative, only one-sided ones),
  any value within the interval between them passes (a subgradient);
* *excluded* values (outside the domain, a finite-difference stencil across a
  kink) are not compared, and are counted by the caller;
* a non-finite value where the reference is finite fails as ``non-finite``;
* nothing compared at all: ``n/a`` (the check is then *skipped*).

A zero tolerance is exact: any difference fails (it never divides by zero into a pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .blocks import map_blocks
from .results import Verdict
from .tolerances import FD_SAFETY


@dataclass
class Comparison:
    """One column on one row: what the judge needs.

    Attributes:
        values: the column's values, any shape broadcastable to ``reference``'s.
        reference: the reference values (flat).
        rtol, atol: from the tolerance table, with the user's overrides.
        err: a finite-difference error estimate per value (of the value or of the
            reference), allowed ``FD_SAFETY`` times.
        scale: the rounding allowance per value, already multiplied by ulps·eps.
        floor: an absolute allowance for the whole row (the dtype's resolution).
        use: which values to compare (False: excluded).
        kink: ``(at_kink, lower, upper)`` arrays: at kinks, the subgradient interval.
        lazy: ``indices -> allowance`` at those indices, added to suspects only.
        refine: ``indices -> (exclude, at_kink, lower, upper)`` at suspects only: a
            kink or jump found where a value fails (code: see usercode/kinks.py).
        conclusive: the largest allowance for the error estimate (FD_SAFETY err) that
            still decides: beyond it the reference is too noisy to tell a value right
            from wrong there. None: always conclusive.
        where: ``index -> text`` naming a value's place (a point, ``x[2, 1]``...).
    """

    values: np.ndarray
    reference: np.ndarray
    rtol: float = 0.0
    atol: float = 0.0
    err: np.ndarray | None = None
    scale: np.ndarray | None = None
    floor: float = 0.0
    use: np.ndarray | None = None
    kink: tuple | None = None
    lazy: Callable[[np.ndarray], np.ndarray] | None = None
    refine: Callable[[np.ndarray], tuple] | None = None
    conclusive: float | None = None
    where: Callable[[int], str] | None = None


def _flat(a, n: int, dtype=float):
    """An array of n values (flattened), or a scalar broadcast to n; None stays None."""
    if a is None:
        return None
    a = np.asarray(a, dtype=dtype)
    return a.reshape(-1) if a.size == n else np.broadcast_to(a, (n,))


def judge(name: str, c: Comparison) -> Verdict:
    """The verdict of column ``name`` on one row (see the module text)."""
    ref = np.asarray(c.reference, dtype=float).ravel()
    n = ref.size
    value = _flat(c.values, n)
    use = np.ones(n, dtype=bool) if c.use is None else _flat(c.use, n, bool)
    kink = (tuple(_flat(a, n, bool if i == 0 else float) for i, a in enumerate(c.kink))
            if c.kink is not None and np.any(c.kink[0]) else None)
    err, scale = _flat(c.err, n), _flat(c.scale, n)

    def measure(ix, extra=0.0):
        """(|value - ref|, tolerance, relative error (absolute near zero), near zero) at ix."""
        v, r = value[ix], ref[ix]
        size = np.abs(r)
        fixed = c.atol + c.floor + extra  # the tolerance's absolute part
        if err is not None:
            fixed = fixed + FD_SAFETY * err[ix]
        if scale is not None:
            fixed = fixed + scale[ix]
        dist = np.abs(v - r)
        if kink is not None:
            # At a kink, distance to the subgradient interval [lower, upper] replaces |value - ref|.
            at_kink, lo, hi = (a[ix] for a in kink)
            dist = np.where(at_kink, np.maximum(0.0, np.maximum(lo - v, v - hi)), dist)
            fixed = np.where(at_kink, fixed + 1e-6 * (hi - lo), fixed)
        tol = c.rtol * size + fixed
        near_zero = size <= fixed
        with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 is near zero, set below
            rel = np.divide(dist, size)
        rel = np.array(rel, dtype=float, ndmin=1)
        if np.any(near_zero):
            rel[near_zero] = np.broadcast_to(dist, rel.shape)[near_zero]
        return dist, tol, rel, near_zero

    whole = []   # one block holding every value: its measures, for at_value below

    def part(ix):
        """Measure the values ix (a block, or indices): (compared, suspects, best rel, where)."""
        dist, tol, rel, near_zero = measure(ix)
        if isinstance(ix, slice) and ix.start == 0 and ix.stop == n:
            whole[:] = [dist, tol, rel.copy(), near_zero]
        used = use[ix]
        good = dist <= tol
        suspects = np.flatnonzero(used > good)  # used and not within tolerance
        good &= used
        rel[~good] = -1.0  # where good, rel is finite (size 0 counts as near zero)
        j = int(np.argmax(rel))
        if isinstance(ix, slice):
            return int(np.count_nonzero(used)), suspects + ix.start, float(rel[j]), ix.start + j
        return int(np.count_nonzero(used)), ix[suspects], float(rel[j]), int(ix[j])

    used = int(np.count_nonzero(use))
    if used == 0:
        return Verdict(name, "n/a", reason="no value to compare")
    if used * 16 < n:  # few values (symbolic: the reference subset)
        parts = [part(np.flatnonzero(use))]
    else:
        parts = map_blocks(part, n)
    compared = sum(p[0] for p in parts)
    suspect = np.concatenate([p[1] for p in parts])
    measured = set(suspect.tolist()) if whole else None   # values still to measure again
    error, err_at = max((p[2], p[3]) for p in parts)
    excluded = 0
    if suspect.size and c.refine is not None:
        # a kink or jump where values fail: exclude them, or accept the subgradient interval
        out, at_kink, lo, hi = c.refine(suspect)
        use = use.copy()
        use[suspect[out]] = False
        excluded = int(np.count_nonzero(out))
        compared -= excluded
        if kink is None:
            kink = (np.zeros(n, dtype=bool), np.zeros(n), np.zeros(n))
        kink = tuple(np.array(a) for a in kink)
        kink[0][suspect], kink[1][suspect], kink[2][suspect] = at_kink & ~out, lo, hi
        suspect = suspect[~out]
        if compared == 0:
            return Verdict(name, "n/a", excluded=excluded,
                           reason="no value to compare: finite differences straddle a kink "
                                  "or jump at every one")

    def allowance(ix):
        return c.lazy(ix) if c.lazy is not None else 0.0

    failed, reason, worst, wrong = False, None, None, 0
    if suspect.size:
        dist, tol, rel, _ = measure(suspect, allowance(suspect))
        nonfinite = ~np.isfinite(value[suspect])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dist <= tol, 0.0, dist / np.where(tol > 0, tol, np.inf))
        # a zero tolerance is exact: any difference is infinitely far outside it
        ratio = np.where(tol > 0, ratio, np.where(dist > 0, np.inf, 0.0))
        ratio = np.where(nonfinite | np.isnan(dist), np.inf, ratio)
        rel = np.where(np.isfinite(rel), rel, -1.0)
        i = int(np.argmax(rel))
        if rel[i] > error:
            error, err_at = float(rel[i]), int(suspect[i])
        wrong = int(np.count_nonzero(ratio > 1.0))
        w = int(np.argmax(ratio))
        failed, worst = bool(ratio[w] > 1.0), int(suspect[w])
        if failed:
            at_kink = kink is not None and bool(kink[0][worst])
            reason = ("non-finite" if nonfinite[w] else
                      "outside the subgradient interval" if at_kink else "outside tolerance")
    if error < 0:  # no finite error anywhere: report the first compared value
        err_at = int(np.argmax(use))
    at = worst if failed else err_at

    def at_value(i):  # with the lazy allowance where it was needed (and computed)
        if measured is not None and i not in measured:
            return tuple(np.array(a[i], ndmin=1) for a in whole)
        ix = np.array([i])
        return measure(ix, allowance(ix) if i in suspect else 0.0)

    _, tol_at, _, _ = at_value(at)
    near_zero = at_value(err_at)[3]
    if not failed and c.conclusive is not None and err is not None:
        noisy = use & (FD_SAFETY * err > c.conclusive)
        if noisy.any():
            # noisy only where the value passes thanks to the noise: one that agrees with
            # finite differences within the tolerance's other parts (both exactly 0 where
            # f did not change by a bit) is decided without it
            ix = np.flatnonzero(noisy)
            dist, tol, _, _ = measure(ix)
            noisy = np.zeros(n, dtype=bool)
            noisy[ix[dist > tol - FD_SAFETY * err[ix]]] = True
        if noisy.any():
            # values within a tolerance made of noise were not checked: no pass, the figures
            worst = int(np.argmax(np.where(noisy, err, -1.0)))
            return Verdict(name, "inconclusive", compared=compared, excluded=excluded,
                           wrong=int(np.count_nonzero(noisy)),
                           error=float(error) if error >= 0 else None,
                           error_kind="abs" if near_zero[0] else "rel",
                           reason=f"finite differences too noisy to judge "
                                  f"{int(np.count_nonzero(noisy))} of {compared} values: their "
                                  f"error allowance {FD_SAFETY * err[worst]:.3g} exceeds what "
                                  f"can decide here ({c.conclusive:.3g}, a tenth of the "
                                  "largest value)",
                           location=c.where(worst) if c.where is not None else None)
    return Verdict(
        name, "fail" if failed else "pass", compared=compared, wrong=wrong, excluded=excluded,
        error=float(error) if error >= 0 else None,
        error_kind="abs" if near_zero[0] else "rel",
        worst=at, value=float(value[at]), reference=float(ref[at]),
        tolerance=float(tol_at[0]), reason=reason,
        location=c.where(at) if c.where is not None else None)


def failed(name: str, reason: str, *, compared: int = 0, location: str | None = None) -> Verdict:
    """A verdict that fails for a structural reason (no gradient, wrong shape...)."""
    return Verdict(name, "fail", compared=compared, wrong=compared, reason=reason,
                   location=location)


def not_applicable(name: str, reason: str) -> Verdict:
    """A column that could apply but did not run here, and why."""
    return Verdict(name, "n/a", reason=reason)
