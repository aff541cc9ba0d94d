"""User code: the mutant corpus -- every wrong backward fails and names the right input
or parameter, every correct twin passes, in float64, float32, float16 and bfloat16."""

from pathlib import Path

import numpy as np
import pytest

import gradcheck_cli
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli import frameworks as backends
from gradcheck_cli.usercode import run_callable

HERE = Path(__file__).resolve().parent / "mutants"


def needs(framework):
    return pytest.mark.skipif(not backends.is_installed(framework),
                              reason=f"{framework} is not installed")


X = {"x": {"shape": [4, 3], "low": -2, "high": 2}}
AFFINE = {"x": {"shape": [5, 3]}, "w": {"shape": [3, 3]}, "b": {"shape": [3]}}
# (framework, correct, wrong, inputs, extra keys, the row that must fail)
PAIRS = [
    ("torch", "sigmoid_ok", "sigmoid_bad", X, {}, "x"),
    ("torch", "tanh_ok", "tanh_bad", X, {}, "x"),
    ("torch", "softplus_ok", "softplus_bad", X, {}, "x"),
    ("torch", "xsinx_ok", "xsinx_bad", X, {}, "x"),
    ("torch", "leaky_ok", "leaky_bad", X, {}, "x"),
    ("torch", "relu_ok", "relu_bad", X, {}, "x"),
    ("torch", "linear_ok", "linear_bad_bias", AFFINE, {}, "b"),
    ("torch", "linear_ok", "linear_bad_weight", AFFINE, {}, "w"),
    ("torch", "Dense", "Dense", {"x": {"shape": [4, 3]}},
     {"params": True, "init_bad": {"op": "linear_bad_weight"}}, "Dense.weight"),
    ("tensorflow", "softsign_ok", "softsign_bad", X, {}, "x"),
    ("tensorflow", "square_ok", "square_bad", X, {}, "x"),
    ("tensorflow", "product_ok", "product_bad", {"x": {"shape": [4]}, "y": {"shape": [4]}}, {},
     "y"),
    ("tensorflow", "Affine", "Affine", {"x": {"shape": [4, 3]}},
     {"params": True, "init_bad": {"variant": "no_bias"}}, "Affine.bias"),
    ("tensorflow", "Affine", "Affine", {"x": {"shape": [4, 3]}},
     {"params": True, "init_bad": {"variant": "weight_1pct"}}, "Affine.kernel"),
    ("jax", "softplus_ok", "softplus_bad", X, {}, "x"),
    ("jax", "exp_ok", "exp_bad", X, {}, "x"),
    ("jax", "abs_ok", "abs_bad", X, {}, "x"),
    ("jax", "matmul_ok", "matmul_bad_w", AFFINE, {}, "w"),
    ("jax", "matmul_ok", "matmul_bad_b", AFFINE, {}, "b"),
]
MODULES = {"torch": "torch_mutants.py", "tensorflow": "tf_mutants.py", "jax": "jax_mutants.py"}


def run(framework, attr, inputs, extra, dtype, init=None):
    check = {"callable": f"{MODULES[framework]}:{attr}", "backend": framework,
             "inputs": inputs, "dtype": dtype, "seed": 1}
    if extra.get("params"):
        check["params"] = True
    if init is not None:
        check["init"] = init
    return run_callable(check, source="mutants", base=HERE, label=attr)


def failing_rows(result):
    return {row.label for row in result.rows if row.status == "fail"}


IDS = [f"{p[0]}-{p[2]}-{p[5]}" for p in PAIRS]


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("framework, ok, bad, inputs, extra, row", [
    pytest.param(*p, marks=needs(p[0])) for p in PAIRS], ids=IDS)
def test_mutant_fails_and_twin_passes(framework, ok, bad, inputs, extra, row, dtype):
    good = run(framework, ok, inputs, extra, dtype, init={} if extra.get("init_bad") else None)
    assert good.status == "pass", [(r.label, v.method, v.reason) for r in good.rows
                                   for v in r.verdicts.values() if v.status == "fail"]
    wrong = run(framework, bad, inputs, extra, dtype, init=extra.get("init_bad"))
    if dtype == "bfloat16" and (framework, bad, row) in ONE_PERCENT:
        # 1 % is 1.3 bfloat16 ulps: below what it resolves (float16 catches it)
        assert wrong.status == "pass"
        return
    assert wrong.status == "fail"
    assert failing_rows(wrong) == {row}


# the mutants whose gradient is off by 1 %
ONE_PERCENT = {("torch", "softplus_bad", "x"), ("jax", "exp_bad", "x"),
               ("tensorflow", "Affine", "Affine.kernel")}


def test_corpus_size():
    assert len(PAIRS) >= 15
    assert {p[0] for p in PAIRS} == {"torch", "tensorflow", "jax"}


@needs("torch")
def test_projections_localize_a_single_wrong_element():
    check = {"callable": "torch_mutants.py:softplus_ok", "backend": "torch", "seed": 0,
             "inputs": {"x": {"shape": [60, 50]}}}
    result = run_callable(check, source="t", base=HERE, label="big")
    assert result.status == "pass"
    assert any("random projections" in n and "8 probes, seed 0" in n for n in result.notes)
    assert any("chance that all 8 probes miss" in n for n in result.notes)


@needs("torch")
def test_structural_failures_are_named(tmp_path):
    (tmp_path / "m.py").write_text(
        "import torch\n"
        "class Detached(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.scale = torch.nn.Parameter(torch.tensor(2.0))\n"
        "    def forward(self, x):\n"
        "        return x * self.scale.detach() + (self.scale * 0).detach() + x * 0 * self.scale\n"
        "def not_tensor(x):\n"
        "    return 3.0\n")
    base = {"backend": "torch", "inputs": {"x": {"shape": [3]}}}
    r = run_callable(dict(base, callable="m.py:Detached", params=True), source="t",
                     base=tmp_path, label="d")
    assert failing_rows(r) == {"Detached.scale"}
    reason = r.rows[1].verdicts["torch·rev"].reason
    assert "zero" in reason or "None" in reason
    with pytest.raises(GradcheckError, match=r"no differentiable output .*out \(float\)"):
        run_callable(dict(base, callable="m.py:not_tensor"), source="t", base=tmp_path,
                     label="n")
    with pytest.raises(GradcheckError, match="has no attribute 'missing'"):
        run_callable(dict(base, callable="m.py:missing"), source="t", base=tmp_path, label="m")
    with pytest.raises(GradcheckError, match="file not found"):
        run_callable(dict(base, callable="nope.py:f"), source="t", base=tmp_path, label="m")


@needs("torch")
def test_nondeterministic_backward_is_caught(tmp_path):
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
        "        return g * torch.cos(x) * (1 + 1e-9 * torch.randn_like(x))\n"
        "def noisy(x):\n"
        "    return Noisy.apply(x)\n")
    for shape in ([3], [50, 50]):  # full Jacobian, then projections
        check = {"callable": "nd.py:noisy", "backend": "torch", "inputs": {"x": {"shape": shape}}}
        r = run_callable(check, source="t", base=tmp_path, label="noisy")
        assert r.status == "fail"
        assert "nondeterministic" in r.rows[0].verdicts["torch·rev"].reason


@needs("torch")
def test_inputs_must_fit_the_signature(tmp_path):
    (tmp_path / "s.py").write_text("def f(x, y):\n    return x * y\n")
    check = {"callable": "s.py:f", "backend": "torch", "inputs": {"x": {"shape": [3]}}}
    with pytest.raises(GradcheckError, match="do not fit the callable's signature"):
        run_callable(check, source="t", base=tmp_path, label="f")


def test_miss_probability_matches_sampling():
    # One probe misses a rank-one error of 10x the tolerance when |Z1 Z2| < 0.1.
    from gradcheck_cli.usercode.projections import miss_probability as _miss_probability
    z = np.random.default_rng(1).standard_normal((2, 400_000))
    sampled = float(np.mean(np.abs(z[0] * z[1]) < 0.1))
    assert _miss_probability(1) == pytest.approx(sampled, abs=0.003)
    assert _miss_probability(1) == pytest.approx(0.21783, abs=1e-5)
    assert _miss_probability(8) == pytest.approx(_miss_probability(1) ** 8)


@needs("torch")
@pytest.mark.parametrize("dtype, caught, hidden", [("float16", 0.01, 0.005),
                                                    ("bfloat16", 0.05, 0.02)])
def test_half_precision_resolution_of_user_code(dtype, caught, hidden):
    # a custom tanh whose backward is scaled by 1 + delta: what each dtype can see
    import importlib.util

    import torch

    import gradcheck_cli
    spec = importlib.util.spec_from_file_location("torch_mutants", HERE / "torch_mutants.py")
    mutants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutants)

    def scaled(k):
        return mutants._function(torch.tanh, lambda g, x: g * (1 - torch.tanh(x) ** 2) * k)
    x = torch.from_numpy(np.random.default_rng(0).uniform(-2, 2, (4, 3))).to(
        getattr(torch, dtype))
    gradcheck_cli.assert_gradients(scaled(1.0), x)
    gradcheck_cli.assert_gradients(scaled(1 + hidden), x)  # below the dtype's resolution
    with pytest.raises(AssertionError, match="outside tolerance"):
        gradcheck_cli.assert_gradients(scaled(1 + caught), x)


def test_a_batching_rule_that_computes_other_values_turns_vmap_off_and_says_so():
    # torch.roll of a 0-d tensor is the identity; under vmap (a batch of 0-d inputs) it
    # rolls across the batch, so the Taylor test's batched points came back permuted and
    # it failed a right gradient (OpInfo's roll sample 16). One row of the first batch is
    # held against a direct call: the check then evaluates point by point, and passes.
    torch = pytest.importorskip("torch")
    x = torch.tensor(-4.827, dtype=torch.float64)
    result = gradcheck_cli.assert_gradients(lambda x: torch.roll(x, 10), x)
    assert result.status == "pass"
    assert any("under vmap the code computes other values" in n for n in result.notes)
    plain = gradcheck_cli.assert_gradients(lambda x: torch.roll(x, 10, 0),
                                           torch.linspace(-1, 1, 12, dtype=torch.float64))
    assert not any("under vmap" in n for n in plain.notes)   # a right batching rule: no note


def test_a_batching_rule_wrong_for_one_argument_only_is_caught_for_that_argument():
    # OpInfo's index_fill: under vmap over the 0-d fill value every row gets the batch's
    # last value, so the last row agrees with a direct call, and vmap over the input is
    # right. Held only once (the first slot) and at the last row, the batched finite
    # differences of the fill value were all equal: a right gradient of 1 failed against
    # a reference of 0. Each slot's first batch is now held at its first and last rows.
    torch = pytest.importorskip("torch")
    x = torch.tensor([-4.8, 1.0, 2.0], dtype=torch.float64)
    value = torch.tensor(-7.58, dtype=torch.float64)
    result = gradcheck_cli.assert_gradients(
        lambda a, b: torch.index_fill(a, 0, torch.tensor([0, 2]), b) * a, x, value)
    assert result.status == "pass"
    notes = [n for n in result.notes if "under vmap" in n]
    assert len(notes) == 1 and notes[0].endswith("at b")
    fill = next(r for r in result.rows if r.label == "b")
    assert fill.ref_max == pytest.approx(2.0, rel=1e-9)       # ∂(fill · a[2])/∂fill = a[2]


def test_a_module_s_initial_weights_follow_the_check_s_seed():
    # the CPU generator is seeded directly (torch.manual_seed's lazy device calls cost
    # 0.7 ms a check); a class is instantiated under the seed, so its weights repeat
    torch = pytest.importorskip("torch")
    from gradcheck_cli.frameworks import code

    def weights(seed):
        ad = code("torch", "cpu", "float64")
        ad.prepare(torch.nn.Linear, {"in_features": 3, "out_features": 2}, False, seed)
        return ad.module.weight.detach().clone()
    assert torch.equal(weights(0), weights(0)) and not torch.equal(weights(0), weights(1))
