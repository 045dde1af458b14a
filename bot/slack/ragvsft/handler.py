"""`/ragvsft` in Slack: the loaded tree and the key its button states are signed with, and what
to show for a command or a click. The listeners (bot/slack/listeners/commands/ragvsft/) only ack
and send what these methods return; the screens are built by bot/slack/ragvsft/blocks.py.

No server-side session: every button carries the whole walk as a signed state
(bot/decision/codec.py), so a click works on any app process and after a restart, as long as they
share the key and the tree. A value that does not verify (edited, made with another key, or made
before the tree file changed) starts the walk over with a short notice, never an error.

The key is the Slack signing secret, the one secret every process of an HTTP deployment already
shares. Socket Mode runs without one, so there it falls back to SLACK_SIGNING_SECRET if set, then
to a key derived from the bot token (also shared by every process and stable across restarts),
and only as a last resort to a random per-process key (clicks then start over after a restart).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.decision import (
    Result,
    StaleOrTamperedState,
    Tree,
    TreeError,
    button_values,
    decode_state,
    encode_state,
    load_tree,
    start,
    view,
)
from bot.slack.ragvsft import blocks as rb
from bot.slack.blocks import Message

log = logging.getLogger("ragbot.slack.ragvsft")

SYMPTOM_WORDS = {"symptom", "symptoms"}


def tree_path(settings: Settings) -> Path | None:
    """The configured tree file (`ragvsft.tree`), or None for config/ragvsft.yaml."""
    section = getattr(settings, "ragvsft", None)
    return getattr(section, "tree", None)


def tree_problem(settings: Settings) -> str | None:
    """The validation message when the configured tree cannot be used (for start-up checks)."""
    try:
        load_tree(tree_path(settings))
    except TreeError as exc:
        return str(exc)
    return None


def state_key(signing_secret: str | None, bot_token: str | None = None) -> bytes:
    """The HMAC key for button states (see the module docstring for the order and why)."""
    secret = signing_secret or os.environ.get("SLACK_SIGNING_SECRET", "").strip()
    if secret:
        return secret.encode()
    token = bot_token or os.environ.get("SLACK_BOT_TOKEN", "").strip()
    if token:
        # Derived, not the token itself: a MAC key must not be usable as a credential elsewhere.
        return hashlib.sha256(b"ragbot ragvsft state key|" + token.encode()).digest()
    log.warning("no SLACK_SIGNING_SECRET or bot token: /ragvsft buttons are signed with a "
                "per-process key and start over after a restart")
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Ragvsft:
    tree: Tree
    key: bytes

    @classmethod
    def load(cls, settings: Settings, signing_secret: str | None = None,
             bot_token: str | None = None) -> "Ragvsft":
        """Raises TreeError (naming the node and answer at fault) when the tree is broken, so a
        bad tree stops the app at start-up instead of at somebody's first click."""
        return cls(load_tree(tree_path(settings)), state_key(signing_secret, bot_token))

    # -- the walk --------------------------------------------------------------------------------

    def command(self, text: str | None) -> Message:
        """The reply to `/ragvsft [symptom | help]`."""
        words = (text or "").strip().lower().split()
        if not words:
            return self.screen(encode_state(start(self.tree), self.key))
        if words[0] in SYMPTOM_WORDS:
            if len(words) > 1 and self.tree.symptom(words[1]) is not None:
                return self.symptom(words[1])
            return rb.symptom_menu_message(self.tree.symptoms)
        if words[0] == "help":
            return rb.help_message()
        return rb.help_message(unknown=(text or "").strip())

    def screen(self, value: str | None, *, shared: bool = False) -> Message:
        """The screen a walk button's value leads to; a bad value starts over with a notice."""
        try:
            state = decode_state(value or "", self.tree, self.key)
        except StaleOrTamperedState as exc:
            log.info("ragvsft: starting over (%s: %s)", exc.reason, exc)
            return self._first(notice=rb.STALE_NOTICE)
        shown = view(self.tree, state)
        buttons = button_values(self.tree, state, self.key)
        if isinstance(shown, Result):
            return rb.result_message(shown, buttons, share_value=encode_state(state, self.key),
                                     shared=shared)
        return rb.step_message(shown, buttons)

    def _first(self, notice: str | None = None) -> Message:
        state = start(self.tree)
        return rb.step_message(view(self.tree, state), button_values(self.tree, state, self.key),
                               notice=notice)

    def shared_result(self, value: str | None, user_id: str) -> Message | None:
        """The channel post for a Share click, or None when the value is not a finished walk
        (the caller then shows `screen(value)`, which starts over with the notice)."""
        try:
            state = decode_state(value or "", self.tree, self.key)
        except StaleOrTamperedState as exc:
            log.info("ragvsft: share refused (%s: %s)", exc.reason, exc)
            return None
        shown = view(self.tree, state)
        return rb.shared_result_message(shown, user_id) if isinstance(shown, Result) else None

    # -- symptoms --------------------------------------------------------------------------------

    def symptom_menu(self, notice: str | None = None) -> Message:
        return rb.symptom_menu_message(self.tree.symptoms, notice=notice)

    def symptom(self, symptom_id: str | None, *, shared: bool = False) -> Message:
        """What to try for a symptom. Its value is only the id (unsigned: it can only name one of
        the tree's own symptoms, which anyone may pick); an unknown id shows the list again."""
        found = self.tree.symptom(symptom_id or "")
        if found is None:
            return self.symptom_menu(notice=rb.UNKNOWN_SYMPTOM_NOTICE)
        return rb.symptom_message(found, encode_state(start(self.tree), self.key), shared=shared)

    def shared_symptom(self, symptom_id: str | None, user_id: str) -> Message | None:
        found = self.tree.symptom(symptom_id or "")
        return rb.shared_symptom_message(found, user_id) if found is not None else None
