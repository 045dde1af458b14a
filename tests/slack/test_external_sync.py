"""`ragbot serve --http` keeps answering while other processes sync the embedded index.

Real processes throughout: the bot is a `ragbot serve --http` subprocess answering signed
requests (its WebClient on the loopback fake Slack), and every sync is a `ragbot sync`
subprocess that adds, edits and deletes pages of a folder source. Before the fix, the first
question after an external sync got "Something went wrong" (chromadb: "Error finding id") until
the bot restarted.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from bot.config import REPO_ROOT
from tests.fake_slack import SIGNING_SECRET, Sender
from tests.fake_slack.signing import message
from tests.slack.helpers import all_text

pytestmark = pytest.mark.slow
PAGES = ["it/password-reset.md", "it/laptops.md", "engineering/deploys.md"]
ERROR_TEXT = "Something went wrong"
ROUNDS = 3  # bench/external_syncs.py runs five, through a `ragbot scheduler` process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "-c", str(config), *args]


@pytest.fixture
def wiki_setup(tmp_path):
    wiki = tmp_path / "wiki"
    for page in PAGES:
        target = wiki / page
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "config" / "demo-wiki" / page, target)
    config = tmp_path / "ragbot.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "tone": {"enabled": False},
        "scheduler": {"run_in_serve": False},
        "sources": [{"name": "wiki", "type": "folder", "path": str(wiki),
                     "url": "https://wiki.example/{path}"}]}))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    return wiki, config, env


def _sync(config: Path, env: dict[str, str]) -> None:
    done = subprocess.run(_cli(config, "sync"), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_serve_answers_through_external_syncs(wiki_setup, fake_slack, tmp_path):
    wiki, config, env = wiki_setup
    env["SLACK_API_URL"] = fake_slack.base_url
    _sync(config, env)
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(_cli(config, "serve", "--http", "--port", str(port)),
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=5):
                    break
            except OSError:
                assert serve.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        sender = Sender(url + "/slack/events")
        asked = [0]

        def ask(text: str, channel: str) -> dict:
            asked[0] += 1
            assert sender.event(message(text, channel=channel, channel_type="im")).status == 200
            [post] = fake_slack.wait_posts(1, channel, timeout=120)
            return post

        stop = threading.Event()
        background: list[dict] = []

        def keep_asking() -> None:  # questions while the syncs run
            n = 0
            while not stop.is_set():
                n += 1
                background.append(ask("how do I reset my password?", f"DBG{n:04d}"))

        asker = threading.Thread(target=keep_asking, daemon=True)
        asker.start()
        found = []
        for round_ in range(ROUNDS):
            term = f"zorblax{round_}"
            (wiki / f"new{round_}.md").write_text(
                f"# The {term} ritual\n\nThe {term} ritual is done every Friday by the "
                f"{term} committee in room {round_}12.\n")
            if round_:
                (wiki / f"new{round_ - 1}.md").unlink()  # deleted
            laptops = wiki / "it" / "laptops.md"
            laptops.write_text(laptops.read_text() + f"\n\nEdit number {round_}.\n")  # edited
            _sync(config, env)
            post = ask(f"when is the {term} ritual?", f"DNEW{round_}")
            found.append(f"new{round_}.md" in all_text(post))
        stop.set()
        asker.join(180)
        texts = [all_text(p) for p in background]
        assert texts and not [t for t in texts if ERROR_TEXT in t], \
            (tmp_path / "serve.log").read_text()[-3000:]
        assert found == [True] * ROUNDS, (tmp_path / "serve.log").read_text()[-3000:]
        assert "Error finding id" not in (tmp_path / "serve.log").read_text()
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        serve.terminate()
        serve.wait(30)
        log.close()
