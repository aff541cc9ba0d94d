"""Small inputs: the full Jacobian, every element compared.

Every column of J by finite differences along that element (the reference),
every row by one backward pass, forward mode column by column up to
``FORWARD_COLUMNS`` elements and along random tangents beyond. A failure names
the element: ``x[3, 2] → output element 11``.
"""

from __future__ import annotations

import numpy as np

from .. import tolerances
from ..columns import Derivatives
from ..errors import describe
from ..judge import Comparison, failed
from . import structural

FORWARD_COLUMNS = 64       # forward mode column by column up to this many elements
PROBES = 8                 # random tangents beyond that


def reference(fn, slots) -> dict:
    """{slot name: (J, error)} by Richardson-extrapolated central differences."""
    return {s.name: fn.jacobian(s) for s in slots}


def rows(fn, slots, m: int, ad=None) -> Derivatives:
    """J row by row from backward passes: values per slot (M x n, flat), and each row's
    gradient shape/dtype/device for the structural checks."""
    d = Derivatives()
    grads = fn.jacobian_rows(m, ad)
    for s in slots:
        key = (0, (s.name,))
        j = np.zeros((m, s.size))
        metas = []
        for k, row in enumerate(grads):
            g, meta = row[s.name]
            metas.append((g, meta))
            if g is not None:
                j[k] = g.ravel()
        d.values[key] = j
        d.extra[key] = metas
    return d


def forward(fn, slots) -> Derivatives:
    """J v from forward mode: unit tangents up to FORWARD_COLUMNS elements, random beyond.

    (Forward mode is not vmapped: torch.func.vmap over jvp of arbitrary user code has
    crashed the interpreter.)"""
    d = Derivatives()
    for s in slots:
        key = (0, (s.name,))
        directions = (np.eye(s.size) if s.size <= FORWARD_COLUMNS else
                      np.random.default_rng(2).standard_normal((PROBES, s.size)))
        try:
            d.values[key] = np.stack([fn.jvp(s, v) for v in directions], axis=1)  # (M, k)
        except Exception as exc:  # noqa: BLE001 -- no forward rule: a reason, not a crash
            d.unavailable[key] = f"forward mode unavailable: {describe(exc, 160)}"
            continue
        d.extra[key] = directions
    return d


def expect(slots, expected: dict) -> Derivatives:
    """The user's gradient of the sum of the outputs, per slot."""
    return Derivatives(values={(0, (s.name,)): expected[s.name] for s in slots
                               if s.name in expected})


def _location(slot, m):
    def where(flat: int) -> str:
        k, j = divmod(int(flat), slot.size)
        return f"{slot.element(j)} → output element {k}"
    return where


class _Case:
    """What every comparison of one slot's Jacobian shares."""

    def __init__(self, target, key, name, kind, ref):
        self.slot = target.slot(key[1][0])
        self.j_fd, self.err = ref[self.slot.name]
        self.target, self.name = target, name
        self.rtol, self.atol = tolerances.for_column(
            name, target.dtype, target.rtol, target.atol,
            kind="expect" if kind == "expect" else "code")
        self.rel = self.rtol  # code: relative to the terms summed too
        self.largest = float(np.max(np.abs(self.j_fd), initial=0.0))
        self.floor = tolerances.floor(target.dtype, self.largest)

    def elementwise(self, values) -> Comparison:
        return Comparison(values, self.j_fd, rtol=self.rtol, atol=self.atol, err=self.err,
                          scale=self.rel * np.abs(self.j_fd), floor=self.floor,
                          where=_location(self.slot, self.j_fd.shape[0]))


def _reference_rows(c: _Case, d: Derivatives, key):
    return c.elementwise(d.values[key])


def _backward_rows(c: _Case, d: Derivatives, key):
    """Structural checks of each row's gradient first, then the values."""
    resolution = structural.resolution(c.largest, c.target.dtype)
    expected = c.target.ad.expected_meta(c.slot.value.shape)
    for k, (g, meta) in enumerate(d.extra[key]):
        nonzero = bool(np.any(np.abs(c.j_fd[k]) > tolerances.FD_SAFETY * c.err[k] + resolution))
        why = structural.gradient(g, meta, expected, nonzero)
        if why:
            return failed(c.name, why, compared=c.j_fd.size,
                          location=f"{c.slot.name}, output element {k}")
    return c.elementwise(d.values[key])


def _forward_columns(c: _Case, d: Derivatives, key):
    directions = d.extra[key]
    if directions.shape[0] == c.slot.size and np.array_equal(directions, np.eye(c.slot.size)):
        return c.elementwise(d.values[key])
    k = directions.shape[0]
    return Comparison(d.values[key], c.j_fd @ directions.T, rtol=c.rtol, atol=c.atol,
                      err=c.err @ np.abs(directions.T),
                      scale=c.rel * (np.abs(c.j_fd) @ np.abs(directions.T)), floor=c.floor,
                      where=lambda flat: f"output element {int(flat) // k}, tangent probe "
                                         f"{int(flat) % k}")


def _expected_gradient(c: _Case, d: Derivatives, key):
    slot = c.slot
    return Comparison(d.values[key], c.j_fd.sum(axis=0), rtol=c.rtol, atol=c.atol,
                      err=c.err.sum(axis=0),
                      where=lambda j: f"{slot.element(int(j))} (gradient of the sum of outputs)")


COMPARE = {"rev": _backward_rows, "reference": _reference_rows, "fwd": _forward_columns,
           "expect": _expected_gradient}


def compare(target, key, kind: str, name: str, d: Derivatives, ref: dict):
    """The comparison of one column on one slot's Jacobian (or a structural verdict)."""
    return COMPARE[kind](_Case(target, key, name, kind, ref), d, key)
