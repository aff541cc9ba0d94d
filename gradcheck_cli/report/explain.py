"""The teaching view in the terminal: graph, forward pass, backward pass, symbolic
derivative, finite-difference steps and cost (rich tables)."""

from __future__ import annotations

import io
import math

import sympy as sp
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..expression.parse import to_text, with_decimals
from . import fmt


def _table(title: str, *columns: str) -> Table:
    table = Table(title=Text(title, style="bold"), title_justify="left", pad_edge=False,
                  min_width=len(title) + 2)
    for c in columns:
        table.add_column(c, justify="right" if c in ("value", "adjoint", "local derivative",
                                                    "contribution", "h", "D(h)", "error",
                                                    "seconds") else "left")
    return table


def renderables(e, *, latex: bool = False) -> list:
    point = ", ".join(f"{k} = {fmt(v)}" for k, v in e.point.items())
    out = [Text(f"{e.name}  at {point}", style="bold")]

    graph = _table("1. Computational graph (each intermediate named)", "node", "=", "inputs")
    for n in e.nodes:
        graph.add_row(n.name, n.formula, ", ".join(n.inputs) or n.op)
    out.append(graph)

    forward = _table("2. Forward pass: every node's value", "node", "=", "value")
    for n in e.nodes:
        forward.add_row(n.name, n.formula, f"{n.value:.8g}")
    out.append(forward)

    back = _table("3. Backward pass, in the order reverse mode computes it",
                  "node", "adjoint ∂f/∂node", "→ input", "local derivative", "contribution")
    for step in e.backward:
        for i, (arg, local, contribution) in enumerate(step.edges):
            back.add_row(step.node if i == 0 else "", f"{step.adjoint:.8g}" if i == 0 else "",
                         f"∂{step.node}/∂{arg}", f"{local:.8g}", f"{contribution:.8g}")
    out.append(back)
    grads = Table.grid(padding=(0, 2))
    for w, g in e.gradient.items():
        ref = e.reference[w]
        grads.add_row(Text(f"∂f/∂{w}", style="bold"), f"{g:.8g}",
                      Text(f"(reference {ref:.12g})" if math.isfinite(ref) else
                           "(no reference: f has no finite derivative at this point)",
                           style="dim"))
    out.append(grads)

    sym = _table("4. Symbolic derivative (SymPy)", "")
    sym.show_header = False
    for w, (raw, simplified) in e.symbolic.items():
        paths = e.chains.get(w) or []
        if paths and any(len(p) > 1 for p in paths):
            names = " + ".join(" · ".join(f"∂{a}/∂{b}" for a, b, _ in p) for p in paths)
            values = " + ".join(" · ".join(f"({to_text(d)})" for _, _, d in p) for p in paths)
            sym.add_row(f"chain rule: ∂f/∂{w} = {names}")
            sym.add_row(f"          = {values}")
        shown = with_decimals(raw)  # a decimal literal reads 1.24, not 31/25
        text = sp.latex(shown) if latex else sp.pretty(shown, use_unicode=True)
        sym.add_row(f"∂f/∂{w} =\n{text}")
        if simplified != raw:
            shown = with_decimals(simplified)
            text = sp.latex(shown) if latex else sp.pretty(shown, use_unicode=True)
            sym.add_row(f"simplified:\n{text}")
    out.append(sym)

    for w, rows in e.steps.items():
        table = _table(f"5. Finite differences for ∂f/∂{w}: step h against error "
                       "(truncation falls as h², rounding grows as ε/h)", "h", "D(h)", "error", "")
        finite = [r for r in rows if math.isfinite(r.error)]
        best = min(finite, key=lambda r: r.error) if finite else None
        for r in rows:
            mark = "← gradcheck's step" if r.chosen else ("← smallest error" if r is best else "")
            table.add_row(f"{r.h:.3g}", f"{r.value:.12g}", f"{r.error:.2e}", mark)
        value, bound = e.richardson[w]
        out.append(table)
        error = abs(value - e.reference[w])
        out.append(Text(f"   Richardson (h, h/2) at gradcheck's step: {value:.15g} "
                        f"± {bound:.1e}" + (f" (error {error:.1e})" if math.isfinite(error) else
                                            " (no derivative here to compare with)")))

    cost = _table("6. Cost at this point", "method", "work", "seconds")
    for row in e.cost:
        cost.add_row(row["method"], row["work"], f"{row['seconds']:.5f}")
    out.append(cost)
    n, m = e.n_inputs, e.n_outputs
    out.append(Text(
        f"   With n = {n} input(s) and m = {m} output(s): reverse mode needs m = {m} backward "
        f"pass(es) for the whole gradient, forward mode n = {n} pass(es), central differences "
        f"2n = {2 * n} evaluations of f (4n = {4 * n} with Richardson). Reverse mode wins "
        "when inputs outnumber outputs, as in training a network.", style="dim"))
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
