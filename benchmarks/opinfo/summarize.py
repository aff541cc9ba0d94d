"""Summarize the JSON lines written by torch_baseline.py.

    python benchmarks/opinfo/summarize.py benchmarks/opinfo/results/torch_float64.jsonl [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
from pathlib import Path


def _q(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p * (len(xs) - 1)))))
    return xs[k]


def _fmt_t(s):
    return f"{s * 1e3:.2f} ms"


SIG_KEYS = [
    # (label, predicate over a sample row)
    ("kwargs (any)", lambda r: r["inputs"].get("kwargs", 0) > 0),
    ("tensor passed as kwarg", lambda r: r["inputs"].get("kwarg_tensors", 0) > 0),
    ("non-tensor args (any)", lambda r: r["inputs"].get("nontensor_args", 0) > 0),
    ("float tensor args not differentiated", lambda r: r["inputs"].get("float_tensors_not_diff", 0) > 0),
    ("integer/bool tensor args", lambda r: r["inputs"].get("nonfloat_tensors", 0) > 0),
    (">1 differentiated tensor", lambda r: r.get("n_gradcheck_args", 0) > 1),
    ("tensor lists", lambda r: r["inputs"].get("tensor_lists", 0) > 0),
    ("complex tensors", lambda r: r["inputs"].get("complex_tensors", 0) > 0),
    ("sparse tensors", lambda r: r["inputs"].get("sparse_tensors", 0) > 0),
    ("zero-element tensors (any)", lambda r: r["inputs"].get("zero_element_tensors", 0) > 0),
    ("zero-element differentiated tensor", lambda r: r["inputs"].get("zero_element_diff_tensors", 0) > 0),
    ("0-dim tensors", lambda r: r["inputs"].get("scalar_tensors", 0) > 0),
    ("non-contiguous tensors", lambda r: r["inputs"].get("noncontig_tensors", 0) > 0),
    ("stride-0 (expanded) tensors", lambda r: r["inputs"].get("stride0_tensors", 0) > 0),
    ("inf/nan in input tensors", lambda r: r["inputs"].get("nonfinite_tensors", 0) > 0),
    ("output_process_fn_grad set", lambda r: r["inputs"].get("output_process_fn_grad", 0) > 0),
    ("output is tuple/list", lambda r: r["outputs"].get("output_is_sequence", 0) > 0),
    (">1 outputs", lambda r: r["outputs"].get("outputs", 0) > 1),
    ("integer/bool (non-diff) outputs", lambda r: r["outputs"].get("int_outputs", 0) > 0),
    ("float outputs without grad", lambda r: r["outputs"].get("float_outputs_no_grad", 0) > 0),
    ("no differentiable output", lambda r: "describe_error" not in r["outputs"] and r["outputs"].get("diff_outputs", 0) == 0),
    ("non-tensor outputs", lambda r: r["outputs"].get("nontensor_outputs", 0) > 0),
    ("complex outputs", lambda r: r["outputs"].get("complex_outputs", 0) > 0),
    ("zero-element outputs", lambda r: r["outputs"].get("zero_element_outputs", 0) > 0),
    ("sparse outputs", lambda r: r["outputs"].get("sparse_outputs", 0) > 0),
    ("forward call failed (describe)", lambda r: "describe_error" in r["outputs"]),
]


def summarize(rows):
    samples = [r for r in rows if r.get("kind") == "sample"]
    op_ends = [r for r in rows if r.get("kind") == "op_end"]
    crashes = [r for r in rows if r.get("kind") == "op_crash"]
    # keep the last record of each (op, mode, index) (resumed/re-run pieces)
    dedup = {}
    for r in samples:
        dedup[(r["op"], r["mode"], r.get("index"))] = r
    samples = list(dedup.values())
    ends = {}
    for r in op_ends:
        ends[(r["op"], r["mode"])] = r

    lines, data = [], {}
    modes = sorted({r["mode"] for r in samples}, key=lambda m: ["bwd", "fwd", "bwd_slow"].index(m) if m in ("bwd", "fwd", "bwd_slow") else 9)
    for mode in modes:
        S = [r for r in samples if r["mode"] == mode]
        E = [e for (op, m), e in ends.items() if m == mode]
        st = collections.Counter(r["status"] for r in S)
        ops = {r["op"] for r in S}
        ops_zero = [e["op"] for e in E if e["n_samples"] == 0]
        times = [r["time_s"] for r in S if "time_s" in r and r["status"] != "skipped_large"]
        gen = sum(e.get("sample_gen_s", 0) for e in E)
        opt = sum(e.get("op_s", 0) for e in E)
        by_expect = collections.defaultdict(collections.Counter)
        for r in S:
            by_expect[r.get("torch_expect", "?")][r["status"]] += 1
        fails = [r for r in S if r["status"] not in ("pass", "unsupported")]
        fail_ops = collections.defaultdict(collections.Counter)
        for r in fails:
            fail_ops[(r["op"], r.get("torch_expect"))][r["status"] + ("/" + r["failure"] if r.get("failure") else "") + ("/" + r["error_type"] if r.get("error_type") else "")] += 1
        per_op_time = collections.Counter()
        per_op_n = collections.Counter()
        for r in S:
            per_op_time[r["op"]] += r.get("time_s", 0)
            per_op_n[r["op"]] += 1
        d = dict(
            ops_with_op_end=len(E), ops_with_samples=len(ops), ops_with_zero_samples=sorted(ops_zero),
            samples=len(S), status=dict(st), by_torch_expect={k: dict(v) for k, v in by_expect.items()},
            gradcheck_total_s=sum(times), sample_gen_total_s=gen, op_wall_total_s=opt,
            per_sample_s=dict(mean=statistics.mean(times) if times else 0, median=_q(times, .5),
                              p90=_q(times, .9), p99=_q(times, .99), max=max(times) if times else 0),
            failing_ops={f"{k[0]} [{k[1]}]": dict(v) for k, v in sorted(fail_ops.items())},
            slowest_ops=[(op, round(t, 3), per_op_n[op]) for op, t in per_op_time.most_common(12)],
            crashed_ops=[c["op"] for c in crashes if c.get("mode") == mode],
        )
        data[mode] = d
        lines.append(f"== mode {mode}")
        lines.append(f"ops: {len(E)} finished ({len(ops)} with >=1 sample, {len(ops_zero)} yield no sample: {', '.join(sorted(ops_zero)) or '-'}); crashed: {d['crashed_ops'] or 0}")
        lines.append(f"samples: {len(S)}  status: {dict(st)}")
        for k, v in sorted(by_expect.items()):
            lines.append(f"  torch_expect={k}: {dict(v)}")
        lines.append(f"time: gradcheck total {d['gradcheck_total_s']:.1f}s, sample generation {gen:.1f}s, op wall {opt:.1f}s")
        p = d["per_sample_s"]
        lines.append(f"per sample: mean {_fmt_t(p['mean'])}, median {_fmt_t(p['median'])}, p90 {_fmt_t(p['p90'])}, p99 {_fmt_t(p['p99'])}, max {p['max']:.2f}s")
        lines.append("slowest ops (total s, samples): " + "; ".join(f"{o} {t}s/{n}" for o, t, n in d["slowest_ops"]))
        if fail_ops:
            lines.append(f"non-pass samples by op ({len(fail_ops)} ops):")
            for k, v in sorted(fail_ops.items()):
                msg = next((r.get("message", "") for r in fails if r["op"] == k[0]), "")
                first = msg.strip().splitlines()[0][:110] if msg.strip() else ""
                lines.append(f"  {k[0]} [torch: {k[1]}] {dict(v)}  | {first}")
        lines.append("")

    # signature statistics on the canonical sample set (bwd mode if present)
    base_mode = "bwd" if "bwd" in modes else (modes[0] if modes else None)
    if base_mode:
        S = [r for r in samples if r["mode"] == base_mode and "inputs" in r and "outputs" in r]
        nops = len({r["op"] for r in S})
        lines.append(f"== sample signatures ({base_mode} samples: {len(S)} in {nops} ops)")
        sig = {}
        for label, pred in SIG_KEYS:
            hit = [r for r in S if _safe(pred, r)]
            hops = {r["op"] for r in hit}
            sig[label] = dict(samples=len(hit), ops=len(hops), examples=sorted(hops)[:8])
            lines.append(f"  {label:40s} {len(hit):6d} samples {len(hops):4d} ops   e.g. {', '.join(sorted(hops)[:5])}")
        kinds = collections.Counter()
        kind_ops = collections.defaultdict(set)
        for r in S:
            for k, v in r["inputs"].get("nontensor_kinds", {}).items():
                kinds[k] += v
                kind_ops[k].add(r["op"])
        lines.append("  non-tensor arg kinds (count, ops): " + "; ".join(f"{k} {v}/{len(kind_ops[k])}" for k, v in kinds.most_common()))
        nd = collections.Counter(r.get("n_gradcheck_args", 0) for r in S)
        lines.append("  differentiated tensors per sample: " + ", ".join(f"{k}:{v}" for k, v in sorted(nd.items())))
        no = collections.Counter(r["outputs"].get("outputs", 0) for r in S)
        lines.append("  outputs per sample: " + ", ".join(f"{k}:{v}" for k, v in sorted(no.items())))
        numel = [r["inputs"].get("diff_numel", 0) for r in S]
        lines.append(f"  differentiated elements per sample: median {_q(numel, .5)}, p90 {_q(numel, .9)}, max {max(numel) if numel else 0}, total {sum(numel)}")
        onumel = [r["outputs"].get("max_out_numel", 0) for r in S]
        lines.append(f"  largest output numel per sample: median {_q(onumel, .5)}, p90 {_q(onumel, .9)}, max {max(onumel) if onumel else 0}")
        plain = [r for r in S if _plain(r)]
        lines.append(f"  'plain' samples (tensor args all differentiated, no kwargs/lists/complex/sparse, one float output): {len(plain)} in {len({r['op'] for r in plain})} ops")
        data["signatures"] = dict(base_mode=base_mode, samples=len(S), ops=nops, table=sig,
                                  nontensor_kinds={k: [v, len(kind_ops[k])] for k, v in kinds.items()},
                                  diff_tensors_hist=dict(nd), outputs_hist=dict(no), plain_samples=len(plain))
    return dict(text="\n".join(lines), data=data)


def _safe(pred, r):
    try:
        return bool(pred(r))
    except Exception:
        return False


def _plain(r):
    i, o = r["inputs"], r["outputs"]
    return (i.get("kwargs", 0) == 0 and i.get("nontensor_args", 0) == 0 and i.get("float_tensors_not_diff", 0) == 0
            and i.get("nonfloat_tensors", 0) == 0 and i.get("tensor_lists", 0) == 0 and i.get("complex_tensors", 0) == 0
            and i.get("sparse_tensors", 0) == 0 and o.get("outputs", 0) == 1 and o.get("diff_outputs", 0) == 1)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    rows = []
    for f in a.files:
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    s = summarize(rows)
    print(s["text"])
    if a.json:
        a.json.write_text(json.dumps(s["data"], indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
