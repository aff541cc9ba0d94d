"""The terminal report: a rich table per check, then a one-line summary.

Colour only on a terminal; rich honours NO_COLOR.

The numbers are what the user came for, so no cell is ever cut or folded. A check
is laid out at the width it is given, trying in turn:

1. one table, headers on one line;
2. one table, headers wrapped (at spaces and after '·') to their cells' width;
3. otherwise whichever of these takes fewer lines, with a note saying which:
   several tables, the columns packed in order, each table repeating the
   derivative column (the verdict follows it in the first); or one line per
   derivative and method. Only the second fits when a column cannot.

Text outside the tables (title, failures, notes) wraps at spaces, between numbers.
"""

from __future__ import annotations

import os
import re

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from . import (
    err_text,
    failure_text,
    failures,
    framework_notes,
    method_title,
    na_notes,
    range_text,
    summary,
    undecided,
    values_text,
)

STYLE = {"pass": "green", "fail": "bold red", "n/a": "dim", "xfail": "yellow", "xpass": "bold red",
         "skipped": "yellow", "error": "bold red", "inconclusive": "bold yellow"}
MARK = {"pass": "✓", "fail": "✗", "n/a": "–", "xfail": "✓ xfail", "xpass": "✗ xpass",
        "skipped": "– skipped", "error": "!", "inconclusive": "?"}
_UNLIMITED = 100_000      # a width to measure a table's natural width at


def _style(status: str) -> str:
    return STYLE.get(status, "dim")  # a status this version does not know: dim, by name


def _cell(verdict) -> Text:
    if verdict is None:
        return Text("")
    if verdict.status in MARK:
        text = f"{MARK[verdict.status]} {err_text(verdict)}"
    else:
        text = verdict.status + (f" {err_text(verdict)}" if verdict.error is not None else "")
    return Text(text, style=_style(verdict.status))


class _Column:
    """A column's header and its cells, one per row."""

    def __init__(self, header: str, cells: list[Text], justify: str = "right"):
        self.header, self.cells, self.justify = header, cells, justify
        self.width = max((cell_len(c.plain) for c in cells), default=0)


def _columns(check, timings: bool) -> list[_Column]:
    """Derivative, reference, one per method, verdict."""
    code = check.kind == "code"
    rows = check.rows
    columns = [_Column("gradient of" if code else "derivative",
                       [Text(r.label) for r in rows], "left"),
               _Column("finite diff" if code else "reference",
                       [Text(range_text(r.ref_min, r.ref_max)) for r in rows])]
    for m in check.methods:
        header = method_title(m)
        if timings and m in check.timings:
            header += f"\n{check.timings[m] * 1e3:.1f} ms"
        columns.append(_Column(header, [_cell(r.verdicts.get(m)) for r in rows]))
    columns.append(_Column("verdict", [Text(r.status, style=_style(r.status)) for r in rows],
                           "left"))
    return columns


def _wrap_header(header: str, width: int) -> str:
    """A header broken at spaces and after '·' into lines of at most width cells
    (a longer word keeps a line of its own)."""
    lines = []
    for part in header.split("\n"):
        line = ""
        for word in re.split(r"(?<=[ ·])", part):
            if line and cell_len((line + word).rstrip()) > width:
                lines.append(line.rstrip())
                line = word
            else:
                line += word
        lines.append(line.rstrip())
    return "\n".join(lines)


def _table(columns: list[_Column], *, wrap: bool) -> Table:
    table = Table(show_lines=False, pad_edge=False, box=box.SIMPLE_HEAD)
    for col in columns:
        header = _wrap_header(col.header, col.width) if wrap else col.header
        table.add_column(Text(header), justify=col.justify, no_wrap=True)
    for i in range(len(columns[0].cells)):
        table.add_row(*(col.cells[i] for col in columns))
    return table


def _natural_width(console: Console, table: Table) -> int:
    """The width a table takes when nothing is squeezed."""
    return Measurement.get(console, console.options.update_width(_UNLIMITED), table).maximum


def _fits(console: Console, columns: list[_Column], width: int) -> Table | None:
    """The columns as one table within width, headers on one line if they can be."""
    for wrap in (False, True):
        table = _table(columns, wrap=wrap)
        if _natural_width(console, table) <= width:
            return table
    return None


def _split(console: Console, columns: list[_Column], width: int) -> list[Table] | None:
    """The columns split into tables within width, each repeating the derivative
    column; the verdict follows it in the first. None if a column cannot fit."""
    label, verdict, rest = columns[0], columns[-1], columns[1:-1]
    groups: list[list[_Column]] = [[verdict]]
    for col in rest:
        if _fits(console, [label, *groups[-1], col], width) is not None:
            groups[-1].append(col)
        elif _fits(console, [label, col], width) is not None:
            groups.append([col])
        else:
            return None
    return [_fits(console, [label, *group], width) for group in groups]


def _longest_word(texts) -> int:
    return max((cell_len(w) for t in texts for w in t.split()), default=0)


def _lines(check, columns: list[_Column], width: int) -> list:
    """A line per derivative, then one per reference and method under it: the value
    beside the name, in a column of its own, or under it where that is too narrow."""
    values, verdict = columns[1:-1], columns[-1]
    names = ["  " + col.header.replace("\n", " ") for col in values]
    name_width = max(map(cell_len, names), default=0) + 2
    beside = name_width + _longest_word(c.plain for col in values for c in col.cells) <= width
    out = []
    for i, row in enumerate(check.rows):
        line = Text(row.label, style="bold")
        line.append("  ")
        line.append_text(verdict.cells[i])
        out.append(line)
        if beside:
            grid = Table.grid(padding=(0, 2, 0, 0))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for name, col in zip(names, values):
                grid.add_row(Text(name), col.cells[i])
            out.append(grid)
        else:
            for name, col in zip(names, values):
                out += [Text(name), Text("    ").append_text(col.cells[i])]
    return out


def _title(check) -> Text:
    title = Text()
    title.append(f"{MARK.get(check.status, check.status)} ", style=_style(check.status))
    title.append(check.name, style="bold")
    if check.error is not None:
        title.append(f"  {check.source}", style="dim")
    elif check.kind == "code":
        name = check.expression[0] if check.expression else ""
        title.append(f"  {check.source} · {name}", style="dim")
    else:
        title.append(f"  {check.source} · {check.npoints} point{'s' if check.npoints != 1 else ''}"
                     f" · order {check.order}", style="dim")
    return title


def _hanging(prefix: str, text: str, width: int, style: str = "",
             prefix_style: str | None = None) -> Table | Text:
    """A prefix, then text wrapped under its own first line (a hanging indent),
    unless that leaves too little room for a word."""
    if cell_len(prefix) + _longest_word([text]) > width:
        line = Text(prefix, style=style if prefix_style is None else prefix_style)
        return line.append(text, style=style)
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text(prefix, style=style if prefix_style is None else prefix_style),
                 Text(text, style=style))
    return grid


def _height(console: Console, parts: list, width: int) -> int:
    options = console.options.update_width(width)
    return sum(len(console.render_lines(p, options, pad=False)) for p in parts)


def _layout(check, console: Console, width: int, timings: bool) -> tuple[list, str | None]:
    """The table(s) or lines for a check's rows, and a note when not one table."""
    columns = _columns(check, timings)
    table = _fits(console, columns, width)
    if table is not None:
        return [table], None
    tables = _split(console, columns, width)
    lines = [Text(""), *_lines(check, columns, width), Text("")]
    if tables is not None and _height(console, tables, width) <= _height(console, lines, width):
        return tables, f"the columns are split into {len(tables)} tables to fit {width} columns"
    return lines, f"one line per derivative and method, to fit {width} columns"


def check_parts(check, console: Console, width: int, *, timings: bool = False) -> list:
    """Everything printed for a check, as rich renderables laid out for width.

    Args:
        check: a CheckResult.
        console: the console that will print them (for measuring).
        width: the width available.
        timings: add each method's time under its header.

    Returns:
        The title, the table(s) or lines, failures, notes, and a blank line.
    """
    parts: list = [_title(check)]
    if check.error is not None:
        parts += [_hanging("  ", check.error, width, "red"), Text("")]
        return parts
    notes = check.notes + na_notes(check) + framework_notes(check)
    if check.rows:
        shown, layout_note = _layout(check, console, width, timings)
        parts += shown
        notes = [layout_note, *notes] if layout_note else notes
    for row, v in failures(check):
        text = failure_text(check, row, v)
        if v.value is not None:
            text += f"\n{values_text(v)}"
        parts.append(_hanging("  ✗ ", text, width, prefix_style="bold red"))
    for row, v in undecided(check):
        parts.append(_hanging("  ? ", f"{row.label} by {method_title(v.method)}: {v.reason}",
                              width, prefix_style="bold yellow"))
    if check.status == "skipped":
        parts.append(_hanging("  – ", f"skipped: {check.skip_reason}", width, "yellow"))
    elif check.xfail:
        parts.append(_hanging("  ", f"expected to fail: {check.xfail}", width, "yellow"))
    parts += [_hanging("  · ", note, width, "dim") for note in notes]
    parts.append(Text(""))
    return parts


class CheckView:
    """A check as rich renders it, laid out for the width it is printed at."""

    def __init__(self, check, *, timings: bool = False):
        self.check, self.timings = check, timings

    def __rich_console__(self, console, options):
        yield from check_parts(self.check, console, options.max_width, timings=self.timings)


def check_renderable(check) -> CheckView:
    """A check's table with its failures and notes, as one rich renderable (Jupyter)."""
    return CheckView(check)


def print_check(check, console: Console, *, timings: bool = False) -> None:
    console.print(CheckView(check, timings=timings))


def _natural_run_width(run, console: Console, timings: bool) -> int:
    """The width at which every check of a run fits as one table."""
    widths = [_natural_width(console, _table(_columns(c, timings), wrap=False))
              for c in run.checks if c.rows and c.error is None]
    return max(widths, default=0)


def print_run(run, console: Console | None = None, *, quiet: bool = False,
              timings: bool = False) -> None:
    """Print every check (laid out for the console's width), then the summary.

    Args:
        run: a RunResult.
        console: where to print; by default the terminal, or, when output is not a
            terminal and COLUMNS is unset, a console wide enough for one table per check.
        quiet: skip the checks that are ok; failures and errors are always printed.
        timings: add each method's time under its header.
    """
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            # CI logs and files: no width to fit, so one table per check, however wide
            console = Console(width=max(120, _natural_run_width(run, console, timings)))
    for check in run.checks:
        if quiet and check.ok:
            continue
        console.print(CheckView(check, timings=timings))
    style = "bold green" if run.ok else "bold red"
    console.print(Text(summary(run), style=style))


def render(run, *, quiet: bool = False, timings: bool = False, width: int = 120) -> str:
    """The terminal report as plain text, laid out for width (trailing spaces removed)."""
    console = Console(record=True, width=width, no_color=True, force_terminal=False,
                      file=_Null())
    print_run(run, console, quiet=quiet, timings=timings)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())


class _Null:
    def write(self, _):
        return 0

    def flush(self):
        pass


def run_renderable(run):
    style = "bold green" if run.ok else "bold red"
    return Group(*[CheckView(c) for c in run.checks], Text(summary(run), style=style))


def to_html(obj) -> str:
    """HTML of anything with __rich__, for Jupyter."""
    import io
    console = Console(record=True, width=120, file=io.StringIO(), force_jupyter=False)
    console.print(obj)
    return console.export_html(inline_styles=True)
