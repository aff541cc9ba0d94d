"""The seed examples in specs/: every file passes, and the seeds' printed numbers hold."""

from pathlib import Path

import pytest

from gradcheck_cli.api import load_spec, run_problem

SPECS = Path(__file__).resolve().parents[1] / "specs"
FILES = sorted(SPECS.rglob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_spec_file_passes(path):
    # expressions with the built-in methods only; code on its own framework
    overrides = {"backend": "none"} if "seeds" in path.parts else {}
    for problem in load_spec(path, overrides):
        result = run_problem(problem)
        assert result.ok, (problem.name, result.status, result.error)


def test_backend_none_refuses_code_by_name():
    """--backend none cannot run code: every code check says so (exit 2), none passes."""
    results = [run_problem(p) for p in load_spec(SPECS / "layers" / "gradcheck_layers.yaml",
                                                  {"backend": "none"})]
    assert results and all(r.status == "error" and "backend 'none'" in r.error
                           and "field 'backend'" in r.error for r in results)


def refs(path, name):
    problem = next(p for p in load_spec(SPECS / "seeds" / path, {"backend": "none"})
                   if p.name.startswith(name))
    result = run_problem(problem)
    return {row.label: row.ref_min for row in result.rows}, result


def test_seed_001_chain_rule():
    r, _ = refs("001_tensorflow_gradienttape.yaml", "e^(sin(x^2))")
    assert round(r["∂f/∂x"], 7) == -1.2266647  # the seed printed float32 -1.2266648


def test_seed_001_sigmoid_neuron_one_example():
    r, _ = refs("001_tensorflow_gradienttape.yaml", "sigmoid neuron, MSE, one")
    assert [round(r[k], 6) for k in ("∂f/∂w1", "∂f/∂w2", "∂f/∂b")] == \
        [0.021232, -0.012739, 0.042464]  # the seed: 0.021233, -0.012740, 0.042465 (rounded inputs)


def test_seed_001_batch_of_two():
    r, _ = refs("001_tensorflow_gradienttape.yaml", "sigmoid neuron, MSE, batch")
    assert abs(r["∂f/∂w1"] - 0.005366531) < 1e-8
    assert abs(r["∂f/∂w2"] - 0.004129337) < 1e-8
    assert abs(r["∂f/∂b"] - (-0.0050153434)) < 1e-7


def test_seed_002_log_sum_exp():
    r, _ = refs("002_tensors_chain_rule.yaml", "-log(e^x")
    assert round(r["∂f/∂x"], 7) == -0.7310586 and round(r["∂f/∂y"], 7) == 0.7310586
    r, result = refs("002_tensors_chain_rule.yaml", "naive")
    assert result.status == "xfail"
    assert r == {"∂f/∂x": -1.0, "∂f/∂y": 1.0}
    reasons = {v.reason for row in result.rows for v in row.verdicts.values()}
    assert reasons == {"non-finite"}


def test_seed_004_article_gradients():
    r, _ = refs("004_reverse_mode_from_scratch.yaml", "(a/b - a)")
    assert r["∂f/∂a"] == pytest.approx(-153284.83150602411, rel=1e-13)
    assert r["∂f/∂b"] == pytest.approx(3815.0389441500993, rel=1e-13)
    r, _ = refs("004_reverse_mode_from_scratch.yaml", "log(f^2)")
    assert r["∂f/∂a"] == pytest.approx(60.85353612046653, rel=1e-12)
    assert r["∂f/∂b"] == pytest.approx(872.2331479536114, rel=1e-12)
    assert r["∂f/∂c"] == pytest.approx(-3.2853671032530305, rel=1e-12)


def test_seed_000_domain_edge_is_excluded():
    _, result = refs("000_pytorch_autograd.yaml", "exercise: ln(x - 1)")
    assert result.rows[0].excluded == 1 and result.ok


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_layer_specs_pass_in_half_precision(dtype):
    # the course's torch, Keras and JAX layers run in the dtype; finite differences in float64
    from gradcheck_cli import frameworks as backends
    for framework in ("torch", "tensorflow", "jax"):
        if not backends.is_installed(framework):
            pytest.skip(f"{framework} is not installed")
    results = [run_problem(p) for p in load_spec(SPECS / "layers" / "gradcheck_layers.yaml",
                                                 {"dtype": dtype})]
    assert [r.status for r in results] == ["pass"] * 10
    assert {r.method_info[next(iter(r.method_info))]["dtype"] for r in results} == {dtype}
