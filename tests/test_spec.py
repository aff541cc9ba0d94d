"""Spec files: loading, defaults, and one-line validation errors."""

from pathlib import Path

import pytest

from gradcheck_cli.api import collect, load_spec
from gradcheck_cli.errors import GradcheckError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path, text):
    """The one-line error of a bad spec: the file's (raised), or the bad check's error row
    (the file's other checks still load)."""
    try:
        items = load_spec(write(tmp_path, text))
    except GradcheckError as exc:
        return str(exc)
    errors = [i.error for i in items if getattr(i, "status", None) == "error"]
    assert len(errors) == 1, items
    return errors[0]


def test_issue_example_spec_loads(tmp_path):
    path = write(tmp_path, """
defaults: {rtol: 1e-7, atol: 1e-10}
checks:
  - name: chain rule
    f: exp(sin(x**2))
    at: {x: 2}
  - f: sin(pi*x)
    grid: {x: [-1, 1, 50]}
    order: 2
  - name: sigmoid neuron, MSE
    let: {z: w1*x1 + w2*x2 + b, p: sigmoid(z)}
    f: (p - y)**2
    wrt: [w1, w2, b]
    at: {w1: -0.2, w2: 0.2, b: 0.1, x1: 0.5, x2: -0.3, y: 0.4}
  - f: x**2 - 2*x + 1
    grid: {x: [-2, 2, 41]}
    expect: {x: 2*x - 2, "x,x": 2}
""")
    problems = [t.problem for t in load_spec(path)]
    assert [p.name for p in problems][:2] == ["chain rule", "sin(pi*x)"]
    assert problems[0].rtol == {"*": 1e-7} and problems[0].atol == {"*": 1e-10}
    assert problems[1].npoints == 50 and problems[1].order == 2
    assert problems[2].wrt == ("w1", "w2", "b")
    assert problems[3].order == 2  # raised to cover the 'x,x' expectation


def test_unknown_key_suggests(tmp_path):
    msg = error_of(tmp_path, "checks:\n  - name: c1\n    f: sin(x)\n    grd: {x: [0, 1, 3]}\n")
    assert "spec.yaml" in msg and "check 'c1'" in msg
    assert "unknown key 'grd' (did you mean 'grid'?)" in msg


def test_yaml_syntax_error_names_the_line(tmp_path):
    msg = error_of(tmp_path, "checks:\n  - f: sin(x)\n    at: {x: 1\n")
    assert "line" in msg and "YAML syntax error" in msg


@pytest.mark.parametrize("text, fragment", [
    ("checks: []\n", "'checks' is empty"),
    ("- f: x\n", "a mapping with a 'checks:' list"),
    ("checks:\n  - at: {x: 1}\n", "give either 'f' (an expression) or 'callable'"),
    ("checks:\n  - f: sin(x)\n    grid: {x: [0, 1]}\n", "field 'grid.x'"),
    ("checks:\n  - f: sin(x)\n    at: {x: 1}\n    order: 0\n", "field 'order'"),
    ("checks:\n  - f: sin(x) +\n    at: {x: 1}\n", "field 'f': cannot parse 'sin(x) +'"),
    ("checks:\n  - f: sin(x)\n    at: {x: 1, q: 2}\n", "field 'at': unknown variable 'q'"),
    ("checks:\n  - f: sin(x)\n    at: {x: 1}\n    expect: {y: 1}\n", "field 'expect'"),
    ("defaults: {rtool: 1}\nchecks:\n  - f: x\n    at: {x: 1}\n", "did you mean 'rtol'"),
])
def test_invalid_specs(tmp_path, text, fragment):
    msg = error_of(tmp_path, text)
    assert fragment in msg and "\n" not in msg


def test_directories_are_searched_recursively():
    problems = collect([str(ROOT / "specs")])
    sources = {p.source for p in problems}
    assert any("seeds" in s for s in sources) and len(problems) >= 20


def test_xfail_limited_to_dtypes():
    from gradcheck_cli.api import expected_failure
    xfail = {"reason": "overflows", "dtype": ["float32", "float16"]}
    assert expected_failure({"xfail": xfail, "dtype": "float16"}) == "overflows"
    assert expected_failure({"xfail": xfail, "dtype": "float32"}) == "overflows"
    assert expected_failure({"xfail": xfail}) is None  # float64
    assert expected_failure({"xfail": {"reason": "r", "dtype": "bfloat16"},
                             "dtype": "bfloat16"}) == "r"
    assert expected_failure({"xfail": True}) == "expected to fail"
    assert expected_failure({}) is None


def test_xfail_dtype_is_validated(tmp_path):
    from gradcheck_cli.api import load_spec
    path = tmp_path / "s.yaml"
    path.write_text("checks:\n  - f: x\n    at: {x: 1}\n    xfail: {reason: r, dtype: [float8]}\n")
    (row,) = load_spec(path)
    assert row.status == "error" and "xfail" in row.error


def test_one_bad_check_does_not_hide_the_others(tmp_path):
    items = load_spec(write(tmp_path, "checks:\n  - f: sin(x)\n    at: {x: 1}\n"
                                      "  - name: bad\n    f: sin(x\n    at: {x: 1}\n"
                                      "  - f: cos(x)\n    at: {x: 1}\n"))
    assert [getattr(i, "status", "target") for i in items] == ["target", "error", "target"]
    assert "check 'bad'" in items[1].error and "field 'f'" in items[1].error


@pytest.mark.parametrize("value", ["-1", ".nan", ".inf", "{fd: -0.5}"])
def test_tolerances_must_be_finite_and_non_negative(tmp_path, value):
    msg = error_of(tmp_path, f"defaults: {{rtol: {value}}}\nchecks:\n  - f: x\n    at: {{x: 1}}\n")
    assert "finite and non-negative" in msg and "field 'rtol" in msg
