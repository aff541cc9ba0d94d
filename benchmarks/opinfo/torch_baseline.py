"""Baseline for issue 12: PyTorch's OpInfo database through torch.autograd.gradcheck.

Runs every op of ``torch.testing._internal.common_methods_invocations.op_db``
that supports autograd in the chosen dtype (default float64) on CPU, sample by
sample, calling ``torch.autograd.gradcheck`` exactly as PyTorch's own test
suite does:

* mode ``bwd``  = test/test_ops_gradients.py ``TestBwdGradients.test_fn_grad``
  -> ``TestGradients._grad_test_helper`` -> ``_check_helper(..., 'gradcheck')``
  in torch/testing/_internal/common_utils.py, with the testing ``gradcheck``
  wrapper's defaults (fast_mode=True unless op.gradcheck_fast_mode says
  otherwise, check_batched_grad=op.check_batched_grad).
* mode ``fwd``  = test/test_ops_fwd_gradients.py
  ``TestFwdGradients.test_forward_mode_AD`` (check_forward_ad=True,
  check_backward_ad=False, check_batched_grad=False,
  check_batched_forward_grad=op.check_batched_forward_grad).  For ops with
  supports_forward_ad=False torch expects NotImplementedError; that outcome is
  recorded as status ``unsupported`` (torch's test passes then).
* mode ``bwd_slow``: ``bwd`` with fast_mode=False, i.e. full numerical and
  analytical Jacobians -- the fair time comparison for a tool that builds full
  Jacobians.  torch's slow-gradcheck CI job (PYTORCH_TEST_WITH_SLOW_GRADCHECK=1)
  does this with small_inputs_only=True (``--small-inputs``); by default the
  same samples as ``bwd`` are used.  ``--max-numel N`` skips samples whose
  differentiated input or output has more than N elements (status
  ``skipped_large``); ``--timeout`` bounds one sample (status ``timeout``).

Samples are generated exactly as torch does (same seed before each sample:
sha256 of the test's qualname, see TrackedInputIter in common_utils.py), so
they are the very tensors torch's CI checks.

Output: one JSON line per sample and mode (kind="sample"), plus op markers
(kind="op_start"/"op_end").  Resumable: ops with an op_end line for the mode
are skipped; an op with op_start but no op_end (the process died inside it)
is recorded as kind="op_crash" and skipped unless --retry-crashed.

    python benchmarks/opinfo/torch_baseline.py --list
    python benchmarks/opinfo/torch_baseline.py --start 0 --stop 100 --modes bwd,fwd
    python benchmarks/opinfo/torch_baseline.py --modes bwd_slow --max-numel 20000 \
        --timeout 120 --out benchmarks/opinfo/results/torch_float64_slow.jsonl
    python benchmarks/opinfo/torch_baseline.py --summary
    python benchmarks/opinfo/summarize.py benchmarks/opinfo/results/torch_float64.jsonl

Use --budget 540 to stop starting new ops after 9 minutes (exit code 3; rerun
the same command to resume).  Timing is single-threaded (--threads 1).

Needs ``pip install expecttest`` (imported by common_utils).
"""

from __future__ import annotations

import argparse
import collections
import enum
import hashlib
import json
import math
import os
import random
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "torch_float64.jsonl"

# qualname of the generic test function -> seed torch uses for its samples
TEST_OF_MODE = {
    "bwd": ("TestBwdGradients", "test_fn_grad"),
    "bwd_slow": ("TestBwdGradients", "test_fn_grad"),
    "fwd": ("TestFwdGradients", "test_forward_mode_AD"),
}


def torch_seed(mode):
    cls, test = TEST_OF_MODE[mode]
    qual = f"{cls}.{test}"
    return int.from_bytes(hashlib.sha256(qual.encode("utf-8")).digest()[:4], "little")


def set_rng_seed(seed):
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


# --------------------------------------------------------------------------- ops


def load_ops(dtype_name):
    import torch

    t0 = time.perf_counter()
    from torch.testing._internal.common_methods_invocations import op_db

    import_s = time.perf_counter() - t0
    dtype = getattr(torch, dtype_name)
    ops = [
        op
        for op in op_db
        if dtype in op.supported_dtypes("cpu")
        and dtype in op.supported_backward_dtypes("cpu")
    ]
    return ops, dtype, import_s, len(op_db)


def op_id(op):
    return op.name + ("." + op.variant_test_name if op.variant_test_name else "")


def torch_expectation(op, mode, dtype):
    """What torch's suite does with this (op, test) on cpu: run / skip / xfail / slow."""
    cls, test = TEST_OF_MODE[mode]
    status, notes = "run", []
    for d in op.get_decorators(cls, test, "cpu", dtype, {}):
        q = getattr(d, "__qualname__", type(d).__name__)
        if q == "skip.<locals>.decorator":
            reason = ""
            for c in d.__closure__ or ():
                if isinstance(c.cell_contents, str):
                    reason = c.cell_contents
            status = "skip"
            notes.append(f"skip: {reason}")
        elif q == "expectedFailure":
            if status != "skip":
                status = "xfail"
            notes.append("expectedFailure")
        elif q == "slowTest":
            if status == "run":
                status = "slow"
            notes.append("slowTest")
        elif q.startswith("skip") or q.startswith("only") or "Override" in str(d):
            # device/library guards (skipCUDAIfNoMagma, skipCPUIfNoLapack, ...)
            # and precision overrides (unused by gradcheck): recorded only
            notes.append(q if not q.startswith("<") else type(d).__name__)
        else:
            notes.append(q)
    if mode == "fwd" and not op.supports_forward_ad and status == "run":
        status = "expect_NotImplementedError"
    return status, notes


# ----------------------------------------------------------------- gradcheck call


def build_fn(op, sample, variant):
    """Copy of TestGradients._check_helper's input recomposition (common_utils.py)."""
    import torch
    from itertools import chain

    from torch.testing._internal.common_utils import is_iterable_of_tensors

    if is_iterable_of_tensors(sample.input):
        all_args = chain(sample.input, sample.args, sample.kwargs.values())
    else:
        all_args = tuple(chain((sample.input,), sample.args, sample.kwargs.values()))
    gradcheck_args = tuple(
        x for x in all_args if (isinstance(x, torch.Tensor) and x.requires_grad)
    )

    def _recompose(inputs, inp, input_idx):
        if is_iterable_of_tensors(inp):
            tensor_list = []
            for x in inp:
                if isinstance(x, torch.Tensor) and x.requires_grad:
                    tensor_list.append(inputs[input_idx])
                    input_idx = input_idx + 1
                else:
                    tensor_list.append(x)
            return tensor_list, input_idx
        elif isinstance(inp, torch.Tensor) and inp.requires_grad:
            return inputs[input_idx], input_idx + 1
        else:
            return inp, input_idx

    def fn(*inputs):
        positional_args = []
        input_idx = 0
        inp, input_idx = _recompose(inputs, sample.input, input_idx)
        positional_args.append(inp)
        for x in sample.args:
            inp, input_idx = _recompose(inputs, x, input_idx)
            positional_args.append(inp)
        kwargs = {}
        for k, v in sample.kwargs.items():
            inp, input_idx = _recompose(inputs, v, input_idx)
            kwargs[k] = inp
        output = op.gradcheck_wrapper(variant, *positional_args, **kwargs)
        if sample.output_process_fn_grad is not None:
            return sample.output_process_fn_grad(output)
        return output

    return fn, gradcheck_args


def gradcheck_kwargs(op, mode):
    """Arguments torch's suite passes (through common_utils.gradcheck's defaults)."""
    fast = op.gradcheck_fast_mode if op.gradcheck_fast_mode is not None else True
    common = dict(
        check_grad_dtypes=True,
        nondet_tol=op.gradcheck_nondet_tol,
        check_undefined_grad=True,
    )
    if mode in ("bwd", "bwd_slow"):
        cbg = op.check_batched_grad
        return dict(
            common,
            check_batched_grad=cbg if cbg is not None else True,
            fast_mode=fast if mode == "bwd" else False,
            check_forward_ad=False,
            check_backward_ad=True,
            check_batched_forward_grad=False,
        )
    if mode == "fwd":
        return dict(
            common,
            check_batched_grad=False,
            fast_mode=fast,
            check_forward_ad=True,
            check_backward_ad=False,
            check_batched_forward_grad=bool(op.check_batched_forward_grad),
        )
    raise ValueError(mode)


def classify_failure(msg):
    m = msg.lower()
    if "jacobian" in m and "mismatch" in m:
        return "jacobian_mismatch"
    if "batched" in m:
        return "batched_grad"
    if "undefined" in m:
        return "undefined_grad"
    if "reentrant" in m:
        return "nondeterministic"
    if "dtype mismatch" in m or "incorrect type" in m:
        return "grad_dtype"
    if "incorrect size" in m:
        return "grad_size"
    if "expected to be zero" in m:
        return "no_diff_outputs_nonzero_numerical"
    if "not multiplied by grad_output" in m:
        return "not_multiplied_by_grad_output"
    return "other"


class SampleTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise SampleTimeout("sample exceeded the per-sample time limit")


# ------------------------------------------------------------- sample signature


def _scalar_kind(x):
    import torch

    if x is None:
        return "None"
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return "int"
    if isinstance(x, float):
        return "float" if math.isfinite(x) else "float_nonfinite"
    if isinstance(x, complex):
        return "complex"
    if isinstance(x, str):
        return "str"
    if isinstance(x, torch.dtype):
        return "dtype"
    if isinstance(x, torch.device):
        return "device"
    if isinstance(x, (torch.memory_format, torch.layout)):
        return "torch_enum"
    if isinstance(x, enum.Enum):
        return "enum"
    if isinstance(x, torch.Size):
        return "shape"
    if isinstance(x, slice):
        return "slice"
    if callable(x):
        return "callable"
    return type(x).__name__


_IDENTITY_CODE = None


def _is_default_identity(f):
    """SampleInput fills output_process_fn_grad with `lambda x: x` when none is given."""
    global _IDENTITY_CODE
    if _IDENTITY_CODE is None:
        import torch
        from torch.testing._internal.opinfo.core import SampleInput

        _IDENTITY_CODE = SampleInput(torch.zeros(1)).output_process_fn_grad.__code__
    return getattr(f, "__code__", None) is _IDENTITY_CODE


def describe_inputs(sample):
    import torch

    d = collections.Counter()
    scalar_kinds = collections.Counter()

    def tensor(t, where):
        d["tensors"] += 1
        if t.requires_grad:
            d["diff_tensors"] += 1
        if t.is_complex():
            d["complex_tensors"] += 1
        if t.is_floating_point() or t.is_complex():
            if not t.requires_grad:
                d["float_tensors_not_diff"] += 1
        else:
            d["nonfloat_tensors"] += 1
        if t.layout != torch.strided:
            d["sparse_tensors"] += 1
        if t.numel() == 0:
            d["zero_element_tensors"] += 1
            if t.requires_grad:
                d["zero_element_diff_tensors"] += 1
        if t.dim() == 0:
            d["scalar_tensors"] += 1
        if t.layout == torch.strided:
            if not t.is_contiguous():
                d["noncontig_tensors"] += 1
            if any(st == 0 and sz > 1 for st, sz in zip(t.stride(), t.shape)):
                d["stride0_tensors"] += 1
            if t.is_conj():
                d["conj_tensors"] += 1
        if (t.is_floating_point() or t.is_complex()) and t.numel():
            vals = t.values() if t.layout != torch.strided and hasattr(t, "values") else t
            try:
                v = vals.detach()
                if t.layout == torch.sparse_coo:
                    v = t.detach().coalesce().values()
                if not bool(torch.isfinite(v).all()):
                    d["nonfinite_tensors"] += 1
            except Exception:
                pass
        d["max_numel"] = max(d["max_numel"], t.numel())
        if t.requires_grad:
            d["diff_numel"] += t.numel()
        if where == "kw":
            d["kwarg_tensors"] += 1

    def walk(x, where, depth=0):
        if isinstance(x, torch.Tensor):
            tensor(x, where)
        elif isinstance(x, (list, tuple)) and not isinstance(x, torch.Size):
            if x and all(isinstance(e, torch.Tensor) for e in x):
                d["tensor_lists"] += 1
                d["tensor_list_len_max"] = max(d["tensor_list_len_max"], len(x))
                for e in x:
                    tensor(e, where)
            elif any(isinstance(e, (torch.Tensor, list, tuple)) for e in x):
                d["mixed_sequences"] += 1
                for e in x:
                    walk(e, where, depth + 1)
            else:
                d["nontensor_args"] += 1
                scalar_kinds["seq[" + ",".join(sorted({_scalar_kind(e) for e in x})) + "]"] += 1
        elif isinstance(x, dict):
            d["dict_args"] += 1
            for v in x.values():
                walk(v, where, depth + 1)
        else:
            d["nontensor_args"] += 1
            scalar_kinds[_scalar_kind(x)] += 1

    walk(sample.input, "input")
    d["positional_args"] = 1 + len(sample.args)
    for a in sample.args:
        walk(a, "arg")
    d["kwargs"] = len(sample.kwargs)
    for v in sample.kwargs.values():
        walk(v, "kw")
    if sample.output_process_fn_grad is not None and not _is_default_identity(sample.output_process_fn_grad):
        d["output_process_fn_grad"] = 1
    if getattr(sample, "broadcasts_input", False):
        d["broadcasts_input"] = 1
    out = {k: v for k, v in d.items() if v}
    if scalar_kinds:
        out["nontensor_kinds"] = dict(scalar_kinds)
    if sample.kwargs:
        out["kwarg_names"] = sorted(sample.kwargs)
    return out


def describe_outputs(fn, args):
    import torch

    d = collections.Counter()
    out = fn(*args)
    if isinstance(out, (tuple, list)):
        outs = tuple(out)
        d["output_is_sequence"] = 1
    else:
        outs = (out,)
    d["outputs"] = len(outs)
    for o in outs:
        if isinstance(o, torch.Tensor):
            if o.is_floating_point() or o.is_complex():
                if o.requires_grad:
                    d["diff_outputs"] += 1
                else:
                    d["float_outputs_no_grad"] += 1
            else:
                d["int_outputs"] += 1
            if o.is_complex():
                d["complex_outputs"] += 1
            if o.numel() == 0:
                d["zero_element_outputs"] += 1
            if o.layout != torch.strided:
                d["sparse_outputs"] += 1
            d["max_out_numel"] = max(d["max_out_numel"], o.numel())
        elif isinstance(o, (tuple, list)):
            d["nested_outputs"] += 1
        else:
            d["nontensor_outputs"] += 1
    return {k: v for k, v in d.items() if v}


# -------------------------------------------------------------------- main loop


def run_op(op, op_index, mode, dtype, args, write):
    import torch
    from torch.autograd.gradcheck import GradcheckError

    variant = op.get_op()
    gkw = gradcheck_kwargs(op, mode)
    expect, notes = torch_expectation(op, mode, dtype)
    seed = torch_seed(mode)
    include_conj = op.test_conjugated_samples and dtype.is_complex
    base = dict(op=op_id(op), name=op.name, variant=op.variant_test_name, op_index=op_index, mode=mode)

    t_op = time.perf_counter()
    set_rng_seed(seed)
    samples = op.sample_inputs(
        "cpu", dtype, requires_grad=True,
        include_conjugated_inputs=include_conj, small_inputs_only=args.small_inputs, set_seed=False,
    )
    it = iter(samples)
    rows = []
    idx = 0
    gen_total = 0.0
    while True:
        # torch's TrackedInputIter re-seeds before producing each sample
        set_rng_seed(seed)
        tg = time.perf_counter()
        try:
            sample = next(it)
        except StopIteration:
            break
        except Exception as e:
            rows.append(dict(base, kind="sample", index=idx, status="sample_error",
                             message=f"{type(e).__name__}: {str(e)[:500]}"))
            break
        gen_total += time.perf_counter() - tg
        if args.sample is not None and idx != args.sample:
            idx += 1
            continue
        row = dict(base, kind="sample", index=idx)
        if getattr(sample, "name", ""):
            row["sample_name"] = sample.name
        try:
            row["inputs"] = describe_inputs(sample)
        except Exception as e:  # never let the description kill the run
            row["inputs"] = {"describe_error": repr(e)[:200]}
        fn, gargs = build_fn(op, sample, variant)
        row["n_gradcheck_args"] = len(gargs)
        if args.max_numel is not None:
            # size guard (meant for bwd_slow): one forward call to learn the output
            # sizes, with torch's RNG state restored so gradcheck sees the same draws
            rng = torch.get_rng_state()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    row["outputs"] = describe_outputs(fn, gargs)
            except Exception as e:
                row["outputs"] = {"describe_error": f"{type(e).__name__}: {str(e)[:200]}"}
            torch.set_rng_state(rng)
            big = max(row["inputs"].get("diff_numel", 0), row["outputs"].get("max_out_numel", 0))
            if big > args.max_numel:
                row.update(status="skipped_large", time_s=0.0,
                           message=f"largest differentiated input/output has {big} elements > --max-numel")
                rows.append(row)
                idx += 1
                continue
        signal.alarm(args.timeout)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ok = torch.autograd.gradcheck(fn, gargs, **gkw)
            row["status"] = "pass" if ok else "fail"
        except GradcheckError as e:
            msg = str(e)
            row["status"] = "fail"
            row["failure"] = classify_failure(msg)
            row["message"] = msg[:600]
        except SampleTimeout as e:
            row["status"] = "timeout"
            row["message"] = str(e)
        except NotImplementedError as e:
            msg = str(e)
            if mode == "fwd" and "Trying to use forward AD" in msg:
                row["status"] = "unsupported"
            else:
                row["status"] = "error"
                row["error_type"] = type(e).__name__
            row["message"] = msg[:600]
        except Exception as e:
            row["status"] = "error"
            row["error_type"] = type(e).__name__
            row["message"] = str(e)[:600]
            row["where"] = "".join(traceback.format_tb(e.__traceback__)[-2:])[-600:]
        finally:
            row["time_s"] = time.perf_counter() - t0
            signal.alarm(0)
        if mode == "fwd" and not op.supports_forward_ad and row["status"] == "pass":
            row["status"] = "unexpected_pass"
        # output signature, after gradcheck so torch's RNG sequence is untouched
        try:
            signal.alarm(args.timeout)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t1 = time.perf_counter()
                row["outputs"] = describe_outputs(fn, gargs)
                row["forward_s"] = time.perf_counter() - t1
        except Exception as e:
            row["outputs"] = {"describe_error": f"{type(e).__name__}: {str(e)[:200]}"}
        finally:
            signal.alarm(0)
        rows.append(row)
        idx += 1
    op_end = dict(
        base, kind="op_end", n_samples=idx, sample_gen_s=gen_total,
        op_s=time.perf_counter() - t_op, torch_expect=expect, decorators=notes,
        gradcheck_kwargs={k: v for k, v in gkw.items()},
        gradcheck_wrapper=getattr(op.gradcheck_wrapper, "__name__", str(op.gradcheck_wrapper)),
        supports_forward_ad=op.supports_forward_ad, supports_fwgrad_bwgrad=op.supports_fwgrad_bwgrad,
        supports_gradgrad=op.supports_gradgrad,
    )
    for r in rows:
        r["torch_expect"] = expect
    write(rows + [op_end])
    return rows


def read_jsonl(path):
    rows = []
    if path.exists():
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a torn last line from a killed run
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--modes", default="bwd,fwd", help="comma list of bwd,fwd,bwd_slow")
    ap.add_argument("--start", type=int, default=0, help="first op index (in the selected list)")
    ap.add_argument("--stop", type=int, default=None, help="op index to stop before")
    ap.add_argument("--op", default=None, help="only ops whose id equals this (name or name.variant)")
    ap.add_argument("--sample", type=int, default=None, help="only this sample index")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (timing)")
    ap.add_argument("--timeout", type=int, default=300, help="per-sample limit, s")
    ap.add_argument("--small-inputs", action="store_true",
                    help="small_inputs_only=True, as torch's slow-gradcheck CI job "
                         "(PYTORCH_TEST_WITH_SLOW_GRADCHECK=1) does; only binary elementwise ops honor it")
    ap.add_argument("--max-numel", type=int, default=None,
                    help="skip samples whose differentiated input or output has more elements (bwd_slow)")
    ap.add_argument("--budget", type=float, default=None,
                    help="stop starting new ops after this many seconds (resumable)")
    ap.add_argument("--retry-crashed", action="store_true")
    ap.add_argument("--list", action="store_true", help="list the selected ops and exit")
    ap.add_argument("--summary", action="store_true", help="summarize --out and exit")
    ap.add_argument("--summary-json", type=Path, default=None)
    args = ap.parse_args(argv)
    out = args.out or HERE / "results" / f"torch_{args.dtype}.jsonl"

    if args.summary:
        from summarize import summarize  # benchmarks/opinfo/summarize.py

        s = summarize(read_jsonl(out))
        print(s["text"])
        if args.summary_json:
            args.summary_json.write_text(json.dumps(s["data"], indent=1, sort_keys=True))
        return 0

    import torch

    torch.set_num_threads(args.threads)
    ops, dtype, import_s, n_db = load_ops(args.dtype)
    if args.list:
        print(f"# op_db: {n_db} OpInfos, {len(ops)} with {args.dtype} autograd on cpu; import {import_s:.1f}s")
        for i, op in enumerate(ops):
            print(i, op_id(op), "fwdAD" if op.supports_forward_ad else "-",
                  torch_expectation(op, "bwd", dtype)[0], torch_expectation(op, "fwd", dtype)[0])
        return 0

    modes = [m for m in args.modes.split(",") if m]
    out.parent.mkdir(parents=True, exist_ok=True)
    done, started = set(), set()
    for r in read_jsonl(out):
        key = (r.get("op"), r.get("mode"))
        if r.get("kind") == "op_end" or r.get("kind") == "op_crash":
            done.add(key)
        elif r.get("kind") == "op_start":
            started.add(key)
    fh = open(out, "a")

    def write(rows):
        for r in rows:
            fh.write(json.dumps(r, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())

    signal.signal(signal.SIGALRM, _alarm)
    t_start = time.perf_counter()
    stop = len(ops) if args.stop is None else min(args.stop, len(ops))
    print(f"import {import_s:.1f}s; ops {args.start}..{stop} of {len(ops)}; modes {modes}; out {out}",
          flush=True)
    n_run = 0
    for i in range(args.start, stop):
        op = ops[i]
        if args.op and args.op not in (op_id(op), op.name):
            continue
        for mode in modes:
            key = (op_id(op), mode)
            if key in done and args.sample is None:
                continue
            if key in started and not args.retry_crashed and args.sample is None:
                write([dict(kind="op_crash", op=key[0], mode=mode, op_index=i,
                            message="process died inside this op on an earlier run")])
                print(f"[{i}] {key[0]} {mode}: crashed before, skipped", flush=True)
                continue
            if args.budget and time.perf_counter() - t_start > args.budget:
                print(f"budget reached before op {i}; rerun to resume", flush=True)
                fh.close()
                return 3
            write([dict(kind="op_start", op=key[0], mode=mode, op_index=i)])
            t0 = time.perf_counter()
            rows = run_op(op, i, mode, dtype, args, write)
            c = collections.Counter(r.get("status") for r in rows)
            print(f"[{i}] {key[0]} {mode}: {len(rows)} samples {dict(c)} "
                  f"{time.perf_counter() - t0:.2f}s", flush=True)
            n_run += 1
    fh.close()
    print(f"done: {n_run} op-modes in {time.perf_counter() - t_start:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
