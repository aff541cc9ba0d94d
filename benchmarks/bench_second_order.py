"""Second order by projections (issue 13), measured side by side in one run.

Run: python benchmarks/bench_second_order.py --runs 3

A torch MLP of about 10^6 parameters, float64, CPU:
``Sequential(Linear(1000, 1000), Tanh(), Linear(1000, 1), Tanh())`` (1,002,001
parameters) on an input x of shape [4, 1000]; the final Tanh makes every block of the
Hessian non-zero (behind a final Linear, the blocks of its own weight and bias are
exactly zero, which is decided as such, but then measures less).

Measured, best of ``--runs`` after a warm-up on a width-10 copy of the model:

1. gradcheck order 1: the input's and the parameters' gradients by random projections
   (``params=True``, the default modes: reverse and forward);
2. gradcheck order 2: the same plus the Hessian of uᵀf by seed-fixed projections wᵀHv
   (Hessian-vector products), one column per second-order route torch offers
   (·rev∘rev, ·fwd∘rev; ·fwd∘fwd needs a pass per input element and is left out
   beyond 2,000 elements, with a note);
3. ``torch.autograd.gradcheck(fast_mode=True)`` on the same function of
   (x, weight, bias, weight, bias) (``torch.func.functional_call``);
4. ``torch.autograd.gradgradcheck(fast_mode=True)`` on the same;
5. (unless ``--no-rev``) gradcheck order 1 and order 2 with ``mode="rev"``: reverse
   mode and reverse over reverse only, to separate the cost of one route.

Reported: wall times, order 2 / order 1 (target: under 3x), ours / torch, and the
peak memory of each: the growth of the peak resident set size (VmHWM, reset through
/proc/self/clear_refs) over the RSS (VmRSS) just before the check, each measured once
more in a fresh process of its own (after the same warm-up), since torch's allocations
are invisible to tracemalloc (and ``ru_maxrss`` would count the parent's RSS at fork).
``--no-memory`` skips that part; ``--profile`` prints where order 2's time goes
(cProfile, cumulative).

torch runs on one thread by default (``--threads``): on a shared 2-core machine, with
another process busy, OpenMP's two threads wait on each other at every op, and small
torch ops became ~60x slower (a Linear(20, 20) call 0.58 ms on 2 threads, 9 µs on 1),
which swamped the comparison; both tools run under the same setting.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from gradcheck_cli.usercode import run_callable

KINDS = ("gradcheck order 1", "gradcheck order 2", "torch gradcheck fast_mode",
         "torch gradgradcheck fast_mode")
REV = ("gradcheck order 1, mode rev", "gradcheck order 2, mode rev")  # reverse routes only


def model_and_input(width: int, seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.Tanh(),
                                torch.nn.Linear(width, 1), torch.nn.Tanh()).double()
    x = torch.randn(4, width, dtype=torch.float64)
    return model, x


def ours(model, x, order: int, mode: str | None = None):
    check = {"callable": model, "backend": "torch", "params": True, "seed": 0,
             "order": order, "inputs": {"x": {"value": x.numpy()}}}
    if mode:
        check["mode"] = mode
    label = f"MLP order {order}" + (f", mode {mode}" if mode else "")
    return run_callable(check, source="bench", base=None, label=label)


def torch_peer(model, x, order: int) -> bool:
    """torch.autograd.gradcheck / gradgradcheck, fast mode, on f(x, *parameters)."""
    names = [n for n, _ in model.named_parameters()]

    def f(x, *params):
        return torch.func.functional_call(model, dict(zip(names, params)), (x,))
    inputs = (x.clone().requires_grad_(),
              *(p.detach().clone().requires_grad_() for p in model.parameters()))
    check = torch.autograd.gradcheck if order == 1 else torch.autograd.gradgradcheck
    return check(f, inputs, fast_mode=True)


def run_kind(kind: str, model, x):
    if kind.startswith("gradcheck"):
        return ours(model, x, int(kind[len("gradcheck order ")]),
                    "rev" if kind.endswith("mode rev") else None)
    return torch_peer(model, x, 1 if " gradcheck" in kind else 2)


def warm_up() -> None:
    small, xs = model_and_input(10)
    for kind in KINDS + REV:
        run_kind(kind, small, xs)


def status_mib(field: str) -> float:
    """A field of /proc/self/status (VmRSS: resident now, VmHWM: its peak), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(kind: str, width: int) -> None:
    """One check in this fresh process: its peak RSS growth, as JSON on stdout."""
    warm_up()
    model, x = model_and_input(width)
    try:  # reset the peak to the present RSS (Linux 4.0+), else it is the warm-up's
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    before = status_mib("VmRSS")
    start = time.perf_counter()
    run_kind(kind, model, x)
    seconds = time.perf_counter() - start
    peak = status_mib("VmHWM")
    print(json.dumps({"kind": kind, "peak_mib": peak - before, "rss_before_mib": before,
                      "seconds": seconds}))


def memory(width: int) -> dict:
    out = {}
    for kind in KINDS:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, "--width", str(width),
                               "--threads", str(torch.get_num_threads())],
                              check=False, capture_output=True, text=True)
        if proc.returncode:  # reported, not hidden: the table then says "failed"
            print(f"memory run of {kind!r} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
            continue
        out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{kind:30s} peak RSS growth {out[kind]['peak_mib']:6.0f} MiB "
              f"(RSS before {out[kind]['rss_before_mib']:.0f} MiB; "
              f"this run {out[kind]['seconds']:.2f} s)")
    return out


def describe(result) -> None:
    """What gradcheck checked: status, order, columns, second-order rows and their verdicts."""
    seconds = [r for r in result.rows if len(r.key[1]) == 2]
    routes = [m for m in result.methods if "∘" in m]
    print(f"  {result.name}: status {result.status}, order {result.order}, "
          f"{len(result.rows) - len(seconds)} first-order rows, {len(seconds)} second-order "
          f"rows; columns {', '.join(result.methods)}")
    for column in routes:
        counts: dict = {}
        for row in seconds:
            verdict = row.verdicts.get(column)
            status = verdict.status if verdict is not None else "absent"
            counts[status] = counts.get(status, 0) + 1
        print(f"    {column}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for note in result.notes:
        print(f"    note: {note}")
    print("    timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--width", type=int, default=1000, help="hidden width (default 1000)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory part")
    parser.add_argument("--profile", action="store_true", help="cProfile one order-2 check")
    parser.add_argument("--no-rev", action="store_true",
                        help="skip the reverse-only (mode rev) order 1 / order 2 pair")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1; see the docstring)")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        return child(args.child, args.width)

    begin = time.perf_counter()
    model, x = model_and_input(args.width)
    count = sum(p.numel() for p in model.parameters())
    print(f"MLP {args.width}-{args.width}-1 (tanh), {count:,} parameters, x {list(x.shape)}, "
          f"float64, torch {torch.__version__}, {torch.get_num_threads()} threads")
    warm_up()
    best, results = {}, {}
    for kind in KINDS + (() if args.no_rev else REV):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            results[kind] = run_kind(kind, model, x)
            times.append(time.perf_counter() - start)
        best[kind] = min(times)
        print(f"{kind:30s} best {best[kind]:6.2f} s  (runs: "
              f"{', '.join(f'{t:.2f}' for t in times)})")
    for kind in KINDS[2:]:
        assert results[kind] is True, (kind, results[kind])
    for kind in ("gradcheck order 1", "gradcheck order 2") + (() if args.no_rev else REV):
        result, order = results[kind], int(kind[len("gradcheck order ")])
        describe(result)
        assert result.order == order and not result.failed, (result.order, result.status)
    second = results["gradcheck order 2"]
    assert any(m.endswith("rev∘rev") for m in second.methods), second.methods
    assert any(len(r.key[1]) == 2 and r.verdicts.get("torch·rev∘rev") is not None
               and r.verdicts["torch·rev∘rev"].status == "pass" for r in second.rows)

    o1, o2 = best["gradcheck order 1"], best["gradcheck order 2"]
    t1, t2 = best["torch gradcheck fast_mode"], best["torch gradgradcheck fast_mode"]
    print(f"\ngradcheck order 2 / order 1: {o2 / o1:.2f}x (target < 3x: "
          f"{'met' if o2 / o1 < 3 else 'NOT met'}); torch gradgradcheck / gradcheck: "
          f"{t2 / t1:.2f}x")
    print(f"ours / torch: order 1 {o1 / t1:.1f}x, order 2 {o2 / t2:.1f}x")

    mem = {} if args.no_memory else memory(args.width)
    peak = {k: f"{mem[k]['peak_mib']:.0f} MiB" if k in mem else
            "failed" if not args.no_memory else "—" for k in KINDS}
    print("\n| check | gradcheck | torch fast_mode | ours / torch | peak RSS growth "
          "(gradcheck / torch) |")
    print("|---|---|---|---|---|")
    print(f"| order 1 (`gradcheck`) | {o1:.2f} s | {t1:.2f} s | {o1 / t1:.1f}× | "
          f"{peak[KINDS[0]]} / {peak[KINDS[2]]} |")
    print(f"| order 2 (`gradgradcheck`) | {o2:.2f} s | {t2:.2f} s | {o2 / t2:.1f}× | "
          f"{peak[KINDS[1]]} / {peak[KINDS[3]]} |")
    print(f"| order 2 / order 1 | **{o2 / o1:.2f}×** | {t2 / t1:.2f}× | | |")
    if not args.no_rev:
        r1, r2 = best[REV[0]], best[REV[1]]
        print(f"| order 2 / order 1, reverse routes only (`mode=\"rev\"`) | "
              f"**{r2 / r1:.2f}×** ({r1:.2f} s → {r2:.2f} s) | | | |")
    print(f"\nwhole benchmark {time.perf_counter() - begin:.0f} s")

    if args.profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        profiler.enable()
        ours(model, x, 2)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
