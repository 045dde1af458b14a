"""Time to chunk and to convert one huge page, at doubling sizes: both must grow linearly.

    PYTHONPATH=. .venv/bin/python bench/big_pages.py [--kind paragraphs|handbook|links]
                                                     [--sizes-mb 0.9 1.8 3.6] [--html]

Each size is one Markdown page: `paragraphs` (default) is short paragraphs with no heading, one
huge section (what the issue's 20 MB file was); `handbook` is the handbook's own pages repeated
(real headings, links, lists); `links` is unclosed links `[a](b [c](d ...` (a hostile page).
`--html` also times `html_to_markdown` on the same text wrapped as HTML paragraphs. Prints
seconds per size and seconds per MB: a per-MB column that stays flat is linear, one that doubles
with the size is quadratic.

Measured on the shared, loaded 2-core machine, one after the other (paragraphs, chunking; before
-> after the linear header splitter): 0.9 MB 4.53 -> 1.55 s, 1.8 MB 14.98 -> 3.76 s, 3.6 MB
42.22 -> 8.21 s (s/MB 5.0, 8.3, 11.7 -> 1.7, 2.1, 2.3). html_to_markdown in the same run: 9.1,
16.1, 44.6 s (about 10 s/MB, linear; `max_page_mb` bounds it).
"""

from __future__ import annotations

import argparse
import time

from bot.config import REPO_ROOT
from bot.knowledge.chunking import chunk_document
from connectors.base import SourceDocument
from connectors.html import html_to_markdown

CORPUS = REPO_ROOT.parent / "shared" / "corpora" / "sourcegraph-handbook"


def corpus_text() -> str:
    pages = sorted(CORPUS.rglob("*.md"))[:400] if CORPUS.is_dir() else []
    text = "\n\n".join(p.read_text(errors="replace") for p in pages)
    return text or ("# Title\n\n## Section\n\nSome [link](https://x.example/a) text. " * 2000)


KINDS = {"paragraphs": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Sed do eiusmod "
                        "tempor incididunt.\n\n",
         "links": "[a](b [c](d "}


def page_of(size: int, base: str) -> str:
    return (base * (size // len(base) + 1))[:size]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[0.9, 1.8, 3.6])
    parser.add_argument("--html", action="store_true")
    parser.add_argument("--kind", choices=["paragraphs", "handbook", "links"],
                        default="paragraphs")
    args = parser.parse_args()
    base = corpus_text() if args.kind == "handbook" else KINDS[args.kind]
    print(f"{'MB':>5} {'chunks':>7} {'chunk s':>8} {'s/MB':>6}" + (
        f" {'html s':>7} {'s/MB':>6}" if args.html else ""))
    for mb in args.sizes_mb:
        text = page_of(int(mb * 1024 * 1024), base)
        doc = SourceDocument("big.md", "Big", text)
        started = time.perf_counter()
        chunks = chunk_document(doc, "bench", 900, 120)
        chunk_s = time.perf_counter() - started
        line = f"{mb:5.1f} {len(chunks):7d} {chunk_s:8.2f} {chunk_s / mb:6.2f}"
        if args.html:
            html = "<html><body>" + "".join(f"<p>{para}</p>" for para in text.split("\n\n")) + \
                "</body></html>"
            started = time.perf_counter()
            html_to_markdown(html)
            html_s = time.perf_counter() - started
            line += f" {html_s:7.2f} {html_s / mb:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
