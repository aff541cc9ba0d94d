"""Tolerances, kinks, domain edges and non-finite values."""

import numpy as np
import pytest



def failing(result):
    return [(r.label, v.method, v.reason) for r in result.rows
            for v in r.verdicts.values() if v.status == "fail"]


def test_no_false_alarm_under_cancellation_near_a_root(check_one):
    # (x - 1)^3 expanded: f' = 3x^2 - 6x + 3 cancels to ~1e-10 near x = 1.
    r = check_one("x**3 - 3*x**2 + 3*x - 1", grid={"x": [1 - 1e-5, 1 + 1e-5, 41]}, order=2)
    assert r.status == "pass", failing(r)


def test_no_false_alarm_at_large_magnitudes(check_one):
    r = check_one("x**3", at={"x": 1e8}, order=2)
    assert r.status == "pass", failing(r)
    r = check_one("x**3 - 3e8*x**2", grid={"x": [0.99e8, 1.01e8, 11]})
    assert r.status == "pass", failing(r)


def test_large_arguments_of_sin_are_ill_conditioned_not_wrong(check_one):
    r = check_one("exp(sin(x**2))", grid={"x": [30, 40, 101]})
    assert r.status == "pass", failing(r)


def test_kink_is_reported_and_subgradients_accepted(check_one):
    r = check_one("abs(x) + relu(x)", at={"x": [-1.0, 0.0, 1.0]})
    assert r.status == "pass", failing(r)
    assert r.rows[0].kinks == 1
    assert any("kink" in n for n in r.notes)


def test_a_wrong_value_at_a_kink_fails(check_one):
    # The subgradient interval of abs at 0 is [-1, 1]: 3 is outside it.
    r = check_one("abs(x)", at={"x": 0.0}, expect={"x": "3"})
    assert r.status == "fail"
    assert r.rows[0].verdicts["expect"].reason == "outside the subgradient interval"


def test_domain_edge_is_excluded_not_failed(check_one):
    r = check_one("log(x - 1)", grid={"x": [1, 2, 11]}, order=2)
    assert r.status == "pass", failing(r)
    assert r.rows[0].excluded == 1
    assert any("outside the domain" in n for n in r.notes)


@pytest.mark.parametrize("f, at", [
    ("tan(x)", {"x": [1.5707963267948966, 1.57079632]}),   # a pole between f's finite values
    ("1/x", {"x": [1e-12, -1e-9]}),
    ("log(x**2)", {"x": 1e-10}),                          # finite on both sides of x = 0
    ("cbrt(x)", {"x": 1e-15}),                            # a cusp
    ("atan2(y, x)", {"x": -1.0, "y": 1e-17}),             # across the branch cut
])
def test_a_stencil_straddling_a_singularity_is_not_used_not_failed(check_one, f, at):
    # The stencil sees only finite values of f, so nothing looks like a domain edge; without
    # the one-sided analysis finite differences "failed" here by 1e17 (tan) or 2e10 (log).
    r = check_one(f, at=at)
    assert r.status == "pass", failing(r)
    fd = [row.verdicts["fd"] for row in r.rows if row.verdicts["fd"].compared == 0]
    assert fd and any("straddles" in n for n in r.notes)
    assert all(row.verdicts["symbolic"].status == "pass" for row in r.rows)


def test_only_functions_smooth_on_the_whole_line_skip_the_one_sided_analysis():
    from gradcheck_cli.api import build_problem
    from gradcheck_cli.expression.finite_diff import is_smooth

    def smooth(text):
        return is_smooth(build_problem({"f": text, "at": {"x": 1}}).program)
    assert all(smooth(t) for t in ["exp(sin(x**2))", "x**3 - 2*x + 1", "2**x",
                                   "sigmoid(x)*softplus(x)*tanh(x)",
                                   "erf(x) + atan(x) + asinh(x) + cosh(x)"])
    assert smooth("atan2(x, 1)")  # SymPy makes it atan(x)
    assert not any(smooth(t) for t in ["1/x", "tan(x)", "log(x**2)", "sqrt(x)", "x**0.5",
                                       "x**-2", "cbrt(x)", "atan2(1, x)", "abs(x)", "relu(x)",
                                       "max(x, 1)"])
    # conservative: a division is analysed even where its denominator never vanishes
    assert not smooth("exp(x)/(1 + x**2)")


def test_a_value_beyond_float64s_range_is_told_apart_from_a_pole(check_one):
    # exp(exp(exp(x))) exists at x = 2 (about e^1618) but no float64 holds it; 1/x has a pole
    r = check_one("exp(exp(exp(x)))", grid={"x": [-1, 5, 7]})
    assert r.status == "pass" and r.rows[0].excluded == 4
    assert any(n.startswith("beyond float64's range") and "4 point(s), e.g. x=2" in n
               for n in r.notes)
    assert not any("outside the domain" in n for n in r.notes)
    r = check_one("1/x", grid={"x": [-1, 1, 3]})
    assert any("outside the domain" in n for n in r.notes)
    assert not any("beyond float64" in n for n in r.notes)


def test_non_finite_method_fails_with_that_reason(check_one):
    r = check_one("-log(exp(x)/(exp(x) + exp(y)))", at={"x": 400, "y": 800})
    assert r.status == "fail"
    reasons = {v.method: v.reason for row in r.rows for v in row.verdicts.values()}
    assert reasons["reverse"] == "non-finite"
    assert reasons["symbolic"] == "non-finite"
    # the 30-digit reference is finite: -1 and 1
    assert [row.ref_min for row in r.rows] == [-1.0, 1.0]


def test_wrong_expectation_is_localized(check_one):
    r = check_one("x**2 - 2*x + 1", grid={"x": [-2, 2, 41]}, expect={"x": "2*x - 3"})
    v = r.rows[0].verdicts["expect"]
    assert v.status == "fail" and v.reason == "outside tolerance"
    assert abs(abs(v.value - v.reference) - 1.0) < 1e-12
    assert r.rows[0].verdicts["reverse"].status == "pass"


def test_seed_chain_rule_value(check_one):
    r = check_one("exp(sin(x**2))", at={"x": 2})
    assert np.isclose(r.rows[0].ref_min, -1.2266647089368419, rtol=1e-15)


def test_more_than_1000_points_uses_a_subset_for_the_reference(check_one):
    r = check_one("sin(x)", grid={"x": [0, 1, 3000]})
    assert r.reference_points == 1000
    assert any("1000 of 3000" in n for n in r.notes)
    assert r.status == "pass"


def test_where_f_has_no_value_is_outside_the_domain(check_one):
    # d/dx log(x) = 1/x is finite at x = -1, but log(-1) is not real: excluded, not failed.
    r = check_one("log(x)", at={"x": [-1.0, -2.0, 2.0]})
    assert r.status == "pass", failing(r)
    assert r.rows[0].excluded == 2
    assert r.rows[0].verdicts["fd"].compared == 1
    # The same at 10^4 points (beyond the 30-digit subset: f in float64 decides there).
    r = check_one("log(x)", grid={"x": [-1, 1, 10000]})
    assert r.status == "pass", failing(r)
    assert r.rows[0].excluded == 5000  # every x < 0 (the grid does not hold 0)
