"""``assert_gradients``: check the user's own code from a unit test.

Loads only what code checks need (numpy, the result classes, the chosen
framework): no SymPy, no SciPy, so a test suite pays for neither.
"""

from __future__ import annotations

import inspect
import sys

from .errors import GradcheckError
from .results import CheckResult, RunResult

OPTIONS = {"init", "rtol", "atol", "expect", "full_limit", "vmap", "order", "wrt", "mode",
           "methods", "nondet_tol", "output", "batched", "layers", "gradient", "jacobian", "vjp",
           "jvp", "hessian", "hvp"}
_ROOTS = {"torch": "torch", "tensorflow": "tensorflow", "keras": "tensorflow", "jax": "jax",
          "jaxlib": "jax"}


def _leaves(values) -> list:
    from .usercode.tree import flatten
    return [leaf.value for leaf in flatten(list(values), "")[0]]


def _framework_of(fn, leaves) -> str:
    """The framework of a callable or its inputs, from sys.modules (nothing is imported)."""
    for thing in (fn, *leaves):
        root = type(thing).__module__.split(".")[0]
        if root in _ROOTS and root in sys.modules:
            return _ROOTS[root]
    from .frameworks import detect
    found = detect(fn)
    if len(found) == 1:
        return found.pop()
    raise GradcheckError("cannot tell the framework: pass backend='torch', 'tensorflow' or 'jax'")


def _dtype_name(value) -> str | None:
    """'float32' for a torch, TensorFlow, JAX or numpy float32 array (complex64 counts as
    float32); None for anything that is not a float or complex array."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None
    name = getattr(dtype, "name", None)  # numpy, JAX, TensorFlow
    name = name if isinstance(name, str) else str(dtype).rsplit(".", 1)[-1]  # torch.float32
    return {"complex128": "float64", "complex64": "float32"}.get(name, name) \
        if name.startswith(("float", "bfloat", "complex")) else None


def _parameter_names(fn, count: int) -> list[str]:
    """The names of fn's first ``count`` positional parameters (forward/call for a module
    or layer), so rows read ``x`` and ``weight``, not ``arg0``; ``arg{i}`` where unknown."""
    target = fn
    for attr in ("forward", "call"):
        if hasattr(fn, attr) and not inspect.isfunction(fn):
            target = getattr(fn, attr)
            break
    try:
        params = [p for p in inspect.signature(target).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if isinstance(fn, type) and params and params[0].name == "self":
        params = params[1:]
    names = [p.name for p in params[:count]]
    return names + [f"arg{i}" for i in range(len(names), count)]


def assert_gradients(fn, *args, kwargs: dict | None = None, backend: str | None = None,
                     params: bool = False, reference=None, dtype: str | None = None,
                     device: str = "cpu", seed: int = 0, nondiff=None,
                     **options) -> CheckResult:
    """Assert that ``fn``'s gradients are right, for unit tests.

    Args:
        fn: a function, a custom op, a module/layer instance or class (``init=`` for its
            arguments).
        args: the positional arguments, of any kind and nesting: float tensors and arrays
            are differentiated (complex ones through their real and imaginary parts, sparse
            ones through their values); integers, booleans, None, strings, integer and
            boolean tensors are passed through unchanged.
        kwargs: the keyword arguments, likewise.
        backend: ``torch``, ``tensorflow`` or ``jax`` (default: told from fn and inputs).
        params: also check the module's or layer's trainable parameters.
        reference: a plain implementation whose autodiff gradients must agree.
        dtype: ``float64``, ``float32``, ``float16`` or ``bfloat16`` (default: the
            inputs' dtype when they all have the same one, else float64).
        nondiff: names (or paths, ``params["w"]``) of float inputs to hold constant. torch
            tensors can say it themselves: when some float tensor has requires_grad=True,
            those without it are held constant, as in torch.autograd.gradcheck.
        options: further spec keys: ``wrt`` (the only inputs to differentiate), ``init``,
            ``rtol``, ``atol``, ``expect``, ``order``, ``mode``, ``methods``,
            ``full_limit``, ``vmap``, ``nondet_tol``, ``output`` (a function applied to the
            output before comparing, as OpInfo's output_process_fn_grad), ``batched``
            (False, or the modes, ``["rev"]``, whose vmapped form is checked too).

    Returns:
        The check's result, when it passes.

    Raises:
        AssertionError: with the discrepancy table as plain text.
        GradcheckError: bad input (no framework, code that cannot run).
    """
    from .report.table import render
    from .usercode import run_callable
    unknown = set(options) - OPTIONS
    if unknown:
        raise GradcheckError(f"unknown option {sorted(unknown)[0]!r}; options are "
                             f"{', '.join(sorted(OPTIONS | {'kwargs', 'nondiff'}))}")
    kwargs = dict(kwargs or {})
    leaves = _leaves([*args, *kwargs.values()])
    numpy = any(options.get(k) is not None for k in ("gradient", "jacobian", "vjp", "jvp",
                                                      "hessian", "hvp"))
    framework = backend if backend or numpy else _framework_of(fn, leaves)
    names = _parameter_names(fn, len(args))
    if dtype is None:  # the inputs' own dtype when they share one, else float64
        dtypes = {d for d in map(_dtype_name, leaves) if d}
        dtype = dtypes.pop() if len(dtypes) == 1 and dtypes <= {"float32", "float16",
                                                               "bfloat16"} else "float64"
    check = {"callable": fn, "backend": framework, "params": params, "dtype": dtype,
             "device": device, "seed": seed, "reference": reference, "nondiff": nondiff,
             "arguments": (list(args), kwargs, names, []), **options}
    label = getattr(fn, "__name__", type(fn).__name__)
    result = run_callable(check, source="<python>", base=None, label=label)
    if result.failed or result.status == "inconclusive":  # could not decide: not a pass
        raise AssertionError("\n" + render(RunResult([result])))
    return result
