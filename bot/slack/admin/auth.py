"""Who may use `/ragadmin`: the config's `admins.users`, and optionally workspace admins/owners.

Constraints and why:
- The user id comes from the signed request (`user_id` of the slash-command payload, which Bolt
  verified), never from the command's text.
- `admins.users` is decided from memory, so a listed admin's command is acknowledged with its
  reply at once. With `admins.workspace_admins: true`, anyone else is looked up with `users.info`
  (`user.is_admin` / `is_owner` / `is_primary_owner`; deleted users and bots never qualify).
- Answers from `users.info` are cached for `ttl_s` (5 minutes): a burst of commands costs one
  call, and a demoted admin loses access within the TTL. Failed lookups (Slack down, rate
  limited, missing `users:read` scope) are not cached and fail closed: the command is refused
  with the reason, so the admin can retry.
- `known()` never does I/O (it runs before the ack); `check()` may call Slack, so it runs after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import AdminsConfig

log = logging.getLogger("ragbot.slack.admin")

ADMIN_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    via: str  # "config", "workspace admin", "workspace owner", "not an admin", "lookup failed"
    reason: str | None = None  # why a lookup failed (shown to the user, audited)


class AdminCheck:
    def __init__(self, config: AdminsConfig, *, ttl_s: float = ADMIN_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Decision]] = {}
        self._lock = threading.Lock()

    def known(self, user: str) -> Decision | None:
        """The decision when it needs no Slack call (config or cache), else None."""
        if user in self.config.users:
            return Decision(True, "config")
        if not self.config.workspace_admins:
            return Decision(False, "not an admin")
        with self._lock:
            cached = self._cache.get(user)
            if cached and cached[0] > self._clock():
                return cached[1]
            self._cache.pop(user, None)
        return None

    def check(self, client: WebClient, user: str) -> Decision:
        """The decision, asking Slack (`users.info`) when the config and the cache cannot tell."""
        decision = self.known(user)
        if decision is not None:
            return decision
        try:
            info = client.users_info(user=user)["user"] or {}
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else str(exc)
            log.warning("users.info(%s) failed (%s); /ragadmin refused", user, error)
            return Decision(False, "lookup failed", f"could not check your workspace role: {error}")
        except Exception as exc:  # network: refuse, do not cache
            log.warning("users.info(%s) failed (%s); /ragadmin refused", user, exc)
            return Decision(False, "lookup failed", "could not reach Slack to check your "
                            "workspace role; try again")
        if info.get("deleted") or info.get("is_bot"):
            decision = Decision(False, "not an admin")
        elif info.get("is_owner") or info.get("is_primary_owner"):
            decision = Decision(True, "workspace owner")
        elif info.get("is_admin"):
            decision = Decision(True, "workspace admin")
        else:
            decision = Decision(False, "not an admin")
        with self._lock:
            self._cache[user] = (self._clock() + self.ttl_s, decision)
        return decision
