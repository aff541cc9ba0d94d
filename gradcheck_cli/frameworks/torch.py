"""PyTorch: torch.func.grad (reverse) and torch.func.jvp (forward), composed for higher orders."""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F

from ..errors import GradcheckError
from . import arithmetic, fold, parse_device


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
