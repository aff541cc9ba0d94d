"""JAX: everything gradcheck asks of JAX, for expressions and for code.

Expressions: jax.grad (reverse) and jax.jvp (forward), composed for higher
orders, all derivatives of a check in one ``jax.jit``.

Code (functions, ``jax.custom_vjp``/``custom_jvp`` ops): reverse mode is
``jax.vjp`` (it runs a custom_vjp's backward rule), forward mode ``jax.jvp``
(unavailable for custom_vjp functions: reported as n/a), second derivatives
``jax.vjp``/``jax.jvp`` of the vjp. JAX code takes its parameters as inputs, so
``params: true`` does not apply.

float64 needs ``jax_enable_x64``; this module turns it on when asked for float64
(always for code: its finite differences run in float64).
"""

from __future__ import annotations

import contextlib
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.scipy.special import erf  # noqa: E402

from ..errors import GradcheckError  # noqa: E402
from . import DtypeMismatch, arithmetic, fold, functional, numpy_kind, parse_device  # noqa: E402


@functools.cache
def table() -> dict:
    """SymPy head -> jax op. Built on first use: SymPy loads only for expression checks
    (user-code checks use this module for devices and dtypes alone)."""
    import sympy as sp
    from sympy.codegen.cfunctions import expm1, log1p, log2, log10

    from ..expression.functions import cbrt, relu, sigmoid, softplus
    return {
        **arithmetic(),
        sp.exp: jnp.exp, sp.log: jnp.log, log1p: jnp.log1p, expm1: jnp.expm1,
        log2: jnp.log2, log10: jnp.log10, "sqrt": jnp.sqrt,
        sp.sin: jnp.sin, sp.cos: jnp.cos, sp.tan: jnp.tan, sp.asin: jnp.arcsin,
        sp.acos: jnp.arccos, sp.atan: jnp.arctan, sp.atan2: jnp.arctan2,
        sp.sinh: jnp.sinh, sp.cosh: jnp.cosh, sp.tanh: jnp.tanh, sp.asinh: jnp.arcsinh,
        sp.acosh: jnp.arccosh, sp.atanh: jnp.arctanh, cbrt: jnp.cbrt,
        sp.erf: erf, sigmoid: jax.nn.sigmoid, softplus: jax.nn.softplus, relu: jax.nn.relu,
        sp.Abs: jnp.abs, sp.sign: jnp.sign,
        sp.Max: fold(jnp.maximum), sp.Min: fold(jnp.minimum),
    }


class Adapter:
    name = "jax"

    @property
    def table(self) -> dict:
        return table()

    def __init__(self, device: str, dtype: str):
        self.dtype_name = dtype
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        self.version = jax.__version__
        self.dtype = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16,
                      "bfloat16": jnp.bfloat16}[dtype]
        kind, index = parse_device(device)
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            gpus = []
        if kind == "gpu" and not gpus:
            raise GradcheckError(f"jax: no GPU for --device {device}: jax.devices('gpu') "
                                 f"found none (devices: {', '.join(map(str, jax.devices()))})")
        if kind == "gpu" and index is not None and index >= len(gpus):
            raise GradcheckError(f"jax: no GPU {index}; jax.devices('gpu') has {len(gpus)}")
        if kind == "gpu" or (kind == "auto" and gpus):
            self.device = gpus[index or 0]
        else:
            self.device = jax.devices("cpu")[0]
        self.device_name = f"{self.device.platform}:{self.device.id} ({self.device.device_kind})"

    def context(self):
        return contextlib.nullcontext()

    def tensor(self, values):
        return jax.device_put(jnp.asarray(values, dtype=self.dtype), self.device)

    def constant(self, value: float):
        return jnp.asarray(value, dtype=self.dtype)

    def to_numpy(self, t):
        return np.asarray(t, dtype=np.float64)

    def grad(self, fn, i):
        return jax.grad(lambda *xs: jnp.sum(fn(*xs)), argnums=i)

    def jvp(self, fn, i):
        def directional(*xs):
            tangents = tuple(jnp.ones_like(x) if j == i else jnp.zeros_like(x)
                             for j, x in enumerate(xs))
            return jax.jvp(fn, xs, tangents)[1]
        return directional

    def compile(self, fn, mode: str):
        """One XLA program for all the derivatives: eager JAX compiles every primitive
        for each new shape, which costs more than compiling the whole once."""
        return jax.jit(fn)


DTYPES = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16,
          "bfloat16": jnp.bfloat16}


def _meta(g) -> tuple:
    return tuple(g.shape), str(g.dtype), str(list(g.devices())[0])


def _numpy(t) -> np.ndarray:
    array = np.asarray(t)
    return array.astype(np.complex128 if np.iscomplexobj(array) else np.float64)


class Code:
    """The user's JAX code, made functional: f(*arrays) -> list of output arrays."""

    name = "jax"

    def __init__(self, adapter: Adapter):
        jax.config.update("jax_enable_x64", True)  # finite differences run in float64
        self.device, self.device_name, self.version = (adapter.device, adapter.device_name,
                                                       adapter.version)
        self.dtype, self.dtype_name = adapter.dtype, adapter.dtype_name

    def prepare(self, obj, init, want_params, seed: int = 0):
        self.fn = functional(obj, init, want_params, 'JAX parameters as inputs (a dict of arrays is fine)')
        return []

    def call(self, args, kwargs, params, dtype):
        return self.fn(*args, **kwargs)

    def compiled(self, f):
        """f as one XLA program (eager JAX traces every primitive on every call), falling
        back to f itself for code jax.jit cannot trace (Python branches on values)."""
        jitted = jax.jit(lambda *xs: tuple(f(*xs)))
        state = {"ok": None}

        def run(*xs):
            if state["ok"] is not False:
                try:
                    out = list(jitted(*xs))
                    state["ok"] = True
                    return out
                except Exception:  # noqa: BLE001 -- not traceable: eager from now on
                    if state["ok"]:
                        raise
                    state["ok"] = False
            return f(*xs)
        return run

    # ----- values ---------------------------------------------------------------
    def kind(self, value) -> str:
        if isinstance(value, np.ndarray):
            return numpy_kind(value)
        if not isinstance(value, jax.Array):
            return "other"
        if jnp.issubdtype(value.dtype, jnp.complexfloating):
            return "complex"
        if jnp.issubdtype(value.dtype, jnp.floating):
            return "float"
        return "bool" if value.dtype == jnp.bool_ else "int"

    def to_numpy(self, t) -> np.ndarray:
        return _numpy(t)

    def tensor(self, array, dtype: str):
        return jax.device_put(jnp.asarray(np.asarray(array), dtype=DTYPES[dtype]), self.device)

    def passthrough(self, value):
        return jax.device_put(jnp.asarray(value), self.device) if isinstance(value, np.ndarray) \
            else value

    def complex(self, re, im):
        return jax.lax.complex(re, im)

    def part(self, t, part):
        return {None: lambda a: a, "real": jnp.real, "imag": jnp.imag}[part](t)

    def sparse_values(self, t):
        raise GradcheckError("sparse JAX arrays are not supported: pass them dense")

    def expected_meta(self, shape):
        return tuple(shape), self.dtype_name, str(self.device)

    # ----- evaluations of a pure function f(*xs) -> list of arrays -------------------
    def trace(self, g, xs, dtype):
        return g(*[self.tensor(x, dtype) for x in xs]), None

    def forward(self, f, xs, dtype="float64"):
        outs = f(*[self.tensor(x, dtype) for x in xs])
        for o in outs:
            if o.dtype != DTYPES[dtype]:
                raise DtypeMismatch(f"the code returned {o.dtype} for {dtype} inputs")
        return [_numpy(o) for o in outs]

    def vjp(self, f, xs, cotangents, dtype=None):
        """uᵀJ per input; an undefined (None) cotangent is a zero one (JAX has no other)."""
        primals = [self.tensor(x, dtype or self.dtype_name) for x in xs]
        outs, pullback = jax.vjp(lambda *p: tuple(f(*p)), *primals)
        cots = tuple(jnp.zeros_like(o) if c is None else jnp.asarray(c, dtype=o.dtype)
                     for c, o in zip(cotangents, outs))
        return [(_numpy(g), _meta(g)) for g in pullback(cots)]

    def jvp(self, f, xs, tangents):
        primals = [self.tensor(x, self.dtype_name) for x in xs]
        tans = [jnp.zeros_like(p) if t is None else jnp.asarray(t, dtype=p.dtype)
                for p, t in zip(primals, tangents)]
        _, out = jax.jvp(lambda *p: tuple(f(*p)), tuple(primals), tuple(tans))
        return [_numpy(o) for o in out]

    def jvp_many(self, f, xs, index, tangents):
        """J v for many tangents of xs[index] in one jax.vmap of jax.jvp, (K, M)."""
        primals = [self.tensor(x, self.dtype_name) for x in xs]

        def one(t):
            tans = [jnp.zeros_like(p) for p in primals]
            tans[index] = t
            out = jax.jvp(lambda *p: tuple(f(*p)), tuple(primals), tuple(tans))[1]
            return jnp.concatenate([o.reshape(-1) for o in out])
        return _numpy(jax.vmap(one)(self.tensor(tangents, self.dtype_name)))

    ROUTES = ("rev∘rev", "fwd∘rev", "rev∘fwd", "fwd∘fwd")

    def hvp(self, f, xs, cotangents, tangents, route="rev∘rev"):
        """d/dε ∇(uᵀf)(x + εv), by ``route``: the vjp differentiated by jax.grad (rev∘rev)
        or jax.jvp (fwd∘rev, as jacfwd(jacrev)); the jvp along v differentiated by jax.vjp
        (rev∘fwd, as jacrev(jacfwd)) or by jax.jvp along every unit direction (fwd∘fwd)."""
        primals = [self.tensor(x, self.dtype_name) for x in xs]
        outs = f(*primals)
        cots = tuple(jnp.asarray(c, dtype=o.dtype) for c, o in zip(cotangents, outs))
        tans = tuple(jnp.asarray(t, dtype=p.dtype) for p, t in zip(primals, tangents))

        def gradient(*moving):
            return jax.vjp(lambda *p: tuple(f(*p)), *moving)[1](cots)

        def along_v(*moving):  # J v
            return jax.jvp(lambda *p: tuple(f(*p)), moving, tans)[1]
        if route == "fwd∘rev":
            second = jax.jvp(gradient, tuple(primals), tans)[1]
        elif route == "rev∘fwd":
            second = jax.vjp(along_v, *primals)[1](cots)
        elif route == "fwd∘fwd":
            second = []
            for i, p in enumerate(primals):
                def one(w, i=i):
                    dirs = tuple(w if j == i else jnp.zeros_like(q)
                                 for j, q in enumerate(primals))
                    outs = jax.jvp(along_v, tuple(primals), dirs)[1]
                    return sum(jnp.sum(o * c) for o, c in zip(outs, cots))
                units = jnp.eye(p.size, dtype=p.dtype).reshape(-1, *p.shape)
                second.append(jax.vmap(one)(units).reshape(p.shape) if p.size
                              else jnp.zeros(p.shape))
        else:
            def along(*moving):
                return sum(jnp.sum(g * t) for g, t in zip(gradient(*moving), tans))
            second = jax.grad(along, argnums=tuple(range(len(primals))))(*primals)
        return [_numpy(h) for h in second]

    def forward_many(self, f, xs, index, batch, dtype):
        base = [self.tensor(x, dtype) for x in xs]

        def one(value):
            moved = list(base)
            moved[index] = value
            return jnp.concatenate([o.reshape(-1) for o in f(*moved)])
        return _numpy(jax.vmap(one)(self.tensor(batch, dtype)))

    def vjp_many(self, f, xs, cotangents):
        primals = [self.tensor(x, self.dtype_name) for x in xs]
        outs, pullback = jax.vjp(lambda *p: tuple(f(*p)), *primals)
        stacked = tuple(jnp.asarray(np.stack([c[i] for c in cotangents]), dtype=o.dtype)
                        for i, o in enumerate(outs))
        grads = jax.vmap(pullback)(stacked)
        return [[(_numpy(g[r]), (tuple(g.shape[1:]), str(g.dtype), str(list(g.devices())[0])))
                 for g in grads] for r in range(len(cotangents))]

