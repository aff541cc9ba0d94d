"""specs/engine/tinyad.py's backward pass as NumPy code a spec can check: each function
returns (value, gradient) from one forward and one backward pass of the engine, as
``gradient: true`` expects. The op-by-op check and the comparison with gradcheck's own
engine need the Python API: ``gradcheck_cli.check_engine`` (docs/own-engine.md)."""

import numpy as np
from tinyad import Var, get_gradients, seed_f1, seed_f2, topological


def _engine(f, *xs, gradients=get_gradients):
    leaves = [Var(float(x)) for x in xs]
    out = f(*leaves)
    found = gradients(out)
    return out.value, tuple(np.float64(found.get(v, 0.0)) for v in leaves)


def f1(a, b):
    """(a/b - a)(b/a + a + b)(a - b): the chapter prints -153284.83150602411, 3815.0389441500993."""
    return _engine(seed_f1, a, b)


def f2(a, b, c):
    """log(f²)·c, f = sin(ab) + exp(c - a/b): 60.85353612046653, 872.2331479536114, -3.2853671032530305."""
    return _engine(seed_f2, a, b, c)


def gradients_overwriting(output):
    """The classic traversal bug: a node reached along two paths keeps the last one."""
    gradients = {output: 1.0}
    for node in reversed(topological(output)):
        for child, local in getattr(node, "grad", []):
            gradients[child] = local * gradients.get(node, 0.0)   # = where += belongs
    return gradients


def f2_paths_not_added(a, b, c):
    """The classic traversal bug: a node reached along two paths keeps only the last."""
    return _engine(seed_f2, a, b, c, gradients=gradients_overwriting)
