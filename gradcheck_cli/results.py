"""The results of checks: a verdict per method and derivative, a row per derivative.

Plain data (numpy and the standard library only), shared by expression checks
(:mod:`gradcheck_cli.compare`) and user-code checks (:mod:`gradcheck_cli.usercode`),
so a user-code check loads neither SymPy nor SciPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


# columns that compare two of the code's own derivatives with each other, not with a
# reference: they can show a derivative wrong, never right (see Row.status)
CONSISTENCY = ("fwd⇄rev",)


@dataclass
class Verdict:
    """One method on one derivative, over all compared points."""

    method: str
    status: str                      # "pass", "fail", "inconclusive" (could not decide), or
                                     # "n/a" (the method could not apply here)
    compared: int = 0                # values compared
    wrong: int = 0                   # of those, how many are outside their tolerance
    excluded: int = 0                # values not compared: a stencil across a kink or jump
    error: float | None = None       # worst error: relative, or absolute near zero
    error_kind: str = "rel"
    worst: int | None = None         # index of the point furthest outside tolerance
    value: float | None = None       # the method's value there
    reference: float | None = None   # the reference there
    tolerance: float | None = None   # the allowed |value - ref| there
    reason: str | None = None
    location: str | None = None      # where, when not a point (user code: "x[2, 1]")

    def to_dict(self) -> dict:
        return {k: _jsonable(v) for k, v in self.__dict__.items()}


@dataclass
class Row:
    """One derivative component: its reference and every method's verdict."""

    key: tuple
    label: str
    ref_min: float | None
    ref_max: float | None
    verdicts: dict[str, Verdict]
    excluded: int = 0
    kinks: int = 0

    @property
    def status(self) -> str:
        """"fail" if a method fails, "pass" if one decided, "inconclusive" if methods
        compared but none could decide (finite differences too noisy), else "n/a".

        A consistency check (fwd⇄rev: forward and reverse mode agree) fails a row but
        never passes one alone: two rules wrong by the same factor agree."""
        statuses = [v.status for v in self.verdicts.values()]
        if "fail" in statuses:
            return "fail"
        if any(v.status == "pass" and v.method not in CONSISTENCY
               for v in self.verdicts.values()):
            return "pass"
        if "inconclusive" in statuses or "pass" in statuses:
            return "inconclusive"
        return "n/a"


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    source: str
    expression: list[str]
    lets: dict[str, str]
    variables: list[str]
    wrt: list[str]
    order: int
    npoints: int
    methods: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    method_info: dict[str, dict] = field(default_factory=dict)
    reference_points: int = 0
    xfail: str | None = None
    points: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    kind: str = "expression"          # or "code": the user's own callable
    error: str | None = None          # the check could not be run: bad input or environment

    @classmethod
    def errored(cls, name: str, source: str, message: str, kind: str = "expression",
                xfail: str | None = None) -> "CheckResult":
        """A check that could not run: an error row, reported with the others."""
        return cls(name=name, source=source, expression=[], lets={}, variables=[], wrt=[],
                   order=0, npoints=0, methods=[], rows=[], kind=kind, error=message,
                   xfail=xfail)

    @property
    def failed(self) -> bool:
        return any(r.status == "fail" for r in self.rows)

    @property
    def compared_nothing(self) -> bool:
        """No method compared a derivative at any point (all outside the domain, say)."""
        return all(r.status == "n/a" for r in self.rows)

    @property
    def status(self) -> str:
        """pass, fail, xfail/xpass (marked as an expected failure), skipped (nothing
        compared), inconclusive (a derivative no method could decide), or error (the check
        could not run)."""
        if self.error is not None:
            return "error"
        undecided = any(r.status == "inconclusive" for r in self.rows)
        if not self.failed and not undecided and self.compared_nothing:
            return "skipped"
        if self.xfail:
            return "xfail" if self.failed or undecided else "xpass"
        return "fail" if self.failed else "inconclusive" if undecided else "pass"

    @property
    def skip_reason(self) -> str:
        """Why a skipped check compared nothing, in a line."""
        reasons = [v.reason for r in self.rows for v in r.verdicts.values() if v.reason]
        excluded = max((r.excluded for r in self.rows), default=0)
        if excluded == self.npoints and self.npoints:
            return ("nothing to compare: at every point f or its derivative has no finite "
                    "float64 value (outside the domain, or beyond float64's range)")
        return "nothing to compare" + (f": {reasons[0]}" if reasons else "")

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "xfail", "skipped")

    def point(self, index: int | None) -> dict[str, float]:
        if index is None:
            return {}
        return {k: float(v[index]) for k, v in self.points.items()}

    def point_text(self, index: int | None) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.point(index).items())

    def __rich__(self):
        """The check as rich renders it (terminal, and Jupyter through _repr_html_)."""
        from .report.table import check_renderable
        return check_renderable(self)

    def _repr_html_(self) -> str:
        from .report.table import to_html
        return to_html(self)

    def where(self, verdict: "Verdict") -> str:
        """Where a verdict's worst value is: a point, or a location in user code."""
        return verdict.location or self.point_text(verdict.worst)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _jsonable(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if np.isfinite(v) else str(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class RunResult:
    """All checks of one run."""

    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when every check passes (or fails as expected); 2 when a check could not
        run (bad input or environment) or could not decide (inconclusive); 1 when a
        discrepancy was found."""
        if any(c.status in ("error", "inconclusive") for c in self.checks):
            return 2
        return 0 if self.ok else 1

    def __rich__(self):
        from .report.table import run_renderable
        return run_renderable(self)

    def _repr_html_(self) -> str:
        from .report.table import to_html
        return to_html(self)

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "xfail": 0, "xpass": 0, "skipped": 0, "inconclusive": 0,
               "error": 0}
        for c in self.checks:
            out[c.status] += 1
        return out
