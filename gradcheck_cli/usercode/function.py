"""The user's code as F(x) -> one flat float64 vector, with its derivatives.

The call (:class:`~gradcheck_cli.usercode.call.Call`) is made a pure function of
the differentiated values, ``f(*tensors) -> [output tensors]``, and everything
the checks need goes through the framework's ``Code`` object on it: values
(for finite differences, in float64 on a float64 copy), backward passes uᵀJ,
forward passes J v, their batched forms, second derivatives. This module only
flattens and batches; finite differences are :mod:`.differences`.
"""

from __future__ import annotations

import numpy as np

from .call import Call, Slot, sort_outputs
from .differences import FiniteDifferences
from .tree import flatten


class Function(FiniteDifferences):
    """F(values) -> one flat float64 vector, and its derivatives, for the call's slots."""

    def __init__(self, code, call: Call, fd_dtype: str, vmap: bool = True):
        self.code, self.call, self.fd_dtype, self.vmap = code, call, fd_dtype, vmap
        self.slots: list[Slot] = call.slots
        self.dtype = call.dtype
        self.calls = 0
        self._pure = {}
        self._noise = {}
        self._value = None
        self.prefetch = False      # small inputs: finite differences' points go with the first
        self._stencil_rows = {}    # batch along a slot (the Taylor test's), kept here
        self.first_vjp = None      # (u, uᵀJ per slot) of the mutation check's backward pass
        self._hvps, self.keep_hvps = {}, set()   # Hessian-vector products worth keeping
        self._vmap_checked, self.vmap_note = set(), None   # slots whose vmap was held
        # tensors given non-contiguous, or as views into larger storages (as_strided reads
        # past them): made the same way every time, and one call at a time (vmap would not)
        matters = getattr(code, "layout_matters", lambda v: False)
        layouts = [call.leaves[s.leaf].value if isinstance(s.leaf, int) and s.part is None
                   and matters(call.leaves[s.leaf].value) else None for s in self.slots]
        if any(t is not None for t in layouts):
            code.layouts = layouts
            self.vmap = False
        self.outputs, self.left_out = self._sort()

    def _raw(self, dtype: str, names: list):
        post = self.call.output

        def g(*xs):
            args, kwargs, params = self.call.arguments(dict(zip(names, xs)), dtype)
            out = self.code.call(args, kwargs, params, dtype)
            return out if post is None else post(out)
        return g

    def _sort(self):
        names = [s.name for s in self.slots]
        out, flags = self.code.trace(self._raw(self.fd_dtype, names), self.point(),
                                     self.fd_dtype)
        return sort_outputs(self.code, out, flags)

    def pure(self, dtype: str | None = None, names: list | None = None, record=None):
        """f(*tensors of the slots ``names``) -> the differentiable outputs' tensors (complex
        ones as real and imaginary parts, sparse ones dense). ``record``: a list that gets
        (slot name, tensor) for every input tensor f receives (to see mutation)."""
        dtype = dtype or self.dtype
        names = names or [s.name for s in self.slots]
        key = (dtype, tuple(names))
        if record is None and key in self._pure:
            return self._pure[key]
        raw = self._raw(dtype, names)
        outputs, part = self.outputs, self.code.part

        def f(*xs):
            if record is not None:
                record.extend(zip(names, xs))
            leaves = flatten(raw(*xs), "out")[0]
            return [part(leaves[o.leaf].value, o.part) for o in outputs]
        if record is None:  # one function per dtype and slots: a framework may compile it
            f = getattr(self.code, "compiled", lambda g: g)(f)
            self._pure[key] = f
        return f

    def point(self, moved: dict | None = None) -> list[np.ndarray]:
        moved = moved or {}
        return [moved.get(s.name, s.value) for s in self.slots]

    @property
    def size(self) -> int:
        """The number of output elements compared."""
        return sum(o.size for o in self.outputs)

    def __call__(self, moved: dict, dtype=None) -> np.ndarray:
        self.calls += 1
        dtype = dtype or self.fd_dtype
        outs = self.code.forward(self.pure(dtype), self.point(moved), dtype)
        return np.concatenate([o.ravel() for o in outs]) if outs else np.zeros(0)

    def value(self) -> np.ndarray:
        """F at the point, in the finite differences' dtype: computed once."""
        if self._value is None:
            self._value = self({})
        return self._value

    def batched(self, slot: Slot, batch: np.ndarray) -> np.ndarray:
        """F at each entry of ``batch`` (values of one slot) in one vmapped call, (K, M).
        The first time for each slot, its first and last rows are held against direct
        calls: a batching rule that computes something else turns vmap off for the check,
        with a note, instead of corrupting the reference. (torch.roll of a 0-d tensor
        rolls across the batch; OpInfo's index_fill gives every row the last entry's 0-d
        fill value, and only for that argument.)"""
        index = [s.name for s in self.slots].index(slot.name)
        self.calls += 1
        out = self.code.forward_many(self.pure(self.fd_dtype), self.point(), index, batch,
                                     self.fd_dtype)
        if slot.name not in self._vmap_checked and len(batch) > 1:
            self._vmap_checked.add(slot.name)
            point = batch[0].tobytes() == np.asarray(slot.value, float).tobytes()
            first = self.value() if point else self({slot.name: batch[0]})  # free at the point
            for row, direct in ((0, first), (-1, self({slot.name: batch[-1]}))):
                scale = float(np.max(np.abs(direct[np.isfinite(direct)]), initial=1.0))
                if not np.allclose(out[row], direct, rtol=0, atol=1e-12 * scale,
                                   equal_nan=True):
                    self.vmap = False
                    self.vmap_note = ("evaluated one point at a time: under vmap the code "
                                      "computes other values than called directly (a "
                                      f"batching rule of the framework), e.g. at {slot.name}")
                    raise RuntimeError(self.vmap_note)
        return out

    def along(self, slot: Slot, values: list) -> np.ndarray:
        """F at each of ``values`` of one slot (the others at the point), shape (K, M): one
        batched call where the framework vmaps the code; else one call each, a point where
        the code raises (a domain left: a variance gone negative) giving NaN. The noise
        estimate's points (:meth:`noise`) join the batch while the slot's noise is unknown,
        and on small inputs finite differences' (:meth:`jacobian`) while they are to come."""
        values = np.asarray(values, dtype=float) if len(values) else np.zeros((0, *slot.shape))
        if self.vmap and (len(values) or slot.name not in self._noise):
            try:
                return self._with_pending(slot, values, self.prefetch)
            except Exception:  # noqa: BLE001 -- not vmappable, or it raised: one by one
                pass
        rows = self._one_by_one(slot, values)
        if slot.name not in self._noise:
            points = self._noise_points(slot)
            if len(points):
                self._noise_from(slot, self._one_by_one(slot, points))
        return rows

    def _one_by_one(self, slot: Slot, values: list) -> np.ndarray:
        rows = []
        for value in values:
            try:
                rows.append(self({slot.name: value}))
            except Exception:  # noqa: BLE001 -- the code refuses this point
                rows.append(np.full(self.size, np.nan))
        return np.stack(rows) if rows else np.zeros((0, self.size))

    def _with_pending(self, slot: Slot, values: np.ndarray, stencil: bool) -> np.ndarray:
        """F at ``values`` in one vmapped call (raising where vmap cannot), with the points
        later steps want along the slot and have not had: the noise estimate's, and with
        ``stencil`` (small inputs) finite differences'. Kept for them."""
        sets = {}
        if slot.name not in self._noise:
            points = self._noise_points(slot)
            if len(points):
                sets["noise"] = points
        if stencil and slot.name not in self._stencil_rows:
            found = self._stencil(slot)
            if found is not None and self._one_batch(slot, found[1]):
                sets["stencil"] = self._points(slot, *found)
        if not sets:
            return self.batched(slot, values) if len(values) else np.zeros((0, self.size))
        # the noise estimate's points first: its first is the point itself (up to the sign
        # of zeros), which the vmap check holds against F at the point without a new call
        noise = sets.pop("noise", np.zeros((0, *slot.shape)))
        rows = self.batched(slot, np.concatenate([noise, values, *sets.values()]))
        if len(noise):
            self._noise_from(slot, rows[:len(noise)])
        start = len(noise) + len(values)
        if "stencil" in sets:
            self._stencil_rows[slot.name] = rows[start:]
        return rows[len(noise):start]

    def cotangent(self, u: np.ndarray) -> list[np.ndarray]:
        parts, start = [], 0
        for o in self.outputs:
            parts.append(u[start:start + o.size].reshape(o.shape))
            start += o.size
        return parts

    def output_element(self, k: int) -> str:
        """``out[1][2, 0]``: where flat output element k is."""
        for o in self.outputs:
            if k < o.size:
                if not o.shape:
                    return o.path
                idx = np.unravel_index(k, o.shape)
                return f"{o.path}[{', '.join(map(str, idx))}]"
            k -= o.size
        return f"output element {k}"

    # ----- derivatives by the framework ----------------------------------------
    def vjp(self, u: np.ndarray, dtype=None, cotangents=None) -> dict:
        """uᵀJ per slot: ``{name: (gradient or None, (shape, dtype, device) or None)}``.
        ``cotangents`` (per output, None: undefined) replaces u when given."""
        cots = self.cotangent(u) if cotangents is None else cotangents
        grads = self.code.vjp(self.pure(dtype), self.point(), cots, dtype)
        return {s.name: g for s, g in zip(self.slots, grads)}

    def jvp(self, slot: Slot, v: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """(J v flat, the outputs that have no forward-mode tangent)."""
        tangents = [v.reshape(s.shape) if s.name == slot.name else None for s in self.slots]
        outs = self.code.jvp(self.pure(), self.point(), tangents)
        missing = [i for i, o in enumerate(outs) if o is None]
        flat = [np.zeros(self.outputs[i].size) if o is None else np.ravel(o)
                for i, o in enumerate(outs)]
        return (np.concatenate(flat) if flat else np.zeros(0)), missing

    def jvp_many(self, slot: Slot, directions: np.ndarray) -> np.ndarray | None:
        """J v for every row of ``directions`` in one batched (vmapped) forward pass, shape
        (M, K); None where the framework has no batched forward mode."""
        many = getattr(self.code, "jvp_many", None)
        if many is None or not len(directions):
            return None
        index = [s.name for s in self.slots].index(slot.name)
        batch = directions.reshape((len(directions), *slot.shape))
        return many(self.pure(), self.point(), index, batch).T

    def hvp(self, u: np.ndarray, v: dict, route: str) -> dict:
        """d/dε ∇(uᵀF)(x + εv) per slot, v given per slot name (zero where missing).
        Remembered for the same arrays (the Taylor test reuses a route column's first)."""
        memo = (route, id(u), tuple((k, id(a)) for k, a in sorted(v.items())))
        found = self._hvps.get(memo)
        if found is not None and found[0] is u and all(found[1][k] is a for k, a in v.items()):
            return found[2]
        tangents = [v.get(s.name, np.zeros(s.size)).reshape(s.shape) for s in self.slots]
        second = self.code.hvp(self.pure(), self.point(), self.cotangent(u), tangents, route)
        result = {s.name: h for s, h in zip(self.slots, second)}
        if all(id(a) in self.keep_hvps for a in v.values()):   # a few, not every probe's
            self._hvps[memo] = (u, dict(v), result)   # the arrays kept: ids stay theirs
        return result

    def gradient(self, u: np.ndarray, moved: dict) -> np.ndarray:
        """∇(uᵀF) at the moved point, all slots flattened, by reverse mode in float64:
        what finite differences of second derivatives differentiate."""
        grads = self.code.vjp(self.pure("float64"), self.point(moved), self.cotangent(u),
                              "float64")
        return np.concatenate([np.zeros(s.size) if g[0] is None else np.ravel(g[0])
                               for s, g in zip(self.slots, grads)] or [np.zeros(0)])

    def jacobian_rows(self, m: int) -> list:
        """uᵀJ for every unit u: one backward pass per output element (batched if possible)."""
        units = [self.cotangent(u) for u in np.eye(m)]
        self.batched_error, self.rows_batched = None, False
        if self.vmap and m and hasattr(self.code, "vjp_many"):
            try:
                rows = self.code.vjp_many(self.pure(), self.point(), units)
                self.rows_batched = True
                return [{s.name: g for s, g in zip(self.slots, row)} for row in rows]
            except Exception as exc:  # noqa: BLE001 -- ops that cannot be vmapped: one by one
                from ..errors import describe
                self.batched_error = describe(exc, 200)
        return [self.vjp(None, cotangents=c) for c in units]

    def mutated(self, u: np.ndarray | None = None) -> tuple[str, str] | None:
        """A forward and backward pass must leave their inputs as they were: (the input,
        why) if one changed. (JAX arrays and TensorFlow constants cannot change.) Its
        backward pass is uᵀJ with the given ``u`` (ones without), kept as
        :attr:`first_vjp`: the reverse column's first probe."""
        if not getattr(self.code, "mutable", False):
            return None
        if hasattr(self.code, "mutated"):  # NumPy code: its own calls, derivatives included
            return self.code.mutated(self)
        record: list = []
        f = self.pure(record=record)
        cots = [np.ones(o.shape) for o in self.outputs] if u is None else self.cotangent(u)
        grads = self.code.vjp(f, self.point(), cots)
        if u is not None:
            self.first_vjp = (u, {s.name: g for s, g in zip(self.slots, grads)})
        for name, tensor in record:
            slot = next(s for s in self.slots if s.name == name)
            now = self.code.to_numpy(tensor)
            if now.shape == slot.value.shape and not np.array_equal(
                    now, slot.value.astype(now.dtype), equal_nan=True):
                return name, f"the call or its backward changed input {name} in place"
        return None
