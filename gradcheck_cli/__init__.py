"""gradcheck: verify derivatives four independent ways.

``import gradcheck_cli`` is cheap: the library (SymPy, numpy) loads on first
use of :func:`check`, and no framework (torch, tensorflow, jax) is imported
unless a backend is asked for.
"""

from .errors import GradcheckError

__version__ = "0.1.0"
__all__ = ["GradcheckError", "check", "assert_gradients", "check_gradient", "assert_gradient",
           "check_engine", "assert_engine", "RunResult", "CheckResult", "__version__"]


def __getattr__(name):
    if name == "check":
        from .api import check
        return check
    if name == "assert_gradients":
        from .testing import assert_gradients
        return assert_gradients
    if name in ("check_gradient", "assert_gradient"):
        from . import handwritten
        return getattr(handwritten, name)
    if name in ("check_engine", "assert_engine"):
        from . import engine
        return getattr(engine, name)
    if name in ("CheckResult", "RunResult"):
        from . import results
        return getattr(results, name)
    raise AttributeError(f"module 'gradcheck_cli' has no attribute {name!r}")
