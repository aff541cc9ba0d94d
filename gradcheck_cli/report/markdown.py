"""Markdown report, for pull-request comments."""

from __future__ import annotations

from . import (
    err_text,
    failure_text,
    failures,
    fmt,
    framework_notes,
    method_title,
    na_notes,
    range_text,
    summary,
    undecided,
)

ICON = {"pass": "✅", "fail": "❌", "xfail": "☑️ xfail", "xpass": "❌ xpass", "n/a": "➖",
        "skipped": "➖ skipped", "error": "⚠️ error", "inconclusive": "❔ inconclusive"}


def _cell(verdict) -> str:
    if verdict is None:
        return ""
    if verdict.status not in ICON:  # a status this version does not know: by name
        return verdict.status + (f" {err_text(verdict)}" if verdict.error is not None else "")
    return f"{ICON[verdict.status]} {err_text(verdict)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check(check) -> list[str]:
    lines = [f"### {ICON.get(check.status, check.status)} {check.name}"]
    if check.error is not None:
        return lines + [f"`{check.source}`", "", f"- error: {_one_line(check.error)}", ""]
    code = check.kind == "code"
    if code:
        lines.append(f"`{check.source}` · `{check.expression[0] if check.expression else ''}`")
    else:
        lines.append(f"`{check.source}` · {check.npoints} point(s) · order {check.order}")
    lines.append("")
    if check.rows:
        head = ["gradient of", "finite diff"] if code else ["derivative", "reference"]
        head += [method_title(m) for m in check.methods] + ["verdict"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|---" * len(head) + "|")
        for row in check.rows:
            cells = [row.label, range_text(row.ref_min, row.ref_max, 6)]
            cells += [_cell(row.verdicts.get(m)) for m in check.methods]
            cells.append(ICON.get(row.status, row.status))
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for row, v in failures(check):
        values = "" if v.value is None else (f": got {fmt(v.value, 10)}, reference "
                                             f"{fmt(v.reference, 10)} (tolerance "
                                             f"{fmt(v.tolerance, 2)})")
        lines += ["", f"- {failure_text(check, row, v)}{values}"]
    for row, v in undecided(check):
        lines += ["", f"- inconclusive: {row.label} by {method_title(v.method)}: {v.reason}"]
    if check.status == "skipped":
        lines += ["", f"- skipped: {check.skip_reason}"]
    elif check.xfail:
        lines += ["", f"- expected to fail: {check.xfail}"]
    for note in check.notes + na_notes(check) + framework_notes(check):
        lines.append(f"- {note}")
    lines.append("")
    return lines


def render(run, *, quiet: bool = False, **_) -> str:
    """The run as Markdown: the summary, then a section per check.

    Args:
        run: a RunResult.
        quiet: only the checks that are not ok (failures and errors).
    """
    lines = ["## gradcheck", "", f"**{summary(run)}**", ""]
    for check in run.checks:
        if not (quiet and check.ok):
            lines += _check(check)
    return "\n".join(lines)
