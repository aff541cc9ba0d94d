"""NumPy code with hand-written derivatives (gradcheck_cli/frameworks/numpy.py and
usercode/plain.py): every form of derivative, right and wrong, the four classic backprop
bugs named to the element, and the refusals (exit 2) for what cannot be checked."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_cli as gc
from gradcheck_cli.errors import GradcheckError
from gradcheck_cli.pipeline import collect, run
from gradcheck_cli.usercode import run_callable

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = Path(__file__).resolve().parent / "mutants"
SPEC = ROOT / "specs" / "numpy" / "gradcheck_numpy.yaml"
X4 = np.array([0.7, -1.3, 2.1, 0.4])
X3 = np.array([0.6, -1.1, 0.3])


def code_check(name, inputs, **forms):
    check = {"callable": f"numpy_forms.py:{name}", "inputs": inputs, **forms}
    return run_callable(check, source="test", base=MUTANTS, label=name)


def failures(result):
    return [(row.label, name, v) for row in result.rows for name, v in row.verdicts.items()
            if v.status == "fail"]


# ----- every form, right and wrong ------------------------------------------------------
FORMS = [
    ("scalar", {"x": {"value": X4.tolist()}}, "gradient", "scalar_gradient", "x[1]"),
    ("vector", {"x": {"value": X3.tolist()}}, "jacobian", "vector_jacobian", "x[1] → out[0]"),
    ("vector", {"x": {"value": X3.tolist()}}, "vjp", "vector_vjp", "x[1] → out[0]"),
    ("vector", {"x": {"value": X3.tolist()}}, "jvp", "vector_jvp", "x[1] → out[0]"),
]


@pytest.mark.parametrize("fn, inputs, form, right, where", FORMS,
                         ids=[f[2] for f in FORMS])
def test_each_form_passes_right_and_names_the_wrong_element(fn, inputs, form, right, where):
    good = code_check(fn, inputs, **{form: right})
    assert good.status == "pass" and form in good.methods
    bad = code_check(fn, inputs, **{form: right + "_wrong"})
    assert bad.status == "fail"
    column = [v for _, name, v in failures(bad) if name == form]
    assert column and column[0].location == where


@pytest.mark.parametrize("form", ["hessian", "hvp"])
def test_second_derivative_forms(form):
    inputs = {"x": {"value": X4.tolist()}}
    good = code_check("scalar", inputs, gradient="scalar_gradient", **{form: f"scalar_{form}"})
    assert good.status == "pass" and good.order == 2
    second = [r for r in good.rows if r.label.startswith("∂²")]
    assert second and second[0].verdicts[form].status == "pass"
    bad = code_check("scalar", inputs, gradient="scalar_gradient",
                     **{form: f"scalar_{form}_wrong"})
    assert bad.status == "fail"
    assert {(label, name) for label, name, _ in failures(bad)} >= {("∂²f/∂x²", form)}
    # the gradient itself is right: its row passes
    assert bad.rows[0].verdicts["gradient"].status == "pass"


def test_vjp_and_jvp_must_agree_without_finite_differences():
    inputs = {"x": {"value": X3.tolist()}}
    result = code_check("vector", inputs, vjp="vector_vjp", jvp="vector_jvp_wrong")
    assert result.rows[0].verdicts["fwd⇄rev"].status == "fail"
    twin = code_check("vector", inputs, vjp="vector_vjp", jvp="vector_jvp")
    assert twin.rows[0].verdicts["fwd⇄rev"].status == "pass"


@pytest.mark.parametrize("grad", ["bilinear_grad_tuple", "bilinear_grad_per_argument",
                                  "bilinear_grad_dict"])
def test_several_inputs_in_every_layout(grad):
    inputs = {"x": {"shape": [2, 3]}, "w": {"shape": [3, 2]},
              "scale": {"value": 0.5, "grad": False}}
    result = code_check("bilinear", inputs, gradient=grad)
    assert result.status == "pass"
    assert [r.label for r in result.rows] == ["x", "w"]


def test_a_result_that_matches_no_input_is_refused():
    inputs = {"x": {"shape": [2, 3]}, "w": {"shape": [3, 2]},
              "scale": {"value": 0.5, "grad": False}}
    with pytest.raises(GradcheckError, match="returned 4 value"):
        code_check("bilinear", inputs, gradient="bilinear_grad_three")


def test_value_and_gradient_in_one_callable():
    result = run(collect([str(SPEC)]))
    by_name = {c.name: c for c in result.checks}
    loss = by_name["softmax cross-entropy (value and gradient in one)"]
    assert loss.status == "pass" and loss.methods[0] == "gradient"


def test_writing_into_the_input_is_caught_and_the_copy_passes():
    inputs = {"x": {"value": X4.tolist()}}
    bad = code_check("softmax_in_place", inputs, vjp="softmax_vjp")
    assert bad.status == "fail"
    assert any("changed input x in place" in (v.reason or "") for _, _, v in failures(bad))
    assert code_check("softmax_copy", inputs, vjp="softmax_vjp").status == "pass"


def test_a_gradient_of_the_wrong_shape_fails_even_with_the_right_numbers():
    result = code_check("scalar", {"x": {"value": X4.tolist()}}, gradient="column_gradient")
    reasons = [v.reason for _, _, v in failures(result)]
    assert result.status == "fail" and "gradient has shape (4, 1), the input (4,)" in reasons


# ----- the four classic backprop bugs ---------------------------------------------------
def _spec_results():
    return {c.name: c for c in run(collect([str(SPEC)])).checks}


def test_the_numpy_spec_passes_and_its_bugs_fail():
    results = _spec_results()
    assert len(results) == 11
    for name, check in results.items():
        assert check.status == ("xfail" if check.xfail else "pass"), name
    assert run(collect([str(SPEC)])).exit_code == 0


def _failing(check, column):
    return next(v for row in check.rows for name, v in row.verdicts.items()
                if name == column and v.status == "fail")


def test_softmax_jacobian_without_diagonal_names_the_diagonal_element():
    check = _spec_results()["softmax Jacobian without its diagonal"]
    x = np.array([0.5, -1.2, 2.0, 0.1])
    k = int(np.argmax(x))   # the missing s_k is largest where x is
    assert _failing(check, "jacobian").location == f"x[{k}] → out[{k}]"


def test_max_pool_ties_sent_everywhere_fail_and_the_first_maximum_passes():
    results = _spec_results()
    bad = results["max-pool backward sending the gradient to every tie"]
    where = _failing(bad, "vjp").location
    tied = {"x[0, 0]", "x[0, 1]", "x[0, 3]", "x[1, 2]", "x[2, 0]", "x[3, 1]"}
    assert where.split(" → ")[0] in tied
    assert sum("are tied" in n for n in bad.notes) == 3
    assert any("add up to 2" in n and "rate 1" in n for n in bad.notes)
    good = results["max-pool backward at ties"]
    assert good.status == "pass" and not any("are tied" in n for n in good.notes)


def _jacobian_from_vjp(vjp, x, *rest, m):
    return np.stack([np.ravel(vjp(u.reshape(m), x, *rest)[0] if rest else vjp(u.reshape(m), x))
                     for u in np.eye(int(np.prod(m)))])


def test_inverse_backward_without_transpose_names_an_element_it_gets_wrong():
    sys.path.insert(0, str(SPEC.parent))
    import backprop
    a = np.array([[2.0, 0.5, -0.3], [0.1, 1.5, 0.4], [-0.6, 0.2, 1.8]])
    right = np.stack([backprop.inverse_vjp(u.reshape(3, 3), a).ravel() for u in np.eye(9)])
    wrong = np.stack([backprop.inverse_vjp_no_transpose(u.reshape(3, 3), a).ravel()
                      for u in np.eye(9)])
    where = _failing(_spec_results()["matrix inverse backward without the transpose"],
                     "vjp").location
    element, output = where.split(" → ")
    i, j = (int(n) for n in element[2:-1].split(","))
    k, m = (int(n) for n in output[4:-1].split(","))
    assert abs(right[3 * k + m, 3 * i + j] - wrong[3 * k + m, 3 * i + j]) > 1e-3


def test_strided_conv_backward_names_an_input_element_that_receives_the_wrong_gradient():
    check = _spec_results()["strided convolution backward with the stride forgotten"]
    where = _failing(check, "vjp").location
    assert where.startswith("x[")
    assert check.rows[1].verdicts["vjp"].status == "pass"     # dw is right
    i, j = (int(n) for n in where.split(" → ")[0][2:-1].split(","))
    k, m = (int(n) for n in where.split(" → ")[1][4:-1].split(","))
    # the forward pass reads x[i, j] for out[k, m] iff it lies in the strided window
    in_window = 2 * k <= i < 2 * k + 3 and 2 * m <= j < 2 * m + 3
    wrong_window = k <= i < k + 3 and m <= j < m + 3
    assert in_window != wrong_window


# ----- check_grad's one number against gradcheck ----------------------------------------
def relu_loss(x):
    return float(np.maximum(x, 0).sum() + 1e-4 * (x ** 2).sum())


def relu_loss_grad(x):
    return (x > 0).astype(float) + 2e-4 * x


def relu_loss_grad_wrong(x):        # the 2 of the quadratic term forgotten
    return (x > 0).astype(float) + 1e-4 * x


def test_check_grad_misleads_where_gradcheck_does_not():
    """A ReLU at 0 makes scipy's forward difference read 1 there: check_grad gives the same
    number, 1.0, for the right and the wrong gradient. gradcheck passes the right one
    (a kink: any subgradient) and fails the wrong one, naming x[2]."""
    from scipy.optimize import check_grad
    x = np.array([0.8, 0.0, -1.3, 2.1])
    right, wrong = check_grad(relu_loss, relu_loss_grad, x), \
        check_grad(relu_loss, relu_loss_grad_wrong, x)
    assert right > 0.5 and abs(right - wrong) < 1e-6 * right     # one number, no verdict
    good = gc.check_gradient(relu_loss, relu_loss_grad, x)
    assert good.status == "pass" and any("kink" in n and "x[1]" in n for n in good.notes)
    bad = gc.check_gradient(relu_loss, relu_loss_grad_wrong, x)
    assert bad.status == "fail" and _failing(bad, "gradient").location == "x[2]"


# ----- the Python API: scipy's convention and the assert form ---------------------------
def test_scipy_convention_with_extra_arguments_held_constant():
    sys.path.insert(0, str(MUTANTS))
    import numpy_forms as m
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal(3)
    x0 = [0.3, -0.2, 0.9]
    result = gc.check_gradient(m.least_squares, m.least_squares_grad, x0, a, b,
                               epsilon=1e-6)
    assert result.status == "pass" and [r.label for r in result.rows] == ["x"]
    assert any("epsilon=1e-06" in n for n in result.notes)
    with pytest.raises(AssertionError, match="x by gradient"):
        gc.assert_gradient(m.least_squares, m.least_squares_grad_wrong, x0, a, b)
    assert gc.assert_gradient(m.least_squares, m.least_squares_grad, x0, a, b).order == 1


def test_keyword_forms_and_several_arrays_through_assert_gradients():
    sys.path.insert(0, str(MUTANTS))
    import numpy_forms as m
    assert gc.check_gradient(m.vector, x0=X3, jacobian=m.vector_jacobian).status == "pass"
    assert gc.check_gradient(m.vector, x0=X3, jvp=m.vector_jvp_wrong).status == "fail"
    x, w = np.ones((2, 3)) * 0.3, np.linspace(-1, 1, 6).reshape(3, 2)
    gc.assert_gradients(m.bilinear, x, w, 0.5, nondiff=["scale"],
                        gradient=m.bilinear_grad_tuple)
    with pytest.raises(GradcheckError, match="give a derivative"):
        gc.check_gradient(m.scalar, None, X4)


# ----- what cannot be checked: exit 2, one line -----------------------------------------
REFUSALS = [
    ({"gradient": "vector_jacobian"}, "vector", "is for a scalar function"),
    ({}, "scalar", "NumPy code"),
    ({"backend": "torch"}, "scalar", "looks like NumPy code, which no framework"),
    ({"hessian": "scalar_hessian"}, "scalar", "give gradient:, vjp: or jacobian: too"),
    ({"hessian": "scalar_hessian", "gradient": "scalar_gradient", "order": 1}, "scalar",
     "order 1 would not check it"),
    ({"order": 2, "gradient": "scalar_gradient"}, "scalar", "give hessian: or hvp:"),
    ({"gradient": "no_such_function"}, "scalar", "no attribute"),
    ({"gradient": 3}, "scalar", "give the derivative as"),
]


@pytest.mark.parametrize("options, fn, message", REFUSALS, ids=[r[2] for r in REFUSALS])
def test_refusals(options, fn, message):
    x = X3 if fn == "vector" else X4
    with pytest.raises(GradcheckError, match=message) as info:
        result = code_check(fn, {"x": {"value": x.tolist()}}, **options)
        raise GradcheckError(result.error)
    assert "\n" not in str(info.value)


def test_complex_inputs_are_refused_for_hand_written_derivatives():
    with pytest.raises(GradcheckError, match="is complex"):
        result = code_check("scalar", {"x": {"value": ["1+2j", "0.5-1j"]}},
                            gradient="scalar_gradient", dtype="complex128")
        raise GradcheckError(result.error)


# ----- the command line, and no framework ------------------------------------------------
def test_command_line_exit_codes(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "gradcheck_cli", *args], cwd=MUTANTS,
                              capture_output=True, text=True)
    ok = cli("numpy_forms.py:scalar", "--gradient", "scalar_gradient", "--input", "x=5")
    bad = cli("numpy_forms.py:scalar", "--gradient", "scalar_gradient_wrong", "--input",
              "x=[0.7, -1.3, 2.1, 0.4]")
    none = cli("numpy_forms.py:scalar", "--input", "x=5")
    assert (ok.returncode, bad.returncode, none.returncode) == (0, 1, 2), ok.stderr
    assert "x by gradient" in bad.stdout and "x[1]" in bad.stdout
    assert "NumPy code" in none.stderr and "Traceback" not in none.stderr


def test_the_numpy_spec_imports_no_framework_no_sympy_no_scipy():
    code = ("import sys\nfrom gradcheck_cli.pipeline import collect, run\n"
            f"r = run(collect([{str(SPEC)!r}]))\n"
            "print(r.exit_code, sorted(m for m in ('torch', 'jax', 'tensorflow', 'sympy', "
            "'mpmath', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["0", "[]"], out.stderr


def test_a_wrong_value_at_a_steep_smooth_point_fails_and_is_not_called_a_kink():
    # log(sin(3x)²) at x = 43: sin(129) = -0.02, so the one-sided differences change a
    # lot between steps (f''' ~ 1e7) yet converge as a smooth function's do. Classified
    # by the size of that change alone, the point looked like a break and the wrong
    # value was excluded, not judged: with no other column, the check compared nothing.
    from gradcheck_cli import check_gradient

    def f(x):
        return np.log(np.sin(3 * x) ** 2)

    def vjp_right(u, x):
        return u * 6 * np.cos(3 * x) / np.sin(3 * x)

    def vjp_wrong(u, x):
        return u * 3 * np.cos(3 * x) / np.sin(3 * x)   # the 2 of the square forgotten

    x0 = np.array([43.0, 0.4])
    assert check_gradient(f, None, x0, vjp=vjp_right).status == "pass"
    wrong = check_gradient(f, None, x0, vjp=vjp_wrong)
    assert wrong.status == "fail"
    verdict = wrong.rows[0].verdicts["vjp"]
    assert verdict.wrong == 2 and verdict.excluded == 0


def test_a_jump_inside_the_stencil_is_excluded_and_noted():
    # a step 1e-7 right of x[0] = 0.3: every difference across it is huge; the one-sided
    # differences show a break within the stencil, and that element is excluded, with a
    # note, while the others are judged (a wrong gradient still fails there)
    from gradcheck_cli import check_gradient

    def f(x):
        return float(np.sum(x + (x > 0.3000001)))

    x0 = np.array([0.3, 0.5, -0.2])
    right = check_gradient(f, lambda x: np.ones_like(x), x0)
    assert right.status == "pass" and right.rows[0].verdicts["gradient"].excluded == 1
    assert any("straddles" in n and "x[0]" in n for n in right.notes)
    assert check_gradient(f, lambda x: 2 * np.ones_like(x), x0).status == "fail"


def test_value_and_gradient_in_one_with_a_hessian_checks_the_hessian():
    # gradient: true made the Hessian's column call the function as if it returned f
    # alone: n/a, and the check passed on the gradient; a wrong Hessian must fail
    from gradcheck_cli import check_gradient

    def f(x):
        return float(x[0] ** 2 * x[1] + x[2] ** 3), np.array([2 * x[0] * x[1], x[0] ** 2,
                                                             3 * x[2] ** 2])

    def hessian(x):
        return np.array([[2 * x[1], 2 * x[0], 0], [2 * x[0], 0, 0], [0, 0, 6 * x[2]]])
    x0 = np.array([0.5, 1.2, -0.7])
    good = check_gradient(f, True, x0, hessian=hessian, methods=["fd"])
    assert good.status == "pass" and good.order == 2
    assert all(v.status != "n/a" for r in good.rows for v in r.verdicts.values())
    bad = check_gradient(f, True, x0, hessian=lambda x: np.full((3, 3), 7.0), methods=["fd"])
    assert bad.status == "fail"


def test_a_gradient_returned_as_a_list_is_taken_as_scipy_takes_it():
    from gradcheck_cli import check_gradient
    x0 = np.array([1.0, 2.0, 3.0])
    assert check_gradient(lambda x: float(np.sum(x ** 2)), lambda x: list(2 * x), x0).status \
        == "pass"
    assert check_gradient(lambda x: float(np.sum(x ** 2)), lambda x: list(3 * x), x0).status \
        == "fail"


def test_a_jvp_right_only_for_unit_tangents_fails():
    # forward mode column by column uses e_j alone: v|v| equals v there, and so does a
    # jvp that reads only v's largest entry; one random tangent must match the columns
    from gradcheck_cli import check_gradient
    x0 = np.array([0.1, 0.2, 0.3])
    right = check_gradient(np.sin, x0=x0, jvp=lambda v, x: np.cos(x) * v)
    assert right.status == "pass"
    for wrong in (lambda v, x: np.cos(x) * v * np.abs(v),
                  lambda v, x: np.cos(x) * np.where(np.abs(v) == np.abs(v).max(), v, 0)):
        result = check_gradient(np.sin, x0=x0, jvp=wrong)
        verdict = result.rows[0].verdicts["jvp"]
        assert result.status == "fail" and "not linear in its tangent" in verdict.reason


def test_the_command_line_takes_gradient_true(tmp_path):
    (tmp_path / "vg.py").write_text(
        "import numpy as np\n"
        "def vg(x):\n    return float(np.sum(x ** 2)), 2 * x\n"
        "def vg_bad(x):\n    return float(np.sum(x ** 2)), 3 * x\n")
    for fn, code in (("vg", 0), ("vg_bad", 1)):
        out = subprocess.run([sys.executable, "-m", "gradcheck_cli", f"vg.py:{fn}", "--input",
                              "x=[1.0, 2.0]", "--gradient", "true"], cwd=tmp_path,
                             capture_output=True, text=True)
        assert out.returncode == code, out.stdout + out.stderr


def test_a_gradient_of_the_wrong_size_fails_by_its_shape_not_as_a_crash():
    # it raised "running the code raised ValueError: could not broadcast ...", blaming the
    # user's function; a gradient one element short is the derivative's fault, named so
    from gradcheck_cli import check_gradient
    result = check_gradient(lambda x: float(np.sum(x ** 2)), lambda x: 2 * x[:2],
                            np.array([1.0, 2.0, 3.0]))
    verdict = result.rows[0].verdicts["gradient"]
    assert result.status == "fail" and "shape (2,), the input (3,)" in verdict.reason


def test_a_dict_gradient_with_a_key_that_is_no_input_is_refused():
    def f(w, b):
        return float(np.sum(w ** 2) + np.sum(b))
    with pytest.raises(GradcheckError, match="gave 'bb', which is no input"):
        gc.assert_gradients(f, np.ones(3), np.ones(2),
                            gradient=lambda w, b: {"w": 2 * w, "b": np.ones(2), "bb": 1.0})
    gc.assert_gradients(f, np.ones(3), np.ones(2),
                        gradient=lambda w, b: {"w": 2 * w, "b": np.ones(2)})


def test_per_argument_gradients_with_a_held_argument_when_counts_coincide():
    # f(params, x): params = (w, b) differentiated (2 slots), x held: 2 arguments too.
    # ((gw, gb), None) is per argument, as a torch backward returns; it was read per slot
    def f(params, x):
        w, b = params
        return float(np.sum((x @ w + b) ** 2))

    def grad(scale):
        def g(params, x):
            w, b = params
            r = 2 * (x @ w + b)
            return (scale * x.T @ r, r.sum(0)), None
        return g
    x = np.linspace(-1, 1, 6).reshape(3, 2)
    params = (np.array([[0.5, -0.2], [0.3, 0.8]]), np.array([0.1, -0.4]))
    assert gc.assert_gradients(f, params, x, nondiff=["x"], gradient=grad(1.0)).status == "pass"
    with pytest.raises(AssertionError, match=r"params\[0\]"):
        gc.assert_gradients(f, params, x, nondiff=["x"], gradient=grad(1.1))


def test_a_jacobian_laid_out_input_first_is_told_to_transpose():
    a = np.arange(6.0).reshape(2, 3)
    x0 = np.array([0.1, 0.2, 0.3])
    with pytest.raises(GradcheckError, match=r"shape \(3, 2\), input shape \+ output shape"):
        gc.check_gradient(lambda x: a @ np.sin(x), None, x0,
                          jacobian=lambda x: (a * np.cos(x)).T)
    assert gc.check_gradient(lambda x: a @ np.sin(x), None, x0,
                             jacobian=lambda x: a * np.cos(x)).status == "pass"


def test_plot_draws_the_taylor_test_of_a_code_check(tmp_path):
    # issue 13: the fitted orders printed and shown in the plots
    (tmp_path / "loss.py").write_text(
        "import numpy as np\n"
        "def loss(x):\n    return float(np.sum(np.sin(x)))\n"
        "def grad(x):\n    return np.cos(x)\n")
    out = subprocess.run([sys.executable, "-m", "gradcheck_cli", "loss.py:loss", "--input",
                          "x=[0.3, 1.2]", "--gradient", "grad", "--plot", "t.png",
                          "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    png = (tmp_path / "t.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    import json
    curves = json.loads(out.stdout)["checks"][0]["method_info"]["taylor"]["remainders"]["x"]
    assert curves["order"] == 2 and len(curves["h"]) == len(curves["r"]) == 13
