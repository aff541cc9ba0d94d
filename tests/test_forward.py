"""The forward-mode engine against the reverse engine and SymPy's 30-digit reference:
a table of expressions (one line per case, every function of the language), orders
1 to 3, kinks, mutants that must be caught, and random expression trees."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck_cli import columns
from gradcheck_cli.api import build_problem
from gradcheck_cli.columns import get_method
from gradcheck_cli.expression import forward, reverse
from gradcheck_cli.expression.forward import tangents
from gradcheck_cli.expression.reverse import Node

CASES = [
    # expression, grid ranges (x, y), order. The grids of (-2, 2) cross x = 0, where the
    # derivatives of x**2 reach x**0 (see test_integer_powers_at_zero_to_the_highest_order).
    ("sin(x)", (-3, 3), 3), ("cos(x)*x", (-3, 3), 2), ("tan(x)", (-1.2, 1.2), 2),
    ("asin(x)", (-0.9, 0.9), 2), ("acos(x)", (-0.9, 0.9), 2), ("atan(x)", (-5, 5), 2),
    ("atan2(y, x)", (0.5, 2), 2), ("sinh(x)", (-3, 3), 2), ("cosh(x)", (-3, 3), 2),
    ("tanh(x)", (-3, 3), 3), ("asinh(x)", (-30, 30), 2), ("acosh(x)", (1.5, 9), 2),
    ("atanh(x)", (-0.9, 0.9), 2), ("exp(x)", (-5, 5), 3), ("log(x)", (0.1, 9), 3),
    ("ln(x)*log(x, 3)", (0.1, 9), 2), ("log2(x) + log10(x)", (0.1, 9), 2),
    ("log1p(x)", (-0.5, 3), 2), ("expm1(x)", (-3, 3), 2), ("sqrt(x)", (0.1, 4), 3),
    ("cbrt(x)", (-8, -0.5), 2), ("cbrt(x)", (0.5, 8), 2), ("abs(x)", (-2, 2), 1),
    ("sign(x)*x**2", (-2, 2), 1), ("sigmoid(x)", (-8, 8), 3), ("softplus(x)", (-8, 8), 2),
    ("relu(x)", (-2, 2), 1), ("max(x, y)", (-1, 1), 1), ("min(x, y, 0.5)", (-1, 1), 1),
    ("erf(x)", (-2, 2), 3), ("exp(sin(x**2))", (-2, 2), 2), ("exp(sin(x**2))", (-2, 2), 3),
    ("x**y", (0.5, 2), 3),
    ("x*y**2 - x**2*y + 6", (1, 3), 3), ("exp(x)*sin(x*y)", (0, 2), 2),
    ("log(1 + exp(y - x))", (-3, 3), 3), ("sigmoid(x*y + 1)**2", (-2, 2), 3),
    ("sqrt(x**2 + y**2)", (0.5, 2), 2), ("tanh(x)*tanh(y)", (-2, 2), 2),
    ("1/(1 + x**2)", (-3, 3), 2), ("sin(x)**2 + cos(x)**2", (-3, 3), 2),
    ("abs(x)*y + relu(y - x)", (-1, 1), 1), ("re(x)*y + im(x) + conj(y)", (-1, 1), 2),
    ("[x*y, sin(x) + y**3, exp(x - y)]", (-1, 1), 2),
]


def problem(expr, bounds, order, **options):
    lo, hi = bounds
    grid = {"x": [lo, hi, 17]}
    if "y" in expr:
        grid["y"] = [lo, hi, 7]
    return build_problem(dict(f=expr, grid=grid, order=order, backend="none", **options))


@pytest.mark.parametrize("expr, bounds, order", CASES, ids=[c[0] for c in CASES])
def test_forward_agrees_with_reverse_and_the_reference(check_one, expr, bounds, order):
    p = problem(expr, bounds, order)
    fwd, rev = get_method("forward").compute(p), get_method("reverse").compute(p)
    assert set(fwd.values) == set(p.keys())
    for key in p.keys():  # the same rules, accumulated the other way: equal to rounding
        np.testing.assert_allclose(fwd.values[key], rev.values[key], rtol=1e-12, atol=1e-13,
                                   err_msg=f"{expr} {p.label(key)}")
    # and judged against SymPy at 30 digits, with the one tolerance table
    grid = {k: v for k, v in (("x", [bounds[0], bounds[1], 17]),
                              ("y", [bounds[0], bounds[1], 7])) if k in expr}
    result = check_one(expr, grid=grid, order=order, methods="symbolic,forward")
    verdicts = [r.verdicts["forward"] for r in result.rows]
    assert all(v.status in ("pass", "kink") for v in verdicts), \
        [(r.label, v.reason, v.value, v.reference) for r in result.rows
         for v in [r.verdicts["forward"]] if v.status == "fail"]
    assert min(v.compared for v in verdicts) > 0


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_integer_powers_at_zero_to_the_highest_order(check_one, n):
    # d^k x^n/dx^k reaches x**0 at k = n; its derivative by the pow rule, 0 * x**-1, was
    # NaN at x = 0 in both engines (x**2: NaN from the third derivative on).
    result = check_one(f"x**{n}", at={"x": [0.0, -1.5, 2.0]}, order=6,
                       methods="symbolic,reverse,forward")
    assert result.status == "pass", [(r.label, v.method, v.reason) for r in result.rows
                                     for v in r.verdicts.values() if v.status != "pass"]
    assert all(v.compared == 3 for r in result.rows for v in r.verdicts.values())


def test_third_derivative_of_x_squared_at_zero_passes_every_method(check_one):
    result = check_one("x**2", at={"x": 0.0}, order=3,
                       methods="symbolic,fd,reverse,forward,complex-step")
    assert result.status == "pass"
    third = result.rows[2].verdicts
    assert third["forward"].value == third["reverse"].value == 0.0


def test_table_covers_every_function():
    from gradcheck_cli.expression.functions import FUNCTIONS
    used = " ".join(c[0] for c in CASES)
    assert [f for f in FUNCTIONS if f + "(" not in used] == []
    assert {c[2] for c in CASES} == {1, 2, 3}


def test_kinks_take_the_reverse_engines_subgradient():
    p = build_problem(dict(f="relu(x) + abs(y) + max(x, y)", at={"x": [0.0, 1.0, -1.0],
                                                                  "y": [0.0, -2.0, 3.0]},
                           backend="none"))
    fwd, rev = get_method("forward").compute(p), get_method("reverse").compute(p)
    for key in p.keys():
        np.testing.assert_array_equal(fwd.values[key], rev.values[key])
    np.testing.assert_array_equal(fwd.values[(0, ("x",))], [1.0, 2.0, 0.0])  # relu'(0) = 0


def test_one_pass_per_input_gives_every_output():
    p = build_problem(dict(f="[x*y*z, x + y + z, sin(x)]", at={"x": 1, "y": 2, "z": 3},
                           backend="none", order=2))
    d = get_method("forward").compute(p)
    assert d.info["passes"] == 3 + 6  # order 1: one per input; order 2: one per pair
    assert d.values[(0, ("x", "z"))][0] == 2.0 and d.values[(1, ("y",))][0] == 1.0


def test_vectorized_over_many_points():
    p = build_problem(dict(f="exp(x)*sin(x*y)", sample={"x": [0, 1], "y": [0, 1]},
                           points=200_000, seed=1, backend="none"))
    d = get_method("forward").compute(p)
    x, y = p.columns["x"], p.columns["y"]
    np.testing.assert_allclose(d.values[(0, ("x",))],
                               np.exp(x) * (np.sin(x * y) + y * np.cos(x * y)), rtol=1e-13)


def test_registered_as_the_fifth_default_column():
    assert columns.defaults("expression") == ("symbolic", "fd", "reverse", "forward")
    assert columns.canonical("fwd") == "forward"
    assert columns.TARGETS["forward"] == ("expression",)
    with pytest.raises(Exception, match="does not apply"):
        columns.require("forward", "code")


def test_a_wrong_shared_rule_is_caught_by_the_reference(monkeypatch, check_one):
    monkeypatch.setitem(reverse.RULES, "sin", (lambda o, a: -reverse.cos(a),))
    result = check_one("exp(sin(x**2))", grid={"x": [-2, 2, 9]}, methods="symbolic,forward")
    assert result.rows[0].verdicts["forward"].status == "fail"


def test_a_wrong_forward_rule_is_caught_by_reverse_and_the_reference(monkeypatch, check_one):
    wrong = dict(reverse.RULES, exp=(lambda o, a: o * 1.000001,))  # 1e-6 off
    monkeypatch.setattr(forward, "RULES", wrong)
    p = problem("exp(sin(x**2))", (-2, 2), 1)
    fwd, rev = get_method("forward").compute(p), get_method("reverse").compute(p)
    assert not np.allclose(fwd.values[(0, ("x",))], rev.values[(0, ("x",))], rtol=1e-9)
    result = check_one("exp(sin(x**2))", grid={"x": [-2, 2, 9]}, methods="reverse,forward")
    verdicts = result.rows[0].verdicts
    assert verdicts["forward"].status == "fail" and verdicts["reverse"].status == "pass"


def test_a_sweep_that_drops_a_path_is_caught(monkeypatch, check_one):
    # an engine bug rather than a rule: a node's tangent from its first argument only
    real = forward.LocalCache.__call__
    monkeypatch.setattr(forward.LocalCache, "__call__",
                        lambda self, node: [d if i == 0 else None
                                            for i, d in enumerate(real(self, node))])
    result = check_one("x*y + sin(x)", at={"x": 1, "y": 2}, methods="reverse,forward")
    status = {r.label: r.verdicts["forward"].status for r in result.rows}
    assert status["∂f/∂y"] == "fail" and result.status == "fail"


def test_nested_tangents_are_differentiable_graphs():
    x = Node(np.array([0.5, 2.0]), (), "var", const=False)
    f = reverse.sin(x * x)
    (g,) = tangents([f], x)
    (h,) = tangents([g], x)
    xs = np.array([0.5, 2.0])
    np.testing.assert_allclose(g.value, 2 * xs * np.cos(xs ** 2))
    np.testing.assert_allclose(h.value, 2 * np.cos(xs ** 2) - 4 * xs ** 2 * np.sin(xs ** 2))


def test_trace_records_each_tangent_from_its_arguments():
    x = Node(np.array([1.0]), (), "var", const=False)
    y = Node(np.array([2.0]), (), "var", const=False)
    trace = []
    (t,) = tangents([x * y + reverse.sin(x)], x, trace=trace)
    assert t.value[0] == pytest.approx(2 + np.cos(1.0))
    last_node, _tangent, terms = trace[-1]
    assert last_node.op == "add" and len(terms) == 2  # both paths summed at the add


# ----- random expression trees ------------------------------------------------
UNARY = ["sin", "cos", "tanh", "exp", "sigmoid", "softplus", "atan", "erf", "sinh", "log1p"]


def trees(depth):
    leaf = st.sampled_from(["x", "y", "z", "0.5", "2"])
    if depth == 0:
        return leaf
    sub = trees(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda f, a: f"{f}({a})" if f != "log1p" else f"log1p(({a})**2)",
                  st.sampled_from(UNARY), sub),
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["+", "-", "*"]), sub),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(4), st.integers(0, 2 ** 16))
def test_random_trees_forward_equals_reverse(expr, seed):
    p = build_problem(dict(f=f"x*y*z + {expr}", sample={v: [-1.5, 1.5] for v in "xyz"},
                           points=16, seed=seed, order=2, backend="none"))
    fwd, rev = get_method("forward").compute(p), get_method("reverse").compute(p)
    for key in p.keys():
        a, b = fwd.values[key], rev.values[key]
        both = np.isfinite(a) & np.isfinite(b)  # exp(sinh(exp(2))) overflows for both
        # the same products, summed in another order: equal to the rounding of the terms
        a, b = a[both], b[both]
        scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
        assert np.all(np.abs(a - b) <= 1e-10 * scale), (expr, p.label(key))
