"""Limits on one HTTP fetch: a total deadline, a size cap, and redirects checked before they are
followed. Shared by every HTTP connector through `connectors.http.HttpClient`.

Why each:
- requests' `timeout` bounds each socket read, not the request: a server that sends one byte a
  second never trips it, and held a sync (and its source lock) for minutes. `read_body` stops at
  the deadline, and shrinks the socket timeout to what is left before every read.
- `response.content` reads the whole body into memory whatever its size (50 MB pages, a 1 MB
  gzip sitemap that inflates to 2 GB). Bodies are read in slices up to a cap; a
  `Content-Length` over the cap is refused before reading; gzip is inflated with the same cap.
- requests follows redirects by itself, to any host and before the caller can look: the other
  host has then already been asked. `next_hop` decides on each `Location` first (http(s) only,
  inside the allowed origins), and the client follows at most `MAX_REDIRECTS` hops.

The errors are `ItemFetchError`s: a problem with this one item (the caller reports it as skipped
and goes on). Uncaught, they are still `ListingIncompleteError`s, so nothing is deleted.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Collection
from urllib.parse import urljoin, urlsplit

from connectors.base import ListingIncompleteError

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_SLICE = 64 * 1024


class ItemFetchError(ListingIncompleteError):
    """This one item could not be fetched within the limits; the rest of the listing stands."""

    retryable = False


class PageTooLargeError(ItemFetchError):
    """The body is larger than the cap (`max_page_mb`)."""


class FetchDeadlineError(ItemFetchError):
    """The whole fetch took longer than its deadline (`timeout_s`)."""


class RedirectRefusedError(ItemFetchError):
    """A redirect to another scheme or origin, a redirect loop, or too many hops."""


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def next_hop(url: str, location: str | None, allowed: Collection[str] | None,
             seen: Collection[str]) -> str:
    """The URL a redirect from `url` to `location` leads to, if it may be followed.

    `allowed`: base URLs whose origins (scheme + host + port) may be visited; None: any http(s)
    host. Raises RedirectRefusedError naming where it pointed.
    """
    if not location:
        raise RedirectRefusedError(f"{url} redirects without a Location")
    target = urljoin(url, location.strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme not in {"http", "https"}:
        raise RedirectRefusedError(f"redirects to {target[:200]} (only http/https is followed)")
    if allowed is not None and origin(target) not in {origin(a) for a in allowed}:
        raise RedirectRefusedError(f"redirects to another site ({target[:200]}); not followed")
    if target in seen:
        raise RedirectRefusedError(f"redirect loop ({target[:200]})")
    if len(seen) > MAX_REDIRECTS:
        raise RedirectRefusedError(f"more than {MAX_REDIRECTS} redirects")
    return target


def _set_socket_timeout(response, seconds: float) -> None:
    """Shrink the socket's read timeout to what is left of the deadline (best effort: urllib3
    keeps the socket on the connection; without it the per-read timeout stands)."""
    connection = getattr(response.raw, "connection", None) or getattr(response.raw,
                                                                       "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(0.01, seconds))
        except OSError:
            pass


def read_body(response, *, deadline: float, max_bytes: int, where: str) -> bytes:
    """The (decoded) body of a streamed requests response, within the deadline and the cap.

    `deadline` is a `time.monotonic()` value. Closes the response on failure.
    """
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        response.close()
        raise PageTooLargeError(f"{where} is {int(length) / 2**20:.1f} MB, over max_page_mb "
                                f"({max_bytes / 2**20:g} MB)")
    parts: list[bytes] = []
    size = 0
    raw = response.raw
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchDeadlineError(f"{where} was still downloading at the deadline "
                                         f"({size} bytes read)")
            _set_socket_timeout(response, left)
            try:
                # read1: whatever one socket read brings (read() would wait for the whole
                # slice); decoding is capped at the slice too, so a gzip bomb inflates 64 KiB
                # at a time.
                piece = raw.read1(_SLICE, decode_content=True)
            except Exception as exc:  # noqa: BLE001 - socket timeout at the deadline, reset
                if time.monotonic() >= deadline:
                    raise FetchDeadlineError(f"{where} was still downloading at the deadline "
                                             f"({size} bytes read)") from None
                raise ItemFetchError(f"{where}: reading the reply failed ({exc})") from exc
            if not piece:  # read1 returns b"" only at the end of the body
                break
            size += len(piece)
            if size > max_bytes:
                raise PageTooLargeError(f"{where} is over max_page_mb ({max_bytes / 2**20:g} MB)")
            parts.append(piece)
    except ItemFetchError:
        response.close()
        raise
    return b"".join(parts)


def gunzip_capped(data: bytes, max_bytes: int, where: str) -> bytes:
    """Inflate gzip/zlib `data`, never more than `max_bytes` of output (no whole decompress)."""
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ListingIncompleteError(f"{where}: broken gzip ({exc})") from exc
    if len(out) > max_bytes:
        raise PageTooLargeError(f"{where} inflates to over {max_bytes / 2**20:g} MB")
    return out
