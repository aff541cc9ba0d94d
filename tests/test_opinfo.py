"""PyTorch's own op database (OpInfo) straight through assert_gradients: no closure, no
crash, no false alarm, and the real bugs found (benchmarks/opinfo/run.py runs it all).

A curated set of ops runs with the suite: every kind of signature the database has
(keyword and integer arguments, tensor lists, several outputs, integer outputs,
zero-element samples, ±inf inputs, a ZeroTensor gradient) and the PyTorch bugs
gradcheck catches where torch's own gradcheck does not. The whole database is marked
``opinfo`` (run by hand: ``pytest tests/test_opinfo.py --opinfo``).
"""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "opinfo"))

# op -> what its samples show
CURATED = {
    "gather": "an integer index tensor and an int",
    "max.reduction_with_dim": "values and integer indices out, keyword arguments",
    "stack": "a tensor list",
    "nn.functional.cross_entropy": "integer targets, keyword arguments",
    "native_layer_norm": "outputs that do not require grad",
    "nansum": "NaN in the inputs",
    "sgn": "a ZeroTensor gradient",
    "sum": "zero-element samples",
    "linalg.det": "a matrix function",
    "__rmod__": "jumps inside finite differences' reach",
    "index_fill": "a batching rule wrong for one argument (the 0-d fill value) only",
    "torch.ops.aten._safe_softmax.default": "a row of -inf: nothing to move, skipped",
}
# op -> the reason gradcheck must fail it with (torch's own gradcheck passes all but the
# first; see docs/benchmarks.md)
BUGS = {
    "native_group_norm": "other outputs' gradients undefined",
    "cholesky_inverse": "torch·fwd",
    "logcumsumexp": "torch·fwd",
    "nn.functional.linear_cross_entropy.chunked": "no forward-mode tangent",
}


@pytest.fixture(scope="module")
def ops():
    from torch_baseline import load_ops, op_id
    return {op_id(op): op for op in load_ops("float64")[0]}


def samples(op, limit=None):
    from torch_baseline import set_rng_seed, torch_seed
    set_rng_seed(torch_seed("bwd"))
    out = list(op.sample_inputs("cpu", torch.float64, requires_grad=True))
    return out if limit is None else out[:limit]


def ours(op, sample):
    """(status, message) of gradcheck on one sample, as benchmarks/opinfo/run.py runs it."""
    from run import our_check
    status, message, _, _ = our_check(op, sample)
    return status, message


@pytest.mark.parametrize("name", sorted(CURATED))
def test_curated_ops_pass_without_a_closure(ops, name):
    for i, sample in enumerate(samples(ops[name], limit=12)):
        status, message = ours(ops[name], sample)
        assert status in ("pass", "skipped"), (name, i, status, message)


@pytest.mark.parametrize("name", sorted(BUGS))
def test_real_pytorch_bugs_are_caught(ops, name):
    caught = []
    for sample in samples(ops[name], limit=8):
        status, message = ours(ops[name], sample)
        assert status in ("pass", "fail", "skipped"), message   # never a crash
        if status == "fail":
            caught.append(message)
    assert caught and all(BUGS[name] in m for m in caught), caught


@pytest.mark.opinfo
def test_the_whole_database(ops, tmp_path):
    """Every op and sample: no crash, and every disagreement with torch.autograd.gradcheck
    explained (benchmarks/opinfo/run.py; the table is in docs/benchmarks.md)."""
    from run import our_check, torch_check, verdict
    from torch_baseline import build_fn
    known = {"cholesky_inverse", "logcumsumexp", "nn.functional.linear_cross_entropy.chunked",
             "nn.functional.linear_cross_entropy.chunked_none", "native_group_norm"}
    problems = []
    for name, op in ops.items():
        for i, sample in enumerate(samples(op)):
            fn, args = build_fn(op, sample, op.get_op())
            if sum(t.numel() for t in args) > 20000:
                continue
            status, message, _, _ = our_check(op, sample)
            theirs = torch_check(op, fn, args)[0]
            v = verdict(status, theirs, message)
            if v == "crash" or (v == "false_alarm?" and name not in known):
                problems.append((name, i, status, message[:200]))
    assert problems == []
