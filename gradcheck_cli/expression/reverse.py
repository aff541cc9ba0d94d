"""Our own reverse-mode engine: micrograd's design, vectorized over points.

A :class:`Node` holds a numpy array (its value at every point), its parents and
the name of the primitive that made it. The local derivatives of every
primitive are one table, :data:`RULES`, one line each; they are written with
the same ops, so the backward pass builds nodes too, and running it again on a
gradient gives second derivatives (reverse over reverse). The backward pass
visits each node once, in reverse topological order.
"""

from __future__ import annotations

import math
import time

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p, log2, log10

from ..blocks import assemble
from .codegen import scipy_special
from ..errors import GradcheckError
from .functions import cbrt, relu, sigmoid, softplus
from ..columns import Derivatives, Method, broadcast


class Node:
    """A value at every point, and how it was computed."""

    __slots__ = ("value", "parents", "op", "const")

    def __init__(self, value, parents=(), op="const", const=True):
        self.value = value
        self.parents = parents
        self.op = op
        self.const = const  # does not depend on any variable being differentiated

    def __add__(self, other): return apply("add", self, lift(other))
    def __radd__(self, other): return apply("add", lift(other), self)
    def __mul__(self, other): return apply("mul", self, lift(other))
    def __rmul__(self, other): return apply("mul", lift(other), self)
    def __pow__(self, other): return apply("pow", self, lift(other))
    def __neg__(self): return self * -1.0                            # -a = a * (-1)
    def __sub__(self, other): return self + (-lift(other))           # a - b = a + (-b)
    def __rsub__(self, other): return lift(other) + (-self)
    def __truediv__(self, other): return self * lift(other) ** -1.0  # a / b = a * b^-1
    def __rtruediv__(self, other): return lift(other) * self ** -1.0

    def __repr__(self):
        return f"Node({self.op}, const={self.const})"


def lift(x) -> Node:
    return x if isinstance(x, Node) else Node(np.float64(x))


def variable(values, differentiated: bool) -> Node:
    return Node(values, (), "var", const=not differentiated)


def _heaviside(a):
    return (a > 0).astype(float)


# Forward evaluation of each primitive, on numpy arrays.
FORWARD = {
    "add": np.add, "mul": np.multiply, "pow": np.power,
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sinh": np.sinh, "cosh": np.cosh, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "atan2": np.arctan2, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "log1p": np.log1p, "expm1": np.expm1, "cbrt": np.cbrt,
    # scipy's erf and expit are stable in both tails; SciPy loads on their first call
    "erf": scipy_special("erf"), "sigmoid": scipy_special("expit"),
    "softplus": lambda a: np.logaddexp(0.0, a),
    "abs": np.abs, "relu": lambda a: np.maximum(a, 0.0), "max": np.maximum, "min": np.minimum,
    # piecewise-constant: derivative zero wherever it exists
    "sign": np.sign, "step": _heaviside, "ge": lambda a, b: (a >= b).astype(float),
    "lt": lambda a, b: (a < b).astype(float),
}



def apply(op: str, *args: Node) -> Node:
    # Multiplying by a constant one is common in the backward pass: skip it.
    if op == "mul":
        a, b = args
        if b.const and not b.parents and np.ndim(b.value) == 0 and b.value == 1.0:
            return a
        if a.const and not a.parents and np.ndim(a.value) == 0 and a.value == 1.0:
            return b
    value = FORWARD[op](*(a.value for a in args))
    return Node(value, args, op, const=all(a.const for a in args))


def _fn(op):
    return lambda *args: apply(op, *(lift(a) for a in args))


exp, log, sin, cos, tanh = _fn("exp"), _fn("log"), _fn("sin"), _fn("cos"), _fn("tanh")
sinh, cosh, sign, step = _fn("sinh"), _fn("cosh"), _fn("sign"), _fn("step")
ge, lt, node_sigmoid = _fn("ge"), _fn("lt"), _fn("sigmoid")
ZERO = Node(np.float64(0.0))
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _pow_base(a: Node, b: Node) -> Node:
    """d a^b / d a = b a^(b-1), except where a constant b is 0: a^0 = 1 has derivative
    0, but 0 * a^-1 is NaN at a = 0. Differentiating x**n n times reaches x**0."""
    zero = b.value == 0 if b.const else False
    if not np.any(zero):
        return b * a ** (b - 1.0)
    if np.all(zero):
        return ZERO
    # b varies over the points (a variable held constant): 0 * a^1 where b = 0
    return Node(np.where(zero, 0.0, b.value)) * a ** Node(np.where(zero, 1.0, b.value - 1.0))


# ----- local derivatives: one line per primitive ------------------------------
# RULES[op][i](out, *args) is d out / d args[i]. Built from the same ops, so the
# backward pass is itself differentiable (reverse over reverse for Hessians).
RULES = {
    # arithmetic
    "add": (lambda o, a, b: 1.0, lambda o, a, b: 1.0),
    "mul": (lambda o, a, b: b, lambda o, a, b: a),
    "pow": (lambda o, a, b: _pow_base(a, b), lambda o, a, b: o * log(a)),
    # exponentials and logarithms
    "exp": (lambda o, a: o,),
    "log": (lambda o, a: a ** -1.0,),
    "log1p": (lambda o, a: (a + 1.0) ** -1.0,),
    "expm1": (lambda o, a: o + 1.0,),
    # trigonometric
    "sin": (lambda o, a: cos(a),),
    "cos": (lambda o, a: -sin(a),),
    "asin": (lambda o, a: (1.0 - a * a) ** -0.5,),
    "acos": (lambda o, a: -(1.0 - a * a) ** -0.5,),
    "atan": (lambda o, a: (1.0 + a * a) ** -1.0,),
    "atan2": (lambda o, y, x: x / (x * x + y * y), lambda o, y, x: -y / (x * x + y * y)),
    # hyperbolic
    "sinh": (lambda o, a: cosh(a),),
    "cosh": (lambda o, a: sinh(a),),
    "tanh": (lambda o, a: 1.0 - o * o,),
    "asinh": (lambda o, a: (a * a + 1.0) ** -0.5,),
    "acosh": (lambda o, a: (a * a - 1.0) ** -0.5,),
    "atanh": (lambda o, a: (1.0 - a * a) ** -1.0,),
    # neural-network and special functions
    "sigmoid": (lambda o, a: o * (1.0 - o),),
    "softplus": (lambda o, a: node_sigmoid(a),),
    "erf": (lambda o, a: TWO_OVER_SQRT_PI * exp(-(a * a)),),
    "cbrt": (lambda o, a: (3.0 * o * o) ** -1.0,),
    # kinks: the value at the kink is one subgradient (relu'(0) = 0, as torch does)
    "abs": (lambda o, a: sign(a),),
    "relu": (lambda o, a: step(a),),
    "max": (lambda o, a, b: ge(a, b), lambda o, a, b: lt(a, b)),
    "min": (lambda o, a, b: ge(b, a), lambda o, a, b: lt(b, a)),
    # piecewise constant
    "sign": (lambda o, a: ZERO,),
    "step": (lambda o, a: ZERO,),
    "ge": (lambda o, a, b: ZERO, lambda o, a, b: ZERO),
    "lt": (lambda o, a, b: ZERO, lambda o, a, b: ZERO),
}


def _topological(root: Node) -> list[Node]:
    """Nodes that depend on differentiated variables, parents before children."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:  # iterative: deep graphs must not hit Python's recursion limit
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen or node.const:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if id(p) not in seen and not p.const)
    return order


def backward(root: Node, targets: list[Node], trace: list | None = None) -> list[Node]:
    """d root / d target for each target, as nodes (so they can be differentiated again).

    With ``trace``, each visit is appended as ``(node, adjoint, [(parent, local)])``,
    in the order the pass computes them (the teaching view uses it).
    """
    adjoint = {id(root): Node(np.float64(1.0))}
    for node in reversed(_topological(root)):
        if not node.parents or id(node) not in adjoint:
            continue
        g = adjoint.pop(id(node))
        edges = []
        if trace is not None:
            trace.append((node, g, edges))
        for rule, parent in zip(RULES[node.op], node.parents):
            if parent.const:
                continue
            local = lift(rule(node, *node.parents))
            edges.append((parent, local))
            contribution = g * local
            prev = adjoint.get(id(parent))
            adjoint[id(parent)] = contribution if prev is None else prev + contribution
    return [adjoint.get(id(t), ZERO) for t in targets]


# ----- translation from SymPy -------------------------------------------------

def _fold(op):
    return lambda *args: _reduce(op, args)


def _reduce(op, args):
    result = args[0]
    for a in args[1:]:
        result = apply(op, result, a)
    return result


TRANSLATE = {
    sp.Add: _fold("add"), sp.Mul: _fold("mul"), sp.Pow: _fn("pow"),
    sp.exp: exp, sp.log: log, sp.sin: sin, sp.cos: cos, sp.tanh: tanh,
    sp.tan: lambda a: sin(a) / cos(a),                          # tan = sin / cos
    sp.sinh: sinh, sp.cosh: cosh,
    sp.asin: _fn("asin"), sp.acos: _fn("acos"), sp.atan: _fn("atan"), sp.atan2: _fn("atan2"),
    sp.asinh: _fn("asinh"), sp.acosh: _fn("acosh"), sp.atanh: _fn("atanh"),
    log1p: _fn("log1p"), expm1: _fn("expm1"),
    log2: lambda a: log(a) * (1.0 / math.log(2.0)),             # log2 x = ln x / ln 2
    log10: lambda a: log(a) * (1.0 / math.log(10.0)),           # log10 x = ln x / ln 10
    cbrt: _fn("cbrt"), sp.erf: _fn("erf"),
    sigmoid: node_sigmoid, softplus: _fn("softplus"), relu: _fn("relu"),
    sp.Abs: _fn("abs"), sp.sign: sign, sp.Heaviside: step,
    sp.Max: _fold("max"), sp.Min: _fold("min"),
}


def _plan(program) -> list:
    """The program's distinct subexpressions in evaluation order, cached on the program.

    Each step is ``(target, expr)``: a subexpression to translate (target is
    expr) or a ``let`` symbol naming an expression already translated.
    Computed once, so evaluating the program block by block does not walk the
    SymPy tree for every block.
    """
    key = "reverse plan"
    if key not in program._cache:
        steps, seen = [], set(program.variables)

        def visit(expr):
            # Bottom-up without deep recursion on long chains of lets.
            for sub in sp.postorder_traversal(expr):
                if sub not in seen:
                    seen.add(sub)
                    steps.append((sub, sub))
        for sym, expr in program.lets:
            visit(expr)
            seen.add(sym)
            steps.append((sym, expr))
        for out in program.outputs:
            visit(out)
        program._cache[key] = steps
    return program._cache[key]


def build(program, columns: dict, wrt, memo: dict | None = None):
    """Nodes for a program's outputs, evaluated at all points.

    Args:
        memo: filled with SymPy expression (and ``let`` symbol) -> node, if given.

    Returns:
        ``(outputs, variables, node_count)``.
    """
    memo = {} if memo is None else memo
    variables = {}
    for v in program.variables:
        variables[v.name] = memo[v] = variable(columns[v.name], v.name in wrt)
    for target, expr in _plan(program):
        if target is not expr:  # a let: its name stands for the expression's node
            memo[target] = memo[expr]
        elif expr.is_Number or expr.is_NumberSymbol:
            memo[expr] = Node(np.float64(float(expr)))
        else:
            rule = TRANSLATE.get(expr.func)
            if rule is None:
                raise GradcheckError(f"the reverse engine has no rule for {expr.func.__name__}")
            memo[expr] = rule(*[memo[a] for a in expr.args])
    return [memo[out] for out in program.outputs], variables, len(memo)


class ReverseMode(Method):
    """gradcheck's own vectorized reverse-mode engine (reverse over reverse for order > 1)."""

    name = "reverse"
    label = "reverse"

    def compute(self, problem) -> Derivatives:
        start = time.perf_counter()
        values, info = by_blocks(problem, derivatives, ("nodes",))
        return Derivatives(values=values, info=info, seconds=time.perf_counter() - start)


def by_blocks(problem, engine, names: tuple) -> tuple[dict, dict]:
    """Run an engine (``engine(program, columns, wrt, order) -> (values, *figures)``) block
    by block over the points, which are independent: one graph per block. Returns the
    values per key and the figures under ``names`` (the last block's)."""
    keys, info = problem.keys(), {}

    def block(sl):
        columns = {name: c[sl] for name, c in problem.columns.items()}
        values, *figures = engine(problem.program, columns, problem.wrt, problem.order)
        info.update(zip(names, figures))
        return np.array([broadcast(values[k], sl.stop - sl.start) for k in keys])

    return dict(zip(keys, assemble(block, problem.npoints))), info


def derivatives(program, columns: dict, wrt, order: int) -> tuple[dict, int]:
    """Every derivative up to ``order`` by reverse mode (reverse over reverse beyond 1).

    Returns:
        ``({(output, variables): value}, node_count)``; variables in ``wrt``
        order, each combination once (∂²/∂x∂y, not also ∂²/∂y∂x).
    """
    outputs, variables, count = build(program, columns, wrt)
    targets = [variables[w] for w in wrt]
    values = {}
    level = {(i, ()): out for i, out in enumerate(outputs)}
    for _ in range(order):
        nxt = {}
        for (out, idx), node in level.items():
            first = wrt.index(idx[-1]) if idx else 0
            grads = backward(node, targets[first:])
            for w, g in zip(wrt[first:], grads):
                nxt[(out, idx + (w,))] = g
        values.update({k: n.value for k, n in nxt.items()})
        level = nxt
    return values, count


__all__ = ["Node", "RULES", "TRANSLATE", "backward", "build", "derivatives", "ReverseMode"]
