"""Two `ragbot serve --http` replicas (real processes) on one PostgreSQL and one `chroma run`
server, with Slack's Web API faked on loopback: the scale-out set-up of the README's "Running on
more than one machine", checked end to end.

- the same signed event delivered to both replicas, and Slack's retry of it to each, is answered
  exactly once (the claim is one INSERT under a primary key in the shared database);
- a resync through one replica is what `ragbot status` shows for the other host;
- a `/ragadmin pause` through the replica that does not run the scheduler is obeyed by the one
  that does, and a resume through it is too;
- killing the replica that holds the scheduler lease hands the schedule to the other within the
  lease time, and the schedule keeps running there.
Skipped without the servers only outside CI (tests/servers.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sqlalchemy import func, select

from bot.config import REPO_ROOT, load_settings
from bot.knowledge import state
from bot.knowledge.index import Index, job_id
from fake_slack import SIGNING_SECRET, FakeSlack, Sender
from fake_slack.signing import message, new_event_id
from tests.servers import create_database, drop_database, free_port
from tests.slack.admin_helpers import ADMIN, DEMO_WIKI, HANDBOOK_PAGES, AdminBot

pytestmark = pytest.mark.slow

LEASE_S = 6.0


HEALTH_TOKEN = "replica-health"

class Replica:
    def __init__(self, name: str, config: Path, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "RAGBOT_DATA_DIR": str(log_dir / name)}  # each "host" its own disk
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "serve", "--http",
             "--port", str(self.port)], env=self.env, cwd=REPO_ROOT, stdout=self._log,
            stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"replica {self.name} did not come up:\n{self.tail()}")

    def health(self) -> dict:
        """The detailed report (per-source freshness needs the health token)."""
        request = urllib.request.Request(self.url + "/healthz",
                                         headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    def admin(self, fake: FakeSlack) -> AdminBot:
        """/ragadmin through this replica (the scenario tests' signed slash commands)."""
        return AdminBot(fake, self.url + "/slack/events", None, None)  # type: ignore[arg-type]

    def tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def cluster(postgres_server, chroma_server_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    db_name = f"replicas_{uuid.uuid4().hex[:8]}"
    database_url = create_database(postgres_server, db_name)
    handbook = tmp / "handbook"
    for page in HANDBOOK_PAGES:
        (handbook / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_WIKI / page, handbook / page)
    config = tmp / "ragbot.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": "data",
        "index": {"collection": f"replicas-{uuid.uuid4().hex[:8]}",
                  "chroma_url": chroma_server_url},
        "tone": {"enabled": False},
        "sources": [{"name": "handbook", "type": "folder", "path": "./handbook",
                     "url": "https://wiki.example/{path}",
                     "schedule": {"every": "1h", "jitter_s": 0}}],
        "admins": {"users": [ADMIN]},
        "scheduler": {"lease_s": LEASE_S},
    }), encoding="utf-8")
    fake = FakeSlack().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PYTHON"))}
    env.update(PYTHONPATH=str(REPO_ROOT), SLACK_BOT_TOKEN="xoxb-test",
               SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake.base_url,
               RAGBOT_DATABASE_URL=database_url, HF_HUB_OFFLINE="1",
               RAGBOT_HEALTH_TOKEN=HEALTH_TOKEN,
               NO_PROXY="127.0.0.1,localhost")
    synced = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), "sync"],
                            env={**env, "RAGBOT_DATA_DIR": str(tmp / "cli")}, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    replicas = [Replica(name, config, env, tmp) for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.wait_ready()
        os.environ["RAGBOT_DATABASE_URL"] = database_url  # for this process's view below
        try:
            settings = load_settings(config)
        finally:
            del os.environ["RAGBOT_DATABASE_URL"]
        yield SimpleNamespace(replicas=replicas, fake=fake, index=Index(settings), config=config,
                              env=env, tmp=tmp)
    finally:
        for replica in replicas:
            replica.stop()
        fake.stop()
        drop_database(postgres_server, db_name)


def scheduled_runs(index: Index) -> int:
    runs = state.sync_runs
    with index.engine.connect() as conn:
        return conn.execute(select(func.count()).where(runs.c.trigger == "schedule",
                                                       runs.c.status == "ok")).scalar()


def due_in(index: Index, seconds: float) -> None:
    """Make the stored job due soon, as if its interval had passed (the test cannot wait 1 h)."""
    store = index.job_store()
    job = store.lookup_job(job_id("handbook"))
    job.next_run_time = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    store.update_job(job)


def holder_pid(index: Index) -> int | None:
    holder = index.scheduler_holder()
    return int(holder.split(":")[1]) if holder else None


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_one_event_sent_to_both_replicas_is_answered_once(cluster) -> None:
    event = message("how do I report a lost laptop?", channel="D0TWICE", channel_type="im")
    event_id = new_event_id()
    for replica in cluster.replicas:
        assert Sender(replica.url + "/slack/events").event(event, event_id).status == 200
    for replica in cluster.replicas:  # Slack's retry of the same event, to each replica
        assert Sender(replica.url + "/slack/events").event(event, event_id,
                                                           retry_num=1).status == 200
    [answer] = cluster.fake.wait_posts(1, "D0TWICE", timeout=60)
    assert "lost-or-stolen-device.md" in json.dumps(answer)
    # A second answer would come from the other replica's worker in milliseconds; a later
    # question through both proves both replicas are still answering in the meantime.
    follow = message("how is payroll paid?", channel="D0LATER", channel_type="im")
    later_id = new_event_id()
    for replica in cluster.replicas:
        Sender(replica.url + "/slack/events").event(follow, later_id)
    cluster.fake.wait_posts(1, "D0LATER", timeout=60)
    assert len(cluster.fake.posts("D0TWICE")) == 1
    assert len(cluster.fake.posts("D0LATER")) == 1


def test_a_resync_on_one_replica_shows_in_status_on_the_other_host(cluster) -> None:
    a, b = cluster.replicas
    before = cluster.index.last_success("handbook")
    a.admin(cluster.fake).command("resync handbook")
    wait_until(lambda: (cluster.index.last_success("handbook") or before) > before, 120,
               "the resync through replica a")
    status = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(cluster.config),
                             "status", "--json"], env=b.env, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)["sources"]
    runs = state.recent_runs(cluster.index.engine, "handbook", limit=1)
    assert runs[0]["trigger"] == "admin" and row["last_run_status"] == "ok"
    assert row["last_success"] == cluster.index.last_success("handbook").isoformat()
    assert b.health()["index"]["synced_at"] == row["last_success"]


def test_a_pause_through_one_replica_is_obeyed_by_the_other_s_scheduler(cluster) -> None:
    index = cluster.index
    pid = wait_until(lambda: holder_pid(index), 3 * LEASE_S, "a replica to take the scheduler")
    holder = next(r for r in cluster.replicas if r.proc.pid == pid)
    other = next(r for r in cluster.replicas if r is not holder)
    admin = other.admin(cluster.fake)

    due_in(index, 4)
    admin.command("pause handbook")
    wait_until(lambda: index.schedules()["handbook"].paused, 30, "the pause")
    runs = scheduled_runs(index)
    time.sleep(4 + 2 * LEASE_S)  # past the due time and two of the holder's store re-reads
    assert scheduled_runs(index) == runs, holder.tail()

    admin.command("resume handbook")
    wait_until(lambda: not index.schedules()["handbook"].paused, 30, "the resume")
    due_in(index, 1)
    wait_until(lambda: scheduled_runs(index) > runs, 60, f"a scheduled run by {holder.name}")


def test_killing_the_scheduler_s_replica_hands_the_schedule_over(cluster) -> None:
    index = cluster.index
    pid = wait_until(lambda: holder_pid(index), 3 * LEASE_S, "a replica to take the scheduler")
    holder = next(r for r in cluster.replicas if r.proc.pid == pid)
    survivor = next(r for r in cluster.replicas if r is not holder)
    holder.proc.kill()  # no clean shutdown: its lease must lapse
    holder.proc.wait(timeout=10)
    killed = time.monotonic()
    # Taken over once the lease lapses (LEASE_S) and the survivor's next poll (LEASE_S / 3).
    wait_until(lambda: holder_pid(index) == survivor.proc.pid, LEASE_S + LEASE_S / 3 + 5,
               "the survivor to take the scheduler lease")
    print(f"scheduler handed over {time.monotonic() - killed:.1f}s after the kill "
          f"(lease {LEASE_S:.0f}s)")
    runs = scheduled_runs(index)
    due_in(index, 1)
    wait_until(lambda: scheduled_runs(index) > runs, 60, "a scheduled run on the survivor")
    assert survivor.health()["status"] == "ok"
