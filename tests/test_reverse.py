import math

import numpy as np
import pytest
import sympy as sp

from gradcheck_cli.expression.codegen import Program
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.expression.parse import parse, symbol
from gradcheck_cli.expression import reverse
from gradcheck_cli.expression.reverse import RULES, FORWARD, Node, backward, build


def grad_of(text, **values):
    expr = parse(text)
    variables = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    cols = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in values.items()}
    outs, nodes, _ = build(Program(variables, (), (expr,)), cols, list(cols))
    names = [v.name for v in variables]
    return dict(zip(names, (g.value for g in backward(outs[0], [nodes[n] for n in names]))))


def test_micrograd_style_ops_and_vectorized_values():
    g = grad_of("x*y + sin(x)", x=[0.0, 1.0, 2.0], y=[3.0, 4.0, 5.0])
    np.testing.assert_allclose(g["x"], [3 + 1, 4 + np.cos(1), 5 + np.cos(2)])
    np.testing.assert_allclose(g["y"], [0, 1, 2])


def test_seed_article_values():
    g = grad_of("(a/b - a)*(b/a + a + b)*(a - b)", a=230.3, b=33.2)
    assert g["a"][0] == pytest.approx(-153284.83150602411, rel=1e-12)
    assert g["b"][0] == pytest.approx(3815.0389441500993, rel=1e-12)


def test_relu_subgradient_at_zero_is_zero_like_torch():
    g = grad_of("relu(x)", x=[-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(g["x"], [0.0, 0.0, 1.0])


def test_sigmoid_is_stable_in_the_tails():
    g = grad_of("sigmoid(x)", x=[-800.0, 800.0])
    assert np.all(np.isfinite(g["x"]))


def test_every_translated_primitive_has_a_rule():
    prims = set(RULES)
    assert prims == set(FORWARD)


def test_missing_rule_is_a_clear_error():
    x = symbol("x")
    expr = sp.gamma(x)
    with pytest.raises(GradcheckError, match="no rule for gamma"):
        build(Program((x,), (), (expr,)), {"x": np.ones(2)}, ["x"])


def test_shared_subexpressions_are_visited_once():
    # v_{k+1} = v_k * v_k + v_k : a DAG whose paths double at every step (2^60 paths).
    x = Node(np.array([0.1]), (), "var", const=False)
    v = x
    for _ in range(60):
        v = v * v + v
    trace = []
    (g,) = backward(v, [x], trace)
    visited = [id(node) for node, _, _ in trace]
    assert len(visited) == len(set(visited)) == 120   # each add and mul node once
    assert g.value.shape == (1,)


def test_backward_matches_a_hand_computed_dag():
    # f = a*b + a: df/da = b + 1, df/db = a; a is used twice
    a = Node(np.array([2.0, 3.0]), (), "var", const=False)
    b = Node(np.array([5.0, 7.0]), (), "var", const=False)
    ga, gb = backward(a * b + a, [a, b])
    np.testing.assert_array_equal(ga.value, [6.0, 8.0])
    np.testing.assert_array_equal(gb.value, [2.0, 3.0])


def test_reverse_over_reverse_hessian():
    x = Node(np.array([0.5, 2.0]), (), "var", const=False)
    f = reverse.sin(x * x)
    (g,) = backward(f, [x])
    (h,) = backward(g, [x])
    xs = np.array([0.5, 2.0])
    np.testing.assert_allclose(h.value, 2 * np.cos(xs**2) - 4 * xs**2 * np.sin(xs**2))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_repeated_derivatives_of_integer_powers_are_exact_at_zero(n):
    # d^k x^n/dx^k = n!/(n-k)! x^(n-k), 0 for k > n. At k = n the pow rule reaches x**0,
    # whose derivative 0 * x**-1 must be 0, not NaN, at x = 0.
    xs = np.array([0.0, -1.5, 2.0])
    x = Node(xs, (), "var", const=False)
    g = x ** float(n)
    for k in range(1, 7):
        (g,) = backward(g, [x])
        expected = math.perm(n, k) * xs ** (n - k) if k <= n else np.zeros(3)
        np.testing.assert_array_equal(g.value, expected, err_msg=f"d^{k}/dx^{k} x**{n}")


def test_pow_rule_at_zero_keeps_non_integer_and_variable_exponents():
    x = Node(np.array([0.0, 0.25, 4.0]), (), "var", const=False)
    with np.errstate(divide="ignore"):
        (g,) = backward(x ** 0.5, [x])        # d sqrt(x)/dx = 1/(2 sqrt x): inf at 0
    np.testing.assert_array_equal(g.value, [np.inf, 1.0, 0.25])
    a = Node(np.array([3.0, 0.25, 5.0]), (), "var", const=False)
    b = Node(np.array([2.0, 0.5, 0.0]), (), "var", const=False)
    ga, gb = backward(a ** b, [a, b])         # x**y: b a^(b-1) and a^b log a
    np.testing.assert_allclose(ga.value, [6.0, 1.0, 0.0])
    np.testing.assert_allclose(gb.value, [9 * np.log(3), 0.5 * np.log(0.25), np.log(5)])
    # an exponent held constant that is 0 at some points only: (x**n)' = 0 there
    n = Node(np.array([0.0, 1.0, 2.0]), (), "var", const=True)
    z = Node(np.zeros(3), (), "var", const=False)
    (g,) = backward(z ** n, [z])
    np.testing.assert_array_equal(g.value, [0.0, 1.0, 0.0])
