"""The README's examples run as written, and running them changes no file that git tracks.

Every ```python block of README.md runs top to bottom in one namespace, in a subprocess started
in the repository root, with the few literals of `SMALLER` swapped for cheaper ones (each of
those README lines says how long the full-size one takes). A few cheap commands from its
```bash blocks run the same way, and one notebook at the small budget. `git status` before and
after must agree: examples write under the ignored ``runs/`` only.

The git comparison reads the working tree, so it is meant for a tree nobody else is editing
while it runs (CI's fresh clone, or your own checkout).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# README literal -> the test's cheaper one. Each README line holding a key says how long the
# full-size line takes on a 2-core machine (test_every_smaller_literal_is_documented_with_its_time).
SMALLER = {
    "total_timesteps=20_000": "total_timesteps=2_000",
    "total_timesteps=40_000": "total_timesteps=3_000",
    "total_timesteps=30_000": "total_timesteps=2_048",
    'solver_dataset(bank, "train", per_length=1000)': 'solver_dataset(bank, "train", per_length=3)',
    "imitate(cnn_config, data, updates=6000)": "imitate(cnn_config, data, updates=5)",
    "student.evaluate(episodes=100, per_length=True)": "student.evaluate(episodes=2, per_length=True)",
    "agent.evaluation_puzzles(500)": "agent.evaluation_puzzles(20)",
}
# Appended to the README's code: remove the training run and the sweep it made (the names they
# took are only known inside the script); everything else it writes is overwritten or topped up
# when it runs again.
CLEANUP = "\nimport shutil\n\nshutil.rmtree(run.run_dir)\nshutil.rmtree(sweep.folder)\n"

# README ```bash lines cheap enough to run here, by how they start; each is documented once.
COMMANDS = {
    "version": "gridlab --version",
    "top_up_committed_bank": "gridlab puzzles generate banks/8x8-2 ",
    "show_bank": "gridlab puzzles show banks/8x8-2 ",
    "evaluate": "gridlab evaluate checkpoints/random5x5_small_cnn ",
    "saliency": "gridlab saliency checkpoints/random5x5_small_cnn ",
    "small_notebook": "python notebooks/execute.py --small 02_checkpoint_and_activations.ipynb",
}
DURATION = re.compile(r"\b\d[\d,.]*\s*(s|min|minutes?|h|hours?)\b.*\b2 cores\b")


def fenced_blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def readme_code() -> str:
    return "\n".join(fenced_blocks("python"))


def documented_command(start: str) -> str:
    """The one README bash line beginning with ``start``, its continuation lines joined and its
    trailing comment dropped."""
    text = "\n".join(fenced_blocks("bash")).replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.startswith(start)]
    assert len(lines) == 1, f"expected one README command starting {start!r}, found {lines}"
    return re.sub(r"\s+#.*$", "", lines[0]).strip()


HEAD = ":HEAD"  # tree_state's entry for the commit checked out


def tree_state() -> dict[str, str] | None:
    """``{path: "XY sha256"}`` of every path `git status` lists (changed, staged or untracked
    but not ignored), and `HEAD`; None outside a git checkout of this repository."""
    try:
        top, head = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        listing = subprocess.run(
            ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    if Path(top).resolve() != ROOT:
        return None
    state = {HEAD: head}
    entries = iter(listing.split(b"\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2].decode(), entry[3:].decode()
        if status[0] in "RC":
            next(entries)  # a rename or copy is followed by its source path
        file = ROOT / path
        state[path] = f"{status} {hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else '-'}"
    return state


@dataclass
class Finished:
    """What one subprocess did."""

    what: str
    returncode: int
    output: str

    def failure(self) -> str:
        return f"{self.what} exited with {self.returncode}:\n{self.output[-6000:]}"


@dataclass
class ReadmeRun:
    code: Finished
    commands: dict[str, Finished]
    before: dict[str, str] | None
    after: dict[str, str] | None


def run(what: str, argv: list[str], timeout: int) -> Finished:
    path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")  # this env's gridlab
    env = os.environ | {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PATH": path}
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return Finished(what, done.returncode, done.stdout + done.stderr)


def smaller(code: str) -> str:
    for literal, cheaper in SMALLER.items():
        code = code.replace(literal, cheaper)
    return code


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> ReadmeRun:
    """Runs the README's code and commands once, between two snapshots of the git status."""
    before = tree_state()
    script = tmp_path_factory.mktemp("readme") / "readme.py"
    script.write_text(smaller(readme_code()) + CLEANUP)
    code = run("the README's python blocks", [sys.executable, str(script)], timeout=1500)
    commands = {}
    for name, start in COMMANDS.items():
        command = documented_command(start)
        commands[name] = run(command, ["bash", "-c", command], timeout=900)
        written = re.search(r"^written to (\S+)$", commands[name].output, flags=re.MULTILINE)
        if name == "evaluate" and written:  # a new report each time (evaluation-2.json, ...): take it away
            (ROOT / written.group(1)).unlink(missing_ok=True)
    return ReadmeRun(code, commands, before, tree_state())


def test_readme_points_only_inside_the_repository() -> None:
    text = README.read_text()
    assert "shared folder" not in text and "DESIGN.md" not in text, "point to docs/ instead"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert "docs/design.md" in links and "docs/contracts.md" in links
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert not missing, f"README links to files that are not in the repository: {missing}"


def test_every_smaller_literal_is_documented_with_its_time() -> None:
    lines = readme_code().splitlines()
    for literal in SMALLER:
        holding = [line for line in lines if literal in line]
        assert len(holding) == 1, f"{literal!r} must appear once in the README's code, found {len(holding)}"
        assert DURATION.search(holding[0]), (
            f"the README line {holding[0].strip()!r} must say how long the full-size line takes on 2 cores"
        )


def test_readme_python_blocks_run_top_to_bottom(readme_run: ReadmeRun) -> None:
    assert readme_run.code.returncode == 0, readme_run.code.failure()


@pytest.mark.parametrize("name", COMMANDS)
def test_documented_command_runs(readme_run: ReadmeRun, name: str) -> None:
    finished = readme_run.commands[name]
    assert finished.returncode == 0, finished.failure()


def test_examples_change_no_tracked_file(readme_run: ReadmeRun) -> None:
    if readme_run.before is None or readme_run.after is None:
        pytest.skip("not inside a git checkout of this repository: cannot compare git status")
    before, after = readme_run.before, readme_run.after
    if before[HEAD] != after[HEAD]:
        pytest.skip("a commit landed while the examples ran: the git status before and after do not compare")
    paths = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    changed = {path: (before.get(path, "clean"), after.get(path, "clean")) for path in paths}
    assert not changed, (
        "running the README's examples changed files git sees (write under runs/ instead): "
        + "; ".join(f"{path}: {old} -> {new}" for path, (old, new) in changed.items())
    )
