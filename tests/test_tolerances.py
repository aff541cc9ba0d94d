"""The one tolerance table, and the user's overrides."""

import math

import pytest

from gradcheck_cli import tolerances
from gradcheck_cli.errors import GradcheckError


def test_defaults_come_from_the_dtype_row():
    assert tolerances.for_column("symbolic", "float64", {}, {}) == (1e-12, 0.0)
    assert tolerances.for_column("fd", "float64", {}, {})[0] == 0.0  # its error estimate
    assert tolerances.for_column("torch·rev", "float32", {}, {}) == (1e-5, 0.0)
    assert tolerances.for_column("jax·rev", "float16", {}, {}) == (4 * 2.0 ** -10, 2.0 ** -14)
    assert tolerances.for_column("expect", "float64", {}, {}, kind="expect")[0] == 1e-9
    assert tolerances.for_column("torch·rev", "float64", {}, {}, kind="code")[0] == 1e-7


def test_overrides_by_column_then_framework_then_all():
    rtol = {"*": 1e-3, "fd": 1e-2, "torch": 1e-4, "torch·fwd": 1e-5}
    assert tolerances.for_column("symbolic", "float64", rtol, {})[0] == 1e-3
    assert tolerances.for_column("fd", "float64", rtol, {})[0] == 1e-2
    assert tolerances.for_column("torch·rev", "float64", rtol, {})[0] == 1e-4
    assert tolerances.for_column("torch·fwd", "float64", rtol, {})[0] == 1e-5
    assert tolerances.for_column("torch·rev", "float64", {}, {"*": 0.5}) == (1e-12, 0.5)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "abc", {"fd": -1e-3}])
def test_user_tolerances_are_finite_and_non_negative(bad):
    with pytest.raises(GradcheckError, match="tolerance"):
        tolerances.user_tolerances(bad, "rtol")


def test_user_tolerances_accept_columns_and_frameworks():
    from gradcheck_cli.columns import canonical_column
    got = tolerances.user_tolerances({"sym": 1e-3, "tf.rev": 2e-3, "torch": 0, "expect": 1},
                                     "rtol", canonical_column)
    assert got == {"symbolic": 1e-3, "tensorflow·rev": 2e-3, "torch": 0.0, "expect": 1.0}
    with pytest.raises(GradcheckError, match="unknown method"):
        tolerances.user_tolerances({"nonsense": 1}, "rtol", canonical_column)


def test_one_safety_factor_and_rows_for_every_dtype():
    assert tolerances.FD_SAFETY == 2.0
    assert set(tolerances.DTYPES) == {"float64", "float32", "float16", "bfloat16"}
    for row in tolerances.DTYPES.values():
        assert all(math.isfinite(v) and v >= 0 for v in vars(row).values())
    assert tolerances.floor("float64", 1e3) == 4096 * 2.0 ** -52 * 1e3
    assert tolerances.floor("bfloat16", 1.0) == 2 * 2.0 ** -7
