"""The 30-digit reference is the derivative of the expression as written.

Each reference is held against a derivative of the TEXT taken independently: the
text is evaluated by mpmath at 50 digits, every literal read from its own digits
(mpf("1.24"), never the float 1.24), and differentiated by mpmath.diff. A
reference built from float literals folded by SymPy into rounded constants
(exp(0.5*(x - 1.24)) -> 0.537944437594674*exp(0.5*x)) is off by 1e-10 to 1e-8.
"""

import ast
import random

import mpmath
import numpy as np
import pytest

import gradcheck_cli
from gradcheck_cli.api import build_problem
from gradcheck_cli.expression.symbolic import reference

# A correct reference is float64's rounding of the exact derivative: within half an
# ulp, plus 1e-30 relative from the 30 digits. Two ulps leave room; folding errs by 1e-10.
ULPS = 2 * 2.0 ** -52

MPMATH = {"exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos,
          "tan": mpmath.tan, "tanh": mpmath.tanh, "atan": mpmath.atan, "sqrt": mpmath.sqrt,
          "sigmoid": lambda t: 1 / (1 + mpmath.exp(-t)), "log1p": mpmath.log1p}


class _Exact(ast.NodeTransformer):
    """Every numeric literal becomes mpf('<its text>'), read at the working precision."""

    def __init__(self, source):
        self.source = source

    def visit_Constant(self, node):
        text = ast.get_source_segment(self.source, node)
        call = ast.Call(ast.Name("mpf", ast.Load()), [ast.Constant(text)], [])
        return ast.copy_location(call, node)


def text_function(text: str, names: list[str]):
    """f(*values) evaluating ``text`` with mpmath (test-only: the text is ours)."""
    source = text.replace("^", "**")
    tree = _Exact(source).visit(ast.parse(source, mode="eval"))
    code = compile(ast.fix_missing_locations(tree), "<text>", "eval")
    namespace = dict(MPMATH, mpf=mpmath.mpf)
    return lambda *values: eval(code, namespace, dict(zip(names, values)))


def derivative_of_text(text: str, point: dict, wrt: tuple[str, ...]) -> float:
    """d^n f / d wrt at the (float64) point, at 50 digits, from the text alone."""
    names = sorted(point)
    f = text_function(text, names)
    with mpmath.workdps(50):
        at = [mpmath.mpf(float(point[n])) for n in names]
        orders = tuple(wrt.count(n) for n in names)
        return float(mpmath.diff(f, at, orders))


def reference_of(text: str, point: dict, wrt: tuple[str, ...]) -> float:
    order = len(wrt)
    problem = build_problem({"f": text, "at": point, "order": order})
    values, exact = reference(problem)
    assert exact.all()
    key = (0, tuple(sorted(wrt, key=list(problem.wrt).index)))
    return float(values[key][0])


def assert_reference_is_the_texts(text, point, wrt):
    expected = derivative_of_text(text, point, wrt)
    got = reference_of(text, point, wrt)
    assert abs(got - expected) <= ULPS * abs(expected) + 1e-300, (text, point, wrt, got,
                                                                  expected)


# Built to expose folding: decimal literals SymPy would combine into rounded constants.
# A folded constant is off by an ulp; a large argument of sin turns that into 1e-13 to
# 2e-11 of the derivative (the figure of each case, before the fix, in the comment).
FOLDING = [
    ("exp(0.5*(x - 1.24))", {"x": 0.3}),
    ("exp(0.5*(x - 1.24))*sin(3.1*x)", {"x": 1000.0}),                      # 1.2e-13
    ("sin(0.7*(x - 0.874))", {"x": 1.2e6}),                                 # 1.9e-11
    ("log(0.1*x + 0.2)*sin(0.7*(x - 0.874))", {"x": 4000.5}),               # 1.2e-13
    ("sin(1.1*1.3*x - 0.62*2.5)", {"x": 5000.3}),                           # 4.3e-12
    ("exp(0.1*x + 0.2*x - 0.3)*x", {"x": 1.7}),
    ("exp(exp(0.3*(x - 1.24)) - 1.01)", {"x": -0.8}),
    ("exp(0.37*(x - 1.24))*log(1.7 + 0.2*exp(0.5*(x + 0.1)))", {"x": 0.45}),
    ("sin(0.25*x + 0.1000000000000000055511)*exp(-0.3*x)", {"x": 2.0}),
    ("x**2.5*exp(-0.125*x) + x**0.5", {"x": 1.9}),
    ("exp(0.5*(x - 1.24))*y + sin(0.3*(y + 2.71))*x", {"x": 0.4, "y": -1.3}),
]


@pytest.mark.parametrize("text, point", FOLDING, ids=[t for t, _ in FOLDING])
def test_reference_is_the_derivative_of_the_text(text, point):
    for wrt in [(v,) for v in sorted(point)] + [(min(point),) * 2]:
        assert_reference_is_the_texts(text, point, wrt)


def test_mixed_second_partial_of_the_text():
    assert_reference_is_the_texts("exp(0.5*(x - 1.24))*sin(0.3*(y + 2.71))*x",
                                  {"x": 0.4, "y": -1.3}, ("x", "y"))


def _random_expression(rng: random.Random, depth: int) -> str:
    """Sums, products and exp/log/sin/tanh/sqrt of linear terms with decimal coefficients."""
    def number():
        return f"{rng.choice([1, -1]) * rng.uniform(0.05, 3):.{rng.randint(1, 4)}f}"

    if depth == 0:
        return rng.choice([f"{number()}*x", f"(x - {number()})", f"{number()}*(x + {number()})"])
    a, b = _random_expression(rng, depth - 1), _random_expression(rng, depth - 1)
    kind = rng.choice(["exp", "sin", "tanh", "log", "sqrt", "+", "*"])
    if kind == "+":
        return f"{a} + {number()}*{b}"
    if kind == "*":
        return f"({a})*({b})"
    if kind in ("log", "sqrt"):  # keep the argument positive
        return f"{kind}({number().lstrip('-')} + ({a})**2)"
    if kind == "exp":
        return f"exp({number()}*tanh({a}))"  # bounded: no overflow
    return f"{kind}({a})"


CORPUS = [_random_expression(random.Random(seed), 2) for seed in range(24)]


@pytest.mark.parametrize("text", CORPUS)
def test_reference_on_a_seeded_random_corpus(text):
    x = random.Random(text).uniform(-2, 2)
    assert_reference_is_the_texts(text, {"x": x}, ("x",))


def test_a_zero_written_as_a_difference_of_equal_exponentials_is_exactly_right():
    # d2(x*y)/dx2 = 0 everywhere, and at y = 0 so is everything it is judged against:
    # the tolerance is 0. The expect cancels to exactly 0.0 in float64 as written; SymPy
    # folded exp(0.1*(x - 1.24)) into 0.988...*exp(0.1*x) and exp(0.124) into another
    # rounded constant, and the difference came out as 1.3e-16: a false failure.
    expect = "exp(0.1*(x - 1.24)) - exp(0.1*x)/exp(0.124)"
    for x in (1.24, 0.5, 2.0):
        assert np.exp(0.1 * (x - 1.24)) - np.exp(0.1 * x) / np.exp(0.124) == 0.0
        result = gradcheck_cli.check("x*y", at={"x": x, "y": 0.0}, expect={"x,x": expect},
                                     order=2, backend="none").checks[0]
        row = next(r for r in result.rows if "expect" in r.verdicts)
        assert row.verdicts["expect"].status == "pass", (x, row.verdicts["expect"])


def test_an_exact_expect_of_a_decimal_slope_passes():
    result = gradcheck_cli.check("min(relu(x), 0.3*x)", at={"x": [-0.62, 0.62]},
                                 expect={"x": "0.1*3"}, backend="none").checks[0]
    assert result.status == "pass"
    assert result.rows[0].verdicts["expect"].error == 0.0
