"""JAX user code: functions, ``jax.custom_vjp``/``custom_jvp`` ops.

Reverse mode is ``jax.vjp`` (it runs a custom_vjp's backward rule), forward mode
``jax.jvp`` (unavailable for custom_vjp functions: reported as n/a). JAX code
takes its parameters as inputs, so ``params: true`` does not apply.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradcheckError
from . import DtypeMismatch
from ..frameworks import adapter as backend_adapter


class Adapter:
    name = "jax"

    def __init__(self, device: str, dtype: str):
        base = backend_adapter("jax", device, "float64")  # enables x64 for the float64 FD
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        self.device, self.device_name, self.version = base.device, base.device_name, base.version
        self.dtypes = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16,
                       "bfloat16": jnp.bfloat16}
        self.dtype = self.dtypes[dtype]
        self.dtype_name = dtype

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
        return self.jax.device_put(self.jnp.asarray(np.asarray(a), dtype=dtype), self.device)

    def _outs(self, out):
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        for i, o in enumerate(outs):
            if not hasattr(o, "shape") or not hasattr(o, "dtype"):
                raise GradcheckError(f"output {i} is a {type(o).__name__}, not an array")
        return outs

    def forward(self, inputs, params, dtype="float64"):
        jdtype = self.dtypes[dtype]
        outs = self._outs(self.fn(*[self._array(a, jdtype) for a in inputs]))
        if any(o.dtype != jdtype for o in outs):
            raise DtypeMismatch(f"the code returned {outs[0].dtype} for {dtype} inputs")
        return [np.asarray(o, dtype=np.float64) for o in outs]

    def _split(self, inputs, which):
        args = [self._array(a, self.dtype) for a in inputs]

        def f(*moving):
            full = list(args)
            for i, m in zip(which, moving):
                full[i] = m
            return tuple(self._outs(self.fn(*full)))
        return f, [args[i] for i in which]

    def vjp(self, inputs, params, wrt, cotangents):
        which = [wrt[n] for n in wrt]
        f, primals = self._split(inputs, which)
        outs, pullback = self.jax.vjp(f, *primals)
        cots = tuple(self.jnp.asarray(c, dtype=o.dtype) for c, o in zip(cotangents, outs))
        grads = pullback(cots)
        return {n: (np.asarray(g, dtype=np.float64),
                    (tuple(g.shape), str(g.dtype), str(list(g.devices())[0])))
                for n, g in zip(wrt, grads)}

    def expected_meta(self, shape):
        return (tuple(shape), self.dtype_name, str(self.device))

    def jvp(self, inputs, params, tangents):
        which = list(tangents)
        f, primals = self._split(inputs, which)
        tans = [self.jnp.asarray(tangents[i], dtype=self.dtype) for i in which]
        _, out = self.jax.jvp(f, tuple(primals), tuple(tans))
        return [np.asarray(o, dtype=np.float64) for o in out]

    def forward_many(self, inputs, params, dtype, key, batch):
        jdtype = self.dtypes[dtype]
        args = [self._array(a, jdtype) for a in inputs]

        def one(value):
            a = list(args)
            a[key] = value
            return self.jnp.concatenate([o.reshape(-1) for o in self._outs(self.fn(*a))])
        out = self.jax.vmap(one)(self._array(batch, jdtype))
        return np.asarray(out, dtype=np.float64)

    def vjp_many(self, inputs, params, wrt, cotangents):
        which = [wrt[n] for n in wrt]
        f, primals = self._split(inputs, which)
        outs, pullback = self.jax.vjp(f, *primals)
        stacked = tuple(self.jnp.asarray(np.stack([c[i] for c in cotangents]), dtype=o.dtype)
                        for i, o in enumerate(outs))
        grads = self.jax.vmap(pullback)(stacked)
        return [{n: (np.asarray(g[r], dtype=np.float64),
                     (tuple(g.shape[1:]), str(g.dtype), str(list(g.devices())[0])))
                 for n, g in zip(wrt, grads)} for r in range(len(cotangents))]
