"""A folder source reads nothing outside its folder and never blocks on special files; one bad
item is skipped by name and the rest syncs (issue #17, items 2 and 4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.connectors.test_folder import connector

SECRET = "root:x:0:0:the secret outside"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.md").write_text(f"# Secret\n\n{SECRET}\n")
    (outside / "dir" / "more.md").write_text(f"# More\n\n{SECRET}\n")
    root = tmp_path / "wiki"
    (root / "sub").mkdir(parents=True)
    (root / "good.md").write_text("# Good page\n\nThe printer is on floor 2.\n")
    (root / "sub" / "inner.md").write_text("# Inner\n\nInner page.\n")
    (root / "passwd.md").symlink_to(outside / "secret.md")
    (root / "relative.md").symlink_to("../outside/secret.md")
    (root / "linked-dir").symlink_to(outside / "dir")
    (root / "ok-link.md").symlink_to(root / "sub" / "inner.md")  # inside: fine
    (root / "zero.md").symlink_to("/dev/zero")
    (root / "loop.md").symlink_to(root / "loop.md")
    os.mkfifo(root / "notes.md")
    (root / os.fsdecode(b"caf\xe9.md")).write_text("# Cafe\n\nCoffee.\n")
    return root


def test_nothing_outside_the_folder_is_read_and_each_bad_item_is_named(hostile):
    conn = connector(hostile)
    docs = {d.source_id: d for d in conn.list_documents()}  # a FIFO read would hang here
    assert set(docs) == {"good.md", "sub/inner.md", "ok-link.md"}
    assert all(SECRET not in d.content for d in docs.values())
    reasons = {item.source_id: item.reason for item in conn.skipped}
    assert set(reasons) == {"passwd.md", "relative.md", "linked-dir", "zero.md", "loop.md",
                            "notes.md", "caf\\xe9.md"}
    assert "outside the folder" in reasons["passwd.md"]
    assert "outside the folder" in reasons["linked-dir"]
    assert "loop" in reasons["loop.md"]
    assert "FIFO" in reasons["notes.md"]
    assert "UTF-8" in reasons["caf\\xe9.md"]
    assert not any(item.listing for item in conn.skipped)  # item-level: deletions still safe


def test_page_over_the_size_cap_is_skipped(tmp_path):
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "big.md").write_text("# Big\n\n" + "word " * 300_000)  # 1.5 MB
    (root / "small.md").write_text("# Small\n\ntext\n")
    conn = connector(root, max_page_mb=1)
    assert [d.source_id for d in conn.list_documents()] == ["small.md"]
    assert [(i.source_id, "max_page_mb" in i.reason) for i in conn.skipped] == [("big.md", True)]


def test_citation_url_encodes_the_file_name(tmp_path):
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "evil\nname|x.md").write_text("# Evil\n\ntext\n")
    [doc] = connector(root, url="https://wiki.example/{path}").list_documents()
    assert doc.url == "https://wiki.example/evil%0Aname%7Cx.md"
