"""Complex expressions (dtype: complex128) through their real and imaginary parts, and the
holomorphy note (gradcheck_cli/expression/complexes.py)."""

import pytest

import gradcheck_cli


def check(f, **options):
    options.setdefault("backend", "none")
    (result,) = gradcheck_cli.check(f, dtype="complex128", **options).checks
    return result


def test_holomorphic_function_and_its_derivative():
    r = check("z**3 + exp(z)", at={"z": "1+2j"})
    assert r.status == "pass"
    assert [row.label for row in r.rows] == ["∂Re f/∂Re z", "∂Re f/∂Im z", "∂Im f/∂Re z",
                                              "∂Im f/∂Im z"]
    assert any("is holomorphic in z" in n for n in r.notes)
    # f'(1+2j) = 3 z^2 + e^z = -9+12j + e(cos 2 + i sin 2)
    ux = next(row.ref_min for row in r.rows if row.label == "∂Re f/∂Re z")
    assert ux == pytest.approx(-9 + 2.718281828459045 * -0.4161468365471424, rel=1e-14)


def test_non_holomorphic_function_is_stated_with_its_wirtinger_derivatives():
    r = check("abs(z)**2", at={"z": "0.5-1j"})   # |z|^2 = z conj(z): not holomorphic
    assert r.status == "pass"
    note = next(n for n in r.notes if "holomorphic" in n)
    assert "is not holomorphic" in note
    assert "∂f/∂z = 0.5+1j" in note and "∂f/∂conj(z) = 0.5-1j" in note


def test_re_im_conj_of_a_complex_variable():
    r = check("re(z)*im(z) + conj(z)**2", at={"z": "1.5-0.5j"})
    assert r.status == "pass" and any("is not holomorphic" in n for n in r.notes)
    assert check("re(x) + im(x)", at={"x": "1+1j"}).status == "pass"


def test_expect_is_the_complex_derivative():
    assert check("z**3", at={"z": "1+2j"}, expect={"z": "3*z**2"}).status == "pass"
    assert check("z**3", at={"z": "1+2j"}, expect={"z": "3*z"}).status == "fail"
    # f'(z) does not exist for conj(z): an expect of one fails
    assert check("conj(z)", at={"z": "1+2j"}, expect={"z": "1"}).status == "fail"


def test_framework_columns_on_the_real_parts():
    pytest.importorskip("torch")
    r = check("log(z) * sin(z)", at={"z": ["1+1j", "2-0.5j"]}, backend="torch")
    assert r.status == "pass" and "torch·rev" in r.methods


@pytest.mark.parametrize("f, message", [("relu(z)", "no complex meaning"),
                                        ("atan(z)", "cannot split")])
def test_what_cannot_be_split_is_refused_by_name(f, message):
    r = check(f, at={"z": "1+1j"})
    assert r.status == "error" and message in r.error and "field 'f'" in r.error


def test_complex_points_need_a_complex_dtype_and_no_grid():
    (r,) = gradcheck_cli.check("x**2", at={"x": "1+2j"}, backend="none").checks
    assert r.status == "error" and "needs dtype: complex128" in r.error
    r = check("z**2", grid={"z": [0, 1, 3]})
    assert r.status == "error" and "field 'grid'" in r.error
