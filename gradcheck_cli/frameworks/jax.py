"""JAX: jax.grad (reverse) and jax.jvp (forward), composed for higher orders.

float64 needs ``jax_enable_x64``; this adapter turns it on when asked for float64.
"""

from __future__ import annotations

import contextlib
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.scipy.special import erf  # noqa: E402

from ..errors import GradcheckError  # noqa: E402
from . import arithmetic, fold, parse_device  # noqa: E402


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
        import numpy as np
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
