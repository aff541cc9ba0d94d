"""Richardson extrapolation of central differences (numpy only).

Shared by finite differences on expressions (:mod:`.finite_diff`) and on the
user's own code (:mod:`gradcheck_cli.usercode`), which must not load SymPy.
"""

from __future__ import annotations

import numpy as np


def richardson(up_half, down_half, up, down, h):
    """Central differences at h/2 and h, extrapolated: (value, truncation error, Σ|weights|).

    D(s) = (f(x+s) - f(x-s)) / 2s has error c s² + O(s⁴), so (4 D(h/2) - D(h)) / 3
    cancels the s² term; |value - D(h/2)| bounds what remains (conservatively).
    """
    d_half = (up_half - down_half) / h                               # D(h/2)
    d_full = (up - down) / (2 * h)                                   # D(h)
    value = (4 * d_half - d_full) / 3
    return value, np.abs(value - d_half), 3 / h
