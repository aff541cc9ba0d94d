"""Exact constants reach each consumer as it needs them: numpy the nearest float64,
mpmath the exact value, the rounding-error scale |c| where float64 rounds c."""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from gradcheck_cli.expression.codegen import (
    Program,
    error_scale_program,
    evaluate,
    evaluate_mpmath,
)
from gradcheck_cli.expression.parse import parse
from gradcheck_cli.expression.reverse import derivatives

x = sp.Symbol("x", real=True)


def program(text):
    return Program((x,), (), (parse(text),))


def at(text, value, modules="numpy"):
    column = [np.array([value])]
    if modules == "numpy":
        return float(evaluate(program(text), column, 1)[0, 0])
    return float(evaluate_mpmath(program(text), column, np.array([0]))[0, 0])


@pytest.mark.parametrize("text, expected", [
    ("1.24*x", 1.24),
    ("0.1000000000000000055511*x", 0.1),            # the same float as 0.1
    ("x/3", 1 / 3),
    ("1e23*x", 1e23),                                # 10**23 is not a float64: its nearest
    ("sin(2**70)*x", float(np.sin(2.0**70))),       # numpy took 2**70 for an object
    ("sin(1e21)*x", float(np.sin(1e21))),
    ("1e-320*x", 1e-320),
])
def test_numpy_gets_the_nearest_float64_of_each_constant(text, expected):
    assert at(text, 1.0) == expected


def test_mpmath_gets_the_exact_value():
    # At x = 1.24 (the float), x - 1.24 is 0 in float64 but -8.9e-17 exactly.
    exact = (Fraction(1.24) - Fraction("1.24")) * 10**17
    assert at("(x - 1.24)*1e17", 1.24, "mpmath") == pytest.approx(float(exact), rel=1e-14)
    assert at("(x - 1.24)*1e17", 1.24) == 0.0
    digits = Fraction("0.1000000000000000055511") - Fraction("0.1")
    assert at("x*0.1000000000000000055511 - x*0.1", 1.0, "mpmath") == pytest.approx(
        float(digits), rel=1e-14)


@pytest.mark.parametrize("text, x0, scale", [
    ("x - 1.24", 1.24, 1.24),           # 31/25 is rounded by float64: it counts, |c|
    ("x - 0.5", 1.24, 0.74),            # 1/2 is exact: only the sum's own |x - 0.5|
    ("x + 1e23", 0.0, 2e23),            # 10**23 is rounded
    ("x + 2**70", 0.0, 2.0**70),        # 2**70 is exact
    ("x/3", 3.0, 2.0),                  # |x/3| + |x| |1/3|
])
def test_rounding_scale_counts_constants_float64_rounds(text, x0, scale):
    value = evaluate(error_scale_program(program(text)), [np.array([x0])], 1)[0, 0]
    assert value == pytest.approx(scale, rel=1e-15)


def test_reverse_engine_takes_the_nearest_float64():
    values, _ = derivatives(program("1.24*x**1.5"), {"x": np.array([2.0])}, ["x"], 1)
    assert values[(0, ("x",))][0] == pytest.approx(1.24 * 1.5 * np.sqrt(2.0), rel=2e-16)
