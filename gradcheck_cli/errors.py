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
