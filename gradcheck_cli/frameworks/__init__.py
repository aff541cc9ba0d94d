"""Frameworks: PyTorch, TensorFlow, JAX, one lazily imported adapter module each.

Each module (``torch.py``, ``tensorflow.py``, ``jax.py``) imports its framework
inside itself, and only when a framework column is computed; nothing here
imports one. A module holds all gradcheck needs of its framework:

* ``Adapter``: the device and dtype, and for expressions a translation table
  from SymPy heads to the framework's ops and two differentiation primitives
  over an elementwise function of the points (below);
* ``Code``: the user's own code (a function, a custom op, a module or layer):
  calling it, its reverse- and forward-mode derivatives, batched versions, and
  second derivatives (see :mod:`gradcheck_cli.usercode`).

The expression primitives:

* ``grad(fn, i)``: reverse mode -- d/dx_i of sum(fn), which for independent
  points is each point's own derivative;
* ``jvp(fn, i)``: forward mode -- the directional derivative along x_i.

Both return functions of the same inputs, so they compose: second and higher
derivatives are the framework differentiating its own derivative (reverse over
reverse, forward over forward), exactly as users nest them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import operator
import time

from ..errors import GradcheckError
from ..columns import Derivatives, Method, broadcast

# framework -> (adapter module, the module whose presence means it is installed)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "torch": (".torch", "torch"),
    "jax": (".jax", "jax"),
    "tensorflow": (".tensorflow", "tensorflow"),
}
PREFERENCE = ("torch", "jax", "tensorflow")
ALIASES = {"tf": "tensorflow", "pytorch": "torch"}
MODES = ("rev", "fwd")
DTYPES = ("float64", "float32", "float16", "bfloat16")
DEVICES_HELP = "cpu, cuda, cuda:N, gpu or auto"


def is_installed(framework: str) -> bool:
    """Whether a framework can be imported, without importing it."""
    return importlib.util.find_spec(FRAMEWORKS[framework][1]) is not None


def resolve(spec: str | None) -> list[str]:
    """Frameworks for a ``--backend`` value.

    ``None`` means the first installed of torch, jax, tensorflow (none if none is);
    ``none`` means no backend; ``all`` every installed one; else a comma list.

    Raises:
        GradcheckError: an unknown or not installed framework.
    """
    if spec is None or spec == "default":
        return [f for f in PREFERENCE if is_installed(f)][:1]
    names = [ALIASES.get(s.strip().lower(), s.strip().lower())
             for s in str(spec).split(",") if s.strip()]
    if names == ["none"]:
        return []
    if names == ["all"]:
        return [f for f in PREFERENCE if is_installed(f)]
    for name in names:
        if name not in FRAMEWORKS:
            raise GradcheckError(f"unknown backend {name!r}; choose from torch, tensorflow, "
                                 "jax, all or none")
        if not is_installed(name):
            raise GradcheckError(f"backend {name!r} is not installed: "
                                 f"pip install 'gradcheck-cli[{name}]'")
    return list(dict.fromkeys(names))


def modes(spec: str | None) -> list[str]:
    spec = (spec or "rev").lower()
    if spec == "both":
        return list(MODES)
    if spec not in MODES:
        raise GradcheckError(f"unknown mode {spec!r}; choose rev, fwd or both")
    return [spec]


def numpy_kind(array) -> str:
    """How a numpy array given as an input is treated: float, complex, int, bool or other."""
    import numpy as np
    if np.issubdtype(array.dtype, np.complexfloating):
        return "complex"
    if np.issubdtype(array.dtype, np.floating):
        return "float"
    if array.dtype == np.bool_:
        return "bool"
    return "int" if np.issubdtype(array.dtype, np.integer) else "other"


class DtypeMismatch(Exception):
    """The code does not compute in the dtype it was given (it casts, or hard-codes one)."""


# the top-level module names that mean a framework
_ROOTS = {"torch": "torch", "tensorflow": "tensorflow", "keras": "tensorflow", "jax": "jax",
          "jaxlib": "jax", "flax": "jax", "equinox": "jax"}


def detect(*objects) -> set[str]:
    """The frameworks the user's objects belong to, from what they are and what their
    module imported (nothing is imported here): a torch module or Function, a Keras
    layer, a jax.custom_vjp op, or a plain function whose globals hold one framework."""
    import inspect
    import sys
    import types
    found = set()
    for obj in objects:
        root = (getattr(obj, "__module__", None) or "").split(".")[0]  # torch.max, jnp.sin
        if root in _ROOTS and not isinstance(obj, type):
            found.add(_ROOTS[root])
        for cls in (obj if isinstance(obj, type) else type(obj)).__mro__:
            root = cls.__module__.split(".")[0]
            if root in _ROOTS and root in sys.modules:
                found.add(_ROOTS[root])
        target = getattr(obj, "__wrapped__", obj)
        if isinstance(target, (types.FunctionType, types.MethodType)) or inspect.isclass(obj):
            module = sys.modules.get(getattr(target, "__module__", None) or "")
            scope = dict(vars(module)) if module else {}
            scope.update(getattr(target, "__globals__", {}))
            for value in scope.values():
                name = getattr(value, "__name__", "") if isinstance(value, types.ModuleType) \
                    else ""
                root = name.split(".")[0]
                if root in _ROOTS:
                    found.add(_ROOTS[root])
    return found


def code(framework: str, device: str, dtype: str):
    """A fresh ``Code`` object of a framework for the user's code (imports the framework)."""
    module = importlib.import_module(FRAMEWORKS[framework][0], __package__)
    return module.Code(adapter(framework, device, dtype))


@functools.lru_cache(maxsize=None)
def adapter(framework: str, device: str, dtype: str):
    """The adapter for a framework on a device and dtype (imports the framework)."""
    if dtype not in DTYPES:
        raise GradcheckError(f"unsupported dtype {dtype!r}; choose {', '.join(DTYPES)}")
    module = importlib.import_module(FRAMEWORKS[framework][0], __package__)
    return module.Adapter(device, dtype)


def parse_device(device: str | None) -> tuple[str, int | None]:
    """'cuda:1' -> ('gpu', 1); 'cpu' -> ('cpu', None); 'auto' -> ('auto', None)."""
    text = (device or "cpu").strip().lower()
    if text in ("cpu", "auto"):
        return text, None
    kind, _, index = text.partition(":")
    if kind in ("cuda", "gpu") and (not index or index.isdigit()):
        return "gpu", int(index) if index else None
    raise GradcheckError(f"unknown device {device!r}; use {DEVICES_HELP}")


def translate(program, ad):
    """A function of the variables' tensors evaluating a program's outputs with ``ad``'s ops."""
    import sympy as sp
    table = ad.table

    def fn(*inputs):
        values = dict(zip(program.variables, inputs))

        def node(expr):
            if expr in values:
                return values[expr]
            if expr.is_Number or expr.is_NumberSymbol:
                result = ad.constant(float(expr))
            elif isinstance(expr, sp.Pow):
                result = _power(node(expr.args[0]), expr.args[1], node, table)
            else:
                op = table.get(expr.func)
                if op is None:
                    raise GradcheckError(f"the {ad.name} backend has no translation for "
                                         f"{expr.func.__name__}")
                result = op(*[node(a) for a in expr.args])
            values[expr] = result
            return result

        for sym, expr in program.lets:
            for sub in sp.postorder_traversal(expr):  # children first: no deep recursion
                node(sub)
            values[sym] = node(expr)
        return [node(out) for out in program.outputs]
    return fn


def _power(base, exponent, node, table):
    import sympy as sp
    if exponent.is_Integer:
        return base ** int(exponent)
    if exponent == sp.S.Half:
        return table["sqrt"](base)
    if exponent == -sp.S.Half:
        return 1.0 / table["sqrt"](base)
    return base ** node(exponent)


def fold(op):
    """max(a, b, c) as op(op(a, b), c): n-ary SymPy nodes on binary framework ops."""
    return lambda *args: functools.reduce(op, args)


def arithmetic() -> dict:
    """Table entries shared by every framework: n-ary sums and products."""
    import sympy as sp
    return {sp.Add: fold(operator.add), sp.Mul: fold(operator.mul)}


class Backend(Method):
    """A framework differentiating the function with its own machinery."""

    def __init__(self, framework: str, mode: str = "rev", device: str = "cpu",
                 dtype: str = "float64"):
        self.framework, self.mode, self.device, self.dtype = framework, mode, device, dtype
        self.name = f"{framework}·{mode}"
        self.label = self.name

    def compute(self, problem) -> Derivatives:
        ad = adapter(self.framework, self.device, self.dtype)
        start = time.perf_counter()
        program = problem.program
        names = problem.variable_names
        differentiate = ad.grad if self.mode == "rev" else ad.jvp
        values = {}
        with ad.context():  # inputs too: TensorFlow places a constant by its context
            inputs = [ad.tensor(problem.columns[n]) for n in names]
            full = translate(program, ad)
            for out in range(problem.n_outputs):
                level = {(): (lambda *xs, o=out: full(*xs)[o])}
                for _ in range(problem.order):
                    nxt = {}
                    for idx, fn in level.items():
                        first = problem.wrt.index(idx[-1]) if idx else 0
                        for w in problem.wrt[first:]:
                            nxt[idx + (w,)] = differentiate(fn, names.index(w))
                    level = nxt
                    for idx, fn in level.items():
                        values[(out, idx)] = fn
            keys, fns = list(values), list(values.values())

            def everything(*xs):  # every derivative in one function: compiled once (JAX, TF fwd)
                return [fn(*xs) for fn in fns]
            compile_ = getattr(ad, "compile", lambda fn, mode: fn)
            results = {k: broadcast(ad.to_numpy(v), problem.npoints)
                       for k, v in zip(keys, compile_(everything, self.mode)(*inputs))}
        seconds = time.perf_counter() - start
        return Derivatives(values=results, seconds=seconds,
                           info={"framework": self.framework, "version": ad.version,
                                 "device": ad.device_name, "dtype": self.dtype,
                                 "mode": self.mode})


__all__ = ["Backend", "resolve", "modes", "adapter", "code", "is_installed", "translate",
           "DtypeMismatch"]


def instantiate(obj, init: dict | None):
    """The user's object: a class instantiated with ``init``, anything else as it is."""
    if isinstance(obj, type):
        try:
            return obj(**(init or {}))
        except Exception as exc:
            raise GradcheckError(f"instantiating {obj.__name__}(**init) failed: "
                                 f"{type(exc).__name__}: {exc}") from None
    if init:
        raise GradcheckError("'init' is given but the callable is not a class")
    return obj


def functional(obj, init, want_params: bool, where: str):
    """The user's object for a framework without parameter objects (JAX, NumPy);
    ``params: true`` refused, parameters being inputs there."""
    if want_params:
        raise GradcheckError("'params: true' applies to torch modules and keras layers; "
                             f"pass {where}")
    return instantiate(obj, init)
