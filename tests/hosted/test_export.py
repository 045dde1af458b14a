"""`ragbot tone export --format openai`: chat fine-tuning JSONL from the tone pairs."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from bot.tone.export import TRAIN_FILE, PairsError, export_command, export_openai, read_pairs
from bot.tone.openai_stage import system_prompt


def test_openai_format_has_one_chat_example_per_pair(tmp_path):
    out = tmp_path / "ft" / "tone.jsonl"
    count = export_openai(out)

    pairs = list(read_pairs(TRAIN_FILE))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert count == len(rows) == len(pairs) > 100
    system = system_prompt()
    for row, (neutral, on_brand) in zip(rows, pairs):
        assert list(row) == ["messages"]
        assert row["messages"] == [{"role": "system", "content": system},
                                   {"role": "user", "content": neutral},
                                   {"role": "assistant", "content": on_brand}]


def test_bad_pairs_file_names_the_line_and_writes_nothing(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"neutral": "A. [1]", "on_brand": "Sure thing! A. [1]"}\n\n{"neutral": "B"}\n')
    out = tmp_path / "out.jsonl"
    with pytest.raises(PairsError, match=r"pairs.jsonl:3: .*on_brand"):
        export_openai(out, pairs)
    assert not out.exists()


def test_command(tmp_path):
    app = typer.Typer()
    app.command("export")(export_command)
    out = tmp_path / "tone.jsonl"
    result = CliRunner().invoke(app, ["--format", "openai", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {len(list(read_pairs(TRAIN_FILE)))} openai" in result.output
    bad = CliRunner().invoke(app, ["--format", "jsonl", "--out", str(out)])
    assert bad.exit_code == 2
