"""`answer.backend: llm` against a loopback OpenAI-compatible endpoint."""

from __future__ import annotations

import time

import pytest

from bot.answering.compose import compose
from bot.answering.llm import LLMComposer, composer_for, load_prompt
from bot.config import ConfigError
from tests.hosted.conftest import KEY, KEY_ENV, fake_embed

QUESTION = "When is my laptop replaced?"


@pytest.fixture
def llm_settings(make_settings, fake_openai):
    def build(**llm):
        return make_settings(answer={"backend": "llm", "llm": {
            "base_url": fake_openai.base_url, "model": "team-answerer-8b",
            "api_key_env": KEY_ENV, "timeout_s": 0.5, **llm}})

    return build


def run(settings, passages, max_passages=3):
    composer = composer_for(settings.answer)
    assert isinstance(composer, LLMComposer)
    vector = fake_embed([QUESTION])[0]
    return composer(QUESTION, vector, passages, fake_embed,
                    max_sentences=settings.answer.max_sentences, max_passages=max_passages)


def extractive(passages, max_passages=3):
    return compose(QUESTION, fake_embed([QUESTION])[0], passages, fake_embed,
                   max_sentences=3, max_passages=max_passages)


def test_valid_citations_are_renumbered_in_order_of_first_use(llm_settings, fake_openai, passages):
    fake_openai.content = ("Laptops are replaced every 3 years [2]. Until then, ask the IT desk "
                           "on floor 3 for a loaner. [1]")
    draft = run(llm_settings(), passages)

    assert draft.text == ("Laptops are replaced every 3 years. [1] Until then, ask the IT desk on "
                          "floor 3 for a loaner. [2]")
    assert [(c.n, c.source_id, c.title, c.url, c.passage) for c in draft.citations] == [
        (n, p.source_id, p.title, p.url, p.text)
        for n, p in enumerate((passages[1], passages[0]), 1)]
    assert draft.citations[0].headings == "Policy"
    assert draft.note is None

    [request] = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "team-answerer-8b"
    system, user = request.content("system"), request.content("user")
    assert system == load_prompt().replace("{max_sentences}", "3")
    for n, p in enumerate(passages, 1):
        assert f"[{n}] {p.title} > Policy\n{p.text}" in user
    assert user.endswith(f"Question: {QUESTION}")


def test_citation_of_a_passage_not_given_is_stripped(llm_settings, fake_openai, passages):
    fake_openai.content = ("Laptops are replaced every 3 years. [2] [7] They are ordered by IT in "
                           "the month the laptop turns three. [7, 2] The VPN is unrelated. [3]")
    draft = run(llm_settings(), passages, max_passages=2)  # [3] was not shown either

    assert draft.text == ("Laptops are replaced every 3 years. [1] They are ordered by IT in the "
                          "month the laptop turns three. [1]")
    assert [c.source_id for c in draft.citations] == [passages[1].source_id]
    assert "[7] (no such passage)" in draft.note and "[3] (no such passage)" in draft.note
    assert "[3]" not in fake_openai.requests[0].content("user")  # only 2 passages were sent


def test_sentence_without_citation_is_dropped(llm_settings, fake_openai, passages):
    fake_openai.content = "Good question. Laptops are replaced every 3 years. [2] I hope that helps."
    draft = run(llm_settings(), passages)
    assert draft.text == "Laptops are replaced every 3 years. [1]"
    assert "uncited sentence" in draft.note


@pytest.mark.parametrize("reply", [
    "I can't find that in the wiki.",
    "Laptops are replaced every 5 years. [7]",
    "",
])
def test_no_valid_citation_abstains(llm_settings, fake_openai, passages, reply):
    fake_openai.content = reply
    assert run(llm_settings(), passages) is None  # the pipeline answers NO_MATCH


def test_http_500_falls_back_to_extractive(llm_settings, fake_openai, passages):
    fake_openai.status = 500
    draft = run(llm_settings(), passages)
    expected = extractive(passages)
    assert (draft.text, draft.citations) == (expected.text, expected.citations)
    assert "HTTP 500" in draft.note and "extractive" in draft.note
    assert len(fake_openai.requests) == 1  # no client retries: the fallback is the retry


def test_timeout_falls_back_to_extractive(llm_settings, fake_openai, passages):
    fake_openai.delay_s = 5
    started = time.monotonic()
    draft = run(llm_settings(), passages)
    assert time.monotonic() - started < 3
    assert draft.text == extractive(passages).text
    assert "timed out" in draft.note


def test_missing_key_falls_back_without_calling(llm_settings, fake_openai, passages, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    draft = run(llm_settings(), passages)
    assert draft.text == extractive(passages).text
    assert KEY_ENV in draft.note
    assert fake_openai.requests == []


def test_local_server_without_key(llm_settings, fake_openai, passages):
    fake_openai.content = "Laptops are replaced every 3 years. [2]"
    assert run(llm_settings(api_key_env=None), passages).text.endswith("[1]")
    assert fake_openai.requests[0].headers["authorization"] == "Bearer not-needed"


def test_extractive_backend_is_the_default(make_settings):
    assert composer_for(make_settings().answer) is compose


def test_unknown_backend_is_a_config_error(make_settings):
    with pytest.raises(ConfigError, match="answer.backend"):
        make_settings(answer={"backend": "gpt"})
