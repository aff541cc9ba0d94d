"""Framework backends: parametrized over the installed frameworks, skipped when one is missing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradcheck_cli.api import load_spec, run_problem
from gradcheck_cli.cli import app
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli import frameworks as backends

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = [pytest.param(f, marks=pytest.mark.skipif(not backends.is_installed(f),
                                                        reason=f"{f} is not installed"))
              for f in ("torch", "jax", "tensorflow")]


def has_gpu(framework):
    if not backends.is_installed(framework):
        return False
    try:
        backends.adapter(framework, "cuda", "float64")
        return True
    except GradcheckError:
        return False


# One line per function of the expression table: (expression, x range, order).
CASES = [
    ("sin(x)", (-3, 3), 2), ("cos(x)", (-3, 3), 2), ("tan(x)", (-1.2, 1.2), 2),
    ("asin(x)", (-0.9, 0.9), 2), ("acos(x)", (-0.9, 0.9), 2), ("atan(x)", (-4, 4), 2),
    ("atan2(y, x)", (0.5, 2), 2), ("sinh(x)", (-3, 3), 2), ("cosh(x)", (-3, 3), 2),
    ("tanh(x)", (-3, 3), 2), ("asinh(x)", (-5, 5), 2), ("acosh(x)", (1.5, 5), 2),
    ("atanh(x)", (-0.9, 0.9), 2), ("exp(x)", (-3, 3), 2), ("log(x)", (0.2, 5), 2),
    ("log(x, 3)", (0.2, 5), 2), ("log2(x)", (0.2, 5), 2), ("log10(x)", (0.2, 5), 2),
    ("log1p(x)", (-0.5, 3), 2), ("expm1(x)", (-3, 3), 2), ("sqrt(x)", (0.2, 4), 2),
    ("cbrt(x)", (0.5, 8), 2), ("cbrt(x)", (-8, -0.5), 2), ("abs(x)", (-2, 2), 2),
    ("sign(x)*x", (-2, 2), 2), ("sigmoid(x)", (-6, 6), 2), ("softplus(x)", (-6, 6), 2),
    ("relu(x)", (-2, 2), 2), ("max(x, y)", (-1, 1), 2), ("min(x, y)", (-1, 1), 2),
    ("erf(x)", (-2, 2), 2), ("x**y", (0.5, 2), 2), ("exp(sin(x**2))", (-2, 2), 2),
]


def check(expr, bounds, order, **options):
    from conftest import run_one
    grid = {"x": [bounds[0], bounds[1], 9]}
    if "y" in expr:
        grid["y"] = [bounds[0], bounds[1], 5]
    return run_one(expr, grid=grid, order=order, **options)


def failures(result):
    return [(r.label, v.method, v.reason, v.value, v.reference) for r in result.rows
            for v in r.verdicts.values() if v.status == "fail"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("expr, bounds, order", CASES, ids=[c[0] for c in CASES])
def test_every_function_first_and_second_order(framework, dtype, expr, bounds, order):
    result = check(expr, bounds, order, backend=framework, dtype=dtype, mode="both")
    assert result.status == "pass", failures(result)
    columns = {f"{framework}·rev", f"{framework}·fwd"}
    assert columns <= set(result.methods)
    for row in result.rows:
        for c in columns:
            assert row.verdicts[c].compared > 0


def test_table_covers_every_function():
    from gradcheck_cli.expression.functions import FUNCTIONS
    used = " ".join(c[0] for c in CASES)
    # conj, re and im act on complex variables only (tests/test_complexes.py): of a real
    # variable they simplify away when parsed
    assert [f for f in FUNCTIONS if f + "(" not in used
            and f not in ("ln", "conj", "re", "im")] == []


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_wrong_framework_value_is_caught(framework, monkeypatch):
    # Break the framework's sin: its derivative no longer matches the reference.
    ad = backends.adapter(framework, "cpu", "float64")
    import sympy as sp
    good = ad.table[sp.sin]
    monkeypatch.setitem(ad.table, sp.sin, lambda x: good(x) * 1.01)
    result = check("sin(x)", (0.5, 1), 1, backend=framework)
    assert result.rows[0].verdicts[f"{framework}·rev"].status == "fail"
    assert result.rows[0].verdicts["reverse"].status == "pass"


# What half precision can resolve: the relative error of a framework op that is
# caught (measured: 1-2% in float16, 10% in bfloat16), and one that is not.
HALF = [("float16", 0.02, 0.002), ("bfloat16", 0.1, 0.005)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype, caught, hidden", HALF, ids=[h[0] for h in HALF])
def test_half_precision_resolution(framework, dtype, caught, hidden, monkeypatch):
    import sympy as sp
    ad = backends.adapter(framework, "cpu", dtype)
    good = ad.table[sp.sin]
    for error, status in ((caught, "fail"), (hidden, "pass")):
        monkeypatch.setitem(ad.table, sp.sin, lambda x, e=error: good(x) * (1 + e))
        result = check("sin(x)", (0.5, 1), 1, backend=framework, dtype=dtype)
        verdict = result.rows[0].verdicts[f"{framework}·rev"]
        assert verdict.status == status, (error, verdict)
    assert result.method_info[f"{framework}·rev"]["dtype"] == dtype


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_float16_overflow_is_a_failure_not_a_pass(framework):
    # f'(3) = 56·3·10^3 = 168,000 > 65,504: float16 cannot hold it.
    result = check("1 + 7*(1 + x**2)**4", (2.5, 3), 1, backend=framework, dtype="float16")
    verdict = result.rows[0].verdicts[f"{framework}·rev"]
    assert verdict.status == "fail" and verdict.reason == "non-finite"
    assert result.rows[0].verdicts["reverse"].status == "pass"


@pytest.mark.skipif(not backends.is_installed("torch"), reason="torch is not installed")
def test_user_code_runs_in_half_precision_from_the_command_line(tmp_path):
    spec = tmp_path / "gradcheck_half.yaml"
    (tmp_path / "layer.py").write_text(
        "import torch\n"
        "def f(x):\n    return x * x\n"
        "class Twice(torch.autograd.Function):  # d/dx x^2 written as 2.2 x (10 % off)\n"
        "    @staticmethod\n    def forward(ctx, x):\n"
        "        ctx.save_for_backward(x)\n        return x * x\n"
        "    @staticmethod\n    def backward(ctx, g):\n"
        "        (x,) = ctx.saved_tensors\n        return 2.2 * g * x\n"
        "g = Twice.apply\n")
    spec.write_text("checks:\n  - name: square\n    callable: layer.py:f\n    backend: torch\n"
                    "    inputs: {x: {shape: [3]}}\n"
                    "  - name: wrong square\n    callable: layer.py:g\n    backend: torch\n"
                    "    inputs: {x: {shape: [3]}}\n")
    out = CliRunner().invoke(app, [str(spec), "--dtype", "bfloat16", "--format", "json"])
    assert out.exit_code == 1, out.output
    checks = json.loads(out.output)["checks"]
    assert [c["status"] for c in checks] == ["pass", "fail"]
    assert checks[0]["method_info"]["torch·rev"]["dtype"] == "bfloat16"


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_expression_spec_passes_in_half_precision(framework, dtype):
    # What cannot work in half precision (values past float16's range, e^400) is an
    # xfail limited to those dtypes, with the reason; everything else passes.
    outcomes = []
    for path in sorted((ROOT / "specs" / "seeds").glob("*.yaml")):
        for problem in load_spec(path, {"backend": framework, "dtype": dtype}):
            result = run_problem(problem)
            assert result.ok, (path.name, problem.name, failures(result))
            outcomes.append(result.status)
    assert outcomes.count("xfail") == {"float16": 5, "bfloat16": 2}[dtype]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_spec_passes(framework, dtype):
    """--backend X --dtype Y over every spec: each check passes, but code written for
    another framework, which is refused by name (never run on X, never silently skipped)."""
    refused = 0
    for path in sorted((ROOT / "specs").rglob("*.yaml")):
        for problem in load_spec(path, {"backend": framework, "dtype": dtype}):
            result = run_problem(problem)
            if result.kind == "code" and result.status == "error":
                assert f"backend {framework} cannot run it" in result.error, result.error
                refused += 1
                continue
            assert result.ok, (path.name, problem.name, failures(result))
    assert refused > 0


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_report_records_version_device_dtype(framework):
    result = check("sin(x)", (0, 1), 1, backend=framework, dtype="float32")
    info = result.method_info[f"{framework}·rev"]
    assert info["dtype"] == "float32" and info["version"] and "cpu" in info["device"].lower()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_missing_gpu_is_a_clear_error(framework):
    if has_gpu(framework):
        pytest.skip("a GPU is present")
    r = CliRunner().invoke(app, ["sin(x)", "--at", "x=1", "--backend", framework,
                                 "--device", "cuda"])
    assert r.exit_code == 2
    assert framework in r.output and "Traceback" not in r.output


def test_missing_framework_names_the_fix(monkeypatch):
    monkeypatch.setattr(backends, "is_installed", lambda f: False)
    with pytest.raises(GradcheckError, match=r"pip install 'gradcheck-cli\[jax\]'"):
        backends.resolve("jax")
    assert backends.resolve(None) == []


def test_bad_backend_options():
    runner = CliRunner()
    for args, fragment in ((["--backend", "mxnet"], "field 'backend': unknown backend"),
                           (["--device", "tpu"], "field 'device': unknown device"),
                           (["--dtype", "float8"], "field 'dtype': unsupported dtype"),
                           (["--mode", "sideways"], "field 'mode': unknown mode")):
        r = runner.invoke(app, ["sin(x)", "--at", "x=1", *args])
        assert r.exit_code == 2 and fragment in r.output, r.output


def _run(*args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "gradcheck_cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env)


@pytest.mark.skipif(not backends.is_installed("tensorflow"), reason="tensorflow is not installed")
def test_tensorflow_log_lines_stay_out_of_our_output():
    out = _run("sin(x)", "--at", "x=1", "--backend", "tensorflow")
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == ""
    assert "tensorflow·rev" in out.stdout


@pytest.mark.skipif(not backends.is_installed("jax"), reason="jax is not installed")
def test_only_the_chosen_framework_is_imported():
    code = ("import sys, gradcheck_cli\ngradcheck_cli.check('sin(x)', at={'x': 1}, "
            "backend='jax')\nprint(sorted(m for m in ('torch', 'tensorflow', 'jax') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "['jax']"


@pytest.mark.gpu
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_gpu(framework):
    if not has_gpu(framework):
        pytest.skip(f"no GPU visible to {framework}")
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        result = check("exp(sin(x**2))*tanh(x)", (-2, 2), 2, backend=framework,
                       device="cuda", dtype=dtype, mode="both")
        assert result.status == "pass", failures(result)
        assert "cpu" not in result.method_info[f"{framework}·rev"]["device"].lower()
