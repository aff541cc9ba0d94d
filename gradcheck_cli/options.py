"""The options every check has, whatever its target: merged, validated, once.

Precedence: command-line ``overrides`` > the check's own keys > the file's
``defaults`` > built-in defaults. Each helper reads one option and raises
:class:`~gradcheck_cli.errors.GradcheckError` naming that field; the targets
call them, so a key means the same for an expression and for code, and a key
that cannot apply to a target is refused there by name (see :func:`refuse`).
"""

from __future__ import annotations

from . import columns, frameworks, tolerances
from .errors import GradcheckError

# Keys of a check, by the targets they apply to (the spec schema lists them all).
COMMON = ("name", "description", "rtol", "atol", "order", "seed", "methods", "wrt", "backend",
          "device", "dtype", "mode", "xfail", "expect")
EXPRESSION_ONLY = ("f", "let", "at", "grid", "sample", "points")
CODE_ONLY = ("callable", "init", "inputs", "kwargs", "params", "reference", "full_limit", "vmap",
             "nondiff", "nondet_tol", "arguments", "output", "batched", "layers", "gradient",
             "jacobian", "vjp", "jvp", "hessian", "hvp")


COMPLEX_OF = {"float64": "complex128", "float32": "complex64"}


def merge(defaults: dict | None, check: dict, overrides: dict | None) -> dict:
    """One dict of options: overrides > check > defaults (None means "not given").

    A precision asked for on the command line keeps a complex check complex:
    ``--dtype float32`` runs a ``dtype: complex128`` check in complex64."""
    merged = {k: v for k, v in (defaults or {}).items() if v is not None}
    merged.update({k: v for k, v in check.items() if v is not None})
    own = str(merged.get("dtype") or "")
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if own.startswith("complex") and merged.get("dtype") in COMPLEX_OF:
        merged["dtype"] = COMPLEX_OF[merged["dtype"]]
    return merged


def refuse(merged: dict, keys, target: str, given: dict | None = None) -> None:
    """Refuse keys that do not apply to this target, by name (never ignore them).

    Args:
        merged: the merged options.
        keys: the keys that do not apply.
        target: "an expression check" or "a code check", for the message.
        given: where each key came from, for the message (``{"points": "--points"}``).
    """
    for key in keys:
        if merged.get(key) not in (None, [], {}):
            where = (given or {}).get(key, key)
            raise GradcheckError(f"{where!r} does not apply to {target}", field=key)


def listify(value) -> list[str] | None:
    """'x,y' or 'x y' or ['x', 'y'] -> ['x', 'y']; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value]


def order(merged: dict, maximum: int = 6) -> int:
    value = merged.get("order", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise GradcheckError(f"order must be a whole number from 1 to {maximum}, got {value!r}",
                             field="order")
    return value


def seed(merged: dict) -> int:
    value = merged.get("seed", 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise GradcheckError(f"seed must be a whole number, got {value!r}", field="seed")
    return value


def dtype(merged: dict) -> str:
    value = str(merged.get("dtype") or "float64")
    if value not in tolerances.DTYPES:
        raise GradcheckError(f"unsupported dtype {value!r}; choose "
                             f"{', '.join(tolerances.DTYPES)}", field="dtype")
    return value


def device(merged: dict) -> str:
    value = str(merged.get("device") or "cpu")
    try:
        frameworks.parse_device(value)
    except GradcheckError as exc:
        raise exc.located(field="device") from None
    return value


def modes(merged: dict, default: str = "rev") -> list[str]:
    try:
        return frameworks.modes(merged.get("mode") or default)
    except GradcheckError as exc:
        raise exc.located(field="mode") from None


def backends(merged: dict) -> list[str]:
    """The frameworks asked for (``backend``), installed; none for ``none``."""
    spec = merged.get("backend")
    if isinstance(spec, list):
        spec = ",".join(map(str, spec))
    try:
        return frameworks.resolve(spec)
    except GradcheckError as exc:
        raise exc.located(field="backend") from None


def methods(merged: dict, target: str) -> tuple[str, ...]:
    """The built-in methods asked for, each applying to ``target`` ("expression" or "code").

    Without ``methods``, the defaults that apply to the target. A method named
    explicitly that cannot apply is refused: it would otherwise be silently absent.
    """
    names = listify(merged.get("methods"))
    try:
        if names is None:
            return columns.defaults(target)
        if not names:
            raise GradcheckError("'methods' is empty: name at least one, or leave it out")
        chosen = tuple(dict.fromkeys(columns.canonical(m) for m in names))
        for name in chosen:
            columns.require(name, target)
        return chosen
    except GradcheckError as exc:
        raise exc.located(field="methods") from None


def tolerance(merged: dict, field: str) -> dict[str, float]:
    """``rtol`` or ``atol``: finite, non-negative numbers, per column or for all."""
    try:
        return tolerances.user_tolerances(merged.get(field), field, columns.canonical_column)
    except GradcheckError as exc:
        raise exc.located(field=field) from None


def expected_failure(merged: dict) -> str | None:
    """The reason a check is expected to fail in this run, or None.

    ``xfail`` is a reason, ``true``, or ``{reason, dtype}`` where dtype (one or a
    list) limits it to those dtypes.
    """
    xfail = merged.get("xfail")
    if isinstance(xfail, dict):
        dtypes = xfail.get("dtype")
        dtypes = [dtypes] if isinstance(dtypes, str) else dtypes
        if dtypes is not None and str(merged.get("dtype") or "float64") not in dtypes:
            return None
        xfail = xfail["reason"]
    return (xfail if isinstance(xfail, str) else "expected to fail") if xfail else None
