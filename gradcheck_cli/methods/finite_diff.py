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

import time

import numpy as np
import sympy as sp

from ..codegen import Program, error_scale_program, evaluate
from ..functions import relu
from . import Derivatives, Method

EPS = float(np.finfo(np.float64).eps)
STEP_FACTOR = {1: EPS ** (1 / 3), 2: EPS ** (1 / 4)}

# Point classes from the one-sided analysis.
SMOOTH, KINK, ROUGH = 0, 1, 2


def step(x: np.ndarray, order: int) -> np.ndarray:
    """A step per point for derivatives of ``order``: a power of two near the optimum.

    A power of two makes x + k*h exact for k in (±1/2, ±1, ±2) (unless x + 2h
    crosses into the next binade), so the stencil's differences are not polluted
    by rounding of the abscissae -- an error of ulp(x)/h, 1e-11 at x = pi.
    """
    target = STEP_FACTOR[order] * np.maximum(1.0, np.abs(x))
    return np.exp2(np.floor(np.log2(target)))


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
        from .symbolic import derivative_program
        dprog, dkeys = derivative_program(problem)
        both = Program(dprog.variables, dprog.lets,
                       tuple(dprog.outputs) + tuple(problem.program.outputs))
        with np.errstate(all="ignore"):
            values = np.abs(evaluate(error_scale_program(both, inexact),
                                     problem.column_list(), problem.npoints))
        m = problem.n_outputs
        problem.cache[key] = (values[len(dkeys):len(dkeys) + m],
                              {k: values[i] for i, k in enumerate(dkeys)})
    return problem.cache[key]


class Stencil:
    """Evaluations of a program at points shifted along one variable, cached.

    ``at(var, k)`` is the program's outputs (shape (outputs, points)) at
    x + k * h(var), for the step of the given derivative order.
    """

    def __init__(self, problem, program, order: int = 1):
        self.problem, self.program, self.order = problem, program, order
        self._cache: dict = {}
        self.steps = {v: step(problem.columns[v], order) for v in problem.wrt}

    def at(self, shifts: dict[str, float]) -> np.ndarray:
        key = tuple(sorted((v, k) for v, k in shifts.items() if k))
        if key not in self._cache:
            cols = self.problem.columns
            moved = {v: cols[v] + k * self.steps[v] for v, k in key}
            self._cache[key] = evaluate(self.program, self.problem.column_list(moved),
                                        self.problem.npoints)
        return self._cache[key]

    def scale(self, var: str | None = None, shifts=(), other: str | None = None) -> np.ndarray:
        """The rounding-error scale of f over a stencil, in units of eps.

        E(f) at the point (see codegen.error_scale_program), or |f| at any
        stencil point along ``var`` (and ``other``) if larger: f may vanish at
        the point itself (exp(x) sin(xy) at x = 0) but not around it.
        """
        return np.maximum(scale_values(self.problem, self.program),
                          self.size(var, shifts, other))

    def size(self, var: str | None = None, shifts=(), other: str | None = None) -> np.ndarray:
        """max |f| over the point and its stencil along ``var`` (and ``other``)."""
        scale = np.abs(self.at({}))
        for k in shifts:
            for s in (k, -k):
                if other is None or other == var:
                    scale = np.maximum(scale, np.abs(self.at({var: s})))
                else:
                    for t in (k, -k):
                        scale = np.maximum(scale, np.abs(self.at({var: s, other: t})))
        return scale


def richardson(up_half, down_half, up, down, h):
    """Central differences at h/2 and h, extrapolated: (value, truncation error, Σ|weights|).

    D(s) = (f(x+s) - f(x-s)) / 2s has error c s² + O(s⁴), so (4 D(h/2) - D(h)) / 3
    cancels the s² term; |value - D(h/2)| bounds what remains (conservatively).
    """
    d_half = (up_half - down_half) / h                               # D(h/2)
    d_full = (up - down) / (2 * h)                                   # D(h)
    value = (4 * d_half - d_full) / 3
    return value, np.abs(value - d_half), 3 / h


def first(st: Stencil, var: str):
    """d/d var by Richardson-extrapolated central differences: (value, error, Σ|weights|)."""
    value, truncation, weights = richardson(st.at({var: 0.5}), st.at({var: -0.5}),
                                            st.at({var: 1}), st.at({var: -1}), st.steps[var])
    return value, truncation + EPS * st.size(var, (0.5, 1)) * weights, weights


def second(st: Stencil, a: str, b: str):
    """d2 / da db: second differences (a == b) or the four-point stencil, extrapolated."""
    if a == b:
        h = st.steps[a]
        f0 = st.at({})

        def diff2(k):
            return (st.at({a: k}) - 2 * f0 + st.at({a: -k})) / (k * h) ** 2
        weights = 4 / h ** 2 * (16 / 3 + 4 / 12)
    else:
        ha, hb = st.steps[a], st.steps[b]

        def diff2(k):
            return (st.at({a: k, b: k}) - st.at({a: k, b: -k}) - st.at({a: -k, b: k})
                    + st.at({a: -k, b: -k})) / (4 * k * k * ha * hb)
        weights = (16 / 3 + 1 / 3) / (ha * hb)
    small, large = diff2(0.5), diff2(1)
    value = (4 * small - large) / 3
    return value, np.abs(value - small) + EPS * st.size(a, (0.5, 1), b) * weights, weights


PIECEWISE = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min, relu)


def is_smooth(program) -> bool:
    """No piecewise node (abs, sign, relu, max, min): smooth wherever it is defined."""
    exprs = [e for _, e in program.lets] + list(program.outputs)
    return not any(e.has(*PIECEWISE) for e in exprs)


def edges_only(st: Stencil, var: str):
    """The analysis for a smooth f: only stencils that leave the domain are rough."""
    f0 = st.at({})
    stencil = st.at({var: 0.5}) + st.at({var: -0.5}) + st.at({var: 1}) + st.at({var: -1})
    kind = np.where(~np.isfinite(stencil) & np.isfinite(f0), ROUGH, SMOOTH)
    return kind, f0, f0


def one_sided(st: Stencil, var: str):
    """Classify each point along ``var`` as smooth, a kink, or rough, from one-sided differences.

    Second-order one-sided differences R(s) (points x, x+s, x+2s) and L(s) agree
    to O(s^3) where f is smooth, so a disagreement that is stable between
    s = h and s = h/2 is a kink at the point (relu or abs at 0): the derivative
    does not exist and any value between L and R is a subgradient. A side whose
    estimate changes between the two steps has a kink or jump within 2h: the
    central stencil straddles it, so finite differences are not trusted there.

    Returns:
        ``(kind, left, right)``, each of shape (outputs, points).
    """
    h = st.steps[var]
    f0 = st.at({})

    def right(s):
        return (-3 * f0 + 4 * st.at({var: s}) - st.at({var: 2 * s})) / (2 * s * h)

    def left(s):
        return (3 * f0 - 4 * st.at({var: -s}) + st.at({var: -2 * s})) / (2 * s * h)

    r_half, r_full, l_half, l_full = right(0.5), right(1), left(0.5), left(1)
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
    # A stencil point beyond a domain edge makes the stencil unusable -- unless f itself is
    # not finite at the point: then float64 evaluation is broken and FD fails "non-finite".
    off_edge = ~np.isfinite(r_half + l_half) & np.isfinite(f0)
    kind[((jump & ~steady) | unstable_r | unstable_l) & np.isfinite(r_half + l_half)] = ROUGH
    kind[off_edge] = ROUGH
    return kind, l_half, r_half


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
                    value, error, weights = first(st1, idx[0])
                else:
                    value, error, weights = second(st2, *idx)
                # A stencil reaching past a domain edge (log(x - 1) just above 1) says
                # nothing about the derivative: skip those points, unless f itself is not
                # finite there -- then float64 evaluation is broken and FD fails "non-finite".
                f0 = st1.at({})
                off_edge = ~np.isfinite(value) & np.isfinite(f0)
                for o in range(problem.n_outputs):
                    result.values[(o, idx)] = value[o]
                    result.errors[(o, idx)] = error[o]
                    result.skip[(o, idx)] = off_edge[o]
                    # The rounding term for cancellation inside f, eps * E(f) * weights, is
                    # added by the comparison, and only where the value would otherwise fail.
                    result.rounding[(o, idx)] = weights
        problem.cache["stencil1"] = st1
        result.seconds = time.perf_counter() - start
        return result
