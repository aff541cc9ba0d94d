import pytest


def run_one(expr, **options):
    """Run one inline check through the library and return its CheckResult."""
    import gradcheck_cli
    options.setdefault("backend", "none")  # built-in methods only; backends have their own tests
    result = gradcheck_cli.check(expr, **options)
    assert len(result.checks) == 1
    return result.checks[0]


@pytest.fixture
def check_one():
    return run_one
