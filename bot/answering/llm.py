"""`answer.backend: llm`: the cited draft written by a chat model behind an OpenAI-compatible API.

Works with OpenAI itself and with anything that speaks its chat-completions wire format (vLLM,
Ollama, LM Studio, llama.cpp's server): `answer.llm.base_url`, `.model`, and the key read from the
environment variable named by `.api_key_env` (none for a local server that wants none). The chat
model is LangChain's `ChatOpenAI`, not a hand-written HTTP client.

The model is untrusted about citations. Its reply is cut into sentences and each one must end in
the `[n]` of a passage it was actually given: numbers outside the given passages are stripped, a
sentence left without a valid number is dropped (that is also how "I can't find that" disappears),
and when nothing cited remains the composer returns None, which the pipeline reports as NO_MATCH.
Surviving numbers are renumbered in order of first use with the extractive composer's own
`CitationNumbers`, so both backends produce the same `Citation` objects.

The endpoint being down, slow or refusing (HTTP error, timeout, missing key) must not cost the
user an answer: the extractive composer answers instead and `Draft.note` says why. There are no
client retries (`max_retries=0`): `timeout_s` bounds the wait, and the fallback is the retry.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import numpy as np

from bot.answering.compose import CitationNumbers, Draft, compose, end_sentence
from bot.answering.reading import TYPE_NOUNS, expected_type
from bot.answering.types import Passage
from bot import shipped
from bot.config import AnswerConfig
from bot.openai_endpoint import chat_model, describe_error, endpoint_errors, message_text

log = logging.getLogger(__name__)

PROMPT_FILE = shipped("prompts/answer.md")


@functools.lru_cache(maxsize=4)
def _read_prompt(path: Path, mtime: float) -> str:
    return path.read_text(encoding="utf-8")


def load_prompt(path: Path = PROMPT_FILE) -> str:
    return _read_prompt(path, path.stat().st_mtime)


# --- the reply, sentence by sentence -------------------------------------------------------

_CITE = r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]"
_CITES = re.compile(_CITE)
# A sentence ends at . ! ? (or right after a citation) followed by more citations, then by
# whitespace and a capital/digit, or the end: "1.5 days" and "e.g. the" are not boundaries.
_BOUNDARY = re.compile(
    rf"(?:[.!?…]+[\"'”’)]*|(?<=\]))(?:\s*{_CITE})*(?=\s+[\"'“‘(*_]?[A-Z0-9]|\s*$)")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_THINKING = re.compile(r"<think>.*?</think>", re.S | re.I)


def split_reply(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without its markers, the numbers it cited) for each sentence of a reply."""
    text = _THINKING.sub(" ", text)
    out: list[tuple[str, list[int]]] = []
    for line in text.splitlines():
        line = _LIST_MARK.sub("", line).strip()
        start = 0
        pieces = []
        for match in _BOUNDARY.finditer(line):
            if match.end() > start:
                pieces.append(line[start:match.end()])
                start = match.end()
        pieces.append(line[start:])
        for piece in pieces:
            numbers = [int(n) for group in _CITES.findall(piece) for n in re.findall(r"\d+", group)]
            body = " ".join(_CITES.sub(" ", piece).split())
            body = re.sub(r"\s+([.,;:!?])", r"\1", body)
            if re.search(r"\w", body):
                out.append((body, numbers))
    return out


def cited_draft(reply: str, passages: list[Passage]) -> tuple[Draft | None, list[str]]:
    """Validate and renumber a reply's citations against the passages it was given.

    Returns the draft (None when no sentence keeps a valid citation) and what was removed.
    """
    numbers = CitationNumbers(passages)
    sentences: list[str] = []
    removed: list[str] = []
    for body, cited in split_reply(reply):
        valid = list(dict.fromkeys(n for n in cited if 1 <= n <= len(passages)))
        removed.extend(f"[{n}] (no such passage)" for n in dict.fromkeys(cited) if n not in valid)
        if not valid:
            removed.append(f"uncited sentence {body[:60]!r}")
            continue
        marks = " ".join(f"[{numbers.number(n - 1)}]" for n in valid)
        sentences.append(f"{end_sentence(body)} {marks}")
    if not sentences:
        return None, removed
    best = max((p.dense for p in passages), default=0.0)
    return Draft(text=" ".join(sentences), citations=numbers.citations, best_score=best), removed


def format_passages(passages: list[Passage]) -> str:
    blocks = []
    for n, p in enumerate(passages, 1):
        # headings usually start with the page's own H1, which is the title again
        where = p.headings if p.headings.startswith(p.title) else \
            " > ".join(part for part in (p.title, p.headings) if part)
        blocks.append(f"[{n}] {where}\n{p.text.strip()}")
    return "\n\n".join(blocks)


class LLMComposer:
    """Has the shape of `compose()`; the pipeline calls whichever `composer_for` returns."""

    def __init__(self, config: AnswerConfig, prompt_file: Path = PROMPT_FILE) -> None:
        self.config = config
        self.prompt_file = prompt_file

    def messages(self, question: str, passages: list[Passage], max_sentences: int):
        from langchain_core.messages import HumanMessage, SystemMessage

        system = load_prompt(self.prompt_file).replace("{max_sentences}", str(max_sentences))
        kind = expected_type(question)  # the same reading the extractive composer uses
        asks = f"(The question asks for {TYPE_NOUNS[kind]}.)\n" if kind else ""
        user = f"Passages:\n\n{format_passages(passages)}\n\n{asks}Question: {question}"
        return [SystemMessage(system), HumanMessage(user)]

    def __call__(self, question: str, question_vector: np.ndarray, passages: list[Passage],
                 embed_many, *, max_sentences: int, max_passages: int,
                 idf=None) -> Draft | None:
        llm = self.config.llm
        shown = passages[:max_passages]
        if not shown:
            return None
        try:
            model = chat_model(llm.base_url, llm.model, llm.api_key_env, llm.timeout_s)
            reply = model.invoke(self.messages(question, shown, max_sentences))
        except endpoint_errors() as exc:
            why = f"answer.backend llm ({llm.model} at {llm.base_url}): {describe_error(exc)}"
            log.warning("%s; using the extractive composer", why)
            draft = compose(question, question_vector, passages, embed_many,
                            max_sentences=max_sentences, max_passages=max_passages, idf=idf)
            if draft is not None:
                draft.note = f"{why}; extractive answer instead"
            return draft
        draft, removed = cited_draft(message_text(reply), shown)
        if removed:
            log.info("llm draft: removed %s", "; ".join(removed))
            if draft is not None:
                draft.note = "removed from the model's reply: " + "; ".join(removed)
        return draft


def composer_for(config: AnswerConfig):
    """The composer `answer.backend` selects; both have `compose()`'s signature."""
    return LLMComposer(config) if config.backend == "llm" else compose
