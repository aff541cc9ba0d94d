"""JUnit XML: counts that match the testcases written, error testcases, failure text.

Results are built directly from gradcheck_cli.results.
"""

import xml.etree.ElementTree as ET

import numpy as np

from gradcheck_cli.report.junit import render
from gradcheck_cli.results import CheckResult, Row, RunResult, Verdict


def check(name, source, statuses, *, xfail=None):
    """A check with a row per status ("pass" or "fail") of one method."""
    rows = []
    for i, status in enumerate(statuses):
        v = Verdict("reverse", status, compared=40, error=5.0 if status == "fail" else 1e-16,
                    wrong=12 if status == "fail" else 0, worst=1, value=3.0, reference=2.0,
                    tolerance=1e-12, reason="outside tolerance" if status == "fail" else None)
        rows.append(Row((0, ("x",) * (i + 1)), f"row{i}", 2.0, 2.0, {"reverse": v}))
    return CheckResult(name=name, source=source, expression=["f"], lets={}, variables=["x"],
                       wrt=["x"], order=len(statuses), npoints=40, methods=["reverse"], rows=rows,
                       xfail=xfail, points={"x": np.arange(40.0)})


def run():
    return RunResult([
        check("two failing rows", "a.yaml", ["fail", "fail"]),
        check("another failure", "a.yaml", ["pass", "fail"]),
        check("fine", "a.yaml", ["pass"]),
        check("known bug", "a.yaml", ["fail"], xfail="issue 3"),
        check("nothing to compare", "b.yaml", ["n/a"]),
        CheckResult.errored("broken", "b.yaml", "field 'grd': unknown; did you mean 'grid'?"),
    ], seconds=1.0)


def parse(result):
    return ET.fromstring(render(result).split("\n", 1)[1])  # after the XML declaration


def assert_counts_match(element):
    cases = element.findall(".//testcase")
    assert element.get("tests") == str(len(cases))
    for outcome, attribute in (("failure", "failures"), ("error", "errors"),
                               ("skipped", "skipped")):
        n = sum(1 for case in cases if case.find(outcome) is not None)
        assert element.get(attribute) == str(n), (attribute, n)


def test_counts_match_the_testcases_written():
    root = parse(run())
    assert_counts_match(root)
    for suite in root.findall("testsuite"):
        assert_counts_match(suite)
    # one testcase per check, as many as the summary counts
    a, b = root.findall("testsuite")
    assert (a.get("tests"), a.get("failures"), a.get("skipped")) == ("4", "2", "1")
    assert (b.get("tests"), b.get("errors"), b.get("skipped")) == ("2", "1", "1")
    assert (root.get("tests"), root.get("failures"), root.get("errors"),
            root.get("skipped")) == ("6", "2", "1", "2")


def test_a_check_that_could_not_run_is_an_error_testcase():
    root = parse(run())
    case = root.find("testsuite[@name='b.yaml']/testcase[@name='broken']")
    error = case.find("error")
    assert error.get("message") == "field 'grd': unknown; did you mean 'grid'?"
    assert case.find("failure") is None


def test_failure_names_every_failing_row_and_how_many_values():
    root = parse(run())
    failure = root.find("testsuite/testcase[@name='two failing rows']/failure")
    assert failure.get("message") == ("row0 by reverse: outside tolerance at x=1 "
                                      "(12 of 40 values): got 3, reference 2")
    assert "row1 by reverse" in failure.text
