"""The scale-out path: `index.chroma_url` against a real `chroma run` server on 127.0.0.1.

Sync a folder into the server, answer a question from it through the one answer pipeline, delete
a page and resync: its chunks must be gone from the server, not only from ragbot's bookkeeping.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.answering.pipeline import Pipeline
from bot.knowledge.sync import sync_source

CHROMA = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
pytestmark = [pytest.mark.slow,  # a Chroma server and a sync with the real embedding model
              pytest.mark.skipif(CHROMA is None, reason="the `chroma` CLI (chromadb's server) "
                                 "is not installed in this environment")]

PAGES = {
    "expenses.md": "# Expenses\nExpense reports are due every Friday before noon. "
                   "Submit them in the finance portal with the receipts attached.\n",
    "vpn.md": "# VPN\nThe VPN token is reset from the self-service portal under Security. "
              "A new token works within five minutes.\n",
    "parking.md": "# Parking\nVisitor parking permits are issued by reception on the ground "
                  "floor; each permit is valid for one day.\n",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    log = (tmp_path / "chroma.log").open("wb")
    proc = subprocess.Popen([CHROMA, "run", "--host", "127.0.0.1", "--port", str(port),
                             "--path", str(tmp_path / "chroma-server")],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"chroma server did not come up: "
                            f"{(tmp_path / 'chroma.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def test_sync_answer_and_delete_against_a_chroma_server(chroma_server, make_settings,
                                                        tmp_path) -> None:
    import chromadb

    folder = tmp_path / "wiki"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    settings = make_settings({"wiki": {}}, index={"collection": "scaleout",
                                                  "chroma_url": chroma_server})
    settings.tone.enabled = False
    assert settings.index.chroma_url == chroma_server

    first = sync_source(settings, "wiki")
    assert first.ok, first.error
    assert first.added == 3 and first.chunks_embedded >= 3
    assert not (settings.data_dir / "chroma").exists()  # nothing embedded locally

    host, port = chroma_server.removeprefix("http://").split(":")
    server = chromadb.HttpClient(host=host, port=int(port))
    collection = server.get_collection("scaleout")

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
