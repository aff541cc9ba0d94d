"""The command line, driven through typer's CliRunner and, for imports, a subprocess."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradcheck_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_inline_expression_passes():
    r = invoke("exp(sin(x**2))", "--at", "x=2")
    assert r.exit_code == 0, r.output
    assert "∂f/∂x" in r.output and "-1.22666" in r.output
    assert "1 check: 1 passed" in r.output


def test_issue_examples_run():
    assert invoke("sin(pi*x)", "--grid", "x=-1:1:50", "--order", "2").exit_code == 0
    r = invoke("exp(x)*sin(x*y)", "--sample", "x=1:2", "--sample", "y=0:3.14159",
               "--points", "200", "--seed", "0")
    assert r.exit_code == 0, r.output
    assert "200 points" in r.output
    assert invoke("x**2 - 2*x + 1", "--grid", "x=-2:2:41", "--expect", "x=2*x - 2").exit_code == 0


def test_wrong_expectation_exits_1_and_names_the_point():
    r = invoke("x**2 - 2*x + 1", "--grid", "x=-2:2:41", "--expect", "x=2*x - 3")
    assert r.exit_code == 1
    assert "expect" in r.output and "outside tolerance" in r.output


@pytest.mark.parametrize("args, fragment", [
    (["__import__('os').system('touch /tmp/gradcheck_cli_pwned')", "--at", "x=1"],
     "only functions of the table"),
    (["sin(x)", "--at", "y=1"], "unknown variable 'y'"),
    (["sin(x)*z", "--at", "x=1"], "variable 'z' has no value"),
    (["sin(x)", "--at", "x"], "expected NAME=VALUE"),
    (["sin(x)", "--grid", "x=0:1"], "start:stop:count"),
    (["sin(x)", "--at", "x=1", "--methods", "magic"], "unknown method 'magic'"),
    (["sin(x)", "--at", "x=1", "--wrt", "q"], "cannot differentiate with respect to 'q'"),
    (["missing.yaml"], "file not found"),
    (["sin(x)", "--at", "x=1", "--format", "xml"], "unknown format"),
])
def test_bad_input_exits_2_with_one_line(args, fragment):
    r = invoke(*args)
    assert r.exit_code == 2
    assert fragment in r.output
    assert "Traceback" not in r.output
    assert not Path("/tmp/gradcheck_cli_pwned").exists()


def test_json_format_is_complete():
    r = invoke("x*y", "--at", "x=2,y=3", "--order", "2", "--format", "json", "--backend", "none")
    assert r.exit_code == 0
    data = json.loads(r.output)
    check = data["checks"][0]
    labels = [row["label"] for row in check["rows"]]
    assert labels == ["∂f/∂x", "∂f/∂y", "∂²f/∂x²", "∂²f/∂x∂y", "∂²f/∂y²"]
    assert check["rows"][0]["reference"]["min"] == 3.0
    assert check["rows"][3]["methods"]["reverse"]["value"] == 1.0
    assert set(check["rows"][0]["methods"]) == {"symbolic", "fd", "reverse", "forward"}
    assert data["exit_code"] == 0 and data["counts"]["pass"] == 1


def test_report_files_and_junit_parses(tmp_path):
    junit, js, md = tmp_path / "r.xml", tmp_path / "r.json", tmp_path / "r.md"
    r = invoke("abs(x)", "--at", "x=0", "--expect", "x=3", "--junit", str(junit),
               "--json", str(js), "--markdown", str(md))
    assert r.exit_code == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "1"
    case = root.find("testsuite/testcase")
    assert case.find("failure") is not None
    assert "subgradient" in case.find("failure").get("message")
    assert json.loads(js.read_text())["ok"] is False
    assert "| ∂f/∂x |" in md.read_text()


def test_a_check_that_compares_nothing_is_skipped_not_passed(tmp_path):
    # 1/x at 0: no derivative exists, so no method is compared; saying "passed" would be a lie
    junit = tmp_path / "r.xml"
    r = invoke("1/x", "--at", "x=0", "--backend", "none", "--junit", str(junit))
    assert r.exit_code == 0, r.output
    assert "0 passed, 1 skipped (nothing to compare)" in r.output
    assert "outside the domain (f or the reference not finite), excluded: 1" in r.output
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert "no finite float64 value" in case.find("skipped").get("message")
    data = json.loads(invoke("sqrt(x)", "--grid", "x=-2:-1:3", "--backend", "none",
                             "--format", "json").output)
    assert data["checks"][0]["status"] == "skipped" and data["counts"]["skipped"] == 1
    assert data["checks"][0]["rows"][0]["status"] == "n/a"
    # one point inside the domain is enough to pass
    r = invoke("sqrt(x)", "--grid", "x=-1:1:3", "--backend", "none")
    assert r.exit_code == 0 and "1 check: 1 passed (" in r.output


def test_markdown_format():
    r = invoke("sin(x)", "--at", "x=1", "--format", "markdown")
    assert r.exit_code == 0 and r.output.startswith("## gradcheck")


def test_methods_subset_and_quiet():
    r = invoke("sin(x)", "--at", "x=1", "--methods", "reverse", "--quiet")
    assert r.exit_code == 0
    assert "1 check: 1 passed" in r.output and "∂f/∂x" not in r.output


def test_spec_directory_and_xfail():
    r = invoke(str(ROOT / "specs"), "--quiet")
    assert r.exit_code == 0, r.output
    assert "expected failure" in r.output


def _imports_after(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(m for m in ('sympy','numpy','torch',"
                          "'tensorflow','jax') if m in sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_and_import_are_light():
    assert _imports_after("import gradcheck_cli") == []
    code = ("import sys\nfrom gradcheck_cli.cli import app\nsys.argv=['gradcheck','--help']\n"
            "try:\n    app(prog_name='gradcheck')\nexcept SystemExit:\n    pass")
    assert _imports_after(code) == []


def test_check_without_backend_imports_no_framework():
    code = "import gradcheck_cli\ngradcheck_cli.check('sin(x)', at={'x': 1}, backend='none')"
    assert _imports_after(code) == ["numpy", "sympy"]


def test_python_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "gradcheck_cli", "x**2", "--at", "x=3",
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert json.loads(out.stdout)["checks"][0]["rows"][0]["reference"]["min"] == 6.0


@pytest.mark.parametrize("args", [["--at", "x=-1,x=0"], ["--at", "x=-1", "--at", "x=0"]])
def test_a_variable_given_twice_is_two_points(args):
    r = invoke("x**3", *args, "--backend", "none", "--format", "json")
    assert r.exit_code == 0, r.output
    check = json.loads(r.output)["checks"][0]
    assert check["points"] == 2
    assert check["rows"][0]["reference"] == {"min": 0.0, "max": 3.0}


def test_points_given_with_other_variables_held():
    r = invoke("x*y", "--at", "x=1,y=2", "--at", "x=3", "--backend", "none", "--format", "json")
    check = json.loads(r.output)["checks"][0]
    assert check["points"] == 2   # y = 2 at both
    r = invoke("x*y", "--at", "x=1,x=2,y=1,y=2,y=3", "--backend", "none")
    assert r.exit_code == 2 and "same number of times" in r.output


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_command_line_tolerance_must_be_finite_and_non_negative(value):
    r = invoke("x**2", "--at", "x=1", f"--rtol={value}", "--backend", "none")
    assert r.exit_code == 2 and "finite and non-negative" in r.output
    assert "Traceback" not in r.output


def test_a_check_that_errors_does_not_stop_the_others(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "checks:\n  - name: first\n    f: sin(x)\n    at: {x: 1}\n    backend: none\n"
        "  - name: broken\n    f: sin(x\n    at: {x: 1}\n"
        "  - name: last\n    f: x**2\n    at: {x: 3}\n    expect: {x: 5}\n    backend: none\n")
    r = invoke(str(tmp_path / "s.yaml"))
    assert r.exit_code == 2                          # an error: 2, whatever else happened
    assert "first" in r.output and "last" in r.output
    assert "check 'broken'" in r.output and "field 'f'" in r.output
    assert "3 checks: 1 passed, 1 failed, 1 error" in r.output


def test_a_broken_spec_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "a.yaml").write_text("checks:\n  - f: sin(x)\n    at: {x: 1}\n    backend: none\n")
    (tmp_path / "b.yaml").write_text("checks: [\n")
    r = invoke(str(tmp_path))
    assert r.exit_code == 2 and "YAML syntax error" in r.output and "b.yaml" in r.output
    assert "2 checks: 1 passed, 1 error" in r.output


def test_a_python_file_is_not_a_spec(tmp_path):
    (tmp_path / "my_ops.py").write_text("def f(x):\n    return x\n")
    r = invoke(str(tmp_path / "my_ops.py"))
    assert r.exit_code == 2 and "YAML" not in r.output and "name the function" in r.output
