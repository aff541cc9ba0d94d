"""Finite differences of the user's code and its noise estimate, and how they are batched
(gradcheck_cli/usercode/differences.py, noise.py; the batching in function.py): a small
check evaluates the code in as few calls as it can, and batching changes no number."""

from math import comb
from pathlib import Path

import numpy as np
import pytest

from gradcheck_cli import frameworks
from gradcheck_cli.usercode import noise
from gradcheck_cli.usercode.build import build
from gradcheck_cli.usercode.call import Slot

HERE = Path(__file__).resolve().parent / "mutants"
needs_torch = pytest.mark.skipif(not frameworks.is_installed("torch"),
                                 reason="torch is not installed")


def by_loop(values):
    """ECnoise as written in the paper: one k at a time."""
    levels = [np.sqrt(np.mean(np.diff(values, n=k, axis=0) ** 2, axis=0) / comb(2 * k, k))
              for k in range(3, 7)]
    return np.nan_to_num(np.median(levels, axis=0), nan=0.0)


def test_noise_level_is_the_papers_formula_bit_for_bit():
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1e-6, 9)[:, None]
    for values in (rng.standard_normal((9, 50)) + np.linspace(0, 1, 9)[:, None] ** 2,
                   1e3 + np.sin(t + np.arange(30)),   # rounding-sized noise: no new rounding
                   np.full((9, 4), 1e307),            # no overflow where F does not move
                   np.ones((9, 3))):                  # exactly 0 for a constant output
        np.testing.assert_array_equal(noise.level(values), by_loop(values))
    values = rng.standard_normal((9, 50))
    values[4, 3], values[2, 7] = np.nan, np.inf       # the loop's own handling, kept
    np.testing.assert_array_equal(noise.level(values), by_loop(values))
    assert not noise.level(np.ones((9, 3))).any()


def test_noise_points_start_at_the_point_with_zeros_unsigned():
    """x + 0·δv: a -0.0 input becomes +0.0 in every point, as it did when the points were
    evaluated alone (atan2(0, -0.0) is π, atan2(0, +0.0) is 0: a signed first point would
    read as noise and loosen every finite difference of that output)."""
    slot = Slot("x", 0, np.array([-0.0, 1.5, np.inf]))
    found = noise.points(slot, lambda v_max: 2.0 ** -10)
    assert found.shape == (9, 3)
    assert not np.signbit(found[:, 0]).any() and (found[:, 2] == np.inf).all()
    np.testing.assert_array_equal(found[0], [0.0, 1.5, np.inf])
    assert len(np.unique(found[:, 1])) == 9            # the finite elements move


def test_noise_level_measures_noise_and_not_a_smooth_function():
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 1e-3, 9)[:, None]
    smooth = np.sin(3 * t + np.arange(400))                     # no noise: rounding only
    noisy = smooth + 1e-6 * rng.standard_normal((9, 400))
    assert np.median(noise.level(smooth)) < 1e-13                # f's rounding, 1e-16 f
    assert 0.7e-6 < np.median(noise.level(noisy)) < 1.4e-6      # σ = 1e-6 recovered


CODE = "import torch\n\ndef f(x):\n    return torch.sin(x) * x + torch.exp(-x).sum()\n"


def target(tmp_path, shape=(3,)):
    (tmp_path / "plain_torch.py").write_text(CODE)
    check = {"callable": "plain_torch.py:f", "backend": "torch", "seed": 1,
             "inputs": {"x": {"shape": list(shape), "low": -2, "high": 2}}}
    t = build(check, source="m", base=tmp_path, label="f")
    t._prepare()
    return t, next(iter(t.slots.values()))


@needs_torch
def test_finite_differences_ride_with_the_first_batch_and_give_the_same_numbers(tmp_path):
    alone, slot = target(tmp_path)
    alone.fn.prefetch = False
    j_alone, err_alone = alone.fn.jacobian(slot)
    shared, slot = target(tmp_path)
    assert shared.fn.prefetch            # small input: the stencil goes with the first batch
    before = shared.fn.calls
    shared.fn.along(slot, np.stack([slot.value * 1.01]))   # as the Taylor test does
    assert shared.fn._stencil_rows[slot.name] is not None and slot.name in shared.fn._noise
    batched_calls = shared.fn.calls - before
    j, err = shared.fn.jacobian(slot)
    assert shared.fn.calls - before == batched_calls       # no further evaluation
    np.testing.assert_array_equal(j, j_alone)
    np.testing.assert_array_equal(err, err_alone)
    # and they are finite differences: the derivative of sin(x) x + Σ exp(-x)
    x = slot.value
    exact = np.diag(np.sin(x) + x * np.cos(x)) - np.exp(-x)[None, :]
    np.testing.assert_allclose(j, exact, rtol=1e-9, atol=1e-12)


@needs_torch
def test_large_inputs_take_a_call_per_stencil_and_give_the_same_numbers(tmp_path, monkeypatch):
    small, slot = target(tmp_path, shape=(6,))
    small.fn.prefetch = False
    j_one, err_one = small.fn.jacobian(slot)
    split, slot = target(tmp_path, shape=(6,))
    split.fn.prefetch = False
    monkeypatch.setattr(type(split.fn), "ONE_BATCH", 1)
    before = split.fn.calls
    j, err = split.fn.jacobian(slot)
    # ±h/2, ±h, the noise estimate's batch, and the two direct calls vmap is held
    # against (the first row is a moved point here, not the point)
    assert split.fn.calls - before == 4 + 1 + 2
    np.testing.assert_allclose(j, j_one, rtol=1e-15, atol=0)
    np.testing.assert_allclose(err, err_one, rtol=1e-12, atol=0)


@needs_torch
def test_a_small_check_runs_the_code_few_times():
    """The evaluations of a one-element check: the trace, the value, three backward passes
    (mutation, nondeterminism, zero cotangents), the batched rows, batched and single
    forward mode, one vmapped batch for the Taylor test, the noise estimate and finite
    differences together, and the direct call its last row is held against (it was 18
    before they were batched together)."""
    import torch

    import gradcheck_cli
    runs = []

    def f(x):
        runs.append(1)
        return torch.sin(x)
    gradcheck_cli.assert_gradients(f, torch.tensor([0.3], dtype=torch.float64))
    assert len(runs) <= 10
