"""`tone.backend: openai`: the tone rewrite done by a hosted model through the chat-completions API.

The model is addressed by name: an OpenAI fine-tune (`ft:gpt-4o-mini-...:org::id`, trained on
`ragbot tone export --format openai`) or a LoRA adapter a vLLM server loads with
`--lora-modules NAME=PATH`; `tone.base_url` says which server, `tone.api_key_env` where the key is.
The system prompt is `prompts/tone/style.md` plus one instruction (`system_prompt()`); the export
writes the very same one into every training example, so a fine-tune sees at run time exactly
what it was trained on.

The rewrite is untrusted like any model output: it goes through `bot.tone.guard.check`, and on a
rejection, an HTTP error, a timeout or a missing key the neutral draft is sent, with the reason.
A slow tone model must never cost the user the answer, so `tone.timeout_s` bounds the call and
there are no client retries.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot import shipped
from bot.openai_endpoint import (chat_model, describe_error, endpoint_errors, is_timeout,
                                 message_text)
from bot.tone import guard
from bot.tone.stage import TIMEOUT, ToneOutcome

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

STYLE_FILE = shipped("prompts/tone/style.md")
INSTRUCTION = ("The user message is the neutral cited draft. Reply with the rewritten answer "
               "only: no preamble, no quotes, no notes.")


def system_prompt(style_file: Path = STYLE_FILE) -> str:
    """The system message of every request and of every exported training example."""
    return f"{style_file.read_text(encoding='utf-8').strip()}\n\n{INSTRUCTION}"


class OpenAIToneStage:
    """`rewrite(draft) -> ToneOutcome`, like the local stage; never raises for the endpoint.

    Reasons follow the local stage's: "timeout", "error: ...", or the guard's own reason.
    """

    def __init__(self, settings: Settings, style_file: Path = STYLE_FILE) -> None:
        self.config = settings.tone
        self.name = settings.tone.model
        self.system = system_prompt(style_file)  # a missing style file fails at start, not per reply

    def rewrite(self, draft: str) -> ToneOutcome:
        from langchain_core.messages import HumanMessage, SystemMessage

        cfg = self.config
        started = time.monotonic()

        def outcome(text: str, accepted: bool, reason: str | None, raw: str | None = None):
            return ToneOutcome(text, accepted, reason, raw, (time.monotonic() - started) * 1000)

        if not draft.strip():
            return outcome(draft, False, "empty draft")
        try:
            model = chat_model(cfg.base_url, cfg.model, cfg.api_key_env, cfg.timeout_s)
            reply = model.invoke([SystemMessage(self.system), HumanMessage(draft)])
        except endpoint_errors() as exc:
            why = describe_error(exc)
            log.warning("tone model %s at %s: %s; draft sent", cfg.model, cfg.base_url, why)
            return outcome(draft, False, TIMEOUT if is_timeout(exc) else f"error: {why}")
        rewrite = message_text(reply).strip()
        verdict = guard.check(draft, rewrite)
        if not verdict.ok:
            log.info("tone guard rejected the rewrite of %s: %s", cfg.model, verdict.reason)
            return outcome(draft, False, verdict.reason, rewrite)
        return outcome(rewrite, True, None, rewrite)
