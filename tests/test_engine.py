"""check_engine: a user's reverse-mode engine (specs/engine/tinyad.py, in the style of the
course's reverse-mode-from-scratch chapter) against finite differences, op by op, and
against gradcheck's own engine; each wrong twin fails where it is wrong."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "specs" / "engine"))
sys.path.insert(0, str(ROOT / "tests" / "mutants"))

import tinyad  # noqa: E402
from tinyad import OPS, Var, get_gradients, seed_f1, seed_f2  # noqa: E402

from gradcheck_cli import GradcheckError, assert_engine, check_engine  # noqa: E402
from gradcheck_cli.engine import graph  # noqa: E402

import engine as mutants  # noqa: E402  (tests/mutants/engine.py)


def by_name(run):
    return {r.name.split(": ", 1)[1]: r for r in run.checks}


def test_the_seed_engine_prints_the_chapters_numbers():
    a, b = Var(230.3), Var(33.2)
    g = get_gradients(seed_f1(a, b))
    assert g[a] == pytest.approx(-153284.83150602411, rel=1e-14)
    assert g[b] == pytest.approx(3815.0389441500993, rel=1e-14)
    a, b, c = Var(43.0), Var(3.0), Var(2.0)
    g = get_gradients(seed_f2(a, b, c))
    assert [g[a], g[b], g[c]] == pytest.approx(
        [60.85353612046653, 872.2331479536114, -3.2853671032530305], rel=1e-14)


def test_graph_visits_shared_nodes_once_children_first():
    a = Var(2.0)
    y = a
    for _ in range(60):        # 2^60 paths from y to a: a path walk would never finish
        y = y * y
    nodes = graph(y)
    assert len(nodes) == 61 and nodes[0] is a and nodes[-1] is y


@pytest.mark.parametrize("f, point", [(seed_f1, (230.3, 33.2)), (seed_f2, (43.0, 3.0, 2.0))])
def test_the_right_engine_passes_every_check(f, point):
    run = assert_engine(f, *point, leaf=Var, gradients=get_gradients, ops=OPS)
    checks = by_name(run)
    assert "the engine's gradient" in checks and "against gradcheck's engine" in checks
    ops = {name.split(" (")[0] for name in checks} - {"the engine's gradient",
                                                      "against gradcheck's engine"}
    assert ops >= {"mul", "add", "neg", "inv"}
    ours = checks["against gradcheck's engine"]
    # gradcheck's reverse engine, its 30-digit reference and the engine's own numbers side by side
    assert {"reverse", "expect"} <= set(ours.methods)
    value = [r for r in ours.rows if r.label == "f (value)"][0]
    assert value.status == "pass"


def test_a_wrong_rule_fails_in_its_own_op_check_and_is_named():
    run = check_engine(mutants.f2_log_squared, 43.0, 3.0, 2.0, leaf=Var,
                       gradients=get_gradients, ops=mutants.OPS_MUTANT)
    checks = by_name(run)
    assert checks["LogSquared (1 node)"].status == "fail"
    verdict = checks["LogSquared (1 node)"].rows[0].verdicts["vjp"]
    assert verdict.location.startswith("var[0]")
    for other in ("mul (4 nodes)", "Sin (1 node)", "Exp (1 node)"):
        assert checks[other].status == "pass", other
    assert checks["the engine's gradient"].status == "fail"
    assert checks["against gradcheck's engine"].status == "fail"
    with pytest.raises(AssertionError, match="LogSquared"):
        assert_engine(mutants.f2_log_squared, 43.0, 3.0, 2.0, leaf=Var, gradients=get_gradients)


def test_a_lost_minus_sign_fails_and_its_twin_passes():
    bad = check_engine(mutants.f1_inv_no_minus, 230.3, 33.2, leaf=Var, gradients=get_gradients)
    assert by_name(bad)["InvNoMinus (2 nodes)"].status == "fail"
    assert by_name(bad)["the engine's gradient"].status == "fail"

    def f1_right(a, b):
        return mul_(a, b)

    def mul_(a, b):   # the same graph with tinyad's own inv
        def div(x, y):
            return tinyad.mul(x, tinyad.inv(y))
        return tinyad.mul(tinyad.mul(tinyad.add(div(a, b), tinyad.neg(a)),
                                     tinyad.add(tinyad.add(div(b, a), a), b)),
                          tinyad.add(a, tinyad.neg(b)))
    good = check_engine(f1_right, 230.3, 33.2, leaf=Var, gradients=get_gradients)
    assert all(r.status == "pass" for r in good.checks)


def test_a_traversal_that_does_not_add_paths_fails_while_every_rule_passes():
    run = check_engine(seed_f2, 43.0, 3.0, 2.0, leaf=Var,
                       gradients=mutants.gradients_overwriting, ops=OPS)
    checks = by_name(run)
    rules = [r for n, r in checks.items() if n not in ("the engine's gradient",
                                                        "against gradcheck's engine")]
    assert rules and all(r.status == "pass" for r in rules)
    assert checks["the engine's gradient"].status == "fail"
    assert checks["against gradcheck's engine"].status == "fail"


def test_a_node_type_without_text_is_said_not_silently_skipped():
    ops = {k: v for k, v in OPS.items() if k is not tinyad.Sin}
    run = check_engine(seed_f2, 43.0, 3.0, 2.0, leaf=Var, gradients=get_gradients, ops=ops)
    ours = by_name(run)["against gradcheck's engine"]
    assert ours.status == "error" and "Sin" in ours.error


def test_no_point_is_an_error():
    with pytest.raises(GradcheckError, match="give the point"):
        check_engine(seed_f1, leaf=Var, gradients=get_gradients)


def test_the_engine_spec_runs_from_the_command_line():
    out = subprocess.run([sys.executable, "-m", "gradcheck_cli", str(ROOT / "specs" / "engine")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "expected failure" in out.stdout


class Scale(tinyad.Ops):
    """c·x with the constant c not a node: not rebuildable from its children alone."""

    def __init__(self, var, c):
        self.value = c * var.value
        self.grad = [(var, c)]


def test_an_operation_that_cannot_be_rebuilt_is_its_own_error_row():
    def f(a, b):
        return Scale(a * b, 3.0)
    run = check_engine(f, 0.5, 1.5, leaf=Var, gradients=get_gradients)
    checks = by_name(run)
    assert checks["the engine's gradient"].status == "pass"      # not lost with it
    assert checks["mul (1 node)"].status == "pass"
    assert checks["Scale"].status == "error" and "rebuild=" in checks["Scale"].error
    fixed = check_engine(f, 0.5, 1.5, leaf=Var, gradients=get_gradients,
                         rebuild=lambda kind, children: kind(*children, 3.0)
                         if kind is Scale else kind(*children))
    assert by_name(fixed)["Scale (1 node)"].status == "pass"


def test_an_engine_keeping_children_elsewhere_is_told_so():
    class Node:
        def __init__(self, value, children=()):
            self.value, self.children = value, list(children)

    def mul_(a, b):
        return Node(a.value * b.value, [(a, b.value), (b, a.value)])

    def grads(out):
        found = {out: 1.0}
        for node in reversed(graph(out, "children")):
            for child, local in node.children:
                found[child] = found.get(child, 0.0) + local * found.get(node, 0.0)
        return found
    run = check_engine(mul_, 0.5, 1.5, leaf=Node, gradients=grads)
    assert len(run.checks) == 1 and any("parents=" in n for n in run.checks[0].notes)
    full = by_name(check_engine(mul_, 0.5, 1.5, leaf=Node, gradients=grads,
                                parents="children"))
    # one generic node class for every operation: found now, and rebuild= is asked for
    assert full["Node"].status == "error" and "pass rebuild=" in full["Node"].error


def test_arrays_as_the_point_are_refused_in_a_line():
    import numpy as np
    with pytest.raises(GradcheckError, match="one number per input"):
        check_engine(seed_f1, np.array([230.3, 33.2]), leaf=Var, gradients=get_gradients)
