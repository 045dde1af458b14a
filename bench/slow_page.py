"""A web source with one page that sends a byte a second: the sync ends at `timeout_s`.

    PYTHONPATH=. .venv/bin/python bench/slow_page.py [--timeout-s 5] [--bytes 600]

A loopback site (tests/connectors/fakes.FakeSite: robots.txt, a sitemap index, two normal pages
and the slow one, `--bytes` long at one byte a second). Prints the listing's wall time and the
whole `sync_source` time (model load and embedding included) against `timeout_s`, and what was
skipped. Before connectors/fetch_limits.py the per-read timeout never fired, so the page took
`--bytes` seconds (issue #17: still downloading after 245 s with `timeout_s: 3`).

Measured (shared 2-core machine): `--timeout-s 5 --bytes 60`: listing before 93.8 s (the page
read whole), after 5.6 s (1.11x, the page skipped at the deadline); `--timeout-s 30 --bytes 600`:
listing 31.7 s (1.06x), whole sync_source 43.3 s (1.44x, model load and embedding included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import REPO_ROOT, parse_settings  # noqa: E402
from bot.knowledge.sync import build_connector, sync_source  # noqa: E402
from fake_sources import FakeSite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument("--bytes", type=int, default=600)
    args = parser.parse_args()
    site = FakeSite().start()
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    site.page("/docs/a.html", "Alpha", "The alpha page.", when)
    site.page("/docs/b.html", "Beta", "The beta page.", when)
    site.sitemap_extra.append("/docs/slow.html")
    site.fail(200, lambda r: r.path == "/docs/slow.html", times=99,
              body="<html><body><p>" + "x" * args.bytes + "</p></body></html>",
              headers={"Content-Type": "text/html"}, drip_s=1.0)
    data_dir = Path(tempfile.mkdtemp(prefix="ragbot-slow-"))
    settings = parse_settings({"data_dir": str(data_dir), "tone": {"enabled": False},
                               "sources": [{"name": "site", "type": "web",
                                            "url": f"{site.url}/sitemap.xml",
                                            "timeout_s": args.timeout_s, "max_attempts": 1}]},
                              REPO_ROOT)
    try:
        connector = build_connector(settings, settings.source("site"))
        started = time.perf_counter()
        docs = list(connector.list_documents())
        listing_s = time.perf_counter() - started
        started = time.perf_counter()
        result = sync_source(settings, "site")
        sync_s = time.perf_counter() - started
    finally:
        site.stop()
    print(f"timeout_s {args.timeout_s:g}; slow page {args.bytes} bytes at 1 byte/s")
    print(f"listing: {listing_s:.1f} s ({listing_s / args.timeout_s:.2f}x timeout_s), "
          f"{len(docs)} pages")
    print(f"sync_source: {sync_s:.1f} s ({sync_s / args.timeout_s:.2f}x timeout_s, model load "
          f"and embedding included), ok={result.ok}, added={result.added}")
    for item in result.skipped_items:
        print(f"skipped {item.source_id}: {item.reason}")


if __name__ == "__main__":
    main()
