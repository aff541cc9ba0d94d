"""The terminal report: a rich table per check, then a one-line summary.

Colour only on a terminal; rich honours NO_COLOR.
"""

from __future__ import annotations

import os

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import err_text, failures, fmt, framework_notes, method_title, summary

STYLE = {"pass": "green", "fail": "bold red", "n/a": "dim", "xfail": "yellow", "xpass": "bold red",
         "skipped": "yellow"}
MARK = {"pass": "✓", "fail": "✗", "n/a": "–", "xfail": "✓ xfail", "xpass": "✗ xpass",
        "skipped": "– skipped"}


def _ref_text(row) -> str:
    if row.ref_min is None:
        return "n/a"
    if row.ref_min == row.ref_max:
        return fmt(row.ref_min)
    return f"{fmt(row.ref_min, 4)} … {fmt(row.ref_max, 4)}"


def check_table(check, *, timings: bool = False) -> Table:
    title = Text()
    title.append(f"{MARK[check.status]} ", style=STYLE[check.status])
    title.append(check.name, style="bold")
    if check.kind == "code":
        title.append(f"  {check.source} · {check.expression[0]}", style="dim")
    else:
        title.append(f"  {check.source} · {check.npoints} point{'s' if check.npoints != 1 else ''}"
                     f" · order {check.order}", style="dim")
    table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False,
                  box=box.SIMPLE_HEAD)
    table.add_column("gradient of" if check.kind == "code" else "derivative", no_wrap=True)
    table.add_column("finite diff" if check.kind == "code" else "reference", justify="right",
                     no_wrap=True)
    for m in check.methods:
        header = method_title(m)
        if timings and m in check.timings:
            header += f"\n{check.timings[m] * 1e3:.1f} ms"
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for row in check.rows:
        cells = []
        for m in check.methods:
            v = row.verdicts.get(m)
            if v is None:
                cells.append(Text(""))
            else:
                cells.append(Text(f"{MARK[v.status]} {err_text(v)}", style=STYLE[v.status]))
        table.add_row(row.label, _ref_text(row), *cells,
                      Text(row.status, style=STYLE[row.status]))
    return table


def print_check(check, console: Console, *, timings: bool = False) -> None:
    console.print(check_table(check, timings=timings))
    for row, v in failures(check):
        line = Text("  ✗ ", style="bold red")
        line.append(f"{row.label} by {method_title(v.method)}: {v.reason} at "
                    f"{check.where(v)}\n")
        if v.value is not None:
            diff = abs(v.value - v.reference) if v.value == v.value else None
            line.append(f"    got {fmt(v.value, 12)}, reference {fmt(v.reference, 12)}, "
                        f"|difference| {fmt(diff, 3)} > tolerance {fmt(v.tolerance, 3)}")
        console.print(line)
    if check.status == "skipped":
        console.print(Text(f"  – skipped: {check.skip_reason}", style="yellow"))
    elif check.xfail:
        console.print(Text(f"  expected to fail: {check.xfail}", style="yellow"))
    for note in check.notes + framework_notes(check):
        console.print(Text(f"  · {note}", style="dim"))
    console.print()


def print_run(run, console: Console | None = None, *, quiet: bool = False,
              timings: bool = False) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            # CI logs: wide enough for every column (about 12 characters each)
            columns = max((len(c.methods) for c in run.checks), default=3) + 3
            console = Console(width=max(120, 13 * columns))
    for check in run.checks:
        if quiet and check.ok:
            continue
        print_check(check, console, timings=timings)
    style = "bold green" if run.ok else "bold red"
    console.print(Text(summary(run), style=style))


def render(run, *, quiet: bool = False, timings: bool = False, width: int = 120) -> str:
    console = Console(record=True, width=width, no_color=True, force_terminal=False,
                      file=_Null())
    print_run(run, console, quiet=quiet, timings=timings)
    return console.export_text()


class _Null:
    def write(self, _):
        return 0

    def flush(self):
        pass


def check_renderable(check):
    """A check's table with its failures and notes, as one rich renderable."""
    from rich.console import Group
    parts = [check_table(check)]
    for row, v in failures(check):
        parts.append(Text(f"  ✗ {row.label} by {method_title(v.method)}: {v.reason} at "
                          f"{check.where(v)}", style="bold red"))
    if check.status == "skipped":
        parts.append(Text(f"  – skipped: {check.skip_reason}", style="yellow"))
    parts += [Text(f"  · {n}", style="dim") for n in check.notes + framework_notes(check)]
    return Group(*parts)


def run_renderable(run):
    from rich.console import Group
    style = "bold green" if run.ok else "bold red"
    return Group(*[check_renderable(c) for c in run.checks], Text(summary(run), style=style))


def to_html(obj) -> str:
    """HTML of anything with __rich__, for Jupyter."""
    import io
    console = Console(record=True, width=120, file=io.StringIO(), force_jupyter=False)
    console.print(obj)
    return console.export_html(inline_styles=True)
