"""Teaching mode: the seed's numbers, graph files, plots, and rich rendering."""

import re
import struct

import pytest
from typer.testing import CliRunner

from gradcheck_cli.api import build_problem, load_spec
from gradcheck_cli.cli import app
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.expression.explain import explain
from gradcheck_cli.report.explain import render
from gradcheck_cli.report.graph import dot, mermaid


def chain():
    return explain(build_problem(dict(f="exp(u)", let={"v": "x**2", "u": "sin(v)"},
                                      at={"x": 2}, backend="none")))


def rounds_to(value, printed: str) -> bool:
    """value agrees with the seed's print to its last digit -- or to float32's precision,
    for the seed's float32 numbers printed with more digits than float32 holds."""
    digits = len(printed.lstrip("-").replace("0.", "", 1).lstrip("0").replace(".", ""))
    last_digit = 1.5 * 10 ** (round_exp(float(printed)) - digits + 1)
    float32 = 1.2e-7 * abs(float(printed))
    return abs(value - float(printed)) <= max(last_digit, float32)


def round_exp(x):
    import math
    return math.floor(math.log10(abs(x)))


def test_seed_chain_rule_numbers():
    e = chain()
    steps = {s.node: s for s in e.backward}
    local = {(s.node, a): d for s in e.backward for a, d, _ in s.edges}
    assert rounds_to(local[("f", "u")], "0.4691642")           # df/du
    assert rounds_to(local[("u", "v")], "-0.65364367")         # du/dv
    assert local[("v", "x")] == 4.0                            # dv/dx
    assert rounds_to(steps["v"].adjoint, "-0.3066662")         # df/dv
    assert rounds_to(e.gradient["x"], "-1.2266648")            # df/dx
    assert [s.node for s in e.backward] == ["f", "u", "v"]     # reverse topological order
    text = render(e)
    for printed in ("0.46916419", "-0.65364362", "-0.30666618", "-1.2266647"):
        assert printed in text


def test_seed_sigmoid_neuron_numbers():
    (target,) = load_spec("docs/examples/sigmoid_neuron.yaml")
    problem = target.problem
    e = explain(problem)
    adjoint = {n.name: n.adjoint for n in e.nodes}
    local = {(s.node, a): d for s in e.backward for a, d, _ in s.edges}
    assert rounds_to(adjoint["p"], "0.17001")                  # dc/dp
    assert rounds_to(local[("p", "z")], "0.24978")             # dp/dz
    assert abs(adjoint["z"] - 0.042465) < 2e-6                 # dc/dz (seed rounds its factors)
    assert rounds_to(e.gradient["w1"], "0.021232")
    assert rounds_to(e.gradient["w2"], "-0.012739")
    assert abs(e.gradient["b"] - 0.042465) < 2e-6


def test_finite_difference_table_has_the_v():
    e = chain()
    rows = e.steps["x"]
    errors = [r.error for r in rows]
    best = errors.index(min(errors))
    assert 0 < best < len(rows) - 1                            # falls, then grows
    assert errors[0] > 100 * errors[best] and errors[-1] > 100 * errors[best]
    assert sum(r.chosen for r in rows) == 1
    value, bound = e.richardson["x"]
    assert abs(value - e.reference["x"]) <= bound


def parse_dot(text):
    """A small DOT reader: node ids with labels, and edges; raises on anything else."""
    assert text.startswith("digraph gradcheck {") and text.rstrip().endswith("}")
    nodes, edges = {}, []
    for line in text.strip().splitlines()[1:-1]:
        line = line.strip()
        if line.startswith(("rankdir", "node [")):
            continue
        m = re.fullmatch(r'(\w+) \[label="((?:[^"\\]|\\.)*)"(?:, shape=\w+)?\];', line)
        if m:
            nodes[m.group(1)] = m.group(2)
            continue
        m = re.fullmatch(r"(\w+) -> (\w+);", line)
        assert m, f"not DOT: {line!r}"
        edges.append(m.groups())
    assert all(a in nodes and b in nodes for a, b in edges)
    return nodes, edges


def test_graph_files_round_trip(tmp_path):
    e = chain()
    nodes, edges = parse_dot(dot(e))
    assert set(nodes) == {"n_x", "n_v", "n_u", "n_f"}
    assert set(edges) == {("n_x", "n_v"), ("n_v", "n_u"), ("n_u", "n_f")}
    assert "∂f/∂u = 0.469164" in nodes["n_u"] and "du/dx = -2.61457" in nodes["n_u"]
    lines = mermaid(e).splitlines()
    assert lines[0] == "flowchart LR"
    declared = {m.group(1) for line in lines if (m := re.match(r'\s+(\w+)\["', line))}
    arrows = [re.match(r"\s+(\w+) --> (\w+)$", line).groups() for line in lines if "-->" in line]
    assert declared == {"n_x", "n_v", "n_u", "n_f"} and len(arrows) == 3
    assert all(a in declared and b in declared for a, b in arrows)
    out = CliRunner().invoke(app, ["explain", "exp(sin(x**2))", "--at", "x=2",
                                   "--graph", str(tmp_path / "g.dot")])
    assert out.exit_code == 0
    parse_dot((tmp_path / "g.dot").read_text())


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plots_are_pngs_of_the_expected_size(tmp_path):
    pytest.importorskip("matplotlib")
    runner = CliRunner()
    out = runner.invoke(app, ["sin(pi*x)", "--grid", "x=-1:1:50", "--backend", "none",
                              "--plot", str(tmp_path / "m.png"), "-q"])
    assert out.exit_code == 0, out.output
    w, h = png_size(tmp_path / "m.png")
    assert 700 < w < 1000 and 650 < h < 900      # 8 x 7 inches at 110 dpi, tight
    out = runner.invoke(app, ["explain", "exp(sin(x**2))", "--at", "x=2", "--plot-steps",
                              str(tmp_path / "s.png")])
    assert out.exit_code == 0, out.output
    w, h = png_size(tmp_path / "s.png")
    assert 600 < w < 900 and 500 < h < 750       # 7 x 5 inches at 110 dpi + the legend below


def test_step_plot_legend_is_clear_of_the_data_and_exact_zeros_stay_visible():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gradcheck_cli.report.plots import BOTTOM, steps_figure
    # ∂f/∂y of x*y + sin(x) is exactly 1: central differences hit it exactly (error 0)
    e = explain(build_problem(dict(f="x*y + sin(x)", at={"x": 1, "y": 2}, backend="none")))
    assert any(r.error == 0 for r in e.steps["y"])
    fig = steps_figure(e)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y1 < ax.get_window_extent().y0     # entirely below the axes
    low, high = ax.get_ylim()
    assert low == BOTTOM
    for line in ax.get_lines():
        xs, ys = line.get_data()
        if 0 < len(xs) <= 20:                        # the data, not the guide lines
            assert all(low < y <= high for y in ys)  # exact zeros drawn on the floor
            for point in ax.transData.transform(list(zip(xs, ys))):
                assert not legend.contains(*point)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("exactly 0" in t for t in labels)
    plt.close(fig)


def test_forward_pass_shows_the_seeds_tangents():
    # The seed (TensorFlow, float32): du/dx = -2.6145747 (u = sin(v), v = x**2), dv/dx = 4,
    # df/dx = -1.2266648; float64 prints its own last digit, within float32's precision.
    out = CliRunner().invoke(app, ["explain", "exp(sin(x**2))", "--at", "x=2"])
    assert out.exit_code == 0, out.output
    tangents = {m.group(1): m.group(2) for m in
                re.finditer(r"^│(\S+)\s*│ d\1/dx = (\S+)\s*│", out.output, re.M)}
    assert tangents["v1"] == "4"                                   # dv/dx
    assert rounds_to(float(tangents["v2"]), "-2.6145747")          # du/dx
    assert rounds_to(float(tangents["f"]), "-1.2266648")           # df/dx
    assert "∂v2/∂v1 · dv1/dx = -0.65364362 · 4" in out.output      # the chain rule, forward
    e = chain()                                                    # with the seed's names
    tangent = {n.name: n.tangents["x"] for n in e.nodes}
    assert tangent["v"] == 4.0 and rounds_to(tangent["u"], "-2.6145747")
    assert rounds_to(tangent["f"], "-1.2266648") and tangent["x"] == 1.0
    assert e.tangent_jacobian[("f", "x")] == e.jacobian[("f", "x")]


def test_backward_pass_shows_where_contributions_are_summed():
    # f = x*y + sin(x) at (1, 2): x reaches f twice, so its adjoint is y + cos(x)
    out = CliRunner().invoke(app, ["explain", "x*y + sin(x)", "--at", "x=1,y=2"])
    assert out.exit_code == 0, out.output
    assert "2 + 0.54030231 = 2.5403023" in out.output
    assert "x has 2 uses; their contributions add up: ∂f/∂x = 2 + 0.54030231 = 2.5403023" \
        in out.output
    e = explain(build_problem(dict(f="x*y + sin(x)", at={"x": 1, "y": 2}, backend="none")))
    assert e.inputs_summed[("f", "x")] == pytest.approx([2.0, 0.5403023058681398])
    assert ("f", "y") not in e.inputs_summed      # y is used once: nothing to add


def test_cost_compares_forward_and_reverse_measured():
    # one output, four inputs: forward mode makes 4 passes, reverse mode 1
    many_in = explain(build_problem(dict(f="log(exp(a) + exp(b) + exp(c) + exp(d))",
                                         at={"a": 1, "b": 2, "c": 3, "d": 4}, backend="none")))
    modes = {r["mode"]: r for r in many_in.modes}
    assert modes["forward"]["passes"] == 4 and modes["reverse"]["passes"] == 1
    assert modes["forward"]["visits"] > 2 * modes["reverse"]["visits"]
    assert all(r["seconds"] > 0 for r in many_in.modes)
    # one input, four outputs sharing u = t**2 + exp(t): the other way round
    many_out = explain(build_problem(dict(
        f="[sin(t**2 + exp(t)), cos(t**2 + exp(t)), exp(t**2 + exp(t)), (t**2 + exp(t))**3]",
        at={"t": 0.5}, backend="none")))
    modes = {r["mode"]: r for r in many_out.modes}
    assert modes["forward"]["passes"] == 1 and modes["reverse"]["passes"] == 4
    assert modes["reverse"]["visits"] > 2 * modes["forward"]["visits"]
    text = render(many_out)
    assert "4 (one per output)" in text and "1 (one per input)" in text
    assert re.search(r"Measured: (forward|reverse) mode was \d+\.\d× faster", text)
    assert {r["method"] for r in many_out.cost} == {"symbolic", "fd", "reverse", "forward",
                                                    "complex-step"}


def test_explain_needs_one_point():
    r = CliRunner().invoke(app, ["explain", "sin(x)"])
    assert r.exit_code == 2 and "has no value" in r.output
    with pytest.raises(GradcheckError, match="one point"):
        explain(build_problem(dict(f="sin(x)", grid={"x": [0, 1, 3]}, backend="none")))


def test_several_outputs_get_a_backward_pass_each():
    e = explain(build_problem(dict(f="[x*y, x + y**2]", at={"x": 2, "y": 3}, backend="none")))
    assert e.outputs == ["f₁", "f₂"]
    assert {s.output for s in e.backward} == {"f₁", "f₂"}
    assert e.jacobian == e.tangent_jacobian == {("f₁", "x"): 3.0, ("f₁", "y"): 2.0,
                                                ("f₂", "x"): 1.0, ("f₂", "y"): 6.0}
    text = render(e)
    assert "Backward pass for f₂ (pass 2 of 2)" in text and "∂f₂/∂y =" in text
    lines = mermaid(e)
    assert "∂f₁/∂x = 3" in lines and "∂f₂/∂x = 1" in lines


def test_explaining_a_point_without_a_derivative_says_so():
    text = render(explain(build_problem(dict(f="1/x", at={"x": 0}, backend="none"))))
    assert "no reference: f has no finite derivative at this point" in text
    assert "smallest error" not in text  # every error is NaN: no step is best
    assert "no derivative here to compare with" in text
    assert re.search(r"^4. Symbolic derivative \(SymPy\) *$", text, re.M)  # on one line


def test_latex_and_rich_html():
    r = CliRunner().invoke(app, ["explain", "x*sin(x)", "--at", "x=1", "--latex"])
    assert r.exit_code == 0 and "\\sin" in r.output
    import gradcheck_cli
    html = gradcheck_cli.check("sin(x)", at={"x": 1}, backend="none")._repr_html_()
    assert "<table" in html or "<pre" in html
    assert "∂f/∂x" in html and "1 check: 1 passed" in html
    assert "Backward pass" in chain()._repr_html_()
