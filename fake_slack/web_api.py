"""A loopback fake of the Slack Web API: records every call, answers like Slack does.

Start it on 127.0.0.1, port 0, and point a WebClient at `fake.base_url` (SLACK_API_URL). Each
call is recorded with its method, its parameters (JSON or form body, as slack_sdk sends them)
and its headers. Answers have the shapes Slack's have (`ok`, `ts`, `channel`, ...), and
chat.postMessage refuses what Slack refuses (more than 50 blocks, a section text over 3,000
characters, no text and no blocks) with Slack's error codes, so a message the bot gets wrong fails
the test the way it would fail in production.

`fake.rate_limit("chat.postMessage", times=1)` makes the next call(s) to that method answer
HTTP 429 with `Retry-After: 1`, as Slack does; `fake.fail_next(method, error)` makes the next
call answer `ok: false` with that error.

Response URLs: `fake.response_url("1")` is a URL on this fake to put in an interaction payload's
`response_url`; what the app sends there is recorded as method "response_url" (`fake.responses()`)
and refused with HTTP 400 when Slack would refuse the message. `fake.not_in_channel` holds
channels where chat.postMessage answers `not_in_channel` (the bot is not a member).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

BOT_USER_ID = "U0RAGBOT"
BOT_ID = "B0RAGBOT"
TEAM_ID = "T0BRIGHT"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    path: str = ""  # the request path (which response_url a response went to)


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded JSON fields (blocks sent as a string) decoded, as Slack does."""
    for key in ("blocks", "attachments"):
        if isinstance(params.get(key), str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass
    return params


def message_problem(params: dict[str, Any]) -> str | None:
    """Slack's error code for a message it would refuse, or None."""
    blocks = params.get("blocks") or []
    text = params.get("text") or ""
    if not blocks and not text:
        return "no_text"
    if len(text) > 40000:
        return "msg_too_long"
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") == "section" and len(block.get("text", {}).get("text", "")) > 3000:
            return "invalid_blocks"
        if block.get("type") == "context" and len(block.get("elements", [])) > 10:
            return "invalid_blocks"
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if len(element.get("value", "")) > 2000 or len(element.get("action_id", "")) > 255:
                    return "invalid_blocks"
    return None


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, dict[str, Any]] = {}  # id -> conversations.info fields
        self.users: dict[str, dict[str, Any]] = {}  # id -> users.info fields ({"is_admin": True})
        self.socket_url: str | None = None  # what apps.connections.open hands out
        self.token_valid = True  # False: auth.test answers invalid_auth, as for a revoked token
        self.not_in_channel: set[str] = set()  # chat.postMessage there: not_in_channel
        self._limits: dict[str, int] = {}
        self._errors: dict[str, list[str]] = {}
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def start(self) -> "FakeSlack":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1) -> None:
        self._limits[method] = times

    def fail_next(self, method: str, error: str) -> None:
        """The next call to `method` answers `{"ok": false, "error": error}` (HTTP 200)."""
        self._errors.setdefault(method, []).append(error)

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        with self._cond:
            return [c for c in self.calls
                    if c.method == method and (c.status == 200 or not ok_only)]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Parameters of the accepted chat.postMessage calls (optionally in one channel)."""
        return [c.params for c in self.calls_to("chat.postMessage")
                if c.params.get("_accepted")
                and (channel is None or c.params.get("channel") == channel)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Wait (bounded) until `predicate()` is truthy; returns its value or raises."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake Slack: condition not met in {timeout}s; calls: "
                                       f"{[c.method for c in self.calls]}")
                self._cond.wait(min(left, 0.2))

    def response_url(self, name: str = "1") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/{name}"

    def responses(self) -> list[dict[str, Any]]:
        """Bodies sent to this fake's response URLs (accepted ones), in order."""
        return [c.params for c in self.calls_to("response_url")]

    def wait_responses(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        return self.wait_for(lambda: (lambda r: r if len(r) >= n else None)(self.responses()),
                             timeout)

    def wait_posts(self, n: int, channel: str | None = None, timeout: float = 30.0) -> list[dict]:
        return self.wait_for(lambda: (lambda p: p if len(p) >= n else None)(self.posts(channel)),
                             timeout)

    # -- the API -----------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if self._errors.get(method):
            return {"ok": False, "error": self._errors[method].pop(0)}
        if method == "auth.test":
            if not self.token_valid:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": "https://brightwave.slack.example/", "team": "Brightwave",
                    "user": "ragbot", "team_id": TEAM_ID, "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID, "is_enterprise_install": False}
        if method == "response_url":
            problem = message_problem(params)
            return {"ok": False, "error": problem} if problem else {"ok": True}
        if method == "chat.postMessage":
            if params.get("channel") in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            problem = message_problem(params)
            if problem:
                return {"ok": False, "error": problem}
            params["_accepted"] = True
            return {"ok": True, "channel": params.get("channel"), "ts": ts,
                    "message": {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID,
                                "text": params.get("text", ""), "ts": ts,
                                "thread_ts": params.get("thread_ts"),
                                "blocks": params.get("blocks", [])}}
        if method == "chat.update":
            problem = message_problem(params)
            return ({"ok": False, "error": problem} if problem else
                    {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"),
                     "text": params.get("text", "")})
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method in {"reactions.add", "reactions.remove"}:
            return {"ok": True}
        if method == "users.info":
            user = params.get("user", "")
            return {"ok": True, "user": {"id": user, "name": user.lower(), "is_bot": False,
                                         "is_admin": False, "tz": "Europe/Dublin",
                                         **self.users.get(user, {})}}
        if method == "conversations.info":
            channel = params.get("channel", "")
            info = {"id": channel, "name": channel.lower(), "is_channel": True,
                    "is_private": False, "is_im": False, "is_mpim": False,
                    **self.channels.get(channel, {})}
            return {"ok": True, "channel": info}
        if method == "conversations.replies":
            thread = params.get("ts")
            messages = [{"type": "message", "text": p.get("text"), "thread_ts": p.get("thread_ts")}
                        for p in self.posts(params.get("channel")) if p.get("thread_ts") == thread]
            return {"ok": True, "messages": messages, "has_more": False}
        if method == "apps.connections.open":
            if not self.socket_url:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_url}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                method = self.path.split("?")[0].rsplit("/", 1)[-1]
                if self.path.startswith("/hooks/"):
                    method = "response_url"
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or b"{}")
                else:
                    params = dict(parse_qsl(raw.decode()))
                params = _decode(params)
                call = Call(method, params, dict(self.headers.items()), path=self.path)
                limited = fake._limits.get(method, 0) > 0
                if limited:
                    fake._limits[method] -= 1
                    call.status = 429
                    body, headers = {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
                else:
                    body, headers = fake.answer(method, params), {}
                    if method == "response_url" and not body["ok"]:
                        call.status = 400  # Slack answers a refused response this way
                # Recorded before the client has its answer: the calls a client makes one after
                # another are then recorded in that order, whichever server thread runs first
                # (recorded after, a later call from the same client could land first).
                with fake._cond:
                    fake.calls.append(call)
                    fake._cond.notify_all()
                payload = json.dumps(body).encode()
                self.send_response(call.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        return Handler


def all_text(post: dict[str, Any]) -> str:
    """Everything a posted message shows: fallback text and every text in its blocks."""
    parts = [post.get("text") or ""]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "text" and isinstance(item, str):
                    parts.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(post.get("blocks") or [])
    return "\n".join(parts)
