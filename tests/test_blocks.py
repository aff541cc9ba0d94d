"""Block-by-block, multi-threaded evaluation: the same numbers as one big batch."""

import numpy as np
import pytest

from gradcheck_cli import blocks
from gradcheck_cli.api import build_problem, run_problem
from gradcheck_cli.columns import get_method

SMALL = 1000  # a block size that splits a few thousand points into uneven blocks


@pytest.fixture(params=["1", "2"], ids=["1 thread", "2 threads"])
def small_blocks(request, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK", SMALL)
    monkeypatch.setenv("GRADCHECK_THREADS", request.param)


def test_assemble_joins_blocks_in_order(small_blocks):
    seen = []

    def fn(sl):
        seen.append((sl.start, sl.stop))
        idx = np.arange(sl.start, sl.stop, dtype=float)
        return np.stack([idx, -idx]), idx > 2500
    values, mask = blocks.assemble(fn, 2600)
    assert values.shape == (2, 2600) and mask.dtype == bool
    np.testing.assert_array_equal(values[0], np.arange(2600.0))
    np.testing.assert_array_equal(values[1], -np.arange(2600.0))
    assert mask.sum() == 99
    assert sorted(seen) == [(0, 1000), (1000, 2000), (2000, 2600)]


def test_an_error_in_a_block_reaches_the_caller(small_blocks):
    def fn(sl):
        if sl.start >= 2000:
            raise ValueError("block 3")
        return np.zeros(sl.stop - sl.start)
    with pytest.raises(ValueError, match="block 3"):
        blocks.assemble(fn, 2500)


def test_workers_follows_the_environment(monkeypatch):
    monkeypatch.setenv("GRADCHECK_THREADS", "3")
    assert blocks.workers() == 3
    monkeypatch.setenv("GRADCHECK_THREADS", "zero")
    assert blocks.workers() >= 1


@pytest.mark.parametrize("method", ["symbolic", "fd", "reverse"])
def test_methods_give_the_same_bits_in_blocks(method, monkeypatch):
    spec = dict(f="exp(sin(x*y)) + log(1 + x**2)", grid={"x": [-2, 2, 50], "y": [0.5, 1, 50]},
                order=2, backend="none")
    whole = get_method(method).compute(build_problem(spec))
    monkeypatch.setattr(blocks, "BLOCK", SMALL)
    monkeypatch.setenv("GRADCHECK_THREADS", "2")
    split = get_method(method).compute(build_problem(spec))
    assert set(whole.values) == set(split.values)
    assert len([k for k in whole.values if k[1]]) == 5  # (symbolic also gives f itself)
    for key in whole.values:
        np.testing.assert_array_equal(whole.values[key], split.values[key])
        if key in whole.errors:
            np.testing.assert_array_equal(whole.errors[key], split.errors[key])


def test_a_failure_in_a_late_block_is_located(small_blocks):
    # expect is wrong only at x = 2.25, point 2250 of 2501: in the third block.
    p = build_problem(dict(f="x**3", grid={"x": [0, 2.5, 2501]},
                           expect={"x": "3*x**2 + relu(1 - 1e4*abs(x - 2.25))"},
                           backend="none"))
    r = run_problem(p)
    v = r.rows[0].verdicts["expect"]
    assert v.status == "fail" and v.worst == 2250 and v.compared == 2501
    assert v.value == pytest.approx(3 * 2.25 ** 2 + 1) and v.reference == pytest.approx(15.1875)
    assert all(r.rows[0].verdicts[m].status == "pass" for m in ("symbolic", "fd", "reverse"))


def test_domain_edges_found_in_any_block(small_blocks):
    # log(x - 1): points just above 1 have stencils reaching below 1 (skipped by finite
    # differences); x = 1 itself is outside the domain. The grid puts them in block 2.
    x = np.concatenate([np.linspace(3, 2, 1500), [1.0, 1 + 1e-9, 1 + 1e-7],
                        np.linspace(1.5, 2, 500)])
    p = build_problem(dict(f="log(x - 1)", at={"x": x.tolist()}, backend="none"))
    r = run_problem(p)
    assert r.status == "pass"
    assert r.rows[0].excluded == 1
    fd = r.rows[0].verdicts["fd"]
    assert fd.compared == len(x) - 3  # the edge point and the two stencils past the edge


def test_blocks_inside_blocks_do_not_deadlock(small_blocks):
    def inner(sl):
        return np.arange(sl.start, sl.stop, dtype=float)

    def outer(sl):  # a block that itself works in blocks
        return blocks.assemble(inner, 2500)[sl] * 2
    np.testing.assert_array_equal(blocks.assemble(outer, 2500), 2 * np.arange(2500.0))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_its_own_pool(monkeypatch):
    import os
    import select
    import time
    monkeypatch.setattr(blocks, "BLOCK", SMALL)
    monkeypatch.setenv("GRADCHECK_THREADS", "2")
    ones = lambda sl: np.ones(sl.stop - sl.start)  # noqa: E731

    def slow(sl):  # slow enough that the pool starts both of its threads
        time.sleep(0.05)
        return ones(sl)
    blocks.assemble(slow, 5000)  # the parent's pool now has two idle threads
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: would wait forever on the parent's threads, which it lacks
        os.write(write, str(blocks.assemble(ones, 2500).sum()).encode())
        os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 30)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert ready and os.read(read, 64) == b"2500.0"
