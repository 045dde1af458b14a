"""A walk's state as a short signed string for a Slack button `value` (2,000 characters at most).

Format: `w1.<tree version>.<answer ids joined by '-'>.<tag>`, for example
`w1.3fa9c0d2e1.knowledge-docs.Xb3k...`. Ids are `[a-z0-9_]` and the version is hex, so '.' and
'-' never occur inside one, and the base64url tag has no '.'. The tag is HMAC-SHA256 over
`ragvsft|` + everything before the last dot, keyed by the secret the caller passes (the Slack
layer passes its signing secret), truncated to 96 bits: enough that a forged value cannot be
guessed, short enough for the limit. The `ragvsft|` prefix keeps these MACs apart from any other
use of the same secret.

Why sign at all: a button value comes back from the client, and a forged path would only replay
answers the tree offers anyway, but signing makes "the tree changed" and "someone edited this"
the same easy case for the caller: `StaleOrTamperedState`, start over with a notice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from .engine import InvalidStep, State, StaleOrTamperedState, back, replay, start, step
from .model import Tree

FORMAT = "w1"
MAX_VALUE_CHARS = 2000  # Slack's limit for a button's `value`
VERSION_CHARS = 10  # Tree.version length (hex)
TAG_CHARS = 16  # base64url of 12 bytes


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("an empty secret cannot sign walk states")
    return key


def _tag(payload: str, secret: str | bytes) -> str:
    mac = hmac.new(_key(secret), b"ragvsft|" + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode()


def encoded_length(version_chars: int, path: list[str] | tuple[str, ...]) -> int:
    """Length of the encoded value for a path (used by the loader to bound the longest walk)."""
    return len(FORMAT) + 1 + version_chars + 1 + len("-".join(path)) + 1 + TAG_CHARS


def encode_state(state: State, secret: str | bytes) -> str:
    """`state` (the path plus the tree version it was taken in) as a signed button value."""
    payload = f"{FORMAT}.{state.version}.{'-'.join(state.path)}"
    return f"{payload}.{_tag(payload, secret)}"


def decode_state(value: str, tree: Tree, secret: str | bytes) -> State:
    """The state in `value`, checked against `tree`.

    Raises StaleOrTamperedState (reason: malformed, bad_tag, stale_version or invalid_path) when
    the value is not one of ours, its tag does not match, the tree changed since it was made, or
    the path leaves the current tree. The tag is checked first, in constant time."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS or value.count(".") != 3:
        raise StaleOrTamperedState("malformed", "not a ragvsft state value")
    payload, _, tag = value.rpartition(".")
    fmt, version, joined = payload.split(".")
    if fmt != FORMAT:
        raise StaleOrTamperedState("malformed", f"unknown state format {fmt!r}")
    if not hmac.compare_digest(tag.encode(), _tag(payload, secret).encode()):
        raise StaleOrTamperedState("bad_tag", "the state's integrity tag does not match")
    if version != tree.version:
        raise StaleOrTamperedState(
            "stale_version", f"state was made for tree version {version!r}, "
                             f"the tree is now {tree.version!r}")
    path = tuple(joined.split("-")) if joined else ()
    try:
        replay(tree, path)
    except InvalidStep as exc:
        raise StaleOrTamperedState("invalid_path", str(exc)) from None
    return State(path, version)


@dataclass(frozen=True, slots=True)
class Buttons:
    """Signed values for every button of one screen; the Slack layer only places them."""

    answers: dict[str, str]  # answer id -> value of the state after that answer; {} once ended
    back: str | None  # None on the first question (nothing to go back to)
    restart: str


def button_values(tree: Tree, state: State, secret: str | bytes) -> Buttons:
    """The `Buttons` for the screen `state` shows (a question, or the result)."""
    walk = replay(tree, state.path)
    choices = walk.node.question.answers if walk.node is not None else ()
    answers = {a.id: encode_state(step(tree, state, a.id), secret) for a in choices}
    return Buttons(answers=answers,
                   back=encode_state(back(state), secret) if state.path else None,
                   restart=encode_state(start(tree), secret))
