"""Symbolic derivatives with SymPy, and the high-precision reference.

Derivatives are taken through the program by the chain rule: each intermediate
``z`` gets total-derivative intermediates ``dz/dx`` (SymPy ``diff`` of its own
expression), so shared subexpressions are differentiated once. Higher orders
apply the same step to the derivative program.
"""

from __future__ import annotations

import time

import numpy as np
import sympy as sp

from .codegen import Program, evaluate, evaluate_mpmath, named_values, no_delta
from ..columns import Derivatives, Method

REFERENCE_DPS = 30
REFERENCE_MAX_POINTS = 1000


def _tangents(expr: sp.Expr, wrt, tangents: dict, named: dict) -> dict:
    """{w: d expr / d w} by the chain rule, given each free symbol's tangents[s][w].

    A function of one compound argument, g(u), is differentiated once as g'(u)
    times u's tangents, so g'(u) is not rebuilt for every variable.
    """
    if isinstance(expr, sp.Function) and len(expr.args) == 1 and not expr.args[0].is_Atom:
        outer = _outer(expr).xreplace(named)
        inner = _tangents(expr.args[0], wrt, tangents, named)
        return {w: outer * inner[w] for w in wrt}
    if isinstance(expr, sp.Add):  # linear: the sum of the terms' tangents
        parts = [_tangents(a, wrt, tangents, named) for a in expr.args if not a.is_Number]
        return {w: sp.Add(*(p[w] for p in parts)) for w in wrt}
    if expr.is_Symbol:
        return {w: tangents.get(expr, {}).get(w, sp.S.Zero) for w in wrt}
    if isinstance(expr, sp.Mul):  # the product rule, factor by factor (SymPy's diff of a
        factors = expr.args       # product asks the assumptions system about every term)
        result = {w: [] for w in wrt}
        for i, factor in enumerate(factors):
            if factor.is_Number:
                continue
            inner = _tangents(factor, wrt, tangents, named)
            if all(inner[w] == 0 for w in wrt):
                continue
            others = sp.Mul(*(a for j, a in enumerate(factors) if j != i))
            for w in wrt:
                if inner[w] != 0:
                    result[w].append(others * inner[w])
        return {w: sp.Add(*terms) for w, terms in result.items()}
    if isinstance(expr, sp.Pow) and expr.exp.is_Number:  # u^n: n u^(n-1) du
        inner = _tangents(expr.base, wrt, tangents, named)
        outer = expr.exp * expr.base ** (expr.exp - 1)
        return {w: outer * inner[w] if inner[w] != 0 else sp.S.Zero for w in wrt}
    result = {w: [] for w in wrt}
    for s in sorted(expr.free_symbols, key=sp.default_sort_key):
        ds = tangents.get(s, {})
        if not any(ds.get(w, 0) != 0 for w in wrt):
            continue
        partial = no_delta(expr.diff(s)).xreplace(named)
        for w in wrt:
            if ds.get(w, 0) != 0:
                result[w].append(partial * ds[w])
    return {w: sp.Add(*terms) for w, terms in result.items()}


def _outer(expr: sp.Function) -> sp.Expr:
    """g'(u) for g(u). SymPy's sign has no fdiff (it gives an unevaluated Subs that no
    printer takes): differentiate it through a dummy argument instead."""
    outer = expr.fdiff(1)
    if outer.has(sp.Derivative, sp.Subs):
        d = sp.Dummy(real=True)
        outer = expr.func(d).diff(d).xreplace({d: expr.args[0]})
    return no_delta(outer)


def _differentiate(variables, lets, targets, wrt):
    """One chain-rule pass: new intermediates and d target / d w for each w in wrt."""
    tangents = {v: {w: (sp.S.One if v == w else sp.S.Zero) for w in wrt} for v in variables}
    new_lets = list(lets)
    # d tanh(u)/du is 1 - tanh(u)^2: point it back at the intermediate that holds tanh(u).
    named = named_values(lets)
    for sym, expr in lets:
        tangents[sym] = {}
        for w, d in _tangents(expr, wrt, tangents, named).items():
            if d.is_Atom:
                tangents[sym][w] = d
            else:
                dsym = sp.Dummy(f"d{sym}_d{w}", real=True)
                new_lets.append((dsym, d))
                tangents[sym][w] = dsym
    grads = []
    for t in targets:
        row = _tangents(t, wrt, tangents, named)
        grads.append([row[w] for w in wrt])
    return new_lets, grads


def derivative_program(problem) -> tuple[Program, list]:
    """The program computing every derivative of ``problem`` up to its order.

    Returns:
        ``(program, keys)``: output ``k`` of the program is derivative ``keys[k]``.
    """
    if "derivative_program" in problem.cache:
        return problem.cache["derivative_program"]
    program = problem.program
    by_name = {v.name: v for v in program.variables}
    wrt = [by_name[n] for n in problem.wrt]
    exprs = {}  # key -> expression
    lets = list(program.lets)
    level = {(i, ()): out for i, out in enumerate(program.outputs)}
    for _ in range(problem.order):
        keys = list(level)
        lets, grads = _differentiate(program.variables, lets, [level[k] for k in keys], wrt)
        nxt = {}
        for key, row in zip(keys, grads):
            out, idx = key
            first = problem.wrt.index(idx[-1]) if idx else 0
            for j in range(first, len(wrt)):
                nxt[(out, idx + (problem.wrt[j],))] = row[j]
        exprs.update(nxt)
        level = nxt
    keys = problem.keys()
    result = (Program(program.variables, tuple(lets), tuple(exprs[k] for k in keys)), keys)
    problem.cache["derivative_program"] = result
    return result


def values_program(problem) -> tuple[Program, list]:
    """The derivative program with f's own outputs appended, as keys ``(out, ())``.

    f comes almost free (its intermediates are the derivatives' too) and says
    where the function is defined: log(x) at x = -1 has the finite derivative
    -1, but no value, so the point is outside the domain.
    """
    if "values_program" not in problem.cache:
        dprog, dkeys = derivative_program(problem)
        outputs = tuple(dprog.outputs) + tuple(problem.program.outputs)
        keys = list(dkeys) + [(i, ()) for i in range(problem.n_outputs)]
        problem.cache["values_program"] = (Program(dprog.variables, dprog.lets, outputs), keys)
    return problem.cache["values_program"]


def derivative_expressions(problem) -> dict:
    """Each derivative as one SymPy expression with intermediates substituted."""
    program, keys = derivative_program(problem)
    return dict(zip(keys, program.inlined()))


class Symbolic(Method):
    """SymPy derivatives, evaluated in float64 with numpy (via lambdify and CSE)."""

    name = "symbolic"
    label = "symbolic"

    def compute(self, problem) -> Derivatives:
        start = time.perf_counter()
        program, keys = values_program(problem)  # f too: the comparison's domain
        values = evaluate(program, problem.column_list(), problem.npoints)
        return Derivatives(values={k: values[i] for i, k in enumerate(keys)},
                           seconds=time.perf_counter() - start)


def reference(problem, symbolic_values: dict | None = None) -> tuple[dict, np.ndarray]:
    """The reference derivatives: SymPy evaluated with mpmath at 30 digits.

    Up to 1,000 points every point is evaluated in high precision; beyond that a
    fixed-seed subset of 1,000 is, and float64 symbolic values serve elsewhere.

    Returns:
        ``(values, exact)``: values per key (and f itself under ``(out, ())``),
        and a boolean array marking the points evaluated in high precision.
    """
    program, keys = values_program(problem)
    n = problem.npoints
    if n <= REFERENCE_MAX_POINTS:
        indices = np.arange(n)
    else:
        rng = np.random.default_rng(problem.seed)
        indices = np.sort(rng.choice(n, REFERENCE_MAX_POINTS, replace=False))
    exact = np.zeros(n, dtype=bool)
    exact[indices] = True
    if n > REFERENCE_MAX_POINTS:
        if symbolic_values is None:
            symbolic_values = Symbolic().compute(problem).values
        base = np.array([symbolic_values[k] for k in keys])
    else:
        base = np.full((len(keys), n), np.nan)
    base[:, indices] = evaluate_mpmath(program, problem.column_list(), indices, REFERENCE_DPS)
    return {k: base[i] for i, k in enumerate(keys)}, exact
