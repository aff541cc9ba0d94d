"""The columns of a check: which ways of differentiating apply to which targets.

gradcheck's own methods (symbolic, finite differences, the reverse engine) are
adapters in a registry, imported only when used; each says which targets it
applies to (:data:`TARGETS`). Framework columns (``torch·rev``...) live in
:mod:`gradcheck_cli.frameworks` and apply to every target. A column computes
:class:`Derivatives`, keyed by the target's rows. Selecting a method is a dict
lookup; the module behind it (and any framework it needs) is imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from .errors import GradcheckError

# name -> "module:Class", relative to this package: gradcheck's own methods.
REGISTRY: dict[str, str] = {
    "symbolic": ".expression.symbolic:Symbolic",
    "fd": ".expression.finite_diff:FiniteDifferences",
    "reverse": ".expression.reverse:ReverseMode",
    "forward": ".expression.forward:ForwardMode",
    "complex-step": ".expression.complex_step:ComplexStep",
}
ALIASES: dict[str, str] = {
    "sym": "symbolic", "sympy": "symbolic",
    "finite-diff": "fd", "finite_diff": "fd", "finite-differences": "fd", "numeric": "fd",
    "rev": "reverse", "engine": "reverse", "reverse-mode": "reverse",
    "fwd": "forward", "forward-mode": "forward",
    "complex_step": "complex-step", "complexstep": "complex-step",
}
# Which targets each method applies to. For code, finite differences are the
# reference itself (there is no exact one): naming them is allowed, and they always run.
TARGETS: dict[str, tuple[str, ...]] = {
    "symbolic": ("expression",),
    "fd": ("expression", "code"),
    "reverse": ("expression",),
    "forward": ("expression",),
    "complex-step": ("expression", "code"),   # code: NumPy code taking complex input
}
# What a method is, for the judge (see gradcheck_cli.expression.target): judged on the
# exact-reference subset only; computed from a stencil (it has an error estimate, and is
# not used where the stencil straddles a kink). complex-step has no trait on purpose: its
# first derivatives involve no subtraction, so it is held to the float64 row like reverse.
TRAITS: dict[str, dict] = {"symbolic": {"exact_only": True}, "fd": {"stencil": True}}
DEFAULTS: dict[str, tuple[str, ...]] = {
    "expression": ("symbolic", "fd", "reverse", "forward"),
    "code": ("fd",),
}
DEFAULT_METHODS: tuple[str, ...] = DEFAULTS["expression"]
# gradcheck's checks of code that need no finite differences (usercode/agreement.py):
# name -> column title; on by default for code
CODE_METHODS: dict[str, str] = {"identity": "fwd⇄rev", "taylor": "taylor"}
CODE_ALIASES: dict[str, str] = {"fwd-rev": "identity", "fwd⇄rev": "identity",
                                "taylor-test": "taylor", "remainder": "taylor"}
# Columns that are not methods: the user's own derivatives, and (code) a plain
# implementation whose autodiff must agree.
OTHER_COLUMNS: dict[str, tuple[str, ...]] = {"expect": ("expression", "code"),
                                             "reference": ("code",)}
WHAT = {"expression": "expression checks (f:)", "code": "code checks (callable:)"}


def defaults(target: str) -> tuple[str, ...]:
    """The methods a check of this target runs when ``methods`` is not given."""
    return DEFAULTS[target] + (tuple(CODE_METHODS) if target == "code" else ())


def _targets(name: str) -> tuple[str, ...]:
    return TARGETS[name] if name in TARGETS else ("code",)   # CODE_METHODS


def require(name: str, target: str) -> None:
    """Refuse a method that does not apply to a target, saying which do."""
    if target not in _targets(name):
        usable = [m for m in (*TARGETS, *CODE_METHODS) if target in _targets(m)]
        raise GradcheckError(f"method {name!r} does not apply to {WHAT[target]}; "
                             f"methods that do: {', '.join(usable)}")


def canonical_column(name: str) -> str:
    """A tolerance key: a method (or alias), a framework, a framework column, or
    ``expect``/``reference``/``*``.

    Raises:
        GradcheckError: an unknown name.
    """
    from .frameworks import ALIASES as FW_ALIASES, FRAMEWORKS, MODES
    if name in ("*", *OTHER_COLUMNS):
        return name
    framework, dot, mode = name.partition("·")
    framework = FW_ALIASES.get(framework.lower(), framework.lower())
    if framework in FRAMEWORKS and (not dot or mode in MODES):
        return framework + dot + mode
    return canonical(name)


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
        terms: per key, the magnitudes summed to make each value (code: |u|ᵀ|J||v|),
            the rounding-error scale where no better one is known.
        failures: per key, ``(reason, location)`` of a structural failure (no
            gradient, wrong shape, a backward that differs between runs...).
        extra: what a target keeps for its own comparisons (gradients' shapes...).
        info: facts for the report (steps, device, version).
        seconds: wall time of the computation.
    """

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    skip: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)
    rounding: dict = field(default_factory=dict)
    terms: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
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
    key = ALIASES.get(key, CODE_ALIASES.get(key, key))
    if key in CODE_METHODS:
        return key
    if key not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise GradcheckError(f"unknown method {name!r}; known methods: {known} (and, for "
                             "tolerances, expect, reference and the frameworks)")
    return key


def get_method(name: str, **options) -> Method:
    """Instantiate a method by name, importing its module on first use."""
    name = canonical(name)
    module_name, _, cls_name = REGISTRY[name].partition(":")
    module = importlib.import_module(module_name, __package__)
    method = getattr(module, cls_name)(**options)
    for trait, value in TRAITS.get(name, {}).items():
        setattr(method, trait, value)
    return method


def broadcast(value, npoints: int) -> np.ndarray:
    """A method's value as a float64 array over all points."""
    return np.broadcast_to(np.asarray(value, dtype=float), (npoints,)).copy()
