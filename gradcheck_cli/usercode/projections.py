"""Large inputs: random projections uᵀJv, and bisection to find the wrong elements.

For several probes from a fixed seed -- u over the outputs, v over each input --
uᵀJv from the backward pass as (uᵀJ)·v, from forward mode as uᵀ(Jv), and from
finite differences along v (the reference). The cost does not grow with the
number of parameters. When a projection disagrees, finite differences along v
restricted to halves of the elements, recursively, find the worst elements.
"""

from __future__ import annotations

import math

import numpy as np

from .. import tolerances
from ..columns import Derivatives
from ..errors import describe
from ..judge import Comparison, failed
from . import structural

PROBES = 8                 # random projections per input
LOCALIZE = 5               # worst elements reported per failing input


def probe(rng, n: int) -> np.ndarray:
    """A Gaussian probe, drawn in float32 (twice as fast: 10^6-element weights need 8 of
    them) and held in float64; its seventh digit does not matter to a random direction."""
    return rng.standard_normal(n, dtype=np.float32).astype(np.float64)


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """a·b over the entries where a is not zero: a probe is zero on what it leaves out
    (an element that is ±inf, an output that is NaN at the point), where b may be NaN."""
    keep = a != 0
    return float(a[keep] @ b[keep])


class Probes:
    """The seed-fixed directions every column and the reference share."""

    def __init__(self, rng, m: int, slots, finite_outputs=None):
        # zero on outputs not finite at the point (NaN·0 would spread) while any is finite
        mask = (finite_outputs if finite_outputs is not None and np.any(finite_outputs)
                else np.ones(m, dtype=bool))
        self.us = [probe(rng, m) * mask for _ in range(PROBES)]
        # zero on elements that are not finite: finite differences cannot move them
        self.vs = {s.name: [probe(rng, s.size) * s.finite for _ in range(PROBES)]
                   for s in slots}


def reference(fn, slots, probes: Probes) -> dict:
    """{slot: (uᵀJv by finite differences, error, |u|ᵀ|Jv|, Jv per probe)}."""
    out = {}
    for s in slots:
        fd, err, size, jv = np.empty(PROBES), np.empty(PROBES), np.empty(PROBES), []
        for p, (u, v) in enumerate(zip(probes.us, probes.vs[s.name])):
            d, e = fn.directional(s, v)
            fd[p], err[p], size[p] = dot(u, d), dot(np.abs(u), e), dot(np.abs(u), np.abs(d))
            jv.append(d)
        out[s.name] = (fd, err, size, jv)
    return out


def backward(fn, slots, probes: Probes) -> Derivatives:
    """(uᵀJ)·v per probe from backward passes; the gradients kept for structural checks."""
    d = Derivatives()
    grads = [fn.vjp(u) for u in probes.us]
    for s in slots:
        key = (0, (s.name,))
        values, terms = np.empty(PROBES), np.empty(PROBES)
        for p, v in enumerate(probes.vs[s.name]):
            g = grads[p][s.name][0]
            g = np.zeros(s.size) if g is None else g.ravel()
            values[p], terms[p] = dot(v, g), dot(np.abs(v), np.abs(g))
        d.values[key], d.terms[key] = values, terms
        d.extra[key] = [grads[p][s.name] for p in range(PROBES)]
    return d


def forward(fn, slots, probes: Probes) -> Derivatives:
    """uᵀ(Jv) per probe from forward mode (an output with no tangent counts as zero, and
    is named in the notes)."""
    d = Derivatives()
    for s in slots:
        key = (0, (s.name,))
        try:
            results = [fn.jvp(s, v) for v in probes.vs[s.name]]
        except Exception as exc:  # noqa: BLE001 -- no forward rule: a reason, not a crash
            d.unavailable[key] = f"forward mode unavailable: {describe(exc, 160)}"
            continue
        d.values[key] = np.array([dot(u, jv) for u, (jv, _) in zip(probes.us, results)])
        d.extra[key] = sorted({i for _, missing in results for i in missing})
    return d


def compare(target, key, kind: str, name: str, d: Derivatives, ref: dict):
    slot = target.slot(key[1][0])
    fd, err, size, _ = ref[slot.name]
    dtype = target.dtype
    rtol, atol = tolerances.for_column(name, dtype, target.rtol, target.atol, kind="code")
    terms = size + d.terms.get(key, size)
    if kind == "rev":
        g, meta = d.extra[key][0]
        nonzero = abs(fd[0]) > tolerances.FD_SAFETY * err[0] + structural.resolution(target, size[0])
        why = structural.gradient(g, meta, target.ad.expected_meta(slot.shape), nonzero)
        if why:
            return failed(name, why, compared=PROBES, location=slot.name)
    if kind == "fwd" and d.extra.get(key):  # outputs without a forward-mode tangent
        fn = target.fn
        for i in d.extra[key]:
            start = sum(o.size for o in fn.outputs[:i])
            part = slice(start, start + fn.outputs[i].size)
            if any(np.any(np.abs(jv[part]) > 0) for jv in ref[slot.name][3]):
                return failed(name, f"output {fn.outputs[i].path} has no forward-mode tangent "
                              "although finite differences are not zero", compared=PROBES,
                              location=fn.outputs[i].path)
    return Comparison(d.values[key], fd, rtol=rtol, atol=atol, err=err,
                      scale=rtol * terms,
                      floor=target.floor(float(np.max(size))),
                      conclusive=0.1 * float(np.max(np.abs(fd))) + target.floor(float(np.max(size))),
                      where=lambda p: f"probe {p} (seed-fixed u, v)")


def localize(fn, slot, u, grad, dtype: str, budget: int = 400) -> str:
    """The worst elements of a failing input, by bisection over blocks of elements.

    Finite differences of uᵀF along a random direction restricted to a block are
    compared with the backward pass's (uᵀJ)·v on the same block; blocks that
    disagree are split until single elements remain (or the budget runs out).
    """
    n = slot.size
    grad = np.zeros(n) if grad is None else grad.ravel()
    v = np.random.default_rng(1).standard_normal(n) * slot.finite
    rtol = tolerances.DTYPES[dtype].code_rtol

    def disagreement(idx):
        w = np.zeros(n)
        w[idx] = v[idx]
        d, e = fn.directional(slot, w)
        fd, err = dot(u, d), dot(np.abs(u), e)
        an = dot(v[idx], grad[idx])
        terms = dot(np.abs(v[idx]), np.abs(grad[idx])) + dot(np.abs(u), np.abs(d))
        tol = rtol * (abs(fd) + terms) + tolerances.FD_SAFETY * err
        return abs(an - fd) - tol, fd / v[idx][0] if len(idx) == 1 else None

    blocks = [np.arange(n)]
    found = []
    evaluations = 0
    while blocks and evaluations < budget:
        block = blocks.pop(0)
        if len(block) == 1:
            continue
        for half in (block[: len(block) // 2], block[len(block) // 2:]):
            evaluations += 1
            excess, fd = disagreement(half)
            if excess > 0:
                if len(half) == 1:
                    found.append((excess, int(half[0]), fd))
                else:
                    blocks.append(half)
    if not found:
        return f"{slot.name}: the disagreement is spread over many elements"
    found.sort(reverse=True)
    parts = [f"{slot.element(j)}: backward {grad[j]:.6g}, finite differences {fd:.6g}"
             for _, j, fd in found[:LOCALIZE]]
    return "; ".join(parts) + " (of uᵀJ)"


def miss_probability(probes: int, ratio: float = 0.1) -> float:
    """P(all probes miss) for a rank-one error E = a bᵀ, |E| = tolerance / ratio.

    uᵀEv = (uᵀa)(bᵀv) is a product of two independent normals; one probe misses
    when |Z1 Z2| < ratio, which has probability E[erf(ratio / (|Z1| √2))].
    """
    z = np.linspace(1e-6, 8, 20001)  # the trapezoid rule is exact to 1e-12 here
    density = np.sqrt(2 / np.pi) * np.exp(-z * z / 2)
    erf = np.fromiter((math.erf(v) for v in ratio / (z * math.sqrt(2))), float, z.size)
    one = float(np.trapezoid(erf * density, z))
    return one ** probes
