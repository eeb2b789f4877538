"""The suite's own switches: the tests marked slow run only when asked for (``make test-slow``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests/training/test_kickstart.py"
SLOW = f"{MODULE}::test_a_compiled_recurrent_learner_kickstarts_in_bf16_and_keeps_plain_parameter_names"


def pytest_output(*args: str) -> str:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "slow", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False).stdout


def test_slow_tests_are_skipped_with_the_reason_unless_asked_for() -> None:
    output = pytest_output("-rs", MODULE)
    assert "1 skipped" in output and "slow: run with --runslow (make test-slow)" in output


def test_runslow_selects_them() -> None:
    assert SLOW in pytest_output("--runslow", "--collect-only", MODULE).splitlines()
