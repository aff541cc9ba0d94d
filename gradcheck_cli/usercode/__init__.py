"""The code target: the user's own function, custom op, module or layer -- no expression.

The framework's autodiff runs through the code as in training (reverse mode,
and forward mode where the framework has it) and is held against finite
differences in float64 on the same framework and device, with their own error
estimate as the tolerance, and against a plain ``reference`` implementation
when one is given. The pieces:

* :mod:`.build`: the check's options, validated (nothing imported yet);
* :mod:`.loader`: finding the code (``file.py:name``), imported as pytest imports tests;
* :mod:`.inputs`: the inputs, drawn or given, rounded to the dtype;
* :mod:`.function`: the code as F(x) -> a flat vector, with its derivatives;
* :mod:`.differences`: finite differences of it, the reference, with their error;
* :mod:`.noise`: how noisy the code is along an input (ECnoise);
* :mod:`.full`: small inputs, the full Jacobian;
* :mod:`.projections`: large inputs, random projections uᵀJv, and localization;
* :mod:`.second`: second derivatives (``order: 2``);
* :mod:`.structural`: torch.autograd.gradcheck's structural checks;
* :mod:`.target`: all of it as a target of :mod:`gradcheck_cli.pipeline`.

None of it imports SymPy or mpmath (only a string ``expect`` does).
"""

from __future__ import annotations


def run_callable(check: dict, *, source: str, base=None, label: str | None = None):
    """Build and run one code check (a spec entry as a dict).

    Raises:
        GradcheckError: the check cannot run (bad input, the code raised, no framework).
    """
    from ..pipeline import run_check
    from .build import build
    return run_check(build(check, source=source, base=base, label=label))
