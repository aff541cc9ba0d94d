"""Which machinery runs the user's code: its framework, or -- for NumPy code -- the
derivatives its author gave (:mod:`gradcheck_cli.frameworks.numpy`).

A check that gives ``gradient:``, ``jacobian:``, ``vjp:``, ``jvp:``, ``hessian:`` or
``hvp:`` checks those (the code gets NumPy arrays); otherwise the framework is
told from the code and from ``backend``. NumPy code with nothing to check is
refused by name, never run through a framework it does not use.
"""

from __future__ import annotations

from .. import frameworks
from ..errors import GradcheckError
from .columns import Column

FORMS_HELP = ("gradient, jacobian, vjp, jvp, hessian or hvp (keys of the check; --gradient "
              "NAME and so on on the command line)")


def choose(check, obj) -> str:
    """``numpy`` or the code's framework (see the module's doc)."""
    from ..frameworks.numpy import numpy_only
    if check.derivatives:
        return "numpy"
    if not check.frameworks and numpy_only(obj):   # a backend named is trusted
        if check.expect:
            return "numpy"
        raise GradcheckError("the code is NumPy code (it uses no framework): give the "
                             f"derivatives to check: {FORMS_HELP}", field="gradient")
    return framework(check, obj)


def hint(obj) -> str:
    """For code that fails on a framework's tensors: a hint if it looks like NumPy code."""
    from ..frameworks.numpy import numpy_only
    return (f" (it looks like NumPy code, which no framework differentiates: give its "
            f"derivatives to check: {FORMS_HELP})" if numpy_only(obj) else "")


def framework(check, obj) -> str:
    """The code's framework: detected from the object, and among those asked for."""
    found = frameworks.detect(obj)
    asked = check.frameworks
    if asked and len(asked) == 1 and (not found or found == set(asked)):
        return asked[0]
    candidates = sorted(found & set(asked)) if asked else sorted(found)
    if len(candidates) == 1:
        name = candidates[0]
        if not frameworks.is_installed(name):
            raise GradcheckError(f"the code is {name} code, and {name} is not installed: "
                                 f"pip install 'gradcheck-cli[{name}]'", field="backend")
        return name
    if asked and found:
        raise GradcheckError(f"the code is {', '.join(sorted(found))} code; backend "
                             f"{', '.join(asked)} cannot run it", field="backend")
    raise GradcheckError("cannot tell the code's framework (it imports "
                         f"{', '.join(sorted(found)) or 'none of torch, tensorflow, jax'})"
                         ": set backend to torch, tensorflow or jax (or, for NumPy code, give "
                         f"its derivatives: {FORMS_HELP})", field="backend")


def code(check):
    """The ``Code`` object of NumPy code with the user's derivatives."""
    from ..frameworks import numpy as plain
    forms = plain.load_forms(check.derivatives, check.callable, check.base)
    return plain.Code(forms, check.dtype)


def validate(target, call, fn) -> list[str]:
    """What NumPy code with given derivatives must satisfy; returns notes."""
    from ..frameworks.numpy import REVERSE, SECOND
    check, forms, notes = target.check, target.ad.forms, []
    target.ad.bind(call, fn.outputs)
    complex_ = [s.name for s in call.slots if s.part in ("real", "imag")]
    if complex_ and forms:
        raise GradcheckError(f"{complex_[0].rpartition('.')[0]} is complex: give NumPy code's "
                             "real and imaginary parts as separate real inputs", field="inputs")
    if check.output is not None and forms:
        raise GradcheckError("'output' would change the function the derivatives were "
                             "written for: leave it out", field="output")
    scalar = fn.size == 1
    for form in ("gradient", "hessian", "hvp"):
        if form in forms and not scalar:
            raise GradcheckError(f"{form}: is for a scalar function; this one returns "
                                 f"{fn.size} elements: give jacobian:, vjp: or jvp:",
                                 field=form)
    second = [f for f in SECOND if f in forms]
    if second and not any(f in forms for f in REVERSE):
        raise GradcheckError(f"{second[0]}: is checked against finite differences of the "
                             "gradient: give gradient:, vjp: or jacobian: too", field=second[0])
    if check.order >= 2 and not second:
        raise GradcheckError("order 2 checks a second derivative: give hessian: or hvp:",
                             field="order")
    given = ", ".join(f"{form} = {_name(check.derivatives[form], check.callable)}"
                      for form in forms)
    notes.append(f"NumPy code, its own derivatives: {given}" if forms else
                 "NumPy code: only 'expect' is checked")
    if check.frameworks:
        notes.append(f"backend {', '.join(check.frameworks)} not used: NumPy code is checked "
                     "through the derivatives given")
    if check.device not in ("cpu", "auto"):
        notes.append(f"device {check.device} not used: NumPy code runs on the CPU")
    return notes


def columns(check, forms: dict) -> list[Column]:
    """One column per derivative given (forward or reverse ones only in the modes asked)."""
    from ..frameworks.numpy import FORMS, KIND
    out = [Column(form, KIND[form], route="user" if KIND[form] == "route" else None,
                  derivative=form)
           for form in FORMS if form in forms
           and (KIND[form] not in ("rev", "fwd") or KIND[form] in check.modes)]
    if forms and not out:
        raise GradcheckError(f"mode {', '.join(check.modes)} leaves none of the derivatives "
                             f"given ({', '.join(forms)})", field="mode")
    return out


def complex_step(check, framework: str, full: bool) -> list[Column]:
    """The complex-step column, where asked for: NumPy code, full Jacobian."""
    if "complex-step" not in check.methods:
        return []
    if framework != "numpy":
        raise GradcheckError(f"method 'complex-step' applies to NumPy code ({framework} code "
                             "is differentiated by its framework, not by complex input)",
                             field="methods")
    if not full:
        raise GradcheckError("method 'complex-step' calls the code once per input element: "
                             f"inputs of at most {check.full_limit} elements (or raise "
                             "'full_limit')", field="methods")
    return [Column("complex-step", "complex-step")]


def _name(value, callable_) -> str:
    if value is True:
        return "the callable's second output"
    if isinstance(value, str):
        return value if ":" in value or not isinstance(callable_, str) else \
            f"{callable_.rpartition(':')[0]}:{value}"
    return getattr(value, "__qualname__", type(value).__name__)
