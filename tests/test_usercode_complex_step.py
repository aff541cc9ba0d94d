"""Complex step for NumPy code (usercode/complex_step.py): a sharper reference where
finite differences are noisy, trusted only where it agrees with them within their error,
n/a with the reason where the code is not complex-analytic or refuses complex input."""

import numpy as np
import pytest

from gradcheck_cli import GradcheckError, assert_gradients, check_gradient

X = np.array([0.3, -1.2, 2.0, 0.7])


def energy(x):
    # a large smooth part beside the slope: finite differences lose 8 digits to it
    return np.sum(np.sin(x)) + 1e8 * np.sum(np.cosh(1e-9 * x))


def energy_grad(x):
    return np.cos(x) + 0.1 * np.sinh(1e-9 * x)


def energy_grad_wrong(x):
    return np.cos(x) * (1 + 2e-3)          # inside the finite differences' noise


def test_noisy_finite_differences_cannot_decide_and_say_so():
    for grad in (energy_grad, energy_grad_wrong):
        result = check_gradient(energy, grad, X)
        assert result.status == "inconclusive"          # never a pass: nothing could see
        assert result.rows[0].verdicts["gradient"].status == "inconclusive"


def test_complex_step_becomes_the_reference_and_decides():
    right = check_gradient(energy, energy_grad, X, methods=["complex-step"])
    assert right.status == "pass"
    assert any(n.startswith("reference for x: complex step") for n in right.notes)
    assert right.rows[0].verdicts["complex-step"].status in ("pass", "inconclusive")
    wrong = check_gradient(energy, energy_grad_wrong, X, methods=["complex-step"])
    verdict = wrong.rows[0].verdicts["gradient"]
    assert wrong.status == "fail" and verdict.wrong == 4
    assert verdict.error == pytest.approx(2e-3, rel=1e-3)   # measured against cos, not noise


def sum_abs_squares(x):
    return np.sum(x * np.conj(x))           # x² for real x; not analytic: conj


def test_code_that_is_not_analytic_keeps_finite_differences():
    right = check_gradient(sum_abs_squares, lambda x: 2 * x, X, methods=["complex-step"])
    cs = right.rows[0].verdicts["complex-step"]
    assert right.status == "pass" and cs.status == "n/a"
    assert "not complex-analytic" in cs.reason and "x[" in cs.reason
    assert not any("reference for x" in n for n in right.notes)
    wrong = check_gradient(sum_abs_squares, lambda x: 2.5 * x, X, methods=["complex-step"])
    assert wrong.status == "fail"              # judged by finite differences, as without it


def test_code_refusing_complex_input_is_said_not_failed():
    result = check_gradient(lambda x: float(np.sum(x ** 2)), lambda x: 2 * x, X,
                            methods=["complex-step"])
    cs = result.rows[0].verdicts["complex-step"]
    assert result.status == "pass" and cs.status == "n/a" and "complex" in cs.reason


def test_framework_code_refuses_complex_step():
    torch = pytest.importorskip("torch")
    with pytest.raises(GradcheckError, match="complex-step.*NumPy code"):
        assert_gradients(torch.sin, torch.ones(3, dtype=torch.float64),
                         methods=["complex-step"])


def test_a_large_f_does_not_widen_the_tolerance_once_complex_step_is_the_reference():
    # f = 1e12 + Σx³: the resolution at f's scale is 0.9, which passed a gradient 10 % off
    # (value 4.3); with complex step as the reference the values are judged at their own
    def f(x):
        return 1e12 + np.sum(x ** 3)
    x0 = np.array([0.3, 1.2])
    right = check_gradient(f, lambda x: 3 * x ** 2, x0, methods=["complex-step", "taylor"])
    assert right.status == "pass"
    for factor in (1.1, 1 + 1e-6):
        wrong = check_gradient(f, lambda x: 3 * x ** 2 * factor, x0,
                               methods=["complex-step", "taylor"])
        assert wrong.status == "fail", factor
