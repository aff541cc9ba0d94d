"""The reference, tolerances and verdicts.

Every method's values (and the user's ``expect``) are held against the
reference -- the symbolic derivatives evaluated with mpmath at 30 digits -- as

    |value - ref| <= atol + rtol |ref| + ROUNDING_ULPS * eps * E + FD_SAFETY * err

where E is the rounding-error scale of the derivative expression (the sum of
its terms' magnitudes times their condition numbers, see
:func:`gradcheck_cli.codegen.error_scale_program`), so float64 rounding alone
never fails a check -- not under cancellation (an expanded polynomial near its
root) nor at large magnitudes -- and ``err`` is the finite-difference error
estimate (zero for other methods).

Points where the reference is not finite are outside the domain and excluded.
Where one-sided differences show a kink, any value between the left and right
derivatives is accepted (a subgradient).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .codegen import Program, error_scale_program, evaluate
from .methods import finite_diff as fdm
from .methods.symbolic import (REFERENCE_DPS, REFERENCE_MAX_POINTS, derivative_program,
                               reference)

EPS = float(np.finfo(np.float64).eps)
ROUNDING_ULPS = 32
FD_SAFETY = 2.0

# Default tolerances of the built-in methods (float64).
TOLERANCES: dict[str, dict[str, float]] = {
    "symbolic": {"rtol": 1e-12, "atol": 0.0},
    "reverse": {"rtol": 1e-12, "atol": 0.0},
    "fd": {"rtol": 0.0, "atol": 0.0},
    "expect": {"rtol": 1e-9, "atol": 0.0},
}
# Default tolerances of framework columns, by the dtype they computed in.
DTYPE_TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"rtol": 1e-12, "atol": 0.0},
    "float32": {"rtol": 1e-5, "atol": 0.0},
}
# Unit roundoff per dtype: multiplies the rounding-error scale E.
DTYPE_EPS: dict[str, float] = {"float64": EPS, "float32": float(np.finfo(np.float32).eps)}


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


@dataclass
class Verdict:
    """One method on one derivative, over all compared points."""

    method: str
    status: str                      # "pass", "fail" or "n/a"
    compared: int = 0
    error: float | None = None       # worst error: relative, or absolute near zero
    error_kind: str = "rel"
    worst: int | None = None         # index of the point furthest outside tolerance
    value: float | None = None       # the method's value there
    reference: float | None = None   # the reference there
    tolerance: float | None = None   # the allowed |value - ref| there
    reason: str | None = None
    location: str | None = None      # where, when not a point (user code: "x[2, 1]")

    def to_dict(self) -> dict:
        return {k: _jsonable(v) for k, v in self.__dict__.items()}


@dataclass
class Row:
    """One derivative component: its reference and every method's verdict."""

    key: tuple
    label: str
    ref_min: float | None
    ref_max: float | None
    verdicts: dict[str, Verdict]
    excluded: int = 0
    kinks: int = 0

    @property
    def status(self) -> str:
        statuses = [v.status for v in self.verdicts.values()]
        return "fail" if "fail" in statuses else "pass"


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    source: str
    expression: list[str]
    lets: dict[str, str]
    variables: list[str]
    wrt: list[str]
    order: int
    npoints: int
    methods: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    method_info: dict[str, dict] = field(default_factory=dict)
    reference_points: int = 0
    xfail: str | None = None
    points: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    kind: str = "expression"          # or "code": the user's own callable

    @property
    def failed(self) -> bool:
        return any(r.status == "fail" for r in self.rows)

    @property
    def status(self) -> str:
        if self.xfail:
            return "xfail" if self.failed else "xpass"
        return "fail" if self.failed else "pass"

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "xfail")

    def point(self, index: int | None) -> dict[str, float]:
        if index is None:
            return {}
        return {k: float(v[index]) for k, v in self.points.items()}

    def point_text(self, index: int | None) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.point(index).items())

    def __rich__(self):
        """The check as rich renders it (terminal, and Jupyter through _repr_html_)."""
        from .report.table import check_renderable
        return check_renderable(self)

    def _repr_html_(self) -> str:
        from .report.table import to_html
        return to_html(self)

    def where(self, verdict: "Verdict") -> str:
        """Where a verdict's worst value is: a point, or a location in user code."""
        return verdict.location or self.point_text(verdict.worst)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _jsonable(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if np.isfinite(v) else str(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _classify(problem, keys):
    """Kink analysis per key: (kind, lower, upper) arrays, from one-sided differences.

    The derivative of order k is analysed through the order k-1 derivative
    (f itself for first derivatives) along the last variable.
    """
    result = {}
    stencils = {}
    smooth = fdm.is_smooth(problem.program)
    for key in keys:
        if smooth and len(key[1]) > 1:
            # Smooth f: no kinks anywhere (finite differences skip their own domain edges).
            zeros = np.zeros(problem.npoints)
            result[key] = (np.full(problem.npoints, fdm.SMOOTH), zeros, zeros)
            continue
        out, idx = key
        base_order = len(idx) - 1
        if base_order not in stencils:
            if base_order == 0:
                program = problem.program
                stencils[0] = (problem.cache.get("stencil1") or
                               fdm.Stencil(problem, program, 1), [(i, ()) for i in
                                                                    range(problem.n_outputs)])
            else:
                dprog, dkeys = derivative_program(problem)
                lower = [k for k in dkeys if len(k[1]) == base_order]
                prog = Program(dprog.variables, dprog.lets,
                               tuple(o for k, o in zip(dkeys, dprog.outputs) if k in lower))
                stencils[base_order] = (fdm.Stencil(problem, prog, 1), lower)
        st, base_keys = stencils[base_order]
        cache_key = (base_order, idx[-1])
        if cache_key not in stencils:
            analyse = fdm.edges_only if smooth else fdm.one_sided
            stencils[cache_key] = analyse(st, idx[-1])
        kind, left, right = stencils[cache_key]
        row = base_keys.index((out, idx[:-1]))
        result[key] = (kind[row], np.minimum(left[row], right[row]),
                       np.maximum(left[row], right[row]))
    return result


def compare(problem, outputs: dict, timings: dict[str, float]) -> CheckResult:
    """Hold every method's derivatives against the reference.

    Args:
        problem: the compiled check.
        outputs: method name -> :class:`~gradcheck_cli.methods.Derivatives`
            (``"expect"`` for the user's own derivatives).
        timings: seconds per method, for the report.

    Returns:
        The check's result, with a row per derivative.
    """
    keys = problem.keys()
    n = problem.npoints
    ref, exact = reference(problem, outputs.get("symbolic").values
                           if "symbolic" in outputs else None)
    dprog, dkeys = derivative_program(problem)
    with np.errstate(all="ignore"):
        classes = _classify(problem, keys)
    scales = {False: _LazyScales(problem, dprog, dkeys, False),
              True: _LazyScales(problem, dprog, dkeys, True)}  # True: rounded inputs
    notes = []
    rows = []
    outside = np.zeros(n, dtype=bool)
    kink_points = np.zeros(n, dtype=bool)
    rough_points = np.zeros(n, dtype=bool)
    for key in keys:
        r = ref[key]
        kind, lower, upper = classes[key]
        excluded = ~np.isfinite(r)
        outside |= excluded
        # A kink of f makes its higher derivatives undefined at that point.
        for var in set(key[1]) if len(key[1]) > 1 else ():
            excluded = excluded | (classes[(key[0], (var,))][0] == fdm.KINK)
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
            if name == "fd":
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
        finite = r[np.isfinite(r)]
        rows.append(Row(key, problem.label(key),
                        float(finite.min()) if finite.size else None,
                        float(finite.max()) if finite.size else None,
                        verdicts, excluded=int(excluded.sum()), kinks=int(kink.sum())))
    points = problem.columns
    if n <= REFERENCE_MAX_POINTS:
        notes.append(f"reference: SymPy with mpmath at {REFERENCE_DPS} digits at every point")
    else:
        notes.append(f"reference: SymPy with mpmath at {REFERENCE_DPS} digits at "
                     f"{int(exact.sum())} of {n} points (fixed-seed subset); float64 "
                     "symbolic values elsewhere, so 'symbolic' is judged on that subset")
    if outside.any():
        notes.append(f"outside the domain (reference not finite), excluded: {int(outside.sum())} "
                     f"point(s), e.g. {_example(points, outside)}")
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

    def __init__(self, problem, dprog, dkeys, inexact: bool):
        self.problem, self.dkeys, self.inexact = problem, dkeys, inexact
        self.both = Program(dprog.variables, dprog.lets,
                            tuple(dprog.outputs) + tuple(problem.program.outputs))
        self.rows = {k: i for i, k in enumerate(dkeys)}
        self.rows.update({(i, ()): len(dkeys) + i for i in range(problem.n_outputs)})
        self.values = np.full((len(self.rows), problem.npoints), np.nan)

    def _own(self, key, idx: np.ndarray) -> np.ndarray:
        missing = idx[np.isnan(self.values[self.rows[key], idx])]
        if missing.size:
            cols = [c[missing] for c in self.problem.column_list()]
            program = error_scale_program(self.both, self.inexact)  # built on first use
            with np.errstate(all="ignore"):
                self.values[:, missing] = np.abs(evaluate(program, cols, missing.size))
        return self.values[self.rows[key], idx]

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
    value = d.values[key]
    rtol, atol = tolerance(name, problem, dtype)
    ulps = ROUNDING_ULPS * DTYPE_EPS[dtype]
    tol = atol + rtol * np.abs(ref)
    if name == "fd" and key in d.errors:
        tol = tol + FD_SAFETY * d.errors[key]
    # At a kink, distance to the subgradient interval [lower, upper] replaces |value - ref|.
    dist = np.where(kink, np.maximum(0.0, np.maximum(lower - value, value - upper)),
                    np.abs(value - ref))
    tol = np.where(kink, tol + 1e-6 * (upper - lower), tol)
    # Rounding allowances, only where the value fails without them.
    suspect = np.flatnonzero(use & ~(dist <= tol))
    if suspect.size:
        extra = ulps * scales.at(key, suspect)
        if name == "fd" and key in d.rounding:
            weights = np.broadcast_to(d.rounding[key], ref.shape)[suspect]
            f_scale = scales.at((key[0], ()), suspect)
            extra = extra + FD_SAFETY * EPS * f_scale * weights
        tol[suspect] += extra
    nonfinite = ~np.isfinite(value) & use
    with np.errstate(all="ignore"):
        ratio = np.where(dist <= tol, 0.0, dist / np.where(tol > 0, tol, np.inf))
        ratio = np.where(tol > 0, ratio, np.where(dist > 0, np.inf, 0.0))
    ratio = np.where(nonfinite, np.inf, ratio)
    ratio = np.where(use, ratio, -1.0)
    compared = int(use.sum())
    if compared == 0:
        return Verdict(name, "n/a", reason="no point to compare")
    worst = int(np.argmax(ratio))
    near_zero = np.abs(ref) <= tol - rtol * np.abs(ref)
    with np.errstate(all="ignore"):
        rel = np.where(near_zero, dist, dist / np.abs(ref))
    rel = np.where(use & np.isfinite(rel), rel, -1.0)
    err_at = int(np.argmax(rel))
    failed = ratio[worst] > 1.0
    at = worst if failed else err_at
    reason = None
    if failed:
        if nonfinite[worst]:
            reason = "non-finite"
        elif kink[worst]:
            reason = "outside the subgradient interval"
        else:
            reason = "outside tolerance"
    shown_tol = float(tol[at])
    if not failed and not np.isin(at, suspect):  # report the full allowance there
        shown_tol += float(ulps * scales.at(key, np.array([at]))[0])
    return Verdict(
        name, "fail" if failed else "pass", compared=compared,
        error=float(rel[err_at]) if rel[err_at] >= 0 else None,
        error_kind="abs" if near_zero[err_at] else "rel",
        worst=at, value=float(value[at]), reference=float(ref[at]),
        tolerance=shown_tol, reason=reason)
