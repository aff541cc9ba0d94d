
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.expression.parse import parse, to_text, with_decimals
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
    ("2.5*x", sp.Rational(5, 2) * x),
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


# ----- decimal literals are exact, from their text --------------------------------------

@pytest.mark.parametrize("text, exact", [
    ("1.24", sp.Rational(31, 25)),
    ("0.1", sp.Rational(1, 10)),                  # not the float 0.1000000000000000055511...
    ("0.1000000000000000055511", sp.Rational(1000000000000000055511, 10**22)),
    ("1_000.5", sp.Rational(2001, 2)),
    ("1e-3", sp.Rational(1, 1000)),
    ("2.5E3", sp.Integer(2500)),
    (".5", sp.S.Half),
    ("5.", sp.Integer(5)),
    ("1e-320", sp.Rational(1, 10**320)),            # subnormal in float64, exact here
    (0.1, sp.Rational(1, 10)),                      # a float from YAML: its repr, as written
])
def test_decimal_literals_are_exact_rationals_from_their_text(text, exact):
    assert parse(text) == exact


def test_no_rewrite_rounds():
    # SymPy folded Floats: exp(0.5*(x - 1.24)) became 0.537944437594674*exp(0.5*x).
    e = parse("exp(0.5*(x - 1.24))")
    assert e == sp.exp(x / 2 - sp.Rational(31, 50))
    assert not e.atoms(sp.Float)
    assert parse("x**2.0") == x**2 and parse("x**0.5") == sp.sqrt(x)
    assert parse("0.1*3 - 0.3") == 0              # exact: float64 would leave 5.6e-17
    assert parse("sin(1.1*1.3*x)") == sp.sin(sp.Rational(143, 100) * x)


@pytest.mark.parametrize("text, fragment", [
    ("1e-400*x", "too small for float64"),
    ("1e300*1e300*x", "beyond float64's range"),
    ("0.123456789**4000", "bits exactly"),
])
def test_constants_float64_cannot_hold_are_refused(text, fragment):
    with pytest.raises(GradcheckError, match=fragment):
        parse(text)


@pytest.mark.parametrize("text, shown", [
    ("exp(0.5*(x - 1.24))", "exp(0.5*x - 0.62)"),
    ("1.24*x", "1.24*x"),
    ("-0.62*x*y", "-0.62*x*y"),
    ("x/3", "x/3"),                                 # not a decimal: as SymPy prints it
    ("x**1.5 + y**-2.5", "x**1.5 + y**(-2.5)"),
    ("sqrt(x)", "sqrt(x)"),
    ("2.5**x", "2.5**x"),
    ("x - 1e-5", "x - 1e-5"),
    ("1e30*x", "1e30*x"),
    ("1.5e20*x + 12", "1.5e20*x + 12"),
    ("0.1000000000000000055511*x", "0.1000000000000000055511*x"),
    ("sin(1.24) + 2", "sin(1.24) + 2"),
])
def test_decimal_constants_print_as_decimals(text, shown):
    assert to_text(parse(text)) == shown


def test_pretty_and_latex_show_decimals_too():
    e = with_decimals(parse("exp(0.5*(x - 1.24)) + sqrt(x + 0.5)/3"))
    assert sp.latex(e) == r"\frac{\sqrt{x + 0.5}}{3} + e^{0.5 x - 0.62}"
    assert "31" not in sp.pretty(e) and "0.62" in sp.pretty(e)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["+", "-", "*"]),
                          st.decimals(min_value=-1000, max_value=1000, places=4,
                                      allow_nan=False, allow_infinity=False),
                          st.sampled_from(["x", "sin(x)", "exp(y)", "x**2"])),
                min_size=1, max_size=5))
def test_printed_text_parses_back_to_the_same_tree(terms):
    text = "0" + "".join(f" {op} {abs(c)}*{t}" if c else f" {op} {t}" for op, c, t in terms)
    tree = parse(text)
    assert parse(to_text(tree)) == tree
    assert "/" not in to_text(tree)                 # every constant here is a decimal
