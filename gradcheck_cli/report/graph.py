"""The computational graph as Graphviz DOT or Mermaid, with values, tangents and adjoints."""

from __future__ import annotations

import re


def _id(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def _text(node) -> str:
    """name = formula, its value, its tangent along each input (forward mode) and its
    adjoint for each output (reverse mode)."""
    head = node.name if node.formula == node.name else f"{node.name} = {node.formula}"
    lines = [head, f"value {node.value:.6g}"]
    lines += [f"d{node.name}/d{w} = {t:.6g}" for w, t in node.tangents.items()]
    lines += [f"∂{f}/∂{node.name} = {a:.6g}" for f, a in node.adjoints.items()]
    return "\\n".join(lines)


def dot(e) -> str:
    """Graphviz DOT: inputs to outputs, each node with its value, tangents and adjoints."""
    names = {n.name for n in e.nodes}
    lines = ["digraph gradcheck {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for n in e.nodes:
        shape = ', shape=ellipse' if n.op in ("input", "constant input") else ""
        label = _text(n).replace('"', '\\"')
        lines.append(f'  {_id(n.name)} [label="{label}"{shape}];')
    for n in e.nodes:
        for arg in n.inputs:
            if arg in names:
                lines.append(f"  {_id(arg)} -> {_id(n.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid(e) -> str:
    """Mermaid flowchart: the same graph, for Markdown that renders Mermaid."""
    names = {n.name for n in e.nodes}
    lines = ["flowchart LR"]
    for n in e.nodes:
        label = _text(n).replace("\\n", "<br/>").replace('"', "'")
        lines.append(f'  {_id(n.name)}["{label}"]')
    for n in e.nodes:
        for arg in n.inputs:
            if arg in names:
                lines.append(f"  {_id(arg)} --> {_id(n.name)}")
    return "\n".join(lines) + "\n"


WRITERS = {".dot": dot, ".gv": dot, ".mmd": mermaid, ".mermaid": mermaid}
