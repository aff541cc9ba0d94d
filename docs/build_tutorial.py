"""Regenerate docs/tutorial.md from docs/tutorial.in.md by running every command.

Run from the repository root: python docs/build_tutorial.py

``{{gradcheck ...}}`` becomes a console block with the command's real output
(and its exit status when not 0); ``{{file PATH}}`` is replaced by the file.
tests/test_tutorial.py re-runs every command and compares the numbers shown.
"""

import os
import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(match: re.Match) -> str:
    command = match.group(1)
    if command.startswith("file "):
        return (ROOT / command[5:]).read_text().rstrip()
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1")
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, env=env, cwd=ROOT)
    text = "\n".join(line.rstrip() for line in (out.stdout + out.stderr).rstrip().splitlines())
    block = f"```console\n$ {command}\n{text}\n"
    if out.returncode:
        block += f"$ echo $?\n{out.returncode}\n"
    return block + "```"


if __name__ == "__main__":
    template = (ROOT / "docs" / "tutorial.in.md").read_text()
    (ROOT / "docs" / "tutorial.md").write_text(re.sub(r"\{\{(.+?)\}\}", run, template) + "\n")
