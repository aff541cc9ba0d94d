"""The Python API: check expressions, spec files and code, get the results.

Nothing here prints, and nothing heavy loads at import: SymPy and mpmath only
when an expression is checked, a framework only when its column is computed.
"""

from __future__ import annotations

from .errors import GradcheckError
from .options import expected_failure  # noqa: F401  (part of this module's API)
from .pipeline import COMMAND_LINE, collect, load_spec, run, spec_files  # noqa: F401
from .results import CheckResult, RunResult  # noqa: F401  (part of this module's API)
from .testing import assert_gradients  # noqa: F401  (part of this module's API)

INLINE = {"at", "grid", "sample", "points", "expect", "name", "let", "inputs"}
OVERRIDES = {"order", "wrt", "rtol", "atol", "methods", "seed", "backend", "device", "dtype",
             "mode"}


def build_problem(check: dict, **kwargs):
    """An expression check compiled (see :func:`gradcheck_cli.expression.build.build_problem`)."""
    from .expression.build import build_problem as build
    return build(check, **kwargs)


def run_problem(problem) -> CheckResult:
    """Run one target (or a compiled expression problem); a check that cannot run is an
    error row."""
    from .pipeline import run_one
    if type(problem).__name__ == "Problem":
        from .expression.target import ExpressionTarget
        problem = ExpressionTarget(problem)
    return run_one(problem)


def check(*targets: str, **options) -> RunResult:
    """Check expressions, spec files or code (``file.py:function`` with ``inputs``).

    Args:
        targets: expressions, spec files or directories, ``file.py:function``.
        options: ``at``, ``grid``, ``sample``, ``points`` (expressions), ``inputs``
            (code: ``{"x": {"shape": [3, 4]}}``), ``expect``, ``name``, and
            ``order``, ``wrt``, ``rtol``, ``atol``, ``methods``, ``seed``,
            ``backend``, ``device``, ``dtype``, ``mode`` (for everything).

    Raises:
        GradcheckError: an unknown option, or a target that names nothing. A check
            that cannot run is an error row of the result (status "error").

    Example:
        >>> gradcheck_cli.check("exp(sin(x**2))", at={"x": 2}).ok
        True
    """
    unknown = set(options) - INLINE - OVERRIDES
    if unknown:
        raise GradcheckError(f"unknown option {sorted(unknown)[0]!r}; options are "
                             f"{', '.join(sorted(INLINE | OVERRIDES))}")
    inline = {k: v for k, v in options.items() if k in INLINE}
    overrides = {k: v for k, v in options.items() if k in OVERRIDES}
    return run(collect(list(targets), inline=inline, overrides=overrides))
