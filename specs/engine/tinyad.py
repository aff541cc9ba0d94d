"""A reverse-mode engine written from scratch, in the style of the course's
reverse-mode-from-scratch chapter (seed 004): scalar nodes, each knowing its value and
its children with the *local* derivative along each edge.

One change from the chapter: the backward pass visits each node once, in reverse
topological order, adding up what flows in along every edge (the chapter walks every
path from the output, which takes time exponential in the number of shared
subexpressions). The sums are the same.

gradcheck checks it with ``gradcheck_cli.check_engine`` (see docs/own-engine.md and
``checks.py`` beside this file).
"""

import math


class Ops:
    """Operator overloading: +, -, *, / build nodes."""

    def __add__(self, other):
        return add(self, other)

    def __mul__(self, other):
        return mul(self, other)

    def __sub__(self, other):
        return add(self, neg(other))

    def __truediv__(self, other):
        return mul(self, inv(other))


class Var(Ops):
    """A leaf: an input of the function."""

    def __init__(self, value):
        self.value = value


class add(Ops):
    def __init__(self, a, b):
        self.value = a.value + b.value
        self.grad = [(a, 1.0), (b, 1.0)]


class mul(Ops):
    def __init__(self, a, b):
        self.value = a.value * b.value
        self.grad = [(a, b.value), (b, a.value)]


class neg(Ops):
    def __init__(self, var):
        self.value = -1 * var.value
        self.grad = [(var, -1.0)]


class inv(Ops):
    def __init__(self, var):
        self.value = 1 / var.value
        self.grad = [(var, -var.value ** -2)]


class Sin(Ops):
    def __init__(self, var):
        self.value = math.sin(var.value)
        self.grad = [(var, math.cos(var.value))]


class Exp(Ops):
    def __init__(self, var):
        self.value = math.exp(var.value)
        self.grad = [(var, self.value)]


class Log(Ops):
    def __init__(self, var):
        self.value = math.log(var.value)
        self.grad = [(var, 1.0 / var.value)]


def topological(output):
    """Every node below ``output`` once, children before parents."""
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child, _ in getattr(node, "grad", []))
    return order


def get_gradients(output):
    """d output / d node for every node below ``output``: one visit per node, parents
    before children, adding what flows in along every edge."""
    gradients = {output: 1.0}
    for node in reversed(topological(output)):
        for child, local in getattr(node, "grad", []):
            gradients[child] = gradients.get(child, 0.0) + local * gradients.get(node, 0.0)
    return gradients


# What each node computes, as gradcheck's expression language writes it: lets
# check_engine compare this engine with gradcheck's own, node for node.
OPS = {add: "{0} + {1}", mul: "{0}*{1}", neg: "-{0}", inv: "1/{0}",
       Sin: "sin({0})", Exp: "exp({0})", Log: "log({0})"}


def seed_f1(a, b):
    """The chapter's first example: (a/b - a)(b/a + a + b)(a - b)."""
    return (a / b - a) * (b / a + a + b) * (a - b)


def seed_f2(a, b, c):
    """The chapter's second: log(f²)·c with f = sin(ab) + exp(c - a/b)."""
    f = Sin(a * b) + Exp(c - (a / b))
    return Log(f * f) * c
