"""The structural checks torch.autograd.gradcheck makes, each with its own message.

They say what is wrong with a gradient before any number is compared: it is
missing, has another shape, dtype or device than its input, is zero where finite
differences are not, or changes between two runs of the same backward pass.
"""

from __future__ import annotations

import numpy as np

from ..tolerances import DTYPES, floor


def resolution(target, largest: float) -> float:
    """The smallest gradient the check's dtype resolves next to values of size ``largest``
    (a saturated tanh's 1 - tanh² is exactly 0 in bfloat16 while float64 finite
    differences see 2e-3): what a "zero gradient although finite differences are not"
    must exceed."""
    return target.floor(largest) + DTYPES[target.dtype].atol


def missing(fd_nonzero: bool) -> str | None:
    """A gradient that is None (the output does not depend on the input, autograd says)."""
    if fd_nonzero:
        return "no gradient (None) although the output depends on it"
    return None


def mismatch(meta, expected) -> str | None:
    """The gradient's shape, dtype and device against its input's."""
    if meta is None:
        return None
    if tuple(meta[0]) != tuple(expected[0]):
        return f"gradient has shape {tuple(meta[0])}, the input {tuple(expected[0])}"
    if meta[1] != expected[1]:
        return f"gradient has dtype {meta[1]}, the input {expected[1]}"
    if meta[2] != expected[2]:
        return f"gradient is on {meta[2]}, the input on {expected[2]}"
    return None


ZERO = "gradient is zero although finite differences are not"


def zero(grad, fd_nonzero: bool) -> str | None:
    """A gradient of exact zeros where finite differences see a slope."""
    if fd_nonzero and grad is not None and not np.any(grad):
        return ZERO
    return None


def gradient(grad, meta, expected, fd_nonzero: bool) -> str | None:
    """Every structural check of one gradient, in order: the first reason to fail, or None."""
    if grad is None:
        return missing(fd_nonzero)
    return mismatch(meta, expected) or zero(grad, fd_nonzero)


def nondeterministic(first, again, dtype: str, tolerance: float | None = None) -> str | None:
    """Two runs of the backward pass with the same cotangent must agree: up to 64 ulps of
    the dtype (atomic adds on a GPU reorder sums), or ``tolerance`` (``nondet_tol``)."""
    if first is None or again is None:
        return None
    gap = differ(first, again)
    size = np.abs(np.nan_to_num(np.asarray(first, dtype=float), nan=0.0, posinf=0.0,
                                neginf=0.0))
    tol = (64 * DTYPES[dtype].eps * (size + np.max(size, initial=0.0))
           if tolerance is None else tolerance)
    if np.all(gap <= tol):
        return None
    if np.isinf(np.max(gap)):
        return "backward is nondeterministic: two runs differ in which values are NaN or ±inf"
    return f"backward is nondeterministic: two runs differ by {np.max(gap):.3g}"


def differ(a, b) -> np.ndarray:
    """|a - b| where both are finite; 0 where both hold the same NaN or ±inf (a gradient
    at a ±inf input is often NaN, the same in every run); inf where only one does."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        return np.where(np.isfinite(a) & np.isfinite(b), np.abs(a - b),
                        np.where(same, 0.0, np.inf))


def not_differentiable(fd_nonzero: bool, route: str) -> str | None:
    """A second derivative that autograd does not connect (None) where finite differences
    of the gradient are not zero: the backward pass itself is not differentiable."""
    if fd_nonzero:
        return (f"{route}: the backward pass is not differentiable (no second derivative: "
                "once_differentiable, detach() or non-framework code in backward?) although "
                "finite differences of the gradient are not zero")
    return None


def undefined_outputs(fn, dtype: str) -> dict:
    """Backward through one output alone, the others' gradients undefined (as when a loss
    uses a normalization's output but not its mean and rstd), must not raise, and must
    give what the same gradient gives with the others' gradients zero: {slot name: why},
    for the first output that does not."""
    from ..errors import describe
    leaves = sorted({o.leaf for o in fn.outputs})
    if len(leaves) < 2:
        return {}
    rng = np.random.default_rng(5)
    for leaf in leaves:
        path = next(o.path for o in fn.outputs if o.leaf == leaf)
        mine = [rng.standard_normal(o.shape) if o.leaf == leaf else None for o in fn.outputs]
        try:
            alone = fn.vjp(None, cotangents=mine)
        except Exception as exc:  # noqa: BLE001 -- the user's backward raised
            why = (f"backward through {path} alone (the other outputs' gradients undefined) "
                   f"raised {describe(exc, 200)}")
            return {s.name: why for s in fn.slots}
        zeros = fn.vjp(None, cotangents=[np.zeros(o.shape) if c is None else c
                                         for c, o in zip(mine, fn.outputs)])
        differ = batched({n: None if g is None else np.ravel(g) for n, (g, _) in zeros.items()},
                         {n: np.zeros(0) if g is None else np.ravel(g)
                          for n, (g, _) in alone.items()}, dtype, "")
        if differ:
            return {name: f"backward through {path} alone (the other outputs' gradients "
                          "undefined) differs from the same with their gradients zero, by "
                          + why.rsplit(" by ", 1)[-1] for name, why in differ.items()}
    return {}


def zero_cotangents(fn, nondet_tol: float | None = None) -> dict:
    """Backward with every output gradient zero must give zero (or no) gradients, up to
    a declared nondeterminism: {slot name: why} for those that do not."""
    grads = fn.vjp(None, cotangents=[np.zeros(o.shape) for o in fn.outputs])
    return {name: "backward with zero output gradients gives a nonzero gradient "
                  f"(largest {np.max(np.abs(g)):.3g})"
            for name, (g, _) in grads.items()
            if g is not None and np.any(np.abs(g) > (nondet_tol or 0.0))}


def batched(first: dict, again: dict, dtype: str, what: str,
            nondet_tol: float | None = None, scale: dict | None = None) -> dict:
    """{slot name: why} where a batched result (vmap, is_grads_batched) differs from the
    same computed one at a time, beyond the code tolerance at the scale of the terms
    summed (``scale``, else the values) and a declared nondeterminism."""
    out = {}
    for name, a in first.items():
        b = again.get(name)
        if a is None or b is None:
            continue
        if b.size == 0:  # no gradient at all where one is expected
            b = np.zeros_like(a)
        size = np.abs(a) if scale is None else np.maximum(np.abs(a), scale[name])
        # two code paths for one quantity: they differ by the code's own rounding, held
        # to what code is held to (code_rtol of the terms, the row's floor)
        row = DTYPES[dtype]
        size = np.nan_to_num(size, nan=0.0, posinf=0.0)
        largest = np.max(size, initial=0.0)
        tol = row.code_rtol * size + floor(dtype, largest) + (nondet_tol or 0.0)
        gap = differ(a, b)
        if not np.all(gap <= tol):
            out[name] = f"{what} differs from one at a time by {np.max(gap):.3g}"
    return out
