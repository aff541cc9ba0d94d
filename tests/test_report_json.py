"""The JSON report: error checks, counts and exit code, Verdict.wrong.

Results are built directly from gradcheck_cli.results.
"""

import json

from gradcheck_cli.report.json import render
from gradcheck_cli.results import CheckResult, Row, RunResult, Verdict


def passing(kind="expression"):
    v = Verdict("reverse", "pass", compared=40, error=1.8e-16)
    return CheckResult(name="fine", source="a.yaml", expression=["f"], lets={}, variables=["x"],
                       wrt=["x"], order=1, npoints=40, methods=["reverse"], kind=kind,
                       rows=[Row((0, ("x",)), "∂f/∂x", 1.0, 2.0, {"reverse": v})])


def failing():
    check = passing()
    check.name = "wrong"
    check.rows[0].verdicts["reverse"] = Verdict("reverse", "fail", compared=40, wrong=12,
                                                error=5.0, reason="outside tolerance")
    return check


def test_an_error_check_has_its_message_status_and_count():
    run = RunResult([passing(), failing(),
                     CheckResult.errored("broken", "b.yaml", "cannot import 'net'", "code")])
    data = json.loads(render(run))
    broken = data["checks"][2]
    assert broken["status"] == "error" and broken["error"] == "cannot import 'net'"
    assert broken["kind"] == "code" and broken["ok"] is False and broken["rows"] == []
    assert data["checks"][0]["error"] is None and data["checks"][0]["kind"] == "expression"
    assert data["counts"] == {"pass": 1, "fail": 1, "xfail": 0, "xpass": 0, "skipped": 0,
                              "error": 1, "inconclusive": 0}
    assert data["exit_code"] == 2 and data["ok"] is False


def test_a_verdict_says_how_many_values_are_wrong():
    data = json.loads(render(RunResult([failing()])))
    verdict = data["checks"][0]["rows"][0]["methods"]["reverse"]
    assert (verdict["compared"], verdict["wrong"]) == (40, 12)
    assert data["exit_code"] == 1
