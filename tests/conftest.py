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


def pytest_addoption(parser):
    parser.addoption("--opinfo", action="store_true",
                     help="run the whole OpInfo database (tests marked opinfo; about an hour)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--opinfo"):
        return
    skip = pytest.mark.skip(reason="the whole OpInfo database: run with --opinfo")
    for item in items:
        if "opinfo" in item.keywords:
            item.add_marker(skip)
