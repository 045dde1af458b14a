from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.base import ConnectorContext, ListingIncompleteError, SourceUnavailableError
from connectors.folder import FolderConnector, FolderOptions, walk_pages


def connector(root: Path, **options) -> FolderConnector:
    return FolderConnector(FolderOptions(path=root, **options),
                           ConnectorContext(source_name="docs", state_dir=root.parent / "state"))


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    root = tmp_path / "wiki"
    (root / "it" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config.md").write_text("# not a page")
    (root / "it" / "vpn.md").write_text(
        "---\ntitle: VPN guide\nupdated: 2026-09-14\nowner: it\n---\n# Virtual private network\n\n"
        "Reset at https://vpn.example/reset.\n")
    (root / "it" / "deep" / "printing.html").write_text(
        "<html><head><title>Printing</title></head><body><nav>Home | About</nav>"
        "<h1>Printing</h1><p>Use <strong>PaperCut</strong> for colour.</p><footer>(c) 2026</footer>"
        "</body></html>")
    (root / "notes.txt").write_text("plain notes about wifi\n")
    (root / "heading-only.md").write_text("# Expenses policy\n\nSubmit within 30 days.\n")
    (root / "no_heading_page.md").write_text("Just text, no heading.\n")
    (root / "binary.md").write_bytes(b"\x00\x01\x02PNG")
    (root / "latin1.md").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (root / "image.png").write_bytes(b"\x89PNG")
    return root


def test_lists_pages_with_ids_titles_and_no_front_matter(wiki):
    conn = connector(wiki, url="https://wiki.example.com/{path}")
    docs = {d.source_id: d for d in conn.list_documents()}
    assert set(docs) == {"it/vpn.md", "it/deep/printing.html", "notes.txt", "heading-only.md",
                         "no_heading_page.md"}
    vpn = docs["it/vpn.md"]
    assert vpn.title == "VPN guide"
    assert "owner: it" not in vpn.content and "---" not in vpn.content
    assert vpn.url == "https://wiki.example.com/it/vpn.md"
    assert vpn.updated_at == datetime(2026, 9, 14, tzinfo=timezone.utc)
    assert docs["heading-only.md"].title == "Expenses policy"
    assert docs["no_heading_page.md"].title == "No heading page"
    html = docs["it/deep/printing.html"]
    assert html.title == "Printing" and "PaperCut" in html.content
    assert "Home | About" not in html.content and "(c) 2026" not in html.content
    assert html.content.lstrip().startswith("# Printing")


def test_binary_and_non_utf8_files_are_skipped_and_reported(wiki):
    conn = connector(wiki)
    list(conn.list_documents())
    reasons = {item.source_id: item.reason for item in conn.skipped}
    assert set(reasons) == {"binary.md", "latin1.md"}
    assert "binary" in reasons["binary.md"] and "UTF-8" in reasons["latin1.md"]


def test_exclude_globs(wiki):
    ids = {d.source_id for d in connector(wiki, exclude=["it/**"]).list_documents()}
    assert not any(i.startswith("it/") for i in ids) and "notes.txt" in ids


def test_missing_folder_is_a_typed_error_naming_the_key(tmp_path):
    with pytest.raises(SourceUnavailableError, match="does not exist.*`path`"):
        list(connector(tmp_path / "gone").list_documents())


def test_a_folder_that_cannot_be_walked_stops_the_listing(tmp_path):
    not_a_dir = tmp_path / "file.md"
    not_a_dir.write_text("x")
    with pytest.raises(ListingIncompleteError, match="nothing was deleted"):
        list(walk_pages(not_a_dir, []))
