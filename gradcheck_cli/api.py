"""The library entry points: turn specs or expressions into problems and run them.

The CLI and the Python API both come here; nothing in this module prints.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp

from .expression import parse as exprs
from .expression.codegen import Program, evaluate
from .compare import compare
from .errors import GradcheckError
from . import frameworks as backends
from .columns import DEFAULT_METHODS, Derivatives, canonical, get_method
from .frameworks import FRAMEWORKS
from .expression.problem import Problem, make_points, parse_key
from .results import CheckResult, RunResult  # noqa: F401  (part of this module's API)
from .testing import assert_gradients  # noqa: F401  (part of this module's API)

COMMAND_LINE = "<command line>"


def _listify(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value]


def _tolerances(value) -> dict[str, float]:
    """A tolerance (number: every method) or a mapping method -> number."""
    if value is None:
        return {}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = str(k).replace(".", "·")
            if key in ("expect", "*") or key.split("·")[0] in FRAMEWORKS:
                out[key] = float(v)
            else:
                out[canonical(key)] = float(v)
        return out
    return {"*": float(value)}


def _backends(merged: dict) -> tuple:
    """Framework columns for a check: one per backend and mode.

    Nothing is imported here; a framework loads when its column is computed.
    """
    spec = merged.get("backend")
    if isinstance(spec, list):
        spec = ",".join(spec)
    frameworks = backends.resolve(spec)
    device, dtype = str(merged.get("device") or "cpu"), _dtype(merged)
    return tuple(backends.Backend(f, m, device, dtype) for f in frameworks
                 for m in backends.modes(merged.get("mode")))


def _dtype(merged: dict) -> str:
    dtype = str(merged.get("dtype") or "float64")
    if dtype not in backends.DTYPES:
        raise GradcheckError(f"unsupported dtype {dtype!r}; choose "
                             f"{', '.join(backends.DTYPES)}")
    return dtype


def expected_failure(merged: dict) -> str | None:
    """The reason a check is expected to fail in this run, or None.

    ``xfail`` is a reason, ``true``, or ``{reason, dtype}`` where dtype (one or a
    list) limits it to those dtypes.
    """
    xfail = merged.get("xfail")
    if isinstance(xfail, dict):
        dtypes = xfail.get("dtype")
        dtypes = [dtypes] if isinstance(dtypes, str) else dtypes
        if dtypes is not None and str(merged.get("dtype") or "float64") not in dtypes:
            return None
        xfail = xfail["reason"]
    return (xfail if isinstance(xfail, str) else "expected to fail") if xfail else None


def build_problem(check: dict, *, source: str = COMMAND_LINE, defaults: dict | None = None,
                  overrides: dict | None = None, label: str | None = None) -> Problem:
    """Compile one check (a spec entry as a plain dict) into a :class:`Problem`.

    Precedence: command-line ``overrides`` > the check's own keys > the file's
    ``defaults`` > built-in defaults.

    Raises:
        GradcheckError: naming the source, the check and the field at fault.
    """
    merged = {k: v for k, v in (defaults or {}).items() if v is not None}
    merged.update({k: v for k, v in check.items() if v is not None})
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    label = label or str(check.get("name") or check.get("f"))
    current = "f"
    try:
        current = "let"
        names: dict[str, sp.Symbol] = {}
        lets = []
        for lname, ltext in (merged.get("let") or {}).items():
            exprs.check_name(lname, "'let'")
            sym = exprs.symbol(lname)
            lets.append((sym, exprs.parse(ltext, names=names)))
            names[lname] = sym
        current = "f"
        f = merged["f"]
        outputs = [exprs.parse(t, names=names) for t in f] if isinstance(f, list) \
            else exprs.parse(f, names=names, allow_vector=True)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        free = set().union(*(e.free_symbols for e in outputs), *(e.free_symbols for _, e in lets))
        variables = sorted((s for s in free if s.name not in names), key=lambda s: s.name)
        if not variables:
            raise GradcheckError("the function has no variables to differentiate")
        var_names = [v.name for v in variables]
        known = ", ".join(var_names)

        current = "at"
        given: dict[str, str] = {}
        for where in ("at", "grid", "sample"):
            current = where
            for name in (merged.get(where) or {}):
                if name not in var_names:
                    hint = " (it is a 'let' intermediate)" if name in names else ""
                    raise GradcheckError(f"unknown variable {name!r}{hint}; "
                                         f"the function's variables are {known}")
                given[name] = where
        current = "at"
        missing = [v for v in var_names if v not in given]
        if missing:
            raise GradcheckError(f"variable {missing[0]!r} has no value: give it in 'at', "
                                 "'grid' or 'sample'")
        current = "seed"
        seed = int(merged.get("seed", 0))
        current = "points"
        columns = make_points(at=merged.get("at"), grid=merged.get("grid"),
                              sample=merged.get("sample"), points=merged.get("points"),
                              seed=seed)

        current = "wrt"
        wrt = _listify(merged.get("wrt")) or var_names
        for w in wrt:
            if w not in var_names:
                raise GradcheckError(f"cannot differentiate with respect to {w!r}; "
                                     f"the function's variables are {known}")
        wrt = list(dict.fromkeys(wrt))  # the user's order, without repeats

        current = "expect"
        expect = {}
        for ktext, value in (merged.get("expect") or {}).items():
            idx = parse_key(str(ktext))
            for v in idx:
                if v not in wrt:
                    raise GradcheckError(f"expect key {ktext!r}: {v!r} is not a variable "
                                         f"differentiated (wrt: {', '.join(wrt)})")
            idx = tuple(sorted(idx, key=wrt.index))
            values = value if isinstance(value, list) else [value]
            if len(values) != len(outputs):
                raise GradcheckError(f"expect key {ktext!r}: give {len(outputs)} values, one "
                                     f"per output, got {len(values)}")
            for out, text in enumerate(values):
                e = exprs.parse(text, names=names)
                stray = {s.name for s in e.free_symbols} - set(var_names) - set(names)
                if stray:
                    raise GradcheckError(f"expect key {ktext!r}: unknown variable "
                                         f"{sorted(stray)[0]!r}")
                expect[(out, idx)] = e

        current = "order"
        order = int(merged.get("order", 1))
        if expect:
            order = max(order, max(len(k[1]) for k in expect))
        current = "methods"
        methods = tuple(canonical(m) for m in (_listify(merged.get("methods"))
                                               or DEFAULT_METHODS))
        current = "device"
        backends.parse_device(str(merged.get("device") or "cpu"))
        current = "dtype"
        _dtype(merged)
        current = "mode"
        backends.modes(merged.get("mode"))
        current = "backend"
        backend_columns = _backends(merged)
        current = "rtol"
        rtol = _tolerances(merged.get("rtol"))
        current = "atol"
        atol = _tolerances(merged.get("atol"))
    except GradcheckError as exc:
        raise exc.located(source=source, check=label, field=current) from None
    return Problem(
        name=label, source=source,
        program=Program(tuple(variables), tuple(lets), tuple(outputs)),
        wrt=tuple(wrt), order=order, columns=columns, expect=expect,
        rtol=rtol, atol=atol, methods=methods, backends=backend_columns,
        xfail=expected_failure(merged),
        seed=seed)


@dataclass
class UserCheck:
    """A check of the user's own code (``callable:``), run by :mod:`gradcheck_cli.usercode`."""

    name: str
    source: str
    check: dict
    base: Path | None = None
    xfail: str | None = None


def load_spec(path: str | Path, overrides: dict | None = None) -> list:
    """Every check of a spec file: compiled problems, and user-code checks."""
    from .spec import check_label, load
    spec, raw = load(path)
    defaults = spec.defaults.model_dump(exclude_none=True) if spec.defaults else {}
    problems = []
    for i, check in enumerate(spec.checks):
        data = check.model_dump(exclude_none=True)
        label = check_label(raw[i], i)
        if check.callable is not None:
            merged = {k: v for k, v in defaults.items() if v is not None}
            merged.update(data)
            # The code belongs to one framework: --backend does not move it elsewhere.
            merged.update({k: v for k, v in (overrides or {}).items()
                           if v is not None and k != "backend"})
            if "inputs" in raw[i]:  # keep literal values exactly as written
                merged["inputs"] = {k: {f: x for f, x in dict(v or {}).items()}
                                    for k, v in raw[i]["inputs"].items()}
            problems.append(UserCheck(label, str(path), merged, Path(path).parent,
                                      expected_failure(merged)))
            continue
        problems.append(build_problem(data, source=str(path), defaults=defaults,
                                      overrides=overrides, label=label))
    return problems


def spec_files(directory: Path) -> list[Path]:
    """Spec files under a directory, recursively, in a stable order."""
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def collect(targets: list[str], *, inline: dict | None = None,
            overrides: dict | None = None) -> list[Problem]:
    """Problems for each target: a spec file, a directory of them, or an expression.

    Args:
        targets: paths or expression strings.
        inline: ``at``/``grid``/``sample``/``points``/``expect``/``name`` for expressions.
        overrides: options that override every check (``order``, ``wrt``, ``rtol`` ...).

    Raises:
        GradcheckError: on the first bad target.
    """
    problems: list[Problem] = []
    inline = {k: v for k, v in (inline or {}).items() if v}
    for target in targets:
        path = Path(target)
        if path.is_dir():
            files = spec_files(path)
            if not files:
                raise GradcheckError("no spec files (*.yaml, *.yml) in this directory",
                                     source=target)
            for file in files:
                problems.extend(load_spec(file, overrides))
        elif path.is_file():
            problems.extend(load_spec(path, overrides))
        elif path.suffix in (".yaml", ".yml") or target.endswith(("/", "\\")):
            raise GradcheckError("file not found", source=target)
        else:
            check = dict(inline, f=target)
            check.setdefault("name", target)
            problems.append(build_problem(check, source=COMMAND_LINE, overrides=overrides,
                                          label=check["name"]))
    return problems


def _expect(problem: Problem) -> Derivatives:
    start = time.perf_counter()
    keys = list(problem.expect)
    program = Program(problem.program.variables, problem.program.lets,
                      tuple(problem.expect[k] for k in keys))
    values = evaluate(program, problem.column_list(), problem.npoints)
    return Derivatives(values={k: values[i] for i, k in enumerate(keys)},
                       seconds=time.perf_counter() - start)


def run_problem(problem) -> CheckResult:
    """Run every requested method on a problem and compare with the reference."""
    if isinstance(problem, UserCheck):
        from .usercode import run_callable
        try:
            result = run_callable(problem.check, source=problem.source, base=problem.base,
                                  label=problem.name)
        except GradcheckError as exc:
            raise exc.located(source=problem.source, check=problem.name) from None
        result.xfail = problem.xfail
        return result
    with warnings.catch_warnings():
        # Overflow, 0/0 and all-NaN medians are expected along domain edges;
        # they become verdicts ("non-finite", "outside the domain"), not warnings.
        warnings.simplefilter("ignore", RuntimeWarning)
        return _run_problem(problem)


def _run_problem(problem: Problem) -> CheckResult:
    outputs: dict[str, Derivatives] = {}
    timings: dict[str, float] = {}
    for name in problem.methods:
        method = get_method(name)
        with np.errstate(all="ignore"):
            outputs[name] = method.compute(problem)
        timings[name] = outputs[name].seconds
    for backend in problem.backends:
        outputs[backend.name] = backend.compute(problem)
        timings[backend.name] = outputs[backend.name].seconds
    if problem.expect:
        outputs["expect"] = _expect(problem)
    start = time.perf_counter()
    result = compare(problem, outputs, timings)
    timings["reference+compare"] = time.perf_counter() - start
    return result


def run(problems: list[Problem]) -> RunResult:
    """Run problems in order."""
    start = time.perf_counter()
    result = RunResult([run_problem(p) for p in problems])
    result.seconds = time.perf_counter() - start
    return result


def check(*targets: str, **options) -> RunResult:
    """Python API: check expressions or spec files, return the results.

    Args:
        targets: expressions, spec files or directories.
        options: ``at``, ``grid``, ``sample``, ``points``, ``expect`` (for
            expressions) and ``order``, ``wrt``, ``rtol``, ``atol``,
            ``methods``, ``seed`` (for everything).

    Example:
        >>> gradcheck_cli.check("exp(sin(x**2))", at={"x": 2}).ok
        True
    """
    inline_keys = {"at", "grid", "sample", "points", "expect", "name", "let"}
    inline = {k: v for k, v in options.items() if k in inline_keys}
    overrides = {k: v for k, v in options.items() if k not in inline_keys}
    unknown = set(overrides) - {"order", "wrt", "rtol", "atol", "methods", "seed", "backend",
                                "device", "dtype", "mode"}
    if unknown:
        raise GradcheckError(f"unknown option {sorted(unknown)[0]!r}")
    return run(collect(list(targets), inline=inline, overrides=overrides))
