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
from .projections import probe

FULL_LIMIT = 64            # differentiated elements, all inputs together, for the full Hessian
# projections wᵀH[a, b]v per pair of inputs: each costs a Hessian-vector product per route
# and four gradients for the reference, per input b; half the first order's 8 keeps order
# 2 of a 10⁶-parameter model within 3× its first order (benchmarks/bench_second_order.py),
# the chance of a miss stated with the check
PROBES = 4
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

    def assemble(self, columns: dict) -> dict:
        """Full mode: {key: H[a, b] flat} from the columns H[:, b] e_j."""
        return {(0, (a.name, b.name)): np.stack([col[a.name] for col in columns[b.name]],
                                                axis=1).ravel() for a, b in self.pairs}

    def reduce(self, along, absolute: tuple) -> list[dict]:
        """``along(b, v)`` -> a tuple of per-slot arrays (H[:, b] v, its error...), assembled
        into one {key: values} per entry, ``absolute`` saying which take |w|. Projections
        reduce each column to wᵀ per row block as it comes (a 10⁶-element model does not
        keep 40 full-length columns three times over)."""
        if self.full:
            found = self.columns(along)
            return [self.assemble({b: [c[i] for c in cols] for b, cols in found.items()})
                    for i in range(len(absolute))]
        if not hasattr(self, "abs_ws"):
            self.abs_ws = {k: [np.abs(w) for w in ws] for k, ws in self.ws.items()}
        reduced = {}
        for b in self.slots:
            rows = []
            for p, v in enumerate(self.vs[b.name]):
                parts = along(b, v)
                rows.append([{a.name: (self.abs_ws if ab else self.ws)[a.name][p] @ part[a.name]
                              for a in self.slots} for part, ab in zip(parts, absolute)])
            reduced[b.name] = rows
        return [{(0, (a.name, b.name)): np.array([r[i][a.name] for r in reduced[b.name]])
                 for a, b in self.pairs} for i in range(len(absolute))]


# forward over forward gives one directional second derivative per pass: H v needs a
# pass per input element (vmapped), a full Hessian's worth; beyond this many elements the
# route is left out (rev∘rev and fwd∘rev check the same Hessian by products)
FWD_FWD_LIMIT = 2000


def fwd_fwd_note(n: int) -> str:
    return (f"fwd∘fwd not run: forward over forward needs one pass per input element "
            f"({n:,} here, a full Hessian; it runs up to {FWD_FWD_LIMIT:,}); rev∘rev and "
            "fwd∘rev check the Hessian by products")


def reference(fn, plan: Plan) -> dict:
    """{key: (values, error, size)}: finite differences of the float64 gradient."""
    def along(b, v):
        if not np.any(v):  # an element that is not finite: not moved, not compared
            nan = np.full(sum(s.size for s in plan.slots), np.nan)
            return plan.split(nan), plan.split(nan)
        value, err = fn.gradient_directional(plan.u, {b.name: v})
        return plan.split(value), plan.split(err)
    def with_size(b, v):
        value, err = along(b, v)
        return value, err, {k: np.abs(x) for k, x in value.items()}
    values, errs, sizes = plan.reduce(with_size, (False, True, True))
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
        d.values = plan.reduce(lambda b, v: (along(b, v),), (False,))[0]
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
    # a block that is exactly zero both ways (f linear in a parameter: a last layer's
    # weight) is decided: its gradient did not change by a bit along any step, and the
    # route says 0 -- not "too noisy", whatever the rounding allowance
    err = np.where((values == 0) & (np.asarray(d.values[key]) == 0), 0.0, err)
    return Comparison(d.values[key], values, rtol=rtol, atol=atol, err=err,
                      scale=rtol * size, use=np.isfinite(values),
                      conclusive=0.1 * float(np.nanmax(np.abs(values), initial=0.0))
                      + target.floor(largest),
                      floor=target.floor(largest), where=where)
