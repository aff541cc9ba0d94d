"""A check made ready to run: its program, the points, what to differentiate.

Specs and the command line both produce :class:`Problem` objects; every method,
the reference and the comparison consume them. Points are float64 columns, one
array per variable, all of the same length: methods work on all points at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .codegen import Program
from ..errors import GradcheckError

DerivKey = tuple[int, tuple[str, ...]]  # (output index, variables differentiated, in wrt order)

SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


@dataclass
class Problem:
    """One check, compiled.

    Attributes:
        name: the check's name (defaults to its expression).
        source: the spec file, or ``<command line>``.
        program: the function as a straight-line program over SymPy.
        wrt: variables differentiated, in order.
        order: highest derivative order requested.
        columns: float64 values of every program variable at every point.
        expect: the user's own derivatives, by key, as programs' outputs.
        rtol, atol: user tolerance overrides, by method name (``"*"`` for all).
        methods: the method names to run.
        xfail: reason the check is expected to fail, or None.
        seed: seed used for sampled points and subsets.
    """

    name: str
    source: str
    program: Program
    wrt: tuple[str, ...]
    order: int
    columns: dict[str, np.ndarray]
    expect: dict[DerivKey, sp.Expr] = field(default_factory=dict)
    rtol: dict[str, float] = field(default_factory=dict)
    atol: dict[str, float] = field(default_factory=dict)
    methods: tuple[str, ...] = ("symbolic", "fd", "reverse", "forward")
    backends: tuple = ()  # Backend method instances (framework columns)
    xfail: str | None = None
    seed: int = 0
    options: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)
    output_names: tuple | None = None   # complex checks: "Re f", "Im f"
    display: dict = field(default_factory=dict)   # variable -> how it reads ("Re z")

    @property
    def npoints(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 1

    @property
    def variable_names(self) -> list[str]:
        return [v.name for v in self.program.variables]

    @property
    def n_outputs(self) -> int:
        return len(self.program.outputs)

    def column_list(self, overrides: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """Variable columns in program order, with some replaced (for stencils)."""
        overrides = overrides or {}
        return [overrides.get(v.name, self.columns[v.name]) for v in self.program.variables]

    def keys(self, order: int | None = None) -> list[DerivKey]:
        """Every derivative key up to ``order``: partials with i <= j <= ... in wrt order."""
        order = self.order if order is None else order
        keys = []
        for k in range(1, order + 1):
            for idx in itertools.combinations_with_replacement(self.wrt, k):
                for out in range(self.n_outputs):
                    keys.append((out, idx))
        return sorted(keys, key=lambda key: (len(key[1]), key[0]))

    def output_label(self, out: int) -> str:
        if self.output_names:
            return self.output_names[out]
        return "f" if self.n_outputs == 1 else f"f{str(out + 1).translate(SUBSCRIPTS)}"

    def label(self, key: DerivKey) -> str:
        """∂f/∂x, ∂²f/∂x∂y, ∂²f₂/∂x² ..."""
        out, idx = key
        k = len(idx)
        top = "∂" if k == 1 else f"∂{str(k).translate(SUPERSCRIPTS)}"
        parts = []
        for var, group in itertools.groupby(idx):
            n = len(list(group))
            shown = self.display.get(var, var)
            parts.append(f"∂{shown}" + (str(n).translate(SUPERSCRIPTS) if n > 1 else ""))
        return f"{top}{self.output_label(out)}/{''.join(parts)}"


def parse_key(text: str) -> tuple[str, ...]:
    """'x' -> ('x',); 'x,y' -> ('x', 'y'); also accepts 'x, y' and 'x y'."""
    names = [t for t in text.replace(",", " ").split() if t]
    if not names:
        raise GradcheckError(f"empty derivative name {text!r}: use e.g. 'x' or 'x,y'")
    return tuple(names)


def make_points(*, at: dict | None, grid: dict | None, sample: dict | None,
                points: int | None, seed: int) -> dict[str, np.ndarray]:
    """Build the float64 columns of all points.

    ``at`` gives fixed values (a number, or a list: explicit points); ``grid``
    gives ``[start, stop, count]`` per variable, combined as a tensor grid;
    ``sample`` gives ``[low, high]`` per variable, drawn uniformly with ``seed``.

    Raises:
        GradcheckError: inconsistent sizes, a count below 1, low >= high.
    """
    at, grid, sample = at or {}, grid or {}, sample or {}
    both = set(at) & set(grid) | set(at) & set(sample) | set(grid) & set(sample)
    if both:
        raise GradcheckError(f"variable {sorted(both)[0]!r} is given more than once "
                             "(at, grid and sample must name different variables)")
    columns: dict[str, np.ndarray] = {}
    n = 1
    lists = {k: v for k, v in at.items() if isinstance(v, (list, tuple))}
    if lists:
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            raise GradcheckError("lists of points in 'at' must all have the same length")
        n = lengths.pop()
        if n == 0:
            raise GradcheckError("empty list of points in 'at'")
    if grid:
        if lists:
            raise GradcheckError("give explicit point lists in 'at' or a 'grid', not both")
        axes = []
        for name, (start, stop, count) in grid.items():
            if int(count) != count or count < 1:
                raise GradcheckError(f"grid count for {name!r} must be a whole number >= 1")
            axes.append(np.linspace(float(start), float(stop), int(count)))
        mesh = np.meshgrid(*axes, indexing="ij")
        for name, m in zip(grid, mesh):
            columns[name] = m.ravel()
        n = mesh[0].size
    if sample:
        if points is None:
            points = n if (grid or lists) else 100
        elif grid or lists:
            if points != n:
                raise GradcheckError(f"'points' ({points}) conflicts with the {n} grid points")
        if points < 1:
            raise GradcheckError("'points' must be at least 1")
        rng = np.random.default_rng(seed)
        for name, (low, high) in sample.items():
            if not float(low) < float(high):
                raise GradcheckError(f"sample range for {name!r} needs low < high")
            columns[name] = rng.uniform(float(low), float(high), size=points)
        n = points
    elif points is not None and not (grid or lists):
        raise GradcheckError("'points' needs 'sample' (random points in a box)")
    for name, value in at.items():
        try:
            columns[name] = np.array(value, dtype=float) if isinstance(value, (list, tuple)) \
                else np.full(n, float(value))
        except (TypeError, ValueError):
            raise GradcheckError(f"value of {name!r} is not a number ({value!r}); a complex "
                                 "point (1+2j) needs dtype: complex128 (or complex64)") \
                from None
    for name, col in columns.items():
        if not np.all(np.isfinite(col)):
            raise GradcheckError(f"value of {name!r} is not finite")
    return columns
