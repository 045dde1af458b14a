"""The `ragbot` command end to end on a small real folder (real index, real model, tone off)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nReset your VPN token at https://vpn.example/reset "
                                 "using your laptop.\n")
    (docs / "pto.md").write_text("# Time off\n\nEvery employee gets 25 days of paid time off "
                                 "per year.\n")
    (docs / "logo.md").write_bytes(b"\x00\x01binary")
    path = tmp_path / "ragbot.yaml"
    path.write_text("data_dir: ./state\ntone: {enabled: false}\nretrieval: {min_score: 0.3}\n"
                    "sources:\n  - {name: wiki, type: folder, path: ./docs, "
                    "url: 'https://w.example/{path}'}\n")
    return path


def ragbot(config: Path, *args: str):
    return runner.invoke(app, ["--config", str(config), *args])


@pytest.mark.slow  # syncs an index with the real embedding model
def test_sync_ask_json_and_eval(config, tmp_path):
    result = ragbot(config, "sync")
    assert result.exit_code == 0, result.output
    assert "wiki" in result.output and "skipped" in result.output
    assert "logo.md: binary file" in result.output

    result = ragbot(config, "ask", "--json", "how many vacation days do I get?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert not data["abstained"] and "[1]" in data["answer"]
    assert data["citations"][0]["url"] == "https://w.example/pto.md"

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "where do i reset the vpn token",
                                     "sources": ["vpn.md"], "answer": "https://vpn.example/reset",
                                     "answerable": True}) + "\n")
    out = tmp_path / "out" / "results.jsonl"
    result = ragbot(config, "eval", str(questions), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "hit@5" in result.output
    line = json.loads(out.read_text())
    assert line["id"] == "q1" and line["retrieved"][0]["source_id"] == "vpn.md"


def test_sync_failure_exits_nonzero_with_the_reason(config, tmp_path):
    (tmp_path / "docs").rename(tmp_path / "elsewhere")
    result = ragbot(config, "sync")
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_bad_config_exits_2_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sources:\n  - {name: a, type: folder, path: ., colour: red}\n")
    result = ragbot(path, "sync")
    assert result.exit_code == 2
    assert "sources.0.colour: unknown key" in result.output


@pytest.mark.parametrize("question", ["", "   ", "x" * 50_000])
def test_unusable_questions_exit_2_with_a_message(config, question):
    result = ragbot(config, "ask", question)
    assert result.exit_code == 2
    assert "question" in result.output.lower()


def test_unknown_source_lists_the_known_ones(config):
    result = ragbot(config, "sync", "--source", "nope")
    assert result.exit_code == 2 and "wiki" in result.output


def test_malformed_question_file(config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q", "answerable": true, "sources": ["x"]}\nnot json\n')
    result = ragbot(config, "eval", str(bad), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2 and "line 2" in result.output


@pytest.mark.slow  # syncs an index with the real embedding model
def test_chat_session_survives_bad_input_and_answers(config):
    from rich.console import Console

    from bot.answering.pipeline import Pipeline
    from bot.config import load_settings
    from bot.knowledge.sync import sync_source
    from bot.terminal import chat

    settings = load_settings(config)
    assert sync_source(settings, "wiki").ok
    lines = iter(["", "x" * 50_000, "how many days of paid time off?", "/quit"])
    console = Console(record=True, width=120)
    chat(console, Pipeline(settings), read=lambda prompt: next(lines))
    text = console.export_text()
    assert "limit is 2,000" in text
    assert "25 days of paid time off" in text and "[1] Time off" in text


@pytest.mark.parametrize("data_dir, reason", [
    ("{tmp}/a-file/data", "Not a directory"),  # a missing parent that cannot be made
    ("/sys/kernel", "ermission"),  # exists, read-only (even for root)
])
def test_unusable_data_dir_is_one_line_naming_it_and_the_fix(tmp_path, data_dir, reason):
    (tmp_path / "a-file").write_text("not a folder")
    data_dir = data_dir.format(tmp=tmp_path)
    config = tmp_path / "ragbot.yaml"
    config.write_text(f"data_dir: {data_dir}\nsources: []\n")
    result = CliRunner().invoke(app, ["-c", str(config), "status"])
    output = " ".join((result.output + (result.stderr or "")).split())
    assert result.exit_code == 2, output
    assert f"data_dir {data_dir}" in output and reason in output and "RAGBOT_DATA_DIR" in output
    assert "Traceback" not in output


def test_tone_prepare_is_a_no_op_when_the_local_onnx_model_is_not_used(config):
    result = ragbot(config, "tone", "prepare")  # tone: {enabled: false}
    assert result.exit_code == 0, result.output
    assert "Nothing to prepare" in result.output
    assert not (config.parent / "state" / "tone").exists()  # no model converted
