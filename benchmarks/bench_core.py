"""Benchmarks for the core issue. Run: python benchmarks/bench_core.py

The built-in methods only (--backend none): framework columns are measured by
bench_backends.py.

Prints one line per measurement; docs/benchmarks.md records the results.
Each timing runs in a fresh subprocess where start-up matters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def help_imports() -> dict:
    code = ("import sys\nfrom gradcheck_cli.cli import app\nsys.argv=['gradcheck','--help']\n"
            "try:\n    app(prog_name='gradcheck')\nexcept SystemExit:\n    pass\n"
            "import json\nprint(json.dumps([m for m in ('sympy','numpy','torch','tensorflow','jax')"
            " if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return {"heavy modules imported by --help": json.loads(out.stdout.strip().splitlines()[-1])}


def in_process(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def grid_run(points: int, methods: str):
    code = f"""
import time, resource, json
import gradcheck_cli
from gradcheck_cli.api import build_problem, run_problem
p = build_problem(dict(f="exp(sin(x**2))", grid={{"x": [-3, 3, {points}]}}, methods="{methods}",
                      backend="none"))
t = time.perf_counter(); r = run_problem(p); dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "status": r.status, "timings": r.timings,
  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fd_vs_numdifftools(points: int = 10**6):
    import numdifftools as nd
    import numpy as np

    from gradcheck_cli.api import build_problem
    from gradcheck_cli.expression.finite_diff import FiniteDifferences
    p = build_problem(dict(f="exp(sin(x**2))", grid={"x": [-3, 3, points]}, methods="fd",
                           backend="none"))
    x = p.columns["x"]
    exact = np.exp(np.sin(x**2)) * np.cos(x**2) * 2 * x
    t0 = time.perf_counter()
    ours = FiniteDifferences().compute(p).values[(0, ("x",))]
    t_ours = time.perf_counter() - t0
    # numdifftools on a subset (it is much slower), scaled to the full size
    sub = x[:: max(1, points // 20000)]
    f = lambda z: np.exp(np.sin(z**2))  # noqa: E731
    t0 = time.perf_counter()
    theirs = nd.Derivative(f)(sub)  # elementwise function: one call over all points
    t_nd = (time.perf_counter() - t0) * len(x) / len(sub)
    nz = np.abs(exact) > 1e-12
    rel = np.abs(ours - exact)[nz] / np.abs(exact)[nz]
    ex_sub = np.exp(np.sin(sub**2)) * np.cos(sub**2) * 2 * sub
    nzs = np.abs(ex_sub) > 1e-12
    rel_nd = np.abs(theirs - ex_sub)[nzs] / np.abs(ex_sub)[nzs]
    return {"points": points, "ours_s": t_ours, "numdifftools_s(scaled)": t_nd,
            "speedup": t_nd / t_ours, "ours_median_rel_err": float(np.median(rel)),
            "numdifftools_median_rel_err": float(np.median(rel_nd))}


def network_expression(width: int = 12, layers: int = 3) -> str:
    """A tanh network written out with let: about 1,000 operations."""
    import random
    rng = random.Random(0)
    lines, prev = ["checks:", "  - name: tanh network", "    let:"], ["x1", "x2"]
    for layer in range(layers):
        cur = []
        for j in range(width):
            terms = " + ".join(f"{rng.uniform(-1, 1):.3f}*{p}" for p in prev)
            name = f"h{layer}_{j}"
            lines.append(f"      {name}: tanh({terms} + {rng.uniform(-1, 1):.3f})")
            cur.append(name)
        prev = cur
    out = " + ".join(f"{rng.uniform(-1, 1):.3f}*{p}" for p in prev)
    lines += [f"    f: sigmoid({out})", "    sample: {x1: [-1, 1], x2: [-1, 1]}",
              "    points: 100"]
    return "\n".join(lines) + "\n", width * (2 * len(prev) + 2) * layers


def main():
    print("help:", f"{wall([sys.executable, '-m', 'gradcheck_cli', '--help']):.3f} s", help_imports())
    print("one-point check (whole process):",
          f"{wall([sys.executable, '-m', 'gradcheck_cli', 'exp(sin(x**2))', '--at', 'x=2', '--backend', 'none']):.3f} s")
    for n in (10**5, 10**6):
        r = grid_run(n, "symbolic,fd,reverse")
        print(f"grid {n} points, three methods:", json.dumps(r))
    print("fd vs numdifftools:", json.dumps(fd_vs_numdifftools()))
    text, ops = network_expression()
    path = Path("/tmp/gradcheck_bench_network.yaml")
    path.write_text(text)
    t = wall([sys.executable, "-m", "gradcheck_cli", str(path), "--quiet", "--backend", "none"],
             repeat=1)
    code = (f"import time, gradcheck_cli.api as a\np = a.load_spec({str(path)!r}, "
            "{'backend': 'none'})[0]\nt = time.perf_counter(); r = a.run_problem(p)\n"
            "print(time.perf_counter() - t, r.status)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    check_s, status = out.stdout.split()
    print(f"tanh network (~{ops} operations, 100 points, order 1): check {float(check_s):.2f} s "
          f"({status}), whole process {t:.2f} s")


if __name__ == "__main__":
    main()
