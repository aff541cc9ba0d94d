"""Plots for teaching: derivatives by each method over a grid, and the
finite-difference step trade-off. matplotlib with the non-interactive Agg backend,
imported only here."""

from __future__ import annotations

import numpy as np

from ..errors import GradcheckError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise GradcheckError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> None:
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as exc:
        raise GradcheckError(f"cannot write plot: {exc.strerror}", source=str(path)) from None


def plot_methods(problem, path) -> None:
    """f and its first derivatives by every method over the check's points, and each
    method's error against the reference on a log scale (as the course's figures
    compare the analytic derivative with autograd)."""
    from ..expression.codegen import evaluate
    from ..columns import get_method
    from ..expression.symbolic import reference
    plt = _pyplot()
    varying = [v for v in problem.variable_names if np.ptp(problem.columns[v]) > 0]
    if problem.npoints < 2:
        raise GradcheckError("--plot needs a grid or sampled points; use --plot-steps at one point")
    axis_name = varying[0] if len(varying) == 1 else None
    x = problem.columns[axis_name] if axis_name else np.arange(problem.npoints)
    order = np.argsort(x)
    ref, _ = reference(problem)
    outputs = {name: get_method(name).compute(problem).values for name in problem.methods}
    for backend in problem.backends:
        outputs[backend.name] = backend.compute(problem).values
    keys = [k for k in problem.keys() if len(k[1]) == 1]
    with np.errstate(all="ignore"):
        f = evaluate(problem.program, problem.column_list(), problem.npoints)
    fig, axes = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    top, bottom = axes
    for i in range(problem.n_outputs):
        top.plot(x[order], f[i][order], color="black", lw=2, label=problem.output_label(i))
    markers = "os^vD<>p"
    for k, key in enumerate(keys):
        top.plot(x[order], ref[key][order], lw=1.5, label=f"{problem.label(key)} reference")
        for j, (name, values) in enumerate(outputs.items()):
            if key not in values:
                continue
            step = max(1, problem.npoints // 25)
            top.plot(x[order][::step], values[key][order][::step], markers[j % len(markers)],
                     ms=4, mfc="none", label=f"{problem.label(key)} {name}")
            err = np.abs(values[key] - ref[key])
            bottom.semilogy(x[order], np.maximum(err[order], 1e-18), lw=1,
                            label=f"{problem.label(key)} {name}")
    top.set_title(f"{problem.name}: f and its derivatives by each method")
    top.legend(fontsize=7, ncol=2)
    top.grid(alpha=0.3)
    bottom.set_title("|method − reference| (30-digit reference; 1e-18 stands for exact)")
    bottom.set_xlabel(axis_name or "point index")
    bottom.legend(fontsize=7, ncol=2)
    bottom.grid(alpha=0.3, which="both")
    _save(fig, path)
    plt.close(fig)


# An error of exactly 0 has no place on a log axis: such points are drawn at this floor,
# as open triangles on the bottom edge, and the legend says so.
EXACT_AT = 1e-17
BOTTOM = 3e-18


def _on_log_axis(errors) -> tuple[np.ndarray, np.ndarray]:
    """(errors with exact zeros raised to EXACT_AT, which points are exactly 0)."""
    errors = np.asarray(errors, dtype=float)
    exact = errors == 0
    return np.where(exact, EXACT_AT, errors), exact


def steps_figure(explanation):
    """The figure of :func:`plot_steps`: finite-difference error against the step h,
    log-log -- the V of truncation (falls as h²) and rounding (grows as ε/h) -- with
    gradcheck's step and the best marked; the legend below the axes, clear of the data."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    any_exact, top, f = False, 10.0, explanation.outputs[0]
    for var, rows in explanation.steps.items():
        h = np.array([r.h for r in rows])
        err, exact = _on_log_axis([r.error for r in rows])
        finite = np.isfinite(err)
        top = max(top, 10 * float(np.max(err[finite], initial=1.0)))
        line, = ax.loglog(h, err, "o-", ms=4, label=f"∂{f}/∂{var}: central difference")
        if exact.any():
            any_exact = True
            ax.loglog(h[exact], err[exact], "v", ms=9, mfc="white", color=line.get_color())
        chosen = next(r for r in rows if r.chosen)
        ax.loglog([chosen.h], _on_log_axis([chosen.error])[0], "*", ms=16,
                  color=line.get_color(), label=f"gradcheck's step h = {chosen.h:.2g}")
        best = min(rows, key=lambda r: r.error)
        ax.annotate(f"smallest error\nh = {best.h:.0e}",
                    (best.h, _on_log_axis([best.error])[0][0]),
                    textcoords="offset points", xytext=(10, 25), fontsize=8,
                    arrowprops={"arrowstyle": "->"})
        value, _bound = explanation.richardson[var]
        rich = abs(value - explanation.reference[var])
        ax.axhline(_on_log_axis([rich])[0][0], ls="--", lw=1, color=line.get_color(),
                   label=f"Richardson at gradcheck's step: error {rich:.1e}")
    hs = np.logspace(-15, -1, 50)
    scale = max((abs(v) for v in explanation.reference.values() if np.isfinite(v)),
                default=1.0) or 1.0
    ax.loglog(hs, scale * hs ** 2, ":", color="gray", label="∝ h² (truncation)")
    ax.loglog(hs, scale * 2.2e-16 / hs, "--", color="gray", label="∝ ε/h (rounding)")
    if any_exact:
        ax.loglog([], [], "v", ms=9, mfc="white", color="gray",
                  label=f"error exactly 0 (drawn at {EXACT_AT:.0e})")
    ax.set_xlabel("step h")
    ax.set_ylabel("|D(h) − reference|")
    ax.set_ylim(BOTTOM, top)
    ax.set_title(f"{explanation.name}: the finite-difference step trade-off")
    ax.grid(alpha=0.3, which="both")
    # below the axes: inside, any corner may hold the V's arms, the Richardson line or a
    # floor of exact zeros
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
              frameon=False)
    return fig


def plot_steps(explanation, path) -> None:
    """Write :func:`steps_figure` as a PNG."""
    plt = _pyplot()
    fig = steps_figure(explanation)
    _save(fig, path)
    plt.close(fig)


def plot_taylor(result, path) -> None:
    """The Taylor test of a code check: r(h) = |f(x + hv) - f(x) - h ∇f·v| against h on
    log axes, with its floor and the slopes h¹ and h² (h² and h³ for a second derivative)
    drawn through the largest step: a right derivative follows the steeper one down to
    the floor, a wrong one the shallower."""
    plt = _pyplot()
    curves = (result.method_info.get("taylor") or {}).get("remainders") or {}
    if not curves:
        raise GradcheckError("--plot: this check has no Taylor test to plot", field="--plot")
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items()):
        h, r, floor = (np.asarray(c[k], dtype=float) for k in ("h", "r", "floor"))
        keep = r > 0
        ax.loglog(h[keep], r[keep], "o-", label="remainder r(h)")
        ax.loglog(h, floor, ":", color="gray", label="floor (rounding, noise, tolerance)")
        for p, style in ((c["order"] - 1, "--"), (c["order"], "-.")):
            anchor = r[0] if r[0] > 0 else 1.0
            ax.loglog(h, anchor * (h / h[0]) ** p, style, color="black", alpha=0.5,
                      label=f"slope h^{p}")
        row = next((row for row in result.rows if ", ".join(row.key[1]) == name), None)
        verdict = row.verdicts.get("taylor") if row is not None else None
        fitted = (f"order {verdict.error:.2f}" if verdict is not None and verdict.error
                  is not None else verdict.status if verdict is not None else "")
        ax.set_title(f"{row.label if row is not None else name}: {fitted}")
        ax.set_xlabel("h")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize="small")
    fig.suptitle(f"Taylor test: {result.name}")
    _save(fig, path)
    plt.close(fig)
