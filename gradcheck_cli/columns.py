"""Differentiation methods: adapters in a registry, imported only when used.

Each method takes a :class:`~gradcheck_cli.expression.problem.Problem` (all points at
once) and returns :class:`Derivatives`. Selecting a method is a dict lookup;
the module behind it (and any framework it needs) is imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from .errors import GradcheckError

# name -> "module:Class", relative to this package.
REGISTRY: dict[str, str] = {
    "symbolic": ".expression.symbolic:Symbolic",
    "fd": ".expression.finite_diff:FiniteDifferences",
    "reverse": ".expression.reverse:ReverseMode",
}
ALIASES: dict[str, str] = {
    "sym": "symbolic", "sympy": "symbolic",
    "finite-diff": "fd", "finite_diff": "fd", "finite-differences": "fd", "numeric": "fd",
    "rev": "reverse", "engine": "reverse", "reverse-mode": "reverse",
}
DEFAULT_METHODS: tuple[str, ...] = ("symbolic", "fd", "reverse")


@dataclass
class Derivatives:
    """What a method computed, keyed like ``Problem.keys()``.

    Attributes:
        values: derivative values, an array over all points per key.
        errors: an estimate of each value's absolute error (finite differences).
        skip: per key, a boolean array of points where the method's value is
            not meaningful (a finite-difference stencil straddling a kink).
        unavailable: keys the method cannot compute, with the reason.
        rounding: per key, the sum of |stencil weights| at each point: the
            comparison adds eps * E(f) times it to the error (cancellation in f).
        info: facts for the report (steps, device, version).
        seconds: wall time of the computation.
    """

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    skip: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)
    rounding: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    seconds: float = 0.0


class Method:
    """Base class: a named way of computing derivatives."""

    name: str = ""
    label: str = ""
    max_order: int | None = None

    def compute(self, problem) -> Derivatives:  # pragma: no cover - interface
        raise NotImplementedError

    def unavailable_keys(self, problem) -> dict:
        if self.max_order is None:
            return {}
        return {key: f"{self.label} computes derivatives up to order {self.max_order}"
                for key in problem.keys() if len(key[1]) > self.max_order}


def canonical(name: str) -> str:
    """The registered name for a method name or alias.

    Raises:
        GradcheckError: the name is not a known method.
    """
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise GradcheckError(f"unknown method {name!r}; known methods: {known}")
    return key


def get_method(name: str, **options) -> Method:
    """Instantiate a method by name, importing its module on first use."""
    module_name, _, cls_name = REGISTRY[canonical(name)].partition(":")
    module = importlib.import_module(module_name, __package__)
    return getattr(module, cls_name)(**options)


def broadcast(value, npoints: int) -> np.ndarray:
    """A method's value as a float64 array over all points."""
    return np.broadcast_to(np.asarray(value, dtype=float), (npoints,)).copy()
