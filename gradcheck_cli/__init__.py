"""gradcheck: verify derivatives four independent ways.

``import gradcheck_cli`` is cheap: the library (SymPy, numpy) loads on first
use of :func:`check`, and no framework (torch, tensorflow, jax) is imported
unless a backend is asked for.
"""

from .errors import GradcheckError

__version__ = "0.1.0"
__all__ = ["GradcheckError", "check", "assert_gradients", "RunResult", "CheckResult",
           "__version__"]


def __getattr__(name):
    if name in ("check", "RunResult", "assert_gradients"):
        from . import api
        return getattr(api, name)
    if name == "CheckResult":
        from .compare import CheckResult
        return CheckResult
    raise AttributeError(f"module 'gradcheck_cli' has no attribute {name!r}")
