"""Every command of docs/tutorial.md runs, with the exit code the page shows."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradcheck_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "docs" / "tutorial.md").read_text()
BLOCKS = re.findall(r"```console\n(.*?)```", TEXT, re.S)


def commands():
    for block in BLOCKS:
        lines = block.splitlines()
        command = lines[0][2:]
        code = int(lines[lines.index("$ echo $?") + 1]) if "$ echo $?" in lines else 0
        yield command, code, "\n".join(lines[1:])


@pytest.mark.parametrize("command, code, shown", list(commands()),
                         ids=[c[0][:60] for c in commands()])
def test_tutorial_command(command, code, shown, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    # write plots and graphs to a temporary folder, not over the docs' images
    args = [str(tmp_path / Path(a).name) if a.startswith("docs/img/") else a for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    # the numbers the page shows are the numbers the command prints
    # (six or more decimals: timings print five and differ run to run)
    for number in re.findall(r"-?\d+\.\d{6,}", shown)[:20]:
        assert number in result.output, number


def test_tutorial_covers_the_seed_examples():
    assert len(BLOCKS) >= 8
    for needle in ("exp(sin(x**2))", "sigmoid_neuron", "sin(pi*x)", "log(x - 1)",
                   "abs(x)", "exp(y)", "--plot-steps", "--graph", "complex-step"):
        assert needle in TEXT


def test_tutorial_measures_forward_against_reverse_both_ways():
    chapter = TEXT[TEXT.index("## 3. Forward mode against reverse mode"):
                   TEXT.index("## 4. ")]
    assert "2 + 0.54030231 = 2.5403023" in chapter                  # a sum of adjoints
    assert "│forward mode │  4 (one per input) │" in chapter        # one output, 4 inputs
    assert "│reverse mode │ 4 (one per output) │" in chapter        # one input, 4 outputs
    assert chapter.count("Measured: ") == 3
