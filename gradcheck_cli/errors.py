"""The one domain exception.

Every user-facing failure (bad expression, invalid spec, unknown variable,
missing file or backend) is raised as :class:`GradcheckError` with a message a
user can act on. The CLI prints it on one line and exits with status 2; a
traceback reaching a user is a bug.
"""

from __future__ import annotations


class GradcheckError(Exception):
    """Bad input or environment, with a one-line, actionable message.

    Args:
        message: what is wrong and, where possible, what to do about it.
        source: the file (or ``<command line>``) the input came from.
        check: the name of the check the input belongs to.
        field: the spec field or CLI option at fault.
    """

    def __init__(self, message: str, *, source: str | None = None,
                 check: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.check = check
        self.field = field

    def located(self, *, source: str | None = None, check: str | None = None,
                field: str | None = None) -> "GradcheckError":
        """Fill in location parts that are not yet known, and return self."""
        self.source = self.source or source
        self.check = self.check or check
        self.field = self.field or field
        return self

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.check:
            where.append(f"check {self.check!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def describe(exc: BaseException, limit: int = 600) -> str:
    """An exception as one line that keeps its cause: ``ValueError: a — b``.

    Framework errors span many lines, and the first is often only a header (Keras:
    "Exception encountered when calling MyDense.call()." before the actual error);
    every non-empty line is kept, joined, up to ``limit`` characters. Keras's
    "Arguments received by ..." listing, which repeats the inputs, is dropped.
    """
    lines = []
    for line in str(exc).splitlines():
        line = line.strip()
        if line.startswith("Arguments received by"):
            break
        if line:
            lines.append(line)
    text = " — ".join(lines)
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text += f" (caused by {type(cause).__name__}: {describe(cause, limit // 2)})"
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
