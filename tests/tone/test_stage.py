"""bot/tone/stage.py without a model: what is sent, and why, for each way a rewrite can end."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.config import ToneConfig, parse_settings
from bot.tone.model import ADAPTER_DIR
from bot.tone.stage import (GenaiToneStage, Generation, LocalToneStage, PassThroughStage,
                            adapter_path, load_tone_stage, max_new_tokens)

DRAFT = ("Expenses are submitted in Expensify within 30 days of the purchase date. [1] "
         "Expenses over $75 also require a short business justification. [2]")
GOOD = ("Happy to help! You submit expenses in Expensify within 30 days of the purchase date. "
        "[1] Expenses over $75 also need a short business justification. [2] Hope that helps!")


class FakeTokenizer:
    pad_token_id = 2

    def convert_tokens_to_ids(self, token):
        return 2


class ScriptedStage(LocalToneStage):
    """The real rewrite() around a scripted generate()."""

    def __init__(self, result, timeout_s: float = 2.0):
        super().__init__(FakeTokenizer(), model=None, timeout_s=timeout_s)
        self.result = result

    def generate(self, draft, *, deadline=None, prompt_lookup_tokens=None):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def gen(text, finished=True, timed_out=False):
    return Generation(text, finished, timed_out, new_tokens=40, seconds=0.5)


def test_accepted_rewrite_is_sent():
    outcome = ScriptedStage(gen(GOOD)).rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.reason) == (GOOD, True, None)


def test_rejected_rewrite_sends_the_draft_with_the_guard_reason():
    outcome = ScriptedStage(gen(GOOD.replace(" [2]", ""))).rewrite(DRAFT)
    assert (outcome.text, outcome.accepted) == (DRAFT, False)
    assert outcome.reason == "markers changed: lost [2]"
    assert outcome.rewrite == GOOD.replace(" [2]", "")  # kept for eval and logs


def test_timeout_sends_the_draft():
    outcome = ScriptedStage(gen(GOOD[:40], finished=False, timed_out=True)).rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.reason) == (DRAFT, False, "timeout")


def test_unfinished_output_sends_the_draft():
    outcome = ScriptedStage(gen(GOOD, finished=False)).rewrite(DRAFT)
    assert (outcome.text, outcome.accepted) == (DRAFT, False)
    assert outcome.reason.startswith("truncated")


def test_model_error_sends_the_draft():
    outcome = ScriptedStage(RuntimeError("boom")).rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.reason) == (DRAFT, False,
                                                                "error: RuntimeError: boom")


def test_empty_draft_is_not_rewritten():
    outcome = ScriptedStage(gen(GOOD)).rewrite("  ")
    assert (outcome.text, outcome.accepted, outcome.reason) == ("  ", False, "empty draft")


def test_the_deadline_counts_from_when_the_rewrite_starts_not_from_the_wait():
    stage = ScriptedStage(gen(GOOD), timeout_s=0.2)
    deadlines = []
    real = stage.generate
    stage.generate = lambda draft, **kw: deadlines.append(kw["deadline"]) or real(draft, **kw)
    stage._lock.acquire()  # another answer is being rewritten
    outcomes = []
    waiter = threading.Thread(target=lambda: outcomes.append(stage.rewrite(DRAFT)))
    waiter.start()
    time.sleep(0.5)  # longer than the whole budget
    released = time.monotonic()
    stage._lock.release()
    waiter.join()
    outcome = outcomes[0]
    assert (outcome.text, outcome.accepted, outcome.reason) == (GOOD, True, None)
    assert deadlines[0] >= released + 0.2  # the full budget, counted after the wait
    assert outcome.waited_ms >= 500


def test_a_full_queue_sends_the_draft_at_once_and_says_so():
    stage = ScriptedStage(gen(GOOD))
    stage.queue_size = 1
    stage._lock.acquire()
    outcomes = []
    waiter = threading.Thread(target=lambda: outcomes.append(stage.rewrite(DRAFT)))
    waiter.start()
    while stage._waiting < 1:
        time.sleep(0.01)
    refused = stage.rewrite(DRAFT)  # a second one would wait behind the first
    stage._lock.release()
    waiter.join()
    assert (refused.text, refused.accepted) == (DRAFT, False)
    assert refused.reason == "queue full: 1 rewrites waiting (tone.queue_size)"
    assert outcomes[0].accepted  # the one that queued is rewritten


def test_concurrent_rewrites_are_serialised():
    stage = ScriptedStage(gen(GOOD))
    active, peak = 0, 0
    real = stage.generate

    def slow_generate(draft, **kw):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        time.sleep(0.05)
        active -= 1
        return real(draft, **kw)

    stage.generate = slow_generate
    threads = [threading.Thread(target=stage.rewrite, args=(DRAFT,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 1


class FakeGenaiModel:
    """The interface of bot.tone.genai.GenaiModel, scripted (words for token ids)."""

    def __init__(self, words, finished=True, timed_out=False):
        self.result, self.calls = (words, finished, timed_out), []

    def encode(self, text):
        return text.split()

    def decode(self, ids):
        return " ".join(ids)

    def generate(self, draft, **kwargs):
        self.calls.append(kwargs)
        return self.result


def test_onnx_stage_decodes_with_the_products_settings_and_guards_the_result():
    model = FakeGenaiModel(GOOD.split())
    stage = GenaiToneStage(model, timeout_s=2.0, copy_bias=2.0, prompt_lookup_tokens=20)
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.reason) == (GOOD, True, None)
    call = model.calls[0]
    assert (call["copy_bias"], call["lookup"]) == (2.0, 20)
    assert call["max_new"] == max_new_tokens(len(DRAFT.split()))
    assert call["deadline"] is not None


def test_onnx_stage_timeout_sends_the_draft():
    stage = GenaiToneStage(FakeGenaiModel(GOOD.split()[:5], False, True), timeout_s=2.0)
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.reason) == (DRAFT, False, "timeout")


def test_token_budget_follows_the_draft():
    assert max_new_tokens(95) >= 95 + 18  # the longest on-brand reply in the pairs
    assert max_new_tokens(20) < max_new_tokens(80) < 150


def _settings(tmp_path: Path, **tone):
    return parse_settings({"data_dir": "data", "tone": tone}, tmp_path)


def test_default_adapter_is_the_shipped_one_wherever_the_config_is(tmp_path):
    assert adapter_path(_settings(tmp_path)) == ADAPTER_DIR
    assert ADAPTER_DIR == Path(__file__).resolve().parents[2] / "bot" / "tone" / "adapter"
    own = _settings(tmp_path, adapter="adapters/mine")
    assert adapter_path(own) == tmp_path / "adapters" / "mine"  # relative to the config


def test_missing_adapter_passes_drafts_through(tmp_path):
    stage = load_tone_stage(_settings(tmp_path, adapter="nowhere"))
    assert isinstance(stage, PassThroughStage)
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted) == (DRAFT, False)
    assert "no LoRA adapter" in outcome.reason and "nowhere" in outcome.reason


@pytest.mark.parametrize("script, sent, toned, reason", [
    (gen(GOOD), GOOD, True, None),
    (gen(GOOD.replace(" [2]", "")), DRAFT, False, "markers changed: lost [2]"),
    (gen(GOOD[:40], finished=False, timed_out=True), DRAFT, False, "timeout"),
])
def test_the_pipeline_sends_what_the_tone_stage_decided(tmp_path, script, sent, toned, reason):
    from bot.answering.pipeline import Pipeline
    from bot.answering.types import Answer

    answer = Answer("how do I file expenses?", text=DRAFT, draft=DRAFT)
    Pipeline(_settings(tmp_path), tone=ScriptedStage(script))._apply_tone(answer)
    assert (answer.text, answer.toned, answer.tone_reason) == (sent, toned, reason)
    assert answer.draft == DRAFT  # the neutral draft is kept beside what was sent


def test_shipped_adapter_files():
    """The package ships a trained adapter: small, with its card."""
    import json

    files = {p.name: p.stat().st_size for p in ADAPTER_DIR.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "card.json"} <= set(files)
    assert files["adapter_model.safetensors"] < 8 * 2**20
    card = json.loads((ADAPTER_DIR / "card.json").read_text())
    assert card["base_model"].startswith("SmolLM2-135M-Instruct")
    assert len(card["data"]["sha256"]) == 64
    # The bar: >= 90% of held-out rewrites accepted by the guard (measured: 44/46 with the
    # default decoding), while the untrained base model's are mostly rejected.
    assert card["eval"]["adapter"]["acceptance"] >= 0.90
    assert card["eval"]["base"]["acceptance"] < 0.5
    # ... measured with the decoding the product uses by default
    defaults = ToneConfig()
    assert card["eval"]["decoding"] == {"prompt_lookup_tokens": defaults.prompt_lookup_tokens,
                                        "copy_bias": defaults.copy_bias}
    assert card["eval"]["adapter"]["facts_kept_sent"] == 1.0


def test_tone_switched_off_loads_no_model_and_sends_the_draft(tmp_path, monkeypatch):
    import bot.tone.stage
    from bot.answering.pipeline import Pipeline
    from bot.answering.types import Answer

    monkeypatch.setattr(bot.tone.stage, "load_tone_stage",
                        lambda settings: pytest.fail("tone.enabled: false loaded a tone stage"))
    pipeline = Pipeline(_settings(tmp_path, enabled=False))
    answer = Answer("how do I file expenses?", text=DRAFT, draft=DRAFT)
    pipeline._apply_tone(answer)
    assert pipeline.tone is None
    assert (answer.text, answer.toned) == (DRAFT, False)
    assert answer.tone_reason == "tone stage disabled (tone.enabled: false)"


@pytest.mark.parametrize("line, expected", [
    ("0.00 0.01 0.05 1/120 4242", "all"),  # only this process is running
    ("3.10 2.90 2.50 3/120 4242", 1),  # a sync or a neighbour's job is on the cores
    ("garbage", None),  # unreadable: falls back to the load average
])
def test_auto_threads_backs_off_when_the_cores_are_busy(tmp_path, monkeypatch, line, expected):
    import os

    from bot.tone.stage import auto_threads

    loadavg = tmp_path / "loadavg"
    loadavg.write_text(line)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0, 4.0, 4.0))
    assert auto_threads(loadavg) == {"all": 2, 1: 1, None: 1}[expected]


def test_copy_bias_favours_the_drafts_next_token_only_while_copying():
    import torch

    from bot.tone.stage import copy_bias_processor

    draft = [5, 6, 7, 8, 6, 7, 9]  # "6 7" is followed by 8 and by 9 in the draft
    prompt = [1, 2, 3]
    bias = copy_bias_processor(draft, prompt_len=len(prompt), bias=2.0)

    def bumped(generated: list[int]) -> set[int]:
        scores = torch.zeros((1, 12))
        out = bias(torch.tensor([prompt + generated]), scores.clone())
        return {i for i in range(12) if out[0, i] != 0}

    assert bumped([4, 6, 7]) == {8}  # copying "6 7": the draft's next token at that place
    assert bumped([5, 6, 7, 8, 6, 7]) == {9}  # ... and at the second place, once past the first
    assert bumped([5, 6]) == {7}
    assert bumped([6]) == set()  # too short to know it is copying
    assert bumped([7, 4]) == set()  # "7 4" is not in the draft: a free choice, no nudge
    scores = torch.full((1, 12), 1.5)
    assert bias(torch.tensor([prompt + [5, 6]]), scores)[0, 7] == pytest.approx(3.5)
    # a fact token of the draft (a number, a marker) is copied, however the model votes
    facts = copy_bias_processor(draft, prompt_len=len(prompt), bias=2.0, exact=frozenset({2}))
    scores = torch.zeros((1, 12))
    scores[0, 11] = 9.0
    assert int(facts(torch.tensor([prompt + [5, 6]]), scores).argmax()) == 7


def test_copy_bias_is_a_validated_setting(tmp_path):
    from bot.config import ConfigError, parse_settings

    assert parse_settings({"data_dir": str(tmp_path)}, tmp_path).tone.copy_bias == 2.0
    with pytest.raises(ConfigError, match="tone.copy_bias"):
        parse_settings({"data_dir": str(tmp_path), "tone": {"copy_bias": -1}}, tmp_path)
