"""`ragbot serve`: the Slack bot over Socket Mode or HTTP.

HTTP mode serves, on one threaded WSGI server (waitress: a production server, pure Python, no
C build, several worker threads; not Bolt's single-threaded development server):
- `POST /slack/events`: everything Slack sends (events, slash commands, interactivity), verified
  by Bolt against SLACK_SIGNING_SECRET (bad signature or a timestamp over 5 minutes old: 401);
- `GET /healthz`: `{"status": "ok"}` (or "not ok", HTTP 503) for load balancers; the index's
  freshness per source and the answer queue only with `Authorization: Bearer <token>` when
  `RAGBOT_HEALTH_TOKEN` is set (source names and sizes are nobody else's business).
Every POST is checked before Bolt sees it (Bolt parses the body before it verifies the
signature): over `MAX_BODY_BYTES` -> 413 (waitress stops reading there), bad or missing
signature or a stale timestamp -> 401, a signed body that is not the JSON / form Slack sends ->
400; each with one log line, no traceback.
Binds 127.0.0.1 unless told otherwise: put a TLS-terminating proxy in front, Slack only calls
https URLs.

Start-up order: check the environment and the `slack:` config (exit 2 naming what is missing),
warm the pipeline (models loaded), build the app (Bolt's auth.test checks the token), start the
sync scheduler (bot/knowledge/scheduler.py), and only then listen / open the socket, so the
first question never waits for a model to load.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import Settings
from bot.knowledge import state
from bot.knowledge.index import Index
from bot import records as store
from bot.slack.answerer import Answerer
from bot.slack.ragvsft.handler import tree_problem
from bot.slack.scope import check_scopes

log = logging.getLogger("ragbot.slack")

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
DEFAULT_API_URL = "https://slack.com/api/"
# An ack is well under a millisecond of Python; more threads only add GIL contention on 2 cores
# (bench/slack_load.py measured 4 at least as good as 8 for a burst of 50).
HTTP_THREADS = 4
# Slack's own payloads are a few KB (a modal submission with blocks tens of KB); nothing that
# large is legitimate, and an unsigned body is never read past this.
MAX_BODY_BYTES = 1024 * 1024
HEALTH_TOKEN_ENV = "RAGBOT_HEALTH_TOKEN"


def make_client(token: str, base_url: str | None = None) -> WebClient:
    """The bot's WebClient: `SLACK_API_URL` as base URL, and 429s waited out (Retry-After)."""
    base_url = base_url or DEFAULT_API_URL
    client = WebClient(token=token, base_url=base_url.rstrip("/") + "/", timeout=30)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def health(settings: Settings, answerer: Answerer | None = None) -> dict[str, Any]:
    """The full health report (index freshness per source, answer queue): only for callers that
    present the health token, since it names private sources and their sizes."""
    index = Index(settings)
    counts = state.page_counts(index.engine)
    now = datetime.now(timezone.utc)
    sources: dict[str, Any] = {}
    for source in settings.sources:
        runs = state.recent_runs(index.engine, source.name, limit=1)
        last_ok = index.last_success(source.name)
        pages, chunks = counts.get(source.name, (0, 0))
        sources[source.name] = {"visibility": source.visibility, "pages": pages, "chunks": chunks,
                                "last_sync": runs[0]["status"] if runs else None,
                                "synced_at": last_ok.isoformat() if last_ok else None}
    newest = index.last_success()
    return {"status": "ok",
            "index": {"synced_at": newest.isoformat() if newest else None,
                      "age_s": round((now - newest).total_seconds()) if newest else None,
                      "pages": sum(c[0] for c in counts.values()), "sources": sources},
            "answers_pending": answerer.pending if answerer else None}


def _health_response(environ, settings: Settings, answerer: Answerer | None):
    token = os.environ.get(HEALTH_TOKEN_ENV, "")
    given = environ.get("HTTP_AUTHORIZATION", "")
    detailed = bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        report = health(settings, answerer)
        status = "200 OK"
    except Exception as exc:  # noqa: BLE001 - the index DB cannot be read: that is "not ok"
        log.warning("health check failed: %s", exc)
        report, status = {"status": "not ok"}, "503 Service Unavailable"
    return status, (report if detailed else {"status": report["status"]})


def _refuse(start_response, status: str, message: str):
    body = json.dumps({"error": message}).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def signed(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature over the raw bytes, timestamp within 5 minutes. Not slack_sdk's
    SignatureVerifier: it decodes the body as UTF-8 first and raises on other bytes."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def _checked_body(environ, secret: str | None) -> tuple[str, str] | None:
    """Read and check a POST body before Bolt parses it; (status, reason) when refused, else
    None with `wsgi.input` replaced by the bytes read."""
    from slack_bolt.request.internals import parse_body

    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "400 Bad Request", "bad Content-Length"
    if length > MAX_BODY_BYTES:
        return "413 Payload Too Large", f"body of {length} bytes (over {MAX_BODY_BYTES})"
    body = environ["wsgi.input"].read(length) if length else b""
    if secret is not None and not signed(secret, body,
                                         environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
                                         environ.get("HTTP_X_SLACK_SIGNATURE", "")):
        return "401 Unauthorized", "bad or missing signature, or a stale timestamp"
    try:
        parse_body(body.decode("utf-8"), environ.get("CONTENT_TYPE"))
    except (UnicodeDecodeError, ValueError) as exc:
        return "400 Bad Request", f"signed body is not a Slack payload ({type(exc).__name__})"
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return None


def wsgi_app(bolt_app, settings: Settings, answerer: Answerer | None = None):
    """Bolt's WSGI handler at /slack/events (behind the checks above) plus /healthz."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    slack = SlackRequestHandler(bolt_app, path=EVENTS_PATH)
    # Bolt keeps the secret it verifies with here; an app built without one verifies nothing,
    # and neither does the check in front of it then.
    secret = getattr(bolt_app, "_signing_secret", None) or None

    def application(environ, start_response):
        if environ.get("PATH_INFO") == HEALTH_PATH and \
                environ.get("REQUEST_METHOD") in {"GET", "HEAD"}:
            status, report = _health_response(environ, settings, answerer)
            body = json.dumps(report).encode()
            start_response(status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(body))),
                                    ("Cache-Control", "no-store")])
            return [body]
        started = time.perf_counter()
        if environ.get("REQUEST_METHOD") == "POST":
            refused = _checked_body(environ, secret)
            if refused is not None:
                status, reason = refused
                log.warning("refused %s from %s: %s (HTTP %s)", environ.get("PATH_INFO"),
                            environ.get("REMOTE_ADDR", "?"), reason, status.split()[0])
                return _refuse(start_response, status, reason)

        def timed_start_response(status, headers, exc_info=None):
            # Server-Timing: how long the app held the request (signature check, dispatch, ack);
            # the load benchmark sets it against what the client saw.
            took = (time.perf_counter() - started) * 1000
            return start_response(status, [*headers, ("Server-Timing", f"app;dur={took:.2f}")],
                                  exc_info)

        return slack(environ, timed_start_response)

    return application


class HttpServer:
    """waitress on host:port (0: any free port), runnable in the foreground or a thread."""

    def __init__(self, application, host: str = "127.0.0.1", port: int = 3000,
                 threads: int = HTTP_THREADS) -> None:
        from waitress import create_server

        # max_request_body_size: waitress answers 413 itself and stops reading a larger body.
        self._server = create_server(application, host=host, port=port, threads=threads,
                                     ident="ragbot", clear_untrusted_proxy_headers=True,
                                     max_request_body_size=MAX_BODY_BYTES)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Lock()
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self.port}"

    def run(self) -> None:
        self._server.run()

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self.run, name="ragbot-http", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        from waitress import wasyncore

        server = self._server
        with self._stopping:  # idempotent: close_all runs later, on the loop thread
            if self._stopped or not server._map:
                return
            self._stopped = True
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))  # loop thread
        except OSError:  # the loop closed its trigger already: it is shutting down by itself
            pass
        if self._thread:
            self._thread.join(timeout)
        server.task_dispatcher.shutdown(timeout=timeout)


def _fail(message: str) -> None:
    print(f"ragbot serve: {message}", file=sys.stderr)
    raise SystemExit(2)


def _require(name: str, why: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        _fail(f"{name} is not set: {why}")
    return value


def serve_forever(settings: Settings, http: bool, port: int, host: str = "127.0.0.1") -> None:
    """Run the bot until SIGTERM / Ctrl-C. Exits 2 (with the reason) on a setup problem."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress warns for every request queued behind its threads; a burst of Slack events queues
    # a few for a millisecond each, which is normal (its queue depth is not a health signal here).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    token = _require("SLACK_BOT_TOKEN", "the bot token (xoxb-...) from the app's "
                     "\"OAuth & Permissions\" page")
    if http:
        secret = _require("SLACK_SIGNING_SECRET", "HTTP mode verifies every request with it (the "
                          "app's \"Basic Information\" page)")
        app_token = None
    else:
        secret = None
        app_token = _require("SLACK_APP_TOKEN", "Socket Mode needs an app-level token (xapp-..., "
                             "scope connections:write); or run `ragbot serve --http`")
    problems = check_scopes(settings)
    if problems:
        _fail("the slack: section of the config names unknown sources:\n  " + "\n  ".join(problems))
    broken_tree = tree_problem(settings)  # the /ragvsft tree, checked before any model loads
    if broken_tree:
        _fail(broken_tree)

    from bot.answering.pipeline import Pipeline
    from bot.slack.app import build_app

    store.prune_seen(Index(settings).engine)  # opens (and migrates) the database
    pipeline = Pipeline(settings)
    log.info("loading models")
    pipeline.warm_up()
    client = make_client(token, os.environ.get("SLACK_API_URL"))
    answerer = Answerer(settings, pipeline)
    try:
        bolt_app = build_app(settings, pipeline, client, signing_secret=secret, answerer=answerer)
    except Exception as exc:  # BoltError from auth.test: a wrong or revoked token, no network
        answerer.close(wait=False)
        _fail(f"the Slack app could not start ({exc}); check SLACK_BOT_TOKEN"
              + (" and SLACK_API_URL" if os.environ.get("SLACK_API_URL") else ""))
    from bot.knowledge.scheduler import start_scheduler

    scheduler = start_scheduler(settings)  # None: run_in_serve is false; else runs or stands by
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if http:
            server = HttpServer(wsgi_app(bolt_app, settings, answerer), host=host, port=port)
            log.info("listening on %s%s (health: %s%s)", server.url, EVENTS_PATH, server.url,
                     HEALTH_PATH)
            server.run()
        else:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("connecting to Slack over Socket Mode")
            SocketModeHandler(bolt_app, app_token).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        log.info("stopping: finishing the questions in hand")
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        answerer.close(wait=True)
