"""Reporters: a dict from format name to a renderer, imported on use.

Each reporter module has ``render(run, **options) -> str``; the table reporter
also has ``print_run(run, console, **options)``. Only reporters touch rich.
The helpers here are plain text, shared so every format words a result alike.
"""

from __future__ import annotations

import importlib

REPORTERS = {
    "table": ".table",
    "json": ".json",
    "markdown": ".markdown",
    "junit": ".junit",
}

# Check statuses in the order a summary names them, with their words.
_SUMMARY = [("pass", "passed"), ("fail", "failed"), ("error", "error"),
            ("inconclusive", "inconclusive"),
            ("xfail", "expected failure"), ("xpass", "unexpectedly passed"),
            ("skipped", "skipped (nothing to compare)")]
_PLURAL = {"error", "expected failure"}          # the words that take an 's'


def reporter(name: str):
    """The reporter module for a format name."""
    return importlib.import_module(REPORTERS[name], __package__)


def fmt(value, digits: int = 6) -> str:
    """A number for humans: 6 significant digits, 'n/a' for None."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value + 0.0:.{digits}g}"  # + 0.0: -0.0 prints as 0


def range_text(low, high, digits: int = 4) -> str:
    """A reference over the points: '-1.22667', or '-3.142 to 3.142'.

    'to', not '…': an ellipsis in a table reads as a number cut short.
    """
    if low is None:
        return "n/a"
    if low == high:
        return fmt(low)
    return f"{fmt(low, digits)} to {fmt(high, digits)}"


def err_text(verdict) -> str:
    """A verdict's worst error as text: '3.1e-12', 'abs 2e-17', 'n/a'."""
    if verdict.status == "n/a":
        return "n/a"
    if verdict.reason == "non-finite":
        return "non-finite"
    if verdict.error_kind == "order":  # the Taylor test: the remainder's observed order
        return "sinks" if verdict.error is None else f"order {verdict.error:.2f}"
    if verdict.error is None:
        return "—"
    if verdict.error == 0:
        return "0" if verdict.error_kind == "abs" else "exact"
    text = f"{verdict.error:.1e}"
    return f"abs {text}" if verdict.error_kind == "abs" else text


def failures(check):
    """(row, verdict) for every failing method of every row of a check."""
    for row in check.rows:
        for v in row.verdicts.values():
            if v.status == "fail":
                yield row, v


def undecided(check):
    """(row, verdict) for the inconclusive verdicts of rows no column decided: why, with
    the figures (the noise against what it would take to decide)."""
    for row in check.rows:
        if row.status == "inconclusive":
            for v in row.verdicts.values():
                if v.status == "inconclusive" and v.reason:
                    yield row, v


def failure_text(check, row, verdict) -> str:
    """'∂f/∂x by torch·rev: outside tolerance at x=1 (12 of 40 values)'.

    The count is given only when more than one value is wrong: one wrong value
    is the worst one, already named by its point.
    """
    text = f"{row.label} by {method_title(verdict.method)}: {verdict.reason or 'failed'}"
    where = check.where(verdict)
    if where:
        text += f" at {where}"
    if verdict.wrong > 1:
        text += f" ({verdict.wrong} of {verdict.compared} values)"
    return text


def values_text(verdict, digits: int = 12) -> str:
    """'got 1.5, reference 1.2, |difference| 0.3 > tolerance 1e-12', or '' without values."""
    if verdict.value is None:
        return ""
    diff = abs(verdict.value - verdict.reference) if verdict.value == verdict.value else None
    return (f"got {fmt(verdict.value, digits)}, reference {fmt(verdict.reference, digits)}, "
            f"|difference| {fmt(diff, 3)} > tolerance {fmt(verdict.tolerance, 3)}")


def summary(run) -> str:
    """'12 checks: 10 passed, 1 failed, 1 error (0.8 s)'."""
    c = run.counts()
    parts = [f"{c.get('pass', 0)} passed"]
    for status, word in _SUMMARY[1:]:
        n = c.get(status, 0)
        if n:
            parts.append(f"{n} {word}{'s' if n > 1 and word in _PLURAL else ''}")
    n = len(run.checks)
    return f"{n} check{'s' if n != 1 else ''}: {', '.join(parts)} ({run.seconds:.2f} s)"


def method_title(name: str) -> str:
    return {"fd": "finite diff", "symbolic": "symbolic", "reverse": "reverse",
            "expect": "expect", "identity": "fwd⇄rev", "taylor": "taylor"}.get(name, name)


def na_notes(check) -> list[str]:
    """'complex-step n/a: complex step needs a real-analytic f; abs is not ...': why a
    column shows n/a, once per column and reason however many rows it covers. A
    skipped check has its own line saying why nothing was compared."""
    if check.status == "skipped":
        return []
    notes = {}
    for name in check.methods:
        for row in check.rows:
            v = row.verdicts.get(name)
            if v is not None and v.status == "n/a" and v.reason:
                notes.setdefault(f"{method_title(name)} n/a: {v.reason}")
    return list(notes)


def framework_notes(check) -> list[str]:
    """'torch·rev: torch 2.13.0 on cpu, float64, 21.3 ms' for each framework column."""
    notes = []
    for name, info in check.method_info.items():
        if "framework" in info:
            ms = check.timings.get(name, 0.0) * 1e3
            notes.append(f"{name}: {info['framework']} {info['version']} on {info['device']}, "
                         f"{info['dtype']}, {ms:.1f} ms")
    return notes
