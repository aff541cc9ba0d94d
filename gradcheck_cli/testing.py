"""``assert_gradients``: check the user's own code from a unit test.

Loads only what user-code checks need (numpy, the result classes, the chosen
framework): no SymPy, no SciPy, so a test suite pays for neither.
"""

from __future__ import annotations

import numpy as np

from .errors import GradcheckError
from .results import CheckResult, RunResult


def _framework_of(fn, inputs) -> str:
    """The framework of a callable or its inputs, from sys.modules (nothing is imported)."""
    import sys
    for thing in (fn, *inputs):
        module = type(thing).__module__.split(".")[0]
        for name in ("torch", "tensorflow", "jax", "jaxlib", "keras"):
            if module == name and name in sys.modules:
                return {"jaxlib": "jax", "keras": "tensorflow"}.get(name, name)
    raise GradcheckError("cannot tell the framework: pass backend='torch', 'tensorflow' or 'jax'")


def _dtype_name(value) -> str:
    """'float32' for a torch, TensorFlow, JAX or numpy array of float32, and so on."""
    dtype = getattr(value, "dtype", None)
    name = getattr(dtype, "name", None)  # numpy, JAX, TensorFlow
    return name if isinstance(name, str) else str(dtype).rsplit(".", 1)[-1]  # torch.float32


def _to_numpy(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch (numpy has no bfloat16: through float32, exactly)
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    array = np.asarray(value)
    if np.iscomplexobj(array):  # cast to real, it would be checked as something else
        raise GradcheckError(f"input {name!r} is complex: complex inputs are not supported "
                             "yet; check the real and imaginary parts as two real inputs")
    try:
        return array.astype(float)
    except (TypeError, ValueError):
        raise GradcheckError(f"input {name!r} is a {type(value).__name__}, not an array of "
                             "numbers") from None


def _parameter_names(fn, count: int) -> list[str]:
    """The names of fn's first ``count`` positional parameters (forward/call for a module
    or layer), so rows read ``x`` and ``weight``, not ``arg0``; ``arg{i}`` where unknown."""
    import inspect
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


OPTIONS = {"init", "rtol", "atol", "expect", "full_limit", "vmap", "order", "wrt", "mode",
           "methods"}


def assert_gradients(fn, *inputs, backend: str | None = None, params: bool = False,
                     reference=None, dtype: str | None = None, device: str = "cpu",
                     seed: int = 0, **options) -> CheckResult:
    """Assert that ``fn``'s gradients are right, for unit tests.

    Args:
        fn: a function, a custom op, a module/layer instance or class (``init=`` for its
            arguments).
        inputs: the positional inputs (arrays or tensors); all are differentiated.
        backend: ``torch``, ``tensorflow`` or ``jax`` (default: told from fn and inputs).
        params: also check the module's or layer's trainable parameters.
        reference: a plain implementation whose autodiff gradients must agree.
        dtype: ``float64``, ``float32``, ``float16`` or ``bfloat16`` (default: the
            inputs' dtype when they all have the same one, else float64).
        options: further spec keys: ``init``, ``rtol``, ``atol``, ``expect``, ``order``,
            ``wrt``, ``mode``, ``methods``, ``full_limit``, ``vmap``.

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
                             f"{', '.join(sorted(OPTIONS))}")
    framework = backend or _framework_of(fn, inputs)
    names = _parameter_names(fn, len(inputs))
    arrays = [_to_numpy(x, n) for x, n in zip(inputs, names)]
    if dtype is None:  # the inputs' own dtype when they share one, else float64
        dtypes = {_dtype_name(x) for x in inputs}
        dtype = dtypes.pop() if len(dtypes) == 1 and dtypes <= {"float32", "float16", "bfloat16"} \
            else "float64"
    check = {"callable": fn, "backend": framework, "params": params, "dtype": dtype,
             "device": device, "seed": seed, "reference": reference,
             "inputs": {n: {"value": a} for n, a in zip(names, arrays)}, **options}
    label = getattr(fn, "__name__", type(fn).__name__)
    result = run_callable(check, source="<python>", base=None, label=label)
    if result.failed:
        raise AssertionError("\n" + render(RunResult([result])))
    return result
