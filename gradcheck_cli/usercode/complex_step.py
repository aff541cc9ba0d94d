"""Complex step for NumPy code that accepts complex input: a second, sharper reference.

For F real-analytic, Im F(x + ih e_j) / h = J e_j - h² F'''/6: no difference of nearby
values is taken, so nothing cancels, and with h = 2^-66 the h² term is far below
rounding (one Richardson step, from h and 2h, removes it where J is exactly 0). It
is the answer where finite differences are noisy: F large beside its slope, an
objective summed over many terms.

It is only right where the code is complex-analytic as written: ``abs``,
comparisons, ``max``, ``np.real``, ``conj`` or ``float()`` break it. So it is
trusted per input only where it agrees with finite differences *within their error
estimate* at every element; there it replaces them as the reference for every other
column (the user's derivatives are then held to the float64 row alone), and its own
column shows the agreement. Where it disagrees, or the code refuses complex input,
its column is ``n/a`` with the element and the reason, and finite differences stay
the reference -- never a failure of the user's derivatives on its account.

Opt-in (``methods: [complex-step]``): it calls the code once per input element.
"""

from __future__ import annotations

import numpy as np

from .. import tolerances
from ..columns import Derivatives
from ..errors import describe
from ..judge import not_applicable

H = 2.0 ** -66
EPS = float(np.finfo(np.float64).eps)


def jacobian(fn, slot) -> tuple[np.ndarray | None, str | None]:
    """(J of shape (M, n), None), or (None, why not) where the code refuses complex input
    or drops its imaginary part."""
    f = fn.pure(fn.fd_dtype)
    x = slot.value.astype(float).ravel()
    out = np.full((fn.size, x.size), np.nan)

    def at(j, h):
        z = x.astype(complex)
        z[j] += 1j * h
        point = [np.array(v, copy=True) for v in fn.point({slot.name: z.reshape(slot.shape)})]
        values = [np.asarray(o) for o in f(*point)]
        if not all(np.iscomplexobj(v) for v in values):
            raise _Real()
        return np.concatenate([v.ravel() for v in values]).imag / h
    try:
        for j in np.flatnonzero(np.isfinite(x)):
            small, large = at(j, H), at(j, 2 * H)
            out[:, j] = small + (small - large) / 3
    except _Real:
        return None, ("the code returned a real value for complex input (np.real, float(), "
                      "astype(float)): no complex step")
    except Exception as exc:  # noqa: BLE001 -- raised inside the user's code
        return None, f"the code does not take complex input: {describe(exc)}"
    return out, None


class _Real(Exception):
    pass


def _values(target, slot):
    """(J, why not) of one input, computed once per check (its column and the reference
    share it)."""
    cache = target.__dict__.setdefault("complex_values", {})
    if slot.name not in cache:
        cache[slot.name] = jacobian(target.fn, slot)
    return cache[slot.name]


def sharpen(target, ref: dict) -> None:
    """Where complex step agrees with finite differences within their error at every
    element of an input, make it that input's reference (``ref`` is changed in place);
    elsewhere record why not. The finite differences are kept for its own column."""
    target.complex_fd, target.complex_why = {}, {}
    for name, slot in target.slots.items():
        j_cs, why = _values(target, slot)
        if j_cs is None:
            target.complex_why[name] = why
            continue
        j_fd, err = ref[name]
        largest = float(np.nanmax(np.abs(j_fd), initial=0.0))
        allowed = tolerances.FD_SAFETY * err + target.floor(largest)
        with np.errstate(invalid="ignore"):
            apart = np.isfinite(j_fd) & ~(np.abs(j_cs - j_fd) <= allowed)
        if apart.any():
            k, e = np.unravel_index(int(np.argmax(np.where(apart, np.abs(j_cs - j_fd), -1))),
                                    apart.shape)
            target.complex_why[name] = (
                f"complex step differs from finite differences beyond their error at "
                f"{slot.element(int(e))} → {target.fn.output_element(int(k))} "
                f"({j_cs[k, e]:.6g} against {j_fd[k, e]:.6g}): the code is not "
                "complex-analytic there (abs, a comparison, max, conj, a real part); "
                "finite differences stay the reference")
            continue
        target.complex_fd[name] = ref[name]
        ref[name] = (j_cs, 16 * EPS * np.abs(j_cs))
        weak = bool(np.nanmax(tolerances.FD_SAFETY * err, initial=0.0) > 0.1 * largest)
        target.notes.append(
            f"reference for {name}: complex step (it agrees with finite differences within "
            "their error at every element; its own error is rounding alone)" + (
                "; their error exceeds a tenth of the values, so that agreement is weak "
                "evidence that the code is complex-analytic: it is trusted as asked"
                if weak else ""))
    if target.complex_fd:
        # judged at the precision of complex step: the resolution at the inputs' and the
        # derivatives' scale, not at f's (f = 1e12 + Σx³ would allow 0.9 on a value of 4)
        target.scale = max(float(np.max(np.abs(s.value[np.isfinite(s.value)]), initial=0.0))
                           for s in target.slots.values())


def compute(target, fn, slots) -> Derivatives:
    """The column: complex step's Jacobian per input (n/a with the reason where none)."""
    d = Derivatives()
    for s in slots:
        values, why = _values(target, s)
        if values is None:
            d.unavailable[(0, (s.name,))] = why
        else:
            d.values[(0, (s.name,))] = values
    return d


def compare(target, key, name: str, d: Derivatives):
    """Complex step against finite differences (never against itself): n/a where it was
    not trusted, with the reason."""
    from . import full
    slot = key[1][0]
    why = getattr(target, "complex_why", {}).get(slot)
    if why or slot not in getattr(target, "complex_fd", {}):
        return not_applicable(name, why or "no complex step for this input")
    return full.compare(target, key, "reference", name, d, target.complex_fd)
