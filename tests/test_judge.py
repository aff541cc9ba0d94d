"""The one judge: values against a reference, into verdicts, for every target."""

import numpy as np
import pytest

from gradcheck_cli import tolerances
from gradcheck_cli.judge import Comparison, judge


def _plain_verdict(value, ref, use, kink, lower, upper, rtol, atol, errors, extra):
    """The comparison written directly over all points at once (no blocks, every allowance
    evaluated everywhere): (status, worst point if failed, largest error, where)."""
    tol = atol + rtol * np.abs(ref) + (2.0 * errors if errors is not None else 0.0)
    dist = np.where(kink, np.maximum(0.0, np.maximum(lower - value, value - upper)),
                    np.abs(value - ref))
    tol = np.where(kink, tol + 1e-6 * (upper - lower), tol)
    tol = np.where(use & ~(dist <= tol), tol + extra, tol)
    with np.errstate(all="ignore"):
        ratio = np.where(dist <= tol, 0.0, dist / np.where(tol > 0, tol, np.inf))
        ratio = np.where(tol > 0, ratio, np.where(dist > 0, np.inf, 0.0))
        ratio = np.where(~np.isfinite(value), np.inf, ratio)
        near_zero = np.abs(ref) <= tol - rtol * np.abs(ref)
        rel = np.where(near_zero, dist, dist / np.abs(ref))
    ratio = np.where(use, ratio, -1.0)
    rel = np.where(use & np.isfinite(rel), rel, -1.0)
    worst, at = int(np.argmax(ratio)), int(np.argmax(rel))
    failed = ratio[worst] > 1.0
    return ("fail" if failed else "pass", worst if failed else None,
            float(rel[at]) if rel[at] >= 0 else None, at)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_blocked_verdict_matches_the_plain_formula(threads, monkeypatch):
    from gradcheck_cli import blocks
    monkeypatch.setattr(blocks, "BLOCK", 700)
    monkeypatch.setenv("GRADCHECK_THREADS", threads)
    rng = np.random.default_rng(0)
    for trial in range(120):
        n = int(rng.integers(1, 3000))
        ref = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)
        ref[rng.integers(0, n, 3)] = 0.0
        value = ref * (1 + rng.standard_normal(n) * 10.0 ** -rng.integers(9, 16))
        value[rng.integers(0, n, int(rng.integers(0, 4)))] += 1.0
        if trial % 5 == 0:
            value[rng.integers(0, n)] = np.nan
        use = rng.random(n) > 0.1
        kink = (rng.random(n) < 0.05) & use if trial % 3 == 0 else np.zeros(n, bool)
        lower = ref - np.abs(rng.standard_normal(n))
        upper = ref + np.abs(rng.standard_normal(n))
        name = ("fd", "reverse", "expect")[trial % 3]
        errors = np.abs(rng.standard_normal(n)) * 1e-10 if name == "fd" else None
        e = np.abs(ref) * 10 + 1
        rtol, atol = tolerances.for_column(name, "float64", {}, {},
                                           kind="expect" if name == "expect" else "value")
        extra = tolerances.rounding("float64") * e
        expected = _plain_verdict(value, ref, use, kink, lower, upper, rtol, atol, errors,
                                  extra)
        v = judge(name, Comparison(value, ref, rtol=rtol, atol=atol, err=errors, use=use,
                                   kink=(kink, lower, upper) if kink.any() else None,
                                   lazy=lambda ix, extra=extra: extra[np.asarray(ix)]))
        if not use.any():
            assert v.status == "n/a"
            continue
        got = (v.status, v.worst if v.status == "fail" else None, v.error)
        assert got[:2] == expected[:2], trial
        assert (got[2] is None) == (expected[2] is None), trial
        if got[2] is not None:
            assert got[2] == pytest.approx(expected[2], rel=1e-12), trial
            assert v.status == "fail" or v.worst == expected[3], trial


def test_a_zero_tolerance_is_exact():
    """A zero reference with a zero tolerance must flag any nonzero value (it once divided
    into a pass: 0/inf = 0)."""
    v = judge("torch·rev", Comparison(np.array([0.0, 1e-300]), np.array([0.0, 0.0])))
    assert v.status == "fail" and v.worst == 1 and v.wrong == 1
    assert judge("torch·rev", Comparison(np.zeros(2), np.zeros(2))).status == "pass"


def test_counts_the_wrong_values():
    ref = np.linspace(1, 2, 40)
    value = ref.copy()
    value[[3, 7, 11]] *= 1.01
    v = judge("c", Comparison(value, ref, rtol=1e-6))
    assert v.status == "fail" and v.compared == 40 and v.wrong == 3
    twin = judge("c", Comparison(ref * (1 + 1e-7), ref, rtol=1e-6))
    assert twin.status == "pass" and twin.wrong == 0


def test_every_allowance_is_added():
    ref = np.array([1.0])
    base = dict(rtol=1e-3, atol=1e-4, err=np.array([1e-4]), scale=np.array([1e-4]), floor=1e-4)
    inside = 1.0 + 1e-3 + 1e-4 + 2e-4 + 1e-4 + 1e-4 - 1e-9   # 2x err: FD_SAFETY
    assert judge("c", Comparison(np.array([inside]), ref, **base)).status == "pass"
    assert judge("c", Comparison(np.array([inside + 1e-8]), ref, **base)).status == "fail"


def test_non_finite_value_fails_as_such():
    v = judge("c", Comparison(np.array([1.0, np.inf]), np.array([1.0, 2.0]), rtol=1.0))
    assert v.status == "fail" and v.reason == "non-finite" and v.worst == 1


def test_location_names_the_worst_value():
    v = judge("c", Comparison(np.array([1.0, 5.0]), np.array([1.0, 2.0]),
                              where=lambda i: f"x[{i}]"))
    assert v.location == "x[1]"
