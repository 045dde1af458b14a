from __future__ import annotations

import socket
import time
from email.utils import formatdate

import pytest

from connectors.base import (AuthError, ListingIncompleteError, RateLimitedError,
                             SourceUnavailableError)
from connectors.http import HttpClient, retry_after_seconds
from fake_sources import FakeServer, Reply, Request


class Echo(FakeServer):
    def handle(self, request: Request) -> Reply:
        return Reply(200, {"ok": True, "path": request.path})


@pytest.fixture
def echo(serve) -> Echo:
    return serve(Echo())


def client(sleeps: list[float], **kwargs) -> HttpClient:
    return HttpClient(source_name="wiki", service="Fake", auth_env="FAKE_TOKEN",
                      sleep=sleeps.append, **kwargs)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds("-5") == 0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    now = time.time()
    later = formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(later, now=now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(formatdate(now - 30, usegmt=True), now=now) == 0


def test_503_is_retried_with_exponential_backoff(echo: Echo) -> None:
    echo.fail(503, "/x", times=2)
    sleeps: list[float] = []
    response = client(sleeps).get(f"{echo.url}/x")
    assert response.json()["ok"] is True
    assert sleeps == [1.0, 2.0]
    assert echo.paths() == ["/x"] * 3


def test_retry_after_is_honoured_and_capped(echo: Echo) -> None:
    echo.fail(429, "/x", headers={"Retry-After": "7"})
    echo.fail(503, "/x", headers={"Retry-After": "3600"})
    sleeps: list[float] = []
    client(sleeps, max_retry_after_s=60).get(f"{echo.url}/x")
    assert sleeps == [7.0, 60.0]


def test_429_beyond_the_attempts_is_rate_limited(echo: Echo) -> None:
    echo.fail(429, "/x", times=10, headers={"Retry-After": "0"})
    sleeps: list[float] = []
    with pytest.raises(RateLimitedError):
        client(sleeps, max_attempts=3).get(f"{echo.url}/x")
    assert len(echo.requests) == 3 and len(sleeps) == 2


def test_403_with_exhausted_rate_limit_is_a_rate_limit_not_auth(echo: Echo) -> None:
    echo.fail(403, "/x", times=10, headers={"X-RateLimit-Remaining": "0",
                                            "X-RateLimit-Reset": str(int(time.time()) + 2)})
    sleeps: list[float] = []
    with pytest.raises(RateLimitedError):
        client(sleeps, max_attempts=2).get(f"{echo.url}/x")
    assert 0 <= sleeps[0] <= 3


def test_500_is_not_retried_and_means_incomplete(echo: Echo) -> None:
    echo.fail(500, "/x")
    with pytest.raises(ListingIncompleteError, match="HTTP 500"):
        client([]).get(f"{echo.url}/x")
    assert len(echo.requests) == 1


def test_502_beyond_the_attempts_means_incomplete(echo: Echo) -> None:
    echo.fail(502, "/x", times=10)
    with pytest.raises(ListingIncompleteError):
        client([], max_attempts=4).get(f"{echo.url}/x")
    assert len(echo.requests) == 4


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_name_the_env_var(echo: Echo, status: int) -> None:
    echo.fail(status, "/x")
    with pytest.raises(AuthError, match="FAKE_TOKEN"):
        client([]).get(f"{echo.url}/x")


def test_404_depends_on_what_was_asked(echo: Echo) -> None:
    echo.fail(404, "/x", times=3)
    c = client([])
    with pytest.raises(SourceUnavailableError, match="space ENG"):
        c.get(f"{echo.url}/x", missing="space ENG")
    with pytest.raises(ListingIncompleteError):
        c.get(f"{echo.url}/x")
    assert c.get(f"{echo.url}/x", accept=(404,)).status_code == 404


def test_timeout_means_incomplete(echo: Echo) -> None:
    echo.fail(200, "/slow", times=2, delay_s=1.0)
    sleeps: list[float] = []
    with pytest.raises(ListingIncompleteError, match="timed out"):
        client(sleeps, timeout_s=0.2, max_attempts=2).get(f"{echo.url}/slow")
    assert len(sleeps) == 1


def test_unreachable_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sleeps: list[float] = []
    with pytest.raises(SourceUnavailableError, match="cannot connect"):
        client(sleeps, max_attempts=2).get(f"http://127.0.0.1:{port}/", missing="site")
    with pytest.raises(ListingIncompleteError, match="cannot connect"):
        client(sleeps, max_attempts=2).get(f"http://127.0.0.1:{port}/page")
    assert len(sleeps) == 2
