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
from . import DtypeMismatch, arithmetic, fold, parse_device  # noqa: E402


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


class Code:
    """The user's JAX code, called with numpy arrays in and out."""

    name = "jax"

    def __init__(self, adapter: Adapter):
        jax.config.update("jax_enable_x64", True)  # finite differences run in float64
        self.device, self.device_name, self.version = (adapter.device, adapter.device_name,
                                                       adapter.version)
        self.dtype = adapter.dtype
        self.dtype_name = adapter.dtype_name

    def prepare(self, obj, init, want_params, seed: int = 0):
        if isinstance(obj, type):
            obj = obj(**(init or {}))
        elif init:
            raise GradcheckError("'init' is given but the callable is not a class")
        if want_params:
            raise GradcheckError("'params: true' applies to torch modules and keras layers; "
                                 "pass JAX parameters as inputs")
        self.fn = obj
        return []

    def _array(self, a, dtype):
        return jax.device_put(jnp.asarray(np.asarray(a), dtype=dtype), self.device)

    def _outs(self, out):
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        for i, o in enumerate(outs):
            if not hasattr(o, "shape") or not hasattr(o, "dtype"):
                raise GradcheckError(f"output {i} is a {type(o).__name__}, not an array")
        return outs

    def forward(self, inputs, params, dtype="float64"):
        jdtype = DTYPES[dtype]
        outs = self._outs(self.fn(*[self._array(a, jdtype) for a in inputs]))
        if any(o.dtype != jdtype for o in outs):
            raise DtypeMismatch(f"the code returned {outs[0].dtype} for {dtype} inputs")
        return [np.asarray(o, dtype=np.float64) for o in outs]

    def _split(self, inputs, which, dtype=None):
        args = [self._array(a, self.dtype if dtype is None else DTYPES[dtype]) for a in inputs]

        def f(*moving):
            full = list(args)
            for i, m in zip(which, moving):
                full[i] = m
            return tuple(self._outs(self.fn(*full)))
        return f, [args[i] for i in which]

    def vjp(self, inputs, params, wrt, cotangents, dtype=None):
        which = [wrt[n] for n in wrt]
        f, primals = self._split(inputs, which, dtype)
        outs, pullback = jax.vjp(f, *primals)
        cots = tuple(jnp.asarray(c, dtype=o.dtype) for c, o in zip(cotangents, outs))
        grads = pullback(cots)
        return {n: (np.asarray(g, dtype=np.float64), _meta(g)) for n, g in zip(wrt, grads)}

    def expected_meta(self, shape):
        return tuple(shape), self.dtype_name, str(self.device)

    def jvp(self, inputs, params, tangents):
        which = list(tangents)
        f, primals = self._split(inputs, which)
        tans = [jnp.asarray(tangents[i], dtype=self.dtype) for i in which]
        _, out = jax.jvp(f, tuple(primals), tuple(tans))
        return [np.asarray(o, dtype=np.float64) for o in out]

    def hvp(self, inputs, params, wrt, cotangents, tangents, mode="rev"):
        """d/dε ∇(uᵀf)(x + εv): ``rev`` differentiates the vjp with jax.vjp, ``fwd`` with
        jax.jvp (forward over reverse)."""
        which = [wrt[n] for n in wrt]
        f, primals = self._split(inputs, which)
        outs = f(*primals)
        cots = tuple(jnp.asarray(c, dtype=o.dtype) for c, o in zip(cotangents, outs))
        tans = tuple(jnp.asarray(tangents[n], dtype=self.dtype) for n in wrt)

        def gradient(*moving):
            return jax.vjp(f, *moving)[1](cots)
        if mode == "fwd":
            second = jax.jvp(gradient, tuple(primals), tans)[1]
        else:
            def along(*moving):
                return sum(jnp.sum(g * t) for g, t in zip(gradient(*moving), tans))
            second = jax.grad(along, argnums=tuple(range(len(primals))))(*primals)
        return {n: np.asarray(h, dtype=np.float64) for n, h in zip(wrt, second)}

    def forward_many(self, inputs, params, dtype, key, batch):
        jdtype = DTYPES[dtype]
        args = [self._array(a, jdtype) for a in inputs]

        def one(value):
            a = list(args)
            a[key] = value
            return jnp.concatenate([o.reshape(-1) for o in self._outs(self.fn(*a))])
        out = jax.vmap(one)(self._array(batch, jdtype))
        return np.asarray(out, dtype=np.float64)

    def vjp_many(self, inputs, params, wrt, cotangents):
        which = [wrt[n] for n in wrt]
        f, primals = self._split(inputs, which)
        outs, pullback = jax.vjp(f, *primals)
        stacked = tuple(jnp.asarray(np.stack([c[i] for c in cotangents]), dtype=o.dtype)
                        for i, o in enumerate(outs))
        grads = jax.vmap(pullback)(stacked)
        return [{n: (np.asarray(g[r], dtype=np.float64),
                     (tuple(g.shape[1:]), str(g.dtype), str(list(g.devices())[0])))
                 for n, g in zip(wrt, grads)} for r in range(len(cotangents))]
