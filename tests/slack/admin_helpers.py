"""Helpers for the /ragadmin scenario tests: a small synced folder source and signed slash commands.

Resync tests change their index, so they never touch the session's demo index: each test gets a
config file in its tmp_path (scheduled jobs refer to the file) over a folder holding a few demo
wiki pages, and a bot answering with `StubPipeline` (no answer model to load).
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

from bot.config import DEFAULT_CONFIG, Settings, load_settings
from bot.slack.answerer import Answerer
from bot.slack.app import build_app
from bot.slack.serve import make_client
from fake_slack import SIGNING_SECRET, TEAM_ID, FakeSlack
from fake_slack.signing import Reply, post
from tests.slack.helpers import StubPipeline

DEMO_WIKI = DEFAULT_CONFIG.parent / "demo-wiki"
HANDBOOK_PAGES = ("it/lost-or-stolen-device.md", "people/payroll.md", "people/sick-leave.md")
ADMIN = "U0ADMIN"


def copy_tree(template: Path, tmp_path: Path) -> Path:
    """A copy of a synced config tree (config, folders, data dir: paths in it are relative), so
    each test changes its own index without paying for the first sync again."""
    target = tmp_path / "tree"
    shutil.copytree(template, target)
    return target / "ragbot.yaml"


def write_admin_config(tmp_path: Path, *, admins: list[str] | None = None,
                       workspace_admins: bool = False, **slack: Any) -> Path:
    """`ragbot.yaml` in tmp_path: `handbook` (a few demo pages, every 30m) and `notes` (one page,
    private, on demand); admins as given (default: ADMIN)."""
    handbook = tmp_path / "handbook"
    for page in HANDBOOK_PAGES:
        (handbook / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_WIKI / page, handbook / page)
    notes = tmp_path / "notes"
    notes.mkdir(exist_ok=True)
    (notes / "leads.md").write_text("# Leads\nThe leads meet on Tuesdays.\n", encoding="utf-8")
    data = {
        "data_dir": "data",
        "index": {"collection": "admintest"},
        "tone": {"enabled": False},
        "sources": [
            {"name": "handbook", "type": "folder", "path": "./handbook",
             "url": "https://wiki.example/{path}", "schedule": {"every": "30m", "jitter_s": 0}},
            {"name": "notes", "type": "folder", "path": "./notes", "visibility": "private"},
        ],
        "admins": {"users": [ADMIN] if admins is None else admins,
                   "workspace_admins": workspace_admins},
        **({"slack": slack} if slack else {}),
    }
    path = tmp_path / "ragbot.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@dataclass
class Sent:
    """One slash command sent: Bolt's HTTP reply (the ack) and where the later replies went."""

    reply: Reply
    response_url: str

    @property
    def ack(self) -> dict[str, Any]:
        return self.reply.json() if self.reply.body else {}


@dataclass
class AdminBot:
    fake: FakeSlack
    app: Any  # the Bolt App, sent requests in-process
    answerer: Answerer
    settings: Settings

    def command(self, text: str, *, user: str = ADMIN, channel: str = "C0GENERAL") -> Sent:
        """`/ragadmin <text>` as Slack sends it: a signed form post, dispatched to the app."""
        response_url = self.fake.response_url(uuid.uuid4().hex[:8])
        body = urlencode({
            "token": "legacy-verification-token", "team_id": TEAM_ID,
            "team_domain": "brightwave", "channel_id": channel, "channel_name": "general",
            "user_id": user, "user_name": user.lower(), "command": "/ragadmin", "text": text,
            "api_app_id": "A0RAGBOT", "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"{int(time.time())}.1.abc"}).encode()
        reply = post(self.app, body, "application/x-www-form-urlencoded")
        return Sent(reply, response_url)

    def responses(self, sent: Sent, n: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The messages sent through this command's response_url (at least `n`), oldest first."""
        path = urlsplit(sent.response_url).path

        def mine() -> list[dict[str, Any]]:
            return [c.params for c in self.fake.calls_to("response_url") if c.path == path]

        return self.fake.wait_for(lambda: (lambda r: r if len(r) >= n else None)(mine()), timeout)

    def stop(self) -> None:
        self.answerer.close(wait=True)


def start_admin_bot(config: Path, fake: FakeSlack) -> AdminBot:
    settings = load_settings(config)
    stub = StubPipeline()
    client = make_client("xoxb-test-token", fake.base_url)
    answerer = Answerer(settings, stub)
    app = build_app(settings, stub, client, signing_secret=SIGNING_SECRET, answerer=answerer)
    return AdminBot(fake, app, answerer, settings)
