"""Compile straight-line programs of SymPy expressions to numpy and mpmath.

A check is a *program*: named intermediates (``let``) assigned in order, then
output expressions that may use them. Keeping intermediates as symbols keeps
shared subexpressions shared, so a 1,000-operation network stays 1,000
operations instead of an exponentially large tree.

The translation tables below are how the symbolic method, finite differences
and the reference evaluate our functions; lambdify only generates code from
trusted SymPy trees, never from user text.
"""

from __future__ import annotations

import keyword
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

import mpmath
import numpy as np
import sympy as sp
from sympy.core.function import ArgumentIndexError
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import MpmathPrinter

from ..blocks import assemble


@dataclass(frozen=True)
class Program:
    """Inputs, ordered assignments, outputs: f(variables) computed in steps.

    Attributes:
        variables: the input symbols, in a fixed order.
        lets: ``(symbol, expression)`` pairs; each may use inputs and earlier symbols.
        outputs: the output expressions.
    """

    variables: tuple[sp.Symbol, ...]
    lets: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[sp.Expr, ...]
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def inlined(self) -> list[sp.Expr]:
        """The outputs with every intermediate substituted (for display)."""
        subs: dict = {}
        for sym, expr in self.lets:
            subs[sym] = expr.xreplace(subs)
        return [out.xreplace(subs) for out in self.outputs]

    def pruned(self, outputs: Sequence[sp.Expr]) -> "Program":
        """A program computing ``outputs`` with only the intermediates they use."""
        needed, lets = set().union(*(o.free_symbols for o in outputs)), []
        for sym, expr in reversed(self.lets):
            if sym in needed:
                lets.append((sym, expr))
                needed |= expr.free_symbols
        return Program(self.variables, tuple(reversed(lets)), tuple(outputs))


# ----- numpy: float64 over all points at once --------------------------------

def _np_sigmoid(x):
    # Stable in both tails: never exponentiates a positive number.
    t = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))


def scipy_special(name: str) -> Callable:
    """A ``scipy.special`` function, imported on its first call: SciPy takes a quarter of a
    second to import, and only checks using erf (or the engine's sigmoid) need it."""
    def call(*args):
        import scipy.special
        return getattr(scipy.special, name)(*args)
    call.__name__ = name
    return call


def nearest_float(number: sp.Rational) -> float:
    """The float64 nearest to an exact rational (Python's int / int is correctly rounded),
    ±inf beyond float64's range."""
    try:
        return number.p / number.q
    except OverflowError:
        return math.inf if number > 0 else -math.inf


class _NumPyPrinter(NumPyPrinter):
    """Exact constants (the parser keeps 1.24 as 31/25) as the float64 nearest to them,
    which is what the user's own float64 code holds: 31/25 printed as Python's 31/25
    would be the same float, but 10**400 would reach numpy as a Python int, and
    np.sin(2**70) raises (numpy takes an int beyond int64 for an object)."""

    def _print_Rational(self, expr):
        if expr.is_Integer and abs(expr.p) <= 2 ** 53:
            return str(expr.p)
        value = nearest_float(expr)
        return repr(value) if math.isfinite(value) else self._print(sp.oo if value > 0 else -sp.oo)

    _print_Integer = _print_Rational


NUMPY_FUNCS: dict[str, Callable] = {
    "sigmoid": _np_sigmoid,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "relu": lambda x: np.maximum(x, 0.0),
    "cbrt": np.cbrt,
    "erf": scipy_special("erf"),
    "Heaviside": np.heaviside,  # (x, value at 0)
}

# ----- mpmath: the high-precision reference, one point at a time --------------

MPMATH_FUNCS: dict[str, Callable] = {
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
    "relu": lambda x: x if x > 0 else mpmath.mpf(0),
    "cbrt": lambda x: mpmath.sign(x) * mpmath.cbrt(abs(x)),
    "log1p": mpmath.log1p,
    "expm1": mpmath.expm1,
    "sign": mpmath.sign,
    "Heaviside": lambda x, h0: mpmath.mpf(h0) if x == 0 else mpmath.mpf(x > 0),
}


class _MpmathPrinter(MpmathPrinter):
    """Exact constants by name, each an mpf computed once (see _mpmath_constants)."""

    def __init__(self, settings, names: dict):
        super().__init__(settings)
        self.names = names

    def _print_Rational(self, expr):
        return self.names.get(expr) or super()._print_Rational(expr)


def _mpmath_constants(program: Program) -> dict:
    """name -> (rational, its mpf) for the program's non-integer constants.

    Printed in place, 31/25 would be mpf(31)/mpf(25), two conversions and a division for
    every constant at every point: the reference of a network with a thousand decimal
    weights took twice as long. Each is computed once here, to 40 digits beyond the
    reference's, and mpmath rounds every operation that uses it to the working precision.
    """
    rationals = set()
    for expr in [e for _, e in program.lets] + list(program.outputs):
        # both signs: the printer writes x - 241/500*y for x + (-241/500)*y
        rationals |= {s * r for r in expr.atoms(sp.Rational) if not r.is_Integer for s in (1, -1)}
    with mpmath.workdps(70):
        return {f"_k{i}": (r, mpmath.mpf(r.p) / r.q)
                for i, r in enumerate(sorted(rationals, key=lambda r: (r.q, r.p)))}


def _program_cse(program: Program, use_cse: bool):
    # Programs written with intermediates already share what matters; running
    # SymPy's CSE over their (large) outputs costs more than it saves.
    use_cse = use_cse and len(program.lets) < 20

    def cse(exprs):
        if use_cse:
            replacements, reduced = sp.cse(exprs, list=False,
                                           symbols=sp.numbered_symbols("_c"))
        else:
            replacements, reduced = [], exprs
        return list(program.lets) + list(replacements), reduced
    return cse


def compile_program(program: Program, modules: str = "numpy", *, cse: bool = True) -> Callable:
    """Compile a program to a function of the variables returning the outputs.

    Args:
        program: the program to compile.
        modules: ``"numpy"`` (arrays, float64) or ``"mpmath"`` (scalars).
        cse: eliminate common subexpressions across the outputs.

    Returns:
        ``fn(*values) -> list`` with one entry per output, in variable order.
    """
    key = ("compiled", modules, cse)
    if key not in program._cache:
        table = NUMPY_FUNCS if modules == "numpy" else MPMATH_FUNCS
        # Renaming every symbol (dummify) costs a pass over the whole program;
        # it is only needed when a variable's name could shadow a library name.
        namespace = np if modules == "numpy" else mpmath
        clash = any(hasattr(namespace, v.name) or v.name in table or keyword.iskeyword(v.name)
                    or v.name.startswith("_") for v in program.variables)
        # order="none": do not sort the terms of every sum while printing (slow on big programs)
        # Heaviside (relu's derivative) called from the tables: SymPy's rewrite of each into
        # a Piecewise, with exact constants, took 2 of the 3 s to compile a relu network
        settings = {"fully_qualified_modules": False, "inline": True,
                    "allow_unknown_functions": True, "order": "none",
                    "user_functions": {"Heaviside": "Heaviside"}}
        constants = {} if modules == "numpy" else _mpmath_constants(program)
        printer = _NumPyPrinter(settings) if modules == "numpy" else \
            _MpmathPrinter(settings, {r: name for name, (r, _) in constants.items()})
        program._cache[key] = sp.lambdify(
            list(program.variables), list(program.outputs),
            modules=[table, {name: v for name, (_, v) in constants.items()}, modules],
            printer=printer, cse=_program_cse(program, cse), dummify=clash)
    return program._cache[key]


def evaluate(program: Program, columns: Sequence[np.ndarray], npoints: int) -> np.ndarray:
    """Evaluate a program in float64 at all points; returns shape (outputs, points).

    The points are evaluated in blocks, in parallel (see :mod:`gradcheck_cli.blocks`).
    """
    return assemble(lambda sl: evaluate_block(program, columns, sl), npoints)


def evaluate_block(program: Program, columns: Sequence, sl: slice) -> np.ndarray:
    """The program's outputs at the points ``sl`` (a slice or indices): shape (outputs, points).

    A column is anything sliced by ``column[sl]`` (an array, or a shifted view).
    """
    fn = compile_program(program, "numpy")
    block = [c[sl] if np.ndim(c) else c for c in columns]
    n = sl.stop - sl.start if isinstance(sl, slice) else len(sl)
    with np.errstate(all="ignore"):
        values = fn(*block)
    out = np.empty((len(values), n))
    for i, value in enumerate(values):
        out[i] = np.asarray(value, dtype=float).real
    return out


def evaluate_mpmath(program: Program, columns: Sequence[np.ndarray], indices: np.ndarray,
                    dps: int = 30) -> np.ndarray:
    """Evaluate a program with mpmath at ``dps`` digits at the given point indices.

    The points are exact float64 numbers; every operation after that is carried
    at ``dps`` digits, and the result is rounded once to float64. A point where
    the value is complex, infinite or raises (log of 0, division by zero) gives NaN;
    a finite value beyond float64's range gives ±inf (it overflows, but exists).
    mpmath works on scalars, so this loops over the (at most a few thousand) points.
    """
    fn = compile_program(program, "mpmath")
    out = np.full((len(program.outputs), len(indices)), np.nan)
    with mpmath.workdps(dps):
        for k, p in enumerate(indices):
            args = [mpmath.mpf(float(c[p])) for c in columns]
            try:
                values = fn(*args)
            except (ZeroDivisionError, ValueError, OverflowError, TypeError, ArithmeticError):
                continue
            for i, v in enumerate(values):
                out[i, k] = _to_float(v)
    return out


def _to_float(v) -> float:
    if isinstance(v, mpmath.mpc) or isinstance(v, complex):
        if abs(v.imag) > 1e-25 * max(1, abs(v.real)):
            return np.nan
        v = v.real
    if mpmath.isinf(v):
        return np.nan  # a pole, not an overflow
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return np.nan


# ----- rounding-error scale ---------------------------------------------------

def _scale_of(expr: sp.Expr, scales: dict, named: dict | None = None,
              inexact_inputs: bool = False) -> sp.Expr:
    """Linearized bound on the rounding error of ``expr``, in units of eps.

    E(leaf) = 0 for variables and numbers float64 holds exactly (integers, dyadic
    rationals such as 0.5), |c| for every other constant: 1.24 is the exact 31/25 in
    the tree, rounded when float64 code holds it, like a float or an irrational
    constant; E(g(a1..an)) = |g| + sum_i |dg/dai| E(ai). This is the running
    error bound of first-order error analysis: it grows with the size of the
    terms (cancellation in an expanded polynomial) and with the conditioning
    of each function (sin of a large argument).
    """
    if expr in scales:
        return scales[expr]
    named = named or {}
    if (expr.is_Symbol or expr.is_Rational and not expr.is_Integer) and inexact_inputs:
        result = sp.Abs(expr)  # the input (or constant) itself was rounded (to float32...)
    elif expr.is_Symbol or expr.is_Rational and _exact_in_float64(expr):
        result = sp.S.Zero
    elif expr.is_Number or expr.is_NumberSymbol:
        result = sp.Abs(expr)
    else:
        # abs() of the value as computed: by its intermediate's name where it has one
        result = sp.Abs(named.get(expr, expr).xreplace(named), evaluate=False)
        terms = [result]
        for i, arg in enumerate(expr.args):
            sub = _scale_of(arg, scales, named, inexact_inputs)
            if sub != 0:
                partial = _partial(expr, i).xreplace(named)
                terms.append(sp.Abs(partial, evaluate=False) * sub if partial != 1 else sub)
        result = sp.Add(*terms)
    scales[expr] = result
    return result


def _exact_in_float64(number: sp.Rational) -> bool:
    """Does float64 hold the rational exactly (3, 0.5, 2**-60; not 0.1, nor 10**23)?"""
    value = nearest_float(number)
    return math.isfinite(value) and Fraction(value) == Fraction(number.p, number.q)


def named_values(lets) -> dict:
    """Expression -> the intermediate holding it (also -expr -> -sym: SymPy pulls signs out
    of odd functions, so the let tanh(-u) is stored as -tanh(u))."""
    named = {}
    for sym, expr in lets:
        if expr.is_Atom:
            continue
        named[expr] = sym
        if isinstance(expr, sp.Mul) and expr.args[0] == -1:
            named[-expr] = -sym
    return named


def _partial(expr: sp.Expr, i: int) -> sp.Expr:
    """d expr / d expr.args[i], cheaply for the common node types."""
    args = expr.args
    if isinstance(expr, sp.Add):
        return sp.S.One
    if isinstance(expr, sp.Mul):
        return sp.Mul(*(a for j, a in enumerate(args) if j != i))
    if isinstance(expr, sp.Pow) and args[1].is_Number and i == 0:
        return args[1] * args[0] ** (args[1] - 1)
    try:
        if isinstance(expr, sp.Function):
            partial = no_delta(expr.fdiff(i + 1))
        else:
            d = sp.Dummy(real=True)
            swapped = expr.func(*[d if j == i else a for j, a in enumerate(args)])
            partial = no_delta(swapped.diff(d).xreplace({d: args[i]}))
    except (TypeError, ValueError, NotImplementedError, ArgumentIndexError):
        return sp.S.One
    # An unevaluated derivative (of a piecewise node at its breakpoint) cannot be
    # printed; 1 is a safe stand-in for the size of a slope there.
    return sp.S.One if partial.has(sp.Derivative) else partial


def no_delta(expr: sp.Expr) -> sp.Expr:
    """Drop Dirac deltas: derivatives of jumps, zero everywhere but at the jump."""
    if expr.has(sp.DiracDelta):
        expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    return expr


def error_scale_program(program: Program, inexact_inputs: bool = False) -> Program:
    """A program computing E(output) for each output (see :func:`_scale_of`).

    Intermediates keep their own scale symbols, so the cost stays linear in the
    program's size.
    """
    key = ("scale", inexact_inputs)
    if key in program._cache:
        return program._cache[key]
    scales: dict = {}
    lets = list(program.lets)
    named = named_values(program.lets)
    for sym, expr in program.lets:
        s = _scale_of(expr, scales, named, inexact_inputs)
        if s.is_Symbol or s.is_Number:
            scales[sym] = s
        else:
            scale_sym = sp.Dummy(f"E_{sym}", nonnegative=True)
            lets.append((scale_sym, s))
            scales[sym] = scale_sym
    outputs = tuple(_scale_of(out, scales, named, inexact_inputs) for out in program.outputs)
    program._cache[key] = Program(program.variables, tuple(lets), outputs)
    return program._cache[key]
