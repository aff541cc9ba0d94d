"""Backend benchmarks (issue 3). Run: python benchmarks/bench_backends.py

10^6 grid points of exp(sin(x**2)): each framework column at order 1 and 2,
timed after the framework is imported (a warm-up call on 10 points first), and
the whole four-way check against the fastest single method on the same points.
"""

from __future__ import annotations

import json
import sys
import time

from gradcheck_cli.api import build_problem, run_problem
from gradcheck_cli import frameworks as backends

N = 10**6


def problem(order, backend="none", n=N):
    return build_problem(dict(f="exp(sin(x**2))", grid={"x": [-3, 3, n]}, order=order,
                              backend=backend))


def main():
    frameworks = [f for f in ("torch", "jax", "tensorflow") if backends.is_installed(f)]
    rows = {}
    for fw in frameworks:
        t0 = time.perf_counter()
        backends.adapter(fw, "cpu", "float64")
        imported = time.perf_counter() - t0
        for order in (1, 2):
            for mode in ("rev", "fwd"):
                col = backends.Backend(fw, mode)
                col.compute(problem(order, n=10))  # warm-up
                p = problem(order)
                t0 = time.perf_counter()
                col.compute(p)
                rows[f"{fw}·{mode} order {order}"] = time.perf_counter() - t0
        rows[f"{fw} import"] = imported
    for name, seconds in rows.items():
        print(f"{name:28s} {seconds:7.3f} s")
    # the whole check: symbolic, fd, reverse, torch (default backend), reference, comparison;
    # the first run in this process pays for fresh memory, so five are reported. Then the
    # same without a framework column, where the fastest single method is our own engine.
    default = frameworks[0] if frameworks else "none"
    summaries = []
    for backend in dict.fromkeys([default, "none"]):
        run_problem(problem(1, backend=backend, n=10))  # warm-up: the compiled programs
        runs = []
        for _ in range(5):
            p = problem(1, backend=backend)
            t0 = time.perf_counter()
            result = run_problem(p)
            total = time.perf_counter() - t0
            singles = {k: v for k, v in result.timings.items() if k != "reference+compare"}
            fastest = min(singles, key=singles.get)
            runs.append({"backend": backend, "whole check (s)": round(total, 3),
                         "status": result.status,
                         "timings": {k: round(v, 3) for k, v in result.timings.items()},
                         "fastest single method": fastest,
                         "ratio to fastest": round(total / singles[fastest], 1)})
        for run in runs:
            print(json.dumps(run))
        ratios = sorted(r["ratio to fastest"] for r in runs)
        totals = sorted(r["whole check (s)"] for r in runs)
        summaries.append({"backend": backend, "whole check: first (s)": runs[0]["whole check (s)"],
                          "median (s)": totals[2], "ratio to fastest: median": ratios[2],
                          "min": ratios[0], "max": ratios[-1]})
    # the 30-digit reference alone (mpmath at the 1,000-point subset), the rest of
    # reference+compare being the verdicts
    from gradcheck_cli.columns import get_method
    from gradcheck_cli.expression.symbolic import reference
    p = problem(1)
    values = get_method("symbolic").compute(p).values
    t0 = time.perf_counter()
    reference(p, values)
    print(json.dumps({"reference alone (s)": round(time.perf_counter() - t0, 3)}))
    for summary in summaries:
        print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
