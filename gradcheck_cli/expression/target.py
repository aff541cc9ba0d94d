"""An expression as a target of the pipeline: its columns, its reference, its comparisons.

The reference is the symbolic derivatives evaluated with mpmath at 30 digits
(:func:`gradcheck_cli.expression.symbolic.reference`). Points where it is not
finite are outside the domain and excluded; where one-sided differences show a
kink, any value between the left and right derivatives is accepted. The
rounding-error scale E of each derivative (and of the user's ``expect``) is the
judge's lazy allowance: evaluated only where a value fails without it.
"""

from __future__ import annotations

import time

import numpy as np

from .. import tolerances
from ..columns import Derivatives, get_method
from ..judge import Comparison
from ..results import CheckResult, Row, _fmt
from . import complexes
from . import finite_diff as fdm
from .codegen import Program, error_scale_program, evaluate
from .parse import to_text
from .symbolic import REFERENCE_DPS, REFERENCE_MAX_POINTS, derivative_program, reference, \
    values_program


class ExpectColumn:
    """The user's own derivatives (``expect``), evaluated in float64 at every point."""

    name = "expect"
    tolerance_kind = "expect"   # its own default tolerance (see gradcheck_cli.tolerances)
    own_rounding = True         # rounds its own expression: E of that is allowed too

    def compute(self, problem) -> Derivatives:
        start = time.perf_counter()
        keys = list(problem.expect)
        program = expect_program(problem)
        values = evaluate(program, problem.column_list(), problem.npoints)
        return Derivatives(values={k: values[i] for i, k in enumerate(keys)},
                           seconds=time.perf_counter() - start)


def expect_program(problem) -> Program:
    keys = list(problem.expect)
    return Program(problem.program.variables, problem.program.lets,
                   tuple(problem.expect[k] for k in keys))


class ExpressionTarget:
    """A compiled expression check (:class:`~gradcheck_cli.expression.problem.Problem`)."""

    kind = "expression"

    def __init__(self, problem):
        self.problem = problem
        self.name, self.source, self.xfail = problem.name, problem.source, problem.xfail
        self.columns = ([get_method(m) for m in problem.methods] + list(problem.backends)
                        + ([ExpectColumn()] if problem.expect else []))
        self._by_name = {c.name: c for c in self.columns}

    def compute(self, column) -> Derivatives:
        return column.compute(self.problem)

    def keys(self):
        return self.problem.keys()

    def reference(self, outputs: dict) -> "_Reference":
        return _Reference(self.problem, outputs)

    def comparison(self, key, name: str, d: Derivatives, ref: "_Reference"):
        return ref.comparison(key, self._by_name[name], d)

    def localize(self, key, name, verdict, ref) -> None:
        """Expression verdicts name their worst point already."""

    def row(self, key, verdicts: dict, ref: "_Reference") -> Row:
        return ref.row(key, verdicts)

    def result(self, rows, outputs: dict, ref: "_Reference", timings: dict) -> CheckResult:
        problem = self.problem
        return CheckResult(
            name=problem.name, source=problem.source,
            expression=[to_text(e) for e in problem.program.outputs],
            lets={str(sym): to_text(e) for sym, e in problem.program.lets},
            variables=problem.variable_names, wrt=list(problem.wrt), order=problem.order,
            npoints=problem.npoints, methods=list(outputs), rows=rows,
            notes=ref.notes() + complexes.holomorphy(problem, ref.ref,
                                                     problem.options.get("complex", [])),
            timings=timings, method_info={k: d.info for k, d in outputs.items() if d.info},
            reference_points=int(ref.exact.sum()), xfail=problem.xfail,
            points=dict(problem.columns))


class _Reference:
    """The 30-digit reference of every derivative, the kink analysis, and the notes."""

    def __init__(self, problem, outputs: dict):
        self.problem = problem
        n = problem.npoints
        symbolic = outputs.get("symbolic")
        self.ref, self.exact = reference(problem, symbolic.values if symbolic else None)
        with np.errstate(all="ignore"):
            self.classes = classify(problem, problem.keys())
        self.scales = {False: _LazyScales(problem, values_program(problem)),
                       True: _LazyScales(problem, values_program(problem), inexact=True)}
        self.expect_scales = (_LazyScales(problem, (expect_program(problem),
                                                    list(problem.expect)))
                              if problem.expect else None)
        self.outside = np.zeros(n, dtype=bool)
        self.overflow = np.zeros(n, dtype=bool)  # the exact value exists, beyond float64's range
        self.kink_points = np.zeros(n, dtype=bool)
        self.rough_points = np.zeros(n, dtype=bool)
        self.excluded, self.kinks = {}, {}
        for key in problem.keys():
            self._prepare(key)

    def _prepare(self, key) -> None:
        r, f = self.ref[key], self.ref[(key[0], ())]
        kind = self.classes[key][0]
        # Outside the domain: no finite derivative, or no value of f (log(x) at x = -1).
        excluded = ~(np.isfinite(r) & np.isfinite(f))
        self.outside |= excluded
        self.overflow |= self.exact & (np.isinf(r) | np.isinf(f))
        # A kink of f makes its higher derivatives undefined at that point.
        for var in set(key[1]) if len(key[1]) > 1 else ():
            below = self.classes[(key[0], (var,))][0]
            if below is not None:
                excluded |= below == fdm.KINK
        kink = None
        if kind is not None:
            kink = (kind == fdm.KINK) & ~excluded
            self.kink_points |= kink
        self.excluded[key], self.kinks[key] = excluded, kink

    def comparison(self, key, column, d: Derivatives) -> Comparison:
        """What the judge needs for one column on one derivative. What a column is
        decides, not its name: a column judged on the exact subset only (``exact_only``:
        symbolic, whose float64 values *are* the reference elsewhere), one computed from
        a stencil (``stencil``: finite differences, unusable where the stencil straddles
        a kink), one that rounds an expression of its own (``own_rounding``: expect)."""
        kind, lower, upper = self.classes[key]
        use = ~self.excluded[key]
        stencil = getattr(column, "stencil", False)
        if getattr(column, "exact_only", False):
            use &= self.exact
        if stencil and kind is not None:
            rough = kind == fdm.ROUGH
            self.rough_points |= rough & use
            use &= ~rough
        if key in d.skip:
            if stencil:
                self.rough_points |= d.skip[key] & use
            use &= ~d.skip[key]
        dtype = d.info.get("dtype", "float64")
        rtol, atol = tolerances.for_column(column.name, dtype, self.problem.rtol,
                                           self.problem.atol,
                                           kind=getattr(column, "tolerance_kind", "value"))
        scales = self.scales[dtype != "float64"]
        ulps_eps = tolerances.rounding(dtype)
        own = self.expect_scales if getattr(column, "own_rounding", False) else None

        def lazy(ix):
            """Rounding allowances at ix: eps E of the derivative (and of f times the
            stencil's weights, for finite differences; and of the column's own expression)."""
            extra = ulps_eps * scales.at(key, ix)
            if key in d.rounding:
                weights = np.broadcast_to(d.rounding[key], self.ref[key].shape)[ix]
                extra = extra + tolerances.FD_SAFETY * tolerances.EPS \
                    * scales.at((key[0], ()), ix) * weights
            if own is not None:
                extra = extra + ulps_eps * own.own(key, ix)
            return extra
        kink = self.kinks[key]
        return Comparison(values=d.values[key], reference=self.ref[key], rtol=rtol, atol=atol,
                          err=d.errors.get(key), use=use,
                          kink=(kink, lower, upper) if kink is not None else None, lazy=lazy)

    def row(self, key, verdicts: dict) -> Row:
        r, excluded = self.ref[key], self.excluded[key]
        finite = ~excluded | np.isfinite(r)
        some = bool(finite.any())
        kink = self.kinks[key]
        return Row(key, self.problem.label(key),
                   float(np.min(r, where=finite, initial=np.inf)) if some else None,
                   float(np.max(r, where=finite, initial=-np.inf)) if some else None,
                   verdicts, excluded=int(excluded.sum()),
                   kinks=int(kink.sum()) if kink is not None else 0)

    def notes(self) -> list[str]:
        points, n = self.problem.columns, self.problem.npoints
        notes = []
        if n <= REFERENCE_MAX_POINTS:
            notes.append(f"reference: SymPy with mpmath at {REFERENCE_DPS} digits at every point")
        else:
            notes.append(f"reference: SymPy with mpmath at {REFERENCE_DPS} digits at "
                         f"{int(self.exact.sum())} of {n} points (fixed-seed subset); float64 "
                         "symbolic values elsewhere, so 'symbolic' is judged on that subset")
        domain = self.outside & ~self.overflow
        if domain.any():
            notes.append(f"outside the domain (f or the reference not finite), excluded: "
                         f"{int(domain.sum())} point(s), e.g. {_example(points, domain)}")
        if self.overflow.any():
            notes.append(f"beyond float64's range (the exact f or derivative exceeds 1.8e308), "
                         f"excluded: {int(self.overflow.sum())} point(s), e.g. "
                         f"{_example(points, self.overflow)}")
        if self.kink_points.any():
            notes.append(f"non-differentiable (kink): {int(self.kink_points.sum())} point(s), "
                         f"e.g. {_example(points, self.kink_points)}; any value between the "
                         "one-sided derivatives is accepted")
        if self.rough_points.any():
            notes.append(f"finite differences not used at {int(self.rough_points.sum())} "
                         "point(s) where their stencil straddles a kink, a jump or a domain "
                         f"edge, e.g. {_example(points, self.rough_points)}")
        return notes


def classify(problem, keys):
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


class _LazyScales:
    """The rounding-error scale E of a program's outputs, in units of eps, on demand.

    E only ever loosens a tolerance, so it is evaluated only at points that fail
    without it: on a correct function at 10^6 points, almost none.

    A derivative's scale is its own plus its parent's (f for first derivatives)
    over the variable's length scale: a derivative that SymPy simplified to an
    exact 0 (sin^2 + cos^2) is still computed by other methods from terms of that size.
    """

    def __init__(self, problem, program_keys, inexact: bool = False):
        self.problem, self.inexact = problem, inexact
        self.program, keys = program_keys
        self.rows = {k: i for i, k in enumerate(keys)}
        # the points evaluated so far (sorted indices) and their scales, (rows, points):
        # suspects are few, so this stays small where a dense (rows, n) array would not
        self.known = np.empty(0, dtype=np.intp)
        self.values = np.empty((len(self.rows), 0))

    def own(self, key, idx: np.ndarray) -> np.ndarray:
        """E of output ``key`` alone at point indices ``idx``."""
        pos = np.searchsorted(self.known, idx)
        hit = pos < self.known.size
        hit[hit] = self.known[pos[hit]] == idx[hit]
        if not hit.all():
            missing = np.unique(idx[~hit])
            cols = [c[missing] for c in self.problem.column_list()]
            program = error_scale_program(self.program, self.inexact)  # built on first use
            with np.errstate(all="ignore"):
                fresh = np.abs(evaluate(program, cols, missing.size))
            order = np.argsort(np.concatenate([self.known, missing]), kind="stable")
            self.known = np.concatenate([self.known, missing])[order]
            self.values = np.concatenate([self.values, fresh], axis=1)[:, order]
            pos = np.searchsorted(self.known, idx)
        return np.nan_to_num(self.values[self.rows[key], pos], nan=0.0, posinf=0.0)

    def at(self, key, idx: np.ndarray) -> np.ndarray:
        """E of derivative ``key`` (``(out, ())`` for f itself) at point indices ``idx``."""
        out, var = key
        result = self.own(key, idx)
        if var:
            x = self.problem.columns[var[-1]][idx]
            result = result + self.at((out, var[:-1]), idx) / np.maximum(1.0, np.abs(x))
        # An overflowing scale bounds nothing: no allowance (a non-finite value fails anyway).
        return np.nan_to_num(result, nan=0.0, posinf=0.0)


def _example(points: dict, mask: np.ndarray) -> str:
    i = int(np.argmax(mask))
    return ", ".join(f"{k}={_fmt(float(v[i]))}" for k, v in points.items())
