"""HTML -> Markdown-ish text: keeps headings (as `#`), paragraphs, lists and tables; drops chrome.

Shared by the folder/git connectors (.html pages) and the web connector. Headings are kept as
Markdown so the chunker can follow the page's structure whatever format it came in.
"""

from __future__ import annotations

from bs4 import BeautifulSoup, NavigableString, Tag

_DROP = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
         "svg", "button", "template"]
_BLOCKS = {"p", "div", "section", "article", "main", "blockquote", "pre", "dd", "dt", "figure",
           "figcaption", "details", "summary"}


def _inline(node: Tag) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


def _render(node: Tag, out: list[str]) -> None:
    for child in node.children:
        if isinstance(child, NavigableString):
            raw = str(child)
            text = " ".join(raw.split())
            # Keep one space at the edges: "Install <b>brew</b> now" must not become "Installbrew".
            if text:
                out.append((" " if raw[:1].isspace() else "") + text
                           + (" " if raw[-1:].isspace() else ""))
            elif raw and out and not out[-1].endswith((" ", "\n")):
                out.append(" ")
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name or ""
        if name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            out.append(f"\n\n{'#' * int(name[1])} {_inline(child)}\n\n")
        elif name in {"ul", "ol"}:
            items = child.find_all("li", recursive=False)
            out.append("\n\n" + "\n".join(
                f"{'-' if name == 'ul' else f'{i}.'} {_inline(li)}" for i, li in enumerate(items, 1)
            ) + "\n\n")
        elif name == "table":
            rows = [[_inline(c) for c in tr.find_all(["th", "td"])] for tr in child.find_all("tr")]
            rows = [r for r in rows if r]
            if rows:
                width = max(len(r) for r in rows)
                lines = ["| " + " | ".join(r + [""] * (width - len(r))) + " |" for r in rows]
                lines.insert(1, "|" + " --- |" * width)
                out.append("\n\n" + "\n".join(lines) + "\n\n")
        elif name == "pre":
            out.append("\n\n```\n" + child.get_text() + "\n```\n\n")
        elif name == "br":
            out.append("\n")
        elif name in _BLOCKS:
            out.append("\n\n")
            _render(child, out)
            out.append("\n\n")
        else:
            _render(child, out)


def html_to_markdown(html: str) -> tuple[str, str | None]:
    """Return (text, title) for an HTML page; title from <title> or the first <h1>."""
    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    h1 = soup.find("h1")
    title = _inline(title_tag) if title_tag else (_inline(h1) if h1 else None)
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.select('[role="navigation"], [aria-hidden="true"], .nav, .navbar, .sidebar, '
                           '.menu, .breadcrumb, .breadcrumbs, .cookie-banner, .footer, .header'):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    parts: list[str] = []
    _render(root, parts)
    text = "".join(parts)
    lines = [line.strip() for line in text.splitlines()]
    cleaned: list[str] = []
    for line in lines:
        if line or (cleaned and cleaned[-1]):
            cleaned.append(line)
    return "\n".join(cleaned).strip(), (title or None)
