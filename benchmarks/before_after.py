"""The same commands on two versions of gradcheck, interleaved, for a before/after table.

    git worktree add /tmp/before 243fd5c        # the version before issue 11
    python benchmarks/before_after.py /tmp/before --runs 5

Each command runs in a fresh process with PYTHONPATH pointing at one version's
tree (the editable install comes after it on the path), alternating between the
versions so that the machine's drift hits both alike; the table gives the median
and the ratio after/before. Commands that only exist in one version are skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# (label, argv relative to the version's tree); specs/seeds and specs/layers are the same
# checks in both versions
COMMANDS = [
    ("gradcheck --help", ["-m", "gradcheck_cli", "--help"]),
    ("one-point expression, --backend none",
     ["-m", "gradcheck_cli", "exp(sin(x**2))", "--at", "x=2", "--backend", "none"]),
    ("specs/seeds, --backend none", ["-m", "gradcheck_cli", "specs/seeds", "--backend", "none",
                                     "--quiet"]),
    ("specs/seeds, torch column", ["-m", "gradcheck_cli", "specs/seeds", "--backend", "torch",
                                   "--quiet"]),
    ("specs/layers (10 code checks, 3 frameworks)", ["-m", "gradcheck_cli",
                                                      "specs/layers/gradcheck_layers.yaml",
                                                      "--quiet"]),
    ("10^6 points, order 1, --backend none",
     ["-m", "gradcheck_cli", "exp(sin(x**2))", "--grid", "x=-3:3:1000000", "--backend", "none",
      "--quiet"]),
]
IMPORT_PROBE = ("import sys, time; t = time.perf_counter(); import gradcheck_cli.api; "
                "print(round(time.perf_counter() - t, 3), "
                "sorted(m for m in ('sympy', 'mpmath', 'scipy') if m in sys.modules))")


def run(tree: Path, argv: list[str]) -> float | None:
    env = dict(os.environ, PYTHONPATH=str(tree), COLUMNS="200")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *argv], cwd=tree, env=env, capture_output=True,
                         text=True)
    seconds = time.perf_counter() - start
    if out.returncode not in (0, 1):
        return None
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other version's tree")
    parser.add_argument("--after", type=Path, default=HERE)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print("| command | before (median s) | after (median s) | after / before |")
    print("|---|---|---|---|")
    for label, argv in COMMANDS:
        times = {k: [] for k in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                seconds = run(tree, argv)
                if seconds is not None:
                    times[name].append(seconds)
        if not all(times.values()):
            print(f"| {label} | (did not run in both) | | |")
            continue
        b, a = statistics.median(times["before"]), statistics.median(times["after"])
        print(f"| {label} | {b:.2f} | {a:.2f} | {a / b:.2f} |")
    for name, tree in trees.items():
        env = dict(os.environ, PYTHONPATH=str(tree))
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], cwd=tree, env=env,
                             capture_output=True, text=True)
        print(f"import gradcheck_cli.api ({name}): {out.stdout.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
