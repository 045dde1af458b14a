"""`ragbot serve --http` keeps answering while other processes sync the embedded index.

Real processes throughout: the bot is a `ragbot serve --http` subprocess answering signed
requests (its WebClient on the loopback fake Slack), and every sync is a `ragbot sync`
subprocess that adds, edits and deletes pages of a folder source. Before the fix, the first
question after an external sync got "Something went wrong" (chromadb: "Error finding id") until
the bot restarted. bench/external_syncs.py runs five syncs through a `ragbot scheduler` process.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from fake_slack.serve_process import ServeProcess, change_wiki, cli, env_for, make_wiki

pytestmark = pytest.mark.slow
ROUNDS = 2  # the first adds a page; the second adds one, deletes the first and edits


def _sync(config, fake) -> None:
    done = subprocess.run(cli(config, "sync"), env=env_for(fake), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_serve_answers_through_external_syncs(fake_slack, tmp_path):
    wiki, config = make_wiki(tmp_path)
    _sync(config, fake_slack)
    bot = ServeProcess(config, fake_slack, tmp_path / "serve.log")
    try:
        bot.wait_ready()
        stop = bot.keep_asking("how do I reset my password?")  # questions during the syncs
        found = []
        for round_ in range(ROUNDS):
            term = change_wiki(wiki, round_)
            _sync(config, fake_slack)
            found.append(f"new{round_}.md" in bot.ask(f"when is the {term} ritual?"))
        stop.set()
        time.sleep(1)
        assert len(bot.replies) > ROUNDS and not bot.errors(), bot.log()[-3000:]
        assert found == [True] * ROUNDS, bot.log()[-3000:]
        assert "Error finding id" not in bot.log()
    finally:
        bot.stop()
