"""The scale-out path: `index.chroma_url` against a real `chroma run` server on 127.0.0.1.

Sync a folder into the server, answer a question from it through the one answer pipeline, delete
a page and resync: its chunks must be gone from the server, not only from ragbot's bookkeeping.
"""

from __future__ import annotations

import uuid

import pytest

from bot.answering.pipeline import Pipeline
from bot.knowledge.sync import sync_source

pytestmark = pytest.mark.slow  # a Chroma server and a sync with the real embedding model

PAGES = {
    "expenses.md": "# Expenses\nExpense reports are due every Friday before noon. "
                   "Submit them in the finance portal with the receipts attached.\n",
    "vpn.md": "# VPN\nThe VPN token is reset from the self-service portal under Security. "
              "A new token works within five minutes.\n",
    "parking.md": "# Parking\nVisitor parking permits are issued by reception on the ground "
                  "floor; each permit is valid for one day.\n",
}


@pytest.fixture
def chroma_server(chroma_server_url):
    """The session's `chroma run` server (tests/servers.py; .ci/run's in CI)."""
    return chroma_server_url


def test_sync_answer_and_delete_against_a_chroma_server(chroma_server, make_settings,
                                                        tmp_path) -> None:
    import chromadb

    folder = tmp_path / "wiki"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    name = f"scaleout-{uuid.uuid4().hex[:8]}"  # the server is shared by the session
    settings = make_settings({"wiki": {}}, index={"collection": name,
                                                  "chroma_url": chroma_server})
    settings.tone.enabled = False
    assert settings.index.chroma_url == chroma_server

    first = sync_source(settings, "wiki")
    assert first.ok, first.error
    assert first.added == 3 and first.chunks_embedded >= 3
    assert not (settings.data_dir / "chroma").exists()  # nothing embedded locally

    host, port = chroma_server.removeprefix("http://").split(":")
    server = chromadb.HttpClient(host=host, port=int(port))
    collection = server.get_collection(name)

    def pages_on_server() -> set[str]:
        return {m["source_id"] for m in collection.get(include=["metadatas"])["metadatas"]}

    assert pages_on_server() == set(PAGES)

    answer = Pipeline(settings).answer("How do I reset my VPN token?")
    assert not answer.abstained, answer.reason
    assert answer.citations and answer.citations[0].source_id == "vpn.md"
    assert "self-service portal" in answer.text

    (folder / "vpn.md").unlink()
    second = sync_source(settings, "wiki")
    assert second.ok, second.error
    assert second.deleted == 1 and second.chunks_deleted >= 1
    assert pages_on_server() == {"expenses.md", "parking.md"}
    assert collection.get(where={"source_id": "vpn.md"})["ids"] == []

    after = Pipeline(settings).answer("How do I reset my VPN token?")
    assert all(c.source_id != "vpn.md" for c in after.citations)
