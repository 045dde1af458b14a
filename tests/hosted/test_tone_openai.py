"""`tone.backend: openai` against a loopback OpenAI-compatible endpoint, through the real guard."""

from __future__ import annotations

import time

import pytest

from bot.config import ConfigError
from bot.tone.openai_stage import OpenAIToneStage, system_prompt
from bot.tone import guard
from bot.tone.stage import TIMEOUT, load_tone_stage
from tests.hosted.conftest import KEY, KEY_ENV

# The worked example of prompts/tone/style.md.
DRAFT = ("Expenses are submitted in Expensify within 30 days of the purchase date. [1] "
         "Expenses over $75 also require a short business justification. [2]")
REWRITE = ("Happy to help! You submit expenses in Expensify within 30 days of the purchase date. "
           "[1] Expenses over $75 also need a short business justification. [2] Hope that helps!")
MODEL = "ft:gpt-4o-mini-2024-07-18:brightwave::tone01"


@pytest.fixture
def stage(make_settings, fake_openai):
    settings = make_settings(tone={"backend": "openai", "model": MODEL,
                                   "base_url": fake_openai.base_url, "api_key_env": KEY_ENV,
                                   "timeout_s": 0.5})
    return OpenAIToneStage(settings)


def test_accepted_rewrite(stage, fake_openai):
    fake_openai.content = REWRITE
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.reason) == (REWRITE, True, None)

    [request] = fake_openai.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == MODEL
    assert request.content("system") == system_prompt()
    assert request.content("user") == DRAFT


def test_rewrite_that_drops_a_fact_sends_the_draft(stage, fake_openai):
    dropped = ("Happy to help! You submit expenses in Expensify within 30 days of the "
               "purchase date. [1] Hope that helps!")
    fake_openai.content = dropped
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted, outcome.rewrite) == (DRAFT, False, dropped)
    assert outcome.reason == guard.check(DRAFT, dropped).reason
    assert "[2]" in outcome.reason  # the lost citation is named


def test_http_500_sends_the_draft(stage, fake_openai):
    fake_openai.status = 500
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted) == (DRAFT, False)
    assert outcome.reason == "error: the endpoint answered HTTP 500"
    assert len(fake_openai.requests) == 1


def test_timeout_sends_the_draft(stage, fake_openai):
    fake_openai.delay_s = 5
    started = time.monotonic()
    outcome = stage.rewrite(DRAFT)
    assert time.monotonic() - started < 3
    assert (outcome.text, outcome.accepted) == (DRAFT, False)
    assert outcome.reason == TIMEOUT


def test_missing_key_sends_the_draft(stage, fake_openai, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    outcome = stage.rewrite(DRAFT)
    assert (outcome.text, outcome.accepted) == (DRAFT, False)
    assert KEY_ENV in outcome.reason and fake_openai.requests == []


def test_load_tone_stage_dispatches_on_backend(make_settings, fake_openai):
    settings = make_settings(tone={"backend": "openai", "model": "tone-lora",
                                   "base_url": fake_openai.base_url, "api_key_env": None})
    assert isinstance(load_tone_stage(settings), OpenAIToneStage)


def test_openai_backend_needs_a_model(make_settings):
    with pytest.raises(ConfigError, match="tone.model"):
        make_settings(tone={"backend": "openai"})
