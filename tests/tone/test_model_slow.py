"""The real model's runtimes: the deadline, the shipped adapter through torch and onnx, the
facts the onnx rewrite used to slip on, the chat prompt, the export's key.

These load SmolLM2-135M (fp32, ~540 MB) from the test cache (tests/tone/conftest.py): tests never
write into the repository. Training is tested beside this, in tests/tone/test_train_slow.py.
"""

from __future__ import annotations

import time

import pytest

from bot.tone.guard import check
from bot.tone.model import ADAPTER_DIR
from bot.tone.stage import GenaiToneStage, LocalToneStage, load_local_stage, load_tone_stage
from bot.tone.train import load_pairs
from tests.tone.conftest import HELDOUT, tone_settings

pytestmark = pytest.mark.slow



def test_deadline_stops_generation(data_dir, tmp_path):
    stage = load_local_stage(tone_settings(data_dir, tmp_path, timeout_s=0.3, runtime="torch"),
                             None)  # base: rambles
    draft = load_pairs(HELDOUT)[2].neutral
    started = time.monotonic()
    outcome = stage.rewrite(draft)
    elapsed = time.monotonic() - started
    assert (outcome.text, outcome.accepted, outcome.reason) == (draft, False, "timeout")
    assert elapsed < 3.0  # the prompt's prefill plus one decoding step past the deadline


@pytest.mark.parametrize("runtime, kind", [("torch", LocalToneStage), ("onnx", GenaiToneStage)])
def test_shipped_adapter_rewrites_held_out_drafts(data_dir, tmp_path, runtime, kind):
    stage = load_tone_stage(tone_settings(data_dir, tmp_path, timeout_s=30, runtime=runtime))
    assert isinstance(stage, kind)
    drafts = [p.neutral for p in load_pairs(HELDOUT)[:3]]
    outcomes = [stage.rewrite(d) for d in drafts]
    for draft, outcome in zip(drafts, outcomes):
        assert check(draft, outcome.text).ok  # whatever is sent keeps every fact
    assert sum(o.accepted for o in outcomes) >= 2, [o.reason for o in outcomes]
    assert all(o.text.split()[0] in {"Happy", "Good", "Sure", "Glad", "Great", "Here's", "Thanks",
                                     "No"} for o in outcomes if o.accepted)


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
    stage = load_tone_stage(tone_settings(data_dir, tmp_path, timeout_s=60, runtime="onnx"))
    outcome = stage.rewrite(draft)
    assert outcome.accepted, (outcome.reason, outcome.rewrite)
    assert outcome.text != draft  # toned, not the draft sent back
