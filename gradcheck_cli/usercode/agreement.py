"""Checks that need no finite differences: the forward-reverse identity, and the Taylor test.

**fwd⇄rev** (method ``identity``). For any u and v, ⟨u, J v⟩ from forward mode must
equal ⟨Jᵀu, v⟩ from reverse mode -- both are the same sum of products, added in
another order -- so they agree to rounding, bounded by the magnitudes summed
(|u|ᵀ|J||v|) times the code's relative tolerance (its inner precision is unknown). It catches a custom rule whose jvp and vjp disagree even where
finite differences are too noisy to judge anything. Small inputs compare the two
Jacobians element by element; large ones the probes' uᵀJv.

**taylor** (method ``taylor``). Along a random direction v, the remainder
r(h) = |φ(x + hv) - φ(x) - h ∇φ·v| of φ = uᵀf falls as h² when the gradient is
right and as h when it is wrong; with ½h² vᵀHv also taken off, as h³ for a right
second derivative. The order is fitted where r stands above rounding: no
tolerance is needed, and noise only shortens the range. Verdict: the order
expected (within 0.3) passes, one order below fails, anything else is inconclusive.
PETSc, pyadjoint and Manopt check gradients this way.
"""

from __future__ import annotations

import numpy as np

from ..columns import Derivatives
from ..judge import Comparison
from ..results import Verdict
from ..tolerances import DTYPES, for_column, override
from .projections import dot

IDENTITY_ULPS = 64
SEED = 11           # the Taylor test's u and v (u is also the backward pass's first probe)
STEPS = 13          # h = h0 / 2^k, k = 0 .. STEPS - 1: h from 0.1 |x| down by 4096


# ----- fwd⇄rev -------------------------------------------------------------------------
def identity(target, outputs: dict) -> Derivatives:
    """Forward mode's values, to be compared with reverse mode's (no new evaluation)."""
    rev = outputs.get(target.mode_column("rev"))
    fwd = outputs.get(target.mode_column("fwd"))
    d = Derivatives()
    for name in target.slots:
        key = (0, (name,))
        if rev is None or fwd is None or key not in rev.values or key not in fwd.values:
            reason = (fwd.unavailable.get(key) if fwd is not None and key in fwd.unavailable
                      else "needs both modes' values (mode: both)")
            d.unavailable[key] = f"fwd⇄rev: {reason}"
            continue
        d.extra[key] = (fwd.values[key], rev, fwd)
        d.values[key] = fwd.values[key]
    return d


def identity_comparison(target, key, name: str, d: Derivatives):
    """⟨u, Jv⟩ (forward) against ⟨Jᵀu, v⟩ (reverse), to rounding of the terms summed."""
    jv, rev, fwd = d.extra[key]
    row = DTYPES[target.dtype]
    use = None
    if target.full:
        directions = fwd.extra[key][0]              # (k, n): the forward tangents
        j_rev = rev.values[key]                     # (M, n)
        # the same columns, from reverse mode; elements that are ±inf or NaN are not moved
        # (zero in every tangent) and outputs not finite at the point have no derivative
        # to compare: NaN·0 would make both sides NaN there
        moved = target.slot(key[1][0]).finite
        expected = j_rev[:, moved] @ directions[:, moved].T
        terms = np.abs(j_rev[:, moved]) @ np.abs(directions[:, moved].T)
        use = (np.isfinite(target.fn.value())[:, None]
               & np.any(directions != 0, axis=1)[None, :]) if not moved.all() else None
    else:
        expected, terms = rev.values[key], rev.terms[key]
    largest = float(np.max(np.abs(expected), initial=0.0))
    # the same sums in two orders: they differ by the code's own rounding, whose inner
    # precision is unknown (TensorFlow's oneDNN kernels round a float64 backward pass at
    # 5e-8), so held to what code is held to; the user's tolerance loosens it too
    rtol = override(target.rtol, "identity", target.framework) or row.code_rtol
    atol = override(target.atol, "identity", target.framework) or 0.0
    return Comparison(jv, expected, rtol=rtol, atol=atol, use=use,
                      scale=(IDENTITY_ULPS * row.eps + rtol) * terms,
                      floor=target.floor(largest),
                      where=lambda i: f"{target.slot(key[1][0]).name}, value {int(i)}")


# ----- taylor --------------------------------------------------------------------------
def taylor(target, fn, slots) -> Derivatives:
    """Remainders along a random direction per slot: r(h) for the gradient (order 1) and,
    at order 2, with the second derivative too. Values are the fitted orders."""
    rng = np.random.default_rng(SEED)
    plan = target.second
    shared = plan is not None and not plan.full   # the route columns' first u and v: their
    d = Derivatives()                             # H v is computed once (Function.hvp)
    if not fn.size:
        for s in slots:
            d.unavailable[(0, (s.name,))] = "no output element"
        return d
    u = rng.standard_normal(fn.size)
    if shared:
        u = plan.u
    finite = np.isfinite(fn.value())   # φ = uᵀf over the outputs finite at the point
    if not finite.any():
        for s in slots:
            d.unavailable[(0, (s.name,))] = "no output is finite at the point"
        return d
    if not finite.all():
        u = np.where(finite, u, 0.0)
    kept = fn.first_vjp   # the reverse column's first probe (the same u on small inputs)
    grads = kept[1] if kept is not None and np.array_equal(kept[0], u) else fn.vjp(u)
    for s in slots:
        key = (0, (s.name,))
        g = grads[s.name][0]
        v = (plan.vs[s.name][0].reshape(s.shape) if shared else
             rng.standard_normal(s.shape) * s.finite.reshape(s.shape))
        if not np.any(v):
            d.unavailable[key] = "no finite element to move"
            continue
        if g is not None and np.size(g) != s.size:   # the reverse column names the shape
            d.unavailable[key] = (f"the gradient has {np.size(g)} element(s) for "
                                  f"{s.size} in {s.name}")
            continue
        # over the moved elements only (a gradient at a ±inf element may be NaN)
        slope = 0.0 if g is None else dot(v.ravel(), np.ravel(g))
        curve = None
        if target.second is not None:
            h2 = fn.hvp(u, {s.name: plan.vs[s.name][0] if shared else v.ravel()},
                        "rev∘rev").get(s.name)
            curve = 0.0 if h2 is None else dot(v.ravel(), np.ravel(h2))
        # the gradient is only as exact as the check's dtype allows: a remainder below
        # h times that allowance is consistent with a right gradient (float16 is 1e-3 off)
        # (the user's tolerance for the reverse-mode column, whose gradient this tests)
        rtol, atol = for_column(target.mode_column("rev"), target.dtype, target.rtol,
                                target.atol, kind="code")
        g_abs = 0.0 if g is None else dot(np.abs(v.ravel()), np.abs(np.ravel(g)))
        decisive = rtol * g_abs + atol        # the tolerance proper, without the floor
        allowance = decisive + target.floor(g_abs)
        points = _steps(fn, s, v)   # one batch of evaluations for both orders
        d.extra[key] = (*_remainders(fn, s, u, points, slope, curve, allowance), decisive,
                        abs(slope))
        d.values[key] = np.zeros(1)
        if curve is not None:
            pair = (0, (s.name, s.name))
            d.extra[pair] = (*_remainders(fn, s, u, points, slope, curve, allowance,
                                          second=True), decisive, abs(curve))
            d.values[pair] = np.zeros(1)
    # the remainders themselves, for the plot (gradcheck --plot) and the JSON report
    d.info = {"remainders": {
        ", ".join(k[1]): {"order": 3 if len(k[1]) == 2 else 2, "h": e[0].tolist(),
                          "r": e[1].tolist(), "floor": (e[2] + e[3]).tolist()}
        for k, e in d.extra.items()}} if d.extra else {}
    return d


def _steps(fn, slot, v):
    """(h, F(x ± hv), F(x)) for h = h0 / 2^k along v, all points in one batch."""
    x = np.where(np.isfinite(slot.value), slot.value, 0.0)
    scale = max(1.0, float(np.max(np.abs(x))))
    h0 = 0.1 * scale / float(np.max(np.abs(v)))
    hs = h0 * 2.0 ** -np.arange(STEPS)
    signed = np.concatenate([hs, -hs]).reshape((2 * STEPS,) + (1,) * x.ndim)
    f = fn.along(slot, np.where(v != 0, x + signed * v, slot.value))   # (2 STEPS, M)
    return hs, f, fn.value()


def _remainders(fn, slot, u, points, slope, curve, allowance, second=False):
    """(h, r(h), floor, noise, s(h)) from :func:`_steps`' evaluations. The floor is
    rounding and h times the gradient's own allowance (h² times the second derivative's,
    at order 2); s(h) = φ(x+hv) + φ(x-hv) - 2φ(x), the second difference, falls as h²
    where φ is smooth along v, as h at a kink, not at all at a jump."""
    hs, f, f0 = points
    keep = u != 0          # outputs not finite at the point have u = 0: left out (NaN·0)
    f, f0, u = f[:, keep], f0[keep], u[keep]
    plus, minus = f[:STEPS] @ u, f[STEPS:] @ u
    phi0 = u @ f0
    r = plus - phi0 - hs * slope - (0.5 * hs * hs * curve if second else 0.0)
    eps = DTYPES[fn.fd_dtype].eps
    rounding = 64 * eps * (np.abs(f[:STEPS]) + np.abs(f0)) @ np.abs(u)
    floors = rounding + (hs * hs if second else hs) * allowance
    noise = np.full(STEPS, 2 * float(np.abs(u) @ fn.noise(slot)[keep]))  # measured (ECnoise)
    return hs, np.abs(r), floors, noise, np.abs(plus + minus - 2 * phi0)


def order_of(hs, rs, floors, noise) -> tuple[float | None, int, bool]:
    """(the remainder's order, how many halvings it was fitted on, whether the remainder
    sinks into its floor at the smallest steps). The order is the median slope in log2
    over the last consecutive halvings whose remainders stand 10 times above the floor
    and the noise: the asymptotic range, past any kink that larger steps reach across.
    Sinking says the gradient is right only where the floor is rounding, not noise
    (noise swallows a wrong gradient's h·δ as well)."""
    good = rs > 10 * (floors + noise)
    sinks = not good[-3:].any() and noise[-1] <= floors[-1]
    slopes = _slopes(rs, good)
    if len(slopes) < 3:
        return None, len(slopes), sinks
    return _median(slopes[-4:]), len(slopes), sinks


def _median(a: np.ndarray) -> float:
    """np.median of a few values, without its overhead."""
    a = np.sort(a)
    k = len(a)
    if np.isnan(a[-1]):
        return float("nan")
    return float(a[k // 2]) if k % 2 else float((a[k // 2 - 1] + a[k // 2]) / 2)


def _slopes(rs, good) -> np.ndarray:
    """log2 r(h)/r(h/2) over the consecutive halvings where both remainders are ``good``."""
    both = good[:-1] & good[1:]
    with np.errstate(all="ignore"):
        return np.log2(rs[:-1][both] / rs[1:][both])


def _coarse(hs, rs, floors, noise, expected, rate, decisive) -> str | None:
    """Why a pass would claim more than the test resolved, or None: along v an error δ in
    the derivative adds h^p·δ to r (p = 1, 2 at order 2); at the smallest step where r
    still stands above its floor it could hide up to r/h^p. A pass needs that under a
    hundredth of the derivative along v (its own tolerance aside)."""
    if rate is None:
        return None
    p = expected - 1
    loose = np.flatnonzero(rs > 2 * (floors + noise))
    k = loose[-1] if loose.size else 0
    bound = (rs[k] if loose.size else 2 * (floors[0] + noise[0])) / hs[k] ** p
    if bound <= 0.01 * rate + 2 * (decisive or 0.0):
        return None
    return (f"along v the test resolves the {'second derivative' if p == 2 else 'gradient'} "
            f"only to {bound:.2g} (its value there {rate:.2g}): f's rounding or noise "
            "hides smaller errors")


def _tail_order(hs, rs, floors, noise) -> float | None:
    """The remainder's order over the last halvings where it stands twice above its floor
    (the fit proper wants ten times): None with fewer than three."""
    slopes = _slopes(rs, rs > 2 * (floors + noise))
    return _median(slopes[-3:]) if len(slopes) >= 3 else None


def _rounding_bound(hs, floors, noise, expected: int, decisive: float | None) -> bool:
    """Whether the floor at the largest step is made of f's rounding, noise and the
    check-scale resolution more than of the derivative's own tolerance (``decisive``, times
    h^p: p = 1, or 2 for the second derivative): then a remainder that never rose above it
    bounds the derivative's error only loosely."""
    p = 2 if expected == 3 else 1
    if decisive is None:   # the floor's h^p part, from the two largest steps
        decisive = (floors[0] - floors[1]) / (hs[0] ** p - hs[1] ** p)
    return bool(floors[0] + noise[0] > 2 * hs[0] ** p * decisive)


def _drops_below(hs, rs, floors, noise, order: float) -> bool:
    """Whether, past the last step fitted, r falls ten times below the fitted h^order line."""
    good = np.flatnonzero(rs > 10 * (floors + noise))
    if not good.size or good[-1] == len(rs) - 1:
        return False
    i = good[-1]
    line = rs[i] * (hs[i + 1:] / hs[i]) ** order
    return bool(np.any(rs[i + 1:] < 0.1 * line))


def taylor_verdict(name: str, key, d: Derivatives, expected: int) -> Verdict:
    hs, rs, floors, noise, curvature, *rest = d.extra[key]
    decisive = rest[0] if rest else None
    rate = rest[1] if len(rest) > 1 else None
    rs = np.where(np.isfinite(rs), rs, np.inf)   # a point the code refused: no evidence
    order, n, sinks = order_of(hs, rs, floors, noise)
    where = "x + hv (v a seed-fixed random direction)"
    bend, _, _ = order_of(hs, np.nan_to_num(curvature, nan=np.inf), floors * 0, noise)
    if bend is not None and bend < 1.5 and not sinks:
        # a kink (or jump) at the point along v: any subgradient leaves an h^1 remainder
        return Verdict(name, "inconclusive", compared=len(rs), error=order,
                       error_kind="order", location=where,
                       reason=f"f has a kink or jump at the point along v (its second "
                              f"difference falls as h^{bend:.2f}): the Taylor test cannot "
                              "judge a subgradient")
    tail = _tail_order(hs, rs, floors, noise)
    if tail is not None and tail <= expected - 0.7 and not (
            order is not None and order <= expected - 0.7):
        # just above the floor, below the fitted range: a wrong derivative's h·δ shows
        # there first when f's curvature hides it higher up
        return Verdict(name, "inconclusive", compared=len(rs), error=tail,
                       error_kind="order", location=where,
                       reason=f"the remainder falls as h^{tail:.2f} just above its floor at "
                              "the smallest steps: an error in the derivative at that level "
                              "cannot be excluded")
    if sinks and not np.any(rs > 10 * (floors + noise)) and _rounding_bound(
            hs, floors, noise, expected, decisive):
        # never above a floor made of f's rounding: a wrong gradient's h·δ sank with it
        # (a floor made of the gradient's own tolerance, h·allowance, bounds δ: a pass)
        return Verdict(name, "inconclusive", compared=len(rs), location=where,
                       reason="the remainder never rises above its floor (f's rounding "
                              f"at this scale, {floors[-1]:.2g} at the smallest step): the "
                              "Taylor test sees nothing here")
    coarse = _coarse(hs, rs, floors, noise, expected, rate, decisive)
    if coarse and (sinks or (order is not None and order >= expected - 0.3)):
        return Verdict(name, "inconclusive", compared=len(rs), error=order,
                       error_kind="order", location=where, reason=coarse)
    if sinks:  # r(h)/h -> 0: the derivative predicts f to its own accuracy as h shrinks
        return Verdict(name, "pass", compared=len(rs), error=order, error_kind="order",
                       location=where, reason="the remainder sinks below its floor as h "
                                              "shrinks (f linear along v there, or exact)")
    if order is None:
        return Verdict(name, "inconclusive", compared=len(rs), location=where,
                       reason=f"the remainder stands above its floor at {n + 1} step(s) only: "
                              "no order to fit")
    if order >= expected - 0.3:
        return Verdict(name, "pass", compared=len(rs), error=order, error_kind="order",
                       location=where)
    if order <= expected - 0.7 and _drops_below(hs, rs, floors, noise, order):
        # a wrong derivative leaves r ≥ h^order·|δ| at every step; r falling ten times
        # below that line at smaller steps is f turning smooth past kinks near the point
        # (piecewise-linear interpolation: grid_sample), not the derivative
        return Verdict(name, "inconclusive", compared=len(rs), error=order,
                       error_kind="order", location=where,
                       reason=f"the remainder falls as h^{order:.2f} and then drops far below "
                              "that line at the smallest steps: kinks near the point along v, "
                              "not a wrong derivative, as far as this test can tell")
    if order <= expected - 0.7:
        return Verdict(name, "fail", compared=len(rs), wrong=1, error=order,
                       error_kind="order", location=where,
                       reason=f"the Taylor remainder falls as h^{order:.2f}, not h^{expected}: "
                              f"the {'second derivative' if expected == 3 else 'gradient'} "
                              "is wrong along v")
    return Verdict(name, "inconclusive", compared=len(rs), error=order, error_kind="order",
                   location=where, reason=f"the remainder's order {order:.2f} is neither "
                                          f"{expected} nor {expected - 1}")
