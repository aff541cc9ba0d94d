"""Markdown report, for pull-request comments."""

from __future__ import annotations

from . import err_text, failures, fmt, framework_notes, method_title, summary

ICON = {"pass": "✅", "fail": "❌", "xfail": "☑️ xfail", "xpass": "❌ xpass", "n/a": "➖",
        "skipped": "➖ skipped"}


def render(run, **_) -> str:
    lines = ["## gradcheck", "", f"**{summary(run)}**", ""]
    for check in run.checks:
        lines.append(f"### {ICON[check.status]} {check.name}")
        lines.append(f"`{check.source}` · {check.npoints} point(s) · order {check.order}")
        lines.append("")
        methods = check.methods
        lines.append("| derivative | reference | " + " | ".join(method_title(m) for m in methods)
                     + " | verdict |")
        lines.append("|---" * (len(methods) + 3) + "|")
        for row in check.rows:
            ref = fmt(row.ref_min) if row.ref_min == row.ref_max else \
                f"{fmt(row.ref_min)} … {fmt(row.ref_max)}"
            cells = []
            for m in methods:
                v = row.verdicts.get(m)
                cells.append("" if v is None else f"{ICON[v.status]} {err_text(v)}")
            lines.append(f"| {row.label} | {ref} | " + " | ".join(cells) +
                         f" | {ICON[row.status]} |")
        for row, v in failures(check):
            lines.append("")
            values = "" if v.value is None else (f": got {fmt(v.value, 10)}, reference "
                                                 f"{fmt(v.reference, 10)} (tolerance "
                                                 f"{fmt(v.tolerance, 2)})")
            lines.append(f"- **{row.label}**, {method_title(v.method)}: {v.reason} at "
                         f"{check.where(v)}{values}")
        if check.status == "skipped":
            lines += ["", f"- skipped: {check.skip_reason}"]
        for note in check.notes + framework_notes(check):
            lines.append(f"- {note}")
        lines.append("")
    return "\n".join(lines)
