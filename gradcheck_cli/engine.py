"""Your own reverse-mode engine, checked: ``check_engine(f, *values, leaf=Var, gradients=...)``.

An engine in the style of micrograd or the course's reverse-mode-from-scratch
chapter builds a graph of nodes: each has a value and, unless it is a leaf, its
children with the *local* derivative along each edge (``node.grad = [(child,
local), ...]``); a backward pass multiplies along paths and adds over them. Three
things can be wrong, and each gets its own check, so the report says which:

1. **The gradient of the whole function** -- the engine's answer, value and
   gradient from one call, as NumPy code with ``gradient: true``: Richardson finite
   differences with their error estimate and the Taylor test, each input named.
2. **Each operation's local derivatives** (where the engine exposes its graph): all
   nodes of one operation type gathered into one vectorized check, the operation
   rebuilt from perturbed children (``type(node)(*leaves)``) for finite differences
   and its ``grad`` list read as the vector-Jacobian product. A wrong rule fails
   here, named (``Log: var[0]``); a backward pass that sums wrongly passes here and
   fails in 1 -- the traversal, not a rule.
3. **Against gradcheck's own engine** (given ``ops``, what each node type computes in
   gradcheck's expression language): the graph written out as an expression, one
   ``let`` per node, checked like any expression -- SymPy and mpmath at 30 digits,
   gradcheck's reverse and forward engines, finite differences -- with the engine's
   gradient as the ``expect`` column and its forward value against the 30-digit one.

Nothing here knows the engine beyond the attribute names (``value``, ``parents``)
and the leaf class: the node types are whatever the user wrote.
"""

from __future__ import annotations

import inspect

import numpy as np

from .errors import GradcheckError
from .results import CheckResult, Row, RunResult, Verdict


def graph(output, parents: str = "grad") -> list:
    """Every node below ``output`` once, children before parents (no recursion: deep
    graphs are fine, and shared subexpressions are visited once)."""
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child, _ in edges(node, parents))
    return order


def edges(node, parents: str = "grad") -> list:
    """(child, local derivative) pairs of a node; none for a leaf."""
    found = getattr(node, parents, None)
    if found is None:
        return []
    try:
        return [(child, local) for child, local in found]
    except (TypeError, ValueError):
        raise GradcheckError(f"{type(node).__name__}.{parents} must be a list of "
                             "(child, local derivative) pairs") from None


def _number(x, value: str) -> float:
    try:
        return float(getattr(x, value, x))  # a local derivative may itself be a node
    except (TypeError, ValueError):
        raise GradcheckError(f"cannot read a number from a {type(x).__name__}: give value= "
                             "the attribute your nodes keep their value in") from None


def _names(f, count: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[:count] if len(params) >= count else [f"x{i}" for i in range(count)]


def check_engine(f, *values, leaf, gradients, ops: dict | None = None, value: str = "value",
                 parents: str = "grad", rebuild=None, name: str | None = None,
                 **options) -> RunResult:
    """Check a reverse-mode engine on ``f`` at ``values``.

    Args:
        f: f(*leaves) -> the output node, written with the engine's operations.
        values: one float per input of f.
        leaf: the engine's leaf class (``Var``): ``leaf(x)`` makes an input node.
        gradients: the engine's backward pass: ``gradients(output)`` -> {node: d output/d node}.
        ops: {node type: what it computes, as text with ``{0}``, ``{1}`` for its children}
            (``{Sin: "sin({0})", mul: "{0}*{1}"}``): adds the comparison with gradcheck's
            own engine when every node type of the graph is in it.
        value, parents: the attribute names of a node's value and of its
            (child, local derivative) list.
        rebuild: ``rebuild(node_type, children) -> node``, where a node type is not built
            as ``node_type(*children)``.
        options: ``rtol``, ``atol``, ``seed``, ``methods`` (as for code checks).

    Returns:
        A :class:`RunResult`: the whole function, one check per operation type, and the
        comparison with gradcheck's engine (given ``ops``).
    """
    from .usercode import run_callable
    if not values:
        raise GradcheckError("give the point: check_engine(f, *values, leaf=..., gradients=...)")
    try:
        point = [float(v) for v in values]
    except (TypeError, ValueError):
        raise GradcheckError("check_engine takes one number per input of f "
                             "(check_engine(f, 0.5, 1.5, ...)), not arrays") from None
    names = _names(f, len(point))
    label = name or getattr(f, "__name__", "f")
    rebuild = rebuild or (lambda kind, children: kind(*children))

    def value_and_gradient(*xs):
        leaves = [leaf(float(x)) for x in xs]
        out = f(*leaves)
        found = gradients(out)
        return _number(out, value), tuple(_number(found.get(v, 0.0), value) for v in leaves)
    value_and_gradient.__qualname__ = f"{label} (value, {gradients.__name__})"

    results = [run_callable({"callable": value_and_gradient, "gradient": True,
                             "arguments": ([np.array(x) for x in point], {}, names, []),
                             **options},
                            source="<python>", label=f"{label}: the engine's gradient")]
    leaves = [leaf(x) for x in point]
    nodes = graph(f(*leaves), parents)
    groups = _by_type(nodes, parents)
    if not groups:
        results[0].notes.append(
            f"no operation node found below the output (no node has a {parents!r} list of "
            "(child, local derivative) pairs): give parents= the attribute your engine uses; "
            "only the whole gradient was checked")
    for kind, group in groups.items():
        try:
            results.append(_op_check(kind, group, leaf, value, parents, rebuild, label,
                                     options))
        except GradcheckError as exc:   # one operation that cannot be checked, said alone
            results.append(CheckResult.errored(f"{label}: {kind[0].__name__}", "<python>",
                                               str(exc), kind="code"))
    if ops and groups:
        missing = sorted({type(n).__name__ for n in nodes if edges(n, parents)} -
                         {k.__name__ for k in ops})
        if missing:
            results.append(CheckResult.errored(
                f"{label}: against gradcheck's engine", "<python>",
                f"ops has no text for {', '.join(missing)}: give each node type's expression "
                "({0}, {1} for its children)", kind="code"))
        else:
            results.append(_against_ours(nodes, leaves, names, ops, gradients, value, parents,
                                         label, options))
    return RunResult(results)


def assert_engine(f, *values, **options) -> RunResult:
    """:func:`check_engine` for tests: AssertionError with the tables unless all pass."""
    from .report.table import render
    run = check_engine(f, *values, **options)
    if any(r.status != "pass" for r in run.checks):
        raise AssertionError("\n" + render(run))
    return run


def _by_type(nodes, parents) -> dict:
    """Operation nodes grouped by (type, number of children), in graph order."""
    groups: dict = {}
    for node in nodes:
        if edges(node, parents):
            groups.setdefault((type(node), len(edges(node, parents))), []).append(node)
    return groups


def _op_check(kind, group, leaf, value, parents, rebuild, label, options):
    from .usercode import run_callable
    node_type, arity = kind
    title = f"{label}: {node_type.__name__} ({len(group)} node{'s' * (len(group) > 1)})"
    init = getattr(node_type, "__init__", None)
    names = _names(init, arity + 1)[1:] if init is not None else []
    names = names if len(names) == arity else [f"x{j}" for j in range(arity)]
    columns = [np.array([_number(edges(n, parents)[j][0], value) for n in group])
               for j in range(arity)]

    def build(xs, i):
        try:
            return rebuild(node_type, [leaf(float(x[i])) for x in xs])
        except Exception as exc:
            raise GradcheckError(f"rebuilding {node_type.__name__} from its children failed "
                                 f"({type(exc).__name__}: {exc}): pass rebuild=") from None

    def op(*xs):
        return np.array([_number(build(xs, i), value) for i in range(len(group))])

    def op_vjp(u, *xs):
        local = np.array([[_number(d, value) for _, d in edges(build(xs, i), parents)]
                          for i in range(len(group))]).reshape(len(group), arity)
        return tuple(np.asarray(u) * local[:, j] for j in range(arity))

    op.__qualname__ = node_type.__name__
    op_vjp.__qualname__ = f"{node_type.__name__}.{parents} (its local derivatives)"
    recorded = np.array([_number(n, value) for n in group])
    rebuilt = op(*columns)
    if not np.array_equal(recorded, rebuilt, equal_nan=True):
        return CheckResult.errored(
            title, "<python>", f"{node_type.__name__}({', '.join(names)}) rebuilt from its "
            "children does not give the value the graph holds: its children are not its "
            "constructor's arguments in order; pass rebuild=", kind="code")
    result = run_callable({"callable": op, "vjp": op_vjp,
                           "arguments": (columns, {}, names, []), **options},
                          source="<python>", label=title)
    result.notes.append(f"{names[0]}[i] is the i-th {node_type.__name__} node from the "
                        "inputs up; its local derivatives are checked where the graph "
                        "evaluated them")
    return result


def _operand(text: str) -> str:
    """A child's name as an operand: a negative constant leaf in parentheses."""
    return f"({text})" if text.startswith("-") else text


def _against_ours(nodes, leaves, names, ops, gradients, value, parents, label, options):
    """The graph as an expression (a let per node), checked with the engine's gradient as
    ``expect`` and its forward value against the 30-digit one."""
    from .api import build_problem, run_problem
    from .expression.symbolic import reference
    symbol = {id(v): n for v, n in zip(leaves, names)}
    texts = {k.__name__: t for k, t in ops.items()}
    lets = {}
    for node in nodes:
        children = edges(node, parents)
        if not children:
            if id(node) not in symbol:
                symbol[id(node)] = repr(_number(node, value))  # a constant leaf
            continue
        text = texts[type(node).__name__]
        lets[f"v{len(lets) + 1}"] = text.format(*(_operand(symbol[id(c)]) for c, _ in children))
        symbol[id(node)] = f"v{len(lets)}"
    output = nodes[-1]
    found = gradients(output)
    expect = {n: repr(_number(found.get(v, 0.0), value)) for v, n in zip(leaves, names)}
    check = {"f": symbol[id(output)], "let": lets, "at": dict(zip(names, (_number(v, value)
             for v in leaves))), "expect": expect, "backend": "none",
             "name": f"{label}: against gradcheck's engine",
             **{k: v for k, v in options.items() if k in ("rtol", "atol", "seed")}}
    problem = build_problem(check, source="<python>")
    result = run_problem(problem)
    exact = float(reference(problem)[0][(0, ())][0])
    mine = _number(output, value)
    tolerance = 64 * np.finfo(np.float64).eps * max(abs(exact), 1e-300)
    wrong = not abs(mine - exact) <= tolerance
    result.rows.append(Row(key=(0, ()), label="f (value)", ref_min=exact, ref_max=exact,
                           verdicts={"expect": Verdict(
                               "expect", "fail" if wrong else "pass", compared=1,
                               wrong=int(wrong), error=abs(mine - exact) / max(abs(exact), 1e-300),
                               worst=0, value=mine, reference=exact, tolerance=tolerance)}))
    result.notes.append("expect: the engine's gradient (its printed numbers) and, on the row "
                        "f (value), its forward value; the graph as gradcheck reads it: " +
                        "; ".join(f"{k} = {t}" for k, t in lets.items()))
    return result
