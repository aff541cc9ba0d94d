"""Finite differences of the user's code, with their error: the reference of a code check.

Every column of the Jacobian by Richardson-extrapolated central differences (at
±h/2 and ±h, a power-of-two step near eps^(1/3) times the input's scale), along a
direction, or of the gradient (second order). The error estimate adds the
truncation (Richardson against the plain difference), f's rounding and its
measured noise (:mod:`.noise`). A mixin of :class:`~.function.Function`, whose
evaluations (one vmapped batch where the framework allows) it uses.
"""

from __future__ import annotations

import numpy as np

from ..richardson import richardson
from ..tolerances import CODE_F_ULPS, DTYPES
from . import noise as ecnoise
from .call import Slot

STENCILS = (0.5, -0.5, 1.0, -1.0)   # central differences at ±h/2 and ±h, Richardson's


class FiniteDifferences:
    """Finite differences of F (a :class:`~.function.Function`)."""

    # points x elements up to which finite differences take one vmapped call (with the
    # Taylor test's and the noise estimate's points on small inputs): more rows at once
    # hold more of the code's intermediates
    ONE_BATCH = 2 ** 16

    def step(self, slot: Slot, v_max: float = 1.0) -> float:
        """A power-of-two step near eps^(1/3) times the input's scale (exact in x + h);
        the scale comes from the finite elements (an inf would make the step inf)."""
        finite = np.abs(slot.value[np.isfinite(slot.value)])
        scale = max(1.0, float(np.max(finite)) if finite.size else 1.0)
        return float(2.0 ** np.floor(np.log2(DTYPES[self.fd_dtype].eps ** (1 / 3) * scale
                                             / max(1e-300, v_max))))

    def _rounding(self, values, weights) -> np.ndarray:
        """The rounding part of a difference's error: f counted as rounded by CODE_F_ULPS
        ulps (code has no rounding-error scale of its own), times Σ|weights|.

        The size is the largest |f| over the output tensor each value belongs to, not
        the value's own: a small value is often a difference of large ones computed
        alongside (a per-token cross-entropy of 9e-6 is logsumexp(z) - z_t with z ~ 1,
        rounded at 1e-16, which f = 9e-6 alone would put at 1e-21)."""
        # the sizes of finite values only: an output that is NaN or ±inf (at a ±inf input)
        # has no finite difference of its own, and must not make its neighbours' error NaN
        values = [np.where(np.isfinite(c), np.abs(c), 0.0) for c in values]
        if values[0].shape[:1] != (self.size,):  # a gradient (second order): one backward pass
            largest = max(float(np.max(c, initial=0.0)) for c in values)
            return CODE_F_ULPS * DTYPES[self.fd_dtype].eps * largest * weights
        size = np.maximum.reduce(values)
        start = 0
        for leaf in dict.fromkeys(o.leaf for o in self.outputs):
            n = sum(o.size for o in self.outputs if o.leaf == leaf)
            if n:
                part = size[start:start + n]
                part[...] = np.max(part, axis=0, initial=0.0)
            start += n
        return CODE_F_ULPS * DTYPES[self.fd_dtype].eps * size * weights

    def noise(self, slot: Slot) -> np.ndarray:
        """The noise level of each output along the slot (:mod:`.noise`, ECnoise). Its
        points go with the first batch evaluated along the slot (:meth:`along`)."""
        if slot.name not in self._noise:
            self.along(slot, [])
        return self._noise[slot.name]

    def _noise_points(self, slot: Slot) -> list:
        """:func:`.noise.points` for the slot; none (and a noise of 0) with nothing to move."""
        found = ecnoise.points(slot, lambda v_max: self.step(slot, v_max)) \
            if self.size else np.zeros((0, *slot.shape))
        if not len(found):
            self._noise[slot.name] = np.zeros(self.size)
        return found

    def _noise_from(self, slot: Slot, values: np.ndarray) -> None:
        self._noise[slot.name] = ecnoise.level(values)

    def jacobian(self, slot: Slot):
        """(J, error): every column by Richardson-extrapolated central differences; NaN
        columns for elements that are not finite (they are not moved).

        The perturbed copies of the input go to the framework as one batch (vmap) where
        it can take them (on small inputs, the Taylor test's batch), else one call each.
        """
        m, n = self.size, slot.size
        value, error = np.full((m, n), np.nan), np.full((m, n), np.nan)
        found = self._stencil(slot)
        if found is None:
            return value, error
        h, moved = found
        rows = self._stencil_rows.get(slot.name)
        self._stencil_rows[slot.name] = None   # taken (not to be fetched again)
        if rows is None:
            rows = self._stencil_values(slot, h, moved)
        cols = dict(zip(STENCILS, rows.reshape(len(STENCILS), moved.size, m)
                        .transpose(0, 2, 1)))   # (M, moved) each
        v, truncation, weights = richardson(cols[0.5], cols[-0.5], cols[1.0], cols[-1.0], h)
        value[:, moved] = v
        # noise in F (an iterative solver, a random op) enters each difference as σ/h,
        # which |Richardson - D(h/2)| underestimates: it is added as measured
        noise = self.noise(slot)[:, None] * weights
        error[:, moved] = truncation + self._rounding(cols.values(), weights) + noise
        return value, error

    def _stencil(self, slot: Slot):
        """(h, the elements moved) of :meth:`jacobian`'s central differences, or None."""
        moved = np.flatnonzero(np.isfinite(slot.value.ravel()))
        if not moved.size or not self.size:
            return None
        return self.step(slot), moved

    def _points(self, slot: Slot, h: float, moved: np.ndarray, ks=STENCILS) -> np.ndarray:
        """The stencil's points: each moved element by k h for k in ``ks`` in turn, shape
        (len(ks) · moved, *shape)."""
        x = slot.value.astype(float).ravel()
        eye = np.zeros((moved.size, x.size))
        eye[np.arange(moved.size), moved] = 1.0
        return np.concatenate([(x[None, :] + k * h * eye).reshape((moved.size, *slot.shape))
                               for k in ks])

    def _one_batch(self, slot: Slot, moved: np.ndarray) -> bool:
        """Whether the stencil is small enough for one vmapped call."""
        return len(STENCILS) * moved.size * max(self.size, slot.size) <= self.ONE_BATCH

    def _stencil_values(self, slot: Slot, h: float, moved: np.ndarray) -> np.ndarray:
        """F at the stencil's points: small inputs in one vmapped call (with the noise
        estimate's points), large ones a call per ±h (vmap holds every point's
        intermediates at once); one call per point where vmap cannot."""
        one = self._one_batch(slot, moved)
        groups = [STENCILS] if one else [(k,) for k in STENCILS]
        results, vmap = [], self.vmap
        for ks in groups:
            batch, result = self._points(slot, h, moved, ks), None
            if vmap and self.vmap:
                try:
                    result = (self._with_pending(slot, batch, False) if one
                              else self.batched(slot, batch))
                except Exception:  # noqa: BLE001 -- not vmappable: one call per column
                    vmap = False
            if result is None:
                result = np.stack([self({slot.name: b}) for b in batch])
            results.append(result)
        return np.concatenate(results)

    def directional(self, slot: Slot, v: np.ndarray):
        """(F'(x)·v, error estimate): Richardson-extrapolated central differences along v
        (v must be zero where the input is not finite)."""
        x = np.where(np.isfinite(slot.value), slot.value, 0.0).astype(float)
        h = self.step(slot, float(np.max(np.abs(v))) if v.size else 1.0)
        v = v.reshape(x.shape)
        values = [self({slot.name: np.where(v != 0, x + k * h * v, slot.value)})
                  for k in (0.5, -0.5, 1.0, -1.0)]
        value, truncation, weights = richardson(*values, h)
        return value, truncation + self._rounding(values, weights) + self.noise(slot) * weights

    def gradient_directional(self, u: np.ndarray, v: dict):
        """(d/dε ∇(uᵀF)(x + εv), error): finite differences of the float64 gradient
        along v (given per slot), the reference for second derivatives."""
        h = min(self.step(s, float(np.max(np.abs(v[s.name]))) if s.name in v else 1.0)
                for s in self.slots)

        def at(k):
            moved = {s.name: s.value + k * h * v[s.name].reshape(s.shape)
                     for s in self.slots if s.name in v}
            return self.gradient(u, moved)
        values = [at(k) for k in (0.5, -0.5, 1.0, -1.0)]
        value, truncation, weights = richardson(*values, h)
        return value, truncation + self._rounding(values, weights)

