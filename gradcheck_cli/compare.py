"""The reference, tolerances and verdicts.

Every method's values (and the user's ``expect``) are held against the
reference -- the symbolic derivatives evaluated with mpmath at 30 digits -- as

    |value - ref| <= atol + rtol |ref| + ROUNDING_ULPS * eps * E + FD_SAFETY * err

(eps and ROUNDING_ULPS per dtype)

where E is the rounding-error scale of the derivative expression (the sum of
its terms' magnitudes times their condition numbers, see
:func:`gradcheck_cli.expression.codegen.error_scale_program`), so float64 rounding alone
never fails a check -- not under cancellation (an expanded polynomial near its
root) nor at large magnitudes -- and ``err`` is the finite-difference error
estimate (zero for other methods).

Points where the reference is not finite are outside the domain and excluded.
Where one-sided differences show a kink, any value between the left and right
derivatives is accepted (a subgradient).
"""

from __future__ import annotations

import numpy as np

from .blocks import map_blocks
from .expression.codegen import Program, error_scale_program, evaluate
from .expression import finite_diff as fdm
from .expression.symbolic import (REFERENCE_DPS, REFERENCE_MAX_POINTS, derivative_program,
                               reference, values_program)
from .results import CheckResult, Row, Verdict, _fmt  # noqa: F401  (re-exported)

EPS = float(np.finfo(np.float64).eps)
FD_SAFETY = 2.0

# Default tolerances of the built-in methods (float64).
TOLERANCES: dict[str, dict[str, float]] = {
    "symbolic": {"rtol": 1e-12, "atol": 0.0},
    "reverse": {"rtol": 1e-12, "atol": 0.0},
    "fd": {"rtol": 0.0, "atol": 0.0},
    "expect": {"rtol": 1e-9, "atol": 0.0},
}
# Default tolerances of framework columns, by the dtype they computed in. Half
# precision: 4 ulps relative, and float16's values below its normal range (6.1e-5)
# are judged absolutely, since they lose digits to underflow.
DTYPE_TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"rtol": 1e-12, "atol": 0.0},
    "float32": {"rtol": 1e-5, "atol": 0.0},
    "float16": {"rtol": 4 * 2.0 ** -10, "atol": 2.0 ** -14},
    "bfloat16": {"rtol": 4 * 2.0 ** -7, "atol": 0.0},
}
# Machine epsilon per dtype: multiplies the rounding-error scale E.
DTYPE_EPS: dict[str, float] = {"float64": EPS, "float32": float(np.finfo(np.float32).eps),
                               "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
# Ulps of E allowed per dtype. E is a worst-case first-order bound; 32 ulps leaves room
# for the libraries' own function errors in float64/float32 -- in half precision the
# unit roundoff dominates everything else, and 32 ulps would accept anything.
ROUNDING_ULPS: dict[str, float] = {"float64": 32, "float32": 32, "float16": 2, "bfloat16": 2}


def tolerance(method: str, problem, dtype: str = "float64") -> tuple[float, float]:
    """(rtol, atol) for a column: the defaults merged with the user's overrides.

    Overrides are looked up by the column's name (``torch·rev``), its framework
    (``torch``), then ``"*"`` (every method).
    """
    base = TOLERANCES.get(method) or DTYPE_TOLERANCES[dtype]
    keys = (method, method.split("·")[0], "*")

    def pick(overrides, field):
        return next((overrides[k] for k in keys if k in overrides), base[field])
    return float(pick(problem.rtol, "rtol")), float(pick(problem.atol, "atol"))


def _classify(problem, keys):
    """Kink analysis per key: (kind, lower, upper) arrays, from one-sided differences.

    The derivative of order k is analysed through the order k-1 derivative
    (f itself for first derivatives) along the last variable. An f smooth on
    the whole real line (see :func:`~gradcheck_cli.expression.finite_diff.is_smooth`:
    no abs or relu, but no pole, cusp or branch cut either) needs none: every key
    gets ``(None, None, None)``, and finite differences skip their own stencils
    that leave the domain.
    """
    if fdm.is_smooth(problem.program):
        return {key: (None, None, None) for key in keys}
    result = {}
    stencils = {}
    for key in keys:
        out, idx = key
        base_order = len(idx) - 1
        if base_order not in stencils:
            if base_order == 0:
                stencils[0] = (fdm.Stencil(problem, problem.program, 1),
                               [(i, ()) for i in range(problem.n_outputs)])
            else:
                dprog, dkeys = derivative_program(problem)
                lower = [k for k in dkeys if len(k[1]) == base_order]
                prog = Program(dprog.variables, dprog.lets,
                               tuple(o for k, o in zip(dkeys, dprog.outputs) if k in lower))
                stencils[base_order] = (fdm.Stencil(problem, prog, 1), lower)
        st, base_keys = stencils[base_order]
        cache_key = (base_order, idx[-1])
        if cache_key not in stencils:
            stencils[cache_key] = fdm.one_sided(st, idx[-1])
        kind, left, right = stencils[cache_key]
        row = base_keys.index((out, idx[:-1]))
        result[key] = (kind[row], np.minimum(left[row], right[row]),
                       np.maximum(left[row], right[row]))
    return result


def compare(problem, outputs: dict, timings: dict[str, float]) -> CheckResult:
    """Hold every method's derivatives against the reference.

    Args:
        problem: the compiled check.
        outputs: method name -> :class:`~gradcheck_cli.columns.Derivatives`
            (``"expect"`` for the user's own derivatives).
        timings: seconds per method, for the report.

    Returns:
        The check's result, with a row per derivative.
    """
    keys = problem.keys()
    n = problem.npoints
    ref, exact = reference(problem, outputs.get("symbolic").values
                           if "symbolic" in outputs else None)
    with np.errstate(all="ignore"):
        classes = _classify(problem, keys)
    scales = {False: _LazyScales(problem, False),
              True: _LazyScales(problem, True)}  # True: rounded inputs
    notes = []
    rows = []
    outside = np.zeros(n, dtype=bool)
    overflow = np.zeros(n, dtype=bool)  # the exact value exists but exceeds float64's range
    kink_points = np.zeros(n, dtype=bool)
    rough_points = np.zeros(n, dtype=bool)
    for key in keys:
        r = ref[key]
        kind, lower, upper = classes[key]
        # Outside the domain: no finite derivative, or no value of f (log(x) at x = -1).
        excluded = ~(np.isfinite(r) & np.isfinite(ref[(key[0], ())]))
        outside |= excluded
        overflow |= exact & (np.isinf(r) | np.isinf(ref[(key[0], ())]))
        # A kink of f makes its higher derivatives undefined at that point.
        for var in set(key[1]) if len(key[1]) > 1 else ():
            below = classes[(key[0], (var,))][0]
            if below is not None:
                excluded |= below == fdm.KINK
        kink = None
        if kind is not None:
            kink = (kind == fdm.KINK) & ~excluded
            kink_points |= kink
        verdicts = {}
        for name, d in outputs.items():
            if key in d.unavailable:
                verdicts[name] = Verdict(name, "n/a", reason=d.unavailable[key])
                continue
            if key not in d.values:
                continue
            use = ~excluded
            if name == "symbolic":
                use &= exact  # elsewhere the reference *is* the float64 symbolic value
            if name == "fd" and kind is not None:
                rough = kind == fdm.ROUGH
                rough_points |= rough & use
                use &= ~rough
            if key in d.skip:
                if name == "fd":
                    rough_points |= d.skip[key] & use
                use &= ~d.skip[key]
            dtype = d.info.get("dtype", "float64")
            verdicts[name] = _verdict(problem, name, d, key, r, scales[dtype != "float64"],
                                      use, kink, lower, upper, dtype)
        finite = ~excluded | np.isfinite(r)
        some = bool(finite.any())
        rows.append(Row(key, problem.label(key),
                        float(np.min(r, where=finite, initial=np.inf)) if some else None,
                        float(np.max(r, where=finite, initial=-np.inf)) if some else None,
                        verdicts, excluded=int(excluded.sum()),
                        kinks=int(kink.sum()) if kink is not None else 0))
    points = problem.columns
    if n <= REFERENCE_MAX_POINTS:
        notes.append(f"reference: SymPy with mpmath at {REFERENCE_DPS} digits at every point")
    else:
        notes.append(f"reference: SymPy with mpmath at {REFERENCE_DPS} digits at "
                     f"{int(exact.sum())} of {n} points (fixed-seed subset); float64 "
                     "symbolic values elsewhere, so 'symbolic' is judged on that subset")
    if (outside & ~overflow).any():
        notes.append(f"outside the domain (f or the reference not finite), excluded: "
                     f"{int((outside & ~overflow).sum())} "
                     f"point(s), e.g. {_example(points, outside & ~overflow)}")
    if overflow.any():
        notes.append(f"beyond float64's range (the exact f or derivative exceeds 1.8e308), "
                     f"excluded: {int(overflow.sum())} point(s), e.g. {_example(points, overflow)}")
    if kink_points.any():
        notes.append(f"non-differentiable (kink): {int(kink_points.sum())} point(s), e.g. "
                     f"{_example(points, kink_points)}; any value between the one-sided "
                     "derivatives is accepted")
    if rough_points.any():
        notes.append(f"finite differences not used at {int(rough_points.sum())} point(s) where "
                     "their stencil straddles a kink, a jump or a domain edge, e.g. "
                     f"{_example(points, rough_points)}")
    return CheckResult(
        name=problem.name, source=problem.source,
        expression=[str(e) for e in problem.program.outputs],
        lets={str(sym): str(e) for sym, e in problem.program.lets},
        variables=problem.variable_names, wrt=list(problem.wrt), order=problem.order,
        npoints=n, methods=list(outputs), rows=rows, notes=notes, timings=timings,
        method_info={k: d.info for k, d in outputs.items() if d.info},
        reference_points=int(exact.sum()), xfail=problem.xfail, points=dict(points))


class _LazyScales:
    """The rounding-error scale E of every derivative, in units of eps, evaluated on demand.

    E only ever loosens a tolerance, so it is evaluated only at points that fail
    without it: on a correct function at 10^6 points, almost none.

    A derivative's scale is its own plus its parent's (f for first derivatives)
    over the variable's length scale: a derivative that SymPy simplified to an
    exact 0 (sin^2 + cos^2) is still computed by other methods from terms of that size.
    """

    def __init__(self, problem, inexact: bool):
        self.problem, self.inexact = problem, inexact
        self.both, keys = values_program(problem)  # the derivatives, then f
        self.rows = {k: i for i, k in enumerate(keys)}
        # the points evaluated so far (sorted indices) and their scales, (rows, points):
        # suspects are few, so this stays small where a dense (rows, n) array would not
        self.known = np.empty(0, dtype=np.intp)
        self.values = np.empty((len(self.rows), 0))

    def _own(self, key, idx: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.known, idx)
        hit = pos < self.known.size
        hit[hit] = self.known[pos[hit]] == idx[hit]
        if not hit.all():
            missing = np.unique(idx[~hit])
            cols = [c[missing] for c in self.problem.column_list()]
            program = error_scale_program(self.both, self.inexact)  # built on first use
            with np.errstate(all="ignore"):
                fresh = np.abs(evaluate(program, cols, missing.size))
            order = np.argsort(np.concatenate([self.known, missing]), kind="stable")
            self.known = np.concatenate([self.known, missing])[order]
            self.values = np.concatenate([self.values, fresh], axis=1)[:, order]
            pos = np.searchsorted(self.known, idx)
        return self.values[self.rows[key], pos]

    def at(self, key, idx: np.ndarray) -> np.ndarray:
        """E of derivative ``key`` (``(out, ())`` for f itself) at point indices ``idx``."""
        out, var = key
        result = self._own(key, idx)
        if var:
            x = self.problem.columns[var[-1]][idx]
            result = result + self.at((out, var[:-1]), idx) / np.maximum(1.0, np.abs(x))
        # An overflowing scale bounds nothing: no allowance (a non-finite value fails anyway).
        return np.nan_to_num(result, nan=0.0, posinf=0.0)


def _example(points: dict, mask: np.ndarray) -> str:
    i = int(np.argmax(mask))
    return ", ".join(f"{k}={_fmt(float(v[i]))}" for k, v in points.items())


def _verdict(problem, name, d, key, ref, scales, use, kink, lower, upper,
             dtype="float64") -> Verdict:
    """One method's verdict on one derivative: pass/fail, the worst point, the largest error.

    Points are measured block by block (see :mod:`gradcheck_cli.blocks`); the few
    that fail the plain tolerance ("suspects") then get the rounding allowances,
    which cost an evaluation of the error-scale program, and are measured again.
    """
    n = len(ref)
    value = np.broadcast_to(d.values[key], ref.shape)
    rtol, atol = tolerance(name, problem, dtype)
    errors = d.errors.get(key) if name == "fd" else None
    if kink is not None and not kink.any():
        kink = None

    def measure(ix, extra=0.0):
        """(|value - ref|, tolerance, relative error (absolute near zero), near zero) at ix."""
        v, r = value[ix], ref[ix]
        size = np.abs(r)
        floor = atol + extra  # the tolerance's absolute part
        if errors is not None:
            floor = floor + FD_SAFETY * errors[ix]
        tol = rtol * size + floor
        dist = np.abs(v - r)
        if kink is not None:
            # At a kink, distance to the subgradient interval [lower, upper] replaces |value - ref|.
            at_kink, lo, hi = kink[ix], lower[ix], upper[ix]
            dist = np.where(at_kink, np.maximum(0.0, np.maximum(lo - v, v - hi)), dist)
            floor = np.where(at_kink, floor + 1e-6 * (hi - lo), floor)
            tol = rtol * size + floor
        near_zero = size <= floor
        with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 is near zero, set below
            rel = np.divide(dist, size)
        if near_zero.any():
            rel[near_zero] = np.broadcast_to(dist, rel.shape)[near_zero]
        return dist, tol, rel, near_zero

    def part(ix):
        """Measure the points ix (a block, or indices): (compared, suspects, best rel, where)."""
        dist, tol, rel, _ = measure(ix)
        used = use[ix]
        good = dist <= tol
        suspects = np.flatnonzero(used > good)  # used and not within tolerance
        good &= used
        rel[~good] = -1.0  # where good, rel is finite (size 0 counts as near zero)
        j = int(np.argmax(rel))
        if isinstance(ix, slice):
            return int(np.count_nonzero(used)), suspects + ix.start, float(rel[j]), ix.start + j
        return int(np.count_nonzero(used)), ix[suspects], float(rel[j]), int(ix[j])

    used = np.count_nonzero(use)
    if used == 0:
        return Verdict(name, "n/a", reason="no point to compare")
    if used * 16 < n:  # few points (symbolic: the reference subset)
        parts = [part(np.flatnonzero(use))]
    else:
        parts = map_blocks(part, n)
    compared = sum(p[0] for p in parts)
    suspect = np.concatenate([p[1] for p in parts])
    error, err_at = max((p[2], p[3]) for p in parts)

    def allowance(ix):
        """The rounding allowances at points ix: eps E of the derivative (and of f for FD)."""
        extra = ROUNDING_ULPS[dtype] * DTYPE_EPS[dtype] * scales.at(key, ix)
        if name == "fd" and key in d.rounding:
            weights = np.broadcast_to(d.rounding[key], ref.shape)[ix]
            extra = extra + FD_SAFETY * EPS * scales.at((key[0], ()), ix) * weights
        return extra

    failed, reason, worst = False, None, None
    if suspect.size:
        dist, tol, rel, _ = measure(suspect, allowance(suspect))
        nonfinite = ~np.isfinite(value[suspect])
        ratio = np.where(dist <= tol, 0.0, dist / np.where(tol > 0, tol, np.inf))
        ratio = np.where(tol > 0, ratio, np.where(dist > 0, np.inf, 0.0))
        ratio = np.where(nonfinite, np.inf, ratio)
        rel = np.where(np.isfinite(rel), rel, -1.0)
        i = int(np.argmax(rel))
        if rel[i] > error:
            error, err_at = float(rel[i]), int(suspect[i])
        w = int(np.argmax(ratio))
        failed, worst = bool(ratio[w] > 1.0), int(suspect[w])
        if failed:
            reason = ("non-finite" if nonfinite[w] else
                      "outside the subgradient interval" if kink is not None and kink[worst]
                      else "outside tolerance")
    if error < 0:  # no finite error anywhere: report the first compared point
        err_at = int(np.argmax(use))
    at = worst if failed else err_at

    def at_point(i):  # with the rounding allowance where it was needed (and evaluated)
        ix = np.array([i])
        return measure(ix, allowance(ix) if np.isin(i, suspect) else 0.0)

    _, tol_at, _, _ = at_point(at)
    near_zero = at_point(err_at)[3]
    return Verdict(
        name, "fail" if failed else "pass", compared=compared,
        error=float(error) if error >= 0 else None,
        error_kind="abs" if near_zero[0] else "rel",
        worst=at, value=float(value[at]), reference=float(ref[at]),
        tolerance=float(tol_at[0]), reason=reason)
