"""Leases: "only one of us does this" across threads, processes and hosts, in the shared database.

Used for the one scheduler (`scheduler`) and for one sync per source (`sync:<source>`). A lease
row names its holder and when it expires; the holder renews it from a heartbeat thread every
third of its time to live. A holder that dies stops renewing, and after at most the time to live
anyone may take the lease over, so a killed process never blocks the others for longer than that.

Why a row and not a lock file or an advisory lock: a file lock covers one machine only, and a
Postgres advisory lock belongs to a connection (the pool may close or recycle it) and does not
exist in SQLite; a row works on both engines, and `UPDATE ... WHERE holder = me OR expired` is
atomic in both (Postgres re-checks the WHERE after waiting for a concurrent writer's row lock).
Expiry is compared with each host's clock: keep hosts NTP-synced (skew eats into the lease).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, insert, or_, select, \
    update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.knowledge.state import aware, utcnow

log = logging.getLogger("ragbot.leases")

metadata = MetaData()

leases = Table(
    "leases", metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(255), nullable=False),  # host:pid:random, see `new_holder`
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


def new_holder() -> str:
    """A holder id unique to one acquisition: host and pid for people, a random tail so two
    threads of one process are two holders."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(engine: Engine, name: str, holder: str, ttl_s: float) -> bool:
    """Take or renew `name` for `ttl_s` seconds; False when someone else holds it unexpired."""
    now = utcnow()
    until = now + timedelta(seconds=ttl_s)
    with engine.begin() as conn:
        taken = conn.execute(update(leases).where(
            leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now))
            .values(holder=holder, expires_at=until)).rowcount
    if taken:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(leases).values(name=name, holder=holder, acquired_at=now,
                                               expires_at=until))
    except IntegrityError:  # a live holder's row (or another taker's, just now)
        return False
    return True


def release(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def current(engine: Engine, name: str) -> tuple[str, datetime] | None:
    """(holder, expires_at) of the unexpired lease on `name`, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(leases.c.holder, leases.c.expires_at)
                           .where(leases.c.name == name)).first()
    if row is None or aware(row.expires_at) < utcnow():
        return None
    return row.holder, aware(row.expires_at)


class Lease:
    """A held lease renewed by a daemon thread until `release()`.

    `on_lost` is called (from the heartbeat thread) if a renewal finds the lease taken by
    another holder, which happens only when this process stalled past the time to live.
    """

    def __init__(self, engine: Engine, name: str, ttl_s: float,
                 on_lost: Callable[[], None] | None = None) -> None:
        self.engine, self.name, self.ttl_s, self.on_lost = engine, name, ttl_s, on_lost
        self.holder = new_holder()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        if not acquire(self.engine, self.name, self.holder, self.ttl_s):
            return False
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"ragbot-lease-{self.name}")
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                held = acquire(self.engine, self.name, self.holder, self.ttl_s)
            except Exception:  # noqa: BLE001 - a database blip: try again next beat
                log.warning("could not renew lease %r; retrying", self.name, exc_info=True)
                continue
            if not held:
                log.error("lease %r was taken over by another holder", self.name)
                if self.on_lost:
                    self.on_lost()
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            release(self.engine, self.name, self.holder)
        except Exception:  # noqa: BLE001 - it expires by itself
            log.warning("could not release lease %r; it expires in %ss", self.name, self.ttl_s,
                        exc_info=True)
