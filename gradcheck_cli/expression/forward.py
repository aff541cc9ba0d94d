"""Our own forward-mode engine: dual numbers over the reverse engine's nodes.

A dual number is a value and its tangent, d value / d x for one input x. Here
the value is a :class:`~gradcheck_cli.expression.reverse.Node` (the same graph
the reverse engine builds, evaluated at every point at once) and the tangent is
a Node too, built from the same ops: each node's tangent is

    d node / d x = sum over its arguments a of  RULES[op](node, args) * d a / d x

with the local derivatives taken from the reverse engine's one table,
:data:`~gradcheck_cli.expression.reverse.RULES`. Both engines therefore share
every rule (and every kink convention: relu'(0) = 0, max' goes to the first
argument at a tie); they differ in how the chain rule is accumulated -- from
the inputs forward, one pass per input, against from the output backward, one
pass per output. A wrong rule is caught by the 30-digit reference, a wrong
accumulation by the other engine.

Higher orders by nesting: a tangent is itself a graph of primitives, so the
same pass over it gives the next order (dual numbers of dual numbers, forward
over forward). Chosen over truncated Taylor arithmetic, which needs a second
table -- a recurrence for the Taylor coefficients of every primitive (exp, log,
sin/cos pairs, atan, erf, powers...) -- and over hyper-dual numbers, which need
second-derivative rules and a fixed order. Nesting costs 2^k work per op at
order k against O(k^2) for Taylor series; checks ask for orders 1 to 3.
"""

from __future__ import annotations

import time

import numpy as np

from ..columns import Derivatives, Method
from .reverse import RULES, ZERO, Node, build, by_blocks, lift

ONE = Node(np.float64(1.0))  # the seed: d x / d x


def _topological(roots) -> list[Node]:
    """Nodes that depend on differentiated variables, arguments before results,
    over every root at once (one forward pass serves all outputs)."""
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
    while stack:  # iterative: deep graphs must not hit Python's recursion limit
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen or node.const:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in reversed(node.parents)
                     if id(p) not in seen and not p.const)
    return order


class LocalCache:
    """Each node's local derivatives, computed once and shared by the passes for
    every input (and by the nested passes of higher orders)."""

    def __init__(self):
        self._cache: dict = {}

    def __call__(self, node: Node) -> list:
        hit = self._cache.get(id(node))
        if hit is None or hit[0] is not node:  # (an id may be reused by a new node)
            rules = RULES[node.op]
            hit = (node, [None if p.const else lift(rule(node, *node.parents))
                          for rule, p in zip(rules, node.parents)])
            self._cache[id(node)] = hit
        return hit[1]


def tangents(roots, var: Node, local=None, trace: list | None = None) -> list[Node]:
    """One forward-mode pass: d root / d var for every root, as nodes (so they can
    be differentiated again).

    With ``trace``, each node given a tangent is appended as
    ``(node, tangent, [(argument, local derivative, argument's tangent)])`` in the
    order the pass computes them (the teaching view uses it).
    """
    local = local or LocalCache()
    tangent = {id(var): ONE}
    for node in _topological(roots):
        if not node.parents:
            continue  # an input: seeded (var) or zero (any other)
        total, terms = None, []
        for arg, d in zip(node.parents, local(node)):
            t = tangent.get(id(arg))
            if d is None or t is None:  # a constant argument, or one not depending on var
                continue
            terms.append((arg, d, t))
            term = d * t
            total = term if total is None else total + term
        if total is not None:
            tangent[id(node)] = total
            if trace is not None:
                trace.append((node, total, terms))
    return [tangent.get(id(r), ZERO) for r in roots]


def derivatives(program, columns: dict, wrt, order: int) -> tuple[dict, int, int]:
    """Every derivative up to ``order`` by forward mode (forward over forward beyond 1).

    Returns:
        ``({(output, variables): value}, node_count, passes)``; variables in ``wrt``
        order, each combination once (∂²/∂x∂y, not also ∂²/∂y∂x); one pass per
        input at order 1, giving every output's tangent at once.
    """
    outputs, variables, count = build(program, columns, wrt)
    local, values, passes = LocalCache(), {}, 0
    level = {(): outputs}
    for _ in range(order):
        nxt = {}
        for idx, nodes in level.items():
            first = wrt.index(idx[-1]) if idx else 0
            for w in wrt[first:]:
                nxt[idx + (w,)] = tangents(nodes, variables[w], local)
                passes += 1
        values.update({(out, idx): node.value for idx, nodes in nxt.items()
                       for out, node in enumerate(nodes)})
        level = nxt
    return values, count, passes


class ForwardMode(Method):
    """gradcheck's own vectorized forward-mode engine (forward over forward for order > 1)."""

    name = "forward"
    label = "forward"

    def compute(self, problem) -> Derivatives:
        start = time.perf_counter()
        values, info = by_blocks(problem, derivatives, ("nodes", "passes"))
        return Derivatives(values=values, info=info, seconds=time.perf_counter() - start)


__all__ = ["ForwardMode", "LocalCache", "derivatives", "tangents"]
