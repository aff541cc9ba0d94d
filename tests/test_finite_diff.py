import numpy as np
import pytest

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


# ----- the one-sided analysis: smooth points keep finite differences (issue 11) -------

def classes(expr, var="x", **check):
    p = problem(expr, **check)
    st = fd.Stencil(p, p.program, 1)
    return fd.one_sided(st, var)[0][0]


def fd_verdicts(check_one, expr, **options):
    """(finite differences compared at every point and passing, the check's notes)."""
    r = check_one(expr, **options)
    assert r.status == "pass", [(row.label, v.method, v.reason) for row in r.rows
                                for v in row.verdicts.values() if v.status == "fail"]
    npoints = len(next(iter(r.points.values())))
    compared = [row.verdicts["fd"].compared for row in r.rows if "fd" in row.verdicts]
    return compared, npoints, r.notes


@pytest.mark.parametrize("expr, at", [
    # the seed check of specs/seeds/004: h = 2^-12 at a = 43, where sin(a*b) turns 3 times
    # faster than the step assumes: R(h) - R(h/2) = 4e-4, over the old 1e-6 relative bar
    ("log((sin(a*b) + exp(c - a/b))**2)*c", {"a": 43.0, "b": 3.0, "c": 2.0}),
    # the only kink is at x = -1.748; h = |x| eps^(1/3) = 1/64 .. 1/16 here
    ("sin(min(0.5*x - 0.874, x))", {"x": [3e3, -3e3, 8e3, -1.5e4, 1.5e4, 1.2e4]}),
    # small |x|: f' = 2x is 1e-12 while the step's truncation is 1e-11
    ("abs(x - 1)*x**2", {"x": [1e-12, -3e-10, 1e-9, 1e-6, -1e-7]}),
    ("sin(min(0.5*x - 0.874, x))*x**3", {"x": [1e-12, 1e-9, 1e-6, -1e-7]}),
])
def test_smooth_points_keep_finite_differences(check_one, expr, at):
    compared, n, notes = fd_verdicts(check_one, expr, at=at)
    assert compared == [n] * len(compared)
    assert not any("straddles" in note for note in notes)


@pytest.mark.parametrize("expr, grid", [
    ("sin(x**2)*abs(x - 0.5)", [-100, 100, 2001]),      # 1567 of 2001 points were dropped
    ("sin(50*x)*abs(x - 0.5)", [-1000, 1000, 2001]),    # 1923 of 2001
    ("relu(x)*sin(x)", [-1999.5, 1999.5, 4000]),        # 1360 of 4000
])
def test_fast_oscillation_over_a_wide_grid_keeps_finite_differences(check_one, expr, grid):
    # Every point keeps FD, and passes; x = 0.5 on the grid is the kink itself, where FD
    # is held to the subgradient interval.
    compared, n, notes = fd_verdicts(check_one, expr, grid={"x": grid})
    assert compared == [n]
    assert not any("straddles" in note for note in notes)


def test_second_derivatives_near_a_pole_no_false_alarm(check_one):
    # log(f^2) has a pole wherever f = sin(ab) + exp(c - a/b) crosses 0. The second
    # differences reach eps^(1/4)|a| (7e-3 at a = 60), 20 times further than the one-sided
    # differences of f' see: such points must not keep FD (they failed by 1e5 to 1e7).
    compared, n, _ = fd_verdicts(
        check_one, "log(f*f)*c", let={"f": "sin(a*b) + exp(c - a/b)"},
        sample={"a": [1, 60], "b": [0.5, 5], "c": [-2, 2]}, points=3000, order=2)
    assert min(compared) > 0.75 * n


@pytest.mark.parametrize("expr, x, kind", [
    ("abs(x)", 0.0, fd.KINK),
    ("relu(x - 0.3)", 0.3, fd.KINK),
    ("max(x, 2 - x)", 1.0, fd.KINK),
    ("min(x, 0.5*x)", 0.0, fd.KINK),
    ("abs(sin(x))", np.pi, fd.KINK),
    ("sign(x - 0.25)", 0.25, fd.ROUGH),             # a jump at the point
    ("sign(x - 0.25)", 0.25 + 1e-9, fd.ROUGH),      # ... and within the stencil
    ("1/x", 1e-9, fd.ROUGH),                        # a pole
    ("tan(x)", np.pi / 2, fd.ROUGH),
    ("tan(x)", 1.57079632, fd.ROUGH),
    ("cbrt(x)", 1e-15, fd.ROUGH),                   # a cusp
    ("log(x**2)", 1e-10, fd.ROUGH),                 # finite on both sides of x = 0
    ("log(x - 1)", 1 + 1e-9, fd.ROUGH),             # a domain edge
    ("sqrt(x)", 1e-9, fd.ROUGH),
    ("relu(x)*sin(x)", 2e-6, fd.ROUGH),             # the kink at 0 is within 2h = 7.6e-6
    ("relu(x)*sin(x)", 1e-3, fd.SMOOTH),
    ("atan2(1e-17, x)", -1.0, fd.SMOOTH),           # y > 0 fixed: analytic in x
])
def test_breaks_are_still_found(expr, x, kind):
    assert classes(expr, at={"x": x}).tolist() == [kind]


def test_a_break_quantity_decides_only_near_a_break():
    # x**2.0 is the integer power x**2 now (its literal is exact): smooth everywhere
    assert fd.is_smooth(problem("x**2.0 + sin(x)", at={"x": 1}).program)
    p = problem("abs(x - 1)*exp(x)", at={"x": [1.0, 1.0 + 1e-5, 1.0001, -3e4]})
    # one-sided differences reach 2h = 7.6e-6 here: clear of the kink from 10 times that
    clear = fd.clear_of_breaks(p, "x")
    assert clear.tolist() == [False, False, True, True]
    # second differences reach h2 = 6.1e-5: the kink at 1 is too close to 1.0001 for them
    assert fd.clear_of_breaks(p, "x", order=2).tolist() == [False, False, False, True]


def test_the_analysis_along_a_variable_covers_the_mixed_stencils_it_serves():
    # Along x (first in wrt) it serves d2/dx2 only: y does not move, relu(y) stays smooth.
    # Along y it serves d2/dx dy and d2/dy2, whose stencils cross y = 0.
    p = problem("relu(y)*sin(x)", at={"x": 1.0, "y": 1e-5}, order=2)
    assert fd.clear_of_breaks(p, "x", order=2).tolist() == [True]
    assert fd.clear_of_breaks(p, "y", order=2).tolist() == [False]
    p = problem("relu(x)*sin(y)", at={"x": 1e-5, "y": 1.0}, order=2)
    assert fd.clear_of_breaks(p, "y", order=2).tolist() == [False]  # d2/dx dy moves x
