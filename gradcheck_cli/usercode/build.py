"""Validate a check of the user's code (``callable:``) into a target, importing nothing.

The code itself is imported when the check runs (as pytest imports a test file
when it collects it, gradcheck imports it when it checks it), so a broken file
is an error row of its own check, not of the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import options, tolerances
from ..errors import GradcheckError
from .inputs import COMPLEX
from .target import CodeTarget

MAX_ORDER = 2
DERIVATIVES = ("gradient", "jacobian", "vjp", "jvp", "hessian", "hvp")  # NumPy code's own


@dataclass
class CodeCheck:
    """The options of one code check, validated."""

    name: str
    source: str
    callable: object                 # "file.py:name", "package.module:name", or the object
    inputs: dict                     # the positional arguments (spec form)
    kwargs: dict = field(default_factory=dict)   # the keyword arguments (spec form)
    arguments: tuple | None = None   # (args, kwargs, names, held) given directly (the API)
    hold: tuple = ()                 # names or paths of float inputs held constant
    output: object = None            # applied to the output before comparing (the API)
    base: Path | None = None
    init: dict | None = None
    params: bool = False
    reference: object = None
    full_limit: int = 2000
    vmap: bool = True
    expect: dict = field(default_factory=dict)
    order: int = 1
    rtol: dict = field(default_factory=dict)
    atol: dict = field(default_factory=dict)
    frameworks: tuple = ()           # the frameworks asked for; () when none was named
    modes: tuple = ("rev", "fwd")
    dtype: str = "float64"           # the framework's (real) dtype
    input_dtype: str = "float64"     # drawn inputs: complex128 draws complex values
    device: str = "cpu"
    seed: int = 0
    nondet_tol: float | None = None  # how far two runs of a backward pass may differ
    batched: tuple = ("rev", "fwd")  # modes whose batched (vmap) form is checked too
    batched_required: bool = False   # asked for by name: a batched form that raises fails
    methods: tuple = ("fd", "identity", "taylor")
    layers: bool | None = None       # check a model's layers one by one (None: on failure)
    methods_explicit: bool = False   # named by the user: one that cannot run is refused
    wrt: tuple | None = None
    xfail: str | None = None
    derivatives: dict = field(default_factory=dict)  # NumPy code: form -> the user's derivative


def build(data: dict, *, raw: dict | None = None, source: str, defaults: dict | None = None,
          overrides: dict | None = None, label: str | None = None,
          base: Path | None = None) -> CodeTarget:
    """The target of one code check (a spec entry, the command line or the Python API).

    Precedence: command-line ``overrides`` > the check's own keys > the file's
    ``defaults`` > built-in defaults.

    Raises:
        GradcheckError: naming the source, the check and the field at fault.
    """
    merged = options.merge(defaults, data, overrides)
    if raw and "inputs" in raw and isinstance(raw["inputs"], dict):  # literal values as written
        merged["inputs"] = {k: v if not isinstance(v, dict) else dict(v)
                            for k, v in raw["inputs"].items()}
    label = label or str(data.get("name") or data.get("callable"))
    current = "callable"
    try:
        options.refuse(merged, options.EXPRESSION_ONLY, "a code check (callable:)")
        current = "inputs"
        inputs = merged.get("inputs") or {}
        arguments = merged.get("arguments")
        if not isinstance(inputs, dict) or (not inputs and arguments is None):
            raise GradcheckError("give the inputs: a mapping of name to {shape: ...} or "
                                 "{value: ...}")
        current = "kwargs"
        kwargs = merged.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise GradcheckError("kwargs is a mapping: keyword -> value")
        current = "gradient"
        derivatives = {form: merged[form] for form in DERIVATIVES if merged.get(form) is not None}
        for form, value in derivatives.items():
            current = form
            if not (callable(value) or isinstance(value, str) and value.strip()
                    or (value is True and form == "gradient")):
                raise GradcheckError("give the derivative as 'file.py:name' (or a name in the "
                                     "callable's file)" + (", or true when the callable returns "
                                                           "(value, gradient)"
                                                           if form == "gradient" else ""))
        current = "order"
        order = options.order(merged)
        second = [f for f in ("hessian", "hvp") if f in derivatives]
        if second and merged.get("order") is None:
            order = 2   # a second derivative given is a second derivative checked
        elif second and order < 2:
            raise GradcheckError(f"{second[0]}: is a second derivative: order {order} would not "
                                 "check it (leave order out, or set 2)")
        if order > MAX_ORDER:
            raise GradcheckError(f"code checks go up to order {MAX_ORDER}; order {order} "
                                 "is not checked for code yet")
        current = "methods"
        methods = options.methods(merged, "code")  # fd: the reference, always run
        explicit = merged.get("methods") is not None
        current = "mode"
        modes = tuple(options.modes(merged, default="both"))
        current = "backend"
        if merged.get("backend") is not None:
            frameworks = tuple(options.backends(merged))
            if not frameworks:
                raise GradcheckError("code runs on its framework: backend 'none' leaves "
                                     "nothing to run it with; name torch, tensorflow or jax "
                                     "(or leave backend out to detect it)")
        else:
            frameworks = ()
        current = "device"
        device = options.device(merged)
        current = "dtype"
        input_dtype = str(merged.get("dtype") or "float64")
        dtype = COMPLEX.get(input_dtype) or options.dtype(merged)
        current = "seed"
        seed = options.seed(merged)
        current = "rtol"
        rtol = options.tolerance(merged, "rtol")
        current = "atol"
        atol = options.tolerance(merged, "atol")
        current = "wrt"
        wrt = options.listify(merged.get("wrt"))
        current = "expect"
        expect = merged.get("expect") or {}
        if not isinstance(expect, dict):
            raise GradcheckError("expect is a mapping: input name -> its gradient")
        current = "nondet_tol"
        nondet_tol = merged.get("nondet_tol")
        if nondet_tol is not None:
            nondet_tol = tolerances.user_tolerances(nondet_tol, "nondet_tol")["*"]
        current = "batched"
        given = merged.get("batched")
        batched = (("rev", "fwd") if given in (None, True) else () if given is False
                   else tuple(options.modes({"mode": m})[0] for m in options.listify(given)))
        current = "full_limit"
        full_limit = int(merged.get("full_limit", 2000))
    except GradcheckError as exc:
        raise exc.located(source=source, check=label, field=current) from None
    check = CodeCheck(
        name=label, source=source, callable=merged["callable"], inputs=inputs, kwargs=kwargs,
        arguments=arguments, hold=tuple(options.listify(merged.get("nondiff")) or ()),
        input_dtype=input_dtype, base=base, output=merged.get("output"),
        init=merged.get("init"), params=bool(merged.get("params")),
        reference=merged.get("reference"), full_limit=full_limit,
        vmap=bool(merged.get("vmap", True)), expect=expect, order=order, rtol=rtol, atol=atol,
        frameworks=frameworks, modes=modes, dtype=dtype, device=device, seed=seed,
        nondet_tol=nondet_tol, batched=batched, batched_required=given is not None,
        methods=methods, methods_explicit=explicit, layers=merged.get("layers"),
        wrt=tuple(wrt) if wrt else None, xfail=options.expected_failure(merged),
        derivatives=derivatives)
    return CodeTarget(check)
