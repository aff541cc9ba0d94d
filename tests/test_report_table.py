"""The terminal table: every number whole at any width, error rows, failure counts,
one function building what the terminal and Jupyter show.

Results are built directly from gradcheck_cli.results, so these tests need no
expression, no SymPy and no framework.
"""

import numpy as np
import pytest
from rich.cells import cell_len
from rich.console import Console

from gradcheck_cli.report.table import check_renderable, print_check, print_run, render
from gradcheck_cli.results import CheckResult, Row, RunResult, Verdict

METHODS = ["symbolic", "fd", "reverse", "torch·rev", "torch·fwd", "jax·rev", "jax·fwd",
           "tensorflow·rev", "tensorflow·fwd", "expect"]
LABELS = ["∂f/∂x", "∂²f/∂x∂y", "SigmoidNet.my_dense_1.W"]
# (min, max) and how the reference column must show each bound
REFS = [(-1.22666, -1.22666, ["-1.22666"]),
        (-0.0075583, 0.0066761, ["-0.007558", "0.006676"]),
        (-1600.0, 3.5e-05, ["-1600", "3.5e-05"])]
WIDTHS = [40, 60, 80, 100, 200]


def wide_check():
    """Ten method columns, a long row label, a range per row, a distinct error per cell;
    the failing cell has 12 of 40 values wrong. Returns the check and every text that
    must appear whole."""
    rows, texts = [], []
    for i, (label, (low, high, shown)) in enumerate(zip(LABELS, REFS)):
        verdicts = {}
        for j, m in enumerate(METHODS):
            text = f"{i + 1}.{j}e-{10 + j}"          # unique, and what the cell must show
            verdicts[m] = Verdict(m, "pass", compared=40, error=float(text))
            texts.append(text)
        rows.append(Row(key=(0, ("x",) * (i + 1)), label=label, ref_min=low, ref_max=high,
                        verdicts=verdicts))
        texts += shown + [label]
    # an absolute error (instead of 2.2e-12), a failure (instead of 1.3e-13)
    rows[1].verdicts["reverse"] = Verdict("reverse", "pass", compared=40, error=2.5e-15,
                                          error_kind="abs")
    rows[0].verdicts["torch·rev"] = Verdict("torch·rev", "fail", compared=40, wrong=12,
                                            error=5.0, worst=1, value=3.0, reference=2.0,
                                            tolerance=1e-12, reason="outside tolerance")
    texts = [t for t in texts if t not in ("2.2e-12", "1.3e-13")] + ["abs 2.5e-15", "5.0e+00"]
    check = CheckResult(name="sigmoid", source="specs/net.yaml", expression=["f"], lets={},
                        variables=["x"], wrt=["x"], order=2, npoints=40, methods=METHODS,
                        rows=rows, points={"x": np.linspace(0.0, 39.0, 40)})
    return check, texts


def assert_whole(text, texts, width=None):
    for t in texts:
        assert t in text, f"{t!r} is cut or missing:\n{text}"
    assert "…" not in text, text
    if width is not None:
        too_long = [line for line in text.splitlines() if cell_len(line.rstrip()) > width]
        assert not too_long, too_long


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("timings", [False, True])
def test_every_number_is_whole_at_any_width(width, timings):
    check, texts = wide_check()
    check.timings = {m: 0.0213 for m in METHODS}
    text = render(RunResult([check]), width=width, timings=timings)
    assert_whole(text, texts, width)
    assert "outside tolerance at x=1 (12 of 40 values)" in " ".join(text.split())


@pytest.mark.parametrize("width", [20, 30])
def test_even_narrower_no_number_is_cut(width):
    # below 40 columns a long label may fold and 'abs' may part from its number,
    # but each number stays on one line
    check, texts = wide_check()
    text = render(RunResult([check]), width=width)
    numbers = [w for t in texts if t not in LABELS for w in t.split() if w[-1].isdigit()]
    assert_whole(text, numbers, width)


@pytest.mark.parametrize("columns", ["40", "80", None])
def test_piped_output_keeps_every_number_whole(columns, monkeypatch, capsys):
    # print_run's own console: not a terminal under capsys; COLUMNS set or not
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    check, texts = wide_check()
    print_run(RunResult([check]))
    out = capsys.readouterr().out
    assert_whole(out, texts, None if columns is None else int(columns))
    if columns is None:  # a log has no width to fit: one table, every method in its header
        assert "split" not in out and "one line per" not in out
        header = next(line for line in out.splitlines() if "symbolic" in line)
        assert all(name in header for name in ("tensorflow·rev", "expect", "verdict"))


def test_narrow_layouts_say_so():
    check, _ = wide_check()
    wide = render(RunResult([check]), width=200)
    assert "split" not in wide and "one line per" not in wide
    assert "the columns are split into" in render(RunResult([check]), width=100)
    narrow = render(RunResult([check]), width=40)
    assert "one line per derivative and method, to fit 40 columns" in " ".join(narrow.split())
    # one line per method: the method's name and its cell on the same line
    assert any(line.split() == ["tensorflow·fwd", "✓", "1.8e-18"] for line in narrow.splitlines())


def test_reference_range_reads_min_to_max():
    check, _ = wide_check()
    assert "-0.007558 to 0.006676" in render(RunResult([check]), width=200)


def test_failure_line_counts_the_wrong_values():
    check, _ = wide_check()
    text = render(RunResult([check]), width=200)
    assert "✗ ∂f/∂x by torch·rev: outside tolerance at x=1 (12 of 40 values)" in text
    assert "got 3, reference 2, |difference| 1 > tolerance 1e-12" in text
    check.rows[0].verdicts["torch·rev"].wrong = 1   # one wrong value is the worst one: no count
    text = render(RunResult([check]), width=200)
    assert "outside tolerance at x=1\n" in text and "of 40 values" not in text


def errored(kind="expression"):
    return CheckResult.errored("broken", "specs/bad.yaml",
                               "field 'grd': unknown; did you mean 'grid'?", kind)


def test_error_rows_are_shown_and_counted():
    check, _ = wide_check()
    passing = CheckResult(name="fine", source="specs/ok.yaml", expression=["x"], lets={},
                          variables=["x"], wrt=["x"], order=1, npoints=1, methods=["reverse"],
                          rows=[Row((0, ("x",)), "∂f/∂x", 1.0, 1.0,
                                    {"reverse": Verdict("reverse", "pass", 1, error=0.0)})])
    run = RunResult([passing, check, errored(), errored("code")], seconds=0.5)
    text = render(run)
    assert "! broken  specs/bad.yaml\n  field 'grd': unknown; did you mean 'grid'?" in text
    assert "4 checks: 1 passed, 1 failed, 2 errors (0.50 s)" in text
    quiet = render(run, quiet=True)
    assert "did you mean 'grid'" in quiet and "fine" not in quiet


def test_summary_names_a_single_error():
    assert "1 check: 0 passed, 1 error" in render(RunResult([errored()]))


def test_inconclusive_cell_shows_its_figure():
    check, _ = wide_check()
    check.rows[1].verdicts["fd"] = Verdict("fd", "inconclusive", compared=40, error=0.25)
    text = render(RunResult([check]), width=200)
    assert "? 2.5e-01" in text and "✓ 2.5e-01" not in text


REAL_ANALYTIC = ("complex step needs a real-analytic f; abs is not (a kink or a jump has "
                 "no complex extension)")


def with_na_columns(check):
    """fd n/a on two rows (one reason), reverse n/a on one: two distinct notes."""
    for row in check.rows[1:]:
        row.verdicts["fd"] = Verdict("fd", "n/a", reason=REAL_ANALYTIC)
    check.rows[2].verdicts["reverse"] = Verdict("reverse", "n/a", reason="up to order 2")
    return check


def test_each_na_reason_is_a_note_once_per_column():
    check = with_na_columns(wide_check()[0])
    text = render(RunResult([check]), width=400)
    assert text.count(f"· finite diff n/a: {REAL_ANALYTIC}\n") == 1, text
    assert text.count("· reverse n/a: up to order 2\n") == 1
    assert text.index("finite diff n/a") < text.index("reverse n/a")  # in column order
    # below the table and the failures, with the other notes
    assert text.index("✗ ∂f/∂x by torch·rev") < text.index("finite diff n/a")
    # at any width the reason is printed whole, wrapped at spaces
    narrow = " ".join(render(RunResult([check]), width=60).split())
    assert narrow.count(f"finite diff n/a: {REAL_ANALYTIC}") == 1


def test_no_na_note_without_an_na_column():
    check, _ = wide_check()
    assert " n/a:" not in render(RunResult([check]), width=200)
    # nor for an n/a without a reason, nor for a skipped check (its own line says why)
    check.rows[0].verdicts["fd"] = Verdict("fd", "n/a")
    assert " n/a:" not in render(RunResult([check]), width=200)
    skipped = CheckResult(name="1/x", source="<command line>", expression=["1/x"], lets={},
                          variables=["x"], wrt=["x"], order=1, npoints=1, methods=["reverse"],
                          rows=[Row((0, ("x",)), "∂f/∂x", None, None, {"reverse": Verdict(
                              "reverse", "n/a", reason="no value to compare")})])
    text = render(RunResult([skipped]), width=200)
    assert "skipped: nothing to compare: no value to compare" in text and " n/a:" not in text


def test_terminal_and_jupyter_show_the_same_lines():
    check, _ = wide_check()
    check.xfail = "known"
    check.notes = ["reference: SymPy with mpmath at 30 digits at every point"]

    def export(print_it):
        console = Console(record=True, width=100, no_color=True, file=_Null())
        print_it(console)
        return console.export_text()

    terminal = export(lambda console: print_check(check, console))
    jupyter = export(lambda console: console.print(check_renderable(check)))
    assert terminal == jupyter
    assert "got 3, reference 2" in jupyter and "expected to fail: known" in jupyter
    assert "got 3, reference 2" in check._repr_html_()


class _Null:
    def write(self, _):
        return 0

    def flush(self):
        pass
