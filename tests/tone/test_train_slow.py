"""Training on the real model: a tiny run end to end, reproducibility, the CLI's train and eval.

These load SmolLM2-135M (fp32, ~540 MB) from the test cache (tests/tone/conftest.py), and train
1-2 steps of 2 short pairs: each test stays well under a minute on 2 busy cores. Kept apart from
tests/tone/test_model_slow.py (the runtimes) so that pytest-xdist runs the two files side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.config import REPO_ROOT
from bot.tone.guard import check
from bot.tone.model import ADAPTER_DIR
from bot.tone.stage import LocalToneStage, load_tone_stage
from bot.tone.train import TrainSettings, load_pairs, sha256_of, train
from tests.tone.conftest import HELDOUT, tone_settings

pytestmark = pytest.mark.slow

TRAIN = REPO_ROOT / "prompts" / "tone" / "train.jsonl"


@pytest.fixture
def small_pairs(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(line + "\n" for line in
                            TRAIN.read_text(encoding="utf-8").splitlines()[:8]), encoding="utf-8")
    return path


def test_tiny_training_run_end_to_end(data_dir, small_pairs, tmp_path):
    out = tmp_path / "adapter"
    steps = []
    card = train(data_dir, small_pairs, out, TrainSettings(max_steps=2, batch_size=2, threads=1),
                 on_step=lambda step, total, loss: steps.append((step, total)))
    assert steps == [(1, 2), (2, 2)]
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json",
                                                     "adapter_model.safetensors", "card.json"]
    saved = json.loads((out / "card.json").read_text())
    assert saved == card
    assert card["data"] == {"path": "pairs.jsonl", "sha256": sha256_of(small_pairs), "pairs": 8}
    assert card["settings"]["r"] == 8 and card["training"]["steps"] == 2

    # 2 steps barely move the base model, which rambles: a short budget keeps the test short.
    stage = load_tone_stage(tone_settings(data_dir, tmp_path, adapter=str(out), timeout_s=2,
                                      runtime="torch"))
    assert isinstance(stage, LocalToneStage)
    draft = min((p.neutral for p in load_pairs(HELDOUT)), key=len)
    outcome = stage.rewrite(draft)
    if outcome.accepted:
        assert check(draft, outcome.text).ok and outcome.text != draft
    else:
        assert outcome.text == draft and outcome.reason


def test_training_is_reproducible_for_a_seed(data_dir, small_pairs, tmp_path):
    cfg = TrainSettings(max_steps=1, batch_size=2, limit=2, threads=1, seed=7)
    first = train(data_dir, small_pairs, tmp_path / "a", cfg)
    second = train(data_dir, small_pairs, tmp_path / "b", cfg)
    weights = [(tmp_path / d / "adapter_model.safetensors").read_bytes() for d in "ab"]
    assert weights[0] == weights[1]
    assert first["training"]["loss_first"] == second["training"]["loss_first"]


def test_cli_train_and_eval(data_dir, small_pairs, tmp_path, monkeypatch):
    from bot.cli import app

    config = tmp_path / "ragbot.yaml"
    config.write_text(f"data_dir: {data_dir}\ntone: {{runtime: torch}}\n", encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "adapter"
    result = runner.invoke(app, ["-c", str(config), "tone", "train", "--pairs", str(small_pairs),
                                 "--max-steps", "1", "--batch-size", "2", "--no-eval",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "adapter_model.safetensors").is_file()

    held = tmp_path / "held.jsonl"
    held.write_text(HELDOUT.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    report = tmp_path / "eval.json"
    from bot.tone import cli as tone_cli

    monkeypatch.setattr(tone_cli.console, "width", 200)  # the table's labels must not wrap
    result = runner.invoke(app, ["-c", str(config), "tone", "eval", "--pairs", str(held),
                                 "--timeout-s", "6", "--out", str(report)])
    assert result.exit_code == 0, result.output
    assert "guard acceptance" in result.output
    data = json.loads(report.read_text())
    assert data["settings"]["adapter"] == str(ADAPTER_DIR)  # the shipped one by default
    assert data["base"]["summary"]["pairs"] == data["adapter"]["summary"]["pairs"] == 1
    assert data["adapter"]["summary"]["facts_kept_sent"] == 1.0
