"""Complex-step differentiation: machine precision on real-analytic expressions, a
reason where f is not analytic, exact where finite differences are noisy."""

import numpy as np
import pytest
from typer.testing import CliRunner

from gradcheck_cli import columns
from gradcheck_cli.api import build_problem
from gradcheck_cli.cli import app
from gradcheck_cli.columns import get_method
from gradcheck_cli.expression.complex_step import H, not_analytic
from gradcheck_cli.expression.symbolic import reference

# Well-conditioned (no derivative near a cancellation to zero): a few ulps relative.
SMOOTH = [
    # expression, grid ranges (x, y)
    ("sin(x)", (-3, 3)), ("exp(sin(x**2))", (-2, 2)), ("x**y", (0.5, 2)),
    ("atan2(y, x)", (0.5, 2)), ("cbrt(x)", (-8, -0.5)), ("cbrt(x)", (0.5, 8)),
    ("sigmoid(x)", (-30, 30)), ("softplus(x)", (-30, 30)), ("log1p(x)", (-0.5, 3)),
    ("erf(x)", (-2, 2)), ("acosh(x)", (1.5, 9)), ("asin(x) + acos(x)/2", (-0.9, 0.9)),
    ("atanh(x)", (-0.9, 0.9)), ("tanh(x)", (-3, 3)), ("log(x, 3)", (0.1, 9)),
    ("log2(x) + log10(x)", (0.1, 9)), ("expm1(x)", (-3, 3)), ("sqrt(x**2 + y**2)", (0.5, 2)),
    ("log(1 + exp(y - x))", (-3, 3)), ("tan(x)", (-1.2, 1.2)), ("sinh(x)*cosh(y)", (-3, 3)),
    ("asinh(x)", (-30, 30)), ("atan(x)", (-5, 5)), ("1/(1 + x**2)", (-3, 3)),
    ("x**150", (-1.5, -0.5)), ("x**1.5", (0.1, 3)), ("sigmoid(x*y + 1)**2", (0.1, 2)),
]


def problem(expr, bounds, order=1):
    grid = {"x": [bounds[0], bounds[1], 17]}
    if "y" in expr:
        grid["y"] = [bounds[0], bounds[1], 7]
    return build_problem(dict(f=expr, grid=grid, order=order, backend="none"))


@pytest.mark.parametrize("expr, bounds", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_machine_precision_on_smooth_expressions(expr, bounds):
    p = problem(expr, bounds)
    ref, _ = reference(p)
    d = get_method("complex-step").compute(p)
    for key in p.keys():
        error = np.abs(d.values[key] - ref[key])
        assert np.all(error <= 2e-15 * np.abs(ref[key]) + 1e-300), p.label(key)  # < 10 ulps
        assert not d.skip[key].any()


@pytest.mark.parametrize("expr, bounds", SMOOTH + [("x*y**2 - x**2*y + 6", (1, 3)),
                                                   ("exp(x)*sin(x*y)", (0, 2))],
                         ids=[c[0] for c in SMOOTH] + ["polynomial", "exp sin"])
def test_judged_on_the_float64_row_first_and_second_order(check_one, expr, bounds):
    grid = {"x": [bounds[0], bounds[1], 17]}
    if "y" in expr:
        grid["y"] = [bounds[0], bounds[1], 7]
    result = check_one(expr, grid=grid, order=2, methods="symbolic,complex-step")
    verdicts = [r.verdicts["complex-step"] for r in result.rows]
    assert all(v.status == "pass" and v.compared > 0 for v in verdicts), \
        [(r.label, r.verdicts["complex-step"].reason) for r in result.rows]


@pytest.mark.parametrize("expr, name", [("abs(x)", "abs"), ("relu(x) + x", "relu"),
                                        ("max(x, 1)", "max"), ("min(x, y)", "min"),
                                        ("sign(x)*x**2", "sign")])
def test_refuses_what_is_not_real_analytic_with_the_reason(check_one, expr, name):
    result = check_one(expr, grid={"x": [-1, 1, 5]} | ({"y": [0, 1, 3]} if "y" in expr else {}),
                       methods="symbolic,complex-step")
    verdict = result.rows[0].verdicts["complex-step"]
    assert verdict.status == "n/a"
    assert f"real-analytic f; {name} is not" in verdict.reason
    assert result.status == "pass"  # n/a is not a failure


def test_finite_differences_are_noisy_where_complex_step_is_exact():
    # f = sin(x) + 1e8: f' = cos(x) is small beside f, so f(x + h) - f(x - h) cancels
    # 8 of f's 16 digits; Im f(x + ih) / h subtracts nothing.
    p = build_problem(dict(f="sin(x) + 1e8", grid={"x": [0, 3, 7]}, backend="none"))
    ref, _ = reference(p)
    key = (0, ("x",))
    fd = get_method("fd").compute(p).values[key]
    cs = get_method("complex-step").compute(p).values[key]
    assert np.max(np.abs(fd - ref[key])) > 1e-3                  # noise, within its estimate
    np.testing.assert_array_equal(cs, np.cos(p.columns["x"]))    # exact
    out = CliRunner().invoke(app, ["sin(x) + 1e8", "--grid", "x=0:3:7", "--methods",
                                   "fd,complex-step", "--backend", "none"])
    assert out.exit_code == 0, out.output
    assert "exact" in out.output and "complex-step" in out.output


def test_registered_but_not_a_default():
    assert "complex-step" not in columns.defaults("expression")
    assert columns.canonical("complex_step") == "complex-step"
    assert columns.TARGETS["complex-step"] == ("expression", "code")   # code: NumPy only
    assert "complex-step" not in columns.defaults("code")
    assert "stencil" not in columns.TRAITS.get("complex-step", {})
    assert H == 2.0 ** -66


def test_third_order_is_not_available(check_one):
    result = check_one("sin(x)", at={"x": 1}, order=3, methods="complex-step")
    third = next(r for r in result.rows if r.label == "∂³f/∂x³").verdicts["complex-step"]
    assert third.status == "n/a" and "up to order 2" in third.reason


def test_an_underflowed_perturbation_is_not_used():
    # sigmoid(-700) = 1e-304: h times its derivative underflows, and Im log(sigmoid) / h
    # would read 0 where f' = 1; at -600 it is still exact.
    p = build_problem(dict(f="log(sigmoid(x))", at={"x": [-700.0, -600.0, 1.0]},
                           backend="none"))
    d = get_method("complex-step").compute(p)
    key = (0, ("x",))
    np.testing.assert_array_equal(d.skip[key], [True, False, False])
    assert d.values[key][1] == 1.0


def test_branches_of_cbrt_atan2_and_integer_powers():
    x = np.array([-8.0, -0.5, 0.5])
    p = build_problem(dict(f="[cbrt(x), x**101, atan2(x, -1)]", at={"x": list(x)},
                           backend="none"))
    d = get_method("complex-step").compute(p)
    np.testing.assert_allclose(d.values[(0, ("x",))], 1 / (3 * np.cbrt(x) ** 2), rtol=1e-15)
    np.testing.assert_allclose(d.values[(1, ("x",))], 101 * x ** 100, rtol=1e-14)
    np.testing.assert_allclose(d.values[(2, ("x",))], -1 / (1 + x ** 2), rtol=4e-15)


def test_not_analytic_names_the_function():
    p = build_problem(dict(f="sin(x) + abs(x - 1)", at={"x": 2}, backend="none"))
    assert "abs is not" in not_analytic(p.program)
    assert not_analytic(build_problem(dict(f="sin(x)", at={"x": 2},
                                           backend="none")).program) is None


def test_an_exact_zero_derivative_is_exactly_zero():
    # Im (ih)^3 / h = -h²: one step alone leaves -1.8e-40 beside a reference of exactly 0,
    # and a zero reference has no relative slack; the Richardson step removes the h² term.
    p = build_problem(dict(f="x**3 + x**5", at={"x": 0}, backend="none"))
    cs = get_method("complex-step").compute(p).values[(0, ("x",))]
    assert cs[0] == 0.0
    out = CliRunner().invoke(app, ["x**3", "--at", "x=0", "--methods", "complex-step",
                                   "--backend", "none"])
    assert out.exit_code == 0, out.output
