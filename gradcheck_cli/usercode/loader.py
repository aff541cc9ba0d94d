"""Finding the user's code: ``path/to/file.py:attr`` or ``package.module:attr``.

User code runs as ordinary Python, exactly as pytest runs test files: importing
a file executes it. Only point gradcheck at code you would run yourself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import GradcheckError

# Before the user's code imports TensorFlow: its C++ log lines are noise in a report.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def load(target: str, base: Path | None = None):
    """The object named by ``target``.

    Args:
        target: ``file.py:attr`` (relative to ``base``, the spec's folder) or
            ``package.module:attr``; ``attr`` may be dotted (``Class.method``).
        base: folder that relative file paths start from.

    Raises:
        GradcheckError: the file or module cannot be imported, or has no such attribute.
    """
    if not isinstance(target, str):
        return target  # already an object (the Python API passes functions directly)
    if ":" not in target:
        raise GradcheckError(f"expected 'file.py:name' or 'package.module:name', got {target!r}")
    where, _, attr = target.rpartition(":")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise GradcheckError(f"file not found: {path}")
        module = _import_file(path)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # the user's module may raise anything on import
            raise GradcheckError(f"cannot import module {where!r}: "
                                 f"{type(exc).__name__}: {exc}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise GradcheckError(f"{where!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _import_file(path: Path):
    name = "gradcheck_user_" + "_".join(path.resolve().with_suffix("").parts[-3:]).replace("-", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours, as pytest allows
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise GradcheckError(f"importing {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module
