"""Issue 12: every op of PyTorch's OpInfo database through gradcheck, beside torch's gradcheck.

For each op of ``op_db`` that supports autograd in float64 on CPU, and each of
its samples (the very tensors torch's CI checks: same seed, see
torch_baseline.py), one process runs, on the same sample and in the same run:

* ours: ``gradcheck_cli.assert_gradients(op.gradcheck_wrapper, op.get_op(),
  sample.input, *sample.args, kwargs=sample.kwargs,
  output=sample.output_process_fn_grad, nondet_tol=op.gradcheck_nondet_tol,
  batched=<the batched checks torch's suite makes for the op>)``
  -- no closure: the arguments go straight through the API, torch tensors with
  requires_grad=True are the ones differentiated (as torch does), everything
  else passes through unchanged; reverse and forward mode, full Jacobian;
* torch: ``torch.autograd.gradcheck`` on the same function with what compares
  to ours: full Jacobians (fast_mode=False), backward and forward mode
  (check_forward_ad where the op supports it), undefined gradients, batched
  gradients as the op allows, the op's nondet_tol.

Each sample's line records both outcomes and times. A sample is a **crash**
when ours raises anything but a verdict (an internal error, or an error row
blaming the code where torch runs it), a **false alarm** when ours fails where
torch passes, a **miss** when torch fails and ours passes.

    python benchmarks/opinfo/run.py --budget 540            # resumable, 9 minutes a call
    python benchmarks/opinfo/run.py --start 0 --stop 50     # a range of ops
    python benchmarks/opinfo/run.py --summary               # the table for docs/benchmarks.md

Needs ``pip install expecttest`` (torch's test utilities import it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DEFAULT_OUT = HERE / "results" / "gradcheck_float64.jsonl"


def torch_check(op, fn, args) -> tuple[str, str, float]:
    """torch.autograd.gradcheck with full Jacobians, both modes: (status, message, seconds)."""
    import importlib

    import torch
    GradcheckError = importlib.import_module("torch.autograd.gradcheck").GradcheckError
    cbg = op.check_batched_grad if op.check_batched_grad is not None else True
    start = time.perf_counter()
    try:
        torch.autograd.gradcheck(fn, args, fast_mode=False, check_undefined_grad=True,
                                 check_batched_grad=cbg, check_grad_dtypes=True,
                                 nondet_tol=op.gradcheck_nondet_tol,
                                 check_forward_ad=bool(op.supports_forward_ad),
                                 check_batched_forward_grad=bool(op.supports_forward_ad and
                                                                 op.check_batched_forward_grad))
        status, message = "pass", ""
    except GradcheckError as exc:
        status, message = "fail", str(exc).splitlines()[0][:300]
    except Exception as exc:  # noqa: BLE001 -- torch's own checker raising
        status, message = "error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return status, message, time.perf_counter() - start


def our_check(op, sample) -> tuple[str, str, float, dict]:
    """gradcheck on the sample, straight through the API: (status, message, seconds, rows)."""
    import gradcheck_cli
    from gradcheck_cli.errors import GradcheckError
    start = time.perf_counter()
    rows = {}
    try:
        result = gradcheck_cli.assert_gradients(
            op.gradcheck_wrapper, op.get_op(), sample.input, *sample.args,
            kwargs=dict(sample.kwargs), output=sample.output_process_fn_grad,
            nondet_tol=op.gradcheck_nondet_tol or None, backend="torch",
            # the batched forms torch's own suite checks for this op (it knows which
            # batching rules are missing or wrong)
            batched=[m for m, on in (("rev", op.check_batched_grad is not False),
                                     ("fwd", bool(op.check_batched_forward_grad))) if on])
        status, message = result.status, ""
    except AssertionError as exc:
        text = str(exc)
        failing = _failures(text)
        # assert_gradients raises for an inconclusive check too: no ✗ line, a ? line
        status = "fail" if failing or " inconclusive" not in text else "inconclusive"
        message = failing or _undecided(text)
    except GradcheckError as exc:
        status, message = "error", str(exc)[:400]
    except Exception as exc:  # noqa: BLE001 -- a crash: what this runner exists to find
        import traceback
        status = "crash"
        message = f"{type(exc).__name__}: {exc}"[:300] + " | " + \
            traceback.format_exc().strip().splitlines()[-3][:200]
    return status, message, time.perf_counter() - start, rows


def _failures(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines()
                      if line.strip().startswith("✗ ") and " by " in line)[:600]


def _undecided(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines()
                      if line.strip().startswith("? ") and " by " in line)[:600]


def verdict(ours: str, theirs: str, message: str) -> str:
    """How the two outcomes compare."""
    if ours == "inconclusive":
        return "inconclusive"   # said, with the figures: neither a pass nor an alarm
    if ours == "crash" or (ours == "error" and "internal error" in message):
        return "crash"
    if ours == "error":
        return "refused" if theirs == "pass" else "both_reject"
    if ours == "fail" and theirs == "pass":
        return "false_alarm?"
    if ours in ("pass", "skipped") and theirs == "fail":
        return "missed?"
    if ours == "fail":
        return "both_fail"
    return "agree"


def run(args) -> int:
    import numpy as np  # noqa: F401
    import torch
    from torch_baseline import build_fn, load_ops, op_id, set_rng_seed, torch_expectation, \
        torch_seed
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    ops, dtype, import_s, _ = load_ops("float64")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("kind") == "op_end":
                done.add(rec["op"])
    started = time.time()
    seed = torch_seed("bwd")
    with out.open("a") as fh:
        for index, op in enumerate(ops[args.start:args.stop], start=args.start):
            name = op_id(op)
            if name in done or (args.only and name not in args.only.split(",")):
                continue
            if args.budget and time.time() - started > args.budget:
                return 3
            expect, _ = torch_expectation(op, "bwd", dtype)
            fh.write(json.dumps({"kind": "op_start", "op": name}) + "\n")
            fh.flush()
            set_rng_seed(seed)
            samples = op.sample_inputs("cpu", dtype, requires_grad=True)
            for i, sample in enumerate(samples):
                fn, gargs = build_fn(op, sample, op.get_op())
                numel = sum(t.numel() for t in gargs)
                if numel > args.max_numel:
                    rec = {"kind": "sample", "op": name, "i": i, "status": "skipped_large",
                           "numel": numel}
                    fh.write(json.dumps(rec) + "\n")
                    continue
                ours, message, t_ours, _ = our_check(op, sample)
                theirs, their_message, t_torch = torch_check(op, fn, gargs)
                rec = {"kind": "sample", "op": name, "i": i, "torch_expect": expect,
                       "numel": numel, "ours": ours, "torch": theirs,
                       "t_ours": round(t_ours, 5), "t_torch": round(t_torch, 5),
                       "verdict": verdict(ours, theirs, message)}
                if message:
                    rec["message"] = message
                if their_message:
                    rec["torch_message"] = their_message
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
            fh.write(json.dumps({"kind": "op_end", "op": name}) + "\n")
            fh.flush()
    return 0


def summary(path: Path, rerun: Path | None = None) -> None:
    """The table's figures; ``rerun``: a file of ops run again (``--only``), whose samples
    replace theirs in ``path``."""
    import collections
    import statistics
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    if rerun is not None:
        again = [json.loads(line) for line in rerun.read_text().splitlines()]
        redone = {r["op"] for r in again if r["kind"] == "sample"}
        recs = [r for r in recs if r.get("op") not in redone] + again
    samples = [r for r in recs if r["kind"] == "sample" and "ours" in r]
    ops = {r["op"] for r in samples}
    print(f"ops {len(ops)}, samples {len(samples)} "
          f"(+{sum(1 for r in recs if r.get('status') == 'skipped_large')} over the size limit)")
    print("ours:", dict(collections.Counter(r["ours"] for r in samples)))
    print("torch:", dict(collections.Counter(r["torch"] for r in samples)))
    print("verdicts:", dict(collections.Counter(r["verdict"] for r in samples)))
    both = [r for r in samples if r["ours"] in ("pass", "fail", "skipped")
            and r["torch"] in ("pass", "fail")]
    if both:
        ratio = [r["t_ours"] / max(r["t_torch"], 1e-9) for r in both]
        print(f"time per case, ours / torch: median {statistics.median(ratio):.2f}, "
              f"total {sum(r['t_ours'] for r in both):.1f} s / "
              f"{sum(r['t_torch'] for r in both):.1f} s; median "
              f"{statistics.median(r['t_ours'] for r in both) * 1e3:.1f} ms / "
              f"{statistics.median(r['t_torch'] for r in both) * 1e3:.1f} ms")
    by_op = collections.defaultdict(collections.Counter)
    for r in samples:
        if r["verdict"] not in ("agree", "both_fail"):
            by_op[r["op"]][r["verdict"]] += 1
    for op, counts in sorted(by_op.items()):
        example = next(r for r in samples if r["op"] == op and r["verdict"] in counts)
        print(f"  {op} [{example.get('torch_expect')}] {dict(counts)} | "
              f"{example.get('message', '')[:160]} || {example.get('torch_message', '')[:100]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, default=None)
    parser.add_argument("--only", default="", help="comma list of op names")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--budget", type=float, default=0, help="seconds; 0: no limit")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-numel", type=int, default=20000)
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--rerun", default=None, help="with --summary: a file of ops run "
                        "again, replacing theirs")
    args = parser.parse_args()
    if args.summary:
        summary(Path(args.out), Path(args.rerun) if args.rerun else None)
        return 0
    os.environ.setdefault("GRADCHECK_THREADS", "1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
