"""The Markdown report: error lines, counts, ranges, failure counts, --quiet.

Results are built directly from gradcheck_cli.results.
"""

import numpy as np

from gradcheck_cli.report.markdown import render
from gradcheck_cli.results import CheckResult, Row, RunResult, Verdict


def make(name, status="pass", kind="expression", wrong=0):
    v = Verdict("torch·rev", status, compared=40, wrong=wrong, worst=1,
                error=5.0 if status == "fail" else 1.8e-16,
                value=3.0, reference=2.0, tolerance=1e-12,
                reason="outside tolerance" if status == "fail" else None)
    return CheckResult(name=name, source="a.yaml", expression=["net"], lets={},
                       variables=["x"], wrt=["x"], order=1, npoints=40, methods=["torch·rev"],
                       kind=kind, points={"x": np.arange(40.0)},
                       rows=[Row((0, ("x",)), "∂f/∂x", -0.25, 1.5, {"torch·rev": v})])


def run():
    return RunResult([make("fine"), make("wrong", "fail", wrong=12),
                      CheckResult.errored("broken", "b.yaml", "cannot import 'net'\nno module")],
                     seconds=0.5)


def test_an_error_check_is_a_line_and_is_counted():
    text = render(run())
    assert "**3 checks: 1 passed, 1 failed, 1 error (0.50 s)**" in text
    assert "### ⚠️ error broken\n`b.yaml`\n\n- error: cannot import 'net' no module" in text


def test_quiet_keeps_failures_and_errors_only():
    text = render(run(), quiet=True)
    assert "### ❌ wrong" in text and "- error: cannot import 'net'" in text
    assert "fine" not in text


def test_failure_line_counts_the_wrong_values():
    text = render(run())
    assert ("- ∂f/∂x by torch·rev: outside tolerance at x=1 (12 of 40 values): "
            "got 3, reference 2 (tolerance 1e-12)") in text


def test_range_and_code_headers():
    text = render(RunResult([make("net", kind="code")]))
    assert "| gradient of | finite diff | torch·rev | verdict |" in text
    assert "| ∂f/∂x | -0.25 to 1.5 | ✅ 1.8e-16 | ✅ |" in text
    assert "`a.yaml` · `net`" in text


def test_inconclusive_cell_is_marked_with_its_figure():
    check = make("fd says maybe")
    check.rows[0].verdicts["torch·rev"].status = "inconclusive"
    text = render(RunResult([check]))
    assert "| ❔ inconclusive 1.8e-16 | ❔ inconclusive |" in text
    assert "1 inconclusive" in text


def test_na_reasons_are_listed_once_per_column():
    check = make("abs")
    check.methods = ["torch·rev", "complex-step"]
    reason = "complex step needs a real-analytic f; abs is not"
    second = Row((0, ("x", "x")), "∂²f/∂x²", 1.0, 1.0, {"torch·rev": check.rows[0].verdicts[
        "torch·rev"]})
    check.rows.append(second)
    for row in check.rows:
        row.verdicts["complex-step"] = Verdict("complex-step", "n/a", reason=reason)
    text = render(RunResult([check]))
    assert text.count(f"\n- complex-step n/a: {reason}\n") == 1, text
    assert " n/a:" not in render(RunResult([make("fine")]))
