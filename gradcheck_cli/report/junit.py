"""JUnit XML: a testsuite per source, a testcase per check, read by CI test reporters.

A check that fails gets one <failure> naming every failing derivative and method;
one that could not run gets an <error>. The counts on <testsuite> and
<testsuites> are counted from the testcases written, so they cannot disagree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from . import failure_text, failures, fmt

_COUNTS = {"failure": "failures", "error": "errors", "skipped": "skipped"}  # element: attribute
_ZERO = {"tests": "0", "failures": "0", "errors": "0", "skipped": "0"}  # set by _count, in this order


def _failure_lines(check) -> list[str]:
    lines = []
    for row, v in failures(check):
        line = failure_text(check, row, v)
        if v.value is not None:
            line += f": got {fmt(v.value, 10)}, reference {fmt(v.reference, 10)}"
        lines.append(line)
    return lines


def _testcase(suite: ET.Element, check) -> None:
    case = ET.SubElement(suite, "testcase", classname=check.source, name=check.name,
                         time=f"{sum(check.timings.values()):.3f}")
    status = check.status
    if status == "error":
        message = (check.error.splitlines() or [""])[0]
        error = ET.SubElement(case, "error", message=message, type="GradcheckError")
        error.text = check.error
    elif status in ("fail", "xpass"):
        lines = _failure_lines(check)
        message = lines[0] if lines else "passed but was marked xfail"
        failure = ET.SubElement(case, "failure", message=message, type="GradientMismatch")
        failure.text = "\n".join(lines + check.notes)
    elif status == "inconclusive":  # cannot be checked: an error, as the exit code says
        reasons = [f"{row.label} by {v.method}: {v.reason}" for row in check.rows
                   for v in row.verdicts.values() if v.status == "inconclusive"]
        error = ET.SubElement(case, "error", message=(reasons or ["inconclusive"])[0],
                              type="Inconclusive")
        error.text = "\n".join(reasons + check.notes)
    elif status == "xfail":
        ET.SubElement(case, "skipped", message=f"expected failure: {check.xfail}")
    elif status == "skipped":
        ET.SubElement(case, "skipped", message=check.skip_reason)
    ET.SubElement(case, "system-out").text = "\n".join(check.notes)


def _count(element: ET.Element) -> None:
    """Set tests, failures, errors and skipped from the testcases under element."""
    cases = element.findall(".//testcase")
    element.set("tests", str(len(cases)))
    for outcome, attribute in _COUNTS.items():
        element.set(attribute, str(sum(1 for case in cases if case.find(outcome) is not None)))


def render(run, **_) -> str:
    """The run as JUnit XML, one testsuite per spec file (or the command line)."""
    suites = ET.Element("testsuites", name="gradcheck", **_ZERO, time=f"{run.seconds:.3f}")
    by_source = defaultdict(list)
    for check in run.checks:
        by_source[check.source].append(check)
    for source, checks in by_source.items():
        suite = ET.SubElement(suites, "testsuite", name=source, **_ZERO,
                              time=f"{sum(sum(c.timings.values()) for c in checks):.3f}")
        for check in checks:
            _testcase(suite, check)
        _count(suite)
    _count(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
