"""The Slack app's own tables, in the one database every part of ragbot shares.

It sits below both bot/knowledge/ (whose migrations create these tables) and bot/slack/ (which
reads and writes them), so neither package imports the other back (tests/test_layers.py).

Same engine as the index bookkeeping (`Index(settings).engine`: SQLite `ragbot.sqlite` in data_dir,
or PostgreSQL for several replicas); the tables are made by bot/knowledge/migrations.py. One table
per concern:

- `seen_events`: keys of events already taken (`ev:<event_id>`, `msg:<channel>:<ts>`). Slack
  redelivers an event it thinks was not acknowledged (X-Slack-Retry-Num, up to 3 times) and may
  deliver one message twice (`app_mention` and `message.*`); the primary key makes "first claim
  wins" atomic across threads, processes and replicas (an INSERT, never a read-then-write), and
  the rows survive a restart.
- `threads`: threads the bot answered in, with the questions asked so far (the follow-up history).
- `answers`: what the bot posted (question, text, draft, citations), so a vote can be stored
  with it.
- `feedback`: one vote per (answer, user); the last click wins.
- `admin_audit`: every `/ragadmin` command, allowed or refused: who, what, when, the result
  (`ragbot audit` prints it). A resync's row is written when it is accepted and its result
  filled in when it ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (Boolean, Column, DateTime, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, delete, insert, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.timefmt import aware, utcnow

metadata = MetaData()

MAX_THREAD_QUESTIONS = 20  # history kept per thread; the pipeline reads only the last ones

seen_events = Table(
    "slack_seen_events", metadata,
    Column("key", String(255), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, index=True),
)

threads = Table(
    "slack_threads", metadata,
    Column("channel", String(32), primary_key=True),
    Column("thread_ts", String(32), primary_key=True),
    Column("questions", Text, nullable=False),  # JSON list, oldest first
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

answers = Table(
    "slack_answers", metadata,
    Column("id", String(32), primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("draft", Text, nullable=False, default=""),
    # JSON list of {n, source, source_id, title, url, passage}
    Column("citations", Text, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("thread_ts", String(32)),
    Column("asker", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

feedback = Table(
    "slack_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", String(32), nullable=False, index=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", Text, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("user", String(32), nullable=False),
    Column("vote", String(8), nullable=False),  # up | down
    Column("voted_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("answer_id", "user", name="uq_slack_feedback_answer_user"),
)


admin_audit = Table(
    "admin_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("user", String(32), nullable=False),  # from the signed payload, never the text
    Column("user_name", String(255)),
    Column("team", String(32)),
    Column("channel", String(32)),
    Column("command", Text, nullable=False),  # what was typed, e.g. "/ragadmin resync all"
    Column("action", String(16), nullable=False),  # help | status | ... | invalid
    Column("allowed", Boolean, nullable=False),
    Column("result", Text, nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)


def claim(engine: Engine, *keys: str) -> bool:
    """True for the first caller with these keys, False when any was claimed before (by any
    thread or process); all of them or none are recorded (one transaction)."""
    now = utcnow()
    try:
        with engine.begin() as conn:
            conn.execute(insert(seen_events), [{"key": key[:255], "seen_at": now} for key in keys])
    except IntegrityError:
        return False
    return True


def prune_seen(engine: Engine, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget claims older than any redelivery Slack makes (its retries span minutes)."""
    with engine.begin() as conn:
        return conn.execute(delete(seen_events)
                            .where(seen_events.c.seen_at < utcnow() - older_than)).rowcount


def thread_questions(engine: Engine, channel: str, thread_ts: str) -> list[str] | None:
    """Questions asked so far in a thread the bot owns, oldest first; None when it owns none."""
    with engine.connect() as conn:
        raw = conn.execute(select(threads.c.questions).where(
            threads.c.channel == channel, threads.c.thread_ts == thread_ts)).scalar()
    return None if raw is None else list(json.loads(raw))


def add_thread_question(engine: Engine, channel: str, thread_ts: str, question: str) -> None:
    """Own the thread (if not yet) and append `question` to its history."""
    now = utcnow()
    with engine.begin() as conn:
        raw = conn.execute(select(threads.c.questions).where(
            threads.c.channel == channel, threads.c.thread_ts == thread_ts)).scalar()
        if raw is None:
            conn.execute(insert(threads).values(channel=channel, thread_ts=thread_ts,
                                                questions=json.dumps([question]),
                                                created_at=now, updated_at=now))
            return
        questions = (json.loads(raw) + [question])[-MAX_THREAD_QUESTIONS:]
        conn.execute(update(threads).where(threads.c.channel == channel,
                                           threads.c.thread_ts == thread_ts)
                     .values(questions=json.dumps(questions), updated_at=now))


@dataclass(slots=True)
class AnswerRecord:
    id: str
    question: str
    answer: str
    channel: str
    draft: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    asker: str | None = None
    created_at: datetime | None = None


def save_answer(engine: Engine, record: AnswerRecord) -> None:
    with engine.begin() as conn:
        conn.execute(insert(answers).values(
            id=record.id, question=record.question, answer=record.answer, draft=record.draft,
            citations=json.dumps(record.citations), channel=record.channel,
            thread_ts=record.thread_ts, asker=record.asker,
            created_at=record.created_at or utcnow()))


def get_answer(engine: Engine, answer_id: str) -> AnswerRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(answers).where(answers.c.id == answer_id)).mappings().first()
    if row is None:
        return None
    return AnswerRecord(id=row["id"], question=row["question"], answer=row["answer"],
                        draft=row["draft"] or "", citations=json.loads(row["citations"]),
                        channel=row["channel"], thread_ts=row["thread_ts"], asker=row["asker"],
                        created_at=aware(row["created_at"]))


def record_vote(engine: Engine, record: AnswerRecord, user: str, vote: str) -> None:
    """Store `user`'s vote on the answer with its question, text and citations (last vote wins)."""
    if vote not in {"up", "down"}:
        raise ValueError(f"vote must be 'up' or 'down', got {vote!r}")
    values = dict(answer_id=record.id, question=record.question, answer=record.answer,
                  citations=json.dumps(record.citations), channel=record.channel, user=user,
                  vote=vote, voted_at=utcnow())
    with engine.begin() as conn:
        changed = conn.execute(update(feedback).where(feedback.c.answer_id == record.id,
                                                      feedback.c.user == user)
                               .values(vote=vote, voted_at=values["voted_at"])).rowcount
        if not changed:
            conn.execute(insert(feedback).values(**values))


def votes(engine: Engine) -> list[dict[str, Any]]:
    """Every vote, oldest first, with its answer's draft (for exporting regression cases)."""
    query = (select(feedback, answers.c.draft)
             .join(answers, answers.c.id == feedback.c.answer_id, isouter=True)
             .order_by(feedback.c.id))
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings().all()]
    for row in rows:
        row["citations"] = json.loads(row["citations"])
        row["voted_at"] = aware(row["voted_at"])
        row["draft"] = row["draft"] or ""
    return rows


def audit(engine: Engine, *, user: str, command: str, action: str, allowed: bool, result: str,
          user_name: str | None = None, team: str | None = None, channel: str | None = None,
          at: datetime | None = None, finished: bool = True) -> int:
    """Record one admin command (`at`: when it was received; the row is written after the ack);
    returns its id, for `finish_audit` when the command ends later."""
    now = utcnow()
    with engine.begin() as conn:
        return int(conn.execute(insert(admin_audit).values(
            at=at or now, user=user[:32], user_name=(user_name or None) and user_name[:255],
            team=team, channel=channel, command=command[:2000], action=action[:16],
            allowed=allowed, result=result, finished_at=now if finished else None))
            .inserted_primary_key[0])


def finish_audit(engine: Engine, audit_id: int, result: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(admin_audit).where(admin_audit.c.id == audit_id)
                     .values(result=result, finished_at=utcnow()))


def audit_log(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The latest `limit` admin commands, newest first."""
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(admin_audit).order_by(
            admin_audit.c.at.desc(), admin_audit.c.id.desc()).limit(limit)).mappings().all()]
    for row in rows:
        row["at"], row["finished_at"] = aware(row["at"]), aware(row["finished_at"])
    return rows
