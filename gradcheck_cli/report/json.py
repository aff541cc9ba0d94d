"""JSON report: every value and verdict (documented in docs/json-report.md)."""

from __future__ import annotations

import json
import math

from .. import __version__

SCHEMA_VERSION = 1


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else str(v)


def check_to_dict(check) -> dict:
    """One check: its status, its error if it could not run, and every row's verdicts."""
    rows = []
    for row in check.rows:
        methods = {}
        for name, v in row.verdicts.items():
            d = v.to_dict()
            d.pop("method")
            d["point"] = check.point(v.worst) if check.points else None
            methods[name] = d
        rows.append({
            "label": row.label, "output": row.key[0], "derivative": list(row.key[1]),
            "status": row.status, "reference": {"min": _num(row.ref_min), "max": _num(row.ref_max)},
            "excluded_points": row.excluded, "kink_points": row.kinks, "methods": methods,
        })
    return {
        "name": check.name, "source": check.source, "kind": check.kind,
        "status": check.status, "ok": check.ok, "error": check.error,
        "xfail": check.xfail, "expression": check.expression, "let": check.lets,
        "variables": check.variables,
        "wrt": check.wrt, "order": check.order, "points": check.npoints,
        "reference_points": check.reference_points, "methods": check.methods,
        "timings": {k: round(v, 6) for k, v in check.timings.items()},
        "method_info": check.method_info, "notes": check.notes, "rows": rows,
    }


def to_dict(run) -> dict:
    """The whole run, as docs/json-report.md describes it."""
    return {
        "schema": SCHEMA_VERSION, "gradcheck": __version__, "ok": run.ok,
        "exit_code": run.exit_code, "counts": run.counts(), "seconds": round(run.seconds, 6),
        "checks": [check_to_dict(c) for c in run.checks],
    }


def render(run, **_) -> str:
    return json.dumps(to_dict(run), indent=2, ensure_ascii=False)
