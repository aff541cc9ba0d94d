"""Teaching mode: the computational graph, the forward and backward passes, the
symbolic derivative, the finite-difference step trade-off and each method's cost.

Everything here is computed by the same code that checks gradients (the reverse
engine's nodes, the symbolic program, the finite-difference stencils); this
module only collects it for one point. Reporters render it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .codegen import evaluate
from ..errors import GradcheckError
from . import finite_diff as fdm
from ..columns import get_method
from . import reverse as engine
from .symbolic import derivative_expressions, reference

# How each primitive reads in the graph; "{0}", "{1}" are its arguments.
FORMATS = {
    "add": "{0} + {1}", "mul": "{0} · {1}", "pow": "{0}^{1}",
    "ge": "[{0} ≥ {1}]", "lt": "[{0} < {1}]", "step": "[{0} > 0]",
}


@dataclass
class GraphNode:
    """One node of the computational graph at the point."""

    name: str
    op: str                      # "input", "constant input", or a primitive of the engine
    inputs: list[str]            # names (or numbers) of its arguments
    formula: str                 # e.g. "sin(v1)"
    value: float
    adjoint: float | None = None  # ∂f/∂node, after the backward pass


@dataclass
class BackwardStep:
    """Reverse mode visiting one node: its adjoint, pushed to each argument."""

    node: str
    adjoint: float
    edges: list[tuple[str, float, float]]  # (argument, local derivative, adjoint · local)


@dataclass
class StepRow:
    h: float
    value: float
    error: float
    chosen: bool = False


@dataclass
class Explanation:
    """What ``gradcheck explain`` shows for one scalar function at one point."""

    name: str
    point: dict[str, float]
    nodes: list[GraphNode]
    backward: list[BackwardStep]
    gradient: dict[str, float]
    reference: dict[str, float]
    symbolic: dict[str, tuple[sp.Expr, sp.Expr]]   # var -> (as differentiated, simplified)
    chains: dict[str, list[list[tuple[str, str, sp.Expr]]]]  # var -> paths of (a, b, ∂a/∂b)
    steps: dict[str, list[StepRow]]
    richardson: dict[str, tuple[float, float]]     # var -> (value, error bound)
    cost: list[dict] = field(default_factory=list)
    n_inputs: int = 1
    n_outputs: int = 1

    def __rich__(self):
        from rich.console import Group

        from ..report.explain import renderables
        return Group(*renderables(self))

    def _repr_html_(self) -> str:
        from ..report.table import to_html
        return to_html(self)


def _label(node, names) -> str:
    if node in names:
        return names[node]
    value = float(np.asarray(node.value).ravel()[0])
    return f"{value:.8g}"


def _graph_order(root) -> list:
    """Every computed node (constants excluded), arguments before results."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen or (not node.parents and node.op == "const"):
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in reversed(node.parents))
    return order


def explain(problem) -> Explanation:
    """Collect the teaching view of a one-point check of a scalar function.

    Raises:
        GradcheckError: the check has several points or several outputs.
    """
    if problem.npoints != 1:
        raise GradcheckError(f"explain works at one point; this check has {problem.npoints} "
                             "(use --at, or 'at:' with single values)")
    if problem.n_outputs != 1:
        raise GradcheckError("explain works on a scalar function; this one has "
                             f"{problem.n_outputs} outputs")
    memo: dict = {}
    with np.errstate(all="ignore"):
        (root,), variables, _ = engine.build(problem.program, problem.columns, problem.wrt, memo)
        names = {}
        for v in problem.program.variables:
            names[memo[v]] = v.name
        for sym, _expr in problem.program.lets:
            names.setdefault(memo[sym], sym.name)
        names[root] = "f" if root not in names else names[root]
        order = _graph_order(root)
        counter = 0
        for node in order:
            if node not in names:
                counter += 1
                names[node] = f"v{counter}"
        trace: list = []
        targets = [variables[w] for w in problem.wrt]
        grads = engine.backward(root, targets, trace)
    adjoints = {id(n): float(np.asarray(g.value).ravel()[0]) for n, g, _ in trace}
    for w, g in zip(problem.wrt, grads):
        adjoints[id(variables[w])] = float(np.asarray(g.value).ravel()[0])
    nodes = []
    for node in order:
        if node.op == "var":
            op, inputs, formula = ("input" if not node.const else "constant input"), [], \
                names[node]
        else:
            inputs = [_label(p, names) for p in node.parents]
            formula = (FORMATS[node.op].format(*inputs) if node.op in FORMATS
                       else f"{node.op}({', '.join(inputs)})")
            op = node.op
        nodes.append(GraphNode(names[node], op, inputs, formula,
                               float(np.asarray(node.value).ravel()[0]),
                               adjoints.get(id(node))))
    steps_out = [BackwardStep(names[n], float(np.asarray(g.value).ravel()[0]),
                              [(names.get(p, _label(p, names)),
                                float(np.asarray(local.value).ravel()[0]),
                                float(np.asarray(g.value).ravel()[0]) *
                                float(np.asarray(local.value).ravel()[0]))
                               for p, local in edges])
                 for n, g, edges in trace]
    ref, _ = reference(problem)
    exprs = derivative_expressions(problem)
    inlined = problem.program.inlined()[0]
    symbolic = {}
    for w in problem.wrt:
        raw = sp.diff(inlined, sp.Symbol(w, real=True))
        symbolic[w] = (raw, sp.simplify(exprs[(0, (w,))]))
    return Explanation(
        name=problem.name, point={k: float(v[0]) for k, v in problem.columns.items()},
        nodes=nodes, backward=steps_out,
        gradient={w: float(np.asarray(g.value).ravel()[0]) for w, g in zip(problem.wrt, grads)},
        reference={w: float(ref[(0, (w,))][0]) for w in problem.wrt},
        symbolic=symbolic, chains={w: chain_paths(problem, w) for w in problem.wrt},
        steps=step_table(problem, ref),
        richardson=_richardson(problem), cost=costs(problem, len(order)),
        n_inputs=len(problem.wrt), n_outputs=problem.n_outputs)


def chain_paths(problem, var: str, limit: int = 12) -> list[list[tuple[str, str, sp.Expr]]]:
    """The chain rule through the ``let`` intermediates: every path from f to ``var``,
    as (a, b, ∂a/∂b) factors (at most ``limit`` paths: sums over paths grow fast)."""
    definitions = {sym.name: expr for sym, expr in problem.program.lets}
    definitions["f"] = problem.program.outputs[0]
    paths: list = []

    def walk(name, prefix):
        if len(paths) >= limit:
            return
        expr = definitions[name]
        for s in sorted(expr.free_symbols, key=lambda s: s.name):
            if s.name != var and s.name not in definitions:
                continue
            factor = (name, s.name, expr.diff(s))
            if s.name == var:
                paths.append(prefix + [factor])
            else:
                walk(s.name, prefix + [factor])
    walk("f", [])
    return paths


def step_table(problem, ref, exponents=range(-1, -16, -1)) -> dict[str, list[StepRow]]:
    """Central differences D(h) = (f(x+h) - f(x-h)) / 2h for h = 10^-1 ... 10^-15,
    and the step gradcheck chooses, against the 30-digit reference."""
    rows = {}
    cols = problem.columns
    for w in problem.wrt:
        x = cols[w]
        chosen = float(fdm.step(x, 1)[0])
        hs = sorted({10.0 ** e for e in exponents} | {chosen}, reverse=True)
        table = []
        for h in hs:
            with np.errstate(all="ignore"):
                up = evaluate(problem.program, problem.column_list({w: x + h}), 1)[0, 0]
                down = evaluate(problem.program, problem.column_list({w: x - h}), 1)[0, 0]
            value = (up - down) / (2 * h)
            table.append(StepRow(h, value, abs(value - ref[(0, (w,))][0]), h == chosen))
        rows[w] = table
    return rows


def _richardson(problem) -> dict[str, tuple[float, float]]:
    d = get_method("fd").compute(problem)
    return {w: (float(d.values[(0, (w,))][0]), float(d.errors[(0, (w,))][0]))
            for w in problem.wrt}


def costs(problem, node_count: int) -> list[dict]:
    """Per method: function evaluations, graph nodes and wall time at this point."""
    n, m = len(problem.wrt), problem.n_outputs
    rows = []
    for name, evaluations in (("symbolic", "1 evaluation of the derivative formulas"),
                              ("fd", f"{4 * n} evaluations of f (4 per input: ±h/2, ±h)"),
                              ("reverse", f"1 forward pass + {m} backward pass(es), "
                                          f"{node_count} nodes")):
        start = time.perf_counter()
        get_method(name).compute(problem)
        rows.append({"method": name, "work": evaluations,
                     "seconds": time.perf_counter() - start})
    return rows
