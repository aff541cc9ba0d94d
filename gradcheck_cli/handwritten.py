"""Hand-written derivatives of NumPy code, from Python: scipy's ``check_grad`` done properly.

``check_gradient(func, grad, x0, *args)`` takes scipy.optimize.check_grad's
arguments and returns a :class:`~gradcheck_cli.results.CheckResult` instead of
one number: every element of the gradient held against Richardson finite
differences with their own error estimate, the wrong elements named, kinks and
ties judged as such, the Taylor test beside. The other forms are keywords:
``jacobian=``, ``vjp=``, ``jvp=``, ``hessian=``, ``hvp=`` (see
:mod:`gradcheck_cli.frameworks.numpy` for how each is called).
``assert_gradient`` is the same for pytest: it raises AssertionError with the
table when a derivative is wrong (or could not be decided).

Functions of several arrays: :func:`gradcheck_cli.assert_gradients` with the
same keywords (``assert_gradients(affine, x, w, b, vjp=affine_vjp)``).
"""

from __future__ import annotations

from .errors import GradcheckError
from .results import CheckResult, RunResult

OPTIONS = {"rtol", "atol", "order", "seed", "methods", "dtype", "kwargs", "name", "mode",
           "full_limit"}
SCIPY = {"epsilon", "direction"}   # check_grad's own keywords: accepted, said not to apply


def check_gradient(func, grad=None, x0=None, *args, jacobian=None, vjp=None, jvp=None,
                   hessian=None, hvp=None, **options) -> CheckResult:
    """Check hand-written derivatives of ``func`` at ``x0`` (scipy's check_grad arguments).

    Args:
        func: f(x, *args) -> a float (or an array, with ``jacobian``/``vjp``/``jvp``).
        grad: ∇f(x, *args), or True when func returns (value, gradient).
        x0: the point: an array of any shape, or a float.
        args: further arguments of func and of every derivative, held constant.
        jacobian, vjp, jvp, hessian, hvp: other forms of derivative (keywords).
        options: ``rtol``, ``atol`` (numbers or per-column dicts), ``order``, ``seed``,
            ``methods``, ``dtype``, ``mode``, ``full_limit``, ``kwargs`` (keyword
            arguments of func), ``name``; scipy's ``epsilon`` and ``direction`` are
            accepted and noted as not used (the steps are chosen, and their error
            estimated, per element).

    Returns:
        The result: ``.status`` is "pass", "fail" or "inconclusive"; ``print(result)``
        shows the table.

    Raises:
        GradcheckError: bad input (no derivative given, a derivative that cannot be
            matched to the input, code that raises).
    """
    import numpy as np
    from .usercode import run_callable
    unknown = set(options) - OPTIONS - SCIPY
    if unknown:
        raise GradcheckError(f"unknown option {sorted(unknown)[0]!r}; options are "
                             f"{', '.join(sorted(OPTIONS))}")
    if x0 is None:
        raise GradcheckError("give the point x0: check_gradient(func, grad, x0, *args)")
    forms = {"gradient": grad, "jacobian": jacobian, "vjp": vjp, "jvp": jvp,
             "hessian": hessian, "hvp": hvp}
    forms = {k: v for k, v in forms.items() if v is not None and v is not False}
    if not forms:
        raise GradcheckError("give a derivative to check: grad (scipy's order: func, grad, "
                             "x0), or jacobian=, vjp=, jvp=, hessian=, hvp=")
    scipy_notes = [f"{k}={options.pop(k)!r} (scipy's check_grad) not used: the steps are "
                   "chosen, and their error estimated, per element" for k in SCIPY
                   if k in options]
    point = np.array(x0, dtype=np.float64)
    names = ["x"] + [f"args[{i}]" for i in range(len(args))]
    kwargs = dict(options.pop("kwargs", None) or {})
    label = options.pop("name", None) or getattr(func, "__name__", type(func).__name__)
    check = {"callable": func, "arguments": ([point, *args], kwargs, names, names[1:]),
             **forms, **options}
    result = run_callable(check, source="<python>", base=None, label=label)
    result.notes += scipy_notes
    return result


def assert_gradient(func, grad=None, x0=None, *args, **options) -> CheckResult:
    """:func:`check_gradient` for tests: AssertionError with the table unless it passes."""
    from .report.table import render
    result = check_gradient(func, grad, x0, *args, **options)
    if result.status != "pass":
        raise AssertionError("\n" + render(RunResult([result])))
    return result
