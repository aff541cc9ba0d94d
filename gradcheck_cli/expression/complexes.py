"""Complex expressions (``dtype: complex128``): f(z) checked through its real and imaginary parts.

Each complex variable z becomes two real ones, ``z_re`` and ``z_im``, and each
output f becomes two, Re f and Im f, split by SymPy (``expand_complex``) where
it can: polynomials, quotients, exp, log, powers and roots (principal branch),
the trigonometric and hyperbolic functions, abs and conj. What SymPy cannot
split (atan of a complex argument) is refused with the function's name. The
real map (Re z, Im z) -> (Re f, Im f) then goes through every method as any
other check: its Jacobian *is* the complex derivative, whatever the convention.

Whether f is holomorphic is decided from the 30-digit reference at the points
checked (the Cauchy-Riemann equations), and stated in the report with f'(z),
or with both Wirtinger derivatives when it is not.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import GradcheckError
from .functions import cbrt, relu, sigmoid, softplus

COMPLEX_DTYPES = {"complex128": "float64", "complex64": "float32"}
# our functions through their elementary form; the piecewise ones have no complex meaning
_ELEMENTARY = (sigmoid, softplus)
_REAL_ONLY = (relu, cbrt, sp.Max, sp.Min, sp.sign, sp.Heaviside, sp.erf, sp.atan2)


def parts(name: str) -> tuple[str, str]:
    return f"{name}_re", f"{name}_im"


def split(outputs: list, variables: list) -> tuple[list, list]:
    """(real outputs [Re f1, Im f1, ...], real variables [z_re, z_im, ...]).

    Raises:
        GradcheckError: a function with no complex meaning here, or one SymPy
            cannot split into real and imaginary parts.
    """
    subs, real_vars = {}, []
    for v in variables:
        re, im = (sp.Symbol(n, real=True) for n in parts(v.name))
        subs[v] = re + sp.I * im
        real_vars += [re, im]
    result = []
    for f in outputs:
        for node in sp.preorder_traversal(f):
            if isinstance(node, _REAL_ONLY):
                raise GradcheckError(f"{type(node).__name__.lower()}() has no complex "
                                     "meaning here: a complex check takes + - * / **, exp, "
                                     "log, sqrt, trigonometric and hyperbolic functions, abs")
        g = f.replace(lambda e: isinstance(e, _ELEMENTARY), lambda e: e._elementary())
        expanded = sp.expand_complex(g.xreplace(subs))
        for part in (sp.re(expanded), sp.im(expanded)):
            part = part.replace(sp.arg, lambda a: sp.atan2(sp.im(a), sp.re(a)))
            if part.has(sp.re, sp.im, sp.arg, sp.conjugate):
                raise GradcheckError(f"SymPy cannot split {f} into real and imaginary parts "
                                     "(atan and the inverse functions of a complex argument "
                                     "are not supported)")
            result.append(part)
    return result, real_vars


def point(value, name: str) -> complex:
    """A complex point as given: 1+2j (a string, or a number)."""
    if isinstance(value, (int, float, complex)) and not isinstance(value, bool):
        return complex(value)
    try:
        return complex(str(value).replace(" ", "").replace("i", "j"))
    except ValueError:
        raise GradcheckError(f"value of {name!r} is not a complex number: write 1+2j") from None


def holomorphy(problem, ref: dict, complex_vars: list[str]) -> list[str]:
    """Notes: for each output and complex variable, holomorphic (the Cauchy-Riemann
    equations hold at every point) with f'(z), or not, with its Wirtinger derivatives."""
    notes = []
    n_out = problem.n_outputs // 2
    for k in range(n_out):
        for z in complex_vars:
            re, im = parts(z)
            keys = [(2 * k, (re,)), (2 * k, (im,)), (2 * k + 1, (re,)), (2 * k + 1, (im,))]
            if not all(key in ref for key in keys):
                continue
            ux, uy, vx, vy = (ref[key] for key in keys)
            scale = np.abs(ux) + np.abs(uy) + np.abs(vx) + np.abs(vy) + 1e-300
            with np.errstate(invalid="ignore"):
                gap = (np.abs(ux - vy) + np.abs(uy + vx)) / scale
            ok = np.isfinite(gap)
            if not ok.any():
                continue
            f = "f" if n_out == 1 else f"f{k + 1}"
            i = int(np.argmax(ok))
            if np.all(gap[ok] < 1e-20):
                notes.append(f"{f} is holomorphic in {z} (Cauchy-Riemann hold at every point "
                             f"checked): {f}'({z}) = ∂(Re {f})/∂(Re {z}) + i ∂(Im {f})/∂(Re "
                             f"{z}), e.g. {_c(ux[i], vx[i])}")
            else:
                j = int(np.argmax(np.where(ok, gap, -1)))
                dz = _c((ux[j] + vy[j]) / 2, (vx[j] - uy[j]) / 2)
                dzbar = _c((ux[j] - vy[j]) / 2, (vx[j] + uy[j]) / 2)
                notes.append(f"{f} is not holomorphic in {z} (Cauchy-Riemann fail, e.g. at "
                             f"{z}={_c(problem.columns[re][j], problem.columns[im][j])}): "
                             f"its Wirtinger derivatives there are ∂{f}/∂{z} = {dz} and "
                             f"∂{f}/∂conj({z}) = {dzbar} (zero only where f is holomorphic)")
    return notes


def _c(re: float, im: float) -> str:
    return f"{re:.6g}{im:+.6g}j"


def real_form(merged: dict, outputs: list, lets: list, variables: list, parse):
    """A complex check restated over real variables: (options, outputs, variables, display
    names, output names, expect). ``at`` and ``sample`` give complex points (1+2j; a
    sample box [low, high] for both parts); ``wrt`` and ``expect`` name the complex
    variables (expect f'(z), for a holomorphic f); ``grid`` is refused.

    Raises:
        GradcheckError: naming the field (the caller locates it).
    """
    subs = {}
    for sym, expr in lets:  # inline: the split works on whole expressions
        subs[sym] = expr.xreplace(subs)
    outputs = [o.xreplace(subs) for o in outputs]
    real_outputs, real_vars = split(outputs, variables)
    names = [v.name for v in variables]
    merged = dict(merged, dtype=COMPLEX_DTYPES[merged["dtype"]])
    if merged.get("grid"):
        raise GradcheckError("a complex variable takes points in 'at' (1+2j) or 'sample' "
                             "([low, high] for both parts), not 'grid'", field="grid")
    at = {}
    for name, value in (merged.get("at") or {}).items():
        values = value if isinstance(value, list) else [value]
        zs = [point(v, name) for v in values]
        re, im = parts(name)
        at[re] = [z.real for z in zs] if isinstance(value, list) else zs[0].real
        at[im] = [z.imag for z in zs] if isinstance(value, list) else zs[0].imag
    merged["at"] = at or None
    merged["sample"] = {p: box for name, box in (merged.get("sample") or {}).items()
                        for p in parts(name)} or None
    wrt = merged.get("wrt")
    if wrt:
        wrt = wrt if isinstance(wrt, list) else [w for w in str(wrt).replace(",", " ").split()]
        merged["wrt"] = [p for w in wrt for p in parts(w)]
    display = {p: f"{'Re' if p.endswith('_re') else 'Im'} {n}" for n in names for p in parts(n)}
    n_out = len(outputs)
    output_names = tuple(f"{part} {'f' if n_out == 1 else f'f{k + 1}'}"
                         for k in range(n_out) for part in ("Re", "Im"))
    expect = {}
    for key, value in (merged.pop("expect", None) or {}).items():
        z = str(key).strip()
        if z not in names:
            raise GradcheckError(f"expect key {key!r}: a complex check expects f'(z) for a "
                                 f"variable z ({', '.join(names)})", field="expect")
        values = value if isinstance(value, list) else [value]
        if len(values) != n_out:
            raise GradcheckError(f"expect key {key!r}: give {n_out} values, one per output",
                                 field="expect")
        re, im = parts(z)
        for k, text in enumerate(values):
            (u, v), _ = split([parse(text)], variables)
            # f'(z) = u + iv: ∂Re f/∂x = u, ∂Im f/∂x = v, ∂Re f/∂y = -v, ∂Im f/∂y = u
            expect[(2 * k, (re,))], expect[(2 * k + 1, (re,))] = u, v
            expect[(2 * k, (im,))], expect[(2 * k + 1, (im,))] = -v, u
    return merged, real_outputs, real_vars, display, output_names, expect
