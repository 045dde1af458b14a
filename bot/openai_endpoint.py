"""Talking to an OpenAI-compatible chat endpoint: the client helpers `answer.backend: llm`
(bot/answering/llm.py) and `tone.backend: openai` (bot/tone/openai_stage.py) share.

The chat model is LangChain's `ChatOpenAI` with no client retries (`max_retries=0`): each caller
bounds the wait with its own timeout and has its own fallback (the extractive answer, the neutral
draft), which is the retry. openai is imported inside the functions: it costs ~1.5 s, and the
extractive pipeline, which imports the answering package, never needs it.
"""

from __future__ import annotations

import functools
import os

# A local server without authentication still needs a non-empty key for the OpenAI client.
NO_KEY = "not-needed"


class MissingKeyError(RuntimeError):
    """`api_key_env` names a variable that is not set; the message says which."""


def endpoint_errors() -> tuple[type[BaseException], ...]:
    """What a call to the endpoint raises when it fails (HTTP status, timeout, connection, key)."""
    import openai

    return (openai.OpenAIError, MissingKeyError)


@functools.lru_cache(maxsize=8)
def _chat_model(base_url: str, model: str, api_key: str, timeout_s: float, temperature: float):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=model, base_url=base_url, api_key=api_key, timeout=timeout_s,
                      max_retries=0, temperature=temperature)


def chat_model(base_url: str, model: str, api_key_env: str | None, timeout_s: float,
               *, temperature: float = 0.0):
    """A LangChain chat model for an OpenAI-compatible endpoint (cached: one HTTP pool each).

    The key is read from the environment on every call, so a rotated key is picked up without
    a restart. Raises MissingKeyError when `api_key_env` is given but unset.
    """
    key = NO_KEY
    if api_key_env:
        key = os.environ.get(api_key_env, "")
        if not key:
            raise MissingKeyError(f"environment variable {api_key_env} (api_key_env) is not set")
    return _chat_model(base_url.rstrip("/"), model, key, float(timeout_s), float(temperature))


def is_timeout(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.APITimeoutError)


def describe_error(exc: BaseException) -> str:
    """A one-line reason for logs and `Draft.note` / `ToneOutcome.reason`."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "the endpoint timed out"
    if isinstance(exc, openai.APIStatusError):
        return f"the endpoint answered HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "the endpoint cannot be reached"
    return str(exc) or type(exc).__name__


def message_text(message) -> str:
    """The text of a chat reply, whether its content is a string or a list of parts."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part)
                   for part in content)
