"""The user's code as F(x) -> one flat float64 vector, with its derivatives.

Everything the checks need of the code goes through :class:`Function`: values
(for finite differences, in float64 on a float64 copy), backward passes uᵀJ,
forward passes J v, their batched forms, and second derivatives. The
framework's ``Code`` object (see :mod:`gradcheck_cli.frameworks`) does the
calling; this module only flattens, batches and steps.
"""

from __future__ import annotations

import numpy as np

from ..richardson import richardson
from ..tolerances import CODE_F_ULPS, DTYPES
from .inputs import Slot


class Function:
    """F(values) -> one flat float64 vector, and its derivatives, for some slots."""

    def __init__(self, ad, inputs, params, slots: list[Slot], fd_dtype: str, vmap: bool = True):
        self.ad, self.inputs, self.params = ad, inputs, params
        self.slots, self.fd_dtype, self.vmap = slots, fd_dtype, vmap
        self.shapes = None
        self.calls = 0

    @property
    def wrt(self) -> dict:
        return {s.name: s.key for s in self.slots}

    def values(self, moved: dict):
        inputs = [moved.get(i, a) for i, a in enumerate(self.inputs)]
        params = {k: moved.get(k, v) for k, v in self.params.items()}
        return inputs, params

    def __call__(self, moved: dict, dtype=None) -> np.ndarray:
        self.calls += 1
        inputs, params = self.values(moved)
        outs = self.ad.forward(inputs, params, dtype or self.fd_dtype)
        if self.shapes is None:
            self.shapes = [o.shape for o in outs]
        return np.concatenate([o.ravel() for o in outs])

    def cotangent(self, u: np.ndarray) -> list[np.ndarray]:
        parts, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            parts.append(u[start:start + size].reshape(shape))
            start += size
        return parts

    # ----- derivatives by the framework ----------------------------------------
    def vjp(self, u: np.ndarray, ad=None, dtype=None):
        """uᵀJ for every slot: ``{name: (gradient or None, (shape, dtype, device) or None)}``."""
        inputs, params = self.values({})
        if dtype is None:
            return (ad or self.ad).vjp(inputs, params, self.wrt, self.cotangent(u))
        return (ad or self.ad).vjp(inputs, params, self.wrt, self.cotangent(u), dtype=dtype)

    def jvp(self, slot: Slot, v: np.ndarray) -> np.ndarray:
        inputs, params = self.values({})
        outs = self.ad.jvp(inputs, params, {slot.key: v.reshape(slot.value.shape)})
        return np.concatenate([o.ravel() for o in outs])

    def hvp(self, u: np.ndarray, v: dict, mode: str) -> dict:
        """d/dε ∇(uᵀF)(x + εv) per slot, v given per slot name (zero where missing)."""
        inputs, params = self.values({})
        tangents = {s.name: v.get(s.name, np.zeros(s.value.size)).reshape(s.value.shape)
                    for s in self.slots}
        return self.ad.hvp(inputs, params, self.wrt, self.cotangent(u), tangents, mode)

    def gradient(self, u: np.ndarray, moved: dict) -> np.ndarray:
        """∇(uᵀF) at the moved point, all slots flattened, by reverse mode in float64:
        what finite differences of second derivatives differentiate."""
        inputs, params = self.values(moved)
        grads = self.ad.vjp(inputs, params, self.wrt, self.cotangent(u), dtype="float64")
        return np.concatenate([np.zeros(s.value.size) if grads[s.name][0] is None
                               else grads[s.name][0].ravel() for s in self.slots])

    def jacobian_rows(self, m: int, ad=None) -> list:
        """uᵀJ for every unit u: one backward pass per output element (batched if possible)."""
        ad = ad or self.ad
        many = getattr(ad, "vjp_many", None) if self.vmap else None
        if many is not None:
            inputs, params = self.values({})
            try:
                return many(inputs, params, self.wrt, [self.cotangent(u) for u in np.eye(m)])
            except Exception:  # noqa: BLE001 -- custom ops that cannot be vmapped: one by one
                pass
        return [self.vjp(u, ad) for u in np.eye(m)]

    # ----- finite differences ----------------------------------------------------
    def step(self, slot: Slot, v_max: float = 1.0) -> float:
        """A power-of-two step near eps^(1/3) times the input's scale (exact in x + h)."""
        x = slot.value
        scale = max(1.0, float(np.max(np.abs(x))) if x.size else 1.0)
        return float(2.0 ** np.floor(np.log2(DTYPES[self.fd_dtype].eps ** (1 / 3) * scale
                                             / max(1e-300, v_max))))

    def _rounding(self, values, weights) -> np.ndarray:
        """The rounding part of a difference's error: f's values counted as rounded by
        CODE_F_ULPS ulps (code has no rounding-error scale of its own), times Σ|weights|."""
        size = np.maximum.reduce([np.abs(c) for c in values])
        return CODE_F_ULPS * DTYPES[self.fd_dtype].eps * size * weights

    def jacobian(self, slot: Slot):
        """(J, error): every column by Richardson-extrapolated central differences.

        The n perturbed copies of the input go to the framework as one batch
        (vmap) where it can take them, else one call each.
        """
        x = slot.value.astype(float).ravel()
        n, h = x.size, self.step(slot)
        eye = np.eye(n)
        many = getattr(self.ad, "forward_many", None) if self.vmap else None
        cols = {}
        for k in (0.5, -0.5, 1.0, -1.0):
            batch = (x[None, :] + k * h * eye).reshape((n, *slot.value.shape))
            result = None
            if many is not None:
                inputs, params = self.values({})
                try:
                    result = many(inputs, params, self.fd_dtype, slot.key, batch)
                    self.calls += 1
                except Exception:  # noqa: BLE001 -- not vmappable: one call per column
                    many = None
            if result is None:
                result = np.stack([self({slot.key: b}) for b in batch])
            cols[k] = result.T  # (M, n)
        value, truncation, weights = richardson(cols[0.5], cols[-0.5], cols[1.0], cols[-1.0], h)
        return value, truncation + self._rounding(cols.values(), weights)

    def directional(self, slot: Slot, v: np.ndarray):
        """(F'(x)·v, error estimate): Richardson-extrapolated central differences along v."""
        x = slot.value.astype(float)
        h = self.step(slot, float(np.max(np.abs(v))) if v.size else 1.0)
        v = v.reshape(x.shape)
        values = [self({slot.key: x + k * h * v}) for k in (0.5, -0.5, 1.0, -1.0)]
        value, truncation, weights = richardson(*values, h)
        return value, truncation + self._rounding(values, weights)

    def gradient_directional(self, u: np.ndarray, v: dict):
        """(d/dε ∇(uᵀF)(x + εv), error): finite differences of the float64 gradient
        along v (given per slot), the reference for second derivatives."""
        h = min(self.step(s, float(np.max(np.abs(v[s.name]))) if s.name in v else 1.0)
                for s in self.slots)

        def at(k):
            moved = {s.key: s.value + k * h * v[s.name].reshape(s.value.shape)
                     for s in self.slots if s.name in v}
            return self.gradient(u, moved)
        values = [at(k) for k in (0.5, -0.5, 1.0, -1.0)]
        value, truncation, weights = richardson(*values, h)
        return value, truncation + self._rounding(values, weights)
