"""A whitelist parser for the expression language, producing SymPy.

User text is parsed with :func:`ast.parse` (which only builds a tree and runs
nothing) and every node is checked against a short whitelist: numbers, names,
``+ - * / **`` (``^`` is accepted as power), unary signs and calls of the
function table in :mod:`gradcheck_cli.expression.functions`. Anything else -- attribute
access, subscripts, strings, lambdas, keywords, unknown functions -- is a
:class:`GradcheckError`. ``eval``, ``sympify`` and ``parse_expr`` are never
called on user text.
"""

from __future__ import annotations

import ast
import math
import re
from decimal import Decimal, localcontext
from fractions import Fraction

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from ..errors import GradcheckError
from .functions import CONSTANTS, FUNCTIONS

MAX_LENGTH = 20_000
# Exact integer powers beyond this are refused: 10**10**10 would make SymPy
# build a ten-billion-digit integer.
MAX_EXACT_EXPONENT = 4096

_FLOAT64_MAX = sp.Rational(2 ** 1024 - 2 ** 971)  # the largest finite float64
_MAX_BITS = 4096  # of an exact constant's numerator or denominator: 1e-320 needs 1,063

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: None,  # handled by _power, which guards exact powers
}

_DESCRIBE = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "subscripts ('[...]')",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "conditional expressions",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.Starred: "starred arguments",
    ast.JoinedStr: "strings",
    ast.NamedExpr: "assignments (':=')",
    ast.Await: "await",
}


def symbol(name: str) -> sp.Symbol:
    """The SymPy symbol for a variable name (all variables are real)."""
    return sp.Symbol(name, real=True)


def check_name(name: str, what: str = "variable") -> str:
    """Validate a variable or `let` name; return it unchanged.

    Raises:
        GradcheckError: the name is not an identifier, starts with '_', or is
            a function or constant of the language.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise GradcheckError(f"{what} name {name!r} is not valid: use letters, digits "
                             "and '_', starting with a letter")
    if name in FUNCTIONS or name in CONSTANTS:
        raise GradcheckError(f"{what} name {name!r} is taken by a built-in "
                             f"{'function' if name in FUNCTIONS else 'constant'}")
    return name


def parse(text, *, names: dict[str, sp.Symbol] | None = None,
          allow_vector: bool = False, real: bool = True):
    """Parse an expression string into SymPy.

    Args:
        text: the expression; an int or float is accepted as a constant.
        names: symbols for names already defined (``let`` intermediates);
            any other name becomes a real variable.
        allow_vector: accept a top-level list ``[f1, f2]`` for a vector function.
        real: variables are real (else complex: abs(z)**2 must not become z**2).

    Returns:
        A SymPy expression, or a list of them for a vector expression.

    Raises:
        GradcheckError: the text is not a valid expression of the language.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise GradcheckError(f"expected an expression string, got {type(text).__name__}")
    if isinstance(text, (int, float)):
        text = repr(text)
    if not text.strip():
        raise GradcheckError("empty expression")
    if len(text) > MAX_LENGTH:
        raise GradcheckError(f"expression is longer than {MAX_LENGTH} characters")
    source = text.replace("^", "**")  # '^' is power, as in math texts
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise GradcheckError(f"cannot parse {text!r}: {exc.msg}{col}") from None
    except (RecursionError, MemoryError, ValueError):
        raise GradcheckError(f"cannot parse {text!r}: nested too deeply") from None
    builder = _Builder(text, source.strip(), names or {})
    builder.real = real
    body = tree.body
    try:
        if isinstance(body, (ast.List, ast.Tuple)):
            if not allow_vector:
                raise builder.error(body, "a list of expressions is not allowed here")
            if not body.elts:
                raise builder.error(body, "empty list of expressions")
            return [builder.check_finite(builder.build(e)) for e in body.elts]
        return builder.check_finite(builder.build(body))
    except RecursionError:
        raise GradcheckError(f"cannot parse {text!r}: nested too deeply") from None


class _Builder:
    def __init__(self, text: str, source: str, names: dict[str, sp.Symbol]):
        self.text = text
        self.source = source  # what ast parsed: node offsets point into it
        self.names = names

    def error(self, node: ast.AST, message: str) -> GradcheckError:
        col = getattr(node, "col_offset", None)
        where = f" (column {col + 1})" if col is not None else ""
        return GradcheckError(f"in {self.text!r}{where}: {message}")

    def check_finite(self, expr: sp.Expr) -> sp.Expr:
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise GradcheckError(f"in {self.text!r}: the expression is undefined "
                                 "(division by zero or an infinite constant)")
        # Exact constants do not overflow, but no float64 program could hold 1e200*1e200,
        # and 0.123**4000 would carry 3,600 digits (more than Python prints) for nothing.
        for number in expr.atoms(sp.Rational):
            if max(number.p.bit_length(), number.q.bit_length()) > _MAX_BITS:
                raise GradcheckError(f"in {self.text!r}: a numeric constant needs more than "
                                     f"{_MAX_BITS} bits exactly (a power such as 0.123**4000)")
            if abs(number) > _FLOAT64_MAX:
                raise GradcheckError(f"in {self.text!r}: the constant {to_text(number)} is "
                                     "beyond float64's range (1.8e308)")
        return expr

    def build(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand)
            raise self.error(node, f"operator {type(node.op).__name__!r} is not supported")
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op not in _BINOPS:
                raise self.error(node, f"operator {type(node.op).__name__!r} is not supported "
                                       "(use + - * / ** or ^)")
            left, right = self.build(node.left), self.build(node.right)
            if op is ast.Pow:
                return self.power(node, left, right)
            return _BINOPS[op](left, right)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            raise self.error(node, "lists are only allowed as the whole expression")
        what = _DESCRIBE.get(type(node), type(node).__name__)
        raise self.error(node, f"{what} is not allowed in expressions")

    def constant(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "strings" if isinstance(value, str) else repr(value)
            raise self.error(node, f"{kind} are not allowed in expressions")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(node, f"number {value!r} is not finite")
            return self.decimal(node, value)
        return sp.Integer(value)

    def decimal(self, node: ast.Constant, value: float) -> sp.Rational:
        """The exact value of a decimal literal, from its text as written.

        Exact rationals, not Floats: SymPy folds Floats as it builds the tree, each fold
        rounded to 53 bits (exp(0.5*(x - 1.24)) became 0.537944437594674*exp(0.5*x)), so
        the reference differentiated another function -- by an ulp, which sin of a large
        argument turns into 1e-10. Rationals are never rounded: exp(31/50) stays exp(31/50),
        0.5*(x - 1.24) is exactly x/2 - 31/50, 2.0 is the integer 2 (x**2.0 is x**2),
        0.5 is 1/2 (x**0.5 is sqrt(x)). Floats of higher precision would still be folded
        (exp of a Float is a Float) and print with all their digits. The text, not the
        float: "0.1000000000000000055511" keeps digits that the float 0.1 drops. Float64
        code gets each constant's nearest float64 (codegen), as the user's own code would.
        """
        text = ast.get_source_segment(self.source, node) or repr(value)
        text = text.replace("_", "")
        if value == 0.0:
            if re.search("[1-9]", re.split("[eE]", text)[0]):
                raise self.error(node, f"number {text} is too small for float64 (it rounds "
                                       "to 0); write 0 if that is meant")
            return sp.S.Zero
        exact = Fraction(text)
        return sp.Rational(exact.numerator, exact.denominator)

    def name(self, node: ast.Name) -> sp.Expr:
        ident = node.id
        if ident in self.names:
            return self.names[ident]
        if ident in CONSTANTS:
            return CONSTANTS[ident]
        if ident in FUNCTIONS:
            raise self.error(node, f"{ident!r} is a function: call it as {ident}(...)")
        if ident.startswith("_") or not _NAME_RE.match(ident):
            raise self.error(node, f"name {ident!r} is not allowed (names start with a letter)")
        return sp.Symbol(ident, real=True) if getattr(self, "real", True) else sp.Symbol(ident)

    def power(self, node: ast.BinOp, base: sp.Expr, exp: sp.Expr) -> sp.Expr:
        if base.is_Number and exp.is_Number:
            too_big = (abs(exp) > MAX_EXACT_EXPONENT or
                       (abs(base) > 1 and abs(exp) * math.log10(float(abs(base))) > 308))
            if too_big:
                raise self.error(node, "numeric power too large")
        return base ** exp

    def call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.error(node, "only functions of the table can be called "
                                   "(no attribute access or computed calls)")
        fname = node.func.id
        if fname not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.error(node, f"unknown function {fname!r}; known functions: {known}")
        if node.keywords:
            raise self.error(node, f"{fname}() takes no keyword arguments")
        arities, builder = FUNCTIONS[fname]
        if len(node.args) not in arities:
            want = " or ".join(str(a) for a in arities) if len(arities) < 3 else \
                f"{arities[0]} to {arities[-1]}"
            raise self.error(node, f"{fname}() takes {want} argument(s), got {len(node.args)}")
        args = [self.build(a) for a in node.args]
        try:
            return builder(*args)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise self.error(node, f"{fname}(): {exc}") from None


# ----- printing ---------------------------------------------------------------

def decimal_text(number: sp.Rational) -> str | None:
    """A rational whose denominator divides a power of ten, as the decimal a user
    writes (31/25 -> "1.24", 1/10**20 -> "1e-20"); None for 1/3 and the like."""
    q = number.q
    for factor in (2, 5):
        while q % factor == 0:
            q //= factor
    if q != 1:
        return None
    if number.is_Integer and abs(number.p) < 10 ** 16:
        return str(number.p)
    # Exact: the quotient has at most as many digits as numerator and denominator together.
    with localcontext() as ctx:
        ctx.prec = len(str(abs(number.p))) + len(str(number.q)) + 2
        value = (Decimal(number.p) / Decimal(number.q)).normalize()
    sign, digits, exponent = value.as_tuple()[0], value.as_tuple()[1], value.adjusted()
    digits = "".join(map(str, digits))
    sign = "-" if sign else ""
    if -5 < exponent < 16:  # where Python's repr of a float writes it out, 1e16 beyond
        if exponent < 0:
            return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
        return f"{sign}{digits[:exponent + 1]}.{digits[exponent + 1:]}"
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{exponent}"


class _Printer(StrPrinter):
    """SymPy's str(), with decimal constants as decimals: 1.24*x, not 31*x/25."""

    def _print_Rational(self, expr):
        return decimal_text(expr) or super()._print_Rational(expr)

    _print_Integer = _print_Rational

    def _print_Mul(self, expr):
        coeff, rest = expr.as_coeff_Mul()
        text = decimal_text(coeff) if coeff.is_Rational and not coeff.is_Integer else None
        if text is None or rest is sp.S.One:
            return super()._print_Mul(expr)
        # str() would split 31/25 into 31 in the numerator and 25 in the denominator
        return f"{text}*{self.parenthesize(rest, PRECEDENCE['Mul'], strict=True)}"

    def _print_Pow(self, expr, rational=False):
        exp = expr.exp
        if expr.base.is_Rational and expr.base > 0 and decimal_text(expr.base):
            # 2.5**x, not (2.5)**x
            return f"{decimal_text(expr.base)}**{self.parenthesize(exp, PRECEDENCE['Pow'])}"
        if exp.is_Rational and not exp.is_Integer and exp not in (sp.S.Half, -sp.S.Half):
            text = decimal_text(exp)
            if text is not None:  # x**1.5, not x**(3/2)
                base = self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=False)
                return f"{base}**{text}" if exp > 0 else f"{base}**({text})"
        return super()._print_Pow(expr, rational)


def to_text(expr) -> str:
    """How an expression is shown to users: like ``str()``, but a decimal literal prints
    as written (``exp(0.5*x - 0.62)``), not as the exact fraction the parser keeps."""
    return _Printer().doprint(expr)


def with_decimals(expr):
    """The expression with each decimal constant as a Float of exactly its digits, for
    SymPy's other printers (``sp.pretty``, ``sp.latex``): 31/25 shows as 1.24 there too.
    For display only: the Floats are not evaluated (no folding), and sqrt stays sqrt."""
    def rebuild(e):
        if e.is_Rational:
            text = decimal_text(e) if not e.is_Integer else None
            if text is None:
                return e
            digits = len(re.sub(r"[-.]|e.*", "", text).lstrip("0"))
            return sp.Float(text, max(digits, 1))
        if e.is_Pow and e.exp in (sp.S.Half, -sp.S.Half):  # sqrt(x), not x**0.5
            return sp.Pow(rebuild(e.base), e.exp)
        return e.func(*(rebuild(a) for a in e.args)) if e.args else e
    with sp.evaluate(False):
        return rebuild(expr)
