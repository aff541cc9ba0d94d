"""The columns of a code check, and what each computes.

* ``torch·rev`` (``kind`` rev): backward passes -- the Jacobian's rows, or uᵀJ
  along random probes -- with the structural checks of the backward pass;
* ``torch·fwd`` (fwd): forward passes, J v;
* ``reference``: a plain implementation's backward passes;
* ``expect``: the user's own gradient of the sum of the outputs.

At order 2 each column that has a route differentiates its backward pass again
(:mod:`.second`). What a kind computes is a table (:data:`KINDS`), not a chain
of branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..columns import Derivatives
from ..errors import GradcheckError
from . import agreement, complex_step, full, projections, second, structural


@dataclass(frozen=True)
class Column:
    """One column of a code check.

    Attributes:
        name: its title (``torch·rev``).
        kind: what it computes at order 1: ``rev`` (backward passes, with the structural
            checks), ``fwd`` (forward passes), ``reference`` (a plain implementation's
            backward passes), ``expect`` (the user's gradient); ``route``: second order
            only.
        route: how it gives second derivatives (``rev∘rev``: reverse over reverse,
            ``fwd∘rev``: forward over reverse, ``fwd∘fwd``, ``rev∘fwd``), or None.
        framework: the framework's own autodiff (its version, device, dtype reported).
        derivative: for NumPy code, the form of the user's derivative (``gradient``,
            ``vjp``, ...) this column calls.
    """

    name: str
    kind: str
    route: str | None = None
    framework: bool = False
    derivative: str | None = None    # NumPy code: the user's derivative it calls



@dataclass(frozen=True)
class Kind:
    """What a kind of column computes: on which function, by full Jacobian or by probes."""

    function: Callable        # target -> the Function it differentiates
    full: Callable            # (target, fn, slots) -> Derivatives, small inputs
    projected: Callable | None = None   # ... large inputs (None: needs the full Jacobian)


def compute(target, column: Column) -> Derivatives:
    """A column's derivatives: order 1 by its kind, order 2 by its route (a column without
    one leaves the second-order rows empty; a route column the first-order ones)."""
    kind = KINDS[column.kind]
    fn = target.derivative(column.derivative) if column.derivative else kind.function(target)
    slots = list(target.slots.values())
    step = kind.full if target.full else kind.projected
    d = step(target, fn, slots) if step is not None else Derivatives()
    if target.second is not None and column.route is not None:
        _merge(d, second.column(fn, target.second, column.route))
    return d


def _rev(target, fn, slots) -> Derivatives:
    """Backward passes, and the structural checks of the backward pass (torch's
    gradcheck's and more), each failing the rows it concerns with its own reason:
    the same pass run twice must agree (nondeterminism, up to ``nondet_tol``); batched
    (is_grads_batched, vmap) must equal one at a time; zero output gradients give zero;
    one output's gradient alone, the others undefined, must not raise; the inputs must
    not change."""
    d = (full.rows(fn, slots, target.m) if target.full else
         projections.backward(fn, slots, target.probes))
    u = target.probe_u
    kept = fn.first_vjp   # the mutation check's backward pass, with the same u
    first = kept[1] if kept is not None and kept[0] is u else fn.vjp(u)
    fn.first_vjp = (u, first)   # the Taylor test's gradient
    again = fn.vjp(u)
    found = {}
    if target.full and target.m and "rev" in target.check.batched and fn.rows_batched:
        # compared with the rows (all computed at once) where finite differences are known
        for s in slots:
            d.extra[("one at a time", s.name)] = (u, first[s.name][0])
    if target.full and target.m and "rev" in target.check.batched:
        error = getattr(fn, "batched_error", None)
        if error and target.check.batched_required and fn.vmap:
            found.update({s.name: f"batched backward (is_grads_batched) raised {error}"
                          for s in slots})
    found.update(structural.zero_cotangents(fn, target.check.nondet_tol))
    found.update(structural.undefined_outputs(fn, target.dtype))
    if target.mutation and fn is not target.reference_fn:   # not the plain reference
        found[target.mutation[0]] = target.mutation[1]
    for s in slots:  # first among reasons: if two runs differ, nothing else can be trusted
        why = structural.nondeterministic(first[s.name][0], again[s.name][0], target.dtype,
                                          target.check.nondet_tol)
        if why:
            found[s.name] = why
    for name, why in found.items():
        d.failures[(0, (name,))] = (why, name)
    return d


def _backward(target, fn, slots) -> Derivatives:
    return (full.rows(fn, slots, target.m) if target.full else
            projections.backward(fn, slots, target.probes))


KINDS = {
    "rev": Kind(lambda t: t.fn, _rev, _rev),
    "fwd": Kind(lambda t: t.fn,
                lambda t, fn, slots: full.forward(fn, slots, "fwd" in t.check.batched,
                                                  t.check.batched_required),
                lambda t, fn, slots: projections.forward(fn, slots, t.probes)),
    "reference": Kind(lambda t: t.reference_fn, _backward, _backward),
    "expect": Kind(lambda t: t.fn, lambda t, fn, slots: full.expect(slots, t.expected)),
    "route": Kind(lambda t: t.fn, None, None),   # second order only (its route)
    "identity": Kind(lambda t: t.fn, lambda t, fn, slots: agreement.identity(t, t._outputs),
                     lambda t, fn, slots: agreement.identity(t, t._outputs)),
    "taylor": Kind(lambda t: t.fn, agreement.taylor, agreement.taylor),
    "complex-step": Kind(lambda t: t.fn, complex_step.compute),
}
# kinds judged their own way, not (only) against the reference
AGREEMENTS = {
    "complex-step": complex_step.compare,   # against finite differences, never itself
    "identity": lambda t, key, name, d: agreement.identity_comparison(t, key, name, d),
    "taylor": lambda t, key, name, d: agreement.taylor_verdict(name, key, d,
                                                               3 if len(key[1]) == 2 else 2),
}


def _merge(into: Derivatives, more: Derivatives) -> None:
    for field in ("values", "unavailable", "failures", "extra", "terms"):
        getattr(into, field).update(getattr(more, field))


def expectations(given: dict, slots: dict) -> dict:
    """``expect: {input: value}``: the gradient of the sum of the outputs, as an array
    (nested lists) or an expression of that input, evaluated elementwise."""
    result = {}
    for name, value in given.items():
        if name not in slots:
            raise GradcheckError(f"{name!r} is not a differentiated input or parameter "
                                 f"({', '.join(slots)})", field="expect")
        slot = slots[name]
        if isinstance(value, str):  # only then: SymPy
            from ..expression.codegen import Program, evaluate
            from ..expression.parse import parse, symbol
            expr = parse(value)
            stray = {str(s) for s in expr.free_symbols} - {name}
            if stray:
                raise GradcheckError(f"{name!r}: an expression may use only {name!r}, not "
                                     f"{sorted(stray)[0]!r}", field="expect")
            flat = slot.value.ravel().astype(float)
            array = evaluate(Program((symbol(name),), (), (expr,)), [flat], flat.size)[0]
        else:
            array = np.asarray(value, dtype=float)
            if array.size == 1:
                array = np.full(slot.size, float(array))
        if array.size != slot.size:
            raise GradcheckError(f"{name!r}: {array.size} values for an input of "
                                 f"{slot.size} elements", field="expect")
        result[name] = array.ravel()
    return result
