"""README's tour runs as printed: every `$ ...` line of its code blocks, in order, in one fresh folder."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the parts of a training summary that are measured, not computed
TIMING = re.compile(r"[0-9.e+-]+ s/epoch \(start-up and compile [0-9.]+ s\)")


def tour_commands(readme: Path = ROOT / "README.md") -> list[tuple[str, list[str]]]:
    """(command, the output lines README shows for it) for each `$ ` line of the tour's code blocks."""
    text = readme.read_text(encoding="utf-8")
    tour = text.split("\n## A tour\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for tag, block in re.findall(r"^```(\w*)\n(.*?)^```$", tour, flags=re.S | re.M):
        if tag:  # a ```toml block shows a file, not a session
            continue
        for line in block.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif commands:
                commands[-1][1].append(line)
    return commands


def shown_first_line(shown: list[str]) -> str | None:
    """The first line README shows on standard output (the progress bar is standard error's)."""
    lines = [line for line in shown if "epoch/s" not in line]
    return lines[0] if lines else None


def test_the_tour_is_found():
    commands = [c for c, _ in tour_commands()]
    assert len(commands) >= 10
    assert all(c.split()[0] in ("symnet", "sed", "printf") for c in commands), commands
    assert sum(c.startswith("symnet ") for c in commands) >= 8


@pytest.mark.slow
def test_the_tour_runs_as_printed(tmp_path):
    if shutil.which("pdflatex") is None or shutil.which("latexmk") is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex/latexmk missing in CI (.ci/run installs them)")
        pytest.skip("the tour's derive --pdf needs pdflatex and latexmk")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    (tmp_path / "generated").mkdir()
    for values in (ROOT / "generated").glob("*.values.toml"):
        shutil.copy(values, tmp_path / "generated" / values.name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for command, shown in tour_commands():
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        negative = any(line.startswith(("incorrect:", "wrong from layer")) for line in shown)
        assert proc.returncode == (1 if negative else 0), (command, proc.stderr)
        assert "Traceback" not in proc.stderr, (command, proc.stderr)
        expected = shown_first_line(shown)
        if expected is None or expected == "...":
            continue
        actual = proc.stdout.splitlines()[0] if proc.stdout else ""
        assert TIMING.sub("T", actual) == TIMING.sub("T", expected), command
