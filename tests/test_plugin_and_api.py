"""The pytest plugin (collects gradcheck*.yaml, works under xdist) and the Python API."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradcheck_cli import frameworks as backends

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
checks:
  - name: chain rule
    f: exp(sin(x**2))
    at: {x: 2}
    backend: none
  - name: wrong expectation
    f: x**2
    at: {x: 3}
    expect: {x: 5}
    backend: none
  - name: known overflow
    f: -log(exp(x)/(exp(x) + exp(y)))
    at: {x: 400, y: 800}
    backend: none
    xfail: e^800 overflows float64
  - name: no derivative there
    f: log(x)
    at: {x: -1}
    backend: none
"""


def run_pytest(folder, *args):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=folder, capture_output=True, text=True)


def test_plugin_collects_spec_files(tmp_path):
    (tmp_path / "gradcheck_specs.yaml").write_text(SPEC)
    (tmp_path / "other.yaml").write_text("not: a spec\n")  # not collected: wrong name
    out = run_pytest(tmp_path, "--junitxml", str(tmp_path / "junit.xml"))
    assert out.returncode == 1, out.stdout
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in out.stdout
    assert "∂f/∂x by expect: outside tolerance" in out.stdout
    root = ET.parse(tmp_path / "junit.xml").getroot()
    names = {case.get("name") for case in root.iter("testcase")}
    assert names == {"chain rule", "wrong expectation", "known overflow", "no derivative there"}


def test_plugin_under_xdist(tmp_path):
    pytest.importorskip("xdist")
    (tmp_path / "gradcheck_specs.yaml").write_text(SPEC)
    out = run_pytest(tmp_path, "-n", "2")
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in out.stdout, out.stdout + out.stderr


def test_plugin_reports_bad_specs(tmp_path):
    (tmp_path / "gradcheck_bad.yaml").write_text("checks:\n  - f: sin(x)\n    grd: 1\n")
    out = run_pytest(tmp_path)
    assert out.returncode != 0
    assert "did you mean 'grid'" in out.stdout


@pytest.mark.skipif(not backends.is_installed("torch"), reason="torch is not installed")
def test_assert_gradients():
    import torch

    import gradcheck_cli
    x = torch.randn(4, 3, dtype=torch.float64)
    assert gradcheck_cli.assert_gradients(torch.tanh, x).status == "pass"

    class Bad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.tanh(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (1 - torch.tanh(x))

    with pytest.raises(AssertionError) as info:
        gradcheck_cli.assert_gradients(Bad.apply, x)
    message = str(info.value)
    assert "arg0 by torch·rev: outside tolerance" in message and "Traceback" not in message
    layer = torch.nn.Linear(3, 2).double()
    assert gradcheck_cli.assert_gradients(layer, x, params=True).status == "pass"
    # float32 inputs are checked in float32, against float64 finite differences
    assert gradcheck_cli.assert_gradients(torch.sin, x.float()).status == "pass"
    # half-precision inputs in their own dtype: the layer passes, the wrong backward fails
    for dtype in (torch.float16, torch.bfloat16):
        result = gradcheck_cli.assert_gradients(layer.to(dtype), x.to(dtype), params=True)
        assert result.method_info["torch·rev"]["dtype"] == str(dtype).split(".")[1]
        with pytest.raises(AssertionError):
            gradcheck_cli.assert_gradients(Bad.apply, x.to(dtype))


def test_ci_gate_example_runs():
    from pathlib import Path
    folder = Path(__file__).resolve().parents[1] / "examples" / "ci-gate"
    out = run_pytest(folder)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout
    import yaml
    hooks = yaml.safe_load((folder.parents[1] / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "gradcheck" and hooks[0]["entry"].startswith("gradcheck")
    workflow = yaml.safe_load((folder / "github-workflow.yml").read_text())
    steps = workflow["jobs"]["gradients"]["steps"]
    assert any("torch==2.13.0" in s.get("run", "") for s in steps)


@pytest.mark.skipif(not backends.is_installed("jax"), reason="jax is not installed")
def test_assert_gradients_loads_neither_sympy_nor_scipy():
    # User-code checks need numpy, the result classes and the framework: nothing else.
    code = ("import sys, jax, jax.numpy as jnp\n"
            "jax.config.update('jax_enable_x64', True)\n"
            "from gradcheck_cli import assert_gradients\n"
            "r = assert_gradients(lambda x: jnp.sin(x) * x, jnp.linspace(0, 1, 5))\n"
            "print(r.status, sorted(m for m in ('sympy', 'scipy', 'mpmath') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "pass []"


def test_scipy_loads_only_for_the_functions_that_need_it():
    code = ("import sys\nfrom gradcheck_cli.api import check\n"
            "a = check('exp(sin(x**2))', at={'x': 2}, backend='none').ok\n"
            "b = 'scipy' in sys.modules\n"
            "c = check('erf(x) + sigmoid(x)', at={'x': 0.3}, backend='none').ok\n"
            "print(a, b, c, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True", "True"]


@pytest.mark.skipif(not backends.is_installed("torch"), reason="torch is not installed")
def test_assert_gradients_names_rows_by_the_parameters():
    import torch
    import gradcheck_cli

    def scaled(weight, bias, *rest):
        return weight.sin() * bias.sum() + sum(r.sum() for r in rest)
    x = torch.linspace(0.1, 1, 3, dtype=torch.float64)
    result = gradcheck_cli.assert_gradients(scaled, x, x + 1, x * 2)
    assert [row.label for row in result.rows] == ["weight", "bias", "arg2"]
    layer = torch.nn.Linear(3, 2).double()
    result = gradcheck_cli.assert_gradients(layer, x.reshape(1, 3), params=True)
    assert [row.label for row in result.rows] == ["input", "Linear.weight", "Linear.bias"]


@pytest.mark.skipif(not backends.is_installed("torch"), reason="torch is not installed")
def test_assert_gradients_refuses_unknown_options():
    import torch
    import gradcheck_cli
    from gradcheck_cli.errors import GradcheckError
    with pytest.raises(GradcheckError, match="unknown option 'ordr'"):
        gradcheck_cli.assert_gradients(torch.sin, torch.ones(2, dtype=torch.float64), ordr=2)


@pytest.mark.skipif(not backends.is_installed("torch"), reason="torch is not installed")
def test_assert_gradients_order_two():
    import torch
    import gradcheck_cli
    sys.path.insert(0, str(ROOT / "tests" / "mutants"))
    try:
        import torch_mutants
    finally:
        sys.path.pop(0)
    x = torch.linspace(-1, 1, 3, dtype=torch.float64)
    gradcheck_cli.assert_gradients(torch_mutants.softplus_detached, x)  # order 1: fine
    with pytest.raises(AssertionError, match="not differentiable"):
        gradcheck_cli.assert_gradients(torch_mutants.softplus_detached, x, order=2)
