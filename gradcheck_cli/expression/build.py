"""Compile a check of an expression (a spec entry, or the command line) into a target."""

from __future__ import annotations

from .. import frameworks, options
from ..errors import GradcheckError
from . import complexes
from . import parse as exprs
from .codegen import Program
from .problem import Problem, make_points, parse_key
from .target import ExpressionTarget


def build_problem(check: dict, *, source: str = "<command line>", defaults: dict | None = None,
                  overrides: dict | None = None, label: str | None = None) -> Problem:
    """Compile one check (a spec entry as a plain dict) into a :class:`Problem`.

    Precedence: command-line ``overrides`` > the check's own keys > the file's
    ``defaults`` > built-in defaults.

    Raises:
        GradcheckError: naming the source, the check and the field at fault.
    """
    merged = options.merge(defaults, check, overrides)
    label = label or str(check.get("name") or check.get("f"))
    current = "f"
    try:
        options.refuse(merged, options.CODE_ONLY, "an expression check (f:)")
        current = "let"
        names: dict = {}
        lets = []
        real = str(merged.get("dtype") or "") not in complexes.COMPLEX_DTYPES
        for lname, ltext in (merged.get("let") or {}).items():
            exprs.check_name(lname, "'let'")
            sym = exprs.symbol(lname)
            lets.append((sym, exprs.parse(ltext, names=names, real=real)))
            names[lname] = sym
        current = "f"
        f = merged["f"]
        outputs = [exprs.parse(t, names=names, real=real) for t in f] if isinstance(f, list) \
            else exprs.parse(f, names=names, allow_vector=True, real=real)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        free = set().union(*(e.free_symbols for e in outputs), *(e.free_symbols for _, e in lets))
        variables = sorted((s for s in free if s.name not in names), key=lambda s: s.name)
        if not variables:
            raise GradcheckError("the function has no variables to differentiate")
        complex_expect, display, output_names = {}, {}, None
        if str(merged.get("dtype") or "") in complexes.COMPLEX_DTYPES:
            merged, outputs, variables, display, output_names, complex_expect = \
                complexes.real_form(merged, outputs, lets, variables,
                                    lambda text: exprs.parse(text, names=names, real=False))
            lets, names = [], {}
        current = "f"
        var_names = [v.name for v in variables]
        known = ", ".join(display.get(v, v) for v in var_names)

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
        seed = options.seed(merged)
        current = "points"
        columns = make_points(at=merged.get("at"), grid=merged.get("grid"),
                              sample=merged.get("sample"), points=merged.get("points"),
                              seed=seed)

        current = "wrt"
        wrt = options.listify(merged.get("wrt")) or var_names
        for w in wrt:
            if w not in var_names:
                raise GradcheckError(f"cannot differentiate with respect to {w!r}; "
                                     f"the function's variables are {known}")
        wrt = list(dict.fromkeys(wrt))  # the user's order, without repeats

        current = "expect"
        expect = complex_expect or _expect(merged.get("expect") or {}, names, var_names, wrt,
                                           len(outputs))
        current = "order"
        order = options.order(merged)
        if expect:
            order = max(order, max(len(k[1]) for k in expect))
        current = "methods"
        methods = options.methods(merged, "expression")
        current = "device"
        device = options.device(merged)
        current = "dtype"
        dtype = options.dtype(merged)
        current = "mode"
        modes = options.modes(merged)
        current = "backend"
        backend_columns = tuple(frameworks.Backend(f, m, device, dtype)
                                for f in options.backends(merged) for m in modes)
        current = "rtol"
        rtol = options.tolerance(merged, "rtol")
        current = "atol"
        atol = options.tolerance(merged, "atol")
    except GradcheckError as exc:
        raise exc.located(source=source, check=label, field=current) from None
    return Problem(
        name=label, source=source,
        program=Program(tuple(variables), tuple(lets), tuple(outputs)),
        wrt=tuple(wrt), order=order, columns=columns, expect=expect,
        rtol=rtol, atol=atol, methods=methods, backends=backend_columns,
        xfail=options.expected_failure(merged), seed=seed,
        output_names=output_names, display=display,
        options={"complex": sorted({v[:-3] for v in display})} if display else {})


def _expect(given: dict, names: dict, var_names: list, wrt: list, n_outputs: int) -> dict:
    """``expect: {x: "2*x", "x,y": 0}`` -> {(output, ("x",)): SymPy expression}."""
    expect = {}
    for ktext, value in given.items():
        idx = parse_key(str(ktext))
        for v in idx:
            if v not in wrt:
                raise GradcheckError(f"expect key {ktext!r}: {v!r} is not a variable "
                                     f"differentiated (wrt: {', '.join(wrt)})")
        idx = tuple(sorted(idx, key=wrt.index))
        values = value if isinstance(value, list) else [value]
        if len(values) != n_outputs:
            raise GradcheckError(f"expect key {ktext!r}: give {n_outputs} values, one "
                                 f"per output, got {len(values)}")
        for out, text in enumerate(values):
            e = exprs.parse(text, names=names)
            stray = {s.name for s in e.free_symbols} - set(var_names) - set(names)
            if stray:
                raise GradcheckError(f"expect key {ktext!r}: unknown variable "
                                     f"{sorted(stray)[0]!r}")
            expect[(out, idx)] = e
    return expect


def build(check: dict, **kwargs) -> ExpressionTarget:
    """The target of one expression check (see :func:`build_problem`)."""
    return ExpressionTarget(build_problem(check, **kwargs))
