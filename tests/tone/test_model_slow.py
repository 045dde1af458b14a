"""The real model: a tiny training run end to end, the deadline, the shipped adapter, the CLI.

These load SmolLM2-135M (fp32, ~540 MB). The GGUF is converted once per machine into the test
cache (`shared_cache_dir` in tests/conftest.py, in the system temp folder): tests never write
into the repository.
Each test stays well under a minute on 2 busy cores: training runs 1-3 steps of 2 short pairs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from filelock import FileLock
from typer.testing import CliRunner

from bot.config import REPO_ROOT, parse_settings
from bot.tone.guard import check
from bot.tone.model import ADAPTER_DIR, ensure_base_model
from bot.tone.stage import GenaiToneStage, LocalToneStage, load_local_stage, load_tone_stage
from bot.tone.train import TrainSettings, load_pairs, sha256_of, train
from tests.conftest import shared_cache_dir

pytestmark = pytest.mark.slow

HELDOUT = REPO_ROOT / "prompts" / "tone" / "heldout.jsonl"
TRAIN = REPO_ROOT / "prompts" / "tone" / "train.jsonl"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session data dir whose base model is the test cache's (converted once per machine;
    the lock makes it once for all xdist workers too). What the tests write stays in tmp."""
    with FileLock(shared_cache_dir() / "tone-data.lock"):
        base = ensure_base_model(shared_cache_dir() / "tone-data")
    data = tmp_path_factory.mktemp("tone-data")
    (data / "models").mkdir()
    (data / "models" / base.name).symlink_to(base, target_is_directory=True)
    return data


@pytest.fixture
def small_pairs(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(line + "\n" for line in
                            TRAIN.read_text(encoding="utf-8").splitlines()[:8]), encoding="utf-8")
    return path


def _settings(data_dir: Path, tmp_path: Path, **tone):
    return parse_settings({"data_dir": str(data_dir), "tone": tone}, tmp_path)


def test_tiny_training_run_end_to_end(data_dir, small_pairs, tmp_path):
    out = tmp_path / "adapter"
    steps = []
    card = train(data_dir, small_pairs, out, TrainSettings(max_steps=3, batch_size=2, threads=1),
                 on_step=lambda step, total, loss: steps.append((step, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json",
                                                     "adapter_model.safetensors", "card.json"]
    saved = json.loads((out / "card.json").read_text())
    assert saved == card
    assert card["data"] == {"path": "pairs.jsonl", "sha256": sha256_of(small_pairs), "pairs": 8}
    assert card["settings"]["r"] == 8 and card["training"]["steps"] == 3

    # 3 steps barely move the base model, which rambles: a short budget keeps the test short.
    stage = load_tone_stage(_settings(data_dir, tmp_path, adapter=str(out), timeout_s=4,
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


def test_deadline_stops_generation(data_dir, tmp_path):
    stage = load_local_stage(_settings(data_dir, tmp_path, timeout_s=0.3, runtime="torch"),
                             None)  # base: rambles
    draft = load_pairs(HELDOUT)[2].neutral
    started = time.monotonic()
    outcome = stage.rewrite(draft)
    elapsed = time.monotonic() - started
    assert (outcome.text, outcome.accepted, outcome.reason) == (draft, False, "timeout")
    assert elapsed < 3.0  # the prompt's prefill plus one decoding step past the deadline


@pytest.mark.parametrize("runtime, kind", [("torch", LocalToneStage), ("onnx", GenaiToneStage)])
def test_shipped_adapter_rewrites_held_out_drafts(data_dir, tmp_path, runtime, kind):
    stage = load_tone_stage(_settings(data_dir, tmp_path, timeout_s=30, runtime=runtime))
    assert isinstance(stage, kind)
    drafts = [p.neutral for p in load_pairs(HELDOUT)[:3]]
    outcomes = [stage.rewrite(d) for d in drafts]
    for draft, outcome in zip(drafts, outcomes):
        assert check(draft, outcome.text).ok  # whatever is sent keeps every fact
    assert sum(o.accepted for o in outcomes) >= 2, [o.reason for o in outcomes]
    assert all(o.text.split()[0] in {"Happy", "Good", "Sure", "Glad", "Great", "Here's", "Thanks",
                                     "No"} for o in outcomes if o.accepted)


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


def test_onnx_export_is_keyed_by_the_adapter(tmp_path):
    """A retrained adapter (other bytes) gets its own export; the same bytes share one."""
    from bot.tone.genai import export_dir

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (copy / name).write_bytes((ADAPTER_DIR / name).read_bytes())
    assert export_dir(copy, "int8") == export_dir(ADAPTER_DIR, "int8")
    assert export_dir(ADAPTER_DIR, "int8") != export_dir(ADAPTER_DIR, "fp32")
    weights = bytearray((copy / "adapter_model.safetensors").read_bytes())
    weights[-1] ^= 1
    (copy / "adapter_model.safetensors").write_bytes(bytes(weights))
    assert export_dir(copy, "int8") != export_dir(ADAPTER_DIR, "int8")


def test_chat_prompt_is_the_tokenizers_template(data_dir):
    from bot.tone import prompting
    from bot.tone.model import load_tokenizer

    tokenizer = load_tokenizer(data_dir)
    draft = load_pairs(HELDOUT)[0].neutral
    assert prompting.chat_prompt(draft) == prompting.prompt_text(tokenizer, draft)


# Demo-set drafts the shipped adapter's rewrite lost a fact of before the copy pointer: the
# wrong table row's maximum ("$214,000" for "$178,000"), a skipped middle sentence, the clause
# holding "25 days" dropped after the opener, and the first of two near-identical sentences
# (bot/tone/prompting.py CopyPointer).
DEMO_SLIPS = [
    "Level: L3; Title: Software Engineer; Min: $118,000; Midpoint: $132,000; Max: $146,000. [1] "
    "Level: L4; Title: Software Engineer II; Min: $142,000; Midpoint: $160,000; Max: $178,000. "
    "[1] Level: L5; Title: Senior Software Engineer; Min: $172,000; Midpoint: $193,000; Max: "
    "$214,000. [1]",
    "Choose a new password and sign in again on your laptop and phone. [1] Minimum length is 14 "
    "characters. [1] You can't reuse any of your last 8 passwords. [1]",
    "That was replaced by the flat 25 days; if you see \"20 days\" in an old offer letter or in "
    "the onboarding deck, it's outdated. [1]",
    "Rolling back is always allowed, freeze or not. [1] Rolling back is always allowed, even "
    "during a deploy freeze. [2]",
]


@pytest.mark.parametrize("draft", DEMO_SLIPS)
def test_onnx_rewrite_keeps_the_facts_it_used_to_slip_on(data_dir, tmp_path, draft):
    stage = load_tone_stage(_settings(data_dir, tmp_path, timeout_s=60, runtime="onnx"))
    outcome = stage.rewrite(draft)
    assert outcome.accepted, (outcome.reason, outcome.rewrite)
    assert outcome.text != draft  # toned, not the draft sent back
