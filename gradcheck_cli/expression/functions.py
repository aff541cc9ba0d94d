"""The function table of the expression language, and the SymPy functions it needs.

Every name a user may call maps to a builder producing a SymPy expression. SymPy
has no sigmoid, softplus, relu or real cube root, so they are defined here as
SymPy functions with their derivative (``fdiff``), a rewrite into elementary
functions (used by ``evalf``) and nothing else: each method translates them
through its own table (numpy, mpmath, the reverse engine, a framework).
"""

from __future__ import annotations

import sympy as sp
from mpmath.libmp import prec_to_dps
from sympy.codegen.cfunctions import expm1, log1p, log2, log10


class _Elementary(sp.Function):
    """A named function that evaluates through its rewrite into elementary functions."""

    def _elementary(self) -> sp.Expr:  # pragma: no cover - overridden
        raise NotImplementedError

    def _eval_evalf(self, prec):
        return self._elementary().evalf(prec_to_dps(prec))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real


class sigmoid(_Elementary):
    """The logistic function 1 / (1 + exp(-x))."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.S.Half

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _elementary(self):
        return 1 / (1 + sp.exp(-self.args[0]))


class softplus(_Elementary):
    """log(1 + exp(x)), whose derivative is the sigmoid."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _elementary(self):
        return sp.log(1 + sp.exp(self.args[0]))


class relu(_Elementary):
    """max(0, x). Its derivative is Heaviside(x), undefined at the kink x = 0."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_nonnegative:
            return x
        if x.is_negative:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0])

    def _elementary(self):
        return sp.Max(0, self.args[0])


class cbrt(_Elementary):
    """The real cube root (negative for negative x, unlike x**(1/3))."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.real_root(x, 3)

    def fdiff(self, argindex=1):
        return 1 / (3 * cbrt(self.args[0]) ** 2)

    def _elementary(self):
        x = self.args[0]
        return sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)


def _log(x, base=None):
    return sp.log(x) if base is None else sp.log(x) / sp.log(base)


# name -> (allowed argument counts, builder). One line per function of the language.
FUNCTIONS: dict[str, tuple[tuple[int, ...], object]] = {
    # trigonometric
    "sin": ((1,), sp.sin),
    "cos": ((1,), sp.cos),
    "tan": ((1,), sp.tan),
    "asin": ((1,), sp.asin),
    "acos": ((1,), sp.acos),
    "atan": ((1,), sp.atan),
    "atan2": ((2,), sp.atan2),
    # hyperbolic
    "sinh": ((1,), sp.sinh),
    "cosh": ((1,), sp.cosh),
    "tanh": ((1,), sp.tanh),
    "asinh": ((1,), sp.asinh),
    "acosh": ((1,), sp.acosh),
    "atanh": ((1,), sp.atanh),
    # exponentials and logarithms
    "exp": ((1,), sp.exp),
    "log": ((1, 2), _log),
    "ln": ((1,), sp.log),
    "log2": ((1,), log2),
    "log10": ((1,), log10),
    "log1p": ((1,), log1p),
    "expm1": ((1,), expm1),
    # powers and roots
    "sqrt": ((1,), sp.sqrt),
    "cbrt": ((1,), cbrt),
    # piecewise: kinks and jumps
    "abs": ((1,), sp.Abs),
    "sign": ((1,), sp.sign),
    "relu": ((1,), relu),
    "max": ((2, 3, 4, 5, 6, 7, 8), sp.Max),
    "min": ((2, 3, 4, 5, 6, 7, 8), sp.Min),
    # neural-network and special functions
    "sigmoid": ((1,), sigmoid),
    "softplus": ((1,), softplus),
    "erf": ((1,), sp.erf),
    # complex checks (dtype: complex128); of a real variable they are x, x and 0
    "conj": ((1,), sp.conjugate),
    "re": ((1,), sp.re),
    "im": ((1,), sp.im),
}

CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}

# ----- where each function stops being smooth ----------------------------------

# Analytic on the whole real line: no kink, jump, pole or branch point anywhere.
ENTIRE = (sp.exp, sp.sin, sp.cos, sp.sinh, sp.cosh, sp.tanh, sp.atan, sp.asinh, sp.erf,
          expm1, sigmoid, softplus)


def _pairs(*args):
    # max/min: a kink wherever two arguments tie
    return [a - b for i, a in enumerate(args) for b in args[i + 1:]]


# function -> the quantities whose zeros are its kinks, jumps, poles, cusps, branch points
# and domain edges; away from those zeros it is analytic. One line per function.
BREAKS = {
    sp.Abs: lambda u: [u],
    sp.sign: lambda u: [u],
    sp.Heaviside: lambda u, *h0: [u],
    relu: lambda u: [u],
    sp.Max: _pairs,
    sp.Min: _pairs,
    sp.log: lambda u: [u],
    log2: lambda u: [u],
    log10: lambda u: [u],
    log1p: lambda u: [1 + u],
    cbrt: lambda u: [u],
    sp.tan: lambda u: [sp.cos(u)],
    sp.asin: lambda u: [1 - u, 1 + u],
    sp.acos: lambda u: [1 - u, 1 + u],
    sp.atanh: lambda u: [1 - u, 1 + u],
    sp.acosh: lambda u: [u - 1],
    # the cut along x < 0 and the origin lie on y = 0; x too, to be safe near the origin
    sp.atan2: lambda y, x: [y, x],
}


def breaks(node: sp.Expr) -> list | None:
    """The quantities whose zeros are where ``node`` itself (not its arguments) is not
    analytic: [] for sums, products, entire functions and smooth powers; None for a node
    of unknown kind, about which nothing can be said."""
    if node.is_Atom or node.is_Add or node.is_Mul or isinstance(node, ENTIRE):
        return []
    if node.is_Pow:
        base, exp = node.args
        if exp.is_Integer and exp >= 0 or base.is_number and base.is_positive:
            return []  # x**3, 2**x
        return [base]  # 1/x, sqrt(x), x**1.5, x**y: a pole, a branch point or an edge at 0
    rule = BREAKS.get(type(node))
    return None if rule is None else rule(*node.args)


def breaks_of(program) -> list | None:
    """The quantities whose zeros are a program's kinks, jumps, poles and edges,
    deduplicated, constants dropped; None if a node is of unknown kind. Cached."""
    if "breaks" not in program._cache:
        found, seen = {}, set()
        for expr in [e for _, e in program.lets] + list(program.outputs):
            nodes = sp.preorder_traversal(expr)
            for node in nodes:
                if node in seen:  # a shared subtree is walked once
                    nodes.skip()
                    continue
                seen.add(node)
                quantities = breaks(node)
                if quantities is None or any(u.is_number and u.is_zero for u in quantities):
                    found = None  # a node of unknown kind, or abs(0): nothing can be proved
                    break
                found.update((u, None) for u in quantities if not u.is_number)
            if found is None:
                break
        program._cache["breaks"] = None if found is None else list(found)
    return program._cache["breaks"]


__all__ = ["FUNCTIONS", "CONSTANTS", "ENTIRE", "BREAKS", "breaks", "breaks_of", "sigmoid",
           "softplus", "relu", "cbrt", "log1p", "expm1", "log2", "log10"]
