"""`ragbot serve --http` answering while a separate `ragbot scheduler` process syncs (issue #17).

    PYTHONPATH=. .venv/bin/python bench/external_syncs.py [--runs 5]

Real processes: the bot (`scheduler.run_in_serve: false`), a `ragbot scheduler` worker syncing a
folder source `every: 1m` (the shortest schedule allowed, so five runs take about six minutes),
and this script, which changes the wiki before each run (adds a page, deletes the previous one,
edits another), asks the bot the same question over and over during the runs, and after each run
asks about the page just added. Prints the replies, the error replies (must be 0) and which added
pages were found (must be all). Before bot/knowledge/generation.py every reply after the first
external sync was "Something went wrong" (chromadb "Error finding id").

Measured (shared 2-core machine): 5 scheduler runs (each +1 page, 1 edited, from the second on 1
deleted), 157 replies, 0 error replies, 5/5 added pages found; serve logged 5 reopenings.
The same script on the code before (`--runs 2`): 1,033 of 1,087 replies were errors, 0/2 added
pages found.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_settings  # noqa: E402
from bot.knowledge import state  # noqa: E402
from bot.knowledge.index import Index  # noqa: E402
from fake_slack import FakeSlack  # noqa: E402
from fake_slack.serve_process import (ServeProcess, change_wiki, cli, env_for,  # noqa: E402
                                       make_wiki)


def ok_runs(config: Path) -> int:
    engine = Index(load_settings(config)).engine
    return sum(1 for r in state.recent_runs(engine, limit=1000) if r["status"] == "ok")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ragbot-external-"))
    wiki, config = make_wiki(folder, schedule={"every": "1m", "jitter_s": 0})
    with FakeSlack() as fake:
        env = env_for(fake)
        subprocess.run(cli(config, "sync"), env=env, check=True, capture_output=True)
        bot = ServeProcess(config, fake, folder / "serve.log")
        worker_log = (folder / "scheduler.log").open("w")
        worker = subprocess.Popen(cli(config, "scheduler"), env=env, stdout=worker_log,
                                  stderr=subprocess.STDOUT)
        found: list[bool] = []
        try:
            bot.wait_ready()
            stop = bot.keep_asking("how do I reset my password?")
            for round_ in range(args.runs):
                before = ok_runs(config)
                term = change_wiki(wiki, round_)
                started = time.monotonic()
                while ok_runs(config) == before:  # the worker's next scheduled run
                    if worker.poll() is not None or time.monotonic() - started > 240:
                        raise RuntimeError("the scheduler did not sync; see " +
                                           str(folder / "scheduler.log"))
                    time.sleep(1)
                reply = bot.ask(f"when is the {term} ritual?")
                found.append(f"new{round_}.md" in reply)
                print(f"run {round_ + 1}: new{round_}.md found={found[-1]}, replies so far "
                      f"{len(bot.replies)}, error replies {len(bot.errors())}", flush=True)
            stop.set()
        finally:
            worker.terminate()
            worker.wait(60)
            worker_log.close()
            bot.stop()
    print(f"external syncs: {args.runs}; replies: {len(bot.replies)}; error replies: "
          f"{len(bot.errors())}; added pages found: {sum(found)}/{len(found)}")
    print(f"logs in {folder}")


if __name__ == "__main__":
    main()
