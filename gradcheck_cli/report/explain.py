"""The teaching view in the terminal: graph, forward pass with tangents, backward pass,
symbolic derivative, finite-difference steps, and cost with forward against reverse
mode measured (rich tables)."""

from __future__ import annotations

import io
import math

import sympy as sp
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..expression.parse import to_text, with_decimals
from . import fmt

RIGHT = ("value", "adjoint", "local derivative", "contribution", "h", "D(h)", "error", "time",
         "passes", "node visits")


def _table(*columns: str) -> Table:
    table = Table(pad_edge=False)
    for c in columns:
        right = c in RIGHT or c.startswith("dnode/d")
        table.add_column(c, justify="right" if right else "left")
    return table


def _titled(title: str, table: Table) -> list:
    # the title as its own line: a table's title would widen every column to fit it
    return [Text(title, style="bold"), table]


def _g(x: float) -> str:
    return f"{x:.8g}"


def _sum(parts: list[float], total: float) -> str:
    """'2 + 0.54030231 = 2.5403023': contributions and the adjoint they add up to."""
    terms = [_g(p) if i == 0 or p >= 0 else f"({_g(p)})" for i, p in enumerate(parts)]
    return " + ".join(terms) + f" = {_g(total)}"


def _passes(n: int) -> str:
    return f"{n} pass" if n == 1 else f"{n} passes"


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 0.1 else f"{seconds:.2f} s"


def renderables(e, *, latex: bool = False) -> list:
    point = ", ".join(f"{k} = {fmt(v)}" for k, v in e.point.items())
    out = [Text(f"{e.name}  at {point}", style="bold")]
    graph = _table("node", "=", "inputs")
    for n in e.nodes:
        graph.add_row(n.name, n.formula, ", ".join(n.inputs) or n.op)
    out += _titled("1. Computational graph (each intermediate named)", graph)
    out += _forward(e)
    out += _backward(e)
    out += _symbolic(e, latex)
    out += _steps(e)
    out += _cost(e)
    return out


def _forward(e) -> list:
    """The values, each node's tangent along every input, and how forward mode formed them
    (d for a tangent, a total derivative; ∂ for a local derivative)."""
    table = _table("node", "=", "value", *(f"dnode/d{w}" for w in e.wrt))
    for n in e.nodes:
        table.add_row(n.name, n.formula, _g(n.value),
                      *(_g(n.tangents.get(w, 0.0)) for w in e.wrt))
    out = _titled("2. Forward pass: every node's value, and its tangent by forward mode", table)
    for i, w in enumerate(e.wrt):
        t = _table("node", "tangent", f"= Σ ∂node/∂argument · dargument/d{w}")
        for s in (s for s in e.forward if s.var == w):
            names = " + ".join(f"∂{s.node}/∂{a} · d{a}/d{w}" for a, _, _ in s.terms)
            values = " + ".join(f"{_g(d)} · {_g(t)}" for _, d, t in s.terms)
            t.add_row(s.node, f"d{s.node}/d{w} = {_g(s.tangent)}", f"{names} = {values}")
        out += _titled(f"   forward pass {i + 1} of {len(e.wrt)}: seed d{w}/d{w} = 1, the other "
                       "inputs 0", t)
    return out


def _backward(e) -> list:
    """One table per output, in the order reverse mode visits the nodes; adjoints that
    several uses add into are shown as the sum."""
    out = []
    for k, f in enumerate(e.outputs):
        which = f" for {f} (pass {k + 1} of {len(e.outputs)})" if len(e.outputs) > 1 else ""
        back = _table("node", f"adjoint ∂{f}/∂node", "→ input", "local derivative",
                      "contribution")
        for step in (s for s in e.backward if s.output == f):
            adjoint = _sum(step.summed, step.adjoint) if step.summed else _g(step.adjoint)
            if not step.edges:
                back.add_row(step.node, adjoint, "", "", "")
            for i, (arg, local, contribution) in enumerate(step.edges):
                back.add_row(step.node if i == 0 else "", adjoint if i == 0 else "",
                             f"∂{step.node}/∂{arg}", _g(local), _g(contribution))
        for w in e.wrt:
            parts = e.inputs_summed.get((f, w))
            total = e.jacobian[(f, w)]
            back.add_row(w, _sum(parts, total) if parts else _g(total),
                         f"(an input: ∂{f}/∂{w})", "", "")
        out += _titled(f"3. Backward pass{which}, in the order reverse mode computes it", back)
        for w in e.wrt:
            parts = e.inputs_summed.get((f, w))
            if parts:
                out.append(Text(f"   {w} has {len(parts)} uses; their contributions add up: "
                                f"∂{f}/∂{w} = {_sum(parts, e.jacobian[(f, w)])}", style="dim"))
    grads = Table.grid(padding=(0, 2))
    for (f, w), g in e.jacobian.items():
        ref = e.reference_jacobian[(f, w)]
        grads.add_row(Text(f"∂{f}/∂{w}", style="bold"), f"reverse {_g(g)}",
                      f"forward {_g(e.tangent_jacobian[(f, w)])}",
                      Text(f"(reference {ref:.12g})" if math.isfinite(ref) else
                           "(no reference: f has no finite derivative at this point)",
                           style="dim"))
    out.append(grads)
    return out


def _symbolic(e, latex: bool) -> list:
    sym = _table("")
    sym.show_header = False
    for (f, w), (raw, simplified) in e.symbolic.items():
        paths = e.chains.get((f, w)) or []
        if paths and any(len(p) > 1 for p in paths):
            names = " + ".join(" · ".join(f"∂{a}/∂{b}" for a, b, _ in p) for p in paths)
            values = " + ".join(" · ".join(f"({to_text(d)})" for _, _, d in p) for p in paths)
            sym.add_row(f"chain rule: ∂{f}/∂{w} = {names}")
            sym.add_row(f"          = {values}")
        shown = with_decimals(raw)  # a decimal literal reads 1.24, not 31/25
        text = sp.latex(shown) if latex else sp.pretty(shown, use_unicode=True)
        sym.add_row(f"∂{f}/∂{w} =\n{text}")
        if simplified != raw:
            shown = with_decimals(simplified)
            text = sp.latex(shown) if latex else sp.pretty(shown, use_unicode=True)
            sym.add_row(f"simplified:\n{text}")
    return _titled("4. Symbolic derivative (SymPy)", sym)


def _steps(e) -> list:
    out, f = [], e.outputs[0]
    for w, rows in e.steps.items():
        table = _table("h", "D(h)", "error", "")
        finite = [r for r in rows if math.isfinite(r.error)]
        best = min(finite, key=lambda r: r.error) if finite else None
        for r in rows:
            mark = ("← gradcheck's step" if r.chosen else
                    "← smallest error" if r is best else "")
            table.add_row(f"{r.h:.3g}", f"{r.value:.12g}", f"{r.error:.2e}", mark)
        value, bound = e.richardson[w]
        out += _titled(f"5. Finite differences for ∂{f}/∂{w}: step h against error "
                       "(truncation ∝ h², rounding ∝ ε/h)", table)
        error = abs(value - e.reference[w])
        out.append(Text(f"   Richardson (h, h/2) at gradcheck's step: {value:.15g} "
                        f"± {bound:.1e}" + (f" (error {error:.1e})" if math.isfinite(error) else
                                            " (no derivative here to compare with)")))
    return out


def _cost(e) -> list:
    n, m = e.n_inputs, e.n_outputs
    cost = _table("method", "work", "time")
    for row in e.cost:
        cost.add_row(row["method"], row["work"], _time(row["seconds"]))
    modes = _table("mode", "passes", "node visits", "time")
    for row in e.modes:
        modes.add_row(f"{row['mode']} mode", f"{row['passes']} (one per {row['per']})",
                      str(row["visits"]), _time(row["seconds"]))
    out = _titled("6. Cost at this point (each time the best of 5 runs)", cost)
    out += _titled(f"   forward against reverse mode, measured: n = {n} input(s), "
                   f"m = {m} output(s)", modes)
    if len(e.modes) == 2:
        a, b = sorted(e.modes, key=lambda r: r["seconds"])
        ratio = b["seconds"] / a["seconds"] if a["seconds"] > 0 else math.inf
        out.append(Text(
            f"   Measured: {a['mode']} mode was {ratio:.1f}× faster here ("
            f"{_passes(a['passes'])} visiting {a['visits']} nodes, against "
            f"{_passes(b['passes'])} visiting {b['visits']}). Forward mode needs one pass per "
            "input, reverse mode one per "
            f"output; central differences 2n = {2 * n} evaluations of f (4n = {4 * n} with "
            "Richardson). Reverse mode wins when inputs outnumber outputs, as in training a "
            "network; forward mode when outputs outnumber inputs.", style="dim"))
    return out


def print_explanation(e, console: Console | None = None, *, latex: bool = False) -> None:
    console = console or Console()
    console.print(Group(*renderables(e, latex=latex)))
    console.print()


def render(e, *, latex: bool = False, width: int = 120) -> str:
    console = Console(record=True, width=width, no_color=True, force_terminal=False,
                      file=io.StringIO())
    print_explanation(e, console, latex=latex)
    return console.export_text()
