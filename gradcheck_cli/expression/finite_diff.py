"""Central finite differences with Richardson extrapolation and error estimates.

Step choice (float64, eps = 2.2e-16). A central difference with step h has
truncation error ~h^2 f''' and rounding error ~eps |f| / h; balancing them gives
h ~ eps^(1/3) (for second differences, h ~ eps^(1/4)). Steps scale with
max(1, |x|) so that x + h differs from x in enough bits, and are rounded so that
x + h - x == h exactly. Richardson extrapolation of the differences at h and h/2
cancels the h^2 term; the difference between the extrapolated and the plain
estimate is kept as a (conservative) error estimate, plus the rounding term
eps * E(f) * sum|weights|, where E(f) is the function's own rounding-error
scale (see codegen.error_scale_program), so cancellation inside f is counted.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from ..blocks import assemble
from .codegen import error_scale_program, evaluate, evaluate_block
from .functions import ENTIRE, breaks_of  # noqa: F401  (ENTIRE re-exported)
from ..columns import Derivatives, Method
from ..richardson import richardson

EPS = float(np.finfo(np.float64).eps)
STEP_FACTOR = {1: EPS ** (1 / 3), 2: EPS ** (1 / 4)}
MANTISSA = np.int64((1 << 52) - 1)

# Point classes from the one-sided analysis.
SMOOTH, KINK, ROUGH = 0, 1, 2


def step(x: np.ndarray, order: int) -> np.ndarray:
    """A step per point for derivatives of ``order``: a power of two near the optimum.

    A power of two makes x + k*h exact for k in (±1/2, ±1, ±2) (unless x + 2h
    crosses into the next binade), so the stencil's differences are not polluted
    by rounding of the abscissae -- an error of ulp(x)/h, 1e-11 at x = pi.
    """
    target = STEP_FACTOR[order] * np.maximum(1.0, np.abs(x))
    # The power of two at or below target: target's bits with the mantissa cleared
    # (target is positive and normal), exactly 2^floor(log2(target)).
    return (target.view(np.int64) & ~MANTISSA).view(np.float64)


def scale_values(problem, program, inexact: bool = False) -> np.ndarray:
    """|E| of each output of ``program`` at every point (see codegen.error_scale_program), cached.

    For the check's own function, E(f) comes with the derivatives' scales from
    one pass over the derivative program, which contains f's intermediates.
    """
    if program is problem.program:
        return combined_scales(problem, inexact)[0]
    key = ("scale values", id(program), inexact)
    if key not in problem.cache:
        with np.errstate(all="ignore"):
            problem.cache[key] = np.abs(evaluate(error_scale_program(program, inexact),
                                                 problem.column_list(), problem.npoints))
    return problem.cache[key]


def combined_scales(problem, inexact: bool = False):
    """(E(f) per output, {derivative key: E}) from one program, compiled once."""
    key = ("combined scales", inexact)
    if key not in problem.cache:
        from .symbolic import values_program
        both, keys = values_program(problem)  # the derivatives, then f
        with np.errstate(all="ignore"):
            values = np.abs(evaluate(error_scale_program(both, inexact),
                                     problem.column_list(), problem.npoints))
        rows = dict(zip(keys, values))
        problem.cache[key] = (np.array([rows[(i, ())] for i in range(problem.n_outputs)]),
                              {k: v for k, v in rows.items() if k[1]})
    return problem.cache[key]


class Stencil:
    """Evaluations of a program at points shifted along one variable.

    ``at(shifts)`` is the program's outputs (shape (outputs, points)) at
    x + k * h(var) for each ``var: k`` in ``shifts``, for the step of the given
    derivative order, cached; ``block(sl, shifts)`` the same at the points
    ``sl`` only, not cached (finite differences work block by block).
    """

    def __init__(self, problem, program, order: int = 1):
        self.problem, self.program, self.order = problem, program, order
        self._cache: dict = {}
        self.steps = {v: step(problem.columns[v], order) for v in problem.wrt}

    def _columns(self, key):
        cols = self.problem.columns
        return self.problem.column_list({v: _Shifted(cols[v], k, self.steps[v]) for v, k in key})

    def at(self, shifts: dict[str, float]) -> np.ndarray:
        key = tuple(sorted((v, k) for v, k in shifts.items() if k))
        if key not in self._cache:
            self._cache[key] = evaluate(self.program, self._columns(key), self.problem.npoints)
        return self._cache[key]

    def block(self, sl: slice, shifts: dict[str, float]) -> np.ndarray:
        key = tuple(sorted((v, k) for v, k in shifts.items() if k))
        if key in self._cache:
            return self._cache[key][:, sl]
        return evaluate_block(self.program, self._columns(key), sl)

    def scale(self) -> np.ndarray:
        """The rounding-error scale of f at the points, in units of eps: E(f) (see
        codegen.error_scale_program), or |f| if larger."""
        return np.maximum(scale_values(self.problem, self.program), np.abs(self.at({})))


class _Shifted:
    """A column moved by k steps, formed block by block as the program is evaluated."""

    ndim = 1

    def __init__(self, base: np.ndarray, k: float, h: np.ndarray):
        self.base, self.k, self.h = base, k, h

    def __getitem__(self, sl):
        return self.base[sl] + self.k * self.h[sl]


def _largest(*values):
    """max |f| over a stencil's values."""
    return functools.reduce(np.maximum, (np.abs(v) for v in values))


def first(st: Stencil, var: str):
    """d/d var by Richardson-extrapolated central differences.

    Returns:
        ``(value, error, Σ|weights|, off_edge)``; off_edge marks points whose
        stencil leaves the domain.
    """
    h = st.steps[var]
    shifts = [{var: s} for s in (0.5, -0.5, 1, -1)]

    def block(sl):
        up_half, down_half, up, down = (st.block(sl, s) for s in shifts)
        value, truncation, weights = richardson(up_half, down_half, up, down, h[sl])
        # f at the point itself lies between its neighbours: they bound |f| well enough.
        size = _largest(up_half, down_half, up, down)
        return value, truncation + EPS * size * weights, _off_edge(st, sl, value)

    value, error, off_edge = assemble(block, st.problem.npoints)
    return value, error, 3 / h, off_edge


def second(st: Stencil, a: str, b: str):
    """d2 / da db: second differences (a == b) or the four-point stencil, extrapolated."""
    if a == b:
        h = st.steps[a]
        shifts = [{a: s} for s in (0.5, -0.5, 1, -1)]
        weights = 4 / h ** 2 * (16 / 3 + 4 / 12)

        def diff2(f0, up, down, k, h):
            return (up - 2 * f0 + down) / (k * h) ** 2

        def pointwise(f0, up_half, down_half, up, down, h, weights):
            small, large = diff2(f0, up_half, down_half, 0.5, h), diff2(f0, up, down, 1, h)
            value = (4 * small - large) / 3
            size = _largest(f0, up_half, down_half, up, down)
            return (value, np.abs(value - small) + EPS * size * weights,
                    _off_edge(st, None, value, f0))
        extra = (h, weights)
    else:
        ha, hb = st.steps[a], st.steps[b]
        shifts = [{a: s * k, b: t * k} for k in (0.5, 1) for s, t in
                  ((1, 1), (1, -1), (-1, 1), (-1, -1))]
        weights = (16 / 3 + 1 / 3) / (ha * hb)

        def diff2(pp, pm, mp, mm, k, ha, hb):
            return (pp - pm - mp + mm) / (4 * k * k * ha * hb)

        def pointwise(f0, *rest):
            around, (ha, hb, weights) = rest[:8], rest[8:]
            small = diff2(*around[:4], 0.5, ha, hb)
            large = diff2(*around[4:], 1, ha, hb)
            value = (4 * small - large) / 3
            return (value, np.abs(value - small) + EPS * _largest(f0, *around) * weights,
                    _off_edge(st, None, value, f0))
        extra = (ha, hb, weights)
    value, error, off_edge = _over_stencil(st, shifts, pointwise, *extra)
    return value, error, weights, off_edge


def _off_edge(st: Stencil, sl: slice, value: np.ndarray, f0: np.ndarray | None = None):
    """Points of the block ``sl`` whose stencil reaches past a domain edge (log(x - 1)
    just above 1): they say nothing about the derivative, and are skipped -- unless
    f itself is not finite at the point: then float64 evaluation is broken, and
    finite differences fail "non-finite" there. f is evaluated only where needed."""
    off = ~np.isfinite(value)
    if f0 is not None:
        return off & np.isfinite(f0)
    columns = np.flatnonzero(off.any(axis=0))
    if columns.size:
        f0 = evaluate_block(st.program, st.problem.column_list(), sl.start + columns)
        off[:, columns] &= np.isfinite(f0)
    return off


def _over_stencil(st: Stencil, shifts, pointwise, *extra):
    """``pointwise(f0, *values at the shifts, *extra)``, block by block over the points.

    The shifted evaluations live one block at a time: a 10^6-point check never
    holds its stencil's values as whole arrays.
    """
    def block(sl):
        values = [st.block(sl, {})] + [st.block(sl, s) for s in shifts]
        return pointwise(*values, *(e[..., sl] if np.ndim(e) else e for e in extra))
    return assemble(block, st.problem.npoints)


def is_smooth(program) -> bool:
    """Smooth at every real point: sums, products, non-negative integer powers and ENTIRE
    functions only, so no break quantity (see functions.BREAKS).

    Only then can the one-sided analysis be skipped. "No abs or relu" is not
    enough: a pole (1/x, tan), a cusp (cbrt at 0), a singularity with finite
    values on both sides (log(x**2) at 0) or a branch cut (atan2 across the
    negative x axis) sits between two finite values of f, so a central stencil
    that straddles it gives nonsense without ever seeing a NaN.
    """
    return breaks_of(program) == []


def _break_stencil(problem, order: int) -> Stencil | None:
    """A stencil of f's break quantities (functions.breaks_of), None if f has a node of
    unknown kind. Derivatives of f are analytic wherever f is: its breaks serve every order."""
    key = ("break stencil", order)
    if key not in problem.cache:
        quantities = breaks_of(problem.program)
        problem.cache[key] = None if quantities is None else \
            Stencil(problem, problem.program.pruned(quantities), order)
    return problem.cache[key]


# Not merely no break within the stencil: near a pole f's derivatives grow like 1/d^k with
# the distance d, and Richardson's error estimate holds only while its h^4 term is small
# beside its h^2 term. Half-way to a pole it is not (sin(tan(1.11*y)) at y = 53820, h = 1/4:
# FD off by 4 times its estimate); a tenth of the way, (h/d)^2 < 1e-2. (No clearance tames
# sin(tan(u)) right at a pole: there, as for any f faster than its step, FD is on its own.)
CLEARANCE = 0.1

# Where each stencil reaches, in steps of its order: the one-sided differences (x .. x ± 2h)
# for first derivatives, the second differences (x ± h/2, x ± h) for second derivatives.
_REACH = {1: (0.5, -0.5, 1, -1, 2, -2), 2: (0.5, -0.5, 1, -1)}


def _break_margin(problem, var: str, order: int) -> np.ndarray | None:
    """max over f's break quantities u of max_k |u(x + k h) - u(x)| / |u(x)|, k over the
    stencil's reach along ``var`` (inf where u(x) is 0 or not finite); cached."""
    key = ("break margin", var, order)
    if key not in problem.cache:
        qst = _break_stencil(problem, order)
        if qst is None or not qst.program.outputs:
            problem.cache[key] = None if qst is None else np.zeros(problem.npoints)
            return problem.cache[key]
        # A network has a quantity per relu: hold (quantities, points) arrays of ~2^20 values.
        chunk = max(256, (1 << 20) // len(qst.program.outputs))

        def block(sl):
            margin = np.empty(sl.stop - sl.start)
            for start in range(sl.start, sl.stop, chunk):
                part = slice(start, min(start + chunk, sl.stop))
                u0 = qst.block(part, {})
                spread = np.zeros_like(u0)
                for k in _REACH[order]:
                    spread = np.fmax(spread, np.abs(qst.block(part, {var: k}) - u0))
                ratio = np.where(np.isfinite(u0) & (u0 != 0), spread / np.abs(u0), np.inf)
                margin[start - sl.start:part.stop - sl.start] = ratio.max(axis=0)
            return margin
        problem.cache[key] = assemble(block, problem.npoints)
    return problem.cache[key]


def clear_of_breaks(problem, var: str, order: int = 1) -> np.ndarray | None:
    """Points where finite differences of ``order`` along ``var`` (and the one-sided
    analysis) evaluate f only where it is analytic: no kink, jump, pole or edge in reach.

    Every break quantity u must stay further from 0 than ten times it moves over the
    stencil (CLEARANCE), so it cannot reach 0 in between unless it turns back within h/2.
    A mixed partial's stencil moves along two variables at once: its margin is the sum of
    the two (to first order), and the analysis along ``var`` serves d2/da dvar for every
    a before it in ``wrt``. None where f has a node of unknown kind.
    """
    margin = _break_margin(problem, var, order)
    if margin is None:
        return None
    if order == 2:
        wrt = list(problem.wrt)
        others = [_break_margin(problem, a, 2) for a in wrt[:wrt.index(var)]]
        margin = margin + functools.reduce(np.fmax, others, np.zeros_like(margin))
    return margin < CLEARANCE


def one_sided(st: Stencil, var: str):
    """Classify each point along ``var`` as smooth, a kink, or rough, from one-sided differences.

    Second-order one-sided differences R(s) (points x, x+s, x+2s) and L(s) agree
    to O(s^3) where f is smooth, so a disagreement that is stable between
    s = h and s = h/2 is a kink at the point (relu or abs at 0): the derivative
    does not exist and any value between L and R is a subgradient. A side whose
    estimate changes between the two steps has a kink or jump within 2h: the
    central stencil straddles it, so finite differences are not trusted there.

    Differences alone cannot tell a kink near x from truncation, R(s) = f' - s^2 f'''/3 +
    O(s^3), where h ~ eps^(1/3) max(1, |x|) is large beside f's own length scale: sin(x) at
    x = 3000 (h = 1/64: R moves by 1e-5 from h to h/2), sin(50 x), x**2 at x = 1e-12 (R
    moves by 1e-11, f' is 2e-12). So a point whose stencils keep clear of every break
    (:func:`clear_of_breaks`) is smooth by construction; the differences decide near one.

    Returns:
        ``(kind, left, right)``, each of shape (outputs, points).
    """
    h = st.steps[var]
    f0 = st.at({})

    def right(s):
        return (-3 * f0 + 4 * st.at({var: s}) - st.at({var: 2 * s})) / (2 * s * h)

    def left(s):
        return (3 * f0 - 4 * st.at({var: -s}) + st.at({var: -2 * s})) / (2 * s * h)

    r_half, l_half = right(0.5), left(0.5)
    # The analysis of order k - 1 serves derivatives of order k: first derivatives here, or
    # second ones, whose stencil reaches h2 = eps^(1/4) max(1, |x|), ~20 times further
    # than these differences (2h): a break seen by neither is still in its reach.
    order = 1 if st.program is st.problem.program else 2
    clear = clear_of_breaks(st.problem, var, order)
    kind = np.full(f0.shape, SMOOTH)
    if clear is None or not clear.all():  # else nothing to find, nor E(f) to compile
        kind = _from_differences(st, h, f0, r_half, right(1), l_half, left(1))
        if clear is not None:
            if order == 2:
                kind[(kind == SMOOTH) & ~clear] = ROUGH
            kind[:, clear] = SMOOTH
    # A stencil point beyond a domain edge makes the stencil unusable -- unless f itself is
    # not finite at the point: then float64 evaluation is broken and FD fails "non-finite".
    kind[~np.isfinite(r_half + l_half) & np.isfinite(f0)] = ROUGH
    return kind, l_half, r_half


def _from_differences(st: Stencil, h, f0, r_half, r_full, l_half, l_full) -> np.ndarray:
    """The classes from the one-sided differences alone (see :func:`one_sided`)."""
    noise = 64 * EPS * st.scale() / h
    with np.errstate(all="ignore"):
        typical = np.nanmedian(np.abs(r_half), axis=1, keepdims=True)
    typical = np.nan_to_num(typical) + np.nan_to_num(np.nanmedian(st.scale(), axis=1,
                                                                  keepdims=True)) * EPS
    size = np.abs(r_half) + np.abs(l_half) + typical
    unstable_r = np.abs(r_full - r_half) > noise + 1e-6 * size
    unstable_l = np.abs(l_full - l_half) > noise + 1e-6 * size
    j_half, j_full = r_half - l_half, r_full - l_full
    jump = np.abs(j_half) > noise + 1e-8 * size
    # A kink's jump in slope is the same at both steps; for a smooth f, R - L = O(s^3).
    steady = np.abs(j_full - j_half) <= 0.1 * np.abs(j_half) + noise
    kind = np.full(f0.shape, SMOOTH)
    kind[jump & steady] = KINK
    kind[((jump & ~steady) | unstable_r | unstable_l) & np.isfinite(r_half + l_half)] = ROUGH
    return kind


class FiniteDifferences(Method):
    """Central differences, Richardson-extrapolated, with an error estimate per value."""

    name = "fd"
    label = "finite diff"
    max_order = 2

    def compute(self, problem) -> Derivatives:
        start = time.perf_counter()
        result = Derivatives(unavailable=self.unavailable_keys(problem),
                             info={"step": "eps^(1/3)·max(1,|x|) (order 1), "
                                           "eps^(1/4)·max(1,|x|) (order 2), Richardson h, h/2"})
        with np.errstate(all="ignore"):
            st1 = Stencil(problem, problem.program, 1)
            st2 = Stencil(problem, problem.program, 2) if problem.order >= 2 else None
            for key in problem.keys(min(problem.order, self.max_order)):
                out, idx = key
                if out:  # all outputs come at once with output 0
                    continue
                if len(idx) == 1:
                    value, error, weights, off_edge = first(st1, idx[0])
                else:
                    value, error, weights, off_edge = second(st2, *idx)
                for o in range(problem.n_outputs):
                    result.values[(o, idx)] = value[o]
                    result.errors[(o, idx)] = error[o]
                    result.skip[(o, idx)] = off_edge[o]
                    # The rounding term for cancellation inside f, eps * E(f) * weights, is
                    # added by the comparison, and only where the value would otherwise fail.
                    result.rounding[(o, idx)] = weights
        result.seconds = time.perf_counter() - start
        return result
