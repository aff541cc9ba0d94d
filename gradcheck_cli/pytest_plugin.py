"""pytest plugin: every ``gradcheck*.yaml`` spec file is collected, one test per check.

Registered through the ``pytest11`` entry point, so installing gradcheck is
enough: ``pytest`` alone then gates a repository's gradients. Collection is
deterministic (file order, then check order), so it works under pytest-xdist.
"""

from __future__ import annotations

import pytest


def pytest_collect_file(parent, file_path):
    if file_path.suffix in (".yaml", ".yml") and file_path.name.startswith("gradcheck"):
        return GradcheckFile.from_parent(parent, path=file_path)
    return None


class GradcheckFailure(Exception):
    """A check found a discrepancy; carries the result for the report."""

    def __init__(self, run):
        super().__init__(run.checks[0].name)
        self.result = run


class GradcheckFile(pytest.File):
    def collect(self):
        from .api import load_spec
        from .errors import GradcheckError
        try:
            problems = load_spec(self.path)
        except GradcheckError as exc:
            raise self.CollectError(str(exc)) from None
        seen = set()
        for problem in problems:
            name = problem.name
            while name in seen:  # unique test ids
                name += "_"
            seen.add(name)
            yield GradcheckItem.from_parent(self, name=name, problem=problem)

    class CollectError(Exception):
        pass


class GradcheckItem(pytest.Item):
    def __init__(self, *, problem, **kwargs):
        super().__init__(**kwargs)
        self.problem = problem
        if problem.xfail:
            self.add_marker(pytest.mark.xfail(reason=problem.xfail, strict=True))

    def runtest(self):
        from .api import RunResult, run_problem
        from .errors import GradcheckError
        result = run_problem(self.problem)
        if result.status == "error":  # bad input or environment: an error, not a failure
            raise GradcheckError(result.error)
        if result.failed or any(r.status == "inconclusive" for r in result.rows):
            raise GradcheckFailure(RunResult([result]))  # could not decide: not a pass
        if result.status == "skipped":
            pytest.skip(result.skip_reason)

    def repr_failure(self, excinfo):
        from .errors import GradcheckError
        if isinstance(excinfo.value, GradcheckFailure):
            from .report.table import render
            return render(excinfo.value.result)
        if isinstance(excinfo.value, GradcheckError):
            return f"gradcheck: error: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"gradcheck: {self.name}"
