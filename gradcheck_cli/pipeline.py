"""The one pipeline every check goes through, whatever its target.

::

    target (expression | code) -> columns -> reference -> tolerances -> judge -> results

A *target* (:class:`gradcheck_cli.expression.target.ExpressionTarget`,
:class:`gradcheck_cli.usercode.target.CodeTarget`) knows what is
differentiated. It lists its *columns* -- the ways of differentiating that
apply to it -- and computes each; then its *reference* (mpmath at 30 digits for
an expression, finite differences with an error estimate for code); then, per
row and column, a :class:`~gradcheck_cli.judge.Comparison` whose tolerance comes
from :mod:`gradcheck_cli.tolerances`. The one :func:`~gradcheck_cli.judge.judge`
turns each into a verdict. A check that cannot run becomes an error row; the
others still run.

Nothing here imports SymPy, mpmath or a framework: a code check loads neither
of the first two, and a framework loads only when its column is computed.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from .errors import GradcheckError, describe
from .judge import Comparison, judge
from .judge import failed as failed_verdict
from .judge import not_applicable
from .results import CheckResult, RunResult

COMMAND_LINE = "<command line>"


def run_check(target) -> CheckResult:
    """Every column of a target, held against its reference by the judge."""
    with warnings.catch_warnings():
        # Overflow, 0/0 and all-NaN medians are expected along domain edges;
        # they become verdicts ("non-finite", "outside the domain"), not warnings.
        warnings.simplefilter("ignore", RuntimeWarning)
        outputs, timings = {}, {}
        for column in target.columns:
            with np.errstate(all="ignore"):
                outputs[column.name] = target.compute(column)
            timings[column.name] = outputs[column.name].seconds
        start = time.perf_counter()
        with np.errstate(all="ignore"):
            ref = target.reference(outputs)
            rows = [target.row(key, _verdicts(target, key, outputs, ref), ref)
                    for key in target.keys()]
        timings["reference+compare"] = time.perf_counter() - start
    return target.result(rows, outputs, ref, timings)


def _verdicts(target, key, outputs: dict, ref) -> dict:
    verdicts = {}
    for name, d in outputs.items():
        if key in d.unavailable:
            verdicts[name] = not_applicable(name, d.unavailable[key])
        elif key in d.failures:
            reason, location = d.failures[key]
            verdicts[name] = failed_verdict(name, reason, location=location)
        elif key in d.values:
            c = target.comparison(key, name, d, ref)
            verdicts[name] = judge(name, c) if isinstance(c, Comparison) else c
            if verdicts[name].status == "fail":
                target.localize(key, name, verdicts[name], ref)
    return verdicts


def _errored(target_or_entry, exc: BaseException) -> CheckResult:
    name = getattr(target_or_entry, "name", None) or "?"
    source = getattr(target_or_entry, "source", None) or COMMAND_LINE
    kind = getattr(target_or_entry, "kind", "expression")
    if isinstance(exc, GradcheckError):
        message = str(exc.located(source=source, check=name))
    else:  # a bug in gradcheck: still a line, and the other checks still run
        message = (f"{source}: check {name!r}: internal error ({describe(exc)}); set "
                   "GRADCHECK_DEBUG=1 for the traceback and please report it")
    return CheckResult.errored(name, source, message, kind=kind,
                               xfail=getattr(target_or_entry, "xfail", None))


def run_one(target) -> CheckResult:
    """One target (or an already failed entry), never raising for bad input."""
    if isinstance(target, CheckResult):
        return target
    try:
        result = run_check(target)
    except GradcheckError as exc:
        return _errored(target, exc)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 -- one broken check must not hide the others
        if os.environ.get("GRADCHECK_DEBUG"):
            raise
        return _errored(target, exc)
    result.xfail = target.xfail
    return result


def run(targets: list) -> RunResult:
    """Run targets in order; a check that cannot run is an error row, the rest still run."""
    start = time.perf_counter()
    result = RunResult([run_one(t) for t in targets])
    result.seconds = time.perf_counter() - start
    return result


class _Entry:
    """What is known of a check that failed before it became a target."""

    def __init__(self, name, source, kind="expression", xfail=None):
        self.name, self.source, self.kind, self.xfail = name, source, kind, xfail


def load_spec(path: str | Path, overrides: dict | None = None) -> list:
    """Every check of a spec file, as targets; a check that is invalid is an error row.

    Raises:
        GradcheckError: the file itself cannot be read or is not a spec file.
    """
    from .spec import load
    defaults, entries = load(path)
    items = []
    for label, data, raw, error in entries:
        if error is not None:
            items.append(CheckResult.errored(label, str(path), str(error),
                                             kind="code" if "callable" in raw else "expression"))
            continue
        items.append(_build_or_error(data, raw, source=str(path), defaults=defaults,
                                     overrides=overrides, label=label, base=Path(path).parent))
    return items


def _build_or_error(data: dict, raw: dict, **kwargs):
    kind = "code" if data.get("callable") is not None else "expression"
    try:
        if kind == "code":
            from .usercode.build import build
            return build(data, raw=raw, **kwargs)
        from .expression.build import build
        kwargs.pop("base", None)
        return build(data, **kwargs)
    except GradcheckError as exc:
        entry = _Entry(kwargs.get("label"), kwargs.get("source"), kind)
        return _errored(entry, exc)


def spec_files(directory: Path) -> list[Path]:
    """Spec files under a directory, recursively, in a stable order."""
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def collect(targets: list[str], *, inline: dict | None = None,
            overrides: dict | None = None) -> list:
    """Targets for each argument: a spec file, a directory of them, an expression, or
    ``file.py:function`` (code, with ``inline["inputs"]``).

    A spec file or check that is wrong becomes an error row (a
    :class:`CheckResult` with status "error"); the others still run.

    Raises:
        GradcheckError: an argument that names nothing (no such file, an empty folder).
    """
    items: list = []
    inline = {k: v for k, v in (inline or {}).items() if v not in (None, [], {}, "")}
    for target in targets:
        path = Path(target)
        code_only = [k for k in ("inputs", "derivatives") if k in inline]
        if code_only and (path.is_dir() or path.suffix in (".yaml", ".yml")):
            raise GradcheckError(f"--{'input' if code_only[0] == 'inputs' else 'gradient'} "
                                 "applies to code named on the command line (file.py:function);"
                                 " a spec file says it in its checks", source=target)
        if path.is_dir():
            files = spec_files(path)
            if not files:
                raise GradcheckError("no spec files (*.yaml, *.yml) in this directory",
                                     source=target)
            for file in files:
                items.extend(_load_or_error(file, overrides))
        elif path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise GradcheckError("file not found", source=target)
            items.extend(_load_or_error(path, overrides))
        elif _is_code(target):
            items.append(_command_line_code(target, inline, overrides))
        elif path.is_file():
            raise GradcheckError("not a spec file: give a .yaml/.yml spec, a folder of them, "
                                 "an expression, or file.py:function for your own code",
                                 source=target)
        elif target.endswith(("/", "\\")):
            raise GradcheckError("folder not found", source=target)
        else:
            check = {k: v for k, v in inline.items() if k not in ("inputs", "derivatives")}
            check["f"] = target
            check.setdefault("name", target)
            if "derivatives" in inline:
                raise GradcheckError(f"--{next(iter(inline['derivatives']))} gives a derivative "
                                     "of NumPy code (file.py:function); an expression takes "
                                     "--expect", source=COMMAND_LINE, check=target)
            if "inputs" in inline:
                raise GradcheckError("'--input' gives the inputs of code (file.py:function); "
                                     "an expression takes --at, --grid or --sample",
                                     source=COMMAND_LINE, check=target, field="--input")
            items.append(_build_or_error(check, check, source=COMMAND_LINE, overrides=overrides,
                                         label=check["name"]))
    return items


def _load_or_error(path: Path, overrides) -> list:
    try:
        return load_spec(path, overrides)
    except GradcheckError as exc:
        return [CheckResult.errored(path.name, str(path), str(exc.located(source=str(path))))]


def _is_code(target: str) -> bool:
    """``file.py``, ``file.py:name`` or ``package.module:name`` (no expression has a colon)."""
    where = target.rpartition(":")[0] if ":" in target else target
    return where.endswith(".py") or (":" in target and where.replace(".", "").replace(
        "_", "").isalnum())


def _command_line_code(target: str, inline: dict, overrides) -> object:
    """``gradcheck ops.py:fn --input x=3x4``: a code check with inputs from the command line."""
    if ":" not in target:
        raise GradcheckError("a Python file: name the function to check, as "
                             f"{target}:function, with its inputs as --input x=3x4",
                             source=target)
    expression_keys = [k for k in ("at", "grid", "sample", "points") if k in inline]
    if expression_keys:
        raise GradcheckError(f"--{expression_keys[0]} gives points of an expression; the "
                             "inputs of code are --input name=3x4 (a shape) or name=0.5",
                             source=COMMAND_LINE, check=target, field=f"--{expression_keys[0]}")
    if not inline.get("inputs"):
        raise GradcheckError("give the function's inputs: --input x=3x4 (a random array of "
                             "that shape) or --input x=0.5 (a value)", source=COMMAND_LINE,
                             check=target, field="--input")
    check = {"callable": target, "inputs": inline["inputs"], "name": inline.get("name") or target}
    if "expect" in inline:
        check["expect"] = inline["expect"]
    check.update(inline.get("derivatives", {}))
    return _build_or_error(check, check, source=COMMAND_LINE, overrides=overrides,
                           label=check["name"], base=Path.cwd())
