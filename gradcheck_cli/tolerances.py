"""The one tolerance table: every column of every target is judged with it.

A value passes when

    |value - ref| <= atol + rtol |ref| + ulps eps S + FD_SAFETY err + floor

* ``rtol``, ``atol``: per dtype (the dtype the column computed in), overridden by
  the user per check or per column (``rtol: {torch: 1e-6}``); finite differences
  have rtol 0 -- their own error estimate is their tolerance.
* ``S``: the rounding-error scale, in units of the dtype's ``eps``. For an
  expression it is the first-order running error bound of the derivative
  expression (:func:`gradcheck_cli.expression.codegen.error_scale_program`), a
  true bound, so a few ulps of it suffice (``ulps``).

Code has no such bound: its inner precision is unknown (a float32 constant in a
float64 backward pass, a sum that cancels, TF32 matmuls on a GPU), and only the
last contraction is seen -- the magnitudes summed, |u|ᵀ|J||v|. A code column is
held to ``code_rtol`` of the reference and of those terms instead of
``rtol |ref| + ulps eps S``: 1e-7 in float64, 2e-3 in float32 (the gradient
tolerance of jax's check_grads), 2 ulps in half precision.
* ``err``: the finite-difference error estimate (of the value for the
  expression's ``fd`` column, of the reference for code), times ``FD_SAFETY``.
* ``floor``: the dtype's resolution at the scale of the check's numbers, for code:
  ``floor_ulps`` eps times the largest magnitude among its inputs, outputs and
  derivatives. A small (or exactly zero) derivative of code is a sum of rounded
  terms of that size, and code's inner constants can be larger still (a layer
  norm's 1/sqrt(1e-5) = 316), so it is resolved only to 4096 ulps of it: 9e-13 in
  float64 at scale 1 (torch's gradcheck allows 1e-5); in half precision, where the
  unit roundoff dominates, 2 ulps of the row's largest value (as measured). A wrong gradient where the true one is exactly
  zero is still caught beyond that. An expression's points are independent, each
  with its own bound S: no floor.

A zero tolerance still flags any nonzero difference (see :mod:`.judge`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import GradcheckError


@dataclass(frozen=True)
class DtypeTolerance:
    """How closely a column computing in one dtype must match the reference."""

    eps: float            # machine epsilon of the dtype
    rtol: float           # relative tolerance of a computed derivative
    atol: float           # absolute tolerance (float16: below its normal range)
    ulps: float           # multiples of eps·S allowed where S is a true bound (expressions)
    code_rtol: float      # code: relative to |ref| + the terms summed (no bound is known)
    floor_ulps: float     # code: multiples of eps times the check's scale, allowed everywhere
    expect_rtol: float    # the user's `expect`, at inputs rounded to this dtype


# Half precision: the unit roundoff dominates every other error, so 2 ulps of the
# worst-case bound suffice there (32 would accept anything); float16's values below
# its normal range (6.1e-5) lose digits to underflow and are judged absolutely.
DTYPES: dict[str, DtypeTolerance] = {
    "float64": DtypeTolerance(eps=2.0 ** -52, rtol=1e-12, atol=0.0, ulps=32, code_rtol=1e-7,
                              floor_ulps=4096, expect_rtol=1e-9),
    "float32": DtypeTolerance(eps=2.0 ** -23, rtol=1e-5, atol=0.0, ulps=32, code_rtol=2e-3,
                              floor_ulps=4096, expect_rtol=1e-6),
    "float16": DtypeTolerance(eps=2.0 ** -10, rtol=4 * 2.0 ** -10, atol=2.0 ** -14, ulps=2,
                              code_rtol=2 * 2.0 ** -10, floor_ulps=2,
                              expect_rtol=2 * 2.0 ** -10),
    "bfloat16": DtypeTolerance(eps=2.0 ** -7, rtol=4 * 2.0 ** -7, atol=0.0, ulps=2,
                               code_rtol=2 * 2.0 ** -7, floor_ulps=2,
                               expect_rtol=2 * 2.0 ** -7),
}
HALF = ("float16", "bfloat16")
EPS = DTYPES["float64"].eps

# Finite differences are trusted to FD_SAFETY times their own error estimate: the
# estimate |Richardson - D(h/2)| bounds D(h/2)'s truncation, and the extrapolated
# value is an order more accurate, so 2x leaves room for the estimate being low.
FD_SAFETY = 2.0
# Code gives no rounding-error scale of f itself (an expression does: E(f)), so the
# finite-difference rounding term of code counts f as rounded by this many ulps.
CODE_F_ULPS = 64.0

# Columns with their own default relative tolerance in float64, whatever the dtype row says.
COLUMN_RTOL = {"fd": 0.0}


def _number(value, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GradcheckError(f"tolerance {value!r} is not a number", field=field) from None
    if not math.isfinite(number) or number < 0:
        raise GradcheckError(f"tolerance {value!r} must be finite and non-negative",
                             field=field)
    return number


def user_tolerances(value, field: str, canonical=lambda name: name) -> dict[str, float]:
    """A user's ``rtol``/``atol``: a number (every column) or {column or framework: number}.

    Args:
        value: the spec or command-line value (None: no override).
        field: ``"rtol"`` or ``"atol"``, for messages.
        canonical: maps a name to its registered one (``sym`` -> ``symbolic``,
            ``tf.rev`` -> ``tensorflow·rev``), refusing unknown names.

    Raises:
        GradcheckError: a value that is not a finite, non-negative number.
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            name = str(key).replace(".", "·")
            out[canonical(name)] = _number(v, f"{field}.{key}")
        return out
    return {"*": _number(value, field)}


def for_column(column: str, dtype: str, rtol: dict, atol: dict,
               kind: str = "value") -> tuple[float, float]:
    """(rtol, atol) of a column: the dtype's row, then the user's overrides.

    Overrides are looked up by the column's name (``torch·rev``), its framework
    (``torch``), then ``"*"``. ``kind`` is ``"expect"`` for the user's own
    derivatives (their inputs are rounded to the dtype too), ``"code"`` for a
    column differentiating code (its rtol also multiplies the terms summed).
    """
    row = DTYPES[dtype]
    default = {"expect": row.expect_rtol, "code": row.code_rtol}.get(
        kind, COLUMN_RTOL.get(column, row.rtol))
    keys = (column, column.split("·")[0], "*")

    def pick(overrides, fallback):
        return float(next((overrides[k] for k in keys if k in overrides), fallback))
    return pick(rtol, default), pick(atol, row.atol)


def rounding(dtype: str) -> float:
    """ulps · eps: what multiplies an expression's rounding-error scale S."""
    row = DTYPES[dtype]
    return row.ulps * row.eps


def floor(dtype: str, largest: float) -> float:
    """The dtype's resolution at the scale ``largest`` of a code check's numbers."""
    row = DTYPES[dtype]
    return row.floor_ulps * row.eps * float(largest)


def override(given: dict, *keys) -> float | None:
    """The user's tolerance for the first of ``keys`` they named (``"*"`` last), or None."""
    return next((float(given[k]) for k in (*keys, "*") if k in given), None)
