"""Code without a framework: a NumPy function and the derivatives its author wrote.

The function is plain NumPy (or any Python on floats and arrays). Nothing
differentiates it automatically: the derivatives to check come from the user,
in any of these forms, each its own column, each called with the function's own
arguments (``*args, **kwargs``):

=============  ======================================  ===============================
form           called as                               returns
=============  ======================================  ===============================
``gradient``   ``gradient(*args, **kwargs)``           ∇f (f scalar), like the inputs
``gradient``   ``true``: the function returns          (value, ∇f), as scipy's
               ``(value, gradient)``                   ``minimize(jac=True)``
``jacobian``   ``jacobian(*args, **kwargs)``           J, shape out.shape + x.shape
``vjp``        ``vjp(u, *args, **kwargs)``             uᵀJ, like the inputs
``jvp``        ``jvp(v, *args, **kwargs)``             J v, like the output
``hessian``    ``hessian(*args, **kwargs)``            ∇²f (f scalar), N × N
``hvp``        ``hvp(v, *args, **kwargs)``             ∇²f v (f scalar), like the inputs
=============  ======================================  ===============================

"Like the inputs": one array when one input is differentiated; else a tuple
with one entry per differentiated input (in order), or one per positional
argument (``None`` for those held constant, as a torch backward returns), or a
dict by input name. ``u`` is shaped like the output (a tuple for several), ``v``
like the inputs. Several inputs' Hessian is one matrix over all their elements
in order.

This module is the ``Code`` object of such a function (see
:mod:`gradcheck_cli.frameworks`): values are NumPy arrays, copied on every call
(so code that writes into its inputs cannot corrupt the reference, and is
caught doing it); reverse mode is the user's reverse form, forward mode the
user's forward form, second order the user's Hessian.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradcheckError
from . import functional, numpy_kind

FORMS = ("gradient", "jacobian", "vjp", "jvp", "hessian", "hvp")
REVERSE = ("vjp", "gradient", "jacobian")     # uᵀJ: preferred in this order
FORWARD = ("jvp", "jacobian")
SECOND = ("hvp", "hessian")
KIND = {"gradient": "rev", "jacobian": "rev", "vjp": "rev", "jvp": "fwd",
        "hessian": "route", "hvp": "route"}
DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def numpy_only(obj) -> bool:
    """Whether a plain function's module uses NumPy (or SciPy) and no framework."""
    from . import detect
    if detect(obj):
        return False
    target = getattr(obj, "__wrapped__", obj)
    scope = getattr(target, "__globals__", None) or {}
    return any(getattr(v, "__name__", "").split(".")[0] in ("numpy", "scipy")
               for v in scope.values())


class Code:
    """A NumPy function with user-given derivatives (``forms``: form -> callable or True)."""

    name = "numpy"
    version = np.__version__
    device_name = "cpu (NumPy)"
    mutable = True
    ROUTES = ("user",)

    def __init__(self, forms: dict, dtype: str = "float64"):
        if dtype not in DTYPES:
            raise GradcheckError(f"NumPy code runs in float64, float32 or float16, not {dtype}",
                                 field="dtype")
        self.forms, self.dtype_name = dict(forms), dtype
        self.call_, self.outputs = None, []

    def only(self, form: str) -> "Code":
        """The same code with one form of derivative: one column's."""
        keep = {form: self.forms[form]}
        if self.forms.get("gradient") is True:   # the callable returns (value, gradient):
            keep.setdefault("gradient", True)    # every column must split its output
        code = Code(keep, self.dtype_name)
        code.fn, code.call_, code.outputs = self.fn, self.call_, self.outputs
        return code

    def bind(self, call, outputs) -> None:
        """The call (to rebuild the arguments from the slots' values) and the outputs."""
        self.call_, self.outputs = call, list(outputs)

    def prepare(self, obj, init, want_params, seed: int = 0):
        self.fn = functional(obj, init, want_params, 'NumPy parameters as inputs')
        return []

    def call(self, args, kwargs, params, dtype):
        out = self.fn(*args, **kwargs)
        if self.forms.get("gradient") is True:   # (value, gradient), as minimize(jac=True)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise GradcheckError("gradient: true means the callable returns (value, "
                                     f"gradient); it returned {type(out).__name__}",
                                     field="gradient")
            out = out[0]
        return _arrays(out)

    # ----- values ---------------------------------------------------------------
    def kind(self, value) -> str:
        return numpy_kind(value) if isinstance(value, np.ndarray) else "other"

    def to_numpy(self, t) -> np.ndarray:
        array = np.asarray(t)
        return array.astype(np.complex128 if np.iscomplexobj(array) else np.float64)

    def tensor(self, array, dtype: str):
        return np.array(array, dtype=DTYPES[dtype], copy=True)

    def passthrough(self, value):
        return np.array(value, copy=True) if isinstance(value, np.ndarray) else value

    def complex(self, re, im):
        return re + 1j * im

    def part(self, t, part):
        return {None: lambda a: a, "real": np.real, "imag": np.imag}[part](t)

    def sparse_values(self, t):
        raise GradcheckError("sparse inputs to NumPy code are not supported: pass them dense")

    def expected_meta(self, shape):
        return tuple(shape), self.dtype_name, "cpu"

    def trace(self, g, xs, dtype):
        return g(*[self.tensor(x, dtype) for x in xs]), None

    def forward(self, f, xs, dtype="float64"):
        return [np.asarray(o, dtype=np.float64) for o in f(*[self.tensor(x, dtype) for x in xs])]

    # ----- the user's derivatives -------------------------------------------------
    def _arguments(self, xs, dtype):
        """The function's (args, kwargs) at the slots' values ``xs`` (fresh copies)."""
        values = {s.name: self.tensor(x, dtype) for s, x in zip(self.call_.slots, xs)}
        args, kwargs, _ = self.call_.arguments(values, dtype)
        return args, kwargs, values

    def _form(self, choices, what):
        for form in choices:
            if form in self.forms:
                return form
        raise GradcheckError(f"no {what} was given ({' or '.join(choices)})")

    def _scalar(self, form):
        if len(self.outputs) != 1 or self.outputs[0].size != 1:
            shapes = ", ".join(str(o.shape) for o in self.outputs) or "nothing"
            raise GradcheckError(f"{form}: is for a scalar function; this one returns "
                                 f"{shapes}: give jacobian:, vjp: or jvp:", field=form)

    def _user(self, form, *args, **kwargs):
        given = self.forms[form]
        if given is True:   # gradient: true -- the function's own second output
            return self.fn(*args, **kwargs)[1]
        return given(*args, **kwargs)

    def vjp(self, f, xs, cotangents, dtype=None):
        """uᵀJ per slot, by the user's reverse form: ``[(gradient, meta)]``."""
        dtype = dtype or self.dtype_name
        form = self._form(REVERSE, "reverse-mode derivative")
        args, kwargs, _ = self._arguments(xs, dtype)
        cots = [np.zeros(o.shape) if c is None else np.asarray(c, dtype=np.float64)
                for c, o in zip(cotangents, self.outputs)]
        if form == "vjp":
            u = cots[0].astype(DTYPES[dtype]) if len(cots) == 1 else \
                tuple(c.astype(DTYPES[dtype]) for c in cots)
            grads = self._split(self._user("vjp", u, *args, **kwargs), "vjp")
        elif form == "gradient":
            self._scalar("gradient")
            scale = float(np.ravel(cots[0])[0])
            grads = [None if g is None else scale * np.asarray(g, dtype=np.float64)
                     for g in self._split(self._user("gradient", *args, **kwargs), "gradient")]
        else:
            u = np.concatenate([c.ravel() for c in cots])
            grads = [None if j is None else (u @ j).reshape(s.shape)
                     for s, j in zip(self.call_.slots, self._jacobians(args, kwargs))]
        return [(None, None) if g is None else (np.asarray(g, dtype=np.float64), self._meta(g))
                for g in grads]

    def jvp(self, f, xs, tangents):
        """J v per output, by the user's forward form (tangents None: zero)."""
        form = self._form(FORWARD, "forward-mode derivative")
        args, kwargs, _ = self._arguments(xs, self.dtype_name)
        slots = self.call_.slots
        tans = [np.zeros(s.shape) if t is None else np.asarray(t, dtype=np.float64)
                for s, t in zip(slots, tangents)]
        if form == "jacobian":
            flat = sum((j @ t.ravel() for j, t in zip(self._jacobians(args, kwargs), tans)
                        if j is not None), np.zeros(sum(o.size for o in self.outputs)))
            return self._per_output(flat, "jacobian")
        v = tans[0].astype(DTYPES[self.dtype_name]) if len(tans) == 1 else \
            tuple(t.astype(DTYPES[self.dtype_name]) for t in tans)
        out = self._user("jvp", v, *args, **kwargs)
        parts = list(out) if len(self.outputs) > 1 and isinstance(out, (tuple, list)) else [out]
        flat = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts]
                              or [np.zeros(0)])
        return self._per_output(flat, "jvp")

    def hvp(self, f, xs, cotangents, tangents, route="user"):
        """∇²(uᵀf) v per slot, by the user's Hessian or Hessian-vector product."""
        form = self._form(SECOND, "second derivative")
        self._scalar(form)
        args, kwargs, _ = self._arguments(xs, self.dtype_name)
        slots = self.call_.slots
        scale = float(np.ravel(cotangents[0])[0])
        tans = [np.zeros(s.shape) if t is None else np.asarray(t, dtype=np.float64)
                .reshape(s.shape) for s, t in zip(slots, tangents)]
        if form == "hvp":
            v = tans[0] if len(tans) == 1 else tuple(tans)
            out = self._split(self._user("hvp", v, *args, **kwargs), "hvp")
            return [np.zeros(s.shape) if h is None else scale * np.asarray(h, dtype=np.float64)
                    for s, h in zip(slots, out)]
        n = sum(s.size for s in slots)
        h = np.asarray(self._user("hessian", *args, **kwargs), dtype=np.float64)
        if h.size != n * n:
            raise GradcheckError(f"hessian: returned shape {h.shape} for {n} differentiated "
                                 f"element(s): expected {n} × {n}", field="hessian")
        hv = scale * h.reshape(n, n) @ np.concatenate([t.ravel() for t in tans])
        return [part.reshape(s.shape) for s, part in
                zip(slots, np.split(hv, np.cumsum([s.size for s in slots])[:-1]))]

    def mutated(self, fn):
        """(input, why) if the function or a derivative writes into an input it was given."""
        slots = self.call_.slots
        xs = [s.value for s in slots]
        args, kwargs, values = self._arguments(xs, self.dtype_name)
        try:
            self.fn(*args, **kwargs)
            for form in self.forms:
                u = np.ones(self.outputs[0].shape) if self.outputs else np.zeros(0)
                extra = {"vjp": (u,), "jvp": (np.ones(slots[0].shape),),
                         "hvp": (np.ones(slots[0].shape),)}.get(form, ())
                if form in ("jvp", "hvp") and len(slots) > 1:
                    extra = (tuple(np.ones(s.shape) for s in slots),)
                if form != "vjp" or len(self.outputs) == 1:
                    self._user(form, *extra, *args, **kwargs)
        except Exception:  # noqa: BLE001 -- a derivative that raises is reported elsewhere
            pass
        for s in slots:
            now = values[s.name]
            if not np.array_equal(now, s.value.astype(now.dtype), equal_nan=True):
                return s.name, f"the function or a derivative changed input {s.name} in place"
        return None

    # ----- shapes ----------------------------------------------------------------
    def _meta(self, g):
        g = np.asarray(g)
        dtype = self.dtype_name if np.issubdtype(g.dtype, np.floating) else str(g.dtype)
        return tuple(g.shape), dtype, "cpu"

    def _split(self, result, form) -> list:
        """The user's per-input result matched to the slots (see the module's doc)."""
        slots, call = self.call_.slots, self.call_
        names = [s.name for s in slots]
        if len(slots) == 1 and not isinstance(result, (tuple, list, dict)):
            return [result]
        if len(slots) == 1 and isinstance(result, list) and \
                all(isinstance(v, (int, float, np.number)) for v in result):
            return [np.asarray(result, dtype=np.float64)]   # a list of numbers, as scipy takes
        nested = isinstance(result, (tuple, list)) and any(
            v is None or isinstance(v, (tuple, list, dict)) for v in result)
        if isinstance(result, dict):
            found = _paths(result.items())
        elif isinstance(result, (tuple, list)) and len(result) == len(slots) and not (
                nested and len(result) == len(call.names)):   # None or nested: per argument
            return list(result)
        elif isinstance(result, (tuple, list)) and len(result) == len(call.names):
            found = _paths(zip(call.names, result))
        else:
            count = len(result) if isinstance(result, (tuple, list)) else 1
            raise GradcheckError(
                f"{form}: returned {count} value(s); expected one per differentiated input "
                f"({', '.join(names)}), one per argument ({', '.join(call.names)}) or a dict "
                "by name", field=form)
        unknown = [k for k, v in found.items() if k not in names and v is not None
                   and k not in call.names]
        if unknown:   # a typo would otherwise leave the right entry missing or unused
            raise GradcheckError(f"{form}: gave {unknown[0]!r}, which is no input (inputs: "
                                 f"{', '.join(names)})", field=form)
        missing = [n for n in names if n not in found]
        if missing:
            raise GradcheckError(f"{form}: gave nothing for {missing[0]!r} (it gave "
                                 f"{', '.join(found) or 'nothing'})", field=form)
        return [found[n] for n in names]

    def _jacobians(self, args, kwargs) -> list:
        """The user's Jacobian, one (M, n) matrix per slot."""
        slots, m = self.call_.slots, sum(o.size for o in self.outputs)
        result = self._user("jacobian", *args, **kwargs)
        parts = [result] if len(slots) == 1 and not isinstance(result, (tuple, list, dict)) \
            else self._split(result, "jacobian")
        out = []
        out_shape = self.outputs[0].shape if len(self.outputs) == 1 else (m,)
        for s, j in zip(slots, parts):
            j = None if j is None else np.asarray(j, dtype=np.float64)
            if j is not None and j.shape == tuple(s.shape) + tuple(out_shape) and \
                    j.shape != tuple(out_shape) + tuple(s.shape):
                raise GradcheckError(f"jacobian: for {s.name} has shape {j.shape}, input shape "
                                     "+ output shape; expected output shape + input shape "
                                     f"{tuple(out_shape) + tuple(s.shape)} (∂out[i]/∂x[j] at "
                                     "[i, j]): transpose it", field="jacobian")
            if j is not None and j.size != m * s.size:
                raise GradcheckError(f"jacobian: for {s.name} has shape {j.shape}; the output "
                                     f"has {m} element(s) and {s.name} {s.size}: expected "
                                     f"output shape + input shape", field="jacobian")
            out.append(None if j is None else j.reshape(m, s.size))
        return out

    def _per_output(self, flat, form):
        m = sum(o.size for o in self.outputs)
        if flat.size != m:
            raise GradcheckError(f"{form}: returned {flat.size} value(s) for an output of {m}",
                                 field=form)
        return [part.reshape(o.shape) for o, part in
                zip(self.outputs, np.split(flat, np.cumsum([o.size for o in self.outputs])[:-1]))]


def _paths(items) -> dict:
    from ..usercode.tree import flatten
    found = {}
    for name, value in items:
        for leaf in flatten(value, str(name))[0]:
            if leaf.value is not None:
                found[leaf.path] = leaf.value
    return found


def _arrays(out):
    """Python and NumPy float scalars in the output as 0-d arrays (a loss is often one)."""
    from ..usercode.tree import flatten
    leaves, rebuild = flatten(out, "out")
    return rebuild([np.asarray(leaf.value, dtype=np.float64)
                    if isinstance(leaf.value, (float, np.floating)) else leaf.value
                    for leaf in leaves])


def load_forms(given: dict, callable_, base) -> dict:
    """{form: callable or True}: ``file.py:name`` strings loaded; a bare ``name`` is looked
    up beside the callable (``loss.py:grad`` for ``callable: loss.py:loss``)."""
    from ..usercode.loader import load
    forms = {}
    for form, value in given.items():
        if value is True and form == "gradient":
            forms[form] = True
            continue
        if isinstance(value, str) and ":" not in value and isinstance(callable_, str):
            value = f"{callable_.rpartition(':')[0]}:{value}"
        try:
            obj = load(value, base)
        except GradcheckError as exc:
            raise exc.located(field=form) from None
        if not callable(obj):
            raise GradcheckError(f"{form}: {value!r} is not callable", field=form)
        forms[form] = obj
    return forms


__all__ = ["Code", "FORMS", "KIND", "REVERSE", "FORWARD", "SECOND", "load_forms", "numpy_only"]
