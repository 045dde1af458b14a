"""The built wheel works without the checkout: installed in a fresh virtual environment in a
temporary folder, `ragbot` runs `--help`, the `/ragvsft` walk, and a sync + ask over a small wiki,
reading its prompts and decision tree from the installed package.

The fresh environment gets the wheel alone (`--no-deps`); its dependencies (torch and the rest)
are borrowed from the test interpreter's site-packages through a .pth line, so nothing is
downloaded or reinstalled. A .pth line adds a folder to sys.path without running that folder's
own .pth files, so the checkout's editable install does not leak in: `import bot` is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from (bot/shipped/ links into prompts/ and config/).
BUILD_INPUTS = ("pyproject.toml", "README.md", "bot", "connectors", "prompts",
                "config/ragvsft.yaml")

pytestmark = pytest.mark.slow  # builds a wheel and loads the embedding model in a subprocess


def run(args: list, *, cwd: Path, env: dict, stdin: str = "", timeout: float = 300):
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, input=stdin, text=True,
                          capture_output=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def outside_env() -> dict:
    """This test's environment (made when it runs, after the autouse isolation), minus what
    would point Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(HF_HUB_OFFLINE="1", COLUMNS="200", PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh environment holding the wheel."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in BUILD_INPUTS:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, target, **({"symlinks": True, "ignore": shutil.ignore_patterns(
            "__pycache__")} if (ROOT / name).is_dir() else {}))
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", work / "dist",
         source], cwd=work, env=os.environ.copy())
    [wheel] = (work / "dist").glob("ragbot-*.whl")

    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work, env=os.environ.copy())
    fresh_python = venv / "bin" / "python"
    purelib = Path(run([fresh_python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                        "['purelib'])"], cwd=work, env=os.environ.copy()).strip())
    run([sys.executable, "-m", "pip", "--python", fresh_python, "install", "--no-deps",
         "--no-index", "--quiet", wheel], cwd=work, env=outside_env())
    # After the install: pip would take the checkout's editable ragbot for "already installed".
    borrowed = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    (purelib / "zz_borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")

    where = run([fresh_python, "-c", "import bot; print(bot.__file__)"], cwd=work,
                env=outside_env())
    assert Path(where.strip()).is_relative_to(venv), where  # the wheel's copy, not the checkout
    return venv / "bin"


def test_the_installed_package_reads_its_shipped_files(installed, tmp_path):
    bin_dir, env = installed, outside_env()
    out = run([bin_dir / "python", "-c", "\n".join([
        "from bot import shipped",
        "from bot.answering.llm import load_prompt",
        "from bot.decision import load_tree",
        "from bot.tone.cli import HELDOUT_FILE, TRAIN_FILE",
        "from bot.tone.openai_stage import system_prompt",
        "assert '{max_sentences}' in load_prompt() and system_prompt()",
        "assert load_tree().nodes and TRAIN_FILE.stat().st_size and HELDOUT_FILE.stat().st_size",
        "print(shipped('prompts/answer.md'))"])], cwd=tmp_path, env=env)
    assert Path(out.strip()).resolve().is_relative_to(bin_dir.parent.resolve())


def test_ragbot_help_ragvsft_sync_and_ask_from_the_wheel(installed, tmp_path):
    bin_dir, env = installed, outside_env()
    ragbot = bin_dir / "ragbot"
    assert "ragvsft" in run([ragbot, "--help"], cwd=tmp_path, env=env)

    wiki = tmp_path / "wiki"
    wiki.mkdir()
    (wiki / "vpn.md").write_text("# VPN\n\n## Resetting your token\n\nReset your VPN token at "
                                 "https://vpn.example/reset and sign in again.\n")
    (wiki / "lunch.md").write_text("# Lunch\n\nThe canteen serves lunch from 12:00 to 14:00.\n")
    config = tmp_path / "ragbot.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "tone": {"enabled": False},
        "sources": [{"name": "wiki", "type": "folder", "path": str(wiki)}]}))

    walk = run([ragbot, "-c", config, "ragvsft", "--symptom"], cwd=tmp_path, env=env,
               stdin="3\nq\n")
    assert "Which symptom" in walk and "Distil" in walk  # the shipped tree, from the wheel

    run([ragbot, "-c", config, "sync"], cwd=tmp_path, env=env)
    answer = json.loads(run([ragbot, "-c", config, "ask", "--json",
                             "how do I reset my VPN token?"], cwd=tmp_path, env=env))
    assert not answer["abstained"] and "vpn.example/reset" in answer["answer"]
    assert answer["citations"][0]["source_id"] == "vpn.md"
