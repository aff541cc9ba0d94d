"""PyTorch user code: functions, ``torch.autograd.Function``s and ``nn.Module``s.

Gradients come from ``torch.autograd.grad`` -- the same machinery a training step
uses, so a custom ``backward`` runs exactly as in production -- and forward mode
from ``torch.autograd.forward_ad``. Parameters are swapped in with
``torch.func.functional_call``; finite differences run on a float64 copy.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ..errors import GradcheckError
from . import DtypeMismatch
from ..frameworks import adapter as backend_adapter

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16}


class Adapter:
    name = "torch"

    def __init__(self, device: str, dtype: str):
        base = backend_adapter("torch", device, dtype)
        self.device, self.device_name, self.version = base.device, base.device_name, base.version
        self.dtype = DTYPES[dtype]
        self.module = None
        self.modules = {}

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
        return [(full, self.module.get_parameter(n).detach().cpu().double().numpy())
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

    # ----- evaluations ----------------------------------------------------------
    def forward(self, inputs: list, params: dict, dtype: str = "float64") -> list[np.ndarray]:
        tdtype = DTYPES[dtype]
        with torch.no_grad():
            outs = self._call([self._tensor(a, tdtype) for a in inputs],
                              {k: self._tensor(v, tdtype) for k, v in params.items()}, tdtype)
        if any(o.dtype != tdtype for o in outs):
            raise DtypeMismatch(f"the code returned {outs[0].dtype} for {dtype} inputs")
        return [o.detach().cpu().double().numpy() for o in outs]

    def vjp(self, inputs: list, params: dict, wrt: dict, cotangents: list):
        """Reverse mode: uᵀJ for the names in ``wrt`` (input index or param name)."""
        args = [self._tensor(a, self.dtype, grad=i in wrt.values()) for i, a in enumerate(inputs)]
        ps = {k: self._tensor(v, self.dtype, grad=k in wrt) for k, v in params.items()}
        outs = self._call(args, ps, self.dtype)
        sources = [args[wrt[n]] if isinstance(wrt[n], int) else ps[n] for n in wrt]
        cots = [self._tensor(c, o.dtype) for c, o in zip(cotangents, outs)]
        pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        if not pairs:
            return {n: (None, None) for n in wrt}
        grads = torch.autograd.grad([o for o, _ in pairs], sources, [c for _, c in pairs],
                                    allow_unused=True)
        return {n: (None if g is None else g.detach().cpu().double().numpy(),
                    None if g is None else (tuple(g.shape), str(g.dtype).replace("torch.", ""),
                                            str(g.device)))
                for n, g in zip(wrt, grads)}

    def expected_meta(self, shape) -> tuple:
        return (tuple(shape), str(self.dtype).replace("torch.", ""), str(self.device))

    def jvp(self, inputs: list, params: dict, tangents: dict) -> list[np.ndarray]:
        """Forward mode: J v, with v given per input index or param name."""
        import torch.autograd.forward_ad as fwAD
        with fwAD.dual_level():
            args = [fwAD.make_dual(self._tensor(a, self.dtype), self._tensor(tangents[i], self.dtype))
                    if i in tangents else self._tensor(a, self.dtype) for i, a in enumerate(inputs)]
            ps = {k: fwAD.make_dual(self._tensor(v, self.dtype), self._tensor(tangents[k], self.dtype))
                  if k in tangents else self._tensor(v, self.dtype) for k, v in params.items()}
            outs = self._call(args, ps, self.dtype)
            result = []
            for o in outs:
                t = fwAD.unpack_dual(o).tangent
                result.append(np.zeros(o.shape) if t is None else t.detach().cpu().double().numpy())
        return result

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
        return out.detach().cpu().double().numpy()

    def vjp_many(self, inputs, params, wrt, cotangents: list) -> list:
        """uᵀJ for many u in one backward call (``is_grads_batched``)."""
        args = [self._tensor(a, self.dtype, grad=i in wrt.values()) for i, a in enumerate(inputs)]
        ps = {k: self._tensor(v, self.dtype, grad=k in wrt) for k, v in params.items()}
        outs = self._call(args, ps, self.dtype)
        sources = [args[wrt[n]] if isinstance(wrt[n], int) else ps[n] for n in wrt]
        batched = [self._tensor(np.stack([c[i] for c in cotangents]), o.dtype)
                   for i, o in enumerate(outs)]
        grads = torch.autograd.grad(outs, sources, batched, allow_unused=True,
                                    is_grads_batched=True)
        rows = []
        for r in range(len(cotangents)):
            rows.append({n: (None if g is None else g[r].detach().cpu().double().numpy(),
                             None if g is None else (tuple(g.shape[1:]),
                                                     str(g.dtype).replace("torch.", ""),
                                                     str(g.device)))
                         for n, g in zip(wrt, grads)})
        return rows
