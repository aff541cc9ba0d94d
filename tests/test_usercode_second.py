"""Code checks at order 2: every route in every framework, a mutant that must fail next to
a correct twin that must pass (gradcheck_cli/usercode/second.py)."""

from pathlib import Path

import pytest

from gradcheck_cli import frameworks
from gradcheck_cli.usercode import run_callable

HERE = Path(__file__).resolve().parent / "mutants"
MODULES = {"torch": "torch_mutants.py", "tensorflow": "tf_mutants.py", "jax": "jax_mutants.py"}
SMALL = {"x": {"shape": [3], "low": -2, "high": 2}}
LARGE = {"x": {"shape": [10, 10], "low": -2, "high": 2}}   # 100 elements: projections wᵀHv


def needs(framework):
    return pytest.mark.skipif(not frameworks.is_installed(framework),
                              reason=f"{framework} is not installed")


def run(framework, attr, inputs=SMALL, **extra):
    check = {"callable": f"{MODULES[framework]}:{attr}", "backend": framework,
             "inputs": inputs, "order": 2, "seed": 1, **extra}
    return run_callable(check, source="mutants", base=HERE, label=attr)


def second_order(result, column):
    """The verdict of a column on the (only) second-derivative row."""
    (row,) = [r for r in result.rows if len(r.key[1]) == 2]
    return row.verdicts[column]


@needs("torch")
@pytest.mark.parametrize("inputs", [SMALL, LARGE], ids=["full", "projections"])
def test_torch_wrong_double_backward(inputs):
    good = run("torch", "softplus2_ok", inputs)
    assert good.status == "pass"
    assert second_order(good, "torch·rev∘rev").status == "pass"
    bad = run("torch", "softplus2_bad", inputs)
    assert bad.status == "fail"
    assert [r.status for r in bad.rows if len(r.key[1]) == 1] == ["pass"]  # order 1 is right
    v = second_order(bad, "torch·rev∘rev")
    assert v.status == "fail" and v.reason == "outside tolerance"


@needs("torch")
@pytest.mark.parametrize("attr", ["softplus_once", "softplus_detached"])
def test_torch_backward_that_cannot_be_differentiated_fails_with_that_reason(attr):
    r = run("torch", attr)
    v = second_order(r, "torch·rev∘rev")
    assert r.status == "fail" and v.status == "fail"
    assert "backward pass is not differentiable" in v.reason
    # at order 1 the same code passes: only order 2 can see this
    first = run_callable({"callable": f"torch_mutants.py:{attr}", "backend": "torch",
                          "inputs": SMALL, "seed": 1}, source="m", base=HERE)
    assert first.status == "pass"


@needs("torch")
def test_torch_forward_over_reverse_route():
    import torch  # noqa: F401
    r = run_callable({"callable": "torch.nn.functional:softplus", "backend": "torch",
                      "inputs": SMALL, "order": 2, "seed": 1}, source="m")
    for route in ("rev∘rev", "fwd∘rev", "fwd∘fwd"):
        assert second_order(r, f"torch·{route}").status == "pass", route
    assert r.methods == ["torch·rev", "torch·fwd", "torch·rev∘rev", "torch·fwd∘rev",
                         "torch·fwd∘fwd", "fwd⇄rev", "taylor"]


@needs("jax")
@pytest.mark.parametrize("inputs", [SMALL, LARGE], ids=["full", "projections"])
def test_jax_custom_jvp_wrong_only_at_second_order(inputs):
    good = run("jax", "sin2_ok", inputs)
    assert good.status == "pass", good.rows
    bad = run("jax", "sin2_bad", inputs)
    assert [r.status for r in bad.rows if len(r.key[1]) == 1] == ["pass"]
    for route in ("rev∘rev", "fwd∘rev", "rev∘fwd", "fwd∘fwd"):  # every composition
        assert second_order(bad, f"jax·{route}").status == "fail", route
        assert second_order(good, f"jax·{route}").status == "pass", route


@needs("tensorflow")
def test_tensorflow_nested_tapes_see_a_wrong_custom_gradient_of_a_gradient():
    good = run("tensorflow", "cube2_ok")
    assert good.status == "pass"
    bad = run("tensorflow", "cube2_bad")
    assert second_order(bad, "tensorflow·rev∘rev").status == "fail"
    # forward mode does not run tf.custom_gradient's rule: forward over reverse
    # differentiates the gradient's value, which is right
    assert second_order(bad, "tensorflow·fwd∘rev").status == "pass"


@needs("torch")
def test_order_two_checks_every_pair_of_inputs_and_parameters():
    r = run_callable({"callable": "torch_mutants.py:linear_ok", "backend": "torch",
                      "inputs": {"x": {"shape": [2, 3]}, "w": {"shape": [3, 3]},
                                 "b": {"shape": [3]}}, "order": 2, "seed": 0},
                     source="m", base=HERE)
    labels = [row.label for row in r.rows]
    assert labels[:3] == ["x", "w", "b"]
    assert labels[3:] == ["∂²(uᵀf)/∂x²", "∂²(uᵀf)/∂x∂w", "∂²(uᵀf)/∂x∂b", "∂²(uᵀf)/∂w²",
                          "∂²(uᵀf)/∂w∂b", "∂²(uᵀf)/∂b²"]
    assert r.order == 2 and any("order 2" in n for n in r.notes)


@needs("torch")
def test_a_block_that_is_exactly_zero_passes_and_a_curved_one_fails():
    # f = w x is linear in w: finite differences of the w-gradient are exactly 0 and so is
    # the route; that decides the block (it used to be "too noisy": every model ending in
    # a Linear layer was inconclusive at order 2). The twin's backward has slope in w.
    inputs = {"x": {"shape": [4], "low": 0.5, "high": 2}, "w": {"shape": [4], "low": -1,
                                                                 "high": 1}}
    good = run("torch", "scale_ok", inputs)
    rows = {r.label: r for r in good.rows}
    assert good.status == "pass"
    assert rows["∂²(uᵀf)/∂w²"].verdicts["torch·rev∘rev"].status == "pass"
    bad = run("torch", "scale_curved", inputs)
    rows = {r.label: r for r in bad.rows}
    assert rows["w"].status == "pass"                     # right at order 1
    assert rows["∂²(uᵀf)/∂w²"].verdicts["torch·rev∘rev"].status == "fail"


@needs("torch")
def test_forward_over_forward_is_left_out_beyond_its_limit_and_said():
    from gradcheck_cli.usercode.second import FWD_FWD_LIMIT
    big = {"x": {"shape": [FWD_FWD_LIMIT + 1], "low": -2, "high": 2}}
    result = run("torch", "softplus2_ok", big)
    assert "torch·fwd∘fwd" not in result.methods and "torch·fwd∘rev" in result.methods
    assert any(n.startswith("fwd∘fwd not run") and f"{FWD_FWD_LIMIT + 1:,}" in n
               for n in result.notes)
    small = run("torch", "softplus2_ok")
    assert "torch·fwd∘fwd" in small.methods
