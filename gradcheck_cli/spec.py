"""The YAML spec format: schema, loading and one-line validation errors.

Files are read with ``yaml.safe_load`` and validated with pydantic; any problem
becomes a :class:`GradcheckError` naming the file, the check and the field,
with a "did you mean" for misspelt keys. The format is documented in
``docs/spec-format.md``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, conint

from .errors import GradcheckError

Scalar = Union[float, str]
Tol = Union[float, dict[str, float]]


class _Common(BaseModel):
    """Keys allowed both in ``defaults`` and in each check."""

    model_config = ConfigDict(extra="forbid")
    rtol: Tol | None = None
    atol: Tol | None = None
    order: conint(ge=1, le=6) | None = None
    seed: int | None = None
    points: conint(ge=1) | None = None
    methods: list[str] | str | None = None
    wrt: list[str] | str | None = None
    backend: list[str] | str | None = None
    device: str | None = None
    dtype: str | None = None
    mode: str | None = None


class Defaults(_Common):
    """``defaults:`` -- applies to every check of the file."""


Dtype = Literal["float64", "float32", "float16", "bfloat16"]


class XFail(BaseModel):
    """``xfail: {reason: ..., dtype: float32}``: expected to fail only in that dtype
    (or those: ``dtype: [float32, float16]``)."""

    model_config = ConfigDict(extra="forbid")
    reason: str
    dtype: Dtype | list[Dtype] | None = None


class CheckSpec(_Common):
    """One entry of ``checks:``: an expression ``f`` or the user's ``callable``."""

    name: str | None = None
    description: str | None = None
    f: Scalar | list[Scalar] | None = None
    callable: str | None = None
    init: dict[str, Any] | None = None
    # the arguments of code: validated when the check runs (see usercode/inputs.py)
    inputs: dict[str, Any] | None = None
    kwargs: dict[str, Any] | None = None
    nondiff: list[str] | str | None = None
    nondet_tol: float | None = None
    batched: bool | list[str] | str | None = None
    layers: bool | None = None
    params: bool | None = None
    reference: str | None = None
    # NumPy code: the derivatives its author wrote ('file.py:name', or a name in its file)
    gradient: bool | str | None = None
    jacobian: str | None = None
    vjp: str | None = None
    jvp: str | None = None
    hessian: str | None = None
    hvp: str | None = None
    full_limit: conint(ge=0) | None = None
    vmap: bool | None = None
    let: dict[str, Scalar] | None = None
    at: dict[str, float | str | list[float | str]] | None = None   # "1+2j": complex checks
    grid: dict[str, tuple[float, float, int]] | None = None
    sample: dict[str, tuple[float, float]] | None = None
    expect: dict[str, Any] | None = None
    xfail: str | bool | XFail | None = None


class SpecFile(BaseModel):
    """A whole spec file."""

    model_config = ConfigDict(extra="forbid")
    defaults: Defaults | None = None
    checks: list[CheckSpec] = Field(min_length=1)


FIELDS = {
    "file": sorted(SpecFile.model_fields),
    "defaults": sorted(Defaults.model_fields),
    "check": sorted(CheckSpec.model_fields),
}


def check_label(raw, index: int) -> str:
    """How a check is named in messages: its name, else its expression, else its number."""
    if isinstance(raw, dict):
        name = raw.get("name") or raw.get("f") or raw.get("callable")
        if isinstance(name, (str, int, float)):
            return str(name)
    return f"#{index + 1}"


class _FileShape(BaseModel):
    """The file's outer shape, validated before its checks one by one."""

    model_config = ConfigDict(extra="forbid")
    defaults: Defaults | None = None
    checks: list[Any] = Field(min_length=1)


def load(path: str | Path) -> tuple[dict, list]:
    """Read and validate a spec file, check by check.

    Returns:
        ``(defaults, entries)``: the ``defaults`` as a dict, and per check
        ``(label, data, raw, error)``: its validated keys as a dict (None values
        dropped), the raw mapping, and a :class:`GradcheckError` if the check is
        invalid (then ``data`` is None) -- one bad check does not hide the others.

    Raises:
        GradcheckError: the file is missing, is not valid YAML, or its outer shape
            (``defaults``, ``checks``) is wrong. The message names the file, the
            check and the field.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GradcheckError("file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GradcheckError(f"cannot read file: {exc}", source=source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise GradcheckError(f"{line}YAML syntax error: {problem}", source=source) from None
    except yaml.YAMLError as exc:
        raise GradcheckError(f"YAML error: {exc}", source=source) from None
    if not isinstance(data, dict):
        raise GradcheckError("a spec file is a mapping with a 'checks:' list "
                             "(see docs/spec-format.md)", source=source)
    try:
        shape = _FileShape.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, source) from None
    defaults = shape.defaults.model_dump(exclude_none=True) if shape.defaults else {}
    entries = []
    for i, raw in enumerate(data["checks"]):
        label = check_label(raw, i)
        try:
            check = CheckSpec.model_validate(raw)
        except ValidationError as exc:
            entries.append((label, None, raw if isinstance(raw, dict) else {},
                            _explain(exc, data, source, index=i)))
            continue
        error = None
        if (check.f is None) == (check.callable is None):
            error = GradcheckError("give either 'f' (an expression) or 'callable' (your code)",
                                   source=source, check=label)
        elif check.callable is not None and not check.inputs:
            error = GradcheckError("'callable' needs 'inputs'", source=source, check=label,
                                   field="inputs")
        entries.append((label, None if error else check.model_dump(exclude_none=True), raw,
                        error))
    return defaults, entries


def _explain(exc: ValidationError, data: dict, source: str,
             index: int | None = None) -> GradcheckError:
    """The first validation error as one line; ``index``: the error is in that check."""
    err = exc.errors()[0]
    loc = list(err["loc"]) if index is None else ["checks", index, *err["loc"]]
    check = None
    if loc[:1] == ["checks"] and len(loc) > 1 and isinstance(loc[1], int):
        raw = data.get("checks")
        check = check_label(raw[loc[1]] if isinstance(raw, list) else None, loc[1])
        rest, scope = loc[2:], "check"
    elif loc[:1] == ["defaults"]:
        rest, scope = loc[1:], "defaults"
    else:
        rest, scope = loc, "file"
    # pydantic adds the union member tried ('float', 'str', ...) to locations: drop those.
    rest = [p for p in rest if not (isinstance(p, str) and
                                    p in {"float", "str", "int", "list[...]", "dict[str,float]",
                                          "list[union[float,str]]", "constrained-int",
                                          "dict[str,union[float,str]]", "bool"})]
    field = ".".join(str(p) for p in rest) or None
    kind = err["type"]
    if rest and rest[0] in ("grid", "sample") and len(rest) >= 2 and kind != "extra_forbidden":
        shape = "[start, stop, count]" if rest[0] == "grid" else "[low, high]"
        return GradcheckError(f"a {rest[0]} entry is {shape}", source=source, check=check,
                              field=f"{rest[0]}.{rest[1]}")
    if kind == "extra_forbidden" and rest:
        key = str(rest[-1])
        options = FIELDS[scope] if len(rest) == 1 else []
        close = difflib.get_close_matches(key, options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else \
            (f"; known keys: {', '.join(options)}" if options else "")
        return GradcheckError(f"unknown key {key!r}{hint}", source=source, check=check)
    if kind == "missing":
        return GradcheckError("required key is missing", source=source, check=check, field=field)
    if kind == "too_short" and field == "checks":
        return GradcheckError("'checks' is empty: give at least one check", source=source)
    message = err["msg"]
    return GradcheckError(message[0].lower() + message[1:], source=source, check=check,
                          field=field)
