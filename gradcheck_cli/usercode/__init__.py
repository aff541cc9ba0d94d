"""Checking the user's own code: a function, a custom op, a layer -- no expression.

The framework's autodiff runs through the code as in training (reverse mode,
and forward mode where the framework has it) and is held against finite
differences in float64 on the same framework and device, with their own error
estimate as the tolerance, and against a plain ``reference`` implementation
when one is given.

Small inputs get the full Jacobian: every column by finite differences along
that element, every row by one backward pass. Larger ones get random
projections: uᵀJv from the backward pass (uᵀJ)·v, from forward mode uᵀ(Jv),
and from finite differences along v, for several probes from a fixed seed.
When a projection disagrees, bisection over blocks of elements (finite
differences along v restricted to a block) finds the worst elements.
"""

from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..results import CheckResult, Row, Verdict
from ..errors import GradcheckError
from .. import frameworks as backends
from ..richardson import richardson
from .loader import load

ADAPTERS = {"torch": ".torch", "tensorflow": ".tensorflow", "jax": ".jax"}
FULL_LIMIT = 2000          # elements per input (and outputs) for the full Jacobian
PROBES = 8                 # random projections beyond that
LOCALIZE = 5               # worst elements reported per failing input
FORWARD_COLUMNS = 64       # forward mode column by column up to this many elements
FD_SAFETY = 4.0
EPS = {"float64": float(np.finfo(np.float64).eps), "float32": float(np.finfo(np.float32).eps),
       "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
HALF = ("float16", "bfloat16")
# Relative tolerance of a gradient, by the dtype the framework computed in, against
# the size of the terms summed (|u|·|J|·|v|). Half precision: 2 ulps, and as much again
# of the largest value of the same gradient (a small element is a sum of rounded terms
# of the large ones' size; see _resolution); measured errors of torch layers are about
# 1 ulp of the largest.
RTOL = {"float64": 1e-7, "float32": 2e-3, "float16": 2 * EPS["float16"],
        "bfloat16": 2 * EPS["bfloat16"]}
# float16 below its normal range (6.1e-5) loses digits to underflow in the backward pass
# (why mixed-precision training scales its loss): judged absolutely there.
ATOL = {"float16": 2.0 ** -14}


class DtypeMismatch(Exception):
    """The code does not compute in the dtype it was given (it casts, or hard-codes one)."""


@dataclass
class Slot:
    """Something differentiated: a positional input (by index) or a parameter (by name)."""

    name: str
    key: int | str
    value: np.ndarray


def make_inputs(spec: dict, rng: np.random.Generator, default_dtype: str):
    """Arrays for the ``inputs:`` mapping, in order: (names, arrays, differentiable names)."""
    names, arrays, grads = [], [], []
    for name, item in spec.items():
        item = item or {}
        if "value" in item:
            array = np.asarray(item["value"], dtype=float)
            if "shape" in item and tuple(item["shape"]) != array.shape:
                raise GradcheckError(f"input {name!r}: 'value' has shape {array.shape}, "
                                     f"'shape' says {tuple(item['shape'])}")
        elif "shape" in item:
            shape = tuple(int(s) for s in item["shape"])
            if item.get("normal"):
                array = rng.standard_normal(shape)
            else:
                low, high = float(item.get("low", -1.0)), float(item.get("high", 1.0))
                if not low < high:
                    raise GradcheckError(f"input {name!r}: needs low < high")
                array = rng.uniform(low, high, shape)
        else:
            raise GradcheckError(f"input {name!r}: give 'shape' (random) or 'value'")
        dtype = item.get("dtype", default_dtype)
        if dtype not in EPS:
            raise GradcheckError(f"input {name!r}: unsupported dtype {dtype!r}")
        names.append(name)
        arrays.append(round_to(array, dtype))
        if item.get("grad", True):
            grads.append(name)
    return names, arrays, grads


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """The array in ``dtype``; half precision as the float64 values of its rounded numbers
    (numpy has no bfloat16), so finite differences in float64 start from the same point."""
    if dtype == "float16":
        return array.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":  # the top 16 bits of float32, rounded to nearest even
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
            & np.uint32(0xFFFF0000)
        return bits.view(np.float32).astype(np.float64)
    return array.astype(dtype)


class _Function:
    """The user's code as F(values) -> one flat float64 vector, plus its derivatives."""

    def __init__(self, ad, inputs, params, slots, fd_dtype, vmap=True):
        self.ad, self.inputs, self.params = ad, inputs, params
        self.slots, self.fd_dtype, self.vmap = slots, fd_dtype, vmap
        self.shapes = None
        self.calls = 0

    def values(self, moved: dict):
        inputs = [moved.get(i, a) for i, a in enumerate(self.inputs)]
        params = {k: moved.get(k, v) for k, v in self.params.items()}
        return inputs, params

    def __call__(self, moved: dict, dtype=None) -> np.ndarray:
        self.calls += 1
        inputs, params = self.values(moved)
        outs = self.ad.forward(inputs, params, dtype or self.fd_dtype)
        if self.shapes is None:
            self.shapes = [o.shape for o in outs]
        return np.concatenate([o.ravel() for o in outs])

    def cotangent(self, u: np.ndarray) -> list[np.ndarray]:
        parts, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            parts.append(u[start:start + size].reshape(shape))
            start += size
        return parts

    def vjp(self, u: np.ndarray, ad=None):
        inputs, params = self.values({})
        wrt = {s.name: s.key for s in self.slots}
        return (ad or self.ad).vjp(inputs, params, wrt, self.cotangent(u))

    def jvp(self, slot: Slot, v: np.ndarray) -> np.ndarray:
        inputs, params = self.values({})
        outs = self.ad.jvp(inputs, params, {slot.key: v.reshape(slot.value.shape)})
        return np.concatenate([o.ravel() for o in outs])

    def step(self, slot: Slot, v_max: float = 1.0) -> float:
        """A power-of-two step near eps^(1/3) times the input's scale."""
        x = slot.value
        scale = max(1.0, float(np.max(np.abs(x))) if x.size else 1.0)
        return float(2.0 ** np.floor(np.log2(EPS[self.fd_dtype] ** (1 / 3) * scale
                                             / max(1e-300, v_max))))

    def jacobian(self, slot: Slot):
        """(J, error): every column by Richardson-extrapolated central differences.

        The n perturbed copies of the input go to the framework as one batch
        (vmap) where it can take them, else one call each.
        """
        x = slot.value.astype(float).ravel()
        n, h = x.size, self.step(slot)
        eye = np.eye(n)
        many = getattr(self.ad, "forward_many", None) if self.vmap else None
        cols = {}
        for k in (0.5, -0.5, 1.0, -1.0):
            batch = (x[None, :] + k * h * eye).reshape((n, *slot.value.shape))
            result = None
            if many is not None:
                inputs, params = self.values({})
                try:
                    result = many(inputs, params, self.fd_dtype, slot.key, batch)
                    self.calls += 1
                except Exception:  # not vmappable: one call per column
                    many = None
            if result is None:
                result = np.stack([self({slot.key: b}) for b in batch])
            cols[k] = result.T  # (M, n)
        value, truncation, weights = richardson(cols[0.5], cols[-0.5], cols[1.0], cols[-1.0], h)
        size = np.maximum.reduce([np.abs(c) for c in cols.values()])
        return value, truncation + 64 * EPS[self.fd_dtype] * size * weights

    def jacobian_rows(self, m: int, ad=None) -> list:
        """uᵀJ for every unit u: one backward pass per output element (batched if possible)."""
        ad = ad or self.ad
        many = getattr(ad, "vjp_many", None) if self.vmap else None
        if many is not None:
            inputs, params = self.values({})
            wrt = {s.name: s.key for s in self.slots}
            try:
                return many(inputs, params, wrt, [self.cotangent(u) for u in np.eye(m)])
            except Exception:  # custom ops that cannot be vmapped: one pass per row
                pass
        return [self.vjp(u, ad) for u in np.eye(m)]

    def directional(self, slot: Slot, v: np.ndarray):
        """(F'(x)·v, error estimate): Richardson-extrapolated central differences along v."""
        x = slot.value.astype(float)
        eps = EPS[self.fd_dtype]
        h = self.step(slot, float(np.max(np.abs(v))) if v.size else 1.0)
        v = v.reshape(x.shape)

        def at(k):
            return self({slot.key: x + k * h * v})
        fp1, fm1, fp2, fm2 = at(0.5), at(-0.5), at(1.0), at(-1.0)
        value, truncation, weights = richardson(fp1, fm1, fp2, fm2, h)
        size = np.maximum.reduce([np.abs(fp1), np.abs(fm1), np.abs(fp2), np.abs(fm2)])
        return value, truncation + 64 * eps * size * weights


def run_callable(check: dict, *, source: str, base: Path | None, label: str) -> CheckResult:
    """Check the gradients of the user's callable named in a spec check.

    Raises:
        GradcheckError: import, instantiation, inputs or outputs are wrong, or
            the user's code raised (the message names the exception).
    """
    try:
        return _run_callable(check, source=source, base=base, label=label)
    except (GradcheckError, KeyboardInterrupt):
        raise
    except Exception as exc:  # raised inside the user's code (or its framework)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise GradcheckError(f"running the code raised {type(exc).__name__}: {first}") from None


def _run_callable(check: dict, *, source: str, base: Path | None, label: str) -> CheckResult:
    start = time.perf_counter()
    spec_backend = check.get("backend")
    frameworks = backends.resolve(",".join(spec_backend) if isinstance(spec_backend, list)
                                  else spec_backend)
    if len(frameworks) != 1:
        raise GradcheckError("user code runs on one framework: set 'backend' to torch, "
                             "tensorflow or jax")
    framework = frameworks[0]
    dtype = str(check.get("dtype") or "float64")
    if dtype not in EPS:
        raise GradcheckError(f"field 'dtype': unsupported dtype {dtype!r}; choose float64, "
                             "float32, float16 or bfloat16")
    device = str(check.get("device") or "cpu")
    seed = int(check.get("seed", 0))
    rng = np.random.default_rng(seed)
    module = importlib.import_module(ADAPTERS[framework], __package__)
    ad = module.Adapter(device, dtype)
    names, arrays, grads = make_inputs(check.get("inputs") or {}, rng, dtype)
    obj = load(check["callable"], base)
    param_list = ad.prepare(obj, check.get("init"), bool(check.get("params")), seed)
    _check_signature(ad.fn, names)
    if hasattr(ad, "build"):  # Keras builds a layer's weights on its first call
        param_list = ad.build(arrays)
    params = {name: value for name, value in param_list}
    slots = [Slot(n, i, a) for i, (n, a) in enumerate(zip(names, arrays)) if n in grads]
    slots += [Slot(n, n, v) for n, v in param_list]
    if not slots:
        raise GradcheckError("nothing to differentiate: every input has 'grad: false'")
    notes = []
    fd_dtype = "float64"
    try:
        ad.forward(arrays, params, "float64")
    except GradcheckError:
        raise
    except Exception as exc:  # the code does not run in float64: difference in float32
        if dtype == "float64":
            raise GradcheckError(f"the code does not run in float64: {exc}") from None
        fd_dtype = "float32"
        notes.append(f"finite differences in float32 (the code failed in float64: "
                     f"{type(exc).__name__}); steps and tolerances are float32's")
    fn = _Function(ad, arrays, params, slots, fd_dtype, vmap=check.get("vmap", True))
    try:
        out0 = fn({})
    except GradcheckError:
        raise
    except Exception as exc:
        raise GradcheckError(f"calling the code failed: {type(exc).__name__}: {exc}") from None
    m = out0.size
    col_rev = f"{framework}·rev"
    col_fwd = f"{framework}·fwd"
    reference = None
    if check.get("reference"):
        ref_ad = module.Adapter(device, dtype)
        ref_ad.prepare(load(check["reference"], base), None, False, seed)
        reference = ref_ad
    rows = []
    limit = int(check.get("full_limit", FULL_LIMIT))
    full = all(s.value.size <= limit for s in slots) and m <= limit
    mode_note = ("full Jacobian" if full else
                 f"random projections uᵀJv: {PROBES} probes, seed {seed}")
    notes.append(f"{mode_note}; {m} output element(s); finite differences in {fd_dtype}")
    methods = [col_rev, col_fwd] + (["reference"] if reference else [])
    expect = _expectations(check, slots)
    if expect:
        methods.append("expect")
    if full:
        results = _full(fn, slots, m, dtype, reference, expect, _expect_tolerance(check, dtype))
    else:
        if expect:
            raise GradcheckError("'expect' for user code needs the full Jacobian: inputs of "
                                 f"at most {limit} elements (or raise 'full_limit')")
        results = _projections(fn, slots, m, dtype, rng, reference)
        p_miss = _miss_probability(PROBES)
        notes.append(f"chance that all {PROBES} probes miss an error 10× the tolerance: "
                     f"< {p_miss:.0e} (rank-one worst case)")
    unavailable = {}
    for slot in slots:
        verdicts = {"symbolic": Verdict("symbolic", "n/a", reason="not applicable to user code"),
                    "reverse": Verdict("reverse", "n/a", reason="not applicable to user code")}
        ref_values, per_method = results[slot.name]
        verdicts.update(per_method)
        for v in per_method.values():
            if v.status == "n/a" and v.reason:
                unavailable.setdefault(v.method, v.reason)
        finite = ref_values[np.isfinite(ref_values)]
        rows.append(Row((0, (slot.name,)), slot.name,
                        float(finite.min()) if finite.size else None,
                        float(finite.max()) if finite.size else None, verdicts))
    notes += [f"{method}: {reason}" for method, reason in unavailable.items()]
    seconds = time.perf_counter() - start
    result = CheckResult(
        name=label, source=source, lets={}, kind="code",
        expression=[check["callable"] if isinstance(check["callable"], str) else
                    getattr(check["callable"], "__qualname__", label)],
        variables=[s.name for s in slots], wrt=[s.name for s in slots], order=1, npoints=1,
        methods=["symbolic", "reverse", *methods], rows=rows, notes=notes,
        timings={col_rev: seconds},
        method_info={col_rev: {"framework": framework, "version": ad.version,
                               "device": ad.device_name, "dtype": dtype, "mode": "rev"}},
        reference_points=0, xfail=None, points={})
    return result


def _check_signature(fn, names: list[str]) -> None:
    """The inputs must fit the callable's positional parameters (when it tells them)."""
    import inspect
    target = getattr(fn, "forward", None) if hasattr(fn, "parameters") else None
    target = getattr(fn, "call", None) if target is None and hasattr(fn, "trainable_variables") \
        else target
    try:
        signature = inspect.signature(target or fn)
    except (TypeError, ValueError):  # builtins, C extensions, custom ops: nothing to check
        return
    try:
        signature.bind(*names)
    except TypeError as exc:
        raise GradcheckError(f"the inputs ({', '.join(names)}) do not fit the callable's "
                             f"signature {signature}: {exc}") from None


def _miss_probability(probes: int, ratio: float = 0.1) -> float:
    """P(all probes miss) for a rank-one error E = a bᵀ, |E| = tolerance / ratio.

    uᵀEv = (uᵀa)(bᵀv) is a product of two independent normals; one probe misses
    when |Z1 Z2| < ratio, which has probability E[erf(ratio / (|Z1| √2))].
    """
    z = np.linspace(1e-6, 8, 20001)  # the trapezoid rule is exact to 1e-12 here
    density = np.sqrt(2 / np.pi) * np.exp(-z * z / 2)
    erf = np.fromiter((math.erf(v) for v in ratio / (z * math.sqrt(2))), float, z.size)
    one = float(np.trapezoid(erf * density, z))
    return one ** probes


def _resolution(scale: float, dtype: str) -> float:
    """The smallest gradient a dtype resolves next to values of size ``scale``: zero but
    in half precision, where a saturated tanh's 1 - tanh² is exactly 0 in bfloat16 while
    float64 finite differences see 2e-3."""
    return RTOL[dtype] * float(scale) + ATOL.get(dtype, 0.0) if dtype in HALF else 0.0


def _grad_checks(slot: Slot, grad, meta, expected, fd_nonzero: bool):
    """torch.autograd.gradcheck's structural checks: a reason to fail, or None."""
    if grad is None:
        if fd_nonzero:
            return "no gradient (None) although the output depends on it"
        return None
    if meta is not None and tuple(meta[0]) != tuple(expected[0]):
        return f"gradient has shape {tuple(meta[0])}, the input {tuple(expected[0])}"
    if meta is not None and meta[1] != expected[1]:
        return f"gradient has dtype {meta[1]}, the input {expected[1]}"
    if meta is not None and meta[2] != expected[2]:
        return f"gradient is on {meta[2]}, the input on {expected[2]}"
    if fd_nonzero and not np.any(grad):
        return "gradient is zero although finite differences are not"
    return None


def _compare(name, values, ref, err, terms, dtype, location, tolerance=None) -> Verdict:
    """A verdict for one method on one input: values vs finite differences, elementwise."""
    if tolerance is not None:
        tol = tolerance
    elif dtype in HALF:
        tol = (RTOL[dtype] * (terms + np.abs(ref)) + FD_SAFETY * err
               + _resolution(np.max(np.abs(ref), initial=0.0), dtype))
    else:
        tol = RTOL[dtype] * (terms + np.abs(ref)) + FD_SAFETY * err + 1e3 * EPS[dtype] * terms
    dist = np.abs(values - ref)
    nonfinite = ~np.isfinite(values)
    with np.errstate(all="ignore"):
        ratio = np.where(dist <= tol, 0.0, dist / np.where(tol > 0, tol, np.inf))
    ratio = np.where(nonfinite, np.inf, np.nan_to_num(ratio, nan=np.inf))
    worst = int(np.argmax(ratio))
    with np.errstate(all="ignore"):
        rel = np.where(np.abs(ref) > tol, dist / np.abs(ref), dist)
    failed = ratio.flat[worst] > 1
    return Verdict(name, "fail" if failed else "pass", compared=int(values.size),
                   error=float(np.nanmax(rel)) if rel.size else None,
                   error_kind="rel", worst=worst, value=float(values.flat[worst]),
                   reference=float(ref.flat[worst]), tolerance=float(tol.flat[worst]),
                   reason=("non-finite" if nonfinite.flat[worst] else "outside tolerance")
                   if failed else None, location=location(worst))


def _expect_tolerance(check: dict, dtype: str = "float64") -> tuple[float, float]:
    """(rtol, atol) for ``expect``: ``rtol``/``atol`` as numbers or ``{expect: ...}``.

    By default 1e-6 relative; in half precision 2 ulps, since the inputs themselves are
    rounded to the dtype before the gradient the user worked out is compared."""
    def pick(key, default):
        value = check.get(key)
        if isinstance(value, dict):
            return float(value.get("expect", value.get("*", default)))
        return float(value) if value is not None else default
    return pick("rtol", RTOL[dtype] if dtype in HALF else 1e-6), pick("atol", 0.0)


def _expectations(check: dict, slots) -> dict:
    """``expect: {input: value}``: the gradient of the sum of the outputs, as an array
    (nested lists) or an expression of that input, evaluated elementwise."""
    result = {}
    by_name = {s.name: s for s in slots}
    for name, value in (check.get("expect") or {}).items():
        if name not in by_name:
            raise GradcheckError(f"expect: {name!r} is not a differentiated input or parameter "
                                 f"({', '.join(by_name)})")
        slot = by_name[name]
        if isinstance(value, str):  # only then: SymPy
            from ..expression.codegen import Program, evaluate
            from ..expression.parse import parse, symbol
            expr = parse(value)
            stray = {str(s) for s in expr.free_symbols} - {name}
            if stray:
                raise GradcheckError(f"expect {name!r}: an expression may use only {name!r}, "
                                     f"not {sorted(stray)[0]!r}")
            flat = slot.value.ravel().astype(float)
            array = evaluate(Program((symbol(name),), (), (expr,)), [flat], flat.size)[0]
        else:
            array = np.asarray(value, dtype=float)
            if array.size == 1:
                array = np.full(slot.value.size, float(array))
        if array.size != slot.value.size:
            raise GradcheckError(f"expect {name!r}: {array.size} values for an input of "
                                 f"{slot.value.size} elements")
        result[name] = array.ravel()
    return result


def _full(fn: _Function, slots, m, dtype, reference, expect=None, expect_tol=(1e-6, 0.0)):
    """Full Jacobians: columns by finite differences, rows by backward passes."""
    results = {}
    rev_rows = fn.jacobian_rows(m)
    ref_rows = fn.jacobian_rows(m, reference) if reference else None
    for slot in slots:
        n = slot.value.size
        j_fd, err = fn.jacobian(slot)
        terms = np.abs(j_fd)

        def location(flat, slot=slot, n=n):
            k, j = divmod(flat, n)
            idx = np.unravel_index(j, slot.value.shape) if slot.value.shape else ()
            return f"{slot.name}[{', '.join(map(str, idx))}] → output element {k}"
        verdicts = {}
        verdicts[f"{fn.ad.name}·rev"] = _rows_verdict(fn, slot, rev_rows, j_fd, err, terms,
                                                     dtype, location, f"{fn.ad.name}·rev")
        verdicts[f"{fn.ad.name}·fwd"] = _forward_verdict(fn, slot, j_fd, err, terms, dtype,
                                                         location, f"{fn.ad.name}·fwd")
        if reference:
            verdicts["reference"] = _rows_verdict(fn, slot, ref_rows, j_fd, err, terms, dtype,
                                                  location, "reference", structural=False)
        if expect and slot.name in expect:
            grad_fd, grad_err = j_fd.sum(axis=0), err.sum(axis=0)
            tol = expect_tol[1] + expect_tol[0] * np.abs(grad_fd) + FD_SAFETY * grad_err

            def where(j, slot=slot):
                idx = np.unravel_index(j, slot.value.shape) if slot.value.shape else ()
                return f"{slot.name}[{', '.join(map(str, idx))}] (gradient of the sum of outputs)"
            verdicts["expect"] = _compare("expect", expect[slot.name], grad_fd, np.zeros(n),
                                          np.zeros(n), "float64", where, tolerance=tol)
        results[slot.name] = (j_fd.ravel(), verdicts)
    return results


def _rows_verdict(fn, slot, rows, j_fd, err, terms, dtype, location, name, structural=True):
    m, n = j_fd.shape
    j = np.zeros((m, n))
    resolution = _resolution(np.max(np.abs(j_fd), initial=0.0), dtype)
    for k, grads in enumerate(rows):
        g, meta = grads[slot.name]
        if structural:
            why = _grad_checks(slot, g, meta, fn.ad.expected_meta(slot.value.shape),
                               bool(np.any(np.abs(j_fd[k]) > FD_SAFETY * err[k] + resolution)))
            if why:
                return Verdict(name, "fail", compared=j_fd.size, reason=why,
                               location=f"{slot.name}, output element {k}")
        if g is not None:
            j[k] = g.ravel()
    verdict = _compare(name, j, j_fd, err, terms, dtype, location)
    if structural and verdict.status == "pass":
        why = _nondeterminism(fn, slot, np.ones(m), dtype)
        if why:
            return Verdict(name, "fail", compared=j_fd.size, reason=why, location=slot.name)
    return verdict


def _nondeterminism(fn, slot, u, dtype) -> str | None:
    """Run the backward pass twice with the same cotangent: a reason if they differ.

    Up to 64 ulps of the dtype are allowed (atomic adds on a GPU reorder sums)."""
    first, again = fn.vjp(u)[slot.name][0], fn.vjp(u)[slot.name][0]
    if first is None or again is None:
        return None
    tol = 64 * EPS[dtype] * (np.abs(first) + np.max(np.abs(first), initial=0.0))
    if np.all(np.abs(first - again) <= tol):
        return None
    return f"backward is nondeterministic: two runs differ by {np.max(np.abs(first - again)):.3g}"


def _forward_verdict(fn, slot, j_fd, err, terms, dtype, location, name):
    m, n = j_fd.shape
    # Forward mode column by column where that is cheap; beyond, random tangents v
    # compared with J_fd v. (Forward mode is not vmapped: torch.func.vmap over jvp of
    # arbitrary user code has crashed the interpreter.)
    if n <= FORWARD_COLUMNS:
        directions = np.eye(n)
    else:
        directions = np.random.default_rng(2).standard_normal((PROBES, n))
    try:
        jv = np.stack([fn.jvp(slot, v) for v in directions], axis=1)  # (M, k)
    except GradcheckError:
        raise
    except Exception as exc:
        return Verdict(name, "n/a", reason=f"forward mode unavailable: {type(exc).__name__}: "
                                          f"{str(exc).splitlines()[0][:120]}")
    if n <= FORWARD_COLUMNS:
        return _compare(name, jv, j_fd, err, terms, dtype, location)
    return _compare(name, jv, j_fd @ directions.T, err @ np.abs(directions.T),
                    terms @ np.abs(directions.T), dtype,
                    lambda flat: f"output element {flat // PROBES}, tangent probe {flat % PROBES}")


def _probe(rng, n: int) -> np.ndarray:
    """A Gaussian probe, drawn in float32 (twice as fast: 10^6-element weights need 8 of
    them) and held in float64; its seventh digit does not matter to a random direction."""
    return rng.standard_normal(n, dtype=np.float32).astype(np.float64)


def _projections(fn: _Function, slots, m, dtype, rng, reference):
    """Random projections uᵀJv, several probes; bisection localizes a failing input."""
    us = [_probe(rng, m) for _ in range(PROBES)]
    vs = {s.name: [_probe(rng, s.value.size) for _ in range(PROBES)] for s in slots}
    rev = [fn.vjp(u) for u in us]
    ref = [fn.vjp(u, reference) for u in us] if reference else None
    results = {}
    for slot in slots:
        s_fd, s_err, terms = np.empty(PROBES), np.empty(PROBES), np.empty(PROBES)
        s_rev, s_fwd, s_ref = np.empty(PROBES), np.empty(PROBES), np.empty(PROBES)
        why = None
        fwd_error = None
        for p, (u, v) in enumerate(zip(us, vs[slot.name])):
            d, e = fn.directional(slot, v)
            s_fd[p], s_err[p] = u @ d, np.abs(u) @ e
            g, meta = rev[p][slot.name]
            if why is None and p == 0:
                why = _grad_checks(slot, g, meta, fn.ad.expected_meta(slot.value.shape),
                                   abs(s_fd[p]) > FD_SAFETY * s_err[p]
                                   + _resolution(np.abs(u) @ np.abs(d), dtype))
            grad = np.zeros(slot.value.size) if g is None else g.ravel()
            s_rev[p] = grad @ v
            terms[p] = np.abs(grad) @ np.abs(v) + np.abs(u) @ np.abs(d)
            if fwd_error is None:
                try:
                    s_fwd[p] = u @ fn.jvp(slot, v)
                except GradcheckError:
                    raise
                except Exception as exc:
                    fwd_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            if ref is not None:
                gr = ref[p][slot.name][0]
                s_ref[p] = (np.zeros(slot.value.size) if gr is None else gr.ravel()) @ v

        def location(p):
            return f"probe {p} (seed-fixed u, v)"
        name = f"{fn.ad.name}·rev"
        verdicts = {}
        if why:
            verdicts[name] = Verdict(name, "fail", compared=PROBES, reason=why,
                                     location=slot.name)
        else:
            verdicts[name] = _compare(name, s_rev, s_fd, s_err, terms, dtype, location)
            unstable = (_nondeterminism(fn, slot, us[0], dtype)
                        if verdicts[name].status == "pass" else None)
            if unstable:
                verdicts[name] = Verdict(name, "fail", compared=PROBES, reason=unstable,
                                         location=slot.name)
            if verdicts[name].status == "fail" and not unstable:
                p = verdicts[name].worst
                verdicts[name].location = _localize(fn, slot, us[p], rev[p][slot.name][0],
                                                    dtype)
        fname = f"{fn.ad.name}·fwd"
        verdicts[fname] = (Verdict(fname, "n/a", reason=f"forward mode unavailable: {fwd_error}")
                           if fwd_error else _compare(fname, s_fwd, s_fd, s_err, terms, dtype,
                                                      location))
        if ref is not None:
            verdicts["reference"] = _compare("reference", s_ref, s_fd, s_err, terms, dtype,
                                             location)
        results[slot.name] = (s_fd, verdicts)
    return results


def _localize(fn, slot, u, grad, dtype, budget: int = 400) -> str:
    """The worst elements of a failing input, by bisection over blocks of elements.

    Finite differences of uᵀF along a random direction restricted to a block are
    compared with the backward pass's (uᵀJ)·v on the same block; blocks that
    disagree are split until single elements remain (or the budget runs out).
    """
    n = slot.value.size
    grad = np.zeros(n) if grad is None else grad.ravel()
    rng = np.random.default_rng(1)
    v = rng.standard_normal(n)

    def disagreement(idx):
        w = np.zeros(n)
        w[idx] = v[idx]
        d, e = fn.directional(slot, w)
        fd, err = u @ d, np.abs(u) @ e
        an = grad[idx] @ v[idx]
        tol = RTOL[dtype] * (np.abs(grad[idx]) @ np.abs(v[idx]) + abs(fd)) + FD_SAFETY * err
        return abs(an - fd) - tol, fd / v[idx][0] if len(idx) == 1 else None

    blocks = [np.arange(n)]
    found = []
    evaluations = 0
    while blocks and evaluations < budget:
        block = blocks.pop(0)
        if len(block) == 1:
            continue
        for half in (block[: len(block) // 2], block[len(block) // 2:]):
            evaluations += 1
            excess, fd = disagreement(half)
            if excess > 0:
                if len(half) == 1:
                    found.append((excess, int(half[0]), fd))
                else:
                    blocks.append(half)
    if not found:
        return f"{slot.name}: the disagreement is spread over many elements"
    found.sort(reverse=True)
    parts = []
    for _, j, fd in found[:LOCALIZE]:
        idx = np.unravel_index(j, slot.value.shape) if slot.value.shape else ()
        parts.append(f"{slot.name}[{', '.join(map(str, idx))}]: backward {grad[j]:.6g}, "
                     f"finite differences {fd:.6g}")
    return "; ".join(parts) + " (of uᵀJ)"
