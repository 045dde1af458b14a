"""Library warnings reach the log at debug level, not the terminal (bot/quiet.py)."""

from __future__ import annotations

import subprocess
import sys

from bot.config import REPO_ROOT

# The real entry point (`bot.cli.main`) running a command that, like the tone model's first load,
# triggers library warnings through `warnings.warn`.
SCRIPT = """
import logging, sys, warnings
from bot import cli

@cli.app.command("noisy")
def noisy():
    warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning)
    warnings.warn("progress bars are disabled by HF_HUB_DISABLE_PROGRESS_BARS", UserWarning)
    print("the answer")

if sys.argv[1] == "debug":
    logging.basicConfig(level=logging.DEBUG)
sys.argv = ["ragbot", "noisy"]
cli.main()
"""


def run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=120)


def test_library_warnings_do_not_reach_the_terminal():
    proc = run("user")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "the answer"
    assert "Warning" not in proc.stderr and "is_gradient_checkpointing" not in proc.stderr


def test_library_warnings_are_in_the_debug_log():
    proc = run("debug")
    assert "DEBUG:ragbot.warnings:FutureWarning: `is_gradient_checkpointing`" in proc.stderr
    assert "DEBUG:ragbot.warnings:UserWarning: progress bars" in proc.stderr
