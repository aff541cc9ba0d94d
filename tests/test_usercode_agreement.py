"""Checks that need no finite differences (gradcheck_cli/usercode/agreement.py), and the
inconclusive verdict where finite differences are too noisy to judge."""

import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_cli
from gradcheck_cli import frameworks

HERE = Path(__file__).resolve().parent / "mutants"
pytestmark = pytest.mark.skipif(not frameworks.is_installed("torch"),
                                reason="torch is not installed")


def mutants():
    sys.path.insert(0, str(HERE))
    try:
        import torch_mutants
    finally:
        sys.path.pop(0)
    return torch_mutants


def check(f, **options):
    import torch
    x = torch.linspace(-1.2, 1.3, 5, dtype=torch.float64)
    from gradcheck_cli.usercode import run_callable
    return run_callable({"callable": f, "backend": "torch", "seed": 0,
                         "arguments": ([x], {}, ["x"], []), **options}, source="t")


def verdict(result, column, order=1):
    (row,) = [r for r in result.rows if len(r.key[1]) == order]
    return row.verdicts[column]


def test_identity_catches_forward_and_reverse_rules_that_disagree():
    m = mutants()
    assert verdict(check(m.rules_agree), "fwd⇄rev").status == "pass"
    bad = verdict(check(m.rules_disagree), "fwd⇄rev")
    assert bad.status == "fail" and bad.reason == "outside tolerance"
    # it is exact to rounding: the error it reports for the twin is rounding's
    good = verdict(check(m.rules_agree), "fwd⇄rev")
    assert good.error is not None and good.error < 1e-14


def test_noisy_code_is_inconclusive_not_failed_and_the_identity_still_decides():
    m = mutants()
    r = check(m.noisy_agree)
    v = verdict(r, "torch·rev")
    assert v.status == "inconclusive" and "too noisy" in v.reason
    assert verdict(r, "fwd⇄rev").status == "pass"           # the identity needs no FD
    assert verdict(r, "taylor").status == "pass" and r.status == "pass"   # Taylor decides
    # agreeing with each other does not make both rules right: without the Taylor test
    # the row stays undecided, and two rules off by the same 10 % are caught by it
    alone = check(m.noisy_agree, methods=["fd", "identity"])
    assert verdict(alone, "fwd⇄rev").status == "pass" and alone.status == "inconclusive"
    both = check(m.noisy_both_off)
    assert verdict(both, "fwd⇄rev").status == "pass" and verdict(both, "taylor").status == "fail"
    assert check(m.noisy_both_off, methods=["fd", "identity"]).status == "inconclusive"
    r = check(m.noisy_disagree)
    assert verdict(r, "torch·fwd").status == "inconclusive"  # FD cannot see the 10 %
    assert verdict(r, "fwd⇄rev").status == "fail"            # the identity can
    assert r.status == "fail"


def test_noisy_code_alone_is_inconclusive_with_exit_code_2():
    m = mutants()
    r = check(m.noisy_agree, methods=["fd"])
    assert r.status == "inconclusive"
    from gradcheck_cli.results import RunResult
    assert RunResult([r]).exit_code == 2
    with pytest.raises(AssertionError, match="inconclusive"):
        import torch
        gradcheck_cli.assert_gradients(m.noisy_agree, torch.ones(3, dtype=torch.float64),
                                       methods=["fd"])


def test_taylor_orders():
    m = mutants()
    good, bad = check(m.softplus_ok), check(m.softplus_bad)     # the backward 1 % off
    assert verdict(good, "taylor").status == "pass"
    assert verdict(good, "taylor").error == pytest.approx(2.0, abs=0.2)
    v = verdict(bad, "taylor")
    assert v.status == "fail" and v.error == pytest.approx(1.0, abs=0.2)
    assert "falls as h^1" in v.reason
    # second order: h^3 for a right second derivative, h^2 for a wrong one
    good2 = verdict(check(m.softplus2_ok, order=2), "taylor", order=2)
    bad2 = verdict(check(m.softplus2_bad, order=2), "taylor", order=2)
    assert good2.status == "pass" and good2.error == pytest.approx(3.0, abs=0.3)
    assert bad2.status == "fail" and bad2.error == pytest.approx(2.0, abs=0.3)


def test_taylor_survives_kinks_and_low_precision():
    m = mutants()
    for f in (m.relu_ok, m.leaky_ok):
        assert verdict(check(f), "taylor").status in ("pass", "inconclusive")
    import torch
    x = torch.linspace(-1, 1, 6, dtype=torch.float16)
    r = gradcheck_cli.assert_gradients(m.tanh_ok, x)
    # in float16 the floor is float16's own tolerance (2 ulps of the gradient), not f's
    # rounding: a remainder that never rises above it bounds the gradient's error
    assert r.rows[0].verdicts["taylor"].status == "pass" and r.status == "pass"


def test_taylor_order_one_that_drops_below_its_line_is_kinks_not_a_wrong_gradient():
    # grid_sample's remainder along v: order ~1 while the steps cross the interpolation's
    # kinks, then rounding once h is below the nearest one (OpInfo grid_sampler_3d, a right
    # gradient that failed). A wrong gradient keeps r >= h·|δ| at every step.
    from gradcheck_cli.columns import Derivatives
    from gradcheck_cli.usercode.agreement import taylor_verdict
    hs = 0.1 * 2.0 ** -np.arange(13)
    floors, noise = 1e-9 * hs, np.zeros(13)
    curvature = hs ** 2
    key = (0, ("x",))

    def verdict_for(rs):
        d = Derivatives()
        d.extra[key] = (hs, rs, floors, noise, curvature)
        return taylor_verdict("taylor", key, d, 2)
    wrong = 1e-2 * hs                                   # δ = 1e-2 at every step
    assert verdict_for(wrong).status == "fail"
    kinks = wrong.copy()
    kinks[-1] = 1e-13                                   # below the kinks: exact
    v = verdict_for(kinks)
    assert v.status == "inconclusive" and "kinks near the point" in v.reason


def test_a_taylor_pass_claims_no_more_than_it_resolved():
    # f = Σ sin 3x + 1e8 Σ cosh(1e-9 x): f's rounding (4e-7) hides h·δ below the steps
    # where the curvature dominates, so a gradient 1-3 % off fitted order 2 and "passed",
    # deciding the row while finite differences were too noisy: a silent wrong answer.
    # Along v the test resolves the gradient only to ~9 % of its value there: inconclusive.
    from gradcheck_cli import check_gradient
    x0 = np.array([0.3, -1.2, 2.0, 0.7])

    def f(x):
        return np.sum(np.sin(3 * x)) + 1e8 * np.sum(np.cosh(1e-9 * x))

    def grad(x):
        return 3 * np.cos(3 * x) + 0.1 * np.sinh(1e-9 * x)
    for factor in (1.01, 1.03, 1.1):
        result = check_gradient(f, lambda x: grad(x) * factor, x0)
        assert result.status != "pass", factor
    smooth = check_gradient(lambda x: float(np.sum(np.sin(3 * x))), lambda x: 3 * np.cos(3 * x),
                            x0)
    assert smooth.rows[0].verdicts["taylor"].status == "pass" and smooth.status == "pass"
