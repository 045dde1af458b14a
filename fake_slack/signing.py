"""Sending what Slack sends: signed event callbacks (JSON) and interactivity (`payload=` forms).

Signatures follow Slack's scheme: `v0=` + HMAC-SHA256(secret, "v0:{timestamp}:{body}"), with the
timestamp in X-Slack-Request-Timestamp; `timestamp=` lets a test send a stale one.

A request goes to a URL over real HTTP (the server's own tests, the load benchmark), or straight
to a Bolt `App` as a `BoltRequest` (`app.dispatch`, as bolt-python's own tests do): the same
signed bytes and headers, the same signature check and listeners, without a server in between.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import time
import http.client
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fake_slack.web_api import BOT_USER_ID, TEAM_ID

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_ids = itertools.count(1)


def new_ts() -> str:
    """A message ts ("seconds.micro-ish"), unique within and across test processes."""
    return f"{int(time.time())}.{(os.getpid() * 1000 + next(_ids)) % 1_000_000:06d}"


def new_event_id() -> str:
    return f"Ev{uuid.uuid4().hex[:12].upper()}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def post(target: Any, body: bytes, content_type: str, *, secret: str = SIGNING_SECRET,
         timestamp: int | None = None, retry_num: int | None = None, bad_signature: bool = False,
         timeout: float = 10.0) -> Reply:
    """Send a signed request to `target`: a URL, or a Bolt App to dispatch it to in-process."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = signature(secret, ts, body)
    if bad_signature:
        sig = sig[:-4] + ("0000" if not sig.endswith("0000") else "1111")
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": sig}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    started = time.perf_counter()
    if not isinstance(target, str):
        from slack_bolt.request import BoltRequest

        response = target.dispatch(BoltRequest(body=body.decode(), headers=headers))
        return Reply(response.status, (response.body or "").encode(), time.perf_counter() - started)
    parsed = urlsplit(target)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        conn.request("POST", parsed.path or "/", body, headers)
        response = conn.getresponse()
        return Reply(response.status, response.read(), time.perf_counter() - started)
    finally:
        conn.close()


def event_callback(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """An Events API envelope around `event`, as Slack sends it."""
    return {"token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": "A0RAGBOT",
            "event": event, "type": "event_callback",
            "event_id": event_id or new_event_id(), "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}]}


def mention(text: str, *, channel: str = "C0GENERAL", user: str = "U0ALICE",
            ts: str | None = None, thread_ts: str | None = None) -> dict[str, Any]:
    ts = ts or new_ts()
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str, *, channel: str = "C0GENERAL", channel_type: str = "channel",
            user: str | None = "U0ALICE", ts: str | None = None, thread_ts: str | None = None,
            **extra: Any) -> dict[str, Any]:
    ts = ts or new_ts()
    event = {"type": "message", "text": text, "ts": ts, "channel": channel,
             "channel_type": channel_type, "event_ts": ts, **extra}
    if user:
        event["user"] = user
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def block_action(action_id: str, value: str, *, user: str = "U0ALICE",
                 channel: str = "C0GENERAL", message_ts: str = "1.0",
                 thread_ts: str | None = None) -> dict[str, Any]:
    return {"type": "block_actions", "team": {"id": TEAM_ID}, "api_app_id": "A0RAGBOT",
            "user": {"id": user, "team_id": TEAM_ID}, "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"type": "message", "ts": message_ts, "thread_ts": thread_ts,
                        "user": BOT_USER_ID},
            "trigger_id": "1.2.3", "response_url": "https://hooks.slack.example/actions/1",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "ragbot_feedback",
                         "value": value, "action_ts": str(time.time())}]}


class Sender:
    """Sends signed requests to one bot: its /slack/events URL, or its Bolt App in-process."""

    def __init__(self, target: Any, secret: str = SIGNING_SECRET) -> None:
        self.target, self.secret = target, secret

    def event(self, event: dict[str, Any], event_id: str | None = None, **kw: Any) -> Reply:
        body = json.dumps(event_callback(event, event_id)).encode()
        return post(self.target, body, "application/json", secret=self.secret, **kw)

    def envelope(self, envelope: dict[str, Any], **kw: Any) -> Reply:
        return post(self.target, json.dumps(envelope).encode(), "application/json",
                    secret=self.secret, **kw)

    def action(self, payload: dict[str, Any], **kw: Any) -> Reply:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return post(self.target, body, "application/x-www-form-urlencoded", secret=self.secret, **kw)
