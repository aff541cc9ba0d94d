"""Second derivatives of code: the backward pass differentiated again.

For a vector output the second-derivative tensor is projected on one seed-fixed
random output cotangent u (for a scalar output u = 1): the checked object is
the Hessian H of uᵀf over every differentiated input together, in blocks
H[a, b] (one row each, a before b). Each framework column differentiates the
framework's own backward pass -- ``·rev`` by another backward pass (reverse over
reverse), ``·fwd∘rev`` by forward mode (forward over reverse), and ``·fwd∘fwd``,
``·rev∘fwd`` where the framework offers them -- each its own column, held against
finite differences of the float64 gradient (reverse mode on the float64 copy),
with their error estimate. Up to ``FULL_LIMIT`` elements in all, every column of
H; beyond, wᵀHv for ``PROBES`` seed-fixed pairs of directions (a failure is then
localized to elements by bisection, as for first order).
"""

from __future__ import annotations

import numpy as np

from .. import tolerances
from ..columns import Derivatives
from ..errors import describe
from ..judge import Comparison, failed
from . import structural
from .projections import PROBES, probe

FULL_LIMIT = 64            # differentiated elements, all inputs together, for the full Hessian
ROUTES = {"rev∘rev": "reverse over reverse", "fwd∘rev": "forward over reverse",
          "fwd∘fwd": "forward over forward", "rev∘fwd": "reverse over forward",
          "user": "the second derivative given"}


class Plan:
    """The cotangent u and the directions shared by the reference and every column."""

    def __init__(self, rng, m: int, slots):
        self.slots = slots
        self.u = probe(rng, m) if m > 1 else np.ones(1)
        self.full = sum(s.size for s in slots) <= FULL_LIMIT
        if self.full:
            self.vs = {s.name: list(np.eye(s.size) * s.finite) for s in slots}
        else:
            self.vs = {s.name: [probe(rng, s.size) * s.finite for _ in range(PROBES)]
                       for s in slots}
            self.ws = {s.name: [probe(rng, s.size) for _ in range(PROBES)] for s in slots}
        self.pairs = [(a, b) for i, a in enumerate(slots) for b in slots[i:]]

    def keys(self):
        return [(0, (a.name, b.name)) for a, b in self.pairs]

    def split(self, vector) -> dict:
        """A vector over all slots, cut into one array per slot."""
        out, start = {}, 0
        for s in self.slots:
            out[s.name] = np.asarray(vector[start:start + s.size])
            start += s.size
        return out

    def columns(self, along) -> dict:
        """{b: [along(b, v) for each direction v of b]}; ``along`` returns per-slot arrays."""
        return {b.name: [along(b, v) for v in self.vs[b.name]] for b in self.slots}

    def assemble(self, columns: dict, absolute: bool = False) -> dict:
        """{key: H[a, b] (flat), or wᵀH[a, b]v per probe} from columns H[:, b] v;
        ``absolute``: |w|ᵀ|.| (for error estimates and sizes)."""
        values = {}
        for a, b in self.pairs:
            cols = [col[a.name] for col in columns[b.name]]
            if self.full:  # H[a, b]: rows a's elements, columns b's
                values[(0, (a.name, b.name))] = np.stack(cols, axis=1).ravel()
            else:
                values[(0, (a.name, b.name))] = np.array(
                    [(np.abs(w) if absolute else w) @ c
                     for w, c in zip(self.ws[a.name], cols)])
        return values


def reference(fn, plan: Plan) -> dict:
    """{key: (values, error, size)}: finite differences of the float64 gradient."""
    def along(b, v):
        if not np.any(v):  # an element that is not finite: not moved, not compared
            nan = np.full(sum(s.size for s in plan.slots), np.nan)
            return plan.split(nan), plan.split(nan)
        value, err = fn.gradient_directional(plan.u, {b.name: v})
        return plan.split(value), plan.split(err)
    both = plan.columns(along)
    values = plan.assemble({b: [c[0] for c in cols] for b, cols in both.items()})
    errs = plan.assemble({b: [c[1] for c in cols] for b, cols in both.items()}, absolute=True)
    sizes = plan.assemble({b: [{k: np.abs(x) for k, x in c[0].items()} for c in cols]
                           for b, cols in both.items()}, absolute=True)
    return {k: (values[k], errs[k], sizes[k]) for k in values}


def column(fn, plan: Plan, route: str) -> Derivatives:
    """H by the framework along every direction of the plan, by ``route``."""
    d = Derivatives()
    disconnected = set()

    def along(b, v):
        h = fn.hvp(plan.u, {b.name: v}, route)
        for s in plan.slots:
            if h.get(s.name) is None:
                disconnected.add((s.name, b.name))
        return {s.name: np.zeros(s.size) if h.get(s.name) is None else h[s.name].ravel()
                for s in plan.slots}
    try:
        d.values = plan.assemble(plan.columns(along))
    except Exception as exc:  # noqa: BLE001 -- the route does not run on this code
        why = f"{ROUTES[route]} failed: {describe(exc, 200)}"
        for key in plan.keys():
            if route == "rev∘rev":  # the backward pass must be differentiable to check order 2
                d.failures[key] = (why, None)
            else:
                d.unavailable[key] = why
        return d
    for key in plan.keys():
        d.extra[key] = (key[1][0], key[1][1]) in disconnected
    return d


def compare(target, key, kind: str, name: str, d: Derivatives, ref: dict):
    values, err, size = ref[key]
    dtype = target.dtype
    rtol, atol = tolerances.for_column(name, dtype, target.rtol, target.atol, kind="code")
    largest = float(np.nanmax(size, initial=0.0))
    if d.extra.get(key):  # autograd connects no second derivative here
        resolution = structural.resolution(target, largest)
        why = structural.not_differentiable(
            bool(np.any(np.abs(values) > tolerances.FD_SAFETY * err + resolution)),
            ROUTES[kind])
        if why:
            return failed(name, why, compared=values.size, location=target.label(key))
    a, b = (target.slot(n) for n in key[1])
    plan = target.second

    def where(flat):
        if not plan.full:
            return f"probe {int(flat)} (seed-fixed u, v, w)"
        i, j = divmod(int(flat), b.size)
        return f"{a.element(i)}, {b.element(j)}"
    return Comparison(d.values[key], values, rtol=rtol, atol=atol, err=err,
                      scale=rtol * size, use=np.isfinite(values),
                      conclusive=0.1 * float(np.nanmax(np.abs(values), initial=0.0))
                      + target.floor(largest),
                      floor=target.floor(largest), where=where)
