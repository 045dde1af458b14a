"""/ragvsft in the terminal as wired into the real CLI: `ragbot ragvsft [--symptom]` and the
`/ragvsft` commands of the interactive `ragbot chat` session."""

from __future__ import annotations

import io
import sys

import yaml
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import _chat_commands
from bot.cli import app as cli
from bot.config import REPO_ROOT, parse_settings
from bot.terminal import chat
from tests.decision.conftest import MINI


class NoPipeline:
    def answer(self, question, **kw):
        raise AssertionError(f"the walk must not reach the pipeline ({question!r})")


def drive_chat(settings, lines, stdin, monkeypatch) -> str:
    """`ragbot chat` with typed `lines` (the fake `read`) and the walk's answers on stdin."""
    typed = iter(lines)

    def read(prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    console = Console(file=io.StringIO(), width=100)
    chat(console, NoPipeline(), read=read, extra_commands=_chat_commands(settings))
    return console.file.getvalue()


def test_chat_runs_the_walk_and_the_symptoms_then_goes_on(monkeypatch, capsys):
    settings = parse_settings({}, REPO_ROOT)
    shown = drive_chat(settings, ["/ragvsft", "/ragvsft symptom", "/help", "/quit"],
                       "4\n\n3\nq\n", monkeypatch)
    out = capsys.readouterr().out
    assert "What is actually going wrong" in out and "Recommendation: Neither yet" in out
    assert "Which symptom are you seeing?" in out and "Distil" in out
    assert shown.count("/ragvsft symptom") == 2  # banner, then /help after both walks returned


def test_chat_reports_a_broken_configured_tree_and_keeps_going(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: a\n")
    settings = parse_settings({"ragvsft": {"tree": str(bad)}}, REPO_ROOT)
    drive_chat(settings, ["/ragvsft", "/help"], "", monkeypatch)
    assert "invalid decision tree" in capsys.readouterr().out


def write_config(tmp_path, **extra) -> str:
    path = tmp_path / "ragbot.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), **extra}))
    return str(path)


def test_ragbot_ragvsft_uses_the_configured_tree(tmp_path):
    custom = tmp_path / "tree.yaml"
    custom.write_text(yaml.safe_dump(MINI))
    runner = CliRunner()
    res = runner.invoke(cli, ["-c", write_config(tmp_path, ragvsft={"tree": str(custom)}),
                              "ragvsft"], input="1\n1\n")
    assert res.exit_code == 0, res.output
    assert "First?" in res.output
    res = runner.invoke(cli, ["-c", write_config(tmp_path), "ragvsft", "--symptom"],
                        input="3\nq\n")
    assert res.exit_code == 0 and "Distil" in res.output


def test_ragbot_ragvsft_exits_2_on_a_broken_configured_tree(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: a\n")
    res = CliRunner().invoke(cli, ["-c", write_config(tmp_path, ragvsft={"tree": str(bad)}),
                                   "ragvsft"])
    assert res.exit_code == 2
    assert "invalid decision tree" in res.output + (res.stderr or "")
