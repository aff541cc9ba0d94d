"""The user's call, ``fn(*args, **kwargs)``, with every leaf of its arguments sorted.

Float arrays and tensors are differentiated (each a :class:`Slot`), unless held
constant (``grad: false``, ``nondiff=``, or left out of ``wrt``). Complex ones
become two real slots, ``z.real`` and ``z.imag`` (complex is reduced to real by
this one wrapper: the framework's own convention then runs inside, and is
checked by what comes out); a sparse tensor is differentiated through the
values it stores (``A.values``). Everything else -- integers, booleans, None,
strings, integer and boolean tensors, a callable -- is passed through unchanged.

Outputs are sorted the same way: floating outputs are compared (complex ones as
real and imaginary parts, sparse ones densified); integer, boolean, detached
and non-differentiable ones are listed and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GradcheckError
from .inputs import round_to
from .tree import Leaf, flatten

PARTS = {"real": ".real", "imag": ".imag", "values": ".values", None: ""}


@dataclass
class Slot:
    """Something differentiated: part of an input leaf, or a parameter of a module/layer."""

    name: str
    leaf: int | str                 # the input leaf's index, or the parameter's name
    value: np.ndarray               # its float64 values (of the dtype's numbers)
    part: str | None = None         # None, "real", "imag" or "values"
    shape: tuple = field(default=None)

    def __post_init__(self):
        if self.shape is None:
            self.shape = self.value.shape

    @property
    def key(self):
        return self.name

    @property
    def size(self) -> int:
        return int(self.value.size)

    @property
    def finite(self) -> np.ndarray:
        """The elements finite differences may move: not ±inf or NaN."""
        return np.isfinite(self.value).ravel()

    def element(self, flat: int) -> str:
        """``x[2, 1]`` for the flat index of an element (``x`` for a scalar)."""
        if not self.value.shape:
            return self.name
        idx = np.unravel_index(int(flat), self.value.shape)
        return f"{self.name}[{', '.join(map(str, idx))}]"


@dataclass
class Output:
    """One differentiable output leaf (or its real or imaginary part)."""

    path: str
    leaf: int
    part: str | None
    shape: tuple

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


class Call:
    """The arguments of the user's call, sorted into slots and constants.

    Args:
        code: the framework's ``Code`` object (classifies and converts values).
        args, kwargs: the positional and keyword arguments, as given (nested).
        names: a name for each positional argument (its parameter's name).
        params: ``[(name, float64 array)]``: a module's or layer's parameters.
        dtype: the check's dtype; differentiated values are rounded to it.
        hold: names (or paths) of float inputs to hold constant.
        wrt: if given, the only names (or paths) to differentiate.
        output: a function applied to the call's output before it is compared.
    """

    def __init__(self, code, args, kwargs, names, params, dtype, hold=(), wrt=None,
                 output=None):
        self.code, self.dtype, self.output = code, dtype, output
        self.leaves: list[Leaf] = []
        self._rebuild = []
        for value, name in zip(args, names):
            leaves, rebuild = flatten(value, name)
            self._rebuild.append((len(self.leaves), len(leaves), rebuild))
            self.leaves += leaves
        self.n_args = len(args)
        for key, value in kwargs.items():
            leaves, rebuild = flatten(value, key)
            self._rebuild.append((len(self.leaves), len(leaves), rebuild))
            self.leaves += leaves
        self.kw_names = list(kwargs)
        self.names = list(names) + list(kwargs)   # every argument's name, in order
        self.kinds = [code.kind(leaf.value) for leaf in self.leaves]
        # torch users mark what to differentiate with requires_grad: when some float input
        # is marked, the unmarked ones are held constant (as torch.autograd.gradcheck does)
        marked = [getattr(code, "marked", lambda v: None)(leaf.value) for leaf in self.leaves]
        if any(m for m, k in zip(marked, self.kinds) if k in ("float", "complex", "sparse")):
            hold = list(hold) + [leaf.path for leaf, m, k in zip(self.leaves, marked, self.kinds)
                                 if m is False and k in ("float", "complex", "sparse")
                                 and not (wrt and _chosen(leaf.path, (), wrt))]
        self.slots: list[Slot] = []
        self.constants: dict[int, np.ndarray] = {}   # float leaves held constant
        self.sparse: dict[int, object] = {}          # leaf -> the sparse tensor's layout
        for i, (leaf, kind) in enumerate(zip(self.leaves, self.kinds)):
            if kind not in ("float", "complex", "sparse"):
                continue
            chosen = _chosen(leaf.path, hold, wrt)
            if kind == "sparse":
                values, layout = code.sparse_values(leaf.value)
                self.sparse[i] = layout
                values = round_to(values, dtype)
                if chosen:
                    self.slots.append(Slot(f"{leaf.path}.values", i, values, "values"))
                else:
                    self.constants[i] = values
                continue
            array = code.to_numpy(leaf.value)
            if kind == "complex":
                parts = {"real": round_to(array.real, dtype), "imag": round_to(array.imag, dtype)}
                if chosen:
                    self.slots += [Slot(f"{leaf.path}{PARTS[p]}", i, v, p)
                                   for p, v in parts.items()]
                else:
                    self.constants[i] = parts["real"] + 1j * parts["imag"]
                continue
            array = round_to(array.astype(np.float64), dtype)
            if chosen:
                self.slots.append(Slot(leaf.path, i, array))
            else:
                self.constants[i] = array
        self.slots += [Slot(name, name, round_to(value, dtype)) for name, value in params]
        self.recast = [leaf.path for leaf, kind in zip(self.leaves, self.kinds)
                       if kind in ("float", "complex") and _dtype_of(leaf.value) not in
                       (None, dtype, {"float64": "complex128", "float32": "complex64"}.get(dtype))]
        self.param_names = [name for name, _ in params]
        self._check_names(hold, wrt)

    def _check_names(self, hold, wrt) -> None:
        known = {leaf.path for leaf in self.leaves} | set(self.param_names)
        for name in list(hold) + list(wrt or ()):
            if name not in known and not any(p.startswith(f"{name}[") or p.startswith(f"{name}.")
                                             for p in known):
                raise GradcheckError(f"no input or parameter is named {name!r}; they are "
                                     f"{', '.join(sorted(known)) or 'none'}", field="wrt")

    # ----- assembling a call from the slots' values ---------------------------------
    def arguments(self, values: dict, dtype: str):
        """(args, kwargs, params) of a call, ``values`` giving a framework tensor per slot
        name (the other slots and the constants come from the point, in ``dtype``)."""
        code = self.code
        leaf_values = [leaf.value for leaf in self.leaves]
        parts: dict[int, dict] = {}
        for s in self.slots:
            tensor = values[s.name] if s.name in values else code.tensor(s.value, dtype)
            if isinstance(s.leaf, int):
                parts.setdefault(s.leaf, {})[s.part] = tensor
        for i, const in self.constants.items():
            if i in self.sparse:
                parts[i] = {"values": code.tensor(const, dtype)}
            elif np.iscomplexobj(const):
                parts[i] = {"real": code.tensor(const.real, dtype),
                            "imag": code.tensor(const.imag, dtype)}
            else:
                parts[i] = {None: code.tensor(const, dtype)}
        for i, p in parts.items():
            if i in self.sparse:
                leaf_values[i] = code.sparse(self.sparse[i], p["values"])
            elif "real" in p:
                leaf_values[i] = code.complex(p["real"], p["imag"])
            else:
                leaf_values[i] = p[None]
        for i, kind in enumerate(self.kinds):
            if kind in ("int", "bool") and i not in parts:
                leaf_values[i] = code.passthrough(leaf_values[i])
        rebuilt = [rebuild(leaf_values[start:start + n]) for start, n, rebuild in self._rebuild]
        args = rebuilt[:self.n_args]
        kwargs = dict(zip(self.kw_names, rebuilt[self.n_args:]))
        params = {name: values[name] if name in values else
                  code.tensor(next(s.value for s in self.slots if s.name == name), dtype)
                  for name in self.param_names}
        return args, kwargs, params


def _dtype_of(value) -> str | None:
    """'float32' for a float32 array or tensor of any framework; None for numpy inputs
    drawn by gradcheck (they take the check's dtype)."""
    if isinstance(value, np.ndarray):
        return None
    dtype = getattr(value, "dtype", None)
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else str(dtype).rsplit(".", 1)[-1]


def _chosen(path: str, hold, wrt) -> bool:
    def named(names):
        return any(path == n or path.startswith(f"{n}[") or path.startswith(f"{n}.")
                   for n in names)
    if named(hold):
        return False
    return wrt is None or named(wrt)


def sort_outputs(code, out, requires_grad=None) -> tuple[list[Output], list[str]]:
    """(differentiable outputs, notes on the others) of one call's output structure.

    ``requires_grad``: per leaf, whether autograd tracks it (torch), or None."""
    leaves, _ = flatten(out, "out")
    if len(leaves) == 1:
        leaves[0].path = "out"
    keep, left_out = [], []
    for i, leaf in enumerate(leaves):
        kind = code.kind(leaf.value)
        shape = tuple(getattr(leaf.value, "shape", ()))
        if kind in ("float", "sparse"):
            if requires_grad is not None and not requires_grad[i]:
                left_out.append(f"{leaf.path} (does not require grad: detached, or marked "
                                "non-differentiable)")
                continue
            keep.append(Output(leaf.path, i, None, shape))
        elif kind == "complex":
            if requires_grad is not None and not requires_grad[i]:
                left_out.append(f"{leaf.path} (does not require grad)")
                continue
            keep += [Output(f"{leaf.path}.real", i, "real", shape),
                     Output(f"{leaf.path}.imag", i, "imag", shape)]
        else:
            what = {"int": "integer", "bool": "boolean"}.get(kind, type(leaf.value).__name__)
            left_out.append(f"{leaf.path} ({what})")
    return keep, left_out


def convert(code, value, dtype: str):
    """A nested value with its numpy arrays as framework tensors (floats in ``dtype``):
    what the code is first called with (Keras builds a layer's weights then)."""
    leaves, rebuild = flatten(value, "")

    def one(v):
        if not isinstance(v, np.ndarray):
            return v
        if np.iscomplexobj(v):
            return code.complex(code.tensor(v.real, dtype), code.tensor(v.imag, dtype))
        if np.issubdtype(v.dtype, np.floating):
            return code.tensor(v, dtype)
        return code.passthrough(v)
    return rebuild([one(leaf.value) for leaf in leaves])
