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
from . import DtypeMismatch, arithmetic, fold, instantiate, numpy_kind, parse_device


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
    """A tensor as float64 (complex128) numpy: ZeroTensors, expanded (overlapping) and
    sparse gradients, bfloat16 included."""
    t = t.detach()
    if t._is_zerotensor():
        return np.zeros(tuple(t.shape), dtype=np.complex128 if t.is_complex() else np.float64)
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    target = torch.complex128 if t.is_complex() else torch.float64
    return t.to("cpu", target).contiguous().numpy(force=True).copy()


def _strided(t) -> bool:
    """A tensor whose layout matters beyond its values: not contiguous, or a view into a
    larger storage."""
    return (isinstance(t, torch.Tensor) and t.layout == torch.strided and
            (not t.is_contiguous() or t.storage_offset() != 0 or
             t.untyped_storage().nbytes() != t.numel() * t.element_size()))


def _grads(outs, cots, sources, create_graph=False):
    """torch.autograd.grad over the outputs with a cotangent (None: undefined), allowing
    unused sources; all None when no output is connected to the graph."""
    pairs = [(o, c) for o, c in zip(outs, cots) if c is not None and o.requires_grad]
    if not pairs:
        return [None] * len(sources)
    return torch.autograd.grad([o for o, _ in pairs], sources, [c for _, c in pairs],
                               allow_unused=True, create_graph=create_graph)


class Code:
    """The user's torch code, made functional: f(*tensors) -> list of output tensors."""

    name = "torch"
    mutable = True  # an op may write into its inputs (add_, index_put_ ...)

    def __init__(self, adapter: Adapter):
        self.device, self.device_name = adapter.device, adapter.device_name
        self.version, self.dtype = adapter.version, adapter.dtype
        self.dtype_name = adapter.dtype_name
        self.module = None
        self.modules = {}
        self.param_names = {}

    # ----- the user's object -------------------------------------------------
    def prepare(self, obj, init: dict | None, want_params: bool,
                seed: int = 0) -> list[tuple[str, np.ndarray]]:
        # a module's initial weights (and a random op's draws) are part of the check: the
        # CPU generator seeded directly (torch.manual_seed also queues a seed for every lazy
        # device backend, formatting a stack trace each time: 0.7 ms of a 6 ms check)
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        self.fn = obj = instantiate(obj, init)
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

    def call(self, args: list, kwargs: dict, params: dict, dtype: str):
        """The user's object called: a module with ``params`` swapped in, in ``dtype``."""
        tdtype = DTYPES[dtype]
        if self.module is not None and params:
            named = {self.param_names[k]: v for k, v in params.items()}
            return torch.func.functional_call(self._module(tdtype), named, tuple(args), kwargs)
        if self.module is not None:
            return self._module(tdtype)(*args, **kwargs)
        return self.fn(*args, **kwargs)

    # ----- values ---------------------------------------------------------------
    def kind(self, value) -> str:
        """float, complex, sparse, int, bool, or other (passed through unchanged)."""
        if isinstance(value, np.ndarray):
            return numpy_kind(value)
        if not isinstance(value, torch.Tensor):
            return "other"
        if value.layout != torch.strided:
            return "sparse" if value.is_floating_point() else "other"
        if value.is_complex():
            return "complex"
        if value.is_floating_point():
            return "float"
        return "bool" if value.dtype == torch.bool else "int"

    def to_numpy(self, t) -> np.ndarray:
        return t if isinstance(t, np.ndarray) else _numpy(t)

    def layout_matters(self, value) -> bool:
        return _strided(value)

    def marked(self, value) -> bool | None:
        """Whether a tensor the user gave is marked to be differentiated (requires_grad)."""
        return bool(value.requires_grad) if isinstance(value, torch.Tensor) else None

    def tensor(self, array, dtype: str, grad: bool = False, like=None):
        # a copy: code that writes into its input must not write into gradcheck's point
        t = torch.tensor(np.asarray(array), dtype=DTYPES[dtype], device=self.device)
        if like is not None and _strided(like) and tuple(like.shape) == tuple(t.shape):
            # non-contiguous, or a view into a larger storage (which as_strided reads):
            # a copy of that storage, with these values written into the same view
            storage = like.detach().to(self.device, DTYPES[dtype]).untyped_storage() \
                if like.dtype != DTYPES[dtype] else like.detach().untyped_storage()
            base = torch.empty(0, dtype=DTYPES[dtype], device=self.device)
            view = base.set_(storage.clone(), like.storage_offset(), like.shape, like.stride())
            with torch.no_grad():
                view.copy_(t)
            t = view
        return t.requires_grad_(grad)

    def _inputs(self, xs: list, dtype: str, grad: bool = False) -> list:
        """Tensors of the differentiated values, each laid out like the tensor the user gave
        (``self.layouts``, set by the caller): strides, and a view's storage around it."""
        layouts = getattr(self, "layouts", None) or [None] * len(xs)
        return [self.tensor(x, dtype, grad, like) for x, like in zip(xs, layouts)]

    def passthrough(self, value):
        """An integer or boolean input: numpy arrays become tensors, tensors move to the device."""
        if isinstance(value, np.ndarray):
            return torch.as_tensor(value, device=self.device)
        return value.to(self.device) if isinstance(value, torch.Tensor) else value

    def complex(self, re, im):
        return torch.complex(re, im)

    def part(self, t, part: str | None):
        if t.layout != torch.strided:
            t = t.to_dense()
        return {None: t, "real": torch.real, "imag": torch.imag}[part](t) if part else t

    def sparse_values(self, t):
        """(the values a sparse tensor stores, what rebuilds it around new values)."""
        if t.layout == torch.sparse_coo:
            t = t.coalesce()
            return _numpy(t.values()), ("coo", t.indices(), tuple(t.shape))
        if t.layout == torch.sparse_csr:
            return _numpy(t.values()), ("csr", (t.crow_indices(), t.col_indices()),
                                        tuple(t.shape))
        raise GradcheckError(f"sparse layout {t.layout} is not supported: pass it dense "
                             "(.to_dense()), or as COO or CSR")

    def sparse(self, layout, values):
        kind, index, shape = layout
        if kind == "coo":
            return torch.sparse_coo_tensor(index, values, shape, is_coalesced=True)
        return torch.sparse_csr_tensor(index[0], index[1], values, shape)

    def expected_meta(self, shape) -> tuple:
        return tuple(shape), _dtype_name(self.dtype), str(self.device)

    # ----- evaluations of a pure function f(*xs) -> list of tensors --------------------
    def forward(self, f, xs: list, dtype: str) -> list[np.ndarray]:
        with torch.no_grad():
            outs = f(*self._inputs(xs, dtype))
        for o in outs:
            if o.dtype != DTYPES[dtype]:
                raise DtypeMismatch(f"the code returned {o.dtype} for {dtype} inputs")
        return [_numpy(o) for o in outs]

    def trace(self, g, xs: list, dtype: str):
        """One call with the inputs requiring grad: its output, and which output leaves
        autograd tracks (a detached or non-differentiable output does not)."""
        from ..usercode.tree import flatten
        with torch.enable_grad():
            out = g(*self._inputs(xs, dtype, grad=True))
        flags = [isinstance(leaf.value, torch.Tensor) and leaf.value.requires_grad
                 for leaf in flatten(out, "out")[0]]
        return out, flags

    def vjp(self, f, xs: list, cotangents: list, dtype: str | None = None) -> list:
        """uᵀJ per input: (gradient or None, (shape, dtype, device) or None); a None
        cotangent is an undefined output gradient."""
        dtype = dtype or self.dtype_name
        primals = self._inputs(xs, dtype, grad=True)
        outs = f(*primals)
        cots = [None if c is None else torch.as_tensor(c, dtype=o.dtype, device=self.device)
                for c, o in zip(cotangents, outs)]
        grads = _grads(outs, cots, primals)
        return [(None, None) if g is None else (_numpy(g), _meta(g)) for g in grads]

    def jvp(self, f, xs: list, tangents: list) -> list:
        """J v per output (None: the output has no forward-mode tangent)."""
        import torch.autograd.forward_ad as fwAD
        with fwAD.dual_level():
            duals = [fwAD.make_dual(x, self.tensor(t, self.dtype_name)) if t is not None else x
                     for x, t in zip(self._inputs(xs, self.dtype_name), tangents)]
            outs = f(*duals)
            tans = [fwAD.unpack_dual(o).tangent for o in outs]
            return [None if t is None else _numpy(t) for t in tans]

    def jvp_many(self, f, xs: list, index: int, tangents) -> np.ndarray:
        """J v for many tangents of xs[index] in one vmapped forward pass, (K, M): what
        torch's gradcheck does for check_batched_forward_grad (its legacy vmap, which
        batches dual numbers)."""
        import torch.autograd.forward_ad as fwAD
        from torch._vmap_internals import _vmap
        base = self._inputs(xs, self.dtype_name)

        def one(t):
            with fwAD.dual_level():
                moved = list(base)
                moved[index] = fwAD.make_dual(base[index], t)
                outs = []
                for o in f(*moved):
                    tangent = fwAD.unpack_dual(o).tangent
                    outs.append((torch.zeros_like(o) if tangent is None else tangent).reshape(-1))
                return torch.cat(outs)
        return _numpy(_vmap(one)(self.tensor(tangents, self.dtype_name)))

    ROUTES = ("rev∘rev", "fwd∘rev", "fwd∘fwd")

    def hvp(self, f, xs: list, cotangents: list, tangents: list, route: str = "rev∘rev") -> list:
        """d/dε ∇(uᵀf)(x + εv) per input, by ``route`` (see :mod:`.torch_second`)."""
        from .torch_second import hvp
        return hvp(self, f, xs, cotangents, tangents, route)

    # ----- batched: many perturbed inputs, many cotangents, one call -----------
    def forward_many(self, f, xs: list, index: int, batch, dtype: str) -> np.ndarray:
        """F at each of ``batch`` (replacing xs[index]): shape (K, M), via vmap."""
        base = self._inputs(xs, dtype)

        def one(value):
            moved = list(base)
            moved[index] = value
            return torch.cat([o.reshape(-1) for o in f(*moved)])
        with torch.no_grad():
            out = torch.func.vmap(one)(self.tensor(batch, dtype))
        return _numpy(out)

    def vjp_many(self, f, xs: list, cotangents: list) -> list:
        """uᵀJ for many u in one backward call (``is_grads_batched``)."""
        primals = self._inputs(xs, self.dtype_name, grad=True)
        outs = f(*primals)
        batched = [torch.as_tensor(np.stack([c[i] for c in cotangents]), dtype=o.dtype,
                                   device=self.device) for i, o in enumerate(outs)]
        pairs = [(o, c) for o, c in zip(outs, batched) if o.requires_grad]
        grads = (torch.autograd.grad([o for o, _ in pairs], primals, [c for _, c in pairs],
                                     allow_unused=True, is_grads_batched=True)
                 if pairs else [None] * len(xs))
        return [[(None, None) if g is None else
                 (_numpy(g[r]), (tuple(g.shape[1:]), _dtype_name(g.dtype), str(g.device)))
                 for g in grads] for r in range(len(cotangents))]

