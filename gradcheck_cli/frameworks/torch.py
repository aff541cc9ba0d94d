"""PyTorch: everything gradcheck asks of torch, for expressions and for code.

Expressions: torch.func.grad (reverse) and torch.func.jvp (forward) over an
elementwise function of the points, composed for higher orders.

Code (a function, a ``torch.autograd.Function``, an ``nn.Module``): gradients
from ``torch.autograd.grad`` -- the same machinery a training step uses, so a
custom ``backward`` runs exactly as in production -- forward mode from
``torch.autograd.forward_ad``, second derivatives by differentiating the
backward pass again (``create_graph``), parameters swapped in with
``torch.func.functional_call``; finite differences run on a float64 copy.
"""

from __future__ import annotations

import contextlib
import copy
import functools

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GradcheckError
from . import DtypeMismatch, arithmetic, fold, parse_device


@functools.cache
def table() -> dict:
    """SymPy head -> torch op. Built on first use: SymPy loads only for expression checks
    (user-code checks use this module for devices and dtypes alone)."""
    import sympy as sp
    from sympy.codegen.cfunctions import expm1, log1p, log2, log10

    from ..expression.functions import cbrt, relu, sigmoid, softplus
    return {
        **arithmetic(),
        sp.exp: torch.exp, sp.log: torch.log, log1p: torch.log1p, expm1: torch.expm1,
        log2: torch.log2, log10: torch.log10, "sqrt": torch.sqrt,
        sp.sin: torch.sin, sp.cos: torch.cos, sp.tan: torch.tan, sp.asin: torch.asin,
        sp.acos: torch.acos, sp.atan: torch.atan, sp.atan2: torch.atan2,
        sp.sinh: torch.sinh, sp.cosh: torch.cosh, sp.tanh: torch.tanh, sp.asinh: torch.asinh,
        sp.acosh: torch.acosh, sp.atanh: torch.atanh,
        # torch has no cube root: the real one, built from abs and pow
        cbrt: lambda x: torch.sign(x) * torch.abs(x) ** (1.0 / 3.0),
        sp.erf: torch.erf, sigmoid: torch.sigmoid, softplus: F.softplus, relu: torch.relu,
        sp.Abs: torch.abs, sp.sign: torch.sign,
        sp.Max: fold(torch.maximum), sp.Min: fold(torch.minimum),
    }


DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16}


class Adapter:
    name = "torch"

    @property
    def table(self) -> dict:
        return table()

    def __init__(self, device: str, dtype: str):
        self.dtype_name = dtype
        self.version = torch.__version__
        self.dtype = DTYPES[dtype]
        kind, index = parse_device(device)
        available = torch.cuda.is_available()
        if kind == "gpu" and not available:
            raise GradcheckError(f"torch: no CUDA device for --device {device}: "
                                 "torch.cuda.is_available() is False")
        if kind == "gpu" and index is not None and index >= torch.cuda.device_count():
            raise GradcheckError(f"torch: no device cuda:{index}; torch.cuda.device_count() "
                                 f"is {torch.cuda.device_count()}")
        if kind == "gpu" or (kind == "auto" and available):
            self.device = torch.device("cuda", index or 0)
            self.device_name = f"cuda:{index or 0} ({torch.cuda.get_device_name(index or 0)})"
        else:
            self.device = torch.device("cpu")
            self.device_name = "cpu"

    def context(self):
        return contextlib.nullcontext()

    def tensor(self, values):
        return torch.as_tensor(values, dtype=self.dtype, device=self.device)

    def constant(self, value: float):
        return torch.tensor(value, dtype=self.dtype, device=self.device)

    def to_numpy(self, t):
        return t.detach().to("cpu", torch.float64).numpy(force=True)  # ZeroTensors too

    def grad(self, fn, i):
        # Points are independent, so d(sum f)/dx_i holds every point's own derivative.
        return torch.func.grad(lambda *xs: fn(*xs).sum(), argnums=i)

    def jvp(self, fn, i):
        def directional(*xs):
            tangents = tuple(torch.ones_like(x) if j == i else torch.zeros_like(x)
                             for j, x in enumerate(xs))
            return torch.func.jvp(fn, xs, tangents)[1]
        return directional


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _meta(g) -> tuple:
    return tuple(g.shape), _dtype_name(g.dtype), str(g.device)


def _numpy(t) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy(force=True)  # ZeroTensors too


class Code:
    """The user's torch code, called with numpy arrays in and out."""

    name = "torch"

    def __init__(self, adapter: Adapter):
        self.device, self.device_name = adapter.device, adapter.device_name
        self.version, self.dtype = adapter.version, adapter.dtype
        self.module = None
        self.modules = {}
        self.param_names = {}

    # ----- the user's object -------------------------------------------------
    def prepare(self, obj, init: dict | None, want_params: bool,
                seed: int = 0) -> list[tuple[str, np.ndarray]]:
        torch.manual_seed(seed)  # a module's initial weights are part of the check
        if isinstance(obj, type):
            try:
                obj = obj(**(init or {}))
            except Exception as exc:
                raise GradcheckError(f"instantiating {obj.__name__}(**init) failed: "
                                     f"{type(exc).__name__}: {exc}") from None
        elif init:
            raise GradcheckError("'init' is given but the callable is not a class")
        self.fn = obj
        if isinstance(obj, torch.nn.Module):
            self.module = obj.to(self.device, self.dtype)
            self.modules = {self.dtype: self.module}
        if not want_params:
            return []
        if self.module is None:
            raise GradcheckError("'params: true' needs a torch.nn.Module")
        prefix = type(self.module).__name__
        self.param_names = {f"{prefix}.{n}": n for n, p in self.module.named_parameters()
                            if p.requires_grad}
        return [(full, _numpy(self.module.get_parameter(n)))
                for full, n in self.param_names.items()]

    def _module(self, dtype):
        if dtype not in self.modules:
            self.modules[dtype] = copy.deepcopy(self.module).to(self.device, dtype)
        return self.modules[dtype]

    def _call(self, args: list, params: dict, dtype):
        if self.module is not None and params:
            named = {self.param_names[k]: v for k, v in params.items()}
            out = torch.func.functional_call(self._module(dtype), named, tuple(args))
        elif self.module is not None:
            out = self._module(dtype)(*args)
        else:
            out = self.fn(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        for i, o in enumerate(outs):
            if not isinstance(o, torch.Tensor):
                raise GradcheckError(f"output {i} is a {type(o).__name__}, not a torch.Tensor")
        return outs

    def _tensor(self, a, dtype, grad=False):
        t = torch.as_tensor(np.asarray(a), dtype=dtype, device=self.device)
        return t.requires_grad_(grad)

    def _leaves(self, inputs, params, wrt, dtype):
        """Tensors of the inputs and parameters, those in ``wrt`` requiring grad."""
        args = [self._tensor(a, dtype, grad=i in wrt.values()) for i, a in enumerate(inputs)]
        ps = {k: self._tensor(v, dtype, grad=k in wrt) for k, v in params.items()}
        sources = [args[wrt[n]] if isinstance(wrt[n], int) else ps[n] for n in wrt]
        return args, ps, sources

    # ----- evaluations ----------------------------------------------------------
    def forward(self, inputs: list, params: dict, dtype: str = "float64") -> list[np.ndarray]:
        tdtype = DTYPES[dtype]
        with torch.no_grad():
            outs = self._call([self._tensor(a, tdtype) for a in inputs],
                              {k: self._tensor(v, tdtype) for k, v in params.items()}, tdtype)
        if any(o.dtype != tdtype for o in outs):
            raise DtypeMismatch(f"the code returned {outs[0].dtype} for {dtype} inputs")
        return [_numpy(o) for o in outs]

    def vjp(self, inputs: list, params: dict, wrt: dict, cotangents: list, dtype=None):
        """Reverse mode: uᵀJ for the names in ``wrt`` (input index or param name)."""
        tdtype = self.dtype if dtype is None else DTYPES[dtype]
        args, ps, sources = self._leaves(inputs, params, wrt, tdtype)
        outs = self._call(args, ps, tdtype)
        cots = [self._tensor(c, o.dtype) for c, o in zip(cotangents, outs)]
        pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        if not pairs:
            return {n: (None, None) for n in wrt}
        grads = torch.autograd.grad([o for o, _ in pairs], sources, [c for _, c in pairs],
                                    allow_unused=True)
        return {n: (None, None) if g is None else (_numpy(g), _meta(g))
                for n, g in zip(wrt, grads)}

    def expected_meta(self, shape) -> tuple:
        return tuple(shape), _dtype_name(self.dtype), str(self.device)

    def jvp(self, inputs: list, params: dict, tangents: dict) -> list[np.ndarray]:
        """Forward mode: J v, with v given per input index or param name."""
        import torch.autograd.forward_ad as fwAD
        with fwAD.dual_level():
            def dual(key, value):
                t = self._tensor(value, self.dtype)
                return fwAD.make_dual(t, self._tensor(tangents[key], self.dtype)) \
                    if key in tangents else t
            outs = self._call([dual(i, a) for i, a in enumerate(inputs)],
                              {k: dual(k, v) for k, v in params.items()}, self.dtype)
            result = []
            for o in outs:
                t = fwAD.unpack_dual(o).tangent
                result.append(np.zeros(o.shape) if t is None else _numpy(t))
        return result

    def hvp(self, inputs: list, params: dict, wrt: dict, cotangents: list, tangents: dict,
            mode: str = "rev") -> dict:
        """d/dε ∇(uᵀf)(x + εv) per name in ``wrt``: reverse over reverse (``rev``:
        the backward pass differentiated by another backward pass) or forward over
        reverse (``fwd``: the backward pass run on dual numbers). None where the
        gradient is not connected to that input in autograd's graph."""
        args, ps, sources = self._leaves(inputs, params, wrt, self.dtype)
        tans = [self._tensor(tangents[n], self.dtype) for n in wrt]
        if mode == "fwd":
            import torch.autograd.forward_ad as fwAD
            with fwAD.dual_level():
                duals = {n: fwAD.make_dual(s, t) for n, s, t in zip(wrt, sources, tans)}
                d_args = [duals.get(n, a) for n, a in zip(self._names(wrt, len(args)), args)]
                d_ps = {k: duals.get(k, v) for k, v in ps.items()}
                grads = self._grads(self._call(d_args, d_ps, self.dtype), sources, cotangents,
                                    create_graph=True)
                return {n: None if g is None else
                        (None if fwAD.unpack_dual(g).tangent is None
                         else _numpy(fwAD.unpack_dual(g).tangent))
                        for n, g in zip(wrt, grads)}
        grads = self._grads(self._call(args, ps, self.dtype), sources, cotangents,
                            create_graph=True)
        terms = [(g * t).sum() for g, t in zip(grads, tans) if g is not None and g.requires_grad]
        if not terms:
            return {n: None for n in wrt}
        second = torch.autograd.grad(sum(terms), sources, allow_unused=True)
        return {n: None if h is None else _numpy(h) for n, h in zip(wrt, second)}

    @staticmethod
    def _names(wrt: dict, n_args: int) -> list:
        by_index = {k: n for n, k in wrt.items() if isinstance(k, int)}
        return [by_index.get(i) for i in range(n_args)]

    def _grads(self, outs, sources, cotangents, create_graph=False):
        cots = [self._tensor(c, o.dtype) for c, o in zip(cotangents, outs)]
        pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        if not pairs:
            return [None] * len(sources)
        return torch.autograd.grad([o for o, _ in pairs], sources, [c for _, c in pairs],
                                   allow_unused=True, create_graph=create_graph)

    # ----- batched: many perturbed inputs, many cotangents, one call -----------
    def forward_many(self, inputs, params, dtype, key, batch) -> np.ndarray:
        """F at each of ``batch`` (replacing input or param ``key``): shape (K, M), via vmap."""
        tdtype = DTYPES[dtype]
        args = [self._tensor(a, tdtype) for a in inputs]
        ps = {k: self._tensor(v, tdtype) for k, v in params.items()}

        def one(value):
            a, p = list(args), dict(ps)
            if isinstance(key, int):
                a[key] = value
            else:
                p[key] = value
            return torch.cat([o.reshape(-1) for o in self._call(a, p, tdtype)])
        with torch.no_grad():
            out = torch.func.vmap(one)(self._tensor(batch, tdtype))
        return _numpy(out)

    def vjp_many(self, inputs, params, wrt, cotangents: list) -> list:
        """uᵀJ for many u in one backward call (``is_grads_batched``)."""
        args, ps, sources = self._leaves(inputs, params, wrt, self.dtype)
        outs = self._call(args, ps, self.dtype)
        batched = [self._tensor(np.stack([c[i] for c in cotangents]), o.dtype)
                   for i, o in enumerate(outs)]
        grads = torch.autograd.grad(outs, sources, batched, allow_unused=True,
                                    is_grads_batched=True)
        return [{n: (None, None) if g is None else
                 (_numpy(g[r]), (tuple(g.shape[1:]), _dtype_name(g.dtype), str(g.device)))
                 for n, g in zip(wrt, grads)} for r in range(len(cotangents))]
