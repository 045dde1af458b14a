"""`ragbot serve --http` as a real subprocess on a folder wiki, for tests and benchmarks that need
other processes (`ragbot sync`, `ragbot scheduler`) writing the same embedded index."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from bot.config import REPO_ROOT
from fake_slack import SIGNING_SECRET, FakeSlack, Sender, all_text
from fake_slack.signing import message

PAGES = ["it/password-reset.md", "it/laptops.md", "engineering/deploys.md"]
ERROR_TEXT = "Something went wrong"


def make_wiki(folder: Path, schedule: dict | None = None) -> tuple[Path, Path]:
    """(wiki folder, config file): three demo pages, tone off, scheduler outside serve."""
    wiki = folder / "wiki"
    for page in PAGES:
        target = wiki / page
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "config" / "demo-wiki" / page, target)
    source = {"name": "wiki", "type": "folder", "path": str(wiki),
              "url": "https://wiki.example/{path}", **({"schedule": schedule} if schedule else {})}
    config = folder / "ragbot.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(folder / "data"), "tone": {"enabled": False},
        "scheduler": {"run_in_serve": False}, "sources": [source]}))
    return wiki, config


def change_wiki(wiki: Path, round_: int) -> str:
    """Add page new<round>.md, delete the previous round's, edit another; the new page's term."""
    term = f"zorblax{round_}"
    (wiki / f"new{round_}.md").write_text(
        f"# The {term} ritual\n\nThe {term} ritual is done every Friday by the {term} "
        f"committee in room {round_}12.\n")
    if round_:
        (wiki / f"new{round_ - 1}.md").unlink()
    laptops = wiki / "it" / "laptops.md"
    laptops.write_text(laptops.read_text() + f"\n\nEdit number {round_}.\n")
    return term


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "-c", str(config), *args]


def env_for(fake: FakeSlack) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake.base_url}


class ServeProcess:
    """The bot in its own process; `ask` sends a signed DM and waits for the bot's reply."""

    def __init__(self, config: Path, fake: FakeSlack, log_path: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.fake, self.log_path = fake, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("w")
        self.process = subprocess.Popen(cli(config, "serve", "--http", "--port", str(port)),
                                        env=env_for(fake), stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self.sender = Sender(self.url + "/slack/events")
        self.replies: list[str] = []
        self._asked = 0
        self._lock = threading.Lock()

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve did not start:\n" + self.log())
                time.sleep(0.5)

    def ask(self, text: str) -> str:
        with self._lock:
            self._asked += 1
            channel = f"D{self._asked:06d}"
        assert self.sender.event(message(text, channel=channel, channel_type="im")).status == 200
        [post] = self.fake.wait_posts(1, channel, timeout=120)
        reply = all_text(post)
        self.replies.append(reply)
        return reply

    def keep_asking(self, question: str, pause_s: float = 0.2) -> threading.Event:
        """Ask `question` over and over in a thread, `pause_s` apart, until the returned event
        is set. The pause keeps several questions inside every sync (a `ragbot sync` process
        takes seconds) without the bot's answering taking the cores the syncs need."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.ask(question)
                stop.wait(pause_s)

        threading.Thread(target=loop, daemon=True).start()
        return stop

    def errors(self) -> list[str]:
        return [r for r in self.replies if ERROR_TEXT in r]

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
