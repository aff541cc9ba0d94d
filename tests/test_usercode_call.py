"""Real signatures: positional and keyword arguments of any kind, nested structures,
integer/boolean/None/string arguments, complex and sparse tensors, zero-element and
non-finite inputs, non-differentiable outputs (gradcheck_cli/usercode/call.py, tree.py,
inputs.py), and the structural checks of the backward pass (structural.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_cli
from gradcheck_cli import frameworks
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.usercode import run_callable

HERE = Path(__file__).resolve().parent / "mutants"


def needs(framework):
    return pytest.mark.skipif(not frameworks.is_installed(framework),
                              reason=f"{framework} is not installed")


def mutants():
    sys.path.insert(0, str(HERE))
    try:
        import torch_mutants
    finally:
        sys.path.pop(0)
    return torch_mutants


def labels(result):
    return [row.label for row in result.rows]


def failing(result):
    return {row.label: next(v.reason for v in row.verdicts.values() if v.status == "fail")
            for row in result.rows if row.status == "fail"}


@needs("torch")
def test_keyword_and_integer_arguments_pass_through():
    import torch
    x = torch.randn(4, 5, dtype=torch.float64)
    r = gradcheck_cli.assert_gradients(torch.max, x, 1, kwargs={"keepdim": True})
    assert labels(r) == ["arg0"] and r.status == "pass"
    assert any("out.indices (integer)" in n for n in r.notes)   # listed, not compared
    index = torch.tensor([[0], [2], [1], [4]])
    r = gradcheck_cli.assert_gradients(torch.gather, x, 1, index)
    assert labels(r) == ["arg0"] and r.status == "pass"


@needs("torch")
def test_requires_grad_says_what_is_differentiated():
    import torch
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(3, dtype=torch.float64)               # not marked: held
    r = gradcheck_cli.assert_gradients(torch.nn.functional.mse_loss, x, target)
    assert labels(r) == ["input"]
    r = gradcheck_cli.assert_gradients(torch.nn.functional.mse_loss, x.detach(), target)
    assert labels(r) == ["input", "target"]                    # none marked: all floats
    r = gradcheck_cli.assert_gradients(torch.nn.functional.mse_loss, x.detach(), target,
                                       nondiff=["target"])
    assert labels(r) == ["input"]


@needs("torch")
def test_nested_structures_are_named_by_path():
    import torch
    x = torch.randn(2, 3, dtype=torch.float64)

    def loss(params, scale, *, mode="sum"):
        out = params["w"] * scale + params["b"][0].sum() * params["b"][1]
        return out.sum() if mode == "sum" else out
    r = gradcheck_cli.assert_gradients(loss, {"w": x, "b": [x[0], x[1]]}, 2.0,
                                       kwargs={"mode": "none"})
    assert labels(r) == ['params["w"]', 'params["b"][0]', 'params["b"][1]']
    with pytest.raises(AssertionError):
        gradcheck_cli.assert_gradients(lambda p: p["w"].detach() * p["w"], {"w": x})


@needs("jax")
def test_jax_pytree_of_parameters():
    import jax.numpy as jnp
    params = {"dense": {"w": jnp.ones((3, 2)) * 0.5, "b": jnp.zeros(2)}}

    def loss(params, x):
        return jnp.tanh(x @ params["dense"]["w"] + params["dense"]["b"]).sum()
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    r = gradcheck_cli.assert_gradients(loss, params, jnp.asarray(x))
    assert labels(r) == ['params["dense"]["w"]', 'params["dense"]["b"]', "x"]
    assert r.status == "pass"


@needs("torch")
def test_complex_in_torch_and_a_wrong_convention():
    import torch
    z = torch.tensor([1 + 2j, 3 - 1j, -0.5 + 0.25j], dtype=torch.complex128)
    r = gradcheck_cli.assert_gradients(lambda z: z * z, z)
    assert labels(r) == ["z.real", "z.imag"] and r.status == "pass"
    assert gradcheck_cli.assert_gradients(lambda z: torch.abs(z) ** 2, z).status == "pass"

    class NoConj(torch.autograd.Function):      # torch wants g * conj(f'(z))
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * z

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * 2 * z
    with pytest.raises(AssertionError, match="z.real|arg0.real"):
        gradcheck_cli.assert_gradients(NoConj.apply, z)


@needs("jax")
def test_complex_in_jax():
    import jax.numpy as jnp
    z = jnp.asarray(np.array([1 + 2j, 3 - 1j]))
    r = gradcheck_cli.assert_gradients(lambda z: jnp.sin(z) * z, z)
    assert labels(r) == ["z.real", "z.imag"] and r.status == "pass"


@needs("tensorflow")
def test_complex_in_tensorflow():
    import tensorflow as tf
    z = tf.constant(np.array([1 + 2j, 3 - 1j]), tf.complex128)
    r = gradcheck_cli.assert_gradients(lambda z: tf.exp(z) * z, z)
    assert labels(r) == ["z.real", "z.imag"] and r.status == "pass"


def test_complex_inputs_in_a_spec(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "ops.py").write_text("import torch\ndef f(z):\n    return torch.sin(z) * z\n")
    r = run_callable({"callable": "ops.py:f", "backend": "torch", "dtype": "complex128",
                      "inputs": {"z": {"shape": [3]}}}, source="s", base=tmp_path)
    assert labels(r) == ["z.real", "z.imag"] and r.status == "pass"
    assert r.method_info["torch·rev"]["dtype"] == "float64"


@needs("torch")
def test_sparse_input_through_its_values():
    import torch
    a = torch.sparse_coo_tensor([[0, 1, 2], [1, 0, 2]], [1.0, 2.0, 3.0], (3, 3),
                                dtype=torch.float64)
    b = torch.randn(3, 2, dtype=torch.float64)
    r = gradcheck_cli.assert_gradients(lambda a, b: torch.sparse.mm(a, b), a, b)
    assert labels(r) == ["a.values", "b"] and r.status == "pass"


@needs("torch")
def test_zero_elements_are_checked_trivially_never_crashed_on():
    import torch
    r = gradcheck_cli.assert_gradients(torch.sum, torch.zeros(0, 3, dtype=torch.float64))
    assert r.status == "skipped" and any("has no elements" in n for n in r.notes)
    r = gradcheck_cli.assert_gradients(lambda x: x[:0] * 2, torch.ones(3, dtype=torch.float64))
    assert r.status == "skipped" and any("outputs have no elements" in n for n in r.notes)


@needs("torch")
def test_non_finite_inputs_are_excluded_with_a_reason():
    import torch
    x = torch.linspace(-1, 1, 6, dtype=torch.float64)
    x[2] = float("inf")
    r = gradcheck_cli.assert_gradients(lambda a: torch.exp(-a.abs()) + a.clamp(-5, 5), x)
    assert r.status == "pass" and r.rows[0].excluded > 0
    assert any("±inf or NaN" in n and "x[2]" in n or "a[2]" in n for n in r.notes)


@needs("torch")
def test_every_element_non_finite_compares_nothing_and_is_skipped_not_inconclusive():
    """OpInfo's _safe_softmax of a row of -inf: nothing can move, and fwd⇄rev compares
    nothing either (it compared the not-moved elements' 0 = 0 and, alone, left the check
    inconclusive). Nothing was checked: skipped, as an empty input is (README: exit 0,
    said as skipped), not passed."""
    import torch
    x = torch.full((3,), float("-inf"), dtype=torch.float64)
    r = gradcheck_cli.assert_gradients(lambda a: torch.exp(a) * 2, x)
    assert r.status == "skipped" and r.rows[0].status == "n/a"
    assert {v.status for v in r.rows[0].verdicts.values()} == {"n/a"}
    assert any("3 element(s) are ±inf or NaN" in n for n in r.notes)
    # its twins: one finite element is checked, and a wrong backward there fails
    x[1] = 0.5
    assert gradcheck_cli.assert_gradients(lambda a: torch.exp(a) * 2, x).status == "pass"
    with pytest.raises(AssertionError, match=r"arg0\[1\]"):
        gradcheck_cli.assert_gradients(mutants().xsinx_bad, x)
    # its backward is NaN at -inf in every run: the same NaN twice is not nondeterminism,
    # nor a batched backward that differs (both said so before)
    assert gradcheck_cli.assert_gradients(mutants().xsinx_ok, x).status == "pass"
    # and every column still decides on the finite element: fwd⇄rev and the Taylor test
    # leave out the outputs that are NaN at the point (NaN·0 made them NaN, or undecided)
    r = gradcheck_cli.assert_gradients(lambda a: torch.sin(a) * a, x)
    assert {k: v.status for k, v in r.rows[0].verdicts.items()} == {
        "torch·rev": "pass", "torch·fwd": "pass", "fwd⇄rev": "pass", "taylor": "pass"}
    assert r.rows[0].verdicts["taylor"].error == pytest.approx(2.0, abs=0.2)


@needs("torch")
def test_non_finite_inputs_with_nan_outputs_under_random_projections():
    """Large inputs (random projections uᵀJv, forced here by full_limit): a -inf element
    whose output is NaN made every projection NaN, a false alarm in every column. The
    probes leave out outputs not finite at the point and elements not moved."""
    import torch
    x = torch.linspace(-2, 2, 12, dtype=torch.float64)
    x[5] = -float("inf")
    r = gradcheck_cli.assert_gradients(lambda a: torch.sin(a) * a, x, full_limit=4)
    assert any("random projections" in n for n in r.notes)
    assert {k: v.status for k, v in r.rows[0].verdicts.items()} == {
        "torch·rev": "pass", "torch·fwd": "pass", "fwd⇄rev": "pass", "taylor": "pass"}
    with pytest.raises(AssertionError, match="torch·rev: outside tolerance"):
        gradcheck_cli.assert_gradients(mutants().xsinx_bad, x, full_limit=4)


@needs("torch")
def test_only_non_differentiable_outputs_is_an_error():
    import torch
    with pytest.raises(GradcheckError, match="no differentiable output"):
        gradcheck_cli.assert_gradients(torch.argmax, torch.randn(3, dtype=torch.float64))


@needs("torch")
@pytest.mark.parametrize("bad, ok, reason", [
    ("two_outputs_bad", "two_outputs_ok", "the other outputs' gradients undefined"),
    ("zero_cotangent_bad", "zero_cotangent_ok", "zero output gradients gives a nonzero"),
    ("batched_bad", "batched_ok", "batched backward"),
    ("forward_batched_bad", "forward_batched_ok", "batched forward mode"),
    ("mutates_bad", "mutates_ok", "changed input x in place"),
])
def test_structural_mutant_fails_and_twin_passes(bad, ok, reason):
    import torch
    m = mutants()
    x = torch.linspace(-1, 1, 4, dtype=torch.float64)

    def wrapped(f):
        def call(x):
            return f(x)
        return call
    assert gradcheck_cli.assert_gradients(wrapped(getattr(m, ok)), x).status == "pass"
    with pytest.raises(AssertionError, match=reason):
        gradcheck_cli.assert_gradients(wrapped(getattr(m, bad)), x)


@needs("torch")
def test_nondet_tol_accepts_a_declared_nondeterminism(tmp_path):
    (tmp_path / "nd.py").write_text(
        "import torch\n"
        "class Noisy(torch.autograd.Function):\n"
        "    @staticmethod\n"
        "    def forward(ctx, x):\n"
        "        ctx.save_for_backward(x)\n"
        "        return torch.sin(x)\n"
        "    @staticmethod\n"
        "    def backward(ctx, g):\n"
        "        (x,) = ctx.saved_tensors\n"
        "        return g * torch.cos(x) + 1e-12 * torch.randn_like(x)\n")
    check = {"callable": "nd.py:Noisy.apply", "backend": "torch", "inputs": {"x": {"shape": [3]}}}
    assert run_callable(check, source="s", base=tmp_path).status == "fail"
    assert run_callable(dict(check, nondet_tol=1e-9), source="s", base=tmp_path).status == "pass"


def test_spec_kwargs_integer_boolean_and_nested_inputs(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "ops.py").write_text(
        "import torch\n"
        "def f(x, index, params, *, dim, keep, mode=None):\n"
        "    assert index.dtype == torch.int64 and keep.dtype == torch.bool and mode == 'a'\n"
        "    y = torch.gather(x, dim, index) * params['w'] + params['b'][0]\n"
        "    return torch.where(keep, y, 0.0)\n")
    spec = {"callable": "ops.py:f", "backend": "torch",
            "inputs": {"x": {"shape": [3, 4]},
                       "index": {"value": [[0, 1], [2, 3], [1, 1]], "dtype": "int64"},
                       "params": {"w": {"shape": [3, 2]}, "b": [{"shape": [2]}]}},
            "kwargs": {"dim": 1, "keep": {"value": [True, False], "dtype": "bool"},
                       "mode": "a"}}
    r = run_callable(spec, source="s", base=tmp_path)
    assert labels(r) == ["x", 'params["w"]', 'params["b"][0]'] and r.status == "pass"
