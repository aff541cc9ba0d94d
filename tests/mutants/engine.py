"""Wrong twins of specs/engine/tinyad.py: a wrong local derivative in one rule, and a
backward pass that does not add over paths. Each must fail; tinyad itself must pass."""

import math

from checks import gradients_overwriting  # noqa: F401  (specs/engine/checks.py)
from tinyad import Exp, Log, Ops, Sin, add, inv, mul, neg


class LogSquared(Ops):
    """log with d/dx = 1/x² (the rule for 1/x written in)."""

    def __init__(self, var):
        self.value = math.log(var.value)
        self.grad = [(var, 1.0 / var.value ** 2)]


class InvNoMinus(Ops):
    """1/x with d/dx = x⁻² (the minus sign lost)."""

    def __init__(self, var):
        self.value = 1 / var.value
        self.grad = [(var, var.value ** -2)]


def f2_log_squared(a, b, c):
    f = Sin(a * b) + Exp(c - (a / b))
    return LogSquared(f * f) * c


def f1_inv_no_minus(a, b):
    def div(x, y):
        return mul(x, InvNoMinus(y))
    return mul(mul(add(div(a, b), neg(a)), add(add(div(b, a), a), b)), add(a, neg(b)))


OPS_MUTANT = {add: "{0} + {1}", mul: "{0}*{1}", neg: "-{0}", inv: "1/{0}", Sin: "sin({0})",
              Exp: "exp({0})", Log: "log({0})", LogSquared: "log({0})", InvNoMinus: "1/{0}"}
