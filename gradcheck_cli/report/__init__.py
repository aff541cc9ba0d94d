"""Reporters: a dict from format name to a renderer, imported on use.

Each reporter module has ``render(run, **options) -> str``; the table reporter
also has ``print_run(run, console, **options)``. Only reporters touch rich.
"""

from __future__ import annotations

import importlib

REPORTERS = {
    "table": ".table",
    "json": ".json",
    "markdown": ".markdown",
    "junit": ".junit",
}


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


def err_text(verdict) -> str:
    """A verdict's worst error as text: '3.1e-12', 'abs 2e-17', 'n/a'."""
    if verdict.status == "n/a":
        return "n/a"
    if verdict.reason == "non-finite":
        return "non-finite"
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


def summary(run) -> str:
    """'12 checks: 11 passed, 1 failed (0.8 s)'."""
    c = run.counts()
    parts = [f"{c['pass']} passed"]
    if c["fail"]:
        parts.append(f"{c['fail']} failed")
    if c["xfail"]:
        parts.append(f"{c['xfail']} expected failure{'s' if c['xfail'] > 1 else ''}")
    if c["xpass"]:
        parts.append(f"{c['xpass']} unexpectedly passed")
    if c["skipped"]:
        parts.append(f"{c['skipped']} skipped (nothing to compare)")
    n = len(run.checks)
    return f"{n} check{'s' if n != 1 else ''}: {', '.join(parts)} ({run.seconds:.2f} s)"


def method_title(name: str) -> str:
    return {"fd": "finite diff", "symbolic": "symbolic", "reverse": "reverse",
            "expect": "expect"}.get(name, name)


def framework_notes(check) -> list[str]:
    """'torch·rev: torch 2.13.0 on cpu, float64, 21.3 ms' for each framework column."""
    notes = []
    for name, info in check.method_info.items():
        if "framework" in info:
            ms = check.timings.get(name, 0.0) * 1e3
            notes.append(f"{name}: {info['framework']} {info['version']} on {info['device']}, "
                         f"{info['dtype']}, {ms:.1f} ms")
    return notes
