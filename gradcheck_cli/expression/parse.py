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

import sympy as sp

from ..errors import GradcheckError
from .functions import CONSTANTS, FUNCTIONS

MAX_LENGTH = 20_000
# Exact integer powers beyond this are refused: 10**10**10 would make SymPy
# build a ten-billion-digit integer.
MAX_EXACT_EXPONENT = 4096

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
          allow_vector: bool = False):
    """Parse an expression string into SymPy.

    Args:
        text: the expression; an int or float is accepted as a constant.
        names: symbols for names already defined (``let`` intermediates);
            any other name becomes a real variable.
        allow_vector: accept a top-level list ``[f1, f2]`` for a vector function.

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
    builder = _Builder(text, names or {})
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
    def __init__(self, text: str, names: dict[str, sp.Symbol]):
        self.text = text
        self.names = names

    def error(self, node: ast.AST, message: str) -> GradcheckError:
        col = getattr(node, "col_offset", None)
        where = f" (column {col + 1})" if col is not None else ""
        return GradcheckError(f"in {self.text!r}{where}: {message}")

    def check_finite(self, expr: sp.Expr) -> sp.Expr:
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise GradcheckError(f"in {self.text!r}: the expression is undefined "
                                 "(division by zero or an infinite constant)")
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
            return sp.Float(value)
        return sp.Integer(value)

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
        return sp.Symbol(ident, real=True)

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
