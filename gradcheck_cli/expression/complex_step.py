"""Complex-step differentiation: f'(x) = Im f(x + ih) / h, to rounding error.

For f real-analytic, f(x + ih) = f(x) + ih f'(x) - h² f''(x)/2 - ih³ f'''(x)/6 + ...,
so Im f(x + ih) / h = f'(x) - h² f'''(x)/6: no difference of nearby values is
taken, so nothing cancels, and with h = 2^-66 the h² term is far below
rounding. Its error is a few ulps of the terms, as for the engines: it is held
to the float64 row of the tolerance table (no ``stencil`` trait), and is an
independent reference where finite differences are noisy (f large beside f').

Independent of the engines, too: the derivative comes out of numpy's (and
SciPy's) complex elementary functions, not out of our table of local
derivatives. Only where numpy's complex function would lose the tiny imaginary
part, overflow, take another branch or not exist is one written here
(:data:`COMPLEX`), from identities of the analytic function, never from its
derivative.

Only for real-analytic f: abs, sign, relu, max and min have no complex
extension that agrees with them, and a check using one gets ``n/a`` with the
reason. Second derivatives: central differences, Richardson-extrapolated, of
the complex-step first derivative along the other variable (error estimate as
for finite differences, but no cancellation of f's own values).
"""

from __future__ import annotations

import math
import time

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p, log2, log10

from ..blocks import assemble
from ..columns import Derivatives, Method
from ..richardson import richardson
from . import finite_diff as fdm
from .codegen import scipy_special
from .functions import cbrt, relu, sigmoid, softplus
from .reverse import _plan  # the program's subexpressions in order, cached, shared

# The classic 1e-20, as a power of two (x + ih and Im / h are exact): the h² term is 1e-40
# of f'''/f', far below rounding. Not 1e-200: h times a small derivative must stay a
# normal number through every intermediate -- at 1e-200 it underflows below |f'| = 1e-108,
# already in sigmoid(-250); at 2^-66, below 1e-288.
H = 2.0 ** -66
TINY = float(np.finfo(np.float64).tiny)  # the smallest normal number, 2^-1022
EPS = float(np.finfo(np.float64).eps)

# Not real-analytic: a kink or a jump, where no complex extension agrees with f.
NOT_ANALYTIC = {sp.Abs: "abs", sp.sign: "sign", sp.Heaviside: "a step", relu: "relu",
                sp.Max: "max", sp.Min: "min"}


def _int_power(z, n: int):
    # Repeated squaring (exact as products go): numpy's complex power takes exp(n log z)
    # for |n| >= 100, which wipes out Im for a negative base (arg z = pi, times n).
    if n < 0:
        return 1.0 / _int_power(z, -n)
    result, base = np.ones_like(z), z
    while n:
        if n & 1:
            result = result * base
        base, n = base * base, n >> 1
    return result


def _power(base, exponent: sp.Expr, value):
    if exponent.is_Integer:
        return _int_power(base, int(exponent))
    if exponent.is_Rational and exponent.q == 2:  # sqrt(x)**p: sqrt is correctly rounded,
        return _int_power(np.sqrt(base), int(exponent.p))  # exp(p/2 log x) is not
    return np.power(base, value)


def _log1p(z):
    # numpy's complex log1p takes log|1 + z|, losing x where |x| is small; log|1 + z|² is
    # log1p(x (2 + x) + y²), exact there (and Im = arg(1 + z) as numpy has it).
    x, y = z.real, z.imag
    near = np.abs(x) < 0.5
    real = np.where(near, 0.5 * np.log1p(x * (2 + x) + y * y), np.log(np.abs(1 + z)))
    return real + 1j * np.arctan2(y, 1 + x)


def _sigmoid(z):
    # 1/(1 + e^-z) overflows (inf - inf j: NaN) where Re z << 0; e^z/(1 + e^z) where Re z >> 0
    negative = z.real < 0
    e = np.exp(np.where(negative, z, -z))
    return np.where(negative, e / (1 + e), 1 / (1 + e))


def _softplus(z):
    # log(1 + e^z) = z + log(1 + e^-z): exponentiate only the side that cannot overflow
    positive = z.real > 0
    return np.where(positive, z, 0) + _log1p(np.exp(np.where(positive, -z, z)))


def _cbrt(z):
    # The real cube root is analytic on each side of 0, but numpy's principal complex root
    # of a negative number is not it: cbrt(x + iy) = cbrt(x) (1 + iy/x)^(1/3), real branch.
    x = z.real
    return np.cbrt(x) * np.power(1 + 1j * (z.imag / np.where(x == 0, np.nan, x)), 1 / 3)


def _atan2(y, x):
    # numpy's arctan2 is real only. The half-angle forms 2 atan(y / (r + x)) (x > 0) and
    # 2 atan((r - x) / y) (x <= 0), r = sqrt(x² + y²), are analytic off the cut and do not
    # cancel on their side; r is scaled so that x² + y² cannot overflow.
    s = np.maximum(np.abs(x.real), np.abs(y.real))
    s = np.where(s > 0, s, 1.0)
    r = s * np.sqrt((x / s) ** 2 + (y / s) ** 2)
    right = x.real > 0
    with np.errstate(all="ignore"):
        return np.where(right, 2 * np.arctan(y / (r + x)), 2 * np.arctan((r - x) / y))


# SymPy function -> its extension to complex arrays. One line per function.
COMPLEX = {
    sp.exp: np.exp, sp.log: np.log, log1p: _log1p, expm1: np.expm1,
    log2: lambda z: np.log(z) / math.log(2.0), log10: lambda z: np.log(z) / math.log(10.0),
    sp.sin: np.sin, sp.cos: np.cos, sp.tan: np.tan,
    sp.asin: np.arcsin, sp.acos: np.arccos, sp.atan: np.arctan, sp.atan2: _atan2,
    sp.sinh: np.sinh, sp.cosh: np.cosh, sp.tanh: np.tanh,
    sp.asinh: np.arcsinh, sp.acosh: np.arccosh, sp.atanh: np.arctanh,
    sigmoid: _sigmoid, softplus: _softplus, cbrt: _cbrt,
    sp.erf: scipy_special("erf"),  # Faddeeva's complex erf: accurate for tiny Im
}


def not_analytic(program) -> str | None:
    """Why complex step cannot differentiate this program, or None if it can."""
    for _target, expr in _plan(program):
        if expr.func in NOT_ANALYTIC:
            return (f"complex step needs a real-analytic f; {NOT_ANALYTIC[expr.func]} is not "
                    "(a kink or a jump has no complex extension)")
        if not (expr.is_Atom or expr.is_Add or expr.is_Mul or expr.is_Pow
                or expr.func in COMPLEX):
            return f"complex step has no complex extension of {expr.func.__name__}"
    return None


def evaluate(program, columns: dict, var: str | None = None):
    """The program's outputs at complex points (``columns``: name -> complex array).

    Returns:
        ``(outputs, lost)``: ``lost`` marks the points where an intermediate that depends
        on ``var`` is so small (below 2^-1022 / h: exp(-700)) that its perturbation h f'
        underflowed: there Im f / h is not f' (log(sigmoid(x)) at x = -700 gives 0, not 1).
    """
    memo = {v: columns[v.name] for v in program.variables}
    moved = {v for v in program.variables if v.name == var}  # what depends on var
    lost = False
    for target, expr in _plan(program):
        if target is not expr:  # a let: its name stands for the expression's value
            memo[target] = memo[expr]
            if expr in moved:
                moved.add(target)
            continue
        if expr.is_Number or expr.is_NumberSymbol:
            memo[expr] = float(expr)
            continue
        if expr.is_Add:
            value = sum(memo[a] for a in expr.args)
        elif expr.is_Mul:
            value = math.prod(memo[a] for a in expr.args)
        elif expr.is_Pow:
            value = _power(memo[expr.base], expr.exp, memo[expr.exp])
        else:
            value = COMPLEX[expr.func](*(memo[a] for a in expr.args))
        memo[expr] = value
        if any(a in moved for a in expr.args):
            moved.add(expr)
            size = np.abs(value.real)
            lost = lost | ((np.abs(value.imag) < TINY) & (size > 0) & (size < TINY / H))
    return [np.asarray(memo[out]) for out in program.outputs], lost


def first(program, columns: dict, var: str, n: int, shift: tuple | None = None):
    """d f / d var at every point of ``columns`` (a block): ``(values, lost)``, the values
    of shape (outputs, points), ``lost`` as :func:`evaluate` has it.

    ``shift``: ``(other, amount)`` moves another variable (or var itself) along the real axis.
    """
    base = {k: c.astype(complex) for k, c in columns.items()}
    if shift is not None:
        base[shift[0]] = base[shift[0]] + shift[1]

    def at(h):
        cols = dict(base)
        cols[var] = cols[var] + 1j * h
        outputs, lost = evaluate(program, cols, var)
        # where f itself is not finite, float64 evaluation is broken: no derivative, not 0
        return np.array([np.broadcast_to(np.where(np.isfinite(v.real), v.imag / h, np.nan),
                                         (n,)) for v in outputs]), lost

    # Im f(x + ih)/h = f' - h² f'''/6 + O(h^4). The h² term is 1e-40 of f''' -- far below
    # rounding beside f', but not beside an exact zero (x**3 at 0 gives -h²). One
    # Richardson step, D(h) + (D(h) - D(2h))/3, removes it, and where the two agree to
    # the last bit (nearly always) leaves D(h) exactly as it was.
    small, lost1 = at(H)
    large, lost2 = at(2 * H)
    values = small + (small - large) / 3
    return values, np.broadcast_to(np.logical_or(lost1, lost2), (n,))


class ComplexStep(Method):
    """f'(x) = Im f(x + ih) / h for real-analytic f; order 2 by differences of it."""

    name = "complex-step"
    label = "complex step"
    max_order = 2

    def unavailable_keys(self, problem) -> dict:
        why = not_analytic(problem.program)
        if why:
            return {key: why for key in problem.keys()}
        return super().unavailable_keys(problem)

    def compute(self, problem) -> Derivatives:
        start = time.perf_counter()
        result = Derivatives(unavailable=self.unavailable_keys(problem),
                             info={"step": "h = 2^-66 and 2^-65, one Richardson step (order 1); order 2: Richardson "
                                           "differences of it, k = eps^(1/3)·max(1,|x|)"})
        if len(result.unavailable) == len(problem.keys()):
            return result
        program, wrt, cols = problem.program, problem.wrt, problem.columns

        def block(sl):  # one complex evaluation per variable gives every output
            part = {k: c[sl] for k, c in cols.items()}
            found = [first(program, part, w, sl.stop - sl.start) for w in wrt]
            return np.array([v for v, _ in found]), np.array([lost for _, lost in found])

        grads, lost = assemble(block, problem.npoints)  # (variables, outputs | -, points)
        for i, w in enumerate(wrt):
            for out in range(problem.n_outputs):
                result.values[(out, (w,))] = grads[i, out]
                result.skip[(out, (w,))] = lost[i]
        for key in problem.keys(min(problem.order, self.max_order)):
            out, idx = key
            if len(idx) == 2 and out == 0:  # all outputs come at once with output 0
                self._second(problem, result, *idx, grads[wrt.index(idx[0])])
        result.seconds = time.perf_counter() - start
        return result

    def _second(self, problem, result, a: str, b: str, grad_a) -> None:
        """d/db of the complex-step d/da: Richardson central differences with step k, k/2
        along b, with their error estimate. Skipped where the stencil leaves the domain or
        nears a break of f (as finite differences skip them), or a perturbation underflowed."""
        k = fdm.step(problem.columns[b], 1)

        def block(sl):
            part = {name: c[sl] for name, c in problem.columns.items()}
            n = sl.stop - sl.start
            found = [first(problem.program, part, a, n, (b, s * k[sl]))
                     for s in (0.5, -0.5, 1, -1)]
            up_half, down_half, up, down = (v for v, _ in found)
            value, truncation, weights = richardson(up_half, down_half, up, down, k[sl])
            size = np.fmax(np.fmax(np.abs(up_half), np.abs(down_half)),
                           np.fmax(np.abs(up), np.abs(down)))
            lost = np.logical_or.reduce([lost for _, lost in found])
            return value, truncation + EPS * size * weights, lost

        value, error, lost = assemble(block, problem.npoints)
        clear = fdm.clear_of_breaks(problem, b, 1)
        # d/da rounds like the terms it sums, not like its own (maybe cancelled) size: its
        # rounding-error bound E, times the differences' weights 3/k, is their noise
        scales = fdm.combined_scales(problem)[1]
        for out in range(problem.n_outputs):
            skip = (~np.isfinite(value[out]) & np.isfinite(grad_a[out])) | lost
            if clear is not None:
                skip |= ~clear
            noise = EPS * np.nan_to_num(scales[(out, (a,))], posinf=0.0) * 3 / k
            result.values[(out, (a, b))] = value[out]
            result.errors[(out, (a, b))] = error[out] + noise
            result.skip[(out, (a, b))] = skip


__all__ = ["ComplexStep", "H", "evaluate", "first", "not_analytic"]
