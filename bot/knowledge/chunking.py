"""Markdown headers -> sections -> size-bounded chunks, each knowing its page title and heading path.

What gets embedded is `"<title> > <heading path>\\n\\n<section text>"`: a section deep in a long page
("Linux" under "VPN > Client setup") is only findable if its context travels with it. The heading
line is kept out of the passage shown to users and out of citations: see `passage_text`.

`CHUNKER_VERSION` is part of every page's content hash, so changing how pages are cut re-chunks
every page at the next sync instead of leaving a mix of old and new chunks.
"""

from __future__ import annotations

import functools
import re

from langchain_core.documents import Document

from connectors.base import SourceDocument

CHUNKER_VERSION = "3"  # 3: links with a label across lines or unclosed targets are left as text
HEADER_SEP = "\n\n"
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_LEVELS = [name for _, name in _HEADERS]
# Linear on any input: the label stops at the next bracket, the target at a newline or a paren
# (one nested pair allowed), so no start position rescans the text after it. The former
# `\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)` backtracked over the rest of the page for every
# unclosed "[a](b (" and took 446 s on 0.45 MB of them (bench/big_pages.py).
_MD_LINK = re.compile(r"!?\[([^\[\]]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")


@functools.cache
def _header_splitter():
    """The splitter class, made on first use: a no-op sync hashes pages but never chunks them,
    and importing langchain_text_splitters costs it ~0.5 s."""
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    class _HeaderSplitter(MarkdownHeaderTextSplitter):
        """LangChain's header splitter with its section assembly made linear.

        `aggregate_lines_to_chunks` grows each section with `+=` on a string held in a dict,
        which copies the section for every paragraph: a 1.8 MB page of short paragraphs took
        56 s, 4x per doubling (bench/big_pages.py). Same output (headers are stripped, so its
        other branch never runs), joined once per section.
        """

        def aggregate_lines_to_chunks(self, lines):
            assert self.strip_headers
            groups: list[tuple[dict, list[str]]] = []
            for line in lines:
                if groups and groups[-1][0] == line["metadata"]:
                    groups[-1][1].append(line["content"])
                else:
                    groups.append((line["metadata"], [line["content"]]))
            return [Document(page_content="  \n".join(parts), metadata=meta)
                    for meta, parts in groups]

    return _HeaderSplitter


def clean_markdown(text: str) -> str:
    """Drop link targets and image syntax (noise for embeddings and for readers)."""
    return _MD_LINK.sub(lambda m: m.group(1), text)


def heading_line(title: str, headings: list[str]) -> str:
    path = [h for h in headings if h and h.strip().lower() != title.strip().lower()]
    return " > ".join([title, *path])


def passage_text(page_content: str) -> str:
    """The passage as readers see it: the embedded text without its title/heading line."""
    head, sep, body = page_content.partition(HEADER_SEP)
    return body if sep else page_content


def chunk_document(doc: SourceDocument, source: str, chunk_size: int,
                   chunk_overlap: int) -> list[Document]:
    # imported here: a no-op sync hashes pages (CHUNKER_VERSION) but never chunks them
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    text = clean_markdown(doc.content).strip()
    if doc.content_type == "markdown":
        sections = _header_splitter()(_HEADERS, strip_headers=True).split_text(text)
    else:
        sections = [Document(page_content=text)]
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""], keep_separator="end")
    chunks: list[Document] = []
    for section in sections:
        headings = [section.metadata[level] for level in _LEVELS if level in section.metadata]
        header = heading_line(doc.title, headings)
        for piece in splitter.split_text(section.page_content):
            piece = piece.strip()
            if not piece:
                continue
            chunks.append(Document(
                page_content=f"{header}{HEADER_SEP}{piece}",
                metadata={
                    "source": source,
                    "source_id": doc.source_id,
                    "title": doc.title,
                    "url": doc.url or "",
                    "headings": " > ".join(headings),
                    "chunk": len(chunks),
                },
            ))
    if not chunks:  # a page with a title and nothing else is still a page people may look for
        chunks.append(Document(page_content=f"{doc.title}{HEADER_SEP}{doc.title}", metadata={
            "source": source, "source_id": doc.source_id, "title": doc.title,
            "url": doc.url or "", "headings": "", "chunk": 0}))
    return chunks
