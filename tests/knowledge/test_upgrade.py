"""Upgrade in place: a data_dir made by the release before migrations (commit b2f9be4) is adopted
by the migrations with nothing lost, and answers the same questions the same way.

The old release is run from `git archive` of that commit, in a subprocess, against a config in
tmp_path: it syncs, stores a claim, a thread, an answer with a vote, an audit row and a paused
schedule, and records its answers. Then this code opens the same data_dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO

import pytest

from bot.config import REPO_ROOT
from bot.knowledge import migrations, state
from bot.knowledge.index import Index
from bot import records
from tests.servers import unavailable

OLD_RELEASE = "b2f9be4"
QUESTIONS = ["When are expense reports due?", "How do I reset the VPN token?",
             "What is the parking policy for visitors?"]

OLD_SIDE = r"""
import json, sys
from bot import store as app
from bot.answering.pipeline import Pipeline
from bot.config import load_settings
from bot.knowledge import scheduler, store
from bot.knowledge.sync import sync_source

settings = load_settings(sys.argv[1])
assert sync_source(settings, "wiki").ok
engine = store.engine(settings)
app.create_schema(engine)
assert app.claim(engine, "ev:Ev0OLD", "msg:C0OLD:1.0")
app.add_thread_question(engine, "C0OLD", "1.0", "when are expense reports due?")
record = app.AnswerRecord(id="a-old", question="q?", answer="Fridays [1]", channel="C0OLD",
                          draft="Fridays [1]", citations=[{"n": 1, "source_id": "expenses.md"}])
app.save_answer(engine, record)
app.record_vote(engine, record, "U0ALICE", "up")
app.audit(engine, user="U0ADMIN", command="/ragadmin status", action="status", allowed=True,
          result="ok")
scheduler.pause(settings, "wiki")
pipeline = Pipeline(settings)
answers = {}
for question in json.loads(sys.argv[2]):
    answer = pipeline.answer(question)
    answers[question] = [answer.text, [c.source_id for c in answer.citations]]
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def old_release(tmp_path_factory):
    """The tree of the release before migrations (bot/, connectors/, config/, prompts/)."""
    target = tmp_path_factory.mktemp("old-release")
    try:
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", OLD_RELEASE, "bot",
                                  "connectors", "config", "prompts"], capture_output=True,
                                 check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        unavailable(f"the old release {OLD_RELEASE} is not in this checkout's git history: {exc}")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def test_a_data_dir_of_the_old_release_upgrades_in_place(old_release, make_settings) -> None:
    settings = make_settings(pages=True)
    (settings.config_path.parent / "wiki" / "parking.md").write_text(
        "# Parking\nVisitor parking permits are issued by reception; each is valid for one day.\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(old_release)
    old = subprocess.run([sys.executable, "-c", OLD_SIDE, str(settings.config_path),
                          json.dumps(QUESTIONS)], capture_output=True, text=True, env=env,
                         timeout=600, cwd=old_release)
    assert old.returncode == 0, old.stderr[-3000:]
    old_answers = json.loads(old.stdout.strip().splitlines()[-1])

    index = Index(settings)  # opening it migrates
    assert migrations.applied(index.engine) == [m.__name__ for m in migrations.MIGRATIONS]
    engine = index.engine
    runs = state.recent_runs(engine, "wiki")
    assert [(r["status"], r["added"]) for r in runs] == [("ok", 3)]
    assert set(state.page_rows(engine, "wiki")) == {"expenses.md", "vpn.md", "parking.md"}
    assert not records.claim(engine, "ev:Ev0OLD")  # the old claim still holds
    assert records.thread_questions(engine, "C0OLD", "1.0") == ["when are expense reports due?"]
    [vote] = records.votes(engine)
    assert (vote["answer_id"], vote["user"], vote["vote"]) == ("a-old", "U0ALICE", "up")
    assert [r["command"] for r in records.audit_log(engine)] == ["/ragadmin status"]
    assert index.schedules()["wiki"].paused  # the job store and its pause came along
    [status] = index.status()
    assert (status.health, status.documents, status.last_success) == (
        "paused", 3, runs[0]["finished_at"])

    # The record manager and page hashes came along: nothing is added, deleted or re-embedded
    # (the chunker's version moved since that release, so each page is re-chunked, and every
    # chunk's text is found unchanged).
    again = index.sync("wiki")
    assert again.ok and (again.added, again.deleted, again.chunks_embedded) == (0, 0, 0)
    assert again.updated + again.skipped == 3

    from bot.answering.pipeline import Pipeline

    pipeline = Pipeline(settings)
    for question, (text, cited) in old_answers.items():
        answer = pipeline.answer(question)
        assert (answer.text, [c.source_id for c in answer.citations]) == (text, cited), question
