"""The command line: parse options, call the library, pick a reporter, exit.

Kept thin and light: nothing heavy (SymPy, numpy, a framework) is imported
until a check actually runs, so ``gradcheck --help`` is fast.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from .errors import GradcheckError


_OPTION = re.compile(r"^(--?[A-Za-z][\w-]*(=.*)?|--)$")


class _DefaultToCheck(TyperGroup):
    """``gradcheck EXPR ...`` means ``gradcheck check EXPR ...``."""

    def parse_args(self, ctx, args):
        # An expression may start with a minus sign ("-log(x)"): not an option.
        args = [" " + a if a.startswith("-") and not _OPTION.match(a) else a for a in args]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h",
                                                                       "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultToCheck, no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None,
                  help="Verify derivatives four independent ways: symbolic (SymPy), finite "
                       "differences, gradcheck's own reverse-mode engine, and a framework.\n\n"
                       "Run `gradcheck check --help` for the options; `gradcheck EXPR` is "
                       "short for `gradcheck check EXPR`.")

FORMATS = ("table", "json", "markdown", "junit")


def _version(value: bool):
    if value:
        from . import __version__
        typer.echo(f"gradcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version,
                                       is_eager=True, help="Print the version and exit.")):
    """gradcheck: is this derivative right?"""


def _pairs(values: List[str], option: str, split_commas: bool = True) -> list[tuple[str, str]]:
    """['x=2', 'y=1,z=3'] -> [('x', '2'), ('y', '1'), ('z', '3')], in order."""
    out = []
    for value in values:
        parts = value.split(",") if split_commas else [value]
        for part in parts:
            name, eq, rhs = part.partition("=")
            if not eq or not name.strip() or not rhs.strip():
                raise GradcheckError(f"expected NAME=VALUE, got {part!r}", field=option)
            out.append((name.strip(), rhs.strip()))
    return out


def _assignments(values: List[str], option: str, split_commas: bool = True) -> dict[str, str]:
    """['x=2', 'y=1,z=3'] -> {'x': '2', 'y': '1', 'z': '3'}; a name given twice is refused."""
    out: dict[str, str] = {}
    for name, rhs in _pairs(values, option, split_commas):
        if name in out:
            raise GradcheckError(f"{name!r} is given twice", field=option)
        out[name] = rhs
    return out


def _points(values: List[str]) -> dict:
    """--at: one point per occurrence of a variable, so ``--at x=-1,x=0`` and
    ``--at x=-1 --at x=0`` are two points; a variable given once is held there at every
    point; variables given several times must be given the same number of times."""
    seen: dict[str, list] = {}
    for name, rhs in _pairs(values, "--at"):
        try:
            value = float(rhs)
        except ValueError:  # 1+2j: a complex point, for dtype complex128
            value = rhs if "j" in rhs or "i" in rhs else _number(rhs, "--at", name)
        seen.setdefault(name, []).append(value)
    counts = {len(v) for v in seen.values() if len(v) > 1}
    if len(counts) > 1:
        raise GradcheckError("variables given several times must be given the same number "
                             "of times (one value per point)", field="--at")
    return {k: v[0] if len(v) == 1 else v for k, v in seen.items()}


_SHAPE = re.compile(r"^\d+(x\d+)*$|^\(\)$")


def _inputs(values: List[str]) -> dict:
    """--input x=3x4 (a random array of that shape, uniform in [-1, 1]), x=() (a scalar),
    x=0.5 or x=[1.5, 2] (a value; write 3.0 for the number three: 3 is a shape)."""
    import yaml
    out = {}
    for name, rhs in _assignments(values, "--input", split_commas=False).items():
        if _SHAPE.match(rhs):
            out[name] = {"shape": [] if rhs == "()" else [int(n) for n in rhs.split("x")]}
            continue
        try:
            value = yaml.safe_load(rhs)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, (int, float, list)) or isinstance(value, bool):
            raise GradcheckError(f"{name}={rhs!r}: expected a shape such as 3x4 or a value "
                                 "such as 0.5 or [1.5, 2]", field="--input")
        out[name] = {"value": value}
    return out


def _numbers(text: str, option: str, count: int, name: str) -> list[float]:
    parts = text.split(":")
    if len(parts) != count:
        shape = "start:stop:count" if count == 3 else "low:high"
        raise GradcheckError(f"{name}={text!r}: expected {shape}", field=option)
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise GradcheckError(f"{name}={text!r}: not a number", field=option) from None


def _number(text: str, option: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise GradcheckError(f"{name}={text!r}: not a number", field=option) from None


DERIVATIVES = ("gradient", "jacobian", "vjp", "jvp", "hessian", "hvp")


def _inline(at, grid, sample, points, expect, name, inputs=(), derivatives=None) -> dict:
    return {
        "derivatives": {k: v for k, v in (derivatives or {}).items() if v is not None},
        "at": _points(at),
        "inputs": _inputs(list(inputs)),
        "grid": {k: _numbers(v, "--grid", 3, k) for k, v in _assignments(grid, "--grid").items()},
        "sample": {k: _numbers(v, "--sample", 2, k)
                   for k, v in _assignments(sample, "--sample").items()},
        "points": points,
        "expect": _assignments(expect, "--expect", split_commas=False) or None,
        "name": name,
    }


@app.command("check")
def check_command(
    targets: List[str] = typer.Argument(..., help="Spec files, directories of specs (*.yaml, "
                                        "recursively), expressions such as 'exp(sin(x**2))', "
                                        "or your code as file.py:function (with --input)."),
    at: List[str] = typer.Option([], "--at", help="A point: x=2 or x=1,y=2; repeat a variable "
                                 "for several points (--at x=-1 --at x=0)."),
    grid: List[str] = typer.Option([], "--grid", help="A grid axis: x=start:stop:count."),
    sample: List[str] = typer.Option([], "--sample", help="A random range: x=low:high."),
    points: Optional[int] = typer.Option(None, "--points", help="Number of random points."),
    expect: List[str] = typer.Option([], "--expect", help="Your derivative: x='2*x - 2' or "
                                     "x,y=0 (a second partial)."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of an inline check."),
    inputs: List[str] = typer.Option([], "--input", help="An input of code (file.py:function):"
                                     " x=3x4 (random, that shape) or x=0.5 (a value)."),
    gradient: Optional[str] = typer.Option(None, "--gradient", help="NumPy code: its gradient "
                                           "function (a name in its file, or file.py:name), or 'true' "
                                           "when the function returns (value, gradient); "
                                           "likewise --jacobian, --vjp, --jvp, --hessian, --hvp."),
    jacobian: Optional[str] = typer.Option(None, "--jacobian", hidden=True),
    vjp: Optional[str] = typer.Option(None, "--vjp", hidden=True),
    jvp: Optional[str] = typer.Option(None, "--jvp", hidden=True),
    hessian: Optional[str] = typer.Option(None, "--hessian", hidden=True),
    hvp: Optional[str] = typer.Option(None, "--hvp", hidden=True),
    order: Optional[int] = typer.Option(None, "--order", min=1, max=6,
                                        help="Check derivatives up to this order."),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Variables to differentiate: x,y."),
    methods: Optional[str] = typer.Option(None, "--methods",
                                          help="Subset of methods: symbolic,fd,reverse."),
    rtol: Optional[float] = typer.Option(None, "--rtol", help="Relative tolerance, all methods."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Absolute tolerance, all methods."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampled points."),
    backend: Optional[str] = typer.Option(
        None, "--backend", "-b", help="Framework column(s): torch, tensorflow, jax, all or none "
        "(default: the first installed of torch, jax, tensorflow)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N, gpu or auto."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float64 (default), float32, "
                                        "float16, bfloat16; complex128 or complex64 for "
                                        "complex variables (--at z=1+2j) or inputs."),
    mode: Optional[str] = typer.Option(None, "--mode", help="rev (default), fwd or both."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, markdown or junit."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Also write JSON here."),
    junit_file: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML here."),
    markdown_file: Optional[Path] = typer.Option(None, "--markdown",
                                                 help="Also write Markdown here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only failing checks and the summary."),
    timings: bool = typer.Option(False, "--timings", help="Show each method's time."),
    explain: bool = typer.Option(False, "--explain", help="Teaching view of every one-point "
                                 "check: graph, forward and backward pass, steps, cost."),
    graph: Optional[Path] = typer.Option(None, "--graph", help="Write the computational graph "
                                         "(.dot or .mmd) of a one-point check."),
    latex: bool = typer.Option(False, "--latex", help="Symbolic derivatives as LaTeX."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: derivatives by each method "
                                        "over the grid, and their errors."),
    plot_steps: Optional[Path] = typer.Option(None, "--plot-steps", help="PNG: finite-"
                                              "difference error against the step h."),
):
    """Check derivatives of expressions or spec files. Exit 0: all agree; 1: a discrepancy; 2: bad input."""
    teaching = {"explain": explain, "graph": graph, "latex": latex, "plot": plot,
                "plot_steps": plot_steps}
    _run(targets,
         inline=dict(at=at, grid=grid, sample=sample, points=points, expect=expect, name=name,
                     inputs=inputs, derivatives=dict(gradient=True if (gradient or "").lower()
                                                     == "true" else gradient,
                                                     jacobian=jacobian, vjp=vjp,
                                                     jvp=jvp, hessian=hessian, hvp=hvp)),
         overrides=dict(order=order, wrt=wrt, methods=methods, rtol=rtol, atol=atol, seed=seed,
                        backend=backend, device=device, dtype=dtype, mode=mode),
         output=dict(fmt=fmt, json_file=json_file, junit_file=junit_file,
                     markdown_file=markdown_file, quiet=quiet, timings=timings),
         teaching=teaching)


@app.command("explain")
def explain_command(
    targets: List[str] = typer.Argument(..., help="An expression, or spec files whose "
                                        "one-point checks to explain."),
    at: List[str] = typer.Option([], "--at", help="The point: x=2 (repeat, or x=1,y=2)."),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Variables to differentiate: x,y."),
    graph: Optional[Path] = typer.Option(None, "--graph", help="Write the computational graph "
                                         "(.dot or .mmd), with values and adjoints."),
    latex: bool = typer.Option(False, "--latex", help="Symbolic derivatives as LaTeX."),
    plot_steps: Optional[Path] = typer.Option(None, "--plot-steps", help="PNG: finite-"
                                              "difference error against the step h."),
):
    """Show how each method differentiates, step by step (for teaching)."""
    teaching = {"explain": True, "graph": graph, "latex": latex, "plot": None,
                "plot_steps": plot_steps, "only": True}
    _run(targets, inline=dict(at=at), overrides=dict(wrt=wrt, backend="none"), output={},
         teaching=teaching)


def _teach(problems, result, teaching) -> None:
    """The teaching outputs: explanations, graph files and plots."""
    if not any(teaching.get(k) for k in ("explain", "graph", "plot", "plot_steps")):
        return  # (and nothing of SymPy's is imported for them)
    from .report import explain as explain_report
    from .report.graph import WRITERS
    problems = [t.problem for t in problems if hasattr(t, "problem")]  # expression targets
    explainable = [p for p in problems if getattr(p, "npoints", 0) == 1]
    wants_point = teaching["explain"] or teaching["graph"] or teaching["plot_steps"]
    if wants_point and not explainable:
        raise GradcheckError("nothing to explain: explain, --graph and --plot-steps need a "
                             "check at one point (--at)")
    if teaching["graph"] is not None and teaching["graph"].suffix not in WRITERS:
        raise GradcheckError("the graph file must end in .dot or .mmd", field="--graph")
    from .expression.explain import explain as build_explanation
    for i, problem in enumerate(explainable if wants_point else []):
        e = build_explanation(problem)
        if teaching["explain"]:
            explain_report.print_explanation(e, latex=teaching["latex"])
        for option, write in (("graph", lambda path: path.write_text(
                WRITERS[path.suffix](e), encoding="utf-8")),
                              ("plot_steps", lambda path: _plot_steps(e, path))):
            path = teaching[option]
            if path is not None:
                target = _numbered(path, i)
                try:
                    write(target)
                except OSError as exc:
                    raise GradcheckError(f"cannot write: {exc.strerror}",
                                         source=str(target)) from None
    if teaching["plot"] is not None:
        from .report.plots import plot_methods, plot_taylor
        grids = [p for p in problems if getattr(p, "npoints", 0) > 1]
        taylors = [c for c in result.checks if c.kind == "code"
                   and "taylor" in (c.method_info or {})]
        if not grids and not taylors:
            raise GradcheckError("--plot needs a check over a grid or sampled points, or a "
                                 "code check with its Taylor test", field="--plot")
        for i, problem in enumerate(grids):
            plot_methods(problem, _numbered(teaching["plot"], i))
        for i, check in enumerate(taylors, start=len(grids)):
            plot_taylor(check, _numbered(teaching["plot"], i))


def _numbered(path: Path, i: int) -> Path:
    """The i-th of several output files: plot.png, plot-2.png, ..."""
    return path if i == 0 else path.with_stem(f"{path.stem}-{i + 1}")


def _plot_steps(e, path) -> None:
    from .report.plots import plot_steps
    plot_steps(e, path)


def _run(targets, *, inline: dict, overrides: dict, output: dict, teaching: dict):
    """Parse the inline options, run the checks, report, and exit with the verdict."""
    fmt = output.get("fmt", "table")
    quiet, timings = output.get("quiet", False), output.get("timings", False)
    try:
        if fmt not in FORMATS:
            raise GradcheckError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}",
                                 field="--format")
        inline = _inline(inline.get("at", []), inline.get("grid", []), inline.get("sample", []),
                         inline.get("points"), inline.get("expect", []), inline.get("name"),
                         inline.get("inputs", []), inline.get("derivatives"))
        for option in ("rtol", "atol"):  # one line now, not an error row per check
            if overrides.get(option) is not None:
                from .tolerances import user_tolerances
                user_tolerances(overrides[option], f"--{option}")
        from . import pipeline  # the library: numpy loads from here on, SymPy for expressions
        from .report import reporter
        problems = pipeline.collect(list(targets), inline=inline, overrides=overrides)
        result = pipeline.run(problems)
        for check in result.checks:  # each error once on stderr too, whatever the format
            if check.status == "error":
                typer.echo(f"gradcheck: error: {check.error}", err=True)
        for kind in ("json", "junit", "markdown"):
            path = output.get(f"{kind}_file")
            if path is not None:
                try:
                    path.write_text(reporter(kind).render(result) + "\n", encoding="utf-8")
                except OSError as exc:
                    raise GradcheckError(f"cannot write report: {exc.strerror}",
                                         source=str(path)) from None
        if teaching.get("only"):
            pass
        elif fmt == "table":
            reporter("table").print_run(result, quiet=quiet, timings=timings)
        else:
            typer.echo(reporter(fmt).render(result, quiet=quiet))
        _teach(problems, result, teaching)
    except GradcheckError as exc:
        typer.echo(f"gradcheck: error: {exc}", err=True)
        raise typer.Exit(2)
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception as exc:  # a bug: still one line, never a traceback, unless debugging
        if os.environ.get("GRADCHECK_DEBUG"):
            raise
        typer.echo(f"gradcheck: internal error ({type(exc).__name__}: {exc}); "
                   "set GRADCHECK_DEBUG=1 for the traceback and please report it", err=True)
        raise typer.Exit(2)
    raise typer.Exit(result.exit_code)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="gradcheck")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
