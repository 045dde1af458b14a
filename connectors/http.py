"""The HTTP client every HTTP connector shares: one requests.Session, timeouts, bounded retries.

Why hand-written rather than urllib3's `Retry`: the errors must come out typed for the sync's
safety contract (a 401 names the env var to check, a 429 that outlasts the retries is
`RateLimitedError`, a 5xx or timeout is `ListingIncompleteError`), and `Retry-After` must be capped
so one server cannot park a scheduled sync for an hour.

- 429 / 502 / 503 / 504 and connection errors are retried, at most `max_attempts` tries in all,
  waiting `Retry-After` (seconds or an HTTP date, capped at `max_retry_after_s`) or else an
  exponential backoff;
- a 403 that is really a rate limit (GitHub: `X-RateLimit-Remaining: 0` or `Retry-After`) is a 429;
- 401 / 403 -> AuthError; other 5xx and timeouts -> ListingIncompleteError;
- 404: the caller says what it means: on the listing root (`missing=`) -> SourceUnavailableError;
  mid-listing -> ListingIncompleteError, unless the caller takes that status itself (`accept=`,
  e.g. the web connector, for which a listed page that 404s is simply gone);
- every request has a total deadline (`timeout_s`: connect, redirects and the whole body) and a
  body cap (`max_page_mb`); redirects are followed by hand, each hop checked first (http(s)
  only; inside `allowed_origins` when the client has them): see `connectors.fetch_limits`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import Field

from connectors.base import (AuthError, ConnectorOptions,
                             ListingIncompleteError, RateLimitedError, SourceUnavailableError)
from connectors.fetch_limits import REDIRECT_STATUSES, next_hop, origin, read_body

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Cap on one API reply (a Confluence/Notion listing page carries many pages' bodies); each page
# is then held to the source's `max_page_mb` by the sync. The web connector caps at max_page_mb.
MAX_REPLY_BYTES = 64 * 1024 * 1024
USER_AGENT = "ragbot/0.1 (wiki sync)"


class HttpOptions(ConnectorOptions):
    """Keys every HTTP connector has besides its own."""

    timeout_s: float = Field(30.0, gt=0, le=600, description="total per request: connect, "
                             "redirects and the whole body (a reply still arriving then is "
                             "given up: skipped and reported when it is one page)")
    max_attempts: int = Field(4, ge=1, le=10, description="tries per request, retries included")


def check_http_url(value: str, key: str = "url", base: bool = True) -> str:
    """An http(s) URL with a host (a `base` loses its trailing slash); a clear message otherwise."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"`{key}` must be an http:// or https:// URL with a host, got {value!r}")
    return value.strip().rstrip("/") if base else value.strip()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: an integer, or an HTTP date; None if absent or garbage."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class HttpClient:
    """A session for one source. `auth_env` is the env var named in messages about a 401/403."""

    def __init__(self, *, source_name: str, service: str, auth_env: str | None = None,
                 timeout_s: float = 30.0, max_attempts: int = 4, headers: Mapping[str, str] = (),
                 auth: Any = None, backoff_s: float = 1.0, max_retry_after_s: float = 60.0,
                 no_auth_hint: str = "no token is configured: set `token_env` to the env var "
                                     "holding one",
                 sleep: Callable[[float], None] = time.sleep,
                 max_bytes: int = MAX_REPLY_BYTES,
                 allowed_origins: Collection[str] | None = None) -> None:
        self.source_name = source_name
        self.max_bytes = max_bytes
        # Base URLs whose origins redirects may lead to (None: any http(s) host).
        self.allowed_origins = allowed_origins
        self.service = service
        self.auth_env = auth_env
        self.no_auth_hint = no_auth_hint
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self._bare = requests.Session()
        self._bare.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(dict(headers))
        if auth is not None:
            self.session.auth = auth

    def close(self) -> None:
        self.session.close()
        self._bare.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _where(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def _wait(self, response: requests.Response | None, attempt: int) -> float:
        delay = retry_after_seconds(response.headers.get("Retry-After")) if response is not None \
            else None
        if delay is None and response is not None \
                and response.headers.get("X-RateLimit-Remaining") == "0":
            delay = retry_after_seconds(response.headers.get("X-RateLimit-Reset"))
            if delay is not None and delay > 1e9:  # an epoch time, not a number of seconds
                delay = max(0.0, delay - time.time())
        if delay is None:
            delay = self.backoff_s * (2 ** (attempt - 1))
        return min(delay, self.max_retry_after_s)

    def _is_rate_limit(self, response: requests.Response) -> bool:
        if response.status_code == 429:
            return True
        return response.status_code == 403 and (
            response.headers.get("X-RateLimit-Remaining") == "0"
            or "Retry-After" in response.headers)

    def request(self, method: str, url: str, *, missing: str | None = None,
                accept: Collection[int] = (), **kwargs: Any) -> requests.Response:
        """Send with retries; return a 2xx/3xx response or one whose status is in `accept`.

        `missing`: this URL is the listing root; a 404 means the source itself is not there, and
        the text says what to check ("space ENG", "repository o/r").
        """
        where = self._where(url)
        name = self.source_name
        max_bytes = kwargs.pop("max_bytes", None) or self.max_bytes
        response: requests.Response | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._send(method, url, max_bytes, **kwargs)
            except requests.Timeout as exc:
                if attempt < self.max_attempts:
                    self.sleep(self._wait(None, attempt))
                    continue
                raise ListingIncompleteError(
                    f"source {name!r}: {self.service} timed out after {self.timeout_s:g}s on "
                    f"{where} ({self.max_attempts} tries); nothing was deleted") from exc
            except requests.ConnectionError as exc:
                if attempt < self.max_attempts:
                    self.sleep(self._wait(None, attempt))
                    continue
                error = SourceUnavailableError if missing else ListingIncompleteError
                raise error(f"source {name!r}: cannot connect to {self.service} at {where} "
                            f"({self.max_attempts} tries): {exc}; nothing was deleted") from exc
            except requests.RequestException as exc:
                raise ListingIncompleteError(f"source {name!r}: request to {where} failed: "
                                             f"{exc}; nothing was deleted") from exc
            status = response.status_code
            retryable = status in RETRY_STATUSES or self._is_rate_limit(response)
            if retryable and attempt < self.max_attempts:
                delay = self._wait(response, attempt)
                response.close()
                self.sleep(delay)
                continue
            break
        assert response is not None
        status = response.status_code
        if status < 400 or status in accept:
            return response
        if self._is_rate_limit(response):
            raise RateLimitedError(f"source {name!r}: {self.service} still answered {status} "
                                   f"(rate limited) after {self.max_attempts} tries on {where}; "
                                   "nothing was deleted, the next sync will try again")
        if status in (401, 403):
            hint = (f"check the token in environment variable {self.auth_env} and its access "
                    "to this source" if self.auth_env else self.no_auth_hint)
            raise AuthError(f"source {name!r}: {self.service} refused access (HTTP {status} on "
                            f"{where}); {hint}")
        if status in (404, 410) and missing:
            raise SourceUnavailableError(f"source {name!r}: {self.service} has no {missing} "
                                         f"(HTTP {status} on {where}); check the config (and "
                                         "that the credentials may see it)")
        raise ListingIncompleteError(f"source {name!r}: {self.service} answered HTTP {status} on "
                                     f"{where}; the listing is incomplete, nothing was deleted")

    def _send(self, method: str, url: str, max_bytes: int, **kwargs: Any) -> requests.Response:
        """One try: redirects followed by hand (each hop checked before it is requested), the
        body read within the deadline and the cap; `response.url` is the final URL."""
        deadline = time.monotonic() + self.timeout_s
        seen = [url]
        while True:
            left = max(0.01, deadline - time.monotonic())
            # Credentials (session headers, auth) go only to the origin first asked; a hop to
            # another one is asked bare, as requests itself would strip them.
            session = self.session if origin(url) == origin(seen[0]) else self._bare
            response = session.request(method, url, allow_redirects=False, stream=True,
                                       timeout=(left, left), **kwargs)
            if response.status_code not in REDIRECT_STATUSES:
                response._content = read_body(response, deadline=deadline, max_bytes=max_bytes,
                                              where=self._where(url))
                return response
            location = response.headers.get("Location")
            response.close()
            url = next_hop(url, location, self.allowed_origins, seen)
            seen.append(url)
            if response.status_code == 303 or (response.status_code in (301, 302)
                                               and method == "POST"):
                method = "GET"
                kwargs.pop("json", None)
                kwargs.pop("data", None)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ListingIncompleteError(f"source {self.source_name!r}: {self.service} sent a "
                                         f"reply that is not JSON on {self._where(url)}") from exc


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 / W3C datetime (`Z` allowed, date-only allowed) as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def same_origin(url: str, base: str) -> bool:
    """True when url has base's scheme and host: credentials are only ever sent there."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())
