"""A code check goes through the one pipeline: every option acts on it, or is refused by
name with exit 2 (gradcheck_cli/usercode/target.py and build.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradcheck_cli import frameworks
from gradcheck_cli.cli import app
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.usercode import run_callable

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "mutants"
X = {"x": {"shape": [4, 3], "low": -2, "high": 2}}
runner = CliRunner()


def needs(framework):
    return pytest.mark.skipif(not frameworks.is_installed(framework),
                              reason=f"{framework} is not installed")


def run(attr, module="torch_mutants.py", inputs=X, **extra):
    check = {"callable": f"{module}:{attr}", "inputs": inputs, "seed": 1, **extra}
    return run_callable(check, source="m", base=HERE, label=attr)


def columns(result):
    return list(result.methods)


@needs("torch")
def test_no_column_that_can_never_hold_a_value():
    r = run("sigmoid_ok", backend="torch")
    # no symbolic, no reverse engine; the checks that need no finite differences
    assert columns(r) == ["torch·rev", "torch·fwd", "fwd⇄rev", "taylor"]
    assert all(set(row.verdicts) == set(columns(r)) for row in r.rows)


@needs("torch")
@pytest.mark.parametrize("mode, expected", [
    ("rev", ["torch·rev", "taylor"]), ("fwd", ["torch·fwd", "taylor"]),
    ("both", ["torch·rev", "torch·fwd", "fwd⇄rev", "taylor"])])
def test_mode_acts(mode, expected):
    assert columns(run("sigmoid_ok", backend="torch", mode=mode)) == expected


@needs("torch")
def test_the_identity_asked_by_name_with_one_mode_is_refused():
    with pytest.raises(GradcheckError, match="needs mode: both"):
        run("sigmoid_ok", backend="torch", mode="rev", methods="fd,identity")


@needs("torch")
def test_mode_fwd_alone_does_not_see_a_wrong_backward_and_says_so_by_its_columns():
    # the backward is wrong; forward mode alone cannot see it, and the report shows only
    # the forward column: nothing claims the backward was checked
    r = run("sigmoid_bad", backend="torch", mode="fwd", methods="fd")
    assert columns(r) == ["torch·fwd"]
    assert run("sigmoid_bad", backend="torch", mode="rev").status == "fail"


@needs("torch")
def test_wrt_acts_and_unknown_names_are_refused():
    affine = {"x": {"shape": [5, 3]}, "w": {"shape": [3, 3]}, "b": {"shape": [3]}}
    r = run("linear_bad_bias", inputs=affine, backend="torch", wrt=["w"])
    assert [row.label for row in r.rows] == ["w"] and r.status == "pass"  # the bias is not asked
    r = run("linear_bad_bias", inputs=affine, backend="torch", wrt="w,b")
    assert [row.label for row in r.rows] == ["w", "b"] and r.status == "fail"
    with pytest.raises(GradcheckError, match="field 'wrt'.*'q'"):
        run("linear_ok", inputs=affine, backend="torch", wrt=["q"])


@needs("torch")
def test_rtol_and_atol_act_per_column_and_framework():
    # softplus_bad is 1 % off: caught by default, accepted at rtol 2 %, per column too
    assert run("softplus_bad", backend="torch").status == "fail"
    assert run("softplus_bad", backend="torch", rtol=0.02).status == "pass"
    assert run("softplus_bad", backend="torch", rtol={"torch": 0.02}).status == "pass"
    assert run("softplus_bad", backend="torch", rtol={"torch·rev": 0.02}, mode="rev",
               methods="fd").status == "pass"
    assert run("softplus_bad", backend="torch", rtol={"jax": 0.02}).status == "fail"
    assert run("softplus_bad", backend="torch", atol=0.1).status == "pass"
    with pytest.raises(GradcheckError, match="finite and non-negative"):
        run("softplus_ok", backend="torch", rtol=-1)


@needs("torch")
def test_methods_refuses_what_cannot_apply_to_code():
    with pytest.raises(GradcheckError, match="method 'symbolic' does not apply to code"):
        run("sigmoid_ok", backend="torch", methods=["symbolic"])
    with pytest.raises(GradcheckError, match="method 'reverse' does not apply to code"):
        run("sigmoid_ok", backend="torch", methods="fd,reverse")
    assert run("sigmoid_ok", backend="torch", methods=["fd"]).status == "pass"


@needs("torch")
def test_expression_keys_are_refused_on_code():
    with pytest.raises(GradcheckError, match="'at' does not apply to a code check"):
        run("sigmoid_ok", backend="torch", at={"x": 1})


@needs("torch")
def test_seed_and_dtype_act():
    a, b = run("sigmoid_ok", backend="torch"), run("sigmoid_ok", backend="torch", seed=2)
    assert a.rows[0].ref_max != b.rows[0].ref_max           # other random inputs
    r = run("sigmoid_ok", backend="torch", dtype="float32")
    assert r.method_info["torch·rev"]["dtype"] == "float32"


@needs("torch")
def test_device_acts():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/test_backends.py::test_gpu covers it")
    with pytest.raises(GradcheckError, match="no CUDA device"):
        run("sigmoid_ok", backend="torch", device="cuda")


@needs("torch")
@needs("jax")
def test_backend_acts_and_is_checked_against_the_code():
    assert run("sigmoid_ok").method_info["torch·rev"]["framework"] == "torch"  # detected
    assert run("sigmoid_ok", backend="all").methods[0] == "torch·rev"
    with pytest.raises(GradcheckError, match="torch code; backend jax cannot run it"):
        run("sigmoid_ok", backend="jax")
    with pytest.raises(GradcheckError, match="backend 'none' leaves nothing"):
        run("sigmoid_ok", backend="none")


@needs("torch")
def test_command_line_backend_beats_the_spec_for_code(tmp_path):
    (tmp_path / "ops.py").write_text("import torch\ndef f(x):\n    return torch.sin(x)\n")
    (tmp_path / "s.yaml").write_text("checks:\n  - callable: ops.py:f\n    backend: torch\n"
                                     "    inputs: {x: {shape: [3]}}\n")
    r = runner.invoke(app, [str(tmp_path / "s.yaml"), "--backend", "jax"])
    assert r.exit_code == 2 and "backend jax cannot run it" in r.output
    r = runner.invoke(app, [str(tmp_path / "s.yaml"), "--backend", "torch", "--mode", "rev"])
    assert r.exit_code == 0 and "torch·fwd" not in r.output, r.output


@needs("torch")
def test_order_two_acts_from_the_command_line(tmp_path):
    (tmp_path / "s.yaml").write_text("checks:\n  - callable: torch_mutants.py:softplus_detached\n"
                                     "    inputs: {x: {shape: [3]}}\n")
    (tmp_path / "torch_mutants.py").write_text((HERE / "torch_mutants.py").read_text())
    assert runner.invoke(app, [str(tmp_path / "s.yaml")]).exit_code == 0
    r = runner.invoke(app, [str(tmp_path / "s.yaml"), "--order", "2"])
    assert r.exit_code == 1 and "∂²" in r.output and "order 2" in r.output


@needs("torch")
def test_command_line_code_with_shapes(tmp_path):
    (tmp_path / "my_ops.py").write_text("import torch\ndef f(x, y):\n"
                                        "    return torch.sin(x) * y.sum()\n")
    cwd = Path.cwd()
    try:
        import os
        os.chdir(tmp_path)
        r = runner.invoke(app, ["my_ops.py:f", "--input", "x=3x4", "--input", "y=0.5"])
        assert r.exit_code == 0, r.output
        assert "x" in r.output and "full Jacobian" in r.output
        r = runner.invoke(app, ["my_ops.py"])
        assert r.exit_code == 2 and "name the function" in r.output
        assert "YAML" not in r.output
        r = runner.invoke(app, ["my_ops.py:f"])
        assert r.exit_code == 2 and "--input" in r.output
    finally:
        os.chdir(cwd)


@needs("torch")
def test_a_code_check_imports_neither_sympy_nor_mpmath(tmp_path):
    """From a spec through the CLI: torch may load SymPy on its own (torch.func does on
    first use), so SymPy is poisoned -- gradcheck must never need it for code."""
    (tmp_path / "ops.py").write_text("import torch\ndef f(x):\n    return torch.tanh(x)\n")
    (tmp_path / "s.yaml").write_text("checks:\n  - callable: ops.py:f\n    backend: torch\n"
                                     "    order: 2\n    inputs: {x: {shape: [3]}}\n")
    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def guard(name, *a, **k):\n"
            "    if name.split('.')[0] in ('sympy', 'mpmath'):\n"
            "        caller = sys._getframe(1).f_globals.get('__name__', '')\n"
            "        if caller.startswith('gradcheck_cli'):\n"
            "            raise ImportError(f'gradcheck imported {name} from {caller}')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = guard\n"
            "from gradcheck_cli.cli import main\n"
            f"sys.argv = ['gradcheck', {str(tmp_path / 's.yaml')!r}]\n"
            "main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 check: 1 passed" in out.stdout


@needs("torch")
def test_user_code_that_raises_is_an_error_row_with_the_whole_message(tmp_path):
    (tmp_path / "ops.py").write_text(
        "import torch\ndef f(x):\n"
        "    raise ValueError('Exception encountered when calling layer.\\n\\n'\n"
        "                     'shapes (3,) and (2,) not aligned\\n\\n'\n"
        "                     'Arguments received by Layer.call():\\n  x=...')\n")
    with pytest.raises(GradcheckError) as info:
        run_callable({"callable": "ops.py:f", "inputs": {"x": {"shape": [3]}},
                      "backend": "torch"}, source="s", base=tmp_path)
    msg = str(info.value)
    assert "ValueError" in msg and "not aligned" in msg   # the cause, not only the header
    assert "Arguments received" not in msg and "\n" not in msg
