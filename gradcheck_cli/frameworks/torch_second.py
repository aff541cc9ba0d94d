"""Second derivatives of torch code, by three routes: reverse over reverse (the backward
pass differentiated by another backward pass, ``create_graph``), forward over reverse
(the backward pass run on dual numbers), forward over forward (``torch.func.jvp`` of
``torch.func.jvp``). Each is its own column, so a route that breaks is named."""

from __future__ import annotations

import numpy as np
import torch

from .torch import _grads, _numpy


def hvp(code, f, xs: list, cotangents: list, tangents: list, route: str = "rev∘rev") -> list:
    """d/dε ∇(uᵀf)(x + εv) per input (``code``: a :class:`.torch.Code`) by ``route``;
    fwd∘fwd takes every unit direction at once (functional code only). None where
    autograd connects nothing."""
    if route == "fwd∘fwd":
        return forward_over_forward(code, f, xs, cotangents, tangents)
    primals = code._inputs(xs, code.dtype_name, grad=True)
    tans = [code.tensor(t, code.dtype_name) for t in tangents]
    cots = [torch.as_tensor(c, device=code.device) for c in cotangents]
    if route == "fwd∘rev":
        import torch.autograd.forward_ad as fwAD
        with fwAD.dual_level():
            duals = [fwAD.make_dual(p, t) for p, t in zip(primals, tans)]
            outs = f(*duals)
            grads = _grads(outs, [c.to(o.dtype) for c, o in zip(cots, outs)], primals,
                           create_graph=True)
            return [None if g is None or fwAD.unpack_dual(g).tangent is None
                    else _numpy(fwAD.unpack_dual(g).tangent) for g in grads]
    outs = f(*primals)
    grads = _grads(outs, [c.to(o.dtype) for c, o in zip(cots, outs)], primals,
                   create_graph=True)
    terms = [(g * t).sum() for g, t in zip(grads, tans) if g is not None and g.requires_grad]
    if not terms:
        return [None] * len(xs)
    second = torch.autograd.grad(sum(terms), primals, allow_unused=True)
    return [None if h is None else _numpy(h) for h in second]


def forward_over_forward(code, f, xs, cotangents, tangents) -> list:
    """uᵀ f''[v, e_i] for every unit direction e_i of every input: H v, by forward mode
    twice (torch.func.jvp of torch.func.jvp, vmapped over the e_i)."""
    primals = tuple(code._inputs(xs, code.dtype_name))
    tans = tuple(code.tensor(t, code.dtype_name) for t in tangents)
    cots = [torch.as_tensor(c, device=code.device) for c in cotangents]

    def along_v(*ys):
        return tuple(torch.func.jvp(lambda *zs: tuple(f(*zs)), ys, tans)[1])
    result = []
    for i, p in enumerate(primals):
        def second(w, i=i):
            dirs = tuple(w if j == i else torch.zeros_like(q) for j, q in enumerate(primals))
            outs = torch.func.jvp(along_v, primals, dirs)[1]
            return sum((o * c.to(o.dtype)).sum() for o, c in zip(outs, cots))
        units = torch.eye(p.numel(), dtype=p.dtype, device=p.device).reshape(-1, *p.shape)
        result.append(_numpy(torch.func.vmap(second)(units)).reshape(p.shape)
                      if p.numel() else np.zeros(p.shape))
    return result
