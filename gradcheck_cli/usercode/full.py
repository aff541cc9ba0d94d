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
from . import kinks, structural

FORWARD_COLUMNS = 64       # forward mode column by column up to this many elements
# finite differences decide only where their error allowance is below this share of the
# row's largest value: beyond, a check of the value is "inconclusive", with the figures
INCONCLUSIVE = 0.1
PROBES = 8                 # random tangents beyond that


def reference(fn, slots) -> dict:
    """{slot name: (J, error)} by Richardson-extrapolated central differences."""
    return {s.name: fn.jacobian(s) for s in slots}


def rows(fn, slots, m: int) -> Derivatives:
    """J row by row from backward passes: values per slot (M x n, flat), and each row's
    gradient shape/dtype/device for the structural checks."""
    d = Derivatives()
    grads = fn.jacobian_rows(m)
    for s in slots:
        key = (0, (s.name,))
        j = np.zeros((m, s.size))
        metas = []
        for k, row in enumerate(grads):
            g, meta = row[s.name]
            metas.append((g, meta))
            if g is not None:   # a gradient of the wrong size: its shape check says so
                flat = np.ravel(g)
                j[k] = flat if flat.size == s.size else np.nan
        d.values[key] = j
        d.extra[key] = metas
    return d


def forward(fn, slots, batched: bool = True, required: bool = False) -> Derivatives:
    """J v from forward mode: unit tangents up to FORWARD_COLUMNS elements, random beyond
    (zero on elements that are not finite). The outputs that get no tangent are kept.

    Where the framework batches forward mode (vmap over tangents: torch's legacy vmap of
    dual numbers, jax.vmap of jax.jvp), every unit tangent goes in one call, whatever the
    size, and the first is also computed alone: they must agree (the batched forward
    check). Elsewhere, or with ``batched`` off, one call per tangent."""
    d = Derivatives()
    for s in slots:
        key = (0, (s.name,))
        values, why = None, None
        if batched and s.size:  # every column in one batched call: each element compared
            try:
                directions = np.eye(s.size) * s.finite
                values = fn.jvp_many(s, directions)
            except Exception as exc:  # noqa: BLE001 -- not vmappable (a custom Function)
                if required:
                    why = f"batched forward mode (vmap) raised {describe(exc, 200)}"
        if values is None:  # one call per tangent: unit ones while that is cheap
            directions = (np.eye(s.size) if s.size <= FORWARD_COLUMNS else
                          np.random.default_rng(2).standard_normal((PROBES, s.size)))
            directions = directions * s.finite
        try:
            singles = [fn.jvp(s, v) for v in (directions if values is None else directions[:1])]
        except Exception as exc:  # noqa: BLE001 -- no forward rule: a reason, not a crash
            d.unavailable[key] = f"forward mode unavailable: {describe(exc, 160)}"
            continue
        one_at_a_time = (np.stack([r[0] for r in singles], axis=1) if singles
                         else np.zeros((fn.size, 0)))
        if values is not None and singles:
            found = structural.batched({s.name: one_at_a_time.ravel()},
                                       {s.name: values[:, :len(singles)].ravel()}, fn.dtype,
                                       "batched forward mode (vmap over tangents)")
            why = why or found.get(s.name)
        d.values[key] = one_at_a_time if values is None else values  # (M, k)
        d.extra[key] = (directions, sorted({i for r in singles for i in r[1]}))
        if not why and s.size > 1 and directions.shape[0] == s.size:
            why = _superposition(fn, s, d.values[key])
        if why:
            d.failures[key] = (why, s.name)
    return d


def _superposition(fn, slot, unit_columns) -> str | None:
    """Columns from unit tangents say nothing about other tangents: a hand-written jvp
    right only for e_j (v |v|, or v's largest entry alone) would pass them. One random
    tangent must give the same J v as the columns combined; None if it does."""
    v = np.random.default_rng(5).standard_normal(slot.size) * slot.finite
    try:
        got = fn.jvp(slot, v)[0]
    except Exception:  # noqa: BLE001 -- judged by the unit columns alone
        return None
    expected = unit_columns @ v
    size = np.abs(unit_columns) @ np.abs(v)
    # relative to each value's terms, and to the largest (an output whose terms are all 0,
    # eig's imaginary parts, still carries rounding from the others')
    scale = max(1.0, float(np.max(np.abs(slot.value[np.isfinite(slot.value)]), initial=0.0)),
                float(np.max(size, initial=0.0)))
    allowed = (16 * tolerances.DTYPES[fn.dtype].code_rtol * (size + np.max(size, initial=0.0))
               + tolerances.floor(fn.dtype, scale))   # rounding where J is all but 0
    bad = np.abs(got - expected) > allowed
    if not np.any(bad):
        return None
    k = int(np.argmax(np.where(bad, np.abs(got - expected) / allowed, -1)))
    return (f"forward mode is not linear in its tangent: J v for a random v is "
            f"{got[k]:.6g} at {fn.output_element(k)}, the unit tangents' columns give "
            f"{expected[k]:.6g}")


def expect(slots, expected: dict) -> Derivatives:
    """The user's gradient of the sum of the outputs, per slot."""
    return Derivatives(values={(0, (s.name,)): expected[s.name] for s in slots
                               if s.name in expected})


def _location(slot, fn):
    def where(flat: int) -> str:
        k, j = divmod(int(flat), max(1, slot.size))
        if fn.size == 1:   # a scalar function: the element says it all
            return slot.element(j)
        return f"{slot.element(j)} → {fn.output_element(k)}"
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
        self.largest = float(np.nanmax(np.abs(self.j_fd), initial=0.0))
        self.floor = target.floor(self.largest)

    def elementwise(self, values) -> Comparison:
        fn = self.target.fn
        return Comparison(values, self.j_fd, rtol=self.rtol, atol=self.atol, err=self.err,
                          scale=self.rel * np.abs(self.j_fd), floor=self.floor,
                          use=np.isfinite(self.j_fd), where=_location(self.slot, fn),
                          conclusive=INCONCLUSIVE * self.largest + self.floor,
                          refine=kinks.refiner(fn, self.slot, self.slot.size,
                                               self.target.kinked, values, self.rtol))

    @property
    def sloped(self) -> np.ndarray:
        """(M, n): where finite differences see a slope (beyond their error and the
        dtype's resolution)."""
        if not hasattr(self, "_sloped"):
            resolution = structural.resolution(self.target, self.largest)
            with np.errstate(invalid="ignore"):
                self._sloped = np.abs(self.j_fd) > tolerances.FD_SAFETY * self.err + resolution
        return self._sloped

    def slopes(self, row: int) -> np.ndarray:
        return np.flatnonzero(self.sloped[row])

    def nonzero(self, rows) -> bool:
        return bool(self.sloped[rows].any())

    def smooth_slope(self, row: int) -> int | None:
        """An element where finite differences see a slope and the function is smooth (no
        kink or jump within their stencil), or None."""
        for j in self.slopes(row):
            kind = kinks.classify(self.target.fn, self.slot, np.array([row]), int(j))[0]
            if kind[0] == kinks.SMOOTH:
                return int(j)
        return None


def _reference_rows(c: _Case, d: Derivatives, key):
    return c.elementwise(d.values[key])


def _backward_rows(c: _Case, d: Derivatives, key):
    """Structural checks of each row's gradient first, then the values."""
    expected = c.target.ad.expected_meta(c.slot.shape)
    fn = c.target.fn
    for k, (g, meta) in enumerate(d.extra[key]):
        why = structural.gradient(g, meta, expected, c.nonzero([k]))
        where = c.slot.name
        if why and (why == structural.ZERO or why.startswith("no gradient")):
            # a slope only across a kink or jump (floor division, fmod) is the differences'
            # doing, not the code's: judge the values instead
            j = c.smooth_slope(k)
            why, where = (why, c.slot.element(j)) if j is not None else (None, where)
        if why:
            return failed(c.name, why, compared=c.j_fd.size,
                          location=f"{where} → {fn.output_element(k)}")
    why = _batched_backward(c, d)
    if why:
        return failed(c.name, why, compared=c.j_fd.size, location=c.slot.name)
    return c.elementwise(d.values[key])


def _batched_backward(c: _Case, d: Derivatives) -> str | None:
    """The rows, computed all at once (is_grads_batched, vmap), must give what one backward
    pass gives for a random u: uᵀJ, to the resolution the check has (what finite
    differences resolve, the code's rounding), and a declared nondeterminism."""
    if ("one at a time", c.slot.name) not in d.extra:
        return None
    u, single = d.extra[("one at a time", c.slot.name)]
    if single is None:
        return None
    rows = d.values[(0, (c.slot.name,))]
    batched, single = u @ rows, np.ravel(single)
    err = np.nan_to_num(c.err)
    terms = np.nan_to_num(np.abs(u) @ np.abs(rows) + np.abs(batched), nan=0.0, posinf=0.0)
    tol = (c.rtol * terms + c.floor
           + tolerances.FD_SAFETY * (np.abs(u) @ err) + (c.target.check.nondet_tol or 0.0))
    gap = structural.differ(batched, single)   # the same NaN in both (a ±inf input) agrees
    if np.all(gap <= tol):
        return None
    return f"batched backward (all rows at once) differs from one at a time by {gap.max():.3g}"


def _forward_columns(c: _Case, d: Derivatives, key):
    directions, missing = d.extra[key]
    fn = c.target.fn
    for i in missing:
        start = sum(o.size for o in fn.outputs[:i])
        rows = list(range(start, start + fn.outputs[i].size))
        if rows and c.nonzero(rows):
            return failed(c.name, f"output {fn.outputs[i].path} has no forward-mode tangent "
                          "although finite differences are not zero", compared=c.j_fd.size,
                          location=fn.outputs[i].path)
    if directions.shape[0] == c.slot.size and np.array_equal(directions,
                                                             np.eye(c.slot.size) * c.slot.finite):
        return c.elementwise(d.values[key])
    k = directions.shape[0]
    j_fd, err = np.nan_to_num(c.j_fd), np.nan_to_num(c.err)
    return Comparison(d.values[key], j_fd @ directions.T, rtol=c.rtol, atol=c.atol,
                      err=err @ np.abs(directions.T),
                      scale=c.rel * (np.abs(j_fd) @ np.abs(directions.T)), floor=c.floor,
                      where=lambda flat: f"{fn.output_element(int(flat) // k)}, tangent probe "
                                         f"{int(flat) % k}")


def _expected_gradient(c: _Case, d: Derivatives, key):
    slot = c.slot
    return Comparison(d.values[key], c.j_fd.sum(axis=0), rtol=c.rtol, atol=c.atol,
                      err=c.err.sum(axis=0), use=np.isfinite(c.j_fd.sum(axis=0)),
                      refine=kinks.refiner(c.target.fn, slot, None, c.target.kinked),
                      where=lambda j: f"{slot.element(int(j))} (gradient of the sum of outputs)")


COMPARE = {"rev": _backward_rows, "reference": _reference_rows, "fwd": _forward_columns,
           "expect": _expected_gradient}


def compare(target, key, kind: str, name: str, d: Derivatives, ref: dict):
    """The comparison of one column on one slot's Jacobian (or a structural verdict)."""
    return COMPARE[kind](_Case(target, key, name, kind, ref), d, key)
