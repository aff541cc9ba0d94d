
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.expression.parse import parse
from gradcheck_cli.expression.functions import FUNCTIONS

x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)


@pytest.mark.parametrize("text, expected", [
    ("x^2 + 1", x**2 + 1),
    ("x**2 - 2*x + 1", x**2 - 2*x + 1),
    ("-x", -x),
    ("log(x, 2)", sp.log(x) / sp.log(2)),
    ("atan2(y, x)", sp.atan2(y, x)),
    ("pi*e", sp.pi * sp.E),
    ("max(x, y)", sp.Max(x, y)),
    ("abs(x)", sp.Abs(x)),
    ("2.5*x", sp.Float(2.5) * x),
])
def test_parses_to_sympy(text, expected):
    assert sp.simplify(parse(text) - expected) == 0


def test_vector_only_where_allowed():
    assert parse("[x*y, x + y]", allow_vector=True) == [x * y, x + y]
    with pytest.raises(GradcheckError, match="list"):
        parse("[x, y]")


def test_every_function_of_the_table_parses():
    for name, (arities, _) in FUNCTIONS.items():
        args = ", ".join(["x", "y", "1.5", "2", "3", "4", "5", "6"][:arities[0]])
        assert parse(f"{name}({args})") is not None


def test_cbrt_is_real_for_negative_numbers():
    assert parse("cbrt(-8)") == -2


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('touch /tmp/gradcheck_pwned')", "only functions of the table"),
    ("x.real", "attribute access"),
    ("x[0]", "subscripts"),
    ("'abc'", "strings"),
    ("lambda: 1", "lambda"),
    ("[i for i in x]", "comprehensions"),
    ("foo(x)", "unknown function 'foo'"),
    ("sin(x, y)", "takes 1"),
    ("sin(x=1)", "keyword"),
    ("x < y", "comparisons"),
    ("1/0", "undefined"),
    ("10**10**10", "too large"),
    ("sin", "is a function"),
    ("_x + 1", "not allowed"),
    ("x +", "cannot parse"),
    ("", "empty"),
    ("x % 2", "not supported"),
    ("1e400*x", "not finite"),
])
def test_rejects_with_a_clear_message(text, fragment):
    with pytest.raises(GradcheckError) as info:
        parse(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_injection_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(GradcheckError):
        parse(f"__import__('os').system('touch {marker}')")
    assert not marker.exists()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xy0123456789.+-*/^()[], _'eapsinloqrtbcdmgfhuvw", max_size=40))
def test_random_text_gives_a_tree_or_our_error(text):
    try:
        result = parse(text, allow_vector=True)
    except GradcheckError as exc:
        assert str(exc)
    else:
        assert isinstance(result, (sp.Expr, list))
