import numpy as np

from gradcheck_cli.api import build_problem
from gradcheck_cli.expression import finite_diff as fd


def problem(expr, **kw):
    return build_problem(dict(f=expr, **kw))


def test_steps_are_powers_of_two_near_eps_cube_root():
    x = np.array([0.0, 1.0, 3.14, 1e6])
    h = fd.step(x, 1)
    assert np.all(np.log2(h) == np.round(np.log2(h)))
    target = fd.EPS ** (1 / 3) * np.maximum(1, np.abs(x))
    assert np.all((h <= target) & (h > target / 2))
    assert np.all(fd.step(x, 2) > h)


def test_first_derivative_accuracy_and_error_estimate():
    p = problem("exp(sin(x**2))", grid={"x": [-2, 2, 101]})
    d = fd.FiniteDifferences().compute(p)
    xs = p.columns["x"]
    exact = np.exp(np.sin(xs**2)) * np.cos(xs**2) * 2 * xs
    err = np.abs(d.values[(0, ("x",))] - exact)
    assert np.median(err / np.maximum(np.abs(exact), 1e-300)) < 1e-10
    assert np.all(err <= 2 * d.errors[(0, ("x",))] + 1e-14)


def test_mixed_second_partial():
    p = problem("x**2*y**3", at={"x": 1.5, "y": -0.5}, order=2)
    d = fd.FiniteDifferences().compute(p)
    assert abs(d.values[(0, ("x", "y"))][0] - 6 * 1.5 * 0.25) < 1e-6


def test_third_order_is_not_available():
    p = problem("sin(x)", at={"x": 1}, order=3)
    d = fd.FiniteDifferences().compute(p)
    assert (0, ("x", "x", "x")) in d.unavailable


def test_one_sided_classifies_kink_smooth_and_rough():
    p = problem("abs(x)", at={"x": [0.0, 1.0, 1e-9]})
    st = fd.Stencil(p, p.program, 1)
    kind, left, right = fd.one_sided(st, "x")
    assert kind[0].tolist() == [fd.KINK, fd.SMOOTH, fd.ROUGH]
    assert np.isclose(left[0, 0], -1) and np.isclose(right[0, 0], 1)
