"""Teaching mode: the computational graph, the forward pass with its tangents, the
backward pass, the symbolic derivative, the finite-difference step trade-off and
each method's cost, forward mode against reverse mode measured.

Everything here is computed by the same code that checks gradients (the engines'
nodes and passes, the symbolic program, the finite-difference stencils); this
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
from . import forward as fwd
from . import reverse as engine
from .symbolic import derivative_expressions, reference

# How each primitive reads in the graph; "{0}", "{1}" are its arguments.
FORMATS = {
    "add": "{0} + {1}", "mul": "{0} · {1}", "pow": "{0}^{1}",
    "ge": "[{0} ≥ {1}]", "lt": "[{0} < {1}]", "step": "[{0} > 0]",
}
REPEATS = 5  # timings are the best of this many runs: one point takes microseconds


@dataclass
class GraphNode:
    """One node of the computational graph at the point."""

    name: str
    op: str                      # "input", "constant input", or a primitive of the engine
    inputs: list[str]            # names (or numbers) of its arguments
    formula: str                 # e.g. "sin(v1)"
    value: float
    adjoints: dict[str, float] = field(default_factory=dict)  # output -> ∂output/∂node
    tangents: dict[str, float] = field(default_factory=dict)  # input -> ∂node/∂input

    @property
    def adjoint(self) -> float | None:
        """∂f/∂node for a function of one output (None where the pass did not reach it)."""
        return next(iter(self.adjoints.values())) if len(self.adjoints) == 1 else None


@dataclass
class TangentStep:
    """Forward mode computing one node's tangent along one input: Σ local · argument's."""

    node: str
    var: str
    tangent: float
    terms: list[tuple[str, float, float]]  # (argument, local derivative, argument's tangent)


@dataclass
class BackwardStep:
    """Reverse mode visiting one node: its adjoint, pushed to each argument."""

    node: str
    adjoint: float
    edges: list[tuple[str, float, float]]  # (argument, local derivative, adjoint · local)
    output: str = "f"
    summed: list[float] = field(default_factory=list)  # contributions added into the adjoint


@dataclass
class StepRow:
    h: float
    value: float
    error: float
    chosen: bool = False


@dataclass
class Explanation:
    """What ``gradcheck explain`` shows for a function at one point."""

    name: str
    point: dict[str, float]
    nodes: list[GraphNode]
    backward: list[BackwardStep]
    jacobian: dict[tuple[str, str], float]          # (output, input) -> by reverse mode
    tangent_jacobian: dict[tuple[str, str], float]  # the same by forward mode
    reference_jacobian: dict[tuple[str, str], float]
    symbolic: dict[tuple[str, str], tuple[sp.Expr, sp.Expr]]  # (as differentiated, simplified)
    chains: dict[tuple[str, str], list[list[tuple[str, str, sp.Expr]]]]  # (a, b, ∂a/∂b) paths
    steps: dict[str, list[StepRow]]                 # first output, per input
    richardson: dict[str, tuple[float, float]]     # var -> (value, error bound)
    forward: list[TangentStep] = field(default_factory=list)
    inputs_summed: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cost: list[dict] = field(default_factory=list)
    modes: list[dict] = field(default_factory=list)  # forward and reverse mode, measured
    outputs: list[str] = field(default_factory=lambda: ["f"])
    wrt: list[str] = field(default_factory=list)
    n_inputs: int = 1
    n_outputs: int = 1

    @property
    def gradient(self) -> dict[str, float]:
        """∂f/∂w by reverse mode, for the first output."""
        return {w: self.jacobian[(self.outputs[0], w)] for w in self.wrt}

    @property
    def reference(self) -> dict[str, float]:
        return {w: self.reference_jacobian[(self.outputs[0], w)] for w in self.wrt}

    def __rich__(self):
        from rich.console import Group

        from ..report.explain import renderables
        return Group(*renderables(self))

    def _repr_html_(self) -> str:
        from ..report.table import to_html
        return to_html(self)


def _scalar(node) -> float:
    return float(np.asarray(node.value).ravel()[0])


def _label(node, names) -> str:
    return names[node] if node in names else f"{_scalar(node):.8g}"


def _graph_order(roots) -> list:
    """Every computed node (constants excluded), arguments before results."""
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
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


def _names(problem, memo, roots, outputs) -> tuple[dict, list]:
    """Node -> name: the variables', the ``let`` names, the outputs', else v1, v2, ..."""
    names = {memo[v]: v.name for v in problem.program.variables}
    for sym, _expr in problem.program.lets:
        names.setdefault(memo[sym], sym.name)
    for root, out in zip(roots, outputs):
        names.setdefault(root, out)
    order = _graph_order(roots)
    counter = 0
    for node in order:
        if node not in names:
            counter += 1
            names[node] = f"v{counter}"
    return names, order


def explain(problem) -> Explanation:
    """Collect the teaching view of a one-point check.

    Raises:
        GradcheckError: the check has several points.
    """
    if problem.npoints != 1:
        raise GradcheckError(f"explain works at one point; this check has {problem.npoints} "
                             "(use --at, or 'at:' with single values)")
    memo: dict = {}
    wrt = list(problem.wrt)
    outputs = [problem.output_label(i) for i in range(problem.n_outputs)]
    with np.errstate(all="ignore"):
        roots, variables, _ = engine.build(problem.program, problem.columns, problem.wrt, memo)
        names, order = _names(problem, memo, roots, outputs)
        forward, tangents, tangent_jac = _forward_passes(roots, variables, wrt, names, outputs)
        backward, adjoints, jacobian, summed = _backward_passes(roots, variables, wrt, names,
                                                                outputs)
    nodes = []
    for node in order:
        if node.op == "var":
            op, inputs = ("input" if not node.const else "constant input"), []
            formula = names[node]
        else:
            inputs = [_label(p, names) for p in node.parents]
            formula = (FORMATS[node.op].format(*inputs) if node.op in FORMATS
                       else f"{node.op}({', '.join(inputs)})")
            op = node.op
        nodes.append(GraphNode(names[node], op, inputs, formula, _scalar(node),
                               adjoints.get(id(node), {}), tangents.get(id(node), {})))
    ref, _ = reference(problem)
    exprs = derivative_expressions(problem)
    inlined = problem.program.inlined()
    symbolic, chains = {}, {}
    for i, out in enumerate(outputs):
        for w in wrt:
            raw = sp.diff(inlined[i], sp.Symbol(w, real=True))
            symbolic[(out, w)] = (raw, sp.simplify(exprs[(i, (w,))]))
            chains[(out, w)] = chain_paths(problem, w, i)
    return Explanation(
        name=problem.name, point={k: float(v[0]) for k, v in problem.columns.items()},
        nodes=nodes, backward=backward, jacobian=jacobian, tangent_jacobian=tangent_jac,
        reference_jacobian={(out, w): float(ref[(i, (w,))][0])
                            for i, out in enumerate(outputs) for w in wrt},
        symbolic=symbolic, chains=chains, steps=step_table(problem, ref),
        richardson=_richardson(problem), forward=forward, inputs_summed=summed,
        cost=costs(problem, len(order)), modes=measure_modes(problem), outputs=outputs,
        wrt=wrt, n_inputs=len(wrt), n_outputs=problem.n_outputs)


def _forward_passes(roots, variables, wrt, names, outputs):
    """Forward mode, one pass per input: each node's tangent and how it was formed."""
    local, steps, tangents, jacobian = fwd.LocalCache(), [], {}, {}
    for w in wrt:
        trace: list = []
        found = fwd.tangents(roots, variables[w], local, trace)
        tangents.setdefault(id(variables[w]), {})[w] = 1.0  # the seed
        for node, tangent, terms in trace:
            value = _scalar(tangent)
            tangents.setdefault(id(node), {})[w] = value
            steps.append(TangentStep(names[node], w, value,
                                     [(_label(a, names), _scalar(d), _scalar(t))
                                      for a, d, t in terms]))
        for out, t in zip(outputs, found):
            jacobian[(out, w)] = _scalar(t)
    return steps, tangents, jacobian


def _backward_passes(roots, variables, wrt, names, outputs):
    """Reverse mode, one pass per output: adjoints, and every contribution summed into one."""
    steps, adjoints, jacobian, summed = [], {}, {}, {}
    targets = [variables[w] for w in wrt]
    for out, root in zip(outputs, roots):
        trace: list = []
        grads = engine.backward(root, targets, trace)
        received: dict = {}  # node id -> contributions, in the order the pass adds them
        for node, g, edges in trace:
            adjoints.setdefault(id(node), {})[out] = _scalar(g)
            arrived = received.get(id(node), [])  # complete: every user was visited before
            step = BackwardStep(names[node], _scalar(g), [], out,
                                arrived if len(arrived) > 1 else [])
            for parent, local in edges:
                contribution = _scalar(g) * _scalar(local)
                received.setdefault(id(parent), []).append(contribution)
                step.edges.append((names.get(parent, _label(parent, names)), _scalar(local),
                                   contribution))
            steps.append(step)
        for w, node, g in zip(wrt, targets, grads):
            adjoints.setdefault(id(node), {})[out] = jacobian[(out, w)] = _scalar(g)
            if len(received.get(id(node), [])) > 1:
                summed[(out, w)] = received[id(node)]
    return steps, adjoints, jacobian, summed


def chain_paths(problem, var: str, output: int = 0,
                limit: int = 12) -> list[list[tuple[str, str, sp.Expr]]]:
    """The chain rule through the ``let`` intermediates: every path from an output to
    ``var``, as (a, b, ∂a/∂b) factors (at most ``limit`` paths: sums over paths grow fast)."""
    top = problem.output_label(output)
    definitions = {sym.name: expr for sym, expr in problem.program.lets}
    definitions[top] = problem.program.outputs[output]
    paths: list = []

    def walk(name, prefix):
        if len(paths) >= limit:
            return
        expr = definitions[name]
        for s in sorted(expr.free_symbols, key=lambda s: s.name):
            if s.name != var and (s.name not in definitions or s.name == top):
                continue
            factor = (name, s.name, expr.diff(s))
            if s.name == var:
                paths.append(prefix + [factor])
            else:
                walk(s.name, prefix + [factor])
    walk(top, [])
    return paths


def step_table(problem, ref, exponents=range(-1, -16, -1)) -> dict[str, list[StepRow]]:
    """Central differences D(h) = (f(x+h) - f(x-h)) / 2h for h = 10^-1 ... 10^-15,
    and the step gradcheck chooses, against the 30-digit reference (first output)."""
    rows = {}
    for w in problem.wrt:
        x = problem.columns[w]
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


def _best_of(run) -> tuple[float, object]:
    """(the shortest of REPEATS wall times, run's result)."""
    best, result = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + ("es" if word.endswith("s") else "s")


def costs(problem, node_count: int) -> list[dict]:
    """Per method: the work it does, and its wall time (best of REPEATS) on this check."""
    from .complex_step import not_analytic
    n, m = len(problem.wrt), problem.n_outputs
    work = {"symbolic": "1 evaluation of the derivative formulas",
            "fd": f"{4 * n} evaluations of f (4 per input: ±h/2, ±h)",
            "reverse": f"the values + {m} backward {_plural(m, 'pass')}, {node_count} nodes",
            "forward": f"the values + {n} tangent {_plural(n, 'pass')}, {node_count} nodes"}
    if not_analytic(problem.program) is None:
        work["complex-step"] = f"{n} {_plural(n, 'evaluation')} of f in complex numbers"
    rows = []
    for name, what in work.items():
        seconds, _ = _best_of(lambda method=get_method(name): method.compute(problem))
        rows.append({"method": name, "work": what, "seconds": seconds})
    return rows


def measure_modes(problem) -> list[dict]:
    """Forward mode against reverse mode on this check, measured: the passes each made,
    the nodes those passes visited, and the time (evaluating the values included)."""
    wrt = list(problem.wrt)

    def forward_mode():
        roots, variables, _ = engine.build(problem.program, problem.columns, wrt)
        local, visits = fwd.LocalCache(), 0
        for w in wrt:
            trace: list = []
            fwd.tangents(roots, variables[w], local, trace)
            visits += len(trace)
        return len(wrt), visits

    def reverse_mode():
        roots, variables, _ = engine.build(problem.program, problem.columns, wrt)
        targets, visits = [variables[w] for w in wrt], 0
        for root in roots:
            trace: list = []
            engine.backward(root, targets, trace)
            visits += len(trace)
        return len(roots), visits

    rows = []
    with np.errstate(all="ignore"):
        for mode, run, per in (("forward", forward_mode, "input"),
                               ("reverse", reverse_mode, "output")):
            seconds, (passes, visits) = _best_of(run)
            rows.append({"mode": mode, "passes": passes, "per": per, "visits": visits,
                         "seconds": seconds})
    return rows
